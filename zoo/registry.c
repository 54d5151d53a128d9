/* The registry table. URLs and MD5s are those current Keras uses
 * (keras/src/applications/, one file per family). */
#include "zoo/models.h"

#include <string.h>

#define GCS "https://storage.googleapis.com/tensorflow/keras-applications/"

static const zoo_model_info models[] = {
    {"vgg16", "VGG16", 224, 32, "caffe", zoo_net_vgg16,
     {GCS "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
      "64373286793e3c8b2b4e3219cbf3544b"},
     {GCS "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
      "6d6bbae143d832006294945121d1f1fc"}},
    {"vgg19", "VGG19", 224, 32, "caffe", zoo_net_vgg19,
     {GCS "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5",
      "cbe5617147190e668d6c5d5026f83318"},
     {GCS "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
      "253f8cb515780f3b799900260a226db6"}},
    {"resnet50", "ResNet50", 224, 32, "caffe", zoo_net_resnet50,
     {GCS "resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5",
      "2cb95161c43110f7111970584f804107"},
     {GCS "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
      "4d473c1dd8becc155b73f8504c6f6626"}},
};

enum { MODEL_COUNT = sizeof models / sizeof models[0] };

int zoo_model_info_count(void) { return MODEL_COUNT; }

const zoo_model_info *zoo_model_info_at(int i)
{
    return i >= 0 && i < MODEL_COUNT ? &models[i] : NULL;
}

const zoo_model_info *zoo_model_find(const char *name)
{
    if (!name) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_find: name is NULL");
        return NULL;
    }
    char known[256] = "";
    for (int i = 0; i < MODEL_COUNT; i++) {
        if (strcmp(models[i].name, name) == 0)
            return &models[i];
        if (i)
            strncat(known, ", ", sizeof known - strlen(known) - 1);
        strncat(known, models[i].name, sizeof known - strlen(known) - 1);
    }
    zoo_error(ZOO_ERR_NOT_FOUND, "unknown model '%s' (known: %s)", name, known);
    return NULL;
}
