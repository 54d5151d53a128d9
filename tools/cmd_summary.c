/* zoo summary NAME [--no-top] [--input-shape H,W,C] [--pooling avg|max]
 *                  [--json-config] */
#include "tools/commands.h"

#include <zoo/zoo.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *out)
{
    fprintf(out,
            "usage: zoo summary MODEL [--no-top] [--input-shape H,W,C] [--pooling avg|max]\n"
            "                         [--json-config]\n"
            "\n"
            "Prints MODEL's layers as Keras's model.summary() does: name (type),\n"
            "output shape, parameter count, inbound layers, and the totals.\n"
            "  --no-top               without the classifier (include_top=False)\n"
            "  --input-shape H,W,C    input size (only with --no-top)\n"
            "  --pooling avg|max      global pooling after the last block (--no-top)\n"
            "  --json-config          print Keras's model.get_config() JSON instead\n"
            "                         (as model.to_json() wraps it)\n");
}

int cmd_summary(int argc, char **argv)
{
    const char *name = NULL;
    zoo_net_opts opts = {0};
    bool json_config = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            return 0;
        } else if (strcmp(a, "--no-top") == 0) {
            opts.no_top = true;
        } else if (strcmp(a, "--json-config") == 0) {
            json_config = true;
        } else if (strcmp(a, "--input-shape") == 0 && i + 1 < argc) {
            if (!parse_triple(argv[++i], opts.input_shape)) {
                fprintf(stderr, "zoo summary: --input-shape wants H,W,C (e.g. 160,160,3), got '%s'\n",
                        argv[i]);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--pooling") == 0 && i + 1 < argc) {
            const char *p = argv[++i];
            if (strcmp(p, "avg") == 0)
                opts.pooling = ZOO_POOL_AVG;
            else if (strcmp(p, "max") == 0)
                opts.pooling = ZOO_POOL_MAX;
            else {
                fprintf(stderr, "zoo summary: --pooling wants avg or max, got '%s'\n", p);
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' || name) {
            fprintf(stderr, "zoo summary: unexpected argument '%s'\n", a);
            help(stderr);
            return EXIT_USAGE;
        } else {
            name = a;
        }
    }
    if (!name) {
        help(stderr);
        return EXIT_USAGE;
    }
    const zoo_model_info *info = zoo_model_find(name);
    if (!info) {
        fprintf(stderr, "zoo summary: %s\n", zoo_last_error());
        return EXIT_USAGE;
    }
    zoo_model *m = info->build(&opts);
    if (!m) {
        fprintf(stderr, "zoo summary: %s: %s\n", name, zoo_last_error());
        return EXIT_USAGE;
    }
    zoo_status st = ZOO_OK;
    if (json_config) {
        char *json = zoo_model_to_json(m);
        if (json) {
            fputs(json, stdout);
            fputc('\n', stdout);
            free(json);
        } else {
            st = zoo_last_status();
        }
    } else {
        st = zoo_model_summary(m, stdout);
    }
    zoo_model_free(m);
    if (st != ZOO_OK) {
        fprintf(stderr, "zoo summary: %s\n", zoo_last_error());
        return EXIT_RUN_FAILURE;
    }
    return 0;
}
