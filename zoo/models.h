/*
 * The zoo's model registry: each application's name, builder, input size,
 * preprocessing mode and official weight files. Installed as <zoo/models.h>.
 */
#ifndef ZOO_MODELS_H
#define ZOO_MODELS_H

#include <zoo/nets.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *url;  /* official Keras URL */
    const char *hash; /* MD5 as Keras checks it; NULL where Keras checks none */
} zoo_weight_file;

typedef struct {
    const char *name;       /* "resnet50": the CLI and registry name */
    const char *keras_name; /* "ResNet50" */
    int default_size;       /* square input side */
    int min_size;           /* smallest side without the top */
    const char *preprocess; /* preprocess_input mode: "caffe", "tf", "torch" */
    zoo_model *(*build)(const zoo_net_opts *opts);
    zoo_weight_file top;    /* ImageNet weights with the classifier */
    zoo_weight_file no_top; /* ... and without */
} zoo_model_info;

/* Registry lookup by name (case-sensitive); NULL with an error naming the
 * known models if absent. */
const zoo_model_info *zoo_model_find(const char *name);
int zoo_model_info_count(void);
const zoo_model_info *zoo_model_info_at(int i);

#ifdef __cplusplus
}
#endif

#endif /* ZOO_MODELS_H */
