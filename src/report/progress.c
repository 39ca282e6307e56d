/* report/progress: progress bar / periodic progress lines (see progress.h). */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "report/progress.h"

#define LINE_MAX_CHARS 1024 /* widest line we build; wider terminals get a line this wide */

void ft_progress_fmt_time(char *buf, size_t cap, double secs) {
    if (!(secs >= 0) || secs > 1e12) { /* NaN, negative, or absurd (a stalled rate) */
        snprintf(buf, cap, "?");
        return;
    }
    long long t = (long long)secs; /* whole seconds, rounded down like tqdm */
    long long h = t / 3600, m = t / 60 % 60, sec = t % 60;
    if (h > 0)
        snprintf(buf, cap, "%lld:%02lld:%02lld", h, m, sec);
    else
        snprintf(buf, cap, "%02lld:%02lld", m, sec);
}

void ft_progress_fmt_si(char *buf, size_t cap, double x) {
    static const char *const unit[] = {"", "k", "M", "G", "T", "P"};
    if (!(x >= 0) || isinf(x)) {
        snprintf(buf, cap, "?");
        return;
    }
    int u = 0;
    while (x >= 999.5 && u < 5) { /* 999.5 would print as "1e+03": move up a unit first */
        x /= 1000;
        u++;
    }
    /* three significant digits: the thresholds are where rounding adds a digit */
    int dec = x >= 99.95 ? 0 : x >= 9.995 ? 1 : 2;
    snprintf(buf, cap, "%.*f%s", dec, x, unit[u]);
}

static void fmt_value(char *buf, size_t cap, double x) {
    double a = fabs(x);
    if (a != 0 && (a >= 1e5 || a < 1e-3))
        snprintf(buf, cap, "%.3e", x);
    else
        snprintf(buf, cap, "%.4f", x);
}

/* bounded append: s->n counts what fits; the rest is dropped */
typedef struct {
    char b[LINE_MAX_CHARS + 1];
    size_t n;
} line_buf;

__attribute__((format(printf, 2, 3))) static void add(line_buf *l, const char *fmt, ...) {
    size_t room = sizeof l->b - l->n;
    if (room <= 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(l->b + l->n, room, fmt, ap);
    va_end(ap);
    if (k > 0)
        l->n += (size_t)k < room ? (size_t)k : room - 1;
}

/* " loss X lr Y R tok/s" for the values that are present */
static void add_values(line_buf *l, const ft_progress_stats *s) {
    char v[48];
    if (!isnan(s->loss)) {
        fmt_value(v, sizeof v, s->loss);
        add(l, " loss %s", v);
    }
    if (!isnan(s->lr))
        add(l, " lr %.2e", s->lr);
    if (s->tokens_per_s >= 0 && !isinf(s->tokens_per_s)) {
        ft_progress_fmt_si(v, sizeof v, s->tokens_per_s);
        add(l, " %s tok/s", v);
    }
}

size_t ft_progress_format(char *buf, size_t cap, const ft_progress_stats *s, int width) {
    if (cap == 0)
        return 0;
    bool known = s->total > 0;
    double frac = known ? (double)s->step / (double)s->total : 0;
    frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
    int pct = (int)floor(frac * 100); /* floor: 100% only when done */
    char el[32], eta[32];
    ft_progress_fmt_time(el, sizeof el, s->elapsed);
    ft_progress_fmt_time(eta, sizeof eta, s->eta);
    long long step = (long long)s->step, total = (long long)s->total;

    line_buf out = {.n = 0};
    out.b[0] = 0;
    if (width <= 0) {
        add(&out, "step %lld", step);
        if (known)
            add(&out, "/%lld (%d%%)", total, pct);
        add_values(&out, s);
        add(&out, " elapsed %s", el);
        if (known)
            add(&out, " eta %s", eta);
    } else {
        if (width > LINE_MAX_CHARS)
            width = LINE_MAX_CHARS;
        line_buf right = {.n = 0};
        right.b[0] = 0;
        if (known)
            add(&right, " %lld/%lld [%s<%s]", step, total, el, eta);
        else
            add(&right, "step %lld [%s]", step, el);
        add_values(&right, s);
        /* layout: "PPP%|" bar "|" right; the bar takes what is left, if at least 5 columns */
        int fixed = 5 + 1 + (int)right.n;
        int barw = width - fixed;
        if (known && barw >= 5) {
            int fill = (int)floor(frac * barw);
            add(&out, "%3d%%|", pct);
            for (int i = 0; i < barw; i++)
                out.b[out.n++] = i < fill ? '#' : ' ';
            out.b[out.n] = 0;
            add(&out, "|%s", right.b);
        } else if (known) {
            add(&out, "%3d%%%s", pct, right.b);
        } else {
            add(&out, "%s", right.b);
        }
        if (out.n > (size_t)width) { /* too narrow even without the bar: cut */
            out.n = (size_t)width;
            out.b[out.n] = 0;
        }
    }
    size_t n = out.n < cap - 1 ? out.n : cap - 1;
    memcpy(buf, out.b, n);
    buf[n] = 0;
    return n;
}

static int term_width(const ft_progress *p) {
    if (p->width > 0)
        return p->width;
    struct winsize ws;
    if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    int w = c ? atoi(c) : 0;
    return w > 0 ? w : 80;
}

void ft_progress_init(ft_progress *p, FILE *out, ft_progress_mode mode, int64_t start_step,
                      int64_t total, double now) {
    memset(p, 0, sizeof *p);
    p->out = out;
    if (!out)
        mode = FT_PROGRESS_QUIET;
    else if (mode == FT_PROGRESS_AUTO)
        mode = isatty(fileno(out)) ? FT_PROGRESS_TTY : FT_PROGRESS_PLAIN;
    p->mode = mode;
    p->tty_interval = 0.1;
    p->plain_interval = 30;
    p->start_step = start_step;
    p->total = total;
    p->t0 = now;
    p->last = (ft_progress_stats){.step = start_step, .total = total, .loss = NAN, .lr = NAN,
                                  .tokens_per_s = NAN, .elapsed = 0, .eta = NAN};
}

static void draw(ft_progress *p, double now) {
    char line[LINE_MAX_CHARS + 1];
    p->last_draw = now;
    p->drawn = true;
    p->dirty = false;
    if (p->mode == FT_PROGRESS_TTY) {
        /* one column short of the edge: writing the last column makes some terminals wrap */
        int w = term_width(p) - 1;
        int n = (int)ft_progress_format(line, sizeof line, &p->last, w < 1 ? 1 : w);
        int pad = p->on_screen > n ? p->on_screen - n : 0; /* blank out a longer previous line */
        fprintf(p->out, "\r%s%*s", line, pad, "");
        p->on_screen = n;
    } else {
        ft_progress_format(line, sizeof line, &p->last, 0);
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}

bool ft_progress_update(ft_progress *p, int64_t step, double loss, double lr, double tokens, double now) {
    if (p->mode == FT_PROGRESS_QUIET)
        return false;
    double el = now - p->t0;
    ft_progress_stats *s = &p->last;
    s->step = step;
    s->loss = loss;
    s->lr = lr;
    s->elapsed = el;
    s->tokens_per_s = el > 0 && !isnan(tokens) ? tokens / el : NAN;
    int64_t done = step - p->start_step;
    s->eta = p->total > 0 && done > 0 && el > 0 ? (double)(p->total - step) * el / (double)done : NAN;
    if (s->eta < 0)
        s->eta = 0;
    p->dirty = true;
    double every = p->mode == FT_PROGRESS_TTY ? p->tty_interval : p->plain_interval;
    bool last_step = p->total > 0 && step >= p->total;
    if (!p->drawn || now - p->last_draw >= every || last_step) {
        draw(p, now);
        return true;
    }
    return false;
}

void ft_progress_note(ft_progress *p, const char *msg) {
    if (p->mode == FT_PROGRESS_QUIET || !msg)
        return;
    if (p->mode == FT_PROGRESS_TTY && p->on_screen > 0) {
        fprintf(p->out, "\r%*s\r%s\n", p->on_screen, "", msg);
        p->on_screen = 0;
        draw(p, p->last_draw); /* put the bar back below the message */
    } else {
        fprintf(p->out, "%s\n", msg);
        fflush(p->out);
    }
}

void ft_progress_finish(ft_progress *p, double now) {
    if (p->mode == FT_PROGRESS_QUIET)
        return;
    if (p->mode == FT_PROGRESS_TTY) {
        if (p->dirty || !p->drawn)
            draw(p, now);
        fputc('\n', p->out);
        p->on_screen = 0;
    } else if (p->dirty || !p->drawn) {
        draw(p, now);
    }
    fflush(p->out);
}
