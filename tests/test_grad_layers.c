/*
 * Training-mode forward and backward passes of the non-convolution layers
 * (engine/layers/{activation,batch_norm,dropout,merge,padding,pool,
 * reshape}.c), through the private layer vtable.
 *
 * Before any test runs, tests/oracle/grad_layer_cases.py writes cases
 * whose expected gradients are central finite differences, in float64, of
 * L = sum(r * y) for a fixed random r (ZOO_GRAD_LAYER_CASES for the test
 * processes). Each case runs forward (forward_train for training cases),
 * then backward with dy = r, and dx / dw are compared with the
 * differences by relative L2 error. The hand tests below check what
 * differences cannot: moving statistics worked out by hand, frozen
 * BatchNormalization, dropout masks, kinks and ties, accumulation.
 */
#include "support.h"
#include "../engine/layer.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <jansson.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRIPT ZOO_TEST_SOURCE_DIR "/oracle/grad_layer_cases.py"
#define ENV "ZOO_GRAD_LAYER_CASES"
#define MAX_IN 8
#define MAX_W 8
/* Relative L2 error allowed against the differences: float32 arithmetic
 * against float64 differences of exact (kink-free) functions. */
#define GRAD_RTOL 1e-3

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    zt_generate_cases_once(SCRIPT, NULL, "grad-layer-cases", ENV);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    zt_generated_cases_cleanup(ENV);
}

/* ------------------------------------------------------------------ */
/* Running one layer call by hand                                      */
/* ------------------------------------------------------------------ */

/* Calls `l` on Inputs shaped like xs (batch excluded), which builds it. */
static void call_on_or_die(zoo_graph *g, zoo_layer *l,
                           zoo_tensor *const *xs, int n)
{
    cr_assert(l != NULL, "layer constructor failed: %s", zoo_last_error());
    zoo_sym *ins[MAX_IN];
    for (int i = 0; i < n; i++)
        ins[i] = zoo_input(g, zoo_tensor_rank(xs[i]) - 1,
                           zoo_tensor_shape(xs[i]) + 1, NULL);
    zoo_sym *y = n == 1 ? zoo_apply(l, ins[0]) : zoo_apply_n(l, ins, n);
    cr_assert(y != NULL, "calling %s failed: %s", zoo_layer_class(l),
              zoo_last_error());
}

/* The output of one forward (training: forward_train where the layer has
 * one) on concrete inputs; *saved gets what forward_train left. */
static zoo_tensor *forward_or_die(zoo_layer *l, zoo_tensor *const *xs, int n,
                                  const zoo_exec *ex, bool train,
                                  void **saved)
{
    zoo_shape in[MAX_IN], os;
    for (int i = 0; i < n; i++)
        in[i] = zoo_tensor_zshape(xs[i]);
    cr_assert_eq(l->kind->infer(l, in, n, &os), ZOO_OK, "%s",
                 zoo_last_error());
    zoo_tensor *y = zoo_tensor_new(os.rank, os.dim);
    cr_assert(y != NULL);
    const zoo_tensor *const *cx = (const zoo_tensor *const *)xs;
    zoo_status st;
    *saved = NULL;
    if (train && l->kind->forward_train)
        st = l->kind->forward_train(l, cx, n, y, ex, saved);
    else
        st = l->kind->forward(l, cx, n, y, ex);
    cr_assert_eq(st, ZOO_OK, "%s forward: %s", zoo_layer_class(l),
                 zoo_last_error());
    return y;
}

static void backward_or_die(const zoo_layer *l, zoo_tensor *const *xs,
                            int n, const zoo_tensor *y, const zoo_tensor *dy,
                            zoo_tensor *const *dx, zoo_tensor *const *dw,
                            const zoo_exec *ex, void *saved)
{
    cr_assert(l->kind->backward != NULL, "%s has no backward",
              zoo_layer_class(l));
    zoo_status st = l->kind->backward(l, (const zoo_tensor *const *)xs, n,
                                      y, dy, dx, dw, ex, saved);
    cr_assert_eq(st, ZOO_OK, "%s backward: %s", zoo_layer_class(l),
                 zoo_last_error());
}

static zoo_tensor *zeros_like(const zoo_tensor *t)
{
    zoo_tensor *z = zoo_tensor_new(zoo_tensor_rank(t), zoo_tensor_shape(t));
    cr_assert(z != NULL);
    return z;
}

/* ||got - want|| <= rtol * ||want|| + 1e-6 * sqrt(n); otherwise why says
 * the error and the worst element. */
static bool grad_close(const zoo_tensor *got, const zoo_tensor *want,
                       double rtol, char *why, size_t n_why)
{
    size_t n = zoo_tensor_size(want);
    if (zoo_tensor_size(got) != n) {
        snprintf(why, n_why, "%zu values, expected %zu", zoo_tensor_size(got),
                 n);
        return false;
    }
    const float *a = zoo_tensor_cdata(got), *b = zoo_tensor_cdata(want);
    double num = 0.0, den = 0.0, worst = -1.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
        if (!(fabs(d) <= worst)) {
            worst = fabs(d);
            wi = i;
        }
    }
    double err = sqrt(num), ref = sqrt(den);
    if (err <= rtol * ref + 1e-6 * sqrt((double)n))
        return true;
    snprintf(why, n_why,
             "relative L2 error %.3g (|want| %.3g); worst at flat index %zu: "
             "got %.7g, want %.7g",
             ref > 0 ? err / ref : err, ref, wi, (double)a[wi],
             (double)b[wi]);
    return false;
}

/* ------------------------------------------------------------------ */
/* The generated cases                                                 */
/* ------------------------------------------------------------------ */

static zoo_tensor *load_case_file(const char *file)
{
    cr_assert(file != NULL, "manifest entry without a file");
    char *path = zt_path(zt_cases_dir(ENV), file);
    zoo_tensor *t = zoo_npy_load(path);
    cr_assert(t != NULL, "%s: %s", path, zoo_last_error());
    free(path);
    return t;
}

static int cfg_int(json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : 0;
}

static float cfg_num(json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_number(v) ? (float)json_number_value(v) : 0.0f;
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

static zoo_layer *make_layer(zoo_graph *g, const char *fam, json_t *cfg)
{
    if (!strcmp(fam, "activation")) {
        const char *a = json_string_value(json_object_get(cfg, "activation"));
        int act = zoo_activation_parse(a);
        cr_assert(act >= 0, "unknown activation %s", a ? a : "(null)");
        return zoo_activation_layer(
            g, &(zoo_activation_cfg){.activation = (zoo_activation)act});
    }
    if (!strcmp(fam, "relu"))
        return zoo_relu(g, &(zoo_relu_cfg){
                               .max_value = cfg_num(cfg, "max_value"),
                               .negative_slope = cfg_num(cfg, "negative_slope"),
                               .threshold = cfg_num(cfg, "threshold")});
    if (!strcmp(fam, "max_pool2d") || !strcmp(fam, "avg_pool2d")) {
        const char *p = json_string_value(json_object_get(cfg, "padding"));
        zoo_pool2d_cfg c = {.padding = p && !strcmp(p, "same")
                                           ? ZOO_PAD_SAME : ZOO_PAD_VALID};
        cfg_ints(cfg, "pool", c.pool, 2);
        cfg_ints(cfg, "strides", c.strides, 2);
        return fam[0] == 'm' ? zoo_max_pool2d(g, &c) : zoo_avg_pool2d(g, &c);
    }
    if (!strcmp(fam, "global_avg_pool2d"))
        return zoo_global_avg_pool2d(
            g, &(zoo_global_pool2d_cfg){.keepdims = cfg_bool(cfg, "keepdims")});
    if (!strcmp(fam, "global_max_pool2d"))
        return zoo_global_max_pool2d(
            g, &(zoo_global_pool2d_cfg){.keepdims = cfg_bool(cfg, "keepdims")});
    if (!strcmp(fam, "zero_padding2d")) {
        zoo_padding2d_cfg c = {0};
        cfg_ints(cfg, "pad", c.pad, 4);
        return zoo_zero_padding2d(g, &c);
    }
    if (!strcmp(fam, "cropping2d")) {
        zoo_cropping2d_cfg c = {0};
        cfg_ints(cfg, "crop", c.crop, 4);
        return zoo_cropping2d(g, &c);
    }
    if (!strcmp(fam, "flatten"))
        return zoo_flatten(g, NULL);
    if (!strcmp(fam, "reshape")) {
        zoo_reshape_cfg c = {
            .rank = (int)json_array_size(json_object_get(cfg, "shape"))};
        cfg_ints(cfg, "shape", c.shape, c.rank);
        return zoo_reshape(g, &c);
    }
    if (!strcmp(fam, "add"))
        return zoo_add(g, NULL);
    if (!strcmp(fam, "multiply"))
        return zoo_multiply(g, NULL);
    if (!strcmp(fam, "scaled_sum"))
        return zoo_scaled_sum(
            g, &(zoo_scaled_sum_cfg){.scale = cfg_num(cfg, "scale")});
    if (!strcmp(fam, "concatenate"))
        return zoo_concatenate(g,
                               &(zoo_concat_cfg){.axis = cfg_int(cfg, "axis")});
    if (!strcmp(fam, "batch_norm"))
        return zoo_batch_norm(g, &(zoo_batch_norm_cfg){
                                     .epsilon = cfg_num(cfg, "epsilon"),
                                     .momentum = cfg_num(cfg, "momentum"),
                                     .no_scale = cfg_bool(cfg, "no_scale"),
                                     .no_center = cfg_bool(cfg, "no_center")});
    if (!strcmp(fam, "dropout"))
        return zoo_dropout(g, &(zoo_dropout_cfg){.rate = cfg_num(cfg, "rate")});
    cr_assert(false, "family '%s' has no constructor in test_grad_layers.c",
              fam);
    return NULL;
}

static int weight_index(zoo_layer *l, const char *name)
{
    for (int i = 0; i < zoo_layer_weight_count(l); i++)
        if (!strcmp(zoo_layer_weight_name(l, i), name))
            return i;
    return -1;
}

/* Runs one case; every mismatch is reported with the case's name. */
static bool run_case(json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *fam = json_string_value(json_object_get(c, "family"));
    json_t *cfg = json_object_get(c, "cfg");
    json_t *jin = json_object_get(c, "inputs");
    json_t *jdx = json_object_get(c, "dx");
    json_t *jw = json_object_get(c, "weights");
    bool training = json_is_true(json_object_get(c, "training"));
    bool trainable = !json_is_false(json_object_get(c, "trainable"));
    int n = (int)json_array_size(jin);
    int nw = (int)json_array_size(jw);
    cr_assert(n >= 1 && n <= MAX_IN && nw <= MAX_W, "%s: bad manifest", name);
    char why[512];
    bool ok = true;

    zoo_tensor *xs[MAX_IN], *dx[MAX_IN], *dw[MAX_W] = {0};
    for (int i = 0; i < n; i++) {
        xs[i] = load_case_file(json_string_value(json_array_get(jin, (size_t)i)));
        dx[i] = zeros_like(xs[i]);
    }
    zoo_tensor *r = load_case_file(json_string_value(json_object_get(c, "r")));
    zoo_tensor *want_y =
        load_case_file(json_string_value(json_object_get(c, "output")));

    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = make_layer(g, fam, cfg);
    call_on_or_die(g, l, xs, n);
    cr_assert_eq(zoo_layer_weight_count(l), nw, "%s: %d weights, Keras %d",
                 name, zoo_layer_weight_count(l), nw);
    for (int k = 0; k < nw; k++) {
        json_t *w = json_array_get(jw, (size_t)k);
        const char *wn = json_string_value(json_object_get(w, "name"));
        cr_assert_str_eq(zoo_layer_weight_name(l, k), wn, "%s: weight %d",
                         name, k);
        zoo_tensor *v =
            load_case_file(json_string_value(json_object_get(w, "file")));
        zoo_tensor *dst = zoo_layer_weight(l, k);
        cr_assert_eq(zoo_tensor_size(v), zoo_tensor_size(dst));
        memcpy(zoo_tensor_data(dst), zoo_tensor_cdata(v),
               zoo_tensor_size(v) * sizeof(float));
        zoo_tensor_free(v);
        if (json_is_string(json_object_get(w, "grad")))
            dw[k] = zeros_like(dst);
    }
    zoo_layer_set_trainable(l, trainable);

    zoo_exec ex = {.threads = 2, .training = training, .seed = 99};
    void *saved = NULL;
    zoo_tensor *y = forward_or_die(l, xs, n, &ex, training, &saved);
    if (!zt_tensor_close(y, want_y, ZT_RTOL, ZT_ATOL, why, sizeof why)) {
        cr_expect(false, "%s: output: %s", name, why);
        ok = false;
    }
    backward_or_die(l, xs, n, y, r, dx, dw, &ex, saved);
    for (int i = 0; i < n; i++) {
        zoo_tensor *want =
            load_case_file(json_string_value(json_array_get(jdx, (size_t)i)));
        if (!grad_close(dx[i], want, GRAD_RTOL, why, sizeof why)) {
            cr_expect(false, "%s: d input %d: %s", name, i, why);
            ok = false;
        }
        zoo_tensor_free(want);
    }
    for (int k = 0; k < nw; k++) {
        json_t *w = json_array_get(jw, (size_t)k);
        json_t *gf = json_object_get(w, "grad");
        if (!json_is_string(gf))
            continue;
        zoo_tensor *want = load_case_file(json_string_value(gf));
        if (!grad_close(dw[k], want, GRAD_RTOL, why, sizeof why)) {
            cr_expect(false, "%s: d %s: %s", name,
                      json_string_value(json_object_get(w, "name")), why);
            ok = false;
        }
        zoo_tensor_free(want);
    }
    json_t *after = json_object_get(c, "weights_after");
    for (size_t k = 0; k < json_array_size(after); k++) {
        json_t *w = json_array_get(after, k);
        const char *wn = json_string_value(json_object_get(w, "name"));
        int wi = weight_index(l, wn);
        cr_assert(wi >= 0, "%s: no weight %s", name, wn);
        zoo_tensor *want =
            load_case_file(json_string_value(json_object_get(w, "file")));
        if (!zt_tensor_close(zoo_layer_weight(l, wi), want, ZT_RTOL, ZT_ATOL,
                             why, sizeof why)) {
            cr_expect(false, "%s: %s after the step: %s", name, wn, why);
            ok = false;
        }
        zoo_tensor_free(want);
    }

    free(saved);
    zoo_tensor_free(y);
    zoo_tensor_free(r);
    zoo_tensor_free(want_y);
    for (int i = 0; i < n; i++) {
        zoo_tensor_free(xs[i]);
        zoo_tensor_free(dx[i]);
    }
    for (int k = 0; k < nw; k++)
        zoo_tensor_free(dw[k]);
    zoo_graph_release(g);
    return ok;
}

static json_t *load_manifest(void)
{
    char *path = zt_path(zt_cases_dir(ENV), "manifest.json");
    json_error_t err;
    json_t *m = json_load_file(path, 0, &err);
    cr_assert(m != NULL, "cannot read %s: %s", path, err.text);
    free(path);
    return m;
}

/* Runs every case of the listed families (space-separated). */
static void run_families(const char *fams)
{
    json_t *m = load_manifest();
    json_t *cases = json_object_get(m, "cases");
    int total = 0, passed = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *f = json_string_value(json_object_get(c, "family"));
        char key[64];
        snprintf(key, sizeof key, " %s ", f ? f : "");
        char list[256];
        snprintf(list, sizeof list, " %s ", fams);
        if (!strstr(list, key))
            continue;
        total++;
        passed += run_case(c);
    }
    json_decref(m);
    cr_assert(total > 0, "no cases for '%s'", fams);
    cr_log_info("%s: %d of %d cases passed", fams, passed, total);
}

static const char *const FAMILIES =
    " activation relu max_pool2d avg_pool2d global_avg_pool2d "
    "global_max_pool2d zero_padding2d cropping2d flatten reshape add "
    "multiply scaled_sum concatenate batch_norm dropout ";

Test(grad_cases, every_family_is_run)
{
    json_t *m = load_manifest();
    json_t *cases = json_object_get(m, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const char *f = json_string_value(
            json_object_get(json_array_get(cases, i), "family"));
        char key[64];
        snprintf(key, sizeof key, " %s ", f ? f : "");
        cr_expect(strstr(FAMILIES, key) != NULL,
                  "family '%s' is not run by test_grad_layers.c", f);
    }
    json_decref(m);
}

Test(grad_cases, activation) { run_families("activation"); }
Test(grad_cases, relu) { run_families("relu"); }
Test(grad_cases, max_pool2d) { run_families("max_pool2d"); }
Test(grad_cases, avg_pool2d) { run_families("avg_pool2d"); }
Test(grad_cases, global_pools)
{
    run_families("global_avg_pool2d global_max_pool2d");
}
Test(grad_cases, padding_cropping)
{
    run_families("zero_padding2d cropping2d");
}
Test(grad_cases, flatten_reshape) { run_families("flatten reshape"); }
Test(grad_cases, merge)
{
    run_families("add multiply scaled_sum concatenate");
}
Test(grad_cases, batch_norm) { run_families("batch_norm"); }
Test(grad_cases, dropout) { run_families("dropout"); }

/* ------------------------------------------------------------------ */
/* BatchNormalization by hand                                          */
/* ------------------------------------------------------------------ */

/* x (4, 2): channel 0 holds 1, 3, 5, 7 (mean 4, biased variance 5),
 * channel 1 holds 2, 4, 6, 8 (mean 5, variance 5). */
static const float BN_X[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static zoo_layer *bn_hand_layer(zoo_graph *g, float momentum,
                                zoo_tensor *x)
{
    zoo_layer *l = zoo_batch_norm(g, &(zoo_batch_norm_cfg){
                                         .momentum = momentum});
    call_on_or_die(g, l, &x, 1);
    const float gamma[2] = {2, 1}, beta[2] = {0, 1}, mm[2] = {0.5f, -1},
                mv[2] = {2, 1};
    const float *vals[4] = {gamma, beta, mm, mv};
    for (int k = 0; k < 4; k++)
        memcpy(zoo_tensor_data(zoo_layer_weight(l, k)), vals[k],
               2 * sizeof(float));
    return l;
}

Test(bn_hand, moving_statistics_after_one_step)
{
    zoo_tensor *x = zt_tensor_or_die(2, (int[]){4, 2}, BN_X);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = bn_hand_layer(g, 0.9f, x);
    zoo_exec ex = {.threads = 1, .training = true, .seed = 1};
    void *saved = NULL;
    zoo_tensor *y = forward_or_die(l, &x, 1, &ex, true, &saved);
    cr_expect(saved != NULL, "a training step leaves the batch statistics");

    /* moving = moving * 0.9 + batch * 0.1 */
    const float *mm = zoo_tensor_cdata(zoo_layer_weight(l, 2));
    const float *mv = zoo_tensor_cdata(zoo_layer_weight(l, 3));
    cr_expect_float_eq(mm[0], 0.85f, 1e-6f, "moving_mean[0] %g", mm[0]);
    cr_expect_float_eq(mm[1], -0.4f, 1e-6f, "moving_mean[1] %g", mm[1]);
    cr_expect_float_eq(mv[0], 2.3f, 1e-6f, "moving_variance[0] %g", mv[0]);
    cr_expect_float_eq(mv[1], 1.4f, 1e-6f, "moving_variance[1] %g", mv[1]);

    /* y = gamma * (x - mean) / sqrt(5 + 0.001) + beta */
    const float *yd = zoo_tensor_cdata(y);
    double s = 1.0 / sqrt(5.001);
    for (int r = 0; r < 4; r++) {
        double want0 = 2.0 * (BN_X[2 * r] - 4.0) * s;
        double want1 = (BN_X[2 * r + 1] - 5.0) * s + 1.0;
        cr_expect(fabs(yd[2 * r] - want0) < 1e-5, "y[%d,0] %g, want %g", r,
                  yd[2 * r], want0);
        cr_expect(fabs(yd[2 * r + 1] - want1) < 1e-5, "y[%d,1] %g, want %g",
                  r, yd[2 * r + 1], want1);
    }
    free(saved);
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

Test(bn_hand, default_momentum_is_0_99)
{
    zoo_tensor *x = zt_tensor_or_die(2, (int[]){4, 2}, BN_X);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = bn_hand_layer(g, 0.0f, x);
    zoo_exec ex = {.threads = 1, .training = true, .seed = 1};
    void *saved = NULL;
    zoo_tensor *y = forward_or_die(l, &x, 1, &ex, true, &saved);
    const float *mm = zoo_tensor_cdata(zoo_layer_weight(l, 2));
    const float *mv = zoo_tensor_cdata(zoo_layer_weight(l, 3));
    /* 0.5 * 0.99 + 4 * 0.01, -1 * 0.99 + 5 * 0.01, ... */
    cr_expect_float_eq(mm[0], 0.535f, 1e-6f, "%g", mm[0]);
    cr_expect_float_eq(mm[1], -0.94f, 1e-6f, "%g", mm[1]);
    cr_expect_float_eq(mv[0], 2.03f, 1e-6f, "%g", mv[0]);
    cr_expect_float_eq(mv[1], 1.04f, 1e-6f, "%g", mv[1]);
    free(saved);
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

/* Frozen (trainable = false) in a training step, and trainable outside
 * one: inference exactly, nothing updated, nothing saved, and backward
 * treats the moving statistics as constants. */
static void bn_inference_like(bool training, bool trainable)
{
    zoo_tensor *x = zt_tensor_or_die(4, (int[]){2, 3, 2, 3}, NULL);
    zt_fill_uniform(x, 5, -2.0f, 2.0f);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_batch_norm(g, &(zoo_batch_norm_cfg){.momentum = 0.9f});
    call_on_or_die(g, l, &x, 1);
    for (int k = 0; k < 4; k++)
        zt_fill_uniform(zoo_layer_weight(l, k), 10 + (unsigned)k, 0.5f, 1.5f);
    zoo_tensor *before[4];
    for (int k = 0; k < 4; k++)
        before[k] = zoo_tensor_clone(zoo_layer_weight(l, k));
    zoo_layer_set_trainable(l, trainable);

    zoo_exec ex = {.threads = 2, .training = training, .seed = 3};
    void *saved = (void *)1;
    zoo_tensor *y = forward_or_die(l, &x, 1, &ex, true, &saved);
    cr_expect(saved == NULL, "nothing is saved outside batch statistics");
    void *unused;
    zoo_tensor *y_inf = forward_or_die(l, &x, 1, &ex, false, &unused);
    cr_expect(memcmp(zoo_tensor_cdata(y), zoo_tensor_cdata(y_inf),
                     zoo_tensor_size(y) * sizeof(float)) == 0,
              "output differs from the inference forward");
    for (int k = 0; k < 4; k++)
        cr_expect(memcmp(zoo_tensor_cdata(before[k]),
                         zoo_tensor_cdata(zoo_layer_weight(l, k)),
                         3 * sizeof(float)) == 0,
                  "weight %s changed", zoo_layer_weight_name(l, k));

    /* dx = dy * gamma / sqrt(moving_variance + eps) */
    zoo_tensor *dy = zeros_like(y), *dx = zeros_like(x);
    zt_fill_uniform(dy, 6, -1.0f, 1.0f);
    backward_or_die(l, &x, 1, y, dy, &dx, (zoo_tensor *[4]){0}, &ex, NULL);
    const float *gm = zoo_tensor_cdata(zoo_layer_weight(l, 0));
    const float *mv = zoo_tensor_cdata(zoo_layer_weight(l, 3));
    for (size_t i = 0; i < zoo_tensor_size(x); i++) {
        int k = (int)(i % 3);
        double want = zoo_tensor_cdata(dy)[i] * gm[k] / sqrt(mv[k] + 1e-3);
        cr_expect(fabs(zoo_tensor_cdata(dx)[i] - want) < 1e-5,
                  "dx[%zu] %g, want %g", i, zoo_tensor_cdata(dx)[i], want);
    }
    for (int k = 0; k < 4; k++)
        zoo_tensor_free(before[k]);
    zoo_tensor_free(dy);
    zoo_tensor_free(dx);
    zoo_tensor_free(y);
    zoo_tensor_free(y_inf);
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

Test(bn_hand, frozen_layer_runs_as_inference)
{
    bn_inference_like(true, false);
}

Test(bn_hand, outside_training_runs_as_inference)
{
    bn_inference_like(false, true);
}

/* ------------------------------------------------------------------ */
/* Dropout                                                             */
/* ------------------------------------------------------------------ */

/* A Dropout layer of `rate` built on x's shape. */
static zoo_layer *dropout_on(zoo_graph *g, float rate, zoo_tensor *x)
{
    zoo_layer *l = zoo_dropout(g, &(zoo_dropout_cfg){.rate = rate});
    call_on_or_die(g, l, &x, 1);
    return l;
}

static zoo_tensor *positive_input(int n)
{
    zoo_tensor *x = zt_tensor_or_die(2, (int[]){n / 100, 100}, NULL);
    zt_fill_uniform(x, 11, 0.5f, 1.5f); /* no zeros: y == 0 means dropped */
    return x;
}

static zoo_tensor *dropout_call_step(zoo_layer *l, zoo_tensor *x, uint64_t seed,
                                     int call, void **saved)
{
    zoo_exec ex = {.threads = 2, .training = true, .seed = seed, .call = call};
    return forward_or_die(l, &x, 1, &ex, true, saved);
}

static zoo_tensor *dropout_step(zoo_layer *l, zoo_tensor *x, uint64_t seed,
                                void **saved)
{
    zoo_exec ex = {.threads = 2, .training = true, .seed = seed};
    return forward_or_die(l, &x, 1, &ex, true, saved);
}

static bool same_values(const zoo_tensor *a, const zoo_tensor *b)
{
    return zoo_tensor_size(a) == zoo_tensor_size(b) &&
           memcmp(zoo_tensor_cdata(a), zoo_tensor_cdata(b),
                  zoo_tensor_size(a) * sizeof(float)) == 0;
}

Test(dropout_hand, kept_fraction_and_scale)
{
    const float rate = 0.3f;
    zoo_tensor *x = positive_input(200000);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = dropout_on(g, rate, x);
    void *saved;
    zoo_tensor *y = dropout_step(l, x, 42, &saved);
    cr_expect(saved != NULL);
    const float scale = 1.0f / (1.0f - rate);
    size_t n = zoo_tensor_size(x), kept = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        float v = zoo_tensor_cdata(y)[i];
        if (v != 0.0f) {
            kept++;
            bad += v != zoo_tensor_cdata(x)[i] * scale;
        }
    }
    double frac = (double)kept / (double)n;
    /* 1 - rate within 7 standard deviations (sqrt(0.21 / n) = 0.001). */
    cr_expect(fabs(frac - 0.7) < 0.007, "kept fraction %g, want 0.7", frac);
    cr_expect_eq(bad, 0, "%zu kept values are not x / (1 - rate)", bad);
    free(saved);
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

Test(dropout_hand, same_seed_same_mask_other_seed_other_mask)
{
    zoo_tensor *x = positive_input(1000);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = dropout_on(g, 0.5f, x);
    zoo_layer *l2 = dropout_on(g, 0.5f, x);
    void *s1, *s2, *s3, *s4;
    zoo_tensor *a = dropout_step(l, x, 7, &s1);
    zoo_tensor *b = dropout_step(l, x, 7, &s2);
    zoo_tensor *c = dropout_step(l, x, 8, &s3);
    zoo_tensor *d = dropout_step(l2, x, 7, &s4);
    cr_expect(same_values(a, b), "the same step seed must replay the mask");
    cr_expect(!same_values(a, c), "another seed must draw another mask");
    cr_expect(!same_values(a, d),
              "two Dropout layers must not share a mask in one step");
    free(s1);
    free(s2);
    free(s3);
    free(s4);
    zoo_tensor_free(a);
    zoo_tensor_free(b);
    zoo_tensor_free(c);
    zoo_tensor_free(d);
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

/* A layer called twice draws a mask per call; a replay of the step (same
 * seed and call) draws them again. */
Test(dropout_hand, each_call_its_own_mask_and_replay)
{
    zoo_tensor *x = positive_input(1000);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = dropout_on(g, 0.5f, x);
    call_on_or_die(g, l, &x, 1); /* a second call */
    cr_assert_eq(l->n_calls, 2);
    void *s[6];
    zoo_tensor *c0 = dropout_call_step(l, x, 5, 0, &s[0]);
    zoo_tensor *c1 = dropout_call_step(l, x, 5, 1, &s[1]);
    zoo_tensor *n0 = dropout_call_step(l, x, 6, 0, &s[2]); /* next step */
    zoo_tensor *n1 = dropout_call_step(l, x, 6, 1, &s[3]);
    zoo_tensor *r1 = dropout_call_step(l, x, 5, 1, &s[5]); /* replay, other order */
    zoo_tensor *r0 = dropout_call_step(l, x, 5, 0, &s[4]);
    cr_expect(!same_values(c0, c1), "the two calls share a mask");
    cr_expect(!same_values(c0, n0) && !same_values(c1, n1),
              "the next step repeats a mask");
    cr_expect(same_values(c0, r0) && same_values(c1, r1),
              "replaying the step does not repeat its masks");
    zoo_tensor *all[6] = {c0, c1, n0, n1, r0, r1};
    for (int i = 0; i < 6; i++) {
        free(s[i]);
        zoo_tensor_free(all[i]);
    }
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

Test(dropout_hand, backward_is_mask_times_scale_times_dy)
{
    const float rate = 0.25f;
    zoo_tensor *x = positive_input(2000);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = dropout_on(g, rate, x);
    void *saved;
    zoo_tensor *y = dropout_step(l, x, 9, &saved);
    zoo_tensor *dy = zeros_like(y), *dx = zeros_like(x);
    zt_fill_uniform(dy, 12, -1.0f, 1.0f);
    zoo_exec ex = {.threads = 2, .training = true, .seed = 9};
    backward_or_die(l, &x, 1, y, dy, &dx, NULL, &ex, saved);
    const float scale = 1.0f / (1.0f - rate);
    size_t bad = 0;
    for (size_t i = 0; i < zoo_tensor_size(x); i++) {
        bool kept = zoo_tensor_cdata(y)[i] != 0.0f;
        float want = kept ? zoo_tensor_cdata(dy)[i] * scale : 0.0f;
        bad += zoo_tensor_cdata(dx)[i] != want;
    }
    cr_expect_eq(bad, 0, "%zu of %zu gradients are not mask * scale * dy",
                 bad, zoo_tensor_size(x));

    /* After an inference forward (nothing saved) it is the identity. */
    zoo_tensor *dx2 = zeros_like(x);
    backward_or_die(l, &x, 1, y, dy, &dx2, NULL, &ex, NULL);
    cr_expect(same_values(dx2, dy), "identity backward differs from dy");
    free(saved);
    zoo_tensor_free(dx2);
    zoo_tensor_free(dy);
    zoo_tensor_free(dx);
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

Test(dropout_hand, identity_outside_training)
{
    zoo_tensor *x = positive_input(1000);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = dropout_on(g, 0.5f, x);
    zoo_exec ex = {.threads = 2, .training = false, .seed = 9};
    void *saved = (void *)1;
    zoo_tensor *y = forward_or_die(l, &x, 1, &ex, true, &saved);
    cr_expect(saved == NULL);
    cr_expect(same_values(x, y), "Dropout outside training is not identity");
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

/* ------------------------------------------------------------------ */
/* Kinks, ties, accumulation                                           */
/* ------------------------------------------------------------------ */

/* All values tie: each window's gradient goes to its first cell in
 * row-major order; 'same' pads with -inf, so a padded cell never wins
 * even over negative values. */
Test(kinks, max_pool_first_maximum_and_padding)
{
    float xv[9];
    for (int i = 0; i < 9; i++)
        xv[i] = -1.0f;
    zoo_tensor *x = zt_tensor_or_die(4, (int[]){1, 3, 3, 1}, xv);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_max_pool2d(g, &(zoo_pool2d_cfg){
                                         .pool = {2, 2},
                                         .padding = ZOO_PAD_SAME});
    call_on_or_die(g, l, &x, 1);
    zoo_exec ex = {.threads = 1};
    void *saved;
    zoo_tensor *y = forward_or_die(l, &x, 1, &ex, true, &saved);
    cr_assert_eq(zoo_tensor_size(y), 4);
    zoo_tensor *dy = zt_tensor_or_die(4, (int[]){1, 2, 2, 1},
                                      (float[]){1, 2, 3, 4});
    zoo_tensor *dx = zeros_like(x);
    backward_or_die(l, &x, 1, y, dy, &dx, NULL, &ex, saved);
    /* windows: rows 0-1 x cols 0-1 -> (0,0); rows 0-1 x col 2 -> (0,2);
     * row 2 x cols 0-1 -> (2,0); row 2 x col 2 -> (2,2). */
    const float want[9] = {1, 0, 2, 0, 0, 0, 3, 0, 4};
    char why[256];
    cr_expect(zt_allclose(zoo_tensor_cdata(dx), want, 4,
                          zoo_tensor_shape(dx), 0, 0, why, sizeof why),
              "%s", why);
    zoo_tensor_free(dy);
    zoo_tensor_free(dx);
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

Test(kinks, global_max_first_maximum)
{
    zoo_tensor *x = zt_tensor_or_die(4, (int[]){1, 2, 2, 2},
                                     (float[]){3, 1, 3, 5, 2, 5, 0, 4});
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_global_max_pool2d(g, NULL);
    call_on_or_die(g, l, &x, 1);
    zoo_exec ex = {.threads = 1};
    void *saved;
    zoo_tensor *y = forward_or_die(l, &x, 1, &ex, true, &saved);
    zoo_tensor *dy = zt_tensor_or_die(2, (int[]){1, 2}, (float[]){10, 20});
    zoo_tensor *dx = zeros_like(x);
    backward_or_die(l, &x, 1, y, dy, &dx, NULL, &ex, saved);
    /* channel 0: 3 at positions 0 and 1 -> position 0; channel 1: 5 at
     * positions 1 and 2 -> position 1. */
    const float want[8] = {10, 0, 0, 20, 0, 0, 0, 0};
    char why[256];
    cr_expect(zt_allclose(zoo_tensor_cdata(dx), want, 4,
                          zoo_tensor_shape(dx), 0, 0, why, sizeof why),
              "%s", why);
    zoo_tensor_free(dy);
    zoo_tensor_free(dx);
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

/* d ReLU / dx at exactly the kinks, TF's convention (see relu_grad in
 * engine/layers/activation.c). */
static float relu_grad_at(zoo_relu_cfg cfg, float v)
{
    zoo_tensor *x = zt_tensor_or_die(2, (int[]){1, 1}, &v);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_relu(g, &cfg);
    call_on_or_die(g, l, &x, 1);
    zoo_exec ex = {.threads = 1};
    void *saved;
    zoo_tensor *y = forward_or_die(l, &x, 1, &ex, true, &saved);
    zoo_tensor *dy = zt_tensor_or_die(2, (int[]){1, 1}, (float[]){1});
    zoo_tensor *dx = zeros_like(x);
    backward_or_die(l, &x, 1, y, dy, &dx, NULL, &ex, saved);
    float d = zoo_tensor_cdata(dx)[0];
    zoo_tensor_free(dy);
    zoo_tensor_free(dx);
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_graph_release(g);
    return d;
}

Test(kinks, relu_at_the_kinks)
{
    /* tf.nn.relu: 0 at 0. tf.nn.relu6: 0 at 0 and at 6. */
    cr_expect_eq(relu_grad_at((zoo_relu_cfg){0}, 0.0f), 0.0f);
    cr_expect_eq(relu_grad_at((zoo_relu_cfg){.max_value = 6}, 6.0f), 0.0f);
    cr_expect_eq(relu_grad_at((zoo_relu_cfg){.max_value = 6}, 0.0f), 0.0f);
    /* relu then clip_by_value, which passes on [0, max] inclusive. */
    cr_expect_eq(relu_grad_at((zoo_relu_cfg){.max_value = 4.5f}, 4.5f), 1.0f);
    cr_expect_eq(relu_grad_at((zoo_relu_cfg){.max_value = 4.5f}, 4.6f), 0.0f);
    /* tf.nn.leaky_relu: the slope at 0. */
    cr_expect_float_eq(
        relu_grad_at((zoo_relu_cfg){.negative_slope = 0.2f}, 0.0f), 0.2f,
        1e-7f);
    /* x * (x > t) - slope * relu(t - x): 0 at x == t. */
    cr_expect_eq(relu_grad_at((zoo_relu_cfg){.negative_slope = 0.1f,
                                             .threshold = 0.5f},
                              0.5f),
                 0.0f);
    cr_expect_float_eq(relu_grad_at((zoo_relu_cfg){.negative_slope = 0.1f,
                                                   .threshold = 0.5f},
                                    0.4f),
                       0.1f, 1e-7f);
    /* threshold < 0 with a ceiling: x in (t, 0) is clipped to 0. */
    cr_expect_eq(relu_grad_at((zoo_relu_cfg){.threshold = -0.5f,
                                             .max_value = 3},
                              -0.25f),
                 0.0f);
    cr_expect_eq(relu_grad_at((zoo_relu_cfg){.threshold = -0.5f}, -0.25f),
                 1.0f);
}

/* backward ADDS: twice is 2x, for a layer with weights (BN in training,
 * through saved state) and one without (max pooling). */
Test(accumulate, backward_twice_is_twice)
{
    zoo_tensor *x = zt_tensor_or_die(4, (int[]){2, 4, 4, 3}, NULL);
    zt_fill_uniform(x, 21, -2.0f, 2.0f);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *bn = zoo_batch_norm(g, NULL);
    zoo_layer *mp = zoo_max_pool2d(g, &(zoo_pool2d_cfg){
                                          .pool = {3, 3}, .strides = {1, 1}});
    call_on_or_die(g, bn, &x, 1);
    call_on_or_die(g, mp, &x, 1);
    zt_fill_uniform(zoo_layer_weight(bn, 0), 22, 0.5f, 1.5f);
    zt_fill_uniform(zoo_layer_weight(bn, 1), 23, -0.5f, 0.5f);
    zoo_exec ex = {.threads = 2, .training = true, .seed = 4};
    zoo_layer *layers[2] = {bn, mp};
    for (int t = 0; t < 2; t++) {
        zoo_layer *l = layers[t];
        void *saved;
        zoo_tensor *y = forward_or_die(l, &x, 1, &ex, true, &saved);
        zoo_tensor *dy = zeros_like(y);
        zt_fill_uniform(dy, 24, -1.0f, 1.0f);
        int nw = zoo_layer_weight_count(l);
        zoo_tensor *once[3], *twice[3];
        zoo_tensor *dw1[4] = {0}, *dw2[4] = {0};
        once[0] = zeros_like(x);
        twice[0] = zeros_like(x);
        for (int k = 0; k < nw && k < 2; k++) {
            dw1[k] = once[1 + k] = zeros_like(zoo_layer_weight(l, k));
            dw2[k] = twice[1 + k] = zeros_like(zoo_layer_weight(l, k));
        }
        backward_or_die(l, &x, 1, y, dy, &once[0], dw1, &ex, saved);
        backward_or_die(l, &x, 1, y, dy, &twice[0], dw2, &ex, saved);
        backward_or_die(l, &x, 1, y, dy, &twice[0], dw2, &ex, saved);
        int nt = 1 + (nw < 2 ? nw : 2);
        for (int i = 0; i < nt; i++) {
            const float *a = zoo_tensor_cdata(once[i]);
            const float *b = zoo_tensor_cdata(twice[i]);
            size_t bad = 0;
            double norm = 0.0;
            /* Overlapping windows sum in another order: not bit-exact. */
            for (size_t e = 0; e < zoo_tensor_size(once[i]); e++) {
                bad += !(fabs(b[e] - 2.0 * a[e]) <= 1e-6 * fabs(a[e]) + 1e-7);
                norm += fabs(a[e]);
            }
            cr_expect(norm > 0.0, "%s gradient %d is all zero",
                      zoo_layer_class(l), i);
            cr_expect_eq(bad, 0, "%s gradient %d: %zu values are not 2x",
                         zoo_layer_class(l), i, bad);
            zoo_tensor_free(once[i]);
            zoo_tensor_free(twice[i]);
        }
        free(saved);
        zoo_tensor_free(dy);
        zoo_tensor_free(y);
    }
    zoo_tensor_free(x);
    zoo_graph_release(g);
}

/* A NULL dx entry is skipped; the others are still filled. */
Test(accumulate, null_gradients_are_skipped)
{
    zoo_tensor *a = zt_tensor_or_die(2, (int[]){2, 3},
                                     (float[]){1, 2, 3, 4, 5, 6});
    zoo_tensor *b = zt_tensor_or_die(2, (int[]){2, 3},
                                     (float[]){-1, 0.5f, 2, 0, 3, -2});
    zoo_tensor *xs[2] = {a, b};
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *l = zoo_multiply(g, NULL);
    call_on_or_die(g, l, xs, 2);
    zoo_exec ex = {.threads = 1};
    void *saved;
    zoo_tensor *y = forward_or_die(l, xs, 2, &ex, true, &saved);
    zoo_tensor *dy = zt_tensor_or_die(2, (int[]){2, 3},
                                      (float[]){1, 1, 2, 2, 3, 3});
    zoo_tensor *db = zeros_like(b);
    backward_or_die(l, xs, 2, y, dy, (zoo_tensor *[2]){NULL, db}, NULL, &ex,
                    saved);
    /* d/db (a * b) = a * dy */
    const float want[6] = {1, 2, 6, 8, 15, 18};
    char why[256];
    cr_expect(zt_allclose(zoo_tensor_cdata(db), want, 2, zoo_tensor_shape(db),
                          0, 0, why, sizeof why),
              "%s", why);
    zoo_tensor_free(db);
    zoo_tensor_free(dy);
    zoo_tensor_free(y);
    zoo_tensor_free(a);
    zoo_tensor_free(b);
    zoo_graph_release(g);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

/* Forward (training) and backward of `l` on x with `threads`; returns
 * y, dx and (if the layer has them) dgamma / dbeta, in out[0..3]. */
static void run_with_threads(zoo_layer *l, zoo_tensor *x, int threads,
                             const zoo_tensor *dy, zoo_tensor *out[4])
{
    zoo_exec ex = {.threads = threads, .training = true, .seed = 77};
    void *saved;
    out[0] = forward_or_die(l, &x, 1, &ex, true, &saved);
    out[1] = zeros_like(x);
    out[2] = out[3] = NULL;
    zoo_tensor *dw[4] = {0};
    for (int k = 0; k < 2 && k < zoo_layer_weight_count(l); k++)
        dw[k] = out[2 + k] = zeros_like(zoo_layer_weight(l, k));
    backward_or_die(l, &x, 1, out[0], dy, &out[1], dw, &ex, saved);
    free(saved);
}

/* Large enough for every parallel path; fixed reduction chunks make the
 * results independent of the thread count, bit for bit. */
Test(threads, results_do_not_depend_on_thread_count)
{
    zoo_tensor *x = zt_tensor_or_die(4, (int[]){8, 24, 24, 16}, NULL);
    zt_fill_uniform(x, 31, -3.0f, 3.0f);
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *layers[] = {
        zoo_batch_norm(g, NULL),
        zoo_activation_layer(g, &(zoo_activation_cfg){.activation =
                                                          ZOO_ACT_SOFTMAX}),
        zoo_activation_layer(g, &(zoo_activation_cfg){.activation =
                                                          ZOO_ACT_SWISH}),
        zoo_relu(g, &(zoo_relu_cfg){.max_value = 2.5f, .negative_slope = 0.1f}),
        zoo_avg_pool2d(g, &(zoo_pool2d_cfg){.pool = {3, 3},
                                            .strides = {1, 1},
                                            .padding = ZOO_PAD_SAME}),
        zoo_max_pool2d(g, &(zoo_pool2d_cfg){.pool = {3, 3},
                                            .strides = {2, 2}}),
        zoo_global_max_pool2d(g, NULL),
        zoo_zero_padding2d(g, NULL),
        zoo_dropout(g, &(zoo_dropout_cfg){.rate = 0.4f}),
    };
    const int n_layers = (int)(sizeof layers / sizeof *layers);
    for (int i = 0; i < n_layers; i++)
        call_on_or_die(g, layers[i], &x, 1);
    zt_fill_uniform(zoo_layer_weight(layers[0], 0), 32, 0.5f, 1.5f);
    for (int i = 0; i < n_layers; i++) {
        zoo_layer *l = layers[i];
        zoo_tensor *one[4], *many[4];
        /* The same dy for both runs, shaped like the output. */
        void *unused;
        zoo_exec ex0 = {.threads = 1};
        zoo_tensor *shape = forward_or_die(l, &x, 1, &ex0, false, &unused);
        zoo_tensor *dy = zeros_like(shape);
        zt_fill_uniform(dy, 33, -1.0f, 1.0f);
        /* BN's moving statistics move each step: start both runs alike. */
        zoo_tensor *mm = zoo_layer_weight_count(l) > 2
                             ? zoo_tensor_clone(zoo_layer_weight(l, 2)) : NULL;
        zoo_tensor *mv = zoo_layer_weight_count(l) > 3
                             ? zoo_tensor_clone(zoo_layer_weight(l, 3)) : NULL;
        run_with_threads(l, x, 1, dy, one);
        zoo_tensor *mm1 = mm ? zoo_tensor_clone(zoo_layer_weight(l, 2)) : NULL;
        if (mm) {
            memcpy(zoo_tensor_data(zoo_layer_weight(l, 2)),
                   zoo_tensor_cdata(mm), zoo_tensor_size(mm) * sizeof(float));
            memcpy(zoo_tensor_data(zoo_layer_weight(l, 3)),
                   zoo_tensor_cdata(mv), zoo_tensor_size(mv) * sizeof(float));
        }
        run_with_threads(l, x, 4, dy, many);
        for (int k = 0; k < 4; k++) {
            if (!one[k])
                continue;
            cr_expect(same_values(one[k], many[k]),
                      "%s: result %d differs between 1 and 4 threads",
                      zoo_layer_class(l), k);
            zoo_tensor_free(one[k]);
            zoo_tensor_free(many[k]);
        }
        if (mm1) {
            cr_expect(same_values(mm1, zoo_layer_weight(l, 2)),
                      "%s: moving mean differs between 1 and 4 threads",
                      zoo_layer_class(l));
            zoo_tensor_free(mm1);
        }
        zoo_tensor_free(mm);
        zoo_tensor_free(mv);
        zoo_tensor_free(dy);
        zoo_tensor_free(shape);
    }
    zoo_tensor_free(x);
    zoo_graph_release(g);
}
