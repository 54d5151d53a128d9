/* DenseNet121/169/201 as keras/src/applications/densenet.py builds them. */
#include "nets/common.h"

#include <stdio.h>

#define DENSENET_BN_EPSILON 1.001e-5f
#define DENSENET_GROWTH 32

static zoo_sym *bn(zoo_graph *g, zoo_sym *x, const char *name)
{
    return zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = name,
                                                              .epsilon = DENSENET_BN_EPSILON}),
                     x);
}

static zoo_sym *relu(zoo_graph *g, zoo_sym *x, const char *name)
{
    return zoo_apply(zoo_activation_layer(g, &(zoo_activation_cfg){.name = name,
                                                                    .activation = ZOO_ACT_RELU}),
                     x);
}

static zoo_sym *conv(zoo_graph *g, zoo_sym *x, int filters, int kernel, zoo_padding pad,
                     const char *name)
{
    return zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = name,
                                                     .filters = filters,
                                                     .kernel = {kernel, kernel},
                                                     .padding = pad,
                                                     .no_bias = true}),
                     x);
}

/* conv_block: BN-ReLU-Conv1x1(4*growth)-BN-ReLU-Conv3x3(growth, 'same'),
 * then Concatenate([x, x1]): the old features first. */
static zoo_sym *conv_block(zoo_graph *g, zoo_sym *x, const char *name)
{
    char n[64];
    snprintf(n, sizeof n, "%s_0_bn", name);
    zoo_sym *x1 = bn(g, x, n);
    snprintf(n, sizeof n, "%s_0_relu", name);
    x1 = relu(g, x1, n);
    snprintf(n, sizeof n, "%s_1_conv", name);
    x1 = conv(g, x1, 4 * DENSENET_GROWTH, 1, ZOO_PAD_VALID, n);
    snprintf(n, sizeof n, "%s_1_bn", name);
    x1 = bn(g, x1, n);
    snprintf(n, sizeof n, "%s_1_relu", name);
    x1 = relu(g, x1, n);
    snprintf(n, sizeof n, "%s_2_conv", name);
    x1 = conv(g, x1, DENSENET_GROWTH, 3, ZOO_PAD_SAME, n);
    snprintf(n, sizeof n, "%s_concat", name);
    return zoo_apply_n(zoo_concatenate(g, &(zoo_concat_cfg){.name = n}), (zoo_sym *[]){x, x1},
                       2);
}

static zoo_sym *dense_block(zoo_graph *g, zoo_sym *x, int blocks, const char *name)
{
    char n[48];
    for (int i = 1; i <= blocks; i++) {
        snprintf(n, sizeof n, "%s_block%d", name, i);
        x = conv_block(g, x, n);
    }
    return x;
}

/* transition_block(x, 0.5): BN-ReLU-Conv1x1(int(C * 0.5))-AvgPool 2x2/2
 * 'valid'. */
static zoo_sym *transition_block(zoo_graph *g, zoo_sym *x, const char *name)
{
    char n[48];
    snprintf(n, sizeof n, "%s_bn", name);
    x = bn(g, x, n);
    snprintf(n, sizeof n, "%s_relu", name);
    x = relu(g, x, n);
    int channels = x ? zoo_sym_shape(x)[3] : 0;
    snprintf(n, sizeof n, "%s_conv", name);
    x = conv(g, x, (int)(channels * 0.5), 1, ZOO_PAD_VALID, n);
    snprintf(n, sizeof n, "%s_pool", name);
    return zoo_apply(zoo_avg_pool2d(g, &(zoo_pool2d_cfg){.name = n,
                                                         .pool = {2, 2},
                                                         .strides = {2, 2}}),
                     x);
}

static zoo_model *densenet(const zoo_net_opts *opts, const int blocks[4], const char *model_name)
{
    zoo_net_opts o = opts ? *opts : (zoo_net_opts){0};
    int shape[3];
    if (zoo_net_input_shape(&o, 224, 32, shape) != ZOO_OK)
        return NULL;
    zoo_graph *g = zoo_net_graph(&o);
    zoo_sym *in = zoo_input(g, 3, shape, NULL);
    /* The two stem paddings are unnamed in Keras: "zero_padding2d" and
     * "zero_padding2d_1" on a fresh graph. */
    zoo_sym *x = zoo_apply(zoo_zero_padding2d(g, &(zoo_padding2d_cfg){.pad = {3, 3, 3, 3}}), in);
    x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "conv1_conv",
                                                  .filters = 64,
                                                  .kernel = {7, 7},
                                                  .strides = {2, 2},
                                                  .no_bias = true}),
                  x);
    x = bn(g, x, "conv1_bn");
    x = relu(g, x, "conv1_relu");
    x = zoo_apply(zoo_zero_padding2d(g, &(zoo_padding2d_cfg){.pad = {1, 1, 1, 1}}), x);
    x = zoo_apply(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.name = "pool1",
                                                      .pool = {3, 3},
                                                      .strides = {2, 2}}),
                  x);
    x = dense_block(g, x, blocks[0], "conv2");
    x = transition_block(g, x, "pool2");
    x = dense_block(g, x, blocks[1], "conv3");
    x = transition_block(g, x, "pool3");
    x = dense_block(g, x, blocks[2], "conv4");
    x = transition_block(g, x, "pool4");
    x = dense_block(g, x, blocks[3], "conv5");
    x = bn(g, x, "bn");
    x = relu(g, x, "relu");
    x = zoo_net_head(g, x, &o, "avg_pool", "max_pool");
    return zoo_net_finish(g, in, x, model_name);
}

zoo_model *zoo_net_densenet121(const zoo_net_opts *opts)
{
    return densenet(opts, (const int[4]){6, 12, 24, 16}, "densenet121");
}

zoo_model *zoo_net_densenet169(const zoo_net_opts *opts)
{
    return densenet(opts, (const int[4]){6, 12, 32, 32}, "densenet169");
}

zoo_model *zoo_net_densenet201(const zoo_net_opts *opts)
{
    return densenet(opts, (const int[4]){6, 12, 48, 32}, "densenet201");
}
