/* Shape arithmetic shared by layers: Keras's padding rules and printing. */
#include "engine/layer.h"
#include "engine/tensor.h"

#include <stdio.h>

int zoo_conv_out_size(int in, int k, int stride, int dilation, zoo_padding pad)
{
    if (in < 0)
        return -1;
    int k_eff = (k - 1) * dilation + 1;
    if (pad == ZOO_PAD_SAME)
        return (in + stride - 1) / stride;
    if (in < k_eff)
        return 0;
    return (in - k_eff) / stride + 1;
}

int zoo_same_pad_before(int in, int k, int stride, int dilation)
{
    int out = (in + stride - 1) / stride;
    int k_eff = (k - 1) * dilation + 1;
    int total = (out - 1) * stride + k_eff - in;
    if (total < 0)
        total = 0;
    return total / 2; /* TensorFlow puts the odd pixel after */
}

char *zoo_shape_format(int rank, const int *shape, char *buf, size_t size)
{
    if (!buf || size == 0)
        return buf;
    size_t used = 0;
    int n = snprintf(buf, size, "(");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < rank && used < size; i++) {
        const char *sep = i ? ", " : "";
        if (shape[i] < 0)
            n = snprintf(buf + used, size - used, "%sNone", sep);
        else
            n = snprintf(buf + used, size - used, "%s%d", sep, shape[i]);
        used += n > 0 ? (size_t)n : 0;
    }
    if (used < size)
        snprintf(buf + used, size - used, rank == 1 ? ",)" : ")");
    return buf;
}

char *zoo_shape_str(const zoo_shape *s, char *buf, size_t size)
{
    return zoo_shape_format(s->rank, s->dim, buf, size);
}

zoo_shape zoo_tensor_zshape(const zoo_tensor *t)
{
    zoo_shape s = {.rank = t->rank};
    for (int i = 0; i < t->rank; i++)
        s.dim[i] = t->shape[i];
    return s;
}

zoo_status zoo_expect_rank4(const zoo_layer *l, const zoo_shape *s)
{
    if (s->rank == 4)
        return ZOO_OK;
    char buf[128];
    return zoo_error(ZOO_ERR_SHAPE,
                     "%s %s: expected a 4-D input (batch, rows, cols, channels), got %s",
                     l->kind->class_name, l->name, zoo_shape_str(s, buf, sizeof buf));
}
