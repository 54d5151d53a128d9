/* tools-private: loss and accuracy curves of a training history as an SVG
 * document; see history_plot.h. */
#include "tools/history_plot.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Figure geometry, in SVG user units (pixels). */
enum {
    FIG_W = 760,
    FIG_H = 340,
    PANEL_W = 375,     /* horizontal pitch of the two panels */
    PLOT_LEFT = 65,    /* from the panel's left edge to the y axis */
    PLOT_RIGHT = 355,  /* from the panel's left edge to the plot's right side */
    PLOT_TOP = 76,
    PLOT_BOTTOM = 290,
    MAX_TICKS = 16,
};

/* The zoo tool does not link libm: the few roundings needed are here. */
static double dabs(double v) { return v < 0.0 ? -v : v; }
static double dmin(double a, double b) { return a < b ? a : b; }
static double dmax(double a, double b) { return a > b ? a : b; }

static double dfloor(double v)
{
    double t = (double)(long long)v;
    return t > v ? t - 1.0 : t;
}

static double dceil(double v)
{
    double t = (double)(long long)v;
    return t < v ? t + 1.0 : t;
}

static double pow10i(int d)
{
    double p = 1.0;
    for (int i = 0; i < d; i++)
        p *= 10.0;
    return p;
}

#define TRAIN_COLOR "#1f77b4"
#define VAL_COLOR "#ff7f0e"

typedef struct {
    const char *title;    /* "loss" */
    const char *train;    /* history key of the training curve */
    const char *val;      /* ... and of the validation curve */
    bool unit_range;      /* accuracy: always the whole [0, 1] */
} panel_spec;

typedef struct {
    double lo, hi;
    double ticks[MAX_TICKS];
    int n_ticks;
    int decimals; /* for the tick labels */
} axis;

/* A "nice" step (1, 2, 2.5 or 5 times a power of ten) giving about
 * `target` intervals over `span`. */
static double nice_step(double span, int target)
{
    double raw = span / target, mag = 1.0;
    while (mag > raw)
        mag /= 10.0;
    while (mag * 10.0 <= raw)
        mag *= 10.0;
    double f = raw / mag;
    double n = f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 2.5 ? 2.5 : f <= 5.0 ? 5.0 : 10.0;
    return n * mag;
}

/* Decimals that print every multiple of `step` exactly enough. */
static int step_decimals(double step)
{
    for (int d = 0; d < 6; d++) {
        double scaled = step * pow10i(d);
        if (dabs(scaled - dfloor(scaled + 0.5)) < 1e-6 * scaled)
            return d;
    }
    return 6;
}

/* The y axis over values in [lo, hi] (finite, lo <= hi). */
static void value_axis(axis *a, double lo, double hi, bool nonnegative)
{
    if (hi - lo <= 1e-12 * dmax(1.0, dabs(hi))) {
        double pad = dabs(hi) > 0.0 ? 0.1 * dabs(hi) : 1.0;
        lo -= pad;
        hi += pad;
    }
    double step = nice_step(hi - lo, 5);
    a->lo = dfloor(lo / step) * step;
    a->hi = dceil(hi / step) * step;
    if (nonnegative && a->lo < 0.0)
        a->lo = 0.0;
    a->decimals = step_decimals(step);
    a->n_ticks = 0;
    for (double t = a->lo; t <= a->hi + 0.5 * step && a->n_ticks < MAX_TICKS; t += step)
        a->ticks[a->n_ticks++] = dabs(t) < 1e-9 * step ? 0.0 : t;
}

/* The x axis over epochs 1..n (integer ticks). */
static void epoch_axis(axis *a, int n)
{
    a->decimals = 0;
    a->n_ticks = 0;
    if (n < 1) {
        a->lo = 0.5;
        a->hi = 1.5;
        return;
    }
    double pad = n >= 2 ? 0.04 * (n - 1) : 0.5;
    a->lo = 1.0 - pad;
    a->hi = n + pad;
    int step = n >= 2 ? (int)dceil(nice_step(n - 1, 6)) : 1;
    if (step < 1)
        step = 1;
    a->ticks[a->n_ticks++] = 1.0;
    for (int e = step; e <= n && a->n_ticks < MAX_TICKS; e += step)
        if (e > 1)
            a->ticks[a->n_ticks++] = e;
}

static double map(double v, const axis *a, double from, double to)
{
    return from + (v - a->lo) / (a->hi - a->lo) * (to - from);
}

static void put_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        default:
            /* Control characters are not allowed in XML 1.0. */
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, out);
        }
    }
}

static bool has_key(const zoo_history *h, const char *key)
{
    for (int i = 0; i < zoo_history_key_count(h); i++)
        if (strcmp(zoo_history_key(h, i), key) == 0)
            return true;
    return false;
}

/* One curve: polylines through consecutive finite points, and a marker on
 * each point (so a single epoch still shows). */
static void put_curve(FILE *out, const zoo_history *h, const char *key, const axis *ax,
                      const axis *ay, double x0, double x1, double y0, double y1,
                      const char *color, bool dashed)
{
    int n = zoo_history_epochs(h);
    bool open = false;
    for (int e = 0; e < n; e++) {
        double v = zoo_history_get(h, key, e);
        if (!isfinite(v)) {
            if (open)
                fputs("\"/>\n", out);
            open = false;
            continue;
        }
        double px = map(e + 1, ax, x0, x1), py = map(v, ay, y0, y1);
        if (!open) {
            fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
                    "points=\"", color, dashed ? " stroke-dasharray=\"6 4\"" : "");
            open = true;
        } else {
            fputc(' ', out);
        }
        fprintf(out, "%.2f,%.2f", px, py);
    }
    if (open)
        fputs("\"/>\n", out);
    for (int e = 0; e < n; e++) {
        double v = zoo_history_get(h, key, e);
        if (isfinite(v))
            fprintf(out, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                    map(e + 1, ax, x0, x1), map(v, ay, y0, y1), color);
    }
}

static void put_panel(FILE *out, const zoo_history *h, const panel_spec *p, int left)
{
    int epochs = zoo_history_epochs(h);
    const char *keys[2] = {p->train, p->val};
    double lo = INFINITY, hi = -INFINITY;
    bool nonnegative = true;
    for (int k = 0; k < 2; k++)
        for (int e = 0; e < epochs; e++) {
            double v = zoo_history_get(h, keys[k], e);
            if (!isfinite(v))
                continue;
            lo = dmin(lo, v);
            hi = dmax(hi, v);
            nonnegative = nonnegative && v >= 0.0;
        }
    bool any = lo <= hi;
    axis ax, ay;
    epoch_axis(&ax, epochs);
    if (p->unit_range && (!any || (lo >= 0.0 && hi <= 1.0)))
        value_axis(&ay, 0.0, 1.0, true);
    else if (any)
        value_axis(&ay, lo, hi, nonnegative);
    else
        value_axis(&ay, 0.0, 1.0, true);

    double x0 = left + PLOT_LEFT, x1 = left + PLOT_RIGHT;
    double y0 = PLOT_BOTTOM, y1 = PLOT_TOP;
    fprintf(out, "<g>\n<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
            "font-size=\"14\" font-weight=\"bold\">", (x0 + x1) / 2, PLOT_TOP - 10);
    put_escaped(out, p->title);
    fputs("</text>\n", out);
    /* Horizontal grid and y ticks. */
    for (int i = 0; i < ay.n_ticks; i++) {
        double y = map(ay.ticks[i], &ay, y0, y1);
        fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                "stroke=\"#e0e0e0\"/>\n", x0, y, x1, y);
        fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                "stroke=\"black\"/>\n", x0 - 5, y, x0, y);
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\" "
                "font-size=\"11\">%.*f</text>\n", x0 - 8, y + 4, ay.decimals, ay.ticks[i]);
    }
    /* X ticks. */
    for (int i = 0; i < ax.n_ticks; i++) {
        double x = map(ax.ticks[i], &ax, x0, x1);
        fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                "stroke=\"black\"/>\n", x, y0, x, y0 + 5);
        fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
                "font-size=\"11\">%.0f</text>\n", x, y0 + 18, ax.ticks[i]);
    }
    fprintf(out, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
            "fill=\"none\" stroke=\"black\"/>\n", x0, y1, x1 - x0, y0 - y1);
    fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
            "font-size=\"12\">epoch</text>\n", (x0 + x1) / 2, PLOT_BOTTOM + 36);
    fprintf(out, "<text transform=\"translate(%d,%.1f) rotate(-90)\" "
            "text-anchor=\"middle\" font-size=\"12\">", left + 16, (y0 + y1) / 2);
    put_escaped(out, p->title);
    fputs("</text>\n", out);
    if (!any) {
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                "font-size=\"12\" fill=\"#808080\">%s</text>\n", (x0 + x1) / 2,
                (y0 + y1) / 2, epochs ? "no values" : "no epochs trained");
    } else {
        put_curve(out, h, p->train, &ax, &ay, x0, x1, y0, y1, TRAIN_COLOR, false);
        put_curve(out, h, p->val, &ax, &ay, x0, x1, y0, y1, VAL_COLOR, true);
    }
    fputs("</g>\n", out);
}

/* The legend: one entry per kind of curve the history has. */
static void put_legend(FILE *out, bool val)
{
    double w = val ? 230.0 : 90.0, x = (FIG_W - w) / 2, y = 42;
    fprintf(out, "<g font-size=\"12\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"20\" fill=\"white\" stroke=\"#c0c0c0\"/>\n", x, y - 14, w);
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\""
            TRAIN_COLOR "\" stroke-width=\"2\"/>\n<text x=\"%.1f\" y=\"%.1f\">"
            "train</text>\n", x + 8, y - 4, x + 32, y - 4, x + 38, y);
    if (val)
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\""
                VAL_COLOR "\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\">validation</text>\n",
                x + 100, y - 4, x + 124, y - 4, x + 130, y);
    fputs("</g>\n", out);
}

bool history_plot_write(const zoo_history *h, const char *title, FILE *out)
{
    static const panel_spec panels[2] = {
        {"loss", "loss", "val_loss", false},
        {"accuracy", "accuracy", "val_accuracy", true},
    };
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            FIG_W, FIG_H, FIG_W, FIG_H);
    if (title && *title) {
        fprintf(out, "<text x=\"%d\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">",
                FIG_W / 2);
        put_escaped(out, title);
        fputs("</text>\n", out);
    }
    put_legend(out, has_key(h, "val_loss") || has_key(h, "val_accuracy"));
    for (int i = 0; i < 2; i++)
        put_panel(out, h, &panels[i], 5 + i * PANEL_W);
    fputs("</svg>\n", out);
    return !ferror(out);
}

bool history_plot_save(const zoo_history *h, const char *title, const char *path,
                       char *err, size_t err_size)
{
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp) {
        snprintf(err, err_size, "out of memory");
        return false;
    }
    snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, err_size, "cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return false;
    }
    bool ok = history_plot_write(h, title, f);
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(e ? e : EIO));
        remove(tmp);
    }
    free(tmp);
    return ok;
}
