/*
 * zoo_model_from_json: Keras's model_from_json for the layer classes zoo
 * has. It reads everything engine/keras_config.c writes (Keras 3:
 * "Functional" with {"args": [...], "kwargs": {}} inbound nodes whose
 * tensors are {"class_name": "__keras_tensor__", "config":
 * {"keras_history": [layer, node, 0]}}; "Sequential" with its InputLayer
 * first) and tf.keras 2's format ("Functional" or "Model" with inbound
 * nodes [[["layer", node, 0, {}], ...]] and InputLayers with
 * "batch_input_shape"; "Sequential" with batch_input_shape on its first
 * layer).
 *
 * Layers are made with the public constructors, so every check they make
 * applies, then called node by node as Keras's functional_from_config
 * does: each layer's nodes in order, each after the nodes it reads
 * (whatever the order of the layer list), so call k of a layer is its
 * node k. Anything zoo cannot honour (channels_first, groups, a
 * constraint, a non-L2 regularizer, ...) is an error naming the layer.
 *
 * The JSON may be hostile: every value is type- and range-checked, and
 * sizes are bounded before anything is allocated (layer and node counts,
 * window sizes, values per tensor, weights in all), so that no product in
 * the layers' shape arithmetic can overflow and no config can ask for an
 * absurd allocation.
 */
#define _GNU_SOURCE /* qsort_r */
#include "engine/keras_from_config.h"
#include "engine/model.h"

#include <float.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds on what a config may ask for (the largest Keras applications
 * have about 1,000 layers and 150 million weights). */
#define MAX_LAYERS 20000
#define MAX_NODES 20000          /* layer calls in all */
#define MAX_VALUES (1LL << 30)   /* per-sample values of a tensor; weights */
#define MAX_WINDOW 4096          /* kernel, stride, dilation, pool */
#define MAX_PAD (1 << 20)        /* padding and cropping */

/* One entry of the config's layer list. */
typedef struct {
    const char *name;
    const char *cls;
    json_t *cfg;        /* the layer's config object */
    json_t *inbound;    /* Functional: inbound_nodes (may be NULL) */
    zoo_layer *layer;
    bool is_input;
    int bn_axis;        /* BatchNormalization: the axis as written */
    int first_node;     /* its nodes' ids: first_node .. + n_nodes - 1 */
    int n_nodes;
} entry;

/* One call of a layer (an inbound node), or an InputLayer's tensor. */
typedef struct {
    int entry, k;       /* node k of entry */
    int *in;            /* ids of the nodes whose outputs it takes */
    int n_in;
    zoo_sym *out;
} node;

typedef struct {
    zoo_graph *g;
    bool legacy;        /* tf.keras 2's format */
    entry *e;
    int n;
    int *by_name;       /* entry indices sorted by name */
    node *nodes;
    int n_nodes;
    double weights;     /* weight values created so far */
} builder;

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static zoo_status lerr(const entry *e, zoo_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An error about one layer: "model config: layer 'conv1' (Conv2D): ...". */
static zoo_status lerr(const entry *e, zoo_status st, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return zoo_error(st, "model config: layer '%.200s' (%.100s): %s", e->name,
                     e->cls, msg);
}

/* ------------------------------------------------------------------ */
/* Reading config values                                               */
/* ------------------------------------------------------------------ */

/* The value of `key`, or NULL when absent or null. */
static json_t *opt(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

/* Keras 3 may wrap a tuple as {"class_name": "__tuple__", "config":
 * {"value": [...]}}. */
static json_t *untuple(json_t *v)
{
    if (json_is_object(v)) {
        json_t *c = json_object_get(v, "class_name");
        if (json_is_string(c) && strcmp(json_string_value(c), "__tuple__") == 0)
            return json_object_get(json_object_get(v, "config"), "value");
    }
    return v;
}

static zoo_status int_value(const entry *e, const char *key, json_t *v,
                            long long lo, long long hi, int *out)
{
    if (!json_is_integer(v))
        return lerr(e, ZOO_ERR_FORMAT, "'%s' must be an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return lerr(e, ZOO_ERR_FORMAT, "'%s' is %lld; zoo takes %lld to %lld",
                    key, x, lo, hi);
    *out = (int)x;
    return ZOO_OK;
}

static zoo_status get_int(const entry *e, const char *key, bool required,
                          int dflt, long long lo, long long hi, int *out)
{
    json_t *v = opt(e->cfg, key);
    if (!v) {
        if (required)
            return lerr(e, ZOO_ERR_FORMAT, "'%s' is missing", key);
        *out = dflt;
        return ZOO_OK;
    }
    return int_value(e, key, v, lo, hi, out);
}

/* A float32 config value (JSON integer or real). */
static zoo_status get_real(const entry *e, const char *key, bool required,
                           double dflt, float *out)
{
    json_t *v = opt(e->cfg, key);
    if (!v) {
        if (required)
            return lerr(e, ZOO_ERR_FORMAT, "'%s' is missing", key);
        *out = (float)dflt;
        return ZOO_OK;
    }
    if (!json_is_number(v))
        return lerr(e, ZOO_ERR_FORMAT, "'%s' must be a number", key);
    double x = json_number_value(v);
    if (!isfinite(x) || fabs(x) > FLT_MAX)
        return lerr(e, ZOO_ERR_FORMAT, "'%s' (%g) is not a finite float32",
                    key, x);
    *out = (float)x;
    return ZOO_OK;
}

static zoo_status get_bool(const entry *e, const char *key, bool dflt,
                           bool *out)
{
    json_t *v = opt(e->cfg, key);
    if (!v) {
        *out = dflt;
        return ZOO_OK;
    }
    if (!json_is_boolean(v))
        return lerr(e, ZOO_ERR_FORMAT, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return ZOO_OK;
}

/* An (rows, cols) pair: an integer for both, or a list of two. */
static zoo_status get_pair(const entry *e, const char *key, bool required,
                           int dflt, int lo, int hi, int out[2])
{
    json_t *v = untuple(opt(e->cfg, key));
    if (!v) {
        if (required)
            return lerr(e, ZOO_ERR_FORMAT, "'%s' is missing", key);
        out[0] = out[1] = dflt;
        return ZOO_OK;
    }
    if (json_is_integer(v)) {
        out[0] = out[1] = dflt;
        zoo_status st = int_value(e, key, v, lo, hi, &out[0]);
        out[1] = out[0];
        return st;
    }
    if (!json_is_array(v) || json_array_size(v) != 2)
        return lerr(e, ZOO_ERR_FORMAT,
                    "'%s' must be an integer or a list of two", key);
    for (int i = 0; i < 2; i++) {
        zoo_status st = int_value(e, key, json_array_get(v, (size_t)i), lo,
                                  hi, &out[i]);
        if (st != ZOO_OK)
            return st;
    }
    return ZOO_OK;
}

/* ZeroPadding2D / Cropping2D amounts: n, (rows, cols) or ((top, bottom),
 * (left, right)), as Keras accepts them. */
static zoo_status get_pad4(const entry *e, const char *key, int dflt,
                           int out[4])
{
    json_t *v = untuple(opt(e->cfg, key));
    if (!v) {
        out[0] = out[1] = out[2] = out[3] = dflt;
        return ZOO_OK;
    }
    if (json_is_integer(v)) {
        zoo_status st = int_value(e, key, v, 0, MAX_PAD, &out[0]);
        out[1] = out[2] = out[3] = out[0];
        return st;
    }
    if (!json_is_array(v) || json_array_size(v) != 2)
        return lerr(e, ZOO_ERR_FORMAT,
                    "'%s' must be an integer, a pair, or a pair of pairs",
                    key);
    for (int a = 0; a < 2; a++) {
        json_t *p = untuple(json_array_get(v, (size_t)a));
        zoo_status st;
        if (json_is_integer(p)) {
            st = int_value(e, key, p, 0, MAX_PAD, &out[2 * a]);
            out[2 * a + 1] = out[2 * a];
        } else if (json_is_array(p) && json_array_size(p) == 2) {
            st = int_value(e, key, json_array_get(p, 0), 0, MAX_PAD,
                           &out[2 * a]);
            if (st == ZOO_OK)
                st = int_value(e, key, json_array_get(p, 1), 0, MAX_PAD,
                               &out[2 * a + 1]);
        } else {
            st = lerr(e, ZOO_ERR_FORMAT,
                      "'%s' must be an integer, a pair, or a pair of pairs",
                      key);
        }
        if (st != ZOO_OK)
            return st;
    }
    return ZOO_OK;
}

static zoo_status get_padding(const entry *e, zoo_padding *out)
{
    json_t *v = opt(e->cfg, "padding");
    *out = ZOO_PAD_VALID;
    if (!v)
        return ZOO_OK;
    if (!json_is_string(v))
        return lerr(e, ZOO_ERR_FORMAT, "'padding' must be \"valid\" or \"same\"");
    const char *p = json_string_value(v);
    if (strcasecmp(p, "same") == 0)
        *out = ZOO_PAD_SAME;
    else if (strcasecmp(p, "valid") != 0)
        return lerr(e, ZOO_ERR_UNSUPPORTED,
                    "padding '%.40s' is not supported (\"valid\" or \"same\")",
                    p);
    return ZOO_OK;
}

static zoo_status check_format(const entry *e)
{
    json_t *v = opt(e->cfg, "data_format");
    if (!v)
        return ZOO_OK;
    if (!json_is_string(v))
        return lerr(e, ZOO_ERR_FORMAT, "'data_format' must be a string");
    if (strcmp(json_string_value(v), "channels_last") != 0)
        return lerr(e, ZOO_ERR_UNSUPPORTED,
                    "data_format '%.40s' is not supported: zoo runs "
                    "channels_last (NHWC) only; rebuild the model with "
                    "channels_last layers",
                    json_string_value(v));
    return ZOO_OK;
}

/* Options zoo does not implement must be absent, null (or false). */
static zoo_status check_unset(const entry *e, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = opt(e->cfg, *keys);
        if (v && !json_is_false(v))
            return lerr(e, ZOO_ERR_UNSUPPORTED,
                        "'%s' is set; zoo does not support it (save the "
                        "model without it)",
                        *keys);
    }
    return ZOO_OK;
}

/* The layer's dtype policy: float32 (or a mixed policy, whose variables
 * are float32). */
static zoo_status check_dtype(const entry *e)
{
    json_t *v = opt(e->cfg, "dtype");
    if (json_is_object(v)) /* Keras 3 DTypePolicy */
        v = opt(json_object_get(v, "config"), "name");
    if (!v)
        return ZOO_OK;
    const char *d = json_is_string(v) ? json_string_value(v) : NULL;
    if (d && (strcmp(d, "float32") == 0 || strcmp(d, "mixed_float16") == 0 ||
              strcmp(d, "mixed_bfloat16") == 0))
        return ZOO_OK;
    return lerr(e, ZOO_ERR_UNSUPPORTED,
                "dtype %.40s%s%s is not supported: zoo computes in float32",
                d ? "'" : "", d ? d : "(not a string)", d ? "'" : "");
}

static zoo_status get_activation(const builder *b, const entry *e,
                                 const char *key, zoo_activation *out)
{
    json_t *v = opt(e->cfg, key);
    *out = ZOO_ACT_LINEAR;
    if (!v)
        return ZOO_OK;
    /* Keras 3 may serialize a function as {"class_name": "function",
     * "config": "relu", ...}. */
    if (json_is_object(v))
        v = json_object_get(v, "config");
    if (!json_is_string(v))
        return lerr(e, ZOO_ERR_FORMAT,
                    "'%s' must be an activation name such as \"relu\"", key);
    const char *name = json_string_value(v);
    if (b->legacy && strcmp(name, "hard_sigmoid") == 0)
        return lerr(e, ZOO_ERR_UNSUPPORTED,
                    "tf.keras 2's hard_sigmoid (clip(0.2 x + 0.5, 0, 1)) "
                    "differs from Keras 3's relu6(x + 3) / 6, which is the "
                    "one zoo implements");
    int a = zoo_activation_parse(name);
    if (a < 0)
        return lerr(e, ZOO_ERR_UNSUPPORTED,
                    "activation '%.60s' is not supported (zoo has linear, "
                    "relu, relu6, sigmoid, tanh, softmax, swish/silu, "
                    "hard_sigmoid)",
                    name);
    *out = (zoo_activation)a;
    return ZOO_OK;
}

/* A kernel regularizer: none, or L2 (Keras 3 {"class_name": "L2",
 * "config": {"l2": x}}, tf.keras 2 also "L1L2" with l1 = 0, or "l2"). */
static zoo_status get_l2(const entry *e, const char *key, float *out)
{
    json_t *v = opt(e->cfg, key);
    *out = 0.0f;
    if (!v)
        return ZOO_OK;
    double l1 = 0.0, l2 = 0.01; /* Keras's L2() default */
    const char *cls = NULL;
    if (json_is_string(v)) {
        cls = json_string_value(v);
        if (strcasecmp(cls, "l2") != 0)
            cls = NULL;
    } else if (json_is_object(v)) {
        json_t *c = json_object_get(v, "class_name");
        json_t *cfg = json_object_get(v, "config");
        cls = json_is_string(c) ? json_string_value(c) : "?";
        json_t *x = opt(cfg, "l2");
        json_t *y = opt(cfg, "l1");
        if (strcmp(cls, "L1L2") == 0)
            l2 = 0.0;
        if ((x && !json_is_number(x)) || (y && !json_is_number(y)))
            return lerr(e, ZOO_ERR_FORMAT, "'%s': l1 and l2 must be numbers",
                        key);
        if (x)
            l2 = json_number_value(x);
        if (y)
            l1 = json_number_value(y);
        if (strcmp(cls, "L2") != 0 && strcmp(cls, "L1L2") != 0)
            cls = NULL;
    } else {
        return lerr(e, ZOO_ERR_FORMAT, "'%s' must be a regularizer object",
                    key);
    }
    if (!cls || l1 != 0.0)
        return lerr(e, ZOO_ERR_UNSUPPORTED,
                    "'%s' is not an L2 regularizer; zoo supports L2 kernel "
                    "regularizers only",
                    key);
    if (!isfinite(l2) || l2 < 0.0 || l2 > FLT_MAX)
        return lerr(e, ZOO_ERR_FORMAT,
                    "'%s': the L2 factor %g must be a finite value >= 0", key,
                    l2);
    *out = (float)l2;
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* Layers                                                              */
/* ------------------------------------------------------------------ */

/* Fields every convolution shares. */
typedef struct {
    int kernel[2], strides[2], dilation[2];
    zoo_padding padding;
    zoo_activation activation;
    bool no_bias;
} conv_common;

static zoo_status read_conv(const builder *b, const entry *e, conv_common *c)
{
    static const char *const unset[] = {
        "bias_regularizer", "activity_regularizer", "kernel_constraint",
        "bias_constraint", "depthwise_constraint", "pointwise_constraint",
        "lora_rank", NULL};
    bool use_bias = true;
    zoo_status st;
    if ((st = get_pair(e, "kernel_size", true, 0, 1, MAX_WINDOW, c->kernel)) ||
        (st = get_pair(e, "strides", false, 1, 1, MAX_WINDOW, c->strides)) ||
        (st = get_pair(e, "dilation_rate", false, 1, 1, MAX_WINDOW,
                       c->dilation)) ||
        (st = get_padding(e, &c->padding)) || (st = check_format(e)) ||
        (st = get_activation(b, e, "activation", &c->activation)) ||
        (st = get_bool(e, "use_bias", true, &use_bias)) ||
        (st = check_unset(e, unset)))
        return st;
    int groups = 1;
    if ((st = get_int(e, "groups", false, 1, 1, INT_MAX, &groups)))
        return st;
    if (groups != 1)
        return lerr(e, ZOO_ERR_UNSUPPORTED,
                    "groups=%d is not supported (zoo has groups=1 only)",
                    groups);
    c->no_bias = !use_bias;
    return ZOO_OK;
}

static zoo_layer *with_l2(const entry *e, zoo_layer *l, float l2)
{
    if (l && l2 > 0.0f && zoo_layer_set_kernel_l2(l, l2) != ZOO_OK) {
        lerr(e, zoo_last_status(), "cannot set its L2 regularizer: %s",
             zoo_last_error());
        return NULL;
    }
    return l;
}

static zoo_layer *make_conv2d(builder *b, entry *e)
{
    conv_common c = {0};
    zoo_conv2d_cfg cfg = {.name = e->name};
    float l2;
    if (read_conv(b, e, &c) ||
        get_int(e, "filters", true, 0, 1, MAX_VALUES, &cfg.filters) ||
        get_l2(e, "kernel_regularizer", &l2))
        return NULL;
    memcpy(cfg.kernel, c.kernel, sizeof cfg.kernel);
    memcpy(cfg.strides, c.strides, sizeof cfg.strides);
    memcpy(cfg.dilation, c.dilation, sizeof cfg.dilation);
    cfg.padding = c.padding;
    cfg.activation = c.activation;
    cfg.no_bias = c.no_bias;
    return with_l2(e, zoo_conv2d(b->g, &cfg), l2);
}

static zoo_layer *make_depthwise(builder *b, entry *e)
{
    conv_common c = {0};
    zoo_depthwise_conv2d_cfg cfg = {.name = e->name};
    float l2;
    if (read_conv(b, e, &c) ||
        get_int(e, "depth_multiplier", false, 1, 1, MAX_VALUES,
                &cfg.depth_multiplier) ||
        get_l2(e, "depthwise_regularizer", &l2))
        return NULL;
    memcpy(cfg.kernel, c.kernel, sizeof cfg.kernel);
    memcpy(cfg.strides, c.strides, sizeof cfg.strides);
    memcpy(cfg.dilation, c.dilation, sizeof cfg.dilation);
    cfg.padding = c.padding;
    cfg.activation = c.activation;
    cfg.no_bias = c.no_bias;
    return with_l2(e, zoo_depthwise_conv2d(b->g, &cfg), l2);
}

static zoo_layer *make_separable(builder *b, entry *e)
{
    conv_common c = {0};
    zoo_separable_conv2d_cfg cfg = {.name = e->name};
    float l2_dw, l2_pw;
    if (read_conv(b, e, &c) ||
        get_int(e, "filters", true, 0, 1, MAX_VALUES, &cfg.filters) ||
        get_int(e, "depth_multiplier", false, 1, 1, MAX_VALUES,
                &cfg.depth_multiplier) ||
        get_l2(e, "depthwise_regularizer", &l2_dw) ||
        get_l2(e, "pointwise_regularizer", &l2_pw))
        return NULL;
    /* zoo's kernel L2 covers both kernels at one factor. */
    if (l2_dw != l2_pw) {
        lerr(e, ZOO_ERR_UNSUPPORTED,
             "depthwise and pointwise regularizers differ (L2 %g and %g); "
             "zoo applies one L2 factor to both kernels",
             (double)l2_dw, (double)l2_pw);
        return NULL;
    }
    memcpy(cfg.kernel, c.kernel, sizeof cfg.kernel);
    memcpy(cfg.strides, c.strides, sizeof cfg.strides);
    memcpy(cfg.dilation, c.dilation, sizeof cfg.dilation);
    cfg.padding = c.padding;
    cfg.activation = c.activation;
    cfg.no_bias = c.no_bias;
    return with_l2(e, zoo_separable_conv2d(b->g, &cfg), l2_dw);
}

static zoo_layer *make_dense(builder *b, entry *e)
{
    static const char *const unset[] = {
        "bias_regularizer", "activity_regularizer", "kernel_constraint",
        "bias_constraint", "lora_rank", NULL};
    zoo_dense_cfg cfg = {.name = e->name};
    bool use_bias = true;
    float l2;
    if (get_int(e, "units", true, 0, 1, MAX_VALUES, &cfg.units) ||
        get_activation(b, e, "activation", &cfg.activation) ||
        get_bool(e, "use_bias", true, &use_bias) ||
        get_l2(e, "kernel_regularizer", &l2) || check_unset(e, unset))
        return NULL;
    cfg.no_bias = !use_bias;
    return with_l2(e, zoo_dense(b->g, &cfg), l2);
}

static zoo_layer *make_batch_norm(builder *b, entry *e)
{
    static const char *const unset[] = {
        "beta_regularizer", "gamma_regularizer", "beta_constraint",
        "gamma_constraint", "renorm", "virtual_batch_size", "adjustment",
        NULL};
    zoo_batch_norm_cfg cfg = {.name = e->name};
    bool center = true, scale = true;
    if (get_real(e, "momentum", false, 0.99, &cfg.momentum) ||
        get_real(e, "epsilon", false, 1e-3, &cfg.epsilon) ||
        get_bool(e, "center", true, &center) ||
        get_bool(e, "scale", true, &scale) || check_unset(e, unset))
        return NULL;
    /* The axis is checked against the input's rank when it is called. */
    json_t *axis = untuple(opt(e->cfg, "axis"));
    if (json_is_array(axis) && json_array_size(axis) == 1)
        axis = json_array_get(axis, 0); /* tf.keras 2 writes [3] */
    if (axis && !json_is_integer(axis)) {
        lerr(e, ZOO_ERR_UNSUPPORTED,
             "'axis' must be one integer (zoo normalizes one axis, the "
             "last)");
        return NULL;
    }
    if (axis && int_value(e, "axis", axis, -ZOO_MAX_RANK, ZOO_MAX_RANK - 1,
                          &e->bn_axis))
        return NULL;
    /* zoo's config reads 0 as "Keras's default", so a literal 0 cannot
     * be honoured. */
    if (!(cfg.epsilon > 0.0f)) {
        lerr(e, ZOO_ERR_FORMAT, "epsilon %g must be > 0", (double)cfg.epsilon);
        return NULL;
    }
    if (cfg.momentum == 0.0f) {
        lerr(e, ZOO_ERR_UNSUPPORTED, "momentum 0 is not supported");
        return NULL;
    }
    cfg.no_center = !center;
    cfg.no_scale = !scale;
    return zoo_batch_norm(b->g, &cfg);
}

static zoo_layer *make_activation(builder *b, entry *e)
{
    zoo_activation_cfg cfg = {.name = e->name};
    if (get_activation(b, e, "activation", &cfg.activation))
        return NULL;
    return zoo_activation_layer(b->g, &cfg);
}

static zoo_layer *make_relu(builder *b, entry *e)
{
    zoo_relu_cfg cfg = {.name = e->name};
    if (get_real(e, "max_value", false, 0.0, &cfg.max_value) ||
        get_real(e, "negative_slope", false, 0.0, &cfg.negative_slope) ||
        get_real(e, "threshold", false, 0.0, &cfg.threshold))
        return NULL;
    /* zoo reads max_value <= 0 as "no ceiling" (Keras's None). */
    if (opt(e->cfg, "max_value") && !(cfg.max_value > 0.0f)) {
        lerr(e, ZOO_ERR_UNSUPPORTED,
             "max_value %g is not supported (a ceiling > 0, or null for "
             "none)",
             (double)cfg.max_value);
        return NULL;
    }
    return zoo_relu(b->g, &cfg);
}

static zoo_layer *make_pool(builder *b, entry *e)
{
    zoo_pool2d_cfg cfg = {.name = e->name};
    if (get_pair(e, "pool_size", false, 2, 1, MAX_WINDOW, cfg.pool) ||
        /* strides null: the pool size (zoo's 0) */
        get_pair(e, "strides", false, 0, 1, MAX_WINDOW, cfg.strides) ||
        get_padding(e, &cfg.padding) || check_format(e))
        return NULL;
    return strcmp(e->cls, "MaxPooling2D") == 0 ? zoo_max_pool2d(b->g, &cfg)
                                               : zoo_avg_pool2d(b->g, &cfg);
}

static zoo_layer *make_global_pool(builder *b, entry *e)
{
    zoo_global_pool2d_cfg cfg = {.name = e->name};
    if (check_format(e) || get_bool(e, "keepdims", false, &cfg.keepdims))
        return NULL;
    return strcmp(e->cls, "GlobalMaxPooling2D") == 0
               ? zoo_global_max_pool2d(b->g, &cfg)
               : zoo_global_avg_pool2d(b->g, &cfg);
}

static zoo_layer *make_zero_padding(builder *b, entry *e)
{
    zoo_padding2d_cfg cfg = {.name = e->name};
    if (get_pad4(e, "padding", 1, cfg.pad) || check_format(e))
        return NULL;
    /* zoo reads an all-zero padding as Keras's default (1 each). */
    if (!cfg.pad[0] && !cfg.pad[1] && !cfg.pad[2] && !cfg.pad[3]) {
        lerr(e, ZOO_ERR_UNSUPPORTED,
             "a padding of zero everywhere is not supported (remove the "
             "layer: it changes nothing)");
        return NULL;
    }
    return zoo_zero_padding2d(b->g, &cfg);
}

static zoo_layer *make_cropping(builder *b, entry *e)
{
    zoo_cropping2d_cfg cfg = {.name = e->name};
    if (get_pad4(e, "cropping", 0, cfg.crop) || check_format(e))
        return NULL;
    return zoo_cropping2d(b->g, &cfg);
}

static zoo_layer *make_flatten(builder *b, entry *e)
{
    if (check_format(e))
        return NULL;
    return zoo_flatten(b->g, &(zoo_named_cfg){.name = e->name});
}

static zoo_layer *make_reshape(builder *b, entry *e)
{
    zoo_reshape_cfg cfg = {.name = e->name};
    json_t *t = untuple(opt(e->cfg, "target_shape"));
    size_t n = json_array_size(t);
    if (!json_is_array(t) || n < 1 || n > ZOO_MAX_RANK - 1) {
        lerr(e, ZOO_ERR_FORMAT,
             "'target_shape' must be a list of 1 to %d sizes",
             ZOO_MAX_RANK - 1);
        return NULL;
    }
    long long values = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(t, i);
        if (json_is_null(d)) { /* Keras 3 keeps None as -1's meaning */
            cfg.shape[i] = -1;
            continue;
        }
        if (int_value(e, "target_shape", d, -1, MAX_VALUES, &cfg.shape[i]))
            return NULL;
        if (cfg.shape[i] > 0)
            values *= cfg.shape[i];
        if (values > MAX_VALUES) {
            lerr(e, ZOO_ERR_FORMAT,
                 "'target_shape' holds more than %lld values", MAX_VALUES);
            return NULL;
        }
    }
    cfg.rank = (int)n;
    return zoo_reshape(b->g, &cfg);
}

static zoo_layer *make_dropout(builder *b, entry *e)
{
    static const char *const unset[] = {"noise_shape", NULL};
    zoo_dropout_cfg cfg = {.name = e->name};
    json_t *seed = opt(e->cfg, "seed");
    if (get_real(e, "rate", true, 0.0, &cfg.rate) || check_unset(e, unset))
        return NULL;
    if (seed) {
        if (!json_is_integer(seed) || json_integer_value(seed) < 0) {
            lerr(e, ZOO_ERR_FORMAT, "'seed' must be null or an integer >= 0");
            return NULL;
        }
        cfg.seed = (unsigned long long)json_integer_value(seed);
    }
    return zoo_dropout(b->g, &cfg);
}

static zoo_layer *make_add(builder *b, entry *e)
{
    return zoo_add(b->g, &(zoo_named_cfg){.name = e->name});
}

static zoo_layer *make_multiply(builder *b, entry *e)
{
    return zoo_multiply(b->g, &(zoo_named_cfg){.name = e->name});
}

static zoo_layer *make_concatenate(builder *b, entry *e)
{
    zoo_concat_cfg cfg = {.name = e->name};
    if (get_int(e, "axis", false, -1, -ZOO_MAX_RANK, ZOO_MAX_RANK, &cfg.axis))
        return NULL;
    /* zoo reads axis 0 as "the last"; the batch axis cannot be joined. */
    if (cfg.axis == 0) {
        lerr(e, ZOO_ERR_UNSUPPORTED,
             "axis 0 (the batch axis) cannot be concatenated");
        return NULL;
    }
    return zoo_concatenate(b->g, &cfg);
}

static zoo_layer *make_scaled_sum(builder *b, entry *e)
{
    zoo_scaled_sum_cfg cfg = {.name = e->name};
    if (get_real(e, "scale", true, 0.0, &cfg.scale))
        return NULL;
    return zoo_scaled_sum(b->g, &cfg);
}

typedef zoo_layer *(*maker)(builder *b, entry *e);

static const struct {
    const char *cls;
    maker make;
} makers[] = {
    {"Conv2D", make_conv2d},
    {"DepthwiseConv2D", make_depthwise},
    {"SeparableConv2D", make_separable},
    {"Dense", make_dense},
    {"BatchNormalization", make_batch_norm},
    {"Activation", make_activation},
    {"ReLU", make_relu},
    {"MaxPooling2D", make_pool},
    {"AveragePooling2D", make_pool},
    {"GlobalAveragePooling2D", make_global_pool},
    {"GlobalMaxPooling2D", make_global_pool},
    {"ZeroPadding2D", make_zero_padding},
    {"Cropping2D", make_cropping},
    {"Flatten", make_flatten},
    {"Reshape", make_reshape},
    {"Dropout", make_dropout},
    {"Add", make_add},
    {"Multiply", make_multiply},
    {"Concatenate", make_concatenate},
    {"CustomScaleLayer", make_scaled_sum},
};

/* The input shape of an InputLayer (batch_shape / batch_input_shape), or
 * of a Sequential model: the batch entry is ignored, None is -1. */
static zoo_status read_batch_shape(const entry *e, const char *key,
                                   json_t *v, int *rank, int *shape)
{
    v = untuple(v);
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n < 2 || n > ZOO_MAX_RANK)
        return lerr(e, ZOO_ERR_FORMAT,
                    "'%s' must be a list of 2 to %d sizes (the batch "
                    "first)",
                    key, ZOO_MAX_RANK);
    json_t *batch = json_array_get(v, 0);
    if (!json_is_null(batch) && !json_is_integer(batch))
        return lerr(e, ZOO_ERR_FORMAT, "'%s': the batch size must be null or "
                    "an integer", key);
    long long values = 1;
    for (size_t i = 1; i < n; i++) {
        json_t *d = json_array_get(v, i);
        int x = -1;
        if (!json_is_null(d) && int_value(e, key, d, 1, MAX_VALUES, &x))
            return zoo_last_status();
        shape[i - 1] = x;
        if (x > 0)
            values *= x;
        if (values > MAX_VALUES)
            return lerr(e, ZOO_ERR_FORMAT, "'%s' holds more than %lld values "
                        "per sample", key, MAX_VALUES);
    }
    *rank = (int)n - 1;
    return ZOO_OK;
}

/* An InputLayer: its tensor is its node 0. */
static zoo_sym *make_input(builder *b, entry *e)
{
    static const char *const unset[] = {"sparse", "ragged", NULL};
    const char *key = opt(e->cfg, "batch_shape") ? "batch_shape"
                                                 : "batch_input_shape";
    int rank, shape[ZOO_MAX_RANK];
    if (check_unset(e, unset) || check_dtype(e))
        return NULL;
    if (!opt(e->cfg, key)) {
        lerr(e, ZOO_ERR_FORMAT, "'batch_shape' is missing");
        return NULL;
    }
    if (read_batch_shape(e, key, opt(e->cfg, key), &rank, shape))
        return NULL;
    zoo_sym *x = zoo_input(b->g, rank, shape, e->name);
    if (x)
        e->layer = zoo_sym_layer(x);
    return x;
}

/* Makes the layer of a non-input entry. */
static zoo_status make_layer(builder *b, entry *e)
{
    maker make = NULL;
    for (size_t i = 0; i < sizeof makers / sizeof makers[0] && !make; i++)
        if (strcmp(makers[i].cls, e->cls) == 0)
            make = makers[i].make;
    if (!make) {
        if (!strcmp(e->cls, "Functional") || !strcmp(e->cls, "Model") ||
            !strcmp(e->cls, "Sequential"))
            return lerr(e, ZOO_ERR_UNSUPPORTED,
                        "a model nested as a layer is not supported; zoo "
                        "reads flat models (in Keras, rebuild it without "
                        "the nested model, or load its weights into a zoo "
                        "model with zoo_model_load_weights)");
        return lerr(e, ZOO_ERR_UNSUPPORTED,
                    "zoo cannot build this layer class; it knows InputLayer, "
                    "Conv2D, DepthwiseConv2D, SeparableConv2D, Dense, "
                    "BatchNormalization, Activation, ReLU, MaxPooling2D, "
                    "AveragePooling2D, GlobalAveragePooling2D, "
                    "GlobalMaxPooling2D, ZeroPadding2D, Cropping2D, Flatten, "
                    "Reshape, Dropout, Add, Multiply, Concatenate and "
                    "CustomScaleLayer");
    }
    bool trainable = true;
    zoo_status st = check_dtype(e);
    if (st == ZOO_OK)
        st = get_bool(e, "trainable", true, &trainable);
    if (st != ZOO_OK)
        return st;
    e->bn_axis = -1;
    e->layer = make(b, e);
    if (!e->layer)
        return zoo_last_status() != ZOO_OK
                   ? zoo_last_status()
                   : lerr(e, ZOO_ERR_INTERNAL, "could not be made");
    zoo_layer_set_trainable(e->layer, trainable);
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* Calling layers                                                      */
/* ------------------------------------------------------------------ */

/* Values per sample of `s` (unknown axes count 1), capped. */
static long long sym_values(const zoo_sym *s)
{
    long long n = 1;
    const int *d = zoo_sym_shape(s);
    for (int i = 1; i < zoo_sym_rank(s); i++) {
        if (d[i] > 0)
            n *= d[i];
        if (n > MAX_VALUES)
            return MAX_VALUES + 1;
    }
    return n;
}

/* Weights a layer will create on its first call on inputs `xs`. */
static double weights_needed(const zoo_layer *l, zoo_sym *const *xs)
{
    const int *d = zoo_sym_shape(xs[0]);
    double cin = d[zoo_sym_rank(xs[0]) - 1];
    const char *cls = zoo_layer_class(l);
    if (cin <= 0)
        return 0.0; /* the layer's build reports it */
    if (strcmp(cls, "Conv2D") == 0) {
        const zoo_conv2d_cfg *c = l->cfg;
        return (double)c->kernel[0] * c->kernel[1] * cin * c->filters +
               c->filters;
    }
    if (strcmp(cls, "DepthwiseConv2D") == 0) {
        const zoo_depthwise_conv2d_cfg *c = l->cfg;
        return ((double)c->kernel[0] * c->kernel[1] + 1) * cin *
               c->depth_multiplier;
    }
    if (strcmp(cls, "SeparableConv2D") == 0) {
        const zoo_separable_conv2d_cfg *c = l->cfg;
        double mid = cin * c->depth_multiplier;
        return (double)c->kernel[0] * c->kernel[1] * mid + mid * c->filters +
               c->filters;
    }
    if (strcmp(cls, "Dense") == 0) {
        const zoo_dense_cfg *c = l->cfg;
        return (cin + 1) * c->units;
    }
    if (strcmp(cls, "BatchNormalization") == 0)
        return 4 * cin;
    return 0.0;
}

/* Calls e's layer on xs (checked against the size bounds first). */
static zoo_status call_layer(builder *b, const entry *e, zoo_sym *const *xs,
                             int n, zoo_sym **out)
{
    zoo_layer *l = e->layer;
    long long total = 0;
    for (int i = 0; i < n; i++) {
        total += sym_values(xs[i]);
        if (total > MAX_VALUES)
            return lerr(e, ZOO_ERR_FORMAT,
                        "its inputs hold more than %lld values per sample",
                        MAX_VALUES);
    }
    if (strcmp(e->cls, "BatchNormalization") == 0 && n > 0) {
        int rank = zoo_sym_rank(xs[0]);
        int axis = e->bn_axis < 0 ? e->bn_axis + rank : e->bn_axis;
        if (axis != rank - 1)
            return lerr(e, ZOO_ERR_UNSUPPORTED,
                        "axis %d of a rank-%d input is not the last axis; "
                        "zoo normalizes the last (channels_last) axis only",
                        e->bn_axis, rank);
    }
    if (!l->built && n > 0) {
        b->weights += weights_needed(l, xs);
        if (b->weights > (double)MAX_VALUES)
            return lerr(e, ZOO_ERR_FORMAT,
                        "the model would hold more than %lld weights; zoo "
                        "refuses such configs",
                        MAX_VALUES);
    }
    bool one = l->kind->min_inputs == 1 && l->kind->max_inputs == 1;
    if (one && n != 1)
        return lerr(e, ZOO_ERR_FORMAT, "takes one input; a node gives it %d",
                    n);
    *out = one ? zoo_apply(l, xs[0]) : zoo_apply_n(l, xs, n);
    return *out ? ZOO_OK : zoo_last_status();
}

/* ------------------------------------------------------------------ */
/* Layer list                                                          */
/* ------------------------------------------------------------------ */

static const char *str_or_null(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Reads entry i of the layer list (class, name, config). */
static zoo_status read_entry(builder *b, json_t *item, int i, bool nodes)
{
    entry *e = &b->e[i];
    e->name = "?";
    e->cls = "?";
    if (!json_is_object(item))
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: layer %d of the list is not an "
                         "object",
                         i);
    e->cls = str_or_null(item, "class_name");
    e->cfg = json_object_get(item, "config");
    if (!e->cls)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: layer %d of the list has no "
                         "class_name",
                         i);
    const char *cname = str_or_null(e->cfg, "name");
    const char *name = str_or_null(item, "name");
    if (!name)
        name = cname;
    if (!json_is_object(e->cfg) || !name || !*name)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: layer %d of the list (%.100s) has no "
                         "config object with a non-empty name",
                         i, e->cls);
    e->name = name;
    if (cname && strcmp(cname, name) != 0)
        return lerr(e, ZOO_ERR_FORMAT,
                    "its config is named '%.200s', the entry '%.200s'", cname,
                    name);
    e->is_input = strcmp(e->cls, "InputLayer") == 0;
    if (nodes) {
        e->inbound = json_object_get(item, "inbound_nodes");
        if (e->inbound && !json_is_null(e->inbound) &&
            !json_is_array(e->inbound))
            return lerr(e, ZOO_ERR_FORMAT, "'inbound_nodes' must be a list");
        size_t nn = json_array_size(e->inbound);
        if (e->is_input && nn > 0)
            return lerr(e, ZOO_ERR_FORMAT,
                        "an InputLayer has no inbound nodes, this one has "
                        "%zu",
                        nn);
        if (nn > MAX_NODES)
            return lerr(e, ZOO_ERR_FORMAT, "more than %d inbound nodes",
                        MAX_NODES);
        e->n_nodes = e->is_input ? 1 : (int)nn;
    }
    return ZOO_OK;
}

static int by_name_cmp(const void *a, const void *b, void *ctx)
{
    const entry *e = ctx;
    return strcmp(e[*(const int *)a].name, e[*(const int *)b].name);
}

/* Indexes the entries by name; two of one name are an error. */
static zoo_status index_names(builder *b)
{
    b->by_name = malloc((size_t)(b->n ? b->n : 1) * sizeof *b->by_name);
    if (!b->by_name)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    for (int i = 0; i < b->n; i++)
        b->by_name[i] = i;
    qsort_r(b->by_name, (size_t)b->n, sizeof *b->by_name, by_name_cmp, b->e);
    for (int i = 1; i < b->n; i++)
        if (strcmp(b->e[b->by_name[i - 1]].name, b->e[b->by_name[i]].name) == 0)
            return zoo_error(ZOO_ERR_FORMAT,
                             "model config: two layers are named '%.200s'; "
                             "layer names must be unique",
                             b->e[b->by_name[i]].name);
    return ZOO_OK;
}

/* The entry named `name`, or -1. */
static int find_entry(const builder *b, const char *name)
{
    int lo = 0, hi = b->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(b->e[b->by_name[mid]].name, name);
        if (c == 0)
            return b->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* The node a reference names: layer `name`, its node `k`, output `t`.
 * `who` says where the reference is, for messages. */
static zoo_status resolve_ref(const builder *b, const char *who,
                              const char *name, json_t *k, json_t *t, int *id)
{
    if (!name)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %s: an input names no layer", who);
    if (!json_is_integer(k) || !json_is_integer(t))
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %s: the node and tensor indices of "
                         "its input from '%.200s' must be integers",
                         who, name);
    int j = find_entry(b, name);
    if (j < 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %s takes input from layer '%.200s', "
                         "which is not in the layer list",
                         who, name);
    long long node = json_integer_value(k), tensor = json_integer_value(t);
    if (node < 0 || node >= b->e[j].n_nodes)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %s takes node %lld of layer "
                         "'%.200s', which has %d node%s",
                         who, node, name, b->e[j].n_nodes,
                         b->e[j].n_nodes == 1 ? "" : "s");
    if (tensor != 0)
        return zoo_error(ZOO_ERR_UNSUPPORTED,
                         "model config: %s takes output %lld of layer "
                         "'%.200s'; zoo layers have one output (0)",
                         who, tensor, name);
    *id = b->e[j].first_node + (int)node;
    return ZOO_OK;
}

/* Keyword arguments of a call: zoo calls layers on their inputs alone, so
 * only null ones (Keras's mask=None) are accepted. */
static zoo_status check_kwargs(const entry *e, int k, json_t *kw)
{
    if (!kw || json_is_null(kw))
        return ZOO_OK;
    if (!json_is_object(kw))
        return lerr(e, ZOO_ERR_FORMAT, "node %d: kwargs must be an object", k);
    const char *key;
    json_t *v;
    json_object_foreach(kw, key, v) {
        if (!json_is_null(v))
            return lerr(e, ZOO_ERR_UNSUPPORTED,
                        "node %d calls it with the argument '%.60s'; zoo "
                        "calls layers on their inputs only (a per-call "
                        "training flag or mask cannot be honoured)",
                        k, key);
    }
    return ZOO_OK;
}

/* Inbound node k of e: Keras 3 {"args": [T] or [[T, ...]], "kwargs": {}}
 * or tf.keras 2 [[name, node, tensor, kwargs], ...]. */
static zoo_status read_node(builder *b, const entry *e, int k, node *nd)
{
    char who[300];
    snprintf(who, sizeof who, "layer '%.200s' node %d", e->name, k);
    json_t *v = json_array_get(e->inbound, (size_t)k);
    json_t *items;
    bool keras3 = json_is_object(v);
    zoo_status st;
    if (keras3) {
        json_t *args = json_object_get(v, "args");
        if (!json_is_array(args) || json_array_size(args) != 1)
            return lerr(e, ZOO_ERR_FORMAT,
                        "node %d: 'args' must hold its input tensor or the "
                        "list of its input tensors",
                        k);
        if ((st = check_kwargs(e, k, json_object_get(v, "kwargs"))))
            return st;
        json_t *a0 = json_array_get(args, 0);
        items = json_is_array(a0) ? a0 : args;
    } else if (json_is_array(v)) {
        items = v;
    } else {
        return lerr(e, ZOO_ERR_FORMAT,
                    "node %d is neither a Keras 3 node ({\"args\": ...}) nor "
                    "a tf.keras 2 one ([[layer, node, tensor, {}], ...])",
                    k);
    }
    size_t n = json_array_size(items);
    if (n < 1 || n > MAX_NODES)
        return lerr(e, ZOO_ERR_FORMAT, "node %d has %zu inputs", k, n);
    nd->in = malloc(n * sizeof *nd->in);
    if (!nd->in)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(items, i);
        if (keras3) {
            json_t *h = json_object_get(json_object_get(t, "config"),
                                        "keras_history");
            const char *tc = str_or_null(t, "class_name");
            if (!tc || strcmp(tc, "__keras_tensor__") != 0 ||
                !json_is_array(h) || json_array_size(h) != 3)
                return lerr(e, ZOO_ERR_FORMAT,
                            "node %d: input %zu is not a Keras tensor with "
                            "a keras_history [layer, node, tensor]",
                            k, i);
            st = resolve_ref(b, who, json_string_value(json_array_get(h, 0)),
                             json_array_get(h, 1), json_array_get(h, 2),
                             &nd->in[i]);
        } else {
            size_t len = json_array_size(t);
            if (!json_is_array(t) || len < 3 || len > 4)
                return lerr(e, ZOO_ERR_FORMAT,
                            "node %d: input %zu must be [layer, node, "
                            "tensor, kwargs]",
                            k, i);
            st = check_kwargs(e, k, json_array_get(t, 3));
            if (st == ZOO_OK)
                st = resolve_ref(b, who,
                                 json_string_value(json_array_get(t, 0)),
                                 json_array_get(t, 1), json_array_get(t, 2),
                                 &nd->in[i]);
        }
        if (st != ZOO_OK)
            return st;
        nd->n_in = (int)i + 1;
    }
    return ZOO_OK;
}

/* Calls node `id` on the outputs of its inputs (all made already). */
static zoo_status apply_node(builder *b, int id)
{
    node *nd = &b->nodes[id];
    const entry *e = &b->e[nd->entry];
    zoo_sym **xs = malloc((size_t)nd->n_in * sizeof *xs);
    if (!xs)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    for (int i = 0; i < nd->n_in; i++)
        xs[i] = b->nodes[nd->in[i]].out;
    zoo_status st = call_layer(b, e, xs, nd->n_in, &nd->out);
    free(xs);
    /* Each layer's nodes run in order, so its call k is node k. */
    if (st == ZOO_OK && zoo_sym_layer(nd->out)->n_calls != nd->k + 1)
        st = lerr(e, ZOO_ERR_INTERNAL, "node %d became another call", nd->k);
    return st;
}

/* Runs every node after the nodes it reads and after the layer's previous
 * node (Keras's functional_from_config order), with an explicit stack:
 * deep graphs do not recurse. A node met again while open is a cycle. */
static zoo_status run_nodes(builder *b)
{
    int n = b->n_nodes;
    char *state = calloc((size_t)n + 1, 1); /* 0 new, 1 open, 2 done */
    int *stack = malloc(((size_t)n + 1) * sizeof *stack);
    int *cursor = calloc((size_t)n + 1, sizeof *cursor);
    zoo_status st = ZOO_OK;
    if (!state || !stack || !cursor)
        st = zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    for (int i = 0; st == ZOO_OK && i < n; i++)
        if (b->nodes[i].out)
            state[i] = 2; /* InputLayer tensors */
    for (int start = 0; st == ZOO_OK && start < n; start++) {
        if (state[start])
            continue;
        int sp = 0;
        stack[sp++] = start;
        state[start] = 1;
        while (st == ZOO_OK && sp > 0) {
            int id = stack[sp - 1];
            const node *nd = &b->nodes[id];
            int c = cursor[id]++, dep = -1;
            if (c < nd->n_in)
                dep = nd->in[c];
            else if (c == nd->n_in && nd->k > 0)
                dep = id - 1;
            if (dep < 0) {
                sp--;
                st = apply_node(b, id);
                state[id] = 2;
            } else if (state[dep] == 1) {
                st = zoo_error(ZOO_ERR_FORMAT,
                               "model config: the inbound nodes form a cycle "
                               "through layer '%.200s'",
                               b->e[b->nodes[dep].entry].name);
            } else if (state[dep] == 0) {
                state[dep] = 1;
                stack[sp++] = dep;
            }
        }
    }
    free(state);
    free(stack);
    free(cursor);
    return st;
}

/* input_layers / output_layers: one [layer, node, tensor] or a list. */
static zoo_status read_io(const builder *b, json_t *cfg, const char *key,
                          bool inputs, zoo_sym ***out, int *n_out)
{
    json_t *v = json_object_get(cfg, key);
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: '%s' is missing or empty", key);
    bool single = json_is_string(json_array_get(v, 0));
    if (single)
        n = 1;
    if (n > MAX_NODES)
        return zoo_error(ZOO_ERR_FORMAT, "model config: '%s' has %zu entries",
                         key, n);
    *out = malloc(n * sizeof **out);
    if (!*out)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    *n_out = (int)n;
    for (size_t i = 0; i < n; i++) {
        json_t *t = single ? v : json_array_get(v, i);
        if (!json_is_array(t) || json_array_size(t) != 3)
            return zoo_error(ZOO_ERR_FORMAT,
                             "model config: '%s' entry %zu must be [layer, "
                             "node, tensor]",
                             key, i);
        int id;
        zoo_status st = resolve_ref(b, key,
                                    json_string_value(json_array_get(t, 0)),
                                    json_array_get(t, 1), json_array_get(t, 2),
                                    &id);
        if (st != ZOO_OK)
            return st;
        const entry *e = &b->e[b->nodes[id].entry];
        if (inputs && !e->is_input)
            return zoo_error(ZOO_ERR_FORMAT,
                             "model config: model input '%.200s' is a %.100s, "
                             "not an InputLayer",
                             e->name, e->cls);
        if (!inputs && sym_values(b->nodes[id].out) > MAX_VALUES)
            return lerr(e, ZOO_ERR_FORMAT,
                        "its output holds more than %lld values per sample",
                        MAX_VALUES);
        (*out)[i] = b->nodes[id].out;
    }
    return ZOO_OK;
}

/* tf.keras 2's format shows in batch_input_shape and list-form nodes. */
static bool looks_legacy(json_t *layers)
{
    size_t i, k;
    json_t *item, *nd;
    json_array_foreach(layers, i, item) {
        if (opt(json_object_get(item, "config"), "batch_input_shape"))
            return true;
        json_array_foreach(json_object_get(item, "inbound_nodes"), k, nd) {
            if (json_is_array(nd))
                return true;
        }
    }
    return false;
}

static zoo_status read_layer_list(builder *b, json_t *layers, bool nodes)
{
    size_t n = json_array_size(layers);
    if (!json_is_array(layers) || n == 0)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: 'layers' is missing or empty");
    if (n > MAX_LAYERS)
        return zoo_error(ZOO_ERR_FORMAT,
                         "model config: %zu layers; zoo reads at most %d",
                         n, MAX_LAYERS);
    b->e = calloc(n, sizeof *b->e);
    if (!b->e)
        return zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    b->n = (int)n;
    b->legacy = b->legacy || looks_legacy(layers);
    for (int i = 0; i < b->n; i++) {
        zoo_status st = read_entry(b, json_array_get(layers, (size_t)i), i,
                                   nodes);
        if (st != ZOO_OK)
            return st;
    }
    return index_names(b);
}

static zoo_model *build_functional(builder *b, json_t *cfg, const char *name)
{
    zoo_sym **ins = NULL, **outs = NULL;
    int n_in = 0, n_out = 0;
    zoo_model *m = NULL;
    zoo_status st = read_layer_list(b, json_object_get(cfg, "layers"), true);
    for (int i = 0; st == ZOO_OK && i < b->n; i++) {
        b->e[i].first_node = b->n_nodes;
        b->n_nodes += b->e[i].n_nodes;
        if (b->n_nodes > MAX_NODES)
            st = zoo_error(ZOO_ERR_FORMAT,
                           "model config: more than %d layer calls in all",
                           MAX_NODES);
    }
    if (st == ZOO_OK) {
        b->nodes = calloc((size_t)b->n_nodes + 1, sizeof *b->nodes);
        if (!b->nodes)
            st = zoo_error(ZOO_ERR_MEMORY, "model config: out of memory");
    }
    /* As Keras: every layer first (in list order), then the calls. */
    for (int i = 0; st == ZOO_OK && i < b->n; i++) {
        entry *e = &b->e[i];
        for (int k = 0; k < e->n_nodes; k++)
            b->nodes[e->first_node + k] = (node){.entry = i, .k = k};
        if (e->is_input) {
            b->nodes[e->first_node].out = make_input(b, e);
            if (!b->nodes[e->first_node].out)
                st = zoo_last_status();
        } else {
            st = make_layer(b, e);
        }
    }
    for (int i = 0; st == ZOO_OK && i < b->n; i++)
        for (int k = 0; st == ZOO_OK && !b->e[i].is_input && k < b->e[i].n_nodes;
             k++)
            st = read_node(b, &b->e[i], k, &b->nodes[b->e[i].first_node + k]);
    if (st == ZOO_OK)
        st = run_nodes(b);
    if (st == ZOO_OK)
        st = read_io(b, cfg, "input_layers", true, &ins, &n_in);
    if (st == ZOO_OK)
        st = read_io(b, cfg, "output_layers", false, &outs, &n_out);
    if (st == ZOO_OK)
        m = zoo_model_new(ins, n_in, outs, n_out, name ? name : "functional");
    free(ins);
    free(outs);
    return m;
}

static zoo_model *build_sequential(builder *b, json_t *cfg, const char *name)
{
    /* Keras 2.2 wrote the layer list as the config itself. */
    json_t *layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    zoo_status st = read_layer_list(b, layers, false);
    if (st != ZOO_OK)
        return NULL;
    entry *first = &b->e[0];
    zoo_sym *in;
    int start = 1;
    if (first->is_input) {
        in = make_input(b, first);
    } else {
        const char *key = "batch_input_shape";
        json_t *v = opt(first->cfg, key);
        if (!v)
            v = opt(first->cfg, key = "batch_shape");
        if (!v)
            v = opt(cfg, key = "build_input_shape");
        if (!v) {
            zoo_error(ZOO_ERR_FORMAT,
                      "model config: the Sequential model gives no input "
                      "shape (no InputLayer, batch_input_shape or "
                      "build_input_shape): build the Keras model with an "
                      "Input before saving it");
            return NULL;
        }
        int rank, shape[ZOO_MAX_RANK];
        if (read_batch_shape(first, key, v, &rank, shape))
            return NULL;
        in = zoo_input(b->g, rank, shape, NULL);
        start = 0;
    }
    if (!in)
        return NULL;
    if (start >= b->n) {
        zoo_error(ZOO_ERR_FORMAT, "model config: the Sequential model has no "
                  "layers after its input");
        return NULL;
    }
    zoo_sym *x = in;
    for (int i = start; i < b->n; i++) {
        entry *e = &b->e[i];
        if (e->is_input) {
            lerr(e, ZOO_ERR_FORMAT,
                 "an InputLayer can only come first in a Sequential model");
            return NULL;
        }
        if (make_layer(b, e) || call_layer(b, e, &x, 1, &x))
            return NULL;
    }
    if (sym_values(x) > MAX_VALUES) {
        lerr(&b->e[b->n - 1], ZOO_ERR_FORMAT,
             "its output holds more than %lld values per sample", MAX_VALUES);
        return NULL;
    }
    zoo_model *m = zoo_model_new(&in, 1, &x, 1, name ? name : "sequential");
    /* As zoo_sequential: Keras's Sequential.layers omits the InputLayer. */
    if (m && m->n_layers > 0 && zoo_layer_is_input(m->layers[0])) {
        memmove(m->layers, m->layers + 1,
                (size_t)(m->n_layers - 1) * sizeof *m->layers);
        m->n_layers--;
        m->sequential = true;
    }
    return m;
}

static void builder_free(builder *b)
{
    for (int i = 0; b->nodes && i < b->n_nodes; i++)
        free(b->nodes[i].in);
    free(b->nodes);
    free(b->e);
    free(b->by_name);
}

zoo_model *zoo_keras_model_from_json(const char *json, unsigned long long seed,
                                     bool skip_random_init)
{
    if (!json) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_from_json: json is NULL");
        return NULL;
    }
    zoo_clear_error(); /* so a failure below is known to be ours */
    json_error_t err;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        zoo_error(ZOO_ERR_FORMAT,
                  "model config is not valid JSON (line %d, column %d: %s)",
                  err.line, err.column, err.text);
        return NULL;
    }
    const char *cls = str_or_null(root, "class_name");
    json_t *cfg = json_object_get(root, "config");
    if (!cls || (!json_is_object(cfg) && !json_is_array(cfg))) {
        zoo_error(ZOO_ERR_FORMAT,
                  "model config: expected Keras's model JSON, an object with "
                  "\"class_name\" and \"config\" (model.to_json(), or the "
                  "model_config of a .h5 file)");
        json_decref(root);
        return NULL;
    }
    bool functional = strcmp(cls, "Functional") == 0 || strcmp(cls, "Model") == 0;
    if (!functional && strcmp(cls, "Sequential") != 0) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "model config: model class '%.100s' is not supported; zoo "
                  "builds Functional (Model) and Sequential models",
                  cls);
        json_decref(root);
        return NULL;
    }
    const char *version = str_or_null(root, "keras_version");
    builder b = {.legacy = strcmp(cls, "Model") == 0 ||
                           (version && (version[0] == '1' || version[0] == '2') &&
                            version[1] == '.')};
    b.g = zoo_graph_new(seed);
    zoo_model *m = NULL;
    if (b.g) {
        zoo_graph_skip_random_init(b.g, skip_random_init);
        const char *name = str_or_null(cfg, "name");
        if (name && !*name)
            name = NULL;
        json_t *trainable = opt(cfg, "trainable");
        if (trainable && !json_is_boolean(trainable))
            zoo_error(ZOO_ERR_FORMAT,
                      "model config: the model's 'trainable' must be true or "
                      "false");
        else if (functional && !json_is_object(cfg))
            zoo_error(ZOO_ERR_FORMAT,
                      "model config: a %s model's config must be an object",
                      cls);
        else
            m = functional ? build_functional(&b, cfg, name)
                           : build_sequential(&b, cfg, name);
        if (m && json_is_false(trainable))
            zoo_model_set_trainable(m, false);
        /* Layers added to this graph later get their usual weights. */
        zoo_graph_skip_random_init(b.g, false);
        zoo_graph_release(b.g);
    }
    if (!m && zoo_last_status() == ZOO_OK)
        zoo_error(ZOO_ERR_INTERNAL, "model config: the model could not be built");
    builder_free(&b);
    json_decref(root);
    return m;
}

zoo_model *zoo_model_from_json(const char *json, unsigned long long seed)
{
    return zoo_keras_model_from_json(json, seed, false);
}
