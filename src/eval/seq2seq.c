/* eval/seq2seq: generation-based scores of task seq2seq (see seq2seq.h). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "eval/metrics.h"
#include "eval/seq2seq.h"

ft_status ft_s2s_score_texts(const char *const *hyps, const char *const *refs, size_t n, ft_s2s_score *out) {
    memset(out, 0, sizeof *out);
    if (n == 0)
        return ft_fail(FT_ERR_ARG, "seq2seq scores: no example to score");
    size_t *off = malloc((n + 1) * sizeof *off);
    if (!off)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i <= n; i++) /* one reference per example */
        off[i] = i;
    ft_bleu_opts bo;
    ft_bleu_opts_default(&bo);
    ft_bleu_score b = {0};
    ft_rouge_score rg = {0};
    ft_squad_score sq = {0};
    ft_status s = ft_metric_bleu(hyps, n, refs, off, &bo, &b);
    if (s == FT_OK)
        s = ft_metric_rouge(hyps, n, refs, off, false, &rg);
    if (s == FT_OK)
        s = ft_metric_squad(hyps, n, refs, off, &sq);
    free(off);
    FT_TRY(s);
    *out = (ft_s2s_score){.bleu = b.bleu,
                          .rouge1 = rg.rouge1,
                          .rouge2 = rg.rouge2,
                          .rougeL = rg.rougeL,
                          .rougeLsum = rg.rougeLsum,
                          .exact_match = sq.exact_match,
                          .f1 = sq.f1,
                          .n = n};
    return FT_OK;
}

void ft_s2s_texts_free(char **texts, size_t n) {
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
}

static ft_status write_pair(FILE *f, const char *hyp, const char *ref) {
    cJSON *j = cJSON_CreateObject();
    if (!j || !cJSON_AddStringToObject(j, "prediction", hyp) ||
        !cJSON_AddStringToObject(j, "reference", ref)) {
        cJSON_Delete(j);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    char *o = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!o)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    const bool ok = fprintf(f, "%s\n", o) > 0;
    cJSON_free(o);
    return ok ? FT_OK : ft_fail(FT_ERR_IO, "seq2seq evaluation: writing a prediction failed");
}

ft_status ft_s2s_generate_score(ft_model *m, const ft_dataset *d, const ft_s2s_eval *e, ft_s2s_score *out,
                                char ***hyps_out) {
    memset(out, 0, sizeof *out);
    if (hyps_out)
        *hyps_out = NULL;
    if (!e->tok)
        return ft_fail(FT_ERR_CONFIG, "seq2seq evaluation: generating text needs the tokenizer");
    const size_t n = e->limit > 0 && e->limit < d->n ? e->limit : d->n;
    if (n == 0)
        return ft_fail(FT_ERR_ARG, "seq2seq evaluation: no example to generate for");
    char **hyp = calloc(n, sizeof *hyp), **ref = calloc(n, sizeof *ref);
    ft_status s = hyp && ref ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; s == FT_OK && i < n; i++) {
        const ft_example *ex = &d->ex[i];
        if (ex->dec_len <= 0 || !ex->labels) {
            s = ft_fail(FT_ERR_ARG, "seq2seq evaluation: example %zu has no target", i);
            break;
        }
        size_t len = 0;
        s = ft_tok_decode(e->tok, ex->labels, (size_t)ex->dec_len, true, &ref[i], &len);
        ft_gen_out g;
        if (s == FT_OK)
            s = ft_gen_run(m, e->tok, ex->ids, ex->len, &e->gen, &g);
        if (s != FT_OK) {
            s = ft_fail_ctx(s, "seq2seq evaluation, example %zu", i);
            break;
        }
        hyp[i] = g.text ? g.text : ft_strdup("");
        g.text = NULL;
        ft_gen_out_free(&g);
        if (!hyp[i])
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        if (s == FT_OK && e->out)
            s = write_pair(e->out, hyp[i], ref[i]);
    }
    if (s == FT_OK)
        s = ft_s2s_score_texts((const char *const *)hyp, (const char *const *)ref, n, out);
    ft_s2s_texts_free(ref, n);
    if (s == FT_OK && hyps_out)
        *hyps_out = hyp;
    else
        ft_s2s_texts_free(hyp, n);
    return s;
}
