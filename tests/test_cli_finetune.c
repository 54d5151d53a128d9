/*
 * `zoo finetune` and `zoo classify --model FILE.h5` end to end: the built
 * tool (ZOO_TEST_ZOO_BIN) runs in a child process on image folders that
 * Pillow draws at test time (oracle/finetune_cases.py), with the base
 * weights written once before the tests: a seeded MobileNet without its top at 32x32 whose
 * BatchNormalization statistics are calibrated on the training images, so
 * that its pooled features carry the images' signal (seeded weights alone
 * shrink them to ~1e-22) and the classifier's gradients are not trivial.
 *
 * The references are computed here, independently of zoo's training code:
 * the new layer's start from zoo_layer_initialize(seed) on a Dense layer
 * built in the test; two epochs of plain SGD on the softmax classifier in
 * double precision (Keras's rule w -= lr * g, the mean cross-entropy over
 * each batch, batches 5, 5, 2 in dataset order) from the base's features;
 * the saved class names and scores from those numbers.
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

#define SCRIPT ZOO_TEST_SOURCE_DIR "/oracle/finetune_cases.py"
#define ENV "ZOO_TEST_FINETUNE_CASES"

enum { SIZE = 32, N_IMAGES = 12, CLASSES = 3, FEATS = 1024, BASE_SEED = 11 };
static const char *const CLASS_NAMES[CLASSES] = {"cat", "dog", "eel"};

static bool write_base_weights(const char *cases, char *why, size_t size);

/* The images (Python), then the base's weights beside them, once for all
 * tests: the tests only read them. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    zt_generate_cases_once(SCRIPT, NULL, "finetune-cases", ENV);
    const char *cases = getenv(ENV);
    char why[1024];
    if (cases && !getenv(ENV "_ERROR") && !write_base_weights(cases, why, sizeof why))
        setenv(ENV "_ERROR", why, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    zt_generated_cases_cleanup(ENV);
}

/* ------------------------------------------------------------------ */
/* Running the tool                                                    */
/* ------------------------------------------------------------------ */

typedef struct {
    char *root;    /* the test's temporary directory */
    char *io;      /* captured stdout / stderr */
    char *home;    /* ZOO_HOME, KERAS_HOME and HOME: empty */
    char *out;     /* where the tool writes: empty at first */
    char *weights; /* the base's weights (save_weights layout) */
    const char *cases;
    const char *env[13]; /* the tool's: the homes, no network, one thread */
} fixture;

/* `zoo ARGS...` (NULL-terminated) in the cases directory, stdin from
 * /dev/null; nothing may reach the network: no weights are downloaded
 * here. */
static zt_run_result run_zoo(const fixture *fx, const char *const *args)
{
    return zt_run_zoo(args, &(zt_run_opts){.io_dir = fx->io, .stdin_null = true,
                                           .cwd = fx->cases, .env = fx->env,
                                           .limit_s = 120});
}

/* fx->out + "/" + name (static buffer per call site is not enough: malloc). */
static char *out_file(const fixture *fx, const char *name)
{
    return zt_path(fx->out, name);
}

/* ------------------------------------------------------------------ */
/* The base and its weights                                            */
/* ------------------------------------------------------------------ */

/* The training images as the model sees them: preprocess_input "tf"
 * (x / 127.5 - 1) of the pixels Pillow wrote, in dataset order. NULL if
 * the file is unreadable. */
static zoo_tensor *read_inputs(const char *cases)
{
    char *path = zt_path(cases, "pixels.npy");
    zoo_tensor *x = zoo_npy_load(path);
    free(path);
    if (!x || zoo_tensor_size(x) != (size_t)N_IMAGES * SIZE * SIZE * 3) {
        zoo_tensor_free(x);
        return NULL;
    }
    float *d = zoo_tensor_data(x);
    for (size_t i = 0; i < zoo_tensor_size(x); i++)
        d[i] = d[i] / 127.5f - 1.0f;
    return x;
}

static zoo_tensor *training_inputs(const fixture *fx)
{
    zoo_tensor *x = read_inputs(fx->cases);
    cr_assert_not_null(x, "%s/pixels.npy: %s", fx->cases, zoo_last_error());
    return x;
}

static zoo_model *build_base(bool random)
{
    return zoo_net_mobilenet(&(zoo_net_opts){
        .no_top = true, .pooling = ZOO_POOL_AVG, .input_shape = {SIZE, SIZE, 3},
        .seed = BASE_SEED, .skip_random_init = !random});
}

static zoo_tensor *predict_or_die(zoo_model *m, zoo_tensor *x)
{
    return zt_predict_or_die(m, x, &(zoo_predict_opts){.threads = 1});
}

/* cases/base.h5: the seeded, calibrated base (save_weights layout). */
static bool write_base_weights(const char *cases, char *why, size_t size)
{
    zoo_model *m = build_base(true);
    zoo_tensor *x = read_inputs(cases);
    char *path = zt_path(cases, "base.h5"), detail[512] = "";
    /* Each BatchNormalization's moving mean and variance become its input's
     * statistics over the training images, so every block passes on a
     * standardised signal. Runs outside any test: no asserts. */
    bool ok = m && x && zt_calibrate_mobilenet_bn(m, x, 1e-6, detail, sizeof detail) &&
              zoo_model_save_weights(m, path) == ZOO_OK;
    if (!ok)
        snprintf(why, size, "cannot write the base weights %s: %s", path,
                 detail[0] ? detail : zoo_last_error());
    free(path);
    zoo_tensor_free(x);
    zoo_model_free(m);
    return ok;
}

static fixture fixture_new(void)
{
    fixture fx = {.root = zt_tmpdir_or_die(), .cases = zt_cases_dir(ENV)};
    fx.io = zt_path(fx.root, "io");
    fx.home = zt_path(fx.root, "home");
    fx.out = zt_path(fx.root, "out");
    fx.weights = zt_path(fx.cases, "base.h5");
    const char *env[] = {"ZOO_HOME", fx.home, "KERAS_HOME", fx.home, "HOME", fx.home,
                         ZT_ZOO_OFFLINE_ENV, NULL};
    _Static_assert(sizeof env == sizeof fx.env, "fixture.env holds the environment");
    memcpy(fx.env, env, sizeof env);
    zt_mkdir_or_die(fx.io);
    zt_mkdir_or_die(fx.home);
    zt_mkdir_or_die(fx.out);
    return fx;
}

static void fixture_free(fixture *fx)
{
    zt_rmtree(fx->root);
    free(fx->root);
    free(fx->io);
    free(fx->home);
    free(fx->out);
    free(fx->weights);
}

/* The base with the fixture's weights, as the tool loads it. */
static zoo_model *loaded_base(const fixture *fx)
{
    zoo_model *m = build_base(false);
    cr_assert_not_null(m, "%s", zoo_last_error());
    cr_assert_eq(zoo_model_load_weights(m, fx->weights, NULL), ZOO_OK, "%s",
                 zoo_last_error());
    return m;
}

static zoo_model *load_model_or_die(const char *path)
{
    zoo_model *m = zoo_model_load(path);
    cr_assert_not_null(m, "zoo_model_load(%s): %s", path, zoo_last_error());
    return m;
}

/* Every weight of every layer of `base` is bit-identical in `m`, except
 * in the layers from `from` on (NULL: none), whose weights must differ.
 * Returns how many layers were compared. */
static int check_base_weights(zoo_model *base, zoo_model *m, const char *from)
{
    bool after = false;
    int compared = 0;
    for (int i = 0; i < zoo_model_layer_count(base); i++) {
        zoo_layer *bl = zoo_model_layer(base, i);
        const char *name = zoo_layer_name(bl);
        if (from && strcmp(name, from) == 0)
            after = true;
        int nw = zoo_layer_weight_count(bl);
        if (nw == 0)
            continue;
        zoo_layer *ml = zoo_model_get_layer(m, name);
        cr_assert_not_null(ml, "the saved model lacks layer %s", name);
        cr_assert_eq(zoo_layer_weight_count(ml), nw, "layer %s", name);
        bool same = true;
        for (int w = 0; w < nw; w++) {
            const zoo_tensor *a = zoo_layer_weight(bl, w), *b = zoo_layer_weight(ml, w);
            cr_assert_eq(zoo_tensor_size(a), zoo_tensor_size(b), "%s weight %d", name, w);
            same = same && memcmp(zoo_tensor_cdata(a), zoo_tensor_cdata(b),
                                  zoo_tensor_size(a) * sizeof(float)) == 0;
        }
        if (after)
            cr_assert(!same, "layer %s is trainable (from %s on) but did not change",
                      name, from);
        else
            cr_assert(same, "frozen layer %s changed in the saved model", name);
        compared++;
    }
    return compared;
}

/* ------------------------------------------------------------------ */
/* The reference classifier                                            */
/* ------------------------------------------------------------------ */

/* Dense(CLASSES, softmax, name="predictions") on FEATS inputs, initialised
 * from `seed` alone: what the tool's new layer must start from. */
static void initial_head(unsigned long long seed, float *kernel, float *bias)
{
    zoo_graph *g = zoo_graph_new(999); /* the graph's seed must not matter */
    zoo_sym *in = zoo_input(g, 1, (int[]){FEATS}, NULL);
    zoo_layer *d = zoo_dense(g, &(zoo_dense_cfg){.name = "predictions", .units = CLASSES,
                                                 .activation = ZOO_ACT_SOFTMAX});
    cr_assert_not_null(zoo_apply(d, in), "%s", zoo_last_error());
    cr_assert_eq(zoo_layer_initialize(d, seed), ZOO_OK, "%s", zoo_last_error());
    memcpy(kernel, zoo_tensor_cdata(zt_weight_named_or_die(d, "kernel")),
           sizeof(float) * FEATS * CLASSES);
    memcpy(bias, zoo_tensor_cdata(zt_weight_named_or_die(d, "bias")), sizeof(float) * CLASSES);
    zoo_graph_release(g);
}

static void softmax_row(const double *f, const double *w, const double *b, double *p)
{
    double z[CLASSES], zmax = -INFINITY, sum = 0;
    for (int k = 0; k < CLASSES; k++) {
        z[k] = b[k];
        for (int c = 0; c < FEATS; c++)
            z[k] += f[c] * w[c * CLASSES + k];
        zmax = fmax(zmax, z[k]);
    }
    for (int k = 0; k < CLASSES; k++)
        sum += p[k] = exp(z[k] - zmax);
    for (int k = 0; k < CLASSES; k++)
        p[k] /= sum;
}

typedef struct {
    double kernel[FEATS * CLASSES], bias[CLASSES];
    double loss[2], accuracy[2];
} sgd_result;

/* Keras's SGD (no momentum) on the softmax classifier over fixed features,
 * batches in dataset order, the last one smaller; epoch loss and accuracy
 * as fit reports them (means over the samples, each batch's loss taken
 * before its update). */
static void reference_sgd(const double *feats, const int *labels, const float *k0,
                          const float *b0, double lr, int batch, int epochs,
                          sgd_result *r)
{
    for (int i = 0; i < FEATS * CLASSES; i++)
        r->kernel[i] = k0[i];
    for (int k = 0; k < CLASSES; k++)
        r->bias[k] = b0[k];
    for (int e = 0; e < epochs; e++) {
        double sum_loss = 0, correct = 0;
        for (int start = 0; start < N_IMAGES; start += batch) {
            int n = N_IMAGES - start < batch ? N_IMAGES - start : batch;
            static double gk[FEATS * CLASSES];
            double gb[CLASSES] = {0}, batch_loss = 0;
            memset(gk, 0, sizeof gk);
            for (int i = start; i < start + n; i++) {
                double p[CLASSES];
                softmax_row(feats + (size_t)i * FEATS, r->kernel, r->bias, p);
                double py = fmin(fmax(p[labels[i]], 1e-7), 1 - 1e-7);
                batch_loss += -log(py) / n;
                int arg = 0;
                for (int k = 1; k < CLASSES; k++)
                    if (p[k] > p[arg])
                        arg = k;
                correct += arg == labels[i];
                for (int k = 0; k < CLASSES; k++) {
                    double dz = (p[k] - (k == labels[i])) / n;
                    gb[k] += dz;
                    for (int c = 0; c < FEATS; c++)
                        gk[c * CLASSES + k] += feats[(size_t)i * FEATS + c] * dz;
                }
            }
            sum_loss += batch_loss * n;
            for (int j = 0; j < FEATS * CLASSES; j++)
                r->kernel[j] -= lr * gk[j];
            for (int k = 0; k < CLASSES; k++)
                r->bias[k] -= lr * gb[k];
        }
        r->loss[e] = sum_loss / N_IMAGES;
        r->accuracy[e] = correct / N_IMAGES;
    }
}

/* The base's pooled features of the training images, in double. */
static double *training_features(const fixture *fx)
{
    zoo_model *base = loaded_base(fx);
    zoo_tensor *x = training_inputs(fx);
    zoo_tensor *y = predict_or_die(base, x);
    cr_assert_eq(zoo_tensor_size(y), (size_t)N_IMAGES * FEATS);
    double *f = malloc(sizeof(double) * N_IMAGES * FEATS);
    double spread = 0;
    for (size_t i = 0; i < (size_t)N_IMAGES * FEATS; i++) {
        f[i] = zoo_tensor_cdata(y)[i];
        spread += fabs(f[i] - f[i % FEATS]);
    }
    /* The calibration worked: the features differ from image to image. */
    cr_assert_gt(spread / ((N_IMAGES - 1) * FEATS), 1e-3,
                 "the base's features hardly depend on the image");
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_model_free(base);
    return f;
}

/* ------------------------------------------------------------------ */
/* Reading the outputs                                                 */
/* ------------------------------------------------------------------ */

static void check_class_names(zoo_model *m)
{
    cr_assert_eq(zoo_model_class_name_count(m), CLASSES);
    for (int k = 0; k < CLASSES; k++)
        cr_assert_str_eq(zoo_model_class_name(m, k), CLASS_NAMES[k]);
    cr_assert_str_eq(zoo_model_attr(m, "preprocess"), "tf");
    cr_assert_str_eq(zoo_model_attr(m, "base_model"), "mobilenet");
    zoo_sym *out = zoo_model_output(m, 0);
    cr_assert_eq(zoo_sym_rank(out), 2);
    cr_assert_eq(zoo_sym_shape(out)[1], CLASSES);
    zoo_layer *p = zoo_model_get_layer(m, "predictions");
    cr_assert_not_null(p);
    cr_assert_str_eq(zoo_layer_class(p), "Dense");
}

/* CSV rows after the header; returns the number of rows read into
 * values[row][col] (columns after "epoch"). */
static int read_csv(const char *path, const char *want_header, double values[][4])
{
    char *text = zt_read_text(path);
    cr_assert_not_null(text, "%s was not written", path);
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    cr_assert_not_null(line, "%s is empty", path);
    cr_assert_str_eq(line, want_header, "%s header", path);
    int rows = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *end;
        long epoch = strtol(line, &end, 10);
        cr_assert_eq(epoch, rows, "%s row %d starts with %ld", path, rows, epoch);
        for (int c = 0; *end == ',' && c < 4; c++)
            values[rows][c] = strtod(end + 1, &end);
        rows++;
    }
    free(text);
    return rows;
}

static void check_svg(const char *path)
{
    char *text = zt_read_text(path);
    cr_assert_not_null(text, "%s was not written", path);
    cr_assert(strncmp(text, "<?xml", 5) == 0 || strncmp(text, "<svg", 4) == 0,
              "%s does not start as an SVG document", path);
    cr_assert_not_null(strstr(text, "<svg"));
    free(text);
    /* Well-formed XML whose root is an SVG element (Python's parser). */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' -c 'import sys, xml.etree.ElementTree as E; "
             "r = E.parse(sys.argv[1]).getroot(); "
             "sys.exit(0 if r.tag == \"{http://www.w3.org/2000/svg}svg\" else 3)' '%s'",
             ZOO_TEST_PYTHON, path);
    cr_assert_eq(system(cmd), 0, "%s is not a well-formed SVG document", path);
}

static bool close_to(double got, double want, double rtol, double atol)
{
    return fabs(got - want) <= atol + rtol * fabs(want);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

Test(finetune, epochs_zero_writes_the_start_that_the_seed_fixes)
{
    fixture fx = fixture_new();
    char *a = out_file(&fx, "a.h5"), *b = out_file(&fx, "b"), *c = out_file(&fx, "c.h5");
    const char *args_a[] = {"finetune", "--model", "mobilenet", "--data", "data",
                            "--weights", fx.weights, "--image-size", "32,32",
                            "--epochs", "0", "--seed", "3", "--optimizer", "sgd",
                            "--lr", "0.1", "-o", a, NULL};
    const char *args_b[] = {"finetune", "--model", "mobilenet", "--data", "data",
                            "--weights", fx.weights, "--image-size", "32,32",
                            "--epochs", "0", "--seed", "3", "--optimizer", "adam",
                            "--lr", "0.003", "--dropout", "0.5", "--batch-size", "4",
                            "--output", b, NULL};
    const char *args_c[] = {"finetune", "--model", "mobilenet", "--data", "data",
                            "--weights", fx.weights, "--image-size", "32,32",
                            "--epochs", "0", "--seed", "4", "-o", c, NULL};
    const char *const *runs[] = {args_a, args_b, args_c};
    for (int i = 0; i < 3; i++) {
        zt_run_result r = run_zoo(&fx, runs[i]);
        cr_assert_eq(r.status, 0, "run %d: exit %d; stderr: %s", i, r.status, r.err);
        zt_run_free(&r);
    }

    float k3[FEATS * CLASSES], b3[CLASSES], k4[FEATS * CLASSES], b4[CLASSES];
    initial_head(3, k3, b3);
    initial_head(4, k4, b4);
    zoo_model *base = loaded_base(&fx);
    const char *paths[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        zoo_model *m = load_model_or_die(paths[i]);
        check_class_names(m);
        cr_assert_gt(check_base_weights(base, m, NULL), 20);
        zoo_layer *p = zoo_model_get_layer(m, "predictions");
        const float *kernel = zoo_tensor_cdata(zt_weight_named_or_die(p, "kernel"));
        const float *bias = zoo_tensor_cdata(zt_weight_named_or_die(p, "bias"));
        const float *want = i < 2 ? k3 : k4;
        cr_assert(memcmp(kernel, want, sizeof k3) == 0,
                  "run %d: the predictions kernel is not zoo_layer_initialize(seed %d)'s",
                  i, i < 2 ? 3 : 4);
        cr_assert(memcmp(bias, i < 2 ? b3 : b4, sizeof b3) == 0);
        cr_assert_eq(zoo_model_get_layer(m, "dropout") != NULL, i == 1,
                     "run %d: a dropout layer only with --dropout", i);
        zoo_clear_error();
        zoo_model_free(m);
    }
    cr_assert(memcmp(k3, k4, sizeof k3) != 0, "seeds 3 and 4 gave the same kernel");

    /* The history files: no epochs, so only the CSV header. */
    char *csv = out_file(&fx, "a.history.csv"), *svg = out_file(&fx, "a.history.svg");
    double v[4][4];
    cr_assert_eq(read_csv(csv, "epoch", v), 0);
    check_svg(svg);
    char *b_csv = out_file(&fx, "b.history.csv"), *b_svg = out_file(&fx, "b.history.svg");
    cr_assert(zt_exists(b_csv) && zt_exists(b_svg), "OUT without .h5 gets OUT.history.*");
    cr_assert_eq(zt_dir_entries(fx.out), 9, "only the three runs' files are left");
    free(b_csv);
    free(b_svg);
    free(csv);
    free(svg);
    zoo_model_free(base);
    free(a);
    free(b);
    free(c);
    fixture_free(&fx);
}

Test(finetune, sgd_trains_the_head_as_keras_and_classify_uses_it)
{
    fixture fx = fixture_new();
    char *out = out_file(&fx, "model.h5");
    const char *args[] = {"finetune", "--model", "mobilenet", "--data", "data",
                          "--weights", fx.weights, "--image-size", "32,32",
                          "--epochs", "2", "--optimizer", "sgd", "--lr", "0.01",
                          "--batch-size", "5", "--no-shuffle", "--seed", "1",
                          "-o", out, NULL};
    zt_run_result r = run_zoo(&fx, args);
    cr_assert_eq(r.status, 0, "exit %d; stderr: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.out, "epoch 1/2: accuracy="), "stdout: %s", r.out);
    cr_assert_not_null(strstr(r.out, "epoch 2/2: accuracy="), "stdout: %s", r.out);
    zt_run_free(&r);

    /* The reference run. */
    double *feats = training_features(&fx);
    int labels[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++)
        labels[i] = i / 4;
    float k0[FEATS * CLASSES], b0[CLASSES];
    initial_head(1, k0, b0);
    static sgd_result ref;
    reference_sgd(feats, labels, k0, b0, 0.01, 5, 2, &ref);

    zoo_model *m = load_model_or_die(out);
    check_class_names(m);
    zoo_model *base = loaded_base(&fx);
    cr_assert_gt(check_base_weights(base, m, NULL), 20);
    zoo_layer *p = zoo_model_get_layer(m, "predictions");
    const float *kernel = zoo_tensor_cdata(zt_weight_named_or_die(p, "kernel"));
    const float *bias = zoo_tensor_cdata(zt_weight_named_or_die(p, "bias"));
    double moved = 0;
    for (int i = 0; i < FEATS * CLASSES; i++) {
        moved = fmax(moved, fabs(ref.kernel[i] - k0[i]));
        cr_assert(close_to(kernel[i], ref.kernel[i], 1e-4, 1e-6),
                  "predictions kernel[%d][%d] = %.9g, reference %.9g (start %.9g)",
                  i / CLASSES, i % CLASSES, kernel[i], ref.kernel[i], k0[i]);
    }
    cr_assert_gt(moved, 1e-3, "the reference kernel hardly moved: a weak test");
    for (int k = 0; k < CLASSES; k++)
        cr_assert(close_to(bias[k], ref.bias[k], 1e-4, 1e-6),
                  "predictions bias[%d] = %.9g, reference %.9g", k, bias[k], ref.bias[k]);

    /* The history: Keras's CSVLogger columns, the epoch means. */
    char *csv = out_file(&fx, "model.history.csv");
    double v[4][4];
    cr_assert_eq(read_csv(csv, "epoch,accuracy,loss", v), 2);
    for (int e = 0; e < 2; e++) {
        cr_assert(close_to(v[e][0], ref.accuracy[e], 0, 1e-9),
                  "epoch %d accuracy %g, reference %g", e + 1, v[e][0], ref.accuracy[e]);
        cr_assert(close_to(v[e][1], ref.loss[e], 1e-4, 1e-6),
                  "epoch %d loss %.9g, reference %.9g", e + 1, v[e][1], ref.loss[e]);
    }
    char *svg = out_file(&fx, "model.history.svg");
    check_svg(svg);

    /* zoo classify uses the file: its input size, mode and class names. */
    const char *cargs[] = {"classify", "--model", out, "--json", "data/cat/img0.png",
                           "data/eel/img3.png", NULL};
    r = run_zoo(&fx, cargs);
    cr_assert_eq(r.status, 0, "classify exit %d; stderr: %s", r.status, r.err);
    const int rows[2] = {0, 11};
    const char *line = r.out;
    for (int j = 0; j < 2; j++) {
        json_error_t jerr;
        json_t *rec = json_loadb(line, strcspn(line, "\n"), 0, &jerr);
        cr_assert_not_null(rec, "classify line %d is not JSON (%s): %s", j, jerr.text, line);
        json_t *preds = json_object_get(rec, "predictions");
        cr_assert_eq(json_array_size(preds), CLASSES, "top 5 is capped at the 3 classes");
        double pr[CLASSES];
        softmax_row(feats + (size_t)rows[j] * FEATS, ref.kernel, ref.bias, pr);
        for (size_t q = 0; q < json_array_size(preds); q++) {
            json_t *one = json_array_get(preds, q);
            int idx = (int)json_integer_value(json_object_get(one, "index"));
            cr_assert(idx >= 0 && idx < CLASSES);
            cr_assert_str_eq(json_string_value(json_object_get(one, "label")),
                             CLASS_NAMES[idx]);
            cr_assert_null(json_object_get(one, "wnid"), "no wnid for saved names");
            double score = json_number_value(json_object_get(one, "score"));
            cr_assert(close_to(score, pr[idx], 1e-4, 1e-5),
                      "image %d class %d: score %.7g, reference %.7g", rows[j], idx,
                      score, pr[idx]);
        }
        json_decref(rec);
        line = strchr(line, '\n');
        cr_assert_not_null(line);
        line++;
    }
    zt_run_free(&r);

    free(svg);
    free(csv);
    zoo_model_free(base);
    zoo_model_free(m);
    free(feats);
    free(out);
    fixture_free(&fx);
}

Test(finetune, unfreeze_from_trains_that_layer_on_with_validation_data)
{
    fixture fx = fixture_new();
    char *out = out_file(&fx, "u.h5");
    const char *args[] = {"finetune", "--model", "mobilenet", "--data", "data",
                          "--val-data", "val", "--weights", fx.weights,
                          "--image-size", "32,32", "--epochs", "1", "--optimizer",
                          "adam", "--batch-size", "6", "--no-shuffle",
                          "--unfreeze-from", "conv_pw_13", "-o", out, NULL};
    zt_run_result r = run_zoo(&fx, args);
    cr_assert_eq(r.status, 0, "exit %d; stderr: %s", r.status, r.err);
    zt_run_free(&r);

    zoo_model *m = load_model_or_die(out);
    zoo_model *base = loaded_base(&fx);
    /* conv_pw_13, its BN (trained: batch statistics move the moving ones)
     * and its ReLU; everything before is bit-identical. */
    check_base_weights(base, m, "conv_pw_13");

    /* val_loss is the cross-entropy of the saved model on the validation
     * images (inference mode, after the epoch). */
    char *csv = out_file(&fx, "u.history.csv");
    double v[4][4];
    cr_assert_eq(read_csv(csv, "epoch,accuracy,loss,val_accuracy,val_loss", v), 1);
    zoo_tensor *x = zoo_tensor_new(4, (int[]){CLASSES, SIZE, SIZE, 3});
    for (int k = 0; k < CLASSES; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "val/%s/v0.png", CLASS_NAMES[k]);
        char *path = zt_path(fx.cases, rel);
        zoo_image *img = zoo_image_load(path);
        cr_assert_not_null(img, "%s: %s", path, zoo_last_error());
        zoo_image_to_input(img, ZOO_PREPROCESS_TF,
                           zoo_tensor_data(x) + (size_t)k * SIZE * SIZE * 3);
        zoo_image_free(img);
        free(path);
    }
    zoo_tensor *y = predict_or_die(m, x);
    double loss = 0, correct = 0;
    for (int k = 0; k < CLASSES; k++) {
        const float *row = zoo_tensor_cdata(y) + k * CLASSES;
        loss -= log(fmin(fmax(row[k], 1e-7), 1 - 1e-7)) / CLASSES;
        int arg = 0;
        for (int j = 1; j < CLASSES; j++)
            if (row[j] > row[arg])
                arg = j;
        correct += arg == k;
    }
    cr_assert(close_to(v[0][3], loss, 1e-4, 1e-6), "val_loss %.9g, model's %.9g",
              v[0][3], loss);
    cr_assert(close_to(v[0][2], correct / CLASSES, 0, 1e-9));
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    free(csv);
    zoo_model_free(base);
    zoo_model_free(m);
    free(out);
    fixture_free(&fx);
}

/* `args` fails with `status` and a "zoo finetune: " line holding `needle`,
 * and leaves the output folder empty. */
static void expect_failure(const fixture *fx, const char *const *args, int status,
                           const char *needle)
{
    zt_run_result r = run_zoo(fx, args);
    cr_assert_eq(r.status, status, "%s: exit %d, wanted %d; stderr: %s", needle,
                 r.status, status, r.err);
    cr_assert_not_null(strstr(r.err, needle), "stderr does not mention '%s': %s",
                       needle, r.err);
    cr_assert_not_null(strstr(r.err, "zoo finetune: "), "%s", r.err);
    cr_assert_eq(zt_dir_entries(fx->out), 0, "a failed run (%s) left files behind",
                 needle);
    zt_run_free(&r);
}

Test(finetune, bad_input_fails_and_writes_nothing)
{
    fixture fx = fixture_new();
    char *out = out_file(&fx, "x.h5");
    const char *one_class[] = {"finetune", "--model", "mobilenet", "--data", "one",
                               "--weights", fx.weights, "--image-size", "32,32",
                               "-o", out, NULL};
    const char *no_data[] = {"finetune", "--model", "mobilenet", "--weights", fx.weights,
                             "-o", out, NULL};
    const char *no_layer[] = {"finetune", "--model", "mobilenet", "--data", "data",
                              "--weights", fx.weights, "--image-size", "32,32",
                              "--unfreeze-from", "no_such_layer", "-o", out, NULL};
    const char *other_val[] = {"finetune", "--model", "mobilenet", "--data", "data",
                               "--val-data", "val_other", "--weights", fx.weights,
                               "--image-size", "32,32", "-o", out, NULL};
    const char *both_val[] = {"finetune", "--model", "mobilenet", "--data", "data",
                              "--val-data", "val", "--validation-split", "0.25",
                              "-o", out, NULL};
    const char *bad_model[] = {"finetune", "--model", "nosuchnet", "--data", "data",
                               "-o", out, NULL};
    const char *missing_weights[] = {"finetune", "--model", "mobilenet", "--data", "data",
                                     "--weights", "nowhere.h5", "--image-size", "32,32",
                                     "-o", out, NULL};
    expect_failure(&fx, one_class, 1, "one");
    expect_failure(&fx, no_data, 2, "--data");
    expect_failure(&fx, no_layer, 2, "no_such_layer");
    expect_failure(&fx, other_val, 1, "fox");
    expect_failure(&fx, both_val, 2, "--validation-split");
    expect_failure(&fx, bad_model, 2, "nosuchnet");
    expect_failure(&fx, missing_weights, 1, "nowhere.h5");
    free(out);
    fixture_free(&fx);
}

Test(finetune, unreadable_image_is_skipped_with_a_warning)
{
    fixture fx = fixture_new();
    char *out = out_file(&fx, "s.h5");
    const char *args[] = {"finetune", "--model", "mobilenet", "--data", "bad",
                          "--weights", fx.weights, "--image-size", "32,32",
                          "--epochs", "1", "--optimizer", "sgd", "-o", out, NULL};
    zt_run_result r = run_zoo(&fx, args);
    cr_assert_eq(r.status, 0, "exit %d; stderr: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "zoo finetune: warning: "), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "broken.png"), "the warning names the file: %s", r.err);
    cr_assert_not_null(strstr(r.err, "1 file skipped"), "a count at the end: %s", r.err);
    cr_assert_not_null(strstr(r.out, "4 images in 2 classes"), "%s", r.out);
    zt_run_free(&r);
    zoo_model *m = load_model_or_die(out);
    cr_assert_eq(zoo_model_class_name_count(m), 2);
    cr_assert_str_eq(zoo_model_class_name(m, 1), "dog");
    zoo_model_free(m);
    free(out);
    fixture_free(&fx);
}

/* A model file without zoo's attributes: classify asks for --preprocess,
 * then uses it; without class names the labels are null. */
Test(classify, model_file_needs_a_preprocess_mode)
{
    fixture fx = fixture_new();
    zoo_graph *g = zoo_graph_new(5);
    zoo_layer *layers[2] = {zoo_global_avg_pool2d(g, NULL),
                            zoo_dense(g, &(zoo_dense_cfg){.units = 2,
                                                          .activation = ZOO_ACT_SOFTMAX})};
    zoo_model *m = zoo_sequential(g, 3, (int[]){SIZE, SIZE, 3}, layers, 2, "tiny");
    cr_assert_not_null(m, "%s", zoo_last_error());
    zoo_graph_release(g);
    float *w = zoo_tensor_data(zoo_layer_weight(layers[1], 0));
    float *b = zoo_tensor_data(zoo_layer_weight(layers[1], 1));
    const float wv[6] = {2.0f, -1.0f, -0.5f, 1.5f, 1.0f, 0.25f}, bv[2] = {0.1f, -0.2f};
    memcpy(w, wv, sizeof wv);
    memcpy(b, bv, sizeof bv);
    char *tiny = zt_path(fx.out, "tiny.h5");
    cr_assert_eq(zoo_model_save(m, tiny), ZOO_OK, "%s", zoo_last_error());
    zoo_model_free(m);

    const char *no_mode[] = {"classify", "--model", tiny, "--json", "data/dog/img1.png",
                             NULL};
    zt_run_result r = run_zoo(&fx, no_mode);
    cr_assert_eq(r.status, 2, "exit %d; stderr: %s", r.status, r.err);
    cr_assert_not_null(strstr(r.err, "--preprocess"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    zt_run_free(&r);

    const char *with_weights[] = {"classify", "--model", tiny, "--weights", tiny,
                                  "--preprocess", "tf", "data/dog/img1.png", NULL};
    r = run_zoo(&fx, with_weights);
    cr_assert_eq(r.status, 2, "--weights FILE with a model file: exit %d; %s", r.status,
                 r.err);
    zt_run_free(&r);

    const char *registry_mode[] = {"classify", "--model", "mobilenet", "--preprocess",
                                   "caffe", "data/dog/img1.png", NULL};
    r = run_zoo(&fx, registry_mode);
    cr_assert_eq(r.status, 2, "--preprocess with a registry model: exit %d; %s",
                 r.status, r.err);
    zt_run_free(&r);

    const char *ok[] = {"classify", "--model", tiny, "--preprocess", "tf", "--json",
                        "--top", "5", "data/dog/img1.png", NULL};
    r = run_zoo(&fx, ok);
    cr_assert_eq(r.status, 0, "exit %d; stderr: %s", r.status, r.err);
    /* The reference: softmax(mean over pixels of x / 127.5 - 1, times W, + b). */
    zoo_tensor *x = training_inputs(&fx);
    const float *img = zoo_tensor_cdata(x) + (size_t)5 * SIZE * SIZE * 3; /* dog/img1 */
    double mean[3] = {0};
    for (int i = 0; i < SIZE * SIZE; i++)
        for (int c = 0; c < 3; c++)
            mean[c] += img[i * 3 + c] / (double)(SIZE * SIZE);
    double z[2], p[2];
    for (int k = 0; k < 2; k++)
        z[k] = bv[k] + mean[0] * wv[k] + mean[1] * wv[2 + k] + mean[2] * wv[4 + k];
    double zm = fmax(z[0], z[1]);
    p[0] = exp(z[0] - zm) / (exp(z[0] - zm) + exp(z[1] - zm));
    p[1] = 1 - p[0];
    json_error_t jerr;
    json_t *rec = json_loads(r.out, JSON_DISABLE_EOF_CHECK, &jerr);
    cr_assert_not_null(rec, "%s: %s", jerr.text, r.out);
    json_t *preds = json_object_get(rec, "predictions");
    cr_assert_eq(json_array_size(preds), 2);
    for (size_t q = 0; q < 2; q++) {
        json_t *one = json_array_get(preds, q);
        int idx = (int)json_integer_value(json_object_get(one, "index"));
        cr_assert(idx == 0 || idx == 1);
        cr_assert(json_is_null(json_object_get(one, "label")), "no class names: null");
        double score = json_number_value(json_object_get(one, "score"));
        cr_assert(close_to(score, p[idx], 1e-5, 1e-6), "class %d: %.7g, reference %.7g",
                  idx, score, p[idx]);
    }
    cr_assert_geq(json_number_value(json_object_get(json_array_get(preds, 0), "score")),
                  json_number_value(json_object_get(json_array_get(preds, 1), "score")));
    json_decref(rec);
    zoo_tensor_free(x);
    zt_run_free(&r);
    free(tiny);
    fixture_free(&fx);
}

/* The predictions kernel of a saved model (copied). */
static zoo_tensor *predictions_kernel(const char *path)
{
    zoo_model *m = load_model_or_die(path);
    zoo_tensor *k = zoo_tensor_clone(zt_weight_named_or_die(
        zoo_model_get_layer(m, "predictions"), "kernel"));
    zoo_model_free(m);
    return k;
}

static bool same_tensor(const zoo_tensor *a, const zoo_tensor *b)
{
    return zoo_tensor_size(a) == zoo_tensor_size(b) &&
           memcmp(zoo_tensor_cdata(a), zoo_tensor_cdata(b),
                  zoo_tensor_size(a) * sizeof(float)) == 0;
}

/* --seed fixes shuffling, dropout and augmentation: the same seed gives
 * the same trained head bit for bit, another seed another head; the
 * Dropout layer is saved in the model before predictions. */
Test(finetune, seed_replays_augmented_shuffled_runs_with_dropout)
{
    fixture fx = fixture_new();
    const char *names[3] = {"a.h5", "b.h5", "c.h5"};
    const char *seeds[3] = {"7", "7", "8"};
    zoo_tensor *k[3];
    for (int i = 0; i < 3; i++) {
        char *out = out_file(&fx, names[i]);
        const char *args[] = {"finetune", "--model", "mobilenet", "--data", "data",
                              "--weights", fx.weights, "--image-size", "32,32",
                              "--epochs", "2", "--batch-size", "4", "--optimizer", "sgd",
                              "--lr", "0.5", "--augment", "--dropout", "0.5",
                              "--seed", seeds[i], "-o", out, NULL};
        zt_run_result r = run_zoo(&fx, args);
        cr_assert_eq(r.status, 0, "exit %d; stderr: %s", r.status, r.err);
        zt_run_free(&r);
        k[i] = predictions_kernel(out);
        if (i == 0) {
            zoo_model *m = load_model_or_die(out);
            zoo_layer *d = zoo_model_get_layer(m, "dropout");
            cr_assert_not_null(d, "no layer named dropout");
            cr_assert_str_eq(zoo_layer_class(d), "Dropout");
            zoo_model_free(m);
        }
        free(out);
    }
    cr_assert(same_tensor(k[0], k[1]), "two runs with --seed 7 trained different heads");
    cr_assert(!same_tensor(k[0], k[2]), "--seed 7 and --seed 8 trained the same head");
    for (int i = 0; i < 3; i++)
        zoo_tensor_free(k[i]);
    fixture_free(&fx);
}
