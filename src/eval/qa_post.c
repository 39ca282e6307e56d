/* eval/qa_post: run_qa's span search and null answers (eval/qa_post.h). */
#include "eval/qa_post.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "eval/metrics.h"

void ft_qa_post_cfg_default(ft_qa_post_cfg *c) {
    *c = (ft_qa_post_cfg){20, 30, false, 0.0};
}

void ft_qa_answers_free(ft_qa_answer *a, size_t n) {
    for (size_t i = 0; a && i < n; i++)
        free(a[i].text);
}

typedef struct {
    int64_t cs, ce; /* context code points; null: cs = ce = -1 */
    double sl, el;
    size_t ord; /* order of insertion: equal scores keep it */
} cand;

/* np.argsort(x)[-1:-n-1:-1] of one logit column (k) of a window: the n largest, the later index first
 * among equal values. */
static void top_n(const float *lg, int k, int len, int n, int *idx, int *n_out) {
    int m = 0;
    for (int t = 0; t < len; t++) {
        const float v = lg[2 * t + k];
        int pos = m;
        while (pos > 0) {
            const float u = lg[2 * idx[pos - 1] + k];
            if (u > v || (u == v && idx[pos - 1] > t))
                break;
            pos--;
        }
        if (pos >= n)
            continue;
        if (m < n)
            m++;
        memmove(idx + pos + 1, idx + pos, (size_t)(m - 1 - pos) * sizeof *idx);
        idx[pos] = t;
    }
    *n_out = m;
}

static double score_of(const cand *c) {
    return c->sl + c->el;
}

/* By score, highest first; equal scores in insertion order (Python's stable sorted(..., reverse=True)). */
static int by_score(const void *a, const void *b) {
    const cand *x = a, *y = b;
    const double sx = score_of(x), sy = score_of(y);
    return sx > sy ? -1 : sx < sy ? 1 : (x->ord > y->ord) - (x->ord < y->ord);
}

static ft_status example_answer(const ft_qa_feats *f, size_t w0, size_t w1, const float *const *logits,
                                const ft_qa_post_cfg *c, ft_qa_answer *out) {
    const ft_qa_example *x = &f->set->ex[f->w[w0].example];
    const int nb = c->n_best > 0 ? c->n_best : 1;
    size_t cap = (w1 - w0) * (size_t)nb * (size_t)nb + 2, n = 0;
    cand *cs = malloc(cap * sizeof *cs);
    int *si = malloc((size_t)nb * sizeof *si), *ei = malloc((size_t)nb * sizeof *ei);
    if (!cs || !si || !ei) {
        free(cs);
        free(si);
        free(ei);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    cand null = {-1, -1, 0, 0, 0};
    bool have_null = false;
    for (size_t w = w0; w < w1; w++) {
        const ft_qa_window *win = &f->w[w];
        const float *lg = logits[w];
        const double ns = (double)lg[0] + (double)lg[1];
        if (!have_null || score_of(&null) > ns) {
            null = (cand){-1, -1, lg[0], lg[1], 0};
            have_null = true;
        }
        int ns_n, ne_n;
        top_n(lg, 0, win->len, nb, si, &ns_n);
        top_n(lg, 1, win->len, nb, ei, &ne_n);
        for (int a = 0; a < ns_n; a++)
            for (int b = 0; b < ne_n; b++) {
                const int s = si[a], e = ei[b];
                if (win->off_start[s] < 0 || win->off_start[e] < 0 || e < s ||
                    e - s + 1 > c->max_answer_length)
                    continue;
                cs[n] = (cand){win->off_start[s], win->off_end[e], lg[2 * s], lg[2 * e + 1], n};
                n++;
            }
    }
    free(si);
    free(ei);
    if (c->version_2_with_negative) {
        null.ord = n;
        cs[n++] = null;
    }
    qsort(cs, n, sizeof *cs, by_score);
    n = n < (size_t)nb ? n : (size_t)nb;
    bool null_in = false;
    for (size_t i = 0; i < n; i++)
        null_in |= cs[i].cs < 0;
    if (c->version_2_with_negative && !null_in)
        cs[n++] = null;
    /* no span, or only the null one: HF puts an "empty" answer of score 0 first */
    const bool add_empty = n == 0 || (n == 1 && cs[0].cs < 0);
    double zmax = add_empty ? 0.0 : -INFINITY, z = 0.0;
    for (size_t i = 0; i < n; i++)
        zmax = score_of(&cs[i]) > zmax ? score_of(&cs[i]) : zmax;
    for (size_t i = 0; i < n; i++)
        z += exp(score_of(&cs[i]) - zmax);
    if (add_empty)
        z += exp(-zmax);
    /* the best non-null prediction (the "empty" one when it was added) */
    const cand *best = NULL;
    for (size_t i = 0; !add_empty && i < n && !best; i++)
        if (cs[i].cs >= 0)
            best = &cs[i];
    const cand empty = {-2, -2, 0.0, 0.0, 0};
    if (!best)
        best = &empty;
    const cand *pick = best;
    if (c->version_2_with_negative && score_of(&null) - score_of(best) > c->null_score_diff_threshold)
        pick = &null;
    memset(out, 0, sizeof *out);
    out->null_score = score_of(&null);
    out->start_logit = pick->sl;
    out->end_logit = pick->el;
    out->prob = exp(score_of(pick) - zmax) / z;
    out->text = pick->cs == -2 ? ft_strdup("empty")
                : pick->cs < 0 ? ft_strdup("")
                               : ft_qa_context_span(x, (size_t)pick->cs, (size_t)pick->ce);
    free(cs);
    return out->text ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

ft_status ft_qa_postprocess(const ft_qa_feats *f, const float *const *logits, const ft_qa_post_cfg *c,
                            ft_qa_answer *out) {
    const size_t ne = f->set->n;
    c = c ? c : &f->post;
    memset(out, 0, ne * sizeof *out);
    size_t done = 0;
    for (size_t w = 0; w < f->n;) {
        size_t w1 = w + 1;
        while (w1 < f->n && f->w[w1].example == f->w[w].example)
            w1++;
        const size_t xi = f->w[w].example;
        if (xi >= ne || out[xi].text)
            return ft_fail(FT_ERR_ARG, "question answering: the windows of example %zu are not consecutive",
                           xi);
        FT_TRY(example_answer(f, w, w1, logits, c, &out[xi]));
        done++;
        w = w1;
    }
    if (done != ne)
        return ft_fail(FT_ERR_ARG, "question answering: %zu of %zu examples have no window", ne - done, ne);
    return FT_OK;
}

ft_status ft_qa_score_answers(const ft_qa_set *set, const ft_qa_answer *a, ft_qa_score *out) {
    memset(out, 0, sizeof *out);
    if (set->n == 0)
        return ft_fail(FT_ERR_ARG, "question answering: no examples to score");
    for (size_t i = 0; i < set->n; i++) {
        const ft_qa_example *x = &set->ex[i];
        double em = 0.0, f1 = 0.0;
        if (x->n_answers == 0) { /* SQuAD 2.0: right when the prediction is empty after normalizing */
            char *nm;
            FT_TRY(ft_squad_normalize(a[i].text, &nm));
            em = f1 = nm[0] ? 0.0 : 1.0;
            free(nm);
            out->no_ans_em += em;
            out->no_ans_f1 += f1;
            out->n_no_ans++;
        } else {
            for (int k = 0; k < x->n_answers; k++) {
                double e, f;
                FT_TRY(ft_squad_pair(a[i].text, x->answers[k], &e, &f));
                em = e > em ? e : em;
                f1 = f > f1 ? f : f1;
            }
            out->has_ans_em += em;
            out->has_ans_f1 += f1;
            out->n_has_ans++;
        }
        out->exact_match += em;
        out->f1 += f1;
    }
    out->n = set->n;
    out->exact_match *= 100.0 / (double)set->n;
    out->f1 *= 100.0 / (double)set->n;
    const double h = out->n_has_ans ? 100.0 / (double)out->n_has_ans : 0.0,
                 z = out->n_no_ans ? 100.0 / (double)out->n_no_ans : 0.0;
    out->has_ans_em *= h;
    out->has_ans_f1 *= h;
    out->no_ans_em *= z;
    out->no_ans_f1 *= z;
    return FT_OK;
}
