/*
 * Inference: runs a model's calls in order on concrete tensors. Each
 * intermediate tensor is freed as soon as its last consumer has run, so
 * peak memory is the widest live set, not the sum of all activations.
 * Large inputs are cut into batches of opts->batch_size.
 */
#include "engine/model.h"
#include "engine/tensor.h"

#include <stdlib.h>
#include <string.h>

/* Position of each sym of the model in m->nodes, by sym id (-1: absent). */
static int *node_slots(const zoo_model *m)
{
    int *slot = malloc((size_t)m->graph->n_syms * sizeof *slot);
    if (!slot)
        return NULL;
    for (int i = 0; i < m->graph->n_syms; i++)
        slot[i] = -1;
    for (int i = 0; i < m->n_nodes; i++)
        slot[m->nodes[i]->id] = i;
    return slot;
}

static bool is_input_slot(const zoo_model *m, const zoo_sym *s, int *which)
{
    for (int i = 0; i < m->n_inputs; i++)
        if (m->inputs[i] == s) {
            *which = i;
            return true;
        }
    return false;
}

/* One forward pass over a batch. `outputs` receive owned tensors. */
static zoo_status run_batch(const zoo_model *m, const zoo_tensor *const *inputs,
                            zoo_tensor **outputs, const zoo_exec *ex)
{
    int n = m->n_nodes;
    for (int i = 0; i < m->n_outputs; i++)
        outputs[i] = NULL;
    int *slot = node_slots(m);
    int *uses = calloc((size_t)n, sizeof *uses);
    zoo_tensor **val = calloc((size_t)n, sizeof *val);
    bool *borrowed = calloc((size_t)n, sizeof *borrowed);
    zoo_status st = ZOO_OK;
    if (!slot || !uses || !val || !borrowed) {
        st = zoo_error(ZOO_ERR_MEMORY, "predict: out of memory");
        goto done;
    }
    /* Consumers of each value; outputs count as one more use. */
    for (int i = 0; i < n; i++) {
        int w;
        if (is_input_slot(m, m->nodes[i], &w))
            continue;
        for (int j = 0; j < m->nodes[i]->n_inputs; j++)
            uses[slot[m->nodes[i]->inputs[j]->id]]++;
    }
    for (int i = 0; i < m->n_outputs; i++)
        uses[slot[m->outputs[i]->id]]++;

    for (int i = 0; i < n && st == ZOO_OK; i++) {
        zoo_sym *s = m->nodes[i];
        int w;
        if (is_input_slot(m, s, &w)) {
            val[i] = (zoo_tensor *)inputs[w];
            borrowed[i] = true;
            continue;
        }
        const zoo_layer *l = s->layer;
        const zoo_tensor *in[s->n_inputs > 0 ? s->n_inputs : 1];
        zoo_shape in_shape[s->n_inputs > 0 ? s->n_inputs : 1];
        for (int j = 0; j < s->n_inputs; j++) {
            in[j] = val[slot[s->inputs[j]->id]];
            in_shape[j] = zoo_tensor_zshape(in[j]);
        }
        zoo_shape out_shape = {0};
        st = l->kind->infer(l, in_shape, s->n_inputs, &out_shape);
        if (st != ZOO_OK)
            break;
        val[i] = zoo_tensor_new(out_shape.rank, out_shape.dim);
        if (!val[i]) {
            char buf[128];
            st = zoo_error(ZOO_ERR_MEMORY, "%s %s: cannot allocate its output %s",
                           l->kind->class_name, l->name, zoo_shape_str(&out_shape, buf, sizeof buf));
            break;
        }
        st = l->kind->forward(l, in, s->n_inputs, val[i], ex);
        for (int j = 0; j < s->n_inputs; j++) {
            int k = slot[s->inputs[j]->id];
            if (--uses[k] == 0 && !borrowed[k]) {
                zoo_tensor_free(val[k]);
                val[k] = NULL;
            }
        }
    }
    if (st == ZOO_OK) {
        for (int i = 0; i < m->n_outputs; i++) {
            int k = slot[m->outputs[i]->id];
            /* A value may be output twice, or be an input: hand out copies. */
            if (borrowed[k] || uses[k] > 1) {
                outputs[i] = zoo_tensor_clone(val[k]);
                if (!outputs[i])
                    st = ZOO_ERR_MEMORY;
            } else {
                outputs[i] = val[k];
                val[k] = NULL;
            }
            uses[k]--;
        }
        if (st != ZOO_OK)
            for (int i = 0; i < m->n_outputs; i++) {
                zoo_tensor_free(outputs[i]);
                outputs[i] = NULL;
            }
    }
done:
    for (int i = 0; val && i < n; i++)
        if (!borrowed[i])
            zoo_tensor_free(val[i]);
    free(slot);
    free(uses);
    free(val);
    free(borrowed);
    return st;
}

static zoo_status check_inputs(const zoo_model *m, zoo_tensor *const *inputs,
                               int n_inputs, int *batch)
{
    if (n_inputs != m->n_inputs)
        return zoo_error(ZOO_ERR_ARGUMENT, "predict: model %s takes %d input%s, got %d",
                         m->name, m->n_inputs, m->n_inputs == 1 ? "" : "s", n_inputs);
    for (int i = 0; i < n_inputs; i++) {
        const zoo_tensor *t = inputs[i];
        const zoo_shape *want = &m->inputs[i]->shape;
        char a[128], b[128];
        if (!t)
            return zoo_error(ZOO_ERR_ARGUMENT, "predict: input %d is NULL", i);
        zoo_shape got = zoo_tensor_zshape(t);
        bool ok = got.rank == want->rank;
        for (int d = 1; ok && d < got.rank; d++)
            ok = want->dim[d] < 0 || want->dim[d] == got.dim[d];
        if (!ok)
            return zoo_error(ZOO_ERR_SHAPE,
                             "predict: input %d ('%s') has shape %s; the model expects %s",
                             i, m->inputs[i]->layer->name, zoo_shape_str(&got, a, sizeof a),
                             zoo_shape_str(want, b, sizeof b));
        if (i == 0)
            *batch = got.dim[0];
        else if (got.dim[0] != *batch)
            return zoo_error(ZOO_ERR_SHAPE,
                             "predict: inputs have different batch sizes (%d and %d)",
                             *batch, got.dim[0]);
    }
    return ZOO_OK;
}

/* Rows [start, start + count) of t along the batch axis, as a view. */
static zoo_tensor batch_view(const zoo_tensor *t, int start, int count)
{
    size_t row = t->size / (size_t)t->shape[0];
    int shape[ZOO_MAX_RANK];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = count;
    return zoo_tensor_view(t->rank, shape, t->data + (size_t)start * row);
}

zoo_status zoo_model_predict(zoo_model *m, zoo_tensor *const *inputs,
                             int n_inputs, zoo_tensor **outputs,
                             int n_outputs, const zoo_predict_opts *opts)
{
    if (!m || !inputs || !outputs)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_predict: %s is NULL",
                         !m ? "model" : !inputs ? "inputs" : "outputs");
    if (n_outputs != m->n_outputs)
        return zoo_error(ZOO_ERR_ARGUMENT, "predict: model %s has %d output%s, got room for %d",
                         m->name, m->n_outputs, m->n_outputs == 1 ? "" : "s", n_outputs);
    for (int i = 0; i < n_outputs; i++)
        outputs[i] = NULL;
    if (opts && (opts->threads < 0 || opts->batch_size < 0))
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "predict: threads (%d) and batch_size (%d) must be >= 0 (0: default)",
                         opts->threads, opts->batch_size);
    int batch = 0;
    zoo_status st = check_inputs(m, inputs, n_inputs, &batch);
    if (st != ZOO_OK)
        return st;
    zoo_exec ex = {.threads = opts && opts->threads > 0 ? opts->threads : zoo_default_threads()};
    int chunk = opts && opts->batch_size > 0 ? opts->batch_size : batch;
    if (chunk >= batch)
        return run_batch(m, (const zoo_tensor *const *)inputs, outputs, &ex);

    /* Several batches: run each on views, then gather rows. */
    zoo_tensor *part[n_outputs];
    zoo_tensor views[n_inputs];
    const zoo_tensor *view_ptr[n_inputs];
    for (int start = 0; start < batch && st == ZOO_OK; start += chunk) {
        int count = batch - start < chunk ? batch - start : chunk;
        for (int i = 0; i < n_inputs; i++) {
            views[i] = batch_view(inputs[i], start, count);
            view_ptr[i] = &views[i];
        }
        st = run_batch(m, view_ptr, part, &ex);
        for (int o = 0; o < n_outputs && st == ZOO_OK; o++) {
            if (!outputs[o]) {
                int shape[ZOO_MAX_RANK];
                memcpy(shape, part[o]->shape, sizeof shape);
                shape[0] = batch;
                outputs[o] = zoo_tensor_new(part[o]->rank, shape);
                if (!outputs[o]) {
                    st = ZOO_ERR_MEMORY;
                    break;
                }
            }
            size_t row = part[o]->size / (size_t)count;
            if (row * (size_t)batch != outputs[o]->size) {
                st = zoo_error(ZOO_ERR_SHAPE, "predict: output %d changes shape between batches", o);
                break;
            }
            memcpy(outputs[o]->data + (size_t)start * row, part[o]->data,
                   part[o]->size * sizeof(float));
        }
        for (int o = 0; o < n_outputs; o++)
            zoo_tensor_free(part[o]);
    }
    if (st != ZOO_OK)
        for (int o = 0; o < n_outputs; o++) {
            zoo_tensor_free(outputs[o]);
            outputs[o] = NULL;
        }
    return st;
}
