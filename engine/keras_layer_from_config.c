/*
 * zoo_model_from_json, part 1: one Keras layer config into a zoo layer.
 * The value readers (integers, reals, pairs, paddings, activations, L2
 * regularizers) and checks (data format, dtype, options zoo lacks), one
 * constructor per layer class zoo has, and InputLayers. Wiring the layers
 * into a model is engine/keras_from_config.c.
 *
 * Layers are made with the public constructors, so every check they make
 * applies. Anything zoo cannot honour (channels_first, groups, a
 * constraint, a non-L2 regularizer, ...) is an error naming the layer.
 * The JSON may be hostile: every value is type- and range-checked against
 * the bounds in engine/keras_config_reader.h before anything is
 * made.
 */
#include "engine/keras_config_reader.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Reading config values                                               */
/* ------------------------------------------------------------------ */

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
zoo_status zoo_keras_read_batch_shape(const entry *e, const char *key,
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
zoo_sym *zoo_keras_make_input(builder *b, entry *e)
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
    if (zoo_keras_read_batch_shape(e, key, opt(e->cfg, key), &rank, shape))
        return NULL;
    zoo_sym *x = zoo_input(b->g, rank, shape, e->name);
    if (x)
        e->layer = zoo_sym_layer(x);
    return x;
}

/* Makes the layer of a non-input entry. */
zoo_status zoo_keras_make_layer(builder *b, entry *e)
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
