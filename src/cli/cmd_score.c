/* ftune score: metrics alone, on predictions and references from files (like evaluate's compute). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void score_usage(FILE *f) {
    fprintf(f,
            "usage: ftune score --metric NAME --pred FILE --ref FILE [--ref FILE ...] [--json] [--stemmer]\n"
            "\n"
            "Scores predictions against references, one example per line (a .jsonl file holds one JSON\n"
            "string per line; in a reference file also a list of strings for several references).\n"
            "Several --ref files give several references per prediction.\n"
            "\n"
            "metrics:\n"
            "  bleu            corpus BLEU as sacreBLEU (13a, 4-gram, exp smoothing): bleu, precisions, bp,\n"
            "                  sys_len, ref_len (0-100)\n"
            "  rouge           mean ROUGE-1/2/L/Lsum F-measure as rouge-score (best reference per type)\n"
            "  squad           SQuAD v1.1 exact_match and f1 (0-100), max over gold answers\n"
            "  classification  accuracy and precision/recall/F1 macro, micro, weighted (scikit-learn)\n"
            "  regression      mse, mae, r2 on numbers, one per line\n"
            "\n"
            "options:\n"
            "  --json          print one JSON object with the metric's fixed keys\n"
            "  --stemmer       ROUGE: Porter-stem tokens (rouge-score's use_stemmer)\n"
            "  --help          this text\n"
            "See docs/metrics.md for the exact definitions.\n");
}

int ft_cmd_score(int argc, char **argv) {
    const char *metric = NULL, *pred = NULL;
    const char **refs = calloc((size_t)argc, sizeof *refs);
    size_t n_refs = 0;
    int json = 0;
    ftune_score_opts o;
    ftune_score_opts_init(&o);
    if (!refs) {
        fprintf(stderr, "ftune score: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            score_usage(stdout);
            free(refs);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--stemmer")) {
            o.stem = 1;
        } else if (!strcmp(a, "--metric") && has_val) {
            metric = argv[++i];
        } else if (!strcmp(a, "--pred") && has_val) {
            pred = argv[++i];
        } else if (!strcmp(a, "--ref") && has_val) {
            refs[n_refs++] = argv[++i];
        } else {
            fprintf(stderr, "ftune score: %s '%s'\n",
                    (!strcmp(a, "--metric") || !strcmp(a, "--pred") || !strcmp(a, "--ref")) ? "missing value for"
                                                                                            : "unknown option",
                    a);
            score_usage(stderr);
            free(refs);
            return 2;
        }
    }
    if (!metric || !pred || !n_refs) {
        fprintf(stderr, "ftune score: --metric, --pred and at least one --ref are required\n");
        score_usage(stderr);
        free(refs);
        return 2;
    }
    const char *const *names = ftune_score_metrics();
    int known = 0;
    for (size_t i = 0; names[i]; i++)
        known |= !strcmp(metric, names[i]);
    if (!known) { /* before reading any file */
        fprintf(stderr, "ftune score: unknown metric '%s' (known:", metric);
        for (size_t i = 0; names[i]; i++)
            fprintf(stderr, "%s %s", i ? "," : "", names[i]);
        fprintf(stderr, ")\n");
        free(refs);
        return 2;
    }
    ftune_ctx *ctx = ft_cli_ctx("score", 0);
    if (!ctx) {
        free(refs);
        return 1;
    }
    char *out = NULL;
    ftune_status s = ftune_score_files(ctx, metric, pred, refs, n_refs, &o, NULL, NULL, json ? &out : NULL,
                                       json ? NULL : &out);
    free(refs);
    int rc = s == FT_OK ? 0 : ft_cli_fail_ctx("score", ctx);
    if (s == FT_OK)
        fputs(out, stdout);
    if (s == FT_OK && json)
        fputc('\n', stdout);
    ftune_free(out);
    ftune_ctx_free(ctx);
    return rc;
}
