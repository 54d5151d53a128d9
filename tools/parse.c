/* Small argument parsers shared by subcommands. */
#include "tools/commands.h"

#include <stdio.h>

int parse_triple(const char *s, int out[3])
{
    char tail;
    return sscanf(s, "%d,%d,%d%c", &out[0], &out[1], &out[2], &tail) == 3 &&
           out[0] > 0 && out[1] > 0 && out[2] > 0;
}
