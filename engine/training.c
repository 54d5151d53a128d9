/* compile: the training state a model carries between fit calls. */
#include "engine/training.h"
#include "engine/tensor.h"

#include <stdlib.h>

void zoo_training_free(struct zoo_training *t)
{
    if (!t)
        return;
    zoo_optimizer_free(t->opt);
    for (int i = 0; t->grads && i < t->params.n; i++)
        zoo_tensor_free(t->grads[i]);
    free(t->grads);
    zoo_params_free(&t->params);
    free(t);
}

zoo_status zoo_model_compile(zoo_model *m, const zoo_compile_opts *opts)
{
    if (!m || !opts)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_compile: %s is NULL",
                         !m ? "model" : "opts");
    if (m->n_inputs != 1 || m->n_outputs != 1)
        return zoo_error(ZOO_ERR_UNSUPPORTED,
                         "compile: model %s has %d inputs and %d outputs; "
                         "training supports one of each", m->name, m->n_inputs,
                         m->n_outputs);
    if (opts->n_metrics < 0 || opts->n_metrics > ZOO_MAX_METRICS)
        return zoo_error(ZOO_ERR_ARGUMENT, "compile: %d metrics (0 to %d allowed)",
                         opts->n_metrics, ZOO_MAX_METRICS);
    if (!zoo_loss_name(opts->loss.kind))
        return zoo_error(ZOO_ERR_ARGUMENT, "compile: unknown loss %d", (int)opts->loss.kind);
    struct zoo_training *t = calloc(1, sizeof *t);
    if (!t)
        return zoo_error(ZOO_ERR_MEMORY, "compile: out of memory");
    t->opts = *opts;
    t->opt = zoo_optimizer_new(&opts->optimizer);
    zoo_status st = t->opt ? zoo_params_collect(m, &t->params) : zoo_last_status();
    if (st == ZOO_OK) {
        t->grads = calloc(t->params.n ? (size_t)t->params.n : 1, sizeof *t->grads);
        if (!t->grads)
            st = zoo_error(ZOO_ERR_MEMORY, "compile: out of memory");
        for (int i = 0; st == ZOO_OK && i < t->params.n; i++) {
            const zoo_tensor *v = t->params.vars[i];
            t->grads[i] = zoo_tensor_new(v->rank, v->shape);
            if (!t->grads[i])
                st = zoo_error(ZOO_ERR_MEMORY, "compile: out of memory");
        }
    }
    if (st != ZOO_OK) {
        zoo_training_free(t);
        return st;
    }
    zoo_training_free(m->training);
    m->training = t;
    return ZOO_OK;
}

