/*
 * make_base_weights NAME H W OUT.h5 [SEED]: a registry model without its
 * top (pooling avg) at input H x W, randomly initialised from SEED, saved in
 * Keras's save_weights layout. It stands in for downloaded ImageNet weights
 * in the transfer-learning example's CI run, which has no network.
 */
#include <zoo/zoo.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: make_base_weights NAME H W OUT.h5 [SEED]\n");
        return 2;
    }
    const zoo_model_info *info = zoo_model_find(argv[1]);
    zoo_model *m = NULL;
    if (info) {
        zoo_net_opts o = {.no_top = true, .pooling = ZOO_POOL_AVG,
                          .input_shape = {atoi(argv[2]), atoi(argv[3]), 3},
                          .seed = argc == 6 ? strtoull(argv[5], NULL, 10) : 1};
        m = info->build(&o);
    }
    if (!m || zoo_model_save_weights(m, argv[4]) != ZOO_OK) {
        fprintf(stderr, "make_base_weights: %s\n", zoo_last_error());
        zoo_model_free(m);
        return 1;
    }
    zoo_model_free(m);
    return 0;
}
