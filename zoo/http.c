/* The downloader's network side, on libcurl: one URL into a NAME.part
 * file, resuming what an earlier run left there (HTTP Range), retrying
 * transient failures (connection resets, truncated bodies, timeouts, 408,
 * 429 and 5xx answers) with backoff, abandoning a stalled server within
 * ZOO_STALL_FACTOR timeouts in all, checking the size against the
 * announced length, and drawing a progress bar on a terminal if asked.
 *
 * Resume: a non-empty .part is continued with "Range: bytes=N-". A 206
 * whose Content-Range starts at N appends; a 200 (a server that ignores
 * Range) rewrites the file from zero; a 206 for another range starts
 * over from zero; a 416 whose total equals N means the .part is already
 * whole (else: from zero). The .part outlives a failure only when the
 * transfer was cut by a transient network failure and the server takes
 * ranges, i.e. when a later run can really continue it; a local write
 * failure (disk full) removes it.
 *
 * Retries: up to MAX_TRIES attempts in a row that add no resumable byte,
 * 0.5 s, 1 s, 2 s apart; an attempt that does add bytes starts the count
 * afresh. A stall (no byte for timeout_s, timed by our progress callback)
 * is retried only while the time lost to stalls stays within
 * ZOO_STALL_FACTOR * timeout_s. Connection refused and unknown hosts are
 * not retried: they are reported at once as "offline".
 *
 * Certificates are verified (libcurl's default, never turned off), and
 * libcurl's standard proxy variables (http_proxy, https_proxy, no_proxy,
 * ALL_PROXY) apply. */
#define _GNU_SOURCE
#include "zoo/download_internal.h"

#include <curl/curl.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

enum {
    MAX_TRIES = 4,      /* attempts in a row that add no resumable byte */
    MAX_RESTARTS = 2,   /* from-zero restarts after a range mix-up */
    MAX_REDIRECTS = 10,
};
static const double BACKOFF_FIRST_S = 0.5, BACKOFF_MAX_S = 8.0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;
static void curl_init(void) { curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT); }

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
}

/* ------------------------------------------------------------------ */
/* Progress bar                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    bool on, drawn;
    const char *label;
    double started, last_draw, sample_t, rate, first_t;
    int64_t sample_bytes, first_bytes;
} progress_bar;

static void human(double bytes, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

/* "name  [#####.....]  45%  12.0 MiB/26.5 MiB  3.1 MiB/s  ETA 0:04", as
 * wide as the terminal, redrawn in place at most 10 times a second. */
static void bar_draw(progress_bar *b, int64_t done, int64_t total, bool final)
{
    if (!b->on)
        return;
    double t = now_s();
    if (!final && t - b->last_draw < 0.1)
        return;
    b->last_draw = t;
    if (b->first_t == 0.0) {
        b->first_t = b->sample_t = t;
        b->first_bytes = b->sample_bytes = done;
    } else if (t - b->sample_t >= 0.5) {
        double inst = (double)(done - b->sample_bytes) / (t - b->sample_t);
        b->rate = b->rate > 0.0 ? 0.7 * b->rate + 0.3 * inst : inst;
        b->sample_t = t;
        b->sample_bytes = done;
    }
    double average = t - b->first_t > 0.05
                         ? (double)(done - b->first_bytes) / (t - b->first_t)
                         : 0.0;
    double rate = final || b->rate <= 0.0 ? average : b->rate;
    int cols = 80;
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        cols = ws.ws_col;
    if (cols > 200)
        cols = 200;
    char sz_done[32], sz_total[32], sz_rate[32], eta[32] = "", tail[192];
    human((double)done, sz_done, sizeof sz_done);
    human(rate, sz_rate, sizeof sz_rate);
    if (final)
        snprintf(eta, sizeof eta, "in %.0fs", t - b->started);
    else if (total > 0 && rate > 0.0) {
        long sec = (long)((double)(total - done) / rate);
        snprintf(eta, sizeof eta, "ETA %ld:%02ld", sec / 60, sec % 60);
    }
    if (total > 0) {
        human((double)total, sz_total, sizeof sz_total);
        snprintf(tail, sizeof tail, " %3d%% %9s/%-9s %9s/s %-9s",
                 (int)(100.0 * (double)done / (double)total), sz_done, sz_total,
                 sz_rate, eta);
    } else {
        snprintf(tail, sizeof tail, " %9s %9s/s %-9s", sz_done, sz_rate, eta);
    }
    int width = cols - 1, tail_w = (int)strlen(tail);
    int label_w = (width - tail_w) / 3;
    if (label_w < 8)
        label_w = 8;
    int bar_w = width - tail_w - label_w - 3;
    char line[512];
    int n = snprintf(line, sizeof line, "%-*.*s", label_w, label_w, b->label);
    if (bar_w >= 5) {
        int fill = total > 0 ? (int)((double)bar_w * (double)done / (double)total) : 0;
        if (fill > bar_w)
            fill = bar_w;
        line[n++] = ' ';
        line[n++] = '[';
        for (int i = 0; i < bar_w; i++)
            line[n++] = i < fill ? '#' : (total > 0 ? '.' : ' ');
        line[n++] = ']';
        line[n] = '\0';
    }
    fprintf(stderr, "\r%s%s", line, tail);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
    b->drawn = !final;
}

/* ------------------------------------------------------------------ */
/* One attempt                                                         */
/* ------------------------------------------------------------------ */

typedef enum { OUT_OK, OUT_RETRY, OUT_RESTART, OUT_FAIL } outcome;

typedef struct {
    CURL *curl;
    const zoo_dl_fetch_args *args;
    progress_bar *bar;
    int64_t offset;         /* .part size when the attempt began */
    int64_t base;           /* file offset the body starts at */
    int fd;                 /* the .part, open once a 2xx body starts */
    int64_t written;        /* body bytes written by this attempt */
    int64_t expected_total; /* whole file size, -1 if unknown */
    /* The response being received (reset at each status line). */
    long status;
    int64_t content_length, cr_start, cr_total;
    bool accept_ranges;
    /* Outcome details. */
    bool restart;           /* 206 for a range we did not ask for */
    bool status_stop;       /* aborted on a non-2xx answer */
    int write_errno;
    const char *write_what; /* "write" / "open" / "space" */
    int64_t space_needed, space_free;
    double last_activity;   /* last header or body byte, or the start */
    bool stalled;           /* aborted: nothing for timeout_s seconds */
} xfer;

static bool header_is(const char *line, size_t n, const char *name, const char **value)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return false;
    const char *v = line + k + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    *value = v;
    return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    x->last_activity = now_s();
    char line[512];
    size_t m = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, data, m);
    line[m] = '\0';
    const char *v;
    if (strncmp(line, "HTTP/", 5) == 0) {
        const char *sp = strchr(line, ' ');
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->content_length = x->cr_start = x->cr_total = -1;
        x->accept_ranges = false;
    } else if (header_is(line, m, "content-length", &v)) {
        char *end;
        long long len = strtoll(v, &end, 10);
        if (end != v && len >= 0)
            x->content_length = len;
    } else if (header_is(line, m, "content-range", &v)) {
        /* "bytes A-B/TOTAL", "bytes A-B/(star)" or, with a 416, "bytes (star)/TOTAL" */
        long long a, b, total;
        if (sscanf(v, "bytes %lld-%lld/%lld", &a, &b, &total) == 3) {
            x->cr_start = a;
            x->cr_total = total;
        } else if (sscanf(v, "bytes %lld-%lld/", &a, &b) == 2) {
            x->cr_start = a;
        } else if (sscanf(v, "bytes */%lld", &total) == 1) {
            x->cr_total = total;
        }
    } else if (header_is(line, m, "accept-ranges", &v)) {
        x->accept_ranges = strncasecmp(v, "bytes", 5) == 0;
    }
    return n;
}

/* Opens the .part for the body now starting; false to abort. */
static bool open_part(xfer *x)
{
    long code = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    x->status = code;
    int flags = O_WRONLY | O_CLOEXEC;
    if (code == 200) {
        x->base = 0;
        x->expected_total = x->content_length;
        flags |= O_CREAT | O_TRUNC;
    } else if (code == 206) {
        if (x->offset == 0 || x->cr_start != x->offset) {
            x->restart = true;
            return false;
        }
        x->base = x->offset;
        x->expected_total = x->cr_total;
        flags |= O_APPEND;
    } else {
        x->status_stop = true;
        return false;
    }
    x->fd = open(x->args->part_path, flags, 0666);
    if (x->fd < 0) {
        x->write_errno = errno;
        x->write_what = "create";
        return false;
    }
    if (x->expected_total > x->base) {
        struct statvfs vfs;
        if (fstatvfs(x->fd, &vfs) == 0) {
            uint64_t blocks = geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail;
            int64_t avail = (int64_t)(blocks * (uint64_t)vfs.f_frsize);
            int64_t need = x->expected_total - x->base;
            if (avail < need) {
                x->write_errno = ENOSPC;
                x->write_what = "space";
                x->space_needed = need;
                x->space_free = avail;
                return false;
            }
        }
    }
    return true;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    if (x->fd < 0) {
        long code = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 300 && code < 400)
            return n; /* a redirect's body: not ours */
        if (!open_part(x))
            return 0;
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(x->fd, data + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            x->write_errno = errno;
            x->write_what = "write";
            return 0;
        }
        done += (size_t)w;
    }
    x->written += (int64_t)n;
    x->last_activity = now_s();
    return n;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    xfer *x = userp;
    /* libcurl calls this at least once a second, data or not: our stall
     * clock (its low-speed check averages over several seconds, so a
     * burst before a stall would stretch the timeout). */
    if (now_s() - x->last_activity > (double)x->args->timeout_s) {
        x->stalled = true;
        return 1;
    }
    if (x->fd >= 0)
        bar_draw(x->bar, x->base + x->written, x->expected_total, false);
    return 0;
}

static const char *reason(long code)
{
    switch (code) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

static bool transient_status(long code)
{
    return code == 408 || code == 425 || code == 429 || (code >= 500 && code <= 599);
}

typedef struct {
    bool ranges_ok;  /* the server has shown it honours Range */
    bool offline;    /* never reached the server */
    bool local;      /* failed writing here, not on the network */
    bool stalled;    /* the attempt ended in a timeout */
    char msg[640];   /* why the attempt failed */
} fetch_state;

static void configure(CURL *c, const zoo_dl_fetch_args *a, xfer *x, char *errbuf)
{
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, a->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)a->timeout_s);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "zoo (libcurl/" LIBCURL_VERSION ")");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (x->offset > 0) {
        char range[48];
        snprintf(range, sizeof range, "%" PRId64 "-", x->offset);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
}

static outcome attempt(CURL *c, const zoo_dl_fetch_args *a, progress_bar *bar,
                       fetch_state *s, bool *resumed)
{
    xfer x = {.curl = c, .args = a, .bar = bar, .fd = -1, .expected_total = -1,
              .content_length = -1, .cr_start = -1, .cr_total = -1};
    x.offset = file_size(a->part_path);
    if (x.offset < 0)
        x.offset = 0;
    char errbuf[CURL_ERROR_SIZE] = "";
    configure(c, a, &x, errbuf);
    x.last_activity = now_s();
    CURLcode res = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    s->offline = false;
    s->stalled = false;
    if (code == 206 || ((code == 200 || code == 416) && x.accept_ranges))
        s->ranges_ok = true;
    else if (code == 200)
        s->ranges_ok = false;
    bool sync_failed = false;
    if (x.fd >= 0) {
        if (res == CURLE_OK && fsync(x.fd) != 0) {
            x.write_errno = errno;
            x.write_what = "write";
            sync_failed = true;
        }
        if (close(x.fd) != 0 && res == CURLE_OK && !sync_failed) {
            x.write_errno = errno;
            x.write_what = "write";
            sync_failed = true;
        }
    }
    if (x.fd >= 0 && x.base == x.offset && x.offset > 0)
        *resumed = true;
    if (x.fd >= 0 && x.base == 0)
        *resumed = false;
    const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(res);

    /* Local failures first: they are ours, not the network's. */
    if (x.write_errno) {
        s->local = true;
        if (x.write_what && strcmp(x.write_what, "space") == 0) {
            char need[32], avail[32];
            human((double)x.space_needed, need, sizeof need);
            human((double)x.space_free, avail, sizeof avail);
            snprintf(s->msg, sizeof s->msg,
                     "not enough disk space for %s: it needs %s more, %s is free",
                     a->part_path, need, avail);
        } else {
            snprintf(s->msg, sizeof s->msg, "cannot %s %s: %s%s",
                     x.write_what ? x.write_what : "write", a->part_path,
                     strerror(x.write_errno),
                     x.write_errno == ENOSPC ? " (the disk is full)" : "");
        }
        return OUT_FAIL;
    }
    if (x.restart) {
        snprintf(s->msg, sizeof s->msg,
                 "the server answered a request for bytes %" PRId64 "- with "
                 "another range", x.offset);
        return OUT_RESTART;
    }
    if (x.status_stop || (res == CURLE_OK && code != 200 && code != 206)) {
        if (code == 416 && x.offset > 0) {
            if (x.cr_total == x.offset) {
                *resumed = true; /* the .part already holds the whole file */
                return OUT_OK;
            }
            snprintf(s->msg, sizeof s->msg, "HTTP 416 for bytes %" PRId64 "-",
                     x.offset);
            return OUT_RESTART;
        }
        snprintf(s->msg, sizeof s->msg, "HTTP %ld%s%s", code, *reason(code) ? " " : "",
                 reason(code));
        return transient_status(code) ? OUT_RETRY : OUT_FAIL;
    }
    if (res == CURLE_OK) {
        if (x.fd < 0) { /* an empty body */
            int fd = open(a->part_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
            if (fd < 0) {
                snprintf(s->msg, sizeof s->msg, "cannot create %s: %s", a->part_path,
                         strerror(errno));
                return OUT_FAIL;
            }
            close(fd);
        }
        int64_t got = file_size(a->part_path);
        if (x.expected_total >= 0 && got != x.expected_total) {
            snprintf(s->msg, sizeof s->msg,
                     "the transfer ended after %" PRId64 " of %" PRId64 " bytes", got,
                     x.expected_total);
            if (got > x.expected_total) {
                unlink(a->part_path);
                return OUT_FAIL;
            }
            return OUT_RETRY;
        }
        return OUT_OK;
    }
    if (x.stalled || res == CURLE_OPERATION_TIMEDOUT) {
        curl_off_t connected = 0;
        curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected);
        s->offline = connected == 0;
        s->stalled = true;
        snprintf(s->msg, sizeof s->msg, "no data for %d s (%s)", a->timeout_s,
                 connected == 0 ? "could not connect" : "the server stalled");
        return OUT_RETRY;
    }
    switch (res) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        s->offline = true;
        snprintf(s->msg, sizeof s->msg, "%s", detail);
        return OUT_FAIL;
    case CURLE_PARTIAL_FILE:
        if (x.expected_total >= 0)
            snprintf(s->msg, sizeof s->msg,
                     "the transfer ended after %" PRId64 " of %" PRId64 " bytes",
                     x.base + x.written, x.expected_total);
        else
            snprintf(s->msg, sizeof s->msg, "%s", detail);
        return OUT_RETRY;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        snprintf(s->msg, sizeof s->msg, "%s", detail);
        return OUT_RETRY;
    default:
        snprintf(s->msg, sizeof s->msg, "%s", detail);
        return OUT_FAIL;
    }
}

/* ------------------------------------------------------------------ */
/* Attempts                                                            */
/* ------------------------------------------------------------------ */

zoo_status zoo_dl_fetch(const zoo_dl_fetch_args *a, zoo_dl_fetch_result *r)
{
    *r = (zoo_dl_fetch_result){0};
    pthread_once(&curl_once, curl_init);
    if (curl_init_code != CURLE_OK)
        return zoo_error(ZOO_ERR_NETWORK, "libcurl failed to start: %s",
                         curl_easy_strerror(curl_init_code));
    CURL *c = curl_easy_init();
    if (!c)
        return zoo_error(ZOO_ERR_NETWORK, "libcurl failed to start");

    progress_bar bar = {.on = a->progress && isatty(STDERR_FILENO),
                        .label = a->label ? a->label : a->url,
                        .started = now_s()};
    /* Progress: the .part growing beyond its largest size so far, with a
     * server that lets us keep it. A .part found here was kept by an
     * earlier run as resumable (or cut by a kill). */
    int64_t best = file_size(a->part_path);
    if (best < 0)
        best = 0;
    fetch_state s = {.ranges_ok = best > 0};
    /* Time lost to stalls since the last progress: a stalled server is
     * given up within `budget` (plus backoffs of a few seconds). Quick
     * failures (5xx, resets) are bounded by MAX_TRIES instead. */
    double stalled_time = 0.0, budget = (double)ZOO_STALL_FACTOR * a->timeout_s;
    int tries = 0, restarts = 0;
    bool resumed = false;
    outcome out;
    for (;;) {
        r->attempts++;
        double t0 = now_s();
        out = attempt(c, a, &bar, &s, &resumed);
        if (out == OUT_OK || out == OUT_FAIL)
            break;
        if (out == OUT_RESTART) {
            unlink(a->part_path);
            best = 0;
            resumed = false;
            if (++restarts > MAX_RESTARTS) {
                out = OUT_FAIL;
                break;
            }
            continue;
        }
        /* OUT_RETRY */
        int64_t size = file_size(a->part_path);
        if (s.ranges_ok && size > best) {
            best = size;
            tries = 0;
            stalled_time = 0.0;
        }
        if (s.stalled)
            stalled_time += now_s() - t0;
        tries++;
        double backoff = BACKOFF_FIRST_S;
        for (int i = 1; i < tries && backoff < BACKOFF_MAX_S; i++)
            backoff *= 2;
        if (backoff > BACKOFF_MAX_S)
            backoff = BACKOFF_MAX_S;
        /* The next attempt may stall too: it takes up to timeout_s + 1 s
         * (libcurl calls our clock about once a second). */
        if (tries >= MAX_TRIES || stalled_time + a->timeout_s + 1.0 > budget)
            break;
        sleep_s(backoff);
    }
    if (bar.drawn) {
        int64_t size = file_size(a->part_path);
        bar_draw(&bar, size > 0 ? size : 0, out == OUT_OK ? (size > 0 ? size : 0) : -1,
                 true);
    }
    curl_easy_cleanup(c);
    if (out == OUT_OK) {
        r->resumed = resumed;
        r->size = file_size(a->part_path);
        return ZOO_OK;
    }

    /* Failed: keep the .part only where a later run can continue it. */
    int64_t size = file_size(a->part_path);
    r->part_kept = (out == OUT_RETRY || s.offline) && s.ranges_ok && size > 0;
    if (!r->part_kept)
        unlink(a->part_path);
    char tries_note[48] = "";
    if (r->attempts > 1)
        snprintf(tries_note, sizeof tries_note, " (after %d attempts)", r->attempts);
    char kept[600] = "";
    if (r->part_kept)
        snprintf(kept, sizeof kept, "; the %" PRId64 " bytes received are kept in "
                 "%s and the next run resumes from there", size, a->part_path);
    if (s.offline)
        return zoo_error(ZOO_ERR_NETWORK,
                         "cannot download %s: %s%s%s. If this machine is offline, "
                         "place the file by hand at %s, or use a mirror of %s "
                         "(ZOO_MIRROR=URL, or zoo download --mirror URL)",
                         a->url, s.msg, tries_note, kept, a->final_path,
                         ZOO_GCS_PREFIX);
    if (s.local)
        return zoo_error(ZOO_ERR_IO, "cannot save %s: %s", a->url, s.msg);
    return zoo_error(ZOO_ERR_NETWORK, "cannot download %s: %s%s%s", a->url, s.msg,
                     tries_note, kept);
}
