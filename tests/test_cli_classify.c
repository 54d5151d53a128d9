/*
 * `zoo classify` and `zoo features` end to end: the built tool
 * (ZOO_TEST_ZOO_BIN) runs in a child process on images that Pillow draws at
 * test time, with MobileNet weights written here by zoo_model_save_weights
 * from a seeded model, calibrated so that its activations keep the
 * image's signal and its softmax is peaked.
 *
 * The reference is independent of zoo's image code and engine: Python
 * (ZOO_TEST_PYTHON) runs Keras's load_img pipeline with Pillow
 * (Image.open, convert("RGB"), resize NEAREST) and preprocess_input("tf"),
 * then the network through tools/keras_torch.py (PyTorch) with the config
 * from `zoo summary mobilenet --json-config` and the same weights. Class
 * names are checked against shared/data/imagenet_class_index.json, read
 * here with jansson.
 *
 * The tool runs with ZOO_HOME, KERAS_HOME and HOME inside the test's
 * temporary directory and ZOO_MIRROR on a closed local port, so nothing
 * reaches the network: the class index is found (the real file, copied
 * into KERAS_HOME/models) or not at all.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <zoo/zoo.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef ZOO_TEST_PYTHON
#define ZOO_TEST_PYTHON "/usr/bin/python3"
#endif

#define KERAS_TORCH ZOO_TEST_SOURCE_DIR "/../tools/keras_torch.py"
#define SHARED_LABELS ZOO_TEST_SOURCE_DIR "/../../shared/data/imagenet_class_index.json"

enum { SIZE = 224, CLASSES = 1000, FEATS = 1024 };
#define SCORE_TOL 1e-4

/* ------------------------------------------------------------------ */
/* Running programs                                                    */
/* ------------------------------------------------------------------ */

typedef struct {
    char *root;       /* the test's temporary directory */
    char *io;         /* captured stdout / stderr */
    char *img;        /* images */
    char *keras_home; /* KERAS_HOME: models/imagenet_class_index.json or not */
    char *zoo_home;   /* ZOO_HOME: empty */
    bool have_labels;
    const char *env[13]; /* the tool's: these homes, no network, one thread */
} fixture;

/* Runs argv (argv[0] a path) with stdin from /dev/null and stdout/stderr
 * captured; the zoo environment of `fx` is set when zoo_env. The child is
 * killed after `limit_s` seconds, so a tool that blocks (on a FIFO, say)
 * fails the test instead of hanging it. */
static zt_run_result run_argv(const fixture *fx, const char *const *argv,
                              bool zoo_env, unsigned limit_s)
{
    return zt_run(argv, &(zt_run_opts){.io_dir = fx->io, .stdin_null = true,
                                       .env = zoo_env ? fx->env : NULL,
                                       .limit_s = limit_s});
}

/* `zoo ARGS...` (NULL-terminated). */
static zt_run_result run_zoo(const fixture *fx, const char *const *args)
{
    return zt_run_zoo(args, &(zt_run_opts){.io_dir = fx->io, .stdin_null = true,
                                           .env = fx->env, .limit_s = 60});
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* stderr has a line starting "zoo CMD: " that mentions every string. */
static bool err_line_has(const char *err, const char *cmd, ...)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "zoo %s: ", cmd);
    for (const char *line = err; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *l = strndup(line, len);
        bool ok = strncmp(l, prefix, strlen(prefix)) == 0;
        va_list ap;
        va_start(ap, cmd);
        for (const char *s; ok && (s = va_arg(ap, const char *));)
            ok = strstr(l, s) != NULL;
        va_end(ap);
        free(l);
        if (ok)
            return true;
        if (!end)
            break;
        line = end + 1;
    }
    return false;
}
#define ERR_LINE_HAS(err, cmd, ...) err_line_has((err), (cmd), __VA_ARGS__, (const char *)NULL)

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

static bool copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return false;
    FILE *out = fopen(to, "wb");
    bool ok = out != NULL;
    char buf[8192];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    fclose(in);
    if (out && fclose(out) != 0)
        ok = false;
    return ok;
}

/* with_labels: the real class index goes where zoo_imagenet_labels finds
 * it (KERAS_HOME/models, checked by MD5), when the shared copy exists. */
static fixture fixture_new(bool with_labels)
{
    fixture fx = {.root = zt_tmpdir_or_die()};
    fx.io = zt_path(fx.root, "io");
    fx.img = zt_path(fx.root, "img");
    fx.keras_home = zt_path(fx.root, "keras");
    fx.zoo_home = zt_path(fx.root, "zoohome");
    const char *env[] = {"ZOO_HOME", fx.zoo_home, "KERAS_HOME", fx.keras_home,
                         "HOME", fx.root, ZT_ZOO_OFFLINE_ENV, NULL};
    _Static_assert(sizeof env == sizeof fx.env, "fixture.env holds the environment");
    memcpy(fx.env, env, sizeof env);
    zt_mkdir_or_die(fx.io);
    zt_mkdir_or_die(fx.img);
    zt_mkdir_or_die(fx.keras_home);
    zt_mkdir_or_die(fx.zoo_home);
    if (with_labels) {
        char *models = zt_path(fx.keras_home, "models");
        zt_mkdir_or_die(models);
        char *dst = zt_path(models, "imagenet_class_index.json");
        fx.have_labels = copy_file(SHARED_LABELS, dst);
        if (!fx.have_labels)
            cr_log_info("%s is absent: checking the no-labels output instead",
                        SHARED_LABELS);
        free(dst);
        free(models);
    }
    return fx;
}

static void fixture_free(fixture *fx)
{
    zt_rmtree(fx->root);
    free(fx->root);
    free(fx->io);
    free(fx->img);
    free(fx->keras_home);
    free(fx->zoo_home);
}

/* A calibration batch: two smooth random colour patterns in [-1, 1]. */
static zoo_tensor *calibration_batch(void)
{
    zoo_tensor *x = zoo_tensor_new(4, (int[]){2, SIZE, SIZE, 3});
    cr_assert_not_null(x);
    zoo_tensor *ph = zoo_tensor_new(1, (int[]){2 * 3 * 4});
    zt_fill_uniform(ph, 5, 0.0f, 6.2831853f);
    const float *q = zoo_tensor_cdata(ph);
    float *d = zoo_tensor_data(x);
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < SIZE; i++)
            for (int j = 0; j < SIZE; j++)
                for (int c = 0; c < 3; c++) {
                    const float *f = q + (n * 3 + c) * 4;
                    *d++ = 0.5f * sinf(f[0] + i * (0.02f + 0.01f * f[2])) +
                           0.5f * cosf(f[1] + j * (0.03f + 0.01f * f[3]));
                }
    zoo_tensor_free(ph);
    return x;
}

/* Seeded weights keep nothing of an image after a few blocks (the
 * activations shrink tenfold per block). So that the comparisons below
 * compare real signal: each BatchNormalization's moving mean and variance
 * are set to its input's statistics on a calibration batch (in order),
 * and the classifier is centred on the calibration features and scaled to
 * logits of spread ~2 across the classes, giving a peaked softmax (top
 * scores ~0.05-0.5, against 0.001 for uniform) whose top classes differ
 * from image to image. The pooled features differ little between images,
 * so the scale amplifies float32 rounding too: at this spread the engine
 * stays within ~5e-5 of the float64 reference, inside SCORE_TOL. */
static void calibrate_mobilenet(zoo_model *m, bool no_top)
{
    zoo_tensor *x = calibration_batch();
    zt_calibrate_mobilenet_bn_or_die(m, x, 1e-8);
    if (!no_top) {
        zoo_tensor *f = zt_predict_cut_or_die(m, "conv_pw_13_relu", x); /* (2, 7, 7, 1024) */
        double feat[2][FEATS] = {{0}};
        const float *v = zoo_tensor_cdata(f);
        for (int b = 0; b < 2; b++)
            for (int p = 0; p < 49; p++)
                for (int c = 0; c < FEATS; c++)
                    feat[b][c] += v[((size_t)b * 49 + (size_t)p) * FEATS + (size_t)c] / 49.0;
        zoo_tensor_free(f);
        zoo_layer *l = zoo_model_get_layer(m, "conv_preds");
        float *w = zoo_tensor_data(zt_weight_named_or_die(l, "kernel")); /* (1, 1, 1024, 1000) */
        float *bias = zoo_tensor_data(zt_weight_named_or_die(l, "bias"));
        /* Spread of the logits' image-dependent part, over the classes. */
        double s2 = 0;
        for (int k = 0; k < CLASSES; k++) {
            double t = 0;
            for (int c = 0; c < FEATS; c++)
                t += (feat[0][c] - feat[1][c]) / 2 * w[(size_t)c * CLASSES + (size_t)k];
            s2 += t * t;
        }
        double scale = 2.0 / sqrt(s2 / CLASSES + 1e-30);
        zoo_tensor *u = zoo_tensor_new(1, (int[]){CLASSES});
        zt_fill_uniform(u, 77, -0.5f, 0.5f);
        for (int k = 0; k < CLASSES; k++) {
            double centre = 0;
            for (int c = 0; c < FEATS; c++) {
                float *wk = &w[(size_t)c * CLASSES + (size_t)k];
                *wk = (float)(*wk * scale);
                centre += (feat[0][c] + feat[1][c]) / 2 * *wk;
            }
            bias[k] = (float)(zoo_tensor_cdata(u)[k] - centre);
        }
        zoo_tensor_free(u);
    }
    zoo_tensor_free(x);
}

/* MobileNet (alpha 1, 224) weights with or without the top: seeded, then
 * calibrated. */
static char *mobilenet_weights_or_die(const fixture *fx, bool no_top)
{
    zoo_net_opts o = {.no_top = no_top, .seed = 1234};
    if (no_top) {
        o.input_shape[0] = o.input_shape[1] = SIZE;
        o.input_shape[2] = 3;
    }
    zoo_model *m = zoo_net_mobilenet(&o);
    cr_assert_not_null(m, "%s", zoo_last_error());
    calibrate_mobilenet(m, no_top);
    char *path = zt_path(fx->root, no_top ? "mobilenet_notop.h5" : "mobilenet.h5");
    cr_assert_eq(zoo_model_save_weights(m, path), ZOO_OK, "%s", zoo_last_error());
    zoo_model_free(m);
    return path;
}

/*
 * The Python side. argv: IMG_DIR X_OUT CONFIG WEIGHTS Y_OUT NAME...
 * Draws the catalogue of images into IMG_DIR (good ones and broken ones),
 * then runs Keras's load_img + preprocess_input("tf") on the NAMEs in
 * order with Pillow and NumPy into X_OUT; unless CONFIG is "-", runs
 * keras_torch.py (float64) on X_OUT into Y_OUT.
 */
static const char PY_SCRIPT[] =
    "import os, subprocess, sys\n"
    "import numpy as np\n"
    "from PIL import Image\n"
    "img_dir, x_out, config, weights, y_out = sys.argv[1:6]\n"
    "names = sys.argv[6:]\n"
    "def pattern(seed, w, h):\n"
    "    r = np.random.RandomState(seed)\n"
    "    small = Image.fromarray(r.randint(0, 256, (6, 6, 3), dtype=np.uint8))\n"
    "    big = np.asarray(small.resize((w, h), Image.BICUBIC), dtype=np.int16)\n"
    "    big = big + r.randint(-25, 26, big.shape)\n"
    "    return Image.fromarray(np.clip(big, 0, 255).astype(np.uint8))\n"
    "def p(n): return os.path.join(img_dir, n)\n"
    "pattern(1, 300, 200).save(p('a.png'))\n"
    "pattern(2, 240, 160).save(p('b.jpg'), quality=90)\n"
    "rgba = pattern(3, 224, 224).convert('RGBA')\n"
    "rgba.putalpha(Image.fromarray(np.tile(np.arange(224, dtype=np.uint8), (224, 1))))\n"
    "rgba.save(p('c.png'))\n"
    "pattern(4, 90, 60).convert('L').save(p('d.png'))\n"
    "pattern(5, 200, 300).save(p('e.jpg'), quality=85)\n"
    "data = open(p('b.jpg'), 'rb').read()\n"
    "open(p('trunc.jpg'), 'wb').write(data[:len(data) * 6 // 10])\n"
    "open(p('text.jpg'), 'wb').write(b'this is not an image\\n')\n"
    "open(p('empty.png'), 'wb').close()\n"
    "xs = []\n"
    "for n in names:\n"
    "    img = Image.open(p(n))\n"
    "    if img.mode != 'RGB':\n"
    "        img = img.convert('RGB')\n"
    "    if img.size != (224, 224):\n"
    "        img = img.resize((224, 224), Image.NEAREST)\n"
    "    x = np.asarray(img, dtype=np.float32)\n"
    "    x /= 127.5\n"
    "    x -= 1.0\n"
    "    xs.append(x)\n"
    "if xs:\n"
    "    np.save(x_out, np.stack(xs).astype(np.float32))\n"
    "if config != '-':\n"
    "    subprocess.run([sys.executable, '" KERAS_TORCH "', '--config', config,\n"
    "                    '--weights', weights, '--input', x_out, '--output', y_out,\n"
    "                    '--double'], check=True)\n";

/* Draws the images; with config/weights, also the reference scores
 * (caller frees) for `names` in order. */
static zoo_tensor *python_or_die(const fixture *fx, const char *config,
                                 const char *weights, const char *const *names)
{
    char *x = zt_path(fx->root, "x.npy"), *y = zt_path(fx->root, "y.npy");
    char *script = zt_path(fx->root, "pipeline.py");
    cr_assert(zt_write_file(script, PY_SCRIPT, sizeof PY_SCRIPT - 1));
    const char *argv[64] = {ZOO_TEST_PYTHON, script, fx->img, x,
                            config ? config : "-", weights ? weights : "-", y};
    int n = 7;
    for (int i = 0; names && names[i]; i++)
        argv[n++] = names[i];
    argv[n] = NULL;
    zt_run_result r = run_argv(fx, argv, false, 120);
    cr_assert_eq(r.status, 0, "the Python reference failed (%d):\n%s%s", r.status,
                 r.out, r.err);
    zt_run_free(&r);
    zoo_tensor *t = NULL;
    if (config) {
        t = zoo_npy_load(y);
        cr_assert_not_null(t, "%s", zoo_last_error());
    }
    free(x);
    free(y);
    free(script);
    return t;
}

/* `zoo summary mobilenet --json-config` into ROOT/mobilenet.json. */
static char *config_or_die(const fixture *fx)
{
    zt_run_result r = run_zoo(fx, (const char *[]){"summary", "mobilenet",
                                                "--json-config", NULL});
    cr_assert_eq(r.status, 0, "zoo summary --json-config: %s", r.err);
    char *path = zt_path(fx->root, "mobilenet.json");
    cr_assert(zt_write_file(path, r.out, strlen(r.out)));
    zt_run_free(&r);
    return path;
}

/* ------------------------------------------------------------------ */
/* Reading the tool's output                                           */
/* ------------------------------------------------------------------ */

typedef struct {
    char *image;
    int k;
    int index[CLASSES];
    float score[CLASSES];
    char *wnid[CLASSES]; /* NULL for JSON null */
    char *label[CLASSES];
} result;

typedef struct {
    result *v;
    int n;
} results;

static void results_free(results *rs)
{
    for (int i = 0; i < rs->n; i++) {
        free(rs->v[i].image);
        for (int j = 0; j < rs->v[i].k; j++) {
            free(rs->v[i].wnid[j]);
            free(rs->v[i].label[j]);
        }
    }
    free(rs->v);
    *rs = (results){0};
}

static char *string_or_null(json_t *v, const char *what, const char *line)
{
    if (json_is_null(v))
        return NULL;
    cr_assert(json_is_string(v), "%s is neither a string nor null: %s", what, line);
    return strdup(json_string_value(v));
}

/* Parses JSON Lines output, checking each object's structure: exactly the
 * keys image and predictions, k predictions each with exactly index,
 * wnid, label, score; indices unique and in range; scores sorted. */
static results parse_json_lines(const char *out, int k)
{
    results rs = {0};
    int n_lines = count_lines(out);
    rs.v = calloc((size_t)(n_lines ? n_lines : 1), sizeof *rs.v);
    cr_assert_not_null(rs.v);
    cr_assert(*out == '\0' || out[strlen(out) - 1] == '\n',
              "stdout does not end with a newline: %s", out);
    for (const char *line = out; *line;) {
        const char *end = strchr(line, '\n');
        char *l = strndup(line, (size_t)(end - line));
        json_error_t e;
        json_t *o = json_loads(l, 0, &e);
        cr_assert_not_null(o, "stdout line is not JSON (%s): %s", e.text, l);
        cr_assert(json_is_object(o) && json_object_size(o) == 2,
                  "expected an object with image and predictions: %s", l);
        json_t *img = json_object_get(o, "image"), *preds = json_object_get(o, "predictions");
        cr_assert(json_is_string(img), "image is not a string: %s", l);
        cr_assert(json_is_array(preds), "predictions is not an array: %s", l);
        cr_assert_eq((int)json_array_size(preds), k, "expected %d predictions: %s", k, l);
        result *r = &rs.v[rs.n++];
        r->image = strdup(json_string_value(img));
        r->k = k;
        for (int j = 0; j < k; j++) {
            json_t *p = json_array_get(preds, (size_t)j);
            cr_assert(json_is_object(p) && json_object_size(p) == 4,
                      "prediction %d should have index, wnid, label, score: %s", j, l);
            json_t *idx = json_object_get(p, "index"), *sc = json_object_get(p, "score");
            cr_assert(json_is_integer(idx), "index is not an integer: %s", l);
            cr_assert(json_is_number(sc), "score is not a number: %s", l);
            cr_assert(json_object_get(p, "wnid") && json_object_get(p, "label"),
                      "wnid and label must be present (null if unknown): %s", l);
            r->index[j] = (int)json_integer_value(idx);
            r->score[j] = (float)json_number_value(sc);
            r->wnid[j] = string_or_null(json_object_get(p, "wnid"), "wnid", l);
            r->label[j] = string_or_null(json_object_get(p, "label"), "label", l);
            cr_assert(r->index[j] >= 0 && r->index[j] < CLASSES, "index out of range: %s", l);
            for (int q = 0; q < j; q++)
                cr_assert_neq(r->index[q], r->index[j], "index %d twice: %s", r->index[j], l);
            if (j > 0)
                cr_assert(r->score[j - 1] >= r->score[j], "scores not sorted: %s", l);
        }
        json_decref(o);
        free(l);
        line = end + 1;
    }
    return rs;
}

/* The class index as the shared file has it (independent of zoo). */
static json_t *class_index_or_die(void)
{
    json_error_t e;
    json_t *j = json_load_file(SHARED_LABELS, 0, &e);
    cr_assert_not_null(j, "%s: %s", SHARED_LABELS, e.text);
    return j;
}

/* A result's labels: the real ones, or all null. */
static void expect_labels(const result *r, json_t *index, bool have)
{
    for (int j = 0; j < r->k; j++) {
        if (!have) {
            cr_expect_null(r->wnid[j], "%s: wnid should be null without labels", r->image);
            cr_expect_null(r->label[j], "%s: label should be null without labels", r->image);
            continue;
        }
        char key[16];
        snprintf(key, sizeof key, "%d", r->index[j]);
        json_t *pair = json_object_get(index, key);
        cr_assert(json_is_array(pair));
        cr_assert_not_null(r->wnid[j], "%s: wnid is null", r->image);
        cr_assert_not_null(r->label[j], "%s: label is null", r->image);
        cr_expect_str_eq(r->wnid[j], json_string_value(json_array_get(pair, 0)));
        cr_expect_str_eq(r->label[j], json_string_value(json_array_get(pair, 1)));
    }
}

/* A result against a row of reference scores: each score within
 * SCORE_TOL of the reference's, and the k listed are the reference's top
 * k (no other class scores above the last one by more than SCORE_TOL). */
static void expect_scores(const result *r, const float *want, const char *what)
{
    bool listed[CLASSES] = {false};
    for (int j = 0; j < r->k; j++) {
        listed[r->index[j]] = true;
        cr_expect(fabsf(r->score[j] - want[r->index[j]]) <= SCORE_TOL,
                  "%s: %s class %d: score %.7f, reference %.7f", what, r->image,
                  r->index[j], r->score[j], want[r->index[j]]);
    }
    float last = r->score[r->k - 1];
    for (int c = 0; c < CLASSES; c++)
        cr_expect(listed[c] || want[c] <= last + SCORE_TOL,
                  "%s: %s: class %d (reference %.7f) beats the listed %.7f", what,
                  r->image, c, want[c], last);
}

/* Two results for the same image agree (same classes, scores within
 * SCORE_TOL). */
static void expect_same(const result *a, const result *b, const char *what)
{
    cr_expect_str_eq(a->image, b->image, "%s", what);
    cr_assert_eq(a->k, b->k);
    for (int j = 0; j < a->k; j++) {
        cr_expect_eq(a->index[j], b->index[j], "%s: %s rank %d: class %d vs %d", what,
                     a->image, j + 1, a->index[j], b->index[j]);
        cr_expect(fabsf(a->score[j] - b->score[j]) <= SCORE_TOL,
                  "%s: %s rank %d: %.7f vs %.7f", what, a->image, j + 1,
                  a->score[j], b->score[j]);
    }
}

/* ------------------------------------------------------------------ */
/* Usage                                                               */
/* ------------------------------------------------------------------ */

Test(cli_classify, help_and_usage_errors)
{
    fixture fx = fixture_new(false);
    char *img = zt_path(fx.img, "x.png");
    cr_assert(zt_write_file(img, "x", 1));

    zt_run_result r = run_zoo(&fx, (const char *[]){"classify", "--help", NULL});
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "usage: zoo classify") && strstr(r.out, "--top") &&
                  strstr(r.out, "--json") && strstr(r.out, "JSON Lines") &&
                  strstr(r.out, "--list") && strstr(r.out, "DIR") &&
                  strstr(r.out, "--batch"),
              "classify --help: %s", r.out);
    cr_expect_str_eq(r.err, "");
    zt_run_free(&r);
    r = run_zoo(&fx, (const char *[]){"features", "--help", NULL});
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "usage: zoo features") && strstr(r.out, "--layer") &&
                  strstr(r.out, "--pooling") && strstr(r.out, "-o"),
              "features --help: %s", r.out);
    zt_run_free(&r);
    r = run_zoo(&fx, (const char *[]){"--help", NULL});
    cr_expect(strstr(r.out, "classify") && strstr(r.out, "features"),
              "zoo --help lists both: %s", r.out);
    zt_run_free(&r);

    static const struct {
        const char *args[8];
        const char *mention;
    } cases[] = {
        {{"classify", "--top", "0", "X", NULL}, "--top"},
        {{"classify", "--top", "1001", "X", NULL}, "--top"},
        {{"classify", "--top", "five", "X", NULL}, "five"},
        {{"classify", "--batch", "0", "X", NULL}, "--batch"},
        {{"classify", "--threads", "-2", "X", NULL}, "--threads"},
        {{"classify", "--frobnicate", "X", NULL}, "--frobnicate"},
        {{"classify", "--top", NULL}, "--top"},
        {{"classify", NULL}, "no images"},
        {{"classify", "--list", "L", "X", NULL}, "not both"},
        {{"classify", "--model", "alexnet", "X", NULL}, "alexnet"},
        {{"classify", "--model", "flowers.h5", "X", NULL}, "flowers.h5: no such file"},
        {{"features", "-o", "f.npy", "X", NULL}, "--model"},
        {{"features", "--model", "mobilenet", "X", NULL}, "-o"},
        {{"features", "--model", "mobilenet", "--pooling", "mean", "-o", "f.npy", NULL}, "mean"},
        {{"features", "--model", "mobilenet", "-o", "f.npy", NULL}, "no images"},
        {{"features", "--model", "alexnet", "-o", "f.npy", "X", NULL}, "alexnet"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[10];
        int n = 0;
        for (; cases[i].args[n]; n++)
            args[n] = strcmp(cases[i].args[n], "X") == 0 ? img : cases[i].args[n];
        args[n] = NULL;
        r = run_zoo(&fx, args);
        cr_expect_eq(r.status, 2, "case %zu (%s ... %s): exit %d, stderr: %s", i,
                     args[0], cases[i].mention, r.status, r.err);
        cr_expect(ERR_LINE_HAS(r.err, args[0], cases[i].mention),
                  "case %zu: stderr should mention '%s': %s", i, cases[i].mention, r.err);
        cr_expect_str_eq(r.out, "", "case %zu: stdout should be empty", i);
        zt_run_free(&r);
    }
    free(img);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ */
/* Against the Python reference                                        */
/* ------------------------------------------------------------------ */

static const char *const GOOD[] = {"a.png", "b.jpg", "c.png", "d.png", "e.jpg", NULL};
enum { N_GOOD = 5 };

Test(cli_classify, matches_keras_pipeline, .timeout = 120)
{
    fixture fx = fixture_new(true);
    char *w = mobilenet_weights_or_die(&fx, false);
    char *cfg = config_or_die(&fx);
    zoo_tensor *want = python_or_die(&fx, cfg, w, GOOD);
    cr_assert_eq(zoo_tensor_rank(want), 2);
    cr_assert_eq(zoo_tensor_shape(want)[0], N_GOOD);
    cr_assert_eq(zoo_tensor_shape(want)[1], CLASSES);
    json_t *index = fx.have_labels ? class_index_or_die() : NULL;

    const char *args[32] = {"classify", "--model", "mobilenet", "--weights", w,
                            "--json", "--top", "5", "--batch", "2"};
    int n = 10;
    char *paths[N_GOOD];
    for (int i = 0; i < N_GOOD; i++)
        args[n++] = paths[i] = zt_path(fx.img, GOOD[i]);
    args[n] = NULL;

    /* Batches of 2: (a, b), (c, d), (e). */
    zt_run_result r = run_zoo(&fx, args);
    cr_assert_eq(r.status, 0, "zoo classify failed (%d): %s", r.status, r.err);
    if (fx.have_labels)
        cr_expect_str_eq(r.err, "", "nothing on stderr when all is well");
    else
        cr_expect_eq(count_lines(r.err), 1, "one warning line: %s", r.err);
    results batched = parse_json_lines(r.out, 5);
    cr_assert_eq(batched.n, N_GOOD, "one line per image: %s", r.out);
    int distinct_top = 0;
    for (int i = 0; i < N_GOOD; i++) {
        cr_expect_str_eq(batched.v[i].image, paths[i], "input order");
        expect_scores(&batched.v[i], zoo_tensor_cdata(want) + (size_t)i * CLASSES,
                      "--batch 2");
        expect_labels(&batched.v[i], index, fx.have_labels);
        distinct_top += i == 0 || batched.v[i].index[0] != batched.v[0].index[0];
        /* The weights make a peaked softmax: the check above is not
         * comparing near-uniform noise. */
        cr_expect(batched.v[i].score[0] > 0.01f && batched.v[i].score[0] > 2 * batched.v[i].score[4],
                  "%s: top scores too flat for a meaningful check: %.5f .. %.5f",
                  paths[i], batched.v[i].score[0], batched.v[i].score[4]);
    }
    cr_expect_geq(distinct_top, 2, "the images should not all get the same class");
    zt_run_free(&r);

    /* Each image alone through the network (--batch 1): the same numbers. */
    args[9] = "1";
    r = run_zoo(&fx, args);
    cr_assert_eq(r.status, 0, "--batch 1: %s", r.err);
    results alone = parse_json_lines(r.out, 5);
    cr_assert_eq(alone.n, N_GOOD);
    for (int i = 0; i < N_GOOD; i++)
        expect_same(&alone.v[i], &batched.v[i], "alone vs in a batch");
    results_free(&alone);
    zt_run_free(&r);

    /* One batch of all, with a failing image in between: still the same. */
    char *missing = zt_path(fx.img, "missing.jpg");
    char *trunc = zt_path(fx.img, "trunc.jpg");
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", "--weights",
                                      w, "--json", "--top", "5", "--batch", "32",
                                      paths[0], missing, paths[1], paths[2], trunc,
                                      paths[3], paths[4], NULL});
    cr_expect_eq(r.status, 1, "failed images make exit 1: %s", r.err);
    cr_expect(ERR_LINE_HAS(r.err, "classify", missing), "stderr: %s", r.err);
    cr_expect(ERR_LINE_HAS(r.err, "classify", trunc), "stderr: %s", r.err);
    results mixed = parse_json_lines(r.out, 5);
    cr_assert_eq(mixed.n, N_GOOD, "the good images are all printed: %s", r.out);
    for (int i = 0; i < N_GOOD; i++)
        expect_same(&mixed.v[i], &batched.v[i], "with failures in the batch");
    results_free(&mixed);
    zt_run_free(&r);

    /* --top 1000: every class once; --top 1. */
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", "--weights",
                                      w, "--json", "--top", "1000", paths[4], NULL});
    cr_assert_eq(r.status, 0, "--top 1000: %s", r.err);
    results all = parse_json_lines(r.out, 1000); /* checks uniqueness */
    cr_assert_eq(all.n, 1);
    expect_scores(&all.v[0], zoo_tensor_cdata(want) + 4 * CLASSES, "--top 1000");
    double sum = 0;
    for (int j = 0; j < 1000; j++)
        sum += all.v[0].score[j];
    cr_expect(fabs(sum - 1.0) < 1e-3, "softmax scores sum to %f", sum);
    results_free(&all);
    zt_run_free(&r);

    /* Human output: a block per image: path, then "rank label score". */
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", "--weights",
                                      w, "--top", "3", paths[0], paths[1], NULL});
    cr_assert_eq(r.status, 0, "human output: %s", r.err);
    char *save = NULL, *text = strdup(r.out);
    char *line = strtok_r(text, "\n", &save);
    for (int i = 0; i < 2; i++) {
        cr_assert_not_null(line, "output ends early: %s", r.out);
        cr_expect_str_eq(line, paths[i], "block %d starts with the path", i);
        for (int j = 0; j < 3; j++) {
            line = strtok_r(NULL, "\n", &save);
            cr_assert_not_null(line, "output ends early: %s", r.out);
            /* "rank label score"; without class names the label is
             * "class N", so the score is the last field. */
            int rank, used = 0;
            char label[128] = "";
            const char *last = strrchr(line, ' ');
            cr_assert(sscanf(line, "%d %n", &rank, &used) == 1 && last, "not 'rank label score': '%s'", line);
            float score = strtof(last + 1, NULL);
            int label_len = (int)(last - (line + used));
            while (label_len > 0 && line[used + label_len - 1] == ' ')
                label_len--;
            snprintf(label, sizeof label, "%.*s", label_len, line + used);
            cr_expect_eq(rank, j + 1);
            if (fx.have_labels)
                cr_expect_str_eq(label, batched.v[i].label[j]);
            cr_expect(fabsf(score - batched.v[i].score[j]) <= 1e-4 + 5e-5,
                      "'%s': score %f vs %f", line, score, batched.v[i].score[j]);
        }
        line = strtok_r(NULL, "\n", &save);
    }
    cr_expect_null(line, "nothing after the two blocks: %s", r.out);
    cr_expect(strstr(r.out, "\n\n") != NULL, "blocks are separated by a blank line: %s",
              r.out);
    free(text);
    zt_run_free(&r);

    results_free(&batched);
    json_decref(index);
    for (int i = 0; i < N_GOOD; i++)
        free(paths[i]);
    free(missing);
    free(trunc);
    zoo_tensor_free(want);
    free(cfg);
    free(w);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ */
/* Bad inputs, one at a time and mixed                                 */
/* ------------------------------------------------------------------ */

Test(cli_classify, bad_inputs, .timeout = 120)
{
    fixture fx = fixture_new(true);
    char *w = mobilenet_weights_or_die(&fx, false);
    python_or_die(&fx, NULL, NULL, NULL);
    char *good1 = zt_path(fx.img, "a.png"), *good2 = zt_path(fx.img, "e.jpg");
    char *missing = zt_path(fx.img, "missing.png");
    char *dir = zt_path(fx.img, "adir.png");
    char *fifo = zt_path(fx.img, "fifo.jpg");
    char *dangling = zt_path(fx.img, "dangling.jpg");
    char *loop = zt_path(fx.img, "loop.jpg");
    char *trunc = zt_path(fx.img, "trunc.jpg");
    char *text = zt_path(fx.img, "text.jpg");
    char *empty = zt_path(fx.img, "empty.png");
    zt_mkdir_or_die(dir);
    cr_assert_eq(mkfifo(fifo, 0644), 0, "mkfifo: %s", strerror(errno));
    cr_assert_eq(symlink("no-such-target.jpg", dangling), 0);
    cr_assert_eq(symlink("loop.jpg", loop), 0);

    const char *bad[] = {missing, dir, fifo, dangling, loop, trunc, text, empty};
    const char *why[] = {"no such file", "directory", "FIFO", "dangling",
                         "loop", NULL, NULL, NULL};
    enum { N_BAD = sizeof bad / sizeof bad[0] };

    /* The good ones alone, for reference. */
    zt_run_result r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet",
                                                 "--weights", w, "--json", "--batch",
                                                 "1", good1, good2, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    results ref = parse_json_lines(r.out, 5);
    cr_assert_eq(ref.n, 2);
    zt_run_free(&r);

    /* All of them at once, batch 4: each named, the good ones intact. */
    const char *args[32] = {"classify", "--model", "mobilenet", "--weights", w,
                            "--json", "--batch", "4", good1};
    int n = 9;
    for (int i = 0; i < N_BAD; i++)
        args[n++] = bad[i];
    args[n++] = good2;
    args[n] = NULL;
    r = run_zoo(&fx, args);
    cr_expect_eq(r.status, 1);
    for (int i = 0; i < N_BAD; i++) {
        cr_expect(ERR_LINE_HAS(r.err, "classify", bad[i]), "stderr should name %s: %s",
                  bad[i], r.err);
        if (why[i])
            cr_expect(ERR_LINE_HAS(r.err, "classify", bad[i], why[i]),
                      "stderr should say '%s' for %s: %s", why[i], bad[i], r.err);
    }
    /* Without class names (no shared data beside the checkout) one more
     * line warns about them. */
    cr_expect_eq(count_lines(r.err), N_BAD + 1 + !fx.have_labels, "one line per failure and a "
                 "summary: %s", r.err);
    cr_expect(ERR_LINE_HAS(r.err, "classify", "8 of 10"), "a summary line: %s", r.err);
    results got = parse_json_lines(r.out, 5);
    cr_expect_eq(got.n, 2);
    for (int j = 0; j < got.n && j < 2; j++)
        expect_same(&got.v[j], &ref.v[j], "all bad inputs at once");
    results_free(&got);
    zt_run_free(&r);

    /* Only bad images (a FIFO alone first: it must not block): exit 1,
     * nothing on stdout. */
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", "--weights",
                                      w, fifo, missing, NULL});
    cr_expect_eq(r.status, 1);
    cr_expect(ERR_LINE_HAS(r.err, "classify", fifo, "FIFO"), "%s", r.err);
    cr_expect(ERR_LINE_HAS(r.err, "classify", "2 of 2"), "%s", r.err);
    cr_expect_str_eq(r.out, "");
    zt_run_free(&r);

    /* Weights that are not for this model: exit 1, naming the file. */
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet_v2",
                                      "--weights", w, good1, NULL});
    cr_expect_eq(r.status, 1);
    cr_expect(ERR_LINE_HAS(r.err, "classify", w), "stderr: %s", r.err);
    zt_run_free(&r);

    results_free(&ref);
    const char *frees[] = {good1, good2, missing, dir, fifo, dangling, loop, trunc,
                           text, empty};
    for (size_t i = 0; i < sizeof frees / sizeof frees[0]; i++)
        free((void *)frees[i]);
    free(w);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ */
/* DIR, --list, and no labels                                          */
/* ------------------------------------------------------------------ */

Test(cli_classify, dir_list_and_offline_labels, .timeout = 120)
{
    fixture fx = fixture_new(false); /* no class index anywhere */
    char *w = mobilenet_weights_or_die(&fx, false);
    python_or_die(&fx, NULL, NULL, NULL);

    /* A directory: only its regular JPEG and PNG files, sorted by name. */
    char *d = zt_path(fx.root, "photos");
    zt_mkdir_or_die(d);
    char *src_a = zt_path(fx.img, "a.png"), *src_b = zt_path(fx.img, "b.jpg");
    char *src_d = zt_path(fx.img, "d.png");
    const char *names[] = {"Zebra.PNG", "apple.jpeg", "b.jpg"};
    const char *srcs[] = {src_a, src_b, src_d};
    for (int i = 0; i < 3; i++) {
        char *dst = zt_path(d, names[i]);
        cr_assert(copy_file(srcs[i], dst), "copy to %s failed", dst);
        free(dst);
    }
    char *p;
    p = zt_path(d, "notes.txt");
    cr_assert(zt_write_file(p, "hello\n", 6));
    free(p);
    p = zt_path(d, ".hidden.png");
    cr_assert(copy_file(src_a, p));
    free(p);
    p = zt_path(d, "sub.png");
    zt_mkdir_or_die(p);
    free(p);
    p = zt_path(d, "pipe.png");
    cr_assert_eq(mkfifo(p, 0644), 0);
    free(p);
    p = zt_path(d, "dangling.jpg");
    cr_assert_eq(symlink("nowhere.jpg", p), 0);
    free(p);

    zt_run_result r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet",
                                                 "--weights", w, "--json", "--top",
                                                 "3", d, NULL});
    cr_assert_eq(r.status, 0, "DIR: %s", r.err);
    /* No labels: one warning line, and null wnid/label. */
    cr_expect_eq(count_lines(r.err), 1, "exactly one warning line: %s", r.err);
    cr_expect(ERR_LINE_HAS(r.err, "classify", "warning"), "%s", r.err);
    results rs = parse_json_lines(r.out, 3);
    cr_assert_eq(rs.n, 3, "three images in the directory: %s", r.out);
    for (int i = 0; i < 3; i++) {
        char *want = zt_path(d, names[i]); /* byte order: Z < a < b */
        cr_expect_str_eq(rs.v[i].image, want);
        free(want);
        expect_labels(&rs.v[i], NULL, false);
    }
    zt_run_free(&r);

    /* The same images through --list, with a blank line and a missing one. */
    char *list = zt_path(fx.root, "list.txt");
    char *missing = zt_path(fx.img, "gone.png");
    char buf[4096];
    int len = snprintf(buf, sizeof buf, "%s/%s\n\n%s\r\n%s/%s\n%s/%s", d, names[0],
                       missing, d, names[1], d, names[2]);
    cr_assert(zt_write_file(list, buf, (size_t)len));
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", "--weights",
                                      w, "--json", "--top", "3", "--list", list, NULL});
    cr_expect_eq(r.status, 1, "a missing listed image: exit 1");
    cr_expect(ERR_LINE_HAS(r.err, "classify", missing, "no such file"), "%s", r.err);
    results ls = parse_json_lines(r.out, 3);
    cr_assert_eq(ls.n, 3, "%s", r.out);
    for (int i = 0; i < 3; i++)
        expect_same(&ls.v[i], &rs.v[i], "--list vs DIR");
    results_free(&ls);
    zt_run_free(&r);

    /* Human output without labels: "class N". */
    char *one = zt_path(d, names[2]);
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", "--weights",
                                      w, "--top", "2", one, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    char want_line[64];
    snprintf(want_line, sizeof want_line, "class %d", rs.v[2].index[0]);
    cr_expect(strstr(r.out, want_line) != NULL, "expected '%s' in: %s", want_line, r.out);
    cr_expect_eq(count_lines(r.out), 3, "path + 2 lines: %s", r.out);
    zt_run_free(&r);
    free(one);

    /* An empty directory (nothing but a text file): an error naming it. */
    char *empty = zt_path(fx.root, "empty");
    zt_mkdir_or_die(empty);
    p = zt_path(empty, "readme.txt");
    cr_assert(zt_write_file(p, "x", 1));
    free(p);
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", "--weights",
                                      w, empty, NULL});
    cr_expect_eq(r.status, 1, "empty DIR: exit %d", r.status);
    cr_expect(ERR_LINE_HAS(r.err, "classify", empty), "%s", r.err);
    cr_expect_str_eq(r.out, "");
    zt_run_free(&r);

    /* A list that does not exist. */
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", "--weights",
                                      w, "--list", missing, NULL});
    cr_expect_eq(r.status, 1);
    cr_expect(ERR_LINE_HAS(r.err, "classify", missing), "%s", r.err);
    zt_run_free(&r);

    /* --weights imagenet offline: a clear failure, fast (no retry storm). */
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", src_a, NULL});
    cr_expect_eq(r.status, 1);
    cr_expect(ERR_LINE_HAS(r.err, "classify", "ImageNet weights", "mobilenet"), "%s", r.err);
    zt_run_free(&r);

    /* Once the official file is in the cache (MobileNet's has no hash to
     * check), the default --weights imagenet uses it without the network. */
    char *cached = zt_path(fx.zoo_home, "mobilenet_1_0_224_tf.h5");
    cr_assert(copy_file(w, cached));
    r = run_zoo(&fx, (const char *[]){"classify", "--model", "mobilenet", "--json",
                                      "--top", "3", rs.v[1].image, NULL});
    cr_expect_eq(r.status, 0, "cached ImageNet weights: %s", r.err);
    results cr = parse_json_lines(r.out, 3);
    cr_expect_eq(cr.n, 1);
    if (cr.n == 1)
        expect_same(&cr.v[0], &rs.v[1], "--weights imagenet from the cache");
    results_free(&cr);
    zt_run_free(&r);
    free(cached);
    results_free(&rs);

    free(empty);
    free(list);
    free(missing);
    free(src_a);
    free(src_b);
    free(src_d);
    free(d);
    free(w);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ */
/* zoo features                                                        */
/* ------------------------------------------------------------------ */

static zoo_tensor *npy_or_die(const char *path)
{
    zoo_tensor *t = zoo_npy_load(path);
    cr_assert_not_null(t, "%s", zoo_last_error());
    return t;
}

static void expect_close(const zoo_tensor *got, const zoo_tensor *want, const char *what)
{
    char msg[512];
    cr_expect(zt_tensor_close(got, want, 1e-4, 1e-4, msg, sizeof msg), "%s: %s", what, msg);
}

/* zoo predict on the Python-preprocessed batch x. */
static zoo_tensor *predict_or_die(const fixture *fx, const char *const *extra)
{
    char *x = zt_path(fx->root, "x.npy"), *y = zt_path(fx->root, "pred.npy");
    const char *args[24] = {"predict", "--model", "mobilenet", "--input", x,
                            "--output", y};
    int n = 7;
    for (int i = 0; extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    zt_run_result r = run_zoo(fx, args);
    cr_assert_eq(r.status, 0, "zoo predict: %s", r.err);
    zt_run_free(&r);
    zoo_tensor *t = npy_or_die(y);
    remove(y);
    free(x);
    free(y);
    return t;
}

static const char *const FEAT_IMAGES[] = {"a.png", "e.jpg", "c.png", "d.png", NULL};
enum { N_FEAT = 4 };

Test(cli_features, rows_match_predict, .timeout = 120)
{
    fixture fx = fixture_new(false);
    char *notop = mobilenet_weights_or_die(&fx, true);
    char *top = mobilenet_weights_or_die(&fx, false);
    python_or_die(&fx, NULL, NULL, FEAT_IMAGES); /* x.npy: Keras's inputs */
    char *paths[N_FEAT];
    for (int i = 0; i < N_FEAT; i++)
        paths[i] = zt_path(fx.img, FEAT_IMAGES[i]);
    char *out = zt_path(fx.root, "f.npy");
    char *out_dir = zt_path(fx.root, "out");
    zt_mkdir_or_die(out_dir);
    char *f2 = zt_path(out_dir, "f2.npy");

    /* The input layer: exactly what Pillow + preprocess_input give. */
    char *x = zt_path(fx.root, "x.npy");
    zt_run_result r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet",
                                                 "--weights", notop, "--layer",
                                                 "input_layer", "-o", out, paths[0],
                                                 paths[1], paths[2], paths[3], NULL});
    cr_assert_eq(r.status, 0, "zoo features --layer input_layer: %s", r.err);
    zt_run_free(&r);
    zoo_tensor *got = npy_or_die(out), *want = npy_or_die(x);
    char msg[512];
    cr_expect(zt_tensor_close(got, want, 0, 2e-6, msg, sizeof msg),
              "preprocessed input vs Keras's load_img + preprocess_input: %s", msg);
    zoo_tensor_free(got);
    zoo_tensor_free(want);
    free(x);

    /* Pooled features (no top, avg) vs predict --no-top --pooling avg. */
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet",
                                                 "--weights", notop, "--batch", "3",
                                                 "-o", out, paths[0], paths[1],
                                                 paths[2], paths[3], NULL});
    cr_assert_eq(r.status, 0, "zoo features: %s", r.err);
    cr_expect_str_eq(r.err, "");
    zt_run_free(&r);
    got = npy_or_die(out);
    cr_expect_eq(zoo_tensor_rank(got), 2);
    cr_expect_eq(zoo_tensor_shape(got)[0], N_FEAT);
    cr_expect_eq(zoo_tensor_shape(got)[1], FEATS);
    want = predict_or_die(&fx, (const char *[]){"--weights", notop,
                                                            "--no-top", "--pooling",
                                                            "avg", NULL});
    expect_close(got, want, "features (avg) vs predict --no-top --pooling avg");
    zoo_tensor_free(want);

    /* Row order follows the arguments. */
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet", "--weights",
                                      notop, "-o", f2, paths[3], paths[2], paths[1],
                                      paths[0], NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    zt_run_free(&r);
    zoo_tensor *rev = npy_or_die(f2);
    cr_assert_eq(zoo_tensor_size(rev), zoo_tensor_size(got));
    for (int i = 0; i < N_FEAT; i++) {
        cr_expect(zt_allclose(zoo_tensor_cdata(rev) + (size_t)(N_FEAT - 1 - i) * FEATS,
                              zoo_tensor_cdata(got) + (size_t)i * FEATS, 1, (int[]){FEATS},
                              1e-4, 1e-4, msg, sizeof msg),
                  "row %d of the reversed run: %s", i, msg);
    }
    zoo_tensor_free(rev);
    zoo_tensor_free(got);

    /* --pooling max. */
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet", "--weights",
                                      notop, "--pooling", "max", "--output", out,
                                      paths[0], paths[1], paths[2], paths[3], NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    zt_run_free(&r);
    got = npy_or_die(out);
    want = predict_or_die(&fx, (const char *[]){"--weights", notop, "--no-top",
                                                "--pooling", "max", NULL});
    expect_close(got, want, "features --pooling max");
    zoo_tensor_free(want);
    zoo_tensor_free(got);

    /* --layer: a feature map, from the no-top file and from the top file. */
    const char *weights[] = {notop, top};
    for (int k = 0; k < 2; k++) {
        r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet",
                                          "--weights", weights[k], "--layer",
                                          "conv_pw_6_relu", "-o", out, paths[0],
                                          paths[1], paths[2], paths[3], NULL});
        cr_assert_eq(r.status, 0, "--layer with %s: %s", weights[k], r.err);
        zt_run_free(&r);
        got = npy_or_die(out);
        cr_expect_eq(zoo_tensor_rank(got), 4);
        cr_expect_eq(zoo_tensor_shape(got)[0], N_FEAT);
        cr_expect_eq(zoo_tensor_shape(got)[1], 14);
        cr_expect_eq(zoo_tensor_shape(got)[3], 512);
        want = k == 0 ? predict_or_die(&fx, (const char *[]){"--weights", notop,
                                                             "--no-top", "--layer",
                                                             "conv_pw_6_relu", NULL})
                      : predict_or_die(&fx, (const char *[]){"--weights", top, "--layer",
                                                             "conv_pw_6_relu", NULL});
        expect_close(got, want, k == 0 ? "--layer, no-top file" : "--layer, top file");
        zoo_tensor_free(want);
        zoo_tensor_free(got);
    }

    /* A layer of the top (the class scores) needs the top file. */
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet", "--weights",
                                      top, "--layer", "predictions", "-o", out,
                                      paths[0], paths[1], paths[2], paths[3], NULL});
    cr_assert_eq(r.status, 0, "--layer predictions: %s", r.err);
    zt_run_free(&r);
    got = npy_or_die(out);
    want = predict_or_die(&fx, (const char *[]){"--weights", top, NULL});
    cr_expect_eq(zoo_tensor_shape(got)[1], CLASSES);
    expect_close(got, want, "--layer predictions vs predict");
    zoo_tensor_free(want);
    zoo_tensor_free(got);

    /* An unknown layer, and pooling a 2-D output: exit 1, nothing written. */
    remove(out);
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet", "--weights",
                                      notop, "--layer", "block9_conv9", "-o", out,
                                      paths[0], NULL});
    cr_expect_eq(r.status, 1);
    cr_expect(ERR_LINE_HAS(r.err, "features", "block9_conv9"), "%s", r.err);
    zt_run_free(&r);
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet", "--weights",
                                      top, "--layer", "predictions", "--pooling", "avg",
                                      "-o", out, paths[0], NULL});
    cr_expect_eq(r.status, 1);
    cr_expect(ERR_LINE_HAS(r.err, "features", "--pooling"), "%s", r.err);
    zt_run_free(&r);
    cr_expect_not(zt_exists(out));

    for (int i = 0; i < N_FEAT; i++)
        free(paths[i]);
    free(out);
    free(f2);
    free(out_dir);
    free(notop);
    free(top);
    fixture_free(&fx);
}

Test(cli_features, failures_write_nothing, .timeout = 120)
{
    fixture fx = fixture_new(false);
    char *notop = mobilenet_weights_or_die(&fx, true);
    python_or_die(&fx, NULL, NULL, NULL);
    char *good = zt_path(fx.img, "a.png"), *trunc = zt_path(fx.img, "trunc.jpg");
    char *missing = zt_path(fx.img, "missing.png");
    char *out_dir = zt_path(fx.root, "out");
    zt_mkdir_or_die(out_dir);
    char *out = zt_path(out_dir, "f.npy");

    /* A bad image anywhere: each named, exit 1, no output (and no
     * temporary file) in the output directory. */
    zt_run_result r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet",
                                                 "--weights", notop, "--batch", "1",
                                                 "-o", out, good, trunc, good,
                                                 missing, NULL});
    cr_expect_eq(r.status, 1);
    cr_expect(ERR_LINE_HAS(r.err, "features", trunc), "%s", r.err);
    cr_expect(ERR_LINE_HAS(r.err, "features", missing), "%s", r.err);
    cr_expect(ERR_LINE_HAS(r.err, "features", "no output"), "%s", r.err);
    cr_expect_not(zt_exists(out));
    cr_expect_eq(zt_dir_entries(out_dir), 0, "nothing left in %s", out_dir);
    zt_run_free(&r);

    /* An output directory that does not exist: an error before any work
     * (the weights named do not exist either, and are not reached). */
    char *nodir = zt_path(fx.root, "no_such_dir/f.npy");
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet", "--weights",
                                      "/nonexistent/w.h5", "-o", nodir, good, NULL});
    cr_expect_eq(r.status, 1);
    cr_expect(ERR_LINE_HAS(r.err, "features", nodir), "%s", r.err);
    cr_expect(strstr(r.err, "w.h5") == NULL, "the output is checked first: %s", r.err);
    zt_run_free(&r);

    /* The output is a directory. */
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet", "--weights",
                                      notop, "-o", out_dir, good, NULL});
    cr_expect_eq(r.status, 1);
    cr_expect(ERR_LINE_HAS(r.err, "features", out_dir, "directory"), "%s", r.err);
    zt_run_free(&r);

    /* Success writes exactly the one file. */
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet", "--weights",
                                      notop, "-o", out, good, NULL});
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(zt_exists(out));
    cr_expect_eq(zt_dir_entries(out_dir), 1);
    zt_run_free(&r);

    /* --weights imagenet (the default) takes the no-top file from the
     * cache: the same features. */
    char *cached = zt_path(fx.zoo_home, "mobilenet_1_0_224_tf_no_top.h5");
    cr_assert(copy_file(notop, cached));
    char *out2 = zt_path(out_dir, "f_imagenet.npy");
    r = run_zoo(&fx, (const char *[]){"features", "--model", "mobilenet", "-o", out2,
                                      good, NULL});
    cr_expect_eq(r.status, 0, "cached no-top ImageNet weights: %s", r.err);
    zt_run_free(&r);
    zoo_tensor *a = npy_or_die(out), *b = npy_or_die(out2);
    expect_close(b, a, "--weights imagenet (cached) vs the same file given");
    zoo_tensor_free(a);
    zoo_tensor_free(b);
    free(out2);
    free(cached);

    free(nodir);
    free(good);
    free(trunc);
    free(missing);
    free(out);
    free(out_dir);
    free(notop);
    fixture_free(&fx);
}
