/*
 * Transfer learning with libzoo: what `zoo finetune` does, in one file.
 *
 *   transfer_learning --model NAME --data DIR [--val-data DIR]
 *                     [--weights imagenet|FILE.h5] [--epochs N] [--batch-size B]
 *                     [--image-size H,W] [--seed S] [--threads N] [-o OUT.h5]
 *
 * Keras's recipe: a registry model without its top, global average pooling,
 * pretrained weights, frozen; a new Dense softmax layer `predictions` with
 * one unit per class folder of DIR; Adam; fit; save the whole model. The
 * validation set is --val-data, or else every fifth image of DIR (so every
 * class is in it). The last line is `val_accuracy=0.XXXX`.
 *
 * Exit status: 0 done, 1 failure, 2 bad command line.
 */
#include <zoo/zoo.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *model, *data, *val_data, *weights, *out;
    int epochs, batch_size, height, width, threads;
    unsigned long long seed;
} options;

/* ---- a dataset made of every fifth sample of another, or of the rest ---- */

typedef struct {
    zoo_dataset *base;
    int *idx; /* base index of each sample */
} subset;

static zoo_status subset_load(void *ctx, const int *idx, int n, float *x, float *y,
                              int *kept, const zoo_load_ctx *lc)
{
    subset *s = ctx;
    int *mapped = malloc((size_t)(n > 0 ? n : 1) * sizeof *mapped);
    if (!mapped)
        return zoo_error(ZOO_ERR_MEMORY, "subset: out of memory");
    for (int i = 0; i < n; i++)
        mapped[i] = s->idx[idx[i]];
    zoo_status st = s->base->load(s->base->ctx, mapped, n, x, y, kept, lc);
    free(mapped);
    return st;
}

static void subset_release(void *ctx)
{
    subset *s = ctx;
    free(s->idx);
    free(s);
}

static zoo_dataset *every_fifth(zoo_dataset *base, bool fifth)
{
    zoo_dataset *d = calloc(1, sizeof *d);
    subset *s = calloc(1, sizeof *s);
    int *idx = malloc((size_t)base->count * sizeof *idx);
    if (!d || !s || !idx) {
        free(d), free(s), free(idx);
        zoo_error(ZOO_ERR_MEMORY, "out of memory");
        return NULL;
    }
    *d = *base; /* sample shapes */
    *s = (subset){.base = base, .idx = idx};
    d->count = 0;
    for (int i = 0; i < base->count; i++)
        if ((i % 5 == 4) == fifth)
            idx[d->count++] = i;
    d->ctx = s;
    d->load = subset_load;
    d->release = subset_release;
    return d;
}

/* ---- command line ---- */

static int usage(void)
{
    fprintf(stderr,
            "usage: transfer_learning --model NAME --data DIR [--val-data DIR]\n"
            "         [--weights imagenet|FILE.h5] [--epochs N] [--batch-size B]\n"
            "         [--image-size H,W] [--seed S] [--threads N] [-o OUT.h5]\n"
            "  NAME: a registry model (zoo list); DIR: one subfolder of images per class\n"
            "  defaults: --weights imagenet --epochs 5 --batch-size 32\n"
            "            --image-size the model's default\n"
            "            --seed 1 -o finetuned.h5\n");
    return 2;
}

/* A whole string as a non-negative integer. */
static bool parse_count(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 0 || v > 1000000)
        return false;
    *out = (int)v;
    return true;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.weights = "imagenet", .out = "finetuned.h5", .epochs = 5, .seed = 1};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        char h[16], w[16], extra;
        bool ok = true;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--val-data")) o->val_data = v;
        else if (!strcmp(a, "--weights")) o->weights = v;
        else if (!strcmp(a, "-o")) o->out = v;
        else if (!strcmp(a, "--epochs")) ok = parse_count(v, &o->epochs);
        else if (!strcmp(a, "--batch-size")) ok = parse_count(v, &o->batch_size);
        else if (!strcmp(a, "--threads")) ok = parse_count(v, &o->threads);
        else if (!strcmp(a, "--seed")) ok = sscanf(v, "%llu%c", &o->seed, &extra) == 1;
        else if (!strcmp(a, "--image-size"))
            ok = sscanf(v, "%15[0-9],%15[0-9]%c", h, w, &extra) == 2 && parse_count(h, &o->height) &&
                 parse_count(w, &o->width) && o->height > 0 && o->width > 0;
        else
            return usage();
        if (!ok) {
            fprintf(stderr, "transfer_learning: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    return argc % 2 == 1 && o->model && o->data ? 0 : usage();
}

static void warn(const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "warning: %s\n", message);
}

static zoo_status set_class_names(zoo_model *m, const zoo_image_folder *f)
{
    int n = zoo_image_folder_class_count(f);
    const char **names = malloc((size_t)n * sizeof *names);
    if (!names)
        return zoo_error(ZOO_ERR_MEMORY, "out of memory");
    for (int i = 0; i < n; i++)
        names[i] = zoo_image_folder_class_name(f, i);
    zoo_status st = zoo_model_set_class_names(m, names, n);
    free(names);
    return st;
}

static int fail(const char *what)
{
    fprintf(stderr, "transfer_learning: %s: %s\n", what, zoo_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    const zoo_model_info *info = zoo_model_find(o.model);
    if (!info)
        return fail("--model");
    if (!o.height)
        o.height = o.width = info->default_size;

    /* Images: resized to the input size, then the model's preprocess_input. */
    zoo_image_folder_opts fo = {.height = o.height, .width = o.width,
                                .mode = zoo_preprocess_parse(info->preprocess),
                                .warn = warn};
    zoo_image_folder *folder = zoo_image_folder_open(o.data, &fo);
    zoo_image_folder *val_folder = NULL;
    zoo_dataset *all = NULL, *train = NULL, *val = NULL;
    zoo_model *base = NULL, *m = NULL;
    char *weights = NULL;
    if (!folder) {
        rc = fail("--data");
        goto out;
    }
    all = zoo_image_folder_dataset(folder);
    if (o.val_data) {
        val_folder = zoo_image_folder_open(o.val_data, &fo);
        train = all, all = NULL;
        val = val_folder ? zoo_image_folder_dataset(val_folder) : NULL;
    } else if (all) {
        train = every_fifth(all, false);
        val = every_fifth(all, true);
    }
    if (!train || !val) {
        rc = fail(o.val_data ? "--val-data" : "--data");
        goto out;
    }
    if (val->count == 0) {
        fprintf(stderr, "transfer_learning: %s has too few images to hold out every "
                "fifth for validation; give --val-data DIR\n", o.data);
        rc = 1;
        goto out;
    }
    int classes = zoo_image_folder_class_count(folder);
    for (int i = 0; val_folder && i < classes; i++) {
        if (zoo_image_folder_class_count(val_folder) != classes ||
            strcmp(zoo_image_folder_class_name(folder, i),
                   zoo_image_folder_class_name(val_folder, i))) {
            fprintf(stderr, "transfer_learning: %s and %s must have the same class "
                    "subfolders\n", o.data, o.val_data);
            rc = 1;
            goto out;
        }
    }
    printf("%d classes, %d training and %d validation images\n", classes,
           train->count, val->count);

    /* The base: include_top=False, pooling="avg", pretrained weights. */
    zoo_net_opts no = {.no_top = true, .pooling = ZOO_POOL_AVG,
                       .input_shape = {o.height, o.width, 3}, .skip_random_init = true};
    base = info->build(&no);
    weights = strcmp(o.weights, "imagenet") ? strdup(o.weights)
                                            : zoo_imagenet_weights(info, true, NULL);
    if (!base || !weights || zoo_model_load_weights(base, weights, NULL) != ZOO_OK) {
        rc = fail("base model");
        goto out;
    }

    /* The head: Dense(classes, softmax, name="predictions") on the pooled
     * features, initialised from the seed alone; the base frozen. */
    zoo_layer *head = zoo_dense(zoo_model_graph(base),
                                &(zoo_dense_cfg){.units = classes, .name = "predictions",
                                                 .activation = ZOO_ACT_SOFTMAX});
    zoo_sym *in = zoo_model_input(base, 0);
    zoo_sym *y = zoo_apply(head, zoo_model_output(base, 0));
    m = y ? zoo_model_new(&in, 1, &y, 1, "finetuned") : NULL;
    if (!m || zoo_layer_initialize(head, o.seed) != ZOO_OK) {
        rc = fail("head");
        goto out;
    }
    zoo_model_set_trainable(base, false);

    /* What `zoo classify --model OUT.h5` needs travels in the file. */
    if (set_class_names(m, folder) != ZOO_OK ||
        zoo_model_set_attr(m, "preprocess", info->preprocess) != ZOO_OK ||
        zoo_model_set_attr(m, "base_model", info->name) != ZOO_OK) {
        rc = fail("model attributes");
        goto out;
    }

    zoo_compile_opts co = {
        .loss = {.kind = ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        .optimizer = {.kind = ZOO_OPT_ADAM},
        .metrics = {{.kind = ZOO_METRIC_ACCURACY}},
        .n_metrics = 1,
    };
    zoo_fit_opts fit = {.epochs = o.epochs, .batch_size = o.batch_size, .seed = o.seed,
                        .validation_data = val,
                        .verbose = isatty(STDOUT_FILENO) ? 1 : 2, .threads = o.threads};
    fflush(stdout);
    double val_loss, val_acc;
    if (zoo_model_compile(m, &co) != ZOO_OK || zoo_model_fit(m, train, &fit, NULL) != ZOO_OK ||
        zoo_model_evaluate(m, val, 32, o.threads, &val_loss, &val_acc) != ZOO_OK) {
        rc = fail("training");
        goto out;
    }
    if (zoo_model_save(m, o.out) != ZOO_OK) {
        rc = fail("save");
        goto out;
    }
    printf("saved %s\n", o.out);
    printf("val_loss=%.4f\nval_accuracy=%.4f\n", val_loss, val_acc);
out:
    zoo_model_free(m);
    zoo_model_free(base);
    zoo_dataset_free(train);
    zoo_dataset_free(val);
    zoo_dataset_free(all);
    zoo_image_folder_free(folder);
    zoo_image_folder_free(val_folder);
    free(weights);
    return rc;
}
