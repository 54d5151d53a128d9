/* zoo list: every model with its input size, parameters, preprocessing and
 * weight files. */
#include "tools/commands.h"

#include <zoo/zoo.h>

#include <stdio.h>
#include <string.h>

static const char *basename_of(const char *url)
{
    const char *slash = strrchr(url, '/');
    return slash ? slash + 1 : url;
}

int cmd_list(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: zoo list\n\nLists every model: default input size, parameter count,\n"
               "preprocess_input mode and ImageNet weight files.\n");
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "zoo list: unexpected argument '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    printf("%-14s %-9s %12s  %-10s %s\n", "MODEL", "INPUT", "PARAMS", "PREPROCESS",
           "WEIGHTS (top / no top)");
    for (int i = 0; i < zoo_model_info_count(); i++) {
        const zoo_model_info *info = zoo_model_info_at(i);
        zoo_model *m = info->build(&(zoo_net_opts){.skip_random_init = true});
        if (!m) {
            fprintf(stderr, "zoo list: %s: %s\n", info->name, zoo_last_error());
            return EXIT_RUN_FAILURE;
        }
        char size[32];
        snprintf(size, sizeof size, "%dx%d", info->default_size, info->default_size);
        printf("%-14s %-9s %12zu  %-10s %s / %s\n", info->name, size,
               zoo_model_param_count(m), info->preprocess, basename_of(info->top.url),
               basename_of(info->no_top.url));
        zoo_model_free(m);
    }
    return 0;
}
