/* zoo bench --model NAME [--batch N] [--threads T] [--iters K]
 *           [--size H,W] [--train] [--classes C] [--json]
 * Forward time of a whole network on random input and random weights, or
 * (--train) the time of one fine-tuning step: frozen base without its top,
 * global average pooling, a new softmax layer trained with SGD. */
#include "tools/commands.h"

#include <zoo/zoo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void help(FILE *out)
{
    fprintf(out,
            "usage: zoo bench --model NAME [--batch N] [--threads T] [--iters K]\n"
            "                 [--size H,W] [--train] [--classes C] [--json]\n"
            "\n"
            "Times MODEL's forward pass on random input (random weights): median and\n"
            "minimum milliseconds per batch, images per second, peak resident memory.\n"
            "  --train       time a fine-tuning step instead, as zoo finetune runs it:\n"
            "                the base without its top (frozen, global average pooling)\n"
            "                and a new softmax layer of C classes, SGD, one batch\n"
            "  --classes C   classes of the new layer with --train (default 10)\n"
            "  --batch N     images per batch (default 1)\n"
            "  --threads T   threads (default $ZOO_NUM_THREADS, else every core)\n"
            "  --iters K     timed runs after one warm-up (default 10)\n"
            "  --size H,W    input size, without the classifier top\n"
            "  --json        one JSON object on stdout\n");
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool positive_int(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 1 << 20)
        return false;
    *out = (int)v;
    return true;
}

/* What zoo finetune trains: base (no top, average pooling, frozen) and a
 * softmax layer named predictions, compiled with plain SGD. */
static zoo_model *build_finetune(const zoo_model_info *info, zoo_net_opts *opts, int classes)
{
    opts->pooling = ZOO_POOL_AVG;
    zoo_model *base = info->build(opts);
    if (!base)
        return NULL;
    zoo_graph *g = zoo_model_graph(base);
    zoo_sym *x = zoo_model_input(base, 0);
    zoo_sym *y = zoo_apply(zoo_dense(g, &(zoo_dense_cfg){.units = classes,
                                                         .activation = ZOO_ACT_SOFTMAX,
                                                         .name = "predictions"}),
                           zoo_model_output(base, 0));
    zoo_model *m = y ? zoo_model_new(&x, 1, &y, 1, "finetune") : NULL;
    zoo_model_free(base);
    if (!m)
        return NULL;
    zoo_model_set_trainable(m, false);
    zoo_layer_set_trainable(zoo_model_get_layer(m, "predictions"), true);
    zoo_compile_opts c = {.loss = {.kind = ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
                          .optimizer = {.kind = ZOO_OPT_SGD}};
    if (zoo_model_compile(m, &c) != ZOO_OK) {
        zoo_model_free(m);
        return NULL;
    }
    return m;
}

int cmd_bench(int argc, char **argv)
{
    const char *name = NULL;
    int batch = 1, threads = 0, iters = 10, size[2] = {0, 0}, classes = 10;
    bool json = false, train = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char tail;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--train") == 0) {
            train = true;
        } else if (strcmp(a, "--classes") == 0 && v && positive_int(v, &classes)) {
            i++;
        } else if (strcmp(a, "--model") == 0 && v) {
            name = argv[++i];
        } else if (strcmp(a, "--batch") == 0 && v && positive_int(v, &batch)) {
            i++;
        } else if (strcmp(a, "--threads") == 0 && v && positive_int(v, &threads)) {
            i++;
        } else if (strcmp(a, "--iters") == 0 && v && positive_int(v, &iters)) {
            i++;
        } else if (strcmp(a, "--size") == 0 && v &&
                   sscanf(v, "%d,%d%c", &size[0], &size[1], &tail) == 2 &&
                   size[0] > 0 && size[1] > 0) {
            i++;
        } else {
            fprintf(stderr, "zoo bench: bad or incomplete argument '%s'\n", a);
            help(stderr);
            return EXIT_USAGE;
        }
    }
    if (!name) {
        fprintf(stderr, "zoo bench: --model is required\n");
        help(stderr);
        return EXIT_USAGE;
    }
    const zoo_model_info *info = zoo_model_find(name);
    if (!info) {
        fprintf(stderr, "zoo bench: %s\n", zoo_last_error());
        return EXIT_USAGE;
    }
    zoo_net_opts opts = {.seed = 1};
    if (size[0] || train) {
        opts.no_top = true;
        opts.input_shape[0] = size[0] ? size[0] : info->default_size;
        opts.input_shape[1] = size[1] ? size[1] : info->default_size;
        opts.input_shape[2] = 3;
    }
    zoo_model *m = train ? build_finetune(info, &opts, classes) : info->build(&opts);
    if (!m) {
        fprintf(stderr, "zoo bench: %s: %s\n", name, zoo_last_error());
        return EXIT_USAGE;
    }
    const int *in_shape = zoo_sym_shape(zoo_model_input(m, 0));
    int shape[4] = {batch, in_shape[1], in_shape[2], in_shape[3]};
    zoo_tensor *x = zoo_tensor_new(4, shape);
    double *ms = malloc((size_t)iters * sizeof *ms);
    zoo_tensor *labels = NULL;
    int rc = 0;
    if (!x || !ms) {
        fprintf(stderr, "zoo bench: %s\n", x ? "out of memory" : zoo_last_error());
        rc = EXIT_RUN_FAILURE;
        goto done;
    }
    srand(7);
    for (size_t i = 0; i < zoo_tensor_size(x); i++)
        zoo_tensor_data(x)[i] = (float)rand() / (float)RAND_MAX * 255.0f - 127.5f;
    zoo_predict_opts run = {.threads = threads};
    labels = train ? zoo_tensor_new(1, &batch) : NULL;
    for (int i = 0; labels && i < batch; i++)
        zoo_tensor_data(labels)[i] = (float)(i % classes);
    for (int it = -1; it < iters; it++) { /* iteration -1 warms up */
        zoo_tensor *y = NULL;
        double t0 = now_ms();
        zoo_status st = train ? zoo_model_train_on_batch(m, x, labels, threads, NULL, NULL)
                              : zoo_model_predict(m, &x, 1, &y, 1, &run);
        double t1 = now_ms();
        zoo_tensor_free(y);
        if (st != ZOO_OK) {
            fprintf(stderr, "zoo bench: %s\n", zoo_last_error());
            rc = EXIT_RUN_FAILURE;
            goto done;
        }
        if (it >= 0)
            ms[it] = t1 - t0;
    }
    qsort(ms, (size_t)iters, sizeof *ms, by_value);
    double median = iters % 2 ? ms[iters / 2] : (ms[iters / 2 - 1] + ms[iters / 2]) / 2;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0; /* Linux reports KiB */
    int used_threads = threads ? threads : zoo_default_threads();
    if (json)
        printf("{\"model\": \"%s\", \"mode\": \"%s\", \"batch\": %d, \"threads\": %d, \"median_ms\": %.3f, "
               "\"min_ms\": %.3f, \"img_per_s\": %.2f, \"peak_rss_mb\": %.1f}\n",
               name, train ? "train" : "predict", batch, used_threads, median, ms[0],
               batch * 1000.0 / median, rss_mb);
    else
        printf("%s  %s  batch %d  threads %d  %dx%d\n"
               "  median %.2f ms  min %.2f ms  %.1f img/s  peak RSS %.1f MB\n",
               name, train ? "fine-tuning step" : "forward", batch, used_threads,
               shape[1], shape[2], median, ms[0],
               batch * 1000.0 / median, rss_mb);
done:
    zoo_tensor_free(labels);
    free(ms);
    zoo_tensor_free(x);
    zoo_model_free(m);
    return rc;
}
