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
    {"inception_v3", "InceptionV3", 299, 75, "tf", zoo_net_inception_v3,
     {GCS "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
      "9a0d58056eeedaa3f26cb7ebd46da564"},
     {GCS "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
      "bcbd6486424b2319ff4ef7d526e38f63"}},
    {"xception", "Xception", 299, 71, "tf", zoo_net_xception,
     {GCS "xception/xception_weights_tf_dim_ordering_tf_kernels.h5",
      "0a58e3b7378bc2990ea3b43d5981f1f6"},
     {GCS "xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
      "b0042744bf5b25fce3cb969f33bebb97"}},
    /* MobileNet / MobileNetV2: the alpha 1.0, 224 files; Keras checks no
     * hash for them. */
    {"mobilenet", "MobileNet", 224, 32, "tf", zoo_net_mobilenet,
     {GCS "mobilenet/mobilenet_1_0_224_tf.h5", NULL},
     {GCS "mobilenet/mobilenet_1_0_224_tf_no_top.h5", NULL}},
    {"mobilenet_v2", "MobileNetV2", 224, 32, "tf", zoo_net_mobilenet_v2,
     {GCS "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", NULL},
     {GCS "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
      NULL}},
    {"densenet121", "DenseNet121", 224, 32, "torch", zoo_net_densenet121,
     {GCS "densenet/densenet121_weights_tf_dim_ordering_tf_kernels.h5",
      "9d60b8095a5708f2dcce2bca79d332c7"},
     {GCS "densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
      "30ee3e1110167f948a6b9946edeeb738"}},
    {"densenet169", "DenseNet169", 224, 32, "torch", zoo_net_densenet169,
     {GCS "densenet/densenet169_weights_tf_dim_ordering_tf_kernels.h5",
      "d699b8f76981ab1b30698df4c175e90b"},
     {GCS "densenet/densenet169_weights_tf_dim_ordering_tf_kernels_notop.h5",
      "b8c4d4c20dd625c148057b9ff1c1176b"}},
    {"densenet201", "DenseNet201", 224, 32, "torch", zoo_net_densenet201,
     {GCS "densenet/densenet201_weights_tf_dim_ordering_tf_kernels.h5",
      "1ceb130c1ea1b78c3bf6114dbdfd8807"},
     {GCS "densenet/densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5",
      "c13680b51ded0fb44dff2d8f86ac8bb1"}},
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
