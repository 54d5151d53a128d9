/* ZeroPadding2D and Cropping2D on NHWC tensors. Both are one copy of rows
 * between two offsets, so they share the copy loop; their gradients are the
 * same window added back the other way. */
#include "engine/layer.h"
#include "engine/keras_layer_config.h"

#include <string.h>

/* Copies the rows x cols window of `in` at (ih0, iw0) into `out` at
 * (oh0, ow0); the caller picks offsets so both stay in bounds. */
static void copy_window(const zoo_tensor *in, zoo_tensor *out, int rows,
                        int cols, int ih0, int iw0, int oh0, int ow0,
                        const zoo_exec *ex)
{
    const int *is = zoo_tensor_shape(in), *os = zoo_tensor_shape(out);
    const int N = is[0], H = is[1], W = is[2], C = is[3];
    const int OH = os[1], OW = os[2];
    const float *x = zoo_tensor_cdata(in);
    float *y = zoo_tensor_data(out);
    int threads = ex && ex->threads > 0 ? ex->threads : 1;
#pragma omp parallel for collapse(2) schedule(static) num_threads(threads) \
    if ((int64_t)N * rows * cols * C > 32768)
    for (int n = 0; n < N; n++)
        for (int r = 0; r < rows; r++)
            memcpy(y + (((int64_t)n * OH + oh0 + r) * OW + ow0) * C,
                   x + (((int64_t)n * H + ih0 + r) * W + iw0) * C,
                   (size_t)cols * C * sizeof(float));
}

/* Adds the rows x cols window of `src` at (sh0, sw0) into `dst` at
 * (dh0, dw0). Each task owns whole rows of `dst`: no two write the same
 * value. */
static void add_window(const zoo_tensor *src, zoo_tensor *dst, int rows,
                       int cols, int sh0, int sw0, int dh0, int dw0,
                       const zoo_exec *ex)
{
    const int *ss = zoo_tensor_shape(src), *ds = zoo_tensor_shape(dst);
    const int N = ss[0], SH = ss[1], SW = ss[2], C = ss[3];
    const int DH = ds[1], DW = ds[2];
    const int64_t len = (int64_t)cols * C;
    const float *s = zoo_tensor_cdata(src);
    float *d = zoo_tensor_data(dst);
#pragma omp parallel for collapse(2) schedule(static) \
    num_threads(zoo_exec_threads(ex)) if ((int64_t)N * rows * len > 32768)
    for (int n = 0; n < N; n++)
        for (int r = 0; r < rows; r++) {
            const float *sp = s + (((int64_t)n * SH + sh0 + r) * SW + sw0) * C;
            float *dp = d + (((int64_t)n * DH + dh0 + r) * DW + dw0) * C;
            for (int64_t k = 0; k < len; k++)
                dp[k] += sp[k];
        }
}

/* The shapes backward was handed agree with each other (batch and
 * channels) and with the window the caller will add. */
static zoo_status window_check(const zoo_layer *l, const zoo_tensor *dy,
                               const zoo_tensor *dx, int rows, int cols,
                               int sh0, int sw0, int dh0, int dw0)
{
    const int *ss = zoo_tensor_shape(dy), *ds = zoo_tensor_shape(dx);
    if (zoo_tensor_rank(dy) != 4 || zoo_tensor_rank(dx) != 4 ||
        ss[0] != ds[0] || ss[3] != ds[3] || sh0 + rows > ss[1] ||
        sw0 + cols > ss[2] || dh0 + rows > ds[1] || dw0 + cols > ds[2])
        return zoo_error(ZOO_ERR_INTERNAL,
                         "%s %s: the output gradient's shape does not fit "
                         "the input's",
                         l->kind->class_name, l->name);
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* ZeroPadding2D                                                       */
/* ------------------------------------------------------------------ */

static zoo_status zeropad_infer(const zoo_layer *l, const zoo_shape *in,
                                int n_in, zoo_shape *out)
{
    (void)n_in;
    const zoo_padding2d_cfg *c = l->cfg;
    zoo_status st = zoo_expect_rank4(l, &in[0]);
    if (st != ZOO_OK)
        return st;
    *out = in[0];
    for (int a = 0; a < 2; a++)
        if (in[0].dim[1 + a] >= 0)
            out->dim[1 + a] += c->pad[2 * a] + c->pad[2 * a + 1];
    return ZOO_OK;
}

static zoo_status zeropad_forward(const zoo_layer *l,
                                  const zoo_tensor *const *in, int n_in,
                                  zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_padding2d_cfg *c = l->cfg;
    const int *is = zoo_tensor_shape(in[0]);
    /* out arrives zero-filled: only the interior needs writing. */
    copy_window(in[0], out, is[1], is[2], 0, 0, c->pad[0], c->pad[2], ex);
    return ZOO_OK;
}

/* Only the interior came from the input. */
static zoo_status zeropad_backward(const zoo_layer *l,
                                   const zoo_tensor *const *in, int n_in,
                                   const zoo_tensor *out, const zoo_tensor *dy,
                                   zoo_tensor *const *dx,
                                   zoo_tensor *const *dw, const zoo_exec *ex,
                                   void *saved)
{
    (void)in;
    (void)n_in;
    (void)out;
    (void)dw;
    (void)saved;
    if (!dx || !dx[0])
        return ZOO_OK;
    const zoo_padding2d_cfg *c = l->cfg;
    const int *is = zoo_tensor_shape(dx[0]);
    zoo_status st = window_check(l, dy, dx[0], is[1], is[2], c->pad[0],
                                 c->pad[2], 0, 0);
    if (st != ZOO_OK)
        return st;
    add_window(dy, dx[0], is[1], is[2], c->pad[0], c->pad[2], 0, 0, ex);
    return ZOO_OK;
}

/* Keras 3 ZeroPadding2D.get_config(): padding ((top, bottom), (left,
 * right)). */
static zoo_status zeropad_config(const zoo_layer *l, void *json)
{
    const zoo_padding2d_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:[[ii][ii]], s:s}", "padding", c->pad[0], c->pad[1], c->pad[2],
        c->pad[3], "data_format", "channels_last"));
}

static const zoo_layer_kind zeropad_kind = {
    .class_name = "ZeroPadding2D",
    .auto_prefix = "zero_padding2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = zeropad_infer,
    .forward = zeropad_forward,
    .backward = zeropad_backward,
    .config = zeropad_config,
};

zoo_layer *zoo_zero_padding2d(zoo_graph *g, const zoo_padding2d_cfg *cfg)
{
    zoo_padding2d_cfg c = cfg ? *cfg : (zoo_padding2d_cfg){0};
    /* An all-zero pad is the zero config, i.e. Keras's default
     * padding=(1, 1); an identity padding has no use in practice. */
    if (!c.pad[0] && !c.pad[1] && !c.pad[2] && !c.pad[3])
        c.pad[0] = c.pad[1] = c.pad[2] = c.pad[3] = 1;
    if (g && (c.pad[0] < 0 || c.pad[1] < 0 || c.pad[2] < 0 || c.pad[3] < 0)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "ZeroPadding2D%s%s: padding ((%d, %d), (%d, %d)) must not "
                  "be negative",
                  c.name ? " " : "", c.name ? c.name : "", c.pad[0], c.pad[1],
                  c.pad[2], c.pad[3]);
        return NULL;
    }
    return zoo_layer_create(g, &zeropad_kind, &c, sizeof c, c.name);
}

/* ------------------------------------------------------------------ */
/* Cropping2D                                                          */
/* ------------------------------------------------------------------ */

static zoo_status crop_infer(const zoo_layer *l, const zoo_shape *in,
                             int n_in, zoo_shape *out)
{
    (void)n_in;
    const zoo_cropping2d_cfg *c = l->cfg;
    zoo_status st = zoo_expect_rank4(l, &in[0]);
    if (st != ZOO_OK)
        return st;
    *out = in[0];
    for (int a = 0; a < 2; a++) {
        if (in[0].dim[1 + a] < 0)
            continue;
        out->dim[1 + a] -= c->crop[2 * a] + c->crop[2 * a + 1];
        if (out->dim[1 + a] <= 0) {
            char buf[128];
            return zoo_error(ZOO_ERR_SHAPE,
                             "Cropping2D %s: cropping ((%d, %d), (%d, %d)) "
                             "leaves nothing of input %s",
                             l->name, c->crop[0], c->crop[1], c->crop[2],
                             c->crop[3], zoo_shape_str(&in[0], buf, sizeof buf));
        }
    }
    return ZOO_OK;
}

static zoo_status crop_forward(const zoo_layer *l, const zoo_tensor *const *in,
                               int n_in, zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_cropping2d_cfg *c = l->cfg;
    const int *os = zoo_tensor_shape(out);
    copy_window(in[0], out, os[1], os[2], c->crop[0], c->crop[2], 0, 0, ex);
    return ZOO_OK;
}

/* The cropped-away border gets no gradient. */
static zoo_status crop_backward(const zoo_layer *l,
                                const zoo_tensor *const *in, int n_in,
                                const zoo_tensor *out, const zoo_tensor *dy,
                                zoo_tensor *const *dx, zoo_tensor *const *dw,
                                const zoo_exec *ex, void *saved)
{
    (void)in;
    (void)n_in;
    (void)out;
    (void)dw;
    (void)saved;
    if (!dx || !dx[0])
        return ZOO_OK;
    const zoo_cropping2d_cfg *c = l->cfg;
    const int *os = zoo_tensor_shape(dy);
    zoo_status st = window_check(l, dy, dx[0], os[1], os[2], 0, 0,
                                 c->crop[0], c->crop[2]);
    if (st != ZOO_OK)
        return st;
    add_window(dy, dx[0], os[1], os[2], 0, 0, c->crop[0], c->crop[2], ex);
    return ZOO_OK;
}

/* Keras 3 Cropping2D.get_config(): cropping ((top, bottom), (left,
 * right)). */
static zoo_status crop_config(const zoo_layer *l, void *json)
{
    const zoo_cropping2d_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:[[ii][ii]], s:s}", "cropping", c->crop[0], c->crop[1],
        c->crop[2], c->crop[3], "data_format", "channels_last"));
}

static const zoo_layer_kind crop_kind = {
    .class_name = "Cropping2D",
    .auto_prefix = "cropping2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .infer = crop_infer,
    .forward = crop_forward,
    .backward = crop_backward,
    .config = crop_config,
};

zoo_layer *zoo_cropping2d(zoo_graph *g, const zoo_cropping2d_cfg *cfg)
{
    zoo_cropping2d_cfg c = cfg ? *cfg : (zoo_cropping2d_cfg){0};
    if (g && (c.crop[0] < 0 || c.crop[1] < 0 || c.crop[2] < 0 ||
              c.crop[3] < 0)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "Cropping2D%s%s: cropping ((%d, %d), (%d, %d)) must not be "
                  "negative",
                  c.name ? " " : "", c.name ? c.name : "", c.crop[0],
                  c.crop[1], c.crop[2], c.crop[3]);
        return NULL;
    }
    return zoo_layer_create(g, &crop_kind, &c, sizeof c, c.name);
}
