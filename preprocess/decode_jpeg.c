/*
 * JPEG -> RGB with libjpeg(-turbo), set up the way Pillow's JpegDecode.c
 * and JpegImagePlugin.py use it, so the pixels are PIL's to the bit when
 * both link the same libjpeg (Debian 12: libjpeg62-turbo 2.1.5):
 *
 *  - libjpeg's defaults, which PIL keeps: accurate integer IDCT
 *    (JDCT_ISLOW), fancy chroma upsampling, block smoothing; the colour
 *    space of the file is libjpeg's guess (JFIF/Adobe markers, component
 *    ids).
 *  - PIL's mode comes from the number of components in SOF: 1 -> "L"
 *    (libjpeg output JCS_GRAYSCALE, then L->RGB replicates), 3 -> "RGB"
 *    (JCS_RGB: libjpeg converts YCbCr), 4 -> "CMYK" with raw mode "CMYK;I"
 *    (JCS_CMYK from libjpeg, which converts YCCK; then every byte is
 *    inverted, "assume adobe conventions", whatever the Adobe marker says)
 *    and Convert.c's cmyk2rgb: nk = 255 - k, v = nk - MULDIV255(c, nk)
 *    with MULDIV255(a, b) = (t = a*b + 128, ((t >> 8) + t) >> 8).
 *    Other component counts and precisions are refused as PIL does.
 *  - Input: PIL feeds libjpeg through a *suspending* source; when the file
 *    ends while libjpeg still wants bytes, ImageFile.load raises "image file
 *    is truncated". We give libjpeg all bytes at once behind the same kind
 *    of source (fill_input_buffer returns FALSE), so suspension means
 *    exactly that: truncated, an error. Like PIL, a file whose scan data is
 *    complete but lacks the final EOI marker still decodes (PIL ignores a
 *    suspended jpeg_finish_decompress once every row is out).
 *  - libjpeg's warnings (recoverable corrupt-data notices such as
 *    "extraneous bytes before marker") are ignored, as PIL's empty
 *    output_message ignores them, so every file Keras can load loads here.
 *    Fatal libjpeg errors longjmp back here (never exit()) and fail with
 *    libjpeg's message.
 */
#include "preprocess/decode_internal.h"

#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t first */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} jpeg_error_ctx;

typedef struct {
    struct jpeg_decompress_struct cinfo; /* first: cinfo's address is ours */
    jpeg_error_ctx err;
    struct jpeg_source_mgr src;
    const unsigned char *data;
    size_t size;
    zoo_image *img;    /* being decoded */
    zoo_image *result; /* what zoo_pp_decode_jpeg returns */
    unsigned char *row;
    const char *name;
} jpeg_ctx;

static void on_error_exit(j_common_ptr cinfo)
{
    jpeg_error_ctx *e = (jpeg_error_ctx *)cinfo->err;
    longjmp(e->jump, 1);
}

/* Warnings and trace messages: ignored, like PIL's output_message. */
static void on_emit_message(j_common_ptr cinfo, int level)
{
    if (level < 0)
        cinfo->err->num_warnings++;
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void src_init(j_decompress_ptr cinfo) { (void)cinfo; }

/* All bytes are already in the buffer: a request for more means the data
 * ended. Suspend (as PIL's source does); the caller reports truncation. */
static boolean src_fill(j_decompress_ptr cinfo)
{
    (void)cinfo;
    return FALSE;
}

static void src_skip(j_decompress_ptr cinfo, long num_bytes)
{
    struct jpeg_source_mgr *s = cinfo->src;
    if (num_bytes <= 0)
        return;
    if ((size_t)num_bytes > s->bytes_in_buffer) {
        /* Skipping past the end: the next read suspends (truncated). */
        s->next_input_byte += s->bytes_in_buffer;
        s->bytes_in_buffer = 0;
    } else {
        s->next_input_byte += num_bytes;
        s->bytes_in_buffer -= (size_t)num_bytes;
    }
}

static void src_term(j_decompress_ptr cinfo) { (void)cinfo; }

/* PIL's "CMYK;I" unpacker (invert) followed by Convert.c's cmyk2rgb. */
static void cmyk_inverted_to_rgb(unsigned char *out, const unsigned char *in,
                                 int width)
{
    for (int x = 0; x < width; x++, in += 4, out += 3) {
        int c = 255 - in[0], m = 255 - in[1], y = 255 - in[2], k = 255 - in[3];
        int nk = 255 - k, t;
#define MULDIV255(a, b) (t = (a) * (b) + 128, ((t >> 8) + t) >> 8)
#define CLIP8(v) ((v) <= 0 ? 0 : (v) < 256 ? (v) : 255)
        out[0] = (unsigned char)CLIP8(nk - MULDIV255(c, nk));
        out[1] = (unsigned char)CLIP8(nk - MULDIV255(m, nk));
        out[2] = (unsigned char)CLIP8(nk - MULDIV255(y, nk));
#undef MULDIV255
#undef CLIP8
    }
}

static void fail_truncated(jpeg_ctx *c)
{
    size_t used = c->size - c->cinfo.src->bytes_in_buffer;
    zoo_error(ZOO_ERR_FORMAT,
              "%s: image file is truncated (the JPEG data ends after %zu bytes, "
              "before the image is complete)",
              c->name, used);
}

static zoo_image *decode(jpeg_ctx *c)
{
    struct jpeg_decompress_struct *ci = &c->cinfo;

    /* Header. Like PIL, a tables-only datastream may come first. */
    int rc;
    do {
        rc = jpeg_read_header(ci, FALSE);
    } while (rc == JPEG_HEADER_TABLES_ONLY);
    if (rc == JPEG_SUSPENDED) {
        fail_truncated(c);
        return NULL;
    }

    int comps = ci->num_components;
    switch (comps) {
    case 1:
        ci->out_color_space = JCS_GRAYSCALE;
        break;
    case 3:
        ci->out_color_space = JCS_RGB;
        break;
    case 4:
        ci->out_color_space = JCS_CMYK;
        break;
    default:
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "%s: JPEG with %d components is not supported (PIL handles 1, 3 "
                  "or 4: grayscale, YCbCr/RGB, CMYK/YCCK)",
                  c->name, comps);
        return NULL;
    }
    if (!zoo_pp_check_pixels(ci->image_width, ci->image_height, c->name, "JPEG"))
        return NULL;
    /* PIL's settings are libjpeg's defaults; spelt out here. */
    ci->dct_method = JDCT_ISLOW;
    ci->do_fancy_upsampling = TRUE;

    if (!jpeg_start_decompress(ci)) {
        fail_truncated(c);
        return NULL;
    }
    int w = (int)ci->output_width, h = (int)ci->output_height;
    c->img = zoo_pp_image_alloc(w, h, c->name);
    if (!c->img)
        return NULL;
    if (comps == 4) {
        c->row = malloc((size_t)w * 4);
        if (!c->row) {
            zoo_error(ZOO_ERR_MEMORY, "%s: out of memory decoding a JPEG row", c->name);
            return NULL;
        }
    }
    while (ci->output_scanline < ci->output_height) {
        unsigned y = ci->output_scanline;
        unsigned char *out = c->img->rgb + (size_t)y * (size_t)w * 3;
        JSAMPROW row = comps == 4 ? c->row : out;
        if (jpeg_read_scanlines(ci, &row, 1) != 1) {
            fail_truncated(c);
            return NULL;
        }
        if (comps == 1) {
            for (int x = w - 1; x >= 0; x--) /* L -> RGB, in place */
                out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = out[x];
        } else if (comps == 4) {
            cmyk_inverted_to_rgb(out, c->row, w);
        }
    }
    /* Suspension here (no EOI) is fine once every row is out, as in PIL;
     * errors still longjmp. */
    (void)jpeg_finish_decompress(ci);
    zoo_image *img = c->img;
    c->img = NULL;
    return img;
}

zoo_image *zoo_pp_decode_jpeg(const unsigned char *data, size_t size,
                              const char *name)
{
    /* On the heap, so nothing the decoder changes lives in a register
     * across setjmp/longjmp. */
    jpeg_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", name);
        return NULL;
    }
    c->data = data;
    c->size = size;
    c->name = name;
    c->cinfo.err = jpeg_std_error(&c->err.pub);
    c->err.pub.error_exit = on_error_exit;
    c->err.pub.emit_message = on_emit_message;
    c->err.pub.output_message = on_output_message;

    if (setjmp(c->err.jump)) {
        char msg[JMSG_LENGTH_MAX];
        c->err.pub.format_message((j_common_ptr)&c->cinfo, msg);
        zoo_error(c->err.pub.msg_code == JERR_OUT_OF_MEMORY ? ZOO_ERR_MEMORY
                                                             : ZOO_ERR_FORMAT,
                  "%s: broken JPEG data: %s", name, msg);
        goto done;
    }
    jpeg_create_decompress(&c->cinfo);
    c->src.init_source = src_init;
    c->src.fill_input_buffer = src_fill;
    c->src.skip_input_data = src_skip;
    c->src.resync_to_restart = jpeg_resync_to_restart;
    c->src.term_source = src_term;
    c->src.next_input_byte = data;
    c->src.bytes_in_buffer = size;
    c->cinfo.src = &c->src;

    c->result = decode(c);
done:
    jpeg_destroy_decompress(&c->cinfo);
    zoo_image *img = c->result;
    zoo_image_free(c->img);
    free(c->row);
    free(c);
    return img;
}
