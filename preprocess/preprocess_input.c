/*
 * keras.applications.imagenet_utils.preprocess_input, NumPy path, for a
 * float32 channels_last array (what img_to_array gives): every operation
 * is one float32 operation with the Python constant rounded to float32,
 * as NumPy does for `float32_array op python_float`, in Keras's order:
 *
 *   caffe: x = x[..., ::-1]; x[..., c] -= mean[c], mean = [103.939,
 *          116.779, 123.68] (BGR order)
 *   tf:    x /= 127.5; x -= 1.0
 *   torch: x /= 255.0; x[..., c] -= mean[c]; x[..., c] /= std[c],
 *          mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225] (RGB)
 */
#include "preprocess/preprocess.h"

#include <string.h>

/* Divisions and subtractions only: nothing a compiler may fuse into a
 * single rounding (contraction only applies to a * b + c). */

int zoo_preprocess_parse(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "caffe") == 0)
        return ZOO_PREPROCESS_CAFFE;
    if (strcmp(name, "tf") == 0)
        return ZOO_PREPROCESS_TF;
    if (strcmp(name, "torch") == 0)
        return ZOO_PREPROCESS_TORCH;
    return -1;
}

void zoo_preprocess_input(zoo_preprocess_mode mode, float *x, size_t n_pixels)
{
    if (!x)
        return;
    switch (mode) {
    case ZOO_PREPROCESS_CAFFE:
        for (size_t i = 0; i < n_pixels; i++, x += 3) {
            float r = x[0];
            x[0] = x[2] - 103.939f;
            x[1] = x[1] - 116.779f;
            x[2] = r - 123.68f;
        }
        break;
    case ZOO_PREPROCESS_TF:
        for (size_t i = 0; i < 3 * n_pixels; i++) {
            float v = x[i] / 127.5f;
            x[i] = v - 1.0f;
        }
        break;
    case ZOO_PREPROCESS_TORCH: {
        static const float mean[3] = {0.485f, 0.456f, 0.406f};
        static const float std[3] = {0.229f, 0.224f, 0.225f};
        for (size_t i = 0; i < n_pixels; i++, x += 3) {
            for (int c = 0; c < 3; c++) {
                float v = x[c] / 255.0f;
                v = v - mean[c];
                x[c] = v / std[c];
            }
        }
        break;
    }
    }
}

void zoo_image_to_input(const zoo_image *img, zoo_preprocess_mode mode, float *out)
{
    if (!img || !img->rgb || !out)
        return;
    size_t n = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < 3 * n; i++)
        out[i] = (float)img->rgb[i];
    zoo_preprocess_input(mode, out, n);
}
