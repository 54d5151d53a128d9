/*
 * InceptionV3 and Xception: parameter counts, model.layers order and
 * names (Keras 3 automatic names included), output shapes, input-size
 * checks and a small forward pass. Expected values come from
 * keras/src/applications/inception_v3.py and xception.py and from the
 * reference (shared/reference/KERAS_APPLICATIONS.md sections 1.4 and 3).
 */
#include "support.h"

#include <criterion/criterion.h>
#include <zoo/zoo.h>

#include <math.h>
#include <string.h>

#define TOP_PARAMS (2048 * 1000 + 1000) /* Dense "predictions" on 2048 */

static zoo_model *build_or_die(zoo_model *(*build)(const zoo_net_opts *),
                               zoo_net_opts o)
{
    zoo_clear_error();
    zoo_model *m = build(&o);
    cr_assert_not_null(m, "build failed: %s", zoo_last_error());
    return m;
}

static zoo_layer *layer_or_die(const zoo_model *m, const char *name)
{
    zoo_layer *l = zoo_model_get_layer(m, name);
    cr_assert_not_null(l, "no layer named %s in %s", name, zoo_model_name(m));
    return l;
}

static void expect_shape(const zoo_sym *x, const char *want, const char *what)
{
    char buf[64];
    cr_assert_not_null(x, "%s: no tensor", what);
    zoo_shape_format(zoo_sym_rank(x), zoo_sym_shape(x), buf, sizeof buf);
    cr_expect_str_eq(buf, want, "%s: shape %s, want %s", what, buf, want);
}

static void expect_layer_shape(const zoo_model *m, const char *name, const char *want)
{
    expect_shape(zoo_layer_output(layer_or_die(m, name), 0), want, name);
}

static void expect_output_shape(const zoo_model *m, const char *want)
{
    expect_shape(zoo_model_output(m, 0), want, zoo_model_name(m));
}

static void expect_counts(const zoo_model *m, size_t total, size_t trainable, int layers)
{
    cr_expect_eq(zoo_model_param_count(m), total, "%s: %zu params, want %zu",
                 zoo_model_name(m), zoo_model_param_count(m), total);
    cr_expect_eq(zoo_model_trainable_param_count(m), trainable,
                 "%s: %zu trainable params, want %zu", zoo_model_name(m),
                 zoo_model_trainable_param_count(m), trainable);
    cr_expect_eq(zoo_model_layer_count(m), layers, "%s: %d layers, want %d",
                 zoo_model_name(m), zoo_model_layer_count(m), layers);
}

static int layer_index(const zoo_model *m, const char *name)
{
    for (int i = 0; i < zoo_model_layer_count(m); i++)
        if (strcmp(zoo_layer_name(zoo_model_layer(m, i)), name) == 0)
            return i;
    return -1;
}

static void expect_names_at(const zoo_model *m, int first, const char *const *names, int n)
{
    cr_assert_leq(first + n, zoo_model_layer_count(m));
    for (int i = 0; i < n; i++) {
        const char *got = zoo_layer_name(zoo_model_layer(m, first + i));
        cr_expect_str_eq(got, names[i], "layer %d is %s, want %s", first + i, got,
                         names[i]);
    }
}

static void expect_input_error(zoo_model *(*build)(const zoo_net_opts *), int h, int w,
                               const char *want)
{
    zoo_clear_error();
    zoo_model *m = build(&(zoo_net_opts){.no_top = true, .input_shape = {h, w, 3}});
    cr_expect_null(m, "(%d, %d, 3) should be refused", h, w);
    zoo_model_free(m);
    cr_expect_neq(zoo_last_status(), ZOO_OK);
    cr_expect_str_eq(zoo_last_error(), want);
}

/* Predicts on one image of (h, w, 3) in [-1, 1] (the "tf" preprocessing
 * range) and checks the output's shape and that every value is finite and,
 * the network ending in a ReLU (or a concatenation of ReLUs), >= 0. */
static void forward_check(zoo_model *m, int h, int w, const int *want_shape, int want_rank)
{
    zoo_tensor *x = zoo_tensor_new(4, (const int[]){1, h, w, 3});
    cr_assert_not_null(x);
    zt_fill_uniform(x, 7, -1.0f, 1.0f);
    zoo_tensor *y = NULL;
    zoo_status s = zoo_model_predict(m, &x, 1, &y, 1, NULL);
    cr_assert_eq(s, ZOO_OK, "predict failed: %s", zoo_last_error());
    cr_assert_eq(zoo_tensor_rank(y), want_rank);
    for (int i = 0; i < want_rank; i++)
        cr_expect_eq(zoo_tensor_shape(y)[i], want_shape[i], "output dim %d is %d, want %d",
                     i, zoo_tensor_shape(y)[i], want_shape[i]);
    const float *d = zoo_tensor_cdata(y);
    size_t n = zoo_tensor_size(y), bad = 0, negative = 0, nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        bad += !isfinite(d[i]);
        negative += d[i] < 0.0f;
        nonzero += d[i] != 0.0f;
    }
    cr_expect_eq(bad, 0, "%zu of %zu outputs are not finite", bad, n);
    cr_expect_eq(negative, 0, "%zu of %zu outputs are negative after a ReLU", negative, n);
    cr_expect_gt(nonzero, 0, "every output is zero");
    zoo_tensor_free(y);
    zoo_tensor_free(x);
}

/* ------------------------------------------------------------------ */
/* InceptionV3                                                         */
/* ------------------------------------------------------------------ */

/*
 * Non-trainable parameters. Every Conv2D is followed by a
 * BatchNormalization(scale=False): beta (trainable), moving_mean and
 * moving_variance (non-trainable), so non-trainable = 2 x the sum of the
 * filters of the 94 conv2d_bn calls:
 *   stem     32 + 32 + 64 + 80 + 192                           =   400
 *   mixed0   64 + 48+64 + 64+96+96 + 32                        =   464
 *   mixed1   64 + 48+64 + 64+96+96 + 64                        =   496
 *   mixed2   same as mixed1                                    =   496
 *   mixed3   384 + 64+96+96                                    =   640
 *   mixed4   192 + 128+128+192 + 128x4+192 + 192               =  1536
 *   mixed5   192 + 160+160+192 + 160x4+192 + 192               =  1728
 *   mixed6   same as mixed5                                    =  1728
 *   mixed7   192 x 10                                          =  1920
 *   mixed8   192+320 + 192x4                                   =  1280
 *   mixed9   320 + 384+384+384 + 448+384+384+384 + 192         =  3264
 *   mixed10  same as mixed9                                    =  3264
 *                                                        total = 17216
 * -> 34,432 non-trainable; 23,851,784 - 34,432 = 23,817,352 trainable
 * (Keras's summary prints the same split).
 *
 * Layers: input 1 + 94 x (conv, bn, act) 282 + max pools 4 (stem 2,
 * mixed3, mixed8) + average pools 9 (mixed0-2, 4-7, 9, 10) + concatenates
 * 15 (mixed0-10, mixed9_0, mixed9_1, two unnamed) = 311; the top adds 2.
 */
#define INCEPTION_TOTAL 23851784u
#define INCEPTION_NON_TRAINABLE (2u * 17216u)

Test(inception_v3, params_and_layers_with_top)
{
    zoo_model *m = build_or_die(zoo_net_inception_v3, (zoo_net_opts){0});
    cr_expect_str_eq(zoo_model_name(m), "inception_v3");
    expect_counts(m, INCEPTION_TOTAL, INCEPTION_TOTAL - INCEPTION_NON_TRAINABLE, 313);
    int n = zoo_model_layer_count(m);
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, n - 2)), "avg_pool");
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, n - 1)), "predictions");
    cr_expect_str_eq(zoo_layer_class(zoo_model_layer(m, n - 2)), "GlobalAveragePooling2D");
    cr_expect_eq(zoo_layer_param_count(layer_or_die(m, "predictions")), TOP_PARAMS);
    expect_layer_shape(m, "input_layer", "(None, 299, 299, 3)");
    expect_output_shape(m, "(None, 1000)");
    zoo_model_free(m);
}

/* One no-top model at the default size serves the structural checks
 * (each build costs about half a second of weight initialisation). */
Test(inception_v3, without_top)
{
    zoo_model *m = build_or_die(zoo_net_inception_v3, (zoo_net_opts){.no_top = true});
    expect_counts(m, INCEPTION_TOTAL - TOP_PARAMS,
                  INCEPTION_TOTAL - TOP_PARAMS - INCEPTION_NON_TRAINABLE, 311);
    cr_expect_null(zoo_model_get_layer(m, "avg_pool"));
    cr_expect_null(zoo_model_get_layer(m, "predictions"));

    /* model.layers order (reference section 3). */
    static const char *const stem[] = {
        "input_layer",
        "conv2d", "batch_normalization", "activation",
        "conv2d_1", "batch_normalization_1", "activation_1",
        "conv2d_2", "batch_normalization_2", "activation_2",
        "max_pooling2d",
        "conv2d_3", "batch_normalization_3", "activation_3",
        "conv2d_4", "batch_normalization_4", "activation_4",
        "max_pooling2d_1",
        /* the first conv of mixed0's 3x3dbl branch (the deepest) */
        "conv2d_8",
    };
    expect_names_at(m, 0, stem, 19);
    /* keras.io's fine-tuning example freezes the first 249 layers. */
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, 248)), "mixed8");
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, 310)), "mixed10");
    cr_expect_str_eq(zoo_layer_class(zoo_model_layer(m, 0)), "InputLayer");
    cr_expect_str_eq(zoo_layer_class(zoo_model_layer(m, 10)), "MaxPooling2D");

    /* Automatic names: 94 conv2d_bn give conv2d .. conv2d_93, likewise BN
     * and activation; 4 max pools, 9 average pools, 2 unnamed concats. */
    static const char *const present[] = {
        "conv2d_93", "batch_normalization_93", "activation_93",
        "max_pooling2d_3", "average_pooling2d_8",
        "concatenate", "concatenate_1", "mixed9_0", "mixed9_1",
        "mixed0", "mixed1", "mixed2", "mixed3", "mixed4", "mixed5",
        "mixed6", "mixed7", "mixed8", "mixed9", "mixed10",
    };
    for (size_t i = 0; i < sizeof present / sizeof *present; i++)
        layer_or_die(m, present[i]);
    static const char *const absent[] = {
        "conv2d_94", "batch_normalization_94", "activation_94", "max_pooling2d_4",
        "average_pooling2d_9", "concatenate_2",
    };
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++)
        cr_expect_null(zoo_model_get_layer(m, absent[i]), "unexpected layer %s", absent[i]);

    /* Conv2D without bias; BN with scale=False: beta, moving mean/var. */
    zoo_layer *conv = layer_or_die(m, "conv2d");
    cr_expect_eq(zoo_layer_weight_count(conv), 1);
    cr_expect_str_eq(zoo_layer_weight_name(conv, 0), "kernel");
    cr_expect_eq(zoo_layer_param_count(conv), 3 * 3 * 3 * 32);
    zoo_layer *bn = layer_or_die(m, "batch_normalization");
    cr_expect_eq(zoo_layer_weight_count(bn), 3);
    cr_expect_str_eq(zoo_layer_weight_name(bn, 0), "beta");
    cr_expect(zoo_layer_weight_trainable(bn, 0));
    cr_expect_not(zoo_layer_weight_trainable(bn, 1));
    cr_expect_not(zoo_layer_weight_trainable(bn, 2));
    /* Asymmetric kernels: mixed4's branch7x7 convs are (1, 7) then (7, 1). */
    cr_expect_eq(zoo_layer_param_count(layer_or_die(m, "conv2d_32")), 1 * 7 * 128 * 128);
    cr_expect_eq(zoo_layer_param_count(layer_or_die(m, "conv2d_33")), 7 * 1 * 128 * 192);

    /* Shapes at 299. */
    expect_layer_shape(m, "activation", "(None, 149, 149, 32)");
    expect_layer_shape(m, "max_pooling2d", "(None, 73, 73, 64)");
    expect_layer_shape(m, "max_pooling2d_1", "(None, 35, 35, 192)");
    expect_layer_shape(m, "mixed0", "(None, 35, 35, 256)");
    expect_layer_shape(m, "mixed1", "(None, 35, 35, 288)");
    expect_layer_shape(m, "mixed2", "(None, 35, 35, 288)");
    expect_layer_shape(m, "mixed3", "(None, 17, 17, 768)");
    expect_layer_shape(m, "mixed7", "(None, 17, 17, 768)");
    expect_layer_shape(m, "mixed8", "(None, 8, 8, 1280)");
    expect_layer_shape(m, "mixed9_0", "(None, 8, 8, 768)");
    expect_layer_shape(m, "concatenate", "(None, 8, 8, 768)");
    expect_layer_shape(m, "mixed9", "(None, 8, 8, 2048)");
    expect_layer_shape(m, "mixed10", "(None, 8, 8, 2048)");
    expect_output_shape(m, "(None, 8, 8, 2048)");
    zoo_model_free(m);
}

/* The minimum size, average pooling, and a forward pass.
 * 75: 37, 35, 35, pool 17, 17, 15, pool 7, mixed3 3, mixed8 1. */
Test(inception_v3, min_size_avg_pooling_forward)
{
    zoo_model *m = build_or_die(zoo_net_inception_v3,
                                (zoo_net_opts){.no_top = true, .pooling = ZOO_POOL_AVG,
                                               .seed = 3, .input_shape = {75, 75, 3}});
    expect_layer_shape(m, "mixed2", "(None, 7, 7, 288)");
    expect_layer_shape(m, "mixed3", "(None, 3, 3, 768)");
    expect_layer_shape(m, "mixed10", "(None, 1, 1, 2048)");
    expect_output_shape(m, "(None, 2048)");
    cr_expect_eq(zoo_model_layer_count(m), 312);
    /* Keras leaves InceptionV3's optional pooling layers unnamed. */
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, 311)), "global_average_pooling2d");
    cr_expect_eq(zoo_model_param_count(m), INCEPTION_TOTAL - TOP_PARAMS);
    forward_check(m, 75, 75, (const int[]){1, 2048}, 2);
    zoo_model_free(m);
}

/* An odd, non-square size with max pooling.
 * 151 -> 75, 73, 73, 36, 36, 34, 16 -> 7 -> 3;
 * 200 -> 99, 97, 97, 48, 48, 46, 22 -> 10 -> 4. */
Test(inception_v3, odd_size_max_pooling)
{
    zoo_model *m = build_or_die(zoo_net_inception_v3,
                                (zoo_net_opts){.no_top = true, .pooling = ZOO_POOL_MAX,
                                               .input_shape = {151, 200, 3}});
    expect_layer_shape(m, "mixed0", "(None, 16, 22, 256)");
    expect_layer_shape(m, "mixed3", "(None, 7, 10, 768)");
    expect_layer_shape(m, "mixed10", "(None, 3, 4, 2048)");
    expect_output_shape(m, "(None, 2048)");
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, 311)), "global_max_pooling2d");
    zoo_model_free(m);
}

Test(inception_v3, classes_and_logits)
{
    zoo_model *m = build_or_die(zoo_net_inception_v3,
                                (zoo_net_opts){.classes = 10, .logits = true});
    expect_output_shape(m, "(None, 10)");
    cr_expect_eq(zoo_model_param_count(m), INCEPTION_TOTAL - TOP_PARAMS + 2048 * 10 + 10);
    zoo_model_free(m);
}

Test(inception_v3, input_size_errors)
{
    expect_input_error(zoo_net_inception_v3, 74, 74,
                       "Input size must be at least 75x75; Received: input_shape=(74, 74, 3)");
    expect_input_error(zoo_net_inception_v3, 75, 60,
                       "Input size must be at least 75x75; Received: input_shape=(75, 60, 3)");
}

/* ------------------------------------------------------------------ */
/* Xception                                                            */
/* ------------------------------------------------------------------ */

/*
 * Non-trainable parameters. Every BatchNormalization has the default
 * scale=True: gamma, beta (trainable), moving_mean, moving_variance
 * (non-trainable), so non-trainable = 2 x the sum of BN channels:
 *   block1        32 + 64                          =    96
 *   block2        residual 128 + 128 + 128         =   384
 *   block3        residual 256 + 256 + 256         =   768
 *   block4        residual 728 + 728 + 728         =  2184
 *   blocks 5-12   8 x 3 x 728                      = 17472
 *   block13       residual 1024 + 728 + 1024       =  2776
 *   block14       1536 + 2048                      =  3584
 *                                            total = 27264
 * -> 54,528 non-trainable; 22,910,480 - 54,528 = 22,855,952 trainable.
 *
 * Layers: input 1; block1 6 (conv, bn, act x2); block2 9 (res conv, bn,
 * sep, bn, act, sep, bn, pool, add); blocks 3, 4, 13 10 each (one more
 * act); blocks 5-12 8 x 10 (3 x act/sep/bn, add); block14 6 -> 132; the
 * top adds 2.
 */
#define XCEPTION_TOTAL 22910480u
#define XCEPTION_NON_TRAINABLE (2u * 27264u)

Test(xception, params_and_layers_with_top)
{
    zoo_model *m = build_or_die(zoo_net_xception, (zoo_net_opts){0});
    cr_expect_str_eq(zoo_model_name(m), "xception");
    expect_counts(m, XCEPTION_TOTAL, XCEPTION_TOTAL - XCEPTION_NON_TRAINABLE, 134);
    int n = zoo_model_layer_count(m);
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, n - 2)), "avg_pool");
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, n - 1)), "predictions");
    expect_output_shape(m, "(None, 1000)");
    zoo_model_free(m);
}

/* One no-top model at the default size serves the structural checks. */
Test(xception, without_top)
{
    zoo_model *m = build_or_die(zoo_net_xception, (zoo_net_opts){.no_top = true});
    expect_counts(m, XCEPTION_TOTAL - TOP_PARAMS,
                  XCEPTION_TOTAL - TOP_PARAMS - XCEPTION_NON_TRAINABLE, 132);

    /* model.layers order (reference section 3). */
    static const char *const block1[] = {
        "input_layer",
        "block1_conv1", "block1_conv1_bn", "block1_conv1_act",
        "block1_conv2", "block1_conv2_bn", "block1_conv2_act",
    };
    expect_names_at(m, 0, block1, 7);
    /* The auto-named residual conv/BN interleave with the main path. */
    static const char *const entry[] = {
        "block2_sepconv2", "block2_sepconv2_bn", "conv2d", "block2_pool",
        "batch_normalization", "add",
    };
    int i = layer_index(m, "block2_sepconv2");
    cr_assert_geq(i, 0, "no block2_sepconv2");
    expect_names_at(m, i, entry, 6);
    static const char *const tail[] = {
        "block14_sepconv1", "block14_sepconv1_bn", "block14_sepconv1_act",
        "block14_sepconv2", "block14_sepconv2_bn", "block14_sepconv2_act",
    };
    expect_names_at(m, 126, tail, 6);

    /* Names: 4 residual convs/BNs and 12 adds are automatic. */
    static const char *const present[] = {
        "conv2d", "conv2d_1", "conv2d_2", "conv2d_3",
        "batch_normalization", "batch_normalization_3", "add", "add_11",
        "block2_sepconv1", "block2_sepconv1_bn", "block2_sepconv2_act",
        "block5_sepconv3_act", "block12_sepconv3_bn", "block13_pool",
        "block13_sepconv2_bn",
    };
    for (size_t k = 0; k < sizeof present / sizeof *present; k++)
        layer_or_die(m, present[k]);
    static const char *const absent[] = {
        "conv2d_4", "batch_normalization_4", "add_12", "block2_sepconv1_act",
        "activation", "separable_conv2d",
    };
    for (size_t k = 0; k < sizeof absent / sizeof *absent; k++)
        cr_expect_null(zoo_model_get_layer(m, absent[k]), "unexpected layer %s", absent[k]);

    /* Weights: no biases anywhere but the top; BN with gamma. */
    zoo_layer *c1 = layer_or_die(m, "block1_conv1");
    cr_expect_eq(zoo_layer_weight_count(c1), 1, "block1_conv1 has no bias");
    cr_expect_eq(zoo_layer_param_count(c1), 3 * 3 * 3 * 32);
    zoo_layer *sep = layer_or_die(m, "block2_sepconv1");
    cr_expect_eq(zoo_layer_weight_count(sep), 2, "separable convs have no bias");
    cr_expect_eq(zoo_layer_param_count(sep), 3 * 3 * 64 + 64 * 128);
    cr_expect_eq(zoo_layer_param_count(layer_or_die(m, "conv2d")), 64 * 128);
    cr_expect_eq(zoo_layer_param_count(layer_or_die(m, "conv2d_3")), 728 * 1024);
    zoo_layer *bn = layer_or_die(m, "batch_normalization");
    cr_expect_eq(zoo_layer_weight_count(bn), 4);
    cr_expect_str_eq(zoo_layer_weight_name(bn, 0), "gamma");

    /* Shapes at 299: 149, 147, then 'same' pools 74, 37, 19, 10. */
    expect_layer_shape(m, "block1_conv1_act", "(None, 149, 149, 32)");
    expect_layer_shape(m, "block1_conv2_act", "(None, 147, 147, 64)");
    expect_layer_shape(m, "conv2d", "(None, 74, 74, 128)");
    expect_layer_shape(m, "add", "(None, 74, 74, 128)");
    expect_layer_shape(m, "block3_pool", "(None, 37, 37, 256)");
    expect_layer_shape(m, "block4_pool", "(None, 19, 19, 728)");
    expect_layer_shape(m, "add_10", "(None, 19, 19, 728)");
    expect_layer_shape(m, "block13_pool", "(None, 10, 10, 1024)");
    expect_layer_shape(m, "block14_sepconv1_act", "(None, 10, 10, 1536)");
    expect_layer_shape(m, "block14_sepconv2_act", "(None, 10, 10, 2048)");
    expect_output_shape(m, "(None, 10, 10, 2048)");
    zoo_model_free(m);
}

/* The minimum size, average pooling, and a forward pass.
 * 71: 35, 33, then 'same' pools 17, 9, 5, 3. */
Test(xception, min_size_avg_pooling_forward)
{
    zoo_model *m = build_or_die(zoo_net_xception,
                                (zoo_net_opts){.no_top = true, .pooling = ZOO_POOL_AVG,
                                               .seed = 5, .input_shape = {71, 71, 3}});
    expect_layer_shape(m, "block2_pool", "(None, 17, 17, 128)");
    expect_layer_shape(m, "block14_sepconv2_act", "(None, 3, 3, 2048)");
    expect_output_shape(m, "(None, 2048)");
    cr_expect_eq(zoo_model_layer_count(m), 133);
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, 132)), "global_average_pooling2d");
    forward_check(m, 71, 71, (const int[]){1, 2048}, 2);
    zoo_model_free(m);
}

/* An odd, non-square size with max pooling.
 * 151: 75, 73, 37, 19, 10, 5; 100: 49, 47, 24, 12, 6, 3. */
Test(xception, odd_size_max_pooling)
{
    zoo_model *m = build_or_die(zoo_net_xception,
                                (zoo_net_opts){.no_top = true, .pooling = ZOO_POOL_MAX,
                                               .input_shape = {151, 100, 3}});
    expect_layer_shape(m, "block3_pool", "(None, 19, 12, 256)");
    expect_layer_shape(m, "block14_sepconv2_act", "(None, 5, 3, 2048)");
    expect_output_shape(m, "(None, 2048)");
    cr_expect_str_eq(zoo_layer_name(zoo_model_layer(m, 132)), "global_max_pooling2d");
    zoo_model_free(m);
}

Test(xception, input_size_errors)
{
    expect_input_error(zoo_net_xception, 70, 70,
                       "Input size must be at least 71x71; Received: input_shape=(70, 70, 3)");
    expect_input_error(zoo_net_xception, 200, 50,
                       "Input size must be at least 71x71; Received: input_shape=(200, 50, 3)");
}

/* ------------------------------------------------------------------ */
/* Registry                                                            */
/* ------------------------------------------------------------------ */

Test(registry, inception_v3_and_xception)
{
    const zoo_model_info *i = zoo_model_find("inception_v3");
    cr_assert_not_null(i, "%s", zoo_last_error());
    cr_expect_str_eq(i->keras_name, "InceptionV3");
    cr_expect_eq(i->default_size, 299);
    cr_expect_eq(i->min_size, 75);
    cr_expect_str_eq(i->preprocess, "tf");
    cr_expect(i->build == zoo_net_inception_v3);
    cr_expect_str_eq(i->top.hash, "9a0d58056eeedaa3f26cb7ebd46da564");
    cr_expect_str_eq(i->no_top.hash, "bcbd6486424b2319ff4ef7d526e38f63");
    cr_expect_str_eq(i->no_top.url,
                     "https://storage.googleapis.com/tensorflow/keras-applications/"
                     "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5");

    const zoo_model_info *x = zoo_model_find("xception");
    cr_assert_not_null(x, "%s", zoo_last_error());
    cr_expect_str_eq(x->keras_name, "Xception");
    cr_expect_eq(x->default_size, 299);
    cr_expect_eq(x->min_size, 71);
    cr_expect_str_eq(x->preprocess, "tf");
    cr_expect(x->build == zoo_net_xception);
    cr_expect_str_eq(x->top.url,
                     "https://storage.googleapis.com/tensorflow/keras-applications/"
                     "xception/xception_weights_tf_dim_ordering_tf_kernels.h5");
    cr_expect_str_eq(x->top.hash, "0a58e3b7378bc2990ea3b43d5981f1f6");
    cr_expect_str_eq(x->no_top.hash, "b0042744bf5b25fce3cb969f33bebb97");
}
