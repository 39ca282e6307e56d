/* ftune predict on a seq2seq model: the text an encoder-decoder generates from each source (docs/seq2seq.md).
 */
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"

/* One output line: the text, or {"source", "output"}. */
static int print_one(void *user, const char *source, const char *output) {
    if (*(const bool *)user) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "source", source);
        cJSON_AddStringToObject(j, "output", output);
        char *o = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (o)
            printf("%s\n", o);
        cJSON_free(o);
    } else
        printf("%s\n", output);
    return 0;
}

int ft_cli_predict_seq2seq(ftune_ctx *ctx, ftune_model *m, const char *text, const char *jsonl, bool json) {
    ftune_status s;
    if (text) {
        char *out = NULL;
        if ((s = ftune_generate_seq2seq(m, text, &out)) == FT_OK)
            print_one(&json, text, out);
        ftune_free(out);
    } else
        s = ftune_generate_seq2seq_file(m, jsonl, print_one, &json);
    fflush(stdout);
    return s == FT_OK ? 0 : ft_cli_fail_ctx("predict", ctx);
}
