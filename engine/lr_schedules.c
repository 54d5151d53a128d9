/* Learning-rate schedules as Keras's LearningRateSchedule classes compute
 * them from the optimizer's iteration count: constant, step decay,
 * ExponentialDecay and CosineDecay. */
#include "engine/lr_schedules.h"

#include <math.h>

#define PI 3.14159265358979323846

static const char *schedule_name(zoo_schedule_kind kind)
{
    switch (kind) {
    case ZOO_SCHEDULE_CONSTANT:
        return "constant";
    case ZOO_SCHEDULE_STEP:
        return "step";
    case ZOO_SCHEDULE_EXPONENTIAL:
        return "exponential";
    case ZOO_SCHEDULE_COSINE:
        return "cosine";
    }
    return NULL;
}

zoo_status zoo_lr_schedule_check(const zoo_lr_schedule *s)
{
    const char *name = schedule_name(s->kind);
    if (!name)
        return zoo_error(ZOO_ERR_ARGUMENT, "learning-rate schedule: unknown kind %d",
                         (int)s->kind);
    if (s->kind == ZOO_SCHEDULE_CONSTANT)
        return ZOO_OK;
    if (s->decay_steps <= 0)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s learning-rate schedule: decay_steps is %d; it must "
                         "be >= 1", name, s->decay_steps);
    if (s->kind == ZOO_SCHEDULE_COSINE) {
        if (!(s->alpha >= 0.0f && s->alpha <= 1.0f))
            return zoo_error(ZOO_ERR_ARGUMENT,
                             "cosine learning-rate schedule: alpha %g is outside "
                             "[0, 1] (it is the final rate as a fraction of the "
                             "initial one)", (double)s->alpha);
        return ZOO_OK;
    }
    if (!(s->decay_rate > 0.0f) || !isfinite(s->decay_rate))
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s learning-rate schedule: decay_rate %g must be a "
                         "positive number (0.5 halves the rate every "
                         "decay_steps)", name, (double)s->decay_rate);
    return ZOO_OK;
}

double zoo_lr_schedule_value(const zoo_lr_schedule *s, double initial,
                             long long step)
{
    double t = (double)step, n = (double)s->decay_steps;
    switch (s->kind) {
    case ZOO_SCHEDULE_STEP:
        return initial * pow(s->decay_rate, floor(t / n));
    case ZOO_SCHEDULE_EXPONENTIAL: {
        double p = t / n;
        return initial * pow(s->decay_rate, s->staircase ? floor(p) : p);
    }
    case ZOO_SCHEDULE_COSINE: {
        /* Keras CosineDecay: the step stops at decay_steps, so the rate
         * stays at alpha * initial afterwards. */
        double frac = (t < n ? t : n) / n;
        double cosine = 0.5 * (1.0 + cos(PI * frac));
        return initial * ((1.0 - s->alpha) * cosine + s->alpha);
    }
    default:
        return initial;
    }
}
