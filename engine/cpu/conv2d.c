/* Conv2D forward, NHWC: the output pixels of the whole batch form the rows
 * of an im2col matrix (pixels x kh*kw*c, laid out like the kernel's rows),
 * so im2col times the kernel viewed as (kh*kw*c) x cout is the NHWC output
 * itself. The im2col matrix is built in tiles of pixels to bound scratch. */
#include "engine/cpu/cpu.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Scratch per call: big enough that a tile's GEMM stays efficient (a whole
 * 56x56 image for a 3x3x64 kernel), small enough to stay near the caches. */
#define IM2COL_BUDGET ((size_t)16 << 20)

/* Row r of `col` gets the receptive field of output pixel p0 + r. */
static void im2col_tile(const zoo_conv_geom *g, const float *in, int64_t p0,
                        int m, float *col, int threads)
{
    const int c = g->c, kw = g->kw;
    const size_t K = (size_t)g->kh * kw * c;
    const size_t px = sizeof(float) * (size_t)c; /* one input pixel */

#pragma omp parallel for num_threads(threads) schedule(static)
    for (int r = 0; r < m; r++) {
        const int64_t p = p0 + r;
        const int ox = (int)(p % g->ow);
        const int64_t q = p / g->ow;
        const int oy = (int)(q % g->oh);
        const int64_t n = q / g->oh;
        const float *img = in + (size_t)n * g->h * g->w * c;
        const int x0 = ox * g->sw - g->pad_left;
        float *dst = col + (size_t)r * K;

        for (int ky = 0; ky < g->kh; ky++, dst += (size_t)kw * c) {
            const int iy = oy * g->sh - g->pad_top + ky * g->dh;
            if (iy < 0 || iy >= g->h) {
                memset(dst, 0, px * kw);
                continue;
            }
            const float *row = img + (size_t)iy * g->w * c;
            if (g->dw == 1) {
                /* Undilated: the valid taps are one contiguous run. */
                int lo = x0 < 0 ? -x0 : 0;
                int hi = g->w - x0 < kw ? g->w - x0 : kw;
                if (lo > kw)
                    lo = kw;
                if (hi < lo)
                    hi = lo;
                memset(dst, 0, px * lo);
                memcpy(dst + (size_t)lo * c, row + (size_t)(x0 + lo) * c,
                       px * (hi - lo));
                memset(dst + (size_t)hi * c, 0, px * (kw - hi));
            } else {
                for (int kx = 0; kx < kw; kx++) {
                    const int ix = x0 + kx * g->dw;
                    if (ix < 0 || ix >= g->w)
                        memset(dst + (size_t)kx * c, 0, px);
                    else
                        memcpy(dst + (size_t)kx * c, row + (size_t)ix * c, px);
                }
            }
        }
    }
}

zoo_status zoo_cpu_conv2d(const zoo_conv_geom *g, const float *in,
                          const float *kernel, int cout, const float *bias,
                          float *out, int threads)
{
    if (threads < 1)
        threads = 1;
    const int K = g->kh * g->kw * g->c;
    const int64_t P = (int64_t)g->n * g->oh * g->ow;
    /* 1x1, stride 1, no padding: the input already is the im2col matrix. */
    const bool direct = g->kh == 1 && g->kw == 1 && g->sh == 1 &&
                        g->sw == 1 && g->pad_top == 0 && g->pad_left == 0 &&
                        g->oh == g->h && g->ow == g->w;

    /* BLAS takes int dimensions; keep each tile's element count in int. */
    int64_t tile = INT_MAX / (K > cout ? K : cout);
    if (!direct) {
        int64_t fit = (int64_t)(IM2COL_BUDGET / (sizeof(float) * (size_t)K));
        tile = fit < 1 ? 1 : (fit < tile ? fit : tile);
    }
    if (tile > P)
        tile = P;
    if (tile < 1)
        return ZOO_OK;

    float *col = NULL;
    if (!direct) {
        size_t bytes = sizeof(float) * (size_t)tile * (size_t)K;
        col = malloc(bytes);
        if (!col)
            return zoo_error(ZOO_ERR_MEMORY,
                             "cannot allocate %zu bytes of im2col scratch "
                             "for a %dx%d convolution", bytes, g->kh, g->kw);
    }

    for (int64_t p0 = 0; p0 < P; p0 += tile) {
        const int m = (int)(P - p0 < tile ? P - p0 : tile);
        float *o = out + (size_t)p0 * cout;
        /* Seed the output with the bias so the GEMM adds onto it. */
        if (bias)
            for (int r = 0; r < m; r++)
                memcpy(o + (size_t)r * cout, bias, sizeof(float) * cout);
        const float *a;
        if (direct) {
            a = in + (size_t)p0 * K;
        } else {
            im2col_tile(g, in, p0, m, col, threads);
            a = col;
        }
        zoo_cpu_sgemm(false, false, m, cout, K, 1.0f, a, K, kernel, cout,
                      bias ? 1.0f : 0.0f, o, cout, threads);
    }
    free(col);
    return ZOO_OK;
}
