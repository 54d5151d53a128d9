/*
 * Training steps: the forward pass keeps what the backward pass needs,
 * then gradients flow back call by call. Only the part of the graph that
 * leads from a trainable variable to the output is differentiated: a frozen
 * base is run forward (and its activations freed as in inference) but never
 * visited backwards. A tensor read by several calls gathers the sum of
 * their gradients, and a layer called several times sums its weight
 * gradients, because backward hooks add into their outputs.
 */
#include "engine/backprop.h"
#include "engine/tensor.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Trainable variables                                                 */
/* ------------------------------------------------------------------ */

void zoo_params_free(zoo_params *p)
{
    free(p->vars);
    free(p->layer);
    free(p->weight);
    memset(p, 0, sizeof *p);
}

zoo_status zoo_params_collect(const zoo_model *m, zoo_params *p)
{
    memset(p, 0, sizeof *p);
    int cap = 0;
    for (int i = 0; i < m->n_layers; i++)
        cap += m->layers[i]->n_weights;
    p->vars = calloc(cap ? (size_t)cap : 1, sizeof *p->vars);
    p->layer = calloc(cap ? (size_t)cap : 1, sizeof *p->layer);
    p->weight = calloc(cap ? (size_t)cap : 1, sizeof *p->weight);
    if (!p->vars || !p->layer || !p->weight) {
        zoo_params_free(p);
        return zoo_error(ZOO_ERR_MEMORY, "training: out of memory");
    }
    for (int i = 0; i < m->n_layers; i++) {
        zoo_layer *l = m->layers[i];
        for (int k = 0; k < l->n_weights; k++)
            if (l->trainable && l->weights[k].trainable) {
                p->vars[p->n] = l->weights[k].value;
                p->layer[p->n] = l;
                p->weight[p->n] = k;
                p->n++;
            }
    }
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* The tape                                                            */
/* ------------------------------------------------------------------ */

struct zoo_tape {
    const zoo_model *m;
    const zoo_params *p;
    zoo_exec ex;
    int *slot;         /* node position by sym id */
    bool *needs_grad;  /* per node: a trainable variable lies upstream */
    bool *keep;        /* per node: backward reads its value */
    zoo_tensor **val;  /* per node, while alive */
    bool *borrowed;    /* val is the caller's input */
    void **saved;      /* per node: forward_train's state */
    int out;           /* node of the model's output */
};

void zoo_tape_free(zoo_tape *t)
{
    if (!t)
        return;
    for (int i = 0; t->val && i < t->m->n_nodes; i++) {
        if (!t->borrowed[i])
            zoo_tensor_free(t->val[i]);
        free(t->saved[i]);
    }
    free(t->slot);
    free(t->needs_grad);
    free(t->keep);
    free(t->val);
    free(t->borrowed);
    free(t->saved);
    free(t);
}

static bool layer_has_params(const zoo_params *p, const zoo_layer *l)
{
    for (int i = 0; i < p->n; i++)
        if (p->layer[i] == l)
            return true;
    return false;
}

static zoo_tape *tape_new(const zoo_model *m, const zoo_params *p,
                          const zoo_exec *ex)
{
    zoo_tape *t = calloc(1, sizeof *t);
    int n = m->n_nodes;
    if (!t)
        return NULL;
    t->m = m;
    t->p = p;
    t->ex = *ex;
    t->slot = malloc((size_t)m->graph->n_syms * sizeof *t->slot);
    t->needs_grad = calloc((size_t)n, sizeof *t->needs_grad);
    t->keep = calloc((size_t)n, sizeof *t->keep);
    t->val = calloc((size_t)n, sizeof *t->val);
    t->borrowed = calloc((size_t)n, sizeof *t->borrowed);
    t->saved = calloc((size_t)n, sizeof *t->saved);
    if (!t->slot || !t->needs_grad || !t->keep || !t->val || !t->borrowed || !t->saved) {
        zoo_tape_free(t);
        return NULL;
    }
    for (int i = 0; i < m->graph->n_syms; i++)
        t->slot[i] = -1;
    for (int i = 0; i < n; i++)
        t->slot[m->nodes[i]->id] = i;
    /* Nodes come after their inputs, so one pass settles needs_grad. */
    for (int i = 0; i < n; i++) {
        const zoo_sym *s = m->nodes[i];
        if (s == m->inputs[0])
            continue;
        bool g = layer_has_params(p, s->layer);
        for (int j = 0; j < s->n_inputs && !g; j++)
            g = t->needs_grad[t->slot[s->inputs[j]->id]];
        t->needs_grad[i] = g;
        if (g) {
            t->keep[i] = true;
            for (int j = 0; j < s->n_inputs; j++)
                t->keep[t->slot[s->inputs[j]->id]] = true;
        }
    }
    t->out = t->slot[m->outputs[0]->id];
    t->keep[t->out] = true;
    return t;
}

zoo_status zoo_tape_forward(const zoo_model *m, const zoo_params *p,
                            const zoo_tensor *x, const zoo_exec *ex,
                            zoo_tape **tape, const zoo_tensor **y)
{
    *tape = NULL;
    *y = NULL;
    if (m->n_inputs != 1 || m->n_outputs != 1)
        return zoo_error(ZOO_ERR_UNSUPPORTED,
                         "training: model %s has %d inputs and %d outputs; "
                         "training supports one of each", m->name, m->n_inputs,
                         m->n_outputs);
    zoo_tape *t = tape_new(m, p, ex);
    int *uses = t ? calloc((size_t)m->n_nodes, sizeof *uses) : NULL;
    if (!t || !uses) {
        free(uses);
        zoo_tape_free(t);
        return zoo_error(ZOO_ERR_MEMORY, "training: out of memory");
    }
    int n = m->n_nodes;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m->nodes[i]->n_inputs; j++)
            uses[t->slot[m->nodes[i]->inputs[j]->id]]++;

    zoo_status st = ZOO_OK;
    for (int i = 0; i < n && st == ZOO_OK; i++) {
        zoo_sym *s = m->nodes[i];
        if (s == m->inputs[0]) {
            t->val[i] = (zoo_tensor *)x;
            t->borrowed[i] = true;
            continue;
        }
        zoo_layer *l = s->layer;
        int ni = s->n_inputs > 0 ? s->n_inputs : 1;
        const zoo_tensor *in[ni];
        zoo_shape in_shape[ni];
        for (int j = 0; j < s->n_inputs; j++) {
            in[j] = t->val[t->slot[s->inputs[j]->id]];
            in_shape[j] = zoo_tensor_zshape(in[j]);
        }
        zoo_shape out_shape = {0};
        st = l->kind->infer(l, in_shape, s->n_inputs, &out_shape);
        if (st != ZOO_OK)
            break;
        t->val[i] = zoo_tensor_new(out_shape.rank, out_shape.dim);
        if (!t->val[i]) {
            char buf[128];
            st = zoo_error(ZOO_ERR_MEMORY, "%s %s: cannot allocate its output %s",
                           l->kind->class_name, l->name,
                           zoo_shape_str(&out_shape, buf, sizeof buf));
            break;
        }
        if (ex->training && l->kind->forward_train) {
            zoo_exec call_ex = *ex;
            call_ex.call = s->call;
            st = l->kind->forward_train(l, in, s->n_inputs, t->val[i], &call_ex, &t->saved[i]);
        }
        else
            st = l->kind->forward(l, in, s->n_inputs, t->val[i], ex);
        for (int j = 0; j < s->n_inputs; j++) {
            int k = t->slot[s->inputs[j]->id];
            if (--uses[k] == 0 && !t->keep[k] && !t->borrowed[k]) {
                zoo_tensor_free(t->val[k]);
                t->val[k] = NULL;
            }
        }
    }
    free(uses);
    if (st != ZOO_OK) {
        zoo_tape_free(t);
        return st;
    }
    *tape = t;
    *y = t->val[t->out];
    return ZOO_OK;
}

/* The gradient slot of weight k of layer l among the params, or -1. */
static int param_index(const zoo_params *p, const zoo_layer *l, int k)
{
    for (int i = 0; i < p->n; i++)
        if (p->layer[i] == l && p->weight[i] == k)
            return i;
    return -1;
}

static zoo_tensor *zeros_like(const zoo_tensor *v)
{
    return zoo_tensor_new(v->rank, v->shape);
}

zoo_status zoo_tape_backward(zoo_tape *t, const zoo_tensor *dy,
                             zoo_tensor *const *grads)
{
    const zoo_model *m = t->m;
    int n = m->n_nodes;
    const zoo_tensor *y = t->val[t->out];
    if (!dy || dy->size != y->size)
        return zoo_error(ZOO_ERR_SHAPE, "training: the loss gradient does not match the output");
    zoo_tensor **grad = calloc((size_t)n, sizeof *grad);
    if (!grad)
        return zoo_error(ZOO_ERR_MEMORY, "training: out of memory");
    zoo_status st = ZOO_OK;
    if (t->needs_grad[t->out]) {
        grad[t->out] = zoo_tensor_clone(dy);
        if (!grad[t->out])
            st = zoo_error(ZOO_ERR_MEMORY, "training: out of memory");
    }
    for (int i = n - 1; i >= 0 && st == ZOO_OK; i--) {
        const zoo_sym *s = m->nodes[i];
        if (!grad[i] || !t->needs_grad[i] || s == m->inputs[0])
            continue;
        const zoo_layer *l = s->layer;
        if (!l->kind->backward) {
            st = zoo_error(ZOO_ERR_UNSUPPORTED,
                           "training: layer %s (%s) has no backward pass, so "
                           "nothing before it can be trained; freeze the "
                           "layers before it", l->name, l->kind->class_name);
            break;
        }
        int ni = s->n_inputs > 0 ? s->n_inputs : 1;
        const zoo_tensor *in[ni];
        zoo_tensor *dx[ni];
        for (int j = 0; j < s->n_inputs && st == ZOO_OK; j++) {
            int k = t->slot[s->inputs[j]->id];
            in[j] = t->val[k];
            dx[j] = NULL;
            if (t->needs_grad[k]) {
                if (!grad[k])
                    grad[k] = zeros_like(t->val[k]);
                if (!grad[k])
                    st = zoo_error(ZOO_ERR_MEMORY, "training: out of memory");
                dx[j] = grad[k];
            }
        }
        int nw = l->n_weights > 0 ? l->n_weights : 1;
        zoo_tensor *dw[nw];
        for (int k = 0; k < l->n_weights; k++) {
            int pi = param_index(t->p, l, k);
            dw[k] = pi >= 0 ? grads[pi] : NULL;
        }
        if (st == ZOO_OK)
            st = l->kind->backward(l, in, s->n_inputs, t->val[i], grad[i], dx, dw,
                                   &t->ex, t->saved[i]);
        zoo_tensor_free(grad[i]);
        grad[i] = NULL;
    }
    for (int i = 0; i < n; i++)
        zoo_tensor_free(grad[i]);
    free(grad);
    return st;
}
