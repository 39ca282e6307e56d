/* report/report_html: a self-contained report.html (no scripts, no external files): key/value
 * table, line charts as inline SVG (loss / lr curves), confusion-matrix table. Plain arrays in,
 * nothing kept. Prefix ft_html_. */
#ifndef FT_REPORT_HTML_H
#define FT_REPORT_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

typedef struct {
    const char *name;         /* legend text */
    const double *x, *y;      /* n points (step, value); non-finite y breaks the line */
    size_t n;
} ft_html_series;

typedef struct {
    const char *title, *x_label, *y_label;
    const ft_html_series *series;
    size_t nseries;
    bool log_y;               /* log10 y axis (values <= 0 are left out) */
} ft_html_chart;

typedef struct {
    const char *key, *value;
} ft_html_kv;

typedef struct {
    const char *title;
    size_t n;                 /* classes */
    const char *const *labels; /* n names */
    const int64_t *counts;    /* n x n, row-major: row = true class, column = predicted */
} ft_html_confusion;

typedef struct {
    const char *title;
    const ft_html_kv *kv;
    size_t nkv;
    const ft_html_chart *charts;
    size_t ncharts;
    const ft_html_confusion *confusion; /* NULL: none */
    const char *kv2_title;    /* a second key/value table after the charts (e.g. the full recipe) */
    const ft_html_kv *kv2;
    size_t nkv2;
} ft_html_report;

/* Geometry of every chart's SVG (pixels); the plot area is inside the margins. */
#define FT_HTML_W 640
#define FT_HTML_H 320
#define FT_HTML_ML 64 /* left margin (y tick labels) */
#define FT_HTML_MR 16
#define FT_HTML_MT 16
#define FT_HTML_MB 40 /* bottom margin (x tick labels, axis label) */

/* Build the page into a malloc'd NUL-terminated string (*out, free() it). */
ft_status ft_html_render(const ft_html_report *r, char **out, size_t *len);
/* Render and write atomically to path. */
ft_status ft_html_write(const char *path, const ft_html_report *r);

#endif
