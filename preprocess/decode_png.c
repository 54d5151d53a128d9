/*
 * PNG -> RGB with libpng, giving what Pillow's PngImagePlugin (its own
 * zlib decoder and unpackers, not libpng) followed by convert("RGB")
 * gives. Pillow 9.4's mode table (_MODES) and conversions:
 *
 *   bit depth / colour type   PIL mode (raw mode)     -> RGB
 *   1 gray                    "1"  (0 or 255)         replicate
 *   2, 4 gray                 "L"  (v * 0x55, v * 0x11) replicate
 *   8 gray                    "L"                     replicate
 *   16 gray                   "I"  (0..65535)         i2rgb: clip to 0..255,
 *                                                     i.e. min(v, 255)
 *   8 / 16 RGB                "RGB" (16: high bytes)  as is
 *   1, 2, 4, 8 palette        "P"                     through the palette;
 *                             entries past PLTE's length keep Pillow's
 *                             initial grayscale ramp (i, i, i)
 *   8 gray+alpha              "LA"                    L replicated, alpha dropped
 *   16 gray+alpha             "RGBA" ("LA;16B": high bytes) alpha dropped
 *   8 / 16 RGBA               "RGBA" (16: high bytes) alpha dropped
 *
 * tRNS never changes the colours (convert("RGB") ignores transparency),
 * gamma and colour chunks are not applied, Adam7 interlacing is undone.
 * libpng's transforms do the cheap parts (16 -> 8 by taking the high byte
 * is png_set_strip_16, dropping alpha is png_set_strip_alpha); 16-bit
 * gray is read whole and clipped, palettes are looked up here.
 *
 * Strictness, as PIL:
 *  - CRCs of the chunks before the image data are checked (PIL raises
 *    "broken PNG file"), those of IDAT and later chunks are not (PIL never
 *    reads them);
 *  - the file ending before the last row is "image file is truncated";
 *    once every row is decoded, a missing end of the zlib stream (even
 *    cut inside the last IDAT chunk), a missing IEND or trailing junk is
 *    accepted (PIL stops reading there);
 *  - a palette image without PLTE (invalid; libpng refuses it) decodes
 *    with Pillow's default grayscale ramp: we insert that PLTE;
 *  - no width/height limit but PIL's pixel-count bomb limit, and the
 *    full 32 KiB zlib window whatever the stream header claims (PIL's
 *    inflateInit does the same).
 * Rows are decoded straight into the RGB result (interlaced images too:
 * libpng's Adam7 passes fill the result's rows, which are expanded to
 * RGB in place at the end), so the peak is the result plus libpng's two
 * row buffers. libpng errors longjmp back here; warnings are ignored.
 */
#include "preprocess/decode_internal.h"

#include <png.h>

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t file_size; /* as given (data may be a patched copy) */
    size_t pos;
    const char *name;
    bool truncated;
    char msg[256];
    /* decoding state, read by the error path */
    bool reading_rows;
    bool interlaced;
    int color_type;
    int bit_depth_in; /* as in IHDR */
    int bit_depth;    /* after transforms: 8, or 16 for 16-bit gray only */
    int channels;  /* after transforms: 1 or 3 */
    zoo_image *img;    /* being decoded */
    zoo_image *result; /* what zoo_pp_decode_png returns */
    unsigned char *fixed;   /* with_ramp_plte's copy of the file, if any */
    unsigned char *clamped; /* with_idat_clamped's copy, if any */
    unsigned char palette[256][3];
} png_ctx;

static void read_fn(png_structp png, png_bytep out, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->size - c->pos) {
        c->truncated = true;
        png_error(png, "unexpected end of file");
    }
    memcpy(out, c->data + c->pos, n);
    c->pos += n;
}

static void error_fn(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* Row y of the output holds the row as libpng delivered it (1 or 2 bytes
 * per pixel at the start of the 3-byte-per-pixel row); make it RGB in
 * place, from the right so nothing is overwritten before it is read. */
static void expand_row(png_ctx *c, int y)
{
    int w = c->img->width;
    unsigned char *row = c->img->rgb + (size_t)y * (size_t)w * 3;
    if (c->channels == 3)
        return;
    if (c->bit_depth == 16) { /* PIL "I" -> RGB clips at 255 */
        for (int x = w - 1; x >= 0; x--) {
            unsigned v = ((unsigned)row[2 * x] << 8) | row[2 * x + 1];
            unsigned char g = v >= 255 ? 255 : (unsigned char)v;
            row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = g;
        }
    } else if (c->color_type == PNG_COLOR_TYPE_PALETTE) {
        for (int x = w - 1; x >= 0; x--) {
            const unsigned char *p = c->palette[row[x]];
            row[3 * x] = p[0];
            row[3 * x + 1] = p[1];
            row[3 * x + 2] = p[2];
        }
    } else {
        /* gray 1/2/4-bit: packing gives the raw value; scale like PIL's
         * "1", "L;2", "L;4" unpackers (libpng's own expansion agrees). */
        int mul = 1;
        if (c->color_type == PNG_COLOR_TYPE_GRAY) {
            int depth = c->bit_depth_in;
            mul = depth == 1 ? 255 : depth == 2 ? 0x55 : depth == 4 ? 0x11 : 1;
        }
        for (int x = w - 1; x >= 0; x--) {
            unsigned char g = (unsigned char)(row[x] * mul);
            row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = g;
        }
    }
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t crc32_png(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* A palette image without PLTE before its image data is invalid and
 * libpng refuses it, but Pillow decodes it with its initial grayscale
 * ramp palette. For such a file: a copy with a ramp PLTE of 2^depth
 * entries inserted before the first IDAT (the same colours). NULL when
 * the file does not need it (or is too broken to tell: libpng reports). */
static unsigned char *with_ramp_plte(const unsigned char *d, size_t n, size_t *out_n)
{
    if (n < 8 + 25 || be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0 || d[8 + 17] != 3)
        return NULL;
    int depth = d[8 + 16];
    if (depth != 1 && depth != 2 && depth != 4 && depth != 8)
        return NULL;
    size_t pos = 8;
    while (pos + 8 <= n) {
        uint32_t len = be32(d + pos);
        const unsigned char *type = d + pos + 4;
        if (memcmp(type, "PLTE", 4) == 0)
            return NULL;
        if (memcmp(type, "IDAT", 4) == 0)
            break;
        if (len > n - pos - 8 || n - pos - 8 - len < 4)
            return NULL;
        pos += 12 + (size_t)len;
    }
    if (pos + 8 > n)
        return NULL;
    int entries = 1 << depth;
    size_t plte = 12 + 3 * (size_t)entries;
    unsigned char *b = malloc(n + plte);
    if (!b)
        return NULL;
    memcpy(b, d, pos);
    unsigned char *c = b + pos;
    put_be32(c, (uint32_t)(3 * entries));
    memcpy(c + 4, "PLTE", 4);
    for (int i = 0; i < entries; i++)
        c[8 + 3 * i] = c[9 + 3 * i] = c[10 + 3 * i] = (unsigned char)i;
    put_be32(c + 8 + 3 * entries, crc32_png(c + 4, 4 + 3 * (size_t)entries));
    memcpy(b + pos + plte, d + pos, n - pos);
    *out_n = n + plte;
    return b;
}

/* PIL hands the decoder whatever bytes follow an IDAT header, up to the
 * chunk's declared length or the end of the file, and stops as soon as
 * every row is decoded. libpng reads a chunk's data all at once, so a file
 * cut inside its last IDAT chunk (say in the final checksum bytes) or an
 * IDAT whose length field runs past the end fails there even when the
 * rows are all present. For such a file: a copy whose overrunning IDAT
 * declares exactly the bytes that are left (CRC placeholder appended; IDAT
 * CRCs are not checked). Rows still missing then end in "truncated".
 * NULL when not needed. */
static unsigned char *with_idat_clamped(const unsigned char *d, size_t n, size_t *out_n)
{
    size_t pos = 8;
    while (pos + 8 <= n) {
        uint32_t len = be32(d + pos);
        if (len > n - pos - 8 || n - pos - 8 - len < 4) {
            if (memcmp(d + pos + 4, "IDAT", 4) != 0)
                return NULL; /* a cut header chunk: PIL fails too */
            size_t avail = n - pos - 8;
            if (avail > 0x7fffffff)
                return NULL;
            unsigned char *b = malloc(n + 4);
            if (!b)
                return NULL;
            memcpy(b, d, n);
            put_be32(b + pos, (uint32_t)avail);
            memset(b + n, 0, 4);
            *out_n = n + 4;
            return b;
        }
        pos += 12 + (size_t)len;
    }
    return NULL;
}

/* After an error: true when every row had already been decoded (the
 * error came from libpng finishing the zlib stream or the IDAT chunk). */
static bool rows_complete(png_structp png, png_ctx *c)
{
    if (!c->reading_rows)
        return false;
    if (c->interlaced)
        return png_get_current_pass_number(png) >= 7;
    return png_get_current_row_number(png) >= (png_uint_32)c->img->height;
}

/* Chunks libpng would otherwise parse and validate although
 * convert("RGB") ignores them: read as unknown and discarded (their CRCs
 * are still checked). */
static const png_byte IGNORED_CHUNKS[] =
    "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0sBIT\0"
    "sCAL\0sPLT\0sRGB\0tEXt\0tIME\0tRNS\0zTXt\0";

static zoo_image *decode(png_structp png, png_infop info, png_ctx *c)
{
    png_set_read_fn(png, c, read_fn);
    png_set_sig_bytes(png, 0);
    /* PIL has no per-side limit, only the pixel count (checked below). */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
#ifdef PNG_SET_OPTION_SUPPORTED
    png_set_option(png, PNG_MAXIMUM_INFLATE_WINDOW, PNG_OPTION_ON);
#endif
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, IGNORED_CHUNKS,
                                (int)(sizeof IGNORED_CHUNKS - 1) / 5);
    /* Before the image data every CRC is checked, as PIL does. */
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);

    png_read_info(png, info);

    png_uint_32 w32, h32;
    int depth, ctype, ilace;
    png_get_IHDR(png, info, &w32, &h32, &depth, &ctype, &ilace, NULL, NULL);
    if (!zoo_pp_check_pixels(w32, h32, c->name, "PNG"))
        return NULL;
    c->color_type = ctype;
    c->bit_depth_in = depth;
    c->interlaced = ilace != PNG_INTERLACE_NONE;

    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        /* Pillow's palette starts as a grayscale ramp; PLTE overwrites
         * its first entries. */
        for (int i = 0; i < 256; i++)
            c->palette[i][0] = c->palette[i][1] = c->palette[i][2] = (unsigned char)i;
        png_colorp plte = NULL;
        int n = 0;
        if (png_get_PLTE(png, info, &plte, &n) & PNG_INFO_PLTE) {
            for (int i = 0; i < n && i < 256; i++) {
                c->palette[i][0] = plte[i].red;
                c->palette[i][1] = plte[i].green;
                c->palette[i][2] = plte[i].blue;
            }
        }
    }
    if (depth < 8)
        png_set_packing(png);
    if (depth == 16 && ctype != PNG_COLOR_TYPE_GRAY)
        png_set_strip_16(png); /* keeps the high byte, as PIL's unpackers */
    if (ctype & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    c->channels = png_get_channels(png, info);
    c->bit_depth = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (!((c->channels == 3 && c->bit_depth == 8) ||
          (c->channels == 1 && (c->bit_depth == 8 || c->bit_depth == 16))) ||
        rowbytes > (size_t)w32 * 3) {
        zoo_error(ZOO_ERR_INTERNAL,
                  "%s: unexpected PNG row layout after transforms (%d channels, "
                  "%d bits)",
                  c->name, c->channels, c->bit_depth);
        return NULL;
    }

    c->img = zoo_pp_image_alloc((int)w32, (int)h32, c->name);
    if (!c->img)
        return NULL;
    int w = (int)w32, h = (int)h32;

    /* From here on IDAT: CRCs are not checked (PIL skips them). */
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_NO_CHANGE);
    c->reading_rows = true;
    for (int pass = 0; pass < passes; pass++) {
        for (int y = 0; y < h; y++) {
            png_read_row(png, c->img->rgb + (size_t)y * (size_t)w * 3, NULL);
            if (!c->interlaced)
                expand_row(c, y);
        }
    }
    if (c->interlaced)
        for (int y = 0; y < h; y++)
            expand_row(c, y);
    /* No png_read_end: PIL does not need (or check) what follows. */
    zoo_image *img = c->img;
    c->img = NULL;
    return img;
}

zoo_image *zoo_pp_decode_png(const unsigned char *data, size_t size,
                             const char *name)
{
    png_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", name);
        return NULL;
    }
    size_t fixed_size = 0;
    c->fixed = with_ramp_plte(data, size, &fixed_size);
    c->data = c->fixed ? c->fixed : data;
    c->size = c->fixed ? fixed_size : size;
    c->clamped = with_idat_clamped(c->data, c->size, &fixed_size);
    if (c->clamped) {
        c->data = c->clamped;
        c->size = fixed_size;
    }
    c->name = name;
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, c, error_fn, warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        free(c->fixed);
        free(c->clamped);
        free(c);
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory (libpng)", name);
        return NULL;
    }
    if (setjmp(png_jmpbuf(png))) {
        if (rows_complete(png, c)) {
            /* Every row is out; what failed is only the tail of the
             * stream, which PIL never reads. The last row may still be
             * in libpng's layout. */
            if (c->interlaced) {
                for (int y = 0; y < c->img->height; y++)
                    expand_row(c, y);
            } else {
                expand_row(c, c->img->height - 1);
            }
            c->result = c->img;
            c->img = NULL;
        } else if (c->truncated) {
            zoo_error(ZOO_ERR_FORMAT,
                      "%s: image file is truncated (the PNG data ends after %zu "
                      "bytes, before the image is complete)",
                      name, c->file_size);
        } else {
            zoo_error(ZOO_ERR_FORMAT, "%s: broken PNG file: %s", name, c->msg);
        }
        goto done;
    }
    c->result = decode(png, info, c);
done:
    png_destroy_read_struct(&png, &info, NULL);
    zoo_image *img = c->result;
    zoo_image_free(c->img);
    free(c->fixed);
    free(c->clamped);
    free(c);
    return img;
}
