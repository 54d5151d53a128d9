/* How many threads a run uses when the caller does not say. */
#include "engine/engine.h"

#include <stdlib.h>
#include <unistd.h>

int zoo_default_threads(void)
{
    const char *env = getenv("ZOO_NUM_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n >= 1 && n <= 1024)
            return (int)n;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores >= 1 ? (int)cores : 1;
}
