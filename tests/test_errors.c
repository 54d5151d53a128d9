/*
 * Error paths: bad arguments, bad configurations, shape mismatches, bad
 * inputs to predict and bad .npy files must give NULL or a non-OK status
 * with a message in zoo_last_error(), never a crash.
 */
#include "support.h"

#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The last call failed with a message (checked after a NULL/non-OK). */
#define EXPECT_ERROR(what)                                                   \
    do {                                                                     \
        cr_expect(zoo_last_error()[0] != '\0',                               \
                  "%s: failed but zoo_last_error() is empty", what);         \
        cr_expect(zoo_last_status() != ZOO_OK,                               \
                  "%s: failed but zoo_last_status() is ZOO_OK", what);      \
    } while (0)

#define EXPECT_NULL_WITH_ERROR(expr)                                         \
    do {                                                                     \
        zoo_clear_error();                                                   \
        const void *p_ = (const void *)(expr);                               \
        cr_expect(p_ == NULL, "%s should fail", #expr);                      \
        if (!p_)                                                             \
            EXPECT_ERROR(#expr);                                             \
    } while (0)

#define EXPECT_STATUS_ERROR(expr)                                            \
    do {                                                                     \
        zoo_clear_error();                                                   \
        zoo_status s_ = (expr);                                              \
        cr_expect(s_ != ZOO_OK, "%s should fail", #expr);                    \
        if (s_ != ZOO_OK)                                                    \
            EXPECT_ERROR(#expr);                                             \
    } while (0)

/* ------------------------------------------------------------------ */
/* Status names and the error state                                    */
/* ------------------------------------------------------------------ */

Test(errors, status_names_and_clear)
{
    for (int s = ZOO_OK; s <= ZOO_ERR_INTERNAL; s++) {
        const char *n = zoo_status_name((zoo_status)s);
        cr_expect(n && *n, "status %d has no name", s);
    }
    cr_expect_str_eq(zoo_status_name(ZOO_ERR_SHAPE), "shape mismatch");
    zoo_error(ZOO_ERR_IO, "disk %s", "gone");
    cr_expect_str_eq(zoo_last_error(), "disk gone");
    cr_expect_eq(zoo_last_status(), ZOO_ERR_IO);
    zoo_clear_error();
    cr_expect_str_eq(zoo_last_error(), "");
    cr_expect_eq(zoo_last_status(), ZOO_OK);
}

/* ------------------------------------------------------------------ */
/* Tensors                                                             */
/* ------------------------------------------------------------------ */

Test(errors, tensor_bad_arguments)
{
    int shape[] = {2, 3};
    EXPECT_NULL_WITH_ERROR(zoo_tensor_new(0, shape));
    EXPECT_NULL_WITH_ERROR(zoo_tensor_new(-1, shape));
    EXPECT_NULL_WITH_ERROR(zoo_tensor_new(ZOO_MAX_RANK + 1,
                                          (int[]){1, 1, 1, 1, 1, 1, 1}));
    EXPECT_NULL_WITH_ERROR(zoo_tensor_new(2, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_tensor_new(2, (int[]){2, 0}));
    EXPECT_NULL_WITH_ERROR(zoo_tensor_new(2, (int[]){-3, 2}));
    EXPECT_NULL_WITH_ERROR(zoo_tensor_new(3, (int[]){1 << 30, 1 << 30, 1 << 30}));
    EXPECT_NULL_WITH_ERROR(zoo_tensor_from(2, shape, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_tensor_clone(NULL));
    zoo_tensor_free(NULL);
    cr_expect_eq(zoo_tensor_size(NULL), 0);
    cr_expect_null(zoo_tensor_data(NULL));
    cr_expect_null(zoo_tensor_cdata(NULL));
    cr_expect_null(zoo_tensor_shape(NULL));
}

Test(errors, shape_format)
{
    char buf[64];
    cr_expect_str_eq(zoo_shape_format(4, (int[]){-1, 7, 7, 512}, buf, sizeof buf),
                     "(None, 7, 7, 512)");
    cr_expect_str_eq(zoo_shape_format(2, (int[]){-1, 10}, buf, sizeof buf),
                     "(None, 10)");
}

/* ------------------------------------------------------------------ */
/* Graph building                                                      */
/* ------------------------------------------------------------------ */

Test(errors, input_bad_arguments)
{
    zoo_graph *g = zoo_graph_new(1);
    cr_assert_not_null(g);
    EXPECT_NULL_WITH_ERROR(zoo_input(NULL, 3, (int[]){4, 4, 3}, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_input(g, 0, (int[]){4}, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_input(g, 3, NULL, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_input(g, ZOO_MAX_RANK, (int[]){1, 1, 1, 1, 1, 1}, NULL));
    /* the last axis must be known */
    EXPECT_NULL_WITH_ERROR(zoo_input(g, 3, (int[]){4, 4, -1}, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_input(g, 3, (int[]){4, 0, 3}, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_input(g, 3, (int[]){-2, 4, 3}, NULL));
    zoo_graph_release(g);
    zoo_graph_release(NULL);
}

Test(errors, constructors_with_null_graph)
{
    EXPECT_NULL_WITH_ERROR(zoo_conv2d(NULL, &(zoo_conv2d_cfg){.filters = 1, .kernel = {1, 1}}));
    EXPECT_NULL_WITH_ERROR(zoo_dense(NULL, &(zoo_dense_cfg){.units = 1}));
    EXPECT_NULL_WITH_ERROR(zoo_batch_norm(NULL, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_add(NULL, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_flatten(NULL, NULL));
}

Test(errors, apply_null_arguments)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *x = zoo_input(g, 3, (int[]){4, 4, 3}, NULL);
    cr_assert_not_null(x, "%s", zoo_last_error());
    zoo_layer *relu = zoo_activation_layer(g, &(zoo_activation_cfg){.activation = ZOO_ACT_RELU});
    cr_assert_not_null(relu, "%s", zoo_last_error());
    zoo_layer *add = zoo_add(g, NULL);
    cr_assert_not_null(add, "%s", zoo_last_error());

    EXPECT_NULL_WITH_ERROR(zoo_apply(NULL, x));
    EXPECT_NULL_WITH_ERROR(zoo_apply(relu, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(add, NULL, 2));
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(add, (zoo_sym *[]){x, NULL}, 2));
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(add, (zoo_sym *[]){x}, 0));
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(add, (zoo_sym *[]){x}, -1));
    /* wrong number of inputs for the layer kind */
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(relu, (zoo_sym *[]){x, x}, 2));
    EXPECT_NULL_WITH_ERROR(zoo_apply(add, x));
    zoo_graph_release(g);
}

/* A NULL in a chain keeps the first error (the header's promise). */
Test(errors, first_error_survives_a_chain)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *x = zoo_input(g, 3, (int[]){8, 8, 3}, NULL);
    cr_assert_not_null(x);
    zoo_clear_error();
    zoo_sym *y = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 0,
                                                          .kernel = {3, 3}}),
                           x);
    cr_expect_null(y);
    char first[1024];
    snprintf(first, sizeof first, "%s", zoo_last_error());
    cr_expect(first[0] != '\0', "filters = 0 gave no message");
    y = zoo_apply(zoo_activation_layer(g, &(zoo_activation_cfg){.activation = ZOO_ACT_RELU}), y);
    y = zoo_apply(zoo_flatten(g, NULL), y);
    cr_expect_null(y);
    cr_expect_str_eq(zoo_last_error(), first,
                     "the chain overwrote the first error");
    zoo_graph_release(g);
}

Test(errors, add_shape_mismatch_names_both_shapes)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *a = zoo_input(g, 3, (int[]){7, 7, 512}, NULL);
    zoo_sym *b = zoo_input(g, 3, (int[]){7, 7, 256}, NULL);
    cr_assert(a && b, "%s", zoo_last_error());
    zoo_clear_error();
    zoo_sym *s = zoo_apply_n(zoo_add(g, NULL), (zoo_sym *[]){a, b}, 2);
    cr_expect_null(s);
    const char *msg = zoo_last_error();
    cr_expect(strstr(msg, "(None, 7, 7, 512)") != NULL,
              "message does not name the first shape: \"%s\"", msg);
    cr_expect(strstr(msg, "(None, 7, 7, 256)") != NULL,
              "message does not name the second shape: \"%s\"", msg);
    cr_expect_eq(zoo_last_status(), ZOO_ERR_SHAPE, "status %s",
                 zoo_status_name(zoo_last_status()));
    zoo_graph_release(g);
}

Test(errors, bad_configs)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *x = zoo_input(g, 3, (int[]){4, 6, 3}, NULL);
    cr_assert_not_null(x);

    /* Constructors may reject these right away or on the first call; either
     * way the result must be NULL with a message. */
#define EXPECT_LAYER_FAILS(ctor_call)                                        \
    do {                                                                     \
        zoo_clear_error();                                                   \
        zoo_layer *l_ = (ctor_call);                                         \
        zoo_sym *y_ = l_ ? zoo_apply(l_, x) : NULL;                          \
        cr_expect(y_ == NULL, "%s accepted", #ctor_call);                    \
        if (!y_)                                                             \
            EXPECT_ERROR(#ctor_call);                                        \
    } while (0)

    EXPECT_LAYER_FAILS(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 0, .kernel = {3, 3}}));
    EXPECT_LAYER_FAILS(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = -4, .kernel = {3, 3}}));
    EXPECT_LAYER_FAILS(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 2, .kernel = {3, 3},
                                                      .strides = {-1, 1}}));
    EXPECT_LAYER_FAILS(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 2, .kernel = {-3, 3}}));
    EXPECT_LAYER_FAILS(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 2, .kernel = {3, 3},
                                                      .dilation = {-2, -2}}));
    /* 'valid' with a kernel larger than the input: no output pixels */
    EXPECT_LAYER_FAILS(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 2, .kernel = {5, 5}}));
    EXPECT_LAYER_FAILS(zoo_depthwise_conv2d(g, &(zoo_depthwise_conv2d_cfg){
                                                   .kernel = {3, 3},
                                                   .depth_multiplier = -1}));
    EXPECT_LAYER_FAILS(zoo_separable_conv2d(g, &(zoo_separable_conv2d_cfg){
                                                   .filters = 0, .kernel = {3, 3}}));
    EXPECT_LAYER_FAILS(zoo_dense(g, &(zoo_dense_cfg){.units = 0}));
    EXPECT_LAYER_FAILS(zoo_dense(g, &(zoo_dense_cfg){.units = -5}));
    EXPECT_LAYER_FAILS(zoo_dropout(g, &(zoo_dropout_cfg){.rate = 1.5f}));
    EXPECT_LAYER_FAILS(zoo_dropout(g, &(zoo_dropout_cfg){.rate = -0.1f}));
    EXPECT_LAYER_FAILS(zoo_dropout(g, &(zoo_dropout_cfg){.rate = NAN}));
    EXPECT_LAYER_FAILS(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.pool = {-2, 2}}));
    EXPECT_LAYER_FAILS(zoo_avg_pool2d(g, &(zoo_pool2d_cfg){.pool = {2, 2},
                                                          .strides = {0, -1}}));
    /* pool larger than the input, 'valid' */
    EXPECT_LAYER_FAILS(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.pool = {5, 5}}));
    EXPECT_LAYER_FAILS(zoo_relu(g, &(zoo_relu_cfg){.negative_slope = -1}));
    EXPECT_LAYER_FAILS(zoo_activation_layer(g, &(zoo_activation_cfg){
                                                   .activation = (zoo_activation)99}));
    /* 4*6*3 = 72 values cannot become 5*5 */
    EXPECT_LAYER_FAILS(zoo_reshape(g, &(zoo_reshape_cfg){.rank = 2, .shape = {5, 5}}));
    /* 72 is not a multiple of 5 */
    EXPECT_LAYER_FAILS(zoo_reshape(g, &(zoo_reshape_cfg){.rank = 2, .shape = {-1, 5}}));
    EXPECT_LAYER_FAILS(zoo_reshape(g, &(zoo_reshape_cfg){.rank = 2, .shape = {-1, -1}}));
    EXPECT_LAYER_FAILS(zoo_reshape(g, &(zoo_reshape_cfg){.rank = 0}));
    EXPECT_LAYER_FAILS(zoo_reshape(g, &(zoo_reshape_cfg){.rank = 2, .shape = {0, 72}}));
    /* cropping that leaves nothing (4 rows - 2 - 2) */
    EXPECT_LAYER_FAILS(zoo_cropping2d(g, &(zoo_cropping2d_cfg){.crop = {2, 2, 0, 0}}));
    EXPECT_LAYER_FAILS(zoo_cropping2d(g, &(zoo_cropping2d_cfg){.crop = {0, 0, 4, 4}}));
    EXPECT_LAYER_FAILS(zoo_cropping2d(g, &(zoo_cropping2d_cfg){.crop = {-1, 0, 0, 0}}));
    EXPECT_LAYER_FAILS(zoo_zero_padding2d(g, &(zoo_padding2d_cfg){.pad = {0, -1, 0, 0}}));
#undef EXPECT_LAYER_FAILS
    zoo_graph_release(g);
}

Test(errors, spatial_layers_need_rank4)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *v = zoo_input(g, 1, (int[]){10}, NULL);
    cr_assert_not_null(v);
    EXPECT_NULL_WITH_ERROR(zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 2, .kernel = {1, 1}}), v));
    EXPECT_NULL_WITH_ERROR(zoo_apply(zoo_max_pool2d(g, NULL), v));
    EXPECT_NULL_WITH_ERROR(zoo_apply(zoo_global_avg_pool2d(g, NULL), v));
    EXPECT_NULL_WITH_ERROR(zoo_apply(zoo_zero_padding2d(g, NULL), v));
    zoo_graph_release(g);
}

Test(errors, concatenate_mismatch)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *a = zoo_input(g, 3, (int[]){4, 4, 3}, NULL);
    zoo_sym *b = zoo_input(g, 3, (int[]){5, 4, 3}, NULL);
    zoo_sym *c = zoo_input(g, 2, (int[]){4, 3}, NULL);
    cr_assert(a && b && c);
    /* channels axis: the other axes (4 vs 5 rows) must agree */
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(zoo_concatenate(g, NULL), (zoo_sym *[]){a, b}, 2));
    /* different ranks */
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(zoo_concatenate(g, NULL), (zoo_sym *[]){a, c}, 2));
    /* axis out of range */
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.axis = 4}),
                                       (zoo_sym *[]){a, a}, 2));
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.axis = -5}),
                                       (zoo_sym *[]){a, a}, 2));
    /* along rows it works: 4 + 5 */
    zoo_clear_error();
    zoo_sym *ok = zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.axis = 1}),
                              (zoo_sym *[]){a, b}, 2);
    cr_expect_not_null(ok, "%s", zoo_last_error());
    if (ok)
        cr_expect_eq(zoo_sym_shape(ok)[1], 9);
    /* Multiply and ScaledSum check shapes like Add */
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(zoo_multiply(g, NULL), (zoo_sym *[]){a, b}, 2));
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(zoo_scaled_sum(g, &(zoo_scaled_sum_cfg){.scale = 1}),
                                       (zoo_sym *[]){a, b}, 2));
    EXPECT_NULL_WITH_ERROR(zoo_apply_n(zoo_scaled_sum(g, &(zoo_scaled_sum_cfg){.scale = 1}),
                                       (zoo_sym *[]){a, a, a}, 3));
    zoo_graph_release(g);
}

/* A shared layer called on an incompatible second input must refuse:
 * its kernel was built for 3 input channels. */
Test(errors, shared_layer_incompatible_second_call)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_layer *conv = zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 2, .kernel = {3, 3}});
    zoo_sym *a = zoo_input(g, 3, (int[]){8, 8, 3}, NULL);
    zoo_sym *b = zoo_input(g, 3, (int[]){8, 8, 4}, NULL);
    cr_assert_not_null(zoo_apply(conv, a), "%s", zoo_last_error());
    EXPECT_NULL_WITH_ERROR(zoo_apply(conv, b));
    zoo_graph_release(g);
}

Test(errors, activation_parse)
{
    cr_expect_eq(zoo_activation_parse("relu"), ZOO_ACT_RELU);
    cr_expect_eq(zoo_activation_parse("softmax"), ZOO_ACT_SOFTMAX);
    cr_expect_eq(zoo_activation_parse("linear"), ZOO_ACT_LINEAR);
    cr_expect_eq(zoo_activation_parse("no-such-activation"), -1);
    cr_expect_eq(zoo_activation_parse(""), -1);
    cr_expect_eq(zoo_activation_parse(NULL), -1);
}

/* ------------------------------------------------------------------ */
/* Models and predict                                                  */
/* ------------------------------------------------------------------ */

/* Input(4, 4, 3) -> Conv2D(2, 3x3, same) */
static zoo_model *small_model(zoo_graph *g)
{
    zoo_sym *x = zoo_input(g, 3, (int[]){4, 4, 3}, "img");
    zoo_sym *y = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 2,
                                                          .kernel = {3, 3},
                                                          .padding = ZOO_PAD_SAME}),
                           x);
    zoo_model *m = zoo_model_new(&x, 1, &y, 1, "small");
    cr_assert_not_null(m, "%s", zoo_last_error());
    return m;
}

Test(errors, model_new_bad_arguments)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *x = zoo_input(g, 1, (int[]){4}, NULL);
    zoo_sym *y = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.units = 2}), x);
    cr_assert(x && y, "%s", zoo_last_error());
    EXPECT_NULL_WITH_ERROR(zoo_model_new(NULL, 1, &y, 1, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_model_new(&x, 1, NULL, 1, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_model_new(&x, 0, &y, 1, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_model_new(&x, 1, &y, 0, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_model_new((zoo_sym *[]){NULL}, 1, &y, 1, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_model_new(&x, 1, (zoo_sym *[]){NULL}, 1, NULL));
    EXPECT_NULL_WITH_ERROR(zoo_sequential(NULL, 1, (int[]){4}, NULL, 0, NULL));
    zoo_graph_release(g);
}

/* Keras: "Graph disconnected" when an output does not come from the
 * model's inputs. */
Test(errors, model_output_not_from_input)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *x = zoo_input(g, 1, (int[]){4}, "x");
    zoo_sym *other = zoo_input(g, 1, (int[]){4}, "other");
    zoo_sym *y = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.units = 2}), other);
    cr_assert(x && other && y, "%s", zoo_last_error());
    EXPECT_NULL_WITH_ERROR(zoo_model_new(&x, 1, &y, 1, "disconnected"));
    /* an output that needs two inputs, given only one of them */
    zoo_sym *sum = zoo_apply_n(zoo_add(g, NULL), (zoo_sym *[]){x, other}, 2);
    cr_assert_not_null(sum, "%s", zoo_last_error());
    EXPECT_NULL_WITH_ERROR(zoo_model_new(&x, 1, &sum, 1, "half"));
    zoo_graph_release(g);
}

Test(errors, predict_bad_arguments)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_model *m = small_model(g);
    zoo_graph_release(g);
    zoo_tensor *x = zt_tensor_or_die(4, (int[]){1, 4, 4, 3}, NULL);
    zoo_tensor *y = NULL;

    EXPECT_STATUS_ERROR(zoo_model_predict(NULL, &x, 1, &y, 1, NULL));
    EXPECT_STATUS_ERROR(zoo_model_predict(m, NULL, 1, &y, 1, NULL));
    EXPECT_STATUS_ERROR(zoo_model_predict(m, (zoo_tensor *[]){NULL}, 1, &y, 1, NULL));
    EXPECT_STATUS_ERROR(zoo_model_predict(m, &x, 1, NULL, 1, NULL));
    EXPECT_STATUS_ERROR(zoo_model_predict(m, &x, 0, &y, 1, NULL));
    EXPECT_STATUS_ERROR(zoo_model_predict(m, (zoo_tensor *[]){x, x}, 2, &y, 1, NULL));
    zoo_tensor *ys[2] = {NULL, NULL};
    EXPECT_STATUS_ERROR(zoo_model_predict(m, &x, 1, ys, 2, NULL));
    EXPECT_STATUS_ERROR(zoo_model_predict(m, &x, 1, &y, 0, NULL));
    cr_expect_null(y, "a failed predict returned an output");
    cr_expect_null(ys[0]);
    cr_expect_null(ys[1]);

    /* and it still works afterwards */
    zoo_clear_error();
    cr_expect_eq(zoo_model_predict(m, &x, 1, &y, 1, NULL), ZOO_OK, "%s",
                 zoo_last_error());
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_model_free(m);
}

Test(errors, predict_wrong_input_shapes)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_model *m = small_model(g);
    zoo_graph_release(g);
    struct {
        const char *what;
        int rank;
        int shape[5];
    } bad[] = {
        {"2 channels instead of 3", 4, {1, 4, 4, 2}},
        {"4 channels instead of 3", 4, {2, 4, 4, 4}},
        {"rank 3 (no batch axis)", 3, {4, 4, 3}},
        {"rank 5", 5, {1, 1, 4, 4, 3}},
        {"5 rows instead of 4", 4, {1, 5, 4, 3}},
        {"3 columns instead of 4", 4, {1, 4, 3, 3}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        zoo_tensor *x = zt_tensor_or_die(bad[i].rank, bad[i].shape, NULL);
        zoo_tensor *y = NULL;
        zoo_clear_error();
        zoo_status st = zoo_model_predict(m, &x, 1, &y, 1, NULL);
        cr_expect_neq(st, ZOO_OK, "predict accepted %s", bad[i].what);
        cr_expect_null(y, "%s: output returned on failure", bad[i].what);
        cr_expect(zoo_last_error()[0] != '\0', "%s: no message", bad[i].what);
        zoo_tensor_free(y);
        zoo_tensor_free(x);
    }
    zoo_model_free(m);
}

/* Unknown spatial dims accept any size, but the channel count is fixed. */
Test(errors, predict_unknown_spatial_dims)
{
    zoo_graph *g = zoo_graph_new(1);
    zoo_sym *x = zoo_input(g, 3, (int[]){-1, -1, 3}, NULL);
    zoo_sym *y = zoo_apply(zoo_global_avg_pool2d(g, NULL),
                           zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 2,
                                                                    .kernel = {3, 3}}),
                                     x));
    cr_assert_not_null(y, "%s", zoo_last_error());
    zoo_model *m = zoo_model_new(&x, 1, &y, 1, NULL);
    cr_assert_not_null(m, "%s", zoo_last_error());
    zoo_graph_release(g);

    zoo_tensor *in = zt_tensor_or_die(4, (int[]){2, 5, 7, 3}, NULL);
    zoo_tensor *out = NULL;
    cr_expect_eq(zoo_model_predict(m, &in, 1, &out, 1, NULL), ZOO_OK, "%s",
                 zoo_last_error());
    if (out) {
        cr_expect_eq(zoo_tensor_rank(out), 2);
        cr_expect_eq(zoo_tensor_shape(out)[0], 2);
        cr_expect_eq(zoo_tensor_shape(out)[1], 2);
    }
    zoo_tensor_free(out);
    zoo_tensor_free(in);
    out = NULL;

    /* too small for a 3x3 'valid' conv: the run-time shape check must
     * refuse, not crash */
    in = zt_tensor_or_die(4, (int[]){1, 2, 7, 3}, NULL);
    EXPECT_STATUS_ERROR(zoo_model_predict(m, &in, 1, &out, 1, NULL));
    cr_expect_null(out);
    zoo_tensor_free(in);

    in = zt_tensor_or_die(4, (int[]){1, 5, 5, 1}, NULL);
    EXPECT_STATUS_ERROR(zoo_model_predict(m, &in, 1, &out, 1, NULL));
    cr_expect_null(out);
    zoo_tensor_free(in);
    zoo_model_free(m);
}

/* ------------------------------------------------------------------ */
/* .npy files                                                          */
/* ------------------------------------------------------------------ */

/* A v1.0 .npy image: header dict padded to 64 bytes, then `data`. */
static size_t make_npy(unsigned char *buf, size_t cap, const char *dict,
                       const void *data, size_t data_len)
{
    size_t dl = strlen(dict);
    size_t total = (10 + dl + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    cr_assert(total + data_len <= cap);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, dl);
    memset(buf + 10 + dl, ' ', hlen - dl - 1);
    buf[total - 1] = '\n';
    if (data_len)
        memcpy(buf + total, data, data_len);
    return total + data_len;
}

#define F4_DICT_2x3 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"

static const float six[6] = {1, 2, 3, 4, 5, 6};

/* Loads bytes written to dir/name; expects failure with `needle` (if not
 * NULL) and the path in the message. */
static void expect_npy_fails(const char *dir, const char *name,
                             const void *bytes, size_t n, const char *needle)
{
    char *path = zt_path(dir, name);
    cr_assert(zt_write_file(path, bytes, n), "cannot write %s", path);
    zoo_clear_error();
    zoo_tensor *t = zoo_npy_load(path);
    cr_expect_null(t, "%s: loaded a bad file", name);
    zoo_tensor_free(t);
    const char *msg = zoo_last_error();
    cr_expect(strstr(msg, path) != NULL, "%s: message does not name the path: \"%s\"",
              name, msg);
    if (needle)
        cr_expect(strstr(msg, needle) != NULL,
                  "%s: message lacks \"%s\": \"%s\"", name, needle, msg);
    cr_expect_neq(zoo_last_status(), ZOO_OK);
    free(path);
}

Test(npy, good_file_loads)
{
    char *dir = zt_tmpdir_or_die();
    unsigned char buf[256];
    size_t n = make_npy(buf, sizeof buf, F4_DICT_2x3, six, sizeof six);
    char *path = zt_path(dir, "good.npy");
    cr_assert(zt_write_file(path, buf, n));
    zoo_tensor *t = zoo_npy_load(path);
    cr_assert_not_null(t, "%s", zoo_last_error());
    cr_expect_eq(zoo_tensor_rank(t), 2);
    cr_expect_eq(zoo_tensor_shape(t)[0], 2);
    cr_expect_eq(zoo_tensor_shape(t)[1], 3);
    cr_expect_arr_eq(zoo_tensor_cdata(t), six, sizeof six);
    zoo_tensor_free(t);
    free(path);
    zt_rmtree(dir);
    free(dir);
}

Test(npy, bad_files)
{
    char *dir = zt_tmpdir_or_die();
    unsigned char buf[512];
    size_t n;

    /* truncated: 2x3 floats need 24 bytes, give 20 */
    n = make_npy(buf, sizeof buf, F4_DICT_2x3, six, 20);
    expect_npy_fails(dir, "truncated.npy", buf, n, "24");
    /* trailing garbage */
    n = make_npy(buf, sizeof buf, F4_DICT_2x3, six, sizeof six);
    buf[n] = 0xAB;
    expect_npy_fails(dir, "trailing.npy", buf, n + 1, NULL);
    /* float64 */
    double d6[6] = {1, 2, 3, 4, 5, 6};
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                 d6, sizeof d6);
    expect_npy_fails(dir, "f8.npy", buf, n, "<f8");
    /* big-endian float32 */
    n = make_npy(buf, sizeof buf,
                 "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
                 six, sizeof six);
    expect_npy_fails(dir, "be.npy", buf, n, ">f4");
    /* Fortran order */
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                 six, sizeof six);
    expect_npy_fails(dir, "fortran.npy", buf, n, "ortran");
    /* bad magic */
    n = make_npy(buf, sizeof buf, F4_DICT_2x3, six, sizeof six);
    buf[1] = 'X';
    expect_npy_fails(dir, "magic.npy", buf, n, NULL);
    /* header length beyond the file */
    n = make_npy(buf, sizeof buf, F4_DICT_2x3, six, sizeof six);
    buf[8] = 0xff;
    buf[9] = 0xff;
    expect_npy_fails(dir, "hdrlen.npy", buf, n, NULL);
    /* version 2.0 with a 4 GiB header length */
    memcpy(buf, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14);
    expect_npy_fails(dir, "hdrlen2.npy", buf, 14, NULL);
    /* unknown version */
    n = make_npy(buf, sizeof buf, F4_DICT_2x3, six, sizeof six);
    buf[6] = 9;
    expect_npy_fails(dir, "version.npy", buf, n, NULL);
    /* empty and tiny files */
    expect_npy_fails(dir, "empty.npy", buf, 0, NULL);
    expect_npy_fails(dir, "tiny.npy", "\x93NUM", 4, NULL);
    /* missing keys */
    n = make_npy(buf, sizeof buf, "{'descr': '<f4', 'shape': (2, 3), }", six,
                 sizeof six);
    expect_npy_fails(dir, "nofortran.npy", buf, n, "fortran_order");
    n = make_npy(buf, sizeof buf, "{'descr': '<f4', 'fortran_order': False, }",
                 six, sizeof six);
    expect_npy_fails(dir, "noshape.npy", buf, n, "shape");
    /* not a dict, unterminated, garbage */
    n = make_npy(buf, sizeof buf, "['descr', '<f4']", six, sizeof six);
    expect_npy_fails(dir, "list.npy", buf, n, NULL);
    n = make_npy(buf, sizeof buf, "{'descr': '<f4", six, sizeof six);
    expect_npy_fails(dir, "unterminated.npy", buf, n, NULL);
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), "
                 "'extra': 1}",
                 six, sizeof six);
    expect_npy_fails(dir, "extra.npy", buf, n, NULL);
    /* absurd, negative, overflowing, empty and scalar shapes */
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': "
                 "(4294967296, 4294967296, 4294967296), }",
                 six, sizeof six);
    expect_npy_fails(dir, "overflow.npy", buf, n, NULL);
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': "
                 "(99999999999999999999999999), }",
                 six, sizeof six);
    expect_npy_fails(dir, "huge.npy", buf, n, NULL);
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }",
                 six, sizeof six);
    expect_npy_fails(dir, "big.npy", buf, n, NULL);
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }",
                 six, sizeof six);
    expect_npy_fails(dir, "negative.npy", buf, n, NULL);
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }",
                 six, 0);
    expect_npy_fails(dir, "zero.npy", buf, n, NULL);
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", six,
                 4);
    expect_npy_fails(dir, "scalar.npy", buf, n, NULL);
    n = make_npy(buf, sizeof buf,
                 "{'descr': '<f4', 'fortran_order': False, 'shape': "
                 "(1, 1, 1, 1, 1, 1, 1), }",
                 six, 4);
    expect_npy_fails(dir, "rank7.npy", buf, n, NULL);

    zt_rmtree(dir);
    free(dir);
}

Test(npy, missing_file_and_null)
{
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "does-not-exist.npy");
    zoo_clear_error();
    cr_expect_null(zoo_npy_load(path));
    cr_expect(strstr(zoo_last_error(), path) != NULL, "\"%s\"", zoo_last_error());
    cr_expect_eq(zoo_last_status(), ZOO_ERR_NOT_FOUND, "status %s",
                 zoo_status_name(zoo_last_status()));
    /* a directory is not a file */
    EXPECT_NULL_WITH_ERROR(zoo_npy_load(dir));
    EXPECT_NULL_WITH_ERROR(zoo_npy_load(NULL));
    zoo_tensor *t = zt_tensor_or_die(1, (int[]){2}, NULL);
    EXPECT_STATUS_ERROR(zoo_npy_save(NULL, t));
    EXPECT_STATUS_ERROR(zoo_npy_save(path, NULL));
    EXPECT_STATUS_ERROR(zoo_npy_save("", t));
    cr_expect_eq(zt_dir_entries(dir), 0, "failed saves left files behind");
    zoo_tensor_free(t);
    free(path);
    zt_rmtree(dir);
    free(dir);
}

/* save -> load gives the same bits, odd values included; the header is
 * 64-byte aligned and ends with a newline. */
Test(npy, round_trip_bit_identical)
{
    char *dir = zt_tmpdir_or_die();
    const int shapes[][ZOO_MAX_RANK] = {{5}, {2, 3}, {2, 3, 4, 5}, {1, 2, 1, 3, 1, 2}};
    const int ranks[] = {1, 2, 4, 6};
    for (int s = 0; s < 4; s++) {
        zoo_tensor *t = zt_tensor_or_die(ranks[s], shapes[s], NULL);
        zt_fill_uniform(t, (unsigned long long)s + 1, -1e3f, 1e3f);
        float *d = zoo_tensor_data(t);
        size_t n = zoo_tensor_size(t);
        uint32_t specials[] = {0x80000000u /* -0 */, 0x7f800000u /* inf */,
                               0xff800000u /* -inf */, 0x7fc00001u /* nan */,
                               0x00000001u /* denormal */};
        for (size_t i = 0; i < 5 && i < n; i++)
            memcpy(&d[i], &specials[i], 4);

        char *path = zt_path(dir, "rt.npy");
        zoo_clear_error();
        cr_assert_eq(zoo_npy_save(path, t), ZOO_OK, "%s", zoo_last_error());
        zoo_tensor *u = zoo_npy_load(path);
        cr_assert_not_null(u, "%s", zoo_last_error());
        cr_expect_eq(zoo_tensor_rank(u), ranks[s]);
        cr_expect_arr_eq(zoo_tensor_shape(u), shapes[s], sizeof(int) * (size_t)ranks[s]);
        cr_expect_eq(zoo_tensor_size(u), n);
        cr_expect(memcmp(zoo_tensor_cdata(u), d, n * sizeof(float)) == 0,
                  "rank %d: loaded bits differ from saved bits", ranks[s]);

        /* header layout */
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f);
        unsigned char head[10];
        cr_assert_eq(fread(head, 1, 10, f), 10);
        cr_expect(memcmp(head, "\x93NUMPY\x01\x00", 8) == 0, "not a v1.0 file");
        size_t hlen = head[8] | (size_t)head[9] << 8;
        cr_expect_eq((10 + hlen) % 64, 0, "data offset %zu not 64-aligned", 10 + hlen);
        cr_assert(hlen < 256);
        char hdr[256];
        cr_assert_eq(fread(hdr, 1, hlen, f), hlen);
        cr_expect_eq(hdr[hlen - 1], '\n');
        cr_expect(memcmp(hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (", 51) == 0,
                  "header: %.*s", (int)hlen, hdr);
        fclose(f);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_expect_eq((size_t)st.st_size, 10 + hlen + n * 4);

        zoo_tensor_free(u);
        zoo_tensor_free(t);
        free(path);
    }
    /* only rt.npy is left: no temporary files */
    cr_expect_eq(zt_dir_entries(dir), 1);
    zt_rmtree(dir);
    free(dir);
}

/* Saving replaces an existing file atomically. */
Test(npy, save_overwrites)
{
    char *dir = zt_tmpdir_or_die();
    char *path = zt_path(dir, "x.npy");
    zoo_tensor *a = zt_tensor_or_die(1, (int[]){3}, (float[]){1, 2, 3});
    zoo_tensor *b = zt_tensor_or_die(2, (int[]){1, 2}, (float[]){7, 8});
    cr_assert_eq(zoo_npy_save(path, a), ZOO_OK, "%s", zoo_last_error());
    cr_assert_eq(zoo_npy_save(path, b), ZOO_OK, "%s", zoo_last_error());
    zoo_tensor *u = zoo_npy_load(path);
    cr_assert_not_null(u, "%s", zoo_last_error());
    cr_expect_eq(zoo_tensor_rank(u), 2);
    cr_expect_eq(zoo_tensor_cdata(u)[1], 8.0f);
    cr_expect_eq(zt_dir_entries(dir), 1);
    zoo_tensor_free(u);
    zoo_tensor_free(a);
    zoo_tensor_free(b);
    free(path);
    zt_rmtree(dir);
    free(dir);
}

Test(npy, save_to_missing_directory_fails_cleanly)
{
    char *dir = zt_tmpdir_or_die();
    char *sub = zt_path(dir, "no-such-dir");
    char *path = zt_path(sub, "x.npy");
    zoo_tensor *t = zt_tensor_or_die(1, (int[]){3}, (float[]){1, 2, 3});
    zoo_clear_error();
    zoo_status st = zoo_npy_save(path, t);
    cr_expect_neq(st, ZOO_OK);
    cr_expect(strstr(zoo_last_error(), path) != NULL,
              "message does not name the path: \"%s\"", zoo_last_error());
    cr_expect_eq(zt_dir_entries(dir), 0, "files were left in %s", dir);
    struct stat sb;
    cr_expect_neq(stat(sub, &sb), 0, "the directory was created");

    /* the target is a directory: rename fails, the temp file is removed */
    cr_assert_eq(mkdir(sub, 0700), 0);
    char *inner = zt_path(sub, "inner");
    cr_assert_eq(mkdir(inner, 0700), 0);
    char *file_in = zt_path(inner, "keep");
    cr_assert(zt_write_file(file_in, "x", 1));
    zoo_clear_error();
    st = zoo_npy_save(inner, t);
    cr_expect_neq(st, ZOO_OK, "saving over a non-empty directory succeeded");
    cr_expect_eq(zt_dir_entries(sub), 1, "a temporary file was left in %s", sub);

    zoo_tensor_free(t);
    free(file_in);
    free(inner);
    free(path);
    free(sub);
    zt_rmtree(dir);
    free(dir);
}
