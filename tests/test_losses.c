/*
 * Losses and metrics. Values and gradients against PyTorch float64
 * (oracle/loss_cases.py spells out Keras 3's formulas; autograd gives the
 * gradients), a central finite-difference check of every loss's gradient,
 * metrics on batches worked out by hand (ties included), and the errors.
 */
#include "support.h"

#include <criterion/criterion.h>
#include <jansson.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCRIPT ZOO_TEST_SOURCE_DIR "/oracle/loss_cases.py"
#define CASES_ENV "ZOO_LOSS_CASES"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    zt_generate_cases_once(SCRIPT, NULL, "loss-cases", CASES_ENV);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    zt_generated_cases_cleanup(CASES_ENV);
}

static zoo_tensor *load_case_file(const char *name)
{
    char *path = zt_path(zt_cases_dir(CASES_ENV), name);
    zoo_tensor *t = zoo_npy_load(path);
    cr_assert(t, "%s: %s", path, zoo_last_error());
    free(path);
    return t;
}

static zoo_tensor *new_like(const zoo_tensor *t)
{
    zoo_tensor *n = zoo_tensor_new(zoo_tensor_rank(t), zoo_tensor_shape(t));
    cr_assert(n, "%s", zoo_last_error());
    return n;
}

/* ------------------------------------------------------------------ */
/* Against PyTorch                                                     */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    zoo_loss loss;
    double value;
    zoo_tensor *pred, *truth, *grad;
} oracle_case;

static json_t *load_manifest(void)
{
    char *path = zt_path(zt_cases_dir(CASES_ENV), "manifest.json");
    json_error_t err;
    json_t *m = json_load_file(path, 0, &err);
    cr_assert(m, "%s: %s", path, err.text);
    free(path);
    return m;
}

static oracle_case read_case(json_t *c)
{
    oracle_case oc = {0};
    oc.name = json_string_value(json_object_get(c, "name"));
    int kind = zoo_loss_parse(json_string_value(json_object_get(c, "loss")));
    cr_assert(kind >= 0, "case %s: unknown loss", oc.name);
    oc.loss.kind = (zoo_loss_kind)kind;
    oc.loss.from_logits = json_is_true(json_object_get(c, "from_logits"));
    oc.loss.label_smoothing = (float)json_number_value(json_object_get(c, "label_smoothing"));
    oc.value = json_number_value(json_object_get(c, "value"));
    oc.pred = load_case_file(json_string_value(json_object_get(c, "pred")));
    oc.truth = load_case_file(json_string_value(json_object_get(c, "true")));
    oc.grad = load_case_file(json_string_value(json_object_get(c, "grad")));
    return oc;
}

static void free_case(oracle_case *oc)
{
    zoo_tensor_free(oc->pred);
    zoo_tensor_free(oc->truth);
    zoo_tensor_free(oc->grad);
}

Test(losses, against_torch)
{
    json_t *m = load_manifest();
    json_t *cases = json_object_get(m, "cases");
    cr_assert(json_array_size(cases) >= 19, "only %zu cases", json_array_size(cases));
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        oracle_case oc = read_case(c);
        zoo_tensor *grad = new_like(oc.pred);
        double value = NAN;
        zoo_status st = zoo_loss_compute(&oc.loss, oc.pred, oc.truth, &value, grad);
        cr_expect_eq(st, ZOO_OK, "%s: %s", oc.name, zoo_last_error());
        cr_expect(fabs(value - oc.value) <= 1e-9 * fabs(oc.value) + 1e-12,
                  "%s: value %.15g, torch %.15g", oc.name, value, oc.value);
        char msg[512];
        cr_expect(zt_tensor_close(grad, oc.grad, 1e-5, 1e-7, msg, sizeof msg),
                  "%s gradient: %s", oc.name, msg);
        /* The value alone, and the gradient written over the predictions. */
        double v2 = NAN;
        cr_expect_eq(zoo_loss_compute(&oc.loss, oc.pred, oc.truth, &v2, NULL), ZOO_OK);
        cr_expect(v2 == value, "%s: %.17g without gradient, %.17g with", oc.name, v2, value);
        zoo_tensor *inplace = zoo_tensor_clone(oc.pred);
        cr_expect_eq(zoo_loss_compute(&oc.loss, inplace, oc.truth, &v2, inplace), ZOO_OK);
        cr_expect(zt_tensor_close(inplace, grad, 0, 0, msg, sizeof msg),
                  "%s, gradient in place: %s", oc.name, msg);
        zoo_tensor_free(inplace);
        zoo_tensor_free(grad);
        free_case(&oc);
    }
    json_decref(m);
}

/* ------------------------------------------------------------------ */
/* Finite differences                                                  */
/* ------------------------------------------------------------------ */

/* Central differences over every prediction, with the denominator taken
 * from the float32 values actually evaluated. Inputs keep clear of the
 * clip bounds and of MAE's kink, where the derivative jumps. */
static void fd_check(const zoo_loss *loss, zoo_tensor *pred, const zoo_tensor *truth,
                     const char *what)
{
    zoo_tensor *grad = new_like(pred);
    double v;
    cr_assert_eq(zoo_loss_compute(loss, pred, truth, &v, grad), ZOO_OK, "%s: %s", what,
                 zoo_last_error());
    float *p = zoo_tensor_data(pred);
    const float *g = zoo_tensor_cdata(grad);
    double gmax = 0;
    for (size_t i = 0; i < zoo_tensor_size(pred); i++)
        gmax = fmax(gmax, fabs(g[i]));
    cr_assert(gmax > 0, "%s: zero gradient", what);
    for (size_t i = 0; i < zoo_tensor_size(pred); i++) {
        float keep = p[i];
        double h = 1e-3 * fmax(1.0, fabs(keep)), lo, hi;
        float plus = (float)(keep + h), minus = (float)(keep - h);
        p[i] = plus;
        cr_assert_eq(zoo_loss_compute(loss, pred, truth, &hi, NULL), ZOO_OK);
        p[i] = minus;
        cr_assert_eq(zoo_loss_compute(loss, pred, truth, &lo, NULL), ZOO_OK);
        p[i] = keep;
        double fd = (hi - lo) / ((double)plus - (double)minus);
        cr_expect(fabs(fd - g[i]) <= 2e-3 * fabs(fd) + 1e-4 * gmax,
                  "%s: d/dp[%zu] = %.8g, finite difference %.8g", what, i,
                  (double)g[i], fd);
    }
    zoo_tensor_free(grad);
}

/* Probabilities in [0.1, 1) (unnormalised), logits in [-3, 3), one-hot or
 * soft labels, class indices: 3 samples x 2 positions x 5 classes. */
Test(losses, finite_differences)
{
    const int shape[] = {3, 2, 5}, lshape[] = {3, 2};
    zoo_tensor *probs = zoo_tensor_new(3, shape), *logits = zoo_tensor_new(3, shape);
    zoo_tensor *soft = zoo_tensor_new(3, shape), *onehot = zoo_tensor_new(3, shape);
    zoo_tensor *labels = zoo_tensor_new(2, lshape), *binary = zoo_tensor_new(3, shape);
    zoo_tensor *target = zoo_tensor_new(3, shape);
    zt_fill_uniform(probs, 11, 0.1f, 1.0f);
    zt_fill_uniform(logits, 12, -3.0f, 3.0f);
    zt_fill_uniform(soft, 13, 0.0f, 1.0f);
    for (int r = 0; r < 6; r++) {
        int k = (r * 3 + 1) % 5;
        zoo_tensor_data(labels)[r] = (float)k;
        zoo_tensor_data(onehot)[r * 5 + k] = 1.0f;
    }
    for (int i = 0; i < 30; i++) {
        zoo_tensor_data(binary)[i] = (float)((i * 7) % 3 == 0);
        /* MAE/MSE targets 0.1 .. 0.5 away from the prediction. */
        float off = 0.1f + 0.4f * (float)((i * 13) % 10) / 10.0f;
        zoo_tensor_data(target)[i] = zoo_tensor_cdata(logits)[i] + (i % 2 ? off : -off);
    }
    /* Probabilities for binary cross-entropy: within (0.1, 0.9). */
    zoo_tensor *bprobs = zoo_tensor_clone(probs);
    for (int i = 0; i < 30; i++)
        zoo_tensor_data(bprobs)[i] = 0.1f + 0.8f * (zoo_tensor_cdata(probs)[i] - 0.1f) / 0.9f;

    const zoo_loss cce = {ZOO_LOSS_CATEGORICAL_CROSSENTROPY, false, 0};
    const zoo_loss cce_s = {ZOO_LOSS_CATEGORICAL_CROSSENTROPY, false, 0.2f};
    const zoo_loss cce_l = {ZOO_LOSS_CATEGORICAL_CROSSENTROPY, true, 0.1f};
    const zoo_loss scce = {ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false, 0};
    const zoo_loss scce_l = {ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, true, 0};
    const zoo_loss bce = {ZOO_LOSS_BINARY_CROSSENTROPY, false, 0.1f};
    const zoo_loss bce_l = {ZOO_LOSS_BINARY_CROSSENTROPY, true, 0};
    const zoo_loss mse = {ZOO_LOSS_MEAN_SQUARED_ERROR, false, 0};
    const zoo_loss mae = {ZOO_LOSS_MEAN_ABSOLUTE_ERROR, false, 0};
    fd_check(&cce, probs, onehot, "categorical one-hot");
    fd_check(&cce_s, probs, soft, "categorical soft, smoothing");
    fd_check(&cce_l, logits, soft, "categorical logits, smoothing");
    fd_check(&scce, probs, labels, "sparse");
    fd_check(&scce_l, logits, labels, "sparse logits");
    fd_check(&bce, bprobs, binary, "binary, smoothing");
    fd_check(&bce_l, logits, soft, "binary logits");
    fd_check(&mse, logits, target, "mse");
    fd_check(&mae, logits, target, "mae");
    zoo_tensor_free(probs);
    zoo_tensor_free(logits);
    zoo_tensor_free(soft);
    zoo_tensor_free(onehot);
    zoo_tensor_free(labels);
    zoo_tensor_free(binary);
    zoo_tensor_free(target);
    zoo_tensor_free(bprobs);
}

/* ------------------------------------------------------------------ */
/* By hand                                                             */
/* ------------------------------------------------------------------ */

/* Categorical cross-entropy renormalises: (2, 1, 1) is (0.5, 0.25, 0.25),
 * so against class 0 the loss is log 2, and the gradient is
 * (g - sum(g q)) / sum(p) with g = (-2, 0, 0), sum(g q) = -1:
 * (-1/4, 1/4, 1/4). Two identical rows: the batch mean is the same and
 * each row's gradient is halved. */
Test(losses, categorical_by_hand)
{
    const float p[] = {2, 1, 1, 2, 1, 1}, y[] = {1, 0, 0, 1, 0, 0};
    zoo_tensor *pt = zt_tensor_or_die(2, (int[]){2, 3}, p);
    zoo_tensor *yt = zt_tensor_or_die(2, (int[]){2, 3}, y);
    zoo_tensor *g = new_like(pt);
    double v;
    zoo_loss l = {.kind = ZOO_LOSS_CATEGORICAL_CROSSENTROPY};
    cr_assert_eq(zoo_loss_compute(&l, pt, yt, &v, g), ZOO_OK, "%s", zoo_last_error());
    cr_expect_float_eq(v, log(2.0), 1e-12);
    const float want[] = {-0.125f, 0.125f, 0.125f, -0.125f, 0.125f, 0.125f};
    char msg[256];
    cr_expect(zt_allclose(zoo_tensor_cdata(g), want, 2, (int[]){2, 3}, 1e-6, 1e-8, msg,
                          sizeof msg), "%s", msg);
    /* Smoothing 0.3 over 3 classes: y = (0.8, 0.1, 0.1), loss
     * -(0.8 log 0.5 + 0.2 log 0.25) = 1.2 log 2. */
    l.label_smoothing = 0.3f;
    cr_assert_eq(zoo_loss_compute(&l, pt, yt, &v, NULL), ZOO_OK);
    cr_expect_float_eq(v, 1.2 * log(2.0), 1e-7);
    zoo_tensor_free(pt);
    zoo_tensor_free(yt);
    zoo_tensor_free(g);
}

/* MSE / MAE: mean over the last axis, then over the batch. p - y =
 * (1, -2 | 0, 3): MSE (5/2 + 9/2) / 2 = 3.5, gradient 2 (p - y) / 4 =
 * (0.5, -1, 0, 1.5); MAE (3/2 + 3/2) / 2 = 1.5, gradient sign / 4 with
 * sign(0) = 0. */
Test(losses, regression_by_hand)
{
    const float p[] = {1, 0, 2, 5}, y[] = {0, 2, 2, 2};
    zoo_tensor *pt = zt_tensor_or_die(2, (int[]){2, 2}, p);
    zoo_tensor *yt = zt_tensor_or_die(2, (int[]){2, 2}, y);
    zoo_tensor *g = new_like(pt);
    double v;
    char msg[256];
    zoo_loss l = {.kind = ZOO_LOSS_MEAN_SQUARED_ERROR};
    cr_assert_eq(zoo_loss_compute(&l, pt, yt, &v, g), ZOO_OK, "%s", zoo_last_error());
    cr_expect_float_eq(v, 3.5, 1e-12);
    cr_expect(zt_allclose(zoo_tensor_cdata(g), (float[]){0.5f, -1, 0, 1.5f}, 2,
                          (int[]){2, 2}, 0, 0, msg, sizeof msg), "%s", msg);
    l.kind = ZOO_LOSS_MEAN_ABSOLUTE_ERROR;
    cr_assert_eq(zoo_loss_compute(&l, pt, yt, &v, g), ZOO_OK, "%s", zoo_last_error());
    cr_expect_float_eq(v, 1.5, 1e-12);
    cr_expect(zt_allclose(zoo_tensor_cdata(g), (float[]){0.25f, -0.25f, 0, 0.25f}, 2,
                          (int[]){2, 2}, 0, 0, msg, sizeof msg), "%s", msg);
    zoo_tensor_free(pt);
    zoo_tensor_free(yt);
    zoo_tensor_free(g);
}

Test(losses, names)
{
    const char *names[] = {"categorical_crossentropy", "sparse_categorical_crossentropy",
                           "binary_crossentropy", "mean_squared_error",
                           "mean_absolute_error"};
    for (int k = 0; k < 5; k++) {
        cr_expect_str_eq(zoo_loss_name((zoo_loss_kind)k), names[k]);
        cr_expect_eq(zoo_loss_parse(names[k]), k);
    }
    cr_expect_eq(zoo_loss_parse("mse"), ZOO_LOSS_MEAN_SQUARED_ERROR);
    cr_expect_eq(zoo_loss_parse("mae"), ZOO_LOSS_MEAN_ABSOLUTE_ERROR);
    cr_expect_eq(zoo_loss_parse("SparseCategoricalCrossentropy"),
                 ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
    cr_expect_eq(zoo_loss_parse("hinge"), -1);
    cr_expect_eq(zoo_loss_parse(NULL), -1);
    cr_expect_null(zoo_loss_name((zoo_loss_kind)5));
}

/* ------------------------------------------------------------------ */
/* Loss errors                                                         */
/* ------------------------------------------------------------------ */

static void expect_loss_error(zoo_loss l, int pr, const int *ps, const float *p, int tr,
                              const int *ts, const float *t, zoo_status want,
                              const char *needle)
{
    zoo_tensor *pt = zt_tensor_or_die(pr, ps, p), *tt = zt_tensor_or_die(tr, ts, t);
    zoo_tensor *g = new_like(pt);
    for (size_t i = 0; i < zoo_tensor_size(g); i++)
        zoo_tensor_data(g)[i] = 7.0f;
    double v = 42;
    zoo_clear_error();
    cr_expect_eq(zoo_loss_compute(&l, pt, tt, &v, g), want, "want '%s', got '%s'", needle,
                 zoo_last_error());
    cr_expect(strstr(zoo_last_error(), needle), "message '%s' lacks '%s'", zoo_last_error(),
              needle);
    /* Nothing written on failure. */
    cr_expect_eq(v, 42);
    for (size_t i = 0; i < zoo_tensor_size(g); i++)
        cr_expect_eq(zoo_tensor_cdata(g)[i], 7.0f, "gradient[%zu] written", i);
    zoo_tensor_free(pt);
    zoo_tensor_free(tt);
    zoo_tensor_free(g);
}

Test(losses, errors)
{
    const float p6[] = {0.2f, 0.3f, 0.5f, 0.1f, 0.1f, 0.8f};
    const int s23[] = {2, 3}, s32[] = {3, 2}, s2[] = {2}, s21[] = {2, 1}, s22[] = {2, 2};
    const zoo_loss cce = {ZOO_LOSS_CATEGORICAL_CROSSENTROPY, false, 0};
    const zoo_loss scce = {ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false, 0};
    expect_loss_error(cce, 2, s23, p6, 2, s32, p6, ZOO_ERR_SHAPE, "(3, 2)");
    expect_loss_error(scce, 2, s23, p6, 2, s22, p6, ZOO_ERR_SHAPE, "one class index");
    /* Labels: the last row is the bad one, so nothing may be written
     * before it is found. */
    expect_loss_error(scce, 2, s23, p6, 1, s2, (float[]){0, 3}, ZOO_ERR_ARGUMENT,
                      "label 3 of row 1");
    expect_loss_error(scce, 2, s23, p6, 2, s21, (float[]){1, 1.5f}, ZOO_ERR_ARGUMENT,
                      "label 1.5");
    expect_loss_error(scce, 2, s23, p6, 1, s2, (float[]){2, -1}, ZOO_ERR_ARGUMENT,
                      "label -1");
    expect_loss_error(scce, 2, s23, p6, 1, s2, (float[]){0, NAN}, ZOO_ERR_ARGUMENT,
                      "row 1");
    expect_loss_error((zoo_loss){ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, true, 0}, 2, s23,
                      p6, 1, s2, (float[]){0, 1e9f}, ZOO_ERR_ARGUMENT, "[0, 3)");
    /* Probabilities that sum to zero cannot be renormalised. */
    expect_loss_error(cce, 2, s23, (float[]){0.2f, 0.3f, 0.5f, 0, 0, 0}, 2, s23, p6,
                      ZOO_ERR_ARGUMENT, "from_logits");
    expect_loss_error((zoo_loss){ZOO_LOSS_CATEGORICAL_CROSSENTROPY, false, 1.5f}, 2, s23, p6,
                      2, s23, p6, ZOO_ERR_ARGUMENT, "label_smoothing");
    expect_loss_error((zoo_loss){ZOO_LOSS_CATEGORICAL_CROSSENTROPY, false, -0.1f}, 2, s23,
                      p6, 2, s23, p6, ZOO_ERR_ARGUMENT, "label_smoothing");
    expect_loss_error((zoo_loss){ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, false, 0.1f}, 2,
                      s23, p6, 1, s2, (float[]){0, 1}, ZOO_ERR_ARGUMENT, "label_smoothing");
    expect_loss_error((zoo_loss){ZOO_LOSS_MEAN_SQUARED_ERROR, true, 0}, 2, s23, p6, 2, s23,
                      p6, ZOO_ERR_ARGUMENT, "from_logits");
    expect_loss_error((zoo_loss){ZOO_LOSS_MEAN_ABSOLUTE_ERROR, false, 0.1f}, 2, s23, p6, 2,
                      s23, p6, ZOO_ERR_ARGUMENT, "label_smoothing");
    expect_loss_error((zoo_loss){(zoo_loss_kind)9, false, 0}, 2, s23, p6, 2, s23, p6,
                      ZOO_ERR_ARGUMENT, "unknown loss");
    /* A class axis is needed for the categorical losses. */
    expect_loss_error(cce, 1, (int[]){6}, p6, 1, (int[]){6}, p6, ZOO_ERR_SHAPE,
                      "no class axis");
    expect_loss_error((zoo_loss){ZOO_LOSS_BINARY_CROSSENTROPY, false, 0}, 2, s23, p6, 1,
                      (int[]){6}, p6, ZOO_ERR_SHAPE, "(6,)");

    /* Gradient tensor of the wrong shape; NULL arguments. */
    zoo_tensor *pt = zt_tensor_or_die(2, s23, p6), *bad = zoo_tensor_new(2, s32);
    double v;
    cr_expect_eq(zoo_loss_compute(&cce, pt, pt, &v, bad), ZOO_ERR_SHAPE);
    cr_expect(strstr(zoo_last_error(), "gradient"), "%s", zoo_last_error());
    cr_expect_eq(zoo_loss_compute(NULL, pt, pt, &v, NULL), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_loss_compute(&cce, NULL, pt, &v, NULL), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_loss_compute(&cce, pt, NULL, &v, NULL), ZOO_ERR_ARGUMENT);
    zoo_tensor_free(pt);
    zoo_tensor_free(bad);
}

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

/* Rows: clear win (right); a tie between classes 0 and 1 with label 0
 * (argmax takes the first: right); the same tie with label 1 (wrong); a
 * clear miss; a three-way tie with label 0 (right). 3 right (taking the
 * last of tied classes would give 2). */
static const float ACC_PRED[] = {0.1f, 0.7f, 0.2f, 0.4f, 0.4f, 0.2f, 0.4f, 0.4f,
                                 0.2f, 0.2f, 0.3f, 0.5f, 0.3f, 0.3f, 0.3f};
static const float ACC_ONEHOT[] = {0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0};
static const float ACC_LABELS[] = {1, 0, 1, 1, 0};

static double count_or_die(zoo_metric m, zoo_loss_kind loss, int pr, const int *ps,
                           const float *p, int tr, const int *ts, const float *t,
                           double start)
{
    zoo_tensor *pt = zt_tensor_or_die(pr, ps, p), *tt = zt_tensor_or_die(tr, ts, t);
    double c = start;
    cr_assert_eq(zoo_metric_count(&m, loss, pt, tt, &c), ZOO_OK, "%s", zoo_last_error());
    zoo_tensor_free(pt);
    zoo_tensor_free(tt);
    return c;
}

Test(metrics, categorical_accuracy_ties)
{
    const zoo_metric acc = {ZOO_METRIC_ACCURACY, 0};
    const int s53[] = {5, 3};
    /* Adds to what *correct held. */
    cr_expect_float_eq(count_or_die(acc, ZOO_LOSS_CATEGORICAL_CROSSENTROPY, 2, s53,
                                    ACC_PRED, 2, s53, ACC_ONEHOT, 1.5),
                       4.5, 1e-12);
    cr_expect_float_eq(count_or_die(acc, ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 2, s53,
                                    ACC_PRED, 1, (int[]){5}, ACC_LABELS, 0),
                       3, 1e-12);
    cr_expect_float_eq(count_or_die(acc, ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 2, s53,
                                    ACC_PRED, 2, (int[]){5, 1}, ACC_LABELS, 0),
                       3, 1e-12);
    cr_expect_str_eq(zoo_metric_name(&acc, ZOO_LOSS_CATEGORICAL_CROSSENTROPY), "accuracy");
    cr_expect_str_eq(zoo_metric_name(&acc, ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY),
                     "accuracy");
}

/* (pred > 0.5) == label, averaged over each sample's values:
 * sample 0: 0.6 -> 1 = 1 yes, 0.5 -> 0 != 1 no, 0.2 -> 0 yes, 0.9 -> 1 yes;
 * sample 1: 0.51 yes, 0.49 -> 0 yes, 0.7 -> 1 != 0 no, 0.1 yes: 3/4 each. */
Test(metrics, binary_accuracy)
{
    const float p[] = {0.6f, 0.5f, 0.2f, 0.9f, 0.51f, 0.49f, 0.7f, 0.1f};
    const float y[] = {1, 1, 0, 1, 1, 0, 0, 0};
    const zoo_metric acc = {ZOO_METRIC_ACCURACY, 0};
    const int s24[] = {2, 4};
    for (int loss = ZOO_LOSS_BINARY_CROSSENTROPY; loss <= ZOO_LOSS_MEAN_ABSOLUTE_ERROR; loss++)
        cr_expect_float_eq(count_or_die(acc, (zoo_loss_kind)loss, 2, s24, p, 2, s24, y, 0),
                           1.5, 1e-12, "loss %d", loss);
    /* One value per sample, labels (N,) against predictions (N, 1). */
    cr_expect_float_eq(count_or_die(acc, ZOO_LOSS_BINARY_CROSSENTROPY, 2, (int[]){8, 1}, p,
                                    1, (int[]){8}, y, 0),
                       6, 1e-12);
    cr_expect_str_eq(zoo_metric_name(&acc, ZOO_LOSS_BINARY_CROSSENTROPY), "accuracy");
}

/* Top-2 with TensorFlow's in_top_k ties: right when fewer than k scores
 * beat the true one.
 *   (0.1 0.5 0.3 0.1), true 2: one higher -> right
 *   (0.3 0.3 0.3 0.1), true 1: none higher -> right (also for k = 1)
 *   (0.4 0.3 0.2 0.1), true 3: three higher -> wrong
 *   (0.2 0.2 0.2 0.4), true 0: one higher -> right (ties at the boundary)
 *   (0.9 NaN 0.0 0.1), true 0: a non-finite score -> wrong */
Test(metrics, top_k)
{
    const float p[] = {0.1f, 0.5f, 0.3f, 0.1f, 0.3f, 0.3f, 0.3f, 0.1f, 0.4f, 0.3f,
                       0.2f, 0.1f, 0.2f, 0.2f, 0.2f, 0.4f, 0.9f, NAN,  0.0f, 0.1f};
    const float labels[] = {2, 1, 3, 0, 0};
    float onehot[20] = {0};
    for (int r = 0; r < 5; r++)
        onehot[r * 4 + (int)labels[r]] = 1;
    const int s54[] = {5, 4};
    zoo_metric top2 = {ZOO_METRIC_TOP_K_ACCURACY, 2};
    cr_expect_float_eq(count_or_die(top2, ZOO_LOSS_CATEGORICAL_CROSSENTROPY, 2, s54, p, 2,
                                    s54, onehot, 0),
                       3, 1e-12);
    cr_expect_float_eq(count_or_die(top2, ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 2, s54,
                                    p, 1, (int[]){5}, labels, 0),
                       3, 1e-12);
    /* k = 1: only row 1 (a tie, none higher). */
    zoo_metric top1 = {ZOO_METRIC_TOP_K_ACCURACY, 1};
    cr_expect_float_eq(count_or_die(top1, ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 2, s54,
                                    p, 1, (int[]){5}, labels, 0),
                       1, 1e-12);
    /* k = 0 means 5: everything but the NaN row. */
    zoo_metric top5 = {ZOO_METRIC_TOP_K_ACCURACY, 0};
    cr_expect_float_eq(count_or_die(top5, ZOO_LOSS_CATEGORICAL_CROSSENTROPY, 2, s54, p, 2,
                                    s54, onehot, 0),
                       4, 1e-12);
    cr_expect_str_eq(zoo_metric_name(&top2, ZOO_LOSS_CATEGORICAL_CROSSENTROPY),
                     "top_k_categorical_accuracy");
    cr_expect_str_eq(zoo_metric_name(&top2, ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY),
                     "sparse_top_k_categorical_accuracy");
    cr_expect_null(zoo_metric_name(&(zoo_metric){(zoo_metric_kind)5, 0},
                                   ZOO_LOSS_CATEGORICAL_CROSSENTROPY));
}

/* Predictions (2 samples, 2 positions, 3 classes): sample 0 right at both
 * positions, sample 1 at one of two -> 1 + 1/2. */
Test(metrics, per_position_fraction)
{
    const float p[] = {0.8f, 0.1f, 0.1f, 0.1f, 0.1f, 0.8f, 0.1f, 0.8f, 0.1f, 0.8f, 0.1f, 0.1f};
    const float labels[] = {0, 2, 1, 2};
    const zoo_metric acc = {ZOO_METRIC_ACCURACY, 0};
    cr_expect_float_eq(count_or_die(acc, ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, 3,
                                    (int[]){2, 2, 3}, p, 2, (int[]){2, 2}, labels, 0),
                       1.5, 1e-12);
}

Test(metrics, errors)
{
    const int s43[] = {4, 3};
    zoo_tensor *p = zt_tensor_or_die(2, s43, ACC_PRED);
    zoo_tensor *bad = zt_tensor_or_die(1, (int[]){4}, (float[]){0, 1, 3, 1});
    zoo_tensor *frac = zt_tensor_or_die(1, (int[]){4}, (float[]){0, 1, 0.5f, 1});
    zoo_tensor *wrong = zt_tensor_or_die(2, (int[]){4, 2}, ACC_PRED);
    zoo_metric acc = {ZOO_METRIC_ACCURACY, 0}, topk = {ZOO_METRIC_TOP_K_ACCURACY, -1};
    double c = 1;
    cr_expect_eq(zoo_metric_count(&acc, ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, p, bad, &c),
                 ZOO_ERR_ARGUMENT);
    cr_expect(strstr(zoo_last_error(), "label 3 of row 2"), "%s", zoo_last_error());
    cr_expect_eq(zoo_metric_count(&acc, ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY, p, frac, &c),
                 ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_metric_count(&acc, ZOO_LOSS_CATEGORICAL_CROSSENTROPY, p, wrong, &c),
                 ZOO_ERR_SHAPE);
    cr_expect_eq(zoo_metric_count(&topk, ZOO_LOSS_CATEGORICAL_CROSSENTROPY, p, p, &c),
                 ZOO_ERR_ARGUMENT);
    cr_expect(strstr(zoo_last_error(), "k is -1"), "%s", zoo_last_error());
    cr_expect_eq(zoo_metric_count(&acc, (zoo_loss_kind)9, p, p, &c), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_metric_count(NULL, ZOO_LOSS_CATEGORICAL_CROSSENTROPY, p, p, &c),
                 ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_metric_count(&acc, ZOO_LOSS_CATEGORICAL_CROSSENTROPY, p, p, NULL),
                 ZOO_ERR_ARGUMENT);
    cr_expect_eq(c, 1, "a failed count changed *correct");
    zoo_tensor_free(p);
    zoo_tensor_free(bad);
    zoo_tensor_free(frac);
    zoo_tensor_free(wrong);
}
