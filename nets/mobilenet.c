/* MobileNet (v1) as keras/src/applications/mobilenet.py builds it. */
#include "nets/common.h"

#include <stdio.h>
#include <stdlib.h>

/* Stride-2 depthwise blocks (the others use stride 1). */
static bool strided(int block_id)
{
    return block_id == 2 || block_id == 4 || block_id == 6 || block_id == 12;
}

static zoo_sym *relu6(zoo_graph *g, zoo_sym *x, const char *name)
{
    return zoo_apply(zoo_relu(g, &(zoo_relu_cfg){.name = name, .max_value = 6.0f}), x);
}

static zoo_sym *bn(zoo_graph *g, zoo_sym *x, const char *name)
{
    /* Keras defaults: epsilon 1e-3, momentum 0.99. */
    return zoo_apply(zoo_batch_norm(g, &(zoo_batch_norm_cfg){.name = name}), x);
}

/* _depthwise_conv_block: [conv_pad_N ((0,1),(0,1))] -> conv_dw_N (3x3,
 * 'same' at stride 1, 'valid' at stride 2, no bias) -> BN -> ReLU6 ->
 * conv_pw_N (1x1, no bias) -> BN -> ReLU6. */
static zoo_sym *dw_block(zoo_graph *g, zoo_sym *x, int pw_filters, int depth_multiplier,
                         int block_id)
{
    char name[48];
    int stride = strided(block_id) ? 2 : 1;
    if (stride == 2) {
        snprintf(name, sizeof name, "conv_pad_%d", block_id);
        x = zoo_apply(zoo_zero_padding2d(g, &(zoo_padding2d_cfg){.name = name,
                                                                 .pad = {0, 1, 0, 1}}),
                      x);
    }
    snprintf(name, sizeof name, "conv_dw_%d", block_id);
    x = zoo_apply(zoo_depthwise_conv2d(g, &(zoo_depthwise_conv2d_cfg){
                                              .name = name,
                                              .kernel = {3, 3},
                                              .strides = {stride, stride},
                                              .depth_multiplier = depth_multiplier,
                                              .padding = stride == 1 ? ZOO_PAD_SAME
                                                                     : ZOO_PAD_VALID,
                                              .no_bias = true,
                                          }),
                  x);
    snprintf(name, sizeof name, "conv_dw_%d_bn", block_id);
    x = bn(g, x, name);
    snprintf(name, sizeof name, "conv_dw_%d_relu", block_id);
    x = relu6(g, x, name);
    snprintf(name, sizeof name, "conv_pw_%d", block_id);
    x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = name,
                                                  .filters = pw_filters,
                                                  .kernel = {1, 1},
                                                  .padding = ZOO_PAD_SAME,
                                                  .no_bias = true}),
                  x);
    snprintf(name, sizeof name, "conv_pw_%d_bn", block_id);
    x = bn(g, x, name);
    snprintf(name, sizeof name, "conv_pw_%d_relu", block_id);
    return relu6(g, x, name);
}

zoo_model *zoo_net_mobilenet(const zoo_net_opts *opts)
{
    static const int pw_filters[13] = {64, 128, 128, 256, 256, 512, 512,
                                       512, 512, 512, 512, 1024, 1024};
    zoo_net_opts o = opts ? *opts : (zoo_net_opts){0};
    if (o.alpha == 0.0f)
        o.alpha = 1.0f;
    if (!(o.alpha > 0.0f && o.alpha <= 1000.0f)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "MobileNet: alpha must be positive (and at most 1000); Received alpha=%g",
                  (double)o.alpha);
        return NULL;
    }
    if (o.depth_multiplier == 0)
        o.depth_multiplier = 1;
    if (o.depth_multiplier < 0 || o.depth_multiplier > 1000) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "MobileNet: depth_multiplier must be in [1, 1000]; Received "
                  "depth_multiplier=%d",
                  o.depth_multiplier);
        return NULL;
    }
    if (o.dropout == 0.0f)
        o.dropout = 1e-3f;
    if (!(o.dropout >= 0.0f && o.dropout < 1.0f)) {
        zoo_error(ZOO_ERR_ARGUMENT, "MobileNet: dropout must be in [0, 1); Received dropout=%g",
                  (double)o.dropout);
        return NULL;
    }
    double alpha = zoo_net_alpha_as_typed(o.alpha);
    if ((int)(32 * alpha) < 1) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "MobileNet: alpha=%g leaves the first convolution with no filters "
                  "(int(32 * alpha) = 0)",
                  alpha);
        return NULL;
    }

    /* A square side Keras has weights for becomes the default size (so the
     * top accepts it); anything else falls back to 224. */
    int default_size = 224;
    const int *req = o.input_shape;
    if (req[0] == req[1] && (req[0] == 128 || req[0] == 160 || req[0] == 192 || req[0] == 224))
        default_size = req[0];
    int shape[3];
    if (zoo_net_input_shape(&o, default_size, 32, shape) != ZOO_OK)
        return NULL;

    zoo_graph *g = zoo_net_graph(&o);
    zoo_sym *in = zoo_input(g, 3, shape, NULL);
    /* _conv_block: conv1 3x3/2 'same', no bias. */
    zoo_sym *x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "conv1",
                                                           .filters = (int)(32 * alpha),
                                                           .kernel = {3, 3},
                                                           .strides = {2, 2},
                                                           .padding = ZOO_PAD_SAME,
                                                           .no_bias = true}),
                           in);
    x = bn(g, x, "conv1_bn");
    x = relu6(g, x, "conv1_relu");
    for (int b = 1; b <= 13; b++)
        x = dw_block(g, x, (int)(pw_filters[b - 1] * alpha), o.depth_multiplier, b);

    int classes = o.classes ? o.classes : 1000;
    if (!o.no_top) {
        x = zoo_apply(zoo_global_avg_pool2d(g, &(zoo_global_pool2d_cfg){.keepdims = true}), x);
        x = zoo_apply(zoo_dropout(g, &(zoo_dropout_cfg){.name = "dropout", .rate = o.dropout}),
                      x);
        x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = "conv_preds",
                                                      .filters = classes,
                                                      .kernel = {1, 1},
                                                      .padding = ZOO_PAD_SAME}),
                      x);
        x = zoo_apply(zoo_reshape(g, &(zoo_reshape_cfg){.name = "reshape_2",
                                                        .rank = 1,
                                                        .shape = {classes}}),
                      x);
        x = zoo_apply(zoo_activation_layer(g, &(zoo_activation_cfg){
                                                  .name = "predictions",
                                                  .activation = o.logits ? ZOO_ACT_LINEAR
                                                                         : ZOO_ACT_SOFTMAX,
                                              }),
                      x);
    } else {
        /* Keras leaves MobileNet's optional pooling layers unnamed. */
        x = zoo_net_head(g, x, &o, NULL, NULL);
    }

    /* Keras: f"mobilenet_{alpha:0.2f}_{rows}", rows as its default call
     * (weights="imagenet") sets them: the side when it is one of the
     * weight sizes, else 224. */
    char name[64];
    snprintf(name, sizeof name, "mobilenet_%0.2f_%d", alpha, default_size);
    return zoo_net_finish(g, in, x, name);
}
