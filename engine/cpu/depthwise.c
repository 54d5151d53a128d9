/* DepthwiseConv2D forward, NHWC. Each thread owns whole output rows and
 * accumulates tap by tap along the row, so the innermost loop runs over
 * contiguous channels (vectorisable) and the row stays in cache. */
#include "engine/cpu/cpu.h"

#include <stdint.h>
#include <string.h>

void zoo_cpu_depthwise_conv2d(const zoo_conv_geom *g, const float *in,
                              const float *kernel, int mult,
                              const float *bias, float *out, int threads)
{
    if (threads < 1)
        threads = 1;
    const int c = g->c, cm = g->c * mult;
    const int64_t rows = (int64_t)g->n * g->oh;

#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const int oy = (int)(r % g->oh);
        const int64_t n = r / g->oh;
        const float *img = in + (size_t)n * g->h * g->w * c;
        float *orow = out + (size_t)r * g->ow * cm;

        for (int ox = 0; ox < g->ow; ox++) {
            float *o = orow + (size_t)ox * cm;
            if (bias)
                memcpy(o, bias, sizeof(float) * cm);
            else
                memset(o, 0, sizeof(float) * cm);
        }
        for (int ky = 0; ky < g->kh; ky++) {
            const int iy = oy * g->sh - g->pad_top + ky * g->dh;
            if (iy < 0 || iy >= g->h)
                continue;
            const float *irow = img + (size_t)iy * g->w * c;
            for (int kx = 0; kx < g->kw; kx++) {
                const float *k = kernel + ((size_t)ky * g->kw + kx) * cm;
                const int x0 = kx * g->dw - g->pad_left;
                for (int ox = 0; ox < g->ow; ox++) {
                    const int ix = ox * g->sw + x0;
                    if (ix < 0 || ix >= g->w)
                        continue;
                    const float *restrict ip = irow + (size_t)ix * c;
                    float *restrict o = orow + (size_t)ox * cm;
                    if (mult == 1) {
                        for (int ci = 0; ci < c; ci++)
                            o[ci] += ip[ci] * k[ci];
                    } else {
                        for (int ci = 0; ci < c; ci++)
                            for (int m = 0; m < mult; m++)
                                o[ci * mult + m] += ip[ci] * k[ci * mult + m];
                    }
                }
            }
        }
    }
}
