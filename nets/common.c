/* Pieces shared by the architectures: input checks, the top, wrap-up. */
#include "nets/common.h"

#include <stdio.h>
#include <stdlib.h>

zoo_status zoo_net_input_shape(const zoo_net_opts *o, int default_size,
                               int min_size, int shape[3])
{
    const int *s = o->input_shape;
    if (s[0] == 0 && s[1] == 0 && s[2] == 0) {
        shape[0] = shape[1] = default_size;
        shape[2] = 3;
        return ZOO_OK;
    }
    if (s[2] != 3)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "input_shape (%d, %d, %d): the input must have 3 channels",
                         s[0], s[1], s[2]);
    if (!o->no_top && (s[0] != default_size || s[1] != default_size))
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "input_shape (%d, %d, %d): with the top the input must be "
                         "(%d, %d, 3); use no_top for other sizes",
                         s[0], s[1], s[2], default_size, default_size);
    if (s[0] < min_size || s[1] < min_size)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "Input size must be at least %dx%d; Received: "
                         "input_shape=(%d, %d, %d)",
                         min_size, min_size, s[0], s[1], s[2]);
    shape[0] = s[0];
    shape[1] = s[1];
    shape[2] = s[2];
    return ZOO_OK;
}

zoo_sym *zoo_net_head(zoo_graph *g, zoo_sym *x, const zoo_net_opts *o,
                      const char *avg_name, const char *max_name)
{
    if (!o->no_top) {
        x = zoo_apply(zoo_global_avg_pool2d(g, &(zoo_global_pool2d_cfg){.name = avg_name}), x);
        return zoo_apply(zoo_dense(g, &(zoo_dense_cfg){
                                          .name = "predictions",
                                          .units = o->classes ? o->classes : 1000,
                                          .activation = o->logits ? ZOO_ACT_LINEAR
                                                                  : ZOO_ACT_SOFTMAX,
                                      }),
                         x);
    }
    if (o->pooling == ZOO_POOL_AVG)
        return zoo_apply(zoo_global_avg_pool2d(g, &(zoo_global_pool2d_cfg){.name = avg_name}), x);
    if (o->pooling == ZOO_POOL_MAX)
        return zoo_apply(zoo_global_max_pool2d(g, &(zoo_global_pool2d_cfg){.name = max_name}), x);
    return x;
}

zoo_graph *zoo_net_graph(const zoo_net_opts *o)
{
    zoo_graph *g = zoo_graph_new(o->seed);
    zoo_graph_skip_random_init(g, o->skip_random_init);
    return g;
}

zoo_model *zoo_net_finish(zoo_graph *g, zoo_sym *in, zoo_sym *x, const char *name)
{
    zoo_model *m = x ? zoo_model_new(&in, 1, &x, 1, name) : NULL;
    zoo_graph_release(g);
    return m;
}

double zoo_net_alpha_as_typed(float alpha)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)alpha);
        if (strtof(buf, NULL) == alpha)
            break;
    }
    return strtod(buf, NULL);
}
