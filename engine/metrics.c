/* Keras's accuracy metrics, counted per batch: categorical, sparse
 * categorical and binary accuracy ("accuracy" picks one from the loss) and
 * top-k categorical accuracy. With predictions of rank > 2 a sample counts
 * the fraction of its positions that are right, so correct / samples is
 * Keras's mean over every position. */
#include "engine/losses.h"
#include "engine/tensor.h"

#include <math.h>

/* First index of the largest value, as argmax. */
static size_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}

/* TensorFlow's in_top_k: right when fewer than k classes score strictly
 * higher than the true one (ties at the boundary all count), and never
 * when a score of the row is not finite. */
static bool in_top_k(const float *x, size_t n, size_t target, size_t k)
{
    size_t higher = 0;
    for (size_t j = 0; j < n; j++) {
        if (!isfinite(x[j]))
            return false;
        if (x[j] > x[target])
            higher++;
    }
    return higher < k;
}

const char *zoo_metric_name(const zoo_metric *metric, zoo_loss_kind loss)
{
    if (!metric)
        return NULL;
    switch (metric->kind) {
    case ZOO_METRIC_ACCURACY:
        return "accuracy";
    case ZOO_METRIC_TOP_K_ACCURACY:
        return loss == ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY
                   ? "sparse_top_k_categorical_accuracy"
                   : "top_k_categorical_accuracy";
    }
    return NULL;
}

zoo_status zoo_metric_count(const zoo_metric *metric, zoo_loss_kind loss,
                            const zoo_tensor *y_pred, const zoo_tensor *y_true,
                            double *correct)
{
    if (!metric || !correct)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_metric_count: %s is NULL",
                         metric ? "correct" : "metric");
    const char *who = zoo_metric_name(metric, loss);
    if (!who)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_metric_count: unknown metric kind %d",
                         (int)metric->kind);
    if (!zoo_loss_name(loss))
        return zoo_error(ZOO_ERR_ARGUMENT, "%s: unknown loss kind %d", who, (int)loss);
    if (metric->kind == ZOO_METRIC_TOP_K_ACCURACY && metric->k < 0)
        return zoo_error(ZOO_ERR_ARGUMENT, "%s: k is %d; it must be >= 1 (0 means 5)",
                         who, metric->k);
    bool sparse = loss == ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    /* Keras's "accuracy" follows the loss: binary for binary
     * cross-entropy and the regression losses. */
    bool binary = metric->kind == ZOO_METRIC_ACCURACY &&
                  loss != ZOO_LOSS_CATEGORICAL_CROSSENTROPY && !sparse;
    zoo_loss_layout lay;
    zoo_status st = zoo_loss_layout_check(who, sparse, !binary, y_pred, y_true, &lay);
    if (st != ZOO_OK)
        return st;
    size_t c = lay.classes, hits = 0;
    if (binary) {
        /* Keras binary_accuracy: (pred > 0.5) == label, exactly. */
        for (size_t i = 0; i < y_pred->size; i++) {
            float pred = y_pred->data[i] > 0.5f ? 1.0f : 0.0f;
            hits += pred == y_true->data[i];
        }
        *correct += (double)hits / (double)(y_pred->size / lay.batch);
        return ZOO_OK;
    }
    /* Labels first, so a bad one leaves *correct untouched. */
    size_t k;
    if (sparse)
        for (size_t r = 0; r < lay.rows; r++)
            if (zoo_sparse_label(who, y_true->data[r], c, r, &k) != ZOO_OK)
                return zoo_last_status();
    size_t top = metric->k > 0 ? (size_t)metric->k : 5;
    for (size_t r = 0; r < lay.rows; r++) {
        const float *p = y_pred->data + r * c;
        size_t target = sparse ? (size_t)y_true->data[r] : argmax(y_true->data + r * c, c);
        if (metric->kind == ZOO_METRIC_ACCURACY)
            hits += argmax(p, c) == target;
        else
            hits += in_top_k(p, c, target, top);
    }
    *correct += (double)hits / (double)lay.rows_per_sample;
    return ZOO_OK;
}
