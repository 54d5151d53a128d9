/* fit's callbacks with Keras 3's rules (keras/src/callbacks/). */
#include "engine/callbacks.h"
#include "engine/history.h"
#include "engine/training.h"
#include "engine/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *monitor_of(const char *m) { return m && *m ? m : "val_loss"; }

/* Keras's mode "auto": accuracy-like keys are maximised. */
static void monitor_init(zoo_monitor *mon, const char *key)
{
    mon->max = strstr(key, "acc") != NULL;
    mon->best = mon->max ? -INFINITY : INFINITY;
    mon->wait = 0;
}

static zoo_status check_key(const zoo_model *m, const char *who, const char *key,
                            bool has_validation)
{
    bool val = strncmp(key, "val_", 4) == 0;
    const char *base = val ? key + 4 : key;
    const zoo_compile_opts *c = &m->training->opts;
    bool known = strcmp(base, "loss") == 0;
    for (int i = 0; !known && i < c->n_metrics; i++)
        known = strcmp(base, zoo_metric_name(&c->metrics[i], c->loss.kind)) == 0;
    if (!known)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "fit: %s monitors '%s', which fit does not log (it logs loss, "
                         "the compiled metrics, and val_ versions with validation data)",
                         who, key);
    if (val && !has_validation)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "fit: %s monitors '%s' but there is no validation data; give "
                         "validation data or a validation split, or monitor '%s'",
                         who, key, base);
    return ZOO_OK;
}

zoo_status zoo_callbacks_init(zoo_callbacks *cb, zoo_model *m, const zoo_fit_opts *o,
                              bool has_validation)
{
    *cb = (zoo_callbacks){.m = m, .o = o};
    zoo_status st = ZOO_OK;
    if (o->early_stopping.enabled) {
        const char *k = monitor_of(o->early_stopping.monitor);
        st = check_key(m, "early stopping", k, has_validation);
        monitor_init(&cb->stop, k);
        if (o->early_stopping.patience < 0 || o->early_stopping.min_delta < 0.0f)
            st = zoo_error(ZOO_ERR_ARGUMENT, "fit: early stopping patience and min_delta must be >= 0");
    }
    if (st == ZOO_OK && o->checkpoint.enabled) {
        const char *k = monitor_of(o->checkpoint.monitor);
        if (!o->checkpoint.path || !*o->checkpoint.path)
            return zoo_error(ZOO_ERR_ARGUMENT, "fit: the checkpoint needs a path");
        if (o->checkpoint.save_best_only)
            st = check_key(m, "the checkpoint", k, has_validation);
        monitor_init(&cb->ckpt, k);
    }
    if (st == ZOO_OK && o->reduce_lr.enabled) {
        const char *k = monitor_of(o->reduce_lr.monitor);
        st = check_key(m, "reduce-LR-on-plateau", k, has_validation);
        monitor_init(&cb->plateau, k);
        float f = o->reduce_lr.factor;
        if (st == ZOO_OK && (f < 0.0f || f >= 1.0f))
            st = zoo_error(ZOO_ERR_ARGUMENT,
                           "fit: reduce-LR-on-plateau factor %g must be below 1", (double)f);
    }
    return st;
}

/* Keras's comparisons with min_delta (EarlyStopping shifts the value by
 * min_delta in the improving direction's opposite; the others alike). */
static bool improved(const zoo_monitor *mon, double v, double min_delta)
{
    return mon->max ? v - min_delta > mon->best : v + min_delta < mon->best;
}

static void free_best(zoo_callbacks *cb)
{
    for (int i = 0; i < cb->n_best; i++)
        zoo_tensor_free(cb->best[i]);
    free(cb->best);
    cb->best = NULL;
    cb->n_best = 0;
}

/* Copies (or restores) every weight of the model, moving statistics too. */
static zoo_status snapshot(zoo_callbacks *cb, bool restore)
{
    const zoo_model *m = cb->m;
    int n = 0;
    for (int i = 0; i < m->n_layers; i++)
        n += m->layers[i]->n_weights;
    if (!restore && !cb->best) {
        cb->best = calloc(n ? (size_t)n : 1, sizeof *cb->best);
        if (!cb->best)
            return zoo_error(ZOO_ERR_MEMORY, "fit: out of memory");
        cb->n_best = n;
    }
    int k = 0;
    for (int i = 0; i < m->n_layers; i++)
        for (int j = 0; j < m->layers[i]->n_weights; j++, k++) {
            zoo_tensor *w = m->layers[i]->weights[j].value;
            if (restore) {
                memcpy(w->data, cb->best[k]->data, w->size * sizeof(float));
            } else if (cb->best[k]) {
                memcpy(cb->best[k]->data, w->data, w->size * sizeof(float));
            } else if (!(cb->best[k] = zoo_tensor_clone(w))) {
                return zoo_error(ZOO_ERR_MEMORY, "fit: out of memory");
            }
        }
    return ZOO_OK;
}

static zoo_status early_stopping(zoo_callbacks *cb, int epoch, double v, bool *stop)
{
    const zoo_early_stopping *es = &cb->o->early_stopping;
    zoo_status st = ZOO_OK;
    if (es->restore_best_weights && !cb->best)
        st = snapshot(cb, false);
    cb->stop.wait++;
    if (st == ZOO_OK && improved(&cb->stop, v, es->min_delta)) {
        cb->stop.best = v;
        cb->stop.wait = 0;
        if (es->restore_best_weights)
            st = snapshot(cb, false);
        return st;
    }
    if (st == ZOO_OK && cb->stop.wait >= es->patience && epoch > 0) {
        *stop = true;
        if (es->restore_best_weights && cb->best)
            st = snapshot(cb, true);
    }
    return st;
}

static zoo_status checkpoint(zoo_callbacks *cb, double v)
{
    const zoo_checkpoint *c = &cb->o->checkpoint;
    if (c->save_best_only) {
        if (!improved(&cb->ckpt, v, 0.0))
            return ZOO_OK;
        cb->ckpt.best = v;
    }
    return zoo_model_save(cb->m, c->path);
}

static zoo_status reduce_lr(zoo_callbacks *cb, int epoch, zoo_history *h, double v)
{
    const zoo_reduce_lr *r = &cb->o->reduce_lr;
    double factor = r->factor > 0.0f ? r->factor : 0.1;
    int patience = r->patience > 0 ? r->patience : 10;
    double min_delta = r->min_delta > 0.0f ? r->min_delta : 1e-4;
    double lr = zoo_optimizer_learning_rate(cb->m->training->opt);
    zoo_status st = zoo_history_put(h, epoch, "learning_rate", lr);
    if (cb->cooldown > 0) {
        cb->cooldown--;
        cb->plateau.wait = 0;
    }
    if (improved(&cb->plateau, v, min_delta)) {
        cb->plateau.best = v;
        cb->plateau.wait = 0;
    } else if (cb->cooldown <= 0 && ++cb->plateau.wait >= patience) {
        if (lr > r->min_lr) {
            double next = fmax(lr * factor, (double)r->min_lr);
            zoo_optimizer_scale_learning_rate(cb->m->training->opt, next / lr);
            cb->cooldown = r->cooldown;
            cb->plateau.wait = 0;
        }
    }
    return st;
}

zoo_status zoo_callbacks_epoch_end(zoo_callbacks *cb, int epoch, zoo_history *h, bool *stop)
{
    const zoo_fit_opts *o = cb->o;
    zoo_status st = ZOO_OK;
    if (o->reduce_lr.enabled)
        st = reduce_lr(cb, epoch, h, zoo_history_get(h, monitor_of(o->reduce_lr.monitor), epoch));
    if (st == ZOO_OK && o->csv_path)
        st = zoo_history_save_csv(h, o->csv_path);
    if (st == ZOO_OK && o->checkpoint.enabled)
        st = checkpoint(cb, zoo_history_get(h, monitor_of(o->checkpoint.monitor), epoch));
    if (st == ZOO_OK && o->early_stopping.enabled)
        st = early_stopping(cb, epoch,
                            zoo_history_get(h, monitor_of(o->early_stopping.monitor), epoch),
                            stop);
    if (st == ZOO_OK && o->on_epoch_end && !o->on_epoch_end(epoch, h, o->user))
        *stop = true;
    return st;
}

void zoo_callbacks_end(zoo_callbacks *cb)
{
    free_best(cb);
}
