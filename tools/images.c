/* tools-private: image arguments, batch loading, progress; see images.h. */
#include "tools/images.h"
#include "tools/commands.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Arguments                                                           */
/* ------------------------------------------------------------------ */

const char *tool_option_value(int argc, char **argv, int *i, const char *name,
                              bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=' && name[1] == '-') /* "--name=VALUE", not "-o=..." */
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

bool tool_positive_int(const char *s, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < 1 || v > max)
        return false;
    *out = (int)v;
    return true;
}

bool tool_output_writable(const char *cmd, const char *path)
{
    struct stat st;
    if (!*path) {
        fprintf(stderr, "zoo %s: the output file name is empty\n", cmd);
        return false;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "zoo %s: output '%s' is a directory; give a file name "
                "such as %s/features.npy\n", cmd, path, path);
        return false;
    }
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "zoo %s: cannot write the output '%s': directory '%s' "
                "does not exist (%s); create it first\n", cmd, path, dir,
                strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "zoo %s: cannot write the output '%s': '%s' is not a "
                "directory\n", cmd, path, dir);
        return false;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "zoo %s: cannot write the output '%s': directory '%s': "
                "%s\n", cmd, path, dir, strerror(errno));
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Which images                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    char **v;
    int n, cap;
} str_vec;

static bool vec_push(str_vec *s, const char *str, size_t len)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v)
            return false;
        s->v = v;
        s->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return false;
    memcpy(copy, str, len);
    copy[len] = '\0';
    s->v[s->n++] = copy;
    return true;
}

static void vec_free(str_vec *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    *s = (str_vec){0};
}

static int out_of_memory(const char *cmd)
{
    fprintf(stderr, "zoo %s: out of memory\n", cmd);
    return 1;
}

static int read_list(const char *cmd, const char *list_file, str_vec *v)
{
    bool is_stdin = strcmp(list_file, "-") == 0;
    if (!is_stdin) {
        /* A directory fopen()s fine on Linux and then fails to read. */
        struct stat st;
        if (stat(list_file, &st) == 0 && S_ISDIR(st.st_mode)) {
            fprintf(stderr, "zoo %s: --list '%s' is a directory; give a text "
                    "file with one image path a line, or the directory alone "
                    "as DIR\n", cmd, list_file);
            return 1;
        }
    }
    FILE *f = is_stdin ? stdin : fopen(list_file, "r");
    if (!f) {
        fprintf(stderr, "zoo %s: cannot read the list '%s': %s\n", cmd,
                list_file, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = -1;
    errno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (!vec_push(v, line, (size_t)len)) {
            rc = out_of_memory(cmd);
            break;
        }
    }
    if (rc < 0 && ferror(f)) {
        fprintf(stderr, "zoo %s: cannot read the list '%s': %s\n", cmd,
                list_file, strerror(errno ? errno : EIO));
        rc = 1;
    }
    free(line);
    if (!is_stdin)
        fclose(f);
    if (rc < 0 && v->n == 0) {
        fprintf(stderr, "zoo %s: the list '%s' names no images\n", cmd,
                list_file);
        rc = 1;
    }
    return rc;
}

static bool image_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return false;
    return strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 ||
           strcasecmp(dot, ".png") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_dir(const char *cmd, const char *dir, str_vec *v)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "zoo %s: cannot read the directory '%s': %s\n", cmd,
                dir, strerror(errno));
        return 1;
    }
    str_vec names = {0};
    struct dirent *e;
    int rc = -1;
    errno = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !image_extension(e->d_name))
            continue;
        struct stat st;
        /* Follows links: a link to a regular image counts, a dangling or
         * looping one, a FIFO or a subdirectory does not. */
        if (fstatat(dirfd(d), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (!vec_push(&names, e->d_name, strlen(e->d_name))) {
            rc = out_of_memory(cmd);
            break;
        }
        errno = 0;
    }
    if (rc < 0 && errno) {
        fprintf(stderr, "zoo %s: cannot read the directory '%s': %s\n", cmd,
                dir, strerror(errno));
        rc = 1;
    }
    closedir(d);
    if (rc < 0 && names.n == 0) {
        fprintf(stderr, "zoo %s: directory '%s' holds no images (regular "
                "files named *.jpg, *.jpeg or *.png)\n", cmd, dir);
        rc = 1;
    }
    if (rc < 0) {
        qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);
        size_t dl = strlen(dir);
        bool slash = dl > 0 && dir[dl - 1] == '/';
        for (int i = 0; i < names.n && rc < 0; i++) {
            size_t nl = strlen(names.v[i]);
            char *p = malloc(dl + nl + 2);
            if (!p) {
                rc = out_of_memory(cmd);
                break;
            }
            snprintf(p, dl + nl + 2, "%s%s%s", dir, slash ? "" : "/", names.v[i]);
            if (!vec_push(v, p, strlen(p)))
                rc = out_of_memory(cmd);
            free(p);
        }
    }
    vec_free(&names);
    return rc;
}

int image_list_expand(const char *cmd, char **args, int n_args,
                      const char *list_file, image_list *out)
{
    *out = (image_list){0};
    if (list_file && n_args > 0) {
        fprintf(stderr, "zoo %s: give images, --list FILE or a DIR, not both "
                "('%s' and --list '%s')\nRun 'zoo %s --help' for the "
                "options.\n", cmd, args[0], list_file, cmd);
        return 2;
    }
    if (!list_file && n_args == 0) {
        fprintf(stderr, "zoo %s: no images given (IMAGE..., --list FILE or "
                "DIR)\nRun 'zoo %s --help' for the options.\n", cmd, cmd);
        return 2;
    }
    str_vec v = {0};
    int rc = -1;
    struct stat st;
    if (list_file) {
        rc = read_list(cmd, list_file, &v);
    } else if (n_args == 1 && stat(args[0], &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = read_dir(cmd, args[0], &v);
    } else {
        for (int i = 0; i < n_args && rc < 0; i++)
            if (!vec_push(&v, args[i], strlen(args[i])))
                rc = out_of_memory(cmd);
    }
    if (rc >= 0) {
        vec_free(&v);
        return rc;
    }
    out->paths = v.v;
    out->n = v.n;
    return -1;
}

void image_list_free(image_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    *l = (image_list){0};
}

const char *image_path_problem(const char *path, char *buf, size_t size)
{
    struct stat st, lst;
    if (!*path) {
        snprintf(buf, size, "empty file name");
        return buf;
    }
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
            snprintf(buf, size, "dangling symbolic link (its target does not "
                     "exist)");
        else if (e == ELOOP)
            snprintf(buf, size, "symbolic link loop (%s)", strerror(e));
        else if (e == ENOENT)
            snprintf(buf, size, "no such file");
        else
            snprintf(buf, size, "%s", strerror(e));
        return buf;
    }
    if (S_ISREG(st.st_mode))
        return NULL;
    if (S_ISDIR(st.st_mode))
        snprintf(buf, size, "is a directory, not an image (a directory is "
                 "expanded into its images only when it is the only argument)");
    else if (S_ISFIFO(st.st_mode))
        snprintf(buf, size, "is a FIFO (named pipe), not a regular file");
    else if (S_ISSOCK(st.st_mode))
        snprintf(buf, size, "is a socket, not a regular file");
    else if (S_ISCHR(st.st_mode))
        snprintf(buf, size, "is a character device, not a regular file");
    else if (S_ISBLK(st.st_mode))
        snprintf(buf, size, "is a block device, not a regular file");
    else
        snprintf(buf, size, "not a regular file");
    return buf;
}

void image_report_failure(const char *cmd, const char *path, const char *reason)
{
    size_t n = strlen(path);
    if (!reason || !*reason)
        reason = "cannot be loaded";
    if (strncmp(reason, path, n) == 0 && reason[n] == ':')
        fprintf(stderr, "zoo %s: %s\n", cmd, reason);
    else if (strncmp(reason, "'", 1) == 0 && strncmp(reason + 1, path, n) == 0 &&
             reason[n + 1] == '\'')
        fprintf(stderr, "zoo %s: %s\n", cmd, reason);
    else
        fprintf(stderr, "zoo %s: %s: %s\n", cmd, path, reason);
}

/* ------------------------------------------------------------------ */
/* Loading a batch                                                     */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *const *paths;
    int n, height, width;
    zoo_preprocess_mode mode;
    float *data;   /* n slots of height*width*3 */
    bool *ok;
    char **error;
    pthread_mutex_t lock;
    int next;
} load_job;

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Loads image i into its slot; false with *error set on failure. */
static void load_one(load_job *j, int i)
{
    char why[512];
    const char *path = j->paths[i];
    const char *problem = image_path_problem(path, why, sizeof why);
    if (problem) {
        j->error[i] = dup_str(problem);
        return;
    }
    zoo_image *img = zoo_image_load(path);
    if (!img) {
        const char *e = zoo_last_error();
        j->error[i] = dup_str(*e ? e : "cannot decode the image");
        return;
    }
    zoo_image *r = zoo_image_resize(img, j->width, j->height, ZOO_RESIZE_NEAREST,
                                    false);
    zoo_image_free(img);
    if (!r) {
        snprintf(why, sizeof why, "cannot resize to %dx%d: %s", j->width,
                 j->height, zoo_last_error());
        j->error[i] = dup_str(why);
        return;
    }
    size_t slot = (size_t)j->height * (size_t)j->width * 3;
    zoo_image_to_input(r, j->mode, j->data + (size_t)i * slot);
    zoo_image_free(r);
    j->ok[i] = true;
}

static void *load_worker(void *arg)
{
    load_job *j = arg;
    for (;;) {
        pthread_mutex_lock(&j->lock);
        int i = j->next++;
        pthread_mutex_unlock(&j->lock);
        if (i >= j->n)
            break;
        load_one(j, i);
    }
    return NULL;
}

bool image_batch_load(const char *const *paths, int n, int size,
                      zoo_preprocess_mode mode, int threads, image_batch *b)
{
    return image_batch_load_hw(paths, n, size, size, mode, threads, b);
}

bool image_batch_load_hw(const char *const *paths, int n, int height, int width,
                         zoo_preprocess_mode mode, int threads, image_batch *b)
{
    *b = (image_batch){.n = n};
    size_t slot = (size_t)height * (size_t)width * 3;
    b->row = malloc((size_t)n * sizeof *b->row);
    b->error = calloc((size_t)n, sizeof *b->error);
    bool *ok = calloc((size_t)n, sizeof *ok);
    zoo_tensor *all = zoo_tensor_new(4, (int[]){n, height, width, 3});
    if (!b->row || !b->error || !ok || !all) {
        free(ok);
        zoo_tensor_free(all);
        image_batch_free(b);
        return false;
    }
    load_job j = {.paths = paths, .n = n, .height = height, .width = width, .mode = mode,
                  .data = zoo_tensor_data(all), .ok = ok, .error = b->error};
    pthread_mutex_init(&j.lock, NULL);
    int nt = threads < n ? threads : n;
    if (nt > 16)
        nt = 16;
    pthread_t tid[16];
    int started = 0;
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&tid[started], NULL, load_worker, &j) != 0)
            break;
        started++;
    }
    load_worker(&j);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&j.lock);

    /* Compact the loaded images to the first rows, in order. */
    float *d = zoo_tensor_data(all);
    for (int i = 0; i < n; i++) {
        if (!ok[i]) {
            b->row[i] = -1;
            if (!b->error[i])
                b->error[i] = dup_str("out of memory");
            continue;
        }
        if (b->n_ok != i)
            memmove(d + (size_t)b->n_ok * slot, d + (size_t)i * slot,
                    slot * sizeof *d);
        b->row[i] = b->n_ok++;
    }
    free(ok);
    if (b->n_ok == n) {
        b->x = all;
    } else if (b->n_ok > 0) {
        b->x = zoo_tensor_from(4, (int[]){b->n_ok, height, width, 3}, d);
        zoo_tensor_free(all);
        if (!b->x) {
            image_batch_free(b);
            return false;
        }
    } else {
        zoo_tensor_free(all);
    }
    return true;
}

void image_batch_free(image_batch *b)
{
    if (b->error)
        for (int i = 0; i < b->n; i++)
            free(b->error[i]);
    free(b->error);
    free(b->row);
    zoo_tensor_free(b->x);
    *b = (image_batch){0};
}

/* ------------------------------------------------------------------ */
/* Progress                                                            */
/* ------------------------------------------------------------------ */

void progress_start(progress_bar *p, int total, int batch)
{
    *p = (progress_bar){.total = total};
    p->on = total > batch && isatty(STDERR_FILENO);
}

static void progress_draw(progress_bar *p)
{
    enum { WIDTH = 30 };
    int fill = p->total ? (int)((long long)p->done * WIDTH / p->total) : WIDTH;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %d/%d images\033[K", bar, p->done, p->total);
    fflush(stderr);
    p->drawn = true;
}

void progress_set(progress_bar *p, int done)
{
    p->done = done;
    if (p->on)
        progress_draw(p);
}

void progress_hide(progress_bar *p)
{
    if (p->on && p->drawn) {
        fflush(stdout);
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
    }
}

void progress_end(progress_bar *p)
{
    progress_hide(p);
    p->on = false;
}

/* A --model value that names a file rather than a registry model. */
static bool names_a_file(const char *s)
{
    size_t n = strlen(s);
    struct stat st;
    return strchr(s, '/') || (n > 3 && strcasecmp(s + n - 3, ".h5") == 0) ||
           (n > 5 && strcasecmp(s + n - 5, ".hdf5") == 0) ||
           (n > 6 && strcasecmp(s + n - 6, ".keras") == 0) || stat(s, &st) == 0;
}

int tool_find_model(const char *cmd, const char *name, const zoo_model_info **info,
                    zoo_preprocess_mode *mode)
{
    *info = zoo_model_find(name);
    if (!*info) {
        if (names_a_file(name))
            fprintf(stderr, "zoo %s: --model %s: a model file (a fine-tuned full-model "
                    ".h5) is not supported yet; give a registry model name (zoo list "
                    "shows them) and, for your own weights, --weights FILE.h5\n",
                    cmd, name);
        else
            fprintf(stderr, "zoo %s: %s\n", cmd, zoo_last_error());
        return EXIT_USAGE;
    }
    int m = zoo_preprocess_parse((*info)->preprocess);
    if (m < 0) {
        fprintf(stderr, "zoo %s: %s: unknown preprocess mode '%s'\n", cmd,
                (*info)->name, (*info)->preprocess);
        return EXIT_RUN_FAILURE;
    }
    *mode = (zoo_preprocess_mode)m;
    return -1;
}
