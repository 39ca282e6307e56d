/* Hostile inputs (docs/reliability.md): limits on what an input can make the parsers allocate (each a
 * clear error naming the file or line), and the inputs the fuzzers (fuzz/) found, as regressions. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "data/dataset.h"
#include "data/pretok.h"
#include "ft_test.h"
#include "models/model.h"
#include "peft/peft.h"
#include "tokenizer/tokenizer.h"
#include "train/recipe.h"

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *content, size_t n) {
    static char path[4][512];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(content, 1, n, f) != n || fclose(f) != 0) {
        perror(p);
        exit(2);
    }
    return p;
}

/* open + depth x '[' + inner + depth x ']' + close, NUL-terminated (free it). */
static char *nested(const char *open, size_t depth, const char *inner, const char *close) {
    size_t lo = strlen(open), li = strlen(inner), lc = strlen(close);
    char *s = malloc(lo + 2 * depth + li + lc + 1), *p = s;
    memcpy(p, open, lo);
    p += lo;
    memset(p, '[', depth);
    p += depth;
    memcpy(p, inner, li);
    p += li;
    memset(p, ']', depth);
    p += depth;
    memcpy(p, close, lc + 1);
    return s;
}

/* JSON nested ten thousand deep: cJSON's nesting limit (1000) makes every JSON reader fail cleanly
 * instead of recursing off the stack. */
FT_TEST(json_nesting) {
    char *deep = nested("{\"model_type\": \"gpt2\", \"x\": ", 10000, "1", "}");
    ft_model_config cfg;
    FT_CHECK_FAILS(ft_config_parse(deep, "deep/config.json", &cfg), FT_ERR_FORMAT,
                   "deep/config.json: not valid JSON");
    const char *p = write_tmp("tokenizer.json", deep, strlen(deep));
    ft_tokenizer *tok = NULL;
    FT_CHECK_FAILS(ft_tok_load(p, &tok), FT_ERR_FORMAT, "tokenizer.json: invalid JSON");
    FT_CHECK(tok == NULL);
    p = write_tmp("batch.json", deep, strlen(deep));
    ft_batch b;
    FT_CHECK_FAILS(ft_batch_load_json(p, &b), FT_ERR_FORMAT, "batch.json: not a JSON object");
    write_tmp("adapter_config.json", deep, strlen(deep));
    const char *gpt2 =
        "{\"model_type\": \"gpt2\", \"vocab_size\": 40, \"n_embd\": 16, \"n_layer\": 1, \"n_head\": 2, "
        "\"n_positions\": 32}";
    ft_model *m = NULL;
    FT_CHECK_OK(ft_config_parse(gpt2, "cfg", &cfg));
    FT_CHECK_OK(ft_model_init_random(&cfg, 1, &m));
    if (m) {
        FT_CHECK_FAILS(ft_peft_load(m, tmpdir), FT_ERR_FORMAT, "adapter_config.json: not a JSON object");
        ft_model_free(m);
    }
    free(deep);
    /* a JSONL row nested as deep */
    deep = nested("{\"text\": \"a\", \"label\": ", 10000, "", "}\n");
    p = write_tmp("deep.jsonl", deep, strlen(deep));
    ft_data_cfg dc;
    ft_data_cfg_default(&dc);
    ft_data_recs rs = {0};
    FT_CHECK_FAILS(ft_data_read(p, &dc, &rs), FT_ERR_FORMAT, "deep.jsonl:1: not a JSON object");
    ft_data_recs_free(&rs);
    free(deep);
    /* YAML: a flow list ten thousand deep, and nested mappings, are refused by name and line */
    ft_recipe r;
    FT_CHECK_OK(ft_recipe_init(&r));
    deep = nested("lora.target_modules: ", 10000, "", "\n");
    FT_CHECK_FAILS(ft_recipe_load_yaml_text(&r, deep, strlen(deep), "deep.yaml"), FT_ERR_CONFIG,
                   "deep.yaml:1: lora.target_modules: a list may hold only plain values");
    free(deep);
    char ym[8192] = "";
    for (int i = 0; i < 400; i++)
        snprintf(ym + strlen(ym), sizeof ym - strlen(ym), "%*sk%d:\n", i < 40 ? i : 40, "", i);
    FT_CHECK_FAILS(ft_recipe_load_yaml_text(&r, ym, strlen(ym), "nest.yaml"), FT_ERR_CONFIG, "nest.yaml");
    ft_recipe_free(&r);
}

/* config.json: sizes whose products would overflow, and a pad id that is not an int. */
FT_TEST(config_limits) {
    ft_model_config cfg;
    FT_CHECK_FAILS(
        ft_config_parse("{\"model_type\": \"gpt2\", \"vocab_size\": 2147483647, \"n_embd\": 2147483646, "
                        "\"n_layer\": 1, \"n_head\": 2, \"n_positions\": 8}",
                        "big/config.json", &cfg),
        FT_ERR_CONFIG, "big/config.json: sizes beyond ftune's limits (vocab 2147483647");
    FT_CHECK_FAILS(ft_config_parse(
                       "{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 32, "
                       "\"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 65536, "
                       "\"head_dim\": 65536, \"num_key_value_heads\": 1, \"max_position_embeddings\": 8}",
                       "heads/config.json", &cfg),
                   FT_ERR_CONFIG, "heads 65536 x head_dim 65536 <= 1048576");
    FT_CHECK_FAILS(
        ft_config_parse(
            "{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 32, "
            "\"intermediate_size\": 64, \"num_hidden_layers\": 100000, \"num_attention_heads\": 4, "
            "\"max_position_embeddings\": 8}",
            "layers/config.json", &cfg),
        FT_ERR_CONFIG, "layers 100000 <= 1024");
    FT_CHECK_FAILS(
        ft_config_parse("{\"model_type\": \"gpt2\", \"vocab_size\": 40, \"n_embd\": 16, \"n_layer\": 1, "
                        "\"n_head\": 2, \"n_positions\": 8, \"pad_token_id\": 1e20}",
                        "pad/config.json", &cfg),
        FT_ERR_CONFIG, "pad/config.json: pad_token_id 1e+20 is not an integer id");
    /* just inside the limits still parses */
    FT_CHECK_OK(
        ft_config_parse("{\"model_type\": \"gpt2\", \"vocab_size\": 16777216, \"n_embd\": 1048576, "
                        "\"n_inner\": 1048576, \"n_layer\": 1024, \"n_head\": 2, \"n_positions\": 16777216}",
                        "edge/config.json", &cfg));
    ft_config_free(&cfg);
}

static ft_status tok_from(const char *json, ft_tokenizer **tok) {
    const char *p = write_tmp("tokenizer.json", json, strlen(json));
    return ft_tok_load(p, tok);
}

/* tokenizer.json: ids index arrays, so an id of 2^24 or more is refused before anything is allocated. */
FT_TEST(tokenizer_limits) {
    ft_tokenizer *tok = NULL;
    FT_CHECK_FAILS(
        tok_from("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1000000000}, \"merges\": []}}",
                 &tok),
        FT_ERR_RANGE, "model.vocab['b'] has id 1000000000, beyond the limit of 16777216 ids");
    FT_CHECK_FAILS(
        tok_from("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0.5}, \"merges\": []}}", &tok),
        FT_ERR_FORMAT, "model.vocab['a'] is not a valid id");
    FT_CHECK_FAILS(
        tok_from(
            "{\"added_tokens\": [{\"id\": 16777216, \"content\": \"<x>\"}], \"model\": {\"type\": \"BPE\", "
            "\"vocab\": {\"a\": 0}, \"merges\": []}}",
            &tok),
        FT_ERR_RANGE, "added_tokens[0] has id 16777216, beyond the limit");
    /* the largest id allowed loads (and allocates ~200 MB of empty id slots) */
    FT_CHECK_OK(tok_from(
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 16777215}, \"merges\": []}}", &tok));
    ft_tok_free(tok);
}

/* A pre-tokenizer regex that backtracks catastrophically stops at PCRE2's match limit with a clear
 * error; a real pattern on a long text does not come near it. */
FT_TEST(tokenizer_regex_backtracking) {
    const char *fmt =
        "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"%s\"}, \"behavior\": "
        "\"Isolated\", \"invert\": false}, \"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", "
        "\"vocab\": {\"[UNK]\": 0, \"a\": 1}}}";
    char json[1024];
    snprintf(json, sizeof json, fmt, "(a|aa)+$");
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(tok_from(json, &tok));
    if (tok) {
        char text[64];
        memset(text, 'a', 50);
        text[50] = '!';
        ft_tok_ids ids = {0};
        FT_CHECK_FAILS(ft_tok_encode(tok, text, 51, false, &ids), FT_ERR_RANGE,
                       "regex gave up on a 51-byte piece of text at PCRE2's limit of 10000000 steps");
        ft_tok_ids_free(&ids);
        ft_tok_free(tok);
    }
    /* GPT-2's pattern over 4 MB of words, spaces, digits and punctuation */
    snprintf(
        json, sizeof json, fmt,
        "'s|'t|'re|'ve|'m|'ll|'d| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+");
    FT_CHECK_OK(tok_from(json, &tok));
    if (tok) {
        const size_t n = 4u << 20;
        char *big = malloc(n);
        for (size_t i = 0; i < n; i++)
            big[i] = i < n / 4 ? 'a' : i < n / 2 ? ' ' : "ab 12 ,.\n"[i % 9];
        ft_tok_ids ids = {0};
        FT_CHECK_OK(ft_tok_encode(tok, big, n, false, &ids));
        FT_CHECK(ids.n > 0);
        ft_tok_ids_free(&ids);
        free(big);
        ft_tok_free(tok);
    }
}

/* fuzz_tokenizer: a Split regex holding invalid UTF-8 (0xff bytes) was compiled with
 * PCRE2_NO_UTF_CHECK and PCRE2 read out of bounds (SEGV). It is a clear error now, and so are the other
 * tokenizer strings that would reach a regex as invalid UTF-8. */
FT_TEST(tokenizer_invalid_utf8_strings) {
    ft_tokenizer *tok = NULL;
    FT_CHECK_FAILS(
        tok_from("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+\xff\xff\"}, "
                 "\"behavior\": \"Isolated\"}, \"model\": {\"type\": \"WordPiece\", \"vocab\": "
                 "{\"[UNK]\": 0}, \"unk_token\": \"[UNK]\"}}",
                 &tok),
        FT_ERR_FORMAT, "pre-tokenizer Split: regex \\s+\xff\xff: UTF-8 error");
    FT_CHECK_FAILS(tok_from("{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, "
                            "\"content\": \"b\xc3\"}, \"model\": {\"type\": \"WordPiece\", \"vocab\": "
                            "{\"[UNK]\": 0}, \"unk_token\": \"[UNK]\"}}",
                            &tok),
                   FT_ERR_FORMAT, "normalizer Replace: 'content' is not valid UTF-8 (byte 1)");
    FT_CHECK_FAILS(tok_from("{\"normalizer\": {\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\"}, \"model\": "
                            "{\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}, \"unk_token\": \"[UNK]\"}}",
                            &tok),
                   FT_ERR_FORMAT, "normalizer Prepend: 'prepend' is not valid UTF-8 (byte 0)");
    /* a vocab token that is not UTF-8, rewritten by a decoder regex: an error from decode, not UB */
    FT_CHECK_OK(
        tok_from("{\"decoder\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"x+\"}, \"content\": "
                 "\"y\"}, \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"a\xff\": 1}, "
                 "\"unk_token\": \"[UNK]\"}}",
                 &tok));
    if (tok) {
        const int32_t ids[] = {1};
        char *out = NULL;
        size_t n = 0;
        FT_CHECK_FAILS(ft_tok_decode(tok, ids, 1, false, &out, &n), FT_ERR_FORMAT,
                       "tokenizer: text given to a regex is not valid UTF-8 (byte 1 of 2)");
        free(out);
        ft_tok_free(tok);
    }
}

/* fuzz_tokenizer: a TemplateProcessing type_id of 4.4e59 was cast to int32_t (undefined behaviour);
 * every number the loader casts is now checked to be an integer in range first. */
FT_TEST(tokenizer_numbers_in_range) {
    const char *fmt =
        "{\"post_processor\": %s, \"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, "
        "\"[CLS]\": 1}, \"unk_token\": \"[UNK]\"}}";
    char json[1024];
    ft_tokenizer *tok = NULL;
    snprintf(json, sizeof json, fmt,
             "{\"type\": \"TemplateProcessing\", \"single\": [{\"Sequence\": {\"id\": \"A\", \"type_id\": "
             "4.4e59}}], "
             "\"pair\": [], \"special_tokens\": {}}");
    FT_CHECK_FAILS(tok_from(json, &tok), FT_ERR_FORMAT,
                   "tokenizer.json: TemplateProcessing: type_id must be an integer in 0..16777215");
    snprintf(
        json, sizeof json, fmt,
        "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": "
        "0}}], \"pair\": [], \"special_tokens\": {\"[CLS]\": {\"id\": \"[CLS]\", \"ids\": [-1], "
        "\"tokens\": [\"[CLS]\"]}}}");
    FT_CHECK_FAILS(tok_from(json, &tok), FT_ERR_FORMAT,
                   "TemplateProcessing: special_tokens ids must be an integer");
    snprintf(json, sizeof json, fmt,
             "{\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 1e300], \"sep\": [\"[CLS]\", 1]}");
    FT_CHECK_FAILS(tok_from(json, &tok), FT_ERR_FORMAT, "post_processor: the id of 'cls' must be an integer");
    snprintf(json, sizeof json, fmt,
             "{\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 1], \"sep\": [\"[CLS]\", 1]}");
    FT_CHECK_OK(tok_from(json, &tok));
    ft_tok_free(tok);
}

/* Rows of docs/errors.md that had no test: an empty dataset file, text that is not UTF-8. */
FT_TEST(empty_data_and_non_utf8_text) {
    ft_data_cfg c;
    ft_data_cfg_default(&c);
    const char *p = write_tmp("empty.jsonl", "", 0);
    ft_data_recs rs = {0};
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "empty.jsonl: no rows");
    ft_data_recs_free(&rs);
    ft_dataset d = {0};
    FT_CHECK_FAILS(ft_dataset_load_pretok(p, &d), FT_ERR_FORMAT, "empty.jsonl: no examples");
    ft_dataset_free(&d);
    ft_tokenizer *tok = NULL;
    FT_CHECK_OK(
        tok_from("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0, \"a\": 1}, \"unk_token\": "
                 "\"[UNK]\"}}",
                 &tok));
    if (tok) {
        ft_tok_ids ids = {0};
        FT_CHECK_FAILS(ft_tok_encode(tok, "a a\xff", 4, false, &ids), FT_ERR_ARG,
                       "tokenizer: input is not valid UTF-8 (byte 3)");
        ft_tok_ids_free(&ids);
        ft_tok_free(tok);
    }
}

/* JSONL / text lines and CSV records: at most 16 MiB and 10000 fields. */
FT_TEST(row_limits) {
    const size_t lim = 16u << 20;
    char *big = malloc(lim + 64);
    ft_data_cfg c;
    ft_data_cfg_default(&c);
    ft_data_recs rs = {0};
    /* JSONL: one line just over the limit, after a good one */
    size_t o = (size_t)sprintf(big, "{\"text\": \"ok\"}\n{\"text\": \"");
    memset(big + o, 'x', lim);
    o += lim;
    o += (size_t)sprintf(big + o, "\"}\n");
    const char *p = write_tmp("long.jsonl", big, o);
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT,
                   "long.jsonl:2: row is longer than 16777216 bytes");
    ft_data_recs_free(&rs);
    c.format = "text";
    p = write_tmp("long.txt", big, o);
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "long.txt:2: row is longer than");
    ft_data_recs_free(&rs);
    /* CSV: a quoted field that runs on (newlines inside quotes count) */
    c.format = "csv";
    o = (size_t)sprintf(big, "text,label\nok,1\n\"");
    for (size_t i = 0; i < lim; i++)
        big[o++] = i % 80 == 79 ? '\n' : 'y';
    o += (size_t)sprintf(big + o, "\",2\n");
    p = write_tmp("long.csv", big, o);
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "long.csv:3: row is longer than 16777216 bytes");
    ft_data_recs_free(&rs);
    /* an unquoted one */
    o = (size_t)sprintf(big, "text,label\n");
    memset(big + o, 'z', lim + 1);
    o += lim + 1;
    p = write_tmp("long2.csv", big, o);
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "long2.csv:2: row is longer than");
    ft_data_recs_free(&rs);
    /* too many fields */
    o = (size_t)sprintf(big, "text,label\n");
    for (int i = 0; i < 10001; i++)
        big[o++] = ',';
    p = write_tmp("wide.csv", big, o);
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT,
                   "wide.csv:2: more than 10000 fields in one record");
    ft_data_recs_free(&rs);
    free(big);
}

/* fuzz_mail: a header block that ends the input right after a newline was read one byte past its end
 * (looking for a folded continuation line). The buffer is exactly the input, so ASan sees it. */
FT_TEST(fuzz_mail_header_at_end) {
    static const char MAIL[] = "Subject: offer\nContent-Type: text/hts<script>x()</script></html>\n";
    const size_t n = sizeof MAIL - 1;
    char *raw = malloc(n);
    memcpy(raw, MAIL, n);
    char *out = NULL;
    bool rec = true;
    FT_CHECK_OK(ft_data_mail_text(raw, n, true, &out, &rec));
    FT_CHECKF(out && !strcmp(out, "offer\n\n"), "got '%s'", out ? out : "(null)");
    FT_CHECK(!rec);
    free(out);
    /* a folded Subject whose continuation is the last line */
    static const char FOLD[] = "Subject: two\n  lines\n";
    raw = realloc(raw, sizeof FOLD - 1);
    memcpy(raw, FOLD, sizeof FOLD - 1);
    FT_CHECK_OK(ft_data_mail_text(raw, sizeof FOLD - 1, true, &out, &rec));
    FT_CHECKF(out && !strncmp(out, "two lines", 9), "got '%s'", out ? out : "(null)");
    free(out);
    free(raw);
}

/* fuzz_readers: an empty quoted field as the first field of a file copied from a NULL scratch buffer
 * (memcpy(dst, NULL, 0), undefined behaviour). It is an empty cell. */
FT_TEST(fuzz_csv_empty_quoted_first) {
    ft_data_cfg c;
    ft_data_cfg_default(&c);
    c.format = "tsv";
    const char *p = write_tmp("q.tsv", "\"\"\ttext\n\"\"\thello\n", 18);
    ft_data_recs rs = {0};
    FT_CHECK_OK(ft_data_read(p, &c, &rs));
    FT_CHECK(rs.n == 1 && rs.r[0].text && !strcmp(rs.r[0].text, "hello"));
    ft_data_recs_free(&rs);
    p = write_tmp("q2.tsv", "\"\"\npo\x03\n", 7);
    FT_CHECK_FAILS(ft_data_read(p, &c, &rs), FT_ERR_FORMAT, "q2.tsv:1: no column 'text'");
    ft_data_recs_free(&rs);
}

/* Planted links and killed writers' temporaries (docs/reliability.md, "Links and temporaries"): an atomic
 * write never writes through a link planted under its temporary's name or its final name, and the stale
 * temporaries of a dead writer are removed (regular files only; a live writer's and links stay). */
FT_TEST(planted_links_and_stale_temporaries) {
    char victim[512], path[512], tmp[600], link2[512], p[640];
    snprintf(victim, sizeof victim, "%s/victim.txt", tmpdir);
    FILE *f = fopen(victim, "w");
    FT_CHECK(f && fputs("precious", f) >= 0 && fclose(f) == 0);
    /* a link at our own temporary's name (the pid is predictable) */
    snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FT_CHECK(symlink(victim, tmp) == 0);
    FT_CHECK_OK(ft_write_file_atomic(path, "new", 3));
    /* a link at the final name: the rename replaces the link, not its target */
    snprintf(link2, sizeof link2, "%s/config.json", tmpdir);
    FT_CHECK(symlink(victim, link2) == 0);
    FT_CHECK_OK(ft_write_file_atomic(link2, "{}", 2));
    char *got = NULL;
    size_t n = 0;
    FT_CHECK_OK(ft_read_file(victim, &got, &n));
    FT_CHECK(n == 8 && !memcmp(got, "precious", 8));
    free(got);
    struct stat st;
    FT_CHECK(lstat(link2, &st) == 0 && S_ISREG(st.st_mode));
    FT_CHECK(lstat(tmp, &st) != 0); /* renamed away */

    /* names */
    long pid = 0;
    FT_CHECK(ft_tmp_name_pid("model.safetensors.tmp.1234", &pid) && pid == 1234);
    FT_CHECK(ft_tmp_name_pid("a.tmp.5.tmp.77", &pid) && pid == 77);
    FT_CHECK(!ft_tmp_name_pid("model.safetensors", &pid));
    FT_CHECK(!ft_tmp_name_pid(".tmp.12", &pid));
    FT_CHECK(!ft_tmp_name_pid("x.tmp.12a", &pid));
    FT_CHECK(!ft_tmp_name_pid("x.tmp.", &pid));
    FT_CHECK(!ft_tmp_name_pid("x.tmp.12345678901", &pid));

    /* a dead writer's temporaries go, a live one's, a link and a directory stay */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    FT_CHECK(dead > 0 && waitpid(dead, NULL, 0) == dead);
    char d[512];
    snprintf(d, sizeof d, "%s/out", tmpdir);
    FT_CHECK_OK(ft_mkdir_p(d));
    const char *names[] = {"model.safetensors.tmp.%ld", "model-00001-of-00002.safetensors.tmp.%ld",
                           "adapter_config.json.tmp.%ld"};
    for (int i = 0; i < 3; i++) {
        char nm[128];
        snprintf(nm, sizeof nm, names[i], (long)dead);
        FT_CHECK_OK(ft_write_file_atomic(ft_path_join(p, sizeof p, d, nm), "x", 1));
    }
    char live[128], lnk[128], dir[128];
    snprintf(live, sizeof live, "config.json.tmp.%ld", (long)getppid());
    FT_CHECK_OK(ft_write_file_atomic(ft_path_join(p, sizeof p, d, live), "x", 1));
    snprintf(lnk, sizeof lnk, "tokenizer.json.tmp.%ld", (long)dead);
    FT_CHECK(symlink(victim, ft_path_join(p, sizeof p, d, lnk)) == 0);
    snprintf(dir, sizeof dir, "sub.tmp.%ld", (long)dead);
    FT_CHECK_OK(ft_mkdir_p(ft_path_join(p, sizeof p, d, dir)));
    FT_CHECK_OK(ft_clean_stale_tmp(d));
    for (int i = 0; i < 3; i++) {
        char nm[128];
        snprintf(nm, sizeof nm, names[i], (long)dead);
        FT_CHECK(!ft_file_exists(ft_path_join(p, sizeof p, d, nm)));
    }
    FT_CHECK(ft_file_exists(ft_path_join(p, sizeof p, d, live)));
    FT_CHECK(lstat(ft_path_join(p, sizeof p, d, lnk), &st) == 0 && S_ISLNK(st.st_mode));
    FT_CHECK(ft_file_exists(ft_path_join(p, sizeof p, d, dir)));
    FT_CHECK(ft_file_exists(victim));
    FT_CHECK_OK(ft_clean_stale_tmp("/nonexistent-ftune-dir")); /* nothing to clean */
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_hostile_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    FT_RUN(json_nesting);
    FT_RUN(config_limits);
    FT_RUN(tokenizer_limits);
    FT_RUN(tokenizer_regex_backtracking);
    FT_RUN(tokenizer_invalid_utf8_strings);
    FT_RUN(tokenizer_numbers_in_range);
    FT_RUN(empty_data_and_non_utf8_text);
    FT_RUN(row_limits);
    FT_RUN(fuzz_mail_header_at_end);
    FT_RUN(fuzz_csv_empty_quoted_first);
    FT_RUN(planted_links_and_stale_temporaries);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    FT_DONE();
}
