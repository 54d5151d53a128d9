/*
 * Image-folder datasets and augmentation.
 *
 * Folders are built in a temporary directory with small PNG files written
 * here (stored, uncompressed deflate: no dependency) whose pixels encode
 * (class, file position), so every loaded row can be checked exactly:
 *   R = 20 * class + position in the class, G and B from (x, y).
 * Expectations come from the pixels themselves and zoo_preprocess_input
 * (tested against Keras elsewhere); resized rows from zoo_image_resize
 * (tested against Pillow elsewhere). Augmentation is checked on images
 * whose pixels are linear in (x, y), where bilinear sampling is exact, so
 * a crop or rotation can be recovered from the output and verified.
 */
#include "support.h"

#include <zoo/preprocess.h>

#include <criterion/criterion.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define DOG_JPG ZOO_TEST_SOURCE_DIR "/data/dog.jpg"

/* ------------------------------------------------------------------ */
/* A minimal PNG writer                                                */
/* ------------------------------------------------------------------ */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    if (!crc_table[1])
        crc_init();
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (n == 0)
        return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put32(buf *b, uint32_t v)
{
    unsigned char q[4] = {v >> 24, v >> 16, v >> 8, v};
    put(b, q, 4);
}

static void chunk(buf *b, const char *type, const unsigned char *d, size_t n)
{
    put32(b, (uint32_t)n);
    size_t start = b->n;
    put(b, type, 4);
    put(b, d, n);
    put32(b, crc32_of(b->p + start, n + 4));
}

/* An 8-bit RGB PNG of w x h pixels (rgb: h rows of w * 3 bytes). */
static buf png_bytes(int w, int h, const unsigned char *rgb)
{
    buf raw = {0}, z = {0}, out = {0};
    for (int y = 0; y < h; y++) {
        unsigned char filter = 0;
        put(&raw, &filter, 1);
        put(&raw, rgb + (size_t)y * w * 3, (size_t)w * 3);
    }
    unsigned char zh[2] = {0x78, 0x01};
    put(&z, zh, 2);
    for (size_t off = 0; off < raw.n || off == 0;) {
        size_t len = raw.n - off > 65535 ? 65535 : raw.n - off;
        unsigned char hd[5] = {off + len == raw.n, len & 0xFF, len >> 8,
                               ~len & 0xFF, (~len >> 8) & 0xFF};
        put(&z, hd, 5);
        put(&z, raw.p + off, len);
        off += len;
        if (len == 0)
            break;
    }
    uint32_t a = 1, bsum = 0;
    for (size_t i = 0; i < raw.n; i++) {
        a = (a + raw.p[i]) % 65521;
        bsum = (bsum + a) % 65521;
    }
    put32(&z, (bsum << 16) | a);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put(&out, sig, 8);
    unsigned char ihdr[13] = {0, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        ihdr[i] = (unsigned char)((unsigned)w >> (24 - 8 * i));
        ihdr[4 + i] = (unsigned char)((unsigned)h >> (24 - 8 * i));
    }
    chunk(&out, "IHDR", ihdr, 13);
    chunk(&out, "IDAT", z.p, z.n);
    chunk(&out, "IEND", NULL, 0);
    free(raw.p);
    free(z.p);
    return out;
}

/* ------------------------------------------------------------------ */
/* Folders of encoded images                                           */
/* ------------------------------------------------------------------ */

static unsigned char px(int cls, int pos, int x, int y, int ch)
{
    switch (ch) {
    case 0:
        return (unsigned char)(20 * cls + pos);
    case 1:
        return (unsigned char)((x * 13 + y * 7) % 256);
    default:
        return (unsigned char)(255 - (x * 5 + y * 11 + cls * 3 + pos) % 256);
    }
}

static unsigned char *encoded(int cls, int pos, int w, int h)
{
    unsigned char *rgb = malloc((size_t)w * h * 3);
    cr_assert(rgb);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                rgb[((size_t)y * w + x) * 3 + c] = px(cls, pos, x, y, c);
    return rgb;
}

static void mkdirs(const char *path)
{
    char *p = strdup(path);
    cr_assert(p);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    cr_assert(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", p,
              strerror(errno));
    free(p);
}

/* Writes root/rel (parents made) with `n` bytes. */
static void write_at(const char *root, const char *rel, const void *d, size_t n)
{
    char *path = zt_path(root, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdirs(path);
    *slash = '/';
    cr_assert(zt_write_file(path, d, n), "cannot write %s", path);
    free(path);
}

/* root/rel: a w x h PNG encoding (cls, pos). */
static void png_at(const char *root, const char *rel, int cls, int pos, int w, int h)
{
    unsigned char *rgb = encoded(cls, pos, w, h);
    buf b = png_bytes(w, h, rgb);
    write_at(root, rel, b.p, b.n);
    free(b.p);
    free(rgb);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = malloc((size_t)len + 1);
    cr_assert(d);
    cr_assert(fread(d, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return d;
}

/* Warnings collected by the folder's callback. */
typedef struct {
    int n;
    char msg[16][1024];
} warnings;

static void collect(const char *message, void *user)
{
    warnings *w = user;
    if (w->n < 16)
        snprintf(w->msg[w->n], sizeof w->msg[0], "%s", message);
    w->n++;
}

static bool warned_about(const warnings *w, int from, const char *a, const char *b)
{
    for (int i = from; i < w->n && i < 16; i++)
        if (strstr(w->msg[i], a) && (!b || strstr(w->msg[i], b)))
            return true;
    return false;
}

static zoo_image_folder_opts opts_for(int w, int h, zoo_preprocess_mode mode,
                                      warnings *warn)
{
    zoo_image_folder_opts o = {.width = w, .height = h, .mode = mode};
    if (warn) {
        o.warn = collect;
        o.user = warn;
    }
    return o;
}

static zoo_image_folder *open_or_die(const char *dir, const zoo_image_folder_opts *o)
{
    zoo_image_folder *f = zoo_image_folder_open(dir, o);
    cr_assert(f, "zoo_image_folder_open(%s): %s", dir, zoo_last_error());
    return f;
}

/* The expected row of an encoded image already at the target size. */
static float *expected_row(int cls, int pos, int w, int h, zoo_preprocess_mode mode)
{
    unsigned char *rgb = encoded(cls, pos, w, h);
    float *row = malloc((size_t)w * h * 3 * sizeof *row);
    cr_assert(row);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        row[i] = rgb[i];
    zoo_preprocess_input(mode, row, (size_t)w * h);
    free(rgb);
    return row;
}

/* zoo_image_load + zoo_image_resize + zoo_image_to_input of a file. */
static float *resized_row(const char *path, int w, int h, zoo_resize_filter filter,
                          zoo_preprocess_mode mode)
{
    zoo_image *img = zoo_image_load(path);
    cr_assert(img, "%s", zoo_last_error());
    zoo_image *r = zoo_image_resize(img, w, h, filter, false);
    cr_assert(r, "%s", zoo_last_error());
    float *row = malloc((size_t)w * h * 3 * sizeof *row);
    cr_assert(row);
    zoo_image_to_input(r, mode, row);
    zoo_image_free(r);
    zoo_image_free(img);
    return row;
}

static void assert_row_equal(const float *got, const float *want, size_t n,
                             const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(got[i] == want[i], "%s: element %zu is %.9g, want %.9g", what, i,
                  (double)got[i], (double)want[i]);
}

/* ------------------------------------------------------------------ */
/* Scanning                                                            */
/* ------------------------------------------------------------------ */

Test(image_folder, classes_in_byte_order)
{
    char *root = zt_tmpdir_or_die();
    /* Byte order: "B" < "a" and "cat10" < "cat2" (a locale would differ). */
    const char *names[] = {"cat2", "a", "cat10", "B"};
    const char *sorted[] = {"B", "a", "cat10", "cat2"};
    for (int i = 0; i < 4; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "%s/img.png", names[i]);
        int cls = 0;
        while (strcmp(sorted[cls], names[i]) != 0)
            cls++;
        png_at(root, rel, cls, 0, 3, 2);
    }
    png_at(root, ".hidden/img.png", 9, 0, 3, 2); /* dot folder: not a class */
    png_at(root, "loose.png", 9, 1, 3, 2);       /* top-level file: no class */

    warnings w = {0};
    zoo_image_folder_opts o = opts_for(3, 2, ZOO_PREPROCESS_TF, &w);
    zoo_image_folder *f = open_or_die(root, &o);
    cr_assert_eq(zoo_image_folder_class_count(f), 4);
    for (int i = 0; i < 4; i++)
        cr_assert_str_eq(zoo_image_folder_class_name(f, i), sorted[i]);
    cr_assert_null(zoo_image_folder_class_name(f, 4));
    cr_assert_eq(zoo_image_folder_count(f), 4);
    cr_assert_eq(zoo_image_folder_skipped(f), 0);
    cr_assert_eq(w.n, 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(zoo_image_folder_label(f, i), i);
        char want[1024];
        snprintf(want, sizeof want, "%s/%s/img.png", root, sorted[i]);
        cr_assert_str_eq(zoo_image_folder_path(f, i), want);
    }

    /* The pixels say which folder each sample came from. */
    zoo_dataset *d = zoo_image_folder_dataset(f);
    cr_assert(d, "%s", zoo_last_error());
    int idx[4] = {0, 1, 2, 3};
    float x[4 * 2 * 3 * 3], y[4];
    int kept = -1;
    zoo_load_ctx lc = {0};
    cr_assert_eq(d->load(d->ctx, idx, 4, x, y, &kept, &lc), ZOO_OK, "%s",
                 zoo_last_error());
    cr_assert_eq(kept, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(y[i], (float)i);
        float r = x[i * 18]; /* R of pixel (0, 0), preprocessed "tf" */
        cr_assert_float_eq(r, (float)(20 * i) / 127.5f - 1.0f, 1e-6);
    }
    zoo_dataset_free(d);
    zoo_image_folder_free(f);
    zt_rmtree(root);
    free(root);
}

Test(image_folder, files_recursive_in_byte_order)
{
    char *root = zt_tmpdir_or_die();
    /* Sorted relative paths: 'A' < 'a'; "a.png" < "a/..." ('.' < '/'). */
    const char *sorted[] = {"A.PNG", "a.png", "a/.x.png", "a/z.png", "b.jpeg",
                            "sub/deeper/c.JPG"};
    const int create_order[] = {4, 2, 5, 0, 3, 1};
    for (int k = 0; k < 6; k++) {
        int pos = create_order[k];
        char rel[128];
        snprintf(rel, sizeof rel, "k0/%s", sorted[pos]);
        png_at(root, rel, 0, pos, 4, 3); /* content by signature, not name */
    }
    write_at(root, "k0/notes.txt", "not an image", 12); /* not listed */
    write_at(root, "k0/png", "x", 1);                    /* no extension */
    png_at(root, "k1/only.png", 1, 0, 4, 3);

    warnings w = {0};
    zoo_image_folder_opts o = opts_for(4, 3, ZOO_PREPROCESS_CAFFE, &w);
    zoo_image_folder *f = open_or_die(root, &o);
    cr_assert_eq(zoo_image_folder_count(f), 7);
    cr_assert_eq(w.n, 0, "unexpected warning: %s", w.msg[0]);
    for (int i = 0; i < 6; i++) {
        char want[1024];
        snprintf(want, sizeof want, "%s/k0/%s", root, sorted[i]);
        cr_assert_str_eq(zoo_image_folder_path(f, i), want);
        cr_assert_eq(zoo_image_folder_label(f, i), 0);
    }
    cr_assert_eq(zoo_image_folder_label(f, 6), 1);
    cr_assert_eq(zoo_image_folder_label(f, 7), -1);
    cr_assert_null(zoo_image_folder_path(f, 7));

    zoo_dataset *d = zoo_image_folder_dataset(f);
    cr_assert(d);
    int idx[7] = {0, 1, 2, 3, 4, 5, 6};
    size_t row = 4 * 3 * 3;
    float *x = malloc(7 * row * sizeof *x), y[7];
    int kept;
    cr_assert_eq(d->load(d->ctx, idx, 7, x, y, &kept, NULL), ZOO_OK, "%s",
                 zoo_last_error());
    cr_assert_eq(kept, 7);
    for (int i = 0; i < 7; i++) {
        float *want = expected_row(i < 6 ? 0 : 1, i < 6 ? i : 0, 4, 3,
                                   ZOO_PREPROCESS_CAFFE);
        assert_row_equal(x + i * row, want, row, zoo_image_folder_path(f, i));
        free(want);
    }
    free(x);
    zoo_dataset_free(d);
    zoo_image_folder_free(f);
    zt_rmtree(root);
    free(root);
}

Test(image_folder, symlinks_followed_loops_cut)
{
    char *root = zt_tmpdir_or_die();
    char *outside = zt_tmpdir_or_die();
    png_at(root, "a/img.png", 0, 0, 3, 3);
    png_at(root, "b/real.png", 1, 0, 3, 3);
    png_at(outside, "imgs/o.png", 2, 0, 3, 3);
    char *a = zt_path(root, "a"), *real = zt_path(root, "b/real.png");
    char *link = zt_path(root, "a/link.png"), *loop = zt_path(root, "a/sub/loop");
    char *dead = zt_path(root, "a/dead.png"), *cdir = zt_path(root, "c");
    char *oimgs = zt_path(outside, "imgs");
    char *sub = zt_path(root, "a/sub");
    mkdirs(sub);
    cr_assert(symlink(real, link) == 0);
    cr_assert(symlink(a, loop) == 0);               /* back to the class folder */
    cr_assert(symlink("/nonexistent/zoo.png", dead) == 0);
    cr_assert(symlink(oimgs, cdir) == 0);           /* a class folder by link */

    warnings w = {0};
    zoo_image_folder_opts o = opts_for(3, 3, ZOO_PREPROCESS_TF, &w);
    zoo_image_folder *f = open_or_die(root, &o);
    cr_assert_eq(zoo_image_folder_class_count(f), 3);
    cr_assert_str_eq(zoo_image_folder_class_name(f, 2), "c");
    /* a: img.png, link.png (dead.png skipped; the loop not re-entered). */
    cr_assert_eq(zoo_image_folder_count(f), 4);
    cr_assert_str_eq(zoo_image_folder_path(f, 1), link);
    cr_assert_eq(zoo_image_folder_skipped(f), 1);
    cr_assert(warned_about(&w, 0, "dead.png", NULL));
    cr_assert(warned_about(&w, 0, "loop", NULL));

    zoo_dataset *d = zoo_image_folder_dataset(f);
    cr_assert(d);
    int idx[2] = {1, 3};
    float x[2 * 27], y[2];
    int kept;
    cr_assert_eq(d->load(d->ctx, idx, 2, x, y, &kept, NULL), ZOO_OK);
    cr_assert_eq(kept, 2);
    float *want_link = expected_row(1, 0, 3, 3, ZOO_PREPROCESS_TF);
    float *want_c = expected_row(2, 0, 3, 3, ZOO_PREPROCESS_TF);
    assert_row_equal(x, want_link, 27, "link.png");
    assert_row_equal(x + 27, want_c, 27, "c/o.png");
    cr_assert_eq(y[0], 0.0f);
    cr_assert_eq(y[1], 2.0f);
    free(want_link);
    free(want_c);
    zoo_dataset_free(d);
    zoo_image_folder_free(f);
    free(a), free(real), free(link), free(loop), free(dead), free(cdir);
    free(oimgs), free(sub);
    zt_rmtree(root);
    zt_rmtree(outside);
    free(root);
    free(outside);
}

/* ------------------------------------------------------------------ */
/* Batches                                                             */
/* ------------------------------------------------------------------ */

Test(image_folder, batches_exact_in_every_mode)
{
    char *root = zt_tmpdir_or_die();
    const int W = 5, H = 4;
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < 3; j++) {
            char rel[64];
            snprintf(rel, sizeof rel, "class%d/%d.png", c, j);
            png_at(root, rel, c, j, W, H);
        }
    zoo_preprocess_mode modes[3] = {ZOO_PREPROCESS_CAFFE, ZOO_PREPROCESS_TF,
                                    ZOO_PREPROCESS_TORCH};
    for (int m = 0; m < 3; m++) {
        zoo_image_folder_opts o = opts_for(W, H, modes[m], NULL);
        /* Already at the target size: no resampling, whatever the filter. */
        o.filter = ZOO_RESIZE_BICUBIC;
        zoo_image_folder *f = open_or_die(root, &o);
        zoo_dataset *d = zoo_image_folder_dataset(f);
        cr_assert(d);
        cr_assert_eq(d->count, 6);
        cr_assert_eq(d->x_rank, 3);
        cr_assert_eq(d->x_shape[0], H);
        cr_assert_eq(d->x_shape[1], W);
        cr_assert_eq(d->x_shape[2], 3);
        cr_assert_eq(d->y_rank, 1);
        cr_assert_eq(d->y_shape[0], 1);

        int idx[5] = {4, 0, 5, 2, 4};
        size_t row = (size_t)W * H * 3;
        float x[5 * 60], y[5];
        int kept;
        zoo_load_ctx lc = {.augment = true, .seed = 7}; /* nothing on: no effect */
        cr_assert_eq(d->load(d->ctx, idx, 5, x, y, &kept, &lc), ZOO_OK, "%s",
                     zoo_last_error());
        cr_assert_eq(kept, 5);
        for (int k = 0; k < 5; k++) {
            int c = idx[k] / 3, j = idx[k] % 3;
            float *want = expected_row(c, j, W, H, modes[m]);
            assert_row_equal(x + k * row, want, row, "row");
            cr_assert_eq(y[k], (float)c);
            free(want);
        }
        /* Out-of-range index: an error, not a crash. */
        int bad = 6;
        cr_assert_eq(d->load(d->ctx, &bad, 1, x, y, &kept, NULL), ZOO_ERR_ARGUMENT);
        zoo_dataset_free(d);
        zoo_image_folder_free(f);
    }
    /* Hand values: pixel (0, 0) of class 1, file 2: R = 22, G = 0, B = 250. */
    zoo_image_folder_opts o = opts_for(W, H, ZOO_PREPROCESS_CAFFE, NULL);
    zoo_image_folder *f = open_or_die(root, &o);
    zoo_dataset *d = zoo_image_folder_dataset(f);
    int i5 = 5;
    float x[60], y;
    int kept;
    cr_assert_eq(d->load(d->ctx, &i5, 1, x, &y, &kept, NULL), ZOO_OK);
    cr_assert_float_eq(x[0], 250.0f - 103.939f, 1e-4); /* BGR, minus means */
    cr_assert_float_eq(x[1], 0.0f - 116.779f, 1e-4);
    cr_assert_float_eq(x[2], 22.0f - 123.68f, 1e-4);
    cr_assert_eq(y, 1.0f);
    zoo_dataset_free(d);
    zoo_image_folder_free(f);
    zt_rmtree(root);
    free(root);
}

Test(image_folder, other_sizes_resized_like_zoo_image_resize)
{
    char *root = zt_tmpdir_or_die();
    png_at(root, "p/wide.png", 0, 0, 11, 5);
    png_at(root, "p/tall.png", 0, 1, 3, 13);
    png_at(root, "q/same.png", 1, 0, 6, 4);
    char *dog = zt_path(root, "q/dog.jpg");
    size_t n;
    unsigned char *jpg = slurp(DOG_JPG, &n);
    cr_assert(zt_write_file(dog, jpg, n));
    free(jpg);

    zoo_resize_filter filters[3] = {ZOO_RESIZE_NEAREST, ZOO_RESIZE_BILINEAR,
                                    ZOO_RESIZE_BICUBIC};
    for (int fi = 0; fi < 3; fi++) {
        zoo_image_folder_opts o = opts_for(6, 4, ZOO_PREPROCESS_TORCH, NULL);
        o.filter = filters[fi];
        zoo_image_folder *f = open_or_die(root, &o);
        cr_assert_eq(zoo_image_folder_count(f), 4);
        zoo_dataset *d = zoo_image_folder_dataset(f);
        int idx[4] = {0, 1, 2, 3};
        float x[4 * 72], y[4];
        int kept;
        cr_assert_eq(d->load(d->ctx, idx, 4, x, y, &kept, NULL), ZOO_OK, "%s",
                     zoo_last_error());
        cr_assert_eq(kept, 4);
        for (int i = 0; i < 4; i++) {
            float *want = resized_row(zoo_image_folder_path(f, i), 6, 4, filters[fi],
                                      ZOO_PREPROCESS_TORCH);
            assert_row_equal(x + i * 72, want, 72, zoo_image_folder_path(f, i));
            free(want);
        }
        cr_assert_eq(y[0], 0.0f);
        cr_assert_eq(y[3], 1.0f);
        zoo_dataset_free(d);
        zoo_image_folder_free(f);
    }
    free(dog);
    zt_rmtree(root);
    free(root);
}

Test(image_folder, unusable_files_skipped_and_counted, .timeout = 30)
{
    char *root = zt_tmpdir_or_die();
    png_at(root, "good/0.png", 0, 0, 4, 4);
    png_at(root, "good/1.png", 0, 1, 4, 4);
    png_at(root, "mixed/1.png", 1, 0, 4, 4);
    write_at(root, "mixed/2.jpg", "hello, I am a text file\n", 24);
    write_at(root, "mixed/3.png", "", 0);
    write_at(root, "mixed/4.png", "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 13);
    /* Truncated PNG: signature and IHDR intact, image data cut. */
    unsigned char *big = encoded(1, 5, 32, 32);
    buf png = png_bytes(32, 32, big);
    write_at(root, "mixed/5.png", png.p, 200);
    free(png.p);
    free(big);
    /* Truncated JPEG: the first 4000 bytes of a real one. */
    size_t n;
    unsigned char *jpg = slurp(DOG_JPG, &n);
    write_at(root, "mixed/6.jpg", jpg, 4000);
    write_at(root, "mixed/7.jpg", jpg, n);
    free(jpg);

    warnings w = {0};
    zoo_image_folder_opts o = opts_for(4, 4, ZOO_PREPROCESS_TF, &w);
    zoo_image_folder *f = open_or_die(root, &o);
    /* The header check drops the text, empty and GIF files. */
    cr_assert_eq(zoo_image_folder_skipped(f), 3);
    cr_assert_eq(w.n, 3);
    cr_assert(warned_about(&w, 0, "mixed/2.jpg", "not a JPEG or PNG"), "%s", w.msg[0]);
    cr_assert(warned_about(&w, 0, "mixed/3.png", "empty"));
    cr_assert(warned_about(&w, 0, "mixed/4.png", "GIF"));
    cr_assert_eq(zoo_image_folder_count(f), 6);
    const char *left[6] = {"good/0.png", "good/1.png", "mixed/1.png", "mixed/5.png",
                           "mixed/6.jpg", "mixed/7.jpg"};
    for (int i = 0; i < 6; i++)
        cr_assert(strstr(zoo_image_folder_path(f, i), left[i]));

    zoo_dataset *d = zoo_image_folder_dataset(f);
    int idx[6] = {0, 3, 1, 4, 5, 2};
    float x[6 * 48], y[6];
    for (int pass = 0; pass < 2; pass++) {
        memset(x, 0, sizeof x);
        int kept = -1;
        cr_assert_eq(d->load(d->ctx, idx, 6, x, y, &kept, NULL), ZOO_OK, "%s",
                     zoo_last_error());
        /* 5.png and 6.jpg fail to decode: dropped, rows packed. */
        cr_assert_eq(kept, 4);
        float *w0 = expected_row(0, 0, 4, 4, ZOO_PREPROCESS_TF);
        float *w1 = expected_row(0, 1, 4, 4, ZOO_PREPROCESS_TF);
        float *w2 = expected_row(1, 0, 4, 4, ZOO_PREPROCESS_TF);
        float *wdog = resized_row(zoo_image_folder_path(f, 5), 4, 4, ZOO_RESIZE_NEAREST,
                                  ZOO_PREPROCESS_TF);
        assert_row_equal(x, w0, 48, "row 0");
        assert_row_equal(x + 48, w1, 48, "row 1");
        assert_row_equal(x + 96, wdog, 48, "row 2 (7.jpg)");
        assert_row_equal(x + 144, w2, 48, "row 3");
        cr_assert_eq(y[0], 0.0f);
        cr_assert_eq(y[1], 0.0f);
        cr_assert_eq(y[2], 1.0f);
        cr_assert_eq(y[3], 1.0f);
        free(w0), free(w1), free(w2), free(wdog);
        /* Each file is reported and counted once, not once per batch. */
        cr_assert_eq(zoo_image_folder_skipped(f), 5);
        cr_assert_eq(w.n, 5);
    }
    cr_assert(warned_about(&w, 3, "mixed/5.png", NULL));
    cr_assert(warned_about(&w, 3, "mixed/6.jpg", NULL));
    zoo_dataset_free(d);
    zoo_image_folder_free(f);
    zt_rmtree(root);
    free(root);
}

Test(image_folder, errors_name_the_folder)
{
    char *root = zt_tmpdir_or_die();
    zoo_image_folder_opts o = opts_for(4, 4, ZOO_PREPROCESS_TF, NULL);

    char *missing = zt_path(root, "missing");
    cr_assert_null(zoo_image_folder_open(missing, &o));
    cr_assert_eq(zoo_last_status(), ZOO_ERR_NOT_FOUND);
    cr_assert(strstr(zoo_last_error(), missing), "%s", zoo_last_error());

    char *file = zt_path(root, "file.png");
    png_at(root, "file.png", 0, 0, 4, 4);
    cr_assert_null(zoo_image_folder_open(file, &o));
    cr_assert(strstr(zoo_last_error(), "not a directory"), "%s", zoo_last_error());

    char *none = zt_path(root, "none");
    mkdirs(none);
    cr_assert_null(zoo_image_folder_open(none, &o));
    cr_assert(strstr(zoo_last_error(), "needs at least two class subfolders, found 0"),
              "%s", zoo_last_error());
    cr_assert(strstr(zoo_last_error(), none));

    char *one = zt_path(root, "one");
    png_at(one, "solo/a.png", 0, 0, 4, 4);
    png_at(one, ".dot/a.png", 0, 0, 4, 4);
    cr_assert_null(zoo_image_folder_open(one, &o));
    cr_assert(strstr(zoo_last_error(), "needs at least two class subfolders, found 1"),
              "%s", zoo_last_error());
    cr_assert(strstr(zoo_last_error(), "solo"), "%s", zoo_last_error());

    char *hole = zt_path(root, "hole");
    png_at(hole, "a/a.png", 0, 0, 4, 4);
    write_at(hole, "b/readme.txt", "x", 1);
    write_at(hole, "b/bad.png", "", 0);
    cr_assert_null(zoo_image_folder_open(hole, &o));
    cr_assert(strstr(zoo_last_error(), "'b' has no usable images"), "%s",
              zoo_last_error());
    cr_assert(strstr(zoo_last_error(), hole));

    char *empty = zt_path(root, "empty");
    write_at(empty, "a/readme.txt", "x", 1);
    write_at(empty, "b/readme.txt", "x", 1);
    cr_assert_null(zoo_image_folder_open(empty, &o));
    cr_assert(strstr(zoo_last_error(), "no usable images"), "%s", zoo_last_error());
    cr_assert(strstr(zoo_last_error(), "2 class subfolders"), "%s", zoo_last_error());

    zoo_image_folder_opts bad = o;
    bad.width = 0;
    cr_assert_null(zoo_image_folder_open(hole, &bad));
    cr_assert_eq(zoo_last_status(), ZOO_ERR_ARGUMENT);
    bad = o;
    bad.augment.crop = 1.0f;
    cr_assert_null(zoo_image_folder_open(hole, &bad));
    cr_assert_eq(zoo_last_status(), ZOO_ERR_ARGUMENT);
    cr_assert_null(zoo_image_folder_open(hole, NULL));
    cr_assert_null(zoo_image_folder_dataset(NULL));

    free(missing), free(file), free(none), free(one), free(hole), free(empty);
    zt_rmtree(root);
    free(root);
}

/* ------------------------------------------------------------------ */
/* Augmentation                                                        */
/* ------------------------------------------------------------------ */

static float *random_image(int w, int h, unsigned seed)
{
    float *img = malloc((size_t)w * h * 3 * sizeof *img);
    cr_assert(img);
    srand(seed);
    for (int i = 0; i < w * h * 3; i++)
        img[i] = (float)(rand() % 256);
    return img;
}

static float *copy_of(const float *a, size_t n)
{
    float *b = malloc(n * sizeof *b);
    cr_assert(b);
    memcpy(b, a, n * sizeof *b);
    return b;
}

static void mirror(float *img, int w, int h)
{
    for (int y = 0; y < h; y++)
        for (int a = 0, b = w - 1; a < b; a++, b--)
            for (int c = 0; c < 3; c++) {
                float *p = img + ((size_t)y * w + a) * 3 + c;
                float *q = img + ((size_t)y * w + b) * 3 + c;
                float t = *p;
                *p = *q;
                *q = t;
            }
}

Test(augment, zero_is_identity)
{
    const int W = 9, H = 7;
    float *img = random_image(W, H, 1);
    zoo_augment none = {0};
    for (unsigned long long s = 0; s < 20; s++) {
        float *a = copy_of(img, W * H * 3);
        cr_assert_eq(zoo_augment_apply(&none, a, H, W, s), ZOO_OK);
        cr_assert(memcmp(a, img, sizeof(float) * W * H * 3) == 0);
        free(a);
    }
    free(img);
}

Test(augment, seed_replays_and_varies)
{
    const int W = 12, H = 10;
    size_t n = W * H * 3;
    float *img = random_image(W, H, 2);
    zoo_augment all = {.flip = true, .crop = 0.3f, .rotation = 25, .brightness = 0.2f};
    float *base = copy_of(img, n);
    cr_assert_eq(zoo_augment_apply(&all, base, H, W, 1234), ZOO_OK);
    float *again = copy_of(img, n);
    cr_assert_eq(zoo_augment_apply(&all, again, H, W, 1234), ZOO_OK);
    cr_assert(memcmp(base, again, n * sizeof *base) == 0);
    for (unsigned long long s = 1; s <= 5; s++) {
        float *other = copy_of(img, n);
        cr_assert_eq(zoo_augment_apply(&all, other, H, W, 1234 + s), ZOO_OK);
        cr_assert(memcmp(base, other, n * sizeof *base) != 0, "seed %llu", 1234 + s);
        free(other);
    }
    free(again);
    free(base);
    free(img);
}

Test(augment, values_stay_in_range)
{
    const int W = 8, H = 11;
    size_t n = W * H * 3;
    float *img = random_image(W, H, 3);
    for (int i = 0; i < W; i++) /* extremes, so brightness must clip */
        img[i] = i % 2 ? 255.0f : 0.0f;
    zoo_augment all = {.flip = true, .crop = 0.5f, .rotation = 180, .brightness = 0.5f};
    for (unsigned long long s = 0; s < 100; s++) {
        float *a = copy_of(img, n);
        cr_assert_eq(zoo_augment_apply(&all, a, H, W, s), ZOO_OK);
        for (size_t i = 0; i < n; i++)
            cr_assert(a[i] >= 0.0f && a[i] <= 255.0f, "seed %llu: %g", s, (double)a[i]);
        free(a);
    }
    free(img);
}

Test(augment, flip_mirrors_half_the_time)
{
    const int W = 7, H = 3;
    size_t n = W * H * 3;
    float *img = random_image(W, H, 4);
    float *mir = copy_of(img, n);
    mirror(mir, W, H);
    zoo_augment flip = {.flip = true};
    int flipped = 0;
    for (unsigned long long s = 0; s < 400; s++) {
        float *a = copy_of(img, n);
        cr_assert_eq(zoo_augment_apply(&flip, a, H, W, s), ZOO_OK);
        bool same = memcmp(a, img, n * sizeof *a) == 0;
        bool mirrored = memcmp(a, mir, n * sizeof *a) == 0;
        cr_assert(same || mirrored, "seed %llu: neither identity nor mirror", s);
        flipped += mirrored;
        free(a);
    }
    /* Binomial(400, 1/2): mean 200, sd 10. */
    cr_assert(flipped > 150 && flipped < 250, "flipped %d of 400", flipped);
    free(mir);
    free(img);
}

Test(augment, brightness_shifts_every_channel_alike)
{
    const int W = 6, H = 5;
    size_t n = W * H * 3;
    float *img = random_image(W, H, 5);
    img[0] = 128.0f; /* never clipped: |delta| <= 25.5 */
    img[1] = 0.0f;
    img[2] = 255.0f;
    zoo_augment br = {.brightness = 0.1f};
    double lo = 0, hi = 0;
    for (unsigned long long s = 0; s < 100; s++) {
        float *a = copy_of(img, n);
        cr_assert_eq(zoo_augment_apply(&br, a, H, W, s), ZOO_OK);
        double delta = (double)a[0] - 128.0;
        cr_assert(fabs(delta) <= 0.1 * 255 + 1e-4, "delta %g", delta);
        lo = fmin(lo, delta);
        hi = fmax(hi, delta);
        for (size_t i = 0; i < n; i++) {
            double want = fmin(255.0, fmax(0.0, (double)img[i] + delta));
            cr_assert(fabs(a[i] - want) <= 1e-4, "seed %llu, element %zu: %g, want %g",
                      s, i, (double)a[i], want);
        }
        free(a);
    }
    cr_assert(lo < -15 && hi > 15, "deltas only span [%g, %g]", lo, hi);
    free(img);
}

/* Channel 0 = 2x + 100, channel 1 = 3y + 50, channel 2 = 77: bilinear
 * sampling reproduces linear functions exactly, so inside the image the
 * output must be the ramps at the rotated coordinates. */
Test(augment, rotation_is_a_rotation_about_the_centre)
{
    const int W = 21, H = 19;
    size_t n = W * H * 3;
    float *img = malloc(n * sizeof *img);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float *p = img + ((size_t)y * W + x) * 3;
            p[0] = 2.0f * x + 100;
            p[1] = 3.0f * y + 50;
            p[2] = 77;
        }
    const double cx = (W - 1) / 2.0, cy = (H - 1) / 2.0;
    zoo_augment rot = {.rotation = 10};
    double lo = 0, hi = 0;
    for (unsigned long long s = 0; s < 40; s++) {
        float *a = copy_of(img, n);
        cr_assert_eq(zoo_augment_apply(&rot, a, H, W, s), ZOO_OK);
        const float *c = a + ((size_t)(int)cy * W + (int)cx) * 3;
        /* The centre pixel stays exactly. */
        cr_assert(c[0] == 2.0f * (float)cx + 100 && c[1] == 3.0f * (float)cy + 50);
        /* Angle from the neighbours of the centre: source x = cx + cos dx - sin dy. */
        double cs = (c[3] - c[0]) / 2.0, sn = -(c[W * 3] - c[0]) / 2.0;
        double theta = atan2(sn, cs) * 180 / 3.14159265358979323846;
        cr_assert(fabs(hypot(cs, sn) - 1) < 1e-4, "not a rotation (scale %g)",
                  hypot(cs, sn));
        cr_assert(fabs(theta) <= 10 + 1e-3, "angle %g outside [-10, 10]", theta);
        lo = fmin(lo, theta);
        hi = fmax(hi, theta);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double dx = x - cx, dy = y - cy;
                double sx = cx + cs * dx - sn * dy, sy = cy + sn * dx + cs * dy;
                const float *p = a + ((size_t)y * W + x) * 3;
                cr_assert(p[2] == 77.0f);
                if (sx < 0 || sx > W - 1 || sy < 0 || sy > H - 1) {
                    /* Clamped to the edge: still within the ramp's range. */
                    cr_assert(p[0] >= 100 && p[0] <= 2 * (W - 1) + 100);
                    continue;
                }
                cr_assert(fabs(p[0] - (2 * sx + 100)) < 2e-3, "(%d, %d): %g vs %g", x, y,
                          (double)p[0], 2 * sx + 100);
                cr_assert(fabs(p[1] - (3 * sy + 50)) < 2e-3, "(%d, %d): %g vs %g", x, y,
                          (double)p[1], 3 * sy + 50);
            }
        free(a);
    }
    cr_assert(lo < -3 && hi > 3, "angles only span [%g, %g]", lo, hi);
    free(img);
}

Test(augment, crop_is_a_stretched_box)
{
    const int W = 20, H = 16;
    size_t n = W * H * 3;
    float *img = malloc(n * sizeof *img);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float *p = img + ((size_t)y * W + x) * 3;
            p[0] = 4.0f * x + 10;
            p[1] = 4.0f * y + 10;
            p[2] = 33;
        }
    zoo_augment crop = {.crop = 0.5f};
    int smaller = 0;
    for (unsigned long long s = 0; s < 40; s++) {
        float *a = copy_of(img, n);
        cr_assert_eq(zoo_augment_apply(&crop, a, H, W, s), ZOO_OK);
        /* Away from the borders, out(x) = 4 (x0 + (x + 0.5) cw / W - 0.5) + 10. */
        double sx = (a[(W - 2) * 3] - a[1 * 3]) / 4.0 / (W - 3);
        double sy = (a[(size_t)(H - 2) * W * 3 + 1] - a[(size_t)1 * W * 3 + 1]) / 4.0 / (H - 3);
        double cw = sx * W, ch = sy * H;
        cr_assert(fabs(cw - round(cw)) < 1e-3 && fabs(ch - round(ch)) < 1e-3,
                  "box %g x %g not whole pixels", cw, ch);
        int icw = (int)round(cw), ich = (int)round(ch);
        cr_assert(icw >= W / 2 && icw <= W && ich >= H / 2 && ich <= H,
                  "box %d x %d smaller than half the image", icw, ich);
        double x0 = (a[1 * 3] - 10) / 4.0 - (1.5 * cw / W - 0.5);
        double y0 = (a[(size_t)1 * W * 3 + 1] - 10) / 4.0 - (1.5 * ch / H - 0.5);
        cr_assert(fabs(x0 - round(x0)) < 1e-3 && fabs(y0 - round(y0)) < 1e-3);
        int ix0 = (int)round(x0), iy0 = (int)round(y0);
        cr_assert(ix0 >= 0 && ix0 + icw <= W && iy0 >= 0 && iy0 + ich <= H,
                  "box (%d, %d, %d, %d) outside the image", ix0, iy0, icw, ich);
        smaller += icw < W || ich < H;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double u = ix0 + (x + 0.5) * icw / W - 0.5;
                double v = iy0 + (y + 0.5) * ich / H - 0.5;
                u = fmin(fmax(u, ix0), ix0 + icw - 1);
                v = fmin(fmax(v, iy0), iy0 + ich - 1);
                const float *p = a + ((size_t)y * W + x) * 3;
                cr_assert(fabs(p[0] - (4 * u + 10)) < 1e-3, "(%d, %d): %g vs %g", x, y,
                          (double)p[0], 4 * u + 10);
                cr_assert(fabs(p[1] - (4 * v + 10)) < 1e-3);
                cr_assert(p[2] == 33.0f);
            }
        free(a);
    }
    cr_assert(smaller > 30, "only %d of 40 crops were smaller than the image", smaller);
    free(img);
}

Test(augment, bad_arguments)
{
    float px3[3] = {1, 2, 3};
    zoo_augment a = {.crop = 1.0f};
    cr_assert_eq(zoo_augment_apply(&a, px3, 1, 1, 0), ZOO_ERR_ARGUMENT);
    a = (zoo_augment){.rotation = -1};
    cr_assert_eq(zoo_augment_apply(&a, px3, 1, 1, 0), ZOO_ERR_ARGUMENT);
    a = (zoo_augment){.brightness = NAN};
    cr_assert_eq(zoo_augment_apply(&a, px3, 1, 1, 0), ZOO_ERR_ARGUMENT);
    a = (zoo_augment){.flip = true};
    cr_assert_eq(zoo_augment_apply(&a, NULL, 1, 1, 0), ZOO_ERR_ARGUMENT);
    cr_assert_eq(zoo_augment_apply(&a, px3, 0, 1, 0), ZOO_ERR_ARGUMENT);
    /* A 1x1 image survives every operation unchanged but for brightness. */
    a = (zoo_augment){.flip = true, .crop = 0.9f, .rotation = 90};
    cr_assert_eq(zoo_augment_apply(&a, px3, 1, 1, 5), ZOO_OK);
    cr_assert(px3[0] == 1 && px3[1] == 2 && px3[2] == 3);
}

/* The dataset applies augmentation only to batches that ask for it, from
 * the batch seed and each sample's position. */
Test(image_folder, dataset_augments_training_batches)
{
    char *root = zt_tmpdir_or_die();
    const int W = 7, H = 5;
    for (int c = 0; c < 2; c++)
        for (int j = 0; j < 2; j++) {
            char rel[64];
            snprintf(rel, sizeof rel, "c%d/%d.png", c, j);
            png_at(root, rel, c, j, W, H);
        }
    size_t row = (size_t)W * H * 3;
    int idx[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    float plain[8 * 105], x[8 * 105], x2[8 * 105], y[8];
    int kept;

    /* Flip only: every row is the plain row or its mirror; both occur. */
    zoo_image_folder_opts o = opts_for(W, H, ZOO_PREPROCESS_TF, NULL);
    o.augment.flip = true;
    zoo_image_folder *f = open_or_die(root, &o);
    zoo_dataset *d = zoo_image_folder_dataset(f);
    cr_assert_eq(d->load(d->ctx, idx, 8, plain, y, &kept, NULL), ZOO_OK);
    zoo_load_ctx off = {.augment = false, .seed = 99};
    cr_assert_eq(d->load(d->ctx, idx, 8, x, y, &kept, &off), ZOO_OK);
    cr_assert(memcmp(x, plain, sizeof x) == 0, "augment=false changed the batch");
    int mirrored = 0;
    for (unsigned long long seed = 1; seed <= 8; seed++) {
        zoo_load_ctx on = {.augment = true, .seed = seed};
        cr_assert_eq(d->load(d->ctx, idx, 8, x, y, &kept, &on), ZOO_OK);
        cr_assert_eq(kept, 8);
        for (int k = 0; k < 8; k++) {
            float *m = copy_of(plain + k * row, row);
            mirror(m, W, H);
            bool same = memcmp(x + k * row, plain + k * row, row * sizeof *x) == 0;
            bool mir = memcmp(x + k * row, m, row * sizeof *x) == 0;
            cr_assert(same || mir, "seed %llu row %d", seed, k);
            mirrored += mir;
            cr_assert_eq(y[k], (float)(idx[k] / 2));
            free(m);
        }
    }
    cr_assert(mirrored > 10 && mirrored < 54, "%d of 64 rows mirrored", mirrored);
    zoo_dataset_free(d);
    zoo_image_folder_free(f);

    /* Everything on: a seed replays; another seed, or another position of
     * the same image, draws differently. */
    o.augment = (zoo_augment){.flip = true, .crop = 0.3f, .rotation = 20,
                              .brightness = 0.2f};
    f = open_or_die(root, &o);
    d = zoo_image_folder_dataset(f);
    zoo_load_ctx a = {.augment = true, .seed = 42}, b = {.augment = true, .seed = 43};
    cr_assert_eq(d->load(d->ctx, idx, 8, x, y, &kept, &a), ZOO_OK);
    cr_assert_eq(d->load(d->ctx, idx, 8, x2, y, &kept, &a), ZOO_OK);
    cr_assert(memcmp(x, x2, sizeof x) == 0, "same seed, different batch");
    cr_assert_eq(d->load(d->ctx, idx, 8, x2, y, &kept, &b), ZOO_OK);
    cr_assert(memcmp(x, x2, sizeof x) != 0, "different seed, same batch");
    for (int k = 0; k < 4; k++)
        cr_assert(memcmp(x + k * row, x + (k + 4) * row, row * sizeof *x) != 0,
                  "image %d drew the same augmentation at two positions", k);
    /* Preprocessed "tf" values stay in [-1, 1]. */
    for (size_t i = 0; i < 8 * row; i++)
        cr_assert(x[i] >= -1.0f && x[i] <= 1.0f);
    zoo_dataset_free(d);
    zoo_image_folder_free(f);
    zt_rmtree(root);
    free(root);
}
