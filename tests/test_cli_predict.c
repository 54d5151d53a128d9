/*
 * `zoo predict` as other tools call it (shared/DESIGN.md's CLI contract):
 * the built tool (ZOO_TEST_ZOO_BIN) is run in a child process, its exit
 * status and stderr checked: 0 on success, 2 for usage errors, 1 for
 * run-time failures, each with one clear line, and never an output file
 * left behind by a failed run. The success paths compare the tool's .npy
 * with zoo_model_predict run here on the same weights, written with
 * zoo_model_save_weights from a seeded VGG16 without its top.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <zoo/zoo.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Running the tool                                                    */
/* ------------------------------------------------------------------ */

/* Runs `zoo ARGS...` (NULL-terminated) with stdout and stderr captured in
 * files under `dir` (names starting with '.', so they are told apart from
 * the tool's own files, and removed once read). */
static zt_run_result run_zoo(const char *dir, const char *const *args)
{
    return zt_run_zoo(args, &(zt_run_opts){.io_dir = dir, .io_prefix = ".",
                                           .remove_io = true, .allow_killed = true});
}

/* stderr is one non-empty line that starts "zoo predict:" (usage errors
 * may add a hint line) and mentions every given string. */
static void expect_message(const zt_run_result *r, ...)
{
    cr_expect(strncmp(r->err, "zoo predict: ", 13) == 0,
              "stderr should start with 'zoo predict: ', got: %s", r->err);
    va_list ap;
    va_start(ap, r);
    for (const char *s; (s = va_arg(ap, const char *));)
        cr_expect(strstr(r->err, s) != NULL, "stderr should mention '%s': %s", s,
                  r->err);
    va_end(ap);
}

#define EXPECT_MESSAGE(r, ...) expect_message((r), __VA_ARGS__, (const char *)NULL)

/* The files of `dir` other than those listed: none may appear (no output,
 * no temporary file). */
static void expect_only(const char *dir, int n_expected)
{
    int n = zt_dir_entries(dir);
    cr_expect_eq(n, n_expected, "%s holds %d entries, expected %d: a failed "
                 "run left a file behind", dir, n, n_expected);
}

/* A float32 NHWC batch of the given shape with values in [lo, hi). */
static zoo_tensor *batch_or_die(int n, int h, int w, int c, unsigned long long seed)
{
    zoo_tensor *x = zoo_tensor_new(4, (int[]){n, h, w, c});
    cr_assert_not_null(x, "%s", zoo_last_error());
    zt_fill_uniform(x, seed, -1.0f, 1.0f);
    return x;
}

static void save_or_die(const char *path, const zoo_tensor *t)
{
    cr_assert_eq(zoo_npy_save(path, t), ZOO_OK, "%s", zoo_last_error());
}

/* ------------------------------------------------------------------ */
/* Usage                                                               */
/* ------------------------------------------------------------------ */

Test(cli_predict, help)
{
    char *dir = zt_tmpdir_or_die();
    zt_run_result r = run_zoo(dir, (const char *[]){"predict", "--help", NULL});
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "usage: zoo predict") != NULL, "help: %s", r.out);
    cr_expect(strstr(r.out, "--weights") && strstr(r.out, "--layer") &&
                  strstr(r.out, "--no-top") && strstr(r.out, "--pooling"),
              "help should list the options: %s", r.out);
    cr_expect_str_eq(r.err, "");
    zt_run_free(&r);
    /* The top-level help lists the command. */
    r = run_zoo(dir, (const char *[]){"--help", NULL});
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "predict") != NULL, "zoo --help: %s", r.out);
    zt_run_free(&r);
    zt_rmtree(dir);
    free(dir);
}

Test(cli_predict, usage_errors_exit_2)
{
    char *dir = zt_tmpdir_or_die();
    char *x = zt_path(dir, "x.npy"), *y = zt_path(dir, "y.npy");
    zoo_tensor *t = batch_or_die(1, 32, 32, 3, 1);
    save_or_die(x, t);
    zoo_tensor_free(t);

    zt_run_result r = run_zoo(dir, (const char *[]){"predict", "--weights", "w.h5",
                                                 "--input", x, "--output", y, NULL});
    cr_expect_eq(r.status, 2, "missing --model: exit %d", r.status);
    EXPECT_MESSAGE(&r, "--model");
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--weights",
                                      "w.h5", "--input", x, NULL});
    cr_expect_eq(r.status, 2, "missing --output: exit %d", r.status);
    EXPECT_MESSAGE(&r, "--output");
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model", "alexnet", "--weights",
                                      "w.h5", "--input", x, "--output", y, NULL});
    cr_expect_eq(r.status, 2, "unknown model: exit %d", r.status);
    EXPECT_MESSAGE(&r, "alexnet", "vgg16");
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--weights",
                                      "w.h5", "--input", x, "--output", y,
                                      "--pooling", "mean", "--no-top", NULL});
    cr_expect_eq(r.status, 2, "bad --pooling: exit %d", r.status);
    EXPECT_MESSAGE(&r, "mean");
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--weights",
                                      "w.h5", "--input", x, "--output", y,
                                      "--pooling", "avg", NULL});
    cr_expect_eq(r.status, 2, "--pooling with the top: exit %d", r.status);
    EXPECT_MESSAGE(&r, "--no-top");
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model=vgg16", "--weights=w.h5",
                                      "--input", x, "--output", y, "--batch",
                                      "0", NULL});
    cr_expect_eq(r.status, 2, "--batch 0: exit %d", r.status);
    EXPECT_MESSAGE(&r, "--batch");
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--weights",
                                      "w.h5", "--input", x, "--output", y,
                                      "--threads", NULL});
    cr_expect_eq(r.status, 2, "--threads without a value: exit %d", r.status);
    EXPECT_MESSAGE(&r, "--threads");
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--frobnicate",
                                      NULL});
    cr_expect_eq(r.status, 2, "unknown option: exit %d", r.status);
    EXPECT_MESSAGE(&r, "--frobnicate");
    zt_run_free(&r);

    cr_expect_not(zt_exists(y), "a usage error wrote %s", y);
    expect_only(dir, 1); /* x.npy */
    zt_rmtree(dir);
    free(x);
    free(y);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* Run-time failures (exit 1) that need no weights                     */
/* ------------------------------------------------------------------ */

Test(cli_predict, bad_inputs_exit_1)
{
    char *dir = zt_tmpdir_or_die();
    char *x = zt_path(dir, "x.npy"), *y = zt_path(dir, "y.npy");
    char *missing = zt_path(dir, "no_such_input.npy");
    char *junk = zt_path(dir, "junk.npy");
    char *gray = zt_path(dir, "gray.npy");
    char *flat = zt_path(dir, "flat.npy");
    const char bytes[] = "\x93NUMPY\x01\x00garbage that is not a header";
    cr_assert(zt_write_file(junk, bytes, sizeof bytes - 1));
    zoo_tensor *t = batch_or_die(1, 32, 32, 1, 2);
    save_or_die(gray, t);
    zoo_tensor_free(t);
    t = zoo_tensor_new(2, (int[]){2, 3});
    save_or_die(flat, t);
    zoo_tensor_free(t);
    t = batch_or_die(1, 32, 32, 3, 3);
    save_or_die(x, t);
    zoo_tensor_free(t);
    const int n_files = 4; /* junk, gray, flat, x */

    zt_run_result r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16",
                                                 "--no-top", "--weights", "w.h5",
                                                 "--input", missing, "--output",
                                                 y, NULL});
    cr_expect_eq(r.status, 1, "missing input: exit %d", r.status);
    EXPECT_MESSAGE(&r, missing);
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--weights", "w.h5", "--input", junk,
                                      "--output", y, NULL});
    cr_expect_eq(r.status, 1, "malformed .npy: exit %d", r.status);
    EXPECT_MESSAGE(&r, junk);
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--weights", "w.h5", "--input", gray,
                                      "--output", y, NULL});
    cr_expect_eq(r.status, 1, "1 channel: exit %d", r.status);
    EXPECT_MESSAGE(&r, gray, "channel", "(1, 32, 32, 1)");
    zt_run_free(&r);

    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--weights", "w.h5", "--input", flat,
                                      "--output", y, NULL});
    cr_expect_eq(r.status, 1, "2-D input: exit %d", r.status);
    EXPECT_MESSAGE(&r, flat, "(2, 3)", "4-D");
    zt_run_free(&r);

    /* With the top, only the model's own size. */
    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--weights",
                                      "w.h5", "--input", x, "--output", y, NULL});
    cr_expect_eq(r.status, 1, "32x32 with the top: exit %d", r.status);
    EXPECT_MESSAGE(&r, "224x224", "--no-top");
    zt_run_free(&r);

    /* Weights that do not exist. */
    char *noweights = zt_path(dir, "no_such_weights.h5");
    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--weights", noweights, "--input", x,
                                      "--output", y, NULL});
    cr_expect_eq(r.status, 1, "missing weights: exit %d", r.status);
    EXPECT_MESSAGE(&r, noweights);
    zt_run_free(&r);
    free(noweights);

    /* Weights that are not HDF5. */
    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--weights", junk, "--input", x,
                                      "--output", y, NULL});
    cr_expect_eq(r.status, 1, "junk weights: exit %d", r.status);
    EXPECT_MESSAGE(&r, junk);
    zt_run_free(&r);

    cr_expect_not(zt_exists(y), "a failed run wrote %s", y);
    expect_only(dir, n_files);
    zt_rmtree(dir);
    free(x);
    free(y);
    free(missing);
    free(junk);
    free(gray);
    free(flat);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* End to end, against zoo_model_predict on the same weights           */
/* ------------------------------------------------------------------ */

enum { SIDE = 32, N_IMAGES = 3, THREADS = 2 };

/* VGG16 without its top at SIDE x SIDE, optionally with pooling. */
static zoo_model *vgg16_or_die(zoo_pooling pooling, unsigned long long seed)
{
    zoo_model *m = zoo_net_vgg16(&(zoo_net_opts){.no_top = true,
                                                 .input_shape = {SIDE, SIDE, 3},
                                                 .pooling = pooling,
                                                 .seed = seed});
    cr_assert_not_null(m, "%s", zoo_last_error());
    return m;
}

/* Copies every weight of `from` into the same-named layers of `to`. */
static void copy_weights(const zoo_model *from, zoo_model *to)
{
    for (int i = 0; i < zoo_model_layer_count(to); i++) {
        zoo_layer *dst = zoo_model_layer(to, i);
        if (zoo_layer_weight_count(dst) == 0)
            continue;
        zoo_layer *src = zoo_model_get_layer(from, zoo_layer_name(dst));
        cr_assert_not_null(src, "%s", zoo_last_error());
        cr_assert_eq(zoo_layer_weight_count(src), zoo_layer_weight_count(dst));
        for (int k = 0; k < zoo_layer_weight_count(dst); k++) {
            zoo_tensor *a = zoo_layer_weight(src, k), *b = zoo_layer_weight(dst, k);
            cr_assert_eq(zoo_tensor_size(a), zoo_tensor_size(b));
            memcpy(zoo_tensor_data(b), zoo_tensor_cdata(a),
                   zoo_tensor_size(a) * sizeof(float));
        }
    }
}

static zoo_tensor *predict_or_die(zoo_model *m, zoo_tensor *x)
{
    return zt_predict_or_die(m, x, &(zoo_predict_opts){.threads = THREADS, .batch_size = 32});
}

/* The tool's output file equals `want` (same shape; within 1e-6). */
static void expect_npy_equals(const char *path, const zoo_tensor *want,
                              const char *what)
{
    zoo_tensor *got = zoo_npy_load(path);
    cr_assert_not_null(got, "%s: %s", what, zoo_last_error());
    char msg[512];
    cr_expect(zt_tensor_close(got, want, 1e-6, 1e-6, msg, sizeof msg), "%s: %s",
              what, msg);
    zoo_tensor_free(got);
}

Test(cli_predict, end_to_end, .timeout = 180)
{
    char *dir = zt_tmpdir_or_die();
    char *w = zt_path(dir, "vgg16_notop.h5"), *x = zt_path(dir, "x.npy");
    char *y = zt_path(dir, "y.npy");
    char threads[16];
    snprintf(threads, sizeof threads, "%d", THREADS);

    zoo_model *m = vgg16_or_die(ZOO_POOL_NONE, 11);
    cr_assert_eq(zoo_model_save_weights(m, w), ZOO_OK, "%s", zoo_last_error());
    zoo_tensor *xt = batch_or_die(N_IMAGES, SIDE, SIDE, 3, 5);
    for (size_t i = 0; i < zoo_tensor_size(xt); i++) /* caffe-like range */
        zoo_tensor_data(xt)[i] *= 120.0f;
    save_or_die(x, xt);

    /* The whole model: (3, 1, 1, 512). */
    zt_run_result r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16",
                                                 "--no-top", "--weights", w,
                                                 "--input", x, "--output", y,
                                                 "--threads", threads, NULL});
    cr_assert_eq(r.status, 0, "zoo predict failed (%d): %s", r.status, r.err);
    cr_expect_str_eq(r.err, "");
    zt_run_free(&r);
    zoo_tensor *want = predict_or_die(m, xt);
    cr_expect_eq(zoo_tensor_shape(want)[3], 512);
    expect_npy_equals(y, want, "vgg16 --no-top");
    zoo_tensor_free(want);

    /* Batch 1 and one thread give the same numbers. */
    remove(y);
    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--weights", w, "--input", x, "--output", y,
                                      "--threads", "1", "--batch", "1", NULL});
    cr_assert_eq(r.status, 0, "zoo predict --batch 1 failed: %s", r.err);
    zt_run_free(&r);
    want = predict_or_die(m, xt);
    expect_npy_equals(y, want, "vgg16 --no-top --batch 1 --threads 1");
    zoo_tensor_free(want);

    /* Cut at block1_pool: (3, 16, 16, 64). */
    char *yl = zt_path(dir, "y_block1_pool.npy");
    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--weights", w, "--input", x, "--output", yl,
                                      "--layer", "block1_pool", "--threads",
                                      threads, NULL});
    cr_assert_eq(r.status, 0, "zoo predict --layer failed: %s", r.err);
    zt_run_free(&r);
    zoo_sym *in = zoo_model_input(m, 0);
    zoo_sym *out = zoo_layer_output(zoo_model_get_layer(m, "block1_pool"), 0);
    zoo_model *cut = zoo_model_new(&in, 1, &out, 1, "block1_pool");
    cr_assert_not_null(cut, "%s", zoo_last_error());
    want = predict_or_die(cut, xt);
    cr_expect_eq(zoo_tensor_shape(want)[1], SIDE / 2);
    cr_expect_eq(zoo_tensor_shape(want)[3], 64);
    expect_npy_equals(yl, want, "vgg16 --layer block1_pool");
    zoo_tensor_free(want);
    zoo_model_free(cut);

    /* --pooling avg: (3, 512), weights copied layer by layer here. */
    char *yp = zt_path(dir, "y_avg.npy");
    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--pooling", "avg", "--weights", w,
                                      "--input", x, "--output", yp, "--threads",
                                      threads, NULL});
    cr_assert_eq(r.status, 0, "zoo predict --pooling avg failed: %s", r.err);
    zt_run_free(&r);
    zoo_model *pm = vgg16_or_die(ZOO_POOL_AVG, 99);
    copy_weights(m, pm);
    want = predict_or_die(pm, xt);
    cr_expect_eq(zoo_tensor_rank(want), 2);
    cr_expect_eq(zoo_tensor_shape(want)[1], 512);
    expect_npy_equals(yp, want, "vgg16 --pooling avg");
    zoo_tensor_free(want);
    zoo_model_free(pm);

    /* An unknown layer: exit 1 naming it, and no output. */
    char *yu = zt_path(dir, "y_unknown.npy");
    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--weights", w, "--input", x, "--output", yu,
                                      "--layer", "block9_conv7", NULL});
    cr_expect_eq(r.status, 1, "unknown layer: exit %d", r.status);
    EXPECT_MESSAGE(&r, "block9_conv7");
    zt_run_free(&r);
    cr_expect_not(zt_exists(yu));

    /* Weights for another model: exit 1, no output. */
    r = run_zoo(dir, (const char *[]){"predict", "--model", "resnet50", "--no-top",
                                      "--weights", w, "--input", x, "--output", yu,
                                      NULL});
    cr_expect_eq(r.status, 1, "mismatched weights: exit %d", r.status);
    EXPECT_MESSAGE(&r, w);
    zt_run_free(&r);
    cr_expect_not(zt_exists(yu));

    /* An output directory that does not exist: exit 1, nothing written. */
    char *nodir = zt_path(dir, "no_such_dir/y.npy");
    r = run_zoo(dir, (const char *[]){"predict", "--model", "vgg16", "--no-top",
                                      "--weights", w, "--input", x, "--output",
                                      nodir, "--layer", "block1_pool", NULL});
    cr_expect_eq(r.status, 1, "output in a missing directory: exit %d", r.status);
    EXPECT_MESSAGE(&r, nodir);
    zt_run_free(&r);

    /* w, x, y, y_block1_pool, y_avg: nothing else (no temporaries). */
    expect_only(dir, 5);

    zoo_tensor_free(xt);
    zoo_model_free(m);
    zt_rmtree(dir);
    free(w);
    free(x);
    free(y);
    free(yl);
    free(yp);
    free(yu);
    free(nodir);
    free(dir);
}
