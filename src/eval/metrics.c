/* Classification, regression and perplexity metrics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"

void ft_metric_cls_free(ft_metric_cls *m) {
    if (m->labels)
        for (size_t i = 0; i < m->n_classes; i++)
            free(m->labels[i]);
    free(m->labels);
    free(m->confusion);
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
    memset(m, 0, sizeof *m);
}

static double div0(double a, double b) { return b == 0.0 ? 0.0 : a / b; } /* zero_division = 0 */
static double fscore(double p, double r) { return p + r == 0.0 ? 0.0 : 2.0 * p * r / (p + r); }

ft_status ft_metric_classification_ids(const int *y_true, const int *y_pred, size_t n, size_t n_classes,
                                       ft_metric_cls *out) {
    memset(out, 0, sizeof *out);
    if (n == 0)
        return ft_fail(FT_ERR_ARG, "classification: no examples");
    if (n_classes == 0)
        return ft_fail(FT_ERR_ARG, "classification: no classes");
    size_t k = n_classes;
    out->n_classes = k;
    out->n = n;
    out->confusion = calloc(k * k, sizeof *out->confusion);
    out->precision = calloc(k, sizeof(double));
    out->recall = calloc(k, sizeof(double));
    out->f1 = calloc(k, sizeof(double));
    out->support = calloc(k, sizeof *out->support);
    int64_t *pred_sum = calloc(k, sizeof *pred_sum);
    if (!out->confusion || !out->precision || !out->recall || !out->f1 || !out->support || !pred_sum) {
        free(pred_sum);
        ft_metric_cls_free(out);
        return ft_fail(FT_ERR_NOMEM, "classification: out of memory for %zu classes", k);
    }
    for (size_t i = 0; i < n; i++) {
        if (y_true[i] < 0 || (size_t)y_true[i] >= k || y_pred[i] < 0 || (size_t)y_pred[i] >= k) {
            free(pred_sum);
            ft_metric_cls_free(out);
            return ft_fail(FT_ERR_RANGE, "classification: example %zu has class %d/%d outside [0, %zu)", i,
                           y_true[i], y_pred[i], k);
        }
        out->confusion[(size_t)y_true[i] * k + (size_t)y_pred[i]]++;
    }
    int64_t tp_all = 0;
    for (size_t c = 0; c < k; c++) {
        int64_t tp = out->confusion[c * k + c], ts = 0, ps = 0;
        for (size_t j = 0; j < k; j++) {
            ts += out->confusion[c * k + j];
            ps += out->confusion[j * k + c];
        }
        out->support[c] = ts;
        pred_sum[c] = ps;
        tp_all += tp;
        out->precision[c] = div0((double)tp, (double)ps);
        out->recall[c] = div0((double)tp, (double)ts);
        out->f1[c] = fscore(out->precision[c], out->recall[c]);
        out->precision_macro += out->precision[c];
        out->recall_macro += out->recall[c];
        out->f1_macro += out->f1[c];
        out->precision_weighted += out->precision[c] * (double)ts;
        out->recall_weighted += out->recall[c] * (double)ts;
        out->f1_weighted += out->f1[c] * (double)ts;
    }
    out->precision_macro /= (double)k;
    out->recall_macro /= (double)k;
    out->f1_macro /= (double)k;
    out->precision_weighted /= (double)n; /* weights = true support, summing to n */
    out->recall_weighted /= (double)n;
    out->f1_weighted /= (double)n;
    /* micro: pooled counts; every example is one prediction and one truth, so P = R = accuracy */
    out->accuracy = (double)tp_all / (double)n;
    out->precision_micro = div0((double)tp_all, (double)n);
    out->recall_micro = div0((double)tp_all, (double)n);
    out->f1_micro = fscore(out->precision_micro, out->recall_micro);
    free(pred_sum);
    return FT_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static size_t find_label(char *const *labels, size_t k, const char *s) {
    size_t lo = 0, hi = k;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(labels[mid], s);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return k;
}

ft_status ft_metric_classification(const char *const *y_true, const char *const *y_pred, size_t n,
                                   ft_metric_cls *out) {
    memset(out, 0, sizeof *out);
    if (n == 0)
        return ft_fail(FT_ERR_ARG, "classification: no examples");
    const char **all = malloc(2 * n * sizeof *all);
    int *ti = malloc(n * sizeof *ti), *pi = malloc(n * sizeof *pi);
    if (!all || !ti || !pi) {
        free(all), free(ti), free(pi);
        return ft_fail(FT_ERR_NOMEM, "classification: out of memory for %zu examples", n);
    }
    memcpy(all, y_true, n * sizeof *all);
    memcpy(all + n, y_pred, n * sizeof *all);
    qsort(all, 2 * n, sizeof *all, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < 2 * n; i++)
        if (k == 0 || strcmp(all[k - 1], all[i]) != 0)
            all[k++] = all[i];
    for (size_t i = 0; i < n; i++) {
        ti[i] = (int)find_label((char *const *)all, k, y_true[i]);
        pi[i] = (int)find_label((char *const *)all, k, y_pred[i]);
    }
    ft_status s = ft_metric_classification_ids(ti, pi, n, k, out);
    free(ti);
    free(pi);
    if (s != FT_OK) {
        free(all);
        return s;
    }
    out->labels = calloc(k, sizeof *out->labels);
    if (!out->labels) {
        free(all);
        ft_metric_cls_free(out);
        return ft_fail(FT_ERR_NOMEM, "classification: out of memory for labels");
    }
    for (size_t c = 0; c < k; c++) {
        out->labels[c] = ft_strdup(all[c]);
        if (!out->labels[c]) {
            free(all);
            ft_metric_cls_free(out);
            return ft_fail(FT_ERR_NOMEM, "classification: out of memory for labels");
        }
    }
    free(all);
    return FT_OK;
}

ft_status ft_metric_regression(const double *y_true, const double *y_pred, size_t n, ft_metric_reg *out) {
    memset(out, 0, sizeof *out);
    if (n == 0)
        return ft_fail(FT_ERR_ARG, "regression: no examples");
    double mean = 0, se = 0, ae = 0, tot = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y_true[i]) || !isfinite(y_pred[i]))
            return ft_fail(FT_ERR_NUMERIC, "regression: example %zu is not a finite number", i);
        mean += y_true[i];
    }
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = y_true[i] - y_pred[i];
        se += d * d;
        ae += fabs(d);
        tot += (y_true[i] - mean) * (y_true[i] - mean);
    }
    out->mse = se / (double)n;
    out->mae = ae / (double)n;
    /* R² = 1 − SS_res/SS_tot; sklearn's force_finite: 1 when SS_res = 0, 0 when only SS_tot = 0 */
    if (n < 2)
        out->r2 = NAN;
    else if (se == 0.0)
        out->r2 = 1.0;
    else if (tot == 0.0)
        out->r2 = 0.0;
    else
        out->r2 = 1.0 - se / tot;
    return FT_OK;
}

ft_status ft_metric_perplexity(double nll_sum, double n_tokens, double *out) {
    if (!(n_tokens > 0))
        return ft_fail(FT_ERR_ARG, "perplexity: token count must be positive (got %g)", n_tokens);
    if (!isfinite(nll_sum))
        return ft_fail(FT_ERR_NUMERIC, "perplexity: summed negative log-likelihood is not finite");
    *out = exp(nll_sum / n_tokens);
    return FT_OK;
}
