/* zoo features --model NAME [--layer LAYER] [--pooling avg|max]
 *              [--weights imagenet|FILE.h5] [--batch N] [--threads N]
 *              -o OUT.npy IMAGE... | --list FILE | DIR
 * One row of features per image, in input order, saved as a float32 .npy:
 * Keras's Model(base.input, base.get_layer(LAYER).output).predict(
 * preprocess_input(load_img(...))), or the pooled output of the model
 * without its top. */
#include "tools/commands.h"
#include "tools/images.h"

#include <zoo/zoo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { DEFAULT_BATCH = 32 };

static void help(FILE *out)
{
    fprintf(out,
            "usage: zoo features --model NAME [--layer LAYER] [--pooling avg|max]\n"
            "                    [--weights imagenet|FILE.h5] [--batch N] [--threads N]\n"
            "                    -o OUT.npy IMAGE... | --list FILE | DIR\n"
            "\n"
            "Saves one row of features per image, in input order, as a float32 NumPy\n"
            "array of shape (N, ...) (np.load reads it). Each image goes through\n"
            "Keras's pipeline: decoded (JPEG or PNG), converted to RGB, resized to the\n"
            "model's input size with PIL's NEAREST filter (aspect ratio not kept),\n"
            "preprocessed in the model's mode.\n"
            "  --model NAME       a registry model (zoo list shows them)\n"
            "  --layer LAYER      the output of that layer (zoo summary NAME lists them),\n"
            "                     e.g. block4_pool of vgg19: shape (N, 14, 14, 512).\n"
            "                     Without it: the model without its classifier top,\n"
            "                     globally pooled (Keras's include_top=False,\n"
            "                     pooling=\"avg\"): shape (N, channels)\n"
            "  --pooling avg|max  global pooling of those features (default avg without\n"
            "                     --layer, none with it; with --layer the layer's output\n"
            "                     must be a feature map)\n"
            "  --weights imagenet the official ImageNet weights (default): the file\n"
            "                     without the top, or with it when LAYER is in the top;\n"
            "                     downloaded once and cached under $ZOO_HOME\n"
            "  --weights FILE.h5  Keras weights for MODEL, without the top (as\n"
            "                     include_top=False saves them) or with it\n"
            "  -o, --output OUT.npy  where to write (replaced atomically; its directory\n"
            "                     must exist)\n"
            "  --batch N          images per forward pass (default 32)\n"
            "  --threads N        threads (default $ZOO_NUM_THREADS, else every core)\n"
            "  --list FILE        the images FILE names, one path a line (\"-\": stdin)\n"
            "  DIR                a directory given as the only argument: its *.jpg,\n"
            "                     *.jpeg and *.png files, sorted by name (not recursive)\n"
            "\n"
            "If any image cannot be read, each is reported on stderr, no output is\n"
            "written, and the exit status is 1: the rows would not match the inputs.\n"
            "\n"
            "Exit status: 0 success, 1 run-time failure, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "zoo features: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'zoo features --help' for the options.\n");
    return EXIT_USAGE;
}

typedef struct {
    const char *model, *layer, *weights, *output, *list;
    zoo_pooling pooling;
    bool pooling_given;
    int batch, threads;
    char **images;
    int n_images;
} features_args;

static int parse_args(int argc, char **argv, features_args *p)
{
    *p = (features_args){.weights = "imagenet", .batch = DEFAULT_BATCH};
    p->images = calloc((size_t)argc, sizeof *p->images);
    if (!p->images) {
        fprintf(stderr, "zoo features: out of memory\n");
        return EXIT_RUN_FAILURE;
    }
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
            p->images[p->n_images++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            options_done = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            return 0;
        } else if ((v = tool_option_value(argc, argv, &i, "--model", &missing))) {
            p->model = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--layer", &missing))) {
            p->layer = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--weights", &missing))) {
            p->weights = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--output", &missing)) ||
                   (!missing && (v = tool_option_value(argc, argv, &i, "-o", &missing)))) {
            p->output = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--list", &missing))) {
            p->list = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--pooling", &missing))) {
            p->pooling_given = true;
            if (strcmp(v, "avg") == 0)
                p->pooling = ZOO_POOL_AVG;
            else if (strcmp(v, "max") == 0)
                p->pooling = ZOO_POOL_MAX;
            else
                return usage_error("--pooling wants avg or max, got '%s'", v);
        } else if ((v = tool_option_value(argc, argv, &i, "--batch", &missing))) {
            if (!tool_positive_int(v, 1 << 16, &p->batch))
                return usage_error("--batch wants a positive integer, got '%s'", v);
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
        return usage_error("%s is required (zoo list shows the models)", "--model");
    if (!p->output)
        return usage_error("%s is required: where to write the features", "-o OUT.npy");
    if (!*p->weights)
        return usage_error("%s--weights needs 'imagenet' or a file", "");
    if (p->layer && !*p->layer)
        return usage_error("%s--layer needs a layer name", "");
    return -1;
}

/* The weights, loaded into the model without or with its top (whichever
 * holds `layer` and takes the file). On success *m and *no_top say which;
 * else prints why and returns false. */
static bool build_and_load(const zoo_model_info *info, const char *layer_arg,
                           const char *weights_arg, zoo_model **m, bool *no_top,
                           const char **layer_name)
{
    int s = info->default_size;
    zoo_net_opts opts = {.skip_random_init = true, .no_top = true,
                         .input_shape = {s, s, 3}};
    zoo_model *notop = info->build(&opts), *top = NULL;
    if (!notop) {
        fprintf(stderr, "zoo features: cannot build %s: %s\n", info->name,
                zoo_last_error());
        return false;
    }
    /* Without --layer: the last layer of the model without its top. */
    const char *layer = layer_arg ? layer_arg
                                  : zoo_layer_name(zoo_sym_layer(zoo_model_output(notop, 0)));
    bool in_notop = zoo_model_get_layer(notop, layer) != NULL;
    zoo_clear_error();
    opts.no_top = false;
    opts.input_shape[0] = opts.input_shape[1] = opts.input_shape[2] = 0;
    if (!in_notop) {
        top = info->build(&opts);
        if (!top) {
            fprintf(stderr, "zoo features: cannot build %s: %s\n", info->name,
                    zoo_last_error());
            zoo_model_free(notop);
            return false;
        }
        if (!zoo_model_get_layer(top, layer)) {
            fprintf(stderr, "zoo features: %s has no layer named '%s' (zoo "
                    "summary %s lists them)\n", info->name, layer, info->name);
            zoo_model_free(notop);
            zoo_model_free(top);
            return false;
        }
    }
    bool imagenet = strcmp(weights_arg, "imagenet") == 0;
    char *path = NULL;
    if (imagenet) {
        zoo_download_opts dopts = {.progress = true};
        path = zoo_imagenet_weights(info, in_notop, &dopts);
        if (!path) {
            fprintf(stderr, "zoo features: cannot get the ImageNet weights of %s "
                    "(%s the top): %s\n(--weights FILE.h5 uses a local copy)\n",
                    info->name, in_notop ? "without" : "with", zoo_last_error());
            zoo_model_free(notop);
            zoo_model_free(top);
            return false;
        }
    }
    const char *file = imagenet ? path : weights_arg;
    zoo_model *use = in_notop ? notop : top;
    bool ok = zoo_model_load_weights(use, file, NULL) == ZOO_OK;
    char why[1024];
    snprintf(why, sizeof why, "%s", zoo_last_error());
    if (!ok && in_notop && !imagenet) {
        /* Perhaps the file is the one with the top: the layer is there too. */
        top = info->build(&opts);
        if (top && zoo_model_get_layer(top, layer) &&
            zoo_model_load_weights(top, file, NULL) == ZOO_OK) {
            ok = true;
            use = top;
        }
    }
    if (!ok)
        fprintf(stderr, "zoo features: cannot load weights '%s' into %s (without "
                "or with its top): %s\n", file, info->name, why);
    if (ok) {
        *m = use;
        *no_top = use == notop;
        if (!layer_arg) {
            /* The name lives in notop: look it up again in the kept model. */
            *layer_name = zoo_layer_name(zoo_model_get_layer(use, layer));
        } else {
            *layer_name = layer_arg;
        }
    }
    if (use != notop || !ok)
        zoo_model_free(notop);
    if (use != top || !ok)
        zoo_model_free(top);
    free(path);
    return ok;
}

static char *shape_str(int rank, const int *shape, char *buf, size_t size)
{
    return zoo_shape_format(rank, shape, buf, size);
}

int cmd_features(int argc, char **argv)
{
    features_args p;
    image_list list = {0};
    zoo_model *m = NULL, *cut = NULL;
    zoo_tensor *feats = NULL;
    int rc = parse_args(argc, argv, &p);
    if (rc >= 0)
        goto done;
    /* Before any work: a typo in the output path fails at once. */
    if (!tool_output_writable("features", p.output)) {
        rc = EXIT_RUN_FAILURE;
        goto done;
    }
    const zoo_model_info *info;
    zoo_preprocess_mode mode;
    rc = tool_find_model("features", p.model, &info, &mode);
    if (rc >= 0)
        goto done;
    rc = image_list_expand("features", p.images, p.n_images, p.list, &list);
    if (rc >= 0)
        goto done;
    rc = EXIT_RUN_FAILURE;

    bool no_top = false;
    const char *layer = NULL;
    if (!build_and_load(info, p.layer, p.weights, &m, &no_top, &layer))
        goto done;
    zoo_pooling pooling = p.pooling_given ? p.pooling
                                          : (p.layer ? ZOO_POOL_NONE : ZOO_POOL_AVG);
    zoo_sym *in = zoo_model_input(m, 0);
    zoo_sym *out = zoo_layer_output(zoo_model_get_layer(m, layer), 0);
    char shape[128];
    if (out && pooling != ZOO_POOL_NONE) {
        if (zoo_sym_rank(out) != 4) {
            fprintf(stderr, "zoo features: %s's output has shape %s, not a "
                    "feature map (N, H, W, C): --pooling applies to 4-D outputs\n",
                    layer, shape_str(zoo_sym_rank(out), zoo_sym_shape(out), shape,
                                     sizeof shape));
            goto done;
        }
        zoo_graph *g = zoo_model_graph(m);
        out = zoo_apply(pooling == ZOO_POOL_AVG ? zoo_global_avg_pool2d(g, NULL)
                                                : zoo_global_max_pool2d(g, NULL),
                        out);
    }
    cut = out ? zoo_model_new(&in, 1, &out, 1, "features") : NULL;
    if (!cut) {
        fprintf(stderr, "zoo features: cannot take the output of '%s': %s\n",
                layer, zoo_last_error());
        goto done;
    }

    /* (N, ...the layer's output...), allocated before the run. */
    int rank = zoo_sym_rank(out);
    int fshape[ZOO_MAX_RANK];
    const int *os = zoo_sym_shape(out);
    size_t row = 1;
    fshape[0] = list.n;
    for (int d = 1; d < rank; d++) {
        if (os[d] < 1) {
            fprintf(stderr, "zoo features: '%s' has an output of unknown size %s\n",
                    layer, shape_str(rank, os, shape, sizeof shape));
            goto done;
        }
        fshape[d] = os[d];
        row *= (size_t)os[d];
    }
    feats = zoo_tensor_new(rank, fshape);
    if (!feats) {
        fprintf(stderr, "zoo features: cannot hold the features %s: %s\n",
                shape_str(rank, fshape, shape, sizeof shape), zoo_last_error());
        goto done;
    }

    int threads = p.threads ? p.threads : zoo_default_threads();
    zoo_predict_opts popts = {.threads = threads, .batch_size = p.batch};
    int size = info->default_size, failed = 0;
    progress_bar bar;
    progress_start(&bar, list.n, p.batch);
    progress_set(&bar, 0);
    for (int start = 0; start < list.n; start += p.batch) {
        int n = list.n - start < p.batch ? list.n - start : p.batch;
        const char *const *paths = (const char *const *)list.paths + start;
        image_batch b;
        if (!image_batch_load(paths, n, size, (zoo_preprocess_mode)mode, threads, &b)) {
            progress_end(&bar);
            fprintf(stderr, "zoo features: out of memory loading %d images\n", n);
            goto done;
        }
        progress_hide(&bar);
        for (int i = 0; i < n; i++) {
            if (b.row[i] < 0) {
                image_report_failure("features", paths[i], b.error[i]);
                failed++;
            }
        }
        /* Once an image has failed no output will be written: the rest
         * are only loaded, to report every failure at once. */
        if (!failed && b.n_ok > 0) {
            zoo_tensor *y = NULL;
            if (zoo_model_predict(cut, &b.x, 1, &y, 1, &popts) != ZOO_OK) {
                progress_end(&bar);
                fprintf(stderr, "zoo features: prediction failed on images %d to "
                        "%d: %s\n", start + 1, start + n, zoo_last_error());
                image_batch_free(&b);
                goto done;
            }
            memcpy(zoo_tensor_data(feats) + (size_t)start * row,
                   zoo_tensor_cdata(y), (size_t)n * row * sizeof(float));
            zoo_tensor_free(y);
        }
        image_batch_free(&b);
        progress_set(&bar, start + n);
    }
    progress_end(&bar);
    if (failed) {
        fprintf(stderr, "zoo features: %d of %d image%s failed; no output "
                "written to '%s'\n", failed, list.n, list.n == 1 ? "" : "s",
                p.output);
        goto done;
    }
    /* zoo_npy_save writes beside the target and renames. */
    if (zoo_npy_save(p.output, feats) != ZOO_OK) {
        fprintf(stderr, "zoo features: cannot write the output: %s\n",
                zoo_last_error());
        goto done;
    }
    printf("%s: %s float32, %s of %s%s\n", p.output,
           shape_str(rank, fshape, shape, sizeof shape), layer, info->name,
           pooling == ZOO_POOL_AVG ? " (global average pooled)"
           : pooling == ZOO_POOL_MAX ? " (global max pooled)" : "");
    rc = 0;
done:
    zoo_tensor_free(feats);
    zoo_model_free(cut);
    zoo_model_free(m);
    image_list_free(&list);
    free(p.images);
    return rc;
}
