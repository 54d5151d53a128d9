/*
 * Fashion-MNIST with a small CNN, trained by libzoo's Keras-style API.
 *
 *   fashion_mnist [--data DIR] [--epochs N] [--threads N] [--limit N]
 *                 [--batch-size B] [--seed S]
 *
 * Reads the four IDX files (plain or .gz) from DIR, scales pixels to [0, 1],
 * builds the network below with the Sequential API, trains it with Adam and
 * prints `test_accuracy=0.XXXX` as its last line. Uses only <zoo/zoo.h>.
 *
 * Exit status: 0 done, 1 a library call failed, 2 bad command line,
 * 3 a data file is missing, 4 a data file is unreadable or corrupt.
 */
#include <zoo/zoo.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"
#define DEFAULT_EPOCHS 6
#define CLASSES 10
#define SIDE 28

enum { EXIT_LIBRARY = 1, EXIT_USAGE = 2, EXIT_MISSING = 3, EXIT_CORRUPT = 4 };

typedef struct {
    const char *data;
    int epochs, threads, limit, batch_size;
    unsigned long long seed;
} options;

/* ------------------------------------------------------------------ */
/* IDX files: a big-endian header (0, 0, type 0x08 = ubyte, number of   */
/* dimensions, then each dimension as a 32-bit integer) and raw bytes.  */
/* ------------------------------------------------------------------ */

typedef struct {
    int count;           /* items read (at most the limit) */
    unsigned char *data; /* count * SIDE * SIDE pixels, or count labels */
} idx_data;

static int gz_read_all(gzFile f, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(f, p, chunk);
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Opens DIR/NAME, or DIR/NAME.gz (gzread reads plain files as they are). */
static gzFile open_idx(const char *dir, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    if (access(path, F_OK) != 0)
        snprintf(path, size, "%s/%s.gz", dir, name);
    return access(path, F_OK) == 0 ? gzopen(path, "rb") : NULL;
}

/* Reads up to `limit` items of an IDX file with `ndims` dimensions, images
 * being SIDE x SIDE. Returns 0 or an exit status, with the reason printed. */
static int read_idx(const char *dir, const char *name, int ndims, int limit,
                    idx_data *out)
{
    char path[4096];
    errno = 0;
    gzFile f = open_idx(dir, name, path, sizeof path);
    if (!f) {
        fprintf(stderr, "fashion_mnist: cannot open %s/%s(.gz): %s\n"
                "  install Debian's dataset-fashion-mnist package or pass "
                "--data DIR with the IDX files\n", dir, name,
                errno ? strerror(errno) : "not found");
        return errno == ENOENT || errno == 0 ? EXIT_MISSING : EXIT_CORRUPT;
    }
    unsigned char head[16];
    size_t head_size = 4 + 4 * (size_t)ndims;
    int rc = EXIT_CORRUPT;
    if (gz_read_all(f, head, head_size) != 0) {
        fprintf(stderr, "fashion_mnist: %s: truncated IDX header (%zu bytes expected)\n",
                path, head_size);
        goto done;
    }
    if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] != ndims) {
        fprintf(stderr, "fashion_mnist: %s: bad IDX magic %02x %02x %02x %02x "
                "(expected 00 00 08 %02x: unsigned bytes in %d dimensions)\n",
                path, head[0], head[1], head[2], head[3], ndims, ndims);
        goto done;
    }
    uint32_t dims[3];
    for (int i = 0; i < ndims; i++) {
        const unsigned char *d = head + 4 + 4 * i;
        dims[i] = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
    }
    if (ndims == 3 && (dims[1] != SIDE || dims[2] != SIDE)) {
        fprintf(stderr, "fashion_mnist: %s: images are %ux%u; Fashion-MNIST's are %dx%d\n",
                path, dims[1], dims[2], SIDE, SIDE);
        goto done;
    }
    if (dims[0] == 0 || dims[0] > INT_MAX / (SIDE * SIDE)) {
        fprintf(stderr, "fashion_mnist: %s: implausible item count %u\n", path, dims[0]);
        goto done;
    }
    out->count = limit > 0 && (uint32_t)limit < dims[0] ? limit : (int)dims[0];
    size_t item = ndims == 3 ? SIDE * SIDE : 1;
    out->data = malloc((size_t)out->count * item);
    if (!out->data) {
        fprintf(stderr, "fashion_mnist: out of memory reading %s\n", path);
        rc = EXIT_LIBRARY;
        goto done;
    }
    if (gz_read_all(f, out->data, (size_t)out->count * item) != 0) {
        int zerr;
        const char *why = gzerror(f, &zerr);
        fprintf(stderr, "fashion_mnist: %s: truncated or corrupt data (%d items of %zu "
                "bytes expected%s%s)\n", path, out->count, item,
                zerr ? "; zlib: " : "", zerr ? why : "");
        free(out->data);
        out->data = NULL;
        goto done;
    }
    rc = 0;
done:
    gzclose(f);
    return rc;
}

/* Images and labels of one split as a dataset: x (n, 28, 28, 1) in [0, 1],
 * y (n, 1) the class index (sparse labels). */
static int load_split(const options *o, const char *prefix, zoo_dataset **out)
{
    char images_name[64], labels_name[64];
    snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);
    idx_data images = {0}, labels = {0};
    int rc = read_idx(o->data, images_name, 3, o->limit, &images);
    if (rc == 0)
        rc = read_idx(o->data, labels_name, 1, o->limit, &labels);
    if (rc == 0 && images.count != labels.count) {
        fprintf(stderr, "fashion_mnist: %s has %d images but %d labels\n",
                prefix, images.count, labels.count);
        rc = EXIT_CORRUPT;
    }
    for (int i = 0; rc == 0 && i < labels.count; i++) {
        if (labels.data[i] >= CLASSES) {
            fprintf(stderr, "fashion_mnist: %s label %d is %d; classes are 0 to %d\n",
                    prefix, i, labels.data[i], CLASSES - 1);
            rc = EXIT_CORRUPT;
        }
    }
    zoo_tensor *x = NULL, *y = NULL;
    if (rc == 0) {
        x = zoo_tensor_new(4, (int[]){images.count, SIDE, SIDE, 1});
        y = zoo_tensor_new(2, (int[]){labels.count, 1});
        if (x && y) {
            float *xd = zoo_tensor_data(x), *yd = zoo_tensor_data(y);
            for (size_t i = 0; i < zoo_tensor_size(x); i++)
                xd[i] = images.data[i] / 255.0f;
            for (int i = 0; i < labels.count; i++)
                yd[i] = labels.data[i];
            *out = zoo_dataset_from_tensors(x, y);
        }
        if (!*out) {
            fprintf(stderr, "fashion_mnist: %s\n", zoo_last_error());
            rc = EXIT_LIBRARY;
        }
    }
    zoo_tensor_free(x);
    zoo_tensor_free(y);
    free(images.data);
    free(labels.data);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

static zoo_model *build_model(unsigned long long seed)
{
    zoo_graph *g = zoo_graph_new(seed);
    zoo_layer *layers[] = {
        zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 32, .kernel = {3, 3},
                                        .activation = ZOO_ACT_RELU}),
        zoo_max_pool2d(g, &(zoo_pool2d_cfg){.pool = {2, 2}}),
        zoo_conv2d(g, &(zoo_conv2d_cfg){.filters = 64, .kernel = {3, 3},
                                        .activation = ZOO_ACT_RELU}),
        zoo_max_pool2d(g, &(zoo_pool2d_cfg){.pool = {2, 2}}),
        zoo_flatten(g, NULL),
        zoo_dropout(g, &(zoo_dropout_cfg){.rate = 0.3f}),
        zoo_dense(g, &(zoo_dense_cfg){.units = 128, .activation = ZOO_ACT_RELU}),
        zoo_dense(g, &(zoo_dense_cfg){.units = CLASSES, .activation = ZOO_ACT_SOFTMAX}),
    };
    int n = (int)(sizeof layers / sizeof layers[0]);
    zoo_model *m = NULL;
    bool built = true;
    for (int i = 0; i < n; i++)
        built = built && layers[i];
    if (built)
        m = zoo_sequential(g, 3, (int[]){SIDE, SIDE, 1}, layers, n, "fashion_cnn");
    zoo_graph_release(g); /* the model keeps the graph alive */
    return m;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fashion_mnist [--data DIR] [--epochs N] [--threads N] [--limit N]\n"
            "                     [--batch-size B] [--seed S]\n"
            "  --data DIR      folder of {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]\n"
            "                  (default " DEFAULT_DATA ")\n"
            "  --epochs N      training epochs (default %d)\n"
            "  --threads N     CPU threads (default: $ZOO_NUM_THREADS or all cores)\n"
            "  --limit N       use only the first N training and N test images\n"
            "  --batch-size B  samples per step (default 32)\n"
            "  --seed S        weights, shuffling and dropout (default 1)\n",
            DEFAULT_EPOCHS);
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.data = DEFAULT_DATA, .epochs = DEFAULT_EPOCHS, .batch_size = 32,
                   .seed = 1};
    struct { const char *flag; long lo, hi; int *dst; } ints[] = {
        {"--epochs", 0, 100000, &o->epochs},
        {"--threads", 0, 1024, &o->threads},
        {"--limit", 1, INT_MAX, &o->limit},
        {"--batch-size", 1, 1 << 20, &o->batch_size},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        bool is_int = false;
        for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
            is_int = is_int || !strcmp(a, ints[k].flag);
        if (!is_int && strcmp(a, "--data") && strcmp(a, "--seed")) {
            fprintf(stderr, "fashion_mnist: unknown argument '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "fashion_mnist: %s needs a value\n", a);
            return EXIT_USAGE;
        }
        const char *v = argv[++i];
        long n;
        if (!strcmp(a, "--data")) {
            o->data = v;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_int(v, 0, LONG_MAX, &n)) {
                fprintf(stderr, "fashion_mnist: --seed %s: expected a non-negative integer\n", v);
                return EXIT_USAGE;
            }
            o->seed = (unsigned long long)n;
        }
        for (size_t k = 0; is_int && k < sizeof ints / sizeof ints[0]; k++) {
            if (strcmp(a, ints[k].flag))
                continue;
            if (!parse_int(v, ints[k].lo, ints[k].hi, &n)) {
                fprintf(stderr, "fashion_mnist: %s %s: expected an integer in [%ld, %ld]\n",
                        a, v, ints[k].lo, ints[k].hi);
                return EXIT_USAGE;
            }
            *ints[k].dst = (int)n;
        }
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "fashion_mnist: %s: %s\n", what, zoo_last_error());
    return EXIT_LIBRARY;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;

    zoo_dataset *train = NULL, *test = NULL;
    rc = load_split(&o, "train", &train);
    if (rc == 0)
        rc = load_split(&o, "t10k", &test);
    if (rc) {
        zoo_dataset_free(train);
        return rc;
    }
    printf("Fashion-MNIST from %s: %d training and %d test images\n", o.data,
           train->count, test->count);

    zoo_model *m = build_model(o.seed);
    if (!m) {
        rc = fail("building the model");
        goto out;
    }
    zoo_model_summary(m, stdout);

    /* Keras: compile(optimizer=Adam(CosineDecay(1e-3, decay_steps)),
     * loss="sparse_categorical_crossentropy", metrics=["accuracy"]). The
     * rate falls from 1e-3 to 0 over the whole run, which settles the
     * weights better in few epochs than a constant rate. */
    int steps = (train->count + o.batch_size - 1) / o.batch_size;
    zoo_compile_opts co = {
        .loss = {.kind = ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        .optimizer = {.kind = ZOO_OPT_ADAM, .learning_rate = 1e-3f,
                      .schedule = {.kind = ZOO_SCHEDULE_COSINE,
                                   .decay_steps = o.epochs > 0 ? o.epochs * steps : 1}},
        .metrics = {{.kind = ZOO_METRIC_ACCURACY}},
        .n_metrics = 1,
    };
    if (zoo_model_compile(m, &co) != ZOO_OK) {
        rc = fail("compile");
        goto out;
    }

    /* A progress bar on a terminal, one line per epoch in a log. */
    zoo_fit_opts fo = {
        .epochs = o.epochs,
        .batch_size = o.batch_size,
        .seed = o.seed,
        .verbose = isatty(STDOUT_FILENO) ? 1 : 2,
        .threads = o.threads,
    };
    fflush(stdout);
    double t0 = now();
    if (zoo_model_fit(m, train, &fo, NULL) != ZOO_OK) {
        rc = fail("fit");
        goto out;
    }
    double t1 = now();

    double test_loss, test_acc;
    if (zoo_model_evaluate(m, test, 256, o.threads, &test_loss, &test_acc) != ZOO_OK) {
        rc = fail("evaluate");
        goto out;
    }
    printf("trained %d epochs in %.1f s; test_loss=%.4f\n", o.epochs, t1 - t0, test_loss);
    printf("test_accuracy=%.4f\n", test_acc);
out:
    zoo_model_free(m);
    zoo_dataset_free(train);
    zoo_dataset_free(test);
    return rc;
}
