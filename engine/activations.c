/* The activation functions every layer may apply (zoo_activation_apply)
 * and their Keras names. The Activation and ReLU layers live in
 * engine/layers/activation.c. */
#include "engine/layer.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const char *const act_names[] = {
    [ZOO_ACT_LINEAR] = "linear",
    [ZOO_ACT_RELU] = "relu",
    [ZOO_ACT_RELU6] = "relu6",
    [ZOO_ACT_SIGMOID] = "sigmoid",
    [ZOO_ACT_TANH] = "tanh",
    [ZOO_ACT_SOFTMAX] = "softmax",
    [ZOO_ACT_SWISH] = "swish",
    [ZOO_ACT_HARD_SIGMOID] = "hard_sigmoid",
};
#define N_ACTS ((int)(sizeof act_names / sizeof act_names[0]))

bool zoo_activation_valid(zoo_activation act)
{
    return (int)act >= 0 && (int)act < N_ACTS;
}

int zoo_activation_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < N_ACTS; i++)
        if (strcmp(name, act_names[i]) == 0)
            return i;
    /* Keras 3 registers swish under both names. */
    if (strcmp(name, "silu") == 0)
        return ZOO_ACT_SWISH;
    return -1;
}

const char *zoo_activation_name(zoo_activation act)
{
    return zoo_activation_valid(act) ? act_names[act] : NULL;
}

/* ------------------------------------------------------------------ */
/* Arithmetic                                                          */
/* ------------------------------------------------------------------ */

/* Never evaluates exp of a large positive number, so no inf/inf. */
static inline float sigmoidf(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static void softmax_row(float *x, size_t n)
{
    float mx = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > mx)
            mx = x[i];
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] /= sum;
}

void zoo_activation_apply(zoo_activation act, float *x, size_t n, int row)
{
    switch (act) {
    case ZOO_ACT_LINEAR:
        break;
    case ZOO_ACT_RELU:
        /* `x < 0` rather than fmaxf so a NaN propagates as in TF. */
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] < 0.0f ? 0.0f : x[i];
        break;
    case ZOO_ACT_RELU6:
        for (size_t i = 0; i < n; i++) {
            float v = x[i] < 0.0f ? 0.0f : x[i];
            x[i] = v > 6.0f ? 6.0f : v;
        }
        break;
    case ZOO_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            x[i] = sigmoidf(x[i]);
        break;
    case ZOO_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            x[i] = tanhf(x[i]);
        break;
    case ZOO_ACT_SOFTMAX: {
        /* row <= 0: the whole buffer is one row. A short tail (n not a
         * multiple of row) is normalised on its own. */
        size_t r = row > 0 ? (size_t)row : n;
        for (size_t off = 0; off < n; off += r)
            softmax_row(x + off, n - off < r ? n - off : r);
        break;
    }
    case ZOO_ACT_SWISH:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] * sigmoidf(x[i]);
        break;
    case ZOO_ACT_HARD_SIGMOID:
        /* Keras 3: relu6(x + 3) / 6 (Keras 2 used 0.2x + 0.5). */
        for (size_t i = 0; i < n; i++) {
            float v = x[i] + 3.0f;
            v = v < 0.0f ? 0.0f : v;
            x[i] = (v > 6.0f ? 6.0f : v) / 6.0f;
        }
        break;
    }
}

/* ------------------------------------------------------------------ */
/* Derivatives                                                         */
/* ------------------------------------------------------------------ */

zoo_status zoo_activation_backward(zoo_activation act, const float *x,
                                   const float *y, float *dy, size_t n,
                                   int row)
{
    switch (act) {
    case ZOO_ACT_LINEAR:
        break;
    case ZOO_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            if (!(y[i] > 0.0f))
                dy[i] = 0.0f;
        break;
    case ZOO_ACT_RELU6:
        for (size_t i = 0; i < n; i++)
            if (!(y[i] > 0.0f && y[i] < 6.0f))
                dy[i] = 0.0f;
        break;
    case ZOO_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            dy[i] *= y[i] * (1.0f - y[i]);
        break;
    case ZOO_ACT_TANH:
        for (size_t i = 0; i < n; i++)
            dy[i] *= 1.0f - y[i] * y[i];
        break;
    case ZOO_ACT_SOFTMAX: {
        /* dx = y * (dy - sum(dy * y)) per row. */
        size_t r = row > 0 ? (size_t)row : n;
        for (size_t off = 0; off < n; off += r) {
            size_t len = n - off < r ? n - off : r;
            double dot = 0.0;
            for (size_t i = 0; i < len; i++)
                dot += (double)dy[off + i] * y[off + i];
            for (size_t i = 0; i < len; i++)
                dy[off + i] = y[off + i] * (dy[off + i] - (float)dot);
        }
        break;
    }
    case ZOO_ACT_SWISH:
        if (!x)
            return zoo_error(ZOO_ERR_UNSUPPORTED,
                             "swish backward needs the activation's input");
        for (size_t i = 0; i < n; i++) {
            float s = sigmoidf(x[i]);
            dy[i] *= s + x[i] * s * (1.0f - s);
        }
        break;
    case ZOO_ACT_HARD_SIGMOID:
        /* Slope 1/6 inside (-3, 3), where the output is strictly in (0, 1). */
        for (size_t i = 0; i < n; i++)
            dy[i] = (y[i] > 0.0f && y[i] < 1.0f) ? dy[i] / 6.0f : 0.0f;
        break;
    }
    return ZOO_OK;
}
