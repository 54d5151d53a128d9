/*
 * Whole networks against an independent reference: every model in the
 * registry (whatever is registered when the test runs) is built with
 * seeded random weights, its BatchNormalization statistics and biases are
 * randomised too (so BN is not the identity), and then
 *   - the config is written with zoo_model_to_json (Keras's get_config),
 *   - the weights with zoo_model_save_weights (legacy Keras .h5),
 *   - a random NHWC batch with zoo_npy_save,
 * and tools/keras_torch.py (PyTorch, Keras semantics written out there,
 * float64) evaluates the same config + weights + input. zoo_model_predict's
 * output must match with a relative L2 error below 1e-4:
 *   ||zoo - ref||_2 / ||ref||_2 < 1e-4.
 *
 * Sizes are small and uneven (min_size + 3 rows, min_size + 8 columns:
 * odd sides exercise TF 'same' padding's bottom/right pixel; unequal ones
 * catch H/W mix-ups); the pooling option cycles none/avg/max over the
 * models. One model also runs with its top at the default size, and one
 * inner layer of it is checked through a sub-model (feature extraction).
 * All cases of one Test are written first, then one Python process runs
 * them (--batch), so Python and torch start once per Test. The models are
 * split over two Tests that Criterion runs in parallel. A third Test runs
 * keras_torch.py --selfcheck (hand-computed cases for the reference).
 *
 * Needs ZOO_TEST_PYTHON with numpy, torch and h5py (as the layer oracle).
 */
#include "support.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <zoo/zoo.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REL_L2_TOL 1e-4
#define BATCH 2
#define N_PARTS 2
#define MAX_CASES 64

#ifndef ZOO_TEST_PYTHON
#define ZOO_TEST_PYTHON "/usr/bin/python3"
#endif

static const char *keras_torch_py(void)
{
    return ZOO_TEST_SOURCE_DIR "/../tools/keras_torch.py";
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Runs ZOO_TEST_PYTHON keras_torch.py ARGS... with stdout and stderr in
 * `log`. Returns the exit status (-1: killed or not run). */
static int run_python(const char *log, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = ZOO_TEST_PYTHON;
    argv[n++] = keras_torch_py();
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork failed");
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        close(fd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ------------------------------------------------------------------ */
/* Cases                                                               */
/* ------------------------------------------------------------------ */

typedef struct {
    char label[128];    /* "resnet50 no-top 35x40 pooling=avg" */
    char *config, *weights, *input, *output; /* paths */
    char layer[128];    /* inner layer for Python's --layer, or "" */
    zoo_tensor *zoo_out; /* zoo's output, compared with the reference's */
} fcase;

typedef struct {
    char *dir;
    fcase cases[MAX_CASES];
    int n;
} suite;

/* Fan-in of a kernel as He's initialisation counts it. */
static int fan_in(const char *name, const zoo_tensor *t)
{
    const int *d = zoo_tensor_shape(t);
    if (zoo_tensor_rank(t) == 2) /* Dense (in, out) */
        return d[0];
    if (zoo_tensor_rank(t) != 4)
        return 1;
    if (strcmp(name, "depthwise_kernel") == 0) /* (kh, kw, cin, M): one channel */
        return d[0] * d[1];
    return d[0] * d[1] * d[2]; /* (kh, kw, cin, cout) */
}

/*
 * Weights that make a deep random network a sensitive test. zoo's fresh
 * model (Glorot kernels, BN as the identity, zero biases) lets the signal
 * fade with depth until the output hardly depends on the input, so an
 * off-by-one pad early on would go unnoticed. Here kernels are He-uniform
 * (std sqrt(2 / fan_in): the signal keeps its scale through ReLUs), and
 * BN statistics, gammas, betas and biases get values away from the
 * identity (so the reference checks BN's formula and every bias).
 */
static void randomise_weights(zoo_model *m, unsigned long long seed)
{
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int k = 0; k < zoo_layer_weight_count(l); k++) {
            const char *w = zoo_layer_weight_name(l, k);
            zoo_tensor *t = zoo_layer_weight(l, k);
            cr_assert(w && t, "%s: weight %d: %s", zoo_layer_name(l), k, zoo_last_error());
            unsigned long long s = seed * 1000003ull + (unsigned long long)i * 131u + (unsigned)k;
            if (strstr(w, "kernel")) {
                float a = (float)sqrt(6.0 / fan_in(w, t));
                zt_fill_uniform(t, s, -a, a);
            } else if (strcmp(w, "gamma") == 0 || strcmp(w, "moving_variance") == 0) {
                zt_fill_uniform(t, s, 0.5f, 1.5f);
            } else if (strcmp(w, "beta") == 0 || strcmp(w, "moving_mean") == 0 ||
                       strcmp(w, "bias") == 0) {
                zt_fill_uniform(t, s, -0.2f, 0.2f);
            }
        }
    }
}

static char *case_path(suite *s, int k, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "case%02d_%s", k, what);
    return zt_path(s->dir, name);
}

/* Writes `m`'s config and weights and `x`, runs zoo on x (through `run`,
 * a sub-model of m or m itself), and records the case. */
static void add_case(suite *s, const char *label, zoo_model *m, zoo_model *run,
                     const char *layer, const zoo_tensor *x)
{
    cr_assert_lt(s->n, MAX_CASES);
    int k = s->n;
    fcase *c = &s->cases[k];
    snprintf(c->label, sizeof c->label, "%s", label);
    snprintf(c->layer, sizeof c->layer, "%s", layer ? layer : "");
    c->config = case_path(s, k, "config.json");
    c->weights = case_path(s, k, "weights.h5");
    c->input = case_path(s, k, "input.npy");
    c->output = case_path(s, k, "torch.npy");

    char *json = zoo_model_to_json(m);
    cr_assert_not_null(json, "%s: zoo_model_to_json: %s", label, zoo_last_error());
    cr_assert(zt_write_file(c->config, json, strlen(json)), "cannot write %s", c->config);
    free(json);
    cr_assert_eq(zoo_model_save_weights(m, c->weights), ZOO_OK,
                 "%s: zoo_model_save_weights: %s", label, zoo_last_error());
    cr_assert_eq(zoo_npy_save(c->input, x), ZOO_OK, "%s: zoo_npy_save: %s", label,
                 zoo_last_error());

    zoo_tensor *y = NULL;
    zoo_predict_opts opts = {.threads = 1};
    cr_assert_eq(zoo_model_predict(run, (zoo_tensor *const[]){(zoo_tensor *)x}, 1, &y, 1,
                                   &opts),
                 ZOO_OK, "%s: zoo_model_predict: %s", label, zoo_last_error());
    c->zoo_out = y;
    s->n++;
}

static zoo_tensor *input_or_die(int h, int w, unsigned long long seed)
{
    zoo_tensor *x = zoo_tensor_new(4, (int[]){BATCH, h, w, 3});
    cr_assert_not_null(x, "%s", zoo_last_error());
    zt_fill_uniform(x, seed, -1.0f, 1.0f);
    return x;
}

/* Every registered model with index % N_PARTS == part, without its top. */
static void add_registry_cases(suite *s, int part)
{
    static const char *const pool_names[] = {"none", "avg", "max"};
    for (int i = 0; i < zoo_model_info_count(); i++) {
        if (i % N_PARTS != part)
            continue;
        const zoo_model_info *info = zoo_model_info_at(i);
        cr_assert_not_null(info);
        int base = info->min_size > 0 ? info->min_size : 32;
        int h = base + 3, w = base + 8;
        zoo_net_opts o = {.no_top = true,
                          .input_shape = {h, w, 3},
                          .pooling = (zoo_pooling)(i % 3),
                          .seed = 100u + (unsigned)i};
        zoo_model *m = info->build(&o);
        cr_assert_not_null(m, "%s: building %dx%d without the top: %s", info->name, h, w,
                           zoo_last_error());
        randomise_weights(m, 7u + (unsigned)i);
        zoo_tensor *x = input_or_die(h, w, 900u + (unsigned)i);
        char label[128];
        snprintf(label, sizeof label, "%s no-top %dx%d pooling=%s", info->name, h, w,
                 pool_names[i % 3]);
        add_case(s, label, m, m, NULL, x);
        zoo_tensor_free(x);
        zoo_model_free(m);
    }
}

/* One model with its top at the default size (the first registered of a
 * list of small ones), and one inner layer of it, two thirds of the way
 * through model.layers. */
static void add_top_cases(suite *s)
{
    static const char *const prefer[] = {"mobilenet", "mobilenet_v2", "resnet50"};
    const zoo_model_info *info = NULL;
    for (size_t i = 0; i < sizeof prefer / sizeof prefer[0] && !info; i++) {
        info = zoo_model_find(prefer[i]);
        zoo_clear_error();
    }
    if (!info)
        info = zoo_model_info_at(0);
    cr_assert_not_null(info, "the registry is empty");
    zoo_net_opts o = {.seed = 31};
    zoo_model *m = info->build(&o);
    cr_assert_not_null(m, "%s with its top: %s", info->name, zoo_last_error());
    randomise_weights(m, 77);
    int size = info->default_size;
    zoo_tensor *x = input_or_die(size, size, 4242);
    char label[128];
    snprintf(label, sizeof label, "%s top %dx%d", info->name, size, size);
    add_case(s, label, m, m, NULL, x);

    zoo_layer *l = zoo_model_layer(m, zoo_model_layer_count(m) * 2 / 3);
    zoo_sym *in = zoo_model_input(m, 0), *out = zoo_layer_output(l, 0);
    zoo_model *sub = zoo_model_new(&in, 1, &out, 1, "features");
    cr_assert_not_null(sub, "%s: sub-model at '%s': %s", info->name, zoo_layer_name(l),
                       zoo_last_error());
    snprintf(label, sizeof label, "%s top %dx%d layer '%s'", info->name, size, size,
             zoo_layer_name(l));
    add_case(s, label, m, sub, zoo_layer_name(l), x);
    zoo_model_free(sub);
    zoo_tensor_free(x);
    zoo_model_free(m);
}

static void write_manifest(suite *s, const char *path)
{
    json_t *cases = json_array();
    for (int k = 0; k < s->n; k++) {
        fcase *c = &s->cases[k];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", c->label, "config",
                              c->config, "weights", c->weights, "input", c->input,
                              "output", c->output, "double", 1);
        cr_assert_not_null(o);
        if (c->layer[0])
            json_object_set_new(o, "layer", json_string(c->layer));
        json_array_append_new(cases, o);
    }
    json_t *root = json_pack("{s:o}", "cases", cases);
    cr_assert_eq(json_dump_file(root, path, JSON_INDENT(1)), 0, "cannot write %s", path);
    json_decref(root);
}

/* ||got - ref|| / ||ref||, in double. */
static double rel_l2(const zoo_tensor *got, const zoo_tensor *ref)
{
    const float *a = zoo_tensor_cdata(got), *b = zoo_tensor_cdata(ref);
    double num = 0, den = 0;
    for (size_t i = 0; i < zoo_tensor_size(ref); i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (den == 0)
        return num == 0 ? 0 : INFINITY;
    return sqrt(num / den);
}

static bool same_shape(const zoo_tensor *a, const zoo_tensor *b)
{
    if (zoo_tensor_rank(a) != zoo_tensor_rank(b))
        return false;
    for (int i = 0; i < zoo_tensor_rank(a); i++)
        if (zoo_tensor_shape(a)[i] != zoo_tensor_shape(b)[i])
            return false;
    return true;
}

/* Runs Python once on every case of `s`, then compares. */
static void run_and_compare(suite *s, const char *title)
{
    char *manifest = zt_path(s->dir, "manifest.json");
    char *log = zt_path(s->dir, "keras_torch.log");
    write_manifest(s, manifest);
    double t0 = now_s();
    int rc = run_python(log, (const char *const[]){"--batch", manifest, "--threads", "1", NULL});
    double secs = now_s() - t0;
    char *log_text = zt_read_text(log);
    cr_assert(rc != 127 && rc != -1, "could not run %s %s (status %d):\n%s",
              ZOO_TEST_PYTHON, keras_torch_py(), rc, log_text ? log_text : "");

    int failures = 0;
    char report[8192] = "";
    size_t used = 0;
    for (int k = 0; k < s->n; k++) {
        fcase *c = &s->cases[k];
        char line[512];
        if (!exists(c->output)) {
            char *err_path = malloc(strlen(c->output) + 5);
            cr_assert_not_null(err_path);
            sprintf(err_path, "%s.err", c->output);
            char *why = zt_read_text(err_path);
            if (why)
                why[strcspn(why, "\n")] = '\0';
            snprintf(line, sizeof line, "  FAIL %-52s reference failed: %.300s\n", c->label,
                     why ? why : "no output and no .err (see Python's log)");
            free(why);
            free(err_path);
            failures++;
        } else {
            zoo_tensor *ref = zoo_npy_load(c->output);
            cr_assert_not_null(ref, "%s: %s", c->label, zoo_last_error());
            char rs[64], zs[64];
            if (!same_shape(c->zoo_out, ref)) {
                snprintf(line, sizeof line, "  FAIL %-52s shape: torch %s, zoo %s\n",
                         c->label,
                         zt_shape_str(zoo_tensor_rank(ref), zoo_tensor_shape(ref), rs,
                                      sizeof rs),
                         zt_shape_str(zoo_tensor_rank(c->zoo_out),
                                      zoo_tensor_shape(c->zoo_out), zs, sizeof zs));
                failures++;
            } else {
                double e = rel_l2(c->zoo_out, ref);
                bool ok = e < REL_L2_TOL;
                failures += !ok;
                snprintf(line, sizeof line, "  %s %-52s %-20s rel L2 %.2e\n",
                         ok ? "ok  " : "FAIL", c->label,
                         zt_shape_str(zoo_tensor_rank(ref), zoo_tensor_shape(ref), rs,
                                      sizeof rs),
                         e);
            }
            zoo_tensor_free(ref);
        }
        used += (size_t)snprintf(report + used, used < sizeof report ? sizeof report - used : 0,
                                 "%s", line);
        if (used >= sizeof report)
            used = sizeof report - 1;
    }
    fprintf(stderr, "%s: %d case(s) against tools/keras_torch.py (float64), %.1f s in Python\n%s",
            title, s->n, secs, report);
    cr_log_info("%s: %d case(s), %d failure(s)", title, s->n, failures);
    cr_assert_eq(failures, 0,
                 "%s: %d of %d case(s) differ from the PyTorch reference by relative L2 "
                 ">= %g or failed there:\n%s\nfiles kept in %s; Python's log:\n%s",
                 title, failures, s->n, REL_L2_TOL, report, s->dir, log_text ? log_text : "");
    cr_assert_eq(rc, 0, "keras_torch.py exited %d:\n%s", rc, log_text ? log_text : "");

    free(log_text);
    free(manifest);
    free(log);
}

static void suite_free(suite *s, bool remove_files)
{
    for (int k = 0; k < s->n; k++) {
        fcase *c = &s->cases[k];
        free(c->config);
        free(c->weights);
        free(c->input);
        free(c->output);
        zoo_tensor_free(c->zoo_out);
    }
    if (remove_files)
        zt_rmtree(s->dir);
    free(s->dir);
}

static void run_part(int part)
{
    static suite s; /* large: keep it off the stack */
    memset(&s, 0, sizeof s);
    s.dir = zt_tmpdir_or_die();
    add_registry_cases(&s, part);
    if (part == 0)
        add_top_cases(&s);
    if (s.n == 0) {
        suite_free(&s, true);
        return;
    }
    char title[64];
    snprintf(title, sizeof title, "nets_forward part %d/%d", part + 1, N_PARTS);
    run_and_compare(&s, title);
    suite_free(&s, true); /* reached only when every case passed */
}

Test(nets_forward, registry_part1, .timeout = 120)
{
    cr_assert_gt(zoo_model_info_count(), 0, "the registry is empty");
    run_part(0);
}

Test(nets_forward, registry_part2, .timeout = 120)
{
    run_part(1);
}

/* The reference itself: hand-computed cases (TF 'same' padding's odd pixel,
 * average-pool divisors, max-pool padding, Flatten order, depthwise channel
 * order, BN, ReLU, hard_sigmoid, .h5 layouts). */
Test(nets_forward, reference_selfcheck, .timeout = 60)
{
    char *dir = zt_tmpdir_or_die();
    char *log = zt_path(dir, "selfcheck.log");
    int rc = run_python(log, (const char *const[]){"--selfcheck", NULL});
    char *text = zt_read_text(log);
    cr_assert_eq(rc, 0, "%s %s --selfcheck exited %d:\n%s", ZOO_TEST_PYTHON,
                 keras_torch_py(), rc, text ? text : "");
    cr_assert(text && strstr(text, "selfcheck: 0 failure(s)"),
              "self-check output lacks its summary line:\n%s", text ? text : "");
    free(text);
    zt_rmtree(dir);
    free(log);
    free(dir);
}
