/* ftune tokenizer <subcommand>: build tokenizers (today: train a byte-level BPE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char group_usage[] =
    "usage: ftune tokenizer <subcommand> [options]\n"
    "subcommands:\n"
    "  train   learn a byte-level BPE vocabulary from text; write tokenizer.json\n"
    "'ftune tokenizer <subcommand> --help' describes each.\n";

static const char train_usage[] =
    "usage: ftune tokenizer train --files A.txt [B.txt ...] [--jsonl F.jsonl ... --field text]\n"
    "                             --out DIR [--vocab-size 16000] [--min-frequency 2]\n"
    "                             [--special \"<|endoftext|>,<pad>\"] [--bos T] [--eos T] [--pad T] [--unk "
    "T]\n"
    "                             [--add-bos] [--model-max-length 2048] [--threads N]\n"
    "Learns a byte-level BPE vocabulary (GPT-2 pre-tokenizer: ByteLevel, add_prefix_space false) and writes\n"
    "DIR/tokenizer.json + DIR/tokenizer_config.json, which ftune and Hugging Face `tokenizers` load alike.\n"
    "  --files A [B ...]     UTF-8 text files; each line (newline included) is one sequence\n"
    "  --jsonl F [G ...]     JSONL files; the string field --field (default \"text\") of each record is one\n"
    "                        sequence (blank lines skipped)\n"
    "  --out DIR             output directory (created)\n"
    "  --vocab-size N        total vocabulary: special tokens + 256 byte characters + merges (default "
    "16000)\n"
    "  --min-frequency N     never merge a pair seen fewer than N times (default 2)\n"
    "  --special LIST        comma-separated special tokens, ids 0.. in this order; never split, never\n"
    "                        learned from (their text is cut out of the training data)\n"
    "  --bos/--eos/--pad/--unk T  roles written to tokenizer_config.json (default: guessed from the usual\n"
    "                        names: <s> <|begin_of_text|> <|endoftext|>; </s> <|end_of_text|>; <pad>; "
    "<unk>)\n"
    "  --add-bos             the post-processor prepends the bos token (TemplateProcessing)\n"
    "  --model-max-length N  tokenizer_config.json model_max_length (default 2048)\n"
    "  --threads N           threads for reading and counting (default: all); the output never depends on "
    "it\n"
    "Ties between equally frequent pairs go to the smaller (left id, right id), as Hugging Face's "
    "BpeTrainer.\n"
    "Prints bytes read, sequences, words, distinct words, merges learned, why it stopped, and the time.\n";

/* Split "a,b,c" into a malloc'd array of malloc'd strings. */
static int split_list(const char *s, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!s || !*s)
        return 0;
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return -1;
    const char *a = s;
    for (;;) {
        const char *e = strchr(a, ',');
        size_t l = e ? (size_t)(e - a) : strlen(a);
        if (l) {
            v[*n] = malloc(l + 1);
            if (!v[*n])
                return -1;
            memcpy(v[*n], a, l);
            v[*n][l] = 0;
            (*n)++;
        }
        if (!e)
            break;
        a = e + 1;
    }
    *out = v;
    return 0;
}

static int train(int argc, char **argv) {
    const char *cmd = "tokenizer train";
    /* --files and --jsonl take every following argument up to the next option */
    const char **files = calloc((size_t)argc + 1, sizeof *files),
               **jsonl = calloc((size_t)argc + 1, sizeof *jsonl);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!files || !jsonl || !rest) {
        free(files), free(jsonl), free(rest);
        fprintf(stderr, "ftune %s: out of memory\n", cmd);
        return 1;
    }
    size_t nf = 0, nj = 0;
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        bool is_f = !strcmp(argv[i], "--files"), is_j = !strcmp(argv[i], "--jsonl");
        if (!is_f && !is_j) {
            rest[nrest++] = argv[i];
            continue;
        }
        size_t before = is_f ? nf : nj;
        while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            if (is_f)
                files[nf++] = argv[++i];
            else
                jsonl[nj++] = argv[++i];
        }
        if ((is_f ? nf : nj) == before) {
            fprintf(stderr, "ftune %s: %s needs at least one file\n", cmd, argv[i]);
            free(files), free(jsonl), free(rest);
            return 2;
        }
    }
    const char *out = NULL, *field = "text", *special = NULL, *bos = NULL, *eos = NULL, *pad = NULL,
               *unk = NULL;
    long vocab = 16000, minf = 2, threads = 0, maxlen = 2048;
    bool add_bos = false, help = false;
    const ft_opt opts[] = {
        {"out", FT_OPT_STR, &out},
        {"field", FT_OPT_STR, &field},
        {"special", FT_OPT_STR, &special},
        {"bos", FT_OPT_STR, &bos},
        {"eos", FT_OPT_STR, &eos},
        {"pad", FT_OPT_STR, &pad},
        {"unk", FT_OPT_STR, &unk},
        {"vocab-size", FT_OPT_INT, &vocab},
        {"min-frequency", FT_OPT_INT, &minf},
        {"threads", FT_OPT_INT, &threads},
        {"model-max-length", FT_OPT_INT, &maxlen},
        {"add-bos", FT_OPT_FLAG, &add_bos},
    };
    int rc =
        ft_cli_parse(cmd, nrest, rest, opts, sizeof opts / sizeof *opts, train_usage, NULL, 0, NULL, &help);
    if (rc || help)
        goto done;
    rc = 2;
    if (!out)
        fprintf(stderr, "ftune %s: --out DIR is required (see --help)\n", cmd);
    else if (!nf && !nj)
        fprintf(stderr, "ftune %s: no input: give --files and/or --jsonl (see --help)\n", cmd);
    else if (vocab <= 0 || minf < 0 || threads < 0 || maxlen <= 0)
        fprintf(stderr,
                "ftune %s: --vocab-size, --model-max-length must be > 0; --min-frequency, --threads >= 0\n",
                cmd);
    else
        rc = 0;
    if (rc)
        goto done;
    char **sp = NULL;
    size_t nsp = 0;
    if (split_list(special, &sp, &nsp) != 0) {
        fprintf(stderr, "ftune %s: out of memory\n", cmd);
        rc = 1;
        goto done;
    }
    ftune_ctx *ctx = ft_cli_ctx(cmd, 0);
    ftune_tokenizer_train_opts o;
    ftune_tokenizer_train_opts_init(&o);
    o.vocab_size = (size_t)vocab;
    o.min_frequency = (uint64_t)minf;
    o.special = (const char *const *)sp;
    o.n_special = nsp;
    o.threads = threads > 1 << 20 ? 1 << 20 : (int)threads;
    o.bos = bos, o.eos = eos, o.pad = pad, o.unk = unk;
    o.add_bos = add_bos;
    o.model_max_length = (size_t)maxlen;
    ftune_tokenizer_trainer *t = NULL;
    ftune_status st = ctx ? ftune_tokenizer_trainer_new(ctx, &o, &t) : FT_ERR_NOMEM;
    for (size_t i = 0; i < nf && st == FT_OK; i++)
        st = ftune_tokenizer_trainer_add_file(t, files[i]);
    for (size_t i = 0; i < nj && st == FT_OK; i++)
        st = ftune_tokenizer_trainer_add_jsonl(t, jsonl[i], field);
    if (st == FT_OK)
        st = ftune_tokenizer_trainer_run(t);
    if (st == FT_OK)
        st = ftune_tokenizer_trainer_save(t, out);
    ftune_tokenizer_train_stats s;
    s.struct_size = sizeof s;
    if (st == FT_OK)
        st = ftune_tokenizer_trainer_get_stats(t, &s);
    if (st == FT_OK) {
        double mb = (double)s.bytes / 1e6, sec = s.count_seconds + s.merge_seconds;
        printf("read       %.2f MB, %llu sequences, %llu words, %zu distinct words (%.2f s, %.1f MB/s)\n", mb,
               (unsigned long long)s.sequences, (unsigned long long)s.words, s.distinct_words,
               s.count_seconds, s.count_seconds > 0 ? mb / s.count_seconds : 0.0);
        printf("merges     %zu learned (%.2f s); stopped: %s\n", s.merges, s.merge_seconds, s.stop);
        printf("vocab      %zu tokens (%zu special + 256 bytes + %zu merged)\n", s.vocab_size, nsp,
               s.vocab_size - nsp - 256);
        printf("wrote      %s/tokenizer.json, %s/tokenizer_config.json in %.2f s\n", out, out, sec);
    }
    rc = st == FT_OK ? 0 : ctx ? ft_cli_fail_ctx(cmd, ctx) : 1;
    ftune_tokenizer_trainer_free(t);
    ftune_ctx_free(ctx);
    for (size_t i = 0; i < nsp; i++)
        free(sp[i]);
    free(sp);
done:
    free(files);
    free(jsonl);
    free(rest);
    return rc;
}

int ft_cmd_tokenizer(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(group_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train"))
        return train(argc - 1, argv + 1);
    fprintf(stderr, "ftune tokenizer: unknown subcommand '%s'\n%s", argv[1], group_usage);
    return 2;
}
