/*
 * Whole models in one file: zoo_model_from_json, zoo_model_save,
 * zoo_model_load.
 *
 *  - The ten nets: zoo_model_to_json -> zoo_model_from_json ->
 *    zoo_model_to_json gives the same text.
 *  - A small "trained" Functional model (branches, a shared layer, BN with
 *    moved statistics, dropout, frozen layers, an L2 kernel, a softmax
 *    'predictions' with class names and attributes) and a Sequential one
 *    survive save -> load bit for bit: predictions, weights, names,
 *    trainable flags, class names, attributes.
 *  - The saved file is read by h5py (tests/oracle/model_file_cases.py
 *    check: Keras's layout, names and shapes) and run by
 *    tools/keras_torch.py, an independent PyTorch interpreter of Keras
 *    configs and weights, which must agree with zoo's predict.
 *  - tf.keras 2 formats: JSON written here by hand (Functional with
 *    [[["name", 0, 0, {}]]] nodes, Sequential with batch_input_shape),
 *    and a tf.keras 2 full-model file written by h5py whose output was
 *    computed by NumPy (model_file_cases.py).
 *  - Errors: missing, weights-only, truncated, garbage, unknown-layer,
 *    .keras files; hostile JSON; saves that fail leave no file.
 */
#include "support.h"

#include <zoo/nets.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCRIPT ZOO_TEST_SOURCE_DIR "/oracle/model_file_cases.py"
#define KERAS_TORCH ZOO_TEST_SOURCE_DIR "/../tools/keras_torch.py"
#define CASES_ENV "ZOO_MODEL_FILE_CASES"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    zt_generate_cases_once(SCRIPT, NULL, "model-file-cases", CASES_ENV);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    zt_generated_cases_cleanup(CASES_ENV);
}

static char *case_path(const char *name) { return zt_path(zt_cases_dir(CASES_ENV), name); }

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char *json_or_die(const zoo_model *m)
{
    char *s = zoo_model_to_json(m);
    cr_assert_not_null(s, "zoo_model_to_json: %s", zoo_last_error());
    return s;
}

static zoo_model *from_json_or_die(const char *json)
{
    zoo_model *m = zoo_model_from_json(json, 5);
    cr_assert_not_null(m, "zoo_model_from_json: %s", zoo_last_error());
    return m;
}

/* The model's output on x (one input, one output). */
static zoo_tensor *predict_or_die(zoo_model *m, zoo_tensor *x)
{
    zoo_tensor *y = NULL;
    zoo_status st = zoo_model_predict(m, &x, 1, &y, 1,
                                      &(zoo_predict_opts){.threads = 1});
    cr_assert_eq(st, ZOO_OK, "predict: %s", zoo_last_error());
    return y;
}

static bool same_bits(const zoo_tensor *a, const zoo_tensor *b)
{
    if (zoo_tensor_rank(a) != zoo_tensor_rank(b) ||
        zoo_tensor_size(a) != zoo_tensor_size(b))
        return false;
    for (int i = 0; i < zoo_tensor_rank(a); i++)
        if (zoo_tensor_shape(a)[i] != zoo_tensor_shape(b)[i])
            return false;
    return memcmp(zoo_tensor_cdata(a), zoo_tensor_cdata(b),
                  zoo_tensor_size(a) * sizeof(float)) == 0;
}

/* Same layers (names, classes, flags, L2) holding the same weight bits. */
static void expect_same_model(zoo_model *a, zoo_model *b)
{
    cr_assert_str_eq(zoo_model_name(a), zoo_model_name(b));
    cr_assert_eq(zoo_model_layer_count(a), zoo_model_layer_count(b));
    for (int i = 0; i < zoo_model_layer_count(a); i++) {
        zoo_layer *la = zoo_model_layer(a, i), *lb = zoo_model_layer(b, i);
        const char *n = zoo_layer_name(la);
        cr_assert_str_eq(n, zoo_layer_name(lb), "layer %d", i);
        cr_expect_str_eq(zoo_layer_class(la), zoo_layer_class(lb), "%s", n);
        cr_expect_eq(zoo_layer_trainable(la), zoo_layer_trainable(lb),
                     "%s: trainable", n);
        cr_expect_eq(zoo_layer_kernel_l2(la), zoo_layer_kernel_l2(lb),
                     "%s: L2 %g vs %g", n, (double)zoo_layer_kernel_l2(la),
                     (double)zoo_layer_kernel_l2(lb));
        cr_assert_eq(zoo_layer_weight_count(la), zoo_layer_weight_count(lb),
                     "%s: weight count", n);
        for (int w = 0; w < zoo_layer_weight_count(la); w++) {
            cr_expect_str_eq(zoo_layer_weight_name(la, w),
                             zoo_layer_weight_name(lb, w));
            cr_expect(same_bits(zoo_layer_weight(la, w), zoo_layer_weight(lb, w)),
                      "%s: weight %s differs", n, zoo_layer_weight_name(la, w));
        }
    }
}

/* Runs a shell command; its output (caller frees) and exit status. */
static char *run_cmd(const char *cmd, int *rc)
{
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen(%s) failed", cmd);
    size_t cap = 1 << 16, len = 0, got;
    char *out = malloc(cap);
    cr_assert(out);
    while ((got = fread(out + len, 1, cap - 1 - len, p)) > 0 && len + got + 1 < cap)
        len += got;
    out[len] = '\0';
    int status = pclose(p);
    *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void expect_error(zoo_status want, const char *needle)
{
    cr_expect_eq(zoo_last_status(), want, "status %s, want %s: %s",
                 zoo_status_name(zoo_last_status()), zoo_status_name(want),
                 zoo_last_error());
    cr_expect(strstr(zoo_last_error(), needle), "'%s' not in: %s", needle,
              zoo_last_error());
}

/* ------------------------------------------------------------------ */
/* The ten nets: to_json -> from_json -> to_json                       */
/* ------------------------------------------------------------------ */

static void round_trip(zoo_model *(*build)(const zoo_net_opts *),
                       zoo_net_opts o)
{
    o.skip_random_init = true; /* the original's weights play no part */
    zoo_model *m = build(&o);
    cr_assert_not_null(m, "building: %s", zoo_last_error());
    char *a = json_or_die(m);
    zoo_model *r = from_json_or_die(a);
    char *b = json_or_die(r);
    if (strcmp(a, b) != 0) {
        size_t i = 0;
        while (a[i] && a[i] == b[i])
            i++;
        size_t from = i > 120 ? i - 120 : 0;
        cr_assert_fail("JSON differs at byte %zu:\n  original ...%.240s\n  "
                       "rebuilt  ...%.240s", i, a + from, b + from);
    }
    /* Same parameter counts: the same weights were made. */
    cr_expect_eq(zoo_model_param_count(m), zoo_model_param_count(r));
    cr_expect_eq(zoo_model_trainable_param_count(m),
                 zoo_model_trainable_param_count(r));
    free(a);
    free(b);
    zoo_model_free(r);
    zoo_model_free(m);
}

Test(nets_json, vgg16)
{
    round_trip(zoo_net_vgg16, (zoo_net_opts){.no_top = true,
               .input_shape = {32, 32, 3}, .pooling = ZOO_POOL_MAX});
}

Test(nets_json, vgg19)
{
    round_trip(zoo_net_vgg19, (zoo_net_opts){.no_top = true,
               .input_shape = {48, 40, 3}, .pooling = ZOO_POOL_AVG});
}

Test(nets_json, resnet50)
{
    round_trip(zoo_net_resnet50, (zoo_net_opts){.classes = 10});
}

Test(nets_json, inception_v3)
{
    round_trip(zoo_net_inception_v3, (zoo_net_opts){.classes = 10});
}

Test(nets_json, xception)
{
    round_trip(zoo_net_xception, (zoo_net_opts){.classes = 10, .logits = true});
}

Test(nets_json, mobilenet)
{
    round_trip(zoo_net_mobilenet, (zoo_net_opts){.classes = 10, .alpha = 0.5f,
               .dropout = 0.25f});
}

Test(nets_json, mobilenet_v2)
{
    round_trip(zoo_net_mobilenet_v2, (zoo_net_opts){.classes = 10, .alpha = 0.35f});
}

Test(nets_json, densenet121)
{
    round_trip(zoo_net_densenet121, (zoo_net_opts){.classes = 10});
}

Test(nets_json, densenet169)
{
    round_trip(zoo_net_densenet169, (zoo_net_opts){.no_top = true,
               .input_shape = {32, 32, 3}});
}

Test(nets_json, densenet201)
{
    round_trip(zoo_net_densenet201, (zoo_net_opts){.no_top = true,
               .input_shape = {64, 48, 3}, .pooling = ZOO_POOL_AVG});
}

/* ------------------------------------------------------------------ */
/* A small trained-looking model: save -> load                         */
/* ------------------------------------------------------------------ */

static const char *const CLASSES[] = {"cat", "dog", "b\xc3\xa9lier"}; /* UTF-8 */

/* Fills every weight with seeded values (moving variances positive), as
 * if the model had been trained. */
static void fake_training(zoo_model *m)
{
    unsigned long long seed = 100;
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int w = 0; w < zoo_layer_weight_count(l); w++) {
            bool var = strcmp(zoo_layer_weight_name(l, w), "moving_variance") == 0;
            zt_fill_uniform(zoo_layer_weight(l, w), seed++, var ? 0.5f : -0.6f,
                            var ? 1.5f : 0.6f);
        }
    }
}

/*
 * image (8, 8, 3) -> conv1 (3x3 same, L2 1e-4, frozen) -> bn1 (frozen)
 * -> relu1 (max 6) -> { branch_a (1x1 conv), dw (depthwise 3x3 relu6) }
 * -> shared (1x1 conv, no bias) on both branches -> add -> scale
 * (CustomScaleLayer 0.17 with shared's first output) -> swish, times
 * gate (hard_sigmoid of relu1) -> concat with relu1 -> pool (max 2) ->
 * pad (ZeroPadding 1) -> sep (SeparableConv2D 8, 3x3, L2 2e-4) -> gap ->
 * drop (0.3, seed 7) -> predictions (Dense 3, softmax, L2 0.01).
 */
static zoo_model *trained_model(void)
{
    zoo_graph *g = zoo_graph_new(42);
    zoo_sym *in = zoo_input(g, 3, (int[]){8, 8, 3}, "image");
    zoo_layer *conv1 = zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "conv1",
        .filters = 6, .kernel = {3, 3}, .padding = ZOO_PAD_SAME});
    zoo_layer *bn1 = zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = "bn1",
        .momentum = 0.9f, .epsilon = 1e-3f});
    zoo_sym *x = zoo_apply(bn1, zoo_apply(conv1, in));
    zoo_sym *r = zoo_apply(zoo_relu(g, &(zoo_relu_cfg){.name = "relu1",
        .max_value = 6.0f}), x);
    zoo_sym *a = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "branch_a",
        .filters = 6, .kernel = {1, 1}}), r);
    zoo_sym *b = zoo_apply(zoo_depthwise_conv2d(g, &(zoo_depthwise_conv2d_cfg){
        .name = "dw", .kernel = {3, 3}, .padding = ZOO_PAD_SAME,
        .activation = ZOO_ACT_RELU6}), r);
    zoo_layer *shared = zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "shared",
        .filters = 6, .kernel = {1, 1}, .no_bias = true});
    zoo_sym *sa = zoo_apply(shared, a), *sb = zoo_apply(shared, b);
    zoo_sym *sum = zoo_apply_n(zoo_add(g, &(zoo_named_cfg){.name = "add"}),
                               (zoo_sym *[]){sa, sb}, 2);
    zoo_sym *sc = zoo_apply_n(zoo_scaled_sum(g, &(zoo_scaled_sum_cfg){
        .name = "scale", .scale = 0.17f}), (zoo_sym *[]){sum, sa}, 2);
    zoo_sym *act = zoo_apply(zoo_activation_layer(g, &(zoo_activation_cfg){
        .name = "swish", .activation = ZOO_ACT_SWISH}), sc);
    zoo_sym *gate = zoo_apply(zoo_activation_layer(g, &(zoo_activation_cfg){
        .name = "gate", .activation = ZOO_ACT_HARD_SIGMOID}), r);
    zoo_sym *mul = zoo_apply_n(zoo_multiply(g, &(zoo_named_cfg){.name = "mul"}),
                               (zoo_sym *[]){act, gate}, 2);
    x = zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.name = "concat"}),
                    (zoo_sym *[]){mul, r}, 2);
    x = zoo_apply(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.name = "pool"}), x);
    x = zoo_apply(zoo_zero_padding2d(g, &(zoo_padding2d_cfg){.name = "pad"}), x);
    zoo_layer *sep = zoo_separable_conv2d(g, &(zoo_separable_conv2d_cfg){
        .name = "sep", .filters = 8, .kernel = {3, 3},
        .activation = ZOO_ACT_RELU});
    x = zoo_apply(sep, x);
    x = zoo_apply(zoo_global_avg_pool2d(g, &(zoo_global_pool2d_cfg){.name = "gap"}), x);
    x = zoo_apply(zoo_dropout(g, &(zoo_dropout_cfg){.name = "drop", .rate = 0.3f,
        .seed = 7}), x);
    zoo_layer *pred = zoo_dense(g, &(zoo_dense_cfg){.name = "predictions",
        .units = 3, .activation = ZOO_ACT_SOFTMAX});
    x = zoo_apply(pred, x);
    zoo_model *m = x ? zoo_model_new(&in, 1, &x, 1, "trained_net") : NULL;
    zoo_graph_release(g);
    cr_assert_not_null(m, "building: %s", zoo_last_error());
    cr_assert_eq(zoo_layer_set_kernel_l2(conv1, 1e-4f), ZOO_OK);
    cr_assert_eq(zoo_layer_set_kernel_l2(sep, 2e-4f), ZOO_OK);
    cr_assert_eq(zoo_layer_set_kernel_l2(pred, 0.01f), ZOO_OK);
    zoo_layer_set_trainable(conv1, false);
    zoo_layer_set_trainable(bn1, false);
    cr_assert_eq(zoo_model_set_class_names(m, CLASSES, 3), ZOO_OK);
    cr_assert_eq(zoo_model_set_attr(m, "preprocess", "torch"), ZOO_OK);
    cr_assert_eq(zoo_model_set_attr(m, "base_model", "tiny \"net\""), ZOO_OK);
    fake_training(m);
    return m;
}

static zoo_tensor *input_batch(int n, int h, int w, int c, unsigned long long seed)
{
    zoo_tensor *x = zoo_tensor_new(4, (int[]){n, h, w, c});
    cr_assert_not_null(x);
    zt_fill_uniform(x, seed, -2.0f, 2.0f);
    return x;
}

Test(save_load, trained_functional_survives_bit_for_bit)
{
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "trained.h5");
    zoo_model *m = trained_model();
    zoo_tensor *x = input_batch(4, 8, 8, 3, 9);
    zoo_tensor *y = predict_or_die(m, x);
    cr_assert_eq(zoo_model_save(m, path), ZOO_OK, "save: %s", zoo_last_error());
    cr_assert_eq(zt_dir_entries(dir), 1, "the save left other files behind");

    zoo_model *l = zoo_model_load(path);
    cr_assert_not_null(l, "load: %s", zoo_last_error());
    expect_same_model(m, l);
    zoo_tensor *y2 = predict_or_die(l, x);
    cr_expect(same_bits(y, y2), "predictions differ after save -> load");

    /* What travels with the model. */
    cr_assert_eq(zoo_model_class_name_count(l), 3);
    for (int i = 0; i < 3; i++)
        cr_expect_str_eq(zoo_model_class_name(l, i), CLASSES[i]);
    cr_expect_str_eq(zoo_model_attr(l, "preprocess"), "torch");
    cr_expect_str_eq(zoo_model_attr(l, "base_model"), "tiny \"net\"");
    cr_expect_not(zoo_layer_trainable(zoo_model_get_layer(l, "conv1")));
    cr_expect_not(zoo_layer_trainable(zoo_model_get_layer(l, "bn1")));
    cr_expect(zoo_layer_trainable(zoo_model_get_layer(l, "sep")));
    cr_expect_eq(zoo_layer_kernel_l2(zoo_model_get_layer(l, "conv1")), 1e-4f);
    cr_expect_eq(zoo_layer_kernel_l2(zoo_model_get_layer(l, "sep")), 2e-4f);
    cr_expect_eq(zoo_layer_kernel_l2(zoo_model_get_layer(l, "predictions")), 0.01f);
    cr_expect_eq(zoo_layer_kernel_l2(zoo_model_get_layer(l, "branch_a")), 0.0f);
    /* The shared layer is one layer called twice. */
    cr_expect_not_null(zoo_layer_output(zoo_model_get_layer(l, "shared"), 1));

    /* And the structure is the same config again. */
    char *a = json_or_die(m), *b = json_or_die(l);
    cr_expect_str_eq(a, b);

    /* A layer added to the loaded model's graph gets random weights (the
     * load's skip of random initialisation is over). */
    zoo_layer *head = zoo_dense(zoo_model_graph(l), &(zoo_dense_cfg){.units = 4});
    cr_assert_not_null(zoo_apply(head, zoo_model_output(l, 0)));
    const zoo_tensor *k = zoo_layer_weight(head, 0);
    bool nonzero = false;
    for (size_t i = 0; i < zoo_tensor_size(k); i++)
        nonzero = nonzero || zoo_tensor_cdata(k)[i] != 0.0f;
    cr_expect(nonzero, "a new layer on the loaded graph has a zero kernel");

    free(a);
    free(b);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_tensor_free(y2);
    zoo_model_free(m);
    zoo_model_free(l);
    free(path);
    zt_rmtree(dir);
    free(dir);
}

Test(save_load, sequential_survives)
{
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "seq.h5");
    zoo_graph *g = zoo_graph_new(3);
    zoo_layer *layers[] = {
        zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "c", .filters = 4,
                   .kernel = {3, 3}, .strides = {2, 2}, .activation = ZOO_ACT_TANH}),
        zoo_depthwise_conv2d(g, &(zoo_depthwise_conv2d_cfg){.name = "dil",
                             .kernel = {3, 2}, .dilation = {2, 2},
                             .depth_multiplier = 2, .padding = ZOO_PAD_SAME}),
        zoo_avg_pool2d(g, &(zoo_pool2d_cfg){.name = "avg", .pool = {2, 2},
                       .strides = {1, 1}, .padding = ZOO_PAD_SAME}),
        zoo_cropping2d(g, &(zoo_cropping2d_cfg){.name = "crop", .crop = {1, 0, 0, 1}}),
        zoo_global_max_pool2d(g, &(zoo_global_pool2d_cfg){.name = "gmp",
                              .keepdims = true}),
        zoo_flatten(g, &(zoo_named_cfg){.name = "flat"}),
        zoo_reshape(g, &(zoo_reshape_cfg){.name = "re", .rank = 2, .shape = {-1, 4}}),
        zoo_activation_layer(g, &(zoo_activation_cfg){.name = "sig",
                             .activation = ZOO_ACT_SIGMOID}),
    };
    zoo_model *m = zoo_sequential(g, 3, (int[]){9, 9, 2}, layers, 8, "seq");
    zoo_graph_release(g);
    cr_assert_not_null(m, "building: %s", zoo_last_error());
    fake_training(m);
    zoo_tensor *x = input_batch(2, 9, 9, 2, 4);
    zoo_tensor *y = predict_or_die(m, x);
    cr_assert_eq(zoo_model_save(m, path), ZOO_OK, "save: %s", zoo_last_error());
    zoo_model *l = zoo_model_load(path);
    cr_assert_not_null(l, "load: %s", zoo_last_error());
    expect_same_model(m, l);
    cr_expect_eq(zoo_model_layer_count(l), 8, "Sequential.layers has no InputLayer");
    cr_expect_eq(zoo_model_class_name_count(l), 0);
    cr_expect_null(zoo_model_attr(l, "preprocess"));
    zoo_tensor *y2 = predict_or_die(l, x);
    cr_expect(same_bits(y, y2), "predictions differ after save -> load");
    char *a = json_or_die(m), *b = json_or_die(l);
    cr_expect_str_eq(a, b);
    cr_expect(strstr(b, "\"class_name\": \"Sequential\""), "%.200s", b);
    free(a);
    free(b);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_tensor_free(y2);
    zoo_model_free(m);
    zoo_model_free(l);
    free(path);
    zt_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* The saved file, read by others                                      */
/* ------------------------------------------------------------------ */

/* model_file_cases.py check's EXPECT.json for `m`. */
static void write_expect(zoo_model *m, const char *path)
{
    json_t *layers = json_array(), *weights = json_object();
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        json_array_append_new(layers, json_string(zoo_layer_name(l)));
        json_t *ws = json_array();
        for (int w = 0; w < zoo_layer_weight_count(l); w++) {
            char name[256];
            snprintf(name, sizeof name, "%s/%s:0", zoo_layer_name(l),
                     zoo_layer_weight_name(l, w));
            const zoo_tensor *t = zoo_layer_weight(l, w);
            json_t *shape = json_array();
            for (int d = 0; d < zoo_tensor_rank(t); d++)
                json_array_append_new(shape, json_integer(zoo_tensor_shape(t)[d]));
            json_array_append_new(ws, json_pack("[s, o]", name, shape));
        }
        json_object_set_new(weights, zoo_layer_name(l), ws);
    }
    json_t *classes = json_array();
    for (int i = 0; i < zoo_model_class_name_count(m); i++)
        json_array_append_new(classes, json_string(zoo_model_class_name(m, i)));
    json_t *spec = json_pack("{s:o, s:o, s:{s:i}, s:s, s:o, s:{s:s, s:s}}",
                             "layers", layers, "weights", weights, "units",
                             "predictions", 3, "class_name", "Functional",
                             "class_names", classes, "attrs", "preprocess",
                             zoo_model_attr(m, "preprocess"), "base_model",
                             zoo_model_attr(m, "base_model"));
    cr_assert_not_null(spec);
    cr_assert_eq(json_dump_file(spec, path, 0), 0);
    json_decref(spec);
}

Test(save_load, h5py_reads_keras_layout, .timeout = 60)
{
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "trained.h5"), *expect = zt_path(dir, "expect.json");
    zoo_model *m = trained_model();
    cr_assert_eq(zoo_model_save(m, path), ZOO_OK, "save: %s", zoo_last_error());
    write_expect(m, expect);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' check '%s' '%s' 2>&1", ZOO_TEST_PYTHON,
             SCRIPT, path, expect);
    int rc;
    char *out = run_cmd(cmd, &rc);
    cr_expect_eq(rc, 0, "the h5py check failed:\n%s", out);
    cr_expect(strstr(out, "OK"), "%s", out);
    free(out);
    zoo_model_free(m);
    free(path);
    free(expect);
    zt_rmtree(dir);
    free(dir);
}

Test(save_load, keras_torch_agrees, .timeout = 120)
{
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "trained.h5");
    char *xp = zt_path(dir, "x.npy"), *yp = zt_path(dir, "y.npy");
    zoo_model *m = trained_model();
    cr_assert_eq(zoo_model_save(m, path), ZOO_OK, "save: %s", zoo_last_error());
    zoo_tensor *x = input_batch(3, 8, 8, 3, 21);
    cr_assert_eq(zoo_npy_save(xp, x), ZOO_OK);
    zoo_model *l = zoo_model_load(path);
    cr_assert_not_null(l, "load: %s", zoo_last_error());
    zoo_tensor *y = predict_or_die(l, x);

    /* keras_torch builds the model from the file's model_config and
     * loads model_weights by layer name. */
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' '%s' --weights '%s' --input '%s' --output '%s' --double 2>&1",
             ZOO_TEST_PYTHON, KERAS_TORCH, path, xp, yp);
    int rc;
    char *out = run_cmd(cmd, &rc);
    cr_assert_eq(rc, 0, "keras_torch.py failed:\n%s", out);
    zoo_tensor *want = zoo_npy_load(yp);
    cr_assert_not_null(want, "%s", zoo_last_error());
    char msg[512];
    cr_expect(zt_tensor_close(y, want, 1e-4, 1e-6, msg, sizeof msg),
              "zoo and keras_torch differ: %s", msg);
    /* A softmax over 3 classes: the values are not degenerate. */
    for (int i = 0; i < 3; i++) {
        const float *row = zoo_tensor_cdata(y) + 3 * i;
        cr_expect(row[0] > 0.01f && row[1] > 0.01f && row[2] > 0.01f,
                  "sample %d: %g %g %g", i, row[0], row[1], row[2]);
    }
    free(out);
    zoo_tensor_free(want);
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_model_free(l);
    zoo_model_free(m);
    free(path);
    free(xp);
    free(yp);
    zt_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* tf.keras 2 formats                                                  */
/* ------------------------------------------------------------------ */

#define K2_INIT                                                               \
    "\"kernel_initializer\": {\"class_name\": \"GlorotUniform\", \"config\": " \
    "{\"seed\": null}}, \"bias_initializer\": {\"class_name\": \"Zeros\", "    \
    "\"config\": {}}, \"bias_regularizer\": null, \"activity_regularizer\": "  \
    "null, \"kernel_constraint\": null, \"bias_constraint\": null"

/* tf.keras 2.x model.to_json() of a Functional model, by hand. The layer
 * list is deliberately not in call order ("add" before "shared", whose
 * second call reads its first). */
static const char *K2_FUNCTIONAL =
    "{\"class_name\": \"Functional\", \"config\": {\"name\": \"k2\", "
    "\"layers\": ["
    "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "
    "[null, 6, 6, 2], \"dtype\": \"float32\", \"sparse\": false, \"ragged\": "
    "false, \"name\": \"input_1\"}, \"name\": \"input_1\", \"inbound_nodes\": "
    "[]},"
    "{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"conv\", "
    "\"trainable\": false, \"dtype\": \"float32\", \"filters\": 4, "
    "\"kernel_size\": [3, 3], \"strides\": [1, 1], \"padding\": \"same\", "
    "\"data_format\": \"channels_last\", \"dilation_rate\": [1, 1], "
    "\"groups\": 1, \"activation\": \"relu\", \"use_bias\": true, " K2_INIT ", "
    "\"kernel_regularizer\": {\"class_name\": \"L2\", \"config\": {\"l2\": "
    "0.0010000000474974513}}}, \"name\": \"conv\", \"inbound_nodes\": "
    "[[[\"input_1\", 0, 0, {}]]]},"
    "{\"class_name\": \"BatchNormalization\", \"config\": {\"name\": \"bn\", "
    "\"trainable\": true, \"dtype\": \"float32\", \"axis\": [3], "
    "\"momentum\": 0.9, \"epsilon\": 0.0001, \"center\": true, \"scale\": "
    "false, \"beta_regularizer\": null, \"gamma_regularizer\": null, "
    "\"beta_constraint\": null, \"gamma_constraint\": null}, \"name\": "
    "\"bn\", \"inbound_nodes\": [[[\"conv\", 0, 0, {}]]]},"
    "{\"class_name\": \"Add\", \"config\": {\"name\": \"add\", \"trainable\": "
    "true, \"dtype\": \"float32\"}, \"name\": \"add\", \"inbound_nodes\": "
    "[[[\"shared\", 0, 0, {}], [\"shared\", 1, 0, {}]]]},"
    "{\"class_name\": \"Conv2D\", \"config\": {\"name\": \"shared\", "
    "\"trainable\": true, \"dtype\": \"float32\", \"filters\": 4, "
    "\"kernel_size\": [1, 1], \"strides\": [1, 1], \"padding\": \"valid\", "
    "\"data_format\": \"channels_last\", \"dilation_rate\": [1, 1], "
    "\"groups\": 1, \"activation\": \"linear\", \"use_bias\": false, " K2_INIT
    ", \"kernel_regularizer\": null}, \"name\": \"shared\", "
    "\"inbound_nodes\": [[[\"bn\", 0, 0, {}]], [[\"shared\", 0, 0, {}]]]},"
    "{\"class_name\": \"GlobalAveragePooling2D\", \"config\": {\"name\": "
    "\"gap\", \"trainable\": true, \"dtype\": \"float32\", \"data_format\": "
    "\"channels_last\"}, \"name\": \"gap\", \"inbound_nodes\": [[[\"add\", 0, "
    "0, {}]]]},"
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"predictions\", "
    "\"trainable\": true, \"dtype\": \"float32\", \"units\": 3, "
    "\"activation\": \"softmax\", \"use_bias\": true, " K2_INIT ", "
    "\"kernel_regularizer\": null}, \"name\": \"predictions\", "
    "\"inbound_nodes\": [[[\"gap\", 0, 0, {}]]]}], "
    "\"input_layers\": [[\"input_1\", 0, 0]], \"output_layers\": "
    "[[\"predictions\", 0, 0]]}, \"keras_version\": \"2.4.0\", \"backend\": "
    "\"tensorflow\"}";

/* tf.keras 2.x Sequential: no InputLayer, batch_input_shape on the first
 * layer. */
static const char *K2_SEQUENTIAL =
    "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"seq2\", "
    "\"layers\": ["
    "{\"class_name\": \"Flatten\", \"config\": {\"name\": \"flatten\", "
    "\"trainable\": true, \"batch_input_shape\": [null, 4, 4, 2], \"dtype\": "
    "\"float32\", \"data_format\": \"channels_last\"}},"
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"hidden\", "
    "\"trainable\": true, \"dtype\": \"float32\", \"units\": 5, "
    "\"activation\": \"relu\", \"use_bias\": true, " K2_INIT ", "
    "\"kernel_regularizer\": {\"class_name\": \"L1L2\", \"config\": {\"l1\": "
    "0.0, \"l2\": 0.5}}}},"
    "{\"class_name\": \"Dropout\", \"config\": {\"name\": \"drop\", "
    "\"trainable\": true, \"dtype\": \"float32\", \"rate\": 0.25, "
    "\"noise_shape\": null, \"seed\": 11}},"
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"out\", \"trainable\": "
    "false, \"dtype\": \"float32\", \"units\": 2, \"activation\": \"sigmoid\", "
    "\"use_bias\": false, " K2_INIT ", \"kernel_regularizer\": null}}]}, "
    "\"keras_version\": \"2.4.0\", \"backend\": \"tensorflow\"}";

static void expect_shape(const zoo_sym *s, int rank, const int *want)
{
    cr_assert_eq(zoo_sym_rank(s), rank);
    for (int i = 0; i < rank; i++)
        cr_expect_eq(zoo_sym_shape(s)[i], want[i], "axis %d: %d, want %d", i,
                     zoo_sym_shape(s)[i], want[i]);
}

static void expect_weight_shape(zoo_layer *l, int w, int rank, const int *want)
{
    zoo_tensor *t = zoo_layer_weight(l, w);
    cr_assert_not_null(t, "%s: no weight %d", zoo_layer_name(l), w);
    cr_assert_eq(zoo_tensor_rank(t), rank, "%s weight %d", zoo_layer_name(l), w);
    for (int i = 0; i < rank; i++)
        cr_expect_eq(zoo_tensor_shape(t)[i], want[i]);
}

Test(keras2, functional_by_hand)
{
    zoo_model *m = from_json_or_die(K2_FUNCTIONAL);
    /* model.layers in Keras's order, not the list's. */
    static const char *const names[] = {"input_1", "conv", "bn", "shared",
                                        "add", "gap", "predictions"};
    static const char *const classes[] = {"InputLayer", "Conv2D",
                                          "BatchNormalization", "Conv2D", "Add",
                                          "GlobalAveragePooling2D", "Dense"};
    cr_assert_eq(zoo_model_layer_count(m), 7);
    for (int i = 0; i < 7; i++) {
        cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, i)), names[i]);
        cr_expect_str_eq(zoo_layer_class(zoo_model_layer(m, i)), classes[i]);
    }
    cr_expect_str_eq(zoo_model_name(m), "k2");
    zoo_layer *conv = zoo_model_get_layer(m, "conv");
    cr_expect_not(zoo_layer_trainable(conv));
    cr_expect_eq(zoo_layer_kernel_l2(conv), 1e-3f);
    expect_weight_shape(conv, 0, 4, (int[]){3, 3, 2, 4});
    zoo_layer *bn = zoo_model_get_layer(m, "bn");
    cr_expect_eq(zoo_layer_weight_count(bn), 3, "scale=False: no gamma");
    zoo_layer *shared = zoo_model_get_layer(m, "shared");
    cr_expect_eq(zoo_layer_weight_count(shared), 1, "use_bias=False");
    cr_expect_not_null(zoo_layer_output(shared, 1), "shared is called twice");
    /* Node 1 of shared reads node 0 of shared. */
    cr_expect_eq(zoo_model_input_count(m), 1);
    expect_shape(zoo_model_input(m, 0), 4, (int[]){-1, 6, 6, 2});
    expect_shape(zoo_model_output(m, 0), 2, (int[]){-1, 3});
    expect_weight_shape(zoo_model_get_layer(m, "predictions"), 0, 2, (int[]){4, 3});

    /* It runs: probabilities. */
    zoo_tensor *x = input_batch(2, 6, 6, 2, 1);
    zoo_tensor *y = predict_or_die(m, x);
    for (int i = 0; i < 2; i++) {
        const float *r = zoo_tensor_cdata(y) + 3 * i;
        cr_expect_float_eq(r[0] + r[1] + r[2], 1.0f, 1e-5f);
    }
    /* Written back as Keras 3, and read again to the same text. */
    char *a = json_or_die(m);
    zoo_model *r = from_json_or_die(a);
    char *b = json_or_die(r);
    cr_expect_str_eq(a, b);
    cr_expect(strstr(a, "\"epsilon\": 0.0001"), "bn epsilon lost: %.300s", a);
    free(a);
    free(b);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_model_free(r);
    zoo_model_free(m);
}

Test(keras2, sequential_by_hand)
{
    zoo_model *m = from_json_or_die(K2_SEQUENTIAL);
    static const char *const names[] = {"flatten", "hidden", "drop", "out"};
    cr_assert_eq(zoo_model_layer_count(m), 4, "Sequential.layers has no InputLayer");
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, i)), names[i]);
    cr_expect_str_eq(zoo_model_name(m), "seq2");
    expect_shape(zoo_model_input(m, 0), 4, (int[]){-1, 4, 4, 2});
    expect_shape(zoo_model_output(m, 0), 2, (int[]){-1, 2});
    zoo_layer *hidden = zoo_model_get_layer(m, "hidden");
    expect_weight_shape(hidden, 0, 2, (int[]){32, 5});
    cr_expect_eq(zoo_layer_kernel_l2(hidden), 0.5f, "L1L2 with l1 = 0 is L2");
    zoo_layer *out = zoo_model_get_layer(m, "out");
    cr_expect_not(zoo_layer_trainable(out));
    cr_expect_eq(zoo_layer_weight_count(out), 1);
    char *a = json_or_die(m);
    cr_expect(strstr(a, "\"class_name\": \"Sequential\""), "%.200s", a);
    cr_expect(strstr(a, "\"seed\": 11"), "dropout seed lost: %s", a);
    free(a);
    zoo_model_free(m);

    /* Keras 3 without an InputLayer: build_input_shape; a frozen model
     * freezes its layers. */
    m = from_json_or_die(
        "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s3\", "
        "\"trainable\": false, \"layers\": [{\"class_name\": \"Dense\", "
        "\"config\": {\"name\": \"d\", \"units\": 2}}], "
        "\"build_input_shape\": [null, 7]}}");
    expect_shape(zoo_model_input(m, 0), 2, (int[]){-1, 7});
    expect_shape(zoo_model_output(m, 0), 2, (int[]){-1, 2});
    cr_expect_not(zoo_layer_trainable(zoo_model_get_layer(m, "d")));
    cr_expect_eq(zoo_model_trainable_param_count(m), 0);
    zoo_model_free(m);
}

/* A tf.keras 2 model.save() file written by h5py 2-style strings; its
 * output was computed by NumPy in float64. */
Test(keras2, full_model_file_matches_numpy)
{
    char *path = case_path("keras2.h5"), *xp = case_path("keras2_x.npy"),
         *yp = case_path("keras2_y.npy");
    zoo_model *m = zoo_model_load(path);
    cr_assert_not_null(m, "load: %s", zoo_last_error());
    zoo_tensor *x = zoo_npy_load(xp), *want = zoo_npy_load(yp);
    cr_assert(x && want, "%s", zoo_last_error());
    zoo_tensor *y = predict_or_die(m, x);
    char msg[512];
    cr_expect(zt_tensor_close(y, want, 1e-5, 1e-6, msg, sizeof msg), "%s", msg);
    cr_expect_not(zoo_layer_trainable(zoo_model_get_layer(m, "conv")));
    cr_expect_eq(zoo_layer_kernel_l2(zoo_model_get_layer(m, "conv")), 1e-3f);
    cr_expect_eq(zoo_model_class_name_count(m), 0);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_tensor_free(want);
    zoo_model_free(m);
    free(path);
    free(xp);
    free(yp);
}

/* ------------------------------------------------------------------ */
/* Files that are not full models                                      */
/* ------------------------------------------------------------------ */

Test(load_errors, missing_file)
{
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "nothing.h5");
    cr_expect_null(zoo_model_load(path));
    expect_error(ZOO_ERR_NOT_FOUND, "nothing.h5");
    cr_expect_null(zoo_model_load(NULL));
    expect_error(ZOO_ERR_ARGUMENT, "path");
    free(path);
    zt_rmtree(dir);
    free(dir);
}

Test(load_errors, weights_only_file)
{
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "weights.h5");
    zoo_model *m = trained_model();
    cr_assert_eq(zoo_model_save_weights(m, path), ZOO_OK, "%s", zoo_last_error());
    cr_expect_null(zoo_model_load(path));
    expect_error(ZOO_ERR_FORMAT, "weights-only");
    cr_expect(strstr(zoo_last_error(), "zoo_model_load_weights"),
              "the message should say what to do: %s", zoo_last_error());
    /* The other way round works: a full-model file's weights load into a
     * model built separately. */
    char *full = zt_path(dir, "full.h5");
    cr_assert_eq(zoo_model_save(m, full), ZOO_OK, "%s", zoo_last_error());
    zoo_model *twin = trained_model();
    for (int i = 0; i < zoo_model_layer_count(twin); i++)
        for (int w = 0; w < zoo_layer_weight_count(zoo_model_layer(twin, i)); w++)
            zt_fill_uniform(zoo_layer_weight(zoo_model_layer(twin, i), w), 999, 0, 1);
    cr_assert_eq(zoo_model_load_weights(twin, full, NULL), ZOO_OK, "%s",
                 zoo_last_error());
    for (int i = 0; i < zoo_model_layer_count(twin); i++)
        for (int w = 0; w < zoo_layer_weight_count(zoo_model_layer(twin, i)); w++)
            cr_expect(same_bits(zoo_layer_weight(zoo_model_layer(twin, i), w),
                                zoo_layer_weight(zoo_model_layer(m, i), w)));
    zoo_model_free(twin);
    zoo_model_free(m);
    free(path);
    free(full);
    zt_rmtree(dir);
    free(dir);
}

Test(load_errors, truncated_file)
{
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "full.h5"), *cut = zt_path(dir, "cut.h5");
    zoo_model *m = trained_model();
    cr_assert_eq(zoo_model_save(m, path), ZOO_OK, "%s", zoo_last_error());
    char *data = NULL;
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc((size_t)size);
    cr_assert(data && fread(data, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    for (long keep = size / 2; keep >= 16; keep /= 8) {
        cr_assert(zt_write_file(cut, data, (size_t)keep));
        zoo_clear_error();
        cr_expect_null(zoo_model_load(cut), "a file cut to %ld of %ld bytes loaded",
                       keep, size);
        cr_expect_neq(zoo_last_status(), ZOO_OK);
        cr_expect(strstr(zoo_last_error(), "cut.h5"), "%s", zoo_last_error());
    }
    cr_assert(zt_write_file(cut, data, 0));
    cr_expect_null(zoo_model_load(cut));
    expect_error(ZOO_ERR_FORMAT, "empty");
    free(data);
    zoo_model_free(m);
    free(path);
    free(cut);
    zt_rmtree(dir);
    free(dir);
}

Test(load_errors, bad_configs_in_files)
{
    struct {
        const char *file;
        zoo_status status;
        const char *needle;
    } cases[] = {
        {"garbage_config.h5", ZOO_ERR_FORMAT, "not valid JSON"},
        {"config_int.h5", ZOO_ERR_FORMAT, "model_config"},
        {"lambda.h5", ZOO_ERR_UNSUPPORTED, "Lambda"},
        {"archive.keras", ZOO_ERR_UNSUPPORTED, ".keras"},
        {"keras2_x.npy", ZOO_ERR_FORMAT, "not an HDF5 file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = case_path(cases[i].file);
        zoo_clear_error();
        cr_expect_null(zoo_model_load(p), "%s loaded", cases[i].file);
        expect_error(cases[i].status, cases[i].needle);
        cr_expect(strstr(zoo_last_error(), cases[i].file), "%s", zoo_last_error());
        free(p);
    }
}

/* ------------------------------------------------------------------ */
/* Hostile JSON                                                        */
/* ------------------------------------------------------------------ */

/* A Keras 3 Functional config: input (8, 8, 3) -> LAYER -> output, where
 * LAYER is `cls` with config fields `fields` (no braces) called on the
 * input. */
static char *one_layer(const char *cls, const char *fields)
{
    static const char *fmt =
        "{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", "
        "\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
        "{\"batch_shape\": [null, 8, 8, 3], \"name\": \"in\"}, \"name\": "
        "\"in\", \"inbound_nodes\": []}, {\"class_name\": \"%s\", \"config\": "
        "{\"name\": \"x\"%s%s}, \"name\": \"x\", \"inbound_nodes\": "
        "[{\"args\": [{\"class_name\": \"__keras_tensor__\", \"config\": "
        "{\"keras_history\": [\"in\", 0, 0]}}], \"kwargs\": {}}]}], "
        "\"input_layers\": [[\"in\", 0, 0]], \"output_layers\": [[\"x\", 0, "
        "0]]}}";
    size_t n = strlen(fmt) + strlen(cls) + strlen(fields) + 8;
    char *s = malloc(n);
    cr_assert(s);
    snprintf(s, n, fmt, cls, *fields ? ", " : "", fields);
    return s;
}

static void expect_rejected(const char *json, zoo_status st, const char *needle)
{
    zoo_model *m = zoo_model_from_json(json, 1);
    cr_expect_null(m, "accepted: %.300s", json);
    zoo_model_free(m);
    expect_error(st, needle);
}

static void expect_layer_rejected(const char *cls, const char *fields,
                                  zoo_status st, const char *needle)
{
    char *s = one_layer(cls, fields);
    expect_rejected(s, st, needle);
    free(s);
}

Test(hostile_json, one_layer_template_is_valid)
{
    /* The template the layer cases use builds when the layer is fine. */
    char *s = one_layer("Conv2D", "\"filters\": 2, \"kernel_size\": [3, 3]");
    zoo_model *m = zoo_model_from_json(s, 1);
    cr_assert_not_null(m, "%s", zoo_last_error());
    expect_shape(zoo_model_output(m, 0), 4, (int[]){-1, 6, 6, 2});
    zoo_model_free(m);
    free(s);
}

Test(hostile_json, layer_options)
{
    const zoo_status F = ZOO_ERR_FORMAT, U = ZOO_ERR_UNSUPPORTED;
    expect_layer_rejected("Conv2D", "\"filters\": \"8\", \"kernel_size\": 3", F,
                          "'filters' must be an integer");
    expect_layer_rejected("Conv2D", "\"filters\": 1000000000000, \"kernel_size\": 3",
                          F, "'filters' is 1000000000000");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": [3]", F,
                          "'kernel_size'");
    expect_layer_rejected("Conv2D", "\"filters\": 8", F, "'kernel_size' is missing");
    expect_layer_rejected("Conv2D", "\"filters\": 0, \"kernel_size\": 3", F,
                          "'filters' is 0");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": 3, "
                          "\"data_format\": \"channels_first\"", U, "channels_first");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": 3, \"groups\": 2",
                          U, "groups=2");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": 3, "
                          "\"kernel_regularizer\": {\"class_name\": \"L1\", "
                          "\"config\": {\"l1\": 0.1}}", U, "L2");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": 3, "
                          "\"kernel_regularizer\": {\"class_name\": \"L1L2\", "
                          "\"config\": {\"l1\": 0.1, \"l2\": 0.1}}", U, "L2");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": 3, "
                          "\"kernel_constraint\": {\"class_name\": \"MaxNorm\"}",
                          U, "'kernel_constraint' is set");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": 3, "
                          "\"padding\": \"causal\"", U, "causal");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": 3, "
                          "\"activation\": \"gelu\"", U, "gelu");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": 3, "
                          "\"strides\": 2, \"dilation_rate\": 2", ZOO_ERR_ARGUMENT,
                          "dilation");
    expect_layer_rejected("Conv2D", "\"filters\": 8, \"kernel_size\": 99999", F,
                          "'kernel_size' is 99999");
    expect_layer_rejected("Dense", "\"units\": null", F, "'units' is missing");
    expect_layer_rejected("Dense", "\"units\": 1073741824", F, "weights");
    expect_layer_rejected("Dense", "\"units\": 4, \"trainable\": \"yes\"", F,
                          "'trainable' must be true or false");
    expect_layer_rejected("Dense", "\"units\": 4, \"dtype\": \"float64\"", U,
                          "float64");
    expect_layer_rejected("BatchNormalization", "\"axis\": 1", U, "last axis");
    expect_layer_rejected("BatchNormalization", "\"epsilon\": 0", F, "epsilon");
    expect_layer_rejected("BatchNormalization", "\"momentum\": 1e400", F, "JSON");
    expect_layer_rejected("BatchNormalization", "\"renorm\": true", U, "'renorm'");
    expect_layer_rejected("ReLU", "\"max_value\": 0.0", U, "max_value");
    expect_layer_rejected("Dropout", "\"rate\": 0.5, \"noise_shape\": [1, 1, 1, 3]", U,
                          "noise_shape");
    expect_layer_rejected("Dropout", "\"rate\": 1.5", ZOO_ERR_ARGUMENT, "rate");
    expect_layer_rejected("ZeroPadding2D", "\"padding\": [[0, 0], [0, 0]]", U, "zero");
    expect_layer_rejected("ZeroPadding2D", "\"padding\": 1048577", F, "'padding'");
    expect_layer_rejected("ZeroPadding2D", "\"padding\": [[1, 2, 3], [0, 0]]", F,
                          "pair of pairs");
    expect_layer_rejected("Cropping2D", "\"cropping\": [[5, 5], [0, 0]]",
                          ZOO_ERR_SHAPE, "Cropping2D");
    expect_layer_rejected("Reshape", "\"target_shape\": [7, 7]", ZOO_ERR_SHAPE,
                          "reshape");
    expect_layer_rejected("Reshape", "\"target_shape\": \"(8, 8)\"", F, "target_shape");
    expect_layer_rejected("Reshape", "\"target_shape\": [65536, 65536, -1]", F,
                          "values");
    expect_layer_rejected("Concatenate", "\"axis\": 0", U, "batch axis");
    expect_layer_rejected("Add", "", ZOO_ERR_ARGUMENT, "inputs");
    expect_layer_rejected("Lambda", "\"function\": \"x\"", U,
                          "cannot build this layer class");
    expect_layer_rejected("Functional", "\"layers\": []", U, "nested");
}

/* A Functional config with the given layer list and inputs/outputs. */
static char *functional(const char *layers, const char *ins, const char *outs)
{
    static const char *fmt =
        "{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", "
        "\"layers\": [%s], \"input_layers\": %s, \"output_layers\": %s}}";
    size_t n = strlen(fmt) + strlen(layers) + strlen(ins) + strlen(outs);
    char *s = malloc(n);
    cr_assert(s);
    snprintf(s, n, fmt, layers, ins, outs);
    return s;
}

#define IN_LAYER(name)                                                        \
    "{\"class_name\": \"InputLayer\", \"config\": {\"batch_input_shape\": "   \
    "[null, 4, 4, 2], \"name\": \"" name "\"}, \"name\": \"" name "\", "       \
    "\"inbound_nodes\": []}"
#define RELU_LAYER(name, nodes)                                               \
    "{\"class_name\": \"ReLU\", \"config\": {\"name\": \"" name "\"}, "       \
    "\"name\": \"" name "\", \"inbound_nodes\": " nodes "}"

static void expect_graph_rejected(const char *layers, const char *ins,
                                  const char *outs, zoo_status st,
                                  const char *needle)
{
    char *s = functional(layers, ins, outs);
    expect_rejected(s, st, needle);
    free(s);
}

Test(hostile_json, graphs)
{
    const zoo_status F = ZOO_ERR_FORMAT;
    const char *io_in = "[[\"in\", 0, 0]]", *io_out = "[[\"r\", 0, 0]]";
    /* The base case builds. */
    char *ok = functional(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"in\", 0, 0, {}]]]"),
                          io_in, io_out);
    zoo_model *m = zoo_model_from_json(ok, 1);
    cr_assert_not_null(m, "%s", zoo_last_error());
    zoo_model_free(m);
    free(ok);

    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"nope\", 0, 0, {}]]]"),
                          io_in, io_out, F, "'nope', which is not in the layer list");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"in\", 5, 0, {}]]]"),
                          io_in, io_out, F, "node 5 of layer 'in'");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"in\", 0, 1, {}]]]"),
                          io_in, io_out, ZOO_ERR_UNSUPPORTED, "one output");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"in\", \"0\", 0, {}]]]"),
                          io_in, io_out, F, "must be integers");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"r\", 0, 0, {}]]]"),
                          io_in, io_out, F, "cycle");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"s\", 0, 0, {}]]]")
                          "," RELU_LAYER("s", "[[[\"r\", 0, 0, {}]]]"),
                          io_in, io_out, F, "cycle");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"in\", 0, 0, "
                          "{\"training\": true}]]]"),
                          io_in, io_out, ZOO_ERR_UNSUPPORTED, "'training'");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[{\"args\": [], "
                          "\"kwargs\": {}}]"),
                          io_in, io_out, F, "'args'");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[{\"args\": [{\"class_name\": "
                          "\"__keras_tensor__\", \"config\": {}}]}]"),
                          io_in, io_out, F, "keras_history");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"in\", 0, 0, {}], "
                          "[\"in\", 0, 0, {}]]]"),
                          io_in, io_out, F, "takes one input");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "{\"a\": 1}"),
                          io_in, io_out, F, "inbound_nodes");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("in", "[[[\"in\", 0, 0, {}]]]"),
                          io_in, "[[\"in\", 0, 0]]", F, "two layers are named 'in'");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"in\", 0, 0, {}]]]"),
                          "[[\"r\", 0, 0]]", io_out, F, "not an InputLayer");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"in\", 0, 0, {}]]]"),
                          io_in, "[[\"r\", 3, 0]]", F, "node 3 of layer 'r'");
    expect_graph_rejected(IN_LAYER("in") "," RELU_LAYER("r", "[[[\"in\", 0, 0, {}]]]"),
                          io_in, "[]", F, "'output_layers'");
    expect_graph_rejected(IN_LAYER("in") "," IN_LAYER("in2") ","
                          RELU_LAYER("r", "[[[\"in2\", 0, 0, {}]]]"),
                          io_in, io_out, ZOO_ERR_ARGUMENT, "disconnected");
    expect_graph_rejected("{\"class_name\": \"InputLayer\", \"config\": "
                          "{\"batch_shape\": [null, 100000, 100000, 3], \"name\": "
                          "\"in\"}, \"name\": \"in\", \"inbound_nodes\": []}",
                          io_in, io_in, F, "values");
    expect_graph_rejected("{\"class_name\": \"InputLayer\", \"config\": "
                          "{\"batch_shape\": [null, 4, 4, 2], \"dtype\": \"int32\", "
                          "\"name\": \"in\"}, \"name\": \"in\", \"inbound_nodes\": []}",
                          io_in, io_in, ZOO_ERR_UNSUPPORTED, "int32");
    expect_graph_rejected("{\"class_name\": \"InputLayer\", \"config\": "
                          "{\"batch_shape\": \"big\", \"name\": \"in\"}, \"name\": "
                          "\"in\", \"inbound_nodes\": []}",
                          io_in, io_in, F, "batch_shape");
    expect_graph_rejected("{\"class_name\": 3, \"config\": {}}", io_in, io_out, F,
                          "class_name");
    expect_graph_rejected("[]", io_in, io_out, F, "not an object");
    expect_graph_rejected("", io_in, io_out, F, "'layers' is missing or empty");
}

Test(hostile_json, documents)
{
    const zoo_status F = ZOO_ERR_FORMAT;
    expect_rejected("", F, "not valid JSON");
    expect_rejected("{\"class_name\": \"Functional\", \"config\": {", F,
                    "not valid JSON");
    expect_rejected("{\"a\": 99999999999999999999999999}", F, "not valid JSON");
    expect_rejected("[]", F, "class_name");
    expect_rejected("{\"class_name\": \"Functional\"}", F, "class_name");
    expect_rejected("{\"class_name\": \"Functional\", \"config\": {}, "
                    "\"class_name\": \"Sequential\"}", F, "not valid JSON");
    expect_rejected("{\"class_name\": \"Subclassed\", \"config\": {}}",
                    ZOO_ERR_UNSUPPORTED, "Subclassed");
    expect_rejected("{\"class_name\": \"Functional\", \"config\": []}", F,
                    "must be an object");
    expect_rejected("{\"class_name\": \"Sequential\", \"config\": {\"layers\": "
                    "[{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", "
                    "\"units\": 2}}]}}", F, "no input shape");
    expect_rejected("{\"class_name\": \"Sequential\", \"config\": {\"layers\": "
                    "[{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": "
                    "[null, 3], \"name\": \"i\"}}]}}", F, "no layers");
    expect_rejected("{\"class_name\": \"Sequential\", \"config\": {\"layers\": "
                    "[{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", "
                    "\"units\": 2, \"batch_input_shape\": [null, 3]}}, "
                    "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": "
                    "[null, 3], \"name\": \"i\"}}]}}", F, "only come first");
    /* tf.keras 2's hard_sigmoid is not Keras 3's. */
    expect_rejected("{\"class_name\": \"Sequential\", \"config\": {\"layers\": "
                    "[{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", "
                    "\"units\": 2, \"activation\": \"hard_sigmoid\", "
                    "\"batch_input_shape\": [null, 3]}}]}}",
                    ZOO_ERR_UNSUPPORTED, "hard_sigmoid");
    expect_rejected(NULL, ZOO_ERR_ARGUMENT, "NULL");

    /* Nesting far deeper than any config: an error, not a stack overflow. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    cr_assert(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    expect_rejected(deep, F, "not valid JSON");
    free(deep);
}

/* A long chain of layers builds without recursion trouble; one more
 * than the bound is refused. */
Test(hostile_json, long_chain)
{
    /* The list holds the InputLayer and n ReLUs; 20001 entries are one
     * over the bound (refused before anything is built). */
    static const int lengths[] = {5000, 20000};
    for (int t = 0; t < 2; t++) {
        int n = lengths[t];
        size_t cap = (size_t)n * 160 + 1024;
        char *s = malloc(cap);
        cr_assert(s);
        size_t len = (size_t)snprintf(s, cap,
            "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"chain\", "
            "\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
            "{\"batch_shape\": [null, 2], \"name\": \"in\"}}");
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(s + len, cap - len,
                                    ", {\"class_name\": \"ReLU\", \"config\": "
                                    "{\"name\": \"r%d\"}}", i);
        snprintf(s + len, cap - len, "]}}");
        zoo_model *m = zoo_model_from_json(s, 1);
        if (n < 20000) {
            cr_assert_not_null(m, "%s", zoo_last_error());
            cr_expect_eq(zoo_model_layer_count(m), n);
        } else {
            cr_expect_null(m);
            expect_error(ZOO_ERR_FORMAT, "at most 20000");
        }
        zoo_model_free(m);
        free(s);
    }
}

/* ------------------------------------------------------------------ */
/* Saves that fail                                                     */
/* ------------------------------------------------------------------ */

Test(save_errors, failed_saves_leave_nothing)
{
    char *dir = zt_tmpdir_or_die();
    zoo_model *m = trained_model();

    /* The target is a directory: the rename fails after the write. */
    char *sub = zt_path(dir, "taken.h5");
    cr_assert_eq(mkdir(sub, 0755), 0);
    cr_expect_neq(zoo_model_save(m, sub), ZOO_OK);
    expect_error(ZOO_ERR_IO, "taken.h5");
    cr_expect_eq(zt_dir_entries(dir), 1, "a temporary file was left behind");
    cr_expect_eq(zt_dir_entries(sub), 0);

    /* A directory that does not exist. */
    char *nowhere = zt_path(dir, "no/such/dir/m.h5");
    cr_expect_neq(zoo_model_save(m, nowhere), ZOO_OK);
    expect_error(ZOO_ERR_NOT_FOUND, "m.h5");
    cr_expect_eq(zt_dir_entries(dir), 1);

    /* A model Keras cannot describe (its input is not an Input): refused
     * before any file is made, and an existing file stays as it was. */
    char *path = zt_path(dir, "kept.h5");
    cr_assert(zt_write_file(path, "old", 3));
    zoo_model *cut = zoo_model_new((zoo_sym *[]){zoo_layer_output(
                                       zoo_model_get_layer(m, "relu1"), 0)}, 1,
                                   (zoo_sym *[]){zoo_model_output(m, 0)}, 1, "cut");
    cr_assert_not_null(cut, "%s", zoo_last_error());
    cr_expect_neq(zoo_model_save(cut, path), ZOO_OK);
    expect_error(ZOO_ERR_UNSUPPORTED, "InputLayer");
    char *text = zt_read_text(path);
    cr_expect_str_eq(text, "old");
    free(text);
    cr_expect_eq(zt_dir_entries(dir), 2);

    /* A layer name HDF5 cannot hold. */
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *in = zoo_input(g, 1, (int[]){3}, "in");
    zoo_sym *y = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "a/b", .units = 2}), in);
    zoo_model *slash = zoo_model_new(&in, 1, &y, 1, "slash");
    zoo_graph_release(g);
    cr_assert_not_null(slash);
    char *p2 = zt_path(dir, "slash.h5");
    cr_expect_neq(zoo_model_save(slash, p2), ZOO_OK);
    expect_error(ZOO_ERR_ARGUMENT, "a/b");
    cr_expect_not(file_exists(p2));
    cr_expect_eq(zt_dir_entries(dir), 2);

    cr_expect_neq(zoo_model_save(NULL, path), ZOO_OK);
    expect_error(ZOO_ERR_ARGUMENT, "NULL");
    cr_expect_neq(zoo_model_save(m, ""), ZOO_OK);
    expect_error(ZOO_ERR_ARGUMENT, "empty");

    zoo_model_free(slash);
    zoo_model_free(cut);
    zoo_model_free(m);
    free(sub);
    free(nowhere);
    free(path);
    free(p2);
    zt_rmtree(dir);
    free(dir);
}
