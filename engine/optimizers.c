/* Keras 3 optimizers: SGD (momentum, Nesterov), RMSprop (centered,
 * momentum), Adam and AdamW (AMSGrad). A step runs in Keras's order:
 * gradient clipping, decoupled weight decay w -= w * wd * lr, then the
 * update, all at the rate schedule(iterations) before the step count
 * grows. Updates are float32 arithmetic, as Keras on float32 variables;
 * only norms and rates are computed in double. */
#include "engine/lr_schedules.h"
#include "engine/tensor.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>

/* Variables smaller than this are updated on one thread. */
#define PARALLEL_MIN 32768
#define MAX_SLOTS 3

static const char *const opt_names[] = {
    [ZOO_OPT_SGD] = "sgd",
    [ZOO_OPT_RMSPROP] = "rmsprop",
    [ZOO_OPT_ADAM] = "adam",
    [ZOO_OPT_ADAMW] = "adamw",
};
#define N_OPTS ((int)(sizeof opt_names / sizeof opt_names[0]))

/* Per-variable state, by position: SGD {momentum}; RMSprop {velocity,
 * average gradient, momentum}; Adam {m, v, v_hat}. Unused slots are NULL. */
typedef struct {
    size_t size;
    float *slot[MAX_SLOTS];
} opt_var;

struct zoo_optimizer {
    zoo_optimizer_cfg cfg; /* Keras defaults filled in */
    bool uses[MAX_SLOTS];  /* which slots this configuration needs */
    long long iterations;
    double scale;          /* product of scale_learning_rate factors */
    int n_vars;            /* -1 until the first step */
    opt_var *vars;
};

const char *zoo_optimizer_name(zoo_optimizer_kind kind)
{
    return (int)kind >= 0 && (int)kind < N_OPTS ? opt_names[kind] : NULL;
}

/* Case-insensitive, as Keras's optimizers.get() ("Adam" or "adam"). */
int zoo_optimizer_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < N_OPTS; i++) {
        const char *a = name, *b = opt_names[i];
        while (*a && tolower((unsigned char)*a) == *b)
            a++, b++;
        if (!*a && !*b)
            return i;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

/* A field that must be a finite number >= 0 (and below `below` if > 0). */
static zoo_status check_field(const char *opt, const char *field, float v,
                              double below)
{
    if (!isfinite(v) || v < 0.0f)
        return zoo_error(ZOO_ERR_ARGUMENT, "%s: %s is %g; it must be a number >= 0",
                         opt, field, (double)v);
    if (below > 0.0 && v >= below)
        return zoo_error(ZOO_ERR_ARGUMENT, "%s: %s is %g; it must be in [0, %g)",
                         opt, field, (double)v, below);
    return ZOO_OK;
}

/* A field the optimizer does not have (Keras rejects the argument). */
static zoo_status check_unused(const char *opt, const char *field, bool set)
{
    if (set)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s has no %s argument; leave it 0 or pick an optimizer "
                         "that has one", opt, field);
    return ZOO_OK;
}

#define TRY(expr)                         \
    do {                                  \
        zoo_status try_st_ = (expr);      \
        if (try_st_ != ZOO_OK)            \
            return try_st_;               \
    } while (0)

static zoo_status resolve(const zoo_optimizer_cfg *in, zoo_optimizer_cfg *c)
{
    *c = *in;
    const char *name = zoo_optimizer_name(c->kind);
    if (!name)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "optimizer: unknown kind %d (sgd, rmsprop, adam, adamw)",
                         (int)c->kind);
    bool sgd = c->kind == ZOO_OPT_SGD, rms = c->kind == ZOO_OPT_RMSPROP;
    bool adam = c->kind == ZOO_OPT_ADAM || c->kind == ZOO_OPT_ADAMW;
    TRY(check_field(name, "learning_rate", c->learning_rate, 0));
    TRY(check_field(name, "momentum", c->momentum, 1));
    TRY(check_field(name, "rho", c->rho, 1));
    TRY(check_field(name, "beta_1", c->beta_1, 1));
    TRY(check_field(name, "beta_2", c->beta_2, 1));
    TRY(check_field(name, "epsilon", c->epsilon, 0));
    TRY(check_field(name, "weight_decay", c->weight_decay, 0));
    TRY(check_field(name, "clipnorm", c->clipnorm, 0));
    TRY(check_field(name, "clipvalue", c->clipvalue, 0));
    TRY(check_field(name, "global_clipnorm", c->global_clipnorm, 0));
    TRY(check_unused(name, "momentum", adam && c->momentum != 0.0f));
    TRY(check_unused(name, "nesterov", !sgd && c->nesterov));
    TRY(check_unused(name, "rho", !rms && c->rho != 0.0f));
    TRY(check_unused(name, "centered", !rms && c->centered));
    TRY(check_unused(name, "beta_1", !adam && c->beta_1 != 0.0f));
    TRY(check_unused(name, "beta_2", !adam && c->beta_2 != 0.0f));
    TRY(check_unused(name, "amsgrad", !adam && c->amsgrad));
    TRY(check_unused(name, "epsilon", sgd && c->epsilon != 0.0f));
    int clips = (c->clipnorm > 0.0f) + (c->clipvalue > 0.0f) + (c->global_clipnorm > 0.0f);
    if (clips > 1)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s: set only one of clipnorm, clipvalue and "
                         "global_clipnorm (Keras accepts one)", name);
    TRY(zoo_lr_schedule_check(&c->schedule));

    if (c->learning_rate == 0.0f)
        c->learning_rate = sgd ? 0.01f : 0.001f;
    if (c->rho == 0.0f && rms)
        c->rho = 0.9f;
    if (adam) {
        if (c->beta_1 == 0.0f)
            c->beta_1 = 0.9f;
        if (c->beta_2 == 0.0f)
            c->beta_2 = 0.999f;
    }
    if (c->epsilon == 0.0f && !sgd)
        c->epsilon = 1e-7f;
    if (c->weight_decay == 0.0f && c->kind == ZOO_OPT_ADAMW)
        c->weight_decay = 0.004f;
    return ZOO_OK;
}

zoo_optimizer *zoo_optimizer_new(const zoo_optimizer_cfg *cfg)
{
    zoo_optimizer_cfg c;
    if (resolve(cfg ? cfg : &(zoo_optimizer_cfg){0}, &c) != ZOO_OK)
        return NULL;
    zoo_optimizer *o = calloc(1, sizeof *o);
    if (!o) {
        zoo_error(ZOO_ERR_MEMORY, "optimizer: out of memory");
        return NULL;
    }
    o->cfg = c;
    o->scale = 1.0;
    o->n_vars = -1;
    switch (c.kind) {
    case ZOO_OPT_SGD:
        o->uses[0] = c.momentum > 0.0f;
        break;
    case ZOO_OPT_RMSPROP:
        o->uses[0] = true;
        o->uses[1] = c.centered;
        o->uses[2] = c.momentum > 0.0f;
        break;
    default:
        o->uses[0] = o->uses[1] = true;
        o->uses[2] = c.amsgrad;
        break;
    }
    return o;
}

static void free_vars(opt_var *vars, int n)
{
    for (int i = 0; vars && i < n; i++)
        for (int s = 0; s < MAX_SLOTS; s++)
            free(vars[i].slot[s]);
    free(vars);
}

void zoo_optimizer_free(zoo_optimizer *o)
{
    if (!o)
        return;
    free_vars(o->vars, o->n_vars);
    free(o);
}

long long zoo_optimizer_iterations(const zoo_optimizer *o)
{
    return o ? o->iterations : 0;
}

double zoo_optimizer_learning_rate(const zoo_optimizer *o)
{
    if (!o)
        return 0.0;
    return zoo_lr_schedule_value(&o->cfg.schedule, o->cfg.learning_rate,
                                 o->iterations) * o->scale;
}

/* A factor that is not a positive number is ignored: there is no status
 * to report it through, and it could only corrupt the rate. */
void zoo_optimizer_scale_learning_rate(zoo_optimizer *o, double factor)
{
    if (o && isfinite(factor) && factor > 0.0)
        o->scale *= factor;
}

/* ------------------------------------------------------------------ */
/* One step                                                            */
/* ------------------------------------------------------------------ */

/* What every update kernel reads: the clipped gradient's factors and the
 * rates of this step. */
typedef struct {
    float gscale;   /* clipnorm / global_clipnorm factor (1 if none) */
    float clipv;    /* clipvalue bound (0 if none) */
    float lr;
    float decay;    /* weight_decay * lr (0 if none) */
    float alpha;    /* Adam's lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) */
    int threads;
} step_ctx;

static inline float clipped(float g, const step_ctx *s)
{
    g *= s->gscale;
    if (s->clipv > 0.0f)
        g = g < -s->clipv ? -s->clipv : g > s->clipv ? s->clipv : g;
    return g;
}

static void sgd_update(const zoo_optimizer_cfg *c, float *w, const float *g,
                       size_t n, float **slot, const step_ctx *s)
{
    float *m = slot[0], mu = c->momentum;
    bool nesterov = c->nesterov;
#pragma omp parallel for schedule(static) num_threads(s->threads) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float gi = clipped(g[i], s), wi = w[i];
        if (s->decay != 0.0f)
            wi -= wi * s->decay;
        if (m) {
            m[i] = mu * m[i] - s->lr * gi;
            wi += nesterov ? mu * m[i] - s->lr * gi : m[i];
        } else {
            wi -= s->lr * gi;
        }
        w[i] = wi;
    }
}

static void rmsprop_update(const zoo_optimizer_cfg *c, float *w, const float *g,
                           size_t n, float **slot, const step_ctx *s)
{
    float *v = slot[0], *a = slot[1], *mom = slot[2];
    float rho = c->rho, mu = c->momentum, eps = c->epsilon;
#pragma omp parallel for schedule(static) num_threads(s->threads) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float gi = clipped(g[i], s), wi = w[i];
        if (s->decay != 0.0f)
            wi -= wi * s->decay;
        v[i] = rho * v[i] + (1.0f - rho) * gi * gi;
        float den = v[i] + eps;
        if (a) {
            a[i] = rho * a[i] + (1.0f - rho) * gi;
            den = v[i] - a[i] * a[i] + eps;
        }
        /* Keras 3 puts epsilon inside the root. */
        float inc = s->lr * gi / sqrtf(den);
        if (mom) {
            mom[i] = mu * mom[i] + inc;
            wi -= mom[i];
        } else {
            wi -= inc;
        }
        w[i] = wi;
    }
}

static void adam_update(const zoo_optimizer_cfg *c, float *w, const float *g,
                        size_t n, float **slot, const step_ctx *s)
{
    float *m = slot[0], *v = slot[1], *vhat = slot[2];
    float b1 = c->beta_1, b2 = c->beta_2, eps = c->epsilon;
#pragma omp parallel for schedule(static) num_threads(s->threads) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) {
        float gi = clipped(g[i], s), wi = w[i];
        if (s->decay != 0.0f)
            wi -= wi * s->decay;
        m[i] += (gi - m[i]) * (1.0f - b1);
        v[i] += (gi * gi - v[i]) * (1.0f - b2);
        float vi = v[i];
        if (vhat) {
            vhat[i] = vhat[i] > vi ? vhat[i] : vi;
            vi = vhat[i];
        }
        /* The "epsilon-hat" form: epsilon added to the raw sqrt(v). */
        wi -= (m[i] * s->alpha) / (sqrtf(vi) + eps);
        w[i] = wi;
    }
}

static double sum_squares(const float *g, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return s;
}

/* Checks the call against the first one (or records it), before anything
 * changes. Returns how many variables have a gradient. */
static zoo_status check_step(zoo_optimizer *o, zoo_tensor *const *vars,
                             const zoo_tensor *const *grads, int n, int *with_grad)
{
    const char *name = zoo_optimizer_name(o->cfg.kind);
    if (n < 0 || (n > 0 && (!vars || !grads)))
        return zoo_error(ZOO_ERR_ARGUMENT, "%s: apply needs %s",
                         name, n < 0 ? "n >= 0" : "variable and gradient arrays");
    if (o->n_vars >= 0 && n != o->n_vars)
        return zoo_error(ZOO_ERR_ARGUMENT,
                         "%s: %d variables given, but the first step had %d; pass "
                         "the same variables in the same order every step",
                         name, n, o->n_vars);
    *with_grad = 0;
    for (int i = 0; i < n; i++) {
        const zoo_tensor *v = vars[i], *g = grads[i];
        if (!v)
            return zoo_error(ZOO_ERR_ARGUMENT, "%s: variable %d is NULL", name, i);
        if (o->n_vars >= 0 && v->size != o->vars[i].size)
            return zoo_error(ZOO_ERR_SHAPE,
                             "%s: variable %d has %zu values, but %zu on the "
                             "first step; pass the same variables in the same "
                             "order every step", name, i, v->size, o->vars[i].size);
        if (!g) /* no gradient: left alone, as Keras skips None */
            continue;
        (*with_grad)++;
        bool same = g->rank == v->rank;
        for (int d = 0; same && d < v->rank; d++)
            same = g->shape[d] == v->shape[d];
        if (!same) {
            char vs[96], gs[96];
            zoo_shape_format(v->rank, v->shape, vs, sizeof vs);
            zoo_shape_format(g->rank, g->shape, gs, sizeof gs);
            return zoo_error(ZOO_ERR_SHAPE,
                             "%s: gradient %d has shape %s but its variable %s",
                             name, i, gs, vs);
        }
    }
    return ZOO_OK;
}

/* Slot buffers for each variable, zero as Keras's initial state. */
static zoo_status create_slots(zoo_optimizer *o, zoo_tensor *const *vars, int n)
{
    opt_var *vs = calloc(n > 0 ? (size_t)n : 1, sizeof *vs);
    if (!vs)
        return zoo_error(ZOO_ERR_MEMORY, "optimizer: out of memory");
    for (int i = 0; i < n; i++) {
        vs[i].size = vars[i]->size;
        for (int s = 0; s < MAX_SLOTS; s++) {
            if (!o->uses[s])
                continue;
            vs[i].slot[s] = calloc(vs[i].size, sizeof(float));
            if (!vs[i].slot[s]) {
                free_vars(vs, n);
                return zoo_error(ZOO_ERR_MEMORY,
                                 "optimizer: cannot allocate state for variable "
                                 "%d (%zu values)", i, vars[i]->size);
            }
        }
    }
    o->vars = vs;
    o->n_vars = n;
    return ZOO_OK;
}

zoo_status zoo_optimizer_apply(zoo_optimizer *o, zoo_tensor *const *vars,
                               const zoo_tensor *const *grads, int n)
{
    if (!o)
        return zoo_error(ZOO_ERR_ARGUMENT, "zoo_optimizer_apply: optimizer is NULL");
    int with_grad = 0;
    TRY(check_step(o, vars, grads, n, &with_grad));
    if (with_grad == 0) /* Keras: nothing to apply, no step counted */
        return ZOO_OK;
    if (o->n_vars < 0)
        TRY(create_slots(o, vars, n));

    const zoo_optimizer_cfg *c = &o->cfg;
    double lr = zoo_optimizer_learning_rate(o);
    step_ctx s = {.gscale = 1.0f, .clipv = c->clipvalue, .lr = (float)lr,
                  .threads = zoo_default_threads()};
    s.decay = c->weight_decay > 0.0f ? c->weight_decay * s.lr : 0.0f;
    if (c->kind == ZOO_OPT_ADAM || c->kind == ZOO_OPT_ADAMW) {
        double t = (double)(o->iterations + 1);
        s.alpha = (float)(lr * sqrt(1.0 - pow(c->beta_2, t)) / (1.0 - pow(c->beta_1, t)));
    }
    float global = 1.0f;
    if (c->global_clipnorm > 0.0f) {
        /* Keras: clip * min(1 / norm, 1 / clip); a non-finite norm makes
         * every gradient NaN. */
        double ss = 0.0;
        for (int i = 0; i < n; i++)
            if (grads[i])
                ss += sum_squares(grads[i]->data, grads[i]->size);
        double norm = sqrt(ss);
        global = !isfinite(norm) ? NAN
                 : norm > c->global_clipnorm ? (float)(c->global_clipnorm / norm)
                                             : 1.0f;
    }
    for (int i = 0; i < n; i++) {
        if (!grads[i])
            continue;
        s.gscale = global;
        if (c->clipnorm > 0.0f) {
            /* Keras clip_by_norm: g * clip / max(norm, clip). */
            double norm = sqrt(sum_squares(grads[i]->data, grads[i]->size));
            s.gscale = (float)(c->clipnorm / (norm > c->clipnorm ? norm : c->clipnorm));
        }
        float *w = vars[i]->data;
        const float *g = grads[i]->data;
        size_t size = vars[i]->size;
        switch (c->kind) {
        case ZOO_OPT_SGD:
            sgd_update(c, w, g, size, o->vars[i].slot, &s);
            break;
        case ZOO_OPT_RMSPROP:
            rmsprop_update(c, w, g, size, o->vars[i].slot, &s);
            break;
        default:
            adam_update(c, w, g, size, o->vars[i].slot, &s);
            break;
        }
    }
    o->iterations++;
    return ZOO_OK;
}
