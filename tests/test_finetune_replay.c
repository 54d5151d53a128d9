/*
 * `zoo finetune` against an independent Keras-semantics trainer.
 *
 * The built tool (ZOO_TEST_ZOO_BIN) fine-tunes MobileNet on a tiny class
 * folder (3 classes x 5 PNGs at 64x64, drawn by
 * oracle/finetune_replay_data.py; batches of 4, so each epoch ends with a
 * batch of 3) from a base weights file made here: seeded, every BN's moving
 * statistics calibrated to its input on random images and then perturbed,
 * gamma/beta away from 1/0, so a frozen BN that used batch statistics or
 * updated its moving statistics would change the result.
 *
 * For each run, `zoo finetune --epochs 0` writes the starting model, and
 * tools/keras_train.py (PyTorch autograd in float64; Keras 3's loss,
 * BatchNormalization training/inference modes, SGD, momentum, RMSprop and
 * Adam written out there) replays the run from that file and the images
 * (decoded by Pillow). Then `zoo finetune --epochs 2` trains, and every
 * weight of every trainable layer in its OUT.h5 (predictions, unfrozen
 * kernels, BN gamma/beta and moving statistics) must match the replay to
 * 1e-4 of the tensor's largest magnitude, with the update itself right to
 * 10%; frozen layers must equal the base file bit for bit; the history's
 * loss and accuracy must be Keras 3's (batch losses averaged with the
 * batch sizes as weights).
 *
 * Where two float32 trainers can differ by more than 1e-4 whatever their
 * correctness, the set-up avoids it (each choice checked by training the
 * replay itself in float32 and with float64 inputs: all within ~1e-5):
 *  - 64x64 keeps block 13 at 2x2, so training-mode BN normalises 12-16
 *    values per channel rather than 3-4;
 *  - the trained block's BN layers keep their ReLU6 inputs inside (0, 6)
 *    (see make_base_or_die): an input within rounding of a kink takes
 *    either side and moves a kernel's gradient by percents;
 *  - depthwise kernels are O(1), as pretrained ones are, not Glorot's
 *    ~0.01 at 1024 channels;
 *  - Adam trains the unfrozen part only through BN gamma/beta: Adam's step
 *    is ~lr * sign(g) wherever |g| >> 3e-6, so on whole kernels the
 *    components whose gradient is below float32 rounding noise flip sign
 *    between implementations (zoo and a float32 replay both differ from
 *    the float64 one by ~1.3e-4 at lr 1e-3 on conv_dw_13.., ~2e-5 at
 *    1e-4, 1e-6 at 1e-5);
 *  - rates keep every batch loss below ~4 (no probability at the 1e-7
 *    clip, another kink).
 *
 * A negative control replays the Adam run with frozen BN layers in
 * training mode (pre-TF2 Keras): it must disagree, so the comparison has
 * teeth.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <zoo/zoo.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ZOO_TEST_PYTHON
#define ZOO_TEST_PYTHON "/usr/bin/python3"
#endif

#define KERAS_TRAIN ZOO_TEST_SOURCE_DIR "/../tools/keras_train.py"
#define DATA_SCRIPT ZOO_TEST_SOURCE_DIR "/oracle/finetune_replay_data.py"

enum { SIZE = 64, CLASSES = 3, EPOCHS = 2 };
#define BATCH "4"
#define SEED "3"
#define TOL 1e-4

/* ------------------------------------------------------------------ */
/* Running programs                                                    */
/* ------------------------------------------------------------------ */

typedef struct {
    char *root;
    char *io;
    char *data;   /* the class folders */
    char *base;   /* base weights (no top) */
    char *home;   /* ZOO_HOME / KERAS_HOME / HOME: empty */
} fixture;

/* Runs argv with stdin from /dev/null and stdout/stderr captured, killed
 * after limit_s seconds; zoo gets a closed network and one thread. */
static zt_run_result run_argv(const fixture *fx, const char *const *argv, unsigned limit_s)
{
    const char *const env[] = {"ZOO_HOME", fx->home, "KERAS_HOME", fx->home,
                               "HOME", fx->home, ZT_ZOO_OFFLINE_ENV,
                               "OMP_NUM_THREADS", "1", NULL};
    return zt_run(argv, &(zt_run_opts){.io_dir = fx->io, .stdin_null = true,
                                       .env = env, .limit_s = limit_s});
}

/* ------------------------------------------------------------------ */
/* The base weights                                                    */
/* ------------------------------------------------------------------ */

static zoo_model *mobilenet_base_or_die(bool random_init)
{
    zoo_net_opts o = {.no_top = true, .pooling = ZOO_POOL_AVG,
                      .input_shape = {SIZE, SIZE, 3}, .seed = 1234,
                      .skip_random_init = !random_init};
    zoo_model *m = zoo_net_mobilenet(&o);
    cr_assert_not_null(m, "%s", zoo_last_error());
    return m;
}

/* Glorot draws a depthwise kernel from its (kh, kw, cin, 1) shape, so
 * values ~0.01 at 1024 channels: the BN after it then sees a variance
 * below its epsilon, and training moves the kernel by percents per step.
 * Pretrained depthwise kernels are O(1); so are these, scaled up. */
#define DW_SCALE 30.0f

/* Seeded MobileNet without its top, its depthwise kernels scaled by
 * DW_SCALE. Each BN in order gets moving statistics set to its input's on
 * random images, then moved (mean by up to 0.3 standard deviations,
 * variance by x0.7..1.4), gamma in [0.7, 1.3] and beta in [-0.2, 0.5]
 * (block 13: see below): activations keep their signal through the 13
 * blocks, and batch statistics differ from the moving ones. Saved to
 * `path`; the model is returned for bit-exact comparisons. */
static zoo_model *make_base_or_die(const char *path)
{
    zoo_model *m = mobilenet_base_or_die(true);
    zoo_tensor *x = zoo_tensor_new(4, (int[]){4, SIZE, SIZE, 3});
    cr_assert_not_null(x);
    zt_fill_uniform(x, 11, -1.0f, 1.0f);
    unsigned long long seed = 100;
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *dw = zoo_model_layer(m, i);
        if (strcmp(zoo_layer_class(dw), "DepthwiseConv2D") != 0)
            continue;
        zoo_tensor *k = zt_weight_named_or_die(dw, "depthwise_kernel");
        float *kd = zoo_tensor_data(k);
        for (size_t j = 0; j < zoo_tensor_size(k); j++)
            kd[j] *= DW_SCALE;
    }
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *bn = zoo_model_layer(m, i);
        if (strcmp(zoo_layer_class(bn), "BatchNormalization") != 0)
            continue;
        const char *name = zoo_layer_name(bn);
        zt_channel_stats st = zt_mobilenet_bn_input_stats_or_die(m, bn, x, 1e-6);
        int ch = st.channels;
        zoo_tensor *u = zoo_tensor_new(1, (int[]){4 * ch});
        zt_fill_uniform(u, seed++, 0.0f, 1.0f);
        const float *r = zoo_tensor_cdata(u);
        float *gamma = zoo_tensor_data(zt_weight_named_or_die(bn, "gamma"));
        float *beta = zoo_tensor_data(zt_weight_named_or_die(bn, "beta"));
        float *mean = zoo_tensor_data(zt_weight_named_or_die(bn, "moving_mean"));
        float *var = zoo_tensor_data(zt_weight_named_or_die(bn, "moving_variance"));
        for (int c = 0; c < ch; c++) {
            double mu = st.mean[c], vc = st.var[c];
            mean[c] = (float)(mu + 0.3 * sqrt(vc) * (2.0 * r[4 * c] - 1.0));
            var[c] = (float)(vc * (0.7 + 0.7 * r[4 * c + 1]));
            if (strncmp(name, "conv_dw_13", 10) == 0 || strncmp(name, "conv_pw_13", 10) == 0) {
                /* The trained block: gamma * x_hat + beta stays inside
                 * (0.03, 2) for batch-normalised x_hat (|x_hat| <=
                 * sqrt(15) over 16 values), so no ReLU6 input sits at a
                 * kink where float32 and float64 rounding could pick
                 * different sides (one such flip moves a kernel's
                 * gradient by percents). */
                gamma[c] = (float)(0.1 + 0.15 * r[4 * c + 2]);
                beta[c] = 1.0f;
            } else {
                gamma[c] = (float)(0.7 + 0.6 * r[4 * c + 2]);
                beta[c] = (float)(-0.2 + 0.7 * r[4 * c + 3]);
            }
        }
        zoo_tensor_free(u);
        zt_channel_stats_free(&st);
    }
    zoo_tensor_free(x);
    cr_assert_eq(zoo_model_save_weights(m, path), ZOO_OK, "%s", zoo_last_error());
    return m;
}

/* The model zoo finetune builds (base, then Dense "predictions" softmax),
 * with weights loaded from `path` (a full-model or save_weights file) by
 * Keras's order. */
static zoo_model *finetune_model_or_die(const char *path)
{
    zoo_model *base = mobilenet_base_or_die(false);
    zoo_layer *pred = zoo_dense(zoo_model_graph(base),
                                &(zoo_dense_cfg){.name = "predictions", .units = CLASSES,
                                                 .activation = ZOO_ACT_SOFTMAX});
    zoo_sym *in = zoo_model_input(base, 0);
    zoo_sym *out = zoo_apply(pred, zoo_model_output(base, 0));
    zoo_model *m = out ? zoo_model_new(&in, 1, &out, 1, "finetune") : NULL;
    cr_assert_not_null(m, "%s", zoo_last_error());
    zoo_model_free(base);
    cr_assert_eq(zoo_model_load_weights(m, path, NULL), ZOO_OK, "%s: %s", path,
                 zoo_last_error());
    return m;
}

static fixture fixture_new(void)
{
    fixture fx = {.root = zt_tmpdir_or_die()};
    fx.io = zt_path(fx.root, "io");
    fx.home = zt_path(fx.root, "home");
    fx.base = zt_path(fx.root, "base.h5");
    fx.data = zt_path(fx.root, "data");
    zt_mkdir_or_die(fx.io);
    zt_mkdir_or_die(fx.home);
    char size[16];
    snprintf(size, sizeof size, "%d", SIZE);
    zt_run_result r = run_argv(&fx, (const char *[]){ZOO_TEST_PYTHON, DATA_SCRIPT, fx.root,
                                                  size, NULL}, 60);
    cr_assert_eq(r.status, 0, "%s failed:\n%s%s", DATA_SCRIPT, r.out, r.err);
    zt_run_free(&r);
    return fx;
}

static void fixture_free(fixture *fx)
{
    if (getenv("ZOO_TEST_KEEP"))
        cr_log_info("kept %s", fx->root);
    else
        zt_rmtree(fx->root);
    free(fx->root);
    free(fx->io);
    free(fx->home);
    free(fx->base);
    free(fx->data);
}

/* ------------------------------------------------------------------ */
/* Runs                                                                */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *optimizer;
    const char *lr;
    const char *momentum; /* NULL: not given (Keras's 0) */
    const char *unfreeze; /* NULL: the base frozen */
} run_cfg;

typedef struct {
    char *init;    /* --epochs 0 */
    char *out;     /* --epochs 2 */
    char *csv;     /* its history */
    char *replay;  /* keras_train.py's weights */
    char *history; /* keras_train.py's history JSON */
} run_files;

static run_files run_files_new(const fixture *fx, const char *name)
{
    char buf[256];
    run_files f;
    snprintf(buf, sizeof buf, "%s_init.h5", name);
    f.init = zt_path(fx->root, buf);
    snprintf(buf, sizeof buf, "%s_out.h5", name);
    f.out = zt_path(fx->root, buf);
    snprintf(buf, sizeof buf, "%s_out.history.csv", name);
    f.csv = zt_path(fx->root, buf);
    snprintf(buf, sizeof buf, "%s_replay.h5", name);
    f.replay = zt_path(fx->root, buf);
    snprintf(buf, sizeof buf, "%s_replay.json", name);
    f.history = zt_path(fx->root, buf);
    return f;
}

static void run_files_free(run_files *f)
{
    free(f->init);
    free(f->out);
    free(f->csv);
    free(f->replay);
    free(f->history);
}

static void zoo_finetune_or_die(const fixture *fx, const run_cfg *c, int epochs,
                                const char *out)
{
    char ep[16];
    snprintf(ep, sizeof ep, "%d", epochs);
    char size[32];
    snprintf(size, sizeof size, "%d,%d", SIZE, SIZE);
    const char *argv[40] = {ZOO_TEST_ZOO_BIN, "finetune", "--model", "mobilenet",
                            "--weights", fx->base, "--data", fx->data,
                            "--image-size", size, "--no-shuffle", "--seed", SEED,
                            "--batch-size", BATCH, "--epochs", ep,
                            "--optimizer", c->optimizer, "--lr", c->lr,
                            "--threads", "1", "-o", out};
    int n = 25;
    if (c->momentum) {
        argv[n++] = "--momentum";
        argv[n++] = c->momentum;
    }
    if (c->unfreeze) {
        argv[n++] = "--unfreeze-from";
        argv[n++] = c->unfreeze;
    }
    argv[n] = NULL;
    zt_run_result r = run_argv(fx, argv, 300);
    cr_assert_eq(r.status, 0, "zoo finetune (%s, --epochs %d) failed (%d):\n%s%s",
                 c->name, epochs, r.status, r.out, r.err);
    zt_run_free(&r);
}

/* keras_train.py on every run in one process; with `negative_out`, one
 * more replaying runs[0] with frozen BN layers in training mode. */
static void replay_or_die(const fixture *fx, const run_cfg *runs, const run_files *files,
                          int n, const char *negative_out)
{
    json_t *list = json_array();
    for (int i = 0; i <= n; i++) {
        if (i == n && !negative_out)
            break;
        const run_cfg *c = &runs[i < n ? i : 0];
        json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:f}",
                              "name", i < n ? c->name : "negative control",
                              "init", files[i < n ? i : 0].init, "data", fx->data,
                              "epochs", EPOCHS, "batch_size", atoi(BATCH),
                              "optimizer", c->optimizer, "lr", atof(c->lr));
        cr_assert_not_null(o);
        json_object_set_new(o, "momentum", json_real(c->momentum ? atof(c->momentum) : 0.0));
        /* Frozen base: "from predictions" is the head alone. */
        json_object_set_new(o, "unfreeze_from",
                            json_string(c->unfreeze ? c->unfreeze : "predictions"));
        if (i < n) {
            json_object_set_new(o, "out", json_string(files[i].replay));
            json_object_set_new(o, "history", json_string(files[i].history));
        } else {
            json_object_set_new(o, "out", json_string(negative_out));
            json_object_set_new(o, "frozen_bn_training", json_true());
        }
        json_array_append_new(list, o);
    }
    char *manifest = zt_path(fx->root, "runs.json");
    cr_assert_eq(json_dump_file(list, manifest, JSON_INDENT(1)), 0);
    json_decref(list);
    zt_run_result r = run_argv(fx, (const char *[]){ZOO_TEST_PYTHON, KERAS_TRAIN, "--runs",
                                                 manifest, "--threads", "1", NULL}, 300);
    cr_assert_eq(r.status, 0, "keras_train.py failed (%d):\n%s%s", r.status, r.out, r.err);
    /* The replay recomputes trainability from --unfreeze-from and says when
     * the "trainable" flags zoo wrote into model_config disagree. */
    cr_assert(!strstr(r.err, "disagrees"), "%s", r.err);
    zt_run_free(&r);
    free(manifest);
}

/* ------------------------------------------------------------------ */
/* Comparisons                                                         */
/* ------------------------------------------------------------------ */

/* max |got - want| / max |want| (0/0 = 0). */
static double rel_err(const zoo_tensor *got, const zoo_tensor *want)
{
    size_t n = zoo_tensor_size(want);
    cr_assert_eq(zoo_tensor_size(got), n);
    const float *g = zoo_tensor_cdata(got), *w = zoo_tensor_cdata(want);
    double err = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)g[i] - (double)w[i]);
        err = d > err || isnan(d) ? d : err;
        scale = fabs((double)w[i]) > scale ? fabs((double)w[i]) : scale;
    }
    return scale > 0 ? err / scale : err;
}

static bool bit_equal(const zoo_tensor *a, const zoo_tensor *b)
{
    return zoo_tensor_size(a) == zoo_tensor_size(b) &&
           memcmp(zoo_tensor_cdata(a), zoo_tensor_cdata(b),
                  zoo_tensor_size(a) * sizeof(float)) == 0;
}

/* Is model layer i trainable in run c: "predictions", or with --unfreeze-from
 * L every layer from L on (model.layers order). */
static bool expect_trainable(const zoo_model *m, int i, const run_cfg *c)
{
    const char *name = zoo_layer_name(zoo_model_layer(m, i));
    if (!c->unfreeze)
        return strcmp(name, "predictions") == 0;
    for (int k = 0; k < zoo_model_layer_count(m); k++)
        if (strcmp(zoo_layer_name(zoo_model_layer(m, k)), c->unfreeze) == 0)
            return i >= k;
    cr_assert_fail("no layer %s", c->unfreeze);
    return false;
}

/* OUT.h5 of zoo against the replay, the start and the base. */
static void compare_run_or_die(const run_cfg *c, const run_files *f, zoo_model *base)
{
    zoo_model *out = finetune_model_or_die(f->out);
    zoo_model *rep = finetune_model_or_die(f->replay);
    zoo_model *init = finetune_model_or_die(f->init);
    int trained = 0, moved_n = 0;
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < zoo_model_layer_count(out); i++) {
        zoo_layer *lo = zoo_model_layer(out, i), *lr = zoo_model_layer(rep, i),
                  *li = zoo_model_layer(init, i);
        const char *name = zoo_layer_name(lo);
        bool trainable = expect_trainable(out, i, c);
        zoo_layer *lb = zoo_model_get_layer(base, name);
        for (int w = 0; w < zoo_layer_weight_count(lo); w++) {
            const char *wn = zoo_layer_weight_name(lo, w);
            zoo_tensor *to = zoo_layer_weight(lo, w), *tr = zoo_layer_weight(lr, w),
                       *ti = zoo_layer_weight(li, w);
            if (!trainable) {
                cr_assert_not_null(lb, "%s: frozen layer %s is not in the base", c->name, name);
                cr_assert(bit_equal(to, zoo_layer_weight(lb, w)),
                          "%s: frozen %s/%s in OUT.h5 differs from the base file", c->name,
                          name, wn);
                cr_assert(bit_equal(tr, zoo_layer_weight(lb, w)),
                          "%s: the replay changed frozen %s/%s", c->name, name, wn);
                continue;
            }
            double e = rel_err(to, tr);
            cr_assert(e <= TOL, "%s: %s/%s differs from the Keras-semantics replay: max "
                      "|zoo - replay| = %.3g of max |replay|, over %g", c->name, name, wn, e,
                      TOL);
            if (e >= worst) {
                worst = e;
                worst_name = name;
            }
            /* Where training moved the tensor beyond the tolerance, zoo
             * must also have reproduced the update itself to 10%, so the
             * comparison is about the training, not the starting values.
             * (Some weights get no gradient at all: the beta of a BN whose
             * output reaches the next training-mode BN only through a
             * linear map.) */
            double moved = rel_err(ti, tr);
            if (moved >= TOL) {
                cr_assert(e <= 0.1 * moved, "%s: %s/%s: zoo's update differs from the "
                          "replay's by %.3g of the tensor, the update itself is %.3g",
                          c->name, name, wn, e, moved);
                moved_n++;
            }
            trained++;
        }
    }
    cr_assert_geq(trained, c->unfreeze ? 6 : 2, "%s: only %d trained weights", c->name,
                  trained);
    cr_assert_geq(4 * moved_n, 3 * trained, "%s: training moved only %d of the %d trained "
                  "weights beyond %g", c->name, moved_n, trained, TOL);
    cr_log_info("%s: %d trained weights (%d moved) match the replay (worst %.2g, %s); "
                "frozen layers bit-identical to the base", c->name, trained, moved_n, worst,
                worst_name);
    zoo_model_free(out);
    zoo_model_free(rep);
    zoo_model_free(init);
}

/* OUT.history.csv (epoch,accuracy,loss...) against the replay's history. */
static void compare_history_or_die(const run_cfg *c, const run_files *f)
{
    json_error_t jerr;
    json_t *h = json_load_file(f->history, 0, &jerr);
    cr_assert_not_null(h, "%s: %s", f->history, jerr.text);
    char *csv = zt_read_text_or_die(f->csv);
    char *save = NULL, *line = strtok_r(csv, "\n", &save);
    cr_assert_not_null(line, "%s is empty", f->csv);
    int col_loss = -1, col_acc = -1, col = 0;
    char *hdr = strdup(line), *hs = NULL;
    for (char *t = strtok_r(hdr, ",", &hs); t; t = strtok_r(NULL, ",", &hs), col++) {
        if (strcmp(t, "loss") == 0)
            col_loss = col;
        if (strcmp(t, "accuracy") == 0)
            col_acc = col;
    }
    free(hdr);
    cr_assert(col_loss > 0 && col_acc > 0, "%s: header '%s' lacks loss/accuracy", f->csv,
              line);
    int epochs = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        double v[16] = {0};
        int k = 0;
        char *fs = NULL;
        for (char *t = strtok_r(line, ",", &fs); t && k < 16; t = strtok_r(NULL, ",", &fs))
            v[k++] = strtod(t, NULL);
        cr_assert_lt(epochs, EPOCHS, "%s has more than %d rows", f->csv, EPOCHS);
        double want_loss = json_real_value(json_array_get(json_object_get(h, "loss"), epochs));
        double want_acc =
            json_real_value(json_array_get(json_object_get(h, "accuracy"), epochs));
        cr_assert(fabs(v[col_loss] - want_loss) <= TOL * fabs(want_loss),
                  "%s: epoch %d loss %.8g, Keras 3's (batch losses weighted by batch size) "
                  "%.8g", c->name, epochs + 1, v[col_loss], want_loss);
        cr_assert(fabs(v[col_acc] - want_acc) <= 1e-9, "%s: epoch %d accuracy %.8g, want %.8g",
                  c->name, epochs + 1, v[col_acc], want_acc);
        epochs++;
    }
    cr_assert_eq(epochs, EPOCHS, "%s: %d history rows, want %d", c->name, epochs, EPOCHS);
    free(csv);
    json_decref(h);
}

static void check_runs(const run_cfg *runs, int n, bool negative_control)
{
    fixture fx = fixture_new();
    zoo_model *base = make_base_or_die(fx.base);
    run_files files[8];
    cr_assert_leq(n, 8);
    for (int i = 0; i < n; i++) {
        files[i] = run_files_new(&fx, runs[i].name);
        zoo_finetune_or_die(&fx, &runs[i], 0, files[i].init);
    }
    char *negative = negative_control ? zt_path(fx.root, "negative.h5") : NULL;
    replay_or_die(&fx, runs, files, n, negative);
    for (int i = 0; i < n; i++) {
        zoo_finetune_or_die(&fx, &runs[i], EPOCHS, files[i].out);
        compare_run_or_die(&runs[i], &files[i], base);
        compare_history_or_die(&runs[i], &files[i]);
    }
    if (negative) {
        /* Frozen BN normalising with batch statistics gives another
         * classifier: the comparison above would have caught it. */
        zoo_model *out = finetune_model_or_die(files[0].out);
        zoo_model *neg = finetune_model_or_die(negative);
        zoo_layer *po = zoo_model_get_layer(out, "predictions"),
                  *pn = zoo_model_get_layer(neg, "predictions");
        double e = rel_err(zoo_layer_weight(po, 0), zoo_layer_weight(pn, 0));
        cr_assert(e > 20 * TOL, "frozen BN in training mode changes the predictions kernel "
                  "by only %.3g: the base's BN statistics are too close to the data's", e);
        cr_log_info("negative control: frozen BN in training mode moves predictions/kernel "
                    "by %.3g", e);
        zoo_model_free(out);
        zoo_model_free(neg);
        free(negative);
    }
    for (int i = 0; i < n; i++)
        run_files_free(&files[i]);
    zoo_model_free(base);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

Test(finetune_replay, frozen_base_sgd_adam_rmsprop)
{
    static const run_cfg runs[] = {
        {"adam", "adam", "0.001", NULL, NULL},
        {"sgd", "sgd", "0.002", NULL, NULL},
        {"rmsprop", "rmsprop", "0.0001", NULL, NULL},
    };
    check_runs(runs, 3, true);
}

Test(finetune_replay, unfrozen_top_blocks_sgd_momentum_adam)
{
    static const run_cfg runs[] = {
        /* conv_dw_13 .. predictions: depthwise and pointwise kernels, two
         * BN layers in training mode (batch statistics, moving updates). */
        {"sgd_momentum_unfrozen", "sgd", "0.001", "0.9", "conv_dw_13"},
        /* conv_pw_13_bn .. predictions under Adam: BN gamma/beta and
         * moving statistics. */
        {"adam_unfrozen_bn", "adam", "0.001", NULL, "conv_pw_13_bn"},
    };
    check_runs(runs, 2, false);
}

/* The replay's own rules against hand-computed numbers (optimizer steps,
 * loss clipping, BN training/inference, --unfreeze-from). */
Test(finetune_replay, replay_selfcheck)
{
    char *root = zt_tmpdir_or_die();
    fixture fx = {.root = root, .io = root, .home = root};
    zt_run_result r = run_argv(&fx, (const char *[]){ZOO_TEST_PYTHON, KERAS_TRAIN,
                                                  "--selfcheck", NULL}, 120);
    cr_assert_eq(r.status, 0, "keras_train.py --selfcheck failed:\n%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "selfcheck: 0 failure(s)"), "%s", r.out);
    zt_run_free(&r);
    zt_rmtree(root);
    free(root);
}
