/*
 * Engine-private: helpers for the layers' `config` hooks, which write
 * Keras 3's layer.get_config() into a jansson object (engine/keras_config.c
 * wraps them into model.get_config()).
 *
 * Keys and value formats are Keras 3.0's own (keras/src/layers/...), the
 * set every later Keras 3 release still accepts in from_config: tuples as
 * JSON lists, padding as "same"/"valid", activations by their Keras name,
 * initializers as serialized objects, unset regularizers and constraints as
 * null, and floats as the shortest decimal that gives back the float32
 * value (1e-3f is written 0.001, as Python writes Keras's 1e-3).
 */
#ifndef ZOO_ENGINE_KERAS_LAYER_CONFIG_H
#define ZOO_ENGINE_KERAS_LAYER_CONFIG_H

#include "engine/layer.h"

#include <jansson.h>

/* Layer.get_config()'s base: "name", "trainable", "dtype": "float32".
 * Every hook but InputLayer's starts with it (Keras's super().get_config()). */
zoo_status zoo_kcfg_base(const zoo_layer *l, json_t *obj);

/* Adds every key of `fields` (a new reference, stolen; NULL after a failed
 * json_pack) to `obj` in order. Returns ZOO_OK, or an error naming the
 * layer. */
zoo_status zoo_kcfg_merge(const zoo_layer *l, json_t *obj, json_t *fields);

/* The double Python would hold for a float32 config value: the shortest
 * decimal that reads back as `v`. */
double zoo_kcfg_real(float v);

/* "same" / "valid". */
const char *zoo_kcfg_padding(zoo_padding p);

/* Keras 3's serialized activation name ("relu", "silu" for swish, ...);
 * NULL for an unknown value. */
const char *zoo_kcfg_activation(zoo_activation a);

/* A serialized built-in initializer: {"module": "keras.initializers",
 * "class_name": cls, "config": {} or {"seed": null}, "registered_name":
 * null}. `seeded` adds the seed key (random initializers). */
json_t *zoo_kcfg_initializer(const char *cls, bool seeded);

#endif
