/* InceptionV3 as keras/src/applications/inception_v3.py builds it.
 *
 * Every conv2d_bn call in Keras passes no name, so its Conv2D,
 * BatchNormalization and Activation take the automatic names ("conv2d_5",
 * "batch_normalization_5", "activation_5"); so do the branch pools and the
 * unnamed Concatenate of mixed9/10's 3x3dbl branch. Layers are therefore
 * created in exactly Keras's order: branch by branch, conv before BN
 * before activation, pool before its 1x1 conv. */
#include "nets/common.h"

#include <stdio.h>

/* conv2d_bn(x, filters, num_row, num_col, padding, strides): Conv2D without
 * bias, BatchNormalization(scale=False) with the default epsilon 1e-3,
 * Activation("relu"). */
static zoo_sym *conv2d_bn(zoo_graph *g, zoo_sym *x, int filters, int rows, int cols,
                          int stride, zoo_padding pad)
{
    x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = filters,
                                                  .kernel = {rows, cols},
                                                  .strides = {stride, stride},
                                                  .padding = pad,
                                                  .no_bias = true}),
                  x);
    x = zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.no_scale = true}), x);
    return zoo_apply(zoo_activation_layer(g, &(zoo_activation_cfg){.activation = ZOO_ACT_RELU}),
                     x);
}

/* The common case: stride 1, 'same'. */
static zoo_sym *cbn(zoo_graph *g, zoo_sym *x, int filters, int rows, int cols)
{
    return conv2d_bn(g, x, filters, rows, cols, 1, ZOO_PAD_SAME);
}

static zoo_sym *avg_pool_3x3_same(zoo_graph *g, zoo_sym *x)
{
    return zoo_apply(zoo_avg_pool2d(g, &(zoo_pool2d_cfg){.pool = {3, 3},
                                                         .strides = {1, 1},
                                                         .padding = ZOO_PAD_SAME}),
                     x);
}

static zoo_sym *max_pool_3x3_s2(zoo_graph *g, zoo_sym *x)
{
    return zoo_apply(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.pool = {3, 3}, .strides = {2, 2}}),
                     x);
}

static zoo_sym *concat(zoo_graph *g, const char *name, zoo_sym *const *xs, int n)
{
    return zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.name = name}), xs, n);
}

/* mixed0-2 (35x35): 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg -> 1x1. */
static zoo_sym *block_35(zoo_graph *g, zoo_sym *x, int pool_filters, const char *name)
{
    zoo_sym *b1x1 = cbn(g, x, 64, 1, 1);
    zoo_sym *b5x5 = cbn(g, x, 48, 1, 1);
    b5x5 = cbn(g, b5x5, 64, 5, 5);
    zoo_sym *b3dbl = cbn(g, x, 64, 1, 1);
    b3dbl = cbn(g, b3dbl, 96, 3, 3);
    b3dbl = cbn(g, b3dbl, 96, 3, 3);
    zoo_sym *bpool = cbn(g, avg_pool_3x3_same(g, x), pool_filters, 1, 1);
    return concat(g, name, (zoo_sym *[]){b1x1, b5x5, b3dbl, bpool}, 4);
}

/* mixed4-7 (17x17), factorised 7x7 convolutions with c7 inner filters. */
static zoo_sym *block_17(zoo_graph *g, zoo_sym *x, int c7, const char *name)
{
    zoo_sym *b1x1 = cbn(g, x, 192, 1, 1);
    zoo_sym *b7x7 = cbn(g, x, c7, 1, 1);
    b7x7 = cbn(g, b7x7, c7, 1, 7);
    b7x7 = cbn(g, b7x7, 192, 7, 1);
    zoo_sym *b7dbl = cbn(g, x, c7, 1, 1);
    b7dbl = cbn(g, b7dbl, c7, 7, 1);
    b7dbl = cbn(g, b7dbl, c7, 1, 7);
    b7dbl = cbn(g, b7dbl, c7, 7, 1);
    b7dbl = cbn(g, b7dbl, 192, 1, 7);
    zoo_sym *bpool = cbn(g, avg_pool_3x3_same(g, x), 192, 1, 1);
    return concat(g, name, (zoo_sym *[]){b1x1, b7x7, b7dbl, bpool}, 4);
}

/* mixed9/10 (8x8), i = 0 or 1. */
static zoo_sym *block_8(zoo_graph *g, zoo_sym *x, int i)
{
    char name[24], inner[24];
    snprintf(name, sizeof name, "mixed%d", 9 + i);
    snprintf(inner, sizeof inner, "mixed9_%d", i);
    zoo_sym *b1x1 = cbn(g, x, 320, 1, 1);
    zoo_sym *b3x3 = cbn(g, x, 384, 1, 1);
    zoo_sym *b3x3_1 = cbn(g, b3x3, 384, 1, 3);
    zoo_sym *b3x3_2 = cbn(g, b3x3, 384, 3, 1);
    b3x3 = concat(g, inner, (zoo_sym *[]){b3x3_1, b3x3_2}, 2);
    zoo_sym *b3dbl = cbn(g, x, 448, 1, 1);
    b3dbl = cbn(g, b3dbl, 384, 3, 3);
    zoo_sym *b3dbl_1 = cbn(g, b3dbl, 384, 1, 3);
    zoo_sym *b3dbl_2 = cbn(g, b3dbl, 384, 3, 1);
    b3dbl = concat(g, NULL, (zoo_sym *[]){b3dbl_1, b3dbl_2}, 2); /* auto-named */
    zoo_sym *bpool = cbn(g, avg_pool_3x3_same(g, x), 192, 1, 1);
    return concat(g, name, (zoo_sym *[]){b1x1, b3x3, b3dbl, bpool}, 4);
}

zoo_model *zoo_net_inception_v3(const zoo_net_opts *opts)
{
    zoo_net_opts o = opts ? *opts : (zoo_net_opts){0};
    int shape[3];
    if (zoo_net_input_shape(&o, 299, 75, shape) != ZOO_OK)
        return NULL;
    zoo_graph *g = zoo_net_graph(&o);
    zoo_sym *in = zoo_input(g, 3, shape, NULL);

    zoo_sym *x = conv2d_bn(g, in, 32, 3, 3, 2, ZOO_PAD_VALID);
    x = conv2d_bn(g, x, 32, 3, 3, 1, ZOO_PAD_VALID);
    x = cbn(g, x, 64, 3, 3);
    x = max_pool_3x3_s2(g, x);
    x = conv2d_bn(g, x, 80, 1, 1, 1, ZOO_PAD_VALID);
    x = conv2d_bn(g, x, 192, 3, 3, 1, ZOO_PAD_VALID);
    x = max_pool_3x3_s2(g, x);

    x = block_35(g, x, 32, "mixed0");
    x = block_35(g, x, 64, "mixed1");
    x = block_35(g, x, 64, "mixed2");

    /* mixed3: 17x17x768 (reduction). */
    {
        zoo_sym *b3x3 = conv2d_bn(g, x, 384, 3, 3, 2, ZOO_PAD_VALID);
        zoo_sym *b3dbl = cbn(g, x, 64, 1, 1);
        b3dbl = cbn(g, b3dbl, 96, 3, 3);
        b3dbl = conv2d_bn(g, b3dbl, 96, 3, 3, 2, ZOO_PAD_VALID);
        zoo_sym *bpool = max_pool_3x3_s2(g, x);
        x = concat(g, "mixed3", (zoo_sym *[]){b3x3, b3dbl, bpool}, 3);
    }

    x = block_17(g, x, 128, "mixed4");
    x = block_17(g, x, 160, "mixed5");
    x = block_17(g, x, 160, "mixed6");
    x = block_17(g, x, 192, "mixed7");

    /* mixed8: 8x8x1280 (reduction). */
    {
        zoo_sym *b3x3 = cbn(g, x, 192, 1, 1);
        b3x3 = conv2d_bn(g, b3x3, 320, 3, 3, 2, ZOO_PAD_VALID);
        zoo_sym *b7x3 = cbn(g, x, 192, 1, 1);
        b7x3 = cbn(g, b7x3, 192, 1, 7);
        b7x3 = cbn(g, b7x3, 192, 7, 1);
        b7x3 = conv2d_bn(g, b7x3, 192, 3, 3, 2, ZOO_PAD_VALID);
        zoo_sym *bpool = max_pool_3x3_s2(g, x);
        x = concat(g, "mixed8", (zoo_sym *[]){b3x3, b7x3, bpool}, 3);
    }

    x = block_8(g, x, 0);
    x = block_8(g, x, 1);

    /* The top's GAP is "avg_pool"; the optional pooling layers are unnamed. */
    x = zoo_net_head(g, x, &o, o.no_top ? NULL : "avg_pool", NULL);
    return zoo_net_finish(g, in, x, "inception_v3");
}
