/* ftune baseline: a bag-of-words multinomial naive-Bayes classifier trained on exactly the training
 * split `ftune train RECIPE` uses, scored on its validation and test splits (ftune_baseline). */
#include <stdio.h>

#include "cli/cli.h"

static const char BASELINE_USAGE[] =
    "usage: ftune baseline --recipe R.yaml [key=value ...] [--alpha X] [--json]\n"
    "\n"
    "Trains a multinomial naive-Bayes classifier on bags of words (scikit-learn's CountVectorizer() +\n"
    "MultinomialNB(alpha): lower-cased words of two or more letters/digits/_, additive smoothing) on the\n"
    "training split of a classification recipe -- the same rows, cleaning, split ratios, stratification and\n"
    "seed as `ftune train R.yaml` -- and prints accuracy and F1 on its validation and test splits: the\n"
    "baseline a fine-tuned model should beat. key=value overrides apply as for `ftune train`.\n"
    "A token_classification recipe gets the most-frequent-tag baseline instead: each word form's most "
    "frequent\n"
    "tag in the training split (ties: the first in tag order), the training split's most frequent tag for\n"
    "words never seen, scored like `ftune eval` (word accuracy; entity P/R/F1 for BIO tags).\n"
    "  --alpha X   smoothing (default 1)\n"
    "  --json      one JSON object: {\"train\": {...}, \"validation\": {metrics}, \"test\": {metrics}}\n"
    "See docs/evaluation.md (\"Baseline\").\n";

static void print_line(void *user, const char *line) {
    if (user) /* not with --json */
        printf("%s\n", line);
}

int ft_cmd_baseline(int argc, char **argv) {
    const char *recipe = NULL, *kv[64];
    int nkv = 0;
    double alpha = 1.0;
    bool json = false, help;
    ft_opt opts[] = {
        {"recipe", FT_OPT_STR, &recipe}, {"alpha", FT_OPT_FLOAT, &alpha}, {"json", FT_OPT_FLAG, &json}};
    int rc = ft_cli_parse("baseline", argc, argv, opts, sizeof opts / sizeof *opts, BASELINE_USAGE, kv, 64,
                          &nkv, &help);
    if (rc || help)
        return rc;
    if (!recipe) {
        fprintf(stderr, "ftune baseline: --recipe is required\n%s", BASELINE_USAGE);
        return 2;
    }
    ftune_ctx *ctx = ft_cli_ctx("baseline", 0);
    if (!ctx)
        return 1;
    ftune_baseline_opts o;
    ftune_baseline_opts_init(&o);
    o.alpha = alpha;
    o.on_log = print_line;
    o.user = json ? NULL : &o;
    char *out = NULL, *report = NULL;
    rc = ftune_baseline(ctx, recipe, kv, (size_t)nkv, &o, NULL, NULL, json ? &out : NULL,
                        json ? NULL : &report) == FT_OK
             ? 0
             : ft_cli_fail_ctx("baseline", ctx);
    if (rc == 0 && json)
        printf("%s\n", out);
    else if (rc == 0)
        printf("%s", report);
    ftune_free(out);
    ftune_free(report);
    ftune_ctx_free(ctx);
    return rc;
}
