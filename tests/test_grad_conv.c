/*
 * Backward passes of Conv2D, DepthwiseConv2D, SeparableConv2D and Dense
 * against float64 references.
 *
 * Before any test runs, tests/oracle/grad_conv_cases.py writes each case
 * (input x, weights, a fixed random r, the output y, and the gradients of
 * L = sum(r * y) with respect to x and every weight) into a temporary
 * directory. Small cases carry central finite differences (checked there
 * against torch autograd); the "tiles" cases are large enough that the
 * im2col kernels work in several tiles and carry float64 autograd.
 *
 * Here each case is built as Input -> layer, run forward through a model,
 * then the layer's engine-private `backward` hook is called with
 * dL/dy = r, on one and on three threads. A gradient passes when its
 * relative L2 error is under 1e-3 and every element is within
 * 1e-3 * (|want| + max |want|).
 */
#include "support.h"

/* The backward hooks are engine-private: the layer vtable. */
#include "../engine/layer.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <jansson.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRIPT ZOO_TEST_SOURCE_DIR "/oracle/grad_conv_cases.py"
#define ENV "ZOO_GRAD_CONV_CASES"
#define MAX_W 3
#define REL_TOL 1e-3

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    zt_generate_cases_once(SCRIPT, NULL, "grad-conv-cases", ENV);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    zt_generated_cases_cleanup(ENV);
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

static zoo_tensor *load_or_die(const char *file)
{
    char *path = zt_path(zt_cases_dir(ENV), file);
    zoo_tensor *t = zoo_npy_load(path);
    cr_assert(t != NULL, "fixture %s: %s", path, zoo_last_error());
    free(path);
    return t;
}

static json_t *manifest_or_die(void)
{
    char *path = zt_path(zt_cases_dir(ENV), "manifest.json");
    json_error_t err;
    json_t *m = json_load_file(path, 0, &err);
    cr_assert(m != NULL, "cannot read %s: %s", path, err.text);
    free(path);
    cr_assert(json_is_array(json_object_get(m, "cases")));
    return m;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    cr_assert(s != NULL, "manifest: missing string '%s'", key);
    return s;
}

static int cfg_int(const json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

static void cfg_pair(const json_t *cfg, const char *key, int out[2])
{
    json_t *v = json_object_get(cfg, key);
    for (int i = 0; i < 2; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        out[i] = json_is_integer(e) ? (int)json_integer_value(e) : 0;
    }
}

static zoo_layer *make_layer(zoo_graph *g, const char *fam, const json_t *cfg)
{
    const char *act_name = jstr(cfg, "activation");
    int act = zoo_activation_parse(act_name);
    cr_assert(act >= 0, "unknown activation %s", act_name);
    const char *pad = json_string_value(json_object_get(cfg, "padding"));
    zoo_padding padding =
        pad && strcmp(pad, "same") == 0 ? ZOO_PAD_SAME : ZOO_PAD_VALID;
    bool no_bias = json_is_true(json_object_get(cfg, "no_bias"));
    zoo_layer *l = NULL;
    if (!strcmp(fam, "conv2d")) {
        zoo_conv2d_cfg c = {.filters = cfg_int(cfg, "filters"),
                            .padding = padding,
                            .activation = (zoo_activation)act,
                            .no_bias = no_bias};
        cfg_pair(cfg, "kernel", c.kernel);
        cfg_pair(cfg, "strides", c.strides);
        cfg_pair(cfg, "dilation", c.dilation);
        l = zoo_conv2d(g, &c);
    } else if (!strcmp(fam, "depthwise_conv2d")) {
        zoo_depthwise_conv2d_cfg c = {
            .depth_multiplier = cfg_int(cfg, "depth_multiplier"),
            .padding = padding,
            .activation = (zoo_activation)act,
            .no_bias = no_bias};
        cfg_pair(cfg, "kernel", c.kernel);
        cfg_pair(cfg, "strides", c.strides);
        cfg_pair(cfg, "dilation", c.dilation);
        l = zoo_depthwise_conv2d(g, &c);
    } else if (!strcmp(fam, "separable_conv2d")) {
        zoo_separable_conv2d_cfg c = {
            .filters = cfg_int(cfg, "filters"),
            .depth_multiplier = cfg_int(cfg, "depth_multiplier"),
            .padding = padding,
            .activation = (zoo_activation)act,
            .no_bias = no_bias};
        cfg_pair(cfg, "kernel", c.kernel);
        cfg_pair(cfg, "strides", c.strides);
        cfg_pair(cfg, "dilation", c.dilation);
        l = zoo_separable_conv2d(g, &c);
    } else if (!strcmp(fam, "dense")) {
        l = zoo_dense(g, &(zoo_dense_cfg){.units = cfg_int(cfg, "units"),
                                          .activation = (zoo_activation)act,
                                          .no_bias = no_bias});
    }
    cr_assert(l != NULL, "cannot make a %s: %s", fam, zoo_last_error());
    return l;
}

/* One case, built and run forward: the layer, its input, the output zoo
 * computed, r (= dL/dy) and the wanted gradients in weight order. */
typedef struct {
    const char *name;
    zoo_graph *g;
    zoo_layer *l;
    zoo_tensor *x, *y, *r, *dx_want;
    zoo_tensor *dw_want[MAX_W];
    int nw;
} gcase;

static void case_open(gcase *k, const json_t *c)
{
    memset(k, 0, sizeof *k);
    k->name = jstr(c, "name");
    k->x = load_or_die(jstr(c, "x"));
    k->r = load_or_die(jstr(c, "r"));
    k->dx_want = load_or_die(jstr(c, "dx"));
    zoo_tensor *y_want = load_or_die(jstr(c, "y"));

    json_t *jw = json_object_get(c, "weights");
    k->nw = (int)json_array_size(jw);
    cr_assert(k->nw >= 1 && k->nw <= MAX_W, "%s: %d weights", k->name, k->nw);
    zoo_tensor *wv[MAX_W];
    zt_weight w[MAX_W];
    for (int i = 0; i < k->nw; i++) {
        json_t *e = json_array_get(jw, (size_t)i);
        wv[i] = load_or_die(jstr(e, "value"));
        k->dw_want[i] = load_or_die(jstr(e, "grad"));
        w[i] = (zt_weight){zoo_tensor_cdata(wv[i]), zoo_tensor_size(wv[i])};
    }

    k->g = zoo_graph_new(7);
    cr_assert(k->g != NULL);
    k->l = make_layer(k->g, jstr(c, "family"), json_object_get(c, "config"));
    k->y = zt_run_layer_or_die(k->g, k->l, k->x, w, k->nw);
    for (int i = 0; i < k->nw; i++) {
        json_t *e = json_array_get(jw, (size_t)i);
        cr_assert_str_eq(zoo_layer_weight_name(k->l, i), jstr(e, "name"),
                         "%s: weight %d", k->name, i);
        zoo_tensor_free(wv[i]);
    }

    /* The forward pass is tested elsewhere; this only guards the fixture
     * pairing (a wrong y would make every gradient below meaningless). */
    char msg[512];
    double scale = 0.0;
    for (size_t i = 0; i < zoo_tensor_size(y_want); i++)
        scale = fmax(scale, fabs(zoo_tensor_cdata(y_want)[i]));
    cr_assert(zt_tensor_close(k->y, y_want, 1e-4, 1e-5 * (1.0 + scale), msg,
                              sizeof msg),
              "%s: forward output: %s", k->name, msg);
    zoo_tensor_free(y_want);
}

static void case_close(gcase *k)
{
    zoo_graph_release(k->g);
    zoo_tensor_free(k->x);
    zoo_tensor_free(k->y);
    zoo_tensor_free(k->r);
    zoo_tensor_free(k->dx_want);
    for (int i = 0; i < k->nw; i++)
        zoo_tensor_free(k->dw_want[i]);
}

/* Zero tensor shaped like t. */
static zoo_tensor *zeros_like(const zoo_tensor *t)
{
    zoo_tensor *z = zoo_tensor_new(zoo_tensor_rank(t), zoo_tensor_shape(t));
    cr_assert(z != NULL);
    return z;
}

static zoo_status backward(gcase *k, int threads, zoo_tensor *dx,
                           zoo_tensor *const *dw)
{
    const zoo_exec ex = {.threads = threads, .training = true, .seed = 1};
    const zoo_tensor *in[1] = {k->x};
    zoo_tensor *dxs[1] = {dx};
    cr_assert(k->l->kind->backward != NULL, "%s: %s has no backward hook",
              k->name, zoo_layer_class(k->l));
    return k->l->kind->backward(k->l, in, 1, k->y, k->r, dxs, dw, &ex, NULL);
}

/* got against want (same shape): relative L2 error <= REL_TOL and every
 * element within REL_TOL * (|want| + max |want|). Reports through
 * cr_expect and returns whether it passed. */
static bool grad_close(const gcase *k, const char *what, int threads,
                       const zoo_tensor *got, const zoo_tensor *want)
{
    const size_t n = zoo_tensor_size(want);
    cr_assert_eq(zoo_tensor_size(got), n);
    const float *a = zoo_tensor_cdata(got), *b = zoo_tensor_cdata(want);
    double err2 = 0.0, ref2 = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        err2 += d * d;
        ref2 += (double)b[i] * b[i];
        scale = fmax(scale, fabs(b[i]));
    }
    cr_assert(scale > 0.0, "%s: the reference %s gradient is all zero",
              k->name, what);
    double rel = sqrt(err2 / ref2);
    if (!(rel <= REL_TOL)) {
        cr_expect(false, "%s (%d threads): d%s relative L2 error %.3g",
                  k->name, threads, what, rel);
        return false;
    }
    char msg[512];
    if (!zt_allclose(a, b, zoo_tensor_rank(want), zoo_tensor_shape(want),
                     REL_TOL, REL_TOL * scale, msg, sizeof msg)) {
        cr_expect(false, "%s (%d threads): d%s: %s", k->name, threads, what,
                  msg);
        return false;
    }
    return true;
}

/* Every case of the manifest whose oracle is `oracle` and whose family is
 * `fam` (NULL: any): fresh zero gradients, one backward call, compare. */
static void run_cases(const char *fam, const char *oracle)
{
    json_t *m = manifest_or_die();
    json_t *cases = json_object_get(m, "cases");
    int total = 0, failed = 0;
    for (size_t ci = 0; ci < json_array_size(cases); ci++) {
        json_t *c = json_array_get(cases, ci);
        if ((fam && strcmp(jstr(c, "family"), fam) != 0) ||
            strcmp(jstr(c, "oracle"), oracle) != 0)
            continue;
        gcase k;
        case_open(&k, c);
        total++;
        bool ok = true;
        for (int threads = 1; threads <= 3; threads += 2) {
            zoo_tensor *dx = zeros_like(k.x);
            zoo_tensor *dw[MAX_W] = {0};
            for (int i = 0; i < k.nw; i++)
                dw[i] = zeros_like(k.dw_want[i]);
            zoo_status st = backward(&k, threads, dx, dw);
            cr_assert_eq(st, ZOO_OK, "%s: backward failed: %s", k.name,
                         zoo_last_error());
            ok &= grad_close(&k, "x", threads, dx, k.dx_want);
            for (int i = 0; i < k.nw; i++)
                ok &= grad_close(&k, zoo_layer_weight_name(k.l, i), threads,
                                 dw[i], k.dw_want[i]);
            zoo_tensor_free(dx);
            for (int i = 0; i < k.nw; i++)
                zoo_tensor_free(dw[i]);
        }
        failed += !ok;
        case_close(&k);
    }
    json_decref(m);
    cr_assert(total > 0, "no %s cases with oracle %s in the manifest",
              fam ? fam : "", oracle);
    cr_assert_eq(failed, 0, "%d of %d cases failed (see above)", failed,
                 total);
    cr_log_info("%d %s cases passed", total, fam ? fam : oracle);
}

Test(grad_conv, conv2d) { run_cases("conv2d", "fd"); }
Test(grad_conv, depthwise_conv2d) { run_cases("depthwise_conv2d", "fd"); }
Test(grad_conv, separable_conv2d) { run_cases("separable_conv2d", "fd"); }
Test(grad_conv, dense) { run_cases("dense", "fd"); }
/* Several im2col tiles, the cut inside an output row. */
Test(grad_conv, conv2d_tiled, .timeout = 120) { run_cases(NULL, "autograd"); }

/* ------------------------------------------------------------------ */
/* Accumulation and skipped gradients                                  */
/* ------------------------------------------------------------------ */

static json_t *find_case(json_t *m, const char *name)
{
    json_t *cases = json_object_get(m, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        if (strcmp(jstr(c, "name"), name) == 0)
            return c;
    }
    cr_assert_fail("no case %s in the manifest", name);
    return NULL;
}

/* want = base + times * grad, elementwise (a new tensor). */
static zoo_tensor *affine(const zoo_tensor *base, const zoo_tensor *grad,
                          float times)
{
    zoo_tensor *t = zoo_tensor_clone(base);
    cr_assert(t != NULL);
    float *d = zoo_tensor_data(t);
    const float *g = zoo_tensor_cdata(grad);
    for (size_t i = 0; i < zoo_tensor_size(t); i++)
        d[i] += times * g[i];
    return t;
}

static const char *const MIXED[] = {
    "conv_k3_same_s2_5x6", "conv_1x1_s1_sigmoid", "dw_k3_same_s2_m2",
    "sep_k3_same_s2_m2_relu", "dense_r4_tanh",
};

/* Two calls into pre-filled buffers: old contents + 2 * gradient. */
Test(grad_conv, accumulates)
{
    json_t *m = manifest_or_die();
    for (size_t ci = 0; ci < sizeof MIXED / sizeof MIXED[0]; ci++) {
        gcase k;
        case_open(&k, find_case(m, MIXED[ci]));
        zoo_tensor *dx = zeros_like(k.x), *dx0;
        zoo_tensor *dw[MAX_W] = {0}, *dw0[MAX_W] = {0};
        zt_fill_uniform(dx, 11 + ci, -1.0f, 1.0f);
        dx0 = zoo_tensor_clone(dx);
        for (int i = 0; i < k.nw; i++) {
            dw[i] = zeros_like(k.dw_want[i]);
            zt_fill_uniform(dw[i], 100 + ci * 10 + i, -1.0f, 1.0f);
            dw0[i] = zoo_tensor_clone(dw[i]);
        }
        for (int rep = 0; rep < 2; rep++)
            cr_assert_eq(backward(&k, 2, dx, dw), ZOO_OK, "%s: %s", k.name,
                         zoo_last_error());
        zoo_tensor *want = affine(dx0, k.dx_want, 2.0f);
        cr_expect(grad_close(&k, "x (accumulated)", 2, dx, want));
        zoo_tensor_free(want);
        for (int i = 0; i < k.nw; i++) {
            want = affine(dw0[i], k.dw_want[i], 2.0f);
            cr_expect(grad_close(&k, zoo_layer_weight_name(k.l, i), 2, dw[i],
                                 want));
            zoo_tensor_free(want);
            zoo_tensor_free(dw[i]);
            zoo_tensor_free(dw0[i]);
        }
        zoo_tensor_free(dx);
        zoo_tensor_free(dx0);
        case_close(&k);
    }
    json_decref(m);
}

/* NULL buffers are skipped; the others still get the right gradient, and
 * asking for nothing at all is a no-op that succeeds. */
Test(grad_conv, skips_unwanted)
{
    json_t *m = manifest_or_die();
    for (size_t ci = 0; ci < sizeof MIXED / sizeof MIXED[0]; ci++) {
        gcase k;
        case_open(&k, find_case(m, MIXED[ci]));
        zoo_tensor *none[MAX_W] = {0};
        cr_assert_eq(backward(&k, 1, NULL, none), ZOO_OK, "%s: %s", k.name,
                     zoo_last_error());
        /* Each weight alone, with no input gradient. */
        for (int only = 0; only < k.nw; only++) {
            zoo_tensor *dw[MAX_W] = {0};
            dw[only] = zeros_like(k.dw_want[only]);
            cr_assert_eq(backward(&k, 2, NULL, dw), ZOO_OK, "%s: %s", k.name,
                         zoo_last_error());
            cr_expect(grad_close(&k, zoo_layer_weight_name(k.l, only), 2,
                                 dw[only], k.dw_want[only]));
            zoo_tensor_free(dw[only]);
        }
        /* The input gradient alone. */
        zoo_tensor *dx = zeros_like(k.x);
        cr_assert_eq(backward(&k, 2, dx, none), ZOO_OK, "%s: %s", k.name,
                     zoo_last_error());
        cr_expect(grad_close(&k, "x", 2, dx, k.dx_want));
        zoo_tensor_free(dx);
        case_close(&k);
    }
    json_decref(m);
}

/* ------------------------------------------------------------------ */
/* kernel_l2 in the Keras config                                       */
/* ------------------------------------------------------------------ */

static json_t *layer_config(json_t *root, const char *name)
{
    json_t *layers = json_object_get(json_object_get(root, "config"), "layers");
    cr_assert(json_is_array(layers), "model JSON has no config.layers");
    size_t i;
    json_t *e;
    json_array_foreach(layers, i, e) {
        json_t *cfg = json_object_get(e, "config");
        const char *n = json_string_value(json_object_get(cfg, "name"));
        if (n && strcmp(n, name) == 0)
            return cfg;
    }
    cr_assert_fail("no layer %s in config.layers", name);
    return NULL;
}

/* Keras 3's serialized L2(l2): {"module": "keras.regularizers",
 * "class_name": "L2", "config": {"l2": l2}, "registered_name": null}. */
static void expect_l2(json_t *cfg, const char *key, double l2,
                      const char *layer)
{
    json_t *r = json_object_get(cfg, key);
    cr_assert(json_is_object(r), "%s.%s is not an object", layer, key);
    cr_expect_str_eq(json_string_value(json_object_get(r, "module")),
                     "keras.regularizers", "%s.%s.module", layer, key);
    cr_expect_str_eq(json_string_value(json_object_get(r, "class_name")),
                     "L2", "%s.%s.class_name", layer, key);
    json_t *v = json_object_get(json_object_get(r, "config"), "l2");
    cr_assert(json_is_real(v), "%s.%s.config.l2 is not a number", layer, key);
    /* The shortest decimal of the float32, as Python would hold 1e-4. */
    cr_expect_eq(json_real_value(v), l2, "%s.%s l2 = %.17g, want %.17g",
                 layer, key, json_real_value(v), l2);
    cr_expect(json_is_null(json_object_get(r, "registered_name")),
              "%s.%s.registered_name is not null", layer, key);
    cr_expect_eq(json_object_size(r), 4, "%s.%s has extra keys", layer, key);
}

static void expect_null(json_t *cfg, const char *key, const char *layer)
{
    json_t *v = json_object_get(cfg, key);
    cr_expect(v != NULL && json_is_null(v), "%s.%s should be null", layer,
              key);
}

Test(grad_conv, l2_regularizer_config)
{
    zoo_graph *g = zoo_graph_new(3);
    zoo_sym *in = zoo_input(g, 3, (const int[]){6, 6, 3}, "in");
    zoo_layer *conv = zoo_conv2d(g, &(zoo_conv2d_cfg){
        .name = "conv", .filters = 4, .kernel = {3, 3}});
    zoo_layer *plain = zoo_conv2d(g, &(zoo_conv2d_cfg){
        .name = "plain", .filters = 4, .kernel = {1, 1}});
    zoo_layer *dw = zoo_depthwise_conv2d(g, &(zoo_depthwise_conv2d_cfg){
        .name = "dw", .kernel = {3, 3}});
    zoo_layer *sep = zoo_separable_conv2d(g, &(zoo_separable_conv2d_cfg){
        .name = "sep", .filters = 2, .kernel = {1, 1}});
    zoo_layer *dense = zoo_dense(g, &(zoo_dense_cfg){.name = "dense",
                                                     .units = 3});
    zoo_layer *dense0 = zoo_dense(g, &(zoo_dense_cfg){.name = "dense0",
                                                      .units = 2});
    zoo_sym *x = zoo_apply(conv, in);
    x = zoo_apply(plain, x);
    x = zoo_apply(dw, x);
    x = zoo_apply(sep, x);
    x = zoo_apply(dense, x);
    x = zoo_apply(dense0, x);
    cr_assert(x != NULL, "%s", zoo_last_error());
    cr_assert_eq(zoo_layer_set_kernel_l2(conv, 1e-4f), ZOO_OK);
    cr_assert_eq(zoo_layer_set_kernel_l2(dw, 5e-4f), ZOO_OK);
    cr_assert_eq(zoo_layer_set_kernel_l2(sep, 2e-3f), ZOO_OK);
    cr_assert_eq(zoo_layer_set_kernel_l2(dense, 0.01f), ZOO_OK);
    zoo_model *m = zoo_model_new(&in, 1, &x, 1, "m");
    zoo_graph_release(g);
    cr_assert(m != NULL, "%s", zoo_last_error());
    char *text = zoo_model_to_json(m);
    cr_assert(text != NULL, "%s", zoo_last_error());
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    cr_assert(root != NULL, "model JSON does not parse: %s", err.text);

    expect_l2(layer_config(root, "conv"), "kernel_regularizer", 1e-4,
              "conv");
    expect_null(layer_config(root, "plain"), "kernel_regularizer", "plain");
    expect_l2(layer_config(root, "dw"), "depthwise_regularizer", 5e-4, "dw");
    expect_l2(layer_config(root, "sep"), "depthwise_regularizer", 2e-3,
              "sep");
    expect_l2(layer_config(root, "sep"), "pointwise_regularizer", 2e-3,
              "sep");
    expect_null(layer_config(root, "sep"), "bias_regularizer", "sep");
    expect_l2(layer_config(root, "dense"), "kernel_regularizer", 0.01,
              "dense");
    expect_null(layer_config(root, "dense"), "bias_regularizer", "dense");
    expect_null(layer_config(root, "dense0"), "kernel_regularizer",
                "dense0");

    json_decref(root);
    free(text);
    zoo_model_free(m);
}
