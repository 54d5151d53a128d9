/*
 * Layers against an independent reference: the cases, inputs, weights and
 * expected outputs come from tests/oracle/layer_cases.py (NumPy/PyTorch in
 * float64, TF 'same' padding emulated explicitly), written to
 * $ZOO_TEST_FIXTURES by the ctest fixture "oracle_fixtures".
 *
 * Each case is built as Input(s) -> layer -> Model, the case's weights are
 * copied into the layer (names, count and shapes checked), and the model
 * is run twice: with default options and with one thread, batch size 1.
 * One Criterion test per layer family; every failing case is reported with
 * its name and worst element, not just the first.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUTS 8

static json_t *load_manifest(void)
{
    char *path = zt_path(zt_fixtures_dir(), "manifest.json");
    json_error_t err;
    json_t *m = json_load_file(path, 0, &err);
    cr_assert(m != NULL,
              "cannot read %s (%s, line %d); generate it with "
              "tests/oracle/layer_cases.py or run through ctest",
              path, err.text, err.line);
    free(path);
    cr_assert(json_is_array(json_object_get(m, "cases")),
              "manifest.json has no 'cases' array");
    return m;
}

/* ---- config readers: a missing key means the C default (0/false) ---- */

static int cfg_int(json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

static double cfg_num(json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static bool cfg_bool(json_t *cfg, const char *key)
{
    return json_is_true(json_object_get(cfg, key));
}

static void cfg_ints(json_t *cfg, const char *key, int *out, int n)
{
    json_t *v = json_object_get(cfg, key);
    for (int i = 0; i < n; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        out[i] = json_is_integer(e) ? (int)json_integer_value(e) : 0;
    }
}

static zoo_padding cfg_padding(json_t *cfg)
{
    const char *p = json_string_value(json_object_get(cfg, "padding"));
    return p && strcmp(p, "same") == 0 ? ZOO_PAD_SAME : ZOO_PAD_VALID;
}

/* Returns false (with why) if the activation name is not understood. */
static bool cfg_activation(json_t *cfg, zoo_activation *out, char *why,
                           size_t n)
{
    const char *name = json_string_value(json_object_get(cfg, "activation"));
    if (!name) {
        *out = ZOO_ACT_LINEAR;
        return true;
    }
    int a = zoo_activation_parse(name);
    if (a < 0) {
        snprintf(why, n, "zoo_activation_parse(\"%s\") returned %d", name, a);
        return false;
    }
    *out = (zoo_activation)a;
    return true;
}

/* Makes the family's layer from the case config; NULL with why set. */
static zoo_layer *make_layer(zoo_graph *g, const char *fam, json_t *cfg,
                             char *why, size_t n)
{
    zoo_activation act = ZOO_ACT_LINEAR;
    if (!cfg_activation(cfg, &act, why, n))
        return NULL;
    zoo_layer *l = NULL;
    if (!strcmp(fam, "conv2d")) {
        zoo_conv2d_cfg c = {.filters = cfg_int(cfg, "filters"),
                            .padding = cfg_padding(cfg),
                            .activation = act,
                            .no_bias = cfg_bool(cfg, "no_bias")};
        cfg_ints(cfg, "kernel", c.kernel, 2);
        cfg_ints(cfg, "strides", c.strides, 2);
        cfg_ints(cfg, "dilation", c.dilation, 2);
        l = zoo_conv2d(g, &c);
    } else if (!strcmp(fam, "depthwise_conv2d")) {
        zoo_depthwise_conv2d_cfg c = {
            .depth_multiplier = cfg_int(cfg, "depth_multiplier"),
            .padding = cfg_padding(cfg),
            .activation = act,
            .no_bias = cfg_bool(cfg, "no_bias")};
        cfg_ints(cfg, "kernel", c.kernel, 2);
        cfg_ints(cfg, "strides", c.strides, 2);
        cfg_ints(cfg, "dilation", c.dilation, 2);
        l = zoo_depthwise_conv2d(g, &c);
    } else if (!strcmp(fam, "separable_conv2d")) {
        zoo_separable_conv2d_cfg c = {
            .filters = cfg_int(cfg, "filters"),
            .depth_multiplier = cfg_int(cfg, "depth_multiplier"),
            .padding = cfg_padding(cfg),
            .activation = act,
            .no_bias = cfg_bool(cfg, "no_bias")};
        cfg_ints(cfg, "kernel", c.kernel, 2);
        cfg_ints(cfg, "strides", c.strides, 2);
        cfg_ints(cfg, "dilation", c.dilation, 2);
        l = zoo_separable_conv2d(g, &c);
    } else if (!strcmp(fam, "dense")) {
        l = zoo_dense(g, &(zoo_dense_cfg){.units = cfg_int(cfg, "units"),
                                          .activation = act,
                                          .no_bias = cfg_bool(cfg, "no_bias")});
    } else if (!strcmp(fam, "batch_norm")) {
        l = zoo_batch_norm(
            g, &(zoo_batch_norm_cfg){.epsilon = (float)cfg_num(cfg, "epsilon"),
                                     .no_scale = cfg_bool(cfg, "no_scale"),
                                     .no_center = cfg_bool(cfg, "no_center")});
    } else if (!strcmp(fam, "activation")) {
        l = zoo_activation_layer(g, &(zoo_activation_cfg){.activation = act});
    } else if (!strcmp(fam, "relu")) {
        l = zoo_relu(g, &(zoo_relu_cfg){
                            .max_value = (float)cfg_num(cfg, "max_value"),
                            .negative_slope =
                                (float)cfg_num(cfg, "negative_slope"),
                            .threshold = (float)cfg_num(cfg, "threshold")});
    } else if (!strcmp(fam, "max_pool2d") || !strcmp(fam, "avg_pool2d")) {
        zoo_pool2d_cfg c = {.padding = cfg_padding(cfg)};
        cfg_ints(cfg, "pool", c.pool, 2);
        cfg_ints(cfg, "strides", c.strides, 2);
        l = fam[0] == 'm' ? zoo_max_pool2d(g, &c) : zoo_avg_pool2d(g, &c);
    } else if (!strcmp(fam, "global_avg_pool2d")) {
        l = zoo_global_avg_pool2d(
            g, &(zoo_global_pool2d_cfg){.keepdims = cfg_bool(cfg, "keepdims")});
    } else if (!strcmp(fam, "global_max_pool2d")) {
        l = zoo_global_max_pool2d(
            g, &(zoo_global_pool2d_cfg){.keepdims = cfg_bool(cfg, "keepdims")});
    } else if (!strcmp(fam, "zero_padding2d")) {
        zoo_padding2d_cfg c = {0};
        cfg_ints(cfg, "pad", c.pad, 4);
        l = zoo_zero_padding2d(g, &c);
    } else if (!strcmp(fam, "cropping2d")) {
        zoo_cropping2d_cfg c = {0};
        cfg_ints(cfg, "crop", c.crop, 4);
        l = zoo_cropping2d(g, &c);
    } else if (!strcmp(fam, "flatten")) {
        l = zoo_flatten(g, NULL);
    } else if (!strcmp(fam, "reshape")) {
        zoo_reshape_cfg c = {0};
        c.rank = (int)json_array_size(json_object_get(cfg, "shape"));
        if (c.rank > ZOO_MAX_RANK - 1) {
            snprintf(why, n, "reshape target rank %d too large", c.rank);
            return NULL;
        }
        cfg_ints(cfg, "shape", c.shape, c.rank);
        l = zoo_reshape(g, &c);
    } else if (!strcmp(fam, "dropout")) {
        l = zoo_dropout(g, &(zoo_dropout_cfg){
                               .rate = (float)cfg_num(cfg, "rate"),
                               .seed = (unsigned long long)cfg_int(cfg, "seed")});
    } else if (!strcmp(fam, "add")) {
        l = zoo_add(g, NULL);
    } else if (!strcmp(fam, "multiply")) {
        l = zoo_multiply(g, NULL);
    } else if (!strcmp(fam, "concatenate")) {
        l = zoo_concatenate(g, &(zoo_concat_cfg){.axis = cfg_int(cfg, "axis")});
    } else if (!strcmp(fam, "scaled_sum")) {
        l = zoo_scaled_sum(
            g, &(zoo_scaled_sum_cfg){.scale = (float)cfg_num(cfg, "scale")});
    } else {
        snprintf(why, n, "the C test does not know family '%s'", fam);
        return NULL;
    }
    if (!l)
        snprintf(why, n, "constructor failed: %s", zoo_last_error());
    return l;
}

static const char *const FAMILIES[] = {
    "conv2d",         "depthwise_conv2d",  "separable_conv2d",
    "dense",          "batch_norm",        "activation",
    "relu",           "max_pool2d",        "avg_pool2d",
    "global_avg_pool2d", "global_max_pool2d", "zero_padding2d",
    "cropping2d",     "flatten",           "reshape",
    "dropout",        "add",               "multiply",
    "concatenate",    "scaled_sum",
};

static zoo_tensor *load_fixture(const char *file)
{
    char *path = zt_path(zt_fixtures_dir(), file);
    zoo_tensor *t = zoo_npy_load(path);
    free(path);
    return t;
}

static bool same_shape(int ra, const int *a, int rb, const int *b)
{
    if (ra != rb)
        return false;
    for (int i = 0; i < ra; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* Runs one case; returns true if it passed. Every problem is reported
 * through cr_expect with the case name. */
static bool run_case(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *fam = json_string_value(json_object_get(c, "family"));
    const char *klass = json_string_value(json_object_get(c, "layer"));
    json_t *cfg = json_object_get(c, "config");
    json_t *jin = json_object_get(c, "inputs");
    json_t *jw = json_object_get(c, "weights");
    int n_in = (int)json_array_size(jin);
    bool ok = true;
    char why[1024], s1[96], s2[96];

    zoo_tensor *xs[MAX_INPUTS] = {0};
    zoo_tensor *want = NULL, *got = NULL;
    zoo_graph *g = NULL;
    zoo_model *m = NULL;

    cr_assert(n_in >= 1 && n_in <= MAX_INPUTS, "%s: bad input count", name);
    for (int i = 0; i < n_in; i++) {
        const char *f = json_string_value(json_array_get(jin, (size_t)i));
        xs[i] = load_fixture(f);
        cr_assert(xs[i] != NULL, "%s: fixture: %s", name, zoo_last_error());
    }
    want = load_fixture(json_string_value(json_object_get(c, "output")));
    cr_assert(want != NULL, "%s: fixture: %s", name, zoo_last_error());

    zoo_clear_error();
    g = zoo_graph_new(1234);
    cr_assert(g != NULL);
    zoo_sym *ins[MAX_INPUTS];
    for (int i = 0; i < n_in; i++) {
        ins[i] = zoo_input(g, zoo_tensor_rank(xs[i]) - 1,
                           zoo_tensor_shape(xs[i]) + 1, NULL);
    }
    zoo_layer *l = make_layer(g, fam, cfg, why, sizeof why);
    if (!l) {
        cr_expect(false, "%s: %s", name, why);
        ok = false;
        goto done;
    }
    zoo_sym *out = n_in == 1 ? zoo_apply(l, ins[0]) : zoo_apply_n(l, ins, n_in);
    if (!out) {
        cr_expect(false, "%s: calling the layer on %s failed: %s", name,
                  zt_shape_str(zoo_tensor_rank(xs[0]), zoo_tensor_shape(xs[0]),
                               s1, sizeof s1),
                  zoo_last_error());
        ok = false;
        goto done;
    }
    const char *cls = zoo_layer_class(l);
    if (!cls || strcmp(cls, klass) != 0) {
        cr_expect(false, "%s: layer class is '%s', Keras calls it '%s'", name,
                  cls ? cls : "(null)", klass);
        ok = false;
    }

    /* Symbolic output shape: batch unknown, the rest as expected. */
    {
        int rw = zoo_tensor_rank(want);
        int sym[ZOO_MAX_RANK] = {0};
        int rs = zoo_sym_rank(out);
        const int *ss = zoo_sym_shape(out);
        for (int i = 0; ss && i < rs && i < ZOO_MAX_RANK; i++)
            sym[i] = ss[i];
        int exp[ZOO_MAX_RANK];
        memcpy(exp, zoo_tensor_shape(want), sizeof(int) * (size_t)rw);
        exp[0] = -1;
        if (!ss || !same_shape(rs, sym, rw, exp)) {
            cr_expect(false, "%s: symbolic output shape %s, expected %s",
                      name, zt_shape_str(rs, sym, s1, sizeof s1),
                      zt_shape_str(rw, exp, s2, sizeof s2));
            ok = false;
        }
    }

    m = zoo_model_new(ins, n_in, &out, 1, NULL);
    if (!m) {
        cr_expect(false, "%s: zoo_model_new failed: %s", name, zoo_last_error());
        ok = false;
        goto done;
    }

    /* Weights: count, names, shapes, then the values. */
    int nw = (int)json_array_size(jw);
    int lw = zoo_layer_weight_count(l);
    if (lw != nw) {
        cr_expect(false, "%s: layer has %d weights, Keras has %zu", name, lw,
                  (size_t)nw);
        ok = false;
        goto done;
    }
    for (int i = 0; i < nw; i++) {
        json_t *w = json_array_get(jw, (size_t)i);
        const char *wname = json_string_value(json_object_get(w, "name"));
        const char *lname = zoo_layer_weight_name(l, i);
        if (!lname || strcmp(lname, wname) != 0) {
            cr_expect(false, "%s: weight %d is named '%s', Keras calls it '%s'",
                      name, i, lname ? lname : "(null)", wname);
            ok = false;
        }
        zoo_tensor *src =
            load_fixture(json_string_value(json_object_get(w, "file")));
        cr_assert(src != NULL, "%s: fixture: %s", name, zoo_last_error());
        zoo_tensor *dst = zoo_layer_weight(l, i);
        if (!dst || !same_shape(zoo_tensor_rank(dst), zoo_tensor_shape(dst),
                                zoo_tensor_rank(src), zoo_tensor_shape(src))) {
            cr_expect(false, "%s: weight %d ('%s') has shape %s, Keras %s",
                      name, i, wname,
                      dst ? zt_shape_str(zoo_tensor_rank(dst),
                                         zoo_tensor_shape(dst), s1, sizeof s1)
                          : "NULL",
                      zt_shape_str(zoo_tensor_rank(src), zoo_tensor_shape(src),
                                   s2, sizeof s2));
            zoo_tensor_free(src);
            ok = false;
            goto done;
        }
        memcpy(zoo_tensor_data(dst), zoo_tensor_cdata(src),
               zoo_tensor_size(src) * sizeof(float));
        zoo_tensor_free(src);
    }

    size_t n_params = 0;
    for (int i = 0; i < nw; i++)
        n_params += zoo_tensor_size(zoo_layer_weight(l, i));
    if (zoo_layer_param_count(l) != n_params) {
        cr_expect(false, "%s: zoo_layer_param_count is %zu, the weights hold %zu",
                  name, zoo_layer_param_count(l), n_params);
        ok = false;
    }

    /* Predict: default options, then one thread with batch size 1. */
    static const zoo_predict_opts runs[2] = {{0, 0}, {1, 1}};
    static const char *const run_names[2] = {"default options",
                                             "threads=1, batch_size=1"};
    for (int r = 0; r < 2; r++) {
        got = NULL;
        zoo_status st = zoo_model_predict(m, xs, n_in, &got, 1, &runs[r]);
        if (st != ZOO_OK || !got) {
            cr_expect(false, "%s (%s): predict failed (%s): %s", name,
                      run_names[r], zoo_status_name(st), zoo_last_error());
            ok = false;
            zoo_tensor_free(got);
            got = NULL;
            continue;
        }
        if (!zt_tensor_close(got, want, ZT_RTOL, ZT_ATOL, why, sizeof why)) {
            cr_expect(false, "%s (%s): %s", name, run_names[r], why);
            ok = false;
        }
        zoo_tensor_free(got);
        got = NULL;
    }

done:
    if (m)
        zoo_model_free(m);
    zoo_graph_release(g);
    for (int i = 0; i < n_in; i++)
        zoo_tensor_free(xs[i]);
    zoo_tensor_free(want);
    return ok;
}

static void run_family(const char *fam)
{
    json_t *m = load_manifest();
    json_t *cases = json_object_get(m, "cases");
    int total = 0, passed = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *f = json_string_value(json_object_get(c, "family"));
        if (!f || strcmp(f, fam) != 0)
            continue;
        total++;
        if (run_case(c))
            passed++;
    }
    json_decref(m);
    cr_assert(total > 0, "manifest.json has no '%s' cases", fam);
    cr_log_info("%s: %d of %d cases passed", fam, passed, total);
}

/* Every family the generator writes must be run by a test below. */
Test(oracle, manifest_families_known)
{
    json_t *m = load_manifest();
    json_t *cases = json_object_get(m, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const char *f = json_string_value(
            json_object_get(json_array_get(cases, i), "family"));
        bool known = false;
        for (size_t k = 0; f && k < sizeof FAMILIES / sizeof *FAMILIES; k++)
            known |= strcmp(f, FAMILIES[k]) == 0;
        cr_expect(known, "family '%s' has no test in test_layers_oracle.c",
                  f ? f : "(null)");
    }
    json_decref(m);
}

#define ORACLE_FAMILY(fam) \
    Test(oracle, fam) { run_family(#fam); }

ORACLE_FAMILY(conv2d)
ORACLE_FAMILY(depthwise_conv2d)
ORACLE_FAMILY(separable_conv2d)
ORACLE_FAMILY(dense)
ORACLE_FAMILY(batch_norm)
ORACLE_FAMILY(activation)
ORACLE_FAMILY(relu)
ORACLE_FAMILY(max_pool2d)
ORACLE_FAMILY(avg_pool2d)
ORACLE_FAMILY(global_avg_pool2d)
ORACLE_FAMILY(global_max_pool2d)
ORACLE_FAMILY(zero_padding2d)
ORACLE_FAMILY(cropping2d)
ORACLE_FAMILY(flatten)
ORACLE_FAMILY(reshape)
ORACLE_FAMILY(dropout)
ORACLE_FAMILY(add)
ORACLE_FAMILY(multiply)
ORACLE_FAMILY(concatenate)
ORACLE_FAMILY(scaled_sum)
