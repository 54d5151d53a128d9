/* Keras 3 losses with their gradients: categorical and sparse categorical
 * cross-entropy (probabilities or logits, label smoothing), binary
 * cross-entropy, mean squared and mean absolute error. The batch value is
 * Keras's "sum_over_batch_size": per-row losses (the last axis reduced)
 * averaged over every row. Arithmetic is in double; only the gradient is
 * stored as float. */
#include "engine/losses.h"
#include "engine/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Keras's backend.epsilon() and the clip bounds as float32 holds them. */
#define LOSS_EPS ((double)1e-7f)
#define LOSS_ONE_MINUS_EPS ((double)(1.0f - 1e-7f))

static inline double clip_prob(double p)
{
    return p < LOSS_EPS ? LOSS_EPS : p > LOSS_ONE_MINUS_EPS ? LOSS_ONE_MINUS_EPS : p;
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const char *const loss_names[] = {
    [ZOO_LOSS_CATEGORICAL_CROSSENTROPY] = "categorical_crossentropy",
    [ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY] = "sparse_categorical_crossentropy",
    [ZOO_LOSS_BINARY_CROSSENTROPY] = "binary_crossentropy",
    [ZOO_LOSS_MEAN_SQUARED_ERROR] = "mean_squared_error",
    [ZOO_LOSS_MEAN_ABSOLUTE_ERROR] = "mean_absolute_error",
};
#define N_LOSSES ((int)(sizeof loss_names / sizeof loss_names[0]))

/* Other spellings Keras's losses.get() accepts: short aliases and class
 * names. */
static const struct {
    const char *name;
    zoo_loss_kind kind;
} loss_aliases[] = {
    {"mse", ZOO_LOSS_MEAN_SQUARED_ERROR},
    {"mae", ZOO_LOSS_MEAN_ABSOLUTE_ERROR},
    {"CategoricalCrossentropy", ZOO_LOSS_CATEGORICAL_CROSSENTROPY},
    {"SparseCategoricalCrossentropy", ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
    {"BinaryCrossentropy", ZOO_LOSS_BINARY_CROSSENTROPY},
    {"MeanSquaredError", ZOO_LOSS_MEAN_SQUARED_ERROR},
    {"MeanAbsoluteError", ZOO_LOSS_MEAN_ABSOLUTE_ERROR},
};

const char *zoo_loss_name(zoo_loss_kind kind)
{
    return (int)kind >= 0 && (int)kind < N_LOSSES ? loss_names[kind] : NULL;
}

int zoo_loss_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < N_LOSSES; i++)
        if (strcmp(name, loss_names[i]) == 0)
            return i;
    for (size_t i = 0; i < sizeof loss_aliases / sizeof loss_aliases[0]; i++)
        if (strcmp(name, loss_aliases[i].name) == 0)
            return (int)loss_aliases[i].kind;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Layout checks (shared with metrics.c)                               */
/* ------------------------------------------------------------------ */

static bool same_dims(int rank, const int *a, const int *b)
{
    for (int i = 0; i < rank; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* Equal shapes, or equal but for one trailing axis of 1 on either side
 * (Keras squeezes it: y_true (N,) against y_pred (N, 1)). */
static bool shapes_match(const zoo_tensor *a, const zoo_tensor *b)
{
    if (a->rank == b->rank)
        return same_dims(a->rank, a->shape, b->shape);
    if (a->rank == b->rank + 1)
        return a->shape[a->rank - 1] == 1 && same_dims(b->rank, a->shape, b->shape);
    if (b->rank == a->rank + 1)
        return b->shape[b->rank - 1] == 1 && same_dims(a->rank, a->shape, b->shape);
    return false;
}

zoo_status zoo_loss_layout_check(const char *who, bool sparse,
                                 bool need_classes, const zoo_tensor *y_pred,
                                 const zoo_tensor *y_true,
                                 zoo_loss_layout *lay)
{
    if (!y_pred || !y_true)
        return zoo_error(ZOO_ERR_ARGUMENT, "%s: %s is NULL", who,
                         y_pred ? "y_true" : "y_pred");
    char ps[96], ts[96];
    zoo_shape_format(y_pred->rank, y_pred->shape, ps, sizeof ps);
    zoo_shape_format(y_true->rank, y_true->shape, ts, sizeof ts);
    if ((need_classes || sparse) && y_pred->rank < 2)
        return zoo_error(ZOO_ERR_SHAPE,
                         "%s: predictions of shape %s have no class axis; "
                         "expected (batch, ..., classes)", who, ps);
    int r = y_pred->rank;
    lay->classes = r >= 2 ? (size_t)y_pred->shape[r - 1] : 1;
    lay->rows = y_pred->size / lay->classes;
    lay->batch = (size_t)y_pred->shape[0];
    lay->rows_per_sample = lay->rows / lay->batch;
    lay->sparse = sparse;
    if (sparse) {
        /* One index per row: y_pred's shape without the class axis,
         * optionally with a trailing 1. */
        bool ok = (y_true->rank == r - 1 && same_dims(r - 1, y_true->shape, y_pred->shape)) ||
                  (y_true->rank == r && y_true->shape[r - 1] == 1 &&
                   same_dims(r - 1, y_true->shape, y_pred->shape));
        if (!ok)
            return zoo_error(ZOO_ERR_SHAPE,
                             "%s: labels of shape %s do not fit predictions of "
                             "shape %s; sparse labels hold one class index per "
                             "row: (batch,) or (batch, 1) for 2-D predictions",
                             who, ts, ps);
        return ZOO_OK;
    }
    if (!shapes_match(y_pred, y_true))
        return zoo_error(ZOO_ERR_SHAPE,
                         "%s: labels of shape %s do not match predictions of "
                         "shape %s; give labels the predictions' shape (one-hot "
                         "for categorical losses, or use the sparse loss for "
                         "class indices)", who, ts, ps);
    return ZOO_OK;
}

zoo_status zoo_sparse_label(const char *who, float v, size_t classes,
                            size_t row, size_t *label)
{
    if (!(v >= 0.0f) || v != floorf(v) || (double)v >= (double)classes)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s: label %g of row %zu is not a class index in "
                         "[0, %zu); sparse labels are whole numbers below the "
                         "number of classes (use categorical_crossentropy for "
                         "one-hot labels)", who, (double)v, row, classes);
    *label = (size_t)v;
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* Row losses                                                          */
/* ------------------------------------------------------------------ */

/* Cross-entropy of one row against the (smoothed) target y[0..c).
 * Probabilities: q = p / sum(p), clipped to [eps, 1 - eps], loss
 * -sum(y log q); the gradient follows the renormalisation and is zero
 * where the clip is active. Logits: -sum(y log_softmax(z)), gradient
 * softmax(z) sum(y) - y. Writes d loss / d p (times `scale`) to g. */
static void ce_row(const float *p, const double *y, size_t c,
                   bool from_logits, double scale, double *loss, double *g)
{
    double l = 0.0;
    if (from_logits) {
        double mx = p[0];
        for (size_t j = 1; j < c; j++)
            if (p[j] > mx)
                mx = p[j];
        double se = 0.0, ysum = 0.0;
        for (size_t j = 0; j < c; j++) {
            se += exp((double)p[j] - mx);
            ysum += y[j];
        }
        double lse = mx + log(se);
        for (size_t j = 0; j < c; j++) {
            l += y[j] * (lse - p[j]);
            if (g)
                g[j] = (exp((double)p[j] - lse) * ysum - y[j]) * scale;
        }
        *loss = l;
        return;
    }
    double s = 0.0; /* > 0: checked by check_rows */
    for (size_t j = 0; j < c; j++)
        s += p[j];
    double dot = 0.0;
    for (size_t j = 0; j < c; j++) {
        double q = p[j] / s;
        double qc = clip_prob(q);
        l -= y[j] * log(qc);
        if (g) {
            /* d loss / d q, zero outside the clip range (as TF's clip). */
            g[j] = (q >= LOSS_EPS && q <= LOSS_ONE_MINUS_EPS) ? -y[j] / qc : 0.0;
            dot += g[j] * q;
        }
    }
    if (g)
        for (size_t j = 0; j < c; j++)
            g[j] = (g[j] - dot) / s * scale;
    *loss = l;
}

/* Everything that can make a cross-entropy fail, checked before any
 * gradient is written: labels in range, probabilities summing above 0. */
static zoo_status check_rows(const char *who, const zoo_loss *loss,
                             const zoo_tensor *y_pred, const zoo_tensor *y_true,
                             const zoo_loss_layout *lay)
{
    size_t c = lay->classes, k;
    for (size_t r = 0; r < lay->rows; r++) {
        if (lay->sparse && zoo_sparse_label(who, y_true->data[r], c, r, &k) != ZOO_OK)
            return zoo_last_status();
        if (loss->from_logits)
            continue;
        double s = 0.0;
        for (size_t j = 0; j < c; j++)
            s += y_pred->data[r * c + j];
        if (s <= 0.0)
            return zoo_error(ZOO_ERR_ARGUMENT,
                             "%s: predictions of row %zu sum to %g; "
                             "probabilities must be positive (set from_logits "
                             "if the model outputs logits)", who, r, s);
    }
    return ZOO_OK;
}

/* Categorical and sparse categorical cross-entropy over every row. */
static zoo_status crossentropy(const zoo_loss *loss, const char *who,
                               const zoo_tensor *y_pred, const zoo_tensor *y_true,
                               const zoo_loss_layout *lay, double *value,
                               zoo_tensor *grad)
{
    zoo_status st = check_rows(who, loss, y_pred, y_true, lay);
    if (st != ZOO_OK)
        return st;
    size_t c = lay->classes;
    double *buf = malloc(2 * c * sizeof *buf);
    if (!buf)
        return zoo_error(ZOO_ERR_MEMORY, "%s: cannot allocate %zu classes", who, c);
    double *y = buf, *g = grad ? buf + c : NULL;
    double ls = loss->label_smoothing, scale = 1.0 / (double)lay->rows;
    double total = 0.0;
    for (size_t r = 0; r < lay->rows; r++) {
        if (lay->sparse) {
            size_t k = (size_t)y_true->data[r]; /* checked */
            for (size_t j = 0; j < c; j++)
                y[j] = j == k ? 1.0 : 0.0;
        } else {
            const float *t = y_true->data + r * c;
            for (size_t j = 0; j < c; j++)
                y[j] = t[j] * (1.0 - ls) + ls / (double)c;
        }
        double l;
        ce_row(y_pred->data + r * c, y, c, loss->from_logits, scale, &l, g);
        total += l;
        /* Written after the row is read, so grad may alias y_pred. */
        if (g)
            for (size_t j = 0; j < c; j++)
                grad->data[r * c + j] = (float)g[j];
    }
    free(buf);
    *value = total * scale;
    return ZOO_OK;
}

/* The elementwise losses: each element's loss and derivative, averaged
 * over the last axis and then the rows, i.e. over every element. */
static void elementwise(const zoo_loss *loss, const zoo_tensor *y_pred,
                        const zoo_tensor *y_true, double *value, zoo_tensor *grad)
{
    size_t n = y_pred->size;
    double scale = 1.0 / (double)n, ls = loss->label_smoothing, total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double p = y_pred->data[i], y = y_true->data[i], l, d;
        switch (loss->kind) {
        case ZOO_LOSS_BINARY_CROSSENTROPY:
            y = y * (1.0 - ls) + 0.5 * ls;
            if (loss->from_logits) {
                /* max(z, 0) - z y + log(1 + exp(-|z|)): no overflow. */
                l = (p > 0.0 ? p : 0.0) - p * y + log1p(exp(-fabs(p)));
                double sig = p >= 0.0 ? 1.0 / (1.0 + exp(-p)) : exp(p) / (1.0 + exp(p));
                d = sig - y;
            } else {
                double pc = clip_prob(p);
                l = -(y * log(pc) + (1.0 - y) * log(1.0 - pc));
                d = (p >= LOSS_EPS && p <= LOSS_ONE_MINUS_EPS)
                        ? -y / pc + (1.0 - y) / (1.0 - pc)
                        : 0.0;
            }
            break;
        case ZOO_LOSS_MEAN_SQUARED_ERROR:
            l = (p - y) * (p - y);
            d = 2.0 * (p - y);
            break;
        default: /* mean absolute error; sign(0) = 0 as Keras's sign() */
            l = fabs(p - y);
            d = p > y ? 1.0 : p < y ? -1.0 : 0.0;
            break;
        }
        total += l;
        if (grad)
            grad->data[i] = (float)(d * scale);
    }
    *value = total * scale;
}

/* ------------------------------------------------------------------ */
/* zoo_loss_compute                                                    */
/* ------------------------------------------------------------------ */

static zoo_status check_loss(const zoo_loss *loss, const char **who)
{
    if (!loss)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_loss_compute: loss is NULL");
    *who = zoo_loss_name(loss->kind);
    if (!*who)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "zoo_loss_compute: unknown loss kind %d", (int)loss->kind);
    bool ce = loss->kind == ZOO_LOSS_CATEGORICAL_CROSSENTROPY ||
              loss->kind == ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ||
              loss->kind == ZOO_LOSS_BINARY_CROSSENTROPY;
    if (loss->from_logits && !ce)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s: from_logits applies to the cross-entropy losses "
                         "only; clear it", *who);
    float ls = loss->label_smoothing;
    if (!(ls >= 0.0f && ls <= 1.0f))
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s: label_smoothing %g is outside [0, 1]", *who, (double)ls);
    if (ls != 0.0f && loss->kind != ZOO_LOSS_CATEGORICAL_CROSSENTROPY &&
        loss->kind != ZOO_LOSS_BINARY_CROSSENTROPY)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s: label_smoothing applies to categorical_crossentropy "
                         "and binary_crossentropy only (Keras's sparse loss has "
                         "none: use one-hot labels with categorical_crossentropy)",
                         *who);
    return ZOO_OK;
}

zoo_status zoo_loss_compute(const zoo_loss *loss, const zoo_tensor *y_pred,
                            const zoo_tensor *y_true, double *value,
                            zoo_tensor *grad)
{
    const char *who = NULL;
    zoo_status st = check_loss(loss, &who);
    if (st != ZOO_OK)
        return st;
    bool sparse = loss->kind == ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY;
    bool categorical = sparse || loss->kind == ZOO_LOSS_CATEGORICAL_CROSSENTROPY;
    zoo_loss_layout lay;
    st = zoo_loss_layout_check(who, sparse, categorical, y_pred, y_true, &lay);
    if (st != ZOO_OK)
        return st;
    if (grad && (grad->rank != y_pred->rank ||
                 !same_dims(y_pred->rank, grad->shape, y_pred->shape))) {
        char ps[96], gs[96];
        zoo_shape_format(y_pred->rank, y_pred->shape, ps, sizeof ps);
        zoo_shape_format(grad->rank, grad->shape, gs, sizeof gs);
        return zoo_error(ZOO_ERR_SHAPE,
                         "%s: the gradient tensor has shape %s; it must have "
                         "the predictions' shape %s", who, gs, ps);
    }
    double v = 0.0;
    if (categorical) {
        st = crossentropy(loss, who, y_pred, y_true, &lay, &v, grad);
        if (st != ZOO_OK)
            return st;
    } else {
        elementwise(loss, y_pred, y_true, &v, grad);
    }
    if (value)
        *value = v;
    return ZOO_OK;
}
