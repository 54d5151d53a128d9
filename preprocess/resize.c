/*
 * PIL's Image.resize for 8-bit RGB, as Keras's load_img calls it
 * (Pillow 9.4: Image.resize -> _imaging.c _resize -> Geometry.c
 * ImagingScaleAffine for NEAREST, Resample.c ImagingResample otherwise).
 * Reproduced operation by operation so results are bit-identical,
 * including the float32 crop box and the double-precision coordinates:
 *
 *  - load_img resizes only when the size differs (else a copy). With
 *    keep_aspect_ratio it passes the centred crop box
 *      crop_h = min(H, W * th // tw), crop_w = min(W, H * tw // th),
 *      box = ((W - crop_w) // 2, (H - crop_h) // 2, + crop_w, + crop_h).
 *  - _resize: the box is parsed as C floats; when its origin is integral
 *    and its size equals the output size the result is a plain crop.
 *  - NEAREST: an affine scale, a = (box width / out width, box x0): the
 *    source column of output x is (int)xo, xo starting at x0 + a / 2 and
 *    growing by a at each step (accumulated in double, so its rounding is
 *    part of the result); a negative xo or one past the source leaves the
 *    pixel 0 (never happens for boxes inside the image). Rows alike.
 *  - BILINEAR / BICUBIC: separable convolution, horizontal pass first over
 *    just the rows the vertical pass needs, uint8 in between. Per output
 *    index: scale = box size / out size, filterscale = max(scale, 1)
 *    (antialiasing when shrinking), support = filter support *
 *    filterscale, center = box0 + (i + 0.5) * scale, taps from
 *    (int)(center - support + 0.5) to (int)(center + support + 0.5)
 *    clamped to the image, weights filter((j - center + 0.5) /
 *    filterscale) normalised to sum 1, then rounded half away from zero
 *    to 22-bit fixed point; sums start at 2^21, >> 22 and clip to 0..255.
 */
#include "preprocess/preprocess.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The coordinate arithmetic must round exactly as Pillow's (built
 * without FMA contraction): no fused multiply-adds here. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define PRECISION_BITS (32 - 8 - 2)

static zoo_image *image_new(int w, int h)
{
    zoo_image *img = malloc(sizeof *img);
    unsigned char *px = img ? malloc((size_t)w * (size_t)h * 3) : NULL;
    if (!px) {
        free(img);
        zoo_error(ZOO_ERR_MEMORY, "zoo_image_resize: out of memory for a %dx%d image",
                  w, h);
        return NULL;
    }
    img->width = w;
    img->height = h;
    img->rgb = px;
    return img;
}

static zoo_image *image_copy(const zoo_image *img)
{
    zoo_image *out = image_new(img->width, img->height);
    if (out)
        memcpy(out->rgb, img->rgb, (size_t)img->width * (size_t)img->height * 3);
    return out;
}

/* ImagingCrop(im, x0, y0, x1, y1): pixels outside the source are 0. */
static zoo_image *crop(const zoo_image *in, int x0, int y0, int x1, int y1)
{
    int w = x1 - x0, h = y1 - y0;
    zoo_image *out = image_new(w, h);
    if (!out)
        return NULL;
    memset(out->rgb, 0, (size_t)w * (size_t)h * 3);
    for (int y = 0; y < h; y++) {
        int sy = y + y0;
        if (sy < 0 || sy >= in->height)
            continue;
        int xa = x0 < 0 ? -x0 : 0;
        int xb = x1 > in->width ? in->width - x0 : w;
        if (xb > xa)
            memcpy(out->rgb + ((size_t)y * w + xa) * 3,
                   in->rgb + ((size_t)sy * in->width + x0 + xa) * 3,
                   (size_t)(xb - xa) * 3);
    }
    return out;
}

/* Geometry.c ImagingScaleAffine with a = {sx, 0, x0, 0, sy, y0}, fill on. */
static zoo_image *resize_nearest(const zoo_image *in, int xsize, int ysize,
                                 const float box[4])
{
    double a0 = (double)(box[2] - box[0]) / xsize;
    double a4 = (double)(box[3] - box[1]) / ysize;
    double a2 = box[0], a5 = box[1];
    zoo_image *out = image_new(xsize, ysize);
    int *xintab = calloc((size_t)xsize, sizeof *xintab);
    if (!out || !xintab) {
        zoo_image_free(out);
        free(xintab);
        zoo_error(ZOO_ERR_MEMORY, "zoo_image_resize: out of memory");
        return NULL;
    }
    double xo = a2 + a0 * 0.5;
    double yo = a5 + a4 * 0.5;
    int xmin = xsize, xmax = 0;
    for (int x = 0; x < xsize; x++) {
        int xin = xo < 0.0 ? -1 : (int)xo;
        if (xin >= 0 && xin < in->width) {
            xmax = x + 1;
            if (x < xmin)
                xmin = x;
            xintab[x] = xin;
        }
        xo += a0;
    }
    size_t orow = (size_t)xsize * 3;
    for (int y = 0; y < ysize; y++) {
        int yi = yo < 0.0 ? -1 : (int)yo;
        unsigned char *o = out->rgb + (size_t)y * orow;
        memset(o, 0, orow);
        if (yi >= 0 && yi < in->height) {
            const unsigned char *s = in->rgb + (size_t)yi * (size_t)in->width * 3;
            for (int x = xmin; x < xmax; x++) {
                const unsigned char *p = s + (size_t)xintab[x] * 3;
                o[3 * x] = p[0];
                o[3 * x + 1] = p[1];
                o[3 * x + 2] = p[2];
            }
        }
        yo += a4;
    }
    free(xintab);
    return out;
}

/* ---- Resample.c ---- */

typedef struct {
    double (*fn)(double x);
    double support;
} filter_def;

static double bilinear_filter(double x)
{
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return 1.0 - x;
    return 0.0;
}

static double bicubic_filter(double x)
{
#define A -0.5
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((A + 2.0) * x - (A + 3.0)) * x * x + 1;
    if (x < 2.0)
        return (((x - 5) * x + 8) * x - 4) * A;
    return 0.0;
#undef A
}

static const filter_def BILINEAR = {bilinear_filter, 1.0};
static const filter_def BICUBIC = {bicubic_filter, 2.0};

/* precompute_coeffs + normalize_coeffs_8bpc: per output index its first
 * tap, tap count and ksize fixed-point weights. Returns ksize, 0 on OOM. */
static int precompute_coeffs(int in_size, float in0, float in1, int out_size,
                             const filter_def *f, int **boundsp, int32_t **kkp)
{
    double scale, filterscale;
    filterscale = scale = (double)(in1 - in0) / out_size;
    if (filterscale < 1.0)
        filterscale = 1.0;
    double support = f->support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    if (out_size > INT_MAX / (ksize * (int)sizeof(double)))
        return 0;
    double *pre = malloc((size_t)ksize * sizeof *pre);
    int32_t *kk = malloc((size_t)out_size * (size_t)ksize * sizeof *kk);
    int *bounds = malloc((size_t)out_size * 2 * sizeof *bounds);
    if (!pre || !kk || !bounds) {
        free(pre);
        free(kk);
        free(bounds);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = f->fn((x + xmin - center + 0.5) * ss);
            pre[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                pre[x] /= ww;
        for (; x < ksize; x++)
            pre[x] = 0;
        int32_t *k = kk + (size_t)xx * ksize;
        for (x = 0; x < ksize; x++)
            k[x] = pre[x] < 0 ? (int32_t)(-0.5 + pre[x] * (1 << PRECISION_BITS))
                              : (int32_t)(0.5 + pre[x] * (1 << PRECISION_BITS));
        bounds[xx * 2] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    free(pre);
    *boundsp = bounds;
    *kkp = kk;
    return ksize;
}

static inline unsigned char clip8(int v)
{
    v >>= PRECISION_BITS; /* arithmetic shift, as Pillow relies on */
    return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)v;
}

/* Output rows [0, out_h) from input rows offset + [0, out_h). */
static void resample_horizontal(unsigned char *out, int out_w, int out_h,
                                const unsigned char *in, int in_w, int offset,
                                int ksize, const int *bounds, const int32_t *kk)
{
    for (int yy = 0; yy < out_h; yy++) {
        const unsigned char *src = in + (size_t)(yy + offset) * (size_t)in_w * 3;
        unsigned char *dst = out + (size_t)yy * (size_t)out_w * 3;
        for (int xx = 0; xx < out_w; xx++) {
            int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
            const int32_t *k = kk + (size_t)xx * ksize;
            int ss0 = 1 << (PRECISION_BITS - 1), ss1 = ss0, ss2 = ss0;
            const unsigned char *p = src + (size_t)xmin * 3;
            for (int x = 0; x < xmax; x++, p += 3) {
                ss0 += p[0] * k[x];
                ss1 += p[1] * k[x];
                ss2 += p[2] * k[x];
            }
            dst[3 * xx] = clip8(ss0);
            dst[3 * xx + 1] = clip8(ss1);
            dst[3 * xx + 2] = clip8(ss2);
        }
    }
}

static void resample_vertical(unsigned char *out, int w, int out_h,
                              const unsigned char *in, int ksize,
                              const int *bounds, const int32_t *kk)
{
    size_t stride = (size_t)w * 3;
    for (int yy = 0; yy < out_h; yy++) {
        const int32_t *k = kk + (size_t)yy * ksize;
        int ymin = bounds[yy * 2], ymax = bounds[yy * 2 + 1];
        unsigned char *dst = out + (size_t)yy * stride;
        for (size_t i = 0; i < stride; i++) {
            int ss = 1 << (PRECISION_BITS - 1);
            const unsigned char *p = in + (size_t)ymin * stride + i;
            for (int y = 0; y < ymax; y++, p += stride)
                ss += *p * k[y];
            dst[i] = clip8(ss);
        }
    }
}

/* ImagingResampleInner. */
static zoo_image *resample(const zoo_image *in, int xsize, int ysize,
                           const filter_def *f, const float box[4])
{
    bool need_h = xsize != in->width || box[0] || box[2] != xsize;
    bool need_v = ysize != in->height || box[1] || box[3] != ysize;
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int ksh = precompute_coeffs(in->width, box[0], box[2], xsize, f, &bh, &kh);
    int ksv = ksh ? precompute_coeffs(in->height, box[1], box[3], ysize, f, &bv, &kv)
                  : 0;
    zoo_image *tmp = NULL, *out = NULL;
    if (!ksh || !ksv)
        goto oom;

    const zoo_image *src = in;
    int ybox_first = bv[0];
    int ybox_last = bv[ysize * 2 - 2] + bv[ysize * 2 - 1];
    if (need_h) {
        for (int i = 0; i < ysize; i++)
            bv[i * 2] -= ybox_first;
        tmp = image_new(xsize, ybox_last - ybox_first);
        if (!tmp)
            goto oom;
        resample_horizontal(tmp->rgb, xsize, tmp->height, in->rgb, in->width,
                            ybox_first, ksh, bh, kh);
        src = tmp;
    }
    if (need_v) {
        out = image_new(src->width, ysize);
        if (!out)
            goto oom;
        resample_vertical(out->rgb, src->width, ysize, src->rgb, ksv, bv, kv);
        zoo_image_free(tmp);
    } else if (tmp) {
        out = tmp;
    } else {
        out = image_copy(in);
    }
    free(bh);
    free(kh);
    free(bv);
    free(kv);
    return out;
oom:
    free(bh);
    free(kh);
    free(bv);
    free(kv);
    zoo_image_free(tmp);
    zoo_error(ZOO_ERR_MEMORY, "zoo_image_resize: out of memory resizing %dx%d to %dx%d",
              in->width, in->height, xsize, ysize);
    return NULL;
}

zoo_image *zoo_image_resize(const zoo_image *img, int width, int height,
                            zoo_resize_filter filter, bool keep_aspect_ratio)
{
    if (!img || !img->rgb || img->width < 1 || img->height < 1) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_image_resize: %s",
                  !img ? "image is NULL" : "image has no pixels");
        return NULL;
    }
    if (width < 1 || height < 1) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "zoo_image_resize: target size %dx%d: width and height must be > 0",
                  width, height);
        return NULL;
    }
    const filter_def *f = NULL;
    switch (filter) {
    case ZOO_RESIZE_NEAREST:
        break;
    case ZOO_RESIZE_BILINEAR:
        f = &BILINEAR;
        break;
    case ZOO_RESIZE_BICUBIC:
        f = &BICUBIC;
        break;
    default:
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_image_resize: unknown filter %d", (int)filter);
        return NULL;
    }
    /* load_img: no resize at all when the size already matches. */
    if (img->width == width && img->height == height)
        return image_copy(img);

    long long W = img->width, H = img->height;
    long long x0 = 0, y0 = 0, x1 = W, y1 = H;
    if (keep_aspect_ratio) {
        long long crop_h = W * height / width;
        long long crop_w = H * width / height;
        if (crop_h > H)
            crop_h = H;
        if (crop_w > W)
            crop_w = W;
        y0 = (H - crop_h) / 2;
        x0 = (W - crop_w) / 2;
        x1 = x0 + crop_w;
        y1 = y0 + crop_h;
        /* A zero-size crop (a 1-pixel side against a very different
         * aspect) is what Keras passes too; Pillow resamples it from the
         * box's edge, and so do we. */
    }
    /* _resize parses the box as C floats. */
    float box[4] = {(float)x0, (float)y0, (float)x1, (float)y1};
    if (box[0] - (int)box[0] == 0 && box[2] - box[0] == width &&
        box[1] - (int)box[1] == 0 && box[3] - box[1] == height)
        return crop(img, (int)box[0], (int)box[1], (int)box[2], (int)box[3]);
    if (!f)
        return resize_nearest(img, width, height, box);
    return resample(img, width, height, f, box);
}
