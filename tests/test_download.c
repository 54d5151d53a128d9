/*
 * The downloader (zoo_get_file and friends) and the `zoo download` /
 * `zoo cache` tools against a real HTTP server on 127.0.0.1:
 * tests/http_server.py, started per test with the faults that test needs
 * (404, 5xx, truncation, stalls, resets, Range on or off). Each test gets
 * its own ZOO_HOME, KERAS_HOME and server; ZOO_MIRROR points at the
 * server, so every registry-style URL also exercises the mirror mapping.
 * The server logs each request, which is how "no request at all", "one
 * download for two processes" and "a Range request was made" are checked.
 * Hashes come from the server's manifest (Python's hashlib), not from zoo.
 *
 * After every test the cache holds either the verified file or nothing
 * under its final name, and no lock file.
 */
#define _GNU_SOURCE
#include "support.h"

#include <criterion/criterion.h>
#include <zoo/zoo.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GCS "https://storage.googleapis.com"
#define BLOB_PATH "/tensorflow/keras-applications/test/blob.h5"
#define BLOB_URL GCS BLOB_PATH
#define BLOB_NAME "blob.h5"
#define BLOB_SIZE (256 * 1024)
#define BLOB_SEED 7u
#define MOBILENET_PATH "/tensorflow/keras-applications/mobilenet/mobilenet_1_0_224_tf.h5"
#define MOBILENET_NAME "mobilenet_1_0_224_tf.h5"
#define VGG16_PATH "/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5"
#define VGG16_NAME "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
#define LABELS_PATH "/download.tensorflow.org/data/imagenet_class_index.json"

/* ------------------------------------------------------------------ */
/* Fixture: directories, environment, the server                       */
/* ------------------------------------------------------------------ */

typedef struct {
    char *dir, *root, *home, *keras, *log, *manifest, *port_file, *server_err;
    pid_t pid;
    int port;
    char mirror[64];
} fixture;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mkdirs_or_die(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0777);
            *p = '/';
        }
    cr_assert(mkdir(buf, 0777) == 0 || errno == EEXIST, "mkdir %s: %s", buf,
              strerror(errno));
}

/* A fresh test directory with root/ (served), home/ (ZOO_HOME, not yet
 * created) and keras/ (KERAS_HOME, empty); the environment points there,
 * with no proxy and no ZOO_TIMEOUT / ZOO_MIRROR of the caller's. */
static fixture *fx_new(void)
{
    fixture *fx = calloc(1, sizeof *fx);
    cr_assert_not_null(fx);
    fx->dir = zt_tmpdir_or_die();
    fx->root = zt_path(fx->dir, "root");
    fx->home = zt_path(fx->dir, "home");
    fx->keras = zt_path(fx->dir, "keras");
    fx->log = zt_path(fx->dir, "server.log");
    fx->manifest = zt_path(fx->dir, "manifest");
    fx->port_file = zt_path(fx->dir, "port");
    fx->server_err = zt_path(fx->dir, "server.err");
    mkdirs_or_die(fx->root);
    mkdirs_or_die(fx->keras);
    setenv("ZOO_HOME", fx->home, 1);
    setenv("KERAS_HOME", fx->keras, 1);
    unsetenv("ZOO_MIRROR");
    unsetenv("ZOO_TIMEOUT");
    const char *proxies[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                             "ALL_PROXY", "all_proxy"};
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++)
        unsetenv(proxies[i]);
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    return fx;
}

/* Deterministic content: byte i of a file made with `seed`. */
static unsigned char content_byte(size_t i, unsigned seed)
{
    uint64_t x = (uint64_t)(i / 8 + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (unsigned char)(x >> (8 * (i % 8)));
}

static unsigned char *content(size_t size, unsigned seed)
{
    unsigned char *b = malloc(size ? size : 1);
    cr_assert_not_null(b);
    for (size_t i = 0; i < size; i++)
        b[i] = content_byte(i, seed);
    return b;
}

static void write_content(const char *path, size_t size, unsigned seed)
{
    unsigned char *b = content(size, seed);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdirs_or_die(dir);
    }
    cr_assert(zt_write_file(path, b, size), "cannot write %s", path);
    free(b);
}

/* Serves `size` bytes made with `seed` at URL path `urlpath`. */
static void fx_put(fixture *fx, const char *urlpath, size_t size, unsigned seed)
{
    char *path = zt_path(fx->root, urlpath + 1);
    write_content(path, size, seed);
    free(path);
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* True when `path` holds exactly `size` bytes made with `seed`. */
static bool has_content(const char *path, size_t size, unsigned seed)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    unsigned char *want = content(size, seed), *got = malloc(size + 1);
    size_t n = fread(got, 1, size + 1, f);
    fclose(f);
    bool same = n == size && memcmp(got, want, size) == 0;
    free(want);
    free(got);
    return same;
}

/* The file's text, or "" when it does not exist (yet). */
static char *read_text(const char *path)
{
    char *t = zt_read_text(path);
    return t ? t : strdup("");
}

/* Starts the server with extra arguments (NULL-terminated), e.g.
 * "--rule", BLOB_PATH "=404". Waits for its port. */
static void fx_start_args(fixture *fx, const char *const *extra)
{
    unlink(fx->port_file);
    const char *argv[32];
    int n = 0;
    argv[n++] = ZOO_TEST_PYTHON;
    argv[n++] = ZOO_TEST_SOURCE_DIR "/http_server.py";
    argv[n++] = "--root";
    argv[n++] = fx->root;
    argv[n++] = "--port-file";
    argv[n++] = fx->port_file;
    argv[n++] = "--log";
    argv[n++] = fx->log;
    argv[n++] = "--manifest";
    argv[n++] = fx->manifest;
    for (int i = 0; extra && extra[i]; i++) {
        cr_assert_lt(n, 30);
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        if (getppid() != parent)
            _exit(1);
        int null = open("/dev/null", O_RDWR);
        int err = open(fx->server_err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(null, 0);
        dup2(null, 1);
        dup2(err, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    fx->pid = pid;
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(fx->port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &fx->port);
            fclose(f);
            cr_assert_eq(ok, 1, "bad port file");
            snprintf(fx->mirror, sizeof fx->mirror, "http://127.0.0.1:%d", fx->port);
            setenv("ZOO_MIRROR", fx->mirror, 1);
            return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char *err = read_text(fx->server_err);
            cr_assert_fail("the test server exited: %s", err);
        }
        usleep(10000);
    }
    cr_assert_fail("the test server did not start within 10 s");
}

#define fx_start(fx, ...) fx_start_args((fx), (const char *const[]){__VA_ARGS__, NULL})

static void fx_stop(fixture *fx)
{
    if (fx->pid > 0) {
        kill(fx->pid, SIGKILL);
        waitpid(fx->pid, NULL, 0);
        fx->pid = 0;
    }
}

static void fx_free(fixture *fx)
{
    fx_stop(fx);
    zt_rmtree(fx->dir);
    free(fx->dir);
    free(fx->root);
    free(fx->home);
    free(fx->keras);
    free(fx->log);
    free(fx->manifest);
    free(fx->port_file);
    free(fx->server_err);
    free(fx);
}

/* Lines of the server log containing `needle` (all lines if NULL). */
static int log_count(const fixture *fx, const char *needle)
{
    char *text = read_text(fx->log);
    int n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (!needle || strstr(line, needle))
            n++;
    free(text);
    return n;
}

/* The MD5 and SHA-256 Python's hashlib gives for a served path. */
static void manifest_hash(const fixture *fx, const char *urlpath, char md5[33],
                          char sha[65])
{
    FILE *f = fopen(fx->manifest, "r");
    cr_assert_not_null(f, "no manifest");
    char m[33], s[65], p[1024];
    while (fscanf(f, "%32s %64s %1023s", m, s, p) == 3)
        if (strcmp(p, urlpath) == 0) {
            fclose(f);
            memcpy(md5, m, 33);
            if (sha)
                memcpy(sha, s, 65);
            return;
        }
    fclose(f);
    cr_assert_fail("%s is not in the manifest", urlpath);
}

static char *home_path(const fixture *fx, const char *name) { return zt_path(fx->home, name); }

/* The invariant after any run: NAME is absent or holds the right bytes,
 * and no lock file is left. */
static void expect_cache_sane(const fixture *fx, const char *name, size_t size,
                              unsigned seed)
{
    char *final = home_path(fx, name);
    char lock[4200];
    snprintf(lock, sizeof lock, "%s.lock", final);
    cr_expect(!zt_exists(final) || has_content(final, size, seed),
              "%s exists with the wrong content", final);
    cr_expect(!zt_exists(lock), "%s was left behind", lock);
    free(final);
}

static void expect_has(const char *text, const char *needle, const char *what)
{
    cr_expect(text && strstr(text, needle) != NULL, "%s should mention '%s': %s", what,
              needle, text ? text : "(null)");
}

/* A port nothing listens on. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

/* ------------------------------------------------------------------ */
/* Running the tool                                                    */
/* ------------------------------------------------------------------ */

/* Starts `zoo ARGS...` (NULL-terminated) with stdout and stderr captured in
 * fx->dir/.TAG.stdout and .TAG.stderr (removed once read), writes past
 * fsize_limit bytes failing when it is > 0. */
static zt_child spawn_zoo(const fixture *fx, const char *tag, const char *const *args,
                          long fsize_limit)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, ".%s.", tag);
    return zt_run_zoo_start(args, &(zt_run_opts){.io_dir = fx->dir, .io_prefix = prefix,
                                                 .remove_io = true,
                                                 .fsize_limit = fsize_limit,
                                                 .allow_killed = true});
}

static zt_run_result run_zoo_limited(const fixture *fx, const char *const *args,
                                     long fsize_limit)
{
    zt_child c = spawn_zoo(fx, "run", args, fsize_limit);
    return zt_run_wait(&c);
}

#define RUN_ZOO(fx, ...) run_zoo_limited((fx), (const char *const[]){__VA_ARGS__, NULL}, 0)

/* ------------------------------------------------------------------ */
/* The library: success, cache, Keras cache                            */
/* ------------------------------------------------------------------ */

Test(download, fetches_verifies_and_caches)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);

    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    char *want = home_path(fx, BLOB_NAME);
    cr_expect_str_eq(path, want);
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED), "wrong bytes in %s", path);
    /* The mirror mapped the URL to exactly http://127.0.0.1:PORT/tensorflow/. */
    cr_expect_eq(log_count(fx, "GET " BLOB_PATH " range=- status=200"), 1);
    cr_expect_eq(log_count(fx, NULL), 1);
    cr_expect_eq(zt_dir_entries(fx->home), 1, "only the file: no .part, no .lock");
    expect_cache_sane(fx, BLOB_NAME, BLOB_SIZE, BLOB_SEED);
    free(path);
    free(want);
    fx_free(fx);
}

Test(download, cached_file_is_used_without_any_request)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    char *a = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(a, "%s", zoo_last_error());
    char *b = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(b, "%s", zoo_last_error());
    cr_expect_str_eq(a, b);
    cr_expect_eq(log_count(fx, NULL), 1, "the second call made a request");
    /* Not even a connection: with the server gone, and the mirror at a
     * closed port, the cached file is still returned. */
    fx_stop(fx);
    char mirror[64];
    snprintf(mirror, sizeof mirror, "http://127.0.0.1:%d/", closed_port());
    setenv("ZOO_MIRROR", mirror, 1);
    char *c = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_expect_not_null(c, "offline, the cached file should be used: %s", zoo_last_error());
    /* Without a hash (as for MobileNet) the cached file is used too. */
    char *d = zoo_get_file(BLOB_URL, NULL, NULL, NULL);
    cr_expect_not_null(d, "%s", zoo_last_error());
    cr_expect_eq(log_count(fx, NULL), 1);
    free(a);
    free(b);
    free(c);
    free(d);
    fx_free(fx);
}

Test(download, keras_cache_copy_is_reused)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    char *kpath = zt_path(fx->keras, "models/" BLOB_NAME);
    write_content(kpath, BLOB_SIZE, BLOB_SEED);

    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect_str_eq(path, kpath, "the Keras copy should be used where it is");
    cr_expect_eq(log_count(fx, NULL), 0, "no request for a file Keras has");
    cr_expect(!zt_exists(fx->home), "nothing written to ZOO_HOME");
    free(path);

    /* A Keras copy with the wrong bytes is ignored (and left alone). */
    write_content(kpath, BLOB_SIZE, BLOB_SEED + 1);
    path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    char *want = home_path(fx, BLOB_NAME);
    cr_expect_str_eq(path, want);
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    cr_expect(has_content(kpath, BLOB_SIZE, BLOB_SEED + 1), "the Keras cache was touched");
    cr_expect_eq(log_count(fx, NULL), 1);
    free(path);
    free(want);
    free(kpath);
    fx_free(fx);
}

Test(download, stale_file_with_wrong_hash_is_replaced)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    char *final = home_path(fx, BLOB_NAME);
    write_content(final, 1000, 99);
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(final, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(log_count(fx, NULL), 1);
    free(path);

    /* And when the fresh copy cannot be had, the bad one is gone anyway. */
    write_content(final, 1000, 99);
    fx_stop(fx);
    fx_start(fx, "--rule", BLOB_PATH "=404");
    cr_expect_null(zoo_get_file(BLOB_URL, md5, NULL, NULL));
    cr_expect(!zt_exists(final), "a file with the wrong hash stayed under the final name");
    free(final);
    fx_free(fx);
}

Test(download, sha256_and_named_files)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33], sha[65];
    manifest_hash(fx, BLOB_PATH, md5, sha);
    /* 64 hex digits: SHA-256, as Keras's hash_algorithm="auto" reads it;
     * upper case is accepted. */
    for (char *c = sha; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c);
    char *path = zoo_get_file(BLOB_URL, sha, "renamed.bin", NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    char *want = home_path(fx, "renamed.bin");
    cr_expect_str_eq(path, want);
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    free(path);
    free(want);
    fx_free(fx);
}

Test(download, no_hash_is_accepted_as_downloaded)
{
    fixture *fx = fx_new();
    fx_put(fx, MOBILENET_PATH, 5000, 3);
    fx_start(fx, "--rule", "/unused=404");
    const zoo_model_info *info = zoo_model_find("mobilenet");
    cr_assert_not_null(info);
    cr_assert_null(info->top.hash, "the registry has no MobileNet hash (Keras has none)");
    char *path = zoo_imagenet_weights(info, false, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    char *want = home_path(fx, MOBILENET_NAME);
    cr_expect_str_eq(path, want);
    cr_expect(has_content(path, 5000, 3));
    cr_expect_eq(log_count(fx, "GET " MOBILENET_PATH " "), 1);
    free(path);
    free(want);
    fx_free(fx);
}

Test(download, labels_use_keras_url_and_md5)
{
    fixture *fx = fx_new();
    fx_put(fx, LABELS_PATH, 100, 5); /* not the real file: its MD5 differs */
    fx_start(fx, "--rule", "/unused=404");
    char *path = zoo_imagenet_labels(NULL);
    cr_expect_null(path);
    expect_has(zoo_last_error(), "hash mismatch", "the error");
    expect_has(zoo_last_error(), "c2c37ea517e94d9795004a39431a14cb", "the error");
    cr_expect_eq(log_count(fx, "GET " LABELS_PATH " "), 1,
                 "the class index URL, mirrored");
    char *final = home_path(fx, "imagenet_class_index.json");
    cr_expect(!zt_exists(final));
    free(final);
    free(path);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* HTTP failures                                                       */
/* ------------------------------------------------------------------ */

Test(download, http_404_names_url_and_status)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", BLOB_PATH "=404");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    cr_expect_null(zoo_get_file(BLOB_URL, md5, NULL, NULL));
    cr_expect_eq(zoo_last_status(), ZOO_ERR_NETWORK);
    char url[256];
    snprintf(url, sizeof url, "%s" BLOB_PATH, fx->mirror);
    expect_has(zoo_last_error(), url, "the error");
    expect_has(zoo_last_error(), "404", "the error");
    cr_expect_eq(log_count(fx, NULL), 1, "a 404 is not retried");
    cr_expect_eq(zt_dir_entries(fx->home), 0, "nothing cached, no .part, no .lock");
    fx_free(fx);
}

Test(download, one_500_then_success)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", BLOB_PATH "=status:500:1");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(log_count(fx, "status=500"), 1);
    cr_expect_eq(log_count(fx, "status=200"), 1);
    free(path);
    expect_cache_sane(fx, BLOB_NAME, BLOB_SIZE, BLOB_SEED);
    fx_free(fx);
}

Test(download, two_5xx_in_a_row_then_success)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", BLOB_PATH "=status:503:2");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(log_count(fx, "status=503"), 2);
    cr_expect_eq(log_count(fx, NULL), 3);
    free(path);
    expect_cache_sane(fx, BLOB_NAME, BLOB_SIZE, BLOB_SEED);
    fx_free(fx);
}

Test(download, persistent_5xx_gives_up_naming_the_status)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", BLOB_PATH "=status:502:100");
    setenv("ZOO_TIMEOUT", "2", 1);
    double t0 = now_s();
    cr_expect_null(zoo_get_file(BLOB_URL, NULL, NULL, NULL));
    cr_expect_lt(now_s() - t0, 10.0);
    expect_has(zoo_last_error(), "HTTP 502", "the error");
    int n = log_count(fx, NULL);
    cr_expect(n >= 3 && n <= 5, "%d attempts", n);
    cr_expect_eq(zt_dir_entries(fx->home), 0);
    fx_free(fx);
}

Test(download, truncated_body_leaves_no_file)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    /* Every answer stops at byte 1000 of a longer Content-Length, and the
     * server takes no Range: nothing can be resumed. */
    fx_start(fx, "--rule", BLOB_PATH "=truncate:1000,norange");
    setenv("ZOO_TIMEOUT", "2", 1);
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    double t0 = now_s();
    cr_expect_null(zoo_get_file(BLOB_URL, md5, NULL, NULL));
    cr_expect_lt(now_s() - t0, 10.0);
    char detail[64];
    snprintf(detail, sizeof detail, "1000 of %d bytes", BLOB_SIZE);
    expect_has(zoo_last_error(), detail, "the error");
    cr_expect_eq(zt_dir_entries(fx->home), 0, "no final file, no .part (not resumable)");
    fx_free(fx);
}

Test(download, truncated_body_is_resumed)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", BLOB_PATH "=truncate-once:100000");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(log_count(fx, "range=bytes=100000- status=206"), 1,
                 "the second request should continue at byte 100000");
    free(path);
    fx_free(fx);
}

Test(download, connection_reset_is_survived)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", BLOB_PATH "=reset-once:50000");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(log_count(fx, NULL), 2);
    free(path);
    fx_free(fx);
}

Test(download, wrong_hash_saves_nothing)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    const char *bad = "0123456789abcdef0123456789abcdef";
    cr_expect_null(zoo_get_file(BLOB_URL, bad, NULL, NULL));
    expect_has(zoo_last_error(), "hash mismatch", "the error");
    expect_has(zoo_last_error(), bad, "the error");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    expect_has(zoo_last_error(), md5, "the error (the hash computed)");
    cr_expect_eq(zt_dir_entries(fx->home), 0, "nothing under the final name, no .part");
    cr_expect_eq(log_count(fx, NULL), 1);
    fx_free(fx);
}

Test(download, stalled_server_is_abandoned_and_part_resumed_later)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", BLOB_PATH "=stall:60000");
    setenv("ZOO_TIMEOUT", "2", 1);
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    double t0 = now_s();
    cr_expect_null(zoo_get_file(BLOB_URL, md5, NULL, NULL));
    double took = now_s() - t0;
    cr_expect(took >= 1.5 && took < 3 * 2 + 2, "gave up after %.1f s", took);
    expect_has(zoo_last_error(), "no data for 2 s", "the error");
    char *final = home_path(fx, BLOB_NAME);
    char part[4200];
    snprintf(part, sizeof part, "%s.part", final);
    cr_expect(!zt_exists(final));
    /* The server takes ranges: the bytes before the stall are kept. */
    cr_expect_eq(file_size(part), 60000, ".part holds %lld bytes", file_size(part));
    expect_has(zoo_last_error(), part, "the error");

    /* A healthy server later: the download continues at byte 60000. */
    fx_stop(fx);
    fx_start(fx, "--rule", "/unused=404");
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(log_count(fx, "range=bytes=60000- status=206"), 1);
    cr_expect(!zt_exists(part));
    free(path);
    free(final);
    expect_cache_sane(fx, BLOB_NAME, BLOB_SIZE, BLOB_SEED);
    fx_free(fx);
}

Test(download, stall_before_any_byte)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", BLOB_PATH "=stall:0,norange");
    setenv("ZOO_TIMEOUT", "1", 1);
    double t0 = now_s();
    cr_expect_null(zoo_get_file(BLOB_URL, NULL, NULL, NULL));
    double took = now_s() - t0;
    cr_expect(took < 3 * 1 + 2, "gave up after %.1f s", took);
    expect_has(zoo_last_error(), "no data for 1 s", "the error");
    cr_expect_eq(zt_dir_entries(fx->home), 0);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* Resume of a .part left by an earlier run                            */
/* ------------------------------------------------------------------ */

static void put_part(const fixture *fx, size_t size, unsigned seed)
{
    mkdirs_or_die(fx->home);
    char *final = home_path(fx, BLOB_NAME);
    char part[4200];
    snprintf(part, sizeof part, "%s.part", final);
    write_content(part, size, seed);
    free(final);
}

Test(download, partial_file_is_resumed_with_range)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    put_part(fx, 100000, BLOB_SEED); /* the file's first 100000 bytes */
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(log_count(fx, "GET " BLOB_PATH " range=bytes=100000- status=206"), 1);
    cr_expect_eq(log_count(fx, NULL), 1);
    cr_expect_eq(zt_dir_entries(fx->home), 1);
    free(path);
    fx_free(fx);
}

Test(download, server_ignoring_range_restarts_from_zero)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--no-range");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    put_part(fx, 100000, BLOB_SEED);
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED), "200 to a Range request: "
              "the body must replace the .part, not be appended");
    cr_expect_eq(log_count(fx, "range=bytes=100000- status=200"), 1);
    free(path);
    fx_free(fx);
}

Test(download, foreign_partial_file_is_redone_from_zero)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    put_part(fx, 100000, 1234); /* bytes of some other file */
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(log_count(fx, "range=bytes=100000- status=206"), 1);
    cr_expect_eq(log_count(fx, "range=- status=200"), 1, "then once more from zero");
    free(path);
    fx_free(fx);
}

Test(download, complete_partial_file_is_just_verified)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    put_part(fx, BLOB_SIZE, BLOB_SEED); /* cut just before the rename */
    char *path = zoo_get_file(BLOB_URL, md5, NULL, NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(log_count(fx, "status=416"), 1);
    cr_expect_eq(log_count(fx, NULL), 1);
    free(path);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* Local trouble: unwritable cache, offline, disk full                 */
/* ------------------------------------------------------------------ */

Test(download, unwritable_cache_names_the_path)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    /* A directory under a regular file cannot be made, even by root. */
    char *file = zt_path(fx->dir, "a-file");
    cr_assert(zt_write_file(file, "x", 1));
    char *home = zt_path(file, "cache");
    setenv("ZOO_HOME", home, 1);
    cr_expect_null(zoo_get_file(BLOB_URL, NULL, NULL, NULL));
    cr_expect_eq(zoo_last_status(), ZOO_ERR_IO);
    expect_has(zoo_last_error(), home, "the error");
    cr_expect_eq(log_count(fx, NULL), 0, "no request before the cache is known usable");

    char url[256];
    snprintf(url, sizeof url, "%s" BLOB_PATH, fx->mirror);
    zt_run_result r = RUN_ZOO(fx, "download", "--url", url, "--hash",
                           "0123456789abcdef0123456789abcdef", "-o", "x.bin");
    cr_expect_eq(r.status, 1);
    expect_has(r.err, home, "stderr");
    zt_run_free(&r);

    /* A read-only directory, where permissions bind (not root). */
    mkdirs_or_die(fx->home);
    chmod(fx->home, 0555);
    if (access(fx->home, W_OK) != 0) {
        setenv("ZOO_HOME", fx->home, 1);
        cr_expect_null(zoo_get_file(BLOB_URL, NULL, NULL, NULL));
        expect_has(zoo_last_error(), fx->home, "the error");
        expect_has(zoo_last_error(), "not writable", "the error");
    }
    chmod(fx->home, 0755);
    free(home);
    free(file);
    fx_free(fx);
}

Test(download, offline_error_names_url_cache_path_and_mirror)
{
    fixture *fx = fx_new();
    char mirror[64];
    snprintf(mirror, sizeof mirror, "http://127.0.0.1:%d", closed_port());
    setenv("ZOO_MIRROR", mirror, 1);
    double t0 = now_s();
    cr_expect_null(zoo_get_file(BLOB_URL, NULL, NULL, NULL));
    cr_expect_lt(now_s() - t0, 5.0);
    cr_expect_eq(zoo_last_status(), ZOO_ERR_NETWORK);
    char url[256];
    snprintf(url, sizeof url, "%s" BLOB_PATH, mirror);
    char *final = home_path(fx, BLOB_NAME);
    expect_has(zoo_last_error(), url, "the error");
    expect_has(zoo_last_error(), final, "the error");
    expect_has(zoo_last_error(), "--mirror", "the error");
    expect_has(zoo_last_error(), "ZOO_MIRROR", "the error");
    cr_expect(!zt_exists(final));

    zt_run_result r = RUN_ZOO(fx, "download", "vgg16");
    cr_expect_eq(r.status, 1);
    char *vgg = home_path(fx, VGG16_NAME);
    expect_has(r.err, vgg, "stderr");
    expect_has(r.err, "--mirror", "stderr");
    expect_has(r.err, mirror, "stderr");
    cr_expect_str_eq(r.out, "");
    zt_run_free(&r);
    free(vgg);
    free(final);
    fx_free(fx);
}

Test(download, disk_full_is_a_clear_error)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33], url[256];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    snprintf(url, sizeof url, "%s" BLOB_PATH, fx->mirror);
    /* A file size limit makes writes fail (EFBIG) as a full disk would. */
    zt_run_result r = run_zoo_limited(
        fx, (const char *const[]){"download", "--url", url, "--hash", md5, NULL}, 50000);
    cr_expect_eq(r.status, 1);
    expect_has(r.err, "zoo download: ", "stderr");
    expect_has(r.err, BLOB_NAME ".part", "stderr");
    expect_has(r.err, strerror(EFBIG), "stderr");
    cr_expect_eq(zt_dir_entries(fx->home), 0, "no final file and no .part");
    zt_run_free(&r);
    fx_free(fx);
}

Test(download, bad_arguments)
{
    fixture *fx = fx_new();
    cr_expect_null(zoo_get_file(BLOB_URL, "abc", NULL, NULL));
    cr_expect_eq(zoo_last_status(), ZOO_ERR_ARGUMENT);
    expect_has(zoo_last_error(), "32", "the error");
    cr_expect_null(zoo_get_file("ftp://example.com/x", NULL, NULL, NULL));
    cr_expect_eq(zoo_last_status(), ZOO_ERR_ARGUMENT);
    cr_expect_null(zoo_get_file(BLOB_URL, NULL, "../escape", NULL));
    cr_expect_eq(zoo_last_status(), ZOO_ERR_ARGUMENT);
    cr_expect_null(zoo_get_file("https://example.com/dir/", NULL, NULL, NULL));
    cr_expect_eq(zoo_last_status(), ZOO_ERR_ARGUMENT);
    cr_expect_null(zoo_imagenet_weights(NULL, false, NULL));
    setenv("ZOO_TIMEOUT", "soon", 1);
    cr_expect_null(zoo_get_file(BLOB_URL, NULL, NULL, NULL));
    expect_has(zoo_last_error(), "ZOO_TIMEOUT", "the error");
    unsetenv("ZOO_TIMEOUT");
    setenv("ZOO_MIRROR", "ftp://mirror", 1);
    cr_expect_null(zoo_get_file(BLOB_URL, NULL, NULL, NULL));
    expect_has(zoo_last_error(), "ftp://mirror", "the error");
    cr_expect(!zt_exists(fx->home) || zt_dir_entries(fx->home) == 0);
    fx_free(fx);
}

Test(download, cache_dir_from_environment)
{
    setenv("ZOO_HOME", "/some/where", 1);
    char *d = zoo_cache_dir();
    cr_expect_str_eq(d, "/some/where");
    free(d);
    unsetenv("ZOO_HOME");
    setenv("HOME", "/home/someone", 1);
    d = zoo_cache_dir();
    cr_expect_str_eq(d, "/home/someone/.cache/zoo");
    free(d);
}

Test(download, mirror_mapping_has_one_slash)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, 1000, 1);
    fx_put(fx, "/base" BLOB_PATH, 1000, 2);
    fx_start(fx, "--rule", "/unused=404");
    const char *suffixes[] = {"", "/", "//"};
    for (int i = 0; i < 3; i++) {
        char mirror[96];
        snprintf(mirror, sizeof mirror, "%s%s", fx->mirror, suffixes[i]);
        zoo_download_opts opts = {.mirror = mirror}; /* beats $ZOO_MIRROR */
        setenv("ZOO_MIRROR", "http://127.0.0.1:1", 1);
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        char *path = zoo_get_file(BLOB_URL, NULL, name, &opts);
        cr_expect_not_null(path, "mirror %s: %s", mirror, zoo_last_error());
        free(path);
    }
    cr_expect_eq(log_count(fx, "GET " BLOB_PATH " "), 3);
    cr_expect_eq(log_count(fx, "//"), 0, "a doubled slash reached the server");
    /* A mirror with a path keeps it. */
    char mirror[96];
    snprintf(mirror, sizeof mirror, "%s/base/", fx->mirror);
    setenv("ZOO_MIRROR", mirror, 1);
    char *path = zoo_get_file(BLOB_URL, NULL, "based", NULL);
    cr_assert_not_null(path, "%s", zoo_last_error());
    cr_expect(has_content(path, 1000, 2));
    free(path);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* Two processes, one file                                             */
/* ------------------------------------------------------------------ */

Test(download, concurrent_processes_download_once)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    /* The answer comes after a second: the two runs overlap. */
    fx_start(fx, "--rule", BLOB_PATH "=delay:1");
    char md5[33], url[256];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    snprintf(url, sizeof url, GCS BLOB_PATH);
    const char *args[] = {"download", "--url", url, "--hash", md5, NULL};
    zt_child a = spawn_zoo(fx, "a", args, 0);
    usleep(100000);
    zt_child b = spawn_zoo(fx, "b", args, 0);
    zt_run_result ra = zt_run_wait(&a), rb = zt_run_wait(&b);
    cr_expect_eq(ra.status, 0, "first: %s", ra.err);
    cr_expect_eq(rb.status, 0, "second: %s", rb.err);
    char *final = home_path(fx, BLOB_NAME);
    char line[4200];
    snprintf(line, sizeof line, "%s\n", final);
    cr_expect_str_eq(ra.out, line);
    cr_expect_str_eq(rb.out, line);
    cr_expect_eq(log_count(fx, "GET"), 1, "one download for both");
    cr_expect(has_content(final, BLOB_SIZE, BLOB_SEED));
    cr_expect_eq(zt_dir_entries(fx->home), 1, "no .part or .lock left");
    zt_run_free(&ra);
    zt_run_free(&rb);
    free(final);
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* zoo download                                                        */
/* ------------------------------------------------------------------ */

Test(cli_download, help_and_usage_errors)
{
    fixture *fx = fx_new();
    zt_run_result r = RUN_ZOO(fx, "download", "--help");
    cr_expect_eq(r.status, 0);
    expect_has(r.out, "usage: zoo download", "help");
    expect_has(r.out, "--mirror", "help");
    expect_has(r.out, "--url", "help");
    expect_has(r.out, "no published hash", "help");
    cr_expect_str_eq(r.err, "");
    zt_run_free(&r);
    r = RUN_ZOO(fx, "--help");
    expect_has(r.out, "download", "zoo --help");
    expect_has(r.out, "cache", "zoo --help");
    zt_run_free(&r);

    const char *const cases[][8] = {
        {"download", NULL},
        {"download", "alexnet", NULL},
        {"download", "--all", "vgg16", NULL},
        {"download", "--url", "https://x.org/a.h5", NULL},
        {"download", "--url", "https://x.org/a.h5", "--hash", "12ab", NULL},
        {"download", "--url", "ftp://x.org/a.h5", "--hash", "0123456789abcdef0123456789abcdef", NULL},
        {"download", "--url", "https://x.org/a.h5", "--hash", "0123456789abcdef0123456789abcdef", "-o", "a/b", NULL},
        {"download", "vgg16", "--hash", "0123456789abcdef0123456789abcdef", NULL},
        {"download", "vgg16", "--mirror", "mirror.local", NULL},
        {"download", "vgg16", "--timeout", "0", NULL},
        {"download", "vgg16", "--bogus", NULL},
        {"download", "vgg16", "--mirror", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = run_zoo_limited(fx, cases[i], 0);
        cr_expect_eq(r.status, 2, "case %zu (%s %s): exit %d", i, cases[i][1] ? cases[i][1] : "",
                     cases[i][1] && cases[i][2] ? cases[i][2] : "", r.status);
        cr_expect(strncmp(r.err, "zoo download: ", 14) == 0, "case %zu: %s", i, r.err);
        cr_expect_str_eq(r.out, "");
        zt_run_free(&r);
    }
    r = RUN_ZOO(fx, "download", "alexnet");
    expect_has(r.err, "vgg16", "unknown model (the known ones listed)");
    zt_run_free(&r);
    cr_expect(!zt_exists(fx->home), "usage errors touch nothing");
    fx_free(fx);
}

Test(cli_download, model_through_mirror)
{
    fixture *fx = fx_new();
    fx_put(fx, MOBILENET_PATH, 20000, 4);
    fx_start(fx, "--rule", "/unused=404");
    zt_run_result r = RUN_ZOO(fx, "download", "mobilenet");
    cr_expect_eq(r.status, 0, "%s", r.err);
    char *final = home_path(fx, MOBILENET_NAME);
    char line[4200];
    snprintf(line, sizeof line, "%s\n", final);
    cr_expect_str_eq(r.out, line, "stdout: the path");
    cr_expect_str_eq(r.err, "", "no progress bar off a terminal, no messages");
    cr_expect(has_content(final, 20000, 4));
    cr_expect_eq(log_count(fx, "GET " MOBILENET_PATH " range=- status=200"), 1);
    zt_run_free(&r);

    /* Again: cached, no request. */
    r = RUN_ZOO(fx, "download", "mobilenet");
    cr_expect_eq(r.status, 0);
    cr_expect_str_eq(r.out, line);
    cr_expect_eq(log_count(fx, NULL), 1);
    zt_run_free(&r);

    /* --mirror beats $ZOO_MIRROR. */
    char mirror[64];
    snprintf(mirror, sizeof mirror, "http://127.0.0.1:%d", closed_port());
    setenv("ZOO_MIRROR", mirror, 1);
    r = RUN_ZOO(fx, "download", "--no-top", "mobilenet", "--mirror", fx->mirror);
    cr_expect_eq(r.status, 1);
    expect_has(r.err, "404", "stderr");
    expect_has(r.err, fx->mirror, "stderr");
    cr_expect_eq(log_count(fx, "GET /tensorflow/keras-applications/mobilenet/"
                               "mobilenet_1_0_224_tf_no_top.h5 "), 1);
    zt_run_free(&r);
    free(final);
    fx_free(fx);
}

Test(cli_download, http_errors_and_hash_mismatch)
{
    fixture *fx = fx_new();
    fx_put(fx, VGG16_PATH, 3000, 9); /* not the real VGG16: wrong MD5 */
    fx_start(fx, "--rule", "/unused=404");
    zt_run_result r = RUN_ZOO(fx, "download", "vgg16");
    cr_expect_eq(r.status, 1);
    expect_has(r.err, "hash mismatch", "stderr");
    expect_has(r.err, "64373286793e3c8b2b4e3219cbf3544b", "stderr");
    cr_expect_str_eq(r.out, "");
    zt_run_free(&r);
    r = RUN_ZOO(fx, "download", "--no-top", "vgg16");
    cr_expect_eq(r.status, 1);
    expect_has(r.err, "HTTP 404", "stderr");
    expect_has(r.err, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "stderr");
    zt_run_free(&r);
    cr_expect(!zt_exists(fx->home) || zt_dir_entries(fx->home) == 0);
    fx_free(fx);
}

Test(cli_download, all_fetches_every_model_and_nothing_else)
{
    fixture *fx = fx_new();
    fx_start(fx, "--rule", "/unused=404"); /* serves nothing: all 404 */
    zt_run_result r = RUN_ZOO(fx, "download", "--all");
    cr_expect_eq(r.status, 1);
    int models = zoo_model_info_count();
    cr_expect_eq(log_count(fx, NULL), 2 * models);
    cr_expect_eq(log_count(fx, "GET /tensorflow/keras-applications/"), 2 * models);
    cr_expect_eq(log_count(fx, "imagenet_class_index"), 0);
    for (int i = 0; i < models; i++) {
        const zoo_model_info *info = zoo_model_info_at(i);
        const char *top = strrchr(info->top.url, '/'), *no_top = strrchr(info->no_top.url, '/');
        cr_expect_eq(log_count(fx, top), 1, "%s", top);
        cr_expect_eq(log_count(fx, no_top), 1, "%s", no_top);
    }
    zt_run_free(&r);
    r = RUN_ZOO(fx, "download", "--all", "--no-top");
    cr_expect_eq(r.status, 1);
    cr_expect_eq(log_count(fx, NULL), 3 * models);
    zt_run_free(&r);
    fx_free(fx);
}

Test(cli_download, url_and_hash_like_get_file)
{
    fixture *fx = fx_new();
    fx_put(fx, "/files/data.bin", 7777, 11);
    fx_start(fx, "--rule", "/unused=404");
    char md5[33], sha[65], url[256];
    manifest_hash(fx, "/files/data.bin", md5, sha);
    snprintf(url, sizeof url, "%s/files/data.bin", fx->mirror); /* plain http:// */
    zt_run_result r = RUN_ZOO(fx, "download", "--url", url, "--hash", sha);
    cr_expect_eq(r.status, 0, "%s", r.err);
    char *final = home_path(fx, "data.bin");
    cr_expect(has_content(final, 7777, 11));
    zt_run_free(&r);
    r = RUN_ZOO(fx, "download", "--url", url, "--hash", md5, "-o", "other.bin");
    cr_expect_eq(r.status, 0, "%s", r.err);
    char *other = home_path(fx, "other.bin");
    expect_has(r.out, other, "stdout");
    cr_expect(has_content(other, 7777, 11));
    zt_run_free(&r);
    free(final);
    free(other);
    fx_free(fx);
}

Test(cli_download, progress_bar_on_a_terminal)
{
    fixture *fx = fx_new();
    fx_put(fx, BLOB_PATH, BLOB_SIZE, BLOB_SEED);
    fx_start(fx, "--rule", BLOB_PATH "=delay:0.3");
    char md5[33];
    manifest_hash(fx, BLOB_PATH, md5, NULL);
    int master;
    fflush(NULL);
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_neq(pid, -1, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        execl(ZOO_TEST_ZOO_BIN, ZOO_TEST_ZOO_BIN, "download", "--url", BLOB_URL, "--hash",
              md5, (char *)NULL);
        _exit(127);
    }
    char buf[16384];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(master, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(master);
    int st;
    waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", buf);
    expect_has(buf, "100%", "the terminal");
    expect_has(buf, "256.0 KiB", "the terminal");
    expect_has(buf, BLOB_NAME, "the terminal");
    fx_free(fx);
}

/* ------------------------------------------------------------------ */
/* zoo cache                                                           */
/* ------------------------------------------------------------------ */

Test(cli_cache, list_verify_clean)
{
    fixture *fx = fx_new();
    zt_run_result r = RUN_ZOO(fx, "cache", "--help");
    cr_expect_eq(r.status, 0);
    expect_has(r.out, "usage: zoo cache", "help");
    zt_run_free(&r);
    r = RUN_ZOO(fx, "cache");
    cr_expect_eq(r.status, 2);
    zt_run_free(&r);
    r = RUN_ZOO(fx, "cache", "purge");
    cr_expect_eq(r.status, 2);
    expect_has(r.err, "purge", "stderr");
    zt_run_free(&r);
    r = RUN_ZOO(fx, "cache", "list", "--all");
    cr_expect_eq(r.status, 2);
    zt_run_free(&r);

    /* An empty (absent) cache. */
    r = RUN_ZOO(fx, "cache", "list");
    cr_expect_eq(r.status, 0, "%s", r.err);
    expect_has(r.out, "0 files", "list");
    zt_run_free(&r);

    mkdirs_or_die(fx->home);
    char *mobilenet = home_path(fx, MOBILENET_NAME), *vgg = home_path(fx, VGG16_NAME);
    char *part = home_path(fx, "x.h5.part"), *lock = home_path(fx, "y.h5.lock");
    char *busy_part = home_path(fx, "busy.h5.part"), *busy_lock = home_path(fx, "busy.h5.lock");
    write_content(mobilenet, 1234, 1);
    write_content(vgg, 4321, 2); /* wrong bytes for VGG16's MD5 */
    write_content(part, 10, 3);
    write_content(lock, 0, 3);
    write_content(busy_part, 10, 3);
    /* A download in progress holds busy.h5.lock. */
    int held = open(busy_lock, O_RDWR | O_CREAT, 0644);
    cr_assert(held >= 0 && flock(held, LOCK_EX) == 0);

    r = RUN_ZOO(fx, "cache", "list");
    cr_expect_eq(r.status, 0, "%s", r.err);
    expect_has(r.out, MOBILENET_NAME, "list");
    expect_has(r.out, "1234", "list (sizes)");
    expect_has(r.out, "mobilenet, with top", "list");
    expect_has(r.out, "x.h5.part", "list");
    expect_has(r.out, "6 files", "list");
    zt_run_free(&r);

    r = RUN_ZOO(fx, "cache", "verify");
    cr_expect_eq(r.status, 1, "a wrong hash fails verify");
    expect_has(r.out, "MISMATCH", "verify");
    expect_has(r.out, "unchecked", "verify (MobileNet: no hash)");
    expect_has(r.err, vgg, "stderr");
    zt_run_free(&r);
    cr_expect(zt_exists(vgg), "verify alone deletes nothing");

    r = RUN_ZOO(fx, "cache", "clean");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(!zt_exists(part) && !zt_exists(lock), "leftovers removed");
    cr_expect(zt_exists(busy_part) && zt_exists(busy_lock), "a running download's files kept");
    cr_expect(zt_exists(mobilenet) && zt_exists(vgg), "plain clean keeps cached files");
    zt_run_free(&r);

    r = RUN_ZOO(fx, "cache", "verify", "--delete");
    cr_expect_eq(r.status, 1);
    cr_expect(!zt_exists(vgg), "--delete removes the bad file");
    zt_run_free(&r);

    flock(held, LOCK_UN);
    close(held);
    r = RUN_ZOO(fx, "cache", "clean", "--all");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(zt_dir_entries(fx->home), 0, "clean --all empties the cache");
    zt_run_free(&r);

    free(mobilenet);
    free(vgg);
    free(part);
    free(lock);
    free(busy_part);
    free(busy_lock);
    fx_free(fx);
}
