/* The History fit returns: per-epoch values under Keras's log keys. */
#include "engine/history.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *key;
    double *values; /* one per epoch */
} series;

struct zoo_history {
    series *s;
    int n_keys;
    int epochs;
};

zoo_history *zoo_history_new(void)
{
    zoo_history *h = calloc(1, sizeof *h);
    if (!h)
        zoo_error(ZOO_ERR_MEMORY, "history: out of memory");
    return h;
}

void zoo_history_free(zoo_history *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n_keys; i++) {
        free(h->s[i].key);
        free(h->s[i].values);
    }
    free(h->s);
    free(h);
}

static int find_key(const zoo_history *h, const char *key)
{
    for (int i = 0; i < h->n_keys; i++)
        if (strcmp(h->s[i].key, key) == 0)
            return i;
    return -1;
}

zoo_status zoo_history_put(zoo_history *h, int epoch, const char *key, double value)
{
    if (epoch < 0 || epoch > h->epochs)
        return zoo_error(ZOO_ERR_INTERNAL, "history: epoch %d out of order", epoch);
    if (epoch == h->epochs) {
        for (int i = 0; i < h->n_keys; i++) {
            double *v = realloc(h->s[i].values, (size_t)(epoch + 1) * sizeof *v);
            if (!v)
                return zoo_error(ZOO_ERR_MEMORY, "history: out of memory");
            v[epoch] = NAN;
            h->s[i].values = v;
        }
        h->epochs++;
    }
    int k = find_key(h, key);
    if (k < 0) {
        series *s = realloc(h->s, (size_t)(h->n_keys + 1) * sizeof *s);
        if (!s)
            return zoo_error(ZOO_ERR_MEMORY, "history: out of memory");
        h->s = s;
        series fresh = {strdup(key), malloc((size_t)h->epochs * sizeof(double))};
        if (!fresh.key || !fresh.values) {
            free(fresh.key);
            free(fresh.values);
            return zoo_error(ZOO_ERR_MEMORY, "history: out of memory");
        }
        for (int e = 0; e < h->epochs; e++)
            fresh.values[e] = NAN;
        k = h->n_keys++;
        h->s[k] = fresh;
    }
    h->s[k].values[epoch] = value;
    return ZOO_OK;
}

int zoo_history_epochs(const zoo_history *h) { return h ? h->epochs : 0; }
int zoo_history_key_count(const zoo_history *h) { return h ? h->n_keys : 0; }

const char *zoo_history_key(const zoo_history *h, int i)
{
    return h && i >= 0 && i < h->n_keys ? h->s[i].key : NULL;
}

double zoo_history_get(const zoo_history *h, const char *key, int epoch)
{
    if (!h || !key || epoch < 0 || epoch >= h->epochs)
        return NAN;
    int k = find_key(h, key);
    return k < 0 ? NAN : h->s[k].values[epoch];
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* CSVLogger: "epoch" then the keys in sorted order; Python's repr of
 * floats is approximated by %.17g trimmed to the shortest round trip. */
static void put_number(FILE *f, double v)
{
    if (isnan(v)) {
        fputs("nan", f);
        return;
    }
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

zoo_status zoo_history_save_csv(const zoo_history *h, const char *path)
{
    if (!h || !path)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_history_save_csv: %s is NULL",
                         !h ? "history" : "path");
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    const char **keys = malloc((h->n_keys ? (size_t)h->n_keys : 1) * sizeof *keys);
    if (!tmp || !keys) {
        free(tmp);
        free(keys);
        return zoo_error(ZOO_ERR_MEMORY, "zoo_history_save_csv: out of memory");
    }
    for (int i = 0; i < h->n_keys; i++)
        keys[i] = h->s[i].key;
    qsort(keys, (size_t)h->n_keys, sizeof *keys, cmp_str);
    snprintf(tmp, len + 16, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    zoo_status st = ZOO_OK;
    if (!f) {
        st = zoo_error(ZOO_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    } else {
        fputs("epoch", f);
        for (int i = 0; i < h->n_keys; i++)
            fprintf(f, ",%s", keys[i]);
        fputc('\n', f);
        for (int e = 0; e < h->epochs; e++) {
            fprintf(f, "%d", e);
            for (int i = 0; i < h->n_keys; i++) {
                fputc(',', f);
                put_number(f, zoo_history_get(h, keys[i], e));
            }
            fputc('\n', f);
        }
        if (ferror(f) | (fclose(f) != 0))
            st = zoo_error(ZOO_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        else if (rename(tmp, path) != 0)
            st = zoo_error(ZOO_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        if (st != ZOO_OK)
            remove(tmp);
    }
    free(tmp);
    free(keys);
    return st;
}
