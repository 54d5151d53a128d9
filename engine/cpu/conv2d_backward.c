/* Conv2D backward, NHWC, mirroring the forward's im2col layout (rows are
 * output pixels, columns kh*kw*c in the kernel's row order):
 *   dKernel += col^T * dY           (one GEMM per tile of pixels)
 *   dCol     = dY * Kernel^T, then scattered back onto dX (col2im)
 *   dBias   += column sums of dY.
 * A 1x1 stride-1 unpadded conv needs no im2col: the input is the matrix. */
#include "engine/cpu/cpu.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Same scratch budget as the forward: one tile of im2col rows. */
#define IM2COL_BUDGET ((size_t)16 << 20)

/* Row r of `col` gets the receptive field of output pixel p0 + r (zeros
 * where the window hangs over the padding). */
static void im2col_tile(const zoo_conv_geom *g, const float *in, int64_t p0,
                        int m, float *col, int threads)
{
    const int c = g->c, kw = g->kw;
    const size_t K = (size_t)g->kh * kw * c;
    const size_t px = sizeof(float) * (size_t)c;

#pragma omp parallel for num_threads(threads) schedule(static)
    for (int r = 0; r < m; r++) {
        const int64_t p = p0 + r;
        const int ox = (int)(p % g->ow);
        const int64_t q = p / g->ow;
        const int oy = (int)(q % g->oh);
        const int64_t n = q / g->oh;
        const float *img = in + (size_t)n * g->h * g->w * c;
        float *dst = col + (size_t)r * K;
        for (int ky = 0; ky < g->kh; ky++) {
            const int iy = oy * g->sh - g->pad_top + ky * g->dh;
            for (int kx = 0; kx < kw; kx++, dst += c) {
                const int ix = ox * g->sw - g->pad_left + kx * g->dw;
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                    memset(dst, 0, px);
                else
                    memcpy(dst, img + ((size_t)iy * g->w + ix) * c, px);
            }
        }
    }
}

/* Adds the rows of `dcol` (output pixels p0 .. p0+m-1) back onto the input
 * pixels they were read from. Each thread owns whole input rows and
 * gathers every tap that landed there, so no two threads write the same
 * element and the sum order is fixed. */
static void col2im_tile(const zoo_conv_geom *g, const float *dcol, int64_t p0,
                        int m, float *dx, int threads)
{
    const int c = g->c, kw = g->kw;
    const size_t K = (size_t)g->kh * kw * c;
    const int64_t img_px = (int64_t)g->oh * g->ow;
    const int64_t n0 = p0 / img_px, n1 = (p0 + m - 1) / img_px;
    const int64_t rows = (n1 - n0 + 1) * g->h;

#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t n = n0 + r / g->h;
        const int iy = (int)(r % g->h);
        float *drow = dx + ((size_t)n * g->h + iy) * g->w * c;
        for (int ky = 0; ky < g->kh; ky++) {
            /* Which output row read input row iy through tap ky. */
            const int t = iy + g->pad_top - ky * g->dh;
            if (t < 0 || t % g->sh)
                continue;
            const int oy = t / g->sh;
            if (oy >= g->oh)
                continue;
            const int64_t q0 = (n * g->oh + oy) * g->ow; /* its first pixel */
            int64_t lo = p0 - q0, hi = p0 + m - q0;      /* tile overlap */
            if (lo < 0)
                lo = 0;
            if (hi > g->ow)
                hi = g->ow;
            for (int ox = (int)lo; ox < (int)hi; ox++) {
                const float *src =
                    dcol + (size_t)(q0 + ox - p0) * K + (size_t)ky * kw * c;
                const int x0 = ox * g->sw - g->pad_left;
                for (int kx = 0; kx < kw; kx++) {
                    const int ix = x0 + kx * g->dw;
                    if (ix < 0 || ix >= g->w)
                        continue;
                    float *restrict d = drow + (size_t)ix * c;
                    const float *restrict s = src + (size_t)kx * c;
                    for (int ci = 0; ci < c; ci++)
                        d[ci] += s[ci];
                }
            }
        }
    }
}

zoo_status zoo_cpu_conv2d_backward(const zoo_conv_geom *g, const float *in,
                                   const float *kernel, int cout,
                                   const float *dy, float *dx, float *dkernel,
                                   float *dbias, int threads)
{
    if (threads < 1)
        threads = 1;
    const int K = g->kh * g->kw * g->c;
    const int64_t P = (int64_t)g->n * g->oh * g->ow;
    if (P < 1)
        return ZOO_OK;
    if (dbias) {
        zoo_status st = zoo_cpu_sum_rows(dy, P, cout, dbias, threads);
        if (st != ZOO_OK)
            return st;
    }
    if (!dx && !dkernel)
        return ZOO_OK;

    const bool direct = g->kh == 1 && g->kw == 1 && g->sh == 1 &&
                        g->sw == 1 && g->pad_top == 0 && g->pad_left == 0 &&
                        g->oh == g->h && g->ow == g->w;
    int64_t tile = INT_MAX / (K > cout ? K : cout);
    if (!direct) {
        int64_t fit = (int64_t)(IM2COL_BUDGET / (sizeof(float) * (size_t)K));
        tile = fit < 1 ? 1 : (fit < tile ? fit : tile);
    }
    if (tile > P)
        tile = P;

    /* One buffer serves twice per tile: im2col for dKernel, then dCol. */
    float *col = NULL;
    if (!direct) {
        size_t bytes = sizeof(float) * (size_t)tile * (size_t)K;
        col = malloc(bytes);
        if (!col)
            return zoo_error(ZOO_ERR_MEMORY,
                             "cannot allocate %zu bytes of im2col scratch "
                             "for a %dx%d convolution's backward pass",
                             bytes, g->kh, g->kw);
    }

    for (int64_t p0 = 0; p0 < P; p0 += tile) {
        const int m = (int)(P - p0 < tile ? P - p0 : tile);
        const float *d = dy + (size_t)p0 * cout;
        if (dkernel) {
            const float *a = in + (size_t)p0 * K;
            if (!direct) {
                im2col_tile(g, in, p0, m, col, threads);
                a = col;
            }
            zoo_cpu_sgemm(true, false, K, cout, m, 1.0f, a, K, d, cout, 1.0f,
                          dkernel, cout, threads);
        }
        if (dx) {
            if (direct) {
                zoo_cpu_sgemm(false, true, m, K, cout, 1.0f, d, cout, kernel,
                              cout, 1.0f, dx + (size_t)p0 * K, K, threads);
            } else {
                zoo_cpu_sgemm(false, true, m, K, cout, 1.0f, d, cout, kernel,
                              cout, 0.0f, col, K, threads);
                col2im_tile(g, col, p0, m, dx, threads);
            }
        }
    }
    free(col);
    return ZOO_OK;
}
