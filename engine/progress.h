/* Engine-private: Keras-style fit progress ("Epoch 1/5", a bar with ETA
 * and the running logs on a terminal; one line per epoch with verbose 2). */
#ifndef ZOO_ENGINE_PROGRESS_H
#define ZOO_ENGINE_PROGRESS_H

#include "engine.h"

typedef struct {
    FILE *out;
    int mode;       /* 0 quiet, 1 bar (terminal only), 2 line per epoch */
    int steps;      /* batches in the epoch */
    double t0;      /* epoch start (seconds) */
    double drawn;   /* last redraw */
} zoo_progress;

/* Keys and values shown after the timing, in the given order. */
typedef struct {
    const char *const *keys;
    const double *values;
    int n;
} zoo_logs;

void zoo_progress_init(zoo_progress *p, FILE *out, int verbose);
void zoo_progress_epoch_begin(zoo_progress *p, int epoch, int epochs, int steps);
void zoo_progress_step(zoo_progress *p, int done, const zoo_logs *logs);
void zoo_progress_epoch_end(zoo_progress *p, const zoo_logs *logs);
double zoo_now_seconds(void);

#endif
