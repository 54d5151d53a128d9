/* DepthwiseConv2D backward, NHWC. Output channel ci*mult+m reads only
 * input channel ci through kernel[:, :, ci, m], so both gradients are
 * per-channel sums that vectorise along the contiguous channel axis:
 *  - dX: each thread owns whole input rows and gathers every (tap, output
 *    pixel) that read them: no write conflicts, fixed summation order;
 *  - dKernel: each thread takes a fixed block of output rows, sums a row
 *    in float and folds it into its own double accumulator; the blocks are
 *    added in order at the end. */
#include "engine/cpu/cpu.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void depthwise_dx(const zoo_conv_geom *g, const float *kernel,
                         int mult, const float *dy, float *dx, int threads)
{
    const int c = g->c, cm = g->c * mult;
    const int64_t rows = (int64_t)g->n * g->h;

#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t n = r / g->h;
        const int iy = (int)(r % g->h);
        float *drow = dx + (size_t)r * g->w * c;
        for (int ky = 0; ky < g->kh; ky++) {
            /* The output row that read input row iy through tap ky. */
            const int t = iy + g->pad_top - ky * g->dh;
            if (t < 0 || t % g->sh)
                continue;
            const int oy = t / g->sh;
            if (oy >= g->oh)
                continue;
            const float *dyrow = dy + ((size_t)n * g->oh + oy) * g->ow * cm;
            for (int kx = 0; kx < g->kw; kx++) {
                const float *k = kernel + ((size_t)ky * g->kw + kx) * cm;
                const int x0 = kx * g->dw - g->pad_left;
                for (int ox = 0; ox < g->ow; ox++) {
                    const int ix = ox * g->sw + x0;
                    if (ix < 0 || ix >= g->w)
                        continue;
                    float *restrict d = drow + (size_t)ix * c;
                    const float *restrict s = dyrow + (size_t)ox * cm;
                    if (mult == 1) {
                        for (int ci = 0; ci < c; ci++)
                            d[ci] += s[ci] * k[ci];
                    } else {
                        for (int ci = 0; ci < c; ci++) {
                            float acc = 0.0f;
                            for (int m = 0; m < mult; m++)
                                acc += s[ci * mult + m] * k[ci * mult + m];
                            d[ci] += acc;
                        }
                    }
                }
            }
        }
    }
}

static zoo_status depthwise_dkernel(const zoo_conv_geom *g, const float *in,
                                    int mult, const float *dy,
                                    float *dkernel, int threads)
{
    const int c = g->c, cm = g->c * mult;
    const size_t kn = (size_t)g->kh * g->kw * cm;
    const int64_t rows = (int64_t)g->n * g->oh;
    if ((int64_t)threads > rows)
        threads = (int)rows;
    double *acc = calloc((size_t)threads * kn, sizeof *acc);
    float *racc = malloc(sizeof *racc * (size_t)threads * kn);
    if (!acc || !racc) {
        free(acc);
        free(racc);
        return zoo_error(ZOO_ERR_MEMORY,
                         "cannot allocate %zu bytes of depthwise kernel "
                         "gradient scratch",
                         (sizeof *acc + sizeof *racc) * (size_t)threads * kn);
    }

#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < threads; t++) {
        const int64_t r0 = rows * t / threads, r1 = rows * (t + 1) / threads;
        double *restrict a = acc + (size_t)t * kn;
        float *restrict ra = racc + (size_t)t * kn;
        for (int64_t r = r0; r < r1; r++) {
            const int oy = (int)(r % g->oh);
            const int64_t n = r / g->oh;
            const float *img = in + (size_t)n * g->h * g->w * c;
            const float *dyrow = dy + (size_t)r * g->ow * cm;
            memset(ra, 0, sizeof *ra * kn);
            for (int ky = 0; ky < g->kh; ky++) {
                const int iy = oy * g->sh - g->pad_top + ky * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                const float *irow = img + (size_t)iy * g->w * c;
                for (int kx = 0; kx < g->kw; kx++) {
                    float *restrict k = ra + ((size_t)ky * g->kw + kx) * cm;
                    const int x0 = kx * g->dw - g->pad_left;
                    for (int ox = 0; ox < g->ow; ox++) {
                        const int ix = ox * g->sw + x0;
                        if (ix < 0 || ix >= g->w)
                            continue;
                        const float *restrict ip = irow + (size_t)ix * c;
                        const float *restrict s = dyrow + (size_t)ox * cm;
                        if (mult == 1) {
                            for (int ci = 0; ci < c; ci++)
                                k[ci] += ip[ci] * s[ci];
                        } else {
                            for (int ci = 0; ci < c; ci++)
                                for (int m = 0; m < mult; m++)
                                    k[ci * mult + m] +=
                                        ip[ci] * s[ci * mult + m];
                        }
                    }
                }
            }
            for (size_t j = 0; j < kn; j++)
                a[j] += ra[j];
        }
    }
    for (size_t j = 0; j < kn; j++) {
        double s = 0.0;
        for (int t = 0; t < threads; t++)
            s += acc[(size_t)t * kn + j];
        dkernel[j] += (float)s;
    }
    free(acc);
    free(racc);
    return ZOO_OK;
}

zoo_status zoo_cpu_depthwise_conv2d_backward(const zoo_conv_geom *g,
                                             const float *in,
                                             const float *kernel, int mult,
                                             const float *dy, float *dx,
                                             float *dkernel, float *dbias,
                                             int threads)
{
    if (threads < 1)
        threads = 1;
    const int64_t P = (int64_t)g->n * g->oh * g->ow;
    if (P < 1)
        return ZOO_OK;
    if (dbias) {
        zoo_status st = zoo_cpu_sum_rows(dy, P, g->c * mult, dbias, threads);
        if (st != ZOO_OK)
            return st;
    }
    if (dx)
        depthwise_dx(g, kernel, mult, dy, dx, threads);
    if (dkernel)
        return depthwise_dkernel(g, in, mult, dy, dkernel, threads);
    return ZOO_OK;
}
