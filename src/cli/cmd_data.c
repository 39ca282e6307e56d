/* ftune data: read a dataset (or a directory of mails), clean and optionally augment it, write JSONL and
 * print what each step removed. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char DATA_USAGE[] =
    "usage: ftune data (--input FILE | --mail-dir DIR) --out FILE.jsonl [options]\n"
    "       ftune data --recipe R.yaml --splits-out PREFIX [key=value ...]\n"
    "Reads rows, cleans them, optionally augments them, writes {\"text\", \"label\", ...} JSONL and prints "
    "a\n"
    "summary of what each step changed or removed.\n"
    "  --input FILE           JSONL, CSV, TSV or text (one row per line)\n"
    "  --format F             auto (by extension) | jsonl | csv | tsv | text\n"
    "  --text-field NAME      (default text)    --label-field NAME (default label)\n"
    "  --prompt-field NAME    (default prompt)  --response-field NAME (default response)\n"
    "  --mail-dir DIR         DIR/<group>/ *.txt raw mails; label = group without easy-/hard- and -N\n"
    "  --keep-headers         with --mail-dir: keep the decoded header block (default: Subject + body)\n"
    "  --no-unicode           skip NFKC normalization\n"
    "  --no-whitespace        skip whitespace/control-character cleanup\n"
    "  --html                 strip HTML tags and decode entities\n"
    "  --email-headers        strip a leading mail header block (keeping the Subject)\n"
    "  --no-dedup             keep exact duplicates\n"
    "  --near-dup             drop near duplicates (MinHash, word 3-grams)\n"
    "  --near-dup-threshold X Jaccard estimate for a near duplicate (default 0.8)\n"
    "  --keep-garbled         keep empty/garbled rows\n"
    "  --min-chars N          drop rows shorter than N characters\n"
    "  --max-chars N          drop rows longer than N characters\n"
    "  --augment K            add K EDA copies per row on average (default 0 = off)\n"
    "  --aug-delete P --aug-swap P --aug-insert P --aug-synonym P   EDA rates (default 0.1 each)\n"
    "  --wordnet-dir DIR      WordNet data.* files (default /usr/share/wordnet)\n"
    "  --seed N               augmentation seed (default 42)\n"
    "  --mail-dir DIR --subjects (--out FILE | --splits-out PREFIX)   subject-line pairs (task seq2seq):\n"
    "                         {\"source\": body, \"target\": Subject, \"file\"} for the mails of one label\n"
    "                         (--label, default ham); the Subject header (and any quoted \"Subject:\" line)\n"
    "                         never in the body, \"Re:\"/\"Fwd:\" markers dropped from the subject, the body "
    "cut\n"
    "                         to --max-body-bytes (4000); Unicode and whitespace cleaned, exact duplicates "
    "and\n"
    "                         garbled rows dropped; --splits-out splits by message into PREFIX.{train,\n"
    "                         validation,test}.jsonl (--val-ratio 0.1 --test-ratio 0.1 --seed 1)\n"
    "  --recipe R.yaml --splits-out PREFIX [key=value ...]\n"
    "                         read, clean and split the recipe's data exactly as `ftune train R.yaml` does\n"
    "                         (same cleaning, ratios, stratification, seed; before augmentation) and write\n"
    "                         PREFIX.train.jsonl, PREFIX.validation.jsonl, PREFIX.test.jsonl\n";

static void print_line(void *user, const char *line) {
    (void)user;
    printf("%s\n", line);
}

/* PREFIX.{train,validation,test}.jsonl from three datasets; pairs: {"source", "target", "file"} rows (file
 * relative to dir), printing "wrote PATH: N <what>" (of total when total > 0). */
static ftune_status write_three(ftune_dataset *const sp[3], const char *prefix, const char *dir,
                                size_t total) {
    static const char *name[3] = {"train", "validation", "test"};
    ftune_status s = FT_OK;
    for (int k = 0; k < 3 && s == FT_OK; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s.%s.jsonl", prefix, name[k]);
        s = dir ? ftune_dataset_write_pairs(sp[k], path, dir) : ftune_dataset_write_jsonl(sp[k], path);
        if (s == FT_OK && dir)
            printf("wrote %s: %zu of %zu pairs\n", path, ftune_dataset_size(sp[k]), total);
        else if (s == FT_OK)
            printf("wrote %s: %zu rows\n", path, ftune_dataset_size(sp[k]));
    }
    return s;
}

/* Three empty datasets of ctx (all NULL when one cannot be made). */
static ftune_status new_three(ftune_ctx *ctx, ftune_dataset *sp[3]) {
    ftune_status s = FT_OK;
    for (int k = 0; k < 3; k++)
        if (s == FT_OK)
            s = ftune_dataset_new(ctx, &sp[k]);
        else
            sp[k] = NULL;
    return s;
}

static void free_three(ftune_dataset *sp[3]) {
    for (int k = 0; k < 3; k++)
        ftune_dataset_free(sp[k]);
}

/* --recipe R --splits-out PREFIX: the train/validation/test rows `ftune train R` would use. */
static int write_splits(ftune_ctx *ctx, const char *recipe, const char *prefix, const char **kv, int nkv) {
    ftune_dataset *sp[3];
    ftune_status s = new_three(ctx, sp);
    if (s == FT_OK)
        s = ftune_dataset_recipe_splits(ctx, recipe, kv, (size_t)nkv, print_line, NULL, sp[0], sp[1], sp[2]);
    if (s == FT_OK)
        s = write_three(sp, prefix, NULL, 0);
    free_three(sp);
    return s == FT_OK ? 0 : ft_cli_fail_ctx("data", ctx);
}

/* --subjects: the body -> Subject pairs of one label's mails, cleaned, written whole or split by message. */
static int write_subjects(ftune_ctx *ctx, const char *dir, const char *label, long max_bytes, const char *out,
                          const char *prefix, double val, double test, long seed) {
    ftune_dataset *all = NULL, *sp[3] = {NULL, NULL, NULL};
    ftune_mail_subject_stats st = {.struct_size = sizeof st};
    ftune_status s = ftune_dataset_new(ctx, &all);
    if (s == FT_OK)
        s = ftune_dataset_read_mail_subjects(all, dir, label, (size_t)max_bytes, &st);
    if (s == FT_OK)
        printf("read %s: %zu mails, %zu %s (%zu decoded from a non-UTF-8 charset); skipped: %zu other "
               "labels, %zu "
               "without a subject, %zu with an empty body; %zu subjects lost a Re:/Fwd: marker\n",
               dir, st.mails, st.pairs, label, st.recoded, st.other_label, st.no_subject, st.empty_body,
               st.markers);
    ftune_data_opts o; /* unicode, whitespace, garbled rows and exact duplicates, as by default */
    ftune_data_opts_init(&o);
    char *summary = NULL;
    if (s == FT_OK && (s = ftune_dataset_clean(all, &o, dir, NULL, &summary)) == FT_OK)
        printf("%s", summary);
    ftune_free(summary);
    if (s == FT_OK && out) {
        s = ftune_dataset_write_pairs(all, out, dir);
        if (s == FT_OK)
            printf("wrote %s: %zu pairs\n", out, ftune_dataset_size(all));
    } else if (s == FT_OK && (s = new_three(ctx, sp)) == FT_OK) {
        s = ftune_dataset_split(all, val, test, 0, (uint64_t)seed, sp[0], sp[1], sp[2]);
        if (s == FT_OK)
            s = write_three(sp, prefix, dir, ftune_dataset_size(all));
    }
    ftune_dataset_free(all);
    free_three(sp);
    return s == FT_OK ? 0 : ft_cli_fail_ctx("data", ctx);
}

/* The label counts of the rows, in order of first appearance. */
static void print_labels(const ftune_dataset *d) {
    const size_t n = ftune_dataset_size(d);
    for (size_t i = 0; i < n; i++) {
        ftune_example e, x;
        ftune_example_init(&e);
        ftune_example_init(&x);
        if (ftune_dataset_get(d, i, &e) != FT_OK || !e.label)
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = ftune_dataset_get(d, j, &x) == FT_OK && x.label && !strcmp(x.label, e.label);
        if (seen)
            continue;
        size_t cnt = 0;
        for (size_t j = i; j < n; j++)
            cnt += ftune_dataset_get(d, j, &x) == FT_OK && x.label && !strcmp(x.label, e.label);
        printf("label %s: %zu\n", e.label, cnt);
    }
}

int ft_cmd_data(int argc, char **argv) {
    const char *recipe = NULL, *splits_out = NULL, *kv[64];
    int nkv = 0;
    const char *input = NULL, *mail_dir = NULL, *out = NULL, *format = "auto", *text_field = "text",
               *label_field = "label", *prompt_field = "prompt", *response_field = "response", *wordnet = NULL;
    bool keep_headers = false, no_unicode = false, no_ws = false, html = false, email = false,
         no_dedup = false, near = false, keep_garbled = false, subjects = false, help;
    const char *label = "ham";
    long max_body = 4000, split_seed = 1;
    double val_ratio = 0.1, test_ratio = 0.1;
    long min_chars = 0, max_chars = 0, seed = 42;
    double thr = 0.8, augment = 0, pd = 0.1, ps = 0.1, pi = 0.1, psyn = 0.1;
    ft_opt opts[] = {{"input", FT_OPT_STR, &input},
                     {"mail-dir", FT_OPT_STR, &mail_dir},
                     {"out", FT_OPT_STR, &out},
                     {"format", FT_OPT_STR, &format},
                     {"text-field", FT_OPT_STR, &text_field},
                     {"label-field", FT_OPT_STR, &label_field},
                     {"prompt-field", FT_OPT_STR, &prompt_field},
                     {"response-field", FT_OPT_STR, &response_field},
                     {"keep-headers", FT_OPT_FLAG, &keep_headers},
                     {"no-unicode", FT_OPT_FLAG, &no_unicode},
                     {"no-whitespace", FT_OPT_FLAG, &no_ws},
                     {"html", FT_OPT_FLAG, &html},
                     {"email-headers", FT_OPT_FLAG, &email},
                     {"no-dedup", FT_OPT_FLAG, &no_dedup},
                     {"near-dup", FT_OPT_FLAG, &near},
                     {"near-dup-threshold", FT_OPT_FLOAT, &thr},
                     {"keep-garbled", FT_OPT_FLAG, &keep_garbled},
                     {"min-chars", FT_OPT_INT, &min_chars},
                     {"max-chars", FT_OPT_INT, &max_chars},
                     {"augment", FT_OPT_FLOAT, &augment},
                     {"aug-delete", FT_OPT_FLOAT, &pd},
                     {"aug-swap", FT_OPT_FLOAT, &ps},
                     {"aug-insert", FT_OPT_FLOAT, &pi},
                     {"aug-synonym", FT_OPT_FLOAT, &psyn},
                     {"wordnet-dir", FT_OPT_STR, &wordnet},
                     {"seed", FT_OPT_INT, &seed},
                     {"recipe", FT_OPT_STR, &recipe},
                     {"splits-out", FT_OPT_STR, &splits_out},
                     {"subjects", FT_OPT_FLAG, &subjects},
                     {"label", FT_OPT_STR, &label},
                     {"max-body-bytes", FT_OPT_INT, &max_body},
                     {"val-ratio", FT_OPT_FLOAT, &val_ratio},
                     {"test-ratio", FT_OPT_FLOAT, &test_ratio},
                     {"split-seed", FT_OPT_INT, &split_seed}};
    int rc = ft_cli_parse("data", argc, argv, opts, sizeof opts / sizeof *opts, DATA_USAGE, kv, 64, &nkv, &help);
    if (rc || help)
        return rc;
    if (subjects) {
        if (!mail_dir || input || recipe || nkv || !out == !splits_out || max_body < 0 || val_ratio < 0 ||
            test_ratio < 0 || val_ratio + test_ratio >= 1) {
            fprintf(stderr,
                    "ftune data: --subjects needs --mail-dir and one of --out, --splits-out (ratios >= 0, "
                    "below 1 together; --max-body-bytes >= 0)\n");
            return 2;
        }
        ftune_ctx *ctx = ft_cli_ctx("data", 0);
        if (!ctx)
            return 1;
        rc = write_subjects(ctx, mail_dir, label, max_body, out, splits_out, val_ratio, test_ratio,
                            split_seed);
        ftune_ctx_free(ctx);
        return rc;
    }
    if (recipe || splits_out) {
        if (!recipe || !splits_out || input || mail_dir || out) {
            fprintf(stderr, "ftune data: --recipe and --splits-out go together, without --input/--mail-dir/--out\n");
            return 2;
        }
        ftune_ctx *ctx = ft_cli_ctx("data", 0);
        if (!ctx)
            return 1;
        rc = write_splits(ctx, recipe, splits_out, kv, nkv);
        ftune_ctx_free(ctx);
        return rc;
    }
    if (nkv) {
        fprintf(stderr, "ftune data: unexpected argument '%s' (key=value overrides need --recipe)\n", kv[0]);
        return 2;
    }
    if (!out || (!input) == (!mail_dir)) {
        fprintf(stderr, "ftune data: --out and exactly one of --input, --mail-dir are required\n%s", DATA_USAGE);
        return 2;
    }
    if (thr <= 0 || thr > 1 || augment < 0 || min_chars < 0 || max_chars < 0 || pd < 0 || pd >= 1 || ps < 0 ||
        pi < 0 || psyn < 0) {
        fprintf(stderr, "ftune data: out-of-range option (0<near-dup-threshold<=1, augment>=0, rates >= 0)\n");
        return 2;
    }
    ftune_data_opts o;
    ftune_data_opts_init(&o);
    o.format = format;
    o.text_field = text_field;
    o.label_field = label_field;
    o.prompt_field = prompt_field;
    o.response_field = response_field;
    o.clean_unicode = !no_unicode;
    o.clean_whitespace = !no_ws;
    o.clean_html = html;
    o.clean_email_headers = email;
    o.dedup_exact = !no_dedup;
    o.dedup_near = near;
    o.near_dup_threshold = thr;
    o.drop_garbled = !keep_garbled;
    o.min_chars = min_chars;
    o.max_chars = max_chars;
    o.augment_factor = augment;
    o.aug_p_delete = pd;
    o.aug_p_swap = ps;
    o.aug_p_insert = pi;
    o.aug_p_synonym = psyn;
    o.wordnet_dir = wordnet;
    o.seed = (uint64_t)seed;

    ftune_ctx *ctx = ft_cli_ctx("data", 0);
    if (!ctx)
        return 1;
    ftune_dataset *d = NULL;
    size_t recoded = 0, added = 0;
    char *summary = NULL;
    ftune_status s = ftune_dataset_new(ctx, &d);
    if (s == FT_OK)
        s = input ? ftune_dataset_read_with(d, input, &o)
                  : ftune_dataset_read_mail(d, mail_dir, keep_headers, &recoded);
    if (s == FT_OK) {
        printf("read %s: %zu rows", input ? input : mail_dir, ftune_dataset_size(d));
        if (mail_dir)
            printf(" (%zu decoded from a non-UTF-8 charset)", recoded);
        printf("\n");
        s = ftune_dataset_clean(d, &o, input ? input : mail_dir, NULL, &summary);
    }
    if (s == FT_OK)
        printf("%s", summary);
    ftune_free(summary);
    if (s == FT_OK && augment > 0) {
        s = ftune_dataset_augment(d, &o, &added);
        if (s == FT_OK)
            printf("augmentation: %zu copies added\n", added);
    }
    if (s == FT_OK) {
        print_labels(d);
        s = ftune_dataset_write_jsonl(d, out);
    }
    if (s == FT_OK)
        printf("wrote %s: %zu rows\n", out, ftune_dataset_size(d));
    ftune_dataset_free(d);
    const int ret = s == FT_OK ? 0 : ft_cli_fail_ctx("data", ctx);
    ftune_ctx_free(ctx);
    return ret;
}
