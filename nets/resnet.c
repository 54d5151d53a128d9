/* ResNet50 (v1) as keras/src/applications/resnet.py builds it. */
#include "nets/common.h"

#include <stdio.h>

#define RESNET_BN_EPSILON 1.001e-5f

static zoo_sym *conv_bn(zoo_graph *g, zoo_sym *x, int filters, int kernel,
                        int stride, zoo_padding pad, const char *prefix,
                        const char *part)
{
    char conv[96], bn[96];
    snprintf(conv, sizeof conv, "%s_%s_conv", prefix, part);
    snprintf(bn, sizeof bn, "%s_%s_bn", prefix, part);
    x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = conv,
                                                  .filters = filters,
                                                  .kernel = {kernel, kernel},
                                                  .strides = {stride, stride},
                                                  .padding = pad}),
                  x);
    return zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = bn,
                                                              .epsilon = RESNET_BN_EPSILON}),
                     x);
}

static zoo_sym *relu(zoo_graph *g, zoo_sym *x, const char *prefix, const char *suffix)
{
    char name[96];
    snprintf(name, sizeof name, "%s_%s", prefix, suffix);
    return zoo_apply(zoo_activation_layer(g, &(zoo_activation_cfg){.name = name,
                                                                    .activation = ZOO_ACT_RELU}),
                     x);
}

/* residual_block_v1: the shortcut conv is created first, the sum is
 * Add([shortcut, x]). */
static zoo_sym *block(zoo_graph *g, zoo_sym *x, int filters, int stride,
                      bool conv_shortcut, const char *name)
{
    zoo_sym *shortcut = x;
    if (conv_shortcut)
        shortcut = conv_bn(g, x, 4 * filters, 1, stride, ZOO_PAD_VALID, name, "0");
    x = relu(g, conv_bn(g, x, filters, 1, stride, ZOO_PAD_VALID, name, "1"), name, "1_relu");
    x = relu(g, conv_bn(g, x, filters, 3, 1, ZOO_PAD_SAME, name, "2"), name, "2_relu");
    x = conv_bn(g, x, 4 * filters, 1, 1, ZOO_PAD_VALID, name, "3");
    char add[96];
    snprintf(add, sizeof add, "%s_add", name);
    x = zoo_apply_n(zoo_add(g, &(zoo_named_cfg){.name = add}), (zoo_sym *[]){shortcut, x}, 2);
    return relu(g, x, name, "out");
}

static zoo_sym *stack(zoo_graph *g, zoo_sym *x, int filters, int blocks,
                      int stride1, const char *name)
{
    char block_name[64];
    for (int i = 1; i <= blocks; i++) {
        snprintf(block_name, sizeof block_name, "%s_block%d", name, i);
        x = block(g, x, filters, i == 1 ? stride1 : 1, i == 1, block_name);
    }
    return x;
}

zoo_model *zoo_net_resnet50(const zoo_net_opts *opts)
{
    zoo_net_opts o = opts ? *opts : (zoo_net_opts){0};
    int shape[3];
    if (zoo_net_input_shape(&o, 224, 32, shape) != ZOO_OK)
        return NULL;
    zoo_graph *g = zoo_net_graph(&o);
    zoo_sym *in = zoo_input(g, 3, shape, NULL);
    zoo_sym *x = zoo_apply(zoo_zero_padding2d(g, &(zoo_padding2d_cfg){.name = "conv1_pad",
                                                                       .pad = {3, 3, 3, 3}}),
                           in);
    x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "conv1_conv",
                                                  .filters = 64,
                                                  .kernel = {7, 7},
                                                  .strides = {2, 2}}),
                  x);
    x = zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = "conv1_bn",
                                                          .epsilon = RESNET_BN_EPSILON}),
                  x);
    x = relu(g, x, "conv1", "relu");
    x = zoo_apply(zoo_zero_padding2d(g, &(zoo_padding2d_cfg){.name = "pool1_pad",
                                                             .pad = {1, 1, 1, 1}}),
                  x);
    x = zoo_apply(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.name = "pool1_pool",
                                                      .pool = {3, 3},
                                                      .strides = {2, 2}}),
                  x);
    x = stack(g, x, 64, 3, 1, "conv2");
    x = stack(g, x, 128, 4, 2, "conv3");
    x = stack(g, x, 256, 6, 2, "conv4");
    x = stack(g, x, 512, 3, 2, "conv5");
    x = zoo_net_head(g, x, &o, "avg_pool", "max_pool");
    return zoo_net_finish(g, in, x, "resnet50");
}
