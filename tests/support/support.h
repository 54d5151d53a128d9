/*
 * Shared helpers for zoo's Criterion tests: tolerant comparisons that
 * name the worst element, one-layer models, temporary directories and the
 * location of the generated fixtures.
 *
 * Helpers whose name ends in _or_die call cr_assert on failure, so they
 * end the current test with a message that says what went wrong.
 */
#ifndef ZOO_TEST_SUPPORT_H
#define ZOO_TEST_SUPPORT_H

#include <zoo/engine.h>

#include <stdbool.h>
#include <stddef.h>

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

#endif
