/* zoo finetune --model NAME --data DIR -o OUT.h5 [options]
 * Keras's transfer-learning recipe on a folder of class subfolders: the
 * registry model without its top (include_top=False, pooling="avg") with
 * its weights, then (Dropout) and Dense(classes, softmax) "predictions";
 * the base frozen (or trained from a named layer on); compiled with
 * sparse categorical cross-entropy and accuracy; fit; saved as a Keras
 * full-model .h5 with its class names, plus the history as CSV and SVG. */
#include "tools/commands.h"
#include "tools/history_plot.h"
#include "tools/images.h"

#include <zoo/zoo.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { DEFAULT_EPOCHS = 5, DEFAULT_BATCH = 32, MAX_EPOCHS = 1000000 };

static void help(FILE *out)
{
    fprintf(out,
            "usage: zoo finetune --model NAME --data DIR -o OUT.h5\n"
            "                    [--weights imagenet|FILE.h5]\n"
            "                    [--val-data DIR | --validation-split F]\n"
            "                    [--epochs N] [--batch-size B]\n"
            "                    [--optimizer sgd|rmsprop|adam] [--lr LR] [--momentum M]\n"
            "                    [--unfreeze-from LAYER] [--dropout F]\n"
            "                    [--image-size H,W] [--augment] [--seed S]\n"
            "                    [--no-shuffle] [--threads N]\n"
            "\n"
            "Trains a classifier for the classes of DIR on top of a pretrained model,\n"
            "as Keras's transfer-learning recipe does: the model without its top\n"
            "(include_top=False, pooling=\"avg\"), then Dropout(F) when F > 0, then\n"
            "Dense(classes, softmax) named \"predictions\"; the base frozen; compiled\n"
            "with sparse categorical cross-entropy and accuracy. The result is a Keras\n"
            "full-model .h5 that `zoo classify --model OUT.h5` uses (with the class\n"
            "names) and Keras's load_model reads.\n"
            "\n"
            "  --model NAME          a registry model (zoo list shows them)\n"
            "  --data DIR            one subfolder per class (sorted names give the class\n"
            "                        indices; at least two), with .jpg/.jpeg/.png images,\n"
            "                        found recursively. Files that are not readable\n"
            "                        images are skipped with a warning and counted\n"
            "  -o, --output OUT.h5   the model; beside it OUT.history.csv (Keras's\n"
            "                        CSVLogger layout) and OUT.history.svg (loss and\n"
            "                        accuracy curves). A trailing .h5 in OUT is replaced\n"
            "                        by .history.csv / .history.svg\n"
            "  --weights imagenet    the official ImageNet weights without the top\n"
            "                        (default), downloaded once and cached under $ZOO_HOME\n"
            "  --weights FILE.h5     Keras weights of the model without its top (as\n"
            "                        include_top=False saves them)\n"
            "  --val-data DIR        validation images, with the same class subfolders\n"
            "  --validation-split F  hold out int(F x images) for validation, as Keras's\n"
            "                        image_dataset_from_directory: the last ones of a\n"
            "                        seeded shuffle of the file list, or of the dataset\n"
            "                        order with --no-shuffle\n"
            "  --epochs N            passes over the data (default 5); 0 writes the\n"
            "                        initialised model without training\n"
            "  --batch-size B        images per step (default 32); the last batch of an\n"
            "                        epoch may be smaller\n"
            "  --optimizer NAME      sgd, rmsprop or adam (default), Keras's update rules\n"
            "  --lr LR               learning rate (default: Keras's, 0.01 for sgd and\n"
            "                        0.001 for the others); constant\n"
            "  --momentum M          momentum of sgd or rmsprop (default 0)\n"
            "  --unfreeze-from LAYER train LAYER and every later layer too (zoo summary\n"
            "                        NAME lists the names); without it only the new\n"
            "                        layers train\n"
            "  --dropout F           dropout rate before the classifier (default 0: none)\n"
            "  --image-size H,W      the input size (default: the model's, e.g. 224,224);\n"
            "                        images are resized to it with PIL's NEAREST filter\n"
            "  --augment             random flips, rotations up to 10 degrees, crops of up\n"
            "                        to 10%% and brightness changes of the training images\n"
            "  --seed S              seed of the new layer's initial weights, shuffling,\n"
            "                        dropout and augmentation (default 0)\n"
            "  --no-shuffle          batches in dataset order (classes in sorted order,\n"
            "                        files sorted by name within a class)\n"
            "  --threads N           threads (default $ZOO_NUM_THREADS, else every core)\n"
            "\n"
            "A progress bar (Keras's) is drawn on stdout when it is a terminal, else\n"
            "on stderr when that is one. stdout gets the data and network in brief,\n"
            "one line per epoch (\"epoch 1/5: accuracy=0.8125 loss=0.4412 ...\") and\n"
            "the files written; warnings (such as skipped files) go to stderr. A\n"
            "failed run (bad data, unknown layer, a NaN loss...) writes nothing:\n"
            "OUT.h5 and its history files are left as they were.\n"
            "\n"
            "Exit status: 0 success, 1 run-time failure, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "zoo finetune: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'zoo finetune --help' for the options.\n");
    return EXIT_USAGE;
}

typedef struct {
    const char *model, *data, *output, *weights, *val_data, *unfreeze_from;
    float validation_split, lr, momentum, dropout;
    bool split_given, momentum_given, augment, no_shuffle;
    int epochs, batch, threads;
    int size[2]; /* H, W; zeros: the model's default */
    zoo_optimizer_kind optimizer;
    unsigned long long seed;
} finetune_args;

/* A finite float in [lo, hi) (hi_inclusive: [lo, hi]). */
static bool parse_float(const char *s, float lo, float hi, bool hi_inclusive, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno || !isfinite(v) || v < lo ||
        (hi_inclusive ? v > hi : v >= hi))
        return false;
    *out = (float)v;
    return true;
}

static bool parse_count(const char *s, int max, int *out)
{
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return true;
    }
    return tool_positive_int(s, max, out);
}

static bool parse_seed(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno)
        return false;
    *out = v;
    return true;
}

/* "H,W" or "S" (square). */
static bool parse_size(const char *s, int out[2])
{
    char tail;
    int h, w;
    if (sscanf(s, "%d,%d%c", &h, &w, &tail) == 2 && h > 0 && w > 0) {
        out[0] = h;
        out[1] = w;
        return true;
    }
    if (sscanf(s, "%d%c", &h, &tail) == 1 && h > 0) {
        out[0] = out[1] = h;
        return true;
    }
    return false;
}

/* Returns -1 when the arguments are fine, else the exit code. */
static int parse_args(int argc, char **argv, finetune_args *p)
{
    *p = (finetune_args){.weights = "imagenet", .epochs = DEFAULT_EPOCHS,
                         .batch = DEFAULT_BATCH, .optimizer = ZOO_OPT_ADAM};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            return 0;
        } else if (strcmp(a, "--augment") == 0) {
            p->augment = true;
        } else if (strcmp(a, "--no-shuffle") == 0) {
            p->no_shuffle = true;
        } else if ((v = tool_option_value(argc, argv, &i, "--model", &missing))) {
            p->model = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--data", &missing))) {
            p->data = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--output", &missing)) ||
                   (!missing && (v = tool_option_value(argc, argv, &i, "-o", &missing)))) {
            p->output = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--weights", &missing))) {
            p->weights = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--val-data", &missing))) {
            p->val_data = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--validation-split", &missing))) {
            if (!parse_float(v, 0.0f, 1.0f, false, &p->validation_split) ||
                p->validation_split <= 0.0f)
                return usage_error("--validation-split wants a fraction between 0 and 1 "
                                   "(exclusive), got '%s'", v);
            p->split_given = true;
        } else if ((v = tool_option_value(argc, argv, &i, "--epochs", &missing))) {
            if (!parse_count(v, MAX_EPOCHS, &p->epochs))
                return usage_error("--epochs wants an integer >= 0, got '%s'", v);
        } else if ((v = tool_option_value(argc, argv, &i, "--batch-size", &missing))) {
            if (!tool_positive_int(v, 1 << 16, &p->batch))
                return usage_error("--batch-size wants a positive integer, got '%s'", v);
        } else if ((v = tool_option_value(argc, argv, &i, "--optimizer", &missing))) {
            if (strcmp(v, "sgd") == 0)
                p->optimizer = ZOO_OPT_SGD;
            else if (strcmp(v, "rmsprop") == 0)
                p->optimizer = ZOO_OPT_RMSPROP;
            else if (strcmp(v, "adam") == 0)
                p->optimizer = ZOO_OPT_ADAM;
            else
                return usage_error("--optimizer wants sgd, rmsprop or adam, got '%s'", v);
        } else if ((v = tool_option_value(argc, argv, &i, "--lr", &missing))) {
            if (!parse_float(v, 0.0f, INFINITY, false, &p->lr))
                return usage_error("--lr wants a number >= 0 (0: Keras's default), "
                                   "got '%s'", v);
        } else if ((v = tool_option_value(argc, argv, &i, "--momentum", &missing))) {
            if (!parse_float(v, 0.0f, 1.0f, false, &p->momentum))
                return usage_error("--momentum wants a number in [0, 1), got '%s'", v);
            p->momentum_given = true;
        } else if ((v = tool_option_value(argc, argv, &i, "--unfreeze-from", &missing))) {
            p->unfreeze_from = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--dropout", &missing))) {
            if (!parse_float(v, 0.0f, 1.0f, false, &p->dropout))
                return usage_error("--dropout wants a rate in [0, 1), got '%s'", v);
        } else if ((v = tool_option_value(argc, argv, &i, "--image-size", &missing))) {
            if (!parse_size(v, p->size))
                return usage_error("--image-size wants H,W (two positive integers), "
                                   "got '%s'", v);
        } else if ((v = tool_option_value(argc, argv, &i, "--seed", &missing))) {
            if (!parse_seed(v, &p->seed))
                return usage_error("--seed wants a non-negative integer, got '%s'", v);
        } else if ((v = tool_option_value(argc, argv, &i, "--threads", &missing))) {
            if (!tool_positive_int(v, 4096, &p->threads))
                return usage_error("--threads wants a positive integer, got '%s'", v);
        } else if (missing) {
            return usage_error("%s needs a value", a);
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!p->model || !*p->model)
        return usage_error("%s is required (zoo list shows the models)", "--model NAME");
    if (!p->data || !*p->data)
        return usage_error("%s is required: a folder with one subfolder of images "
                           "per class", "--data DIR");
    if (!p->output)
        return usage_error("%s is required: where to write the model", "-o OUT.h5");
    if (!*p->weights)
        return usage_error("%s--weights needs 'imagenet' or a file", "");
    if (p->val_data && p->split_given)
        return usage_error("%s--val-data and --validation-split exclude each other: "
                           "give one", "");
    if (p->val_data && !*p->val_data)
        return usage_error("%s--val-data needs a folder", "");
    if (p->unfreeze_from && !*p->unfreeze_from)
        return usage_error("%s--unfreeze-from needs a layer name", "");
    if (p->momentum_given && p->optimizer == ZOO_OPT_ADAM)
        return usage_error("%s--momentum applies to sgd and rmsprop, not adam", "");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Output files                                                        */
/* ------------------------------------------------------------------ */

/* OUT with a trailing ".h5" replaced by `suffix`, else OUT + suffix. */
static char *sibling_path(const char *out, const char *suffix)
{
    size_t n = strlen(out);
    if (n > 3 && strcmp(out + n - 3, ".h5") == 0)
        n -= 3;
    size_t size = n + strlen(suffix) + 1;
    char *s = malloc(size);
    if (s)
        snprintf(s, size, "%.*s%s", (int)n, out, suffix);
    return s;
}

/* A temporary name beside `path`, for writing all three files before any
 * of them replaces what is there. */
static char *temp_path(const char *path)
{
    size_t size = strlen(path) + 40;
    char *s = malloc(size);
    if (s)
        snprintf(s, size, "%s.tmp-finetune%ld", path, (long)getpid());
    return s;
}

typedef struct {
    char *model, *csv, *svg;             /* final names */
    char *model_tmp, *csv_tmp, *svg_tmp; /* written first */
} out_files;

static void out_files_free(out_files *f)
{
    free(f->model);
    free(f->csv);
    free(f->svg);
    free(f->model_tmp);
    free(f->csv_tmp);
    free(f->svg_tmp);
}

static bool out_files_init(out_files *f, const char *output)
{
    *f = (out_files){.model = strdup(output),
                     .csv = sibling_path(output, ".history.csv"),
                     .svg = sibling_path(output, ".history.svg")};
    if (f->model && f->csv && f->svg) {
        f->model_tmp = temp_path(f->model);
        f->csv_tmp = temp_path(f->csv);
        f->svg_tmp = temp_path(f->svg);
    }
    return f->model && f->csv && f->svg && f->model_tmp && f->csv_tmp && f->svg_tmp;
}

/* Writes the three files under temporary names, then renames them into
 * place (the model last). On failure nothing new is left behind. */
static bool write_outputs(const out_files *f, const zoo_model *m, const zoo_history *h,
                          const char *title)
{
    char why[1024] = "";
    bool ok = true;
    if (zoo_model_save(m, f->model_tmp) != ZOO_OK) {
        snprintf(why, sizeof why, "cannot write the model %s: %s", f->model,
                 zoo_last_error());
        ok = false;
    }
    if (ok && zoo_history_save_csv(h, f->csv_tmp) != ZOO_OK) {
        snprintf(why, sizeof why, "cannot write the history %s: %s", f->csv,
                 zoo_last_error());
        ok = false;
    }
    if (ok && !history_plot_save(h, title, f->svg_tmp, why, sizeof why))
        ok = false;
    const char *tmps[3] = {f->csv_tmp, f->svg_tmp, f->model_tmp};
    const char *finals[3] = {f->csv, f->svg, f->model};
    int renamed = 0;
    for (; ok && renamed < 3; renamed++) {
        if (rename(tmps[renamed], finals[renamed]) != 0) {
            snprintf(why, sizeof why, "cannot write %s: %s", finals[renamed],
                     strerror(errno));
            ok = false;
            break;
        }
    }
    if (!ok) {
        for (int i = 0; i < 3; i++)
            remove(i < renamed ? finals[i] : tmps[i]);
        fprintf(stderr, "zoo finetune: %s; nothing written\n", why);
    }
    return ok;
}

/* The output's directory can take new files and OUT is not a folder:
 * checked before any work. */
static bool output_ok(const char *path)
{
    struct stat st;
    if (*path && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "zoo finetune: output '%s' is a directory; give a file name "
                "such as %s/model.h5\n", path, path);
        return false;
    }
    return tool_output_writable("finetune", path);
}

/* ------------------------------------------------------------------ */
/* Data                                                                */
/* ------------------------------------------------------------------ */

static void warn_file(const char *message, void *user)
{
    (void)user;
    fflush(stdout); /* keep the streams in order on a terminal */
    fprintf(stderr, "zoo finetune: warning: %s\n", message);
}

static zoo_image_folder *open_folder(const char *dir, const char *what, int height,
                                     int width, zoo_preprocess_mode mode, bool augment)
{
    zoo_image_folder_opts o = {.height = height, .width = width, .mode = mode,
                               .filter = ZOO_RESIZE_NEAREST, .warn = warn_file};
    if (augment)
        o.augment = (zoo_augment){.flip = true, .rotation = 10.0f, .crop = 0.1f,
                                  .brightness = 0.1f};
    zoo_image_folder *f = zoo_image_folder_open(dir, &o);
    if (!f)
        fprintf(stderr, "zoo finetune: %s: %s\n", what, zoo_last_error());
    return f;
}

/* The validation folder must name the same classes in the same order. */
static bool same_classes(const zoo_image_folder *a, const char *a_dir,
                         const zoo_image_folder *b, const char *b_dir)
{
    int na = zoo_image_folder_class_count(a), nb = zoo_image_folder_class_count(b);
    for (int i = 0; i < na || i < nb; i++) {
        const char *ca = i < na ? zoo_image_folder_class_name(a, i) : NULL;
        const char *cb = i < nb ? zoo_image_folder_class_name(b, i) : NULL;
        if (ca && cb && strcmp(ca, cb) == 0)
            continue;
        fprintf(stderr, "zoo finetune: the validation folder %s must have the same "
                "class subfolders as %s (%d and %d classes); class %d is %s%s%s there "
                "but %s%s%s here\n", b_dir, a_dir, nb, na, i + 1,
                cb ? "'" : "", cb ? cb : "missing", cb ? "'" : "",
                ca ? "'" : "", ca ? ca : "missing", ca ? "'" : "");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

typedef struct {
    zoo_model *base;  /* the registry model without its top */
    zoo_model *model; /* base input -> (dropout) -> predictions */
    zoo_layer *dropout, *predictions;
} finetune_model;

static void finetune_model_free(finetune_model *fm)
{
    zoo_model_free(fm->model);
    zoo_model_free(fm->base);
    *fm = (finetune_model){0};
}

/* Builds the base (weights not loaded yet) and the new head on its graph. */
static bool build_model(const zoo_model_info *info, const int size[2], int classes,
                        float dropout, finetune_model *fm)
{
    *fm = (finetune_model){0};
    fm->base = info->build(&(zoo_net_opts){.no_top = true, .pooling = ZOO_POOL_AVG,
                                           .input_shape = {size[0], size[1], 3},
                                           .skip_random_init = true});
    if (!fm->base) {
        fprintf(stderr, "zoo finetune: cannot build %s at %dx%d without its top: %s\n",
                info->name, size[0], size[1], zoo_last_error());
        return false;
    }
    zoo_graph *g = zoo_model_graph(fm->base);
    zoo_sym *in = zoo_model_input(fm->base, 0), *x = zoo_model_output(fm->base, 0);
    if (dropout > 0.0f) {
        fm->dropout = zoo_dropout(g, &(zoo_dropout_cfg){.name = "dropout", .rate = dropout});
        x = zoo_apply(fm->dropout, x);
    }
    fm->predictions = zoo_dense(g, &(zoo_dense_cfg){.name = "predictions", .units = classes,
                                                    .activation = ZOO_ACT_SOFTMAX});
    x = zoo_apply(fm->predictions, x);
    char name[128];
    snprintf(name, sizeof name, "%s_finetuned", info->name);
    fm->model = x ? zoo_model_new(&in, 1, &x, 1, name) : NULL;
    if (!fm->model) {
        fprintf(stderr, "zoo finetune: cannot add the classifier to %s: %s\n", info->name,
                zoo_last_error());
        finetune_model_free(fm);
        return false;
    }
    return true;
}

/* Keras's recipe: everything frozen but the new layers, or trained from
 * `from` on. Returns -1 on success, else the exit code. */
static int set_trainable(finetune_model *fm, const char *from, const char *model_name)
{
    zoo_model_set_trainable(fm->model, false);
    zoo_layer_set_trainable(fm->predictions, true);
    if (fm->dropout)
        zoo_layer_set_trainable(fm->dropout, true);
    if (from && zoo_model_unfreeze_from(fm->model, from) != ZOO_OK) {
        fprintf(stderr, "zoo finetune: --unfreeze-from %s: %s has no layer named '%s' "
                "(zoo summary %s lists them)\n", from, model_name, from, model_name);
        return EXIT_USAGE;
    }
    return -1;
}

static bool load_base_weights(const zoo_model_info *info, const char *weights,
                              zoo_model *base)
{
    char *path = NULL;
    if (strcmp(weights, "imagenet") == 0) {
        zoo_download_opts dopts = {.progress = true};
        path = zoo_imagenet_weights(info, true, &dopts);
        if (!path) {
            fprintf(stderr, "zoo finetune: cannot get the ImageNet weights of %s "
                    "without the top: %s\n(--weights FILE.h5 uses a local copy)\n",
                    info->name, zoo_last_error());
            return false;
        }
    }
    const char *file = path ? path : weights;
    bool ok = zoo_model_load_weights(base, file, NULL) == ZOO_OK;
    if (!ok)
        fprintf(stderr, "zoo finetune: cannot load weights '%s' into %s without its "
                "top (include_top=False): %s\n", file, info->name, zoo_last_error());
    free(path);
    return ok;
}

/* ------------------------------------------------------------------ */
/* The command                                                         */
/* ------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "epoch 1/5: accuracy=0.8125 loss=0.4412 val_accuracy=... val_loss=..."
 * (the history's keys in sorted order, as the CSV has them). */
static void print_history(const zoo_history *h, int epochs)
{
    int nk = zoo_history_key_count(h);
    const char **keys = malloc((nk ? (size_t)nk : 1) * sizeof *keys);
    if (!keys)
        return;
    for (int i = 0; i < nk; i++)
        keys[i] = zoo_history_key(h, i);
    qsort(keys, (size_t)nk, sizeof *keys, cmp_str);
    for (int e = 0; e < zoo_history_epochs(h); e++) {
        printf("epoch %d/%d:", e + 1, epochs);
        for (int i = 0; i < nk; i++)
            printf(" %s=%.4f", keys[i], zoo_history_get(h, keys[i], e));
        putchar('\n');
    }
    free(keys);
}

static void report_skipped(const zoo_image_folder *train, const zoo_image_folder *val)
{
    int n = zoo_image_folder_skipped(train) + (val ? zoo_image_folder_skipped(val) : 0);
    if (n > 0) {
        fflush(stdout);
        fprintf(stderr, "zoo finetune: warning: %d file%s skipped (not a readable "
                "image; see the warnings above)\n", n, n == 1 ? "" : "s");
    }
}

/* Keras's image_dataset_from_directory split: the file list shuffled with
 * the seed (unless --no-shuffle), the last int(F * n) files validate, so the
 * held-out images are not all of the last classes. */
static bool split_validation(zoo_dataset *all, float fraction, bool shuffle,
                             unsigned long long seed, zoo_dataset **train,
                             zoo_dataset **val)
{
    int n = all->count, n_val = (int)((double)fraction * n);
    if (n_val < 1 || n_val >= n) {
        fprintf(stderr, "zoo finetune: --validation-split %g of %d images leaves %s\n",
                (double)fraction, n, n_val < 1 ? "no validation image" : "nothing to train on");
        return false;
    }
    int *order = malloc((size_t)n * sizeof *order);
    if (!order) {
        fprintf(stderr, "zoo finetune: out of memory\n");
        return false;
    }
    for (int i = 0; i < n; i++)
        order[i] = i;
    uint64_t state = seed ^ 0x53504c4954ull; /* Fisher-Yates, splitmix64 */
    for (int i = n - 1; shuffle && i > 0; i--) {
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        int j = (int)(z % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    *train = zoo_dataset_subset(all, order, n - n_val);
    *val = zoo_dataset_subset(all, order + (n - n_val), n_val);
    free(order);
    if (!*train || !*val) {
        fprintf(stderr, "zoo finetune: %s\n", zoo_last_error());
        return false;
    }
    return true;
}

int cmd_finetune(int argc, char **argv)
{
    finetune_args p;
    out_files files = {0};
    zoo_image_folder *train = NULL, *val = NULL;
    zoo_dataset *train_ds = NULL, *val_ds = NULL, *all_ds = NULL;
    finetune_model fm = {0};
    zoo_history *history = NULL;
    const char **class_names = NULL;
    int rc = parse_args(argc, argv, &p);
    if (rc >= 0)
        goto done;
    rc = EXIT_RUN_FAILURE;
    if (!out_files_init(&files, p.output)) {
        fprintf(stderr, "zoo finetune: out of memory\n");
        goto done;
    }
    if (!output_ok(p.output))
        goto done;
    const zoo_model_info *info;
    zoo_preprocess_mode mode;
    rc = tool_find_model("finetune", p.model, &info, &mode);
    if (rc >= 0)
        goto done;
    rc = EXIT_RUN_FAILURE;
    int size[2] = {p.size[0] ? p.size[0] : info->default_size,
                   p.size[1] ? p.size[1] : info->default_size};

    /* The data first: its classes size the classifier, and a bad folder
     * should fail before any download. */
    train = open_folder(p.data, "--data", size[0], size[1], mode, p.augment);
    if (!train)
        goto done;
    if (p.val_data) {
        val = open_folder(p.val_data, "--val-data", size[0], size[1], mode, false);
        if (!val || !same_classes(train, p.data, val, p.val_data))
            goto done;
    }
    int classes = zoo_image_folder_class_count(train);
    class_names = malloc((size_t)classes * sizeof *class_names);
    train_ds = zoo_image_folder_dataset(train);
    val_ds = val ? zoo_image_folder_dataset(val) : NULL;
    if (!class_names || !train_ds || (val && !val_ds)) {
        fprintf(stderr, "zoo finetune: cannot read the images: %s\n", zoo_last_error());
        goto done;
    }
    for (int i = 0; i < classes; i++)
        class_names[i] = zoo_image_folder_class_name(train, i);
    if (p.split_given) {
        all_ds = train_ds;
        train_ds = NULL;
        if (!split_validation(all_ds, p.validation_split, !p.no_shuffle, p.seed, &train_ds,
                              &val_ds))
            goto done;
    }

    if (!build_model(info, size, classes, p.dropout, &fm))
        goto done;
    rc = set_trainable(&fm, p.unfreeze_from, info->name);
    if (rc >= 0)
        goto done;
    rc = EXIT_RUN_FAILURE;
    if (!load_base_weights(info, p.weights, fm.base))
        goto done;
    /* The new layer's start depends on --seed alone. */
    if (zoo_layer_initialize(fm.predictions, p.seed) != ZOO_OK ||
        zoo_model_set_class_names(fm.model, class_names, classes) != ZOO_OK ||
        zoo_model_set_attr(fm.model, "preprocess", info->preprocess) != ZOO_OK ||
        zoo_model_set_attr(fm.model, "base_model", info->name) != ZOO_OK) {
        fprintf(stderr, "zoo finetune: cannot set up the model: %s\n", zoo_last_error());
        goto done;
    }

    zoo_compile_opts co = {
        .loss = {.kind = ZOO_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        .optimizer = {.kind = p.optimizer, .learning_rate = p.lr, .momentum = p.momentum},
        .metrics = {{.kind = ZOO_METRIC_ACCURACY}},
        .n_metrics = 1,
    };
    if (zoo_model_compile(fm.model, &co) != ZOO_OK) {
        fprintf(stderr, "zoo finetune: cannot compile the model: %s\n", zoo_last_error());
        goto done;
    }
    size_t total = zoo_model_param_count(fm.model);
    size_t trainable = zoo_model_trainable_param_count(fm.model);
    printf("data: %d images in %d classes from %s", zoo_image_folder_count(train),
           classes, p.data);
    if (val)
        printf("; validation: %d images from %s", zoo_image_folder_count(val), p.val_data);
    else if (all_ds)
        printf("; %d of them held out for validation", val_ds->count);
    printf("\nnetwork: %s at %dx%d, %zu parameters, %zu trainable\n", info->name, size[0],
           size[1], total, trainable);
    fflush(stdout);

    /* The progress bar shares stdout only when that is a terminal, so a
     * script reading stdout gets the history lines alone. */
    bool tty = isatty(STDOUT_FILENO);
    zoo_fit_opts fo = {
        .epochs = p.epochs,
        .batch_size = p.batch,
        .no_shuffle = p.no_shuffle,
        .seed = p.seed,
        .augment = p.augment,
        .validation_data = val_ds,
        .verbose = 1,
        .log = tty ? stdout : stderr,
        .threads = p.threads,
    };
    zoo_status st = zoo_model_fit(fm.model, train_ds, &fo, &history);
    if (st != ZOO_OK) {
        fflush(stdout);
        report_skipped(train, val);
        fprintf(stderr, "zoo finetune: training failed: %s\nNothing written.\n",
                zoo_last_error());
        goto done;
    }
    if (p.epochs == 0)
        printf("no training (--epochs 0): the model keeps its initial weights\n");
    print_history(history, p.epochs);
    fflush(stdout);
    report_skipped(train, val);

    char title[256];
    snprintf(title, sizeof title, "zoo finetune: %s on %d classes", info->name, classes);
    if (!write_outputs(&files, fm.model, history, title))
        goto done;
    printf("model: %s\nhistory: %s\nplot: %s\n", files.model, files.csv, files.svg);
    rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : EXIT_RUN_FAILURE;
done:
    zoo_history_free(history);
    finetune_model_free(&fm);
    zoo_dataset_free(val_ds);
    zoo_dataset_free(train_ds);
    zoo_dataset_free(all_ds);
    zoo_image_folder_free(val);
    zoo_image_folder_free(train);
    free(class_names);
    out_files_free(&files);
    return rc;
}
