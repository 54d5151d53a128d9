/* Conv2D, DepthwiseConv2D and SeparableConv2D: Keras's 2-D convolutions on
 * NHWC tensors, with Keras's weight names, order, shapes and fans. */
#include "engine/cpu/cpu.h"
#include "engine/keras_layer_config.h"
#include "engine/layer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The part of the three configs that describes the sliding window. */
typedef struct {
    int kernel[2];
    int strides[2];
    int dilation[2];
    zoo_padding padding;
} conv_window;

#define WINDOW_OF(c)                                                       \
    ((conv_window){{(c)->kernel[0], (c)->kernel[1]},                       \
                   {(c)->strides[0], (c)->strides[1]},                     \
                   {(c)->dilation[0], (c)->dilation[1]},                   \
                   (c)->padding})

/* "Conv2D block1_conv1", or just the class before a name exists. */
static const char *label(char *buf, size_t size, const char *cls,
                         const char *name)
{
    snprintf(buf, size, "%s%s%s", cls, name && *name ? " " : "",
             name && *name ? name : "");
    return buf;
}

/* Fills Keras's defaults for strides and dilation, then checks the window
 * the way Keras's constructor does. */
static bool window_ok(const char *who, conv_window *w)
{
    for (int i = 0; i < 2; i++) {
        w->strides[i] = zoo_or(w->strides[i], 1);
        w->dilation[i] = zoo_or(w->dilation[i], 1);
    }
    if (w->kernel[0] < 1 || w->kernel[1] < 1) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: kernel size %dx%d is invalid; give .kernel = {rows, "
                  "cols}, both >= 1", who, w->kernel[0], w->kernel[1]);
        return false;
    }
    if (w->strides[0] < 1 || w->strides[1] < 1) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: strides %dx%d are invalid; each must be >= 1 (0 "
                  "means 1)", who, w->strides[0], w->strides[1]);
        return false;
    }
    if (w->dilation[0] < 1 || w->dilation[1] < 1) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: dilation %dx%d is invalid; each must be >= 1 (0 "
                  "means 1)", who, w->dilation[0], w->dilation[1]);
        return false;
    }
    if (w->padding != ZOO_PAD_VALID && w->padding != ZOO_PAD_SAME) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: unknown padding %d; use ZOO_PAD_VALID or "
                  "ZOO_PAD_SAME", who, (int)w->padding);
        return false;
    }
    /* Keras (and TF's conv op) refuse this combination. */
    if ((w->strides[0] > 1 || w->strides[1] > 1) &&
        (w->dilation[0] > 1 || w->dilation[1] > 1)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: strides > 1 are not supported together with "
                  "dilation > 1 (strides %dx%d, dilation %dx%d), as in Keras",
                  who, w->strides[0], w->strides[1], w->dilation[0],
                  w->dilation[1]);
        return false;
    }
    return true;
}

/* Rank 4 with a known channel count; returns the channel count or -1. */
static int input_channels(const zoo_layer *l, const zoo_shape *in)
{
    char s[96];
    if (in->rank != 4) {
        zoo_error(ZOO_ERR_SHAPE,
                  "%s %s: expected a 4-D input (batch, rows, cols, "
                  "channels), got shape %s", l->kind->class_name, l->name,
                  zoo_shape_str(in, s, sizeof s));
        return -1;
    }
    if (in->dim[3] < 1) {
        zoo_error(ZOO_ERR_SHAPE,
                  "%s %s: the channel axis of the input must be known, got "
                  "shape %s", l->kind->class_name, l->name,
                  zoo_shape_str(in, s, sizeof s));
        return -1;
    }
    return in->dim[3];
}

/* Axis 2 of a built kernel (its input channels); 0 before build. */
static int built_channels(const zoo_layer *l, const char *kernel_name)
{
    const zoo_tensor *k = zoo_layer_find_weight(l, kernel_name);
    return k ? zoo_tensor_shape(k)[2] : 0;
}

static void dim_str(char *buf, size_t size, int d)
{
    if (d < 0)
        snprintf(buf, size, "?");
    else
        snprintf(buf, size, "%d", d);
}

/* Output shape of the window over `in`, with `cout` channels. `cin` is the
 * channel count the kernel was built for (0: not built yet). */
static zoo_status window_infer(const zoo_layer *l, const conv_window *w,
                               const zoo_shape *in, int cin, int cout,
                               zoo_shape *out)
{
    const char *cls = l->kind->class_name;
    int c = input_channels(l, in);
    if (c < 0)
        return zoo_last_status();
    if (cin > 0 && c != cin)
        return zoo_error(ZOO_ERR_SHAPE,
                         "%s %s: input has %d channels but the layer was "
                         "built for %d", cls, l->name, c, cin);

    int keff[2];
    bool small = false;
    for (int i = 0; i < 2; i++) {
        keff[i] = (w->kernel[i] - 1) * w->dilation[i] + 1;
        if (w->padding == ZOO_PAD_VALID && in->dim[1 + i] >= 0 &&
            in->dim[1 + i] < keff[i])
            small = true;
    }
    if (small) {
        char h[16], wd[16], dil[48] = "";
        dim_str(h, sizeof h, in->dim[1]);
        dim_str(wd, sizeof wd, in->dim[2]);
        if (keff[0] != w->kernel[0] || keff[1] != w->kernel[1])
            snprintf(dil, sizeof dil, ", %dx%d with dilation", keff[0],
                     keff[1]);
        return zoo_error(ZOO_ERR_SHAPE,
                         "%s %s: input %sx%s is smaller than the %dx%d "
                         "kernel%s (padding 'valid')", cls, l->name, h, wd,
                         w->kernel[0], w->kernel[1], dil);
    }

    out->rank = 4;
    out->dim[0] = in->dim[0];
    for (int i = 0; i < 2; i++) {
        int o = in->dim[1 + i] < 0
                    ? -1
                    : zoo_conv_out_size(in->dim[1 + i], w->kernel[i],
                                        w->strides[i], w->dilation[i],
                                        w->padding);
        if (in->dim[1 + i] >= 0 && o < 1)
            return zoo_error(ZOO_ERR_INTERNAL,
                             "%s %s: output size %d along axis %d", cls,
                             l->name, o, 1 + i);
        out->dim[1 + i] = o;
    }
    out->dim[3] = cout;
    return ZOO_OK;
}

/* Concrete geometry for a forward pass from the tensors' shapes. */
static zoo_conv_geom window_geom(const conv_window *w, const zoo_tensor *in,
                                 const zoo_tensor *out)
{
    const int *is = zoo_tensor_shape(in), *os = zoo_tensor_shape(out);
    zoo_conv_geom g = {
        .n = is[0], .h = is[1], .w = is[2], .c = is[3],
        .kh = w->kernel[0], .kw = w->kernel[1],
        .sh = w->strides[0], .sw = w->strides[1],
        .dh = w->dilation[0], .dw = w->dilation[1],
        .oh = os[1], .ow = os[2],
    };
    if (w->padding == ZOO_PAD_SAME) {
        g.pad_top = zoo_same_pad_before(g.h, g.kh, g.sh, g.dh);
        g.pad_left = zoo_same_pad_before(g.w, g.kw, g.sw, g.dw);
    }
    return g;
}

/* Prefixes a kernel's failure message with the layer. */
static zoo_status relabel(const zoo_layer *l, zoo_status st)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s", zoo_last_error());
    return zoo_error(st, "%s %s: %s", l->kind->class_name, l->name, msg);
}

static zoo_status unbuilt(const zoo_layer *l)
{
    return zoo_error(ZOO_ERR_INTERNAL, "%s %s: run before its weights exist",
                     l->kind->class_name, l->name);
}

/* ---- training helpers ---- */

/* dw[k] for the weight called `name`, or NULL where it is not wanted (or
 * the layer has no such weight). */
static float *weight_grad(const zoo_layer *l, zoo_tensor *const *dw,
                          const char *name)
{
    for (int k = 0; k < l->n_weights; k++)
        if (strcmp(l->weights[k].name, name) == 0)
            return dw[k] ? zoo_tensor_data(dw[k]) : NULL;
    return NULL;
}

static zoo_status no_memory(const zoo_layer *l, size_t bytes, const char *what)
{
    return zoo_error(ZOO_ERR_MEMORY, "%s %s: cannot allocate %zu bytes for %s",
                     l->kind->class_name, l->name, bytes, what);
}

/* dLoss/dz for out = act(z): *dz is a malloc'd copy of dy taken through
 * the activation's derivative, or NULL for a linear layer (use dy as is).
 * `pre` is z, read only by swish (the one activation not recoverable from
 * its output). */
static zoo_status activation_grad(const zoo_layer *l, zoo_activation act,
                                  const float *pre, const zoo_tensor *out,
                                  const zoo_tensor *dy, int row, float **dz)
{
    *dz = NULL;
    if (act == ZOO_ACT_LINEAR)
        return ZOO_OK;
    const size_t n = zoo_tensor_size(dy);
    float *d = malloc(sizeof *d * n);
    if (!d)
        return no_memory(l, sizeof *d * n, "the activation's gradient");
    memcpy(d, zoo_tensor_cdata(dy), sizeof *d * n);
    zoo_status st = zoo_activation_backward(act, pre, zoo_tensor_cdata(out),
                                            d, n, row);
    if (st != ZOO_OK) {
        free(d);
        return relabel(l, st);
    }
    *dz = d;
    return ZOO_OK;
}

/* Keras 3's serialized L2 regularizer for the layer's kernel_l2, or null
 * without one. */
static json_t *l2_regularizer(const zoo_layer *l)
{
    if (!(l->kernel_l2 > 0.0f))
        return json_null();
    return json_pack("{s:s, s:s, s:{s:f}, s:n}", "module",
                     "keras.regularizers", "class_name", "L2", "config",
                     "l2", zoo_kcfg_real(l->kernel_l2), "registered_name");
}

/* ------------------------------------------------------------------ */
/* Conv2D                                                              */
/* ------------------------------------------------------------------ */

static zoo_status conv2d_build(zoo_layer *l, const zoo_shape *in, int n_in)
{
    (void)n_in;
    const zoo_conv2d_cfg *c = l->cfg;
    int cin = input_channels(l, in);
    if (cin < 0)
        return zoo_last_status();
    const int kh = c->kernel[0], kw = c->kernel[1], rf = kh * kw;
    if (!zoo_layer_add_weight(l, "kernel", 4,
                              (const int[]){kh, kw, cin, c->filters},
                              ZOO_INIT_GLOROT_UNIFORM, rf * cin,
                              rf * c->filters, true))
        return zoo_last_status();
    if (!c->no_bias &&
        !zoo_layer_add_weight(l, "bias", 1, (const int[]){c->filters},
                              ZOO_INIT_ZEROS, 0, 0, true))
        return zoo_last_status();
    return ZOO_OK;
}

static zoo_status conv2d_infer(const zoo_layer *l, const zoo_shape *in,
                               int n_in, zoo_shape *out)
{
    (void)n_in;
    const zoo_conv2d_cfg *c = l->cfg;
    conv_window w = WINDOW_OF(c);
    return window_infer(l, &w, in, built_channels(l, "kernel"), c->filters,
                        out);
}

/* The convolution and bias, before the activation. */
static zoo_status conv2d_linear(const zoo_layer *l, const zoo_tensor *in,
                                const zoo_conv_geom *g, float *out,
                                int threads)
{
    const zoo_conv2d_cfg *c = l->cfg;
    const zoo_tensor *k = zoo_layer_find_weight(l, "kernel");
    const zoo_tensor *b = c->no_bias ? NULL : zoo_layer_find_weight(l, "bias");
    if (!k || (!c->no_bias && !b))
        return unbuilt(l);
    zoo_status st = zoo_cpu_conv2d(g, zoo_tensor_cdata(in),
                                   zoo_tensor_cdata(k), c->filters,
                                   b ? zoo_tensor_cdata(b) : NULL, out,
                                   threads);
    return st == ZOO_OK ? ZOO_OK : relabel(l, st);
}

static zoo_status conv2d_forward(const zoo_layer *l,
                                 const zoo_tensor *const *in, int n_in,
                                 zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_conv2d_cfg *c = l->cfg;
    conv_window w = WINDOW_OF(c);
    zoo_conv_geom g = window_geom(&w, in[0], out);
    zoo_status st = conv2d_linear(l, in[0], &g, zoo_tensor_data(out),
                                  zoo_exec_threads(ex));
    if (st != ZOO_OK)
        return st;
    zoo_activation_apply(c->activation, zoo_tensor_data(out),
                         zoo_tensor_size(out), c->filters);
    return ZOO_OK;
}

static zoo_status conv2d_backward(const zoo_layer *l,
                                  const zoo_tensor *const *in, int n_in,
                                  const zoo_tensor *out, const zoo_tensor *dy,
                                  zoo_tensor *const *dx,
                                  zoo_tensor *const *dw, const zoo_exec *ex,
                                  void *saved)
{
    (void)n_in;
    (void)saved;
    const zoo_conv2d_cfg *c = l->cfg;
    const zoo_tensor *k = zoo_layer_find_weight(l, "kernel");
    if (!k)
        return unbuilt(l);
    float *dk = weight_grad(l, dw, "kernel");
    float *db = weight_grad(l, dw, "bias");
    float *dxd = dx[0] ? zoo_tensor_data(dx[0]) : NULL;
    if (!dk && !db && !dxd)
        return ZOO_OK;
    const int threads = zoo_exec_threads(ex);
    conv_window w = WINDOW_OF(c);
    zoo_conv_geom g = window_geom(&w, in[0], out);

    /* Swish alone needs its input: recompute it rather than keep it. */
    float *pre = NULL;
    zoo_status st = ZOO_OK;
    if (c->activation == ZOO_ACT_SWISH) {
        size_t bytes = sizeof *pre * zoo_tensor_size(out);
        if (!(pre = malloc(bytes)))
            return no_memory(l, bytes, "the pre-activation");
        st = conv2d_linear(l, in[0], &g, pre, threads);
    }
    float *dz = NULL;
    if (st == ZOO_OK)
        st = activation_grad(l, c->activation, pre, out, dy, c->filters,
                             &dz);
    free(pre);
    if (st != ZOO_OK)
        return st;
    st = zoo_cpu_conv2d_backward(&g, zoo_tensor_cdata(in[0]),
                                 zoo_tensor_cdata(k), c->filters,
                                 dz ? dz : zoo_tensor_cdata(dy), dxd, dk, db,
                                 threads);
    free(dz);
    return st == ZOO_OK ? ZOO_OK : relabel(l, st);
}

/* Keras 3 Conv2D.get_config() (BaseConv). */
static zoo_status conv2d_config(const zoo_layer *l, void *json)
{
    const zoo_conv2d_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:i, s:[ii], s:[ii], s:s, s:s, s:[ii], s:i, s:s, s:b, s:o, s:o, "
        "s:o, s:n, s:n, s:n, s:n}",
        "filters", c->filters, "kernel_size", c->kernel[0], c->kernel[1],
        "strides", c->strides[0], c->strides[1],
        "padding", zoo_kcfg_padding(c->padding),
        "data_format", "channels_last",
        "dilation_rate", c->dilation[0], c->dilation[1], "groups", 1,
        "activation", zoo_kcfg_activation(c->activation),
        "use_bias", (int)!c->no_bias,
        "kernel_initializer", zoo_kcfg_initializer("GlorotUniform", true),
        "bias_initializer", zoo_kcfg_initializer("Zeros", false),
        "kernel_regularizer", l2_regularizer(l), "bias_regularizer",
        "activity_regularizer", "kernel_constraint", "bias_constraint"));
}

static const zoo_layer_kind conv2d_kind = {
    .class_name = "Conv2D",
    .auto_prefix = "conv2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .build = conv2d_build,
    .infer = conv2d_infer,
    .forward = conv2d_forward,
    .backward = conv2d_backward,
    .config = conv2d_config,
};

zoo_layer *zoo_conv2d(zoo_graph *g, const zoo_conv2d_cfg *cfg)
{
    zoo_conv2d_cfg c = cfg ? *cfg : (zoo_conv2d_cfg){0};
    if (g) { /* a NULL graph keeps the first error of a chain */
        char who[160];
        label(who, sizeof who, "Conv2D", c.name);
        if (c.filters < 1) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "%s: filters must be >= 1, got %d", who, c.filters);
            return NULL;
        }
        conv_window w = WINDOW_OF(&c);
        if (!window_ok(who, &w))
            return NULL;
        memcpy(c.strides, w.strides, sizeof c.strides);
        memcpy(c.dilation, w.dilation, sizeof c.dilation);
    }
    return zoo_layer_create(g, &conv2d_kind, &c, sizeof c, c.name);
}

/* ------------------------------------------------------------------ */
/* DepthwiseConv2D                                                     */
/* ------------------------------------------------------------------ */

/* The (kh, kw, cin, multiplier) kernel shared by depthwise and separable
 * convolutions, with Keras's glorot fans. */
static bool add_depthwise_kernel(zoo_layer *l, const int kernel[2], int cin, int m)
{
    const int rf = kernel[0] * kernel[1];
    return zoo_layer_add_weight(l, "depthwise_kernel", 4,
                                (const int[]){kernel[0], kernel[1], cin, m},
                                ZOO_INIT_GLOROT_UNIFORM, rf * cin, rf * m, true) != NULL;
}

static zoo_status depthwise_build(zoo_layer *l, const zoo_shape *in, int n_in)
{
    (void)n_in;
    const zoo_depthwise_conv2d_cfg *c = l->cfg;
    int cin = input_channels(l, in);
    if (cin < 0)
        return zoo_last_status();
    const int m = c->depth_multiplier;
    if (!add_depthwise_kernel(l, c->kernel, cin, m))
        return zoo_last_status();
    if (!c->no_bias &&
        !zoo_layer_add_weight(l, "bias", 1, (const int[]){cin * m},
                              ZOO_INIT_ZEROS, 0, 0, true))
        return zoo_last_status();
    return ZOO_OK;
}

static zoo_status depthwise_infer(const zoo_layer *l, const zoo_shape *in,
                                  int n_in, zoo_shape *out)
{
    (void)n_in;
    const zoo_depthwise_conv2d_cfg *c = l->cfg;
    conv_window w = WINDOW_OF(c);
    int cout = in->rank == 4 && in->dim[3] > 0
                   ? in->dim[3] * c->depth_multiplier
                   : -1;
    return window_infer(l, &w, in, built_channels(l, "depthwise_kernel"),
                        cout, out);
}

/* The depthwise convolution and bias, before the activation. */
static zoo_status depthwise_linear(const zoo_layer *l, const zoo_tensor *in,
                                   const zoo_conv_geom *g, float *out,
                                   int threads)
{
    const zoo_depthwise_conv2d_cfg *c = l->cfg;
    const zoo_tensor *k = zoo_layer_find_weight(l, "depthwise_kernel");
    const zoo_tensor *b = c->no_bias ? NULL : zoo_layer_find_weight(l, "bias");
    if (!k || (!c->no_bias && !b))
        return unbuilt(l);
    zoo_cpu_depthwise_conv2d(g, zoo_tensor_cdata(in), zoo_tensor_cdata(k),
                             c->depth_multiplier,
                             b ? zoo_tensor_cdata(b) : NULL, out, threads);
    return ZOO_OK;
}

static zoo_status depthwise_forward(const zoo_layer *l,
                                    const zoo_tensor *const *in, int n_in,
                                    zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_depthwise_conv2d_cfg *c = l->cfg;
    conv_window w = WINDOW_OF(c);
    zoo_conv_geom g = window_geom(&w, in[0], out);
    zoo_status st = depthwise_linear(l, in[0], &g, zoo_tensor_data(out),
                                     zoo_exec_threads(ex));
    if (st != ZOO_OK)
        return st;
    zoo_activation_apply(c->activation, zoo_tensor_data(out),
                         zoo_tensor_size(out), g.c * c->depth_multiplier);
    return ZOO_OK;
}

static zoo_status depthwise_backward(const zoo_layer *l,
                                     const zoo_tensor *const *in, int n_in,
                                     const zoo_tensor *out,
                                     const zoo_tensor *dy,
                                     zoo_tensor *const *dx,
                                     zoo_tensor *const *dw,
                                     const zoo_exec *ex, void *saved)
{
    (void)n_in;
    (void)saved;
    const zoo_depthwise_conv2d_cfg *c = l->cfg;
    const zoo_tensor *k = zoo_layer_find_weight(l, "depthwise_kernel");
    if (!k)
        return unbuilt(l);
    float *dk = weight_grad(l, dw, "depthwise_kernel");
    float *db = weight_grad(l, dw, "bias");
    float *dxd = dx[0] ? zoo_tensor_data(dx[0]) : NULL;
    if (!dk && !db && !dxd)
        return ZOO_OK;
    const int threads = zoo_exec_threads(ex);
    conv_window w = WINDOW_OF(c);
    zoo_conv_geom g = window_geom(&w, in[0], out);
    const int mult = c->depth_multiplier;

    float *pre = NULL;
    zoo_status st = ZOO_OK;
    if (c->activation == ZOO_ACT_SWISH) {
        size_t bytes = sizeof *pre * zoo_tensor_size(out);
        if (!(pre = malloc(bytes)))
            return no_memory(l, bytes, "the pre-activation");
        st = depthwise_linear(l, in[0], &g, pre, threads);
    }
    float *dz = NULL;
    if (st == ZOO_OK)
        st = activation_grad(l, c->activation, pre, out, dy, g.c * mult,
                             &dz);
    free(pre);
    if (st != ZOO_OK)
        return st;
    st = zoo_cpu_depthwise_conv2d_backward(
        &g, zoo_tensor_cdata(in[0]), zoo_tensor_cdata(k), mult,
        dz ? dz : zoo_tensor_cdata(dy), dxd, dk, db, threads);
    free(dz);
    return st == ZOO_OK ? ZOO_OK : relabel(l, st);
}

/* Keras 3 DepthwiseConv2D.get_config() (BaseDepthwiseConv). */
static zoo_status depthwise_config(const zoo_layer *l, void *json)
{
    const zoo_depthwise_conv2d_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:i, s:[ii], s:[ii], s:s, s:s, s:[ii], s:s, s:b, s:o, s:o, "
        "s:o, s:n, s:n, s:n, s:n}",
        "depth_multiplier", c->depth_multiplier,
        "kernel_size", c->kernel[0], c->kernel[1],
        "strides", c->strides[0], c->strides[1],
        "padding", zoo_kcfg_padding(c->padding),
        "data_format", "channels_last",
        "dilation_rate", c->dilation[0], c->dilation[1],
        "activation", zoo_kcfg_activation(c->activation),
        "use_bias", (int)!c->no_bias,
        "depthwise_initializer", zoo_kcfg_initializer("GlorotUniform", true),
        "bias_initializer", zoo_kcfg_initializer("Zeros", false),
        "depthwise_regularizer", l2_regularizer(l), "bias_regularizer",
        "activity_regularizer", "depthwise_constraint", "bias_constraint"));
}

static const zoo_layer_kind depthwise_kind = {
    .class_name = "DepthwiseConv2D",
    .auto_prefix = "depthwise_conv2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .build = depthwise_build,
    .infer = depthwise_infer,
    .forward = depthwise_forward,
    .backward = depthwise_backward,
    .config = depthwise_config,
};

static bool multiplier_ok(const char *who, int *m)
{
    *m = zoo_or(*m, 1);
    if (*m < 1) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: depth_multiplier must be >= 1 (0 means 1), got %d",
                  who, *m);
        return false;
    }
    return true;
}

zoo_layer *zoo_depthwise_conv2d(zoo_graph *g,
                                const zoo_depthwise_conv2d_cfg *cfg)
{
    zoo_depthwise_conv2d_cfg c = cfg ? *cfg : (zoo_depthwise_conv2d_cfg){0};
    if (g) {
        char who[160];
        label(who, sizeof who, "DepthwiseConv2D", c.name);
        conv_window w = WINDOW_OF(&c);
        if (!window_ok(who, &w) || !multiplier_ok(who, &c.depth_multiplier))
            return NULL;
        memcpy(c.strides, w.strides, sizeof c.strides);
        memcpy(c.dilation, w.dilation, sizeof c.dilation);
    }
    return zoo_layer_create(g, &depthwise_kind, &c, sizeof c, c.name);
}

/* ------------------------------------------------------------------ */
/* SeparableConv2D: depthwise, then a 1x1 pointwise conv, bias, activation */
/* ------------------------------------------------------------------ */

static zoo_status separable_build(zoo_layer *l, const zoo_shape *in, int n_in)
{
    (void)n_in;
    const zoo_separable_conv2d_cfg *c = l->cfg;
    int cin = input_channels(l, in);
    if (cin < 0)
        return zoo_last_status();
    const int m = c->depth_multiplier;
    if (!add_depthwise_kernel(l, c->kernel, cin, m))
        return zoo_last_status();
    if (!zoo_layer_add_weight(l, "pointwise_kernel", 4,
                              (const int[]){1, 1, cin * m, c->filters},
                              ZOO_INIT_GLOROT_UNIFORM, cin * m, c->filters,
                              true))
        return zoo_last_status();
    if (!c->no_bias &&
        !zoo_layer_add_weight(l, "bias", 1, (const int[]){c->filters},
                              ZOO_INIT_ZEROS, 0, 0, true))
        return zoo_last_status();
    return ZOO_OK;
}

static zoo_status separable_infer(const zoo_layer *l, const zoo_shape *in,
                                  int n_in, zoo_shape *out)
{
    (void)n_in;
    const zoo_separable_conv2d_cfg *c = l->cfg;
    conv_window w = WINDOW_OF(c);
    return window_infer(l, &w, in, built_channels(l, "depthwise_kernel"),
                        c->filters, out);
}

/* The 1x1 pointwise step's geometry over the depthwise result. */
static zoo_conv_geom pointwise_geom(const zoo_conv_geom *g, int cm)
{
    return (zoo_conv_geom){
        .n = g->n, .h = g->oh, .w = g->ow, .c = cm,
        .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1,
        .oh = g->oh, .ow = g->ow,
    };
}

/* Depthwise result of the input (no bias): malloc'd, NULL on failure. The
 * intermediate Keras never materialises as a tensor; it lives only for
 * one call. */
static float *separable_mid(const zoo_layer *l, const zoo_tensor *in,
                            const zoo_conv_geom *g, int threads)
{
    const zoo_separable_conv2d_cfg *c = l->cfg;
    const zoo_tensor *dk = zoo_layer_find_weight(l, "depthwise_kernel");
    size_t bytes = sizeof(float) * (size_t)g->n * g->oh * g->ow * g->c *
                   c->depth_multiplier;
    float *mid = malloc(bytes);
    if (!mid) {
        no_memory(l, bytes, "the depthwise result");
        return NULL;
    }
    zoo_cpu_depthwise_conv2d(g, zoo_tensor_cdata(in), zoo_tensor_cdata(dk),
                             c->depth_multiplier, NULL, mid, threads);
    return mid;
}

/* Pointwise conv of `mid` plus bias, before the activation. */
static zoo_status separable_pointwise(const zoo_layer *l, const float *mid,
                                      const zoo_conv_geom *g, float *out,
                                      int threads)
{
    const zoo_separable_conv2d_cfg *c = l->cfg;
    const zoo_tensor *pk = zoo_layer_find_weight(l, "pointwise_kernel");
    const zoo_tensor *b = c->no_bias ? NULL : zoo_layer_find_weight(l, "bias");
    zoo_conv_geom pg = pointwise_geom(g, g->c * c->depth_multiplier);
    zoo_status st = zoo_cpu_conv2d(&pg, mid, zoo_tensor_cdata(pk), c->filters,
                                   b ? zoo_tensor_cdata(b) : NULL, out,
                                   threads);
    return st == ZOO_OK ? ZOO_OK : relabel(l, st);
}

static bool separable_built(const zoo_layer *l)
{
    const zoo_separable_conv2d_cfg *c = l->cfg;
    return zoo_layer_find_weight(l, "depthwise_kernel") &&
           zoo_layer_find_weight(l, "pointwise_kernel") &&
           (c->no_bias || zoo_layer_find_weight(l, "bias"));
}

static zoo_status separable_forward(const zoo_layer *l,
                                    const zoo_tensor *const *in, int n_in,
                                    zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_separable_conv2d_cfg *c = l->cfg;
    if (!separable_built(l))
        return unbuilt(l);
    const int threads = zoo_exec_threads(ex);
    conv_window w = WINDOW_OF(c);
    zoo_conv_geom g = window_geom(&w, in[0], out);
    float *mid = separable_mid(l, in[0], &g, threads);
    if (!mid)
        return zoo_last_status();
    zoo_status st = separable_pointwise(l, mid, &g, zoo_tensor_data(out),
                                        threads);
    free(mid);
    if (st != ZOO_OK)
        return st;
    zoo_activation_apply(c->activation, zoo_tensor_data(out),
                         zoo_tensor_size(out), c->filters);
    return ZOO_OK;
}

static zoo_status separable_backward(const zoo_layer *l,
                                     const zoo_tensor *const *in, int n_in,
                                     const zoo_tensor *out,
                                     const zoo_tensor *dy,
                                     zoo_tensor *const *dx,
                                     zoo_tensor *const *dw,
                                     const zoo_exec *ex, void *saved)
{
    (void)n_in;
    (void)saved;
    const zoo_separable_conv2d_cfg *c = l->cfg;
    if (!separable_built(l))
        return unbuilt(l);
    const zoo_tensor *dk = zoo_layer_find_weight(l, "depthwise_kernel");
    const zoo_tensor *pk = zoo_layer_find_weight(l, "pointwise_kernel");
    float *ddk = weight_grad(l, dw, "depthwise_kernel");
    float *dpk = weight_grad(l, dw, "pointwise_kernel");
    float *db = weight_grad(l, dw, "bias");
    float *dxd = dx[0] ? zoo_tensor_data(dx[0]) : NULL;
    if (!ddk && !dpk && !db && !dxd)
        return ZOO_OK;
    const int threads = zoo_exec_threads(ex);
    conv_window w = WINDOW_OF(c);
    zoo_conv_geom g = window_geom(&w, in[0], out);
    const int cm = g.c * c->depth_multiplier;
    zoo_conv_geom pg = pointwise_geom(&g, cm);
    const size_t mid_n = (size_t)g.n * g.oh * g.ow * cm;
    const bool swish = c->activation == ZOO_ACT_SWISH;

    /* The depthwise result feeds the pointwise kernel's gradient (and the
     * pre-activation swish needs): recompute it. */
    float *mid = NULL, *pre = NULL, *dz = NULL, *dmid = NULL;
    zoo_status st = ZOO_OK;
    if (dpk || swish) {
        if (!(mid = separable_mid(l, in[0], &g, threads)))
            return zoo_last_status();
    }
    if (swish) {
        size_t bytes = sizeof *pre * zoo_tensor_size(out);
        if (!(pre = malloc(bytes)))
            st = no_memory(l, bytes, "the pre-activation");
        else
            st = separable_pointwise(l, mid, &g, pre, threads);
    }
    if (st == ZOO_OK)
        st = activation_grad(l, c->activation, pre, out, dy, c->filters,
                             &dz);
    free(pre);
    /* The depthwise step's output gradient, only if someone upstream of
     * it wants a gradient; it accumulates, so it starts at zero. */
    if (st == ZOO_OK && (ddk || dxd) &&
        !(dmid = calloc(mid_n, sizeof *dmid)))
        st = no_memory(l, sizeof *dmid * mid_n, "the depthwise gradient");
    /* Pointwise step: bias, pointwise kernel and dmid. */
    if (st == ZOO_OK) {
        st = zoo_cpu_conv2d_backward(&pg, mid, zoo_tensor_cdata(pk),
                                     c->filters,
                                     dz ? dz : zoo_tensor_cdata(dy), dmid,
                                     dpk, db, threads);
        if (st != ZOO_OK)
            st = relabel(l, st);
    }
    free(dz);
    free(mid);
    /* Depthwise step: its kernel and the input. */
    if (st == ZOO_OK && dmid) {
        st = zoo_cpu_depthwise_conv2d_backward(
            &g, zoo_tensor_cdata(in[0]), zoo_tensor_cdata(dk),
            c->depth_multiplier, dmid, dxd, ddk, NULL, threads);
        if (st != ZOO_OK)
            st = relabel(l, st);
    }
    free(dmid);
    return st;
}

/* Keras 3 SeparableConv2D.get_config() (BaseSeparableConv). */
static zoo_status separable_config(const zoo_layer *l, void *json)
{
    const zoo_separable_conv2d_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:i, s:i, s:[ii], s:[ii], s:s, s:s, s:[ii], s:s, s:b, s:o, s:o, "
        "s:o, s:o, s:o, s:n, s:n, s:n, s:n, s:n}",
        "depth_multiplier", c->depth_multiplier, "filters", c->filters,
        "kernel_size", c->kernel[0], c->kernel[1],
        "strides", c->strides[0], c->strides[1],
        "padding", zoo_kcfg_padding(c->padding),
        "data_format", "channels_last",
        "dilation_rate", c->dilation[0], c->dilation[1],
        "activation", zoo_kcfg_activation(c->activation),
        "use_bias", (int)!c->no_bias,
        "depthwise_initializer", zoo_kcfg_initializer("GlorotUniform", true),
        "pointwise_initializer", zoo_kcfg_initializer("GlorotUniform", true),
        "bias_initializer", zoo_kcfg_initializer("Zeros", false),
        "depthwise_regularizer", l2_regularizer(l),
        "pointwise_regularizer", l2_regularizer(l), "bias_regularizer",
        "activity_regularizer", "depthwise_constraint",
        "pointwise_constraint", "bias_constraint"));
}

static const zoo_layer_kind separable_kind = {
    .class_name = "SeparableConv2D",
    .auto_prefix = "separable_conv2d",
    .min_inputs = 1,
    .max_inputs = 1,
    .build = separable_build,
    .infer = separable_infer,
    .forward = separable_forward,
    .backward = separable_backward,
    .config = separable_config,
};

zoo_layer *zoo_separable_conv2d(zoo_graph *g,
                                const zoo_separable_conv2d_cfg *cfg)
{
    zoo_separable_conv2d_cfg c = cfg ? *cfg : (zoo_separable_conv2d_cfg){0};
    if (g) {
        char who[160];
        label(who, sizeof who, "SeparableConv2D", c.name);
        if (c.filters < 1) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "%s: filters must be >= 1, got %d", who, c.filters);
            return NULL;
        }
        conv_window w = WINDOW_OF(&c);
        if (!window_ok(who, &w) || !multiplier_ok(who, &c.depth_multiplier))
            return NULL;
        memcpy(c.strides, w.strides, sizeof c.strides);
        memcpy(c.dilation, w.dilation, sizeof c.dilation);
    }
    return zoo_layer_create(g, &separable_kind, &c, sizeof c, c.name);
}
