/* report/progress: a training progress display. On a terminal, one line redrawn in place with
 * '\r' at most ~10 times a second:
 *    45%|#########           | 450/1000 [01:23<01:42] loss 2.3456 lr 3.00e-05 1.23k tok/s
 * When the output is not a terminal (a log file, a pipe): a plain line every plain_interval
 * seconds. Quiet mode prints nothing. No globals: the state lives in ft_progress, the caller
 * passes the clock (`now`, e.g. ft_now()) so behaviour is testable. Prefix ft_progress_. */
#ifndef FT_PROGRESS_H
#define FT_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    FT_PROGRESS_AUTO = 0, /* TTY if isatty(out), else PLAIN */
    FT_PROGRESS_TTY,
    FT_PROGRESS_PLAIN,
    FT_PROGRESS_QUIET
} ft_progress_mode;

/* What one line shows. */
typedef struct {
    int64_t step, total;  /* total <= 0: unknown (no percentage, bar or ETA) */
    double loss, lr;      /* NaN: not shown */
    double tokens_per_s;  /* NaN or negative: not shown */
    double elapsed;       /* seconds */
    double eta;           /* seconds; NaN or negative: shown as "?" */
} ft_progress_stats;

/* Format one line into buf (cap bytes, always NUL-terminated; cap >= 1). width > 0: the terminal
 * form with a bar, at most width characters (the bar shrinks, then goes, then the line is cut);
 * width <= 0: the plain log form, no bar. Returns strlen(buf). */
size_t ft_progress_format(char *buf, size_t cap, const ft_progress_stats *s, int width);
/* Durations: "MM:SS" under an hour, else "H:MM:SS"; "?" when negative/NaN. */
void ft_progress_fmt_time(char *buf, size_t cap, double secs);
/* Rates with 3 significant digits and an SI suffix: "5.23", "523", "1.23k", "12.3M"; "?" when
 * negative/NaN. */
void ft_progress_fmt_si(char *buf, size_t cap, double x);

typedef struct {
    FILE *out;
    ft_progress_mode mode;   /* resolved by init: TTY, PLAIN or QUIET */
    int width;               /* 0: ask the terminal each redraw (TIOCGWINSZ, then $COLUMNS, then 80) */
    double tty_interval;     /* min seconds between redraws on a terminal (default 0.1) */
    double plain_interval;   /* seconds between plain lines (default 30) */
    int64_t start_step, total;
    double t0, last_draw;
    ft_progress_stats last;  /* the latest values given */
    bool drawn;              /* something printed yet */
    bool dirty;              /* values changed since the last print */
    int on_screen;           /* TTY: length of the line now on screen (0: none) */
} ft_progress;

/* start_step: the step the run starts (or resumes) at, so rates count only this run's steps.
 * total: the last step (<= 0 if unknown). now: current time in seconds (any monotonic clock). */
void ft_progress_init(ft_progress *p, FILE *out, ft_progress_mode mode, int64_t start_step,
                      int64_t total, double now);
/* New values after a step. tokens: tokens processed since init (NaN if not counted); the rate is
 * tokens / elapsed. loss/lr: NaN to leave out. Prints if due; returns true if it printed. */
bool ft_progress_update(ft_progress *p, int64_t step, double loss, double lr, double tokens, double now);
/* A line of text (e.g. eval results) printed above the bar, which is then redrawn. */
void ft_progress_note(ft_progress *p, const char *msg);
/* Final state: redraws with the latest values and ends the line. */
void ft_progress_finish(ft_progress *p, double now);

#endif
