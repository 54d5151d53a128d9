#define _GNU_SOURCE /* nftw, mkdtemp */
#include "support.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef ZOO_TEST_FIXTURES_DEFAULT
#define ZOO_TEST_FIXTURES_DEFAULT "fixtures"
#endif

const char *zt_fixtures_dir(void)
{
    const char *env = getenv("ZOO_TEST_FIXTURES");
    return env && *env ? env : ZOO_TEST_FIXTURES_DEFAULT;
}

char *zt_shape_str(int rank, const int *shape, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d",
                                 i ? ", " : "", shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "%s)", rank == 1 ? "," : "");
    return buf;
}

static void index_str(size_t flat, int rank, const int *shape, char *buf,
                      size_t size)
{
    int idx[16];
    for (int i = rank - 1; i >= 0; i--) {
        idx[i] = (int)(flat % (size_t)shape[i]);
        flat /= (size_t)shape[i];
    }
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d",
                                 i ? ", " : "", idx[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

bool zt_allclose(const float *got, const float *want, int rank,
                 const int *shape, double rtol, double atol, char *msg,
                 size_t msg_size)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)shape[i];
    size_t bad = 0, worst = 0;
    double worst_ratio = -1.0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double ratio;
        if (isnan(w) || isnan(g) || isinf(w) || isinf(g)) {
            bool same = (isnan(w) && isnan(g)) || (g == w);
            ratio = same ? 0.0 : INFINITY;
        } else {
            ratio = fabs(g - w) / (atol + rtol * fabs(w));
        }
        if (ratio > 1.0)
            bad++;
        if (ratio > worst_ratio) {
            worst_ratio = ratio;
            worst = i;
        }
    }
    if (bad == 0)
        return true;
    char where[128];
    index_str(worst, rank, shape, where, sizeof where);
    snprintf(msg, msg_size,
             "%zu of %zu values out of tolerance (rtol %g, atol %g); worst "
             "at %s (flat %zu): got %.9g, expected %.9g, |diff| %.3g",
             bad, n, rtol, atol, where, worst, (double)got[worst],
             (double)want[worst], fabs((double)got[worst] - want[worst]));
    return false;
}

bool zt_tensor_close(const zoo_tensor *got, const zoo_tensor *want,
                     double rtol, double atol, char *msg, size_t msg_size)
{
    if (!got || !want) {
        snprintf(msg, msg_size, "%s tensor is NULL", got ? "expected" : "got");
        return false;
    }
    int rg = zoo_tensor_rank(got), rw = zoo_tensor_rank(want);
    const int *sg = zoo_tensor_shape(got), *sw = zoo_tensor_shape(want);
    bool same = rg == rw;
    for (int i = 0; same && i < rg; i++)
        same = sg[i] == sw[i];
    if (!same) {
        char a[96], b[96];
        snprintf(msg, msg_size, "shape %s, expected %s",
                 zt_shape_str(rg, sg, a, sizeof a),
                 zt_shape_str(rw, sw, b, sizeof b));
        return false;
    }
    return zt_allclose(zoo_tensor_cdata(got), zoo_tensor_cdata(want), rw, sw,
                       rtol, atol, msg, msg_size);
}

zoo_tensor *zt_tensor_or_die(int rank, const int *shape, const float *data)
{
    zoo_tensor *t = data ? zoo_tensor_from(rank, shape, data)
                         : zoo_tensor_new(rank, shape);
    cr_assert(t != NULL, "cannot make a tensor: %s", zoo_last_error());
    return t;
}

void zt_fill_uniform(zoo_tensor *t, unsigned long long seed, float lo,
                     float hi)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    float *d = zoo_tensor_data(t);
    for (size_t i = 0; i < zoo_tensor_size(t); i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u = (double)(s >> 11) / 9007199254740992.0;
        d[i] = (float)(lo + (hi - lo) * u);
    }
}

zoo_tensor *zt_run_layer_or_die(zoo_graph *g, zoo_layer *layer,
                                const zoo_tensor *x, const zt_weight *weights,
                                int n_weights)
{
    cr_assert(g != NULL && layer != NULL, "layer construction failed: %s",
              zoo_last_error());
    int rank = zoo_tensor_rank(x);
    zoo_sym *in = zoo_input(g, rank - 1, zoo_tensor_shape(x) + 1, NULL);
    zoo_sym *out = zoo_apply(layer, in);
    cr_assert(out != NULL, "building Input -> %s failed: %s",
              zoo_layer_name(layer), zoo_last_error());
    zoo_model *m = zoo_model_new(&in, 1, &out, 1, NULL);
    cr_assert(m != NULL, "zoo_model_new failed: %s", zoo_last_error());
    if (n_weights > 0) {
        cr_assert_eq(zoo_layer_weight_count(layer), n_weights,
                     "%s has %d weights, the test gives %d",
                     zoo_layer_name(layer), zoo_layer_weight_count(layer),
                     n_weights);
        for (int i = 0; i < n_weights; i++) {
            zoo_tensor *w = zoo_layer_weight(layer, i);
            cr_assert(w != NULL, "weight %d is NULL", i);
            cr_assert_eq(zoo_tensor_size(w), weights[i].n,
                         "%s weight %d (%s) has %zu values, the test gives %zu",
                         zoo_layer_name(layer), i,
                         zoo_layer_weight_name(layer, i), zoo_tensor_size(w),
                         weights[i].n);
            memcpy(zoo_tensor_data(w), weights[i].data,
                   weights[i].n * sizeof(float));
        }
    }
    zoo_tensor *y = NULL;
    zoo_tensor *xs[1] = {(zoo_tensor *)x};
    zoo_status st = zoo_model_predict(m, xs, 1, &y, 1, NULL);
    cr_assert(st == ZOO_OK && y != NULL, "predict failed (%s): %s",
              zoo_status_name(st), zoo_last_error());
    zoo_model_free(m);
    return y;
}

static const char *tmp_base(char *buf, size_t size)
{
    const char *env = getenv("ZOO_TEST_TMPDIR");
    if (env && *env)
        return env;
#ifdef ZOO_TEST_TMPDIR_DEFAULT
    snprintf(buf, size, "%s", ZOO_TEST_TMPDIR_DEFAULT);
    if (mkdir(buf, 0777) == 0 || errno == EEXIST)
        return buf;
#else
    (void)buf;
    (void)size;
#endif
    env = getenv("TMPDIR");
    return env && *env ? env : "/tmp";
}

char *zt_tmpdir_or_die(void)
{
    char base[1024];
    const char *b = tmp_base(base, sizeof base);
    char *path = zt_path(b, "zoo-test-XXXXXX");
    cr_assert(mkdtemp(path) != NULL, "mkdtemp(%s) failed: %s", path,
              strerror(errno));
    return path;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void zt_rmtree(const char *path)
{
    if (path)
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *zt_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    cr_assert(p != NULL);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

bool zt_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

int zt_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

char *zt_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4097 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *nb = realloc(buf, cap);
            cr_assert_not_null(nb, "out of memory reading %s", path);
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

char *zt_read_text_or_die(const char *path)
{
    char *t = zt_read_text(path);
    cr_assert_not_null(t, "cannot read %s", path);
    return t;
}

static char *make_cases_dir(const char *stem, char *why, size_t n)
{
    char base[1024];
    snprintf(base, sizeof base, "%s", ZOO_TEST_TMPDIR_DEFAULT);
    if (mkdir(base, 0777) != 0 && errno != EEXIST)
        snprintf(base, sizeof base, "%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    char *dir = malloc(strlen(base) + strlen(stem) + 16);
    if (!dir) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    sprintf(dir, "%s/%s-XXXXXX", base, stem);
    if (!mkdtemp(dir)) {
        snprintf(why, n, "mkdtemp(%s): %s", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    return dir;
}

void zt_generate_cases_once(const char *script, const char *extra, const char *stem,
                            const char *env)
{
    char why[2048] = "", env_error[128];
    snprintf(env_error, sizeof env_error, "%s_ERROR", env);
    char *dir = make_cases_dir(stem, why, sizeof why);
    if (dir) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %s%s%s > '%s/generator.log' 2>&1",
                 ZOO_TEST_PYTHON, script, dir, extra ? "'" : "", extra ? extra : "",
                 extra ? "'" : "", dir);
        int rc = system(cmd);
        if (rc == 0) {
            setenv(env, dir, 1);
            free(dir);
            return;
        }
        char *log_path = zt_path(dir, "generator.log");
        char *log = zt_read_text(log_path);
        snprintf(why, sizeof why, "%.300s failed (status %d): %.1400s", script, rc,
                 log ? log : "(no log)");
        free(log);
        free(log_path);
        free(dir);
    }
    setenv(env_error, why, 1);
}

const char *zt_cases_dir(const char *env)
{
    char env_error[128];
    snprintf(env_error, sizeof env_error, "%s_ERROR", env);
    const char *err = getenv(env_error);
    cr_assert(err == NULL, "generating the test cases failed: %s", err);
    const char *d = getenv(env);
    cr_assert(d && *d, "%s is not set (the PRE_ALL hook did not run)", env);
    return d;
}

void zt_generated_cases_cleanup(const char *env)
{
    const char *d = getenv(env);
    if (d && *d && !getenv("ZOO_TEST_KEEP"))
        zt_rmtree(d);
}

bool zt_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

void zt_mkdir_or_die(const char *path)
{
    cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path,
              strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Running programs                                                    */
/* ------------------------------------------------------------------ */

static char *capture_path(const zt_run_opts *o, const char *stream)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s", o->io_prefix ? o->io_prefix : "", stream);
    return zt_path(o->io_dir, name);
}

/* In the child: moves fd onto target; false if it cannot. */
static bool redirect(int fd, int target)
{
    if (fd < 0 || dup2(fd, target) < 0)
        return false;
    if (fd > 2)
        close(fd);
    return true;
}

zt_child zt_run_start(const char *const *argv, const zt_run_opts *o)
{
    cr_assert(o != NULL && o->io_dir != NULL, "zt_run needs opts with io_dir");
    zt_child c = {
        .out_path = capture_path(o, "stdout"),
        .err_path = capture_path(o, "stderr"),
        .remove_io = o->remove_io,
        .allow_killed = o->allow_killed,
    };
    size_t n = strlen(argv[0]) + (argv[1] ? strlen(argv[1]) + 1 : 0) + 1;
    c.what = malloc(n);
    cr_assert_not_null(c.what);
    snprintf(c.what, n, "%s%s%s", argv[0], argv[1] ? " " : "", argv[1] ? argv[1] : "");
    fflush(NULL);
    c.pid = fork();
    cr_assert_neq(c.pid, -1, "fork: %s", strerror(errno));
    if (c.pid == 0) {
        if (o->stdin_null && !redirect(open("/dev/null", O_RDONLY), 0))
            _exit(127);
        if (!redirect(open(c.out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), 1) ||
            !redirect(open(c.err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), 2))
            _exit(127);
        for (int i = 0; o->env && o->env[i]; i += 2)
            setenv(o->env[i], o->env[i + 1], 1);
        if (o->cwd && chdir(o->cwd) != 0)
            _exit(127);
        if (o->fsize_limit > 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {(rlim_t)o->fsize_limit, (rlim_t)o->fsize_limit};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        if (o->limit_s > 0)
            alarm(o->limit_s);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return c;
}

zt_run_result zt_run_wait(zt_child *c)
{
    int st;
    cr_assert_eq(waitpid(c->pid, &st, 0), c->pid, "waitpid: %s", strerror(errno));
    char *out = zt_read_text(c->out_path), *err = zt_read_text(c->err_path);
    zt_run_result r = {
        .status = WIFEXITED(st) ? WEXITSTATUS(st) : -1,
        .out = out ? out : strdup(""),
        .err = err ? err : strdup(""),
    };
    cr_assert_neq(r.status, 127, "could not run %s: %s", c->what, r.err);
    cr_assert(r.status != -1 || c->allow_killed,
              "%s was killed (signal %d): it blocked, hung or crashed; stderr: %s",
              c->what, WIFSIGNALED(st) ? WTERMSIG(st) : 0, r.err);
    if (c->remove_io) {
        remove(c->out_path);
        remove(c->err_path);
    }
    free(c->what);
    free(c->out_path);
    free(c->err_path);
    *c = (zt_child){0};
    return r;
}

zt_run_result zt_run(const char *const *argv, const zt_run_opts *o)
{
    zt_child c = zt_run_start(argv, o);
    return zt_run_wait(&c);
}

zt_child zt_run_zoo_start(const char *const *args, const zt_run_opts *o)
{
    int n = 0;
    while (args[n])
        n++;
    const char **argv = malloc((size_t)(n + 2) * sizeof *argv);
    cr_assert_not_null(argv);
    argv[0] = ZOO_TEST_ZOO_BIN;
    memcpy(argv + 1, args, (size_t)n * sizeof *argv);
    argv[n + 1] = NULL;
    zt_child c = zt_run_start(argv, o);
    free(argv);
    return c;
}

zt_run_result zt_run_zoo(const char *const *args, const zt_run_opts *o)
{
    zt_child c = zt_run_zoo_start(args, o);
    return zt_run_wait(&c);
}

void zt_run_free(zt_run_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* ------------------------------------------------------------------ */
/* Models                                                              */
/* ------------------------------------------------------------------ */

zoo_tensor *zt_weight_named(zoo_layer *l, const char *name)
{
    for (int i = 0; i < zoo_layer_weight_count(l); i++)
        if (strcmp(zoo_layer_weight_name(l, i), name) == 0)
            return zoo_layer_weight(l, i);
    return NULL;
}

zoo_tensor *zt_weight_named_or_die(zoo_layer *l, const char *name)
{
    zoo_tensor *w = zt_weight_named(l, name);
    cr_assert_not_null(w, "layer %s has no weight %s", zoo_layer_name(l), name);
    return w;
}

zoo_tensor *zt_predict_or_die(zoo_model *m, zoo_tensor *x, const zoo_predict_opts *opts)
{
    zoo_tensor *y = NULL;
    cr_assert_eq(zoo_model_predict(m, &x, 1, &y, 1, opts), ZOO_OK, "%s",
                 zoo_last_error());
    return y;
}

/* The output of `layer` on x (NULL with the reason in why). */
static zoo_tensor *predict_cut(zoo_model *m, const char *layer, zoo_tensor *x,
                               char *why, size_t why_size)
{
    zoo_layer *l = zoo_model_get_layer(m, layer);
    if (!l) {
        snprintf(why, why_size, "the model has no layer %s", layer);
        return NULL;
    }
    zoo_sym *in = zoo_model_input(m, 0);
    zoo_sym *out = zoo_layer_output(l, 0);
    zoo_model *cut = out ? zoo_model_new(&in, 1, &out, 1, "calibration") : NULL;
    zoo_tensor *y = NULL;
    zoo_predict_opts o = {.threads = 1};
    if (!cut || zoo_model_predict(cut, &x, 1, &y, 1, &o) != ZOO_OK) {
        snprintf(why, why_size, "predicting up to %s: %s", layer, zoo_last_error());
        y = NULL;
    }
    zoo_model_free(cut);
    return y;
}

zoo_tensor *zt_predict_cut_or_die(zoo_model *m, const char *layer, zoo_tensor *x)
{
    char why[1024];
    zoo_tensor *y = predict_cut(m, layer, x, why, sizeof why);
    cr_assert_not_null(y, "%s", why);
    return y;
}

bool zt_mobilenet_bn_input_stats(zoo_model *m, zoo_layer *bn, zoo_tensor *x,
                                 double var_floor, zt_channel_stats *st,
                                 char *why, size_t why_size)
{
    *st = (zt_channel_stats){0};
    const char *name = zoo_layer_name(bn);
    size_t len = strlen(name);
    if (len <= 3 || strcmp(name + len - 3, "_bn") != 0) {
        snprintf(why, why_size, "BatchNormalization %s is not named after its "
                 "input layer (X_bn)", name);
        return false;
    }
    char input[128];
    snprintf(input, sizeof input, "%.*s", (int)(len - 3), name);
    zoo_tensor *y = predict_cut(m, input, x, why, why_size);
    if (!y)
        return false;
    int ch = zoo_tensor_shape(y)[zoo_tensor_rank(y) - 1];
    size_t n = zoo_tensor_size(y) / (size_t)ch;
    st->channels = ch;
    st->mean = malloc((size_t)ch * sizeof *st->mean);
    st->var = malloc((size_t)ch * sizeof *st->var);
    if (!st->mean || !st->var) {
        zt_channel_stats_free(st);
        zoo_tensor_free(y);
        snprintf(why, why_size, "out of memory");
        return false;
    }
    const float *v = zoo_tensor_cdata(y);
    for (int c = 0; c < ch; c++) {
        double s = 0, s2 = 0;
        for (size_t k = 0; k < n; k++) {
            double t = v[k * (size_t)ch + (size_t)c];
            s += t;
            s2 += t * t;
        }
        double mu = s / (double)n, var = s2 / (double)n - mu * mu;
        st->mean[c] = mu;
        st->var[c] = var > var_floor ? var : var_floor;
    }
    zoo_tensor_free(y);
    return true;
}

zt_channel_stats zt_mobilenet_bn_input_stats_or_die(zoo_model *m, zoo_layer *bn,
                                                    zoo_tensor *x, double var_floor)
{
    zt_channel_stats st;
    char why[1024];
    cr_assert(zt_mobilenet_bn_input_stats(m, bn, x, var_floor, &st, why, sizeof why),
              "%s", why);
    return st;
}

void zt_channel_stats_free(zt_channel_stats *st)
{
    free(st->mean);
    free(st->var);
    *st = (zt_channel_stats){0};
}

bool zt_calibrate_mobilenet_bn(zoo_model *m, zoo_tensor *x, double var_floor,
                               char *why, size_t why_size)
{
    for (int i = 0; i < zoo_model_layer_count(m); i++) {
        zoo_layer *bn = zoo_model_layer(m, i);
        if (strcmp(zoo_layer_class(bn), "BatchNormalization") != 0)
            continue;
        zoo_tensor *tm = zt_weight_named(bn, "moving_mean");
        zoo_tensor *tv = zt_weight_named(bn, "moving_variance");
        if (!tm || !tv) {
            snprintf(why, why_size, "%s lacks its moving statistics", zoo_layer_name(bn));
            return false;
        }
        zt_channel_stats st;
        if (!zt_mobilenet_bn_input_stats(m, bn, x, var_floor, &st, why, why_size))
            return false;
        if ((size_t)st.channels != zoo_tensor_size(tm) ||
            (size_t)st.channels != zoo_tensor_size(tv)) {
            snprintf(why, why_size, "%s has %zu channels, its input %d",
                     zoo_layer_name(bn), zoo_tensor_size(tm), st.channels);
            zt_channel_stats_free(&st);
            return false;
        }
        float *mean = zoo_tensor_data(tm), *var = zoo_tensor_data(tv);
        for (int c = 0; c < st.channels; c++) {
            mean[c] = (float)st.mean[c];
            var[c] = (float)st.var[c];
        }
        zt_channel_stats_free(&st);
    }
    return true;
}

void zt_calibrate_mobilenet_bn_or_die(zoo_model *m, zoo_tensor *x, double var_floor)
{
    char why[1024];
    cr_assert(zt_calibrate_mobilenet_bn(m, x, var_floor, why, sizeof why), "%s", why);
}
