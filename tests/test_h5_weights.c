/*
 * Keras .h5 weights: zoo_model_load_weights / zoo_model_save_weights.
 *
 * Before any test runs, tests/oracle/h5_cases.py (h5py + NumPy) writes
 * weight files in the layouts Keras and h5py produce, hostile files, the
 * arrays they hold and reference outputs into a temporary directory
 * (ZOO_H5_CASES for the test processes; removed afterwards). The models
 * are built here exactly as the script's docstring describes them. Files
 * zoo saves are checked by the same script's "check" mode, which reads
 * them as Keras's legacy loader does.
 */
#include "support.h"

#include <zoo/nets.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <jansson.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCRIPT ZOO_TEST_SOURCE_DIR "/oracle/h5_cases.py"

/* ------------------------------------------------------------------ */
/* The generated cases                                                 */
/* ------------------------------------------------------------------ */

/* Once per run, in the runner process: the test processes inherit the
 * environment. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    zt_generate_cases_once(SCRIPT, NULL, "h5-cases", "ZOO_H5_CASES");
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    zt_generated_cases_cleanup("ZOO_H5_CASES");
}

/* dir/name, malloc'ed. */
static char *case_path(const char *name) { return zt_path(zt_cases_dir("ZOO_H5_CASES"), name); }

/* ------------------------------------------------------------------ */
/* The models of h5_cases.py                                           */
/* ------------------------------------------------------------------ */

static zoo_model *finish(zoo_graph *g, zoo_sym *in, zoo_sym *x,
                         const char *name)
{
    zoo_model *m = x ? zoo_model_new(&in, 1, &x, 1, name) : NULL;
    zoo_graph_release(g);
    cr_assert(m != NULL, "building model %s: %s", name, zoo_last_error());
    return m;
}

static zoo_model *build_small(unsigned long long seed)
{
    zoo_graph *g = zoo_graph_new(seed);
    zoo_sym *in = zoo_input(g, 3, (const int[]){6, 6, 3}, "input_1");
    zoo_sym *x = zoo_apply(
        zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "conv", .filters = 4,
                                        .kernel = {3, 3},
                                        .padding = ZOO_PAD_SAME}),
        in);
    x = zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = "bn"}), x);
    x = zoo_apply(zoo_relu(g, &(zoo_relu_cfg){.name = "relu"}), x);
    x = zoo_apply(
        zoo_global_avg_pool2d(g, &(zoo_global_pool2d_cfg){.name = "gap"}), x);
    x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "dense", .units = 5,
                                                .activation = ZOO_ACT_SOFTMAX}),
                  x);
    return finish(g, in, x, "small");
}

static zoo_model *build_noscale(unsigned long long seed)
{
    zoo_graph *g = zoo_graph_new(seed);
    zoo_sym *in = zoo_input(g, 3, (const int[]){4, 4, 2}, "input_1");
    zoo_sym *x = zoo_apply(
        zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "conv", .filters = 3,
                                        .kernel = {1, 1}, .no_bias = true}),
        in);
    x = zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = "bn",
                                                          .no_scale = true}),
                  x);
    x = zoo_apply(
        zoo_global_avg_pool2d(g, &(zoo_global_pool2d_cfg){.name = "gap"}), x);
    return finish(g, in, x, "noscale");
}

static zoo_model *build_mlp(unsigned long long seed)
{
    zoo_graph *g = zoo_graph_new(seed);
    zoo_sym *in = zoo_input(g, 1, (const int[]){4}, "input_1");
    zoo_sym *x = in;
    x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "d1", .units = 4}), x);
    x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "d2", .units = 4}), x);
    x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "d3", .units = 3}), x);
    return finish(g, in, x, "mlp");
}

static zoo_model *build_seq(unsigned long long seed)
{
    zoo_graph *g = zoo_graph_new(seed);
    zoo_layer *d = zoo_dense(g, &(zoo_dense_cfg){.name = "d", .units = 3});
    zoo_model *m = zoo_sequential(g, 1, (const int[]){4}, &d, 1, "seq");
    zoo_graph_release(g);
    cr_assert(m != NULL, "building seq: %s", zoo_last_error());
    return m;
}

static zoo_model *build_named(const char *name, unsigned long long seed)
{
    if (!strcmp(name, "small"))
        return build_small(seed);
    if (!strcmp(name, "noscale"))
        return build_noscale(seed);
    if (!strcmp(name, "mlp"))
        return build_mlp(seed);
    if (!strcmp(name, "seq"))
        return build_seq(seed);
    cr_assert_fail("unknown model '%s' in the manifest", name);
    return NULL;
}

/* A model with several layer kinds and a residual Add, for round trips. */
static zoo_model *build_mixed(unsigned long long seed)
{
    zoo_graph *g = zoo_graph_new(seed);
    zoo_sym *in = zoo_input(g, 3, (const int[]){8, 8, 3}, "img");
    zoo_sym *c1 = zoo_apply(
        zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "c1", .filters = 6,
                                        .kernel = {3, 3},
                                        .padding = ZOO_PAD_SAME,
                                        .activation = ZOO_ACT_RELU}),
        in);
    zoo_sym *a = zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = "bn1"}), c1);
    zoo_sym *b = zoo_apply(
        zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "short", .filters = 6,
                                        .kernel = {1, 1}}),
        c1);
    zoo_sym *x = zoo_apply_n(zoo_add(g, &(zoo_named_cfg){.name = "add"}),
                             (zoo_sym *[]){a, b}, 2);
    x = zoo_apply(zoo_depthwise_conv2d(
                      g, &(zoo_depthwise_conv2d_cfg){.name = "dw",
                                                     .kernel = {3, 3},
                                                     .depth_multiplier = 2}),
                  x);
    x = zoo_apply(zoo_separable_conv2d(
                      g, &(zoo_separable_conv2d_cfg){.name = "sep",
                                                     .filters = 5,
                                                     .kernel = {3, 3},
                                                     .padding = ZOO_PAD_SAME}),
                  x);
    x = zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = "bn2",
                                                          .no_scale = true}),
                  x);
    x = zoo_apply(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.name = "pool"}), x);
    x = zoo_apply(zoo_flatten(g, &(zoo_named_cfg){.name = "flat"}), x);
    x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "fc", .units = 7,
                                                .activation = ZOO_ACT_RELU}),
                  x);
    x = zoo_apply(zoo_dropout(g, &(zoo_dropout_cfg){.name = "drop", .rate = 0.5f}), x);
    x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "out", .units = 3,
                                                .no_bias = true,
                                                .activation = ZOO_ACT_SOFTMAX}),
                  x);
    return finish(g, in, x, "mixed");
}

/* ------------------------------------------------------------------ */
/* Weight helpers                                                      */
/* ------------------------------------------------------------------ */

/* Fills every weight with distinct values (BN variances positive), so a
 * model's weights differ from any other seed's and from the defaults. */
static void randomize(zoo_model *m, unsigned long long seed)
{
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int w = 0; w < zoo_layer_weight_count(l); w++) {
            bool var = !strcmp(zoo_layer_weight_name(l, w), "moving_variance");
            zt_fill_uniform(zoo_layer_weight(l, w), seed * 1000 + (unsigned)(i * 16 + w),
                            var ? 0.5f : -1.0f, var ? 2.0f : 1.0f);
        }
    }
}

typedef struct {
    zoo_tensor **t;
    int n;
} snapshot;

static snapshot take_snapshot(zoo_model *m)
{
    snapshot s = {0};
    int total = 0;
    for (int i = 0; i < zoo_model_layer_count(m); i++)
        total += zoo_layer_weight_count(zoo_model_layer(m, i));
    s.t = calloc((size_t)total + 1, sizeof *s.t);
    cr_assert(s.t);
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int w = 0; w < zoo_layer_weight_count(l); w++)
            s.t[s.n++] = zoo_tensor_clone(zoo_layer_weight(l, w));
    }
    return s;
}

static void free_snapshot(snapshot *s)
{
    for (int i = 0; i < s->n; i++)
        zoo_tensor_free(s->t[i]);
    free(s->t);
}

static bool tensors_identical(const zoo_tensor *a, const zoo_tensor *b)
{
    if (zoo_tensor_rank(a) != zoo_tensor_rank(b))
        return false;
    if (memcmp(zoo_tensor_shape(a), zoo_tensor_shape(b),
               (size_t)zoo_tensor_rank(a) * sizeof(int)) != 0)
        return false;
    return memcmp(zoo_tensor_cdata(a), zoo_tensor_cdata(b),
                  zoo_tensor_size(a) * sizeof(float)) == 0;
}

/* Number of weights that differ from the snapshot (bitwise). */
static int diff_snapshot(zoo_model *m, const snapshot *s)
{
    int k = 0, diffs = 0;
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int w = 0; w < zoo_layer_weight_count(l); w++)
            diffs += !tensors_identical(zoo_layer_weight(l, w), s->t[k++]);
    }
    return diffs;
}

/* Is weight w of layer `layer` bitwise equal to the script's array
 * PREFIX.SRC_LAYER.I.npy? */
static bool weight_is_npy(zoo_model *m, const char *layer, int w,
                          const char *prefix, const char *src_layer, int i)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s.%d.npy", prefix, src_layer, i);
    char *p = case_path(name);
    zoo_tensor *want = zoo_npy_load(p);
    cr_assert(want, "%s", zoo_last_error());
    free(p);
    zoo_layer *l = zoo_model_get_layer(m, layer);
    cr_assert(l, "no layer %s", layer);
    bool same = tensors_identical(zoo_layer_weight(l, w), want);
    zoo_tensor_free(want);
    return same;
}

/* Every weight of every layer equals PREFIX.LAYER.I.npy; returns the
 * number of mismatches and describes the first in `msg`. */
static int weights_match_arrays(zoo_model *m, const char *prefix, char *msg,
                                size_t n)
{
    int bad = 0;
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int w = 0; w < zoo_layer_weight_count(l); w++)
            if (!weight_is_npy(m, zoo_layer_name(l), w, prefix,
                               zoo_layer_name(l), w)) {
                if (!bad++)
                    snprintf(msg, n, "layer %s weight %d (%s) differs from %s.%s.%d.npy",
                             zoo_layer_name(l), w, zoo_layer_weight_name(l, w),
                             prefix, zoo_layer_name(l), w);
            }
    }
    return bad;
}

static zoo_status load(zoo_model *m, const char *file, bool by_name,
                       bool skip)
{
    char *p = case_path(file);
    zoo_clear_error();
    zoo_status st = zoo_model_load_weights(
        m, p, &(zoo_load_opts){.by_name = by_name, .skip_mismatch = skip});
    free(p);
    return st;
}

static bool contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* Runs the checker on a saved file; returns its output (caller frees)
 * and its exit status in *rc. */
static char *run_checker(const char *file, const char *args, int *rc)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' check '%s' %s 2>&1", ZOO_TEST_PYTHON,
             SCRIPT, file, args);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen(%s) failed", cmd);
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    cr_assert(out);
    size_t got;
    while ((got = fread(out + len, 1, cap - 1 - len, p)) > 0) {
        len += got;
        if (len + 1 >= cap)
            break;
    }
    out[len] = '\0';
    int status = pclose(p);
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

/* The model's layers and weight shapes as the checker's --expect JSON. */
static void write_spec(zoo_model *m, const char *path)
{
    json_t *layers = json_array();
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        json_t *ws = json_array();
        for (int w = 0; w < zoo_layer_weight_count(l); w++) {
            zoo_tensor *t = zoo_layer_weight(l, w);
            json_t *shape = json_array();
            for (int d = 0; d < zoo_tensor_rank(t); d++)
                json_array_append_new(shape, json_integer(zoo_tensor_shape(t)[d]));
            json_array_append_new(ws, json_pack("[s,o]", zoo_layer_weight_name(l, w), shape));
        }
        json_array_append_new(layers, json_pack("[s,o]", zoo_layer_name(l), ws));
    }
    json_t *spec = json_pack("{s:o}", "layers", layers);
    cr_assert(json_dump_file(spec, path, 0) == 0, "cannot write %s", path);
    json_decref(spec);
}

static void expect_checker_ok(zoo_model *m, const char *file, const char *extra)
{
    char *spec = zt_path(zt_cases_dir("ZOO_H5_CASES"), "spec.json");
    char args[2048];
    if (extra && !strncmp(extra, "--model", 7)) {
        snprintf(args, sizeof args, "%s --arrays '%s'", extra, zt_cases_dir("ZOO_H5_CASES"));
    } else {
        char specfile[1024];
        snprintf(specfile, sizeof specfile, "%s.%d.json", spec, (int)getpid());
        write_spec(m, specfile);
        snprintf(args, sizeof args, "--expect '%s' %s", specfile, extra ? extra : "");
    }
    int rc;
    char *out = run_checker(file, args, &rc);
    cr_expect(rc == 0 && contains(out, "OK"),
              "the Keras-style checker rejected %s (exit %d):\n%s", file, rc, out);
    free(out);
    free(spec);
}

/* ------------------------------------------------------------------ */
/* Good layouts                                                        */
/* ------------------------------------------------------------------ */

Test(h5_load, every_good_layout_loads_the_written_arrays)
{
    char *mpath = case_path("manifest.json");
    json_error_t err;
    json_t *man = json_load_file(mpath, 0, &err);
    cr_assert(man, "cannot read %s: %s", mpath, err.text);
    free(mpath);
    json_t *good = json_object_get(man, "good");
    cr_assert(json_array_size(good) >= 9, "manifest lists too few good cases");
    size_t i;
    json_t *c;
    int failures = 0;
    json_array_foreach(good, i, c) {
        const char *file = json_string_value(json_object_get(c, "file"));
        const char *model = json_string_value(json_object_get(c, "model"));
        const char *arrays = json_string_value(json_object_get(c, "arrays"));
        zoo_model *m = build_named(model, 99);
        zoo_status st = load(m, file, false, false);
        char msg[512] = "";
        if (st != ZOO_OK) {
            cr_log_error("%s: load failed: %s", file, zoo_last_error());
            failures++;
        } else if (weights_match_arrays(m, arrays, msg, sizeof msg)) {
            cr_log_error("%s: %s", file, msg);
            failures++;
        }
        zoo_model_free(m);
    }
    json_decref(man);
    cr_expect_eq(failures, 0, "%d good layout(s) did not load exactly (see log)",
                 failures);
}

Test(h5_load, by_name_on_same_names_matches_order_load)
{
    /* Every Keras-2-named file loads identically by name. */
    const char *files[] = {"small_fixed.h5", "small_vlen.h5", "small_chunked.h5",
                           "small_full.h5", "small_lowlevel.h5"};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        zoo_model *m = build_small(5);
        cr_assert_eq(load(m, files[k], true, false), ZOO_OK, "%s by_name: %s",
                     files[k], zoo_last_error());
        char msg[512];
        cr_expect_eq(weights_match_arrays(m, "small", msg, sizeof msg), 0,
                     "%s by_name: %s", files[k], msg);
        zoo_model_free(m);
    }
}

Test(h5_load, keras1_names_load_by_order_not_by_name)
{
    /* Keras-1 layer names differ from the model's: by order loads every
     * array (BN running_std into moving_variance); by name finds nothing
     * to load and leaves the model as it was. */
    zoo_model *m = build_small(3);
    snapshot s = take_snapshot(m);
    cr_assert_eq(load(m, "small_keras1.h5", true, false), ZOO_OK, "%s",
                 zoo_last_error());
    cr_expect_eq(diff_snapshot(m, &s), 0, "by_name changed weights");
    cr_assert_eq(load(m, "small_keras1.h5", false, false), ZOO_OK, "%s",
                 zoo_last_error());
    cr_expect(weight_is_npy(m, "bn", 3, "small", "bn", 3),
              "running_std did not load into moving_variance");
    char msg[512];
    cr_expect_eq(weights_match_arrays(m, "small", msg, sizeof msg), 0, "%s", msg);
    free_snapshot(&s);
    zoo_model_free(m);
}

/* Predicts `xname` and compares with `yname` (the script's forward). */
static void expect_forward(zoo_model *m, const char *xname, const char *yname)
{
    char *xp = case_path(xname), *yp = case_path(yname);
    zoo_tensor *x = zoo_npy_load(xp), *want = zoo_npy_load(yp);
    cr_assert(x && want, "%s", zoo_last_error());
    zoo_tensor *y = NULL;
    cr_assert_eq(zoo_model_predict(m, &x, 1, &y, 1, NULL), ZOO_OK, "predict: %s",
                 zoo_last_error());
    char msg[512];
    cr_expect(zt_tensor_close(y, want, 1e-4, 1e-6, msg, sizeof msg),
              "%s vs the NumPy forward: %s", zoo_model_name(m), msg);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_tensor_free(want);
    free(xp);
    free(yp);
}

Test(h5_load, loaded_small_model_matches_numpy_forward)
{
    zoo_model *m = build_small(11);
    cr_assert_eq(load(m, "small_fixed.h5", false, false), ZOO_OK, "%s",
                 zoo_last_error());
    expect_forward(m, "small_x.npy", "small_y.npy");
    zoo_model_free(m);
    /* The Keras-1 file holds the same arrays: same output. */
    m = build_small(12);
    cr_assert_eq(load(m, "small_keras1.h5", false, false), ZOO_OK, "%s",
                 zoo_last_error());
    expect_forward(m, "small_x.npy", "small_y.npy");
    zoo_model_free(m);
}

Test(h5_load, batchnorm_without_scale_has_three_arrays)
{
    zoo_model *m = build_noscale(4);
    zoo_layer *bn = zoo_model_get_layer(m, "bn");
    cr_assert_eq(zoo_layer_weight_count(bn), 3);
    cr_assert_eq(load(m, "noscale.h5", false, false), ZOO_OK, "%s",
                 zoo_last_error());
    cr_expect_str_eq(zoo_layer_weight_name(bn, 0), "beta");
    cr_expect(weight_is_npy(m, "bn", 0, "noscale", "bn", 0));
    cr_expect(weight_is_npy(m, "bn", 2, "noscale", "bn", 2));
    expect_forward(m, "noscale_x.npy", "noscale_y.npy");
    /* A 4-array BN file does not fit a scale=False layer. */
    zoo_status st = load(m, "small_fixed.h5", false, false);
    cr_expect_neq(st, ZOO_OK);
    zoo_model_free(m);
}

/* ------------------------------------------------------------------ */
/* Pairing: by order, by name, skip_mismatch                           */
/* ------------------------------------------------------------------ */

Test(h5_pairing, swapped_layer_names_load_swapped_by_order_right_by_name)
{
    /* The file lists d2 before d1 (same shapes): Keras's order-based
     * pairing ignores names, so d1 receives d2's arrays. */
    zoo_model *m = build_mlp(1);
    cr_assert_eq(load(m, "mlp_swapped.h5", false, false), ZOO_OK, "%s",
                 zoo_last_error());
    for (int w = 0; w < 2; w++) {
        cr_expect(weight_is_npy(m, "d1", w, "mlp", "d2", w), "d1[%d] != file d2", w);
        cr_expect(weight_is_npy(m, "d2", w, "mlp", "d1", w), "d2[%d] != file d1", w);
        cr_expect(weight_is_npy(m, "d3", w, "mlp", "d3", w));
    }
    cr_assert_eq(load(m, "mlp_swapped.h5", true, false), ZOO_OK, "%s",
                 zoo_last_error());
    char msg[512];
    cr_expect_eq(weights_match_arrays(m, "mlp", msg, sizeof msg), 0, "%s", msg);
    zoo_model_free(m);
}

Test(h5_pairing, reordered_file_fails_by_order_loads_by_name)
{
    zoo_model *m = build_mlp(2);
    snapshot s = take_snapshot(m);
    zoo_status st = load(m, "mlp_reordered.h5", false, false);
    cr_expect_eq(st, ZOO_ERR_SHAPE, "status %s: %s", zoo_status_name(st),
                 zoo_last_error());
    const char *e = zoo_last_error();
    cr_expect(contains(e, "mlp_reordered.h5") &&
                  contains(e, "layer 'd1' (file layer 'd3')") &&
                  contains(e, "weight 0 ('d3/kernel:0') has shape (4, 3) in "
                              "the file, the model expects (4, 4)"),
              "unexpected message: %s", e);
    cr_expect_eq(diff_snapshot(m, &s), 0, "a failed load changed weights");
    cr_assert_eq(load(m, "mlp_reordered.h5", true, false), ZOO_OK, "%s",
                 zoo_last_error());
    char msg[512];
    cr_expect_eq(weights_match_arrays(m, "mlp", msg, sizeof msg), 0, "%s", msg);
    free_snapshot(&s);
    zoo_model_free(m);
}

Test(h5_pairing, by_name_skips_unknown_and_keeps_missing_layers)
{
    zoo_model *m = build_mlp(3);
    snapshot s = take_snapshot(m);
    /* By order the layer counts differ, as Keras reports it. */
    zoo_status st = load(m, "mlp_partial.h5", false, false);
    cr_expect_eq(st, ZOO_ERR_SHAPE);
    cr_expect(contains(zoo_last_error(),
                       "the weight file has 2 layers with weights, the model "
                       "'mlp' has 3"),
              "%s", zoo_last_error());
    /* skip_mismatch does not make a layer-count mismatch loadable. */
    cr_expect_neq(load(m, "mlp_partial.h5", false, true), ZOO_OK);
    cr_expect_eq(diff_snapshot(m, &s), 0);
    /* By name: d1 loads, 'extra' is skipped, d2 and d3 stay. */
    cr_assert_eq(load(m, "mlp_partial.h5", true, false), ZOO_OK, "%s",
                 zoo_last_error());
    cr_expect(weight_is_npy(m, "d1", 0, "mlp", "d1", 0));
    cr_expect(weight_is_npy(m, "d1", 1, "mlp", "d1", 1));
    cr_expect_eq(diff_snapshot(m, &s), 2, "only d1's two weights should change");
    free_snapshot(&s);
    zoo_model_free(m);
}

Test(h5_pairing, wrong_shape_fails_atomically_skip_mismatch_loads_rest)
{
    for (int by_name = 0; by_name < 2; by_name++) {
        zoo_model *m = build_mlp(4);
        snapshot s = take_snapshot(m);
        zoo_status st = load(m, "mlp_wrong_shape.h5", by_name, false);
        cr_expect_eq(st, ZOO_ERR_SHAPE, "status %s", zoo_status_name(st));
        cr_expect(contains(zoo_last_error(),
                           "mlp_wrong_shape.h5: layer 'd2' (file layer 'd2'): "
                           "weight 0 ('d2/kernel:0') has shape (5, 4) in the "
                           "file, the model expects (4, 4)"),
                  "unexpected message: %s", zoo_last_error());
        /* d1 was read before d2 failed: still nothing may change. */
        cr_expect_eq(diff_snapshot(m, &s), 0, "a failed load changed weights");

        cr_assert_eq(load(m, "mlp_wrong_shape.h5", by_name, true), ZOO_OK,
                     "skip_mismatch: %s", zoo_last_error());
        cr_expect(weight_is_npy(m, "d1", 0, "mlp", "d1", 0));
        cr_expect(weight_is_npy(m, "d3", 1, "mlp", "d3", 1));
        cr_expect(weight_is_npy(m, "d2", 1, "mlp", "d2", 1),
                  "d2's bias (right shape) should load");
        zoo_layer *d2 = zoo_model_get_layer(m, "d2");
        cr_expect(tensors_identical(zoo_layer_weight(d2, 0), s.t[2]),
                  "d2's kernel (wrong shape) should be left alone");
        free_snapshot(&s);
        zoo_model_free(m);
    }
}

Test(h5_pairing, wrong_weight_count_fails_or_skips_the_layer)
{
    zoo_model *m = build_mlp(5);
    snapshot s = take_snapshot(m);
    zoo_status st = load(m, "mlp_wrong_count.h5", false, false);
    cr_expect_eq(st, ZOO_ERR_SHAPE);
    cr_expect(contains(zoo_last_error(),
                       "layer 'd2' (file layer 'd2'): the file has 1 weight(s) "
                       "(d2/kernel:0), the model's Dense layer has 2 (kernel, "
                       "bias)"),
              "unexpected message: %s", zoo_last_error());
    cr_expect_eq(diff_snapshot(m, &s), 0);
    cr_assert_eq(load(m, "mlp_wrong_count.h5", false, true), ZOO_OK, "%s",
                 zoo_last_error());
    cr_expect(weight_is_npy(m, "d1", 0, "mlp", "d1", 0));
    cr_expect(weight_is_npy(m, "d3", 0, "mlp", "d3", 0));
    cr_expect_eq(diff_snapshot(m, &s), 4, "d2 should stay, d1 and d3 load");
    free_snapshot(&s);
    zoo_model_free(m);
}

Test(h5_pairing, model_level_weights_need_skip_mismatch)
{
    zoo_model *m = build_mlp(6);
    cr_expect_eq(load(m, "mlp_top_level.h5", false, false), ZOO_ERR_SHAPE);
    cr_expect(contains(zoo_last_error(), "top_level_model_weights"), "%s",
              zoo_last_error());
    cr_assert_eq(load(m, "mlp_top_level.h5", false, true), ZOO_OK, "%s",
                 zoo_last_error());
    char msg[512];
    cr_expect_eq(weights_match_arrays(m, "mlp", msg, sizeof msg), 0, "%s", msg);
    zoo_model_free(m);
}

/* ------------------------------------------------------------------ */
/* Hostile files                                                       */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *file;
    zoo_status status;
    const char *needle[3]; /* all must be in the message */
} hostile_case;

static const hostile_case HOSTILE[] = {
    {"bad_truncated.h5", ZOO_ERR_FORMAT, {"cannot open the HDF5 file", "truncated file"}},
    {"bad_random.h5", ZOO_ERR_FORMAT, {"not an HDF5 file"}},
    {"bad_empty.h5", ZOO_ERR_FORMAT, {"empty"}},
    {"bad_no_weight_names.h5", ZOO_ERR_FORMAT,
     {"group '/conv'", "no 'weight_names' attribute"}},
    {"bad_int32.h5", ZOO_ERR_FORMAT,
     {"layer 'conv'", "'conv/kernel:0'", "32-bit signed integer"}},
    {"bad_string_dataset.h5", ZOO_ERR_FORMAT,
     {"layer 'conv'", "'conv/bias:0'", "stored as string"}},
    {"bad_wrong_shape.h5", ZOO_ERR_SHAPE,
     {"layer 'dense' (file layer 'dense')", "has shape (5, 4) in the file",
      "the model expects (4, 5)"}},
    {"bad_missing_group.h5", ZOO_ERR_FORMAT,
     {"layer_names lists 'bn'", "no group '/bn'"}},
    {"bad_missing_dataset.h5", ZOO_ERR_FORMAT,
     {"layer 'dense'", "cannot open dataset 'dense/bias:0'", "group '/dense'"}},
    {"bad_weight_is_group.h5", ZOO_ERR_FORMAT,
     {"layer 'dense'", "cannot open dataset 'dense/bias:0'"}},
    {"bad_names_int.h5", ZOO_ERR_FORMAT,
     {"attribute 'layer_names'", "32-bit signed integer"}},
    {"bad_names_2d.h5", ZOO_ERR_FORMAT, {"attribute 'layer_names'", "2-D"}},
    {"bad_theano.h5", ZOO_ERR_UNSUPPORTED, {"Theano", "layer 'conv'"}},
    {"bad_keras3.h5", ZOO_ERR_UNSUPPORTED, {"Keras 3", ".weights.h5"}},
    {"bad_model_weights_empty.h5", ZOO_ERR_FORMAT,
     {"group '/model_weights' has no 'layer_names' attribute"}},
    {"bad_not_keras.h5", ZOO_ERR_FORMAT,
     {"no 'layer_names' attribute", "not a Keras weights file"}},
    {"does_not_exist.h5", ZOO_ERR_NOT_FOUND, {"cannot open", "No such file"}},
};

Test(h5_hostile, every_bad_file_fails_cleanly_and_changes_nothing)
{
    zoo_model *m = build_small(21);
    snapshot s = take_snapshot(m);
    int failures = 0;
    for (size_t k = 0; k < sizeof HOSTILE / sizeof *HOSTILE; k++) {
        const hostile_case *h = &HOSTILE[k];
        for (int by_name = 0; by_name < 2; by_name++) {
            zoo_status st = load(m, h->file, by_name, false);
            const char *e = zoo_last_error();
            bool ok = st == h->status && contains(e, h->file);
            for (int i = 0; i < 3 && h->needle[i]; i++)
                ok = ok && contains(e, h->needle[i]);
            /* by_name only reads matched layers' arrays: the shape and
             * type cases still match here (same names). */
            if (!ok) {
                cr_log_error("%s (by_name=%d): got %s \"%s\", want %s with %s",
                             h->file, by_name, zoo_status_name(st), e,
                             zoo_status_name(h->status), h->needle[0]);
                failures++;
            }
            if (diff_snapshot(m, &s)) {
                cr_log_error("%s changed the model's weights", h->file);
                failures++;
            }
        }
    }
    cr_expect_eq(failures, 0, "%d hostile case(s) misbehaved (see log)", failures);
    free_snapshot(&s);
    zoo_model_free(m);
}

Test(h5_hostile, truncated_at_any_length_fails_cleanly)
{
    char *src = case_path("small_fixed.h5");
    FILE *f = fopen(src, "rb");
    cr_assert(f);
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cr_assert(n > 1000 && n < sizeof buf, "unexpected size %zu", n);
    char *dir = zt_tmpdir_or_die();
    char *p = zt_path(dir, "cut.h5");
    zoo_model *m = build_small(22);
    snapshot s = take_snapshot(m);
    for (size_t len = 1; len < n; len += n / 37 + 1) {
        cr_assert(zt_write_file(p, buf, len));
        zoo_clear_error();
        zoo_status st = zoo_model_load_weights(m, p, NULL);
        cr_expect_neq(st, ZOO_OK, "a %zu of %zu byte prefix loaded", len, n);
        cr_expect(zoo_last_error()[0] != '\0', "no message at length %zu", len);
    }
    /* Garbage over the superblock. */
    memset(buf + 8, 0xAB, 64);
    cr_assert(zt_write_file(p, buf, n));
    cr_expect_neq(zoo_model_load_weights(m, p, NULL), ZOO_OK);
    cr_expect_eq(diff_snapshot(m, &s), 0);
    free_snapshot(&s);
    zoo_model_free(m);
    zt_rmtree(dir);
    free(dir);
    free(p);
    free(src);
}

Test(h5_hostile, bad_arguments)
{
    zoo_model *m = build_small(23);
    zoo_clear_error();
    cr_expect_eq(zoo_model_load_weights(NULL, "x.h5", NULL), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_model_load_weights(m, NULL, NULL), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_model_load_weights(m, "", NULL), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_model_save_weights(NULL, "x.h5"), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_model_save_weights(m, NULL), ZOO_ERR_ARGUMENT);
    cr_expect(zoo_last_error()[0] != '\0');
    cr_expect_eq(zoo_model_load_weights(m, zt_cases_dir("ZOO_H5_CASES"), NULL), ZOO_ERR_ARGUMENT);
    cr_expect(contains(zoo_last_error(), "directory"), "%s", zoo_last_error());
    zoo_model_free(m);
}

/* ------------------------------------------------------------------ */
/* Saving                                                              */
/* ------------------------------------------------------------------ */

Test(h5_save, small_model_saves_what_keras_reads)
{
    zoo_model *m = build_small(31);
    cr_assert_eq(load(m, "small_fixed.h5", false, false), ZOO_OK, "%s",
                 zoo_last_error());
    char *dir = zt_tmpdir_or_die();
    char *p = zt_path(dir, "small_saved.h5");
    cr_assert_eq(zoo_model_save_weights(m, p), ZOO_OK, "%s", zoo_last_error());
    cr_expect_eq(zt_dir_entries(dir), 1, "temporary files left behind");
    expect_checker_ok(m, p, "--model small");
    zoo_model_free(m);
    zt_rmtree(dir);
    free(dir);
    free(p);
}

Test(h5_save, round_trip_is_bit_identical_across_layer_kinds)
{
    zoo_model *a = build_mixed(1), *b = build_mixed(2);
    randomize(a, 7);
    snapshot sa = take_snapshot(a), sb = take_snapshot(b);
    cr_assert_eq(diff_snapshot(b, &sa), sa.n, "the two models should start different");
    char *dir = zt_tmpdir_or_die();
    char *p = zt_path(dir, "mixed.h5");
    cr_assert_eq(zoo_model_save_weights(a, p), ZOO_OK, "%s", zoo_last_error());
    /* Saving over an existing file replaces it. */
    cr_assert_eq(zoo_model_save_weights(a, p), ZOO_OK, "%s", zoo_last_error());
    cr_expect_eq(zt_dir_entries(dir), 1, "temporary files left behind");
    for (int by_name = 0; by_name < 2; by_name++) {
        zoo_model *c = build_mixed(3 + by_name);
        cr_assert_eq(zoo_model_load_weights(c, p, &(zoo_load_opts){.by_name = by_name}),
                     ZOO_OK, "%s", zoo_last_error());
        cr_expect_eq(diff_snapshot(c, &sa), 0, "round trip (by_name=%d) differs", by_name);
        zoo_model_free(c);
    }
    expect_checker_ok(a, p, NULL);
    free_snapshot(&sa);
    free_snapshot(&sb);
    zoo_model_free(a);
    zoo_model_free(b);
    zt_rmtree(dir);
    free(dir);
    free(p);
}

Test(h5_save, sequential_and_weightless_layers)
{
    zoo_model *m = build_seq(1);
    randomize(m, 3);
    char *dir = zt_tmpdir_or_die();
    char *p = zt_path(dir, "seq.h5");
    cr_assert_eq(zoo_model_save_weights(m, p), ZOO_OK, "%s", zoo_last_error());
    /* Sequential layer_names omit the InputLayer. */
    expect_checker_ok(m, p, NULL);
    snapshot s = take_snapshot(m);
    zoo_model *m2 = build_seq(2);
    cr_assert_eq(zoo_model_load_weights(m2, p, NULL), ZOO_OK, "%s", zoo_last_error());
    cr_expect_eq(diff_snapshot(m2, &s), 0);
    free_snapshot(&s);
    zoo_model_free(m);
    zoo_model_free(m2);
    zt_rmtree(dir);
    free(dir);
    free(p);
}

Test(h5_save, long_layer_names_are_chunked_as_keras_does)
{
    /* 701 names of 100 bytes: 70,100 bytes, over Keras's 64,512, so two
     * attributes layer_names0 and layer_names1. */
    enum { N = 700 };
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *in = zoo_input(g, 1, (const int[]){3}, "input_1");
    zoo_sym *x = in;
    for (int i = 0; i < N; i++) {
        char name[128];
        snprintf(name, sizeof name, "%-97s%03d", "act", i);
        for (char *c = name; *c; c++)
            if (*c == ' ')
                *c = '_';
        x = zoo_apply(zoo_activation_layer(g, &(zoo_activation_cfg){.name = name}), x);
    }
    x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "head", .units = 2}), x);
    zoo_model *m = finish(g, in, x, "long");
    cr_assert_eq(zoo_model_layer_count(m), N + 2);
    randomize(m, 9);
    char *dir = zt_tmpdir_or_die();
    char *p = zt_path(dir, "long.h5");
    cr_assert_eq(zoo_model_save_weights(m, p), ZOO_OK, "%s", zoo_last_error());
    expect_checker_ok(m, p, "--chunks 2");
    snapshot s = take_snapshot(m);
    randomize(m, 10);
    cr_assert_eq(zoo_model_load_weights(m, p, &(zoo_load_opts){.by_name = true}),
                 ZOO_OK, "%s", zoo_last_error());
    cr_expect_eq(diff_snapshot(m, &s), 0);
    free_snapshot(&s);
    zoo_model_free(m);
    zt_rmtree(dir);
    free(dir);
    free(p);
}

Test(h5_save, failures_leave_no_file)
{
    zoo_model *m = build_small(41);
    char *dir = zt_tmpdir_or_die();
    char *p = zt_path(dir, "no/such/dir/w.h5");
    zoo_clear_error();
    zoo_status st = zoo_model_save_weights(m, p);
    cr_expect_eq(st, ZOO_ERR_NOT_FOUND, "status %s: %s", zoo_status_name(st),
                 zoo_last_error());
    cr_expect(contains(zoo_last_error(), "w.h5"), "%s", zoo_last_error());
    cr_expect_eq(zt_dir_entries(dir), 0);
    /* A directory in the way of the final rename. */
    char *blocked = zt_path(dir, "blocked.h5");
    cr_assert(mkdir(blocked, 0777) == 0);
    char *inner = zt_path(blocked, "x");
    cr_assert(zt_write_file(inner, "x", 1));
    st = zoo_model_save_weights(m, blocked);
    cr_expect_eq(st, ZOO_ERR_IO, "status %s: %s", zoo_status_name(st),
                 zoo_last_error());
    cr_expect_eq(zt_dir_entries(dir), 1, "the temporary file was not removed");
    zoo_model_free(m);
    zt_rmtree(dir);
    free(inner);
    free(blocked);
    free(dir);
    free(p);
}

/* ------------------------------------------------------------------ */
/* ResNet50                                                            */
/* ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

Test(h5_save, resnet50_round_trip)
{
    zoo_model *a = zoo_net_resnet50(&(zoo_net_opts){.seed = 1});
    zoo_model *b = zoo_net_resnet50(&(zoo_net_opts){.seed = 2});
    cr_assert(a && b, "%s", zoo_last_error());
    /* BN statistics start equal (zeros/ones): make every weight distinct. */
    randomize(a, 5);
    snapshot s = take_snapshot(a);
    cr_assert_gt(s.n, 300);
    cr_expect_eq(diff_snapshot(b, &s), s.n);
    char *dir = zt_tmpdir_or_die();
    char *p = zt_path(dir, "resnet50.h5");
    double t0 = now_s();
    cr_assert_eq(zoo_model_save_weights(a, p), ZOO_OK, "%s", zoo_last_error());
    double t1 = now_s();
    cr_assert_eq(zoo_model_load_weights(b, p, NULL), ZOO_OK, "%s", zoo_last_error());
    double t2 = now_s();
    cr_log_info("ResNet50 (%zu params): save %.2f s, load %.2f s",
                zoo_model_param_count(a), t1 - t0, t2 - t1);
    cr_expect_eq(diff_snapshot(b, &s), 0, "ResNet50 weights differ after the round trip");
    expect_checker_ok(a, p, NULL);
    free_snapshot(&s);
    zoo_model_free(a);
    zoo_model_free(b);
    zt_rmtree(dir);
    free(dir);
    free(p);
}
