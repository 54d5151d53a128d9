/* Engine-private: how losses and metrics read a batch. Predictions are
 * seen as `rows` rows of `classes` values (the last axis), grouped into
 * `batch` samples of `rows_per_sample` rows each; labels are checked
 * against that layout once, here, for both losses.c and metrics.c. */
#ifndef ZOO_ENGINE_LOSSES_H
#define ZOO_ENGINE_LOSSES_H

#include "engine.h"

typedef struct {
    size_t rows;
    size_t classes;
    size_t batch;
    size_t rows_per_sample;
    bool sparse; /* y_true holds one class index per row */
} zoo_loss_layout;

/* Checks y_pred and y_true for `kind` and fills *lay. `who` starts the
 * error message ("categorical_crossentropy", "accuracy"). Classes are the
 * last axis, which must exist (rank >= 2) when `need_classes` is set;
 * otherwise a rank-1 y_pred is a batch of one value per sample. */
zoo_status zoo_loss_layout_check(const char *who, bool sparse,
                                 bool need_classes, const zoo_tensor *y_pred,
                                 const zoo_tensor *y_true,
                                 zoo_loss_layout *lay);

/* The class index stored as a float in row `row` of sparse labels: an
 * error unless it is a whole number in [0, classes). */
zoo_status zoo_sparse_label(const char *who, float v, size_t classes,
                            size_t row, size_t *label);

#endif
