/* What travels with a model besides its graph and weights: class names and
 * string attributes; and the trainable switches (freezing, L2). */
#include "engine/model.h"

#include <stdlib.h>
#include <string.h>

void zoo_model_meta_free(zoo_model *m)
{
    for (int i = 0; i < m->n_class_names; i++)
        free(m->class_names[i]);
    free(m->class_names);
    for (int i = 0; i < m->n_attrs; i++) {
        free(m->attrs[i].key);
        free(m->attrs[i].value);
    }
    free(m->attrs);
    m->class_names = NULL;
    m->n_class_names = 0;
    m->attrs = NULL;
    m->n_attrs = 0;
}

zoo_status zoo_model_set_class_names(zoo_model *m, const char *const *names, int n)
{
    if (!m || n < 0 || (n > 0 && !names))
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_set_class_names: %s",
                         !m ? "model is NULL" : "names are missing");
    char **copy = calloc(n > 0 ? (size_t)n : 1, sizeof *copy);
    if (!copy)
        return zoo_error(ZOO_ERR_MEMORY, "zoo_model_set_class_names: out of memory");
    for (int i = 0; i < n; i++) {
        copy[i] = names[i] ? strdup(names[i]) : NULL;
        if (!copy[i]) {
            for (int j = 0; j < i; j++)
                free(copy[j]);
            free(copy);
            return names[i] ? zoo_error(ZOO_ERR_MEMORY, "zoo_model_set_class_names: out of memory")
                            : zoo_error(ZOO_ERR_ARGUMENT,
                                        "zoo_model_set_class_names: name %d is NULL", i);
        }
    }
    for (int i = 0; i < m->n_class_names; i++)
        free(m->class_names[i]);
    free(m->class_names);
    m->class_names = copy;
    m->n_class_names = n;
    return ZOO_OK;
}

int zoo_model_class_name_count(const zoo_model *m) { return m ? m->n_class_names : 0; }

const char *zoo_model_class_name(const zoo_model *m, int i)
{
    return m && i >= 0 && i < m->n_class_names ? m->class_names[i] : NULL;
}

zoo_status zoo_model_set_attr(zoo_model *m, const char *key, const char *value)
{
    if (!m || !key || !*key)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_set_attr: %s",
                         !m ? "model is NULL" : "key is empty");
    for (int i = 0; i < m->n_attrs; i++)
        if (strcmp(m->attrs[i].key, key) == 0) {
            char *v = value ? strdup(value) : NULL;
            if (value && !v)
                return zoo_error(ZOO_ERR_MEMORY, "zoo_model_set_attr: out of memory");
            free(m->attrs[i].value);
            if (v) {
                m->attrs[i].value = v;
            } else { /* NULL value removes the attribute */
                free(m->attrs[i].key);
                m->attrs[i] = m->attrs[--m->n_attrs];
            }
            return ZOO_OK;
        }
    if (!value)
        return ZOO_OK;
    struct zoo_model_attr *a = realloc(m->attrs, (size_t)(m->n_attrs + 1) * sizeof *a);
    if (!a)
        return zoo_error(ZOO_ERR_MEMORY, "zoo_model_set_attr: out of memory");
    m->attrs = a;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return zoo_error(ZOO_ERR_MEMORY, "zoo_model_set_attr: out of memory");
    }
    m->attrs[m->n_attrs++] = (struct zoo_model_attr){k, v};
    return ZOO_OK;
}

const char *zoo_model_attr(const zoo_model *m, const char *key)
{
    if (!m || !key)
        return NULL;
    for (int i = 0; i < m->n_attrs; i++)
        if (strcmp(m->attrs[i].key, key) == 0)
            return m->attrs[i].value;
    return NULL;
}

/* ---- trainable switches ---- */

void zoo_model_set_trainable(zoo_model *m, bool trainable)
{
    for (int i = 0; m && i < m->n_layers; i++)
        m->layers[i]->trainable = trainable;
}

zoo_status zoo_model_unfreeze_from(zoo_model *m, const char *name)
{
    if (!m || !name)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_unfreeze_from: %s is NULL",
                         !m ? "model" : "layer name");
    int from = -1;
    for (int i = 0; i < m->n_layers && from < 0; i++)
        if (strcmp(m->layers[i]->name, name) == 0)
            from = i;
    if (from < 0)
        return zoo_error(ZOO_ERR_NOT_FOUND,
                         "model %s has no layer named '%s' to unfreeze from "
                         "(see 'zoo summary' for the layer names)",
                         m->name, name);
    for (int i = 0; i < m->n_layers; i++)
        m->layers[i]->trainable = i >= from;
    return ZOO_OK;
}

/* Layers whose kernels a Keras kernel_regularizer applies to. */
static bool has_kernel(const zoo_layer *l)
{
    for (int i = 0; i < l->n_weights; i++)
        if (strstr(l->weights[i].name, "kernel"))
            return true;
    const char *c = l->kind->class_name;
    return strcmp(c, "Conv2D") == 0 || strcmp(c, "DepthwiseConv2D") == 0 ||
           strcmp(c, "SeparableConv2D") == 0 || strcmp(c, "Dense") == 0;
}

zoo_status zoo_layer_set_kernel_l2(zoo_layer *l, float l2)
{
    if (!l)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_layer_set_kernel_l2: layer is NULL");
    if (!(l2 >= 0.0f) || !has_kernel(l))
        return zoo_error(ZOO_ERR_ARGUMENT,
                         l2 >= 0.0f ? "%s %s has no kernel to regularise"
                                    : "%s %s: L2 factor must be >= 0",
                         l->kind->class_name, l->name);
    l->kernel_l2 = l2;
    return ZOO_OK;
}

float zoo_layer_kernel_l2(const zoo_layer *l) { return l ? l->kernel_l2 : 0.0f; }
