/* zoo predict --model NAME --weights FILE.h5 --input X.npy --output Y.npy
 *             [--no-top] [--pooling avg|max] [--layer LAYER] [--threads N]
 *             [--batch N]
 * A raw float32 NHWC batch through a registry model (or up to one of its
 * layers) with the given weights; no preprocessing. The CLI contract in
 * shared/DESIGN.md: other tools call this, so keep it stable. */
#include "tools/commands.h"

#include <zoo/zoo.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(FILE *out)
{
    fprintf(out,
            "usage: zoo predict --model NAME --weights FILE.h5 --input X.npy --output Y.npy\n"
            "                   [--no-top] [--pooling avg|max] [--layer LAYER]\n"
            "                   [--threads N] [--batch N]\n"
            "\n"
            "Runs MODEL on a raw float32 NHWC batch X (shape (N, H, W, C), as NumPy's\n"
            "np.save writes it) and saves the output as Y. No preprocessing is applied:\n"
            "X must already be what the model's preprocess_input gives.\n"
            "  --model NAME       a registry model (zoo list shows them)\n"
            "  --weights FILE.h5  Keras weights for that model (with or without the top,\n"
            "                     matching --no-top), e.g. the official ImageNet file\n"
            "  --input X.npy      the batch; H, W and C are taken from it\n"
            "  --output Y.npy     where to write the output (replaced atomically; never\n"
            "                     left half-written)\n"
            "  --no-top           without the classifier (include_top=False); any input\n"
            "                     size from the model's minimum up\n"
            "  --pooling avg|max  global pooling after the last block (with --no-top)\n"
            "  --layer LAYER      output of that layer instead of the model's\n"
            "  --threads N        threads (default $ZOO_NUM_THREADS, else every core)\n"
            "  --batch N          images per forward pass (default 32)\n"
            "\n"
            "Exit status: 0 success, 1 run-time failure, 2 usage error.\n");
}

static bool positive_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < 1 || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

/* "--name VALUE" or "--name=VALUE": the value, advancing *i past it; NULL
 * when `a` is not this option. *missing is set when the value is absent. */
static const char *option_value(int argc, char **argv, int *i,
                                const char *name, bool *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "zoo predict: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'zoo predict --help' for the options.\n");
    return EXIT_USAGE;
}

static int run_failure(const char *what)
{
    fprintf(stderr, "zoo predict: %s%s%s\n", what ? what : "",
            what ? ": " : "", zoo_last_error());
    return EXIT_RUN_FAILURE;
}

typedef struct {
    const char *model, *weights, *input, *output, *layer;
    bool no_top;
    zoo_pooling pooling;
    int threads, batch;
} predict_args;

/* Returns -1 when the arguments are fine, else the exit code. */
static int parse_args(int argc, char **argv, predict_args *p)
{
    *p = (predict_args){.batch = 32};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            return 0;
        } else if (strcmp(a, "--no-top") == 0) {
            p->no_top = true;
        } else if ((v = option_value(argc, argv, &i, "--model", &missing))) {
            p->model = v;
        } else if ((v = option_value(argc, argv, &i, "--weights", &missing))) {
            p->weights = v;
        } else if ((v = option_value(argc, argv, &i, "--input", &missing))) {
            p->input = v;
        } else if ((v = option_value(argc, argv, &i, "--output", &missing))) {
            p->output = v;
        } else if ((v = option_value(argc, argv, &i, "--layer", &missing))) {
            p->layer = v;
        } else if ((v = option_value(argc, argv, &i, "--pooling", &missing))) {
            if (strcmp(v, "avg") == 0)
                p->pooling = ZOO_POOL_AVG;
            else if (strcmp(v, "max") == 0)
                p->pooling = ZOO_POOL_MAX;
            else
                return usage_error("--pooling wants avg or max, got '%s'", v);
        } else if ((v = option_value(argc, argv, &i, "--threads", &missing))) {
            if (!positive_int(v, &p->threads))
                return usage_error("--threads wants a positive integer, got '%s'", v);
        } else if ((v = option_value(argc, argv, &i, "--batch", &missing))) {
            if (!positive_int(v, &p->batch))
                return usage_error("--batch wants a positive integer, got '%s'", v);
        } else if (missing) {
            return usage_error("%s needs a value", a);
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    const char *absent = !p->model     ? "--model"
                         : !p->weights ? "--weights"
                         : !p->input   ? "--input"
                         : !p->output  ? "--output"
                                       : NULL;
    if (absent)
        return usage_error("%s is required", absent);
    if (p->pooling != ZOO_POOL_NONE && !p->no_top)
        return usage_error("%s applies only without the classifier; add --no-top",
                           "--pooling");
    return -1;
}

/* The input batch's shape against what the model can take; false after
 * printing why not. */
static bool input_fits(const predict_args *p, const zoo_model_info *info,
                       const zoo_tensor *x)
{
    int rank = zoo_tensor_rank(x);
    const int *s = zoo_tensor_shape(x);
    char shape[96];
    zoo_shape_format(rank, s, shape, sizeof shape);
    if (rank != 4) {
        fprintf(stderr,
                "zoo predict: input '%s' has shape %s; it must be a 4-D "
                "float32 batch (N, H, W, C)\n", p->input, shape);
        return false;
    }
    if (s[3] != 3) {
        fprintf(stderr,
                "zoo predict: input '%s' has shape %s, i.e. %d channel%s; "
                "%s takes 3 (RGB) on the last axis\n",
                p->input, shape, s[3], s[3] == 1 ? "" : "s", p->model);
        return false;
    }
    if (!p->no_top && (s[1] != info->default_size || s[2] != info->default_size)) {
        fprintf(stderr,
                "zoo predict: input '%s' is %dx%d, but %s with its classifier "
                "top takes %dx%d; pass --no-top to run the convolutional base "
                "on other sizes\n",
                p->input, s[1], s[2], p->model, info->default_size,
                info->default_size);
        return false;
    }
    if (p->no_top && (s[1] < info->min_size || s[2] < info->min_size)) {
        fprintf(stderr,
                "zoo predict: input '%s' is %dx%d; %s without its top takes "
                "at least %dx%d\n",
                p->input, s[1], s[2], p->model, info->min_size,
                info->min_size);
        return false;
    }
    return true;
}

/* The output's directory must exist and be writable, and the output must
 * not be a directory: checked before the (possibly long) run, so a typo
 * fails at once. zoo_npy_save reports anything else at the end. */
static bool output_writable(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "zoo predict: output '%s' is a directory; give a file "
                "name such as %s/y.npy\n", path, path);
        return false;
    }
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "zoo predict: cannot write the output '%s': directory "
                "'%s': %s\n", path, dir, strerror(errno));
        return false;
    }
    return true;
}

int cmd_predict(int argc, char **argv)
{
    predict_args p;
    int rc = parse_args(argc, argv, &p);
    if (rc >= 0)
        return rc;
    const zoo_model_info *info = zoo_model_find(p.model);
    if (!info) {
        fprintf(stderr, "zoo predict: %s\n", zoo_last_error());
        return EXIT_USAGE;
    }

    if (!output_writable(p.output))
        return EXIT_RUN_FAILURE;

    zoo_model *m = NULL, *cut = NULL;
    zoo_tensor *y = NULL;
    zoo_tensor *x = zoo_npy_load(p.input);
    if (!x) {
        rc = run_failure("cannot read the input");
        goto done;
    }
    if (!input_fits(&p, info, x)) {
        rc = EXIT_RUN_FAILURE;
        goto done;
    }
    const int *xs = zoo_tensor_shape(x);
    zoo_net_opts opts = {.no_top = p.no_top, .pooling = p.pooling, .skip_random_init = true};
    if (p.no_top) {
        opts.input_shape[0] = xs[1];
        opts.input_shape[1] = xs[2];
        opts.input_shape[2] = xs[3];
    }
    m = info->build(&opts);
    if (!m) {
        fprintf(stderr, "zoo predict: cannot build %s: %s\n", p.model,
                zoo_last_error());
        rc = EXIT_RUN_FAILURE;
        goto done;
    }
    /* A bad layer name is cheaper to report before the weights load. */
    zoo_layer *layer = NULL;
    if (p.layer && !(layer = zoo_model_get_layer(m, p.layer))) {
        fprintf(stderr,
                "zoo predict: %s has no layer named '%s' (zoo summary %s%s "
                "lists them)\n",
                p.model, p.layer, p.model, p.no_top ? " --no-top" : "");
        rc = EXIT_RUN_FAILURE;
        goto done;
    }
    /* Into the whole model: Keras pairs a file's layers with model.layers
     * in order, so the weights go in before any cut. */
    if (zoo_model_load_weights(m, p.weights, NULL) != ZOO_OK) {
        fprintf(stderr, "zoo predict: cannot load weights '%s' into %s%s: %s\n",
                p.weights, p.model, p.no_top ? " (no top)" : "",
                zoo_last_error());
        rc = EXIT_RUN_FAILURE;
        goto done;
    }
    zoo_model *run = m;
    if (layer) {
        zoo_sym *in = zoo_model_input(m, 0);
        zoo_sym *out = zoo_layer_output(layer, 0);
        cut = out ? zoo_model_new(&in, 1, &out, 1, p.layer) : NULL;
        if (!cut) {
            rc = run_failure("cannot cut the model at that layer");
            goto done;
        }
        run = cut;
    }
    zoo_predict_opts popts = {
        .threads = p.threads ? p.threads : zoo_default_threads(),
        .batch_size = p.batch,
    };
    if (zoo_model_predict(run, &x, 1, &y, 1, &popts) != ZOO_OK) {
        rc = run_failure("prediction failed");
        goto done;
    }
    /* zoo_npy_save writes beside the target and renames: a failure here
     * leaves no partial output. */
    if (zoo_npy_save(p.output, y) != ZOO_OK) {
        rc = run_failure("cannot write the output");
        goto done;
    }
    rc = 0;
done:
    zoo_tensor_free(y);
    zoo_tensor_free(x);
    zoo_model_free(cut);
    zoo_model_free(m);
    return rc;
}
