/* Column sums of a row-major matrix (bias gradients: dBias = sum over every
 * pixel of dY). Each thread sums a fixed block of rows in double, then the
 * blocks are added in order, so the result does not depend on scheduling. */
#include "engine/cpu/cpu.h"

#include <stdlib.h>

zoo_status zoo_cpu_sum_rows(const float *a, int64_t rows, int cols,
                            float *sum, int threads)
{
    if (rows < 1 || cols < 1)
        return ZOO_OK;
    if (threads < 1)
        threads = 1;
    /* Small matrices are not worth a team. */
    if ((int64_t)threads > rows / 64 + 1)
        threads = (int)(rows / 64 + 1);
    double *part = calloc((size_t)threads * cols, sizeof *part);
    if (!part)
        return zoo_error(ZOO_ERR_MEMORY,
                         "cannot allocate %zu bytes for a bias gradient",
                         sizeof *part * (size_t)threads * cols);

#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < threads; t++) {
        const int64_t r0 = rows * t / threads, r1 = rows * (t + 1) / threads;
        double *restrict s = part + (size_t)t * cols;
        for (int64_t r = r0; r < r1; r++) {
            const float *restrict row = a + (size_t)r * cols;
            for (int j = 0; j < cols; j++)
                s[j] += row[j];
        }
    }
    for (int j = 0; j < cols; j++) {
        double s = 0.0;
        for (int t = 0; t < threads; t++)
            s += part[(size_t)t * cols + j];
        sum[j] += (float)s;
    }
    free(part);
    return ZOO_OK;
}
