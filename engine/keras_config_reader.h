/*
 * Engine-private, shared by the two halves of zoo_model_from_json:
 * engine/keras_layer_from_config.c reads one Keras layer config into a zoo
 * layer; engine/keras_from_config.c wires the layers into a model. Include
 * it from those two files only.
 */
#ifndef ZOO_ENGINE_KERAS_CONFIG_READER_H
#define ZOO_ENGINE_KERAS_CONFIG_READER_H

#include "engine/engine.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

/* Bounds on what a config may ask for (the largest Keras applications
 * have about 1,000 layers and 150 million weights). */
#define MAX_LAYERS 20000
#define MAX_NODES 20000          /* layer calls in all */
#define MAX_VALUES (1LL << 30)   /* per-sample values of a tensor; weights */
#define MAX_WINDOW 4096          /* kernel, stride, dilation, pool */
#define MAX_PAD (1 << 20)        /* padding and cropping */

/* One entry of the config's layer list. */
typedef struct {
    const char *name;
    const char *cls;
    json_t *cfg;        /* the layer's config object */
    json_t *inbound;    /* Functional: inbound_nodes (may be NULL) */
    zoo_layer *layer;
    bool is_input;
    int bn_axis;        /* BatchNormalization: the axis as written */
    int first_node;     /* its nodes' ids: first_node .. + n_nodes - 1 */
    int n_nodes;
} entry;

/* One call of a layer (defined in engine/keras_from_config.c). */
typedef struct node node;

typedef struct {
    zoo_graph *g;
    bool legacy;        /* tf.keras 2's format */
    entry *e;
    int n;
    int *by_name;       /* entry indices sorted by name */
    node *nodes;
    int n_nodes;
    double weights;     /* weight values created so far */
} builder;

static inline zoo_status lerr(const entry *e, zoo_status st,
                               const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An error about one layer: "model config: layer 'conv1' (Conv2D): ...". */
static inline zoo_status lerr(const entry *e, zoo_status st,
                               const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return zoo_error(st, "model config: layer '%.200s' (%.100s): %s", e->name,
                     e->cls, msg);
}

/* The value of `key`, or NULL when absent or null. */
static inline json_t *opt(const json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

/* The input shape of an InputLayer (batch_shape / batch_input_shape), or
 * of a Sequential model, from `v`, the value of `key` in e's config: the
 * batch entry is ignored, None is -1. */
zoo_status zoo_keras_read_batch_shape(const entry *e, const char *key,
                                      json_t *v, int *rank, int *shape);

/* Makes InputLayer e's tensor (its node 0) and sets e->layer; NULL on
 * error. */
zoo_sym *zoo_keras_make_input(builder *b, entry *e);

/* Makes the layer of non-input entry e (e->layer, e->bn_axis) with zoo's
 * public constructor for its class. */
zoo_status zoo_keras_make_layer(builder *b, entry *e);

#endif
