/*
 * NumPy .npy files: float32, C order, format versions 1.0, 2.0 and 3.0.
 *
 * Layout (numpy/lib/format.py):
 *   "\x93NUMPY" major minor  header_len  header  data
 *   header_len is a little-endian u16 for 1.0, u32 for 2.0 and 3.0; the
 *   header is a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 *   padded with spaces and ended by '\n' so the data starts on a 64-byte
 *   boundary. 3.0 only differs by allowing UTF-8 in the header.
 *
 * Every size read from a file is checked against the file's real size
 * before anything is allocated, so a hostile header cannot ask for more
 * memory than the file holds.
 */
#include "engine/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_PREAMBLE_V1 10 /* magic, 2 version bytes, u16 length */
#define NPY_PREAMBLE_V2 12 /* magic, 2 version bytes, u32 length */
/* numpy itself refuses headers over 10000 bytes unless told otherwise; a
 * float32 header of rank <= ZOO_MAX_RANK is under 200. */
#define NPY_MAX_HEADER (1u << 20)
#define NPY_ALIGN 64

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NPY_HOST_BIG_ENDIAN 1
#else
#define NPY_HOST_BIG_ENDIAN 0
#endif

/* ------------------------------------------------------------------ */
/* Header dictionary parser                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *s;
    size_t n;
    size_t pos;
    const char *path;
    /* results */
    char descr[32];
    bool have_descr, have_fortran, have_shape;
    bool fortran;
    int rank;
    uint64_t dims[ZOO_MAX_RANK];
} npy_header;

static void skip_ws(npy_header *h)
{
    while (h->pos < h->n) {
        char c = h->s[h->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            h->pos++;
        else
            break;
    }
}

static int peek(npy_header *h)
{
    skip_ws(h);
    return h->pos < h->n ? (unsigned char)h->s[h->pos] : -1;
}

static bool header_fail(npy_header *h, const char *what)
{
    zoo_error(ZOO_ERR_FORMAT,
              "npy file '%s': malformed header at byte %zu: %s", h->path,
              h->pos, what);
    return false;
}

static bool expect_char(npy_header *h, char c, const char *what)
{
    if (peek(h) != (unsigned char)c)
        return header_fail(h, what);
    h->pos++;
    return true;
}

/* A Python string literal without escapes ('...' or "..."), copied into
 * out (truncated to size - 1, `*too_long` set when it did not fit). */
static bool parse_string(npy_header *h, char *out, size_t size,
                         bool *too_long)
{
    int q = peek(h);
    if (q != '\'' && q != '"')
        return header_fail(h, "expected a quoted string");
    h->pos++;
    size_t len = 0;
    *too_long = false;
    while (h->pos < h->n && h->s[h->pos] != (char)q) {
        char c = h->s[h->pos];
        if (c == '\\' || c == '\n' || c == '\0')
            return header_fail(h, "unsupported character in a string");
        if (len + 1 < size)
            out[len++] = c;
        else
            *too_long = true;
        h->pos++;
    }
    if (h->pos >= h->n)
        return header_fail(h, "unterminated string");
    h->pos++;
    out[len] = '\0';
    return true;
}

static bool match_word(npy_header *h, const char *word)
{
    size_t len = strlen(word);
    if (h->n - h->pos < len || memcmp(h->s + h->pos, word, len) != 0)
        return false;
    /* the word must end here: "Falsey" is not False */
    if (h->pos + len < h->n) {
        char c = h->s[h->pos + len];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '_')
            return false;
    }
    h->pos += len;
    return true;
}

static bool parse_bool(npy_header *h, bool *out)
{
    peek(h);
    if (match_word(h, "True")) {
        *out = true;
        return true;
    }
    if (match_word(h, "False")) {
        *out = false;
        return true;
    }
    return header_fail(h, "expected True or False");
}

/* A non-negative decimal integer (Python 2 numpy wrote "3L"). */
static bool parse_dim(npy_header *h, uint64_t *out)
{
    int c = peek(h);
    if (c == '-') {
        zoo_error(ZOO_ERR_FORMAT,
                  "npy file '%s': negative dimension in the shape", h->path);
        return false;
    }
    if (c < '0' || c > '9')
        return header_fail(h, "expected a dimension (a non-negative integer)");
    uint64_t v = 0;
    while (h->pos < h->n && h->s[h->pos] >= '0' && h->s[h->pos] <= '9') {
        unsigned d = (unsigned)(h->s[h->pos] - '0');
        if (v > (UINT64_MAX - d) / 10) {
            zoo_error(ZOO_ERR_FORMAT,
                      "npy file '%s': a dimension in the shape overflows "
                      "64 bits",
                      h->path);
            return false;
        }
        v = v * 10 + d;
        h->pos++;
    }
    if (h->pos < h->n && (h->s[h->pos] == 'L' || h->s[h->pos] == 'l'))
        h->pos++;
    *out = v;
    return true;
}

static bool parse_shape(npy_header *h)
{
    if (!expect_char(h, '(', "expected '(' to open the shape tuple"))
        return false;
    h->rank = 0;
    if (peek(h) == ')') {
        h->pos++;
        return true;
    }
    for (;;) {
        uint64_t d;
        if (!parse_dim(h, &d))
            return false;
        if (h->rank >= ZOO_MAX_RANK) {
            zoo_error(ZOO_ERR_UNSUPPORTED,
                      "npy file '%s': the shape has more than %d dimensions",
                      h->path, ZOO_MAX_RANK);
            return false;
        }
        h->dims[h->rank++] = d;
        int c = peek(h);
        if (c == ')') {
            h->pos++;
            break;
        }
        if (c != ',')
            return header_fail(h, "expected ',' or ')' in the shape tuple");
        h->pos++;
        if (peek(h) == ')') {
            h->pos++;
            break;
        }
    }
    /* Python writes a one-tuple as "(3,)"; "(3)" is just an int, which
     * numpy would also reject. */
    return true;
}

static bool parse_header(npy_header *h)
{
    if (!expect_char(h, '{', "expected '{' (the header is not a dict)"))
        return false;
    for (;;) {
        if (peek(h) == '}') {
            h->pos++;
            break;
        }
        char key[32];
        bool too_long;
        if (!parse_string(h, key, sizeof key, &too_long))
            return false;
        if (!expect_char(h, ':', "expected ':' after a key"))
            return false;
        if (!too_long && strcmp(key, "descr") == 0) {
            if (h->have_descr)
                return header_fail(h, "duplicate key 'descr'");
            int c = peek(h);
            if (c != '\'' && c != '"') {
                zoo_error(ZOO_ERR_UNSUPPORTED,
                          "npy file '%s': structured dtypes are not "
                          "supported (only little-endian float32 '<f4')",
                          h->path);
                return false;
            }
            bool long_descr;
            if (!parse_string(h, h->descr, sizeof h->descr, &long_descr))
                return false;
            if (long_descr) {
                zoo_error(ZOO_ERR_UNSUPPORTED,
                          "npy file '%s': dtype '%s...' is not supported "
                          "(only little-endian float32 '<f4')",
                          h->path, h->descr);
                return false;
            }
            h->have_descr = true;
        } else if (!too_long && strcmp(key, "fortran_order") == 0) {
            if (h->have_fortran)
                return header_fail(h, "duplicate key 'fortran_order'");
            if (!parse_bool(h, &h->fortran))
                return false;
            h->have_fortran = true;
        } else if (!too_long && strcmp(key, "shape") == 0) {
            if (h->have_shape)
                return header_fail(h, "duplicate key 'shape'");
            if (!parse_shape(h))
                return false;
            h->have_shape = true;
        } else {
            zoo_error(ZOO_ERR_FORMAT,
                      "npy file '%s': unexpected key '%s%s' in the header",
                      h->path, key, too_long ? "..." : "");
            return false;
        }
        int c = peek(h);
        if (c == ',') {
            h->pos++;
            continue;
        }
        if (c == '}') {
            h->pos++;
            break;
        }
        return header_fail(h, "expected ',' or '}' after a value");
    }
    /* Only padding may follow the dict. */
    if (peek(h) != -1)
        return header_fail(h, "unexpected text after the header dict");
    const char *missing = !h->have_descr     ? "descr"
                          : !h->have_fortran ? "fortran_order"
                          : !h->have_shape   ? "shape"
                                             : NULL;
    if (missing) {
        zoo_error(ZOO_ERR_FORMAT,
                  "npy file '%s': the header has no '%s' key", h->path,
                  missing);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Loading                                                             */
/* ------------------------------------------------------------------ */

static void format_dims(const npy_header *h, char *buf, size_t size)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < h->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRIu64,
                                 i ? ", " : "", h->dims[i]);
    if (used < size)
        snprintf(buf + used, size - used, "%s)", h->rank == 1 ? "," : "");
}

static uint32_t read_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void swap_floats(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        u = (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) |
            (u << 24);
        memcpy(&x[i], &u, 4);
    }
}

/* Reads exactly n bytes; returns the number read. */
static size_t read_full(FILE *f, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t r = fread((char *)buf + got, 1, n - got, f);
        if (r == 0)
            break;
        got += r;
    }
    return got;
}

static zoo_tensor *npy_load_file(FILE *f, const char *path)
{
    /* The file's size, when it has one, bounds every length we read. */
    struct stat st;
    bool sized = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    uint64_t file_size = sized ? (uint64_t)st.st_size : 0;

    unsigned char pre[NPY_PREAMBLE_V2];
    size_t got = read_full(f, pre, 8);
    if (ferror(f)) {
        zoo_error(ZOO_ERR_IO, "npy file '%s': read error: %s", path,
                  strerror(errno));
        return NULL;
    }
    if (got < 8 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        zoo_error(ZOO_ERR_FORMAT,
                  "npy file '%s': not a NumPy .npy file (the magic string "
                  "\\x93NUMPY is missing)",
                  path);
        return NULL;
    }
    int major = pre[6], minor = pre[7];
    if (!((major >= 1 && major <= 3) && minor == 0)) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "npy file '%s': format version %d.%d is not supported "
                  "(1.0, 2.0 and 3.0 are)",
                  path, major, minor);
        return NULL;
    }
    size_t preamble = major == 1 ? NPY_PREAMBLE_V1 : NPY_PREAMBLE_V2;
    size_t len_bytes = preamble - 8;
    if (read_full(f, pre + 8, len_bytes) != len_bytes) {
        zoo_error(ZOO_ERR_FORMAT,
                  "npy file '%s': truncated before the header length", path);
        return NULL;
    }
    uint32_t header_len = major == 1
                              ? (uint32_t)pre[8] | (uint32_t)pre[9] << 8
                              : read_le32(pre + 8);
    if (sized && (uint64_t)preamble + header_len > file_size) {
        zoo_error(ZOO_ERR_FORMAT,
                  "npy file '%s': header length %" PRIu32
                  " runs past the end of the file (%" PRIu64 " bytes)",
                  path, header_len, file_size);
        return NULL;
    }
    if (header_len > NPY_MAX_HEADER) {
        zoo_error(ZOO_ERR_FORMAT,
                  "npy file '%s': header length %" PRIu32
                  " is larger than the %u bytes allowed",
                  path, header_len, NPY_MAX_HEADER);
        return NULL;
    }
    if (header_len == 0) {
        zoo_error(ZOO_ERR_FORMAT, "npy file '%s': the header is empty", path);
        return NULL;
    }

    char *text = malloc(header_len);
    if (!text) {
        zoo_error(ZOO_ERR_MEMORY, "npy file '%s': cannot allocate %" PRIu32
                                  " bytes for the header",
                  path, header_len);
        return NULL;
    }
    if (read_full(f, text, header_len) != header_len) {
        free(text);
        zoo_error(ZOO_ERR_FORMAT,
                  "npy file '%s': truncated inside the %" PRIu32
                  "-byte header",
                  path, header_len);
        return NULL;
    }
    npy_header h = {.s = text, .n = header_len, .path = path};
    bool ok = parse_header(&h);
    free(text);
    if (!ok)
        return NULL;

    if (strcmp(h.descr, "<f4") != 0) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "npy file '%s': dtype '%s' is not supported (only "
                  "little-endian float32 '<f4'; convert with "
                  "arr.astype('<f4'))",
                  path, h.descr);
        return NULL;
    }
    if (h.fortran) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "npy file '%s': Fortran-ordered arrays are not supported "
                  "(save a C-ordered array, e.g. np.ascontiguousarray)",
                  path);
        return NULL;
    }
    char dims[160];
    format_dims(&h, dims, sizeof dims);
    if (h.rank == 0) {
        zoo_error(ZOO_ERR_UNSUPPORTED,
                  "npy file '%s': 0-d (scalar) arrays are not supported; "
                  "tensors have rank 1 to %d",
                  path, ZOO_MAX_RANK);
        return NULL;
    }
    int shape[ZOO_MAX_RANK];
    uint64_t count = 1;
    bool too_big = false;
    for (int i = 0; i < h.rank; i++) {
        if (h.dims[i] == 0) {
            zoo_error(ZOO_ERR_UNSUPPORTED,
                      "npy file '%s': shape %s has an empty axis; tensors "
                      "need every dimension >= 1",
                      path, dims);
            return NULL;
        }
        if (h.dims[i] > INT_MAX)
            too_big = true;
        else
            shape[i] = (int)h.dims[i];
        if (!too_big && count > (uint64_t)SIZE_MAX / sizeof(float) / h.dims[i])
            too_big = true;
        if (!too_big)
            count *= h.dims[i];
    }
    if (too_big) {
        zoo_error(ZOO_ERR_FORMAT,
                  "npy file '%s': shape %s is too large for a tensor", path,
                  dims);
        return NULL;
    }
    uint64_t data_bytes = count * sizeof(float);
    uint64_t data_start = (uint64_t)preamble + header_len;
    if (sized) {
        uint64_t have = file_size - data_start;
        if (have < data_bytes) {
            zoo_error(ZOO_ERR_FORMAT,
                      "npy file '%s' is truncated: shape %s needs %" PRIu64
                      " data bytes but only %" PRIu64 " follow the header",
                      path, dims, data_bytes, have);
            return NULL;
        }
        if (have > data_bytes) {
            zoo_error(ZOO_ERR_FORMAT,
                      "npy file '%s': %" PRIu64
                      " unexpected bytes after the data (shape %s needs "
                      "%" PRIu64 " bytes, %" PRIu64 " follow the header)",
                      path, have - data_bytes, dims, data_bytes, have);
            return NULL;
        }
    }

    zoo_tensor *t = zoo_tensor_new(h.rank, shape);
    if (!t) {
        char why[256];
        snprintf(why, sizeof why, "%s", zoo_last_error());
        zoo_error(ZOO_ERR_MEMORY, "npy file '%s': %s", path, why);
        return NULL;
    }
    float *data = zoo_tensor_data(t);
    size_t n_read = read_full(f, data, (size_t)data_bytes);
    if (n_read != data_bytes) {
        zoo_tensor_free(t);
        if (ferror(f))
            zoo_error(ZOO_ERR_IO, "npy file '%s': read error: %s", path,
                      strerror(errno));
        else
            zoo_error(ZOO_ERR_FORMAT,
                      "npy file '%s' is truncated: shape %s needs %" PRIu64
                      " data bytes but only %zu follow the header",
                      path, dims, data_bytes, n_read);
        return NULL;
    }
    if (fgetc(f) != EOF) {
        zoo_tensor_free(t);
        zoo_error(ZOO_ERR_FORMAT,
                  "npy file '%s': unexpected bytes after the %" PRIu64
                  " data bytes of shape %s",
                  path, data_bytes, dims);
        return NULL;
    }
    if (NPY_HOST_BIG_ENDIAN)
        swap_floats(data, (size_t)count);
    return t;
}

zoo_tensor *zoo_npy_load(const char *path)
{
    if (!path) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_npy_load: path is NULL");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        zoo_error(e == ENOENT ? ZOO_ERR_NOT_FOUND : ZOO_ERR_IO,
                  "npy file '%s': cannot open: %s", path, strerror(e));
        return NULL;
    }
    zoo_tensor *t = npy_load_file(f, path);
    fclose(f);
    return t;
}

/* ------------------------------------------------------------------ */
/* Saving                                                              */
/* ------------------------------------------------------------------ */

/* The process umask, read without changing it (umask(2) cannot be read
 * without a write, which would race with other threads). */
static mode_t current_umask(void)
{
    mode_t mask = 022;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return mask;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned int m;
        if (sscanf(line, "Umask: %o", &m) == 1) {
            mask = (mode_t)m;
            break;
        }
    }
    fclose(f);
    return mask;
}

/* Builds the padded header (without the preamble) into buf; returns the
 * header length and sets *major. */
static size_t build_header(const zoo_tensor *t, char *buf, size_t size,
                           int *major)
{
    char dict[256];
    size_t n = (size_t)snprintf(dict, sizeof dict,
                                "{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (");
    int rank = zoo_tensor_rank(t);
    const int *shape = zoo_tensor_shape(t);
    for (int i = 0; i < rank; i++)
        n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%d",
                              i ? ", " : "", shape[i]);
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }",
                          rank == 1 ? "," : "");
    /* dict + padding + '\n', the total (with preamble) a multiple of 64 */
    size_t preamble = NPY_PREAMBLE_V1;
    *major = 1;
    size_t total = (preamble + n + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    if (total - preamble > 0xffff) {
        preamble = NPY_PREAMBLE_V2;
        *major = 2;
        total = (preamble + n + 1 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    }
    size_t hlen = total - preamble;
    if (hlen > size)
        return 0;
    memcpy(buf, dict, n);
    memset(buf + n, ' ', hlen - n - 1);
    buf[hlen - 1] = '\n';
    return hlen;
}

static bool write_all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n;
}

zoo_status zoo_npy_save(const char *path, const zoo_tensor *t)
{
    if (!path)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_npy_save: path is NULL");
    if (!t)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "zoo_npy_save: tensor for '%s' is NULL", path);
    if (!*path)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_npy_save: path is empty");

    char header[512];
    int major;
    size_t hlen = build_header(t, header, sizeof header, &major);
    if (hlen == 0)
        return zoo_error(ZOO_ERR_INTERNAL,
                         "npy file '%s': header does not fit", path);
    unsigned char pre[NPY_PREAMBLE_V2];
    memcpy(pre, NPY_MAGIC, NPY_MAGIC_LEN);
    pre[6] = (unsigned char)major;
    pre[7] = 0;
    size_t plen;
    if (major == 1) {
        pre[8] = (unsigned char)(hlen & 0xff);
        pre[9] = (unsigned char)(hlen >> 8);
        plen = NPY_PREAMBLE_V1;
    } else {
        for (int i = 0; i < 4; i++)
            pre[8 + i] = (unsigned char)(hlen >> (8 * i));
        plen = NPY_PREAMBLE_V2;
    }

    size_t plen_path = strlen(path);
    static const char suffix[] = ".tmpXXXXXX";
    char *tmp = malloc(plen_path + sizeof suffix);
    if (!tmp)
        return zoo_error(ZOO_ERR_MEMORY,
                         "npy file '%s': out of memory", path);
    memcpy(tmp, path, plen_path);
    memcpy(tmp + plen_path, suffix, sizeof suffix);

    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return zoo_error(e == ENOENT ? ZOO_ERR_NOT_FOUND : ZOO_ERR_IO,
                         "npy file '%s': cannot create a temporary file "
                         "beside it: %s",
                         path, strerror(e));
    }
    /* mkstemp makes 0600; give the file the mode open(2) would. */
    (void)fchmod(fd, 0666 & ~current_umask());
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return zoo_error(ZOO_ERR_IO, "npy file '%s': %s", path, strerror(e));
    }

    bool ok = write_all(f, pre, plen) && write_all(f, header, hlen);
    const float *data = zoo_tensor_cdata(t);
    size_t count = zoo_tensor_size(t);
    if (ok && !NPY_HOST_BIG_ENDIAN) {
        ok = write_all(f, data, count * sizeof(float));
    } else if (ok) {
        float chunk[1024];
        for (size_t i = 0; ok && i < count; i += 1024) {
            size_t m = count - i < 1024 ? count - i : 1024;
            memcpy(chunk, data + i, m * sizeof(float));
            swap_floats(chunk, m);
            ok = write_all(f, chunk, m * sizeof(float));
        }
    }
    int e = errno;
    if (ok && fflush(f) != 0) {
        ok = false;
        e = errno;
    }
    if (ok && fsync(fileno(f)) != 0 && errno != EINVAL && errno != EROFS) {
        ok = false;
        e = errno;
    }
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return zoo_error(ZOO_ERR_IO, "npy file '%s': write failed: %s", path,
                         strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        free(tmp);
        return zoo_error(ZOO_ERR_IO, "npy file '%s': cannot rename the "
                                     "temporary file into place: %s",
                         path, strerror(e));
    }
    free(tmp);
    return ZOO_OK;
}
