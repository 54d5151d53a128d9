#define _GNU_SOURCE /* nftw, mkdtemp */
#include "support.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
