/* sgemm over OpenBLAS, with the thread count set per call. */
#include "engine/cpu/cpu.h"

#include <cblas.h>

/* Declared again: not every cblas.h (netlib's) carries OpenBLAS's extras. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

void zoo_cpu_sgemm(bool trans_a, bool trans_b, int m, int n, int k,
                   float alpha, const float *a, int lda, const float *b,
                   int ldb, float beta, float *c, int ldc, int threads)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) { /* BLAS would reject lda = 0; the product is empty */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] =
                    beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
        return;
    }
    if (threads < 1)
        threads = 1;
    /* Setting it is a global write; skip it when nothing changes. */
    if (openblas_get_num_threads() != threads)
        openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
                b, ldb, beta, c, ldc);
}
