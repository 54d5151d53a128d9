/*
 * MobileNet, MobileNetV2 and DenseNet121/169/201: parameter counts, layer
 * counts, Keras names and order, output shapes, input checks, BN epsilon,
 * and a forward pass. (Numeric agreement with Keras on whole networks is
 * checked elsewhere.)
 *
 * The expected parameter counts were derived independently of zoo, from
 * the architectures as the keras/src/applications/ files define them (BN counts
 * 4 per channel: gamma, beta, moving mean, moving variance):
 *
 *  MobileNet, f(n) = int(n * alpha), dm = depth_multiplier:
 *    conv1 27*f(32) + 4*f(32); per block (13, pointwise filters 64, 128,
 *    128, 256, 256, 512 x6, 1024, 1024; c = channels in):
 *    depthwise 9*c*dm + 4*c*dm, pointwise c*dm*f(n) + 4*f(n);
 *    top: conv_preds f(1024)*classes + classes.
 *  MobileNetV2, m(v) = _make_divisible(v, 8):
 *    Conv1 27*m(32a) + 4*m(32a); block i (c in, e = 6 except block 0):
 *    expand (i > 0) c*e*c + 4*e*c, depthwise 9*e*c + 4*e*c, project
 *    e*c*o + 4*o with o = m(int(filters*a)); Conv_1 c*L + 4*L with
 *    L = 1280 (m(1280a) when a > 1); top: L*classes + classes.
 *  DenseNet: stem 7*7*3*64 + 4*64; conv_block on c channels
 *    4c + 128c + 4*128 + 9*128*32 (c += 32); transition 4c + c*(c/2);
 *    final bn 4c; top c*1000 + 1000.
 *
 * Evaluated once with a short Python script (formulas above):
 *
 *   mobilenet    1.00  top 4,253,864  no top 3,228,864
 *   mobilenet    0.75  top 2,601,976  no top 1,832,976
 *   mobilenet    0.50  top 1,342,536  no top   829,536
 *   mobilenet    0.25  top   475,544  no top   218,544
 *   mobilenet    0.50 dm=2          no top 1,646,672
 *   mobilenet    1.00 classes=10  top 3,239,114
 *   mobilenet_v2 1.00  top 3,538,984  no top 2,257,984
 *   mobilenet_v2 0.35  top 1,691,208  no top   410,208
 *   mobilenet_v2 0.50  top 1,987,224  no top   706,224
 *   mobilenet_v2 0.75  top 2,663,064  no top 1,382,064
 *   mobilenet_v2 1.30  top 5,431,048  no top 3,766,048
 *   mobilenet_v2 1.40  top 6,156,712  no top 4,363,712
 *   densenet121        top 8,062,504  no top 7,037,504
 *   densenet169        top 14,307,880 no top 12,642,880
 *   densenet201        top 20,242,984 no top 18,321,984
 *
 * The with-top totals at alpha 1 agree with keras.io's table.
 *
 * Layer counts (InputLayer included):
 *   MobileNet: 1 + 3 + 13*6 + 4 pads = 86; top + GAP, dropout,
 *     conv_preds, reshape_2, predictions = 91.
 *   MobileNetV2: 1 + 3 + 5 (block 0) + 16*8 + 4 pads + 10 adds + 3 = 154;
 *     top + GAP, predictions = 156.
 *   DenseNet: 1 + 6 (stem) + 7 per conv_block + 4 per transition + 2:
 *     121: 1+6+58*7+12+2 = 427, 169: 82 blocks -> 595, 201: 98 -> 707;
 *     top + 2.
 */
#include <criterion/criterion.h>
#include <zoo/zoo.h>

#include <math.h>
#include <string.h>

typedef zoo_model *(*builder)(const zoo_net_opts *);

static zoo_model *build_or_die(builder b, zoo_net_opts o)
{
    zoo_model *m = b(&o);
    cr_assert_not_null(m, "build failed: %s", zoo_last_error());
    return m;
}

static void expect_params(builder b, zoo_net_opts o, size_t want, int layers, const char *what)
{
    zoo_model *m = build_or_die(b, o);
    cr_expect_eq(zoo_model_param_count(m), want, "%s: %zu params, want %zu", what,
                 zoo_model_param_count(m), want);
    if (layers)
        cr_expect_eq(zoo_model_layer_count(m), layers, "%s: %d layers, want %d", what,
                     zoo_model_layer_count(m), layers);
    zoo_model_free(m);
}

/* Output shape of a one-output model (batch axis included). */
static void expect_output(const zoo_model *m, int rank, const int *shape)
{
    zoo_sym *y = zoo_model_output(m, 0);
    char got[64], want[64];
    zoo_shape_format(zoo_sym_rank(y), zoo_sym_shape(y), got, sizeof got);
    zoo_shape_format(rank, shape, want, sizeof want);
    cr_expect_str_eq(got, want, "%s: output %s, want %s", zoo_model_name(m), got, want);
}

static void expect_layer(const zoo_model *m, int i, const char *name, const char *cls)
{
    zoo_layer *l = zoo_model_layer(m, i);
    cr_assert_not_null(l, "%s: no layer %d", zoo_model_name(m), i);
    cr_expect_str_eq(zoo_layer_name(l), name, "%s: layer %d is %s, want %s",
                     zoo_model_name(m), i, zoo_layer_name(l), name);
    if (cls)
        cr_expect_str_eq(zoo_layer_class(l), cls, "%s: layer %s is a %s, want %s",
                         zoo_model_name(m), name, zoo_layer_class(l), cls);
}

/* Shape of a named layer's weight i, as "(a, b, ...)". */
static void expect_weight(const zoo_model *m, const char *layer, int i, const char *want)
{
    zoo_layer *l = zoo_model_get_layer(m, layer);
    cr_assert_not_null(l, "%s: no layer %s", zoo_model_name(m), layer);
    zoo_tensor *w = zoo_layer_weight(l, i);
    cr_assert_not_null(w, "%s: %s has no weight %d", zoo_model_name(m), layer, i);
    char got[64];
    zoo_shape_format(zoo_tensor_rank(w), zoo_tensor_shape(w), got, sizeof got);
    cr_expect_str_eq(got, want, "%s: %s weight %d is %s, want %s", zoo_model_name(m), layer,
                     i, got, want);
}

static void expect_no_layer(const zoo_model *m, const char *name)
{
    cr_expect_null(zoo_model_get_layer(m, name), "%s: unexpected layer %s",
                   zoo_model_name(m), name);
    zoo_clear_error();
}

static void expect_build_error(builder b, zoo_net_opts o, const char *fragment)
{
    zoo_clear_error();
    zoo_model *m = b(&o);
    cr_expect_null(m, "build should fail (%s)", fragment);
    if (m)
        zoo_model_free(m);
    cr_expect_eq(zoo_last_status(), ZOO_ERR_ARGUMENT, "status %s: %s",
                 zoo_status_name(zoo_last_status()), zoo_last_error());
    cr_expect(strstr(zoo_last_error(), fragment) != NULL, "error '%s' lacks '%s'",
              zoo_last_error(), fragment);
}

#define OPTS(...) ((zoo_net_opts){__VA_ARGS__})
#define SHAPE(h, w) .input_shape = {h, w, 3}

/* ------------------------------------------------------------------ */
/* Parameter and layer counts                                          */
/* ------------------------------------------------------------------ */

Test(mobilenet, params)
{
    expect_params(zoo_net_mobilenet, OPTS(0), 4253864, 91, "mobilenet 1.0");
    expect_params(zoo_net_mobilenet, OPTS(.no_top = true), 3228864, 86, "mobilenet 1.0 no top");
    expect_params(zoo_net_mobilenet, OPTS(.alpha = 0.75f), 2601976, 91, "mobilenet 0.75");
    expect_params(zoo_net_mobilenet, OPTS(.alpha = 0.75f, .no_top = true), 1832976, 86,
                  "mobilenet 0.75 no top");
    expect_params(zoo_net_mobilenet, OPTS(.alpha = 0.5f), 1342536, 91, "mobilenet 0.5");
    expect_params(zoo_net_mobilenet, OPTS(.alpha = 0.5f, .no_top = true), 829536, 86,
                  "mobilenet 0.5 no top");
    expect_params(zoo_net_mobilenet, OPTS(.alpha = 0.25f), 475544, 91, "mobilenet 0.25");
    expect_params(zoo_net_mobilenet, OPTS(.alpha = 0.25f, .no_top = true), 218544, 86,
                  "mobilenet 0.25 no top");
    expect_params(zoo_net_mobilenet, OPTS(.alpha = 0.5f, .depth_multiplier = 2, .no_top = true),
                  1646672, 86, "mobilenet 0.5 dm 2 no top");
    expect_params(zoo_net_mobilenet, OPTS(.classes = 10), 3239114, 91, "mobilenet classes 10");
}

Test(mobilenet_v2, params)
{
    expect_params(zoo_net_mobilenet_v2, OPTS(0), 3538984, 156, "mobilenet_v2 1.0");
    expect_params(zoo_net_mobilenet_v2, OPTS(.no_top = true), 2257984, 154,
                  "mobilenet_v2 1.0 no top");
    static const struct {
        float alpha;
        size_t top, no_top;
    } cases[] = {
        {0.35f, 1691208, 410208}, {0.5f, 1987224, 706224}, {0.75f, 2663064, 1382064},
        {1.3f, 5431048, 3766048}, {1.4f, 6156712, 4363712},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "mobilenet_v2 %.2f", (double)cases[i].alpha);
        expect_params(zoo_net_mobilenet_v2, OPTS(.alpha = cases[i].alpha), cases[i].top, 156,
                      what);
        snprintf(what, sizeof what, "mobilenet_v2 %.2f no top", (double)cases[i].alpha);
        expect_params(zoo_net_mobilenet_v2, OPTS(.alpha = cases[i].alpha, .no_top = true),
                      cases[i].no_top, 154, what);
    }
}

Test(densenet, params)
{
    expect_params(zoo_net_densenet121, OPTS(0), 8062504, 429, "densenet121");
    expect_params(zoo_net_densenet121, OPTS(.no_top = true), 7037504, 427,
                  "densenet121 no top");
    expect_params(zoo_net_densenet169, OPTS(0), 14307880, 597, "densenet169");
    expect_params(zoo_net_densenet169, OPTS(.no_top = true), 12642880, 595,
                  "densenet169 no top");
    expect_params(zoo_net_densenet201, OPTS(0), 20242984, 709, "densenet201");
    expect_params(zoo_net_densenet201, OPTS(.no_top = true), 18321984, 707,
                  "densenet201 no top");
}

/* ------------------------------------------------------------------ */
/* Names, classes, order                                               */
/* ------------------------------------------------------------------ */

Test(mobilenet, names_and_order)
{
    zoo_model *m = build_or_die(zoo_net_mobilenet, OPTS(0));
    cr_expect_str_eq(zoo_model_name(m), "mobilenet_1.00_224");
    expect_layer(m, 0, "input_layer", "InputLayer");
    expect_layer(m, 1, "conv1", "Conv2D");
    expect_layer(m, 2, "conv1_bn", "BatchNormalization");
    expect_layer(m, 3, "conv1_relu", "ReLU");
    expect_layer(m, 4, "conv_dw_1", "DepthwiseConv2D");
    expect_layer(m, 5, "conv_dw_1_bn", "BatchNormalization");
    expect_layer(m, 6, "conv_dw_1_relu", "ReLU");
    expect_layer(m, 7, "conv_pw_1", "Conv2D");
    expect_layer(m, 8, "conv_pw_1_bn", "BatchNormalization");
    expect_layer(m, 9, "conv_pw_1_relu", "ReLU");
    expect_layer(m, 10, "conv_pad_2", "ZeroPadding2D");
    expect_layer(m, 11, "conv_dw_2", "DepthwiseConv2D");
    expect_layer(m, 85, "conv_pw_13_relu", "ReLU");
    expect_layer(m, 86, "global_average_pooling2d", "GlobalAveragePooling2D");
    expect_layer(m, 87, "dropout", "Dropout");
    expect_layer(m, 88, "conv_preds", "Conv2D");
    expect_layer(m, 89, "reshape_2", "Reshape");
    expect_layer(m, 90, "predictions", "Activation");
    expect_no_layer(m, "conv_pad_1");
    expect_no_layer(m, "conv_pad_3");
    expect_no_layer(m, "conv_pad_13");
    expect_layer(m, zoo_model_layer_count(m) - 1, "predictions", NULL);
    /* No biases but conv_preds'. */
    expect_weight(m, "conv1", 0, "(3, 3, 3, 32)");
    cr_expect_eq(zoo_layer_weight_count(zoo_model_get_layer(m, "conv1")), 1);
    expect_weight(m, "conv_dw_1", 0, "(3, 3, 32, 1)");
    cr_expect_eq(zoo_layer_weight_count(zoo_model_get_layer(m, "conv_dw_1")), 1);
    expect_weight(m, "conv_pw_13", 0, "(1, 1, 1024, 1024)");
    expect_weight(m, "conv_preds", 0, "(1, 1, 1024, 1000)");
    expect_weight(m, "conv_preds", 1, "(1000,)");
    cr_expect_eq(zoo_layer_weight_count(zoo_model_get_layer(m, "conv_dw_1_bn")), 4);
    /* Keras's 55 weighted layers (keras.io "depth"). */
    int weighted = 0;
    for (int i = 0; i < zoo_model_layer_count(m); i++)
        weighted += zoo_layer_weight_count(zoo_model_layer(m, i)) > 0;
    cr_expect_eq(weighted, 55, "%d weighted layers, want 55", weighted);
    zoo_model_free(m);
}

Test(mobilenet, alpha_depth_multiplier_name)
{
    zoo_model *m = build_or_die(zoo_net_mobilenet,
                                OPTS(.alpha = 0.75f, .depth_multiplier = 2, .no_top = true,
                                     SHAPE(128, 128)));
    cr_expect_str_eq(zoo_model_name(m), "mobilenet_0.75_128");
    expect_weight(m, "conv1", 0, "(3, 3, 3, 24)");
    expect_weight(m, "conv_dw_1", 0, "(3, 3, 24, 2)");
    expect_weight(m, "conv_pw_1", 0, "(1, 1, 48, 48)");
    expect_weight(m, "conv_pw_13", 0, "(1, 1, 1536, 768)");
    zoo_model_free(m);

    /* 0.25 at 192 with the top: the side is one of the weight sizes. */
    m = build_or_die(zoo_net_mobilenet, OPTS(.alpha = 0.25f, SHAPE(192, 192)));
    cr_expect_str_eq(zoo_model_name(m), "mobilenet_0.25_192");
    expect_output(m, 2, (int[]){-1, 1000});
    zoo_model_free(m);

    /* Another size (no top): Keras's default call names it after the 224
     * weights it falls back to. */
    m = build_or_die(zoo_net_mobilenet, OPTS(.alpha = 0.5f, .no_top = true, SHAPE(100, 100)));
    cr_expect_str_eq(zoo_model_name(m), "mobilenet_0.50_224");
    zoo_model_free(m);

    /* logits: the Activation stays, linear. */
    m = build_or_die(zoo_net_mobilenet, OPTS(.classes = 7, .logits = true));
    expect_output(m, 2, (int[]){-1, 7});
    expect_layer(m, 90, "predictions", "Activation");
    expect_weight(m, "conv_preds", 0, "(1, 1, 1024, 7)");
    zoo_model_free(m);
}

Test(mobilenet_v2, names_and_order)
{
    zoo_model *m = build_or_die(zoo_net_mobilenet_v2, OPTS(0));
    cr_expect_str_eq(zoo_model_name(m), "mobilenetv2_1.00_224");
    expect_layer(m, 0, "input_layer", "InputLayer");
    expect_layer(m, 1, "Conv1", "Conv2D");
    expect_layer(m, 2, "bn_Conv1", "BatchNormalization");
    expect_layer(m, 3, "Conv1_relu", "ReLU");
    expect_layer(m, 4, "expanded_conv_depthwise", "DepthwiseConv2D");
    expect_layer(m, 5, "expanded_conv_depthwise_BN", "BatchNormalization");
    expect_layer(m, 6, "expanded_conv_depthwise_relu", "ReLU");
    expect_layer(m, 7, "expanded_conv_project", "Conv2D");
    expect_layer(m, 8, "expanded_conv_project_BN", "BatchNormalization");
    expect_layer(m, 9, "block_1_expand", "Conv2D");
    expect_layer(m, 10, "block_1_expand_BN", "BatchNormalization");
    expect_layer(m, 11, "block_1_expand_relu", "ReLU");
    expect_layer(m, 12, "block_1_pad", "ZeroPadding2D");
    expect_layer(m, 13, "block_1_depthwise", "DepthwiseConv2D");
    expect_layer(m, 14, "block_1_depthwise_BN", NULL);
    expect_layer(m, 15, "block_1_depthwise_relu", NULL);
    expect_layer(m, 16, "block_1_project", "Conv2D");
    expect_layer(m, 17, "block_1_project_BN", NULL);
    /* Block 2 keeps 24 channels at stride 1: its Add follows its
     * project_BN (the block input is deeper, so it comes earlier). */
    expect_layer(m, 18, "block_2_expand", NULL);
    expect_layer(m, 25, "block_2_project_BN", NULL);
    expect_layer(m, 26, "block_2_add", "Add");
    expect_layer(m, 151, "Conv_1", "Conv2D");
    expect_layer(m, 152, "Conv_1_bn", "BatchNormalization");
    expect_layer(m, 153, "out_relu", "ReLU");
    expect_layer(m, 154, "global_average_pooling2d", "GlobalAveragePooling2D");
    expect_layer(m, 155, "predictions", "Dense");
    static const char *const adds[] = {"block_2_add",  "block_4_add",  "block_5_add",
                                       "block_7_add",  "block_8_add",  "block_9_add",
                                       "block_11_add", "block_12_add", "block_14_add",
                                       "block_15_add"};
    for (int i = 0; i < 10; i++)
        cr_expect_not_null(zoo_model_get_layer(m, adds[i]), "missing %s", adds[i]);
    expect_no_layer(m, "block_1_add");
    expect_no_layer(m, "block_10_add");
    expect_no_layer(m, "block_16_add");
    expect_no_layer(m, "expanded_conv_add");
    expect_no_layer(m, "expanded_conv_expand");
    expect_no_layer(m, "block_2_pad");
    expect_weight(m, "Conv1", 0, "(3, 3, 3, 32)");
    expect_weight(m, "expanded_conv_project", 0, "(1, 1, 32, 16)");
    expect_weight(m, "block_1_expand", 0, "(1, 1, 16, 96)");
    expect_weight(m, "block_16_project", 0, "(1, 1, 960, 320)");
    expect_weight(m, "Conv_1", 0, "(1, 1, 320, 1280)");
    expect_weight(m, "predictions", 0, "(1280, 1000)");
    int weighted = 0;
    for (int i = 0; i < zoo_model_layer_count(m); i++)
        weighted += zoo_layer_weight_count(zoo_model_layer(m, i)) > 0;
    cr_expect_eq(weighted, 105, "%d weighted layers, want 105", weighted);
    zoo_model_free(m);
}

/* _make_divisible at the extreme alphas. */
Test(mobilenet_v2, alpha_widths)
{
    /* 0.35: Conv1 m(11.2) = 16 (8 would be >10% below); block 0 project
     * m(int(5.6)) = m(5) = 8; last conv stays 1280. */
    zoo_model *m = build_or_die(zoo_net_mobilenet_v2, OPTS(.alpha = 0.35f, .no_top = true,
                                                           SHAPE(96, 96)));
    cr_expect_str_eq(zoo_model_name(m), "mobilenetv2_0.35_96");
    expect_weight(m, "Conv1", 0, "(3, 3, 3, 16)");
    expect_weight(m, "expanded_conv_project", 0, "(1, 1, 16, 8)");
    expect_weight(m, "block_1_expand", 0, "(1, 1, 8, 48)");
    expect_weight(m, "block_16_project", 0, "(1, 1, 336, 112)");
    expect_weight(m, "Conv_1", 0, "(1, 1, 112, 1280)");
    zoo_model_free(m);

    /* 1.4: Conv1 m(44.8) = 48; block 16 project m(448) = 448; last
     * m(1792) = 1792. */
    m = build_or_die(zoo_net_mobilenet_v2, OPTS(.alpha = 1.4f));
    cr_expect_str_eq(zoo_model_name(m), "mobilenetv2_1.40_224");
    expect_weight(m, "Conv1", 0, "(3, 3, 3, 48)");
    expect_weight(m, "Conv_1", 0, "(1, 1, 448, 1792)");
    expect_weight(m, "predictions", 0, "(1792, 1000)");
    zoo_model_free(m);

    /* 1.3: 160 * 1.3 is 208.00000000000003 as a double, 207.99999 in
     * float arithmetic; either way m(...) = 208. Last m(1664) = 1664. */
    m = build_or_die(zoo_net_mobilenet_v2, OPTS(.alpha = 1.3f, .no_top = true));
    expect_weight(m, "block_15_project", 0, "(1, 1, 1248, 208)");
    expect_weight(m, "Conv_1", 0, "(1, 1, 416, 1664)");
    zoo_model_free(m);
}

Test(densenet, names_and_order)
{
    zoo_model *m = build_or_die(zoo_net_densenet121, OPTS(0));
    cr_expect_str_eq(zoo_model_name(m), "densenet121");
    expect_layer(m, 0, "input_layer", "InputLayer");
    expect_layer(m, 1, "zero_padding2d", "ZeroPadding2D");
    expect_layer(m, 2, "conv1_conv", "Conv2D");
    expect_layer(m, 3, "conv1_bn", "BatchNormalization");
    expect_layer(m, 4, "conv1_relu", "Activation");
    expect_layer(m, 5, "zero_padding2d_1", "ZeroPadding2D");
    expect_layer(m, 6, "pool1", "MaxPooling2D");
    expect_layer(m, 7, "conv2_block1_0_bn", "BatchNormalization");
    expect_layer(m, 8, "conv2_block1_0_relu", "Activation");
    expect_layer(m, 9, "conv2_block1_1_conv", "Conv2D");
    expect_layer(m, 10, "conv2_block1_1_bn", NULL);
    expect_layer(m, 11, "conv2_block1_1_relu", NULL);
    expect_layer(m, 12, "conv2_block1_2_conv", "Conv2D");
    expect_layer(m, 13, "conv2_block1_concat", "Concatenate");
    /* conv2: 6 blocks, 7 layers each from index 7; then the transition. */
    expect_layer(m, 49, "pool2_bn", "BatchNormalization");
    expect_layer(m, 50, "pool2_relu", "Activation");
    expect_layer(m, 51, "pool2_conv", "Conv2D");
    expect_layer(m, 52, "pool2_pool", "AveragePooling2D");
    expect_layer(m, 53, "conv3_block1_0_bn", NULL);
    expect_layer(m, 424, "conv5_block16_concat", "Concatenate");
    expect_layer(m, 425, "bn", "BatchNormalization");
    expect_layer(m, 426, "relu", "Activation");
    expect_layer(m, 427, "avg_pool", "GlobalAveragePooling2D");
    expect_layer(m, 428, "predictions", "Dense");
    expect_weight(m, "conv1_conv", 0, "(7, 7, 3, 64)");
    cr_expect_eq(zoo_layer_weight_count(zoo_model_get_layer(m, "conv1_conv")), 1);
    expect_weight(m, "conv2_block1_1_conv", 0, "(1, 1, 64, 128)");
    expect_weight(m, "conv2_block1_2_conv", 0, "(3, 3, 128, 32)");
    expect_weight(m, "pool2_conv", 0, "(1, 1, 256, 128)");
    expect_weight(m, "pool3_conv", 0, "(1, 1, 512, 256)");
    expect_weight(m, "pool4_conv", 0, "(1, 1, 1024, 512)");
    expect_weight(m, "bn", 0, "(1024,)");
    expect_weight(m, "predictions", 0, "(1024, 1000)");
    int weighted = 0;
    for (int i = 0; i < zoo_model_layer_count(m); i++)
        weighted += zoo_layer_weight_count(zoo_model_layer(m, i)) > 0;
    cr_expect_eq(weighted, 242, "%d weighted layers, want 242", weighted);
    zoo_model_free(m);

    m = build_or_die(zoo_net_densenet169, OPTS(.no_top = true));
    cr_expect_str_eq(zoo_model_name(m), "densenet169");
    expect_layer(m, zoo_model_layer_count(m) - 1, "relu", "Activation");
    expect_weight(m, "conv5_block32_2_conv", 0, "(3, 3, 128, 32)");
    expect_weight(m, "pool4_conv", 0, "(1, 1, 1280, 640)");
    expect_weight(m, "bn", 0, "(1664,)");
    zoo_model_free(m);

    m = build_or_die(zoo_net_densenet201, OPTS(.no_top = true));
    cr_expect_str_eq(zoo_model_name(m), "densenet201");
    expect_weight(m, "pool4_conv", 0, "(1, 1, 1792, 896)");
    expect_weight(m, "bn", 0, "(1920,)");
    expect_no_layer(m, "conv4_block49_concat");
    cr_expect_not_null(zoo_model_get_layer(m, "conv4_block48_concat"));
    zoo_model_free(m);
}

/* ------------------------------------------------------------------ */
/* Output shapes                                                        */
/* ------------------------------------------------------------------ */

Test(mobilenet, output_shapes)
{
    zoo_model *m = build_or_die(zoo_net_mobilenet, OPTS(.no_top = true));
    expect_output(m, 4, (int[]){-1, 7, 7, 1024});
    zoo_model_free(m);
    /* 97: conv1 'same' -> 49; each stride-2 block pads ((0,1),(0,1)) then
     * runs valid: 50 -> 24, 25 -> 12, 13 -> 6, 7 -> 3 ('same' would give
     * 4: the Keras stride-2 blocks are not 'same'). */
    m = build_or_die(zoo_net_mobilenet, OPTS(.no_top = true, SHAPE(97, 97)));
    expect_output(m, 4, (int[]){-1, 3, 3, 1024});
    zoo_model_free(m);
    /* Non-square: height 64 -> 32, 33 -> 16, 17 -> 8, 9 -> 4, 5 -> 2;
     * width 33 -> 17, 18 -> 8, 9 -> 4, 5 -> 2, 3 -> 1. */
    m = build_or_die(zoo_net_mobilenet, OPTS(.alpha = 0.5f, .no_top = true, SHAPE(64, 33)));
    expect_output(m, 4, (int[]){-1, 2, 1, 512});
    zoo_model_free(m);
    m = build_or_die(zoo_net_mobilenet, OPTS(.no_top = true, .pooling = ZOO_POOL_AVG));
    expect_output(m, 2, (int[]){-1, 1024});
    expect_layer(m, zoo_model_layer_count(m) - 1, "global_average_pooling2d",
                 "GlobalAveragePooling2D");
    zoo_model_free(m);
    m = build_or_die(zoo_net_mobilenet, OPTS(.no_top = true, .pooling = ZOO_POOL_MAX,
                                             .alpha = 0.25f, SHAPE(40, 50)));
    expect_output(m, 2, (int[]){-1, 256});
    expect_layer(m, zoo_model_layer_count(m) - 1, "global_max_pooling2d",
                 "GlobalMaxPooling2D");
    cr_expect_eq(zoo_model_layer_count(m), 87);
    zoo_model_free(m);
    m = build_or_die(zoo_net_mobilenet, OPTS(SHAPE(160, 160)));
    cr_expect_str_eq(zoo_model_name(m), "mobilenet_1.00_160");
    expect_output(m, 2, (int[]){-1, 1000});
    zoo_model_free(m);
}

Test(mobilenet_v2, output_shapes)
{
    zoo_model *m = build_or_die(zoo_net_mobilenet_v2, OPTS(.no_top = true));
    expect_output(m, 4, (int[]){-1, 7, 7, 1280});
    zoo_model_free(m);
    /* 96: Conv1 -> 48; correct_pad on even sides is ((0,1),(0,1)):
     * 49 -> 24, 25 -> 12, 13 -> 6, 7 -> 3. */
    m = build_or_die(zoo_net_mobilenet_v2, OPTS(.no_top = true, SHAPE(96, 96)));
    expect_output(m, 4, (int[]){-1, 3, 3, 1280});
    cr_expect_str_eq(zoo_model_name(m), "mobilenetv2_1.00_96");
    zoo_model_free(m);
    /* 97: Conv1 -> 49; correct_pad on odd sides is ((1,1),(1,1)):
     * 51 -> 25, 27 -> 13, 15 -> 7, 9 -> 4 (TF 'same' sizes). Width 130:
     * 65 -> 33 -> 17 -> 9 -> 5. */
    m = build_or_die(zoo_net_mobilenet_v2, OPTS(.no_top = true, SHAPE(97, 130)));
    expect_output(m, 4, (int[]){-1, 4, 5, 1280});
    cr_expect_str_eq(zoo_model_name(m), "mobilenetv2_1.00_224");
    zoo_sym *pad = zoo_layer_output(zoo_model_get_layer(m, "block_1_pad"), 0);
    cr_expect_eq(zoo_sym_shape(pad)[1], 51, "block_1_pad height %d", zoo_sym_shape(pad)[1]);
    cr_expect_eq(zoo_sym_shape(pad)[2], 67, "block_1_pad width %d", zoo_sym_shape(pad)[2]);
    zoo_sym *pad13 = zoo_layer_output(zoo_model_get_layer(m, "block_13_pad"), 0);
    cr_expect_eq(zoo_sym_shape(pad13)[1], 9);
    cr_expect_eq(zoo_sym_shape(pad13)[2], 11);
    zoo_model_free(m);
    /* 96 with the top (one of Keras's weight sizes). */
    m = build_or_die(zoo_net_mobilenet_v2, OPTS(.alpha = 0.5f, SHAPE(96, 96)));
    cr_expect_str_eq(zoo_model_name(m), "mobilenetv2_0.50_96");
    expect_output(m, 2, (int[]){-1, 1000});
    zoo_model_free(m);
    m = build_or_die(zoo_net_mobilenet_v2, OPTS(.no_top = true, .pooling = ZOO_POOL_MAX));
    expect_output(m, 2, (int[]){-1, 1280});
    expect_layer(m, 154, "global_max_pooling2d", "GlobalMaxPooling2D");
    zoo_model_free(m);
    m = build_or_die(zoo_net_mobilenet_v2, OPTS(.no_top = true, .pooling = ZOO_POOL_AVG,
                                                .alpha = 1.3f));
    expect_output(m, 2, (int[]){-1, 1664});
    expect_layer(m, 154, "global_average_pooling2d", NULL);
    zoo_model_free(m);
}

Test(densenet, output_shapes)
{
    zoo_model *m = build_or_die(zoo_net_densenet121, OPTS(.no_top = true));
    expect_output(m, 4, (int[]){-1, 7, 7, 1024});
    cr_expect_eq(zoo_sym_shape(zoo_layer_output(zoo_model_get_layer(m, "pool1"), 0))[1], 56);
    zoo_model_free(m);
    /* 97: pad 103 -> 7x7/2 valid 49; pad 51 -> 3x3/2 max 25; avg 2/2
     * valid: 12, 6, 3. */
    m = build_or_die(zoo_net_densenet169, OPTS(.no_top = true, SHAPE(97, 97)));
    expect_output(m, 4, (int[]){-1, 3, 3, 1664});
    zoo_model_free(m);
    /* 32: 38 -> 16; 18 -> 8; 4, 2, 1. */
    m = build_or_die(zoo_net_densenet201, OPTS(.no_top = true, SHAPE(32, 32)));
    expect_output(m, 4, (int[]){-1, 1, 1, 1920});
    zoo_model_free(m);
    m = build_or_die(zoo_net_densenet121, OPTS(.no_top = true, .pooling = ZOO_POOL_AVG));
    expect_output(m, 2, (int[]){-1, 1024});
    expect_layer(m, 427, "avg_pool", "GlobalAveragePooling2D");
    zoo_model_free(m);
    m = build_or_die(zoo_net_densenet121, OPTS(.no_top = true, .pooling = ZOO_POOL_MAX));
    expect_output(m, 2, (int[]){-1, 1024});
    expect_layer(m, 427, "max_pool", "GlobalMaxPooling2D");
    zoo_model_free(m);
    m = build_or_die(zoo_net_densenet121, OPTS(.classes = 5, .logits = true));
    expect_output(m, 2, (int[]){-1, 5});
    zoo_model_free(m);
}

/* ------------------------------------------------------------------ */
/* Input checks                                                         */
/* ------------------------------------------------------------------ */

Test(nets_mbd, input_errors)
{
    const builder all[] = {zoo_net_mobilenet, zoo_net_mobilenet_v2, zoo_net_densenet121,
                           zoo_net_densenet169, zoo_net_densenet201};
    for (int i = 0; i < 5; i++) {
        expect_build_error(all[i], OPTS(.no_top = true, SHAPE(31, 64)), "at least 32x32");
        expect_build_error(all[i], OPTS(.no_top = true, SHAPE(64, 31)), "at least 32x32");
        expect_build_error(all[i], OPTS(SHAPE(200, 200)), "with the top");
        expect_build_error(all[i], OPTS(.no_top = true, .input_shape = {64, 64, 1}),
                           "3 channels");
        /* The smallest valid size builds. */
        zoo_model *m = build_or_die(all[i], OPTS(.no_top = true, SHAPE(32, 32)));
        zoo_model_free(m);
    }
    /* Only MobileNet's weight sizes are allowed with the top. */
    expect_build_error(zoo_net_mobilenet, OPTS(SHAPE(96, 96)), "with the top");
    expect_build_error(zoo_net_mobilenet, OPTS(SHAPE(160, 192)), "with the top");
    expect_build_error(zoo_net_densenet121, OPTS(SHAPE(160, 160)), "with the top");
    zoo_model *m = build_or_die(zoo_net_mobilenet_v2, OPTS(SHAPE(128, 128)));
    zoo_model_free(m);

    expect_build_error(zoo_net_mobilenet, OPTS(.alpha = -1.0f), "alpha");
    expect_build_error(zoo_net_mobilenet, OPTS(.alpha = NAN), "alpha");
    expect_build_error(zoo_net_mobilenet, OPTS(.alpha = 0.01f), "alpha");
    expect_build_error(zoo_net_mobilenet, OPTS(.depth_multiplier = -2), "depth_multiplier");
    expect_build_error(zoo_net_mobilenet, OPTS(.dropout = 1.5f), "dropout");
    expect_build_error(zoo_net_mobilenet_v2, OPTS(.alpha = -0.5f), "alpha");
    expect_build_error(zoo_net_mobilenet_v2, OPTS(.alpha = INFINITY), "alpha");
}

/* ------------------------------------------------------------------ */
/* BN epsilon, checked through the stem                                 */
/* ------------------------------------------------------------------ */

/* Cuts the model at `bn_name`, makes the stem conv copy input channel 0
 * to output channel 0 (centre tap 1, rest 0) and the BN divide by
 * sqrt(0 + epsilon) (gamma 1, beta 0, mean 0, variance 0): on an all-ones
 * image channel 0 of the BN output is 1/sqrt(epsilon) everywhere. */
static void expect_stem_epsilon(builder b, zoo_net_opts o, const char *conv_name,
                                const char *bn_name, double epsilon)
{
    zoo_model *m = build_or_die(b, o);
    zoo_layer *conv = zoo_model_get_layer(m, conv_name);
    zoo_layer *bn = zoo_model_get_layer(m, bn_name);
    cr_assert(conv && bn);
    zoo_tensor *k = zoo_layer_weight(conv, 0);
    const int *ks = zoo_tensor_shape(k);
    float *kd = zoo_tensor_data(k);
    memset(kd, 0, zoo_tensor_size(k) * sizeof *kd);
    /* kernel (kh, kw, cin, cout): [kh/2][kw/2][0][0] */
    kd[((size_t)(ks[0] / 2) * ks[1] + ks[1] / 2) * ks[2] * ks[3]] = 1.0f;
    static const float fill[4] = {1.0f, 0.0f, 0.0f, 0.0f};
    cr_assert_eq(zoo_layer_weight_count(bn), 4);
    for (int i = 0; i < 4; i++) {
        zoo_tensor *w = zoo_layer_weight(bn, i);
        for (size_t j = 0; j < zoo_tensor_size(w); j++)
            zoo_tensor_data(w)[j] = fill[i];
    }
    zoo_sym *in = zoo_model_input(m, 0);
    zoo_sym *out = zoo_layer_output(bn, 0);
    zoo_model *cut = zoo_model_new(&in, 1, &out, 1, "stem");
    cr_assert_not_null(cut, "%s", zoo_last_error());
    int side = o.input_shape[0];
    zoo_tensor *x = zoo_tensor_new(4, (int[]){1, side, side, 3});
    for (size_t j = 0; j < zoo_tensor_size(x); j++)
        zoo_tensor_data(x)[j] = 1.0f;
    zoo_tensor *y = NULL;
    cr_assert_eq(zoo_model_predict(cut, &x, 1, &y, 1, NULL), ZOO_OK, "%s", zoo_last_error());
    const int *ys = zoo_tensor_shape(y);
    const float *yd = zoo_tensor_cdata(y);
    double want = 1.0 / sqrt(epsilon);
    size_t pixels = (size_t)ys[1] * ys[2];
    for (size_t p = 0; p < pixels; p++) {
        cr_assert(fabs(yd[p * ys[3]] - want) <= 1e-5 * want, "%s pixel %zu: %g, want %g",
                  bn_name, p, (double)yd[p * ys[3]], want);
        cr_assert_eq(yd[p * ys[3] + 1], 0.0f);
    }
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    zoo_model_free(cut);
    zoo_model_free(m);
}

Test(nets_mbd, bn_epsilon)
{
    expect_stem_epsilon(zoo_net_mobilenet, OPTS(.no_top = true, .alpha = 0.25f, SHAPE(32, 32)),
                        "conv1", "conv1_bn", 1e-3);
    expect_stem_epsilon(zoo_net_mobilenet_v2,
                        OPTS(.no_top = true, .alpha = 0.35f, SHAPE(32, 32)), "Conv1",
                        "bn_Conv1", 1e-3);
    /* 1.001e-5, not 1e-5: the two differ by 5e-4 in 1/sqrt(eps). */
    expect_stem_epsilon(zoo_net_densenet121, OPTS(.no_top = true, SHAPE(32, 32)),
                        "conv1_conv", "conv1_bn", 1.001e-5);
}

/* ------------------------------------------------------------------ */
/* Forward passes                                                       */
/* ------------------------------------------------------------------ */

static zoo_tensor *predict_or_die(zoo_model *m, int batch, int h, int w)
{
    zoo_tensor *x = zoo_tensor_new(4, (int[]){batch, h, w, 3});
    cr_assert_not_null(x);
    unsigned s = 12345;
    for (size_t j = 0; j < zoo_tensor_size(x); j++) {
        s = s * 1103515245u + 12345u;
        zoo_tensor_data(x)[j] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    zoo_tensor *y = NULL;
    zoo_status st = zoo_model_predict(m, &x, 1, &y, 1, NULL);
    zoo_tensor_free(x);
    cr_assert_eq(st, ZOO_OK, "%s predict: %s", zoo_model_name(m), zoo_last_error());
    for (size_t j = 0; j < zoo_tensor_size(y); j++)
        cr_assert(isfinite(zoo_tensor_cdata(y)[j]), "%s: output %zu is %g", zoo_model_name(m),
                  j, (double)zoo_tensor_cdata(y)[j]);
    return y;
}

static void expect_softmax_rows(const zoo_tensor *y)
{
    const int *s = zoo_tensor_shape(y);
    for (int b = 0; b < s[0]; b++) {
        double sum = 0;
        for (int c = 0; c < s[1]; c++) {
            float v = zoo_tensor_cdata(y)[(size_t)b * s[1] + c];
            cr_assert(v >= 0.0f && v <= 1.0f);
            sum += v;
        }
        cr_expect(fabs(sum - 1.0) < 1e-4, "row %d sums to %g", b, sum);
    }
}

Test(mobilenet, forward)
{
    zoo_model *m = build_or_die(zoo_net_mobilenet, OPTS(.alpha = 0.25f, SHAPE(128, 128),
                                                        .seed = 7));
    zoo_tensor *y = predict_or_die(m, 2, 128, 128);
    cr_expect_eq(zoo_tensor_shape(y)[0], 2);
    cr_expect_eq(zoo_tensor_shape(y)[1], 1000);
    expect_softmax_rows(y);
    zoo_tensor_free(y);
    zoo_model_free(m);

    /* Odd, non-square input through the ((0,1),(0,1)) pads. */
    m = build_or_die(zoo_net_mobilenet, OPTS(.alpha = 0.25f, .no_top = true, SHAPE(35, 33)));
    y = predict_or_die(m, 1, 35, 33);
    cr_expect_eq(zoo_tensor_rank(y), 4);
    cr_expect_eq(zoo_tensor_shape(y)[3], 256);
    zoo_tensor_free(y);
    zoo_model_free(m);
}

Test(mobilenet_v2, forward)
{
    zoo_model *m = build_or_die(zoo_net_mobilenet_v2, OPTS(.alpha = 0.35f, SHAPE(96, 96),
                                                           .seed = 3));
    zoo_tensor *y = predict_or_die(m, 2, 96, 96);
    cr_expect_eq(zoo_tensor_shape(y)[1], 1000);
    expect_softmax_rows(y);
    zoo_tensor_free(y);
    zoo_model_free(m);

    m = build_or_die(zoo_net_mobilenet_v2, OPTS(.alpha = 0.35f, .no_top = true, SHAPE(33, 47),
                                                .pooling = ZOO_POOL_AVG));
    y = predict_or_die(m, 1, 33, 47);
    cr_expect_eq(zoo_tensor_shape(y)[1], 1280);
    zoo_tensor_free(y);
    zoo_model_free(m);
}

Test(densenet, forward)
{
    zoo_model *m = build_or_die(zoo_net_densenet121, OPTS(.no_top = true, SHAPE(33, 32),
                                                          .pooling = ZOO_POOL_AVG, .seed = 5));
    zoo_tensor *y = predict_or_die(m, 2, 33, 32);
    cr_expect_eq(zoo_tensor_shape(y)[0], 2);
    cr_expect_eq(zoo_tensor_shape(y)[1], 1024);
    zoo_tensor_free(y);
    zoo_model_free(m);
}

/* ------------------------------------------------------------------ */
/* Registry                                                             */
/* ------------------------------------------------------------------ */

Test(nets_mbd, registry)
{
    static const struct {
        const char *name, *keras, *pre, *top_url, *top_hash, *no_top_url, *no_top_hash;
        builder build;
    } want[] = {
        {"mobilenet", "MobileNet", "tf", "mobilenet/mobilenet_1_0_224_tf.h5", NULL,
         "mobilenet/mobilenet_1_0_224_tf_no_top.h5", NULL, zoo_net_mobilenet},
        {"mobilenet_v2", "MobileNetV2", "tf",
         "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", NULL,
         "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", NULL,
         zoo_net_mobilenet_v2},
        {"densenet121", "DenseNet121", "torch",
         "densenet/densenet121_weights_tf_dim_ordering_tf_kernels.h5",
         "9d60b8095a5708f2dcce2bca79d332c7",
         "densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
         "30ee3e1110167f948a6b9946edeeb738", zoo_net_densenet121},
        {"densenet169", "DenseNet169", "torch",
         "densenet/densenet169_weights_tf_dim_ordering_tf_kernels.h5",
         "d699b8f76981ab1b30698df4c175e90b",
         "densenet/densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5",
         "b8c4d4c20dd625c148057b9ff1c1176b", zoo_net_densenet169},
        {"densenet201", "DenseNet201", "torch",
         "densenet/densenet201_weights_tf_dim_ordering_tf_kernels.h5",
         "1ceb130c1ea1b78c3bf6114dbdfd8807",
         "densenet/densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5",
         "c13680b51ded0fb44dff2d8f86ac8bb1", zoo_net_densenet201},
    };
    const char *gcs = "https://storage.googleapis.com/tensorflow/keras-applications/";
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const zoo_model_info *info = zoo_model_find(want[i].name);
        cr_assert_not_null(info, "%s: %s", want[i].name, zoo_last_error());
        cr_expect_str_eq(info->keras_name, want[i].keras);
        cr_expect_eq(info->default_size, 224);
        cr_expect_eq(info->min_size, 32);
        cr_expect_str_eq(info->preprocess, want[i].pre);
        cr_expect_eq(info->build, want[i].build, "%s: wrong builder", want[i].name);
        char url[256];
        snprintf(url, sizeof url, "%s%s", gcs, want[i].top_url);
        cr_expect_str_eq(info->top.url, url);
        snprintf(url, sizeof url, "%s%s", gcs, want[i].no_top_url);
        cr_expect_str_eq(info->no_top.url, url);
        if (want[i].top_hash) {
            cr_expect_str_eq(info->top.hash, want[i].top_hash);
            cr_expect_str_eq(info->no_top.hash, want[i].no_top_hash);
        } else {
            cr_expect_null(info->top.hash);
            cr_expect_null(info->no_top.hash);
        }
    }
}

/* Concatenate([x, x1]): the block input first. With conv2_block1_2_conv
 * zeroed, channels 64..95 of conv2_block1_concat are 0, while the first 64
 * (pool1's output: max-pooled ReLUs of a random stem) are not all 0. */
Test(densenet, concat_order)
{
    zoo_model *m = build_or_die(zoo_net_densenet121, OPTS(.no_top = true, SHAPE(32, 32),
                                                          .seed = 11));
    zoo_layer *c2 = zoo_model_get_layer(m, "conv2_block1_2_conv");
    cr_assert_not_null(c2);
    zoo_tensor *k = zoo_layer_weight(c2, 0);
    memset(zoo_tensor_data(k), 0, zoo_tensor_size(k) * sizeof(float));
    zoo_sym *in = zoo_model_input(m, 0);
    zoo_sym *out = zoo_layer_output(zoo_model_get_layer(m, "conv2_block1_concat"), 0);
    zoo_model *cut = zoo_model_new(&in, 1, &out, 1, "cut");
    cr_assert_not_null(cut, "%s", zoo_last_error());
    zoo_tensor *y = predict_or_die(cut, 1, 32, 32);
    const int *s = zoo_tensor_shape(y);
    cr_assert_eq(s[3], 96);
    size_t nonzero_old = 0, nonzero_new = 0;
    for (size_t p = 0; p < (size_t)s[1] * s[2]; p++)
        for (int c = 0; c < 96; c++) {
            bool nz = zoo_tensor_cdata(y)[p * 96 + c] != 0.0f;
            if (c < 64)
                nonzero_old += nz;
            else
                nonzero_new += nz;
        }
    cr_expect_gt(nonzero_old, 0, "pool1's features are all zero");
    cr_expect_eq(nonzero_new, 0, "%zu nonzero values in the new features", nonzero_new);
    zoo_tensor_free(y);
    zoo_model_free(cut);
    zoo_model_free(m);
}
