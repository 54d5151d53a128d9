/* The zoo command: dispatches to one subcommand per file. */
#include "tools/commands.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"summary", cmd_summary, "print a model's Keras-style layer table"},
    {"list", cmd_list, "list the models zoo knows"},
    {"bench", cmd_bench, "time a model's forward pass"},
    {"predict", cmd_predict, "run a model on a raw .npy batch, write the output .npy"},
    {"download", cmd_download, "fetch ImageNet weights (or any file) into the cache"},
    {"cache", cmd_cache, "list, verify or clean the download cache"},
    {"classify", cmd_classify, "top ImageNet classes of images"},
    {"features", cmd_features, "features of images from any layer, saved as .npy"},
    {"finetune", cmd_finetune, "train a classifier for a folder of class subfolders"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: zoo COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nRun 'zoo COMMAND --help' for a command's options.\n");
}

/* Activations of a batch run to tens of MB each. glibc serves blocks that
 * large with fresh mmaps, so every layer output would fault in and zero its
 * pages again (ResNet50 at batch 16: 4x slower than batch 1 per image).
 * Keeping them on the heap lets freed activations be reused. */
static void keep_large_blocks_on_the_heap(void)
{
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

int main(int argc, char **argv)
{
    keep_large_blocks_on_the_heap();
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "zoo: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
