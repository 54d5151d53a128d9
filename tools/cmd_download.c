/* zoo download MODEL... [--no-top] [--all] [--labels] [--mirror URL]
 * zoo download --url URL --hash HEX [-o NAME] [--mirror URL]
 * Fetches ImageNet weight files (or any file, like keras.utils.get_file)
 * into the cache and prints each local path on stdout. */
#include "tools/commands.h"

#include "zoo/download_internal.h"
#include <zoo/zoo.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void help(FILE *out)
{
    fprintf(out,
            "usage: zoo download MODEL... [--no-top] [--mirror URL] [--timeout S] [--quiet]\n"
            "       zoo download --all [--no-top] [--mirror URL] ...\n"
            "       zoo download --labels [--mirror URL] ...\n"
            "       zoo download --url URL --hash HEX [-o NAME] [--mirror URL] ...\n"
            "\n"
            "Fetches the official Keras ImageNet weight files of registry models (zoo list\n"
            "names them) into the cache, checks their hashes, and prints each file's local\n"
            "path on stdout. A file already cached with the right hash is not fetched again\n"
            "(no network at all), nor is one in an existing Keras cache ($KERAS_HOME/models\n"
            "or ~/.keras/models), which is used where it is.\n"
            "  MODEL              a model's weights with its classifier top\n"
            "  --no-top           the weights without the top instead\n"
            "  --all              every model, both variants (with --no-top: every\n"
            "                     model without its top); nothing else\n"
            "  --labels           Keras's imagenet_class_index.json (decode_predictions)\n"
            "  --url URL --hash HEX   any http:// or https:// file, like Keras's get_file:\n"
            "                     HEX is its MD5 (32 hex digits) or SHA-256 (64)\n"
            "  -o NAME            with --url: the file name in the cache (default: the\n"
            "                     URL's last component)\n"
            "  --mirror URL       fetch from URL instead of https://storage.googleapis.com/\n"
            "                     (http://host:port/ gets http://host:port/tensorflow/...);\n"
            "                     default $ZOO_MIRROR\n"
            "  --timeout S        connect and stall timeout in seconds (default $ZOO_TIMEOUT,\n"
            "                     else %d); a stalled server is given up after %d times that,\n"
            "                     retries included\n"
            "  -q, --quiet        no progress bar (it is drawn only on a terminal anyway)\n"
            "\n"
            "Cache: $ZOO_HOME, default ~/.cache/zoo. Downloads go to NAME.part, resume\n"
            "after an interruption, and are renamed to NAME only once the hash matches.\n"
            "MobileNet and MobileNetV2 files have no published hash (Keras checks none):\n"
            "they are accepted once whole, unverified. HTTPS certificates are verified;\n"
            "http_proxy, https_proxy and no_proxy are honoured. Offline, place a file by\n"
            "hand at the cache path the error names.\n"
            "\n"
            "Exit status: 0 success, 1 run-time failure, 2 usage error.\n",
            ZOO_DEFAULT_TIMEOUT_S, ZOO_STALL_FACTOR);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "zoo download: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun 'zoo download --help' for the options.\n");
    return EXIT_USAGE;
}

/* "--name VALUE" or "--name=VALUE" (see cmd_predict.c). */
static const char *option_value(int argc, char **argv, int *i, const char *name,
                                bool *missing)
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

typedef struct {
    const char *models[256];
    int n_models;
    bool no_top, all, labels, quiet;
    const char *url, *hash, *name, *mirror;
    int timeout;
} download_args;

/* -1 when the arguments are fine, else the exit code. */
static int parse_args(int argc, char **argv, download_args *d)
{
    *d = (download_args){0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool missing = false;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            return 0;
        } else if (strcmp(a, "--no-top") == 0) {
            d->no_top = true;
        } else if (strcmp(a, "--all") == 0) {
            d->all = true;
        } else if (strcmp(a, "--labels") == 0) {
            d->labels = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            d->quiet = true;
        } else if ((v = option_value(argc, argv, &i, "--url", &missing))) {
            d->url = v;
        } else if ((v = option_value(argc, argv, &i, "--hash", &missing))) {
            d->hash = v;
        } else if ((v = option_value(argc, argv, &i, "-o", &missing)) ||
                   (v = option_value(argc, argv, &i, "--output", &missing))) {
            d->name = v;
        } else if ((v = option_value(argc, argv, &i, "--mirror", &missing))) {
            d->mirror = v;
        } else if ((v = option_value(argc, argv, &i, "--timeout", &missing))) {
            char *end;
            errno = 0;
            long t = strtol(v, &end, 10);
            if (!*v || *end || errno || t < 1 || t > 86400)
                return usage_error("--timeout wants a whole number of seconds (1 to "
                                   "86400), got '%s'", v);
            d->timeout = (int)t;
        } else if (missing) {
            return usage_error("%s needs a value", a);
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else {
            if (d->n_models == (int)(sizeof d->models / sizeof d->models[0]))
                return usage_error("too many models (from '%s' on)", a);
            d->models[d->n_models++] = a;
        }
    }
    if (d->url) {
        if (d->n_models || d->all || d->labels || d->no_top)
            return usage_error("%s fetches one file: give no MODEL, --all, --labels "
                               "or --no-top with it", "--url");
        if (strncasecmp(d->url, "http://", 7) != 0 && strncasecmp(d->url, "https://", 8) != 0)
            return usage_error("--url wants an http:// or https:// URL, got '%s'", d->url);
        if (!d->hash)
            return usage_error("%s is required with --url: the file's MD5 (32 hex "
                               "digits) or SHA-256 (64)", "--hash");
        if (zoo_dl_hash_kind(d->hash) <= 0)
            return usage_error("--hash wants an MD5 (32 hex digits) or a SHA-256 (64), "
                               "got '%s'", d->hash);
        if (d->name && !zoo_dl_valid_name(d->name))
            return usage_error("-o wants a plain file name (no '/', not ending in .part "
                               "or .lock), got '%s'", d->name);
    } else {
        if (d->hash)
            return usage_error("%s goes with --url", "--hash");
        if (d->name)
            return usage_error("%s goes with --url", "-o");
        if (d->all && d->n_models)
            return usage_error("--all fetches every model; give no MODEL with it (got "
                               "'%s')", d->models[0]);
        if (!d->all && !d->n_models && !d->labels)
            return usage_error("%s", "nothing to download: name a MODEL (zoo list), or "
                               "give --all, --labels or --url");
    }
    if (d->mirror) {
        char *probe = zoo_dl_apply_mirror(ZOO_GCS_PREFIX "x", d->mirror);
        if (!probe)
            return usage_error("--mirror wants an http:// or https:// URL, got '%s'",
                               d->mirror);
        free(probe);
    }
    for (int i = 0; i < d->n_models; i++)
        if (!zoo_model_find(d->models[i])) {
            fprintf(stderr, "zoo download: %s\n", zoo_last_error());
            return EXIT_USAGE;
        }
    return -1;
}

static int report(char *path)
{
    if (!path) {
        fprintf(stderr, "zoo download: %s\n", zoo_last_error());
        return 1;
    }
    printf("%s\n", path);
    fflush(stdout);
    free(path);
    return 0;
}

int cmd_download(int argc, char **argv)
{
    download_args d;
    int rc = parse_args(argc, argv, &d);
    if (rc >= 0)
        return rc;
    zoo_download_opts opts = {.mirror = d.mirror, .timeout_s = d.timeout,
                              .progress = !d.quiet};
    int failed = 0;
    if (d.url) {
        failed += report(zoo_get_file(d.url, d.hash, d.name, &opts));
    } else if (d.all) {
        for (int i = 0; i < zoo_model_info_count(); i++) {
            const zoo_model_info *info = zoo_model_info_at(i);
            if (!d.no_top)
                failed += report(zoo_imagenet_weights(info, false, &opts));
            failed += report(zoo_imagenet_weights(info, true, &opts));
        }
    } else {
        for (int i = 0; i < d.n_models; i++)
            failed += report(zoo_imagenet_weights(zoo_model_find(d.models[i]), d.no_top,
                                                  &opts));
    }
    if (d.labels)
        failed += report(zoo_imagenet_labels(&opts));
    if (failed > 1)
        fprintf(stderr, "zoo download: %d files failed\n", failed);
    return failed ? EXIT_RUN_FAILURE : 0;
}
