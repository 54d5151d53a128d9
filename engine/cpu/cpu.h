/*
 * Engine-private: CPU kernels (OpenBLAS + OpenMP). Layers call these from
 * their forward and backward passes; nothing outside engine/ includes
 * this file.
 *
 * Threads: each kernel takes the thread count of the call (zoo_exec). The
 * kernels parallelise their own loops with OpenMP and call OpenBLAS only
 * outside any OpenMP parallel region, so the two pools never multiply.
 * Callers must not invoke them from inside a parallel region either.
 */
#ifndef ZOO_ENGINE_CPU_H
#define ZOO_ENGINE_CPU_H

#include "engine/engine.h"

#include <stdbool.h>
#include <stdint.h>

/* Row-major C = alpha * op(A) * op(B) + beta * C with op(A) m x k and
 * op(B) k x n, on `threads` OpenBLAS threads (values < 1 mean 1). */
void zoo_cpu_sgemm(bool trans_a, bool trans_b, int m, int n, int k,
                   float alpha, const float *a, int lda, const float *b,
                   int ldb, float beta, float *c, int ldc, int threads);

/* Geometry of a 2-D window op over an NHWC input. Padding is zeros; only
 * the top/left amounts are given, the bottom/right follow from the output
 * size. Strides and dilations are >= 1. */
typedef struct {
    int n, h, w, c;        /* input */
    int kh, kw;            /* kernel */
    int sh, sw;            /* strides */
    int dh, dw;            /* dilations */
    int pad_top, pad_left;
    int oh, ow;            /* output */
} zoo_conv_geom;

/* Conv2D: in (n,h,w,c), kernel (kh,kw,c,cout) as Keras stores it, bias
 * (cout) or NULL, out (n,oh,ow,cout). Cross-correlation, no flip.
 * Fails only with ZOO_ERR_MEMORY (im2col scratch). */
zoo_status zoo_cpu_conv2d(const zoo_conv_geom *g, const float *in,
                          const float *kernel, int cout, const float *bias,
                          float *out, int threads);

/* DepthwiseConv2D: kernel (kh,kw,c,mult), bias (c*mult) or NULL, out
 * (n,oh,ow,c*mult) where channel ci*mult+m uses kernel[:,:,ci,m]. */
void zoo_cpu_depthwise_conv2d(const zoo_conv_geom *g, const float *in,
                              const float *kernel, int mult,
                              const float *bias, float *out, int threads);

/* Backward passes. dy is dLoss/d(out) of the linear part (any fused
 * activation already differentiated away); every gradient is ADDED into
 * its buffer, and a NULL buffer is skipped with its work. They fail only
 * with ZOO_ERR_MEMORY (scratch). */

/* Conv2D: dx (n,h,w,c), dkernel (kh,kw,c,cout), dbias (cout). */
zoo_status zoo_cpu_conv2d_backward(const zoo_conv_geom *g, const float *in,
                                   const float *kernel, int cout,
                                   const float *dy, float *dx, float *dkernel,
                                   float *dbias, int threads);

/* DepthwiseConv2D: dx (n,h,w,c), dkernel (kh,kw,c,mult), dbias (c*mult). */
zoo_status zoo_cpu_depthwise_conv2d_backward(const zoo_conv_geom *g,
                                             const float *in,
                                             const float *kernel, int mult,
                                             const float *dy, float *dx,
                                             float *dkernel, float *dbias,
                                             int threads);

/* sum[j] += sum over the rows of a (rows x cols, row-major): the bias
 * gradient of a layer whose output rows are pixels or samples. */
zoo_status zoo_cpu_sum_rows(const float *a, int64_t rows, int cols,
                            float *sum, int threads);

#endif /* ZOO_ENGINE_CPU_H */
