/* Datasets for fit/evaluate: in-memory tensors and slices of any dataset. */
#include "engine/tensor.h"

#include <stdlib.h>
#include <string.h>

void zoo_dataset_free(zoo_dataset *d)
{
    if (!d)
        return;
    if (d->release)
        d->release(d->ctx);
    free(d);
}

static size_t row_size(int rank, const int *shape)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)shape[i];
    return n;
}

/* ---- in memory ---- */

typedef struct {
    zoo_tensor *x, *y;
    size_t x_row, y_row;
} memory_data;

static zoo_status memory_load(void *ctx, const int *idx, int n, float *x,
                              float *y, int *kept, const zoo_load_ctx *lc)
{
    (void)lc;
    const memory_data *md = ctx;
    for (int i = 0; i < n; i++) {
        memcpy(x + (size_t)i * md->x_row, md->x->data + (size_t)idx[i] * md->x_row,
               md->x_row * sizeof *x);
        memcpy(y + (size_t)i * md->y_row, md->y->data + (size_t)idx[i] * md->y_row,
               md->y_row * sizeof *y);
    }
    *kept = n;
    return ZOO_OK;
}

static void memory_release(void *ctx)
{
    memory_data *md = ctx;
    zoo_tensor_free(md->x);
    zoo_tensor_free(md->y);
    free(md);
}

/* Fills the sample shapes of `d` from x and y (batch axis dropped). */
static void set_shapes(zoo_dataset *d, const zoo_tensor *x, const zoo_tensor *y)
{
    d->x_rank = x->rank - 1;
    memcpy(d->x_shape, x->shape + 1, (size_t)d->x_rank * sizeof(int));
    d->y_rank = y->rank - 1;
    memcpy(d->y_shape, y->shape + 1, (size_t)d->y_rank * sizeof(int));
}

zoo_dataset *zoo_dataset_from_tensors(const zoo_tensor *x, const zoo_tensor *y)
{
    if (!x || !y) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_dataset_from_tensors: %s is NULL", !x ? "x" : "y");
        return NULL;
    }
    if (x->rank < 1 || y->rank < 1 || x->shape[0] != y->shape[0]) {
        zoo_error(ZOO_ERR_SHAPE,
                  "zoo_dataset_from_tensors: x has %d samples but y has %d; "
                  "both need the samples on their first axis",
                  x->rank ? x->shape[0] : 0, y->rank ? y->shape[0] : 0);
        return NULL;
    }
    zoo_dataset *d = calloc(1, sizeof *d);
    memory_data *md = calloc(1, sizeof *md);
    if (d && md) {
        md->x = zoo_tensor_clone(x);
        md->y = zoo_tensor_clone(y);
    }
    if (!d || !md || !md->x || !md->y) {
        if (md)
            memory_release(md);
        free(d);
        zoo_error(ZOO_ERR_MEMORY, "zoo_dataset_from_tensors: out of memory");
        return NULL;
    }
    md->x_row = row_size(x->rank - 1, x->shape + 1);
    md->y_row = row_size(y->rank - 1, y->shape + 1);
    d->count = x->shape[0];
    set_shapes(d, x, y);
    d->ctx = md;
    d->load = memory_load;
    d->release = memory_release;
    return d;
}

/* ---- subsets and slices ---- */

typedef struct {
    zoo_dataset *base;
    int *index; /* position in the subset -> sample of base */
} subset_data;

static zoo_status subset_load(void *ctx, const int *idx, int n, float *x,
                              float *y, int *kept, const zoo_load_ctx *lc)
{
    const subset_data *s = ctx;
    int *mapped = malloc((n > 0 ? (size_t)n : 1) * sizeof *mapped);
    if (!mapped)
        return zoo_error(ZOO_ERR_MEMORY, "dataset: out of memory");
    for (int i = 0; i < n; i++)
        mapped[i] = s->index[idx[i]];
    zoo_status st = s->base->load(s->base->ctx, mapped, n, x, y, kept, lc);
    free(mapped);
    return st;
}

static void subset_release(void *ctx)
{
    subset_data *s = ctx;
    free(s->index);
    free(s);
}

zoo_dataset *zoo_dataset_subset(zoo_dataset *d, const int *indices, int count)
{
    if (!d || count < 0 || (count > 0 && !indices)) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_dataset_subset: %s",
                  !d ? "dataset is NULL" : "indices are missing");
        return NULL;
    }
    for (int i = 0; i < count; i++)
        if (indices[i] < 0 || indices[i] >= d->count) {
            zoo_error(ZOO_ERR_ARGUMENT,
                      "zoo_dataset_subset: index %d is outside the dataset's %d samples",
                      indices[i], d->count);
            return NULL;
        }
    zoo_dataset *s = calloc(1, sizeof *s);
    subset_data *sd = calloc(1, sizeof *sd);
    int *index = malloc((count > 0 ? (size_t)count : 1) * sizeof *index);
    if (!s || !sd || !index) {
        free(s);
        free(sd);
        free(index);
        zoo_error(ZOO_ERR_MEMORY, "zoo_dataset_subset: out of memory");
        return NULL;
    }
    if (count > 0)
        memcpy(index, indices, (size_t)count * sizeof *index);
    *s = *d;
    sd->base = d;
    sd->index = index;
    s->count = count;
    s->ctx = sd;
    s->load = subset_load;
    s->release = subset_release;
    return s;
}

zoo_dataset *zoo_dataset_slice(zoo_dataset *d, int start, int count)
{
    if (!d || start < 0 || count < 0 || start > d->count || count > d->count - start) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "zoo_dataset_slice: samples [%d, %d) are outside the dataset's %d",
                  start, start + count, d ? d->count : 0);
        return NULL;
    }
    int *index = malloc((count > 0 ? (size_t)count : 1) * sizeof *index);
    if (!index) {
        zoo_error(ZOO_ERR_MEMORY, "zoo_dataset_slice: out of memory");
        return NULL;
    }
    for (int i = 0; i < count; i++)
        index[i] = start + i;
    zoo_dataset *s = zoo_dataset_subset(d, index, count);
    free(index);
    return s;
}
