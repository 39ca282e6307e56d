/* ftune generate: text from a causal LM or a T5 encoder-decoder (KV cache; greedy, sampled or beam search),
 * one prompt or a data file; BLEU / ROUGE / exact match when the data has references. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"

static const char *GEN_USAGE =
    "usage: ftune generate --model DIR [--adapter DIR] (--prompt TEXT | --prompt-ids IDS | --data FILE)\n"
    "                      [options]\n"
    "\n"
    "Generates with a KV cache (each new token costs one position). Greedy by default; --do-sample draws\n"
    "from the distribution after the repetition penalty, temperature, top-k and top-p (Hugging Face order\n"
    "and semantics), seeded: the same seed gives the same text; --num-beams N > 1 runs beam search as\n"
    "Hugging Face generate(num_beams=N). A chat template (from ftune_train.json or --chat-template) wraps\n"
    "the prompt as a user turn and asks for the assistant's reply. A T5 model (t5, mt5) reads the prompt\n"
    "with its encoder and writes the answer with its decoder (\"translate English to German: ...\").\n"
    "\n"
    "  --prompt TEXT            generate from this text; prints the new text (--json: an object)\n"
    "  --prompt-ids IDS         generate from these token ids (space or comma separated; no tokenizer\n"
    "                           needed); prints the new ids (--json: an object with ids and text)\n"
    "  --data FILE              one generation per row (prompt/response fields, messages, or text as the\n"
    "                           prompt); prints one JSON line per row {prompt, output, reference?, finish}\n"
    "                           (to --out FILE when given); with references (response, or the last "
    "assistant\n"
    "                           message) also BLEU, ROUGE-1/2/L/Lsum and exact match (a table, or --json)\n"
    "  --max-new-tokens N       64\n"
    "  --do-sample              sample instead of greedy decoding\n"
    "  --temperature X          1 (0 = greedy)\n"
    "  --top-k N                0 = off\n"
    "  --top-p X                1 = off\n"
    "  --repetition-penalty X   1 = off (> 1 discourages tokens already in the prompt or output)\n"
    "  --seed N                 42\n"
    "  --stop STR               end the text before STR (repeatable); the eos token always ends it\n"
    "  --num-beams N            1 = off; > 1: beam search (greedy; not with --do-sample)\n"
    "  --length-penalty X       1: beam search scores a hypothesis sum(log p) / length^X\n"
    "  --early-stopping MODE    false (default: stop when no running beam can win at the current length),\n"
    "                           true (when N hypotheses are done), never (when none can win at any length)\n"
    "  --num-return-sequences N 1; beam search: print the N best (--json: all with their scores)\n"
    "  --no-repeat-ngram-size N 0 = off: never repeat an n-gram of the output (every mode)\n"
    "  --min-new-tokens N       0: no eos before N new tokens (every mode)\n"
    "  --chat-template NAME     chatml | llama3 | llama2 | alpaca | none (default: what training used)\n"
    "  --system TEXT            a system message for the chat template\n"
    "  --out FILE               --data: write the generations here\n"
    "  --json                   machine-readable output\n"
    "  --task TASK, --threads N\n"
    "See docs/evaluation.md and docs/seq2seq.md (\"Decoding\").\n";

static void print_metrics(const ftune_metric *ms, size_t n, size_t n_refs, bool json) {
    if (json) {
        printf("{\"n_examples\":%zu", n_refs);
        for (size_t i = 0; i < n; i++)
            printf(",\"%s\":%.17g", ms[i].name, ms[i].value);
        printf("}\n");
        return;
    }
    printf("%-12s %zu\n", "examples", n_refs);
    for (size_t i = 0; i < n; i++) /* BLEU and the percentages with 2 decimals, ROUGE with 4 */
        printf("%-12s %.*f\n", ms[i].name, strncmp(ms[i].name, "rouge", 5) ? 2 : 4, ms[i].value);
}

/* --data: each row as a JSON line to out; the rows with a reference counted. */
typedef struct {
    FILE *out;
    size_t n_refs;
} rows_t;

static int row_line(void *user, const ftune_gen_row *row) {
    rows_t *rs = user;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "prompt", row->prompt ? row->prompt : "");
    cJSON_AddStringToObject(j, "output", row->output ? row->output : "");
    if (row->reference) {
        cJSON_AddStringToObject(j, "reference", row->reference);
        rs->n_refs++;
    }
    cJSON_AddStringToObject(j, "finish", row->finish);
    cJSON_AddNumberToObject(j, "new_tokens", (double)row->new_tokens);
    char *o = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (o) {
        fprintf(rs->out, "%s\n", o);
        cJSON_free(o);
    }
    return 0;
}

/* "3 4, 5" → ids (malloc'd), 0; or 2 after printing why. */
static int parse_ids(const char *txt, int32_t **out, size_t *n_out) {
    size_t n = 0, cap = strlen(txt) / 2 + 1;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "ftune generate: out of memory\n");
        return 1;
    }
    for (const char *p = txt; *p;) {
        if (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
            continue;
        }
        char *end;
        const long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || n == cap) {
            fprintf(stderr, "ftune generate: --prompt-ids: '%s' is not a list of token ids (at '%.12s')\n",
                    txt, p);
            free(ids);
            return 2;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    *out = ids;
    *n_out = n;
    return 0;
}

static cJSON *id_array(const int32_t *ids, size_t n) {
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

/* Beam search's score and steps and, with several returned, every sequence {ids, text, score, finish}. */
static void add_beam_fields(cJSON *j, const ftune_gen_result *r, const ftune_gen_stats *st) {
    cJSON_AddNumberToObject(j, "score", ftune_gen_result_score(r, 0));
    cJSON_AddNumberToObject(j, "steps", (double)st->steps);
    const size_t ns = ftune_gen_result_count(r);
    if (ns < 2)
        return;
    cJSON *arr = cJSON_AddArrayToObject(j, "sequences");
    for (size_t i = 0; arr && i < ns; i++) {
        cJSON *o = cJSON_CreateObject();
        size_t n;
        const int32_t *ids = ftune_gen_result_ids(r, i, &n);
        cJSON_AddItemToObject(o, "ids", id_array(ids, n));
        if (ftune_gen_result_text(r, i))
            cJSON_AddStringToObject(o, "text", ftune_gen_result_text(r, i));
        cJSON_AddNumberToObject(o, "score", ftune_gen_result_score(r, i));
        cJSON_AddStringToObject(o, "finish", ftune_gen_result_finish(r, i));
        cJSON_AddItemToArray(arr, o);
    }
}

/* One prompt's result: --prompt-ids the new ids (one line per returned sequence), --prompt the new text;
 * --json an object. beam: beam search ran (its score and steps are printed). */
static int print_result(const ftune_gen_result *r, bool from_ids, bool beam, bool json) {
    ftune_gen_stats st;
    ftune_gen_stats_init(&st);
    ftune_gen_result_stats(r, &st);
    const size_t ns = ftune_gen_result_count(r);
    if (json) {
        cJSON *j = cJSON_CreateObject();
        size_t n;
        const int32_t *ids = ftune_gen_result_ids(r, 0, &n);
        const char *text = ftune_gen_result_text(r, 0);
        if (from_ids) {
            cJSON_AddItemToObject(j, "ids", id_array(ids, n));
            if (text)
                cJSON_AddStringToObject(j, "text", text);
        } else
            cJSON_AddStringToObject(j, "text", text ? text : "");
        cJSON_AddStringToObject(j, "finish", ftune_gen_result_finish(r, 0));
        cJSON_AddNumberToObject(j, "prompt_tokens", (double)st.prompt_tokens);
        if (!from_ids) {
            cJSON_AddNumberToObject(j, "new_tokens", (double)st.new_tokens);
            cJSON_AddNumberToObject(j, "tokens_per_s",
                                    st.decode_s > 0 ? (double)st.new_tokens / st.decode_s : 0);
        }
        if (beam)
            add_beam_fields(j, r, &st);
        return ft_cli_json("generate", j);
    }
    for (size_t i = 0; i < ns; i++) {
        if (from_ids) {
            size_t n;
            const int32_t *ids = ftune_gen_result_ids(r, i, &n);
            for (size_t k = 0; k < n; k++)
                printf(k ? " %d" : "%d", ids[k]);
            printf("\n");
        } else {
            const char *text = ftune_gen_result_text(r, i);
            printf("%s\n", text ? text : "");
        }
    }
    return 0;
}

int ft_cmd_generate(int argc, char **argv) {
    /* --stop may repeat: collect it first, hand the rest to the common parser */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    const char **stops = calloc((size_t)argc + 1, sizeof *stops);
    if (!rest || !stops) {
        free(rest);
        free(stops);
        fprintf(stderr, "ftune generate: out of memory\n");
        return 1;
    }
    int nr = 0;
    size_t ns = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--stop") && i + 1 < argc)
            stops[ns++] = argv[++i];
        else if (!strncmp(argv[i], "--stop=", 7))
            stops[ns++] = argv[i] + 7;
        else
            rest[nr++] = argv[i];
    }
    const char *model = NULL, *adapter = NULL, *prompt = NULL, *data = NULL, *task = NULL, *tmpl_opt = NULL,
               *system = NULL, *outp = NULL, *prompt_ids = NULL, *early = NULL;
    long max_new = 64, top_k = 0, seed = 42, threads = 0, beams = 1, nret = 1, ngram = 0, min_new = 0;
    double temp = 1, top_p = 1, rep = 1, lpen = 1;
    bool sample = false, json = false, help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model},
                     {"adapter", FT_OPT_STR, &adapter},
                     {"prompt", FT_OPT_STR, &prompt},
                     {"prompt-ids", FT_OPT_STR, &prompt_ids},
                     {"early-stopping", FT_OPT_STR, &early},
                     {"num-beams", FT_OPT_INT, &beams},
                     {"num-return-sequences", FT_OPT_INT, &nret},
                     {"no-repeat-ngram-size", FT_OPT_INT, &ngram},
                     {"min-new-tokens", FT_OPT_INT, &min_new},
                     {"length-penalty", FT_OPT_FLOAT, &lpen},
                     {"data", FT_OPT_STR, &data},
                     {"task", FT_OPT_STR, &task},
                     {"chat-template", FT_OPT_STR, &tmpl_opt},
                     {"system", FT_OPT_STR, &system},
                     {"out", FT_OPT_STR, &outp},
                     {"max-new-tokens", FT_OPT_INT, &max_new},
                     {"top-k", FT_OPT_INT, &top_k},
                     {"seed", FT_OPT_INT, &seed},
                     {"threads", FT_OPT_INT, &threads},
                     {"temperature", FT_OPT_FLOAT, &temp},
                     {"top-p", FT_OPT_FLOAT, &top_p},
                     {"repetition-penalty", FT_OPT_FLOAT, &rep},
                     {"do-sample", FT_OPT_FLAG, &sample},
                     {"json", FT_OPT_FLAG, &json}};
    int rc =
        ft_cli_parse("generate", nr, rest, opts, sizeof opts / sizeof *opts, GEN_USAGE, NULL, 0, NULL, &help);
    free(rest);
    if (rc || help) {
        free(stops);
        return rc;
    }
    if (!model || (!!prompt + !!data + !!prompt_ids) != 1 || max_new < 0 || top_k < 0 || threads < 0 ||
        beams > INT32_MAX || nret > INT32_MAX || ngram > INT32_MAX || min_new > INT32_MAX ||
        max_new > INT32_MAX || top_k > INT32_MAX || beams < INT32_MIN || nret < INT32_MIN ||
        ngram < INT32_MIN || min_new < INT32_MIN) {
        fprintf(stderr,
                "ftune generate: --model and one of --prompt / --prompt-ids / --data are required; counts "
                "must be >= 0 (see ftune generate --help)\n");
        free(stops);
        return 2;
    }
    ftune_gen_opts go;
    ftune_gen_opts_init(&go);
    go.max_new_tokens = (int)max_new;
    go.do_sample = sample;
    go.temperature = (float)temp;
    go.top_k = (int)top_k;
    go.top_p = (float)top_p;
    go.repetition_penalty = (float)rep;
    go.seed = (uint64_t)seed;
    go.stop = stops;
    go.n_stop = ns;
    go.chat_template = tmpl_opt;
    go.system = system;
    ftune_beam_opts bo;
    ftune_beam_opts_init(&bo);
    bo.num_beams = (int)beams;
    bo.num_return_sequences = (int)nret;
    bo.no_repeat_ngram_size = (int)ngram;
    bo.min_new_tokens = (int)min_new;
    bo.length_penalty = (float)lpen;
    if (nret < 1) { /* the API reads 0 as 1 (a first-release struct's padding); the command refuses it */
        fprintf(stderr, "ftune generate: num_return_sequences %ld must be in [1, num_beams %ld]\n", nret,
                beams);
        free(stops);
        return 2;
    }
    if (early && !strcasecmp(early, "false"))
        bo.early_stopping = 0;
    else if (early && !strcasecmp(early, "true"))
        bo.early_stopping = 1;
    else if (early && !strcasecmp(early, "never"))
        bo.early_stopping = 2;
    else if (early) {
        fprintf(stderr, "ftune generate: early_stopping '%s' must be true, false or never\n", early);
        free(stops);
        return 2;
    }
    ftune_ctx *ctx = ft_cli_ctx("generate", threads);
    if (!ctx) {
        free(stops);
        return 1;
    }
    if (ftune_gen_check(ctx, &go, &bo) != FT_OK) { /* bad options: usage, before a model is loaded */
        fprintf(stderr, "ftune generate: %s\n", ftune_last_error(ctx));
        ftune_ctx_free(ctx);
        free(stops);
        return 2;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (prompt_ids && (rc = parse_ids(prompt_ids, &ids, &n_ids)) != 0) {
        ftune_ctx_free(ctx);
        free(stops);
        return rc;
    }
    /* the model's training settings (task, chat template, data fields); a bare checkpoint: a causal LM */
    ftune_model_load_opts lo;
    ftune_model_load_opts_init(&lo);
    lo.task = task;
    lo.head_task = 0;
    lo.tokenizer_optional = prompt_ids != NULL; /* ids in, ids out */
    ftune_model *m = ft_cli_model("generate", ctx, model, adapter, &lo, NULL);
    if (!m)
        rc = 1;
    else if (!prompt_ids && !ftune_model_has_tokenizer(m)) {
        fprintf(stderr,
                "ftune generate: %s: no tokenizer (the model was trained on pre-tokenized data); put the "
                "tokenizer files next to it\n",
                model);
        rc = 1;
    } else if (prompt || prompt_ids) {
        ftune_gen_result *r = NULL;
        const ftune_status s = prompt ? ftune_generate_text(m, prompt, &go, &bo, NULL, NULL, &r)
                                      : ftune_generate_ids(m, ids, n_ids, &go, &bo, NULL, NULL, &r);
        rc = s == FT_OK ? print_result(r, prompt_ids != NULL, beams > 1, json)
                        : ft_cli_fail_ctx("generate", ctx);
        ftune_gen_result_free(r);
    } else {
        rows_t rs = {.out = stdout};
        if (outp && !(rs.out = fopen(outp, "w"))) {
            fprintf(stderr, "ftune generate: %s: cannot write\n", outp);
            rc = 1;
        }
        ftune_metric *ms = NULL;
        size_t n_ms = 0;
        if (rc == 0 && ftune_generate_file(m, data, &go, &bo, row_line, &rs, &ms, &n_ms) != FT_OK)
            rc = ft_cli_fail_ctx("generate", ctx);
        if (rs.out && rs.out != stdout && fclose(rs.out) != 0 && rc == 0) {
            fprintf(stderr, "ftune generate: %s: write failed\n", outp);
            rc = 1;
        }
        fflush(stdout);
        if (rc == 0 && n_ms)
            print_metrics(ms, n_ms, rs.n_refs, json);
        ftune_free(ms);
    }
    ftune_model_free(m);
    ftune_ctx_free(ctx);
    free(ids);
    free(stops);
    return rc;
}
