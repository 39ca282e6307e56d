/* ftune predict on a seq2seq model: the text an encoder-decoder generates from each source (docs/seq2seq.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/trained.h"
#include "eval/generate.h"

/* One source: encoded as training encoded it, greedy generation, one output line. */
static ft_status predict_one(ft_trained *t, const char *src, bool json, ft_tok_ids *ids) {
    ft_tok_ids_free(ids);
    FT_TRY(ft_trained_encode_source(t, src, ids));
    ft_gen_out g;
    FT_TRY(ft_gen_run(t->m, t->tok, ids->ids, (int)ids->n, &t->s2s.gen, &g));
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "source", src);
        cJSON_AddStringToObject(j, "output", g.text ? g.text : "");
        char *o = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (o)
            printf("%s\n", o);
        cJSON_free(o);
    } else
        printf("%s\n", g.text ? g.text : "");
    ft_gen_out_free(&g);
    return FT_OK;
}

ft_status ft_cli_predict_s2s(ft_trained *t, const char *text, const char *jsonl, bool json) {
    if (!t->tok)
        return ft_fail(FT_ERR_MISSING, "seq2seq prediction needs the tokenizer the model was trained with");
    ft_tok_ids ids = {0};
    ft_status s = FT_OK;
    if (text)
        s = predict_one(t, text, json, &ids);
    else {
        ft_data_recs rs = {0};
        s = ft_data_read(jsonl, &t->data, &rs);
        for (size_t i = 0; s == FT_OK && i < rs.n; i++) {
            const ft_data_rec *r = &rs.r[i];
            if (!r->text)
                s = ft_fail(FT_ERR_FORMAT, "%s:%ld: missing field '%s'", r->file, r->line,
                            t->data.text_field);
            else if ((s = predict_one(t, r->text, json, &ids)) != FT_OK)
                s = ft_fail_ctx(s, "%s:%ld", r->file, r->line);
        }
        ft_data_recs_free(&rs);
    }
    fflush(stdout);
    ft_tok_ids_free(&ids);
    return s;
}
