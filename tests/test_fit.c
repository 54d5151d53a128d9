/*
 * compile / fit / evaluate end to end through the public API: whole-model
 * gradients against finite differences, learning a separable task,
 * reproducibility, freezing, validation, callbacks and failures.
 *
 * Gradients are read through the optimizer: one SGD step with learning
 * rate 1 changes each trainable weight by exactly -gradient (up to one
 * float rounding), so no private hook is needed.
 */
#include "support.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(expr) cr_assert((expr), "%s failed: %s", #expr, zoo_last_error())

/* ---- small models ---- */

/* x (5, 6, 2) -> conv 3x3 same tanh -> BN -> {1x1 conv sigmoid, identity}
 * -> add -> concat with a strided conv branch... -> GAP -> dense softmax:
 * smooth everywhere, so finite differences are valid at any point. */
static zoo_model *branching_model(unsigned long long seed)
{
    zoo_graph *g = zoo_graph_new(seed);
    zoo_sym *x = zoo_input(g, 3, (int[]){5, 6, 2}, "x");
    zoo_sym *c1 = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 4, .kernel = {3, 3},
                                                            .padding = ZOO_PAD_SAME,
                                                            .activation = ZOO_ACT_TANH,
                                                            .name = "c1"}), x);
    zoo_sym *bn = zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = "bn"}), c1);
    zoo_sym *a = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 4, .kernel = {1, 1},
                                                           .activation = ZOO_ACT_SIGMOID,
                                                           .name = "a"}), bn);
    zoo_sym *sum = zoo_apply_n(zoo_add(g, NULL), (zoo_sym *[]){bn, a}, 2);
    zoo_sym *d = zoo_apply(zoo_depthwise_conv2d(g, &(zoo_depthwise_conv2d_cfg){
                                                    .kernel = {3, 3}, .padding = ZOO_PAD_SAME,
                                                    .activation = ZOO_ACT_TANH, .name = "dw"}),
                           sum);
    zoo_sym *cat = zoo_apply_n(zoo_concatenate(g, NULL), (zoo_sym *[]){sum, d}, 2);
    zoo_sym *p = zoo_apply(zoo_global_avg_pool2d(g, NULL), cat);
    zoo_sym *y = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.units = 3,
                                                         .activation = ZOO_ACT_SOFTMAX,
                                                         .name = "predictions"}), p);
    zoo_model *m = zoo_model_new(&x, 1, &y, 1, "branching");
    zoo_graph_release(g);
    CHECK(m);
    return m;
}

static void compile_or_die(zoo_model *m, zoo_optimizer_kind opt, float lr)
{
    zoo_compile_opts c = {
        .loss = {.kind = ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        .optimizer = {.kind = opt, .learning_rate = lr},
        .metrics = {{.kind = ZOO_METRIC_ACCURACY}},
        .n_metrics = 1,
    };
    CHECK(zoo_model_compile(m, &c) == ZOO_OK);
}

typedef struct {
    zoo_tensor **w; /* every weight of the model, in layer order */
    int n;
} weights;

static weights snapshot(zoo_model *m)
{
    weights s = {calloc(256, sizeof(zoo_tensor *)), 0};
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int k = 0; k < zoo_layer_weight_count(l); k++)
            s.w[s.n++] = zoo_tensor_clone(zoo_layer_weight(l, k));
    }
    return s;
}

static void restore(zoo_model *m, const weights *s)
{
    int j = 0;
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int k = 0; k < zoo_layer_weight_count(l); k++, j++)
            memcpy(zoo_tensor_data(zoo_layer_weight(l, k)), zoo_tensor_cdata(s->w[j]),
                   zoo_tensor_size(s->w[j]) * sizeof(float));
    }
}

static void weights_free(weights *s)
{
    for (int i = 0; i < s->n; i++)
        zoo_tensor_free(s->w[i]);
    free(s->w);
}

static bool same_weights(const weights *a, const weights *b)
{
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++)
        if (zoo_tensor_size(a->w[i]) != zoo_tensor_size(b->w[i]) ||
            memcmp(zoo_tensor_cdata(a->w[i]), zoo_tensor_cdata(b->w[i]),
                   zoo_tensor_size(a->w[i]) * sizeof(float)) != 0)
            return false;
    return true;
}

static zoo_tensor *labels(const int *v, int n)
{
    zoo_tensor *y = zoo_tensor_new(1, (int[]){n});
    for (int i = 0; i < n; i++)
        zoo_tensor_data(y)[i] = (float)v[i];
    return y;
}

/* ---- gradients ---- */

Test(fit, whole_model_gradients_match_finite_differences)
{
    zoo_model *m = branching_model(7);
    compile_or_die(m, ZOO_OPT_SGD, 1.0f);
    zoo_tensor *x = zoo_tensor_new(4, (int[]){4, 5, 6, 2});
    zt_fill_uniform(x, 11, -1.5f, 1.5f);
    zoo_tensor *y = labels((int[]){0, 2, 1, 2}, 4);

    weights w0 = snapshot(m);
    double loss0;
    CHECK(zoo_model_train_on_batch(m, x, y, 1, &loss0, NULL) == ZOO_OK);
    weights w1 = snapshot(m);
    cr_assert(isfinite(loss0) && loss0 > 0.0);

    /* For each trainable weight tensor: central difference of the
     * training-mode loss along a random direction vs <gradient, v>. */
    int j = 0, checked = 0;
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int k = 0; k < zoo_layer_weight_count(l); k++, j++) {
            if (!zoo_layer_weight_trainable(l, k))
                continue;
            size_t n = zoo_tensor_size(w0.w[j]);
            zoo_tensor *v = zoo_tensor_clone(w0.w[j]);
            zt_fill_uniform(v, 100 + (unsigned long long)j, -1.0f, 1.0f);
            double dot = 0.0;
            for (size_t e = 0; e < n; e++) {
                double g = (double)zoo_tensor_cdata(w0.w[j])[e] - zoo_tensor_cdata(w1.w[j])[e];
                dot += g * zoo_tensor_cdata(v)[e];
            }
            const double h = 1e-2;
            double lp, lm;
            for (int sgn = -1; sgn <= 1; sgn += 2) {
                restore(m, &w0);
                float *d = zoo_tensor_data(zoo_layer_weight(l, k));
                for (size_t e = 0; e < n; e++)
                    d[e] += (float)(sgn * h) * zoo_tensor_cdata(v)[e];
                CHECK(zoo_model_train_on_batch(m, x, y, 1, sgn < 0 ? &lm : &lp, NULL) == ZOO_OK);
            }
            double fd = (lp - lm) / (2.0 * h);
            cr_assert(fabs(fd - dot) <= 2e-3 + 2e-2 * fabs(fd),
                      "%s/%s: finite difference %.6g, backprop %.6g", zoo_layer_name(l),
                      zoo_layer_weight_name(l, k), fd, dot);
            checked++;
            zoo_tensor_free(v);
        }
    }
    cr_assert_eq(checked, 10, "checked %d trainable tensors", checked);
    weights_free(&w0);
    weights_free(&w1);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_model_free(m);
}

/* ---- learning ---- */

/* Two Gaussian-free clusters split by x0 + x1 = 0 with a margin. */
static void separable(int n, unsigned long long seed, zoo_tensor **x, zoo_tensor **y)
{
    *x = zoo_tensor_new(2, (int[]){n, 2});
    *y = zoo_tensor_new(1, (int[]){n});
    zoo_tensor *u = zoo_tensor_new(2, (int[]){n, 2});
    zt_fill_uniform(u, seed, -1.0f, 1.0f);
    for (int i = 0; i < n; i++) {
        float a = zoo_tensor_cdata(u)[2 * i], b = zoo_tensor_cdata(u)[2 * i + 1];
        int cls = a + b > 0.0f;
        float shift = cls ? 0.3f : -0.3f; /* margin */
        zoo_tensor_data(*x)[2 * i] = a + shift;
        zoo_tensor_data(*x)[2 * i + 1] = b + shift;
        zoo_tensor_data(*y)[i] = (float)cls;
    }
    zoo_tensor_free(u);
}

static zoo_model *mlp(unsigned long long seed, float dropout)
{
    zoo_graph *g = zoo_graph_new(seed);
    zoo_layer *layers[] = {
        zoo_dense(g, &(zoo_dense_cfg){.units = 8, .activation = ZOO_ACT_TANH}),
        zoo_dropout(g, &(zoo_dropout_cfg){.rate = dropout}),
        zoo_dense(g, &(zoo_dense_cfg){.units = 2, .activation = ZOO_ACT_SOFTMAX}),
    };
    zoo_model *m = zoo_sequential(g, 1, (int[]){2}, layers, 3, "mlp");
    zoo_graph_release(g);
    CHECK(m);
    return m;
}

Test(fit, learns_a_separable_task_to_full_accuracy)
{
    zoo_tensor *x, *y;
    separable(128, 5, &x, &y);
    zoo_model *m = mlp(3, 0.0f);
    compile_or_die(m, ZOO_OPT_ADAM, 0.05f);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    CHECK(d);
    zoo_history *h = NULL;
    CHECK(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 40, .batch_size = 16, .seed = 1}, &h) == ZOO_OK);
    cr_assert_eq(zoo_history_epochs(h), 40);
    double first = zoo_history_get(h, "loss", 0), last = zoo_history_get(h, "loss", 39);
    cr_assert(last < first / 4, "loss went from %g to %g", first, last);
    double loss, acc;
    CHECK(zoo_model_evaluate(m, d, 32, 1, &loss, &acc) == ZOO_OK);
    cr_assert_eq(acc, 1.0, "accuracy %g", acc);
    /* evaluate's accuracy is the share of predict's argmax that is right. */
    zoo_tensor *p = NULL;
    CHECK(zoo_model_predict(m, &x, 1, &p, 1, NULL) == ZOO_OK);
    int right = 0;
    for (int i = 0; i < 128; i++) {
        const float *r = zoo_tensor_cdata(p) + 2 * i;
        right += (r[1] > r[0]) == (zoo_tensor_cdata(y)[i] > 0.5f);
    }
    cr_assert_eq(right, 128);
    zoo_tensor_free(p);
    zoo_history_free(h);
    zoo_dataset_free(d);
    zoo_model_free(m);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
}

static weights fit_once(unsigned long long fit_seed)
{
    zoo_tensor *x, *y;
    separable(50, 9, &x, &y);
    zoo_model *m = mlp(3, 0.3f);
    compile_or_die(m, ZOO_OPT_SGD, 0.1f);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    CHECK(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 3, .batch_size = 8, .seed = fit_seed},
                        NULL) == ZOO_OK);
    weights w = snapshot(m);
    zoo_dataset_free(d);
    zoo_model_free(m);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    return w;
}

Test(fit, a_seed_replays_shuffling_and_dropout_exactly)
{
    weights a = fit_once(42), b = fit_once(42), c = fit_once(43);
    cr_assert(same_weights(&a, &b), "two runs with seed 42 differ");
    cr_assert(!same_weights(&a, &c), "seeds 42 and 43 gave the same weights");
    weights_free(&a);
    weights_free(&b);
    weights_free(&c);
}

Test(fit, deterministic_order_and_last_smaller_batch_match_manual_sgd)
{
    /* Dense(1) with MSE and plain SGD, no shuffle, batch 4 over 6 samples:
     * two steps, the second on 2 samples; replayed by hand in double. */
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *dense = zoo_dense(g, &(zoo_dense_cfg){.units = 1});
    zoo_model *m = zoo_sequential(g, 1, (int[]){2}, &dense, 1, "lin");
    zoo_graph_release(g);
    CHECK(m);
    zoo_compile_opts c = {.loss = {.kind = ZOO_LOSS_MEAN_SQUARED_ERROR},
                          .optimizer = {.kind = ZOO_OPT_SGD, .learning_rate = 0.1f}};
    CHECK(zoo_model_compile(m, &c) == ZOO_OK);
    float xs[12] = {1, 2, -1, 0.5f, 0.3f, -2, 2, 1, -0.5f, -1, 1.5f, 0.25f};
    float ys[6] = {1, -1, 0.5f, 2, 0, 1};
    zoo_tensor *x = zoo_tensor_from(2, (int[]){6, 2}, xs);
    zoo_tensor *y = zoo_tensor_from(2, (int[]){6, 1}, ys);
    double w[2] = {zoo_tensor_cdata(zoo_layer_weight(dense, 0))[0],
                   zoo_tensor_cdata(zoo_layer_weight(dense, 0))[1]};
    double b = 0.0;
    for (int start = 0; start < 6; start += 4) {
        int n = start + 4 <= 6 ? 4 : 2;
        double gw[2] = {0, 0}, gb = 0;
        for (int i = start; i < start + n; i++) {
            double e = w[0] * xs[2 * i] + w[1] * xs[2 * i + 1] + b - ys[i];
            gw[0] += 2 * e * xs[2 * i] / n;
            gw[1] += 2 * e * xs[2 * i + 1] / n;
            gb += 2 * e / n;
        }
        w[0] -= 0.1 * gw[0];
        w[1] -= 0.1 * gw[1];
        b -= 0.1 * gb;
    }
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    CHECK(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 1, .batch_size = 4, .no_shuffle = true},
                        NULL) == ZOO_OK);
    const float *kw = zoo_tensor_cdata(zoo_layer_weight(dense, 0));
    const float *kb = zoo_tensor_cdata(zoo_layer_weight(dense, 1));
    cr_assert(fabs(kw[0] - w[0]) < 1e-5 && fabs(kw[1] - w[1]) < 1e-5 && fabs(kb[0] - b) < 1e-5,
              "got (%g, %g, %g), by hand (%g, %g, %g)", kw[0], kw[1], kb[0], w[0], w[1], b);
    zoo_dataset_free(d);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_model_free(m);
}

/* ---- freezing ---- */

Test(fit, a_frozen_base_is_bit_identical_after_training)
{
    zoo_model *m = branching_model(9);
    zoo_model_set_trainable(m, false);
    zoo_layer *top = zoo_model_get_layer(m, "predictions");
    zoo_layer_set_trainable(top, true);
    /* Trainable params: only the dense kernel and bias. */
    size_t dense_params = zoo_layer_param_count(top);
    cr_assert_eq(zoo_model_trainable_param_count(m), dense_params);
    compile_or_die(m, ZOO_OPT_ADAM, 0.01f);
    zoo_tensor *x = zoo_tensor_new(4, (int[]){10, 5, 6, 2});
    zt_fill_uniform(x, 3, -1, 1);
    zoo_tensor *y = labels((int[]){0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, 10);
    weights before = snapshot(m);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    CHECK(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 2, .batch_size = 4, .seed = 1}, NULL) ==
          ZOO_OK);
    weights after = snapshot(m);
    /* Every weight but the last layer's two is unchanged, BN statistics
     * included (a frozen BN runs in inference mode). */
    cr_assert_eq(before.n, after.n);
    for (int i = 0; i < before.n; i++) {
        bool same = memcmp(zoo_tensor_cdata(before.w[i]), zoo_tensor_cdata(after.w[i]),
                           zoo_tensor_size(before.w[i]) * sizeof(float)) == 0;
        cr_assert(i >= before.n - 2 ? !same : same, "weight %d %s", i,
                  same ? "did not change" : "changed");
    }
    weights_free(&before);
    weights_free(&after);
    zoo_dataset_free(d);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_model_free(m);
}

Test(fit, unfreeze_from_counts_trainable_params_as_keras)
{
    zoo_model *m = branching_model(1);
    CHECK(zoo_model_unfreeze_from(m, "a") == ZOO_OK);
    /* Layers from 'a' on: a (4*4+4), dw (9*4+4), predictions (8*3+3). */
    cr_assert_eq(zoo_model_trainable_param_count(m), (size_t)(20 + 40 + 27));
    cr_assert_not(zoo_layer_trainable(zoo_model_get_layer(m, "bn")));
    cr_assert(zoo_layer_trainable(zoo_model_get_layer(m, "a")));
    cr_assert_eq(zoo_model_unfreeze_from(m, "no_such_layer"), ZOO_ERR_NOT_FOUND);
    cr_assert(strstr(zoo_last_error(), "no_such_layer"));
    /* Unchanged by the failed call. */
    cr_assert_eq(zoo_model_trainable_param_count(m), (size_t)(20 + 40 + 27));
    zoo_model_free(m);
}

/* ---- validation, history, callbacks ---- */

Test(fit, validation_split_holds_out_the_last_samples)
{
    zoo_tensor *x, *y;
    separable(40, 2, &x, &y);
    zoo_model *m = mlp(4, 0.0f);
    compile_or_die(m, ZOO_OPT_ADAM, 0.01f);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    char *dir = zt_tmpdir_or_die();
    char *csv = zt_path(dir, "log.csv");
    zoo_history *h = NULL;
    CHECK(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 2, .batch_size = 8,
                                              .validation_split = 0.25f,
                                              .csv_path = csv}, &h) == ZOO_OK);
    cr_assert_eq(zoo_history_key_count(h), 4);
    /* The last 10 samples are the validation set: evaluate them alone. */
    zoo_dataset *val = zoo_dataset_slice(d, 30, 10);
    double loss, acc;
    CHECK(zoo_model_evaluate(m, val, 8, 1, &loss, &acc) == ZOO_OK);
    cr_assert(fabs(zoo_history_get(h, "val_loss", 1) - loss) < 1e-6);
    cr_assert(fabs(zoo_history_get(h, "val_accuracy", 1) - acc) < 1e-12);
    char *text = zt_read_text_or_die(csv);
    cr_assert(strncmp(text, "epoch,accuracy,loss,val_accuracy,val_loss\n0,", 44) == 0,
              "csv: %s", text);
    free(text);
    zoo_dataset_free(val);
    zoo_history_free(h);
    zoo_dataset_free(d);
    zoo_model_free(m);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zt_rmtree(dir);
    free(csv);
    free(dir);
}

Test(fit, early_stopping_follows_keras_patience_rule)
{
    zoo_tensor *x, *y;
    separable(32, 2, &x, &y);
    zoo_model *m = mlp(4, 0.0f);
    compile_or_die(m, ZOO_OPT_SGD, 0.01f);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    zoo_history *h = NULL;
    /* A min_delta nothing can beat: epoch 0 sets the best, epoch 1 does
     * not improve, patience 1 is used up -> stop after two epochs. */
    CHECK(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 10, .batch_size = 8,
                                              .early_stopping = {.enabled = true,
                                                                 .monitor = "loss",
                                                                 .min_delta = 1e9f,
                                                                 .patience = 1}},
                        &h) == ZOO_OK);
    cr_assert_eq(zoo_history_epochs(h), 2);
    zoo_history_free(h);
    /* Monitoring val_loss without validation data is refused up front. */
    cr_assert_neq(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 1,
                                                      .early_stopping = {.enabled = true}},
                                NULL), ZOO_OK);
    cr_assert(strstr(zoo_last_error(), "val_loss"), "%s", zoo_last_error());
    zoo_dataset_free(d);
    zoo_model_free(m);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
}

Test(fit, a_nan_loss_stops_with_epoch_and_batch_and_keeps_weights)
{
    zoo_tensor *x, *y;
    separable(24, 2, &x, &y);
    zoo_tensor_data(x)[2 * 13] = NAN; /* sample 13: epoch 1, batch 2 of 3 */
    zoo_model *m = mlp(4, 0.0f);
    compile_or_die(m, ZOO_OPT_SGD, 0.01f);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    zoo_history *h = NULL;
    zoo_status st = zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 2, .batch_size = 8,
                                                        .no_shuffle = true}, &h);
    cr_assert_neq(st, ZOO_OK);
    cr_assert(strstr(zoo_last_error(), "NaN at epoch 1, batch 2 of 3"), "%s", zoo_last_error());
    cr_assert_eq(zoo_history_epochs(h), 0);
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *l = zoo_model_layer(m, i);
        for (int k = 0; k < zoo_layer_weight_count(l); k++) {
            const zoo_tensor *w = zoo_layer_weight(l, k);
            for (size_t e = 0; e < zoo_tensor_size(w); e++)
                cr_assert(isfinite(zoo_tensor_cdata(w)[e]));
        }
    }
    zoo_history_free(h);
    zoo_dataset_free(d);
    zoo_model_free(m);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
}

Test(fit, refuses_uncompiled_models_and_bad_options)
{
    zoo_model *m = mlp(1, 0.0f);
    zoo_tensor *x, *y;
    separable(8, 1, &x, &y);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    cr_assert_neq(zoo_model_fit(m, d, NULL, NULL), ZOO_OK);
    cr_assert(strstr(zoo_last_error(), "not compiled"), "%s", zoo_last_error());
    compile_or_die(m, ZOO_OPT_SGD, 0.0f);
    cr_assert_neq(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = -1}, NULL), ZOO_OK);
    cr_assert_neq(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 1, .validation_split = 1.0f},
                                NULL), ZOO_OK);
    /* Samples whose shape does not fit the input. */
    zoo_tensor *bad = zoo_tensor_new(2, (int[]){8, 3});
    zoo_dataset *bd = zoo_dataset_from_tensors(bad, y);
    cr_assert_eq(zoo_model_fit(m, bd, &(zoo_fit_opts){.epochs = 1}, NULL), ZOO_ERR_SHAPE);
    zoo_dataset_free(bd);
    zoo_tensor_free(bad);
    zoo_dataset_free(d);
    zoo_model_free(m);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
}

Test(fit, reduce_lr_on_plateau_and_best_checkpoint)
{
    zoo_tensor *x, *y;
    separable(32, 2, &x, &y);
    zoo_model *m = mlp(4, 0.0f);
    compile_or_die(m, ZOO_OPT_SGD, 0.1f);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    char *dir = zt_tmpdir_or_die();
    char *best = zt_path(dir, "best.h5");
    zoo_history *h = NULL;
    /* Nothing counts as an improvement after epoch 0, patience 1: Keras
     * logs the rate, then cuts it by the factor at epochs 1, 2 and 3. */
    CHECK(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 4, .batch_size = 8, .no_shuffle = true,
                                              .reduce_lr = {.enabled = true, .monitor = "loss",
                                                            .factor = 0.5f, .patience = 1,
                                                            .min_delta = 1e9f},
                                              .checkpoint = {.enabled = true, .path = best,
                                                             .monitor = "loss",
                                                             .save_best_only = true}},
                        &h) == ZOO_OK);
    const double want[4] = {0.1, 0.1, 0.05, 0.025};
    for (int e = 0; e < 4; e++)
        cr_assert(fabs(zoo_history_get(h, "learning_rate", e) - want[e]) < 1e-7,
                  "epoch %d: learning rate %g, want %g", e,
                  zoo_history_get(h, "learning_rate", e), want[e]);
    /* The loss falls every epoch here, so the best checkpoint is the last
     * epoch's model: it predicts exactly what the model does now. */
    for (int e = 1; e < 4; e++)
        cr_assert(zoo_history_get(h, "loss", e) < zoo_history_get(h, "loss", e - 1));
    zoo_model *saved = zoo_model_load(best);
    CHECK(saved);
    zoo_tensor *p = NULL, *q = NULL;
    CHECK(zoo_model_predict(m, &x, 1, &p, 1, NULL) == ZOO_OK);
    CHECK(zoo_model_predict(saved, &x, 1, &q, 1, NULL) == ZOO_OK);
    cr_assert(memcmp(zoo_tensor_cdata(p), zoo_tensor_cdata(q),
                     zoo_tensor_size(p) * sizeof(float)) == 0);
    zoo_tensor_free(p);
    zoo_tensor_free(q);
    zoo_model_free(saved);
    zoo_history_free(h);
    zoo_dataset_free(d);
    zoo_model_free(m);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zt_rmtree(dir);
    free(best);
    free(dir);
}

/* verbose 2 prints Keras's epoch lines; verbose 1 draws a bar only on a
 * terminal, so into a file it prints nothing. */
Test(fit, progress_lines_follow_verbose)
{
    zoo_tensor *x, *y;
    separable(20, 2, &x, &y);
    zoo_model *m = mlp(4, 0.0f);
    compile_or_die(m, ZOO_OPT_SGD, 0.1f);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "progress.txt");
    for (int verbose = 1; verbose <= 2; verbose++) {
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        CHECK(zoo_model_fit(m, d, &(zoo_fit_opts){.epochs = 2, .batch_size = 8,
                                                  .verbose = verbose, .log = f}, NULL) == ZOO_OK);
        fclose(f);
        char *text = zt_read_text_or_die(path);
        if (verbose == 1) {
            cr_assert_str_empty(text);
        } else {
            cr_assert(strncmp(text, "Epoch 1/2\n3/3 - ", 16) == 0, "%s", text);
            cr_assert(strstr(text, "Epoch 2/2\n3/3 - "), "%s", text);
            cr_assert(strstr(text, "/step - accuracy: "), "%s", text);
            cr_assert(strstr(text, " - loss: "), "%s", text);
        }
        free(text);
    }
    zt_rmtree(dir);
    free(path);
    free(dir);
    zoo_dataset_free(d);
    zoo_model_free(m);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
}

Test(fit, subsets_and_slices_read_the_samples_they_name)
{
    float xs[8] = {0, 1, 10, 11, 20, 21, 30, 31}, ys[4] = {0, 1, 2, 3};
    zoo_tensor *x = zoo_tensor_from(2, (int[]){4, 2}, xs);
    zoo_tensor *y = zoo_tensor_from(1, (int[]){4}, ys);
    zoo_dataset *d = zoo_dataset_from_tensors(x, y);
    zoo_dataset *sub = zoo_dataset_subset(d, (int[]){3, 0, 2}, 3);
    zoo_dataset *sl = zoo_dataset_slice(sub, 1, 2); /* samples 0 and 2 of d */
    CHECK(sub && sl);
    cr_assert_eq(sub->count, 3);
    float bx[4], by[2];
    int kept = 0;
    zoo_load_ctx lc = {0};
    CHECK(sl->load(sl->ctx, (int[]){1, 0}, 2, bx, by, &kept, &lc) == ZOO_OK);
    cr_assert_eq(kept, 2);
    const float want_x[4] = {20, 21, 0, 1}, want_y[2] = {2, 0};
    cr_assert(memcmp(bx, want_x, sizeof bx) == 0 && memcmp(by, want_y, sizeof by) == 0,
              "got x (%g %g %g %g) y (%g %g)", bx[0], bx[1], bx[2], bx[3], by[0], by[1]);
    cr_assert_null(zoo_dataset_subset(d, (int[]){4}, 1));
    cr_assert(strstr(zoo_last_error(), "outside"), "%s", zoo_last_error());
    cr_assert_null(zoo_dataset_slice(d, 3, 2));
    zoo_dataset_free(sl);
    zoo_dataset_free(sub);
    zoo_dataset_free(d);
    zoo_tensor_free(x);
    zoo_tensor_free(y);
}
