/*
 * Keras's compile / train_on_batch / evaluate / fit on the CPU.
 *
 * A training step: forward in training mode keeping what backward needs
 * (engine/backprop.c), the loss (mean over the batch's actual size) plus
 * the L2 terms of regularised kernels, gradients of the trainable
 * variables, then one optimizer update. A non-finite loss stops before
 * the update, so the weights stay those of the last good step.
 */
#include "engine/callbacks.h"
#include "engine/training.h"
#include "engine/history.h"
#include "engine/progress.h"
#include "engine/tensor.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static zoo_status need_compiled(const zoo_model *m, const char *what)
{
    if (!m)
        return zoo_error(ZOO_ERR_ARGUMENT, "%s: model is NULL", what);
    if (!m->training)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s: model %s is not compiled; call zoo_model_compile "
                         "with a loss and an optimizer first", what, m->name);
    return ZOO_OK;
}

static bool is_kernel(const zoo_layer *l, int k)
{
    return strstr(l->weights[k].name, "kernel") != NULL;
}

/* Sum over the model's layers of l2 * sum(kernel^2), as Keras adds every
 * layer's regularisation loss (frozen layers' too) to the loss. */
static double l2_penalty(const zoo_model *m)
{
    double sum = 0.0;
    for (int i = 0; i < m->n_layers; i++) {
        const zoo_layer *l = m->layers[i];
        if (l->kernel_l2 <= 0.0f)
            continue;
        for (int k = 0; k < l->n_weights; k++) {
            if (!is_kernel(l, k))
                continue;
            const zoo_tensor *w = l->weights[k].value;
            double s = 0.0;
            for (size_t j = 0; j < w->size; j++)
                s += (double)w->data[j] * w->data[j];
            sum += (double)l->kernel_l2 * s;
        }
    }
    return sum;
}

/* Loss (with L2) and metric counts of predictions on one batch. */
static zoo_status score_batch(const zoo_model *m, const zoo_tensor *y_pred,
                              const zoo_tensor *y, zoo_tensor *grad, double *loss,
                              double *correct)
{
    const zoo_compile_opts *c = &m->training->opts;
    zoo_status st = zoo_loss_compute(&c->loss, y_pred, y, loss, grad);
    for (int i = 0; st == ZOO_OK && i < c->n_metrics; i++) {
        correct[i] = 0.0;
        st = zoo_metric_count(&c->metrics[i], c->loss.kind, y_pred, y, &correct[i]);
    }
    if (st == ZOO_OK)
        *loss += l2_penalty(m);
    return st;
}

/* One optimizer step. *loss and correct[] describe the batch before the
 * update; a non-finite loss returns ZOO_OK with *finite = false and
 * changes nothing. */
static zoo_status train_step(zoo_model *m, const zoo_tensor *x, const zoo_tensor *y,
                             int threads, double *loss, double *correct, bool *finite)
{
    struct zoo_training *t = m->training;
    zoo_exec ex = {.threads = threads, .training = true,
                   .seed = mix64(t->seed ^ mix64(t->steps))};
    zoo_tape *tape = NULL;
    const zoo_tensor *y_pred = NULL;
    zoo_tensor *grad = NULL;
    *finite = true;
    zoo_status st = zoo_tape_forward(m, &t->params, x, &ex, &tape, &y_pred);
    if (st == ZOO_OK) {
        grad = zoo_tensor_new(y_pred->rank, y_pred->shape);
        st = grad ? score_batch(m, y_pred, y, grad, loss, correct)
                  : zoo_error(ZOO_ERR_MEMORY, "training: out of memory");
    }
    if (st == ZOO_OK && !isfinite(*loss))
        *finite = false;
    if (st == ZOO_OK && *finite) {
        for (int i = 0; i < t->params.n; i++)
            memset(t->grads[i]->data, 0, t->grads[i]->size * sizeof(float));
        st = zoo_tape_backward(tape, grad, t->grads);
    }
    if (st == ZOO_OK && *finite) {
        for (int i = 0; i < t->params.n; i++) {
            const zoo_layer *l = t->params.layer[i];
            int k = t->params.weight[i];
            if (l->kernel_l2 > 0.0f && is_kernel(l, k)) {
                const float *w = t->params.vars[i]->data;
                float *g = t->grads[i]->data;
                for (size_t j = 0; j < t->grads[i]->size; j++)
                    g[j] += 2.0f * l->kernel_l2 * w[j];
            }
        }
        st = zoo_optimizer_apply(t->opt, t->params.vars,
                                 (const zoo_tensor *const *)t->grads, t->params.n);
        t->steps++;
    }
    zoo_tensor_free(grad);
    zoo_tape_free(tape);
    return st;
}

static int pick_threads(int threads)
{
    return threads > 0 ? threads : zoo_default_threads();
}

zoo_status zoo_model_train_on_batch(zoo_model *m, const zoo_tensor *x,
                                    const zoo_tensor *y, int threads,
                                    double *loss, double *metrics)
{
    zoo_status st = need_compiled(m, "train_on_batch");
    if (st != ZOO_OK)
        return st;
    if (!x || !y || x->rank < 1 || x->shape[0] < 1)
        return zoo_error(ZOO_ERR_ARGUMENT, "train_on_batch: x and y must hold a batch");
    double l = 0.0, correct[ZOO_MAX_METRICS] = {0};
    bool finite;
    st = train_step(m, x, y, pick_threads(threads), &l, correct, &finite);
    if (st == ZOO_OK && !finite)
        st = zoo_error(ZOO_ERR_ARGUMENT,
                       "train_on_batch: the loss is %g; the step was not applied", l);
    if (st == ZOO_OK) {
        if (loss)
            *loss = l;
        for (int i = 0; metrics && i < m->training->opts.n_metrics; i++)
            metrics[i] = correct[i] / x->shape[0];
    }
    return st;
}

/* ------------------------------------------------------------------ */
/* Batches from datasets                                               */
/* ------------------------------------------------------------------ */

typedef struct {
    zoo_tensor *x, *y; /* room for a full batch */
    int *idx;
} batch_buf;

static void batch_buf_free(batch_buf *b)
{
    zoo_tensor_free(b->x);
    zoo_tensor_free(b->y);
    free(b->idx);
}

static zoo_status check_dataset(const zoo_model *m, const zoo_dataset *d, const char *what)
{
    if (!d)
        return zoo_error(ZOO_ERR_ARGUMENT, "%s: dataset is NULL", what);
    const zoo_shape *want = &m->inputs[0]->shape;
    bool ok = d->x_rank + 1 == want->rank && d->load;
    for (int i = 1; ok && i < want->rank; i++)
        ok = want->dim[i] < 0 || want->dim[i] == d->x_shape[i - 1];
    if (!ok) {
        char a[128], b[128];
        int shape[ZOO_MAX_RANK] = {-1};
        for (int i = 0; i < d->x_rank && i + 1 < ZOO_MAX_RANK; i++)
            shape[i + 1] = d->x_shape[i];
        return zoo_error(ZOO_ERR_SHAPE, "%s: samples of shape %s do not fit model %s's input %s",
                         what, zoo_shape_format(d->x_rank + 1, shape, a, sizeof a),
                         m->name, zoo_shape_str(want, b, sizeof b));
    }
    return ZOO_OK;
}

static zoo_status batch_buf_init(batch_buf *b, const zoo_dataset *d, int batch)
{
    int xs[ZOO_MAX_RANK], ys[ZOO_MAX_RANK];
    xs[0] = ys[0] = batch;
    memcpy(xs + 1, d->x_shape, (size_t)d->x_rank * sizeof(int));
    memcpy(ys + 1, d->y_shape, (size_t)d->y_rank * sizeof(int));
    b->x = zoo_tensor_new(d->x_rank + 1, xs);
    b->y = zoo_tensor_new(d->y_rank + 1, ys);
    b->idx = malloc((size_t)batch * sizeof *b->idx);
    if (!b->x || !b->y || !b->idx) {
        batch_buf_free(b);
        return zoo_error(ZOO_ERR_MEMORY, "training: cannot allocate a batch of %d samples", batch);
    }
    return ZOO_OK;
}

/* Loads samples order[start .. start+n) into b; views of the kept rows. */
static zoo_status load_batch(zoo_dataset *d, batch_buf *b, const int *order, int n,
                             const zoo_load_ctx *lc, zoo_tensor *xv, zoo_tensor *yv,
                             int *kept)
{
    memcpy(b->idx, order, (size_t)n * sizeof *order);
    *kept = 0;
    zoo_status st = d->load(d->ctx, b->idx, n, b->x->data, b->y->data, kept, lc);
    if (st != ZOO_OK)
        return st;
    if (*kept < 0 || *kept > n)
        return zoo_error(ZOO_ERR_INTERNAL, "dataset reported %d samples kept of %d", *kept, n);
    int xs[ZOO_MAX_RANK], ys[ZOO_MAX_RANK];
    memcpy(xs, b->x->shape, sizeof xs);
    memcpy(ys, b->y->shape, sizeof ys);
    xs[0] = ys[0] = *kept > 0 ? *kept : 1;
    *xv = zoo_tensor_view(b->x->rank, xs, b->x->data);
    *yv = zoo_tensor_view(b->y->rank, ys, b->y->data);
    return ZOO_OK;
}

zoo_status zoo_model_evaluate(zoo_model *m, zoo_dataset *data, int batch_size,
                              int threads, double *loss, double *metrics)
{
    zoo_status st = need_compiled(m, "evaluate");
    if (st == ZOO_OK)
        st = check_dataset(m, data, "evaluate");
    if (st != ZOO_OK)
        return st;
    if (batch_size < 0)
        return zoo_error(ZOO_ERR_ARGUMENT, "evaluate: batch size %d must be >= 0", batch_size);
    int bs = batch_size ? batch_size : 32;
    batch_buf b = {0};
    st = batch_buf_init(&b, data, bs);
    int *order = st == ZOO_OK ? malloc((data->count ? (size_t)data->count : 1) * sizeof *order) : NULL;
    if (st == ZOO_OK && !order)
        st = zoo_error(ZOO_ERR_MEMORY, "evaluate: out of memory");
    for (int i = 0; order && i < data->count; i++)
        order[i] = i;
    int n_metrics = m->training->opts.n_metrics;
    double sum_loss = 0.0, sum_correct[ZOO_MAX_METRICS] = {0};
    long seen = 0;
    zoo_predict_opts po = {.threads = pick_threads(threads)};
    for (int start = 0; st == ZOO_OK && start < data->count; start += bs) {
        int n = data->count - start < bs ? data->count - start : bs;
        zoo_tensor xv, yv;
        int kept;
        zoo_load_ctx lc = {0};
        st = load_batch(data, &b, order + start, n, &lc, &xv, &yv, &kept);
        if (st != ZOO_OK || kept == 0)
            continue;
        zoo_tensor *y_pred = NULL;
        zoo_tensor *xp = &xv;
        st = zoo_model_predict(m, &xp, 1, &y_pred, 1, &po);
        double l = 0.0, correct[ZOO_MAX_METRICS] = {0};
        if (st == ZOO_OK)
            st = score_batch(m, y_pred, &yv, NULL, &l, correct);
        zoo_tensor_free(y_pred);
        if (st != ZOO_OK)
            break;
        sum_loss += l * kept;
        for (int i = 0; i < n_metrics; i++)
            sum_correct[i] += correct[i];
        seen += kept;
    }
    free(order);
    batch_buf_free(&b);
    if (st == ZOO_OK && seen == 0)
        st = zoo_error(ZOO_ERR_ARGUMENT, "evaluate: the dataset gave no samples");
    if (st != ZOO_OK)
        return st;
    if (loss)
        *loss = sum_loss / (double)seen;
    for (int i = 0; metrics && i < n_metrics; i++)
        metrics[i] = sum_correct[i] / (double)seen;
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* fit                                                                 */
/* ------------------------------------------------------------------ */

/* Fisher-Yates with a splitmix64 stream. */
static void shuffle(int *v, int n, uint64_t *rng)
{
    for (int i = n - 1; i > 0; i--) {
        uint64_t r = mix64((*rng)++);
        int j = (int)(r % (uint64_t)(i + 1));
        int tmp = v[i];
        v[i] = v[j];
        v[j] = tmp;
    }
}

typedef struct {
    char keys[2 * ZOO_MAX_METRICS + 3][64];
    const char *ptr[2 * ZOO_MAX_METRICS + 3];
    double values[2 * ZOO_MAX_METRICS + 3];
    int n;
} log_set;

static void log_put(log_set *s, const char *prefix, const char *key, double v)
{
    snprintf(s->keys[s->n], sizeof s->keys[0], "%s%s", prefix, key);
    s->ptr[s->n] = s->keys[s->n];
    s->values[s->n++] = v;
}

/* Keras's epoch logs: metrics, then loss, then the same for validation. */
static void epoch_logs(const zoo_model *m, log_set *s, const char *prefix,
                       double loss, const double *metrics)
{
    const zoo_compile_opts *c = &m->training->opts;
    for (int i = 0; i < c->n_metrics; i++)
        log_put(s, prefix, zoo_metric_name(&c->metrics[i], c->loss.kind), metrics[i]);
    log_put(s, prefix, "loss", loss);
}

static zoo_status check_fit_opts(const zoo_fit_opts *o, const zoo_dataset *train)
{
    if (o->epochs < 0 || o->batch_size < 0 || o->threads < 0)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "fit: epochs (%d), batch_size (%d) and threads (%d) must be >= 0",
                         o->epochs, o->batch_size, o->threads);
    if (!(o->validation_split >= 0.0f && o->validation_split < 1.0f))
        return zoo_error(ZOO_ERR_ARGUMENT, "fit: validation_split %g is outside [0, 1)",
                         (double)o->validation_split);
    if (o->verbose < 0 || o->verbose > 2)
        return zoo_error(ZOO_ERR_ARGUMENT, "fit: verbose %d is not 0, 1 or 2", o->verbose);
    if (train->count < 1)
        return zoo_error(ZOO_ERR_ARGUMENT, "fit: the training data is empty");
    return ZOO_OK;
}

typedef struct {
    zoo_model *m;
    const zoo_fit_opts *o;
    zoo_dataset *train, *val;
    batch_buf b;
    int *order;
    int n_train;
    uint64_t shuffle_rng;
    zoo_progress progress;
    int threads;
} fit_run;

static zoo_status run_epoch(fit_run *r, int epoch, log_set *logs)
{
    zoo_model *m = r->m;
    const zoo_fit_opts *o = r->o;
    int bs = o->batch_size ? o->batch_size : 32;
    int steps = (r->n_train + bs - 1) / bs;
    int n_metrics = m->training->opts.n_metrics;
    double sum_loss = 0.0, sum_correct[ZOO_MAX_METRICS] = {0};
    long seen = 0;
    if (!o->no_shuffle)
        shuffle(r->order, r->n_train, &r->shuffle_rng);
    zoo_progress_epoch_begin(&r->progress, epoch, o->epochs, steps);
    zoo_status st = ZOO_OK;
    for (int step = 0; st == ZOO_OK && step < steps; step++) {
        int start = step * bs;
        int n = r->n_train - start < bs ? r->n_train - start : bs;
        zoo_load_ctx lc = {.augment = o->augment,
                           .seed = mix64(o->seed ^ mix64(((uint64_t)epoch << 32) | (uint64_t)step))};
        zoo_tensor xv, yv;
        int kept;
        st = load_batch(r->train, &r->b, r->order + start, n, &lc, &xv, &yv, &kept);
        if (st != ZOO_OK || kept == 0)
            continue;
        double loss = 0.0, correct[ZOO_MAX_METRICS] = {0};
        bool finite;
        st = train_step(m, &xv, &yv, r->threads, &loss, correct, &finite);
        if (st == ZOO_OK && !finite)
            st = zoo_error(ZOO_ERR_ARGUMENT,
                           "fit: the loss became %s at epoch %d, batch %d of %d; training "
                           "stopped before that update (try a lower learning rate, or "
                           "check the data for NaN values)",
                           isnan(loss) ? "NaN" : "infinite", epoch + 1, step + 1, steps);
        if (st != ZOO_OK)
            break;
        sum_loss += loss * kept;
        for (int i = 0; i < n_metrics; i++)
            sum_correct[i] += correct[i];
        seen += kept;
        double mean[ZOO_MAX_METRICS];
        for (int i = 0; i < n_metrics; i++)
            mean[i] = sum_correct[i] / (double)seen;
        log_set running = {.n = 0};
        epoch_logs(m, &running, "", sum_loss / (double)seen, mean);
        zoo_progress_step(&r->progress, step + 1,
                          &(zoo_logs){running.ptr, running.values, running.n});
    }
    if (st != ZOO_OK)
        return st;
    if (seen == 0)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "fit: no sample of epoch %d could be read", epoch + 1);
    double mean[ZOO_MAX_METRICS];
    for (int i = 0; i < n_metrics; i++)
        mean[i] = sum_correct[i] / (double)seen;
    epoch_logs(m, logs, "", sum_loss / (double)seen, mean);
    if (r->val) {
        double vloss, vmetrics[ZOO_MAX_METRICS];
        st = zoo_model_evaluate(m, r->val, bs, r->threads, &vloss, vmetrics);
        if (st != ZOO_OK)
            return st;
        epoch_logs(m, logs, "val_", vloss, vmetrics);
    }
    return ZOO_OK;
}

static zoo_status fit_setup(fit_run *r, zoo_model *m, zoo_dataset *train,
                            const zoo_fit_opts *o, zoo_dataset **split_train,
                            zoo_dataset **split_val)
{
    r->m = m;
    r->o = o;
    r->train = train;
    r->val = o->validation_data;
    if (!r->val && o->validation_split > 0.0f) {
        /* Keras: the first floor(n * (1 - split)) samples train. */
        int n_fit = (int)floor((double)train->count * (1.0 - (double)o->validation_split));
        if (n_fit < 1 || n_fit >= train->count)
            return zoo_error(ZOO_ERR_ARGUMENT,
                             "fit: validation_split %g of %d samples leaves %s",
                             (double)o->validation_split, train->count,
                             n_fit < 1 ? "nothing to train on" : "no validation sample");
        *split_train = zoo_dataset_slice(train, 0, n_fit);
        *split_val = zoo_dataset_slice(train, n_fit, train->count - n_fit);
        if (!*split_train || !*split_val)
            return zoo_last_status();
        r->train = *split_train;
        r->val = *split_val;
    }
    zoo_status st = check_dataset(m, r->train, "fit");
    if (st == ZOO_OK && r->val)
        st = check_dataset(m, r->val, "fit (validation data)");
    if (st == ZOO_OK)
        st = batch_buf_init(&r->b, r->train, o->batch_size ? o->batch_size : 32);
    if (st != ZOO_OK)
        return st;
    r->n_train = r->train->count;
    r->order = malloc((size_t)r->n_train * sizeof *r->order);
    if (!r->order)
        return zoo_error(ZOO_ERR_MEMORY, "fit: out of memory");
    for (int i = 0; i < r->n_train; i++)
        r->order[i] = i;
    r->shuffle_rng = mix64(o->seed ^ 0x5348554646ull);
    r->threads = pick_threads(o->threads);
    zoo_progress_init(&r->progress, o->log, o->verbose);
    m->training->seed = mix64(o->seed);
    return ZOO_OK;
}

zoo_status zoo_model_fit(zoo_model *m, zoo_dataset *train,
                         const zoo_fit_opts *opts, zoo_history **history)
{
    if (history)
        *history = NULL;
    zoo_status st = need_compiled(m, "fit");
    if (st != ZOO_OK)
        return st;
    if (!train)
        return zoo_error(ZOO_ERR_ARGUMENT, "fit: training data is NULL");
    zoo_fit_opts o = opts ? *opts : (zoo_fit_opts){.epochs = 1};
    st = check_fit_opts(&o, train);
    if (st != ZOO_OK)
        return st;
    fit_run r = {0};
    zoo_dataset *split_train = NULL, *split_val = NULL;
    zoo_history *h = zoo_history_new();
    zoo_callbacks cb = {0};
    st = h ? fit_setup(&r, m, train, &o, &split_train, &split_val) : zoo_last_status();
    if (st == ZOO_OK)
        st = zoo_callbacks_init(&cb, m, &o, r.val != NULL);
    bool stop = false;
    for (int epoch = 0; st == ZOO_OK && !stop && epoch < o.epochs; epoch++) {
        log_set logs = {.n = 0};
        st = run_epoch(&r, epoch, &logs);
        if (st != ZOO_OK)
            break;
        zoo_progress_epoch_end(&r.progress, &(zoo_logs){logs.ptr, logs.values, logs.n});
        for (int i = 0; i < logs.n && st == ZOO_OK; i++)
            st = zoo_history_put(h, epoch, logs.ptr[i], logs.values[i]);
        if (st == ZOO_OK)
            st = zoo_callbacks_epoch_end(&cb, epoch, h, &stop);
    }
    zoo_callbacks_end(&cb);
    batch_buf_free(&r.b);
    free(r.order);
    zoo_dataset_free(split_train);
    zoo_dataset_free(split_val);
    if (history)
        *history = h;
    else
        zoo_history_free(h);
    return st;
}
