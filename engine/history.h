/* Engine-private: building a fit history epoch by epoch. */
#ifndef ZOO_ENGINE_HISTORY_H
#define ZOO_ENGINE_HISTORY_H

#include "engine.h"

zoo_history *zoo_history_new(void);
/* Records `value` under `key` for epoch `epoch` (epochs are added in
 * order; a key first seen later reads NAN for earlier epochs). */
zoo_status zoo_history_put(zoo_history *h, int epoch, const char *key, double value);

#endif
