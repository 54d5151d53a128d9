/* BatchNormalization over the last (channel) axis:
 * y = gamma * (x - mean) / sqrt(var + eps) + beta, with the moving
 * statistics at inference (and whenever the layer is frozen), with the
 * batch's statistics in a training step of a trainable layer (Keras 3's
 * `training and self.trainable`), which also updates the moving ones. */
#include "engine/layer.h"
#include "engine/keras_layer_config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The channel count the layer was built for (0 before build). */
static int bn_channels(const zoo_layer *l)
{
    const zoo_tensor *mean = zoo_layer_find_weight(l, "moving_mean");
    return mean ? (int)zoo_tensor_size(mean) : 0;
}

static zoo_status bn_check_rank(const zoo_layer *l, const zoo_shape *s)
{
    if (s->rank < 2) {
        char buf[128];
        return zoo_error(ZOO_ERR_SHAPE,
                         "BatchNormalization %s: input %s has no channel "
                         "axis (rank >= 2 needed)",
                         l->name, zoo_shape_str(s, buf, sizeof buf));
    }
    return ZOO_OK;
}

static zoo_status bn_build(zoo_layer *l, const zoo_shape *in, int n_in)
{
    (void)n_in;
    const zoo_batch_norm_cfg *c = l->cfg;
    zoo_status st = bn_check_rank(l, &in[0]);
    if (st != ZOO_OK)
        return st;
    int ch = in[0].dim[in[0].rank - 1];
    if (ch <= 0) {
        char buf[128];
        return zoo_error(ZOO_ERR_SHAPE,
                         "BatchNormalization %s: the channel axis of input "
                         "%s must be known",
                         l->name, zoo_shape_str(&in[0], buf, sizeof buf));
    }
    /* Keras order: trainable gamma, beta, then the moving statistics. */
    if (!c->no_scale &&
        !zoo_layer_add_weight(l, "gamma", 1, &ch, ZOO_INIT_ONES, 0, 0, true))
        return zoo_last_status();
    if (!c->no_center &&
        !zoo_layer_add_weight(l, "beta", 1, &ch, ZOO_INIT_ZEROS, 0, 0, true))
        return zoo_last_status();
    if (!zoo_layer_add_weight(l, "moving_mean", 1, &ch, ZOO_INIT_ZEROS, 0, 0,
                              false) ||
        !zoo_layer_add_weight(l, "moving_variance", 1, &ch, ZOO_INIT_ONES, 0,
                              0, false))
        return zoo_last_status();
    return ZOO_OK;
}

static zoo_status bn_infer(const zoo_layer *l, const zoo_shape *in, int n_in,
                           zoo_shape *out)
{
    (void)n_in;
    zoo_status st = bn_check_rank(l, &in[0]);
    if (st != ZOO_OK)
        return st;
    int ch = in[0].dim[in[0].rank - 1];
    int built = bn_channels(l);
    if (built > 0 && ch >= 0 && ch != built) {
        char buf[128];
        return zoo_error(ZOO_ERR_SHAPE,
                         "BatchNormalization %s: input %s has %d channels, "
                         "but the layer was built for %d",
                         l->name, zoo_shape_str(&in[0], buf, sizeof buf), ch,
                         built);
    }
    *out = in[0];
    return ZOO_OK;
}

/* A weight's data, checked to hold `ch` values (a loader may have swapped
 * the tensor); NULL with *st set on a bad size, NULL with ZOO_OK if absent. */
static const float *bn_weight(const zoo_layer *l, const char *name, int ch,
                              zoo_status *st)
{
    const zoo_tensor *t = zoo_layer_find_weight(l, name);
    if (!t || *st != ZOO_OK) /* report the first bad weight only */
        return NULL;
    if (zoo_tensor_size(t) != (size_t)ch) {
        *st = zoo_error(ZOO_ERR_SHAPE,
                        "BatchNormalization %s: weight %s has %zu values, "
                        "expected %d",
                        l->name, name, zoo_tensor_size(t), ch);
        return NULL;
    }
    return zoo_tensor_cdata(t);
}

static zoo_status bn_forward(const zoo_layer *l, const zoo_tensor *const *in,
                             int n_in, zoo_tensor *out, const zoo_exec *ex)
{
    (void)n_in;
    const zoo_batch_norm_cfg *c = l->cfg;
    int rank = zoo_tensor_rank(in[0]);
    int ch = zoo_tensor_shape(in[0])[rank - 1];
    zoo_status st = ZOO_OK;
    const float *gamma = bn_weight(l, "gamma", ch, &st);
    const float *beta = bn_weight(l, "beta", ch, &st);
    const float *mean = bn_weight(l, "moving_mean", ch, &st);
    const float *var = bn_weight(l, "moving_variance", ch, &st);
    if (st != ZOO_OK)
        return st;
    if (!mean || !var)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "BatchNormalization %s: run before being built",
                         l->name);

    /* Keras 3: inv = gamma / sqrt(var + eps); y = x * inv + (beta -
     * mean * inv). Missing gamma counts as 1, missing beta as 0. */
    float *inv = malloc(2 * (size_t)ch * sizeof(float));
    if (!inv)
        return zoo_error(ZOO_ERR_MEMORY,
                         "BatchNormalization %s: out of memory", l->name);
    float *shift = inv + ch;
    for (int k = 0; k < ch; k++) {
        float s = 1.0f / sqrtf(var[k] + c->epsilon);
        if (gamma)
            s *= gamma[k];
        inv[k] = s;
        shift[k] = (beta ? beta[k] : 0.0f) - mean[k] * s;
    }

    const float *x = zoo_tensor_cdata(in[0]);
    float *y = zoo_tensor_data(out);
    int64_t rows = (int64_t)(zoo_tensor_size(in[0]) / (size_t)ch);
    int threads = ex && ex->threads > 0 ? ex->threads : 1;
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (rows * ch > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ch;
        float *yr = y + r * ch;
        for (int k = 0; k < ch; k++)
            yr[k] = xr[k] * inv[k] + shift[k];
    }
    free(inv);
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* Training                                                            */
/* ------------------------------------------------------------------ */

/* What a training-mode call leaves for backward: the batch mean and
 * 1/sqrt(var + eps) per channel. */
typedef struct {
    int ch;
    float v[]; /* mean[ch], then inv_std[ch] */
} bn_saved;

/* Rows per reduction chunk. Chunks are fixed and their partial sums added
 * in order, so results do not depend on the thread count. */
#define BN_ROWS 512

/* Per-channel sums over the rows of (rows, ch) data, in double:
 *   s1[k] = sum_r a[r,k]                                (if s1)
 *   s2[k] = sum_r (a[r,k] - ca[k]) * (b[r,k] - cb[k])   (if s2)
 * NULL centres count as 0. */
static zoo_status chan_sums(const zoo_layer *l, const float *a,
                            const double *ca, const float *b,
                            const double *cb, int64_t rows, int ch,
                            double *s1, double *s2, const zoo_exec *ex)
{
    const int64_t n_chunks = (rows + BN_ROWS - 1) / BN_ROWS;
    double *part = calloc((size_t)n_chunks * 2 * (size_t)ch, sizeof(double));
    if (!part)
        return zoo_error(ZOO_ERR_MEMORY,
                         "BatchNormalization %s: out of memory", l->name);
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (rows * ch > 32768)
    for (int64_t t = 0; t < n_chunks; t++) {
        double *p1 = part + t * 2 * ch, *p2 = p1 + ch;
        int64_t r1 = (t + 1) * BN_ROWS < rows ? (t + 1) * BN_ROWS : rows;
        for (int64_t r = t * BN_ROWS; r < r1; r++) {
            const float *ar = a + r * ch;
            const float *br = b ? b + r * ch : NULL;
            for (int k = 0; k < ch; k++) {
                double av = ar[k];
                p1[k] += av;
                if (s2)
                    p2[k] += (av - (ca ? ca[k] : 0.0)) *
                             ((double)br[k] - (cb ? cb[k] : 0.0));
            }
        }
    }
    for (int k = 0; k < ch; k++) {
        double t1 = 0.0, t2 = 0.0;
        for (int64_t t = 0; t < n_chunks; t++) {
            t1 += part[t * 2 * ch + k];
            t2 += part[t * 2 * ch + ch + k];
        }
        if (s1)
            s1[k] = t1;
        if (s2)
            s2[k] = t2;
    }
    free(part);
    return ZOO_OK;
}

/* A weight's tensor for writing, checked as bn_weight checks it. */
static zoo_tensor *bn_weight_mut(zoo_layer *l, const char *name, int ch,
                                 zoo_status *st)
{
    if (!bn_weight(l, name, ch, st))
        return NULL;
    for (int i = 0; i < l->n_weights; i++)
        if (strcmp(l->weights[i].name, name) == 0)
            return l->weights[i].value;
    return NULL;
}

/* The position of weight `name` in l->weights (-1 if absent): dw follows
 * the layer's weight order, which scale=False / center=False shorten. */
static int bn_weight_index(const zoo_layer *l, const char *name)
{
    for (int i = 0; i < l->n_weights; i++)
        if (strcmp(l->weights[i].name, name) == 0)
            return i;
    return -1;
}

static zoo_status bn_forward_train(zoo_layer *l, const zoo_tensor *const *in,
                                   int n_in, zoo_tensor *out,
                                   const zoo_exec *ex, void **saved)
{
    if (saved)
        *saved = NULL;
    /* A frozen layer, or a call outside training: inference exactly. */
    if (!ex || !ex->training || !l->trainable)
        return bn_forward(l, in, n_in, out, ex);

    const zoo_batch_norm_cfg *c = l->cfg;
    const float eps = c->epsilon > 0.0f ? c->epsilon : 1e-3f;
    const float momentum = c->momentum != 0.0f ? c->momentum : 0.99f;
    int rank = zoo_tensor_rank(in[0]);
    int ch = zoo_tensor_shape(in[0])[rank - 1];
    int64_t rows = (int64_t)(zoo_tensor_size(in[0]) / (size_t)ch);
    zoo_status st = ZOO_OK;
    const float *gamma = bn_weight(l, "gamma", ch, &st);
    const float *beta = bn_weight(l, "beta", ch, &st);
    zoo_tensor *mm = bn_weight_mut(l, "moving_mean", ch, &st);
    zoo_tensor *mv = bn_weight_mut(l, "moving_variance", ch, &st);
    if (st != ZOO_OK)
        return st;
    if (!mm || !mv)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "BatchNormalization %s: run before being built",
                         l->name);
    if (rows < 1)
        return zoo_error(ZOO_ERR_SHAPE,
                         "BatchNormalization %s: a training batch needs at "
                         "least one value per channel",
                         l->name);

    bn_saved *sv = malloc(sizeof *sv + 2 * (size_t)ch * sizeof(float));
    double *mean = malloc(2 * (size_t)ch * sizeof(double));
    float *scale = malloc(2 * (size_t)ch * sizeof(float));
    if (!sv || !mean || !scale) {
        free(sv);
        free(mean);
        free(scale);
        return zoo_error(ZOO_ERR_MEMORY,
                         "BatchNormalization %s: out of memory", l->name);
    }
    double *var = mean + ch;
    const float *x = zoo_tensor_cdata(in[0]);
    /* Two passes (mean, then squared deviations): no cancellation. */
    st = chan_sums(l, x, NULL, NULL, NULL, rows, ch, mean, NULL, ex);
    if (st == ZOO_OK) {
        for (int k = 0; k < ch; k++)
            mean[k] /= (double)rows;
        st = chan_sums(l, x, mean, x, mean, rows, ch, NULL, var, ex);
    }
    if (st != ZOO_OK) {
        free(sv);
        free(mean);
        free(scale);
        return st;
    }

    sv->ch = ch;
    float *shift = scale + ch;
    float *mmd = zoo_tensor_data(mm), *mvd = zoo_tensor_data(mv);
    for (int k = 0; k < ch; k++) {
        var[k] /= (double)rows; /* biased, as Keras 3 */
        float inv = (float)(1.0 / sqrt(var[k] + (double)eps));
        sv->v[k] = (float)mean[k];
        sv->v[ch + k] = inv;
        scale[k] = gamma ? gamma[k] * inv : inv;
        shift[k] = (beta ? beta[k] : 0.0f) - (float)mean[k] * scale[k];
        mmd[k] = mmd[k] * momentum + (float)mean[k] * (1.0f - momentum);
        mvd[k] = mvd[k] * momentum + (float)var[k] * (1.0f - momentum);
    }

    float *y = zoo_tensor_data(out);
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (rows * ch > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ch;
        float *yr = y + r * ch;
        for (int k = 0; k < ch; k++)
            yr[k] = xr[k] * scale[k] + shift[k];
    }
    free(mean);
    free(scale);
    if (saved)
        *saved = sv;
    else
        free(sv);
    return ZOO_OK;
}

/* With `saved` (a training-mode call) the gradient runs through the batch
 * statistics:
 *   dx = gamma * inv * (dy - mean(dy) - xhat * mean(dy * xhat)),
 * xhat = (x - mean) * inv. Without, the statistics are constants:
 *   dx = dy * gamma * inv, inv from the moving variance.
 * Either way dgamma = sum(dy * xhat), dbeta = sum(dy) over all but the
 * channel axis. */
static zoo_status bn_backward(const zoo_layer *l, const zoo_tensor *const *in,
                              int n_in, const zoo_tensor *out,
                              const zoo_tensor *dy, zoo_tensor *const *dx,
                              zoo_tensor *const *dw, const zoo_exec *ex,
                              void *saved)
{
    (void)n_in;
    const zoo_batch_norm_cfg *c = l->cfg;
    const float eps = c->epsilon > 0.0f ? c->epsilon : 1e-3f;
    int rank = zoo_tensor_rank(in[0]);
    int ch = zoo_tensor_shape(in[0])[rank - 1];
    int64_t rows = (int64_t)(zoo_tensor_size(in[0]) / (size_t)ch);
    size_t n = zoo_tensor_size(in[0]);
    if (zoo_tensor_size(dy) != n || zoo_tensor_size(out) != n ||
        (dx && dx[0] && zoo_tensor_size(dx[0]) != n))
        return zoo_error(ZOO_ERR_INTERNAL,
                         "BatchNormalization %s: gradient sizes do not match "
                         "the call's",
                         l->name);
    const bn_saved *sv = saved;
    if (sv && sv->ch != ch)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "BatchNormalization %s: saved state is for %d "
                         "channels, the input has %d",
                         l->name, sv->ch, ch);
    zoo_status st = ZOO_OK;
    const float *gamma = bn_weight(l, "gamma", ch, &st);
    const float *mmean = bn_weight(l, "moving_mean", ch, &st);
    const float *mvar = bn_weight(l, "moving_variance", ch, &st);
    if (st != ZOO_OK)
        return st;
    if (!mmean || !mvar)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "BatchNormalization %s: run before being built",
                         l->name);
    int ig = bn_weight_index(l, "gamma"), ib = bn_weight_index(l, "beta");
    float *dgamma = ig >= 0 && dw && dw[ig] ? zoo_tensor_data(dw[ig]) : NULL;
    float *dbeta = ib >= 0 && dw && dw[ib] ? zoo_tensor_data(dw[ib]) : NULL;
    if ((dgamma && zoo_tensor_size(dw[ig]) != (size_t)ch) ||
        (dbeta && zoo_tensor_size(dw[ib]) != (size_t)ch))
        return zoo_error(ZOO_ERR_INTERNAL,
                         "BatchNormalization %s: weight gradients must hold "
                         "%d values",
                         l->name, ch);
    float *d = dx && dx[0] ? zoo_tensor_data(dx[0]) : NULL;
    if (!d && !dgamma && !dbeta)
        return ZOO_OK;

    /* center, inv, then the two sums (dy; dy * (x - center)). */
    double *buf = malloc(4 * (size_t)ch * sizeof(double));
    if (!buf)
        return zoo_error(ZOO_ERR_MEMORY,
                         "BatchNormalization %s: out of memory", l->name);
    double *center = buf, *inv = buf + ch, *sdy = buf + 2 * ch,
           *sdyx = buf + 3 * ch;
    for (int k = 0; k < ch; k++) {
        center[k] = sv ? sv->v[k] : mmean[k];
        inv[k] = sv ? sv->v[ch + k] : 1.0 / sqrt((double)mvar[k] + eps);
    }
    const float *x = zoo_tensor_cdata(in[0]);
    const float *g = zoo_tensor_cdata(dy);
    bool need_sums = sv || dgamma || dbeta;
    if (need_sums) {
        st = chan_sums(l, g, NULL, x, center, rows, ch, sdy, sdyx, ex);
        if (st != ZOO_OK) {
            free(buf);
            return st;
        }
    }
    for (int k = 0; k < ch; k++) {
        if (dgamma)
            dgamma[k] += (float)(sdyx[k] * inv[k]);
        if (dbeta)
            dbeta[k] += (float)sdy[k];
    }
    if (d) {
        /* dx = a * dy + b + (x - center) * e per channel. */
        float *coef = malloc(4 * (size_t)ch * sizeof(float));
        if (!coef) {
            free(buf);
            return zoo_error(ZOO_ERR_MEMORY,
                             "BatchNormalization %s: out of memory", l->name);
        }
        float *ca = coef, *cb = coef + ch, *ce = coef + 2 * ch,
              *cc = coef + 3 * ch;
        for (int k = 0; k < ch; k++) {
            cc[k] = (float)center[k];
            double a = (gamma ? gamma[k] : 1.0) * inv[k];
            ca[k] = (float)a;
            cb[k] = sv ? (float)(-a * sdy[k] / (double)rows) : 0.0f;
            ce[k] = sv ? (float)(-a * inv[k] * inv[k] * sdyx[k] /
                                 (double)rows)
                       : 0.0f;
        }
#pragma omp parallel for schedule(static) num_threads(zoo_exec_threads(ex)) \
    if (rows * ch > 32768)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * ch, *gr = g + r * ch;
            float *dr = d + r * ch;
            for (int k = 0; k < ch; k++)
                dr[k] += ca[k] * gr[k] + cb[k] +
                         (xr[k] - cc[k]) * ce[k];
        }
        free(coef);
    }
    free(buf);
    return ZOO_OK;
}

/* Keras 3 BatchNormalization.get_config(). The engine normalizes the last
 * axis, which Keras writes as axis -1. */
static zoo_status bn_config(const zoo_layer *l, void *json)
{
    const zoo_batch_norm_cfg *c = l->cfg;
    zoo_status st = zoo_kcfg_base(l, json);
    if (st != ZOO_OK)
        return st;
    return zoo_kcfg_merge(l, json, json_pack(
        "{s:i, s:f, s:f, s:b, s:b, s:o, s:o, s:o, s:o, s:n, s:n, s:n, s:n, "
        "s:b}",
        "axis", -1, "momentum", zoo_kcfg_real(c->momentum),
        "epsilon", zoo_kcfg_real(c->epsilon),
        "center", (int)!c->no_center, "scale", (int)!c->no_scale,
        "beta_initializer", zoo_kcfg_initializer("Zeros", false),
        "gamma_initializer", zoo_kcfg_initializer("Ones", false),
        "moving_mean_initializer", zoo_kcfg_initializer("Zeros", false),
        "moving_variance_initializer", zoo_kcfg_initializer("Ones", false),
        "beta_regularizer", "gamma_regularizer", "beta_constraint",
        "gamma_constraint", "synchronized", 0));
}

static const zoo_layer_kind batch_norm_kind = {
    .class_name = "BatchNormalization",
    .auto_prefix = "batch_normalization",
    .min_inputs = 1,
    .max_inputs = 1,
    .build = bn_build,
    .infer = bn_infer,
    .forward = bn_forward,
    .forward_train = bn_forward_train,
    .backward = bn_backward,
    .config = bn_config,
};

zoo_layer *zoo_batch_norm(zoo_graph *g, const zoo_batch_norm_cfg *cfg)
{
    zoo_batch_norm_cfg c = cfg ? *cfg : (zoo_batch_norm_cfg){0};
    /* Stored resolved, so readers of cfg (summary, BN folding, training)
     * never meet the zero placeholders. */
    if (c.epsilon == 0.0f)
        c.epsilon = 1e-3f;
    if (c.momentum == 0.0f)
        c.momentum = 0.99f;
    if (g) {
        const char *sp = c.name ? " " : "", *nm = c.name ? c.name : "";
        if (!(c.epsilon > 0.0f) || !isfinite(c.epsilon)) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "BatchNormalization%s%s: epsilon %g must be a finite "
                      "value > 0", sp, nm, (double)c.epsilon);
            return NULL;
        }
        if (!isfinite(c.momentum)) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "BatchNormalization%s%s: momentum %g is not finite",
                      sp, nm, (double)c.momentum);
            return NULL;
        }
    }
    return zoo_layer_create(g, &batch_norm_kind, &c, sizeof c, c.name);
}
