/*
 * ImageNet labels and decode_predictions' ranking.
 *
 * zoo_labels_load reads Keras's imagenet_class_index.json:
 *   {"0": ["n01440764", "tench"], "1": [...], ..., "999": [...]}
 * decode_predictions looks classes up as CLASS_INDEX[str(i)], so the keys
 * must be exactly the decimal strings "0".."N-1" (no sign, no leading
 * zeros), each once, and every value a [wnid, name] pair of strings.
 * Anything else is refused with the offending key named.
 *
 * zoo_top_k reproduces, for one row of scores,
 *   top_indices = pred.argsort()[-top:][::-1]
 *   result = [... + (pred[i],) for i in top_indices]
 *   result.sort(key=lambda x: x[2], reverse=True)
 * with NumPy's default argsort (kind="quicksort": the introsort of
 * npysort/quicksort.cpp aquicksort_ + heapsort fallback, NaN sorted last,
 * as NumPy <= 1.24 runs it on every CPU; from 1.25 NumPy may hand
 * argsort to x86-simd-sort on AVX-512 machines, whose order of equal
 * scores differs, so exact ties can rank differently there) and CPython's
 * list.sort (3.11: reverse, count_run + binary insertion sort for the
 * fewer than 64 items of a top-k, reverse back). Consequences for equal
 * scores: which of them make the cut and in what order they come is
 * exactly what that introsort leaves (not "lowest index first"); the
 * final stable sort keeps that order. It then differs from a plain
 * "score descending, index ascending" rule: for 20 equal scores the top 5
 * are indices 19, 18, 1, 2, 3 in that order; for 1000 equal scores 999,
 * 328, 341, 340, 339.
 */
#include "preprocess/decode_internal.h"

#include <jansson.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct zoo_labels {
    int n;
    char **wnid;
    char **name;
};

void zoo_labels_free(zoo_labels *labels)
{
    if (!labels)
        return;
    for (int i = 0; i < labels->n; i++) {
        if (labels->wnid)
            free(labels->wnid[i]);
        if (labels->name)
            free(labels->name[i]);
    }
    free(labels->wnid);
    free(labels->name);
    free(labels);
}

/* "0", "1", ..., no leading zeros or signs: the index, else -1. */
static long key_index(const char *key)
{
    if (!key[0] || (key[0] == '0' && key[1]))
        return -1;
    long v = 0;
    for (const char *p = key; *p; p++) {
        if (*p < '0' || *p > '9' || v > (INT_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

zoo_labels *zoo_labels_load(const char *json_path)
{
    if (!json_path) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_labels_load: path is NULL");
        return NULL;
    }
    size_t size;
    unsigned char *text = zoo_pp_read_file(json_path, "labels file", &size);
    if (!text)
        return NULL;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)text, size, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root) {
        zoo_error(ZOO_ERR_FORMAT,
                  "%s: not a valid class index (JSON error at line %d, column %d: "
                  "%s)",
                  json_path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    zoo_labels *L = NULL;
    if (!json_is_object(root)) {
        zoo_error(ZOO_ERR_FORMAT,
                  "%s: a class index must be a JSON object {\"0\": [wnid, name], "
                  "...}, not a JSON %s",
                  json_path,
                  json_is_array(root)    ? "array"
                  : json_is_string(root) ? "string"
                                         : "scalar");
        goto fail;
    }
    size_t n = json_object_size(root);
    if (n == 0 || n > INT_MAX) {
        zoo_error(ZOO_ERR_FORMAT, "%s: the class index has %s", json_path,
                  n == 0 ? "no classes" : "too many classes");
        goto fail;
    }
    L = calloc(1, sizeof *L);
    if (L) {
        L->wnid = calloc(n, sizeof *L->wnid);
        L->name = calloc(n, sizeof *L->name);
    }
    if (!L || !L->wnid || !L->name) {
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", json_path);
        goto fail;
    }
    L->n = (int)n;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        long idx = key_index(key);
        if (idx < 0 || (size_t)idx >= n) {
            zoo_error(ZOO_ERR_FORMAT,
                      "%s: key \"%.40s\" is not a class index: keys must be "
                      "\"0\"..\"%zu\" (decimal, no leading zeros), one per class",
                      json_path, key, n - 1);
            goto fail;
        }
        if (!json_is_array(val) || json_array_size(val) != 2 ||
            !json_is_string(json_array_get(val, 0)) ||
            !json_is_string(json_array_get(val, 1))) {
            zoo_error(ZOO_ERR_FORMAT,
                      "%s: class \"%s\" must be a [wnid, name] array of two "
                      "strings",
                      json_path, key);
            goto fail;
        }
        /* Keys are unique (JSON_REJECT_DUPLICATES) and all in 0..n-1, so
         * n of them cover every index exactly once. */
        L->wnid[idx] = dup_str(json_string_value(json_array_get(val, 0)));
        L->name[idx] = dup_str(json_string_value(json_array_get(val, 1)));
        if (!L->wnid[idx] || !L->name[idx]) {
            zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", json_path);
            goto fail;
        }
    }
    json_decref(root);
    return L;
fail:
    json_decref(root);
    zoo_labels_free(L);
    return NULL;
}

int zoo_labels_count(const zoo_labels *labels) { return labels ? labels->n : 0; }

const char *zoo_labels_wnid(const zoo_labels *labels, int index)
{
    if (!labels || index < 0 || index >= labels->n)
        return NULL;
    return labels->wnid[index];
}

const char *zoo_labels_name(const zoo_labels *labels, int index)
{
    if (!labels || index < 0 || index >= labels->n)
        return NULL;
    return labels->name[index];
}

/* ------------------------------------------------------------------ */
/* NumPy 1.x argsort(kind="quicksort") for float32                     */
/* ------------------------------------------------------------------ */

/* npy::float_tag::less: NaNs sort after everything. */
static inline bool flt_less(float a, float b)
{
    return a < b || (b != b && a == a);
}

#define SWAP_IDX(a, b)     \
    do {                   \
        intptr_t t_ = (a); \
        (a) = (b);         \
        (b) = t_;          \
    } while (0)

/* npysort_heapsort.h aheapsort_ */
static void aheapsort(const float *v, intptr_t *tosort, intptr_t n)
{
    intptr_t *a = tosort - 1; /* 1-based */
    intptr_t i, j, l, tmp;
    for (l = n >> 1; l > 0; --l) {
        tmp = a[l];
        for (i = l, j = l << 1; j <= n;) {
            if (j < n && flt_less(v[a[j]], v[a[j + 1]]))
                j += 1;
            if (flt_less(v[tmp], v[a[j]])) {
                a[i] = a[j];
                i = j;
                j += j;
            } else {
                break;
            }
        }
        a[i] = tmp;
    }
    for (; n > 1;) {
        tmp = a[n];
        a[n] = a[1];
        n -= 1;
        for (i = 1, j = 2; j <= n;) {
            if (j < n && flt_less(v[a[j]], v[a[j + 1]]))
                j++;
            if (flt_less(v[tmp], v[a[j]])) {
                a[i] = a[j];
                i = j;
                j += j;
            } else {
                break;
            }
        }
        a[i] = tmp;
    }
}

#define PYA_QS_STACK 128 /* NPY_BITSOF_INTP * 2 */
#define SMALL_QUICKSORT 15

/* npysort/quicksort.cpp aquicksort_ (NumPy 1.24). */
static void aquicksort(const float *v, intptr_t *tosort, intptr_t num)
{
    float vp;
    intptr_t *pl = tosort;
    intptr_t *pr = tosort + num - 1;
    intptr_t *stack[PYA_QS_STACK];
    intptr_t **sptr = stack;
    intptr_t *pm, *pi, *pj, *pk, vi;
    int depth[PYA_QS_STACK];
    int *psdepth = depth;
    int cdepth = 0;
    for (uintptr_t u = (uintptr_t)num; u >>= 1;)
        cdepth++;
    cdepth *= 2;

    for (;;) {
        if (cdepth < 0) {
            aheapsort(v, pl, pr - pl + 1);
            goto stack_pop;
        }
        while ((pr - pl) > SMALL_QUICKSORT) {
            pm = pl + ((pr - pl) >> 1);
            if (flt_less(v[*pm], v[*pl]))
                SWAP_IDX(*pm, *pl);
            if (flt_less(v[*pr], v[*pm]))
                SWAP_IDX(*pr, *pm);
            if (flt_less(v[*pm], v[*pl]))
                SWAP_IDX(*pm, *pl);
            vp = v[*pm];
            pi = pl;
            pj = pr - 1;
            SWAP_IDX(*pm, *pj);
            for (;;) {
                do {
                    ++pi;
                } while (flt_less(v[*pi], vp));
                do {
                    --pj;
                } while (flt_less(vp, v[*pj]));
                if (pi >= pj)
                    break;
                SWAP_IDX(*pi, *pj);
            }
            pk = pr - 1;
            SWAP_IDX(*pi, *pk);
            /* push largest partition on stack */
            if (pi - pl < pr - pi) {
                *sptr++ = pi + 1;
                *sptr++ = pr;
                pr = pi - 1;
            } else {
                *sptr++ = pl;
                *sptr++ = pi - 1;
                pl = pi + 1;
            }
            *psdepth++ = --cdepth;
        }

        /* insertion sort */
        for (pi = pl + 1; pi <= pr; ++pi) {
            vi = *pi;
            vp = v[vi];
            pj = pi;
            pk = pi - 1;
            while (pj > pl && flt_less(vp, v[*pk]))
                *pj-- = *pk--;
            *pj = vi;
        }
    stack_pop:
        if (sptr == stack)
            break;
        pr = *(--sptr);
        pl = *(--sptr);
        cdepth = *(--psdepth);
    }
}

/* ------------------------------------------------------------------ */
/* CPython list.sort(key=score, reverse=True)                          */
/* ------------------------------------------------------------------ */

static void reverse_preds(zoo_prediction *p, int n)
{
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        zoo_prediction t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* listobject.c (3.11): reverse, then for n < 64 (one run; minrun == n)
 * count_run (reversing a strictly descending prefix) and binarysort of
 * the rest, then reverse again. With comparable keys the input is
 * already in non-increasing order and this changes nothing; it matters
 * only with NaN scores, where Python's "<" is always false. For n >= 64
 * the same run + insertion sort is used (CPython would merge runs; with
 * NaN-free scores the result is the same). */
static void python_sort_desc(zoo_prediction *p, int n)
{
    if (n < 2)
        return;
    reverse_preds(p, n);
    /* count_run */
    int run = 2;
    bool descending = false;
    if (p[1].score < p[0].score) {
        descending = true;
        while (run < n && p[run].score < p[run - 1].score)
            run++;
    } else {
        while (run < n && !(p[run].score < p[run - 1].score))
            run++;
    }
    if (descending)
        reverse_preds(p, run);
    /* binarysort of [run, n) into the sorted prefix */
    for (int start = run; start < n; start++) {
        zoo_prediction pivot = p[start];
        int l = 0, r = start;
        do {
            int m = l + ((r - l) >> 1);
            if (pivot.score < p[m].score)
                r = m;
            else
                l = m + 1;
        } while (l < r);
        memmove(p + l + 1, p + l, (size_t)(start - l) * sizeof *p);
        p[l] = pivot;
    }
    reverse_preds(p, n);
}

int zoo_top_k(const float *scores, int n, int top, zoo_prediction *out)
{
    if (!scores || !out || n < 1 || top < 1) {
        if (!scores || !out)
            zoo_error(ZOO_ERR_ARGUMENT, "zoo_top_k: %s is NULL",
                      !scores ? "scores" : "out");
        else if (n < 1)
            zoo_error(ZOO_ERR_ARGUMENT, "zoo_top_k: n = %d, need at least one score", n);
        else
            zoo_error(ZOO_ERR_ARGUMENT, "zoo_top_k: top = %d, must be >= 1", top);
        return 0;
    }
    intptr_t *idx = malloc((size_t)n * sizeof *idx);
    if (!idx) {
        zoo_error(ZOO_ERR_MEMORY, "zoo_top_k: out of memory for %d scores", n);
        return 0;
    }
    for (int i = 0; i < n; i++)
        idx[i] = i;
    aquicksort(scores, idx, n);
    int k = top < n ? top : n;
    /* argsort()[-top:][::-1] */
    for (int i = 0; i < k; i++) {
        out[i].index = (int)idx[n - 1 - i];
        out[i].score = scores[out[i].index];
    }
    free(idx);
    python_sort_desc(out, k);
    return k;
}
