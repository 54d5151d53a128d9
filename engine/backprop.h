/* Engine-private: one training step's forward and backward over a model
 * (reverse-mode differentiation over the model's calls). */
#ifndef ZOO_ENGINE_BACKPROP_H
#define ZOO_ENGINE_BACKPROP_H

#include "engine/model.h"

/* The variables a step trains: weights that are trainable in trainable
 * layers of model.layers, each shared layer once, in model.layers order
 * then weight order (the order Keras's model.trainable_weights gives). */
typedef struct {
    zoo_tensor **vars;
    zoo_layer **layer; /* owner of vars[i] */
    int *weight;       /* its index among the owner's weights */
    int n;
} zoo_params;

zoo_status zoo_params_collect(const zoo_model *m, zoo_params *p);
void zoo_params_free(zoo_params *p);

typedef struct zoo_tape zoo_tape;

/* Runs the model on `x` in training mode (ex->training), keeping the
 * values and per-call state that the backward pass over `p` needs and
 * freeing the rest as soon as it is used. *y points into the tape. */
zoo_status zoo_tape_forward(const zoo_model *m, const zoo_params *p,
                            const zoo_tensor *x, const zoo_exec *ex,
                            zoo_tape **tape, const zoo_tensor **y);
/* Given dLoss/dy, ADDS dLoss/d(p->vars[i]) into grads[i] (same shapes).
 * Consumes the tape's values (call once). */
zoo_status zoo_tape_backward(zoo_tape *t, const zoo_tensor *dy,
                             zoo_tensor *const *grads);
void zoo_tape_free(zoo_tape *t);

#endif
