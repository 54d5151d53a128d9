/*
 * Optimizers and learning-rate schedules against Keras 3's documented
 * update rules (shared/reference/KERAS_APPLICATIONS.md 7.1), worked out
 * here in double: the first updates of small vectors for SGD (momentum,
 * Nesterov), RMSprop (centered, momentum), Adam (AMSGrad), AdamW, weight
 * decay and the three clipping modes; the schedules' rates; rate scaling;
 * configuration and call errors. The first step of several cases is also
 * written out as literal numbers.
 */
#include "support.h"

#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#define N 3
#define STEPS 3

static const double W0[N] = {0.5, -1.0, 2.0};
static const double G[STEPS][N] = {
    {0.1, -0.2, 0.3},
    {-0.4, 0.5, 0.05},
    {0.2, 0.1, -0.3},
};

/* float32 updates against a double reference: a few ulps per step. */
static void expect_close(const float *got, const double *want, int n,
                         const char *what, int step)
{
    for (int i = 0; i < n; i++)
        cr_expect(fabs(got[i] - want[i]) <= 2e-6 + 2e-6 * fabs(want[i]),
                  "%s, step %d, w[%d]: got %.9g, want %.9g", what, step + 1, i,
                  (double)got[i], want[i]);
}

static zoo_tensor *vec(int n, const double *v)
{
    float f[64];
    for (int i = 0; i < n; i++)
        f[i] = (float)v[i];
    return zt_tensor_or_die(1, (int[]){n}, f);
}

static zoo_optimizer *new_or_die(const zoo_optimizer_cfg *cfg)
{
    zoo_optimizer *o = zoo_optimizer_new(cfg);
    cr_assert(o, "zoo_optimizer_new: %s", zoo_last_error());
    return o;
}

/* One step of the optimizer on w with gradient G[step]. */
static void step_or_die(zoo_optimizer *o, zoo_tensor *w, int step)
{
    zoo_tensor *g = vec(N, G[step]);
    zoo_tensor *const vars[] = {w};
    const zoo_tensor *const grads[] = {g};
    cr_assert_eq(zoo_optimizer_apply(o, vars, grads, 1), ZOO_OK, "apply: %s",
                 zoo_last_error());
    zoo_tensor_free(g);
}

/* Runs STEPS steps of `cfg` from W0 and compares each with want[step]. */
static void run_and_compare(const zoo_optimizer_cfg *cfg,
                            double want[STEPS][N], const char *what)
{
    zoo_optimizer *o = new_or_die(cfg);
    zoo_tensor *w = vec(N, W0);
    for (int s = 0; s < STEPS; s++) {
        step_or_die(o, w, s);
        expect_close(zoo_tensor_cdata(w), want[s], N, what, s);
        cr_expect_eq(zoo_optimizer_iterations(o), s + 1);
    }
    zoo_tensor_free(w);
    zoo_optimizer_free(o);
}

/* ------------------------------------------------------------------ */
/* SGD                                                                 */
/* ------------------------------------------------------------------ */

/* w <- w - lr g with Keras's default lr 0.01. Step 1 by hand:
 * 0.5 - 0.001 = 0.499, -1 + 0.002 = -0.998, 2 - 0.003 = 1.997. */
Test(sgd, plain_default_rate)
{
    double want[STEPS][N], w[N];
    memcpy(w, W0, sizeof w);
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++)
            want[s][i] = w[i] -= 0.01 * G[s][i];
    cr_expect_float_eq(want[0][0], 0.499, 1e-12);
    cr_expect_float_eq(want[0][1], -0.998, 1e-12);
    cr_expect_float_eq(want[0][2], 1.997, 1e-12);
    run_and_compare(&(zoo_optimizer_cfg){.kind = ZOO_OPT_SGD}, want, "sgd");
}

/* m <- mu m - lr g; w <- w + m (plain) or w + mu m - lr g (Nesterov).
 * lr 0.1, mu 0.9. Step 1, w[0]: m = -0.01; plain 0.49, Nesterov
 * 0.5 - 0.009 - 0.01 = 0.481. Step 2, w[0] plain: m = -0.009 + 0.04 =
 * 0.031, w = 0.521. */
static void momentum_case(bool nesterov)
{
    double want[STEPS][N], w[N], m[N] = {0};
    memcpy(w, W0, sizeof w);
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) {
            m[i] = 0.9 * m[i] - 0.1 * G[s][i];
            w[i] += nesterov ? 0.9 * m[i] - 0.1 * G[s][i] : m[i];
            want[s][i] = w[i];
        }
    cr_expect_float_eq(want[0][0], nesterov ? 0.481 : 0.49, 1e-12);
    if (!nesterov)
        cr_expect_float_eq(want[1][0], 0.521, 1e-12);
    run_and_compare(&(zoo_optimizer_cfg){.kind = ZOO_OPT_SGD, .learning_rate = 0.1f,
                                         .momentum = 0.9f, .nesterov = nesterov},
                    want, nesterov ? "nesterov" : "momentum");
}

Test(sgd, momentum) { momentum_case(false); }
Test(sgd, nesterov) { momentum_case(true); }

/* Decoupled weight decay before the update: w <- w - w wd lr, then
 * w - lr g. lr 0.1, wd 0.5: step 1, w[0] = 0.5 - 0.025 - 0.01 = 0.465. */
Test(sgd, weight_decay)
{
    double want[STEPS][N], w[N];
    memcpy(w, W0, sizeof w);
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) {
            w[i] -= w[i] * 0.5 * 0.1;
            want[s][i] = w[i] -= 0.1 * G[s][i];
        }
    cr_expect_float_eq(want[0][0], 0.465, 1e-12);
    run_and_compare(&(zoo_optimizer_cfg){.kind = ZOO_OPT_SGD, .learning_rate = 0.1f,
                                         .weight_decay = 0.5f},
                    want, "sgd weight decay");
}

/* Variables above the size where the update goes parallel get the same
 * float32 arithmetic as small ones. */
Test(sgd, large_variable)
{
    enum { BIG = 70001 };
    zoo_tensor *w = zoo_tensor_new(1, (int[]){BIG});
    zoo_tensor *g = zoo_tensor_new(1, (int[]){BIG});
    zt_fill_uniform(w, 1, -1, 1);
    zt_fill_uniform(g, 2, -1, 1);
    static double want[BIG], m[BIG];
    for (int i = 0; i < BIG; i++) {
        want[i] = zoo_tensor_data(w)[i];
        m[i] = 0;
    }
    zoo_optimizer *o = new_or_die(&(zoo_optimizer_cfg){
        .kind = ZOO_OPT_SGD, .learning_rate = 0.05f, .momentum = 0.5f});
    zoo_tensor *const vars[] = {w};
    const zoo_tensor *const grads[] = {g};
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(zoo_optimizer_apply(o, vars, grads, 1), ZOO_OK, "%s",
                     zoo_last_error());
        for (int i = 0; i < BIG; i++) {
            m[i] = 0.5 * m[i] - 0.05 * zoo_tensor_cdata(g)[i];
            want[i] += m[i];
        }
    }
    int bad = 0;
    for (int i = 0; i < BIG; i++)
        bad += !(fabs(zoo_tensor_cdata(w)[i] - want[i]) <= 1e-6);
    cr_expect_eq(bad, 0, "%d of %d elements differ", bad, BIG);
    zoo_optimizer_free(o);
    zoo_tensor_free(w);
    zoo_tensor_free(g);
}

/* ------------------------------------------------------------------ */
/* RMSprop                                                             */
/* ------------------------------------------------------------------ */

/* v <- rho v + (1 - rho) g^2; w <- w - lr g / sqrt(v + eps), defaults
 * lr 0.001, rho 0.9, eps 1e-7 (inside the root). Step 1, w[0]:
 * v = 0.1 * 0.01 = 0.001, w = 0.5 - 0.001 * 0.1 / sqrt(0.0010001). */
Test(rmsprop, defaults)
{
    double want[STEPS][N], w[N], v[N] = {0};
    memcpy(w, W0, sizeof w);
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) {
            v[i] = 0.9 * v[i] + 0.1 * G[s][i] * G[s][i];
            want[s][i] = w[i] -= 0.001 * G[s][i] / sqrt(v[i] + 1e-7);
        }
    cr_expect_float_eq(want[0][0], 0.5 - 0.0001 / sqrt(0.0010001), 1e-12);
    /* Epsilon outside the root (Keras 2) would differ visibly here. */
    cr_expect(fabs(want[0][0] - (0.5 - 0.0001 / (sqrt(0.001) + 1e-7))) > 1e-9);
    run_and_compare(&(zoo_optimizer_cfg){.kind = ZOO_OPT_RMSPROP}, want, "rmsprop");
}

/* Centered with momentum: a <- rho a + (1 - rho) g, denominator
 * v - a^2 + eps; mom <- mu mom + lr g / sqrt(den); w <- w - mom.
 * lr 0.01, rho 0.8, mu 0.5, eps 1e-3. */
Test(rmsprop, centered_momentum)
{
    double want[STEPS][N], w[N], v[N] = {0}, a[N] = {0}, mom[N] = {0};
    memcpy(w, W0, sizeof w);
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) {
            double g = G[s][i];
            v[i] = 0.8 * v[i] + 0.2 * g * g;
            a[i] = 0.8 * a[i] + 0.2 * g;
            mom[i] = 0.5 * mom[i] + 0.01 * g / sqrt(v[i] - a[i] * a[i] + 1e-3);
            want[s][i] = w[i] -= mom[i];
        }
    /* Step 1, w[0]: v = 0.002, a = 0.02, den = 0.002 - 0.0004 + 0.001. */
    cr_expect_float_eq(want[0][0], 0.5 - 0.001 / sqrt(0.0026), 1e-12);
    run_and_compare(&(zoo_optimizer_cfg){.kind = ZOO_OPT_RMSPROP, .learning_rate = 0.01f,
                                         .rho = 0.8f, .momentum = 0.5f, .centered = true,
                                         .epsilon = 1e-3f},
                    want, "rmsprop centered momentum");
}

/* ------------------------------------------------------------------ */
/* Adam, AdamW                                                         */
/* ------------------------------------------------------------------ */

/* t = iterations + 1; m <- m + (g - m)(1 - b1); v <- v + (g^2 - v)(1 - b2);
 * alpha = lr sqrt(1 - b2^t) / (1 - b1^t); w <- w - alpha m / (sqrt(v) + eps);
 * AMSGrad uses vhat = max(vhat, v); AdamW first w <- w - w wd lr. */
static void adam_reference(double lr, double b1, double b2, double eps,
                           bool amsgrad, double wd, const double g[STEPS][N],
                           double want[STEPS][N])
{
    double w[N], m[N] = {0}, v[N] = {0}, vh[N] = {0};
    memcpy(w, W0, sizeof w);
    for (int s = 0; s < STEPS; s++) {
        double t = s + 1;
        double alpha = lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t));
        for (int i = 0; i < N; i++) {
            w[i] -= w[i] * wd * lr;
            m[i] += (g[s][i] - m[i]) * (1 - b1);
            v[i] += (g[s][i] * g[s][i] - v[i]) * (1 - b2);
            vh[i] = vh[i] > v[i] ? vh[i] : v[i];
            want[s][i] = w[i] -= alpha * m[i] / (sqrt(amsgrad ? vh[i] : v[i]) + eps);
        }
    }
}

/* Defaults lr 0.001, b1 0.9, b2 0.999, eps 1e-7. Step 1 moves each weight
 * by about lr against the gradient's sign: m = 0.1 g, v = 0.001 g^2,
 * alpha = 0.001 sqrt(0.001) / 0.1, so w[0] = 0.5 - 0.001 * 0.01 /
 * (0.01 + 1e-8 / sqrt(0.001)) ~ 0.499. */
Test(adam, defaults)
{
    double want[STEPS][N];
    adam_reference(0.001, 0.9, 0.999, 1e-7, false, 0, G, want);
    cr_expect_float_eq(want[0][0], 0.5 - 0.001 * 0.01 / (0.01 + 1e-8 / sqrt(0.001)),
                       1e-12);
    run_and_compare(&(zoo_optimizer_cfg){.kind = ZOO_OPT_ADAM}, want, "adam");
}

/* A gradient that shrinks makes v fall (beta_2 0.9: v2 = 0.4009, v3 =
 * 0.3608 for w[0]), so AMSGrad's max(vhat, v) acts on the third step. */
Test(adam, amsgrad)
{
    static const double g[STEPS][N] = {
        {0.1, -0.2, 0.3}, {2.0, -1.5, 1.0}, {0.01, 0.02, -0.01}};
    double want[STEPS][N], plain[STEPS][N];
    adam_reference(0.01, 0.9, 0.9, 1e-7, true, 0, g, want);
    adam_reference(0.01, 0.9, 0.9, 1e-7, false, 0, g, plain);
    cr_assert(fabs(want[2][0] - plain[2][0]) > 1e-5, "the case does not exercise AMSGrad");
    zoo_optimizer *o = new_or_die(&(zoo_optimizer_cfg){
        .kind = ZOO_OPT_ADAM, .learning_rate = 0.01f, .beta_2 = 0.9f, .amsgrad = true});
    zoo_tensor *w = vec(N, W0);
    for (int s = 0; s < STEPS; s++) {
        zoo_tensor *gt = vec(N, g[s]);
        zoo_tensor *const vars[] = {w};
        const zoo_tensor *const grads[] = {gt};
        cr_assert_eq(zoo_optimizer_apply(o, vars, grads, 1), ZOO_OK, "%s", zoo_last_error());
        expect_close(zoo_tensor_cdata(w), want[s], N, "amsgrad", s);
        zoo_tensor_free(gt);
    }
    zoo_tensor_free(w);
    zoo_optimizer_free(o);
}

/* AdamW's default weight decay is 0.004. */
Test(adam, adamw_default_decay)
{
    double want[STEPS][N];
    adam_reference(0.01, 0.9, 0.999, 1e-7, false, 0.004, G, want);
    run_and_compare(&(zoo_optimizer_cfg){.kind = ZOO_OPT_ADAMW, .learning_rate = 0.01f},
                    want, "adamw");
}

Test(adam, adamw_custom)
{
    double want[STEPS][N];
    adam_reference(0.05, 0.8, 0.99, 1e-4, true, 0.1, G, want);
    run_and_compare(&(zoo_optimizer_cfg){.kind = ZOO_OPT_ADAMW, .learning_rate = 0.05f,
                                         .beta_1 = 0.8f, .beta_2 = 0.99f, .epsilon = 1e-4f,
                                         .amsgrad = true, .weight_decay = 0.1f},
                    want, "adamw custom");
}

/* ------------------------------------------------------------------ */
/* Clipping                                                            */
/* ------------------------------------------------------------------ */

/* Two variables through SGD (lr 1, so w moves by exactly the clipped
 * gradient): a = (3, 4) of norm 5 and b = (0.3, 0.4) of norm 0.5. */
static void clip_case(const zoo_optimizer_cfg *cfg, const double *want_a,
                      const double *want_b)
{
    zoo_tensor *a = vec(2, (double[]){0, 0}), *b = vec(2, (double[]){1, 1});
    zoo_tensor *ga = vec(2, (double[]){3, 4}), *gb = vec(2, (double[]){0.3, 0.4});
    zoo_optimizer *o = new_or_die(cfg);
    zoo_tensor *const vars[] = {a, b};
    const zoo_tensor *const grads[] = {ga, gb};
    cr_assert_eq(zoo_optimizer_apply(o, vars, grads, 2), ZOO_OK, "%s", zoo_last_error());
    expect_close(zoo_tensor_cdata(a), want_a, 2, "clipped a", 0);
    expect_close(zoo_tensor_cdata(b), want_b, 2, "clipped b", 0);
    zoo_optimizer_free(o);
    zoo_tensor_free(a);
    zoo_tensor_free(b);
    zoo_tensor_free(ga);
    zoo_tensor_free(gb);
}

/* Per variable, g clip / max(|g|, clip) with clip 1: a -> (0.6, 0.8),
 * b (norm 0.5) unchanged. */
Test(clip, clipnorm)
{
    clip_case(&(zoo_optimizer_cfg){.kind = ZOO_OPT_SGD, .learning_rate = 1, .clipnorm = 1},
              (double[]){-0.6, -0.8}, (double[]){0.7, 0.6});
}

/* Elementwise to [-0.35, 0.35]: a -> (0.35, 0.35), b -> (0.3, 0.35). */
Test(clip, clipvalue)
{
    clip_case(&(zoo_optimizer_cfg){.kind = ZOO_OPT_SGD, .learning_rate = 1,
                                   .clipvalue = 0.35f},
              (double[]){-0.35, -0.35}, (double[]){0.7, 0.65});
}

/* Over both: global norm sqrt(25 + 0.25) = sqrt(25.25); with clip 2 every
 * gradient is scaled by 2 / sqrt(25.25). */
Test(clip, global_clipnorm)
{
    double s = 2 / sqrt(25.25);
    clip_case(&(zoo_optimizer_cfg){.kind = ZOO_OPT_SGD, .learning_rate = 1,
                                   .global_clipnorm = 2},
              (double[]){-3 * s, -4 * s}, (double[]){1 - 0.3 * s, 1 - 0.4 * s});
    /* Below the bound nothing changes. */
    clip_case(&(zoo_optimizer_cfg){.kind = ZOO_OPT_SGD, .learning_rate = 1,
                                   .global_clipnorm = 10},
              (double[]){-3, -4}, (double[]){0.7, 0.6});
}

/* Clipping comes before the update's own arithmetic: Adam's first step
 * with clipvalue sees the clipped gradient in m and v. */
Test(clip, before_adam_update)
{
    static const double raw[STEPS][N] = {{5, -0.2, 0.3}, {-0.4, 6, 0.05}, {0.2, 0.1, -7}};
    double clippedg[STEPS][N], want[STEPS][N];
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++)
            clippedg[s][i] = raw[s][i] > 0.5 ? 0.5 : raw[s][i] < -0.5 ? -0.5 : raw[s][i];
    adam_reference(0.01, 0.9, 0.999, 1e-7, false, 0, clippedg, want);
    zoo_optimizer *o = new_or_die(&(zoo_optimizer_cfg){
        .kind = ZOO_OPT_ADAM, .learning_rate = 0.01f, .clipvalue = 0.5f});
    zoo_tensor *w = vec(N, W0);
    for (int s = 0; s < STEPS; s++) {
        zoo_tensor *gt = vec(N, raw[s]);
        zoo_tensor *const vars[] = {w};
        const zoo_tensor *const grads[] = {gt};
        cr_assert_eq(zoo_optimizer_apply(o, vars, grads, 1), ZOO_OK, "%s", zoo_last_error());
        expect_close(zoo_tensor_cdata(w), want[s], N, "adam clipvalue", s);
        zoo_tensor_free(gt);
    }
    zoo_tensor_free(w);
    zoo_optimizer_free(o);
}

/* ------------------------------------------------------------------ */
/* Schedules and rate scaling                                          */
/* ------------------------------------------------------------------ */

/* The rate of each of `n` steps, read before the step, and the update of
 * that step (SGD with a gradient of 1 moves w by exactly the rate). */
static void expect_rates(const zoo_lr_schedule *sch, double lr, const double *want,
                         int n, const char *what)
{
    zoo_optimizer *o = new_or_die(&(zoo_optimizer_cfg){
        .kind = ZOO_OPT_SGD, .learning_rate = (float)lr, .schedule = *sch});
    zoo_tensor *w = vec(1, (double[]){0}), *g = vec(1, (double[]){1});
    zoo_tensor *const vars[] = {w};
    const zoo_tensor *const grads[] = {g};
    for (int s = 0; s < n; s++) {
        double got = zoo_optimizer_learning_rate(o);
        cr_expect(fabs(got - want[s]) <= 1e-7 * want[s] + 1e-12,
                  "%s: rate at step %d is %.9g, want %.9g", what, s, got, want[s]);
        float before = zoo_tensor_cdata(w)[0];
        cr_assert_eq(zoo_optimizer_apply(o, vars, grads, 1), ZOO_OK, "%s", zoo_last_error());
        double moved = before - zoo_tensor_cdata(w)[0];
        cr_expect(fabs(moved - want[s]) <= 1e-6 * want[s] + 1e-7,
                  "%s: step %d moved w by %.9g, want %.9g", what, s, moved, want[s]);
    }
    zoo_tensor_free(w);
    zoo_tensor_free(g);
    zoo_optimizer_free(o);
}

Test(schedule, constant)
{
    const double want[] = {0.1, 0.1, 0.1};
    expect_rates(&(zoo_lr_schedule){.kind = ZOO_SCHEDULE_CONSTANT}, 0.1, want, 3,
                 "constant");
}

/* lr rate^floor(t / steps): 0.1 halved every 2 steps. */
Test(schedule, step)
{
    const double want[] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125};
    expect_rates(&(zoo_lr_schedule){.kind = ZOO_SCHEDULE_STEP, .decay_steps = 2,
                                    .decay_rate = 0.5f},
                 0.1, want, 7, "step");
}

/* ExponentialDecay: lr rate^(t / steps), or floor(t / steps) staircase.
 * 0.1 * 0.5^(1/2) = 0.0707106781..., 0.5^(3/2) = 0.3535533906... */
Test(schedule, exponential)
{
    const double smooth[] = {0.1, 0.1 * sqrt(0.5), 0.05, 0.1 * 0.5 * sqrt(0.5), 0.025};
    cr_expect_float_eq(smooth[1], 0.070710678118654752, 1e-15);
    expect_rates(&(zoo_lr_schedule){.kind = ZOO_SCHEDULE_EXPONENTIAL, .decay_steps = 2,
                                    .decay_rate = 0.5f},
                 0.1, smooth, 5, "exponential");
    const double stair[] = {0.1, 0.1, 0.05, 0.05, 0.025};
    expect_rates(&(zoo_lr_schedule){.kind = ZOO_SCHEDULE_EXPONENTIAL, .decay_steps = 2,
                                    .decay_rate = 0.5f, .staircase = true},
                 0.1, stair, 5, "exponential staircase");
}

/* CosineDecay(decay_steps 4, alpha 0.1): lr ((1 - alpha) c + alpha) with
 * c = (1 + cos(pi min(t, 4) / 4)) / 2: t 0 -> 0.1; 1 -> c = 0.8535533906,
 * 0.0868198052; 2 (half) -> 0.055; 4 (end) and beyond -> 0.01. */
Test(schedule, cosine)
{
    double c1 = (1 + cos(M_PI / 4)) / 2, c3 = (1 + cos(3 * M_PI / 4)) / 2;
    const double want[] = {0.1, 0.1 * (0.9 * c1 + 0.1), 0.055, 0.1 * (0.9 * c3 + 0.1),
                           0.01, 0.01, 0.01};
    cr_expect_float_eq(want[1], 0.0868198051533946, 1e-12);
    expect_rates(&(zoo_lr_schedule){.kind = ZOO_SCHEDULE_COSINE, .decay_steps = 4,
                                    .alpha = 0.1f},
                 0.1, want, 7, "cosine");
    /* alpha 0 decays to zero. */
    const double zero_alpha[] = {0.2, 0.1 * (1 + cos(M_PI / 2)), 0, 0};
    expect_rates(&(zoo_lr_schedule){.kind = ZOO_SCHEDULE_COSINE, .decay_steps = 2},
                 0.2, zero_alpha, 4, "cosine alpha 0");
}

/* The schedule drives Adam too, with t = iterations + 1 for the bias
 * correction: lr_t = 0.01 * 0.5^floor(t / 1). */
Test(schedule, adam_with_step_decay)
{
    double w[N], m[N] = {0}, v[N] = {0}, want[STEPS][N];
    memcpy(w, W0, sizeof w);
    for (int s = 0; s < STEPS; s++) {
        double lr = 0.01 * pow(0.5, s), t = s + 1;
        double alpha = lr * sqrt(1 - pow(0.999, t)) / (1 - pow(0.9, t));
        for (int i = 0; i < N; i++) {
            m[i] += (G[s][i] - m[i]) * 0.1;
            v[i] += (G[s][i] * G[s][i] - v[i]) * 0.001;
            want[s][i] = w[i] -= alpha * m[i] / (sqrt(v[i]) + 1e-7);
        }
    }
    run_and_compare(&(zoo_optimizer_cfg){.kind = ZOO_OPT_ADAM, .learning_rate = 0.01f,
                                         .schedule = {.kind = ZOO_SCHEDULE_STEP,
                                                      .decay_steps = 1,
                                                      .decay_rate = 0.5f}},
                    want, "adam step decay");
}

/* scale_learning_rate multiplies every later rate, on top of the
 * schedule; a factor that is not positive is ignored. */
Test(schedule, scale_learning_rate)
{
    zoo_optimizer *o = new_or_die(&(zoo_optimizer_cfg){
        .kind = ZOO_OPT_SGD, .learning_rate = 0.1f,
        .schedule = {.kind = ZOO_SCHEDULE_STEP, .decay_steps = 2, .decay_rate = 0.5f}});
    zoo_tensor *w = vec(1, (double[]){0}), *g = vec(1, (double[]){1});
    zoo_tensor *const vars[] = {w};
    const zoo_tensor *const grads[] = {g};
    cr_assert_eq(zoo_optimizer_apply(o, vars, grads, 1), ZOO_OK);
    cr_expect_float_eq(zoo_tensor_cdata(w)[0], -0.1f, 1e-7);
    zoo_optimizer_scale_learning_rate(o, 0.5);
    zoo_optimizer_scale_learning_rate(o, 0.0);
    zoo_optimizer_scale_learning_rate(o, -2.0);
    zoo_optimizer_scale_learning_rate(o, NAN);
    cr_expect_float_eq(zoo_optimizer_learning_rate(o), 0.05, 1e-8);
    cr_assert_eq(zoo_optimizer_apply(o, vars, grads, 1), ZOO_OK);
    cr_expect_float_eq(zoo_tensor_cdata(w)[0], -0.15f, 1e-7);
    /* Step 2 of the schedule halves again: 0.1 * 0.5 * 0.5. */
    cr_expect_float_eq(zoo_optimizer_learning_rate(o), 0.025, 1e-8);
    zoo_optimizer_scale_learning_rate(o, 0.1);
    cr_expect_float_eq(zoo_optimizer_learning_rate(o), 0.0025, 1e-9);
    zoo_tensor_free(w);
    zoo_tensor_free(g);
    zoo_optimizer_free(o);
}

/* ------------------------------------------------------------------ */
/* Defaults, names, calls                                              */
/* ------------------------------------------------------------------ */

Test(optimizer, defaults_and_names)
{
    const struct {
        zoo_optimizer_kind kind;
        const char *name;
        double lr;
    } k[] = {{ZOO_OPT_SGD, "sgd", 0.01}, {ZOO_OPT_RMSPROP, "rmsprop", 0.001},
             {ZOO_OPT_ADAM, "adam", 0.001}, {ZOO_OPT_ADAMW, "adamw", 0.001}};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        zoo_optimizer *o = new_or_die(&(zoo_optimizer_cfg){.kind = k[i].kind});
        cr_expect_float_eq(zoo_optimizer_learning_rate(o), k[i].lr, 1e-9);
        cr_expect_eq(zoo_optimizer_iterations(o), 0);
        cr_expect_str_eq(zoo_optimizer_name(k[i].kind), k[i].name);
        cr_expect_eq(zoo_optimizer_parse(k[i].name), (int)k[i].kind);
        zoo_optimizer_free(o);
    }
    cr_expect_eq(zoo_optimizer_parse("Adam"), ZOO_OPT_ADAM);
    cr_expect_eq(zoo_optimizer_parse("RMSprop"), ZOO_OPT_RMSPROP);
    cr_expect_eq(zoo_optimizer_parse("nadam"), -1);
    cr_expect_eq(zoo_optimizer_parse("adamw2"), -1);
    cr_expect_eq(zoo_optimizer_parse(""), -1);
    cr_expect_eq(zoo_optimizer_parse(NULL), -1);
    cr_expect_null(zoo_optimizer_name((zoo_optimizer_kind)9));
    /* NULL config: SGD with Keras's defaults. */
    zoo_optimizer *o = new_or_die(NULL);
    cr_expect_float_eq(zoo_optimizer_learning_rate(o), 0.01, 1e-9);
    zoo_optimizer_free(o);
    zoo_optimizer_free(NULL);
}

static void expect_bad_cfg(zoo_optimizer_cfg cfg, const char *needle)
{
    zoo_clear_error();
    zoo_optimizer *o = zoo_optimizer_new(&cfg);
    cr_expect_null(o, "config accepted, expected an error about %s", needle);
    zoo_optimizer_free(o);
    cr_expect_eq(zoo_last_status(), ZOO_ERR_ARGUMENT);
    cr_expect(strstr(zoo_last_error(), needle), "message '%s' lacks '%s'",
              zoo_last_error(), needle);
}

Test(optimizer, bad_configs)
{
    expect_bad_cfg((zoo_optimizer_cfg){.kind = 7}, "unknown kind");
    expect_bad_cfg((zoo_optimizer_cfg){.learning_rate = -0.1f}, "learning_rate");
    expect_bad_cfg((zoo_optimizer_cfg){.learning_rate = NAN}, "learning_rate");
    expect_bad_cfg((zoo_optimizer_cfg){.learning_rate = INFINITY}, "learning_rate");
    expect_bad_cfg((zoo_optimizer_cfg){.momentum = 1.0f}, "momentum");
    expect_bad_cfg((zoo_optimizer_cfg){.momentum = -0.5f}, "momentum");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_RMSPROP, .rho = 1.0f}, "rho");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_ADAM, .beta_1 = 1.5f}, "beta_1");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_ADAM, .beta_2 = 1.0f}, "beta_2");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_ADAM, .epsilon = -1e-7f}, "epsilon");
    expect_bad_cfg((zoo_optimizer_cfg){.weight_decay = -0.01f}, "weight_decay");
    expect_bad_cfg((zoo_optimizer_cfg){.clipnorm = -1}, "clipnorm");
    /* Arguments the optimizer does not have, as Keras's TypeError. */
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_ADAM, .momentum = 0.9f}, "momentum");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_ADAM, .nesterov = true}, "nesterov");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_SGD, .amsgrad = true}, "amsgrad");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_SGD, .epsilon = 1e-7f}, "epsilon");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_SGD, .rho = 0.9f}, "rho");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_ADAMW, .centered = true}, "centered");
    expect_bad_cfg((zoo_optimizer_cfg){.kind = ZOO_OPT_RMSPROP, .beta_1 = 0.9f}, "beta_1");
    expect_bad_cfg((zoo_optimizer_cfg){.clipnorm = 1, .clipvalue = 1}, "only one");
    expect_bad_cfg((zoo_optimizer_cfg){.clipnorm = 1, .global_clipnorm = 1}, "only one");
    expect_bad_cfg((zoo_optimizer_cfg){.schedule = {.kind = 9}}, "schedule");
    expect_bad_cfg((zoo_optimizer_cfg){.schedule = {.kind = ZOO_SCHEDULE_STEP,
                                                    .decay_rate = 0.5f}},
                   "decay_steps");
    expect_bad_cfg((zoo_optimizer_cfg){.schedule = {.kind = ZOO_SCHEDULE_EXPONENTIAL,
                                                    .decay_steps = 10}},
                   "decay_rate");
    expect_bad_cfg((zoo_optimizer_cfg){.schedule = {.kind = ZOO_SCHEDULE_STEP,
                                                    .decay_steps = 10,
                                                    .decay_rate = -0.5f}},
                   "decay_rate");
    expect_bad_cfg((zoo_optimizer_cfg){.schedule = {.kind = ZOO_SCHEDULE_COSINE,
                                                    .decay_steps = 10, .alpha = 2}},
                   "alpha");
}

/* The variables must be the same, in the same order, every step; a bad
 * call changes nothing. */
Test(optimizer, call_errors)
{
    zoo_optimizer *o = new_or_die(&(zoo_optimizer_cfg){.kind = ZOO_OPT_ADAM});
    zoo_tensor *a = vec(3, (double[]){1, 2, 3}), *b = vec(2, (double[]){1, 2});
    zoo_tensor *ga = vec(3, (double[]){1, 1, 1}), *gb = vec(2, (double[]){1, 1});
    zoo_tensor *g4 = vec(4, (double[]){1, 1, 1, 1});
    zoo_tensor *const ab[] = {a, b}, *const ba[] = {b, a};
    const zoo_tensor *const gab[] = {ga, gb}, *const gba[] = {gb, ga};

    /* Nothing to apply: no step counted. */
    cr_expect_eq(zoo_optimizer_apply(o, NULL, NULL, 0), ZOO_OK);
    cr_expect_eq(zoo_optimizer_iterations(o), 0);
    cr_expect_eq(zoo_optimizer_apply(o, ab, (const zoo_tensor *const[]){NULL, NULL}, 2),
                 ZOO_OK);
    cr_expect_eq(zoo_optimizer_iterations(o), 0);

    /* Gradient shape differs from its variable. */
    cr_expect_eq(zoo_optimizer_apply(o, ab, (const zoo_tensor *const[]){g4, gb}, 2),
                 ZOO_ERR_SHAPE);
    cr_expect(strstr(zoo_last_error(), "(4,)") && strstr(zoo_last_error(), "(3,)"), "%s",
              zoo_last_error());
    cr_expect_eq(zoo_optimizer_apply(o, (zoo_tensor *const[]){NULL}, gab, 1),
                 ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_optimizer_apply(o, ab, gab, -1), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_optimizer_apply(o, ab, NULL, 2), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_optimizer_apply(NULL, ab, gab, 2), ZOO_ERR_ARGUMENT);
    cr_expect_eq(zoo_optimizer_iterations(o), 0);
    cr_expect_float_eq(zoo_tensor_cdata(a)[0], 1.0f, 0);

    cr_assert_eq(zoo_optimizer_apply(o, ab, gab, 2), ZOO_OK, "%s", zoo_last_error());
    cr_expect_eq(zoo_optimizer_iterations(o), 1);
    float a0 = zoo_tensor_cdata(a)[0], b0 = zoo_tensor_cdata(b)[0];
    /* Fewer variables, or the same ones swapped. */
    cr_expect_eq(zoo_optimizer_apply(o, ab, gab, 1), ZOO_ERR_ARGUMENT);
    cr_expect(strstr(zoo_last_error(), "same order"), "%s", zoo_last_error());
    cr_expect_eq(zoo_optimizer_apply(o, ba, gba, 2), ZOO_ERR_SHAPE);
    cr_expect(strstr(zoo_last_error(), "same order"), "%s", zoo_last_error());
    cr_expect_eq(zoo_optimizer_iterations(o), 1);
    cr_expect_float_eq(zoo_tensor_cdata(a)[0], a0, 0);
    cr_expect_float_eq(zoo_tensor_cdata(b)[0], b0, 0);

    /* A variable without a gradient is left alone (Keras skips None);
     * the others step, and the step counts. */
    cr_expect_eq(zoo_optimizer_apply(o, ab, (const zoo_tensor *const[]){ga, NULL}, 2),
                 ZOO_OK);
    cr_expect_eq(zoo_optimizer_iterations(o), 2);
    cr_expect(zoo_tensor_cdata(a)[0] < a0);
    cr_expect_float_eq(zoo_tensor_cdata(b)[0], b0, 0);

    zoo_optimizer_free(o);
    zoo_tensor_free(a);
    zoo_tensor_free(b);
    zoo_tensor_free(ga);
    zoo_tensor_free(gb);
    zoo_tensor_free(g4);
}
