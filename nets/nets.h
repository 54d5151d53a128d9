/*
 * zoo nets: the Keras applications' architectures, layer for layer (names,
 * order, hyper-parameters), built on the engine. Installed as
 * <zoo/nets.h>. Weights are not loaded here: a built model holds freshly
 * initialised weights.
 */
#ifndef ZOO_NETS_H
#define ZOO_NETS_H

#include <zoo/engine.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ZOO_POOL_NONE = 0,
    ZOO_POOL_AVG,
    ZOO_POOL_MAX,
} zoo_pooling;

/* Keras's application arguments; zero fields mean Keras's defaults. */
typedef struct {
    bool no_top;           /* include_top=False */
    int input_shape[3];    /* (H, W, C); zeros: the model's default */
    zoo_pooling pooling;   /* only without the top */
    int classes;           /* 0 means 1000 */
    bool logits;           /* classifier_activation=None */
    unsigned long long seed; /* weight initialisation */
    float alpha;           /* MobileNet / MobileNetV2 width; 0 means 1.0 */
    int depth_multiplier;  /* MobileNet; 0 means 1 */
    float dropout;         /* MobileNet's top dropout; 0 means 1e-3 */
    bool skip_random_init; /* kernels stay zero: weights will be loaded */
} zoo_net_opts;

zoo_model *zoo_net_vgg16(const zoo_net_opts *opts);
zoo_model *zoo_net_vgg19(const zoo_net_opts *opts);
zoo_model *zoo_net_resnet50(const zoo_net_opts *opts);
zoo_model *zoo_net_inception_v3(const zoo_net_opts *opts);
zoo_model *zoo_net_xception(const zoo_net_opts *opts);
zoo_model *zoo_net_mobilenet(const zoo_net_opts *opts);
zoo_model *zoo_net_mobilenet_v2(const zoo_net_opts *opts);
zoo_model *zoo_net_densenet121(const zoo_net_opts *opts);
zoo_model *zoo_net_densenet169(const zoo_net_opts *opts);
zoo_model *zoo_net_densenet201(const zoo_net_opts *opts);

#ifdef __cplusplus
}
#endif

#endif /* ZOO_NETS_H */
