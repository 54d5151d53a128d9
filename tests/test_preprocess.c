/*
 * preprocess: image decode, resize, preprocess_input, labels and top-k
 * against Pillow / NumPy / Keras's own arithmetic.
 *
 * The cases come from oracle/image_cases.py, run once per test run (in the
 * runner process, before the tests fork) into a temporary directory: it
 * writes images with Pillow and what Pillow's Image.open(...).convert("RGB")
 * and Keras's resize step make of them. Expectations:
 *  - decode: byte-identical to Pillow (same libjpeg, same settings), and
 *    failure exactly where Pillow raises, with a message naming the file;
 *  - NEAREST: byte-identical; BILINEAR / BICUBIC: no pixel more than one
 *    level off and at most 0.1% of them one level off (in practice none:
 *    the arithmetic is Pillow's, step by step);
 *  - preprocess_input: bit-identical float32 to Keras's NumPy code, and
 *    hand-computed constants;
 *  - top-k: decode_predictions' order, ties included.
 * When the sample photos are beside the repository (CI:
 * ZOO_TEST_SOURCE_DIR/../../shared/data/images) they are checked too,
 * against Pillow and against pil_reference.json; otherwise that test is
 * skipped.
 */
#include "support.h"

#include <zoo/preprocess.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SCRIPT ZOO_TEST_SOURCE_DIR "/oracle/image_cases.py"
#define PHOTOS_DIR ZOO_TEST_SOURCE_DIR "/../../shared/data/images"
#define SHARED_LABELS ZOO_TEST_SOURCE_DIR "/../../shared/data/imagenet_class_index.json"

/* ------------------------------------------------------------------ */
/* The generated cases                                                 */
/* ------------------------------------------------------------------ */

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    zt_generate_cases_once(SCRIPT, is_dir(PHOTOS_DIR) ? PHOTOS_DIR : NULL, "image-cases",
                           "ZOO_IMAGE_CASES");
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    zt_generated_cases_cleanup("ZOO_IMAGE_CASES");
}

static char *case_path(const char *name) { return zt_path(zt_cases_dir("ZOO_IMAGE_CASES"), name); }

static json_t *manifest(void)
{
    char *p = case_path("manifest.json");
    json_error_t e;
    json_t *m = json_load_file(p, 0, &e);
    cr_assert(m, "%s: %s (line %d)", p, e.text, e.line);
    free(p);
    return m;
}

/* Whole file (malloc'ed); cr_assert on failure. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s: %s", path, strerror(errno));
    cr_assert(fseek(f, 0, SEEK_END) == 0);
    long size = ftell(f);
    cr_assert(size >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size + 1);
    cr_assert(buf);
    cr_assert(fread(buf, 1, (size_t)size, f) == (size_t)size, "short read on %s", path);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static unsigned char *slurp_case(const char *name, size_t *n)
{
    char *p = case_path(name);
    unsigned char *b = slurp(p, n);
    free(p);
    return b;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    cr_assert(s, "manifest: missing string '%s'", k);
    return s;
}

static int jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    cr_assert(json_is_integer(v), "manifest: missing integer '%s'", k);
    return (int)json_integer_value(v);
}

/* ------------------------------------------------------------------ */
/* Comparisons                                                         */
/* ------------------------------------------------------------------ */

typedef struct {
    int max_diff;
    size_t n_diff;
    int x, y, c; /* first worst */
    int got, want;
} rgb_diff;

static rgb_diff compare_rgb(const unsigned char *got, const unsigned char *want,
                            int w, int h)
{
    rgb_diff d = {0};
    size_t n = (size_t)w * (size_t)h * 3;
    for (size_t i = 0; i < n; i++) {
        int df = abs((int)got[i] - (int)want[i]);
        if (df) {
            d.n_diff++;
            if (df > d.max_diff) {
                d.max_diff = df;
                d.x = (int)(i / 3 % (size_t)w);
                d.y = (int)(i / 3 / (size_t)w);
                d.c = (int)(i % 3);
                d.got = got[i];
                d.want = want[i];
            }
        }
    }
    return d;
}

/* NEAREST / decode: exact. Filters: <= 1 level, <= 0.1% of values. */
static bool resize_ok(const rgb_diff *d, bool exact, size_t n_values)
{
    if (exact)
        return d->n_diff == 0;
    return d->max_diff <= 1 && d->n_diff * 1000 <= n_values;
}

#define DIFF_FMT "%zu values differ, worst %d at (x %d, y %d, c %d): got %d, want %d"
#define DIFF_ARGS(d) (d).n_diff, (d).max_diff, (d).x, (d).y, (d).c, (d).got, (d).want

static zoo_resize_filter filter_of(const char *s)
{
    if (strcmp(s, "nearest") == 0)
        return ZOO_RESIZE_NEAREST;
    if (strcmp(s, "bilinear") == 0)
        return ZOO_RESIZE_BILINEAR;
    cr_assert_str_eq(s, "bicubic");
    return ZOO_RESIZE_BICUBIC;
}

/* The failure was reported, with a message that names `name`. */
#define EXPECT_FAILED_NAMING(img, name, what)                                  \
    do {                                                                       \
        cr_expect((img) == NULL, "%s: should fail", what);                     \
        cr_expect(zoo_last_status() != ZOO_OK, "%s: status is ZOO_OK", what);  \
        cr_expect(strstr(zoo_last_error(), (name)) != NULL,                    \
                  "%s: message does not name '%s': \"%s\"", what, (name),      \
                  zoo_last_error());                                           \
    } while (0)

/* ------------------------------------------------------------------ */
/* Decode against Pillow                                               */
/* ------------------------------------------------------------------ */

Test(preprocess, decode_matches_pillow, .timeout = 60)
{
    json_t *m = manifest();
    json_t *cases = json_object_get(m, "decode");
    cr_assert(json_array_size(cases) > 100, "too few decode cases");
    size_t i;
    json_t *c;
    int n_ok = 0, n_fail = 0;
    json_array_foreach(cases, i, c)
    {
        const char *name = jstr(c, "name");
        char *path = case_path(jstr(c, "file"));
        zoo_clear_error();
        zoo_image *img = zoo_image_load(path);
        const char *fmt = json_string_value(json_object_get(c, "unsupported_format"));
        if (fmt) {
            /* Pillow opens it; zoo decodes JPEG and PNG only, and says so. */
            EXPECT_FAILED_NAMING(img, path, name);
            cr_expect(zoo_last_status() == ZOO_ERR_UNSUPPORTED, "%s: status %s", name,
                      zoo_status_name(zoo_last_status()));
            cr_expect(strstr(zoo_last_error(), fmt) != NULL,
                      "%s: message should name the format %s: %s", name, fmt,
                      zoo_last_error());
        } else if (json_is_true(json_object_get(c, "ok"))) {
            n_ok++;
            if (!img) {
                cr_expect(false, "%s: Pillow decodes it, we fail: %s", name,
                          zoo_last_error());
                free(path);
                continue;
            }
            int w = jint(c, "width"), h = jint(c, "height");
            cr_expect(img->width == w && img->height == h, "%s: %dx%d, Pillow %dx%d",
                      name, img->width, img->height, w, h);
            if (img->width == w && img->height == h) {
                size_t n;
                unsigned char *want = slurp_case(jstr(c, "expect"), &n);
                cr_assert_eq(n, (size_t)w * h * 3);
                rgb_diff d = compare_rgb(img->rgb, want, w, h);
                cr_expect(d.n_diff == 0, "%s: decode differs from Pillow: " DIFF_FMT,
                          name, DIFF_ARGS(d));
                /* The in-memory entry point gives the same pixels. */
                size_t fn;
                unsigned char *bytes = slurp(path, &fn);
                zoo_image *mem = zoo_image_decode(bytes, fn, name);
                cr_expect(mem && memcmp(mem->rgb, want, n) == 0,
                          "%s: zoo_image_decode differs from zoo_image_load", name);
                zoo_image_free(mem);
                free(bytes);
                free(want);
            }
        } else {
            n_fail++;
            char what[256];
            snprintf(what, sizeof what, "%s (Pillow: %.150s)", name,
                     jstr(c, "pillow_error"));
            EXPECT_FAILED_NAMING(img, path, what);
            if (strstr(jstr(c, "pillow_error"), "is truncated"))
                cr_expect(strstr(zoo_last_error(), "truncated") != NULL,
                          "%s: Pillow says truncated, we say: %s", name, zoo_last_error());
            if (strstr(jstr(c, "pillow_error"), "DecompressionBomb"))
                cr_expect(strstr(zoo_last_error(), "decompression-bomb") != NULL,
                          "%s: should be refused as a decompression bomb: %s", name,
                          zoo_last_error());
        }
        zoo_image_free(img);
        free(path);
    }
    cr_expect(n_ok > 100 && n_fail > 15, "decode cases: %d ok, %d failing", n_ok, n_fail);
    json_decref(m);
}

/* ------------------------------------------------------------------ */
/* Inputs that must fail, quickly and clearly                          */
/* ------------------------------------------------------------------ */

Test(preprocess, bad_paths_fail_without_blocking, .timeout = 20)
{
    char *dir = zt_tmpdir_or_die();

    char *missing = zt_path(dir, "missing.jpg");
    zoo_clear_error();
    zoo_image *img = zoo_image_load(missing);
    EXPECT_FAILED_NAMING(img, missing, "missing file");
    cr_expect_eq(zoo_last_status(), ZOO_ERR_NOT_FOUND);

    char *sub = zt_path(dir, "photo.jpg"); /* a directory named like an image */
    cr_assert(mkdir(sub, 0777) == 0);
    img = zoo_image_load(sub);
    EXPECT_FAILED_NAMING(img, sub, "directory");
    cr_expect(strstr(zoo_last_error(), "directory"), "%s", zoo_last_error());

    /* A FIFO with no writer: opening or reading it must not block (the
     * test's timeout catches a hang). */
    char *fifo = zt_path(dir, "pipe.png");
    cr_assert(mkfifo(fifo, 0666) == 0, "mkfifo: %s", strerror(errno));
    img = zoo_image_load(fifo);
    EXPECT_FAILED_NAMING(img, fifo, "FIFO");
    cr_expect(strstr(zoo_last_error(), "FIFO"), "%s", zoo_last_error());
    zoo_labels *lab = zoo_labels_load(fifo);
    EXPECT_FAILED_NAMING(lab, fifo, "FIFO as labels");

    img = zoo_image_load("/dev/null");
    EXPECT_FAILED_NAMING(img, "/dev/null", "character device");

    char *empty = zt_path(dir, "empty.jpg");
    cr_assert(zt_write_file(empty, "", 0));
    img = zoo_image_load(empty);
    EXPECT_FAILED_NAMING(img, empty, "empty file");
    cr_expect(strstr(zoo_last_error(), "empty"), "%s", zoo_last_error());

    char *noise = zt_path(dir, "noise.png");
    unsigned char junk[4096];
    unsigned long long s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof junk; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        junk[i] = (unsigned char)s;
    }
    junk[0] = 'x';
    cr_assert(zt_write_file(noise, junk, sizeof junk));
    img = zoo_image_load(noise);
    EXPECT_FAILED_NAMING(img, noise, "random bytes");

    /* Signatures cut short, and a JPEG signature followed by noise. */
    zoo_clear_error();
    img = zoo_image_decode("\xff\xd8", 2, "two-bytes.jpg");
    EXPECT_FAILED_NAMING(img, "two-bytes.jpg", "2-byte JPEG");
    cr_expect(strstr(zoo_last_error(), "truncated"), "%s", zoo_last_error());
    img = zoo_image_decode("\x89PNG", 4, "four-bytes.png");
    EXPECT_FAILED_NAMING(img, "four-bytes.png", "4-byte PNG");
    junk[0] = 0xFF, junk[1] = 0xD8, junk[2] = 0xFF;
    img = zoo_image_decode(junk, sizeof junk, "noise.jpg");
    EXPECT_FAILED_NAMING(img, "noise.jpg", "JPEG signature + noise");

    /* Arguments. */
    zoo_clear_error();
    cr_expect_null(zoo_image_load(NULL));
    cr_expect_neq(zoo_last_status(), ZOO_OK);
    cr_expect_null(zoo_image_decode(NULL, 10, "x"));
    cr_expect_null(zoo_image_decode("", 0, NULL));
    zoo_image_free(NULL);

    free(missing);
    free(sub);
    free(fifo);
    free(empty);
    free(noise);
    zt_rmtree(dir);
    free(dir);
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* Signature, IHDR (8-bit RGB, w x h) and an IDAT chunk whose data stops
 * after 6 bytes: a valid header for an image with no pixels. */
static size_t png_header_only(unsigned char *out, uint32_t w, uint32_t h)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t n = 0;
    memcpy(out, sig, 8);
    n = 8;
    put_be32(out + n, 13);
    memcpy(out + n + 4, "IHDR", 4);
    put_be32(out + n + 8, w);
    put_be32(out + n + 12, h);
    memcpy(out + n + 16, "\x08\x02\x00\x00\x00", 5);
    put_be32(out + n + 21, crc32_of(out + n + 4, 17));
    n += 25;
    put_be32(out + n, 1000);
    memcpy(out + n + 4, "IDAT", 4);
    memcpy(out + n + 8, "\x78\x01\x00\x00\x00\x00", 6);
    return n + 14;
}

/* PIL refuses more than 2 * MAX_IMAGE_PIXELS = 178,956,970 pixels, from
 * the header, and accepts exactly that many. 12470 x 14351 is exactly the
 * limit: past the check, these files fail only because they are cut. */
Test(preprocess, bomb_limit_is_pils, .timeout = 30)
{
    unsigned char png[64];
    size_t n = png_header_only(png, 12470, 14351);
    zoo_clear_error();
    zoo_image *img = zoo_image_decode(png, n, "limit.png");
    EXPECT_FAILED_NAMING(img, "limit.png", "PNG at the limit (no data)");
    cr_expect(strstr(zoo_last_error(), "truncated"), "at the limit: %s", zoo_last_error());
    n = png_header_only(png, 12470, 14352);
    img = zoo_image_decode(png, n, "over.png");
    EXPECT_FAILED_NAMING(img, "over.png", "PNG one row over the limit");
    cr_expect(strstr(zoo_last_error(), "decompression-bomb"), "%s", zoo_last_error());
    n = png_header_only(png, 0x7fffffff, 0x7fffffff);
    img = zoo_image_decode(png, n, "huge.png");
    EXPECT_FAILED_NAMING(img, "huge.png", "PNG 2^31-1 square");
    cr_expect(strstr(zoo_last_error(), "decompression-bomb"), "%s", zoo_last_error());

    /* JPEG: a real baseline file's SOF patched, cut after the SOS header. */
    size_t len;
    unsigned char *jpg = slurp_case("dec_jpeg_420_37x23.jpg", &len);
    size_t sof = 0, sos = 0;
    for (size_t i = 2; i + 1 < len; i++) {
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0 && !sof)
            sof = i;
        if (jpg[i] == 0xFF && jpg[i + 1] == 0xDA && !sos)
            sos = i;
    }
    cr_assert(sof && sos > sof);
    size_t cut = sos + 2 + ((size_t)jpg[sos + 2] << 8 | jpg[sos + 3]);
    const int dims[2][2] = {{12470, 14351}, {12470, 14352}};
    for (int k = 0; k < 2; k++) {
        jpg[sof + 5] = (unsigned char)(dims[k][1] >> 8);
        jpg[sof + 6] = (unsigned char)dims[k][1];
        jpg[sof + 7] = (unsigned char)(dims[k][0] >> 8);
        jpg[sof + 8] = (unsigned char)dims[k][0];
        const char *name = k ? "over.jpg" : "limit.jpg";
        img = zoo_image_decode(jpg, cut, name);
        EXPECT_FAILED_NAMING(img, name, name);
        cr_expect(strstr(zoo_last_error(), k ? "decompression-bomb" : "truncated"),
                  "%s: %s", name, zoo_last_error());
    }
    free(jpg);
}

static long max_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024; /* KiB on Linux */
}

/* 24-megapixel JPEGs (baseline and progressive) and a 24-megapixel
 * interlaced PNG decode with a peak far under 1 GiB: the RGB result
 * (72 MiB) plus, for progressive JPEG, libjpeg's coefficients. */
Test(preprocess, large_images_memory, .timeout = 60)
{
    json_t *m = manifest();
    json_t *cases = json_object_get(m, "large");
    cr_assert(json_array_size(cases) == 3);
    long before = max_rss_mib();
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        char *path = case_path(jstr(c, "file"));
        int w = jint(c, "width"), h = jint(c, "height");
        bool gray = jint(c, "channels") == 1;
        zoo_image *img = zoo_image_load(path);
        cr_assert(img, "%s: %s", path, zoo_last_error());
        cr_assert(img->width == w && img->height == h);
        /* The picture of image_cases.py's large_picture. */
        double err[3] = {0, 0, 0};
        size_t mism = 0;
        for (int y = 0; y < h; y++) {
            const unsigned char *row = img->rgb + (size_t)y * w * 3;
            for (int x = 0; x < w; x++) {
                int want[3] = {x * 255 / (w - 1), y * 255 / (h - 1), ((x + y) >> 4) & 255};
                if (gray)
                    want[1] = want[2] = want[0];
                for (int k = 0; k < 3; k++) {
                    int d = abs(row[3 * x + k] - want[k]);
                    err[k] += d;
                    mism += d != 0;
                }
            }
        }
        if (gray)
            cr_expect(mism == 0, "%s: lossless PNG differs in %zu values", path, mism);
        for (int k = 0; k < 3; k++)
            cr_expect(err[k] / ((double)w * h) < 4.0,
                      "%s: channel %d is %.2f levels off on average: not the picture",
                      path, k, err[k] / ((double)w * h));
        zoo_image_free(img);
        free(path);
    }
    long peak = max_rss_mib();
    cr_log_info("peak RSS %ld MiB (before decoding: %ld MiB)", peak, before);
    cr_expect(peak < 400, "decoding 24-megapixel images peaked at %ld MiB", peak);
    json_decref(m);
}

/* ------------------------------------------------------------------ */
/* Resize                                                              */
/* ------------------------------------------------------------------ */

Test(preprocess, resize_matches_pillow, .timeout = 60)
{
    json_t *m = manifest();
    json_t *cases = json_object_get(m, "resize");
    cr_assert(json_array_size(cases) > 100);
    size_t i;
    json_t *c;
    size_t exact[3] = {0, 0, 0}, total[3] = {0, 0, 0};
    json_array_foreach(cases, i, c)
    {
        const char *name = jstr(c, "name");
        size_t n;
        unsigned char *src = slurp_case(jstr(c, "src"), &n);
        zoo_image in = {jint(c, "src_w"), jint(c, "src_h"), src};
        cr_assert_eq(n, (size_t)in.width * in.height * 3);
        int w = jint(c, "w"), h = jint(c, "h");
        zoo_resize_filter f = filter_of(jstr(c, "filter"));
        zoo_image *out = zoo_image_resize(&in, w, h, f,
                                          json_is_true(json_object_get(c, "keep_aspect")));
        cr_assert(out, "%s: %s", name, zoo_last_error());
        cr_assert(out->width == w && out->height == h);
        cr_assert(out->rgb != src);
        unsigned char *want = slurp_case(jstr(c, "expect"), &n);
        cr_assert_eq(n, (size_t)w * h * 3);
        rgb_diff d = compare_rgb(out->rgb, want, w, h);
        total[f]++;
        exact[f] += d.n_diff == 0;
        cr_expect(resize_ok(&d, f == ZOO_RESIZE_NEAREST, n), "%s: " DIFF_FMT, name,
                  DIFF_ARGS(d));
        zoo_image_free(out);
        free(want);
        free(src);
    }
    cr_log_info("bit-identical to Pillow: nearest %zu/%zu, bilinear %zu/%zu, bicubic %zu/%zu",
                exact[0], total[0], exact[1], total[1], exact[2], total[2]);
    json_decref(m);
}

/* Every in/out pair of 1..40 along one axis: the filter coefficients. */
Test(preprocess, resize_axis_sweeps, .timeout = 60)
{
    json_t *m = manifest();
    json_t *sweeps = json_object_get(m, "axis_sweep");
    cr_assert(json_array_size(sweeps) == 4);
    size_t i;
    json_t *s;
    json_array_foreach(sweeps, i, s)
    {
        zoo_resize_filter f = filter_of(jstr(s, "filter"));
        bool along_x = strcmp(jstr(s, "axis"), "x") == 0;
        size_t ns, ne;
        unsigned char *src = slurp_case(jstr(s, "src"), &ns);
        unsigned char *exp = slurp_case(jstr(s, "expect"), &ne);
        size_t so = 0, eo = 0, j;
        json_t *pair;
        size_t n_exact = 0, n_pairs = json_array_size(json_object_get(s, "pairs"));
        json_array_foreach(json_object_get(s, "pairs"), j, pair)
        {
            int a = (int)json_integer_value(json_array_get(pair, 0));
            int b = (int)json_integer_value(json_array_get(pair, 1));
            cr_assert(so + (size_t)a * 3 <= ns && eo + (size_t)b * 3 <= ne);
            zoo_image in = {along_x ? a : 1, along_x ? 1 : a, src + so};
            zoo_image *out = zoo_image_resize(&in, along_x ? b : 1, along_x ? 1 : b, f, false);
            cr_assert(out, "%s", zoo_last_error());
            rgb_diff d = compare_rgb(out->rgb, exp + eo, out->width, out->height);
            n_exact += d.n_diff == 0;
            cr_expect(resize_ok(&d, false, (size_t)b * 3), "%s along %s, %d -> %d: " DIFF_FMT,
                      jstr(s, "filter"), jstr(s, "axis"), a, b, DIFF_ARGS(d));
            zoo_image_free(out);
            so += (size_t)a * 3;
            eo += (size_t)b * 3;
        }
        cr_expect(so == ns && eo == ne, "sweep files not fully consumed");
        cr_log_info("%s along %s: %zu/%zu pairs bit-identical", jstr(s, "filter"),
                    jstr(s, "axis"), n_exact, n_pairs);
        free(src);
        free(exp);
    }
    json_decref(m);
}

/* NEAREST's source column for many (in, out) pairs, against Pillow's
 * resize of an "I" image holding x. Also checked along y. */
Test(preprocess, nearest_index_map, .timeout = 60)
{
    json_t *m = manifest();
    json_t *nm = json_object_get(m, "nearest_map");
    size_t nb;
    unsigned char *raw = slurp_case(jstr(nm, "file"), &nb);
    size_t off = 0, j;
    json_t *pair;
    json_array_foreach(json_object_get(nm, "pairs"), j, pair)
    {
        int a = (int)json_integer_value(json_array_get(pair, 0));
        int b = (int)json_integer_value(json_array_get(pair, 1));
        cr_assert(off + (size_t)b * 4 <= nb);
        unsigned char *px = malloc((size_t)a * 3);
        cr_assert(px);
        for (int x = 0; x < a; x++) {
            px[3 * x] = (unsigned char)x;
            px[3 * x + 1] = (unsigned char)(x >> 8);
            px[3 * x + 2] = (unsigned char)(x >> 16);
        }
        for (int axis = 0; axis < 2; axis++) {
            zoo_image in = {axis ? 1 : a, axis ? a : 1, px};
            zoo_image *out = zoo_image_resize(&in, axis ? 1 : b, axis ? b : 1,
                                              ZOO_RESIZE_NEAREST, false);
            cr_assert(out, "%s", zoo_last_error());
            int bad = -1;
            for (int x = 0; x < b && bad < 0; x++) {
                int32_t want;
                memcpy(&want, raw + off + (size_t)x * 4, 4);
                int got = out->rgb[3 * x] | out->rgb[3 * x + 1] << 8 | out->rgb[3 * x + 2] << 16;
                if (got != want)
                    bad = x;
            }
            cr_expect(bad < 0, "nearest %d -> %d along %s: output %d samples the wrong source",
                      a, b, axis ? "y" : "x", bad);
            zoo_image_free(out);
        }
        free(px);
        off += (size_t)b * 4;
    }
    cr_expect_eq(off, nb);
    free(raw);
    json_decref(m);
}

Test(preprocess, resize_by_hand)
{
    /* 4 x 2 -> 2 x 1 NEAREST: source (1, 1) and (3, 1)
     * (floor((x + 0.5) * 2), floor(0.5 * 2)). */
    unsigned char px[4 * 2 * 3];
    for (int i = 0; i < 24; i++)
        px[i] = (unsigned char)(i * 10);
    zoo_image in = {4, 2, px};
    zoo_image *out = zoo_image_resize(&in, 2, 1, ZOO_RESIZE_NEAREST, false);
    cr_assert(out);
    const unsigned char want[6] = {150, 160, 170, 210, 220, 230};
    cr_expect_arr_eq(out->rgb, want, 6);
    zoo_image_free(out);

    /* Same size: a copy, whatever the filter and keep_aspect_ratio. */
    out = zoo_image_resize(&in, 4, 2, ZOO_RESIZE_BICUBIC, true);
    cr_assert(out && out->rgb != px);
    cr_expect_arr_eq(out->rgb, px, 24);
    zoo_image_free(out);

    /* keep_aspect_ratio to a square: the centred 2 x 2 box, which is the
     * output size, so a plain crop (columns 1 and 2) for any filter. */
    out = zoo_image_resize(&in, 2, 2, ZOO_RESIZE_BILINEAR, true);
    cr_assert(out);
    const unsigned char crop[12] = {30, 40, 50, 60, 70, 80, 150, 160, 170, 180, 190, 200};
    cr_expect_arr_eq(out->rgb, crop, 12);
    zoo_image_free(out);

    /* A constant image stays constant under every filter and size. */
    unsigned char flat[5 * 3 * 3];
    memset(flat, 77, sizeof flat);
    zoo_image fi = {5, 3, flat};
    for (int f = 0; f < 3; f++) {
        zoo_image *r = zoo_image_resize(&fi, 11, 2, (zoo_resize_filter)f, false);
        cr_assert(r);
        for (int k = 0; k < 11 * 2 * 3; k++)
            cr_expect_eq(r->rgb[k], 77, "filter %d value %d", f, k);
        zoo_image_free(r);
    }

    /* Bad arguments. */
    zoo_clear_error();
    cr_expect_null(zoo_image_resize(NULL, 2, 2, ZOO_RESIZE_NEAREST, false));
    cr_expect_neq(zoo_last_status(), ZOO_OK);
    cr_expect_null(zoo_image_resize(&in, 0, 2, ZOO_RESIZE_NEAREST, false));
    cr_expect_null(zoo_image_resize(&in, 2, -1, ZOO_RESIZE_NEAREST, false));
    cr_expect_null(zoo_image_resize(&in, 2, 2, (zoo_resize_filter)7, false));
    zoo_image empty = {0, 0, NULL};
    cr_expect_null(zoo_image_resize(&empty, 2, 2, ZOO_RESIZE_NEAREST, false));
}

/* ------------------------------------------------------------------ */
/* preprocess_input                                                    */
/* ------------------------------------------------------------------ */

Test(preprocess, preprocess_by_hand)
{
    cr_expect_eq(zoo_preprocess_parse("caffe"), ZOO_PREPROCESS_CAFFE);
    cr_expect_eq(zoo_preprocess_parse("tf"), ZOO_PREPROCESS_TF);
    cr_expect_eq(zoo_preprocess_parse("torch"), ZOO_PREPROCESS_TORCH);
    cr_expect_eq(zoo_preprocess_parse("TF"), -1);
    cr_expect_eq(zoo_preprocess_parse(""), -1);
    cr_expect_eq(zoo_preprocess_parse(NULL), -1);

    /* caffe: RGB (255, 0, 10) -> BGR (10, 0, 255) - (103.939, 116.779, 123.68) */
    float x[6] = {255, 0, 10, 0, 0, 0};
    zoo_preprocess_input(ZOO_PREPROCESS_CAFFE, x, 2);
    const float caffe[6] = {-93.939f, -116.779f, 131.32f, -103.939f, -116.779f, -123.68f};
    for (int i = 0; i < 6; i++)
        cr_expect(fabsf(x[i] - caffe[i]) < 1e-4f, "caffe[%d] = %.6f, want %.6f", i, x[i],
                  caffe[i]);

    /* tf: 0 -> -1, 255 -> 1, 127.5 -> 0, 51 -> -0.6 */
    float t[6] = {0, 255, 127.5f, 51, 204, 1};
    zoo_preprocess_input(ZOO_PREPROCESS_TF, t, 2);
    const float tf[6] = {-1.0f, 1.0f, 0.0f, -0.6f, 0.6f, -0.99215686f};
    for (int i = 0; i < 6; i++)
        cr_expect(fabsf(t[i] - tf[i]) < 1e-6f, "tf[%d] = %.8f, want %.8f", i, t[i], tf[i]);
    cr_expect(t[0] == -1.0f && t[1] == 1.0f && t[2] == 0.0f, "tf end points must be exact");

    /* torch: 0 -> -mean/std; 255 -> (1 - mean)/std */
    float p[6] = {0, 0, 0, 255, 255, 255};
    zoo_preprocess_input(ZOO_PREPROCESS_TORCH, p, 2);
    const float torch[6] = {-2.117904f, -2.035714f, -1.804444f,
                            2.248908f,  2.428571f,  2.64f};
    for (int i = 0; i < 6; i++)
        cr_expect(fabsf(p[i] - torch[i]) < 2e-6f, "torch[%d] = %.7f, want %.7f", i, p[i],
                  torch[i]);

    /* zoo_image_to_input = float conversion + preprocess_input. */
    unsigned char rgb[3] = {1, 2, 3};
    zoo_image img = {1, 1, rgb};
    float out[3];
    zoo_image_to_input(&img, ZOO_PREPROCESS_CAFFE, out);
    cr_expect(out[0] == 3.0f - 103.939f && out[1] == 2.0f - 116.779f &&
              out[2] == 1.0f - 123.68f);
}

/* Bit-identical to Keras's NumPy code for every uint8 value. */
Test(preprocess, preprocess_matches_keras)
{
    json_t *m = manifest();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(m, "preprocess"), i, c)
    {
        int mode = zoo_preprocess_parse(jstr(c, "mode"));
        cr_assert(mode >= 0);
        size_t n, ne;
        unsigned char *src = slurp_case(jstr(c, "src"), &n);
        unsigned char *exp = slurp_case(jstr(c, "expect"), &ne);
        int px = jint(c, "n");
        cr_assert(n == (size_t)px * 3 && ne == n * 4);
        zoo_image img = {px, 1, src};
        float *out = malloc(n * sizeof *out);
        cr_assert(out);
        zoo_image_to_input(&img, (zoo_preprocess_mode)mode, out);
        for (size_t k = 0; k < n; k++) {
            float want;
            memcpy(&want, exp + 4 * k, 4);
            cr_expect(memcmp(&out[k], &want, 4) == 0,
                      "%s: value %zu (pixel %zu, channel %zu, input %d): %.9g, Keras %.9g",
                      jstr(c, "mode"), k, k / 3, k % 3, src[k], out[k], want);
        }
        free(out);
        free(src);
        free(exp);
    }
    json_decref(m);
}

/* ------------------------------------------------------------------ */
/* Labels                                                              */
/* ------------------------------------------------------------------ */

static zoo_labels *labels_from(const char *dir, const char *name, const char *text)
{
    char *p = zt_path(dir, name);
    cr_assert(zt_write_file(p, text, strlen(text)));
    zoo_clear_error();
    zoo_labels *l = zoo_labels_load(p);
    if (!l) {
        cr_expect(strstr(zoo_last_error(), p) != NULL, "%s: message does not name the file: %s",
                  name, zoo_last_error());
        cr_expect(zoo_last_status() != ZOO_OK);
    }
    free(p);
    return l;
}

Test(preprocess, labels_parse_and_validate)
{
    char *dir = zt_tmpdir_or_die();
    zoo_labels *l = labels_from(dir, "ok.json",
                                "{\"1\": [\"n02\", \"goldfish\"], \"0\": [\"n01\", \"tench\"],"
                                " \"2\": [\"n03\", \"great white shark\"]}");
    cr_assert(l, "%s", zoo_last_error());
    cr_expect_eq(zoo_labels_count(l), 3);
    cr_expect_str_eq(zoo_labels_wnid(l, 0), "n01");
    cr_expect_str_eq(zoo_labels_name(l, 1), "goldfish");
    cr_expect_str_eq(zoo_labels_name(l, 2), "great white shark");
    cr_expect_null(zoo_labels_name(l, 3));
    cr_expect_null(zoo_labels_wnid(l, -1));
    zoo_labels_free(l);
    cr_expect_null(zoo_labels_name(NULL, 0));
    cr_expect_eq(zoo_labels_count(NULL), 0);
    zoo_labels_free(NULL);

    struct {
        const char *file, *text, *says;
    } bad[] = {
        {"gap.json", "{\"0\": [\"a\", \"b\"], \"2\": [\"c\", \"d\"]}", "\"2\""},
        {"zero.json", "{\"00\": [\"a\", \"b\"]}", "\"00\""},
        {"sign.json", "{\"+0\": [\"a\", \"b\"]}", "\"+0\""},
        {"word.json", "{\"zero\": [\"a\", \"b\"]}", "\"zero\""},
        {"dup.json", "{\"0\": [\"a\", \"b\"], \"0\": [\"c\", \"d\"]}", "duplicate"},
        {"notarray.json", "{\"0\": \"tench\"}", "[wnid, name]"},
        {"three.json", "{\"0\": [\"a\", \"b\", \"c\"]}", "[wnid, name]"},
        {"number.json", "{\"0\": [\"a\", 5]}", "[wnid, name]"},
        {"list.json", "[[\"a\", \"b\"]]", "array"},
        {"empty_obj.json", "{}", "no classes"},
        {"syntax.json", "{\"0\": [\"a\", \"b\"", "JSON error"},
        {"empty.json", "", "JSON error"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l = labels_from(dir, bad[i].file, bad[i].text);
        cr_expect_null(l, "%s should be refused", bad[i].file);
        cr_expect(strstr(zoo_last_error(), bad[i].says) != NULL,
                  "%s: message should mention %s: %s", bad[i].file, bad[i].says,
                  zoo_last_error());
        zoo_labels_free(l);
    }
    char *missing = zt_path(dir, "missing.json");
    zoo_clear_error();
    cr_expect_null(zoo_labels_load(missing));
    cr_expect_eq(zoo_last_status(), ZOO_ERR_NOT_FOUND);
    cr_expect(strstr(zoo_last_error(), missing));
    cr_expect_null(zoo_labels_load(dir));
    cr_expect(strstr(zoo_last_error(), "directory"), "%s", zoo_last_error());
    cr_expect_null(zoo_labels_load(NULL));
    free(missing);
    zt_rmtree(dir);
    free(dir);
}

Test(preprocess, labels_keras_file)
{
    struct stat st;
    if (stat(SHARED_LABELS, &st) != 0)
        cr_skip_test("%s is not here (the shared data sits beside the repository in CI)",
                     SHARED_LABELS);
    zoo_labels *l = zoo_labels_load(SHARED_LABELS);
    cr_assert(l, "%s", zoo_last_error());
    cr_expect_eq(zoo_labels_count(l), 1000);
    cr_expect_str_eq(zoo_labels_wnid(l, 0), "n01440764");
    cr_expect_str_eq(zoo_labels_name(l, 0), "tench");
    cr_expect_str_eq(zoo_labels_name(l, 101), "tusker");
    cr_expect_str_eq(zoo_labels_wnid(l, 386), "n02504458");
    cr_expect_str_eq(zoo_labels_name(l, 386), "African_elephant");
    cr_expect_str_eq(zoo_labels_name(l, 385), "Indian_elephant");
    cr_expect_str_eq(zoo_labels_name(l, 134), "crane");
    cr_expect_str_eq(zoo_labels_name(l, 517), "crane");
    cr_expect_str_eq(zoo_labels_wnid(l, 517), "n03126707");
    cr_expect_str_eq(zoo_labels_name(l, 999), "toilet_tissue");
    zoo_labels_free(l);
}

/* ------------------------------------------------------------------ */
/* decode_predictions' ranking                                         */
/* ------------------------------------------------------------------ */

Test(preprocess, top_k_matches_decode_predictions)
{
    json_t *m = manifest();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(m, "topk"), i, c)
    {
        const char *name = jstr(c, "name");
        int n = jint(c, "n"), top = jint(c, "top");
        size_t nb;
        unsigned char *raw = slurp_case(jstr(c, "scores"), &nb);
        cr_assert_eq(nb, (size_t)n * 4);
        float *s = malloc(nb);
        cr_assert(s);
        memcpy(s, raw, nb);
        json_t *want = json_object_get(c, "expect");
        zoo_prediction *p = calloc((size_t)top, sizeof *p);
        cr_assert(p);
        int k = zoo_top_k(s, n, top, p);
        cr_expect_eq((size_t)k, json_array_size(want), "%s: %d results, Keras %zu", name, k,
                     json_array_size(want));
        char got_s[512] = "", want_s[512] = "";
        bool same = (size_t)k == json_array_size(want);
        for (int j = 0; j < k && j < (int)json_array_size(want); j++) {
            int w = (int)json_integer_value(json_array_get(want, (size_t)j));
            same = same && p[j].index == w;
            snprintf(got_s + strlen(got_s), sizeof got_s - strlen(got_s), " %d", p[j].index);
            snprintf(want_s + strlen(want_s), sizeof want_s - strlen(want_s), " %d", w);
            cr_expect(memcmp(&p[j].score, &s[p[j].index], 4) == 0, "%s: score of %d", name,
                      p[j].index);
        }
        cr_expect(same, "%s (n %d, top %d): got [%s ], decode_predictions [%s ]", name, n, top,
                  got_s, want_s);
        free(p);
        free(s);
        free(raw);
    }
    json_decref(m);
}

Test(preprocess, top_k_by_hand)
{
    const float s[6] = {0.1f, 0.4f, 0.05f, 0.3f, 0.1f, 0.05f};
    zoo_prediction p[6];
    cr_assert_eq(zoo_top_k(s, 6, 3, p), 3);
    cr_expect(p[0].index == 1 && p[1].index == 3, "%d %d", p[0].index, p[1].index);
    cr_expect(p[0].score == 0.4f && p[1].score == 0.3f && p[2].score == 0.1f);
    /* Ties: NumPy's introsort order, not "lowest index first": for 20
     * equal scores argsort()[-5:][::-1] is 19, 18, 1, 2, 3. */
    float z[20] = {0};
    cr_assert_eq(zoo_top_k(z, 20, 5, p), 5);
    const int want[5] = {19, 18, 1, 2, 3};
    for (int i = 0; i < 5; i++)
        cr_expect_eq(p[i].index, want[i], "tie rank %d: %d, NumPy gives %d", i, p[i].index,
                     want[i]);
    /* top > n: all of them. */
    cr_expect_eq(zoo_top_k(s, 2, 5, p), 2);
    zoo_clear_error();
    cr_expect_eq(zoo_top_k(NULL, 6, 3, p), 0);
    cr_expect_neq(zoo_last_status(), ZOO_OK);
    cr_expect_eq(zoo_top_k(s, 0, 3, p), 0);
    cr_expect_eq(zoo_top_k(s, 6, 0, p), 0);
    cr_expect_eq(zoo_top_k(s, 6, 3, NULL), 0);
}

/* ------------------------------------------------------------------ */
/* The sample photos (CI)                                              */
/* ------------------------------------------------------------------ */

static bool ref_entry_ok(json_t *ref, const unsigned char *rgb, int w, int h, const char *what)
{
    json_t *shape = json_object_get(ref, "shape");
    bool ok = true;
    if ((int)json_integer_value(json_array_get(shape, 0)) != h ||
        (int)json_integer_value(json_array_get(shape, 1)) != w) {
        cr_expect(false, "%s: shape %dx%d differs from pil_reference.json", what, w, h);
        return false;
    }
    long long sum = 0;
    for (size_t k = 0; k < (size_t)w * h * 3; k++)
        sum += rgb[k];
    long long want = json_integer_value(json_object_get(ref, "sum"));
    cr_expect(sum == want, "%s: pixel sum %lld, pil_reference.json %lld", what, sum, want);
    ok = ok && sum == want;
    size_t j;
    json_t *px;
    json_array_foreach(json_object_get(ref, "px"), j, px)
    {
        int r = (int)json_integer_value(json_array_get(px, 0));
        int c = (int)json_integer_value(json_array_get(px, 1));
        json_t *v = json_array_get(px, 2);
        const unsigned char *g = rgb + ((size_t)r * w + c) * 3;
        for (int k = 0; k < 3; k++) {
            int e = (int)json_integer_value(json_array_get(v, (size_t)k));
            cr_expect(g[k] == e, "%s: pixel (%d, %d)[%d] = %d, pil_reference.json %d", what, r,
                      c, k, g[k], e);
            ok = ok && g[k] == e;
        }
    }
    return ok;
}

Test(preprocess, sample_photos, .timeout = 60)
{
    if (!is_dir(PHOTOS_DIR))
        cr_skip_test("%s is not here (the shared data sits beside the repository in CI)",
                     PHOTOS_DIR);
    json_t *m = manifest();
    json_t *photos = json_object_get(m, "photos");
    cr_assert(json_array_size(photos) >= 7, "the generator saw %zu photos",
              json_array_size(photos));
    char refpath[1200];
    snprintf(refpath, sizeof refpath, "%s/pil_reference.json", PHOTOS_DIR);
    json_error_t e;
    json_t *ref = json_load_file(refpath, 0, &e);
    cr_assert(ref, "%s: %s", refpath, e.text);
    json_t *rfiles = json_object_get(ref, "files");
    size_t i;
    json_t *c;
    int ref_checks = 0;
    json_array_foreach(photos, i, c)
    {
        const char *name = jstr(c, "name");
        zoo_image *img = zoo_image_load(jstr(c, "file"));
        cr_assert(img, "%s: %s", name, zoo_last_error());
        int w = jint(c, "width"), h = jint(c, "height");
        cr_assert(img->width == w && img->height == h);
        size_t n;
        unsigned char *want = slurp_case(jstr(c, "decode"), &n);
        rgb_diff d = compare_rgb(img->rgb, want, w, h);
        cr_expect(d.n_diff == 0, "%s: decode differs from Pillow: " DIFF_FMT, name,
                  DIFF_ARGS(d));
        free(want);
        json_t *r = json_object_get(rfiles, name);
        if (r && json_object_get(r, "decoded_RGB")) {
            ref_entry_ok(json_object_get(r, "decoded_RGB"), img->rgb, w, h, name);
            ref_checks++;
        }
        size_t j;
        json_t *rs;
        json_array_foreach(json_object_get(c, "resizes"), j, rs)
        {
            int tw = jint(rs, "w"), th = jint(rs, "h");
            zoo_resize_filter f = filter_of(jstr(rs, "filter"));
            bool keep = json_is_true(json_object_get(rs, "keep_aspect"));
            zoo_image *out = zoo_image_resize(img, tw, th, f, keep);
            cr_assert(out, "%s: %s", name, zoo_last_error());
            want = slurp_case(jstr(rs, "expect"), &n);
            d = compare_rgb(out->rgb, want, tw, th);
            cr_expect(resize_ok(&d, f == ZOO_RESIZE_NEAREST, n),
                      "%s -> %dx%d %s%s: " DIFF_FMT, name, tw, th, jstr(rs, "filter"),
                      keep ? " keep_aspect_ratio" : "", DIFF_ARGS(d));
            char key[64], what[256];
            snprintf(key, sizeof key, "RGB_%dx%d_%s", tw, th, jstr(rs, "filter"));
            json_t *entry = r ? json_object_get(r, key) : NULL;
            if (entry && !keep) {
                snprintf(what, sizeof what, "%s %s", name, key);
                ref_entry_ok(entry, out->rgb, tw, th, what);
                ref_checks++;
            }
            free(want);
            zoo_image_free(out);
        }
        zoo_image_free(img);
    }
    cr_expect(ref_checks >= 30, "only %d pil_reference.json entries checked", ref_checks);
    json_decref(ref);
    json_decref(m);
}
