/* report/report_html: self-contained HTML report with inline SVG charts (see report_html.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_html.h"

/* ---- growing string ---- */
typedef struct {
    char *b;
    size_t n, cap;
    int oom;
} sbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *s, const char *fmt, ...) {
    if (s->oom)
        return;
    for (;;) {
        size_t room = s->cap - s->n;
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(s->b ? s->b + s->n : NULL, s->b ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            s->oom = 1;
            return;
        }
        if (s->b && (size_t)k < room) {
            s->n += (size_t)k;
            return;
        }
        size_t cap = s->cap ? s->cap : 4096;
        while (cap - s->n <= (size_t)k)
            cap *= 2;
        char *nb = realloc(s->b, cap);
        if (!nb) {
            s->oom = 1;
            return;
        }
        s->b = nb;
        s->cap = cap;
    }
}

/* text content and attribute values: the five characters HTML gives meaning to */
static void sb_esc(sbuf *s, const char *t) {
    if (!t)
        return;
    for (; *t; t++) {
        switch (*t) {
        case '&': sb_printf(s, "&amp;"); break;
        case '<': sb_printf(s, "&lt;"); break;
        case '>': sb_printf(s, "&gt;"); break;
        case '"': sb_printf(s, "&quot;"); break;
        case '\'': sb_printf(s, "&#39;"); break;
        default: sb_printf(s, "%c", *t);
        }
    }
}

/* ---- charts ---- */
static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
#define PW (FT_HTML_W - FT_HTML_ML - FT_HTML_MR)
#define PH (FT_HTML_H - FT_HTML_MT - FT_HTML_MB)

/* a 1-2-5 x 10^k step giving about `target` intervals over range */
static double nice_step(double range, int target) {
    double raw = range / target;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static int usable(const ft_html_chart *c, double x, double y) {
    return isfinite(x) && isfinite(y) && (!c->log_y || y > 0);
}
static double ty(const ft_html_chart *c, double y) { return c->log_y ? log10(y) : y; }

typedef struct {
    double x0, x1, y0, y1;
} frame;
static double px(const frame *f, double x) { return FT_HTML_ML + (x - f->x0) / (f->x1 - f->x0) * PW; }
static double py(const frame *f, double t) {
    return FT_HTML_MT + PH - (t - f->y0) / (f->y1 - f->y0) * PH;
}

/* Polyline points; when a series has many more points than pixel columns, each column keeps its
 * lowest and highest point (in order), so spikes survive the thinning. */
typedef struct {
    sbuf *s;
    const char *color;
    int open;
} line_out;
static void lo_point(line_out *lo, double x, double y) {
    if (!lo->open) {
        sb_printf(lo->s, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", lo->color);
        lo->open = 1;
    } else {
        sb_printf(lo->s, " ");
    }
    sb_printf(lo->s, "%.1f,%.1f", x, y);
}
static void lo_break(line_out *lo) {
    if (lo->open)
        sb_printf(lo->s, "\"/>\n");
    lo->open = 0;
}

static void draw_series(sbuf *s, const ft_html_chart *c, const frame *f, const ft_html_series *se,
                        const char *color) {
    line_out lo = {s, color, 0};
    int thin = se->n > 4 * (size_t)PW;
    long col = -1;
    double mn_x = 0, mn_y = 0, mx_x = 0, mx_y = 0;
    size_t mn_i = 0, mx_i = 0;
    int have = 0;
    for (size_t i = 0; i <= se->n; i++) {
        int end = i == se->n;
        int ok = !end && usable(c, se->x[i], se->y[i]);
        double X = ok ? px(f, se->x[i]) : 0, Y = ok ? py(f, ty(c, se->y[i])) : 0;
        if (!thin) {
            if (ok)
                lo_point(&lo, X, Y);
            else
                lo_break(&lo);
            continue;
        }
        long k = ok ? lround(X) : -2;
        if (have && (k != col || !ok)) { /* flush the finished column */
            if (mn_i <= mx_i) {
                lo_point(&lo, mn_x, mn_y);
                if (mx_i != mn_i)
                    lo_point(&lo, mx_x, mx_y);
            } else {
                lo_point(&lo, mx_x, mx_y);
                lo_point(&lo, mn_x, mn_y);
            }
            have = 0;
        }
        if (!ok) {
            lo_break(&lo);
            continue;
        }
        /* SVG y grows downwards: the lowest value has the largest Y */
        if (!have || Y > mn_y) { mn_x = X; mn_y = Y; mn_i = i; }
        if (!have || Y < mx_y) { mx_x = X; mx_y = Y; mx_i = i; }
        have = 1;
        col = k;
    }
    lo_break(&lo);
}

static void draw_chart(sbuf *s, const ft_html_chart *c) {
    frame f = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    for (size_t k = 0; k < c->nseries; k++)
        for (size_t i = 0; i < c->series[k].n; i++) {
            double x = c->series[k].x[i], y = c->series[k].y[i];
            if (!usable(c, x, y))
                continue;
            f.x0 = fmin(f.x0, x);
            f.x1 = fmax(f.x1, x);
            f.y0 = fmin(f.y0, ty(c, y));
            f.y1 = fmax(f.y1, ty(c, y));
        }
    sb_printf(s, "<figure>\n<figcaption>");
    sb_esc(s, c->title);
    sb_printf(s, "</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
              FT_HTML_W, FT_HTML_H, FT_HTML_W, FT_HTML_H);
    sb_printf(s, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fff\" stroke=\"#888\"/>\n",
              FT_HTML_ML, FT_HTML_MT, PW, PH);
    if (!(f.x0 <= f.x1)) {
        sb_printf(s, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no data</text>\n</svg>\n</figure>\n",
                  FT_HTML_ML + PW / 2, FT_HTML_MT + PH / 2);
        return;
    }
    /* x spans the data exactly; y is widened to whole tick steps (or whole decades) */
    if (f.x1 == f.x0) { f.x0 -= 0.5; f.x1 += 0.5; }
    if (f.y1 == f.y0) {
        double d = c->log_y ? 0.5 : (f.y0 != 0 ? fabs(f.y0) * 0.1 : 1);
        f.y0 -= d;
        f.y1 += d;
    }
    double ystep;
    if (c->log_y) {
        f.y0 = floor(f.y0);
        f.y1 = ceil(f.y1);
        ystep = fmax(1, ceil((f.y1 - f.y0) / 6));
    } else {
        ystep = nice_step(f.y1 - f.y0, 5);
        f.y0 = floor(f.y0 / ystep) * ystep;
        f.y1 = ceil(f.y1 / ystep) * ystep;
    }
    for (double t = f.y0; t <= f.y1 + ystep * 1e-9; t += ystep) {
        double Y = py(&f, t);
        sb_printf(s, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>", FT_HTML_ML,
                  FT_HTML_ML + PW, Y, Y);
        double shown = c->log_y ? pow(10, t) : (fabs(t) < ystep * 1e-9 ? 0 : t);
        sb_printf(s, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" dominant-baseline=\"middle\">%.4g</text>\n",
                  FT_HTML_ML - 4, Y, shown);
    }
    double xstep = nice_step(f.x1 - f.x0, 6);
    for (double t = ceil(f.x0 / xstep) * xstep; t <= f.x1 + xstep * 1e-9; t += xstep) {
        double X = px(&f, t);
        sb_printf(s, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#e4e4e4\"/>", X, X,
                  FT_HTML_MT, FT_HTML_MT + PH);
        sb_printf(s, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.6g</text>\n", X,
                  FT_HTML_MT + PH + 14, fabs(t) < xstep * 1e-9 ? 0 : t);
    }
    sb_printf(s, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", FT_HTML_ML + PW / 2, FT_HTML_H - 6);
    sb_esc(s, c->x_label);
    sb_printf(s, "</text>\n<text transform=\"translate(12,%d) rotate(-90)\" text-anchor=\"middle\">",
              FT_HTML_MT + PH / 2);
    sb_esc(s, c->y_label);
    if (c->log_y)
        sb_printf(s, " (log)");
    sb_printf(s, "</text>\n");
    for (size_t k = 0; k < c->nseries; k++) {
        const char *color = palette[k % (sizeof palette / sizeof *palette)];
        draw_series(s, c, &f, &c->series[k], color);
        int ly = FT_HTML_MT + 14 + 16 * (int)k, lx = FT_HTML_ML + PW - 150;
        sb_printf(s, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>"
                     "<text x=\"%d\" y=\"%d\" dominant-baseline=\"middle\">",
                  lx, lx + 20, ly, ly, color, lx + 26, ly);
        sb_esc(s, c->series[k].name);
        sb_printf(s, "</text>\n");
    }
    sb_printf(s, "</svg>\n</figure>\n");
}

static void draw_confusion(sbuf *s, const ft_html_confusion *m) {
    sb_printf(s, "<h2>");
    sb_esc(s, m->title ? m->title : "Confusion matrix");
    sb_printf(s, "</h2>\n<table class=\"cm\">\n<tr><th>true \\ predicted</th>");
    for (size_t j = 0; j < m->n; j++) {
        sb_printf(s, "<th>");
        sb_esc(s, m->labels[j]);
        sb_printf(s, "</th>");
    }
    sb_printf(s, "<th>total</th></tr>\n");
    for (size_t i = 0; i < m->n; i++) {
        int64_t row = 0;
        for (size_t j = 0; j < m->n; j++)
            row += m->counts[i * m->n + j];
        sb_printf(s, "<tr><th>");
        sb_esc(s, m->labels[i]);
        sb_printf(s, "</th>");
        for (size_t j = 0; j < m->n; j++) {
            int64_t v = m->counts[i * m->n + j];
            double a = row > 0 ? (double)v / (double)row : 0; /* shade = share of the true class */
            sb_printf(s, "<td style=\"background:rgba(31,119,180,%.2f);color:%s\">%lld</td>", a,
                      a > 0.5 ? "#fff" : "#000", (long long)v);
        }
        sb_printf(s, "<td>%lld</td></tr>\n", (long long)row);
    }
    sb_printf(s, "</table>\n");
}

static ft_status check(const ft_html_report *r) {
    if (!r)
        return ft_fail(FT_ERR_ARG, "report.html: NULL report");
    if (r->nkv && !r->kv)
        return ft_fail(FT_ERR_ARG, "report.html: %zu key/values but no array", r->nkv);
    for (size_t i = 0; i < r->nkv; i++)
        if (!r->kv[i].key || !r->kv[i].value)
            return ft_fail(FT_ERR_ARG, "report.html: key/value %zu has a NULL key or value", i);
    if (r->ncharts && !r->charts)
        return ft_fail(FT_ERR_ARG, "report.html: %zu charts but no array", r->ncharts);
    for (size_t i = 0; i < r->ncharts; i++) {
        const ft_html_chart *c = &r->charts[i];
        if (c->nseries && !c->series)
            return ft_fail(FT_ERR_ARG, "report.html: chart '%s' has no series array", c->title ? c->title : "");
        for (size_t k = 0; k < c->nseries; k++)
            if (c->series[k].n && (!c->series[k].x || !c->series[k].y))
                return ft_fail(FT_ERR_ARG, "report.html: chart '%s' series %zu has NULL x or y",
                               c->title ? c->title : "", k);
    }
    const ft_html_confusion *m = r->confusion;
    if (m) {
        if (m->n && (!m->labels || !m->counts))
            return ft_fail(FT_ERR_ARG, "report.html: confusion matrix without labels or counts");
        for (size_t i = 0; i < m->n; i++)
            if (!m->labels[i])
                return ft_fail(FT_ERR_ARG, "report.html: confusion matrix label %zu is NULL", i);
        for (size_t i = 0; i < m->n * m->n; i++)
            if (m->counts[i] < 0)
                return ft_fail(FT_ERR_RANGE, "report.html: confusion matrix cell (%zu,%zu) is negative (%lld)",
                               i / m->n, i % m->n, (long long)m->counts[i]);
    }
    return FT_OK;
}

ft_status ft_html_render(const ft_html_report *r, char **out, size_t *len) {
    *out = NULL;
    if (len)
        *len = 0;
    FT_TRY(check(r));
    sbuf s = {0};
    const char *title = r->title ? r->title : "ftune report";
    sb_printf(&s, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    sb_esc(&s, title);
    sb_printf(&s, "</title>\n<style>\n"
                  "body{font-family:sans-serif;margin:24px;color:#222}\n"
                  "table{border-collapse:collapse;margin:8px 0 24px}\n"
                  "td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}\n"
                  "table.cm td{text-align:right;min-width:3em}\n"
                  "figure{display:inline-block;margin:0 16px 16px 0}\n"
                  "figcaption{font-weight:bold;margin-bottom:4px}\n"
                  "</style>\n</head>\n<body>\n<h1>");
    sb_esc(&s, title);
    sb_printf(&s, "</h1>\n");
    if (r->nkv) {
        sb_printf(&s, "<table class=\"kv\">\n");
        for (size_t i = 0; i < r->nkv; i++) {
            sb_printf(&s, "<tr><th>");
            sb_esc(&s, r->kv[i].key);
            sb_printf(&s, "</th><td>");
            sb_esc(&s, r->kv[i].value);
            sb_printf(&s, "</td></tr>\n");
        }
        sb_printf(&s, "</table>\n");
    }
    for (size_t i = 0; i < r->ncharts; i++)
        draw_chart(&s, &r->charts[i]);
    if (r->confusion && r->confusion->n)
        draw_confusion(&s, r->confusion);
    if (r->nkv2) {
        sb_printf(&s, "<h2>");
        sb_esc(&s, r->kv2_title ? r->kv2_title : "Details");
        sb_printf(&s, "</h2>\n<table class=\"kv\">\n");
        for (size_t i = 0; i < r->nkv2; i++) {
            sb_printf(&s, "<tr><th>");
            sb_esc(&s, r->kv2[i].key);
            sb_printf(&s, "</th><td>");
            sb_esc(&s, r->kv2[i].value ? r->kv2[i].value : "");
            sb_printf(&s, "</td></tr>\n");
        }
        sb_printf(&s, "</table>\n");
    }
    sb_printf(&s, "</body>\n</html>\n");
    if (s.oom) {
        free(s.b);
        return ft_fail(FT_ERR_NOMEM, "report.html: out of memory building the page");
    }
    *out = s.b;
    if (len)
        *len = s.n;
    return FT_OK;
}

ft_status ft_html_write(const char *path, const ft_html_report *r) {
    char *html;
    size_t n;
    ft_status st = ft_html_render(r, &html, &n);
    if (st != FT_OK)
        return ft_fail_ctx(st, "%s", path);
    st = ft_write_file_atomic(path, html, n);
    free(html);
    return st;
}
