/* Xception as keras/src/applications/xception.py builds it.
 *
 * The residual 1x1 Conv2D + BatchNormalization of blocks 2, 3, 4 and 13 and
 * every Add are unnamed in Keras, so they take the automatic names
 * ("conv2d", "batch_normalization", "add", ...). Keras creates each
 * residual branch before the block's main path, and sums Add([x, residual]):
 * this file keeps both orders. */
#include "nets/common.h"

#include <stdio.h>

static zoo_sym *bn(zoo_graph *g, zoo_sym *x, const char *name)
{
    return zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = name}), x);
}

static zoo_sym *relu(zoo_graph *g, zoo_sym *x, const char *name)
{
    return zoo_apply(zoo_activation_layer(g, &(zoo_activation_cfg){.name = name,
                                                                    .activation = ZOO_ACT_RELU}),
                     x);
}

/* SeparableConv2D 3x3 'same' without bias, then its BN "<name>_bn". */
static zoo_sym *sepconv_bn(zoo_graph *g, zoo_sym *x, int filters, const char *name)
{
    char bn_name[96];
    snprintf(bn_name, sizeof bn_name, "%.80s_bn", name);
    x = zoo_apply(zoo_separable_conv2d(g, &(zoo_separable_conv2d_cfg){.name = name,
                                                                      .filters = filters,
                                                                      .kernel = {3, 3},
                                                                      .padding = ZOO_PAD_SAME,
                                                                      .no_bias = true}),
                  x);
    return bn(g, x, bn_name);
}

/* "<prefix>_sepconv<k>_act" then "<prefix>_sepconv<k>" + "_bn". */
static zoo_sym *act_sepconv_bn(zoo_graph *g, zoo_sym *x, int filters, int block, int k)
{
    char name[48];
    snprintf(name, sizeof name, "block%d_sepconv%d_act", block, k);
    x = relu(g, x, name);
    snprintf(name, sizeof name, "block%d_sepconv%d", block, k);
    return sepconv_bn(g, x, filters, name);
}

/* The unnamed residual branch: Conv2D 1x1/2 'same' without bias + BN. */
static zoo_sym *residual_conv(zoo_graph *g, zoo_sym *x, int filters)
{
    x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = filters,
                                                  .kernel = {1, 1},
                                                  .strides = {2, 2},
                                                  .padding = ZOO_PAD_SAME,
                                                  .no_bias = true}),
                  x);
    return bn(g, x, NULL);
}

static zoo_sym *pool_add(zoo_graph *g, zoo_sym *x, zoo_sym *residual, int block)
{
    char name[32];
    snprintf(name, sizeof name, "block%d_pool", block);
    x = zoo_apply(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.name = name,
                                                      .pool = {3, 3},
                                                      .strides = {2, 2},
                                                      .padding = ZOO_PAD_SAME}),
                  x);
    return zoo_apply_n(zoo_add(g, NULL), (zoo_sym *[]){x, residual}, 2);
}

/* Blocks 3, 4 (entry flow) and 13 (exit flow): residual first, then
 * act -> sep -> bn -> act -> sep -> bn -> pool, then add. */
static zoo_sym *reduction_block(zoo_graph *g, zoo_sym *x, int f1, int f2, int block)
{
    zoo_sym *residual = residual_conv(g, x, f2);
    x = act_sepconv_bn(g, x, f1, block, 1);
    x = act_sepconv_bn(g, x, f2, block, 2);
    return pool_add(g, x, residual, block);
}

zoo_model *zoo_net_xception(const zoo_net_opts *opts)
{
    zoo_net_opts o = opts ? *opts : (zoo_net_opts){0};
    int shape[3];
    if (zoo_net_input_shape(&o, 299, 71, shape) != ZOO_OK)
        return NULL;
    zoo_graph *g = zoo_net_graph(&o);
    zoo_sym *in = zoo_input(g, 3, shape, NULL);

    /* Block 1: two 'valid' convs without bias. */
    zoo_sym *x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "block1_conv1",
                                                           .filters = 32,
                                                           .kernel = {3, 3},
                                                           .strides = {2, 2},
                                                           .no_bias = true}),
                           in);
    x = bn(g, x, "block1_conv1_bn");
    x = relu(g, x, "block1_conv1_act");
    x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "block1_conv2",
                                                  .filters = 64,
                                                  .kernel = {3, 3},
                                                  .no_bias = true}),
                  x);
    x = bn(g, x, "block1_conv2_bn");
    x = relu(g, x, "block1_conv2_act");

    /* Block 2: no leading activation (its input is already activated); the
     * middle activation is named block2_sepconv2_act. */
    zoo_sym *residual = residual_conv(g, x, 128);
    x = sepconv_bn(g, x, 128, "block2_sepconv1");
    x = act_sepconv_bn(g, x, 128, 2, 2);
    x = pool_add(g, x, residual, 2);

    x = reduction_block(g, x, 256, 256, 3);
    x = reduction_block(g, x, 728, 728, 4);

    /* Middle flow: blocks 5-12, identity residual. */
    for (int b = 5; b <= 12; b++) {
        residual = x;
        for (int k = 1; k <= 3; k++)
            x = act_sepconv_bn(g, x, 728, b, k);
        x = zoo_apply_n(zoo_add(g, NULL), (zoo_sym *[]){x, residual}, 2);
    }

    /* Exit flow. */
    x = reduction_block(g, x, 728, 1024, 13);
    x = sepconv_bn(g, x, 1536, "block14_sepconv1");
    x = relu(g, x, "block14_sepconv1_act");
    x = sepconv_bn(g, x, 2048, "block14_sepconv2");
    x = relu(g, x, "block14_sepconv2_act");

    /* The top's GAP is "avg_pool"; the optional pooling layers are unnamed. */
    x = zoo_net_head(g, x, &o, o.no_top ? NULL : "avg_pool", NULL);
    return zoo_net_finish(g, in, x, "xception");
}
