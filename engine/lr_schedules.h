/* Engine-private: learning-rate schedules for optimizers.c. */
#ifndef ZOO_ENGINE_LR_SCHEDULES_H
#define ZOO_ENGINE_LR_SCHEDULES_H

#include "engine.h"

/* Checks the fields the schedule's kind reads (decay_steps > 0, ...). */
zoo_status zoo_lr_schedule_check(const zoo_lr_schedule *s);
/* The rate at optimizer step `step` (0 on the first batch), starting from
 * `initial`. `s` must have passed zoo_lr_schedule_check. */
double zoo_lr_schedule_value(const zoo_lr_schedule *s, double initial,
                             long long step);

#endif
