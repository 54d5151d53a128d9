/* MobileNetV2 as keras/src/applications/mobilenet_v2.py builds it. */
#include "nets/common.h"

#include <stdio.h>
#include <stdlib.h>

#define MBV2_BN_EPSILON 1e-3f
#define MBV2_BN_MOMENTUM 0.999f

/* _make_divisible(v, 8): nearest multiple of 8 (half up), at least 8, and
 * never more than 10% below v. */
static int make_divisible(double v)
{
    const int divisor = 8;
    int new_v = (int)(v + divisor / 2.0) / divisor * divisor;
    if (new_v < divisor)
        new_v = divisor;
    if (new_v < 0.9 * v)
        new_v += divisor;
    return new_v;
}

static zoo_sym *bn(zoo_graph *g, zoo_sym *x, const char *name)
{
    return zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = name,
                                                              .epsilon = MBV2_BN_EPSILON,
                                                              .momentum = MBV2_BN_MOMENTUM}),
                     x);
}

static zoo_sym *relu6(zoo_graph *g, zoo_sym *x, const char *name)
{
    return zoo_apply(zoo_relu(g, &(zoo_relu_cfg){.name = name, .max_value = 6.0f}), x);
}

static zoo_sym *conv1x1(zoo_graph *g, zoo_sym *x, int filters, const char *name)
{
    return zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = name,
                                                     .filters = filters,
                                                     .kernel = {1, 1},
                                                     .padding = ZOO_PAD_SAME,
                                                     .no_bias = true}),
                     x);
}

/* _inverted_res_block. Block 0 has no expansion and the prefix
 * "expanded_conv_"; stride-2 blocks pad with correct_pad(x, 3) and run the
 * depthwise conv 'valid'; the project conv is linear; Add([inputs, x])
 * when the stride is 1 and the channel count is kept. */
static zoo_sym *inverted_res_block(zoo_graph *g, zoo_sym *inputs, int expansion, int stride,
                                   double alpha, int filters, int block_id)
{
    if (!inputs)
        return NULL;
    int in_channels = zoo_sym_shape(inputs)[3];
    int pointwise_filters = make_divisible((int)(filters * alpha));
    char prefix[32], name[64];
    zoo_sym *x = inputs;
    if (block_id) {
        snprintf(prefix, sizeof prefix, "block_%d_", block_id);
        snprintf(name, sizeof name, "%sexpand", prefix);
        x = conv1x1(g, x, expansion * in_channels, name);
        snprintf(name, sizeof name, "%sexpand_BN", prefix);
        x = bn(g, x, name);
        snprintf(name, sizeof name, "%sexpand_relu", prefix);
        x = relu6(g, x, name);
    } else {
        snprintf(prefix, sizeof prefix, "expanded_conv_");
    }

    if (stride == 2) {
        /* correct_pad(x, 3): ((1 - a_h, 1), (1 - a_w, 1)), a = 1 for an
         * even side, 0 for an odd one. */
        const int *s = x ? zoo_sym_shape(x) : (const int[4]){0, 0, 0, 0};
        int adj_h = 1 - s[1] % 2, adj_w = 1 - s[2] % 2;
        snprintf(name, sizeof name, "%spad", prefix);
        x = zoo_apply(zoo_zero_padding2d(g, &(zoo_padding2d_cfg){
                                                .name = name,
                                                .pad = {1 - adj_h, 1, 1 - adj_w, 1},
                                            }),
                      x);
    }
    snprintf(name, sizeof name, "%sdepthwise", prefix);
    x = zoo_apply(zoo_depthwise_conv2d(g, &(zoo_depthwise_conv2d_cfg){
                                              .name = name,
                                              .kernel = {3, 3},
                                              .strides = {stride, stride},
                                              .padding = stride == 1 ? ZOO_PAD_SAME
                                                                     : ZOO_PAD_VALID,
                                              .no_bias = true,
                                          }),
                  x);
    snprintf(name, sizeof name, "%sdepthwise_BN", prefix);
    x = bn(g, x, name);
    snprintf(name, sizeof name, "%sdepthwise_relu", prefix);
    x = relu6(g, x, name);

    snprintf(name, sizeof name, "%sproject", prefix);
    x = conv1x1(g, x, pointwise_filters, name);
    snprintf(name, sizeof name, "%sproject_BN", prefix);
    x = bn(g, x, name);

    if (in_channels == pointwise_filters && stride == 1) {
        snprintf(name, sizeof name, "%sadd", prefix);
        return zoo_apply_n(zoo_add(g, &(zoo_named_cfg){.name = name}),
                           (zoo_sym *[]){inputs, x}, 2);
    }
    return x;
}

zoo_model *zoo_net_mobilenet_v2(const zoo_net_opts *opts)
{
    /* (filters, stride, expansion) of blocks 0..16. */
    static const int blocks[17][3] = {
        {16, 1, 1},  {24, 2, 6},  {24, 1, 6},  {32, 2, 6},  {32, 1, 6},  {32, 1, 6},
        {64, 2, 6},  {64, 1, 6},  {64, 1, 6},  {64, 1, 6},  {96, 1, 6},  {96, 1, 6},
        {96, 1, 6},  {160, 2, 6}, {160, 1, 6}, {160, 1, 6}, {320, 1, 6},
    };
    zoo_net_opts o = opts ? *opts : (zoo_net_opts){0};
    if (o.alpha == 0.0f)
        o.alpha = 1.0f;
    if (!(o.alpha > 0.0f && o.alpha <= 1000.0f)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "MobileNetV2: alpha must be positive (and at most 1000); Received alpha=%g",
                  (double)o.alpha);
        return NULL;
    }
    double alpha = zoo_net_alpha_as_typed(o.alpha);

    /* A square side Keras has weights for becomes the default size (so the
     * top accepts it); anything else falls back to 224. */
    int default_size = 224;
    const int *req = o.input_shape;
    if (req[0] == req[1] &&
        (req[0] == 96 || req[0] == 128 || req[0] == 160 || req[0] == 192 || req[0] == 224))
        default_size = req[0];
    int shape[3];
    if (zoo_net_input_shape(&o, default_size, 32, shape) != ZOO_OK)
        return NULL;

    zoo_graph *g = zoo_net_graph(&o);
    zoo_sym *in = zoo_input(g, 3, shape, NULL);
    zoo_sym *x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "Conv1",
                                                           .filters = make_divisible(32 * alpha),
                                                           .kernel = {3, 3},
                                                           .strides = {2, 2},
                                                           .padding = ZOO_PAD_SAME,
                                                           .no_bias = true}),
                           in);
    x = bn(g, x, "bn_Conv1");
    x = relu6(g, x, "Conv1_relu");
    for (int b = 0; b < 17; b++)
        x = inverted_res_block(g, x, blocks[b][2], blocks[b][1], alpha, blocks[b][0], b);

    /* No alpha on the last conv unless alpha > 1. */
    int last_filters = alpha > 1.0 ? make_divisible(1280 * alpha) : 1280;
    x = conv1x1(g, x, last_filters, "Conv_1");
    x = bn(g, x, "Conv_1_bn");
    x = relu6(g, x, "out_relu");
    /* The GAP (with the top, or pooling="avg") and GlobalMaxPooling2D are
     * unnamed in Keras. */
    x = zoo_net_head(g, x, &o, NULL, NULL);

    /* Keras: f"mobilenetv2_{alpha:0.2f}_{rows}", rows as its default call
     * (weights="imagenet") sets them. */
    char name[64];
    snprintf(name, sizeof name, "mobilenetv2_%0.2f_%d", alpha, default_size);
    return zoo_net_finish(g, in, x, name);
}
