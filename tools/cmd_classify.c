/* zoo classify [--model NAME|FILE.h5] [--weights imagenet|FILE.h5] [--top K]
 *              [--json] [--batch N] [--threads N] [--preprocess MODE]
 *              IMAGE... | --list FILE | DIR
 * Keras's decode_predictions(model.predict(preprocess_input(load_img(...))))
 * for each image, batched through the network; a failing image is reported
 * on its own and never changes another image's result. A full-model .h5
 * (zoo finetune's, or Keras's model.save) classifies with its own input
 * size, preprocess mode and class names. */
#include "tools/commands.h"
#include "tools/images.h"

#include <zoo/zoo.h>

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

enum { DEFAULT_TOP = 5, DEFAULT_BATCH = 32, MAX_TOP = 1000 };

static void help(FILE *out)
{
    fprintf(out,
            "usage: zoo classify [--model NAME|FILE.h5] [--weights imagenet|FILE.h5]\n"
            "                    [--top K] [--json] [--batch N] [--threads N]\n"
            "                    [--preprocess caffe|tf|torch]\n"
            "                    IMAGE... | --list FILE | DIR\n"
            "\n"
            "Prints each image's top K classes (ImageNet's, or a model file's own),\n"
            "as Keras's "
            "decode_predictions(model.predict(preprocess_input(load_img(IMAGE,\n"
            "target_size=(S, S))))) gives them: the image is decoded (JPEG or PNG),\n"
            "converted to RGB, resized to the model's input size S x S with PIL's\n"
            "NEAREST filter (aspect ratio not kept), preprocessed in the model's mode\n"
            "and classified.\n"
            "  --model NAME       a registry model (zoo list shows them); default resnet50\n"
            "  --model FILE.h5    a full-model .h5 (Keras's model.save layout), such as\n"
            "                     zoo finetune writes: its weights, input size, class\n"
            "                     names and preprocess mode come from the file, so\n"
            "                     --weights is not needed. A value ending in .h5 or\n"
            "                     holding a '/' is a file; so is an existing file\n"
            "                     whose name is not a registry model\n"
            "  --preprocess MODE  caffe, tf or torch: how a model file's images are\n"
            "                     preprocessed, for files that do not say (zoo finetune's\n"
            "                     do); overrides what the file says\n"
            "  --weights imagenet the official ImageNet weights (default), downloaded once\n"
            "                     and cached under $ZOO_HOME (default ~/.cache/zoo)\n"
            "  --weights FILE.h5  Keras weights for MODEL with its classifier top; the\n"
            "                     network is then not used for the weights\n"
            "  --top K            classes per image, highest first (default 5, at most\n"
            "                     1000 and at most the model's classes)\n"
            "  --json             JSON Lines on stdout: one object per classified image,\n"
            "                     one line each, in input order:\n"
            "                     {\"image\": PATH, \"predictions\": [{\"index\": 386,\n"
            "                     \"wnid\": \"n02504458\", \"label\": \"African_elephant\",\n"
            "                     \"score\": 0.82}, ...]} with exactly K predictions;\n"
            "                     wnid and label are null when the class names are\n"
            "                     unavailable. A model file with its own class names\n"
            "                     gives {\"index\", \"label\", \"score\"} (no wnid).\n"
            "                     Nothing else goes to stdout.\n"
            "  --batch N          images per forward pass (default 32); results do not\n"
            "                     depend on it\n"
            "  --threads N        threads (default $ZOO_NUM_THREADS, else every core)\n"
            "  --list FILE        classify the images FILE names, one path a line\n"
            "                     (\"-\": standard input)\n"
            "  DIR                a directory given as the only argument: its *.jpg,\n"
            "                     *.jpeg and *.png files, sorted by name (not recursive)\n"
            "\n"
            "Without --json each image prints a block: its path, then one line per\n"
            "class: rank, label, score. The class names come from Keras's\n"
            "imagenet_class_index.json (cached, or fetched once), or from the model\n"
            "file; when they cannot be had (offline), classes print as indices and\n"
            "stderr says so once.\n"
            "\n"
            "An image that cannot be read (missing, not a regular file, truncated, not\n"
            "an image) is reported on stderr with the reason; the others are still\n"
            "classified. A progress bar is drawn on stderr when it is a terminal and\n"
            "there are more images than one batch.\n"
            "\n"
            "Exit status: 0 success, 1 run-time failure (including any image that\n"
            "failed), 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "zoo classify: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'zoo classify --help' for the options.\n");
    return EXIT_USAGE;
}

typedef struct {
    const char *model, *weights, *list, *preprocess;
    int top, batch, threads;
    bool json;
    char **images;
    int n_images;
} classify_args;

/* Returns -1 when the arguments are fine, else the exit code. */
static int parse_args(int argc, char **argv, classify_args *p)
{
    *p = (classify_args){.model = "resnet50", .weights = "imagenet",
                         .top = DEFAULT_TOP, .batch = DEFAULT_BATCH};
    p->images = calloc((size_t)argc, sizeof *p->images);
    if (!p->images) {
        fprintf(stderr, "zoo classify: out of memory\n");
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
        } else if (strcmp(a, "--json") == 0) {
            p->json = true;
        } else if ((v = tool_option_value(argc, argv, &i, "--model", &missing))) {
            p->model = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--weights", &missing))) {
            p->weights = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--list", &missing))) {
            p->list = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--preprocess", &missing))) {
            if (zoo_preprocess_parse(v) < 0)
                return usage_error("--preprocess wants caffe, tf or torch, got '%s'", v);
            p->preprocess = v;
        } else if ((v = tool_option_value(argc, argv, &i, "--top", &missing))) {
            if (!tool_positive_int(v, MAX_TOP, &p->top))
                return usage_error("--top wants an integer from 1 to 1000, got '%s'", v);
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
    if (!*p->model)
        return usage_error("%s--model needs a model name", "");
    if (!*p->weights)
        return usage_error("%s--weights needs 'imagenet' or a file", "");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    int n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* `s` as valid UTF-8 (malloc'd): bytes that are not UTF-8 (file names are
 * bytes) become U+FFFD, as Python's errors="replace" does, so every JSON
 * line parses. */
static char *utf8_replacing(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int k = utf8_len(p);
        if (k) {
            memcpy(o, p, (size_t)k);
            o += k;
            p += k;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    *o = '\0';
    return out;
}

static json_t *json_text_or_null(const char *s)
{
    if (!s)
        return json_null();
    char *u = utf8_replacing(s);
    json_t *j = u ? json_string(u) : NULL;
    free(u);
    return j;
}

/* Where class names come from: Keras's ImageNet index (wnid and name), or
 * the model file's own names (no wnid); either may be absent. */
typedef struct {
    const zoo_labels *imagenet;
    const zoo_model *own; /* the model's saved class names */
} class_names;

static const char *class_label(const class_names *c, int i)
{
    if (c->own)
        return zoo_model_class_name(c->own, i);
    return c->imagenet ? zoo_labels_name(c->imagenet, i) : NULL;
}

/* One JSON Lines record: {"image": ..., "predictions": [{"index": ...,
 * "wnid": ..., "label": ..., "score": ...}, ...]}; "wnid" is left out for a
 * model's own class names. Scores carry 9 significant digits (a float's
 * exact round trip). */
static void print_json(const char *path, const zoo_prediction *pr, int k,
                       const class_names *names)
{
    json_t *preds = json_array();
    for (int i = 0; i < k; i++) {
        json_t *one = json_object();
        json_object_set_new(one, "index", json_integer(pr[i].index));
        if (!names->own)
            json_object_set_new(one, "wnid", json_text_or_null(
                names->imagenet ? zoo_labels_wnid(names->imagenet, pr[i].index) : NULL));
        json_object_set_new(one, "label", json_text_or_null(class_label(names, pr[i].index)));
        json_object_set_new(one, "score", isfinite(pr[i].score) ? json_real(pr[i].score)
                                                               : json_null());
        json_array_append_new(preds, one);
    }
    json_t *record = json_object();
    json_object_set_new(record, "image", json_text_or_null(path));
    json_object_set_new(record, "predictions", preds);
    json_dumpf(record, stdout, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    putchar('\n');
    json_decref(record);
}

static void print_human(const char *path, const zoo_prediction *pr, int k,
                        const class_names *names)
{
    char buf[64];
    int width = 0;
    for (int i = 0; i < k; i++) {
        const char *name = class_label(names, pr[i].index);
        int len = name ? (int)strlen(name)
                       : snprintf(buf, sizeof buf, "class %d", pr[i].index);
        if (len > width)
            width = len;
    }
    printf("%s\n", path);
    for (int i = 0; i < k; i++) {
        const char *name = class_label(names, pr[i].index);
        if (!name) {
            snprintf(buf, sizeof buf, "class %d", pr[i].index);
            name = buf;
        }
        printf("%4d  %-*s  %.4f\n", i + 1, width, name, pr[i].score);
    }
}

/* ------------------------------------------------------------------ */
/* The model                                                           */
/* ------------------------------------------------------------------ */

/* The class names, or NULL after one warning line. */
static zoo_labels *load_labels(int classes)
{
    zoo_download_opts dopts = {0};
    char *path = zoo_imagenet_labels(&dopts);
    zoo_labels *labels = path ? zoo_labels_load(path) : NULL;
    char why[1024];
    snprintf(why, sizeof why, "%s", zoo_last_error());
    if (labels && zoo_labels_count(labels) != classes) {
        snprintf(why, sizeof why, "%s has %d classes, the model %d", path,
                 zoo_labels_count(labels), classes);
        zoo_labels_free(labels);
        labels = NULL;
    }
    if (!labels)
        fprintf(stderr, "zoo classify: warning: ImageNet class names unavailable "
                "(%s); printing class indices without labels\n",
                *why ? why : "unknown reason");
    free(path);
    return labels;
}

/* --model names a model file rather than a registry model: a value ending
 * in .h5/.hdf5 or holding a '/', or an existing file the registry does not
 * know. */
static bool names_model_file(const char *s)
{
    size_t n = strlen(s);
    if (strchr(s, '/') || (n > 3 && strcasecmp(s + n - 3, ".h5") == 0) ||
        (n > 5 && strcasecmp(s + n - 5, ".hdf5") == 0))
        return true;
    bool known = zoo_model_find(s) != NULL;
    zoo_clear_error();
    struct stat st;
    return !known && stat(s, &st) == 0 && S_ISREG(st.st_mode);
}

/* What the loop needs from either kind of model. */
typedef struct {
    zoo_model *m;
    int height, width;
    zoo_preprocess_mode mode;
    int classes;
    bool own_names; /* the model carries its class names */
} classifier;

/* A registry model with ImageNet weights or a weights file. Returns -1 on
 * success, else the exit code after printing why. */
static int open_registry_model(const classify_args *p, classifier *c)
{
    const zoo_model_info *info;
    zoo_preprocess_mode mode;
    int rc = tool_find_model("classify", p->model, &info, &mode);
    if (rc >= 0)
        return rc;
    if (p->preprocess)
        return usage_error("--preprocess %s applies to a model file; a registry "
                           "model uses its own mode", p->preprocess);
    char *weights;
    if (strcmp(p->weights, "imagenet") == 0) {
        zoo_download_opts dopts = {.progress = true};
        weights = zoo_imagenet_weights(info, false, &dopts);
        if (!weights) {
            fprintf(stderr, "zoo classify: cannot get the ImageNet weights of %s: "
                    "%s\n(--weights FILE.h5 uses a local copy)\n", info->name,
                    zoo_last_error());
            return EXIT_RUN_FAILURE;
        }
    } else {
        weights = strdup(p->weights);
        if (!weights) {
            fprintf(stderr, "zoo classify: out of memory\n");
            return EXIT_RUN_FAILURE;
        }
    }
    rc = -1;
    c->m = info->build(&(zoo_net_opts){.skip_random_init = true});
    if (!c->m) {
        fprintf(stderr, "zoo classify: cannot build %s: %s\n", info->name,
                zoo_last_error());
        rc = EXIT_RUN_FAILURE;
    } else if (zoo_model_load_weights(c->m, weights, NULL) != ZOO_OK) {
        fprintf(stderr, "zoo classify: cannot load weights '%s' into %s (with "
                "its classifier top): %s\n", weights, info->name, zoo_last_error());
        rc = EXIT_RUN_FAILURE;
    }
    free(weights);
    c->height = c->width = info->default_size;
    c->mode = mode;
    return rc;
}

/* A full-model .h5: weights, input size, class names and preprocess mode
 * from the file. Returns -1 on success, else the exit code. */
static int open_model_file(const classify_args *p, classifier *c)
{
    if (strcmp(p->weights, "imagenet") != 0)
        return usage_error("--weights %s: a model file (--model FILE.h5) holds its "
                           "own weights; leave --weights out", p->weights);
    c->m = zoo_model_load(p->model);
    if (!c->m) {
        fprintf(stderr, "zoo classify: cannot load the model file '%s': %s\n",
                p->model, zoo_last_error());
        return EXIT_RUN_FAILURE;
    }
    zoo_sym *in = zoo_model_input_count(c->m) == 1 ? zoo_model_input(c->m, 0) : NULL;
    const int *s = in ? zoo_sym_shape(in) : NULL;
    if (!in || zoo_sym_rank(in) != 4 || s[3] != 3) {
        fprintf(stderr, "zoo classify: %s is not an image classifier: it needs one "
                "input of shape (None, H, W, 3)\n", p->model);
        return EXIT_RUN_FAILURE;
    }
    if (s[1] < 1 || s[2] < 1) {
        fprintf(stderr, "zoo classify: %s does not fix its input size (%s); zoo "
                "needs a model saved with a known height and width\n", p->model,
                zoo_shape_format(4, s, (char[64]){0}, 64));
        return EXIT_RUN_FAILURE;
    }
    c->height = s[1];
    c->width = s[2];
    const char *mode = p->preprocess ? p->preprocess : zoo_model_attr(c->m, "preprocess");
    if (!mode)
        return usage_error("%s does not say how its images are preprocessed (no "
                           "\"preprocess\" attribute): pass --preprocess caffe|tf|torch "
                           "(the mode of the model it was trained from)", p->model);
    int m = zoo_preprocess_parse(mode);
    if (m < 0) {
        fprintf(stderr, "zoo classify: %s: unknown preprocess mode '%s' in the file; "
                "pass --preprocess caffe|tf|torch\n", p->model, mode);
        return EXIT_RUN_FAILURE;
    }
    c->mode = (zoo_preprocess_mode)m;
    c->own_names = zoo_model_class_name_count(c->m) > 0;
    return -1;
}

/* ------------------------------------------------------------------ */
/* The command                                                         */
/* ------------------------------------------------------------------ */

int cmd_classify(int argc, char **argv)
{
    classify_args p;
    image_list list = {0};
    classifier c = {0};
    zoo_labels *labels = NULL;
    zoo_prediction *preds = NULL;
    int rc = parse_args(argc, argv, &p);
    if (rc >= 0)
        goto done;

    bool file_model = names_model_file(p.model);
    struct stat st;
    if (file_model && stat(p.model, &st) != 0) {
        rc = usage_error("--model %s: no such file; give a registry model name (zoo "
                         "list shows them) or a full-model .h5 (zoo finetune writes "
                         "them)", p.model);
        goto done;
    }
    if (!file_model) {
        /* Usage problems with the model come before reading the list. */
        const zoo_model_info *info;
        zoo_preprocess_mode mode;
        rc = tool_find_model("classify", p.model, &info, &mode);
        if (rc >= 0)
            goto done;
        if (p.preprocess) {
            rc = usage_error("--preprocess %s applies to a model file; a registry "
                             "model uses its own mode", p.preprocess);
            goto done;
        }
    }
    rc = image_list_expand("classify", p.images, p.n_images, p.list, &list);
    if (rc >= 0)
        goto done;
    rc = file_model ? open_model_file(&p, &c) : open_registry_model(&p, &c);
    if (rc >= 0)
        goto done;

    zoo_sym *out = zoo_model_output_count(c.m) == 1 ? zoo_model_output(c.m, 0) : NULL;
    if (!out || zoo_sym_rank(out) != 2 || zoo_sym_shape(out)[1] < 1) {
        fprintf(stderr, "zoo classify: %s's output is not a row of class scores\n",
                p.model);
        rc = EXIT_RUN_FAILURE;
        goto done;
    }
    int classes = zoo_sym_shape(out)[1];
    if (c.own_names && zoo_model_class_name_count(c.m) != classes) {
        fprintf(stderr, "zoo classify: %s has %d class names for %d outputs\n", p.model,
                zoo_model_class_name_count(c.m), classes);
        rc = EXIT_RUN_FAILURE;
        goto done;
    }
    int top = p.top < classes ? p.top : classes;
    /* A model file without names of its own may still be an ImageNet
     * classifier (Keras's model.save of an application). */
    if (!c.own_names && (!file_model || classes == 1000))
        labels = load_labels(classes);
    else if (!c.own_names)
        fprintf(stderr, "zoo classify: warning: %s has no class names; printing "
                "class indices\n", p.model);
    class_names names = {.imagenet = labels, .own = c.own_names ? c.m : NULL};
    preds = malloc((size_t)top * sizeof *preds);
    if (!preds) {
        fprintf(stderr, "zoo classify: out of memory\n");
        rc = EXIT_RUN_FAILURE;
        goto done;
    }

    int threads = p.threads ? p.threads : zoo_default_threads();
    zoo_predict_opts popts = {.threads = threads, .batch_size = p.batch};
    int failed = 0, printed = 0;
    bool write_error = false;
    progress_bar bar;
    progress_start(&bar, list.n, p.batch);
    progress_set(&bar, 0);
    for (int start = 0; start < list.n; start += p.batch) {
        int n = list.n - start < p.batch ? list.n - start : p.batch;
        const char *const *paths = (const char *const *)list.paths + start;
        image_batch b;
        if (!image_batch_load_hw(paths, n, c.height, c.width, c.mode, threads, &b)) {
            progress_end(&bar);
            fprintf(stderr, "zoo classify: out of memory loading %d images\n", n);
            rc = EXIT_RUN_FAILURE;
            goto done;
        }
        zoo_tensor *y = NULL;
        char why[1024] = "";
        if (b.n_ok > 0 && zoo_model_predict(c.m, &b.x, 1, &y, 1, &popts) != ZOO_OK)
            snprintf(why, sizeof why, "prediction failed: %s", zoo_last_error());
        progress_hide(&bar);
        for (int i = 0; i < n; i++) {
            if (b.row[i] < 0 || !y) {
                fflush(stdout); /* keep stdout and stderr in order on a terminal */
                image_report_failure("classify", paths[i],
                                     b.row[i] < 0 ? b.error[i] : why);
                failed++;
                continue;
            }
            const float *scores = zoo_tensor_cdata(y) + (size_t)b.row[i] * (size_t)classes;
            int k = zoo_top_k(scores, classes, top, preds);
            if (p.json) {
                print_json(paths[i], preds, k, &names);
            } else {
                if (printed > 0)
                    putchar('\n');
                print_human(paths[i], preds, k, &names);
            }
            printed++;
        }
        if (fflush(stdout) != 0 || ferror(stdout))
            write_error = true;
        zoo_tensor_free(y);
        image_batch_free(&b);
        if (write_error)
            break;
        progress_set(&bar, start + n);
    }
    progress_end(&bar);
    if (write_error) {
        fprintf(stderr, "zoo classify: cannot write the results: %s\n",
                strerror(errno ? errno : EIO));
        rc = EXIT_RUN_FAILURE;
    } else if (failed) {
        fprintf(stderr, "zoo classify: %d of %d image%s failed\n", failed, list.n,
                list.n == 1 ? "" : "s");
        rc = EXIT_RUN_FAILURE;
    } else {
        rc = 0;
    }
done:
    free(preds);
    if (labels)
        zoo_labels_free(labels);
    zoo_model_free(c.m);
    image_list_free(&list);
    free(p.images);
    return rc;
}
