/* Fit progress in Keras 3's Progbar style. */
#include "engine/progress.h"

#include <time.h>
#include <unistd.h>

double zoo_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void zoo_progress_init(zoo_progress *p, FILE *out, int verbose)
{
    *p = (zoo_progress){.out = out ? out : stdout};
    if (verbose == 2)
        p->mode = 2;
    else if (verbose == 1 && isatty(fileno(p->out)))
        p->mode = 1;
}

void zoo_progress_epoch_begin(zoo_progress *p, int epoch, int epochs, int steps)
{
    p->steps = steps;
    p->t0 = zoo_now_seconds();
    p->drawn = 0.0;
    if (p->mode)
        fprintf(p->out, "Epoch %d/%d\n", epoch + 1, epochs);
    fflush(p->out);
}

static void put_logs(FILE *f, const zoo_logs *logs)
{
    for (int i = 0; logs && i < logs->n; i++)
        fprintf(f, " - %s: %.4f", logs->keys[i], logs->values[i]);
}

/* "3s", "1m 5s" or "1h 2m" as Keras formats durations. */
static void put_duration(FILE *f, double s)
{
    if (s >= 3600.0)
        fprintf(f, "%dh %dm", (int)(s / 3600.0), (int)(s / 60.0) % 60);
    else if (s >= 60.0)
        fprintf(f, "%dm %ds", (int)(s / 60.0), (int)s % 60);
    else
        fprintf(f, "%ds", (int)s);
}

static void put_per_step(FILE *f, double per)
{
    if (per >= 1.0)
        fprintf(f, "%.0fs/step", per);
    else if (per >= 1e-3)
        fprintf(f, "%.0fms/step", per * 1e3);
    else
        fprintf(f, "%.0fus/step", per * 1e6);
}

static void draw_bar(zoo_progress *p, int done, const zoo_logs *logs, bool final)
{
    int width = 20, filled = p->steps ? done * width / p->steps : width;
    double elapsed = zoo_now_seconds() - p->t0;
    double per = done ? elapsed / done : 0.0;
    int digits = snprintf(NULL, 0, "%d", p->steps);
    fprintf(p->out, "\r%*d/%d ", digits, done, p->steps);
    for (int i = 0; i < width; i++)
        fputs(i < filled ? "\xe2\x94\x81" : "\xe2\x94\x80", p->out); /* ━ ─ */
    fputc(' ', p->out);
    put_duration(p->out, final ? elapsed : per * (p->steps - done));
    fputc(' ', p->out);
    put_per_step(p->out, per);
    put_logs(p->out, logs);
    fputs(final ? "\n" : "\x1b[K", p->out);
    fflush(p->out);
}

void zoo_progress_step(zoo_progress *p, int done, const zoo_logs *logs)
{
    if (p->mode != 1 || done >= p->steps)
        return;
    double now = zoo_now_seconds();
    if (now - p->drawn < 0.05)
        return;
    p->drawn = now;
    draw_bar(p, done, logs, false);
}

void zoo_progress_epoch_end(zoo_progress *p, const zoo_logs *logs)
{
    if (p->mode == 1) {
        draw_bar(p, p->steps, logs, true);
    } else if (p->mode == 2) {
        double elapsed = zoo_now_seconds() - p->t0;
        fprintf(p->out, "%d/%d - ", p->steps, p->steps);
        put_duration(p->out, elapsed);
        fputs(" - ", p->out);
        put_per_step(p->out, p->steps ? elapsed / p->steps : 0.0);
        put_logs(p->out, logs);
        fputc('\n', p->out);
        fflush(p->out);
    }
}
