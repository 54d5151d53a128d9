/* Helpers for the layers' `config` hooks: Keras 3's layer.get_config()
 * fields in Keras's own formats (see engine/keras_layer_config.h). */
#include "engine/keras_layer_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

zoo_status zoo_kcfg_merge(const zoo_layer *l, json_t *obj, json_t *fields)
{
    if (!fields || !obj || json_object_update(obj, fields) != 0) {
        json_decref(fields);
        return zoo_error(ZOO_ERR_MEMORY,
                         "%s %s: cannot write its Keras config (out of "
                         "memory or a non-finite value)",
                         l->kind->class_name, l->name);
    }
    json_decref(fields);
    return ZOO_OK;
}

zoo_status zoo_kcfg_base(const zoo_layer *l, json_t *obj)
{
    return zoo_kcfg_merge(l, obj,
                          json_pack("{s:s, s:b, s:s}", "name", l->name,
                                    "trainable", (int)l->trainable, "dtype",
                                    "float32"));
}

double zoo_kcfg_real(float v)
{
    if (!isfinite(v))
        return (double)v;
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)v);
        if (strtof(buf, NULL) == v)
            return strtod(buf, NULL);
    }
    return (double)v; /* 9 digits always round-trip a float32 */
}

const char *zoo_kcfg_padding(zoo_padding p)
{
    return p == ZOO_PAD_SAME ? "same" : "valid";
}

const char *zoo_kcfg_activation(zoo_activation a)
{
    /* Keras 3 serializes swish as the function it is bound to, silu. */
    if (a == ZOO_ACT_SWISH)
        return "silu";
    return zoo_activation_name(a);
}

json_t *zoo_kcfg_initializer(const char *cls, bool seeded)
{
    return json_pack("{s:s, s:s, s:o, s:n}", "module", "keras.initializers",
                     "class_name", cls, "config",
                     seeded ? json_pack("{s:n}", "seed") : json_object(),
                     "registered_name");
}

