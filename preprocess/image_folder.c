/*
 * Image-folder datasets: Keras's image_dataset_from_directory layout (one
 * subfolder per class) scanned once, then streamed batch by batch.
 *
 *  - Classes: immediate subfolders (symlinks to folders count), names
 *    starting with '.' skipped, sorted with strcmp (byte order, so "B" <
 *    "a" and "cat10" < "cat2", whatever the locale).
 *  - Samples: .jpg .jpeg .png files (extension in any case) found
 *    recursively below each class folder, symlinks followed; a folder that
 *    is one of its own ancestors (a symlink loop) is not entered again.
 *    Within a class, files are ordered by their path relative to the class
 *    folder, with strcmp.
 *  - At open, the first bytes of every file are checked as zoo_image_load
 *    would (regular file, JPEG or PNG signature), so files it would refuse
 *    outright are skipped and reported once. A file that passes but fails
 *    to decode later (truncated, corrupt) is dropped from the batch that
 *    reads it, reported once, and left out of later batches.
 *  - Per batch: decode, resize (only when the size differs), augment
 *    (training batches that ask for it), preprocess_input. Nothing but the
 *    per-file "failed" flags survives a batch.
 */
#include "preprocess/preprocess.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct zoo_image_folder {
    char *dir;
    zoo_image_folder_opts opts;
    int n_classes;
    char **class_names;
    int count;
    char **paths;
    int *labels;
    atomic_uchar *failed; /* per sample: already reported as undecodable */
    atomic_int skipped;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, na);
    s[na] = '/';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct {
    char **v;
    int n, cap;
} strvec;

/* Takes ownership of s (freed on failure). */
static bool strvec_push(strvec *sv, char *s)
{
    if (!s)
        return false;
    if (sv->n == sv->cap) {
        int ncap = sv->cap ? sv->cap * 2 : 16;
        char **nv = ncap > sv->cap ? realloc(sv->v, (size_t)ncap * sizeof *nv) : NULL;
        if (!nv) {
            free(s);
            return false;
        }
        sv->v = nv;
        sv->cap = ncap;
    }
    sv->v[sv->n++] = s;
    return true;
}

static void strvec_free(strvec *sv)
{
    for (int i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

/* Keras's test: the lower-cased name ends with one of the extensions. */
static bool has_image_ext(const char *name)
{
    static const char *const exts[] = {".jpg", ".jpeg", ".png"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        size_t m = strlen(exts[i]);
        if (n >= m && strcasecmp(name + n - m, exts[i]) == 0)
            return true;
    }
    return false;
}

static void warn(const zoo_image_folder_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn(const zoo_image_folder_opts *o, const char *fmt, ...)
{
    if (!o->warn)
        return;
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->warn(msg, o->user);
}

/* ------------------------------------------------------------------ */
/* Scanning                                                            */
/* ------------------------------------------------------------------ */

typedef struct ancestor {
    dev_t dev;
    ino_t ino;
    const struct ancestor *up;
} ancestor;

/* Appends to `out` the relative paths (prefix + name) of image files
 * below `path`. Unreadable nested folders and symlink loops are reported
 * and left out; only running out of memory fails. */
static zoo_status walk(const zoo_image_folder_opts *o, const char *path,
                       const char *prefix, const ancestor *up, strvec *out)
{
    DIR *d = opendir(path);
    if (!d) {
        warn(o, "%s: cannot read folder: %s; its images are left out", path,
             strerror(errno));
        return ZOO_OK;
    }
    zoo_status st = ZOO_OK;
    struct dirent *e;
    while (st == ZOO_OK && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *full = join(path, e->d_name);
        char *rel = prefix ? join(prefix, e->d_name) : strdup(e->d_name);
        if (!full || !rel) {
            free(full);
            free(rel);
            st = zoo_error(ZOO_ERR_MEMORY, "%s: out of memory listing images", path);
            break;
        }
        struct stat sb;
        /* stat follows symlinks; a dangling one is a file we cannot use,
         * reported by the header check if its name looks like an image. */
        if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            bool loop = false;
            for (const ancestor *a = up; a; a = a->up)
                if (a->dev == sb.st_dev && a->ino == sb.st_ino)
                    loop = true;
            if (loop) {
                warn(o, "%s: folder link loops back to one of its parents; not "
                        "entered again", full);
            } else {
                ancestor here = {sb.st_dev, sb.st_ino, up};
                st = walk(o, full, rel, &here, out);
            }
            free(full);
            free(rel);
        } else {
            free(full);
            if (has_image_ext(e->d_name)) {
                if (!strvec_push(out, rel))
                    st = zoo_error(ZOO_ERR_MEMORY, "%s: out of memory listing images",
                                   path);
            } else {
                free(rel);
            }
        }
    }
    closedir(d);
    return st;
}

/* Would zoo_image_load refuse this file from its first bytes alone? NULL
 * if it looks usable, else why not (a message naming the file, valid
 * until the next error on this thread). */
static const char *header_problem(const char *path)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        zoo_error(ZOO_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
        return zoo_last_error();
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        zoo_error(ZOO_ERR_IO, "%s: not a regular file; cannot read it as an image",
                  path);
        return zoo_last_error();
    }
    unsigned char hdr[16];
    size_t n = 0;
    while (n < sizeof hdr) {
        ssize_t r = read(fd, hdr + n, sizeof hdr - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            zoo_error(ZOO_ERR_IO, "%s: error reading image: %s", path, strerror(e));
            return zoo_last_error();
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n >= 3 && hdr[0] == 0xFF && hdr[1] == 0xD8 && hdr[2] == 0xFF)
        return NULL;
    if (n >= sizeof png_sig && memcmp(hdr, png_sig, sizeof png_sig) == 0)
        return NULL;
    /* Neither signature: the decoder refuses it without decoding, with
     * the message a load would give (empty, GIF/BMP/..., unknown). */
    zoo_image *img = zoo_image_decode(hdr, n, path);
    zoo_image_free(img);
    return img ? NULL : zoo_last_error();
}

static bool check_opts(const zoo_image_folder_opts *o, const char *dir)
{
    if (o->height < 1 || o->width < 1 || o->height > 65536 || o->width > 65536) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: image size %dx%d (width x height) is invalid; give the "
                  "model's input size, each side 1..65536",
                  dir, o->width, o->height);
        return false;
    }
    if ((unsigned)o->mode > ZOO_PREPROCESS_TORCH) {
        zoo_error(ZOO_ERR_ARGUMENT, "%s: unknown preprocess mode %d", dir, (int)o->mode);
        return false;
    }
    if ((unsigned)o->filter > ZOO_RESIZE_BICUBIC) {
        zoo_error(ZOO_ERR_ARGUMENT, "%s: unknown resize filter %d", dir, (int)o->filter);
        return false;
    }
    /* zoo_augment_apply checks the augmentation itself; fail early here. */
    const zoo_augment *a = &o->augment;
    if (!(a->crop >= 0 && a->crop < 1) || !(a->rotation >= 0 && a->rotation <= 360) ||
        !(a->brightness >= 0 && a->brightness <= 1)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: augmentation out of range (crop %g must be in [0, 1), "
                  "rotation %g in [0, 360] degrees, brightness %g in [0, 1])",
                  dir, a->crop, a->rotation, a->brightness);
        return false;
    }
    return true;
}

/* "a, b, c" of up to a few names, for messages. */
static void list_names(char *buf, size_t size, char *const *names, int n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && i < 5 && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s'%s'", i ? ", " : "",
                                 names[i]);
    if (n > 5 && used < size)
        snprintf(buf + used, size - used, ", ...");
}

static zoo_status scan_classes(const char *dir, strvec *classes)
{
    DIR *d = opendir(dir);
    if (!d)
        return zoo_error(ZOO_ERR_IO, "%s: cannot read folder: %s", dir, strerror(errno));
    zoo_status st = ZOO_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *full = join(dir, e->d_name);
        if (!full) {
            st = zoo_error(ZOO_ERR_MEMORY, "%s: out of memory listing classes", dir);
            break;
        }
        struct stat sb;
        bool is_dir = stat(full, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(full);
        if (is_dir && !strvec_push(classes, strdup(e->d_name))) {
            st = zoo_error(ZOO_ERR_MEMORY, "%s: out of memory listing classes", dir);
            break;
        }
    }
    closedir(d);
    if (st == ZOO_OK && classes->n > 1)
        qsort(classes->v, (size_t)classes->n, sizeof *classes->v, cmp_str);
    return st;
}

zoo_image_folder *zoo_image_folder_open(const char *dir,
                                        const zoo_image_folder_opts *opts)
{
    if (!dir || !opts) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_image_folder_open: %s is NULL",
                  dir ? "opts" : "dir");
        return NULL;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        int e = errno;
        zoo_error(e == ENOENT || e == ENOTDIR ? ZOO_ERR_NOT_FOUND : ZOO_ERR_IO,
                  "%s: cannot open image folder: %s", dir, strerror(e));
        return NULL;
    }
    if (!S_ISDIR(sb.st_mode)) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: not a directory; give a folder with one subfolder of "
                  "images per class",
                  dir);
        return NULL;
    }
    if (!check_opts(opts, dir))
        return NULL;

    zoo_image_folder *f = calloc(1, sizeof *f);
    strvec classes = {0}, samples = {0}, files = {0};
    int *labels = NULL;
    int skipped = 0;
    if (!f || !(f->dir = strdup(dir))) {
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory opening image folder", dir);
        goto fail;
    }
    f->opts = *opts;
    if (scan_classes(dir, &classes) != ZOO_OK)
        goto fail;
    if (classes.n < 2) {
        char names[512];
        list_names(names, sizeof names, classes.v, classes.n);
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: needs at least two class subfolders, found %d%s%s; put "
                  "each class's images in its own subfolder",
                  dir, classes.n, classes.n ? ": " : "", names);
        goto fail;
    }

    int empty_class = -1;
    int *class_skipped = calloc((size_t)classes.n, sizeof *class_skipped);
    if (!class_skipped) {
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory opening image folder", dir);
        goto fail;
    }
    for (int c = 0; c < classes.n; c++) {
        char *cdir = join(dir, classes.v[c]);
        if (!cdir) {
            zoo_error(ZOO_ERR_MEMORY, "%s: out of memory listing images", dir);
            free(class_skipped);
            goto fail;
        }
        DIR *probe = opendir(cdir);
        if (!probe) {
            zoo_error(ZOO_ERR_IO, "%s: cannot read class folder '%s': %s", dir,
                      classes.v[c], strerror(errno));
            free(cdir);
            free(class_skipped);
            goto fail;
        }
        closedir(probe);
        struct stat cs;
        ancestor root = {0, 0, NULL};
        bool have_root = stat(cdir, &cs) == 0;
        if (have_root) {
            root.dev = cs.st_dev;
            root.ino = cs.st_ino;
        }
        zoo_status st = walk(opts, cdir, NULL, have_root ? &root : NULL, &files);
        if (st == ZOO_OK && files.n > 1)
            qsort(files.v, (size_t)files.n, sizeof *files.v, cmp_str);
        int before = samples.n;
        for (int i = 0; st == ZOO_OK && i < files.n; i++) {
            char *full = join(cdir, files.v[i]);
            if (!full) {
                st = zoo_error(ZOO_ERR_MEMORY, "%s: out of memory listing images", dir);
                break;
            }
            const char *why = header_problem(full);
            if (why) {
                warn(opts, "%s; skipping this file", why);
                skipped++;
                class_skipped[c]++;
                free(full);
                continue;
            }
            if (!strvec_push(&samples, full)) {
                st = zoo_error(ZOO_ERR_MEMORY, "%s: out of memory listing images", dir);
                break;
            }
            int *nl = realloc(labels, (size_t)samples.n * sizeof *nl);
            if (!nl) {
                st = zoo_error(ZOO_ERR_MEMORY, "%s: out of memory listing images", dir);
                break;
            }
            labels = nl;
            labels[samples.n - 1] = c;
        }
        strvec_free(&files);
        free(cdir);
        if (st != ZOO_OK) {
            free(class_skipped);
            goto fail;
        }
        if (samples.n == before && empty_class < 0)
            empty_class = c;
    }
    if (samples.n == 0) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: no usable images (.jpg, .jpeg or .png) in its %d class "
                  "subfolders%s",
                  dir, classes.n, skipped ? " (every image file found was skipped)" : "");
        free(class_skipped);
        goto fail;
    }
    if (empty_class >= 0) {
        zoo_error(ZOO_ERR_ARGUMENT,
                  "%s: class folder '%s' has no usable images (.jpg, .jpeg or "
                  ".png)%s; add images to it or remove the folder",
                  dir, classes.v[empty_class],
                  class_skipped[empty_class] ? " (its image files were skipped)" : "");
        free(class_skipped);
        goto fail;
    }
    free(class_skipped);

    f->failed = calloc((size_t)samples.n, sizeof *f->failed);
    if (!f->failed) {
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory opening image folder", dir);
        goto fail;
    }
    for (int i = 0; i < samples.n; i++)
        atomic_init(&f->failed[i], 0);
    f->n_classes = classes.n;
    f->class_names = classes.v;
    f->count = samples.n;
    f->paths = samples.v;
    f->labels = labels;
    atomic_init(&f->skipped, skipped);
    return f;

fail:
    strvec_free(&classes);
    strvec_free(&samples);
    strvec_free(&files);
    free(labels);
    if (f) {
        free(f->failed);
        free(f->dir);
        free(f);
    }
    return NULL;
}

void zoo_image_folder_free(zoo_image_folder *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n_classes; i++)
        free(f->class_names[i]);
    free(f->class_names);
    for (int i = 0; i < f->count; i++)
        free(f->paths[i]);
    free(f->paths);
    free(f->labels);
    free(f->failed);
    free(f->dir);
    free(f);
}

int zoo_image_folder_count(const zoo_image_folder *f) { return f ? f->count : 0; }

int zoo_image_folder_skipped(const zoo_image_folder *f)
{
    return f ? atomic_load(&((zoo_image_folder *)f)->skipped) : 0;
}

int zoo_image_folder_class_count(const zoo_image_folder *f) { return f ? f->n_classes : 0; }

const char *zoo_image_folder_class_name(const zoo_image_folder *f, int i)
{
    return f && i >= 0 && i < f->n_classes ? f->class_names[i] : NULL;
}

const char *zoo_image_folder_path(const zoo_image_folder *f, int i)
{
    return f && i >= 0 && i < f->count ? f->paths[i] : NULL;
}

int zoo_image_folder_label(const zoo_image_folder *f, int i)
{
    return f && i >= 0 && i < f->count ? f->labels[i] : -1;
}

/* ------------------------------------------------------------------ */
/* Batches                                                             */
/* ------------------------------------------------------------------ */

enum { ROW_OK = 0, ROW_DROPPED, ROW_KNOWN_BAD, ROW_FATAL };

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The augmentation seed of the sample at batch position `pos` with index
 * `idx`: a function of the batch seed and both, so a seed replays exactly
 * and dropped samples do not shift the draws of the others. */
static uint64_t sample_seed(uint64_t batch_seed, int pos, int idx)
{
    uint64_t s = mix64(batch_seed + 0x9E3779B97F4A7C15ULL * ((uint64_t)pos + 1));
    return mix64(s ^ (0xD1B54A32D192ED03ULL * ((uint64_t)(unsigned)idx + 1)));
}

static bool augment_on(const zoo_augment *a)
{
    return a->flip || a->crop > 0 || a->rotation > 0 || a->brightness > 0;
}

/* One sample into `row`: ROW_OK, ROW_DROPPED (message in *msg) or
 * ROW_FATAL (message in *msg). */
static int load_row(zoo_image_folder *f, int idx, int pos, float *row,
                    const zoo_load_ctx *lc, char **msg)
{
    const zoo_image_folder_opts *o = &f->opts;
    if (atomic_load(&f->failed[idx]))
        return ROW_KNOWN_BAD;
    zoo_image *img = zoo_image_load(f->paths[idx]);
    if (!img) {
        *msg = strdup(zoo_last_error());
        return zoo_last_status() == ZOO_ERR_MEMORY ? ROW_FATAL : ROW_DROPPED;
    }
    if (img->width != o->width || img->height != o->height) {
        zoo_image *r = zoo_image_resize(img, o->width, o->height, o->filter, false);
        zoo_image_free(img);
        if (!r) {
            *msg = strdup(zoo_last_error());
            return ROW_FATAL;
        }
        img = r;
    }
    size_t n = (size_t)o->width * (size_t)o->height;
    for (size_t i = 0; i < 3 * n; i++)
        row[i] = (float)img->rgb[i];
    zoo_image_free(img);
    if (lc && lc->augment && augment_on(&o->augment)) {
        if (zoo_augment_apply(&o->augment, row, o->height, o->width,
                              sample_seed(lc->seed, pos, idx)) != ZOO_OK) {
            *msg = strdup(zoo_last_error());
            return ROW_FATAL;
        }
    }
    zoo_preprocess_input(o->mode, row, n);
    return ROW_OK;
}

static zoo_status folder_load(void *ctx, const int *idx, int n, float *x, float *y,
                              int *kept, const zoo_load_ctx *lc)
{
    zoo_image_folder *f = ctx;
    if (kept)
        *kept = 0;
    if (!f || !idx || !x || !y || !kept || n < 0)
        return zoo_error(ZOO_ERR_ARGUMENT, "image folder dataset: load called with a "
                                           "NULL argument or a negative count");
    for (int k = 0; k < n; k++)
        if (idx[k] < 0 || idx[k] >= f->count)
            return zoo_error(ZOO_ERR_ARGUMENT,
                             "%s: sample index %d out of range (the folder has %d "
                             "images)",
                             f->dir, idx[k], f->count);
    if (n == 0)
        return ZOO_OK;

    size_t row = (size_t)f->opts.width * (size_t)f->opts.height * 3;
    int *state = malloc((size_t)n * sizeof *state);
    char **msg = calloc((size_t)n, sizeof *msg);
    if (!state || !msg) {
        free(state);
        free(msg);
        return zoo_error(ZOO_ERR_MEMORY, "%s: out of memory loading a batch of %d images",
                         f->dir, n);
    }
    int threads = zoo_default_threads();
    if (threads > n)
        threads = n;
    /* Rows are independent; messages are kept per row and reported below,
     * on this thread and in batch order. */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int k = 0; k < n; k++)
        state[k] = load_row(f, idx[k], k, x + (size_t)k * row, lc, &msg[k]);

    zoo_status st = ZOO_OK;
    for (int k = 0; k < n; k++)
        if (state[k] == ROW_FATAL) {
            st = zoo_error(ZOO_ERR_MEMORY, "%s", msg[k] ? msg[k] : "out of memory");
            break;
        }
    int w = 0;
    for (int k = 0; st == ZOO_OK && k < n; k++) {
        if (state[k] == ROW_OK) {
            if (w != k)
                memmove(x + (size_t)w * row, x + (size_t)k * row, row * sizeof *x);
            y[w++] = (float)f->labels[idx[k]];
        } else if (state[k] == ROW_DROPPED &&
                   atomic_exchange(&f->failed[idx[k]], 1) == 0) {
            atomic_fetch_add(&f->skipped, 1);
            warn(&f->opts, "%s; skipping this file",
                 msg[k] ? msg[k] : "an image could not be decoded");
        }
    }
    for (int k = 0; k < n; k++)
        free(msg[k]);
    free(msg);
    free(state);
    if (st == ZOO_OK)
        *kept = w;
    return st;
}

zoo_dataset *zoo_image_folder_dataset(zoo_image_folder *f)
{
    if (!f) {
        zoo_error(ZOO_ERR_ARGUMENT, "zoo_image_folder_dataset: folder is NULL");
        return NULL;
    }
    zoo_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        zoo_error(ZOO_ERR_MEMORY, "%s: out of memory creating the dataset", f->dir);
        return NULL;
    }
    d->count = f->count;
    d->x_rank = 3;
    d->x_shape[0] = f->opts.height;
    d->x_shape[1] = f->opts.width;
    d->x_shape[2] = 3;
    d->y_rank = 1;
    d->y_shape[0] = 1;
    d->ctx = f;
    d->load = folder_load;
    d->release = NULL; /* the folder is borrowed */
    return d;
}
