/* Engine-private: fit's built-in callbacks (EarlyStopping, ModelCheckpoint,
 * ReduceLROnPlateau, CSVLogger, and the user's epoch hook), run after each
 * epoch's logs are in the history. */
#ifndef ZOO_ENGINE_CALLBACKS_H
#define ZOO_ENGINE_CALLBACKS_H

#include "engine/model.h"

typedef struct {
    bool max;      /* mode: improvement is an increase */
    double best;
    int wait;
} zoo_monitor;

typedef struct {
    zoo_model *m;
    const zoo_fit_opts *o;
    zoo_monitor stop, ckpt, plateau;
    int cooldown;           /* ReduceLROnPlateau's cooldown counter */
    zoo_tensor **best;      /* EarlyStopping's restore_best_weights copy */
    int n_best;
} zoo_callbacks;

/* Checks the monitored keys exist (validation keys need validation data). */
zoo_status zoo_callbacks_init(zoo_callbacks *cb, zoo_model *m, const zoo_fit_opts *o,
                              bool has_validation);
/* After epoch `epoch`: sets *stop when training should end. */
zoo_status zoo_callbacks_epoch_end(zoo_callbacks *cb, int epoch, zoo_history *h, bool *stop);
void zoo_callbacks_end(zoo_callbacks *cb);

#endif
