/*
 * model.summary(): the Keras table (Layer (type), Output Shape, Param #,
 * Connected to) and the parameter totals, in plain ASCII so it survives
 * logs and pipes. Cells too long for their column wrap onto more lines.
 */
#include "engine/model.h"

#include <stdlib.h>
#include <string.h>

enum { COL_LAYER = 36, COL_SHAPE = 26, COL_PARAM = 12, COL_LINK = 34 };

static void rule(FILE *out, char c, int width)
{
    for (int i = 0; i < width; i++)
        fputc(c, out);
    fputc('\n', out);
}

/* Prints one logical row; each cell wraps within its width and at '\n'. */
static void row(FILE *out, const char *const *cells, const int *widths,
                const bool *right, int n)
{
    size_t pos[4] = {0};
    bool more = true;
    while (more) {
        more = false;
        for (int c = 0; c < n; c++) {
            const char *s = cells[c] + pos[c];
            size_t room = (size_t)widths[c] - 2, len = strcspn(s, "\n");
            size_t take = len < room ? len : room;
            if (take < len) {
                /* prefer breaking after a separator */
                for (size_t k = take; k > room / 2; k--)
                    if (s[k - 1] == ' ' || s[k - 1] == ',' || s[k - 1] == '_') {
                        take = k;
                        break;
                    }
            }
            if (right[c])
                fprintf(out, " %*.*s ", widths[c] - 2, (int)take, s);
            else
                fprintf(out, " %-*.*s ", widths[c] - 2, (int)take, s);
            pos[c] += take;
            if (cells[c][pos[c]] == '\n')
                pos[c]++; /* an explicit line break ends this line */
            if (cells[c][pos[c]])
                more = true;
        }
        fputc('\n', out);
    }
}

static void group_digits(size_t v, char *buf, size_t size)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%zu", v);
    size_t len = strlen(raw), j = 0;
    for (size_t i = 0; i < len && j + 2 < size; i++) {
        if (i && (len - i) % 3 == 0)
            buf[j++] = ',';
        buf[j++] = raw[i];
    }
    buf[j] = '\0';
}

/* Keras's readable_memory_size: 1024-based units, two decimals. */
static void memory_size(double bytes, char *buf, size_t size)
{
    static const char *unit[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 5) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.2f %s", bytes, unit[u]);
}

static bool in_model(const zoo_model *m, const zoo_sym *s)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i] == s)
            return true;
    return false;
}

/* "conv1_pad[0][0]\nother[1][0]": every inbound of the layer's calls in
 * this model, one per line. */
static char *connections(const zoo_model *m, const zoo_layer *l)
{
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int c = 0; c < l->n_calls; c++) {
        const zoo_sym *call = l->calls[c];
        if (!in_model(m, call))
            continue;
        for (int i = 0; i < m->n_inputs; i++)
            if (m->inputs[i] == call)
                goto next_call; /* a model input has no inbound */
        for (int j = 0; j < call->n_inputs; j++) {
            const zoo_sym *src = call->inputs[j];
            size_t need = strlen(src->layer->name) + 32;
            if (len + need >= cap) {
                cap = (len + need) * 2;
                char *t = realloc(s, cap);
                if (!t) {
                    free(s);
                    return NULL;
                }
                s = t;
            }
            len += (size_t)snprintf(s + len, cap - len, "%s%s[%d][0]",
                                    len ? "\n" : "", src->layer->name, src->call);
        }
    next_call:;
    }
    if (len == 0)
        snprintf(s, cap, "-");
    return s;
}

static void output_shape(const zoo_model *m, const zoo_layer *l, char *buf, size_t size)
{
    const zoo_sym *first = NULL;
    for (int c = 0; c < l->n_calls; c++) {
        const zoo_sym *s = l->calls[c];
        if (!in_model(m, s))
            continue;
        if (first && (first->shape.rank != s->shape.rank ||
                      memcmp(first->shape.dim, s->shape.dim, sizeof s->shape.dim))) {
            snprintf(buf, size, "multiple");
            return;
        }
        if (!first)
            first = s;
    }
    if (first)
        zoo_shape_str(&first->shape, buf, size);
    else
        snprintf(buf, size, "?");
}

zoo_status zoo_model_summary(const zoo_model *m, FILE *out)
{
    if (!m || !out)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_model_summary: %s is NULL",
                         m ? "stream" : "model");
    int widths[4] = {COL_LAYER, COL_SHAPE, COL_PARAM, COL_LINK};
    bool right[4] = {false, false, true, false};
    int ncol = m->sequential ? 3 : 4;
    int total = 0;
    for (int c = 0; c < ncol; c++)
        total += widths[c];

    fprintf(out, "Model: \"%s\"\n", m->name);
    rule(out, '_', total);
    const char *head[4] = {"Layer (type)", "Output Shape", "Param #", "Connected to"};
    row(out, head, widths, right, ncol);
    rule(out, '=', total);
    for (int i = 0; i < m->n_layers; i++) {
        const zoo_layer *l = m->layers[i];
        size_t nlen = strlen(l->name) + strlen(l->kind->class_name) + 4;
        char *label = malloc(nlen);
        char *link = m->sequential ? NULL : connections(m, l);
        if (!label || (!m->sequential && !link)) {
            free(label);
            free(link);
            return zoo_error(ZOO_ERR_MEMORY, "summary: out of memory");
        }
        snprintf(label, nlen, "%s (%s)", l->name, l->kind->class_name);
        char shape[160], params[32];
        output_shape(m, l, shape, sizeof shape);
        group_digits(zoo_layer_param_count(l), params, sizeof params);
        const char *cells[4] = {label, shape, params, link};
        row(out, cells, widths, right, ncol);
        free(label);
        free(link);
    }
    rule(out, '=', total);
    size_t all = zoo_model_param_count(m);
    size_t trainable = zoo_model_trainable_param_count(m);
    const char *names[3] = {"Total", "Trainable", "Non-trainable"};
    size_t counts[3] = {all, trainable, all - trainable};
    for (int i = 0; i < 3; i++) {
        char digits[32], mem[32];
        group_digits(counts[i], digits, sizeof digits);
        memory_size((double)counts[i] * sizeof(float), mem, sizeof mem);
        fprintf(out, " %s params: %s (%s)\n", names[i], digits, mem);
    }
    rule(out, '_', total);
    return ferror(out) ? zoo_error(ZOO_ERR_IO, "summary: write failed") : ZOO_OK;
}
