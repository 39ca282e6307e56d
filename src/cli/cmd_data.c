/* ftune data: read a dataset (or a directory of mails), clean and optionally augment it, write JSONL and
 * print what each step removed. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/trained.h"
#include "data/dataset.h"

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

/* --recipe R --splits-out PREFIX: the train/validation/test rows `ftune train R` would use. */
static int write_splits(const char *recipe, const char *prefix, const char **kv, int nkv) {
    ft_recipe r;
    ft_status s = ft_recipe_init(&r);
    if (s == FT_OK)
        s = ft_recipe_load_yaml(&r, recipe);
    for (int i = 0; i < nkv && s == FT_OK; i++)
        s = ft_recipe_override(&r, kv[i]);
    ft_data_recs rs[3] = {{0}};
    const char *name[3] = {"train", "validation", "test"};
    if (s == FT_OK) {
        ft_data_cfg c;
        ft_runcfg_data(&r, &c);
        s = ft_data_splits(&c, ft_runcfg_task(r.task), rs, stdout);
    }
    for (int k = 0; k < 3 && s == FT_OK; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s.%s.jsonl", prefix, name[k]);
        s = ft_data_write_jsonl(path, &rs[k]);
        if (s == FT_OK)
            printf("wrote %s: %zu rows\n", path, rs[k].n);
    }
    for (int k = 0; k < 3; k++)
        ft_data_recs_free(&rs[k]);
    ft_recipe_free(&r);
    return s == FT_OK ? 0 : ft_cli_fail("data", s);
}

/* One {"source", "target", "file"} line per row; file relative to dir. */
static ft_status write_pairs(const char *path, const ft_data_recs *rs, const char *dir) {
    FILE *f = fopen(path, "w");
    if (!f)
        return ft_fail(FT_ERR_IO, "%s: cannot write", path);
    const size_t dl = strlen(dir);
    ft_status s = FT_OK;
    for (size_t i = 0; i < rs->n && s == FT_OK; i++) {
        const ft_data_rec *r = &rs->r[i];
        const char *file = !strncmp(r->file, dir, dl) && r->file[dl] == '/' ? r->file + dl + 1 : r->file;
        cJSON *j = cJSON_CreateObject();
        char *o = NULL;
        if (j && cJSON_AddStringToObject(j, "source", r->text) &&
            cJSON_AddStringToObject(j, "target", r->response) && cJSON_AddStringToObject(j, "file", file))
            o = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!o)
            s = ft_fail(FT_ERR_NOMEM, "out of memory");
        else if (fprintf(f, "%s\n", o) < 0)
            s = ft_fail(FT_ERR_IO, "%s: write failed", path);
        cJSON_free(o);
    }
    if (fclose(f) != 0 && s == FT_OK)
        s = ft_fail(FT_ERR_IO, "%s: write failed", path);
    return s;
}

/* --subjects: the body -> Subject pairs of one label's mails, cleaned, written whole or split by message. */
static int write_subjects(const char *dir, const char *label, long max_bytes, const char *out,
                          const char *prefix, double val, double test, long seed) {
    ft_data_recs all = {0}, sp[3] = {{0}};
    ft_data_subject_stats st;
    ft_status s = ft_data_read_mail_subjects(dir, label, (size_t)max_bytes, &all, &st);
    if (s == FT_OK)
        printf("read %s: %zu mails, %zu %s (%zu decoded from a non-UTF-8 charset); skipped: %zu other "
               "labels, %zu "
               "without a subject, %zu with an empty body; %zu subjects lost a Re:/Fwd: marker\n",
               dir, st.mails, st.pairs, label, st.recoded, st.other_label, st.no_subject, st.empty_body,
               st.markers);
    ft_data_cfg c;
    ft_data_cfg_default(&c);
    c.dedup_exact = true; /* unicode, whitespace, garbled rows and exact duplicates, as by default */
    ft_data_clean_stats cs;
    if (s == FT_OK && (s = ft_data_clean(&c, &all, &cs)) == FT_OK)
        ft_data_clean_print(&cs, dir, stdout);
    if (s == FT_OK && out) {
        s = write_pairs(out, &all, dir);
        if (s == FT_OK)
            printf("wrote %s: %zu pairs\n", out, all.n);
    } else if (s == FT_OK) {
        const size_t n = all.n;
        s = ft_data_split(&all, (float)val, (float)test, false, (uint64_t)seed, &sp[0], &sp[1], &sp[2]);
        const char *name[3] = {"train", "validation", "test"};
        for (int k = 0; k < 3 && s == FT_OK; k++) {
            char path[4200];
            snprintf(path, sizeof path, "%s.%s.jsonl", prefix, name[k]);
            if ((s = write_pairs(path, &sp[k], dir)) == FT_OK)
                printf("wrote %s: %zu of %zu pairs\n", path, sp[k].n, n);
        }
    }
    ft_data_recs_free(&all);
    for (int k = 0; k < 3; k++)
        ft_data_recs_free(&sp[k]);
    return s == FT_OK ? 0 : ft_cli_fail("data", s);
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
        return write_subjects(mail_dir, label, max_body, out, splits_out, val_ratio, test_ratio, split_seed);
    }
    if (recipe || splits_out) {
        if (!recipe || !splits_out || input || mail_dir || out) {
            fprintf(stderr, "ftune data: --recipe and --splits-out go together, without --input/--mail-dir/--out\n");
            return 2;
        }
        return write_splits(recipe, splits_out, kv, nkv);
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
    ft_data_cfg c;
    ft_data_cfg_default(&c);
    c.format = format;
    c.text_field = text_field;
    c.label_field = label_field;
    c.prompt_field = prompt_field;
    c.response_field = response_field;
    c.clean_unicode = !no_unicode;
    c.clean_whitespace = !no_ws;
    c.clean_html = html;
    c.clean_email_headers = email;
    c.dedup_exact = !no_dedup;
    c.dedup_near = near;
    c.near_dup_threshold = (float)thr;
    c.drop_garbled = !keep_garbled;
    c.min_chars = (int)min_chars;
    c.max_chars = (int)max_chars;
    c.augment_factor = (float)augment;
    c.aug_p_delete = (float)pd;
    c.aug_p_swap = (float)ps;
    c.aug_p_insert = (float)pi;
    c.aug_p_synonym = (float)psyn;
    c.wordnet_dir = wordnet;
    c.seed = (uint64_t)seed;

    ft_data_recs rs = {0};
    ft_data_clean_stats st;
    ft_wordnet *wn = NULL;
    size_t recoded = 0, added = 0;
    ft_status s = input ? ft_data_read(input, &c, &rs) : ft_data_read_mail_dir(mail_dir, !keep_headers, &rs, &recoded);
    if (s == FT_OK) {
        printf("read %s: %zu rows", input ? input : mail_dir, rs.n);
        if (mail_dir)
            printf(" (%zu decoded from a non-UTF-8 charset)", recoded);
        printf("\n");
        s = ft_data_clean(&c, &rs, &st);
    }
    if (s == FT_OK)
        ft_data_clean_print(&st, input ? input : mail_dir, stdout);
    if (s == FT_OK && augment > 0) {
        if (pi > 0 || psyn > 0)
            s = ft_wordnet_load(wordnet, &wn);
        if (s == FT_OK)
            s = ft_data_augment(&c, wn, &rs, &added);
        if (s == FT_OK)
            printf("augmentation: %zu copies added\n", added);
    }
    if (s == FT_OK) {
        /* label counts, in order of first appearance */
        for (size_t i = 0; i < rs.n; i++) {
            const char *l = rs.r[i].label;
            bool seen = false;
            for (size_t j = 0; l && j < i && !seen; j++)
                seen = rs.r[j].label && !strcmp(rs.r[j].label, l);
            if (!l || seen)
                continue;
            size_t cnt = 0;
            for (size_t j = i; j < rs.n; j++)
                cnt += rs.r[j].label && !strcmp(rs.r[j].label, l);
            printf("label %s: %zu\n", l, cnt);
        }
        s = ft_data_write_jsonl(out, &rs);
    }
    if (s == FT_OK)
        printf("wrote %s: %zu rows\n", out, rs.n);
    ft_wordnet_free(wn);
    ft_data_recs_free(&rs);
    return s == FT_OK ? 0 : ft_cli_fail("data", s);
}
