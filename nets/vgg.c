/* VGG16 and VGG19 as keras/src/applications/vgg16.py / vgg19.py build them. */
#include "nets/common.h"

#include <stdio.h>

static zoo_model *vgg(const zoo_net_opts *opts, const int convs[5], const char *name)
{
    static const int filters[5] = {64, 128, 256, 512, 512};
    zoo_net_opts o = opts ? *opts : (zoo_net_opts){0};
    int shape[3];
    if (zoo_net_input_shape(&o, 224, 32, shape) != ZOO_OK)
        return NULL;
    zoo_graph *g = zoo_net_graph(&o);
    zoo_sym *in = zoo_input(g, 3, shape, NULL);
    zoo_sym *x = in;
    char layer[32];
    for (int b = 0; b < 5; b++) {
        for (int c = 1; c <= convs[b]; c++) {
            snprintf(layer, sizeof layer, "block%d_conv%d", b + 1, c);
            x = zoo_apply(zoo_conv2d(g, &(zoo_conv2d_cfg){.name = layer,
                                                          .filters = filters[b],
                                                          .kernel = {3, 3},
                                                          .padding = ZOO_PAD_SAME,
                                                          .activation = ZOO_ACT_RELU}),
                          x);
        }
        snprintf(layer, sizeof layer, "block%d_pool", b + 1);
        x = zoo_apply(zoo_max_pool2d(g, &(zoo_pool2d_cfg){.name = layer,
                                                          .pool = {2, 2},
                                                          .strides = {2, 2}}),
                      x);
    }
    if (!o.no_top) {
        x = zoo_apply(zoo_flatten(g, &(zoo_named_cfg){.name = "flatten"}), x);
        x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "fc1", .units = 4096,
                                                    .activation = ZOO_ACT_RELU}),
                      x);
        x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.name = "fc2", .units = 4096,
                                                    .activation = ZOO_ACT_RELU}),
                      x);
        x = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){
                                       .name = "predictions",
                                       .units = o.classes ? o.classes : 1000,
                                       .activation = o.logits ? ZOO_ACT_LINEAR : ZOO_ACT_SOFTMAX,
                                   }),
                      x);
    } else {
        /* Keras leaves the optional pooling layers of VGG unnamed. */
        x = zoo_net_head(g, x, &o, NULL, NULL);
    }
    return zoo_net_finish(g, in, x, name);
}

zoo_model *zoo_net_vgg16(const zoo_net_opts *opts)
{
    return vgg(opts, (const int[5]){2, 2, 3, 3, 3}, "vgg16");
}

zoo_model *zoo_net_vgg19(const zoo_net_opts *opts)
{
    return vgg(opts, (const int[5]){2, 2, 4, 4, 4}, "vgg19");
}
