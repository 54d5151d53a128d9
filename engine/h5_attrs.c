/*
 * HDF5 helpers for Keras .h5 files: quiet error handling and the string
 * attributes Keras writes (see engine/h5_attrs.h and the reference's
 * section 2.1 for the encodings that occur in real files).
 */
#include "engine/h5_attrs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

void zoo_h5_quiet_begin(zoo_h5_quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) {
        q->func = NULL;
        q->data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void zoo_h5_quiet_end(const zoo_h5_quiet *q)
{
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

typedef struct {
    char *buf;
    size_t size;
    bool got;
} reason_ctx;

static herr_t reason_walk(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    reason_ctx *c = data;
    if (c->got)
        return 0;
    /* The innermost entry says what was actually wrong; its description
     * is often more telling than the generic minor message. */
    if (e->desc && *e->desc) {
        snprintf(c->buf, c->size, "%s", e->desc);
        c->got = true;
    } else {
        char msg[160];
        if (H5Eget_msg(e->min_num, NULL, msg, sizeof msg) > 0) {
            snprintf(c->buf, c->size, "%s", msg);
            c->got = true;
        }
    }
    return 0;
}

const char *zoo_h5_reason(char *buf, size_t size)
{
    reason_ctx c = {buf, size, false};
    if (size)
        buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_walk, &c);
    H5Eclear2(H5E_DEFAULT);
    if (!c.got && size)
        snprintf(buf, size, "unknown HDF5 error");
    return buf;
}

const char *zoo_h5_type_desc(hid_t type, char *buf, size_t size)
{
    H5T_class_t tc = H5Tget_class(type);
    size_t bytes = H5Tget_size(type);
    switch (tc) {
    case H5T_INTEGER:
        snprintf(buf, size, "%zu-bit %s integer", bytes * 8,
                 H5Tget_sign(type) == H5T_SGN_NONE ? "unsigned" : "signed");
        break;
    case H5T_FLOAT:
        snprintf(buf, size, "%zu-bit float", bytes * 8);
        break;
    case H5T_STRING:
        snprintf(buf, size, "string");
        break;
    case H5T_COMPOUND:
        snprintf(buf, size, "compound");
        break;
    case H5T_ENUM:
        snprintf(buf, size, "enum");
        break;
    case H5T_ARRAY:
        snprintf(buf, size, "array");
        break;
    case H5T_VLEN:
        snprintf(buf, size, "variable-length sequence");
        break;
    case H5T_OPAQUE:
        snprintf(buf, size, "opaque");
        break;
    case H5T_REFERENCE:
        snprintf(buf, size, "reference");
        break;
    case H5T_BITFIELD:
        snprintf(buf, size, "bitfield");
        break;
    case H5T_TIME:
        snprintf(buf, size, "time");
        break;
    default:
        snprintf(buf, size, "unknown");
        break;
    }
    return buf;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

void zoo_h5_strs_free(zoo_h5_strs *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Bytes in the file holding `obj`: no attribute can hold more strings (or
 * fixed-length bytes) than that, whatever a corrupt header claims. */
static uint64_t file_bound(hid_t obj)
{
    hid_t fid = H5Iget_file_id(obj);
    hsize_t size = 0;
    if (fid >= 0) {
        if (H5Fget_filesize(fid, &size) < 0)
            size = 0;
        H5Fclose(fid);
    }
    H5Eclear2(H5E_DEFAULT);
    /* Unknown: a generous fixed ceiling rather than none. */
    return size ? (uint64_t)size : (uint64_t)1 << 30;
}

static zoo_status push_str(zoo_h5_strs *out, const char *s, size_t len,
                           const char *where, const char *name)
{
    char *c = malloc(len + 1);
    if (!c)
        return zoo_error(ZOO_ERR_MEMORY,
                         "%s: attribute '%s': out of memory", where, name);
    memcpy(c, s, len);
    c[len] = '\0';
    out->v[out->n++] = c;
    return ZOO_OK;
}

/* Appends the strings of attribute `name` (which exists) to `out`. */
static zoo_status read_attr(hid_t obj, const char *name, const char *where,
                            zoo_h5_strs *out)
{
    char why[256], tdesc[64];
    zoo_status st = ZOO_OK;
    hid_t space = -1, type = -1, mtype = -1;
    void *buf = NULL;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0)
        return zoo_error(ZOO_ERR_FORMAT, "%s: cannot open attribute '%s': %s",
                         where, name, zoo_h5_reason(why, sizeof why));
    if ((space = H5Aget_space(attr)) < 0 || (type = H5Aget_type(attr)) < 0) {
        st = zoo_error(ZOO_ERR_FORMAT,
                       "%s: cannot read the type or shape of attribute "
                       "'%s': %s",
                       where, name, zoo_h5_reason(why, sizeof why));
        goto done;
    }

    uint64_t n;
    H5S_class_t sc = H5Sget_simple_extent_type(space);
    if (sc == H5S_NULL) {
        goto done; /* no data at all: an empty list */
    } else if (sc == H5S_SCALAR) {
        n = 1;
    } else if (sc == H5S_SIMPLE) {
        int nd = H5Sget_simple_extent_ndims(space);
        hsize_t dims[H5S_MAX_RANK];
        if (nd < 0 || nd > H5S_MAX_RANK ||
            H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
            st = zoo_error(ZOO_ERR_FORMAT,
                           "%s: cannot read the shape of attribute '%s': %s",
                           where, name, zoo_h5_reason(why, sizeof why));
            goto done;
        }
        n = 1;
        for (int i = 0; i < nd; i++)
            n *= dims[i];
        if (n == 0)
            goto done; /* h5py writes [] as an empty float64 array */
        if (nd > 1) {
            st = zoo_error(ZOO_ERR_FORMAT,
                           "%s: attribute '%s' is a %d-D array; Keras "
                           "writes a 1-D list of strings",
                           where, name, nd);
            goto done;
        }
    } else {
        st = zoo_error(ZOO_ERR_FORMAT,
                       "%s: attribute '%s' has an unreadable dataspace: %s",
                       where, name, zoo_h5_reason(why, sizeof why));
        goto done;
    }

    if (H5Tget_class(type) != H5T_STRING) {
        st = zoo_error(ZOO_ERR_FORMAT,
                       "%s: attribute '%s' holds %s values; Keras writes "
                       "strings there (is this a Keras weights file?)",
                       where, name, zoo_h5_type_desc(type, tdesc, sizeof tdesc));
        goto done;
    }
    uint64_t bound = file_bound(obj);
    if (n > bound || n > (uint64_t)INT32_MAX - (uint64_t)out->n) {
        st = zoo_error(ZOO_ERR_FORMAT,
                       "%s: attribute '%s' claims %llu strings, more than "
                       "the file can hold (corrupt file?)",
                       where, name, (unsigned long long)n);
        goto done;
    }
    char **grown = realloc(out->v, ((size_t)out->n + (size_t)n) * sizeof *grown);
    if (!grown) {
        st = zoo_error(ZOO_ERR_MEMORY, "%s: attribute '%s': out of memory",
                       where, name);
        goto done;
    }
    out->v = grown;

    htri_t vl = H5Tis_variable_str(type);
    if (vl < 0) {
        st = zoo_error(ZOO_ERR_FORMAT,
                       "%s: cannot read the string type of attribute '%s': %s",
                       where, name, zoo_h5_reason(why, sizeof why));
        goto done;
    }
    if (vl) {
        H5T_cset_t cset = H5Tget_cset(type);
        mtype = H5Tcopy(H5T_C_S1);
        if (mtype < 0 || H5Tset_size(mtype, H5T_VARIABLE) < 0 ||
            (cset >= 0 && H5Tset_cset(mtype, cset) < 0)) {
            st = zoo_error(ZOO_ERR_INTERNAL,
                           "%s: attribute '%s': cannot make a string type: %s",
                           where, name, zoo_h5_reason(why, sizeof why));
            goto done;
        }
        char **p = calloc((size_t)n, sizeof *p);
        if (!p) {
            st = zoo_error(ZOO_ERR_MEMORY,
                           "%s: attribute '%s': out of memory", where, name);
            goto done;
        }
        buf = p;
        if (H5Aread(attr, mtype, p) < 0) {
            st = zoo_error(ZOO_ERR_FORMAT,
                           "%s: cannot read attribute '%s': %s", where, name,
                           zoo_h5_reason(why, sizeof why));
            goto done;
        }
        for (uint64_t i = 0; i < n && st == ZOO_OK; i++) {
            const char *s = p[i] ? p[i] : "";
            st = push_str(out, s, strlen(s), where, name);
        }
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, p);
    } else {
        size_t sz = H5Tget_size(type);
        if (sz == 0 || sz > bound || n * sz > bound) {
            st = zoo_error(ZOO_ERR_FORMAT,
                           "%s: attribute '%s' claims %llu strings of %zu "
                           "bytes, more than the file can hold (corrupt "
                           "file?)",
                           where, name, (unsigned long long)n, sz);
            goto done;
        }
        /* The file type itself is the memory type: fixed-length strings
         * need no conversion, and HDF5 refuses ASCII <-> UTF-8. */
        mtype = H5Tcopy(type);
        char *b = malloc((size_t)(n * sz));
        if (mtype < 0 || !b) {
            free(b);
            st = zoo_error(ZOO_ERR_MEMORY,
                           "%s: attribute '%s': out of memory", where, name);
            goto done;
        }
        buf = b;
        if (H5Aread(attr, mtype, b) < 0) {
            st = zoo_error(ZOO_ERR_FORMAT,
                           "%s: cannot read attribute '%s': %s", where, name,
                           zoo_h5_reason(why, sizeof why));
            goto done;
        }
        bool spacepad = H5Tget_strpad(type) == H5T_STR_SPACEPAD;
        for (uint64_t i = 0; i < n && st == ZOO_OK; i++) {
            const char *s = b + i * sz;
            size_t len = strnlen(s, sz); /* NULLPAD / NULLTERM */
            while (spacepad && len > 0 && s[len - 1] == ' ')
                len--;
            st = push_str(out, s, len, where, name);
        }
    }

done:
    free(buf);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    H5Aclose(attr);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

/* 1 if `obj` has attribute `name`, 0 if not, or an error status < 0
 * reported through zoo_error (returned as -1). */
static int has_attr(hid_t obj, const char *name, const char *where)
{
    htri_t e = H5Aexists(obj, name);
    if (e < 0) {
        char why[256];
        zoo_error(ZOO_ERR_FORMAT, "%s: cannot look up attribute '%s': %s",
                  where, name, zoo_h5_reason(why, sizeof why));
        return -1;
    }
    return e > 0;
}

zoo_status zoo_h5_read_string_list(hid_t obj, const char *name,
                                   const char *where, zoo_h5_strs *out,
                                   bool *found)
{
    out->v = NULL;
    out->n = 0;
    *found = false;
    int e = has_attr(obj, name, where);
    if (e < 0)
        return zoo_last_status();
    if (e) {
        *found = true;
        zoo_status st = read_attr(obj, name, where, out);
        if (st != ZOO_OK)
            zoo_h5_strs_free(out);
        return st;
    }
    /* Chunked: name0, name1, ... read in numeric order. */
    size_t len = strlen(name) + 24;
    char *chunk = malloc(len);
    if (!chunk)
        return zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", where);
    zoo_status st = ZOO_OK;
    for (int k = 0;; k++) {
        snprintf(chunk, len, "%s%d", name, k);
        e = has_attr(obj, chunk, where);
        if (e < 0) {
            st = zoo_last_status();
            break;
        }
        if (!e)
            break;
        *found = true;
        st = read_attr(obj, chunk, where, out);
        if (st != ZOO_OK)
            break;
    }
    free(chunk);
    if (st != ZOO_OK)
        zoo_h5_strs_free(out);
    return st;
}

zoo_status zoo_h5_read_string(hid_t obj, const char *name, const char *where,
                              char **value)
{
    *value = NULL;
    int e = has_attr(obj, name, where);
    if (e <= 0)
        return e < 0 ? zoo_last_status() : ZOO_OK;
    zoo_h5_strs s = {0};
    zoo_status st = read_attr(obj, name, where, &s);
    if (st != ZOO_OK) {
        zoo_h5_strs_free(&s);
        return st;
    }
    if (s.n != 1) {
        int n = s.n;
        zoo_h5_strs_free(&s);
        return zoo_error(ZOO_ERR_FORMAT,
                         "%s: attribute '%s' holds %d strings; expected one",
                         where, name, n);
    }
    *value = s.v[0];
    free(s.v);
    return ZOO_OK;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

/* n strings as fixed-length NULLPAD ASCII of `itemsize` bytes; a scalar
 * dataspace when `scalar` (n must be 1). */
static zoo_status write_fixed(hid_t obj, const char *name,
                              const char *const *v, int n, size_t itemsize,
                              bool scalar, const char *where)
{
    char why[256];
    zoo_status st = ZOO_OK;
    hid_t type = H5Tcopy(H5T_C_S1), space = -1, attr = -1;
    char *buf = calloc((size_t)n, itemsize);
    if (type < 0 || !buf) {
        st = zoo_error(ZOO_ERR_MEMORY, "%s: attribute '%s': out of memory",
                       where, name);
        goto done;
    }
    for (int i = 0; i < n; i++)
        memcpy(buf + (size_t)i * itemsize, v[i], strlen(v[i]));
    hsize_t dim = (hsize_t)n;
    space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    if (H5Tset_size(type, itemsize) < 0 ||
        H5Tset_strpad(type, H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(type, H5T_CSET_ASCII) < 0 || space < 0 ||
        (attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT,
                           H5P_DEFAULT)) < 0 ||
        H5Awrite(attr, type, buf) < 0)
        st = zoo_error(ZOO_ERR_IO, "%s: cannot write attribute '%s': %s",
                       where, name, zoo_h5_reason(why, sizeof why));
done:
    free(buf);
    if (attr >= 0 && H5Aclose(attr) < 0 && st == ZOO_OK)
        st = zoo_error(ZOO_ERR_IO, "%s: cannot write attribute '%s': %s",
                       where, name, zoo_h5_reason(why, sizeof why));
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return st;
}

/* h5py's [] : a float64 array of shape (0,). */
static zoo_status write_empty(hid_t obj, const char *name, const char *where)
{
    char why[256];
    hsize_t dim = 0;
    hid_t space = H5Screate_simple(1, &dim, NULL);
    hid_t attr = space < 0 ? -1
                           : H5Acreate2(obj, name, H5T_IEEE_F64LE, space,
                                        H5P_DEFAULT, H5P_DEFAULT);
    zoo_status st = ZOO_OK;
    if (attr < 0 || H5Aclose(attr) < 0)
        st = zoo_error(ZOO_ERR_IO, "%s: cannot write attribute '%s': %s",
                       where, name, zoo_h5_reason(why, sizeof why));
    if (space >= 0)
        H5Sclose(space);
    return st;
}

zoo_status zoo_h5_write_string_list(hid_t obj, const char *name,
                                    const char *const *v, int n,
                                    const char *where)
{
    if (n == 0)
        return write_empty(obj, name, where);
    size_t itemsize = 1; /* NumPy makes b'' an S1 array */
    for (int i = 0; i < n; i++) {
        size_t len = strlen(v[i]);
        if (len > ZOO_H5_ATTR_LIMIT)
            return zoo_error(ZOO_ERR_ARGUMENT,
                             "%s: attribute '%s': the string '%.40s...' is "
                             "%zu bytes long; HDF5 attributes hold at most "
                             "%d",
                             where, name, v[i], len, ZOO_H5_ATTR_LIMIT);
        if (len > itemsize)
            itemsize = len;
    }
    /* Keras: np.array_split into k pieces, k growing until no piece is
     * over the limit. array_split gives the first n % k pieces one extra
     * element, so the largest piece has ceil(n / k). */
    int k = 1;
    while ((size_t)((n + k - 1) / k) * itemsize > ZOO_H5_ATTR_LIMIT)
        k++;
    if (k == 1)
        return write_fixed(obj, name, v, n, itemsize, false, where);
    size_t len = strlen(name) + 24;
    char *chunk = malloc(len);
    if (!chunk)
        return zoo_error(ZOO_ERR_MEMORY, "%s: out of memory", where);
    zoo_status st = ZOO_OK;
    int start = 0;
    for (int c = 0; c < k && st == ZOO_OK; c++) {
        int count = n / k + (c < n % k ? 1 : 0);
        snprintf(chunk, len, "%s%d", name, c);
        st = write_fixed(obj, chunk, v + start, count, itemsize, false, where);
        start += count;
    }
    free(chunk);
    return st;
}

zoo_status zoo_h5_write_string(hid_t obj, const char *name,
                               const char *value, const char *where)
{
    size_t len = strlen(value);
    return write_fixed(obj, name, &value, 1, len ? len : 1, true, where);
}

zoo_status zoo_h5_write_vlen_string(hid_t obj, const char *name,
                                    const char *value, const char *where)
{
    char why[256];
    bool ascii = true;
    for (const unsigned char *c = (const unsigned char *)value; *c; c++)
        ascii = ascii && *c < 0x80;
    zoo_status st = ZOO_OK;
    hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR), attr = -1;
    if (type < 0 || space < 0 || H5Tset_size(type, H5T_VARIABLE) < 0 ||
        H5Tset_cset(type, ascii ? H5T_CSET_ASCII : H5T_CSET_UTF8) < 0 ||
        (attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT,
                           H5P_DEFAULT)) < 0 ||
        H5Awrite(attr, type, &value) < 0)
        st = zoo_error(ZOO_ERR_IO, "%s: cannot write attribute '%s': %s",
                       where, name, zoo_h5_reason(why, sizeof why));
    if (attr >= 0 && H5Aclose(attr) < 0 && st == ZOO_OK)
        st = zoo_error(ZOO_ERR_IO, "%s: cannot write attribute '%s': %s",
                       where, name, zoo_h5_reason(why, sizeof why));
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return st;
}
