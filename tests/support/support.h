/*
 * Shared helpers for zoo's Criterion tests: tolerant comparisons that
 * name the worst element, one-layer models, temporary directories, the
 * location of the generated fixtures, running the built tool (or Python)
 * in a child process, and MobileNet BatchNormalization calibration.
 *
 * Helpers whose name ends in _or_die call cr_assert on failure, so they
 * end the current test with a message that says what went wrong.
 */
#ifndef ZOO_TEST_SUPPORT_H
#define ZOO_TEST_SUPPORT_H

#include <zoo/engine.h>

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Default tolerance for float32 layer outputs against a float64 reference:
 * |got - want| <= ZT_ATOL + ZT_RTOL * |want|. */
#define ZT_RTOL 1e-4
#define ZT_ATOL 1e-5

/* Directory of the fixtures made by oracle/layer_cases.py:
 * $ZOO_TEST_FIXTURES, else the build tree's default. */
const char *zt_fixtures_dir(void);

/* "(2, 3, 4)" into buf. */
char *zt_shape_str(int rank, const int *shape, char *buf, size_t size);

/* Elementwise comparison of n floats laid out in `shape`. Returns true
 * when every element is within tolerance (NaN/inf must match exactly).
 * Otherwise writes to msg how many elements differ and the worst one:
 * its multi-index, both values and the difference. */
bool zt_allclose(const float *got, const float *want, int rank,
                 const int *shape, double rtol, double atol, char *msg,
                 size_t msg_size);

/* Same, for two tensors; a shape mismatch is reported as such. */
bool zt_tensor_close(const zoo_tensor *got, const zoo_tensor *want,
                     double rtol, double atol, char *msg, size_t msg_size);

/* A tensor of `shape` holding `data` (cr_assert on failure). */
zoo_tensor *zt_tensor_or_die(int rank, const int *shape, const float *data);

/* Deterministic uniform values in [lo, hi). */
void zt_fill_uniform(zoo_tensor *t, unsigned long long seed, float lo,
                     float hi);

/* One weight's values, in the layer's weight order. */
typedef struct {
    const float *data;
    size_t n; /* must equal the layer weight's size */
} zt_weight;

/*
 * Runs a single layer: Input(x's shape without the batch axis) -> layer ->
 * Model, copies weights[i] into the layer's weight i when n_weights > 0
 * (count and sizes must match), then predicts on x. Returns the output
 * (caller frees). Fails the test with zoo_last_error() on any engine
 * error. `g` stays the caller's.
 */
zoo_tensor *zt_run_layer_or_die(zoo_graph *g, zoo_layer *layer,
                                const zoo_tensor *x, const zt_weight *weights,
                                int n_weights);

/* Temporary directory (malloc'ed path): under $ZOO_TEST_TMPDIR, else
 * the build tree's tests/tmp, else $TMPDIR or /tmp. */
char *zt_tmpdir_or_die(void);
/* Removes a directory tree (best effort). */
void zt_rmtree(const char *path);
/* dir + "/" + name, malloc'ed. */
char *zt_path(const char *dir, const char *name);
/* Fixture generators (a Python script run once per test binary, from a
 * Criterion PRE_ALL hook): runs `ZOO_TEST_PYTHON script DIR [extra]` into a
 * fresh directory named after `stem` and publishes it in $ENV (or the
 * failure, with the script's log, in $ENV_ERROR) for the test processes.
 * zt_cases_dir(ENV) returns it or fails the test with that log; the
 * cleanup removes it unless $ZOO_TEST_KEEP is set. */
void zt_generate_cases_once(const char *script, const char *extra, const char *stem,
                            const char *env);
const char *zt_cases_dir(const char *env);
void zt_generated_cases_cleanup(const char *env);

/* A file's whole content, NUL-terminated (malloc'ed); NULL if it cannot
 * be opened. The _or_die form fails the test instead. */
char *zt_read_text(const char *path);
char *zt_read_text_or_die(const char *path);
/* Writes n bytes to path (true on success). */
bool zt_write_file(const char *path, const void *data, size_t n);
/* Number of entries in a directory, "." and ".." excluded (-1 on error). */
int zt_dir_entries(const char *path);
/* Whether something is at path (lstat: a dangling link counts). */
bool zt_exists(const char *path);
/* mkdir(path, 0755); an existing directory is fine. */
void zt_mkdir_or_die(const char *path);

/* ------------------------------------------------------------------ */
/* Running programs (the built tool, Python) in a child process        */
/* ------------------------------------------------------------------ */

/* What a finished child gave. */
typedef struct {
    int status; /* exit code; -1 when it did not exit (killed, crashed) */
    char *out;  /* stdout, NUL-terminated ("" when nothing was captured) */
    char *err;  /* stderr */
} zt_run_result;

/* How a child runs. Zero-initialised fields keep the test's own stdin,
 * working directory and environment, set no limit, keep the capture files
 * and fail the test when the child is killed. */
typedef struct {
    const char *io_dir;    /* required: stdout and stderr are captured here */
    const char *io_prefix; /* in io_dir/<prefix>stdout and <prefix>stderr
                            * (NULL: no prefix) */
    bool remove_io;        /* delete the two files once read, for tests that
                            * count io_dir's entries */
    bool stdin_null;       /* stdin from /dev/null */
    const char *cwd;       /* the child's working directory (NULL: the test's) */
    const char *const *env; /* NAME, VALUE, NAME, VALUE, ..., NULL: set in the
                             * child only */
    unsigned limit_s;      /* SIGALRM after this many seconds (0: none), so a
                            * child that blocks fails the test, not hangs it */
    long fsize_limit;      /* RLIMIT_FSIZE in bytes with SIGXFSZ ignored, so
                            * writes past it fail with EFBIG (0: none) */
    bool allow_killed;     /* report a killed child as status -1 instead of
                            * failing the test */
} zt_run_opts;

/* Environment entries (for zt_run_opts.env) that keep zoo off the network
 * (ZOO_MIRROR on a closed local port, 2 s timeout) and on one thread
 * (Criterion runs tests in parallel). ZOO_HOME etc. are the caller's. */
#define ZT_ZOO_OFFLINE_ENV                                                     \
    "ZOO_MIRROR", "http://127.0.0.1:9/", "ZOO_TIMEOUT", "2", "ZOO_NUM_THREADS", "1"

/* A child started by zt_run_start; zt_run_wait collects it (once). */
typedef struct {
    pid_t pid;
    char *what; /* argv[0] and argv[1], for messages */
    char *out_path, *err_path;
    bool remove_io, allow_killed;
} zt_child;

/* Starts argv (argv[0] a path, NULL-terminated) as `o` says; fails the
 * test if it cannot fork. */
zt_child zt_run_start(const char *const *argv, const zt_run_opts *o);
/* Waits for the child and reads what it wrote. Fails the test when it
 * could not be run (exit 127) or, unless allowed, when it was killed. */
zt_run_result zt_run_wait(zt_child *c);
/* Both: runs argv to its end. */
zt_run_result zt_run(const char *const *argv, const zt_run_opts *o);
/* The same for `zoo ARGS...` (NULL-terminated): the built tool
 * ZOO_TEST_ZOO_BIN with args after it. */
zt_child zt_run_zoo_start(const char *const *args, const zt_run_opts *o);
zt_run_result zt_run_zoo(const char *const *args, const zt_run_opts *o);
void zt_run_free(zt_run_result *r);

/* ------------------------------------------------------------------ */
/* Models                                                              */
/* ------------------------------------------------------------------ */

/* The layer's weight called `name` ("kernel", "moving_mean"...): NULL
 * when it has none; the _or_die form fails the test instead. */
zoo_tensor *zt_weight_named(zoo_layer *l, const char *name);
zoo_tensor *zt_weight_named_or_die(zoo_layer *l, const char *name);

/* zoo_model_predict on one input (opts NULL: the engine's defaults);
 * the output, caller frees. */
zoo_tensor *zt_predict_or_die(zoo_model *m, zoo_tensor *x,
                              const zoo_predict_opts *opts);
/* The output of layer `layer` of m (one input) on x, from a sub-model cut
 * there, run on one thread. */
zoo_tensor *zt_predict_cut_or_die(zoo_model *m, const char *layer, zoo_tensor *x);

/* Per-channel statistics over every axis but the last. */
typedef struct {
    int channels;
    double *mean; /* [channels] */
    double *var;  /* [channels]: biased (divided by the count), floored */
} zt_channel_stats;

/* What a Keras MobileNet BatchNormalization layer "X_bn" of m receives on
 * batch x (the output of its layer "X"): each channel's mean and variance,
 * accumulated in double, the variance at least var_floor. False with the
 * reason in why (it does not assert, so it may run outside a test, e.g. in
 * a PRE_ALL hook). zt_channel_stats_free releases it. */
bool zt_mobilenet_bn_input_stats(zoo_model *m, zoo_layer *bn, zoo_tensor *x,
                                 double var_floor, zt_channel_stats *st,
                                 char *why, size_t why_size);
zt_channel_stats zt_mobilenet_bn_input_stats_or_die(zoo_model *m, zoo_layer *bn,
                                                    zoo_tensor *x,
                                                    double var_floor);
void zt_channel_stats_free(zt_channel_stats *st);

/* Seeded weights shrink a MobileNet's activations tenfold per block. This
 * sets every BatchNormalization's moving mean and variance, in layer order
 * (so each sees the ones before it calibrated), to its input's statistics
 * on the calibration batch x (see zt_mobilenet_bn_input_stats): every
 * block then passes on a standardised signal. False with the reason in
 * why; the _or_die form fails the test instead. */
bool zt_calibrate_mobilenet_bn(zoo_model *m, zoo_tensor *x, double var_floor,
                               char *why, size_t why_size);
void zt_calibrate_mobilenet_bn_or_die(zoo_model *m, zoo_tensor *x, double var_floor);

#endif
