/*
 * Random augmentation of one RGB float image in [0, 255], in the order
 * flip, crop, rotation, brightness. Every draw comes from a splitmix64
 * generator seeded with the caller's seed; each operation has its own
 * stream (seed and operation number), so turning one operation on or off
 * does not change the draws of the others.
 *
 * Geometry uses pixel centres: pixel x covers [x, x + 1) and its value
 * sits at x. Bilinear sampling clamps coordinates to the image (or crop
 * box), which repeats the edge pixels outward.
 */
#include "preprocess/preprocess.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [lo, hi]. */
static int rng_int(rng *r, int lo, int hi)
{
    int v = lo + (int)(rng_uniform(r) * (double)(hi - lo + 1));
    return v > hi ? hi : v;
}

enum { OP_FLIP = 1, OP_CROP, OP_ROTATION, OP_BRIGHTNESS };

static rng stream(unsigned long long seed, int op)
{
    rng r = {seed ^ (0xA0761D6478BD642FULL * (uint64_t)op)};
    (void)rng_next(&r); /* decorrelate nearby seeds */
    return r;
}

static float lerp(float a, float b, float t) { return a + (b - a) * t; }

static void flip_horizontal(float *rgb, int h, int w)
{
    for (int y = 0; y < h; y++) {
        float *row = rgb + (size_t)y * w * 3;
        for (int a = 0, b = w - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                float t = row[a * 3 + c];
                row[a * 3 + c] = row[b * 3 + c];
                row[b * 3 + c] = t;
            }
    }
}

/* Source taps of output index i when [x0, x0 + len) is stretched over
 * `out` pixels: two neighbours and the weight of the second. */
static void stretch_taps(int x0, int len, int out, int *lo, int *hi, float *t)
{
    for (int i = 0; i < out; i++) {
        double s = x0 + (i + 0.5) * (double)len / out - 0.5;
        if (s < x0)
            s = x0;
        if (s > x0 + len - 1)
            s = x0 + len - 1;
        int a = (int)floor(s);
        lo[i] = a;
        hi[i] = a + 1 < x0 + len ? a + 1 : a;
        t[i] = (float)(s - a);
    }
}

/* The box (x0, y0, cw, ch) of `src`, resized bilinearly to w x h. */
static zoo_status crop_resize(float *rgb, int h, int w, int x0, int y0, int cw, int ch)
{
    size_t n = (size_t)h * w * 3;
    float *src = malloc(n * sizeof *src);
    int *xl = malloc((size_t)w * sizeof *xl), *xh = malloc((size_t)w * sizeof *xh);
    int *yl = malloc((size_t)h * sizeof *yl), *yh = malloc((size_t)h * sizeof *yh);
    float *xt = malloc((size_t)w * sizeof *xt), *yt = malloc((size_t)h * sizeof *yt);
    zoo_status st = ZOO_OK;
    if (!src || !xl || !xh || !yl || !yh || !xt || !yt) {
        st = zoo_error(ZOO_ERR_MEMORY, "zoo_augment_apply: out of memory for a %dx%d "
                                       "crop", w, h);
        goto done;
    }
    memcpy(src, rgb, n * sizeof *src);
    stretch_taps(x0, cw, w, xl, xh, xt);
    stretch_taps(y0, ch, h, yl, yh, yt);
    for (int y = 0; y < h; y++) {
        const float *r0 = src + (size_t)yl[y] * w * 3, *r1 = src + (size_t)yh[y] * w * 3;
        float *out = rgb + (size_t)y * w * 3;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                float top = lerp(r0[xl[x] * 3 + c], r0[xh[x] * 3 + c], xt[x]);
                float bot = lerp(r1[xl[x] * 3 + c], r1[xh[x] * 3 + c], xt[x]);
                out[x * 3 + c] = lerp(top, bot, yt[y]);
            }
    }
done:
    free(src);
    free(xl);
    free(xh);
    free(yl);
    free(yh);
    free(xt);
    free(yt);
    return st;
}

/* Rotates by `deg` degrees about the image centre: output pixel p takes
 * the source value at centre + R(deg) (p - centre); y grows downwards, so
 * positive angles turn the content counter-clockwise on screen. */
static zoo_status rotate(float *rgb, int h, int w, double deg)
{
    size_t n = (size_t)h * w * 3;
    float *src = malloc(n * sizeof *src);
    if (!src)
        return zoo_error(ZOO_ERR_MEMORY, "zoo_augment_apply: out of memory for a %dx%d "
                                         "rotation", w, h);
    memcpy(src, rgb, n * sizeof *src);
    double rad = deg * (3.14159265358979323846 / 180.0);
    double cs = cos(rad), sn = sin(rad);
    double cx = (w - 1) * 0.5, cy = (h - 1) * 0.5;
    for (int y = 0; y < h; y++) {
        double dy = y - cy;
        for (int x = 0; x < w; x++) {
            double dx = x - cx;
            double sx = cx + cs * dx - sn * dy;
            double sy = cy + sn * dx + cs * dy;
            sx = sx < 0 ? 0 : sx > w - 1 ? w - 1 : sx;
            sy = sy < 0 ? 0 : sy > h - 1 ? h - 1 : sy;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
            float tx = (float)(sx - x0), ty = (float)(sy - y0);
            const float *r0 = src + (size_t)y0 * w * 3, *r1 = src + (size_t)y1 * w * 3;
            float *out = rgb + ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) {
                float top = lerp(r0[x0 * 3 + c], r0[x1 * 3 + c], tx);
                float bot = lerp(r1[x0 * 3 + c], r1[x1 * 3 + c], tx);
                out[c] = lerp(top, bot, ty);
            }
        }
    }
    free(src);
    return ZOO_OK;
}

zoo_status zoo_augment_apply(const zoo_augment *aug, float *rgb, int height,
                             int width, unsigned long long seed)
{
    if (!aug || !rgb)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_augment_apply: %s is NULL",
                         aug ? "the image" : "the augmentation");
    if (height < 1 || width < 1)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_augment_apply: image size %dx%d "
                                           "(width x height) is empty",
                         width, height);
    if (!(aug->crop >= 0 && aug->crop < 1) ||
        !(aug->rotation >= 0 && aug->rotation <= 360) ||
        !(aug->brightness >= 0 && aug->brightness <= 1))
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "zoo_augment_apply: augmentation out of range (crop %g "
                         "must be in [0, 1), rotation %g in [0, 360] degrees, "
                         "brightness %g in [0, 1])",
                         aug->crop, aug->rotation, aug->brightness);

    if (aug->flip) {
        rng r = stream(seed, OP_FLIP);
        if (rng_uniform(&r) < 0.5)
            flip_horizontal(rgb, height, width);
    }
    if (aug->crop > 0) {
        rng r = stream(seed, OP_CROP);
        int min_w = (int)ceil((1.0 - aug->crop) * width);
        int min_h = (int)ceil((1.0 - aug->crop) * height);
        min_w = min_w < 1 ? 1 : min_w > width ? width : min_w;
        min_h = min_h < 1 ? 1 : min_h > height ? height : min_h;
        int cw = rng_int(&r, min_w, width), ch = rng_int(&r, min_h, height);
        int x0 = rng_int(&r, 0, width - cw), y0 = rng_int(&r, 0, height - ch);
        if (cw != width || ch != height) {
            zoo_status st = crop_resize(rgb, height, width, x0, y0, cw, ch);
            if (st != ZOO_OK)
                return st;
        }
    }
    if (aug->rotation > 0) {
        rng r = stream(seed, OP_ROTATION);
        double deg = (2.0 * rng_uniform(&r) - 1.0) * aug->rotation;
        if (deg != 0) {
            zoo_status st = rotate(rgb, height, width, deg);
            if (st != ZOO_OK)
                return st;
        }
    }
    if (aug->brightness > 0) {
        rng r = stream(seed, OP_BRIGHTNESS);
        float delta = (float)((2.0 * rng_uniform(&r) - 1.0) * aug->brightness * 255.0);
        size_t n = (size_t)height * width * 3;
        for (size_t i = 0; i < n; i++) {
            float v = rgb[i] + delta;
            rgb[i] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
    }
    return ZOO_OK;
}
