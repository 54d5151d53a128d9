/* tools-private: a training history (zoo_history) drawn as a standalone
 * SVG: two panels, loss and accuracy against the epoch, each with the
 * training curve and, when the history has one, the validation curve. */
#ifndef ZOO_TOOLS_HISTORY_PLOT_H
#define ZOO_TOOLS_HISTORY_PLOT_H

#include <zoo/engine.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Writes the SVG document to `out`. `title` (may be NULL) heads the
 * figure. Epochs count from 1 on the x axis; NaN values are left out of
 * the curves; a history of 0 epochs gives empty, labelled panels.
 * Returns false on a write error. */
bool history_plot_write(const zoo_history *h, const char *title, FILE *out);

/* The same into `path`, written to a temporary file beside it and then
 * renamed, so `path` is either the whole plot or untouched. On failure
 * returns false with the reason in err. */
bool history_plot_save(const zoo_history *h, const char *title, const char *path,
                       char *err, size_t err_size);

#endif
