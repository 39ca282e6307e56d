/* ftune generate: text from a causal LM or a T5 encoder-decoder (KV cache; greedy, sampled or beam search),
 * one prompt or a data file; BLEU / ROUGE / exact match when the data has references. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/trained.h"
#include "eval/generate.h"
#include "eval/metrics.h"
#include "eval/seq2seq.h"
#include "peft/peft.h"

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

typedef struct {
    char **hyp, **ref;
    size_t n, cap;
} refs_t;

static ft_status refs_push(refs_t *r, const char *hyp, const char *ref) {
    if (r->n == r->cap) {
        size_t nc = r->cap ? 2 * r->cap : 16;
        char **a = realloc(r->hyp, nc * sizeof *a);
        if (!a)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        r->hyp = a;
        char **b = realloc(r->ref, nc * sizeof *b);
        if (!b)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        r->ref = b;
        r->cap = nc;
    }
    r->hyp[r->n] = ft_strdup(hyp);
    r->ref[r->n] = ft_strdup(ref);
    r->n++;
    return r->hyp[r->n - 1] && r->ref[r->n - 1] ? FT_OK : ft_fail(FT_ERR_NOMEM, "out of memory");
}

static void refs_free(refs_t *r) {
    for (size_t i = 0; i < r->n; i++) {
        free(r->hyp[i]);
        free(r->ref[i]);
    }
    free(r->hyp);
    free(r->ref);
}

static ft_status print_gen_metrics(const refs_t *r, bool json) {
    ft_s2s_score g; /* the scores of task seq2seq's evaluation (eval/seq2seq.h) */
    FT_TRY(ft_s2s_score_texts((const char *const *)r->hyp, (const char *const *)r->ref, r->n, &g));
    if (json)
        printf("{\"n_examples\":%zu,\"bleu\":%.17g,\"rouge1\":%.17g,\"rouge2\":%.17g,\"rougeL\":%.17g,"
               "\"rougeLsum\":%.17g,\"exact_match\":%.17g,\"f1\":%.17g}\n",
               r->n, g.bleu, g.rouge1, g.rouge2, g.rougeL, g.rougeLsum, g.exact_match, g.f1);
    else
        printf(
            "examples     %zu\nbleu         %.2f\nrouge1       %.4f\nrouge2       %.4f\nrougeL       %.4f\n"
            "rougeLsum    %.4f\nexact_match  %.2f\nf1           %.2f\n",
            r->n, g.bleu, g.rouge1, g.rouge2, g.rougeL, g.rougeLsum, g.exact_match, g.f1);
    return FT_OK;
}

static void json_line(FILE *f, const char *prompt, const ft_gen_out *g, const char *ref) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "prompt", prompt ? prompt : "");
    cJSON_AddStringToObject(j, "output", g->text ? g->text : "");
    if (ref)
        cJSON_AddStringToObject(j, "reference", ref);
    cJSON_AddStringToObject(j, "finish", g->finish);
    cJSON_AddNumberToObject(j, "new_tokens", g->n_ids);
    char *o = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (o) {
        fprintf(f, "%s\n", o);
        cJSON_free(o);
    }
}

/* "3 4, 5" → ids */
static ft_status parse_ids(const char *txt, ft_tok_ids *ids) {
    size_t n = 0, cap = strlen(txt) / 2 + 1;
    ids->ids = malloc(cap * sizeof *ids->ids);
    if (!ids->ids)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (const char *p = txt; *p;) {
        if (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
            continue;
        }
        char *end;
        const long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || n == cap)
            return ft_fail(FT_ERR_ARG, "--prompt-ids: '%s' is not a list of token ids (at '%.12s')", txt, p);
        ids->ids[n++] = (int32_t)v;
        p = end;
    }
    ids->n = n;
    ids->cap = cap;
    return FT_OK;
}

static cJSON *id_array(const int32_t *ids, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

/* Beam search's score and, with several returned, every sequence {ids, text, score, finish}. */
static void add_beam_fields(cJSON *j, const ft_gen_out *g) {
    cJSON_AddNumberToObject(j, "score", g->score);
    cJSON_AddNumberToObject(j, "steps", g->n_steps);
    if (g->n_seqs < 2)
        return;
    cJSON *arr = cJSON_AddArrayToObject(j, "sequences");
    for (int i = 0; arr && i < g->n_seqs; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "ids", id_array(g->seqs[i].ids, g->seqs[i].n_ids));
        if (g->seqs[i].text)
            cJSON_AddStringToObject(o, "text", g->seqs[i].text);
        cJSON_AddNumberToObject(o, "score", g->seqs[i].score);
        cJSON_AddStringToObject(o, "finish", g->seqs[i].finish);
        cJSON_AddItemToArray(arr, o);
    }
}

/* --prompt-ids: the new ids (one line per returned sequence), or --json an object with the text too. */
static void print_ids_result(const ft_gen_out *g, bool json) {
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToObject(j, "ids", id_array(g->ids, g->n_ids));
        if (g->text)
            cJSON_AddStringToObject(j, "text", g->text);
        cJSON_AddStringToObject(j, "finish", g->finish);
        cJSON_AddNumberToObject(j, "prompt_tokens", g->n_prompt);
        if (g->seqs)
            add_beam_fields(j, g);
        char *o = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (o)
            printf("%s\n", o);
        cJSON_free(o);
        return;
    }
    for (int i = 0; i < (g->seqs ? g->n_seqs : 1); i++) {
        const int32_t *ids = g->seqs ? g->seqs[i].ids : g->ids;
        const int n = g->seqs ? g->seqs[i].n_ids : g->n_ids;
        for (int k = 0; k < n; k++)
            printf(k ? " %d" : "%d", ids[k]);
        printf("\n");
    }
}

/* --prompt-ids: the model directory (and --adapter) read directly, its tokenizer when it has one. */
static int gen_from_ids(const char *model, const char *adapter, const char *txt, const ft_gen_cfg *gc,
                        bool json) {
    ft_model *m = NULL;
    ft_tokenizer *tok = NULL;
    ft_tok_ids ids = {0};
    ft_gen_out g = {0};
    ft_status s = parse_ids(txt, &ids);
    if (s == FT_OK)
        s = ft_model_load(model, &m);
    if (s == FT_OK && adapter && (s = ft_peft_load(m, adapter)) != FT_OK)
        s = ft_fail_ctx(s, "adapter %s on base %s", adapter, model);
    if (s == FT_OK && ft_tok_load(model, &tok) != FT_OK) {
        ft_clear_error(); /* no tokenizer: ids only */
        tok = NULL;
    }
    if (s == FT_OK)
        s = ft_gen_run(m, tok, ids.ids, (int)ids.n, gc, &g);
    if (s == FT_OK)
        print_ids_result(&g, json);
    ft_gen_out_free(&g);
    ft_tok_ids_free(&ids);
    ft_tok_free(tok);
    ft_model_free(m);
    return s == FT_OK ? 0 : ft_cli_fail("generate", s);
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
    int rc = ft_cli_parse("generate", nr, rest, opts, sizeof opts / sizeof *opts, GEN_USAGE, NULL, 0, NULL, &help);
    free(rest);
    if (rc || help) {
        free(stops);
        return rc;
    }
    if (!model || (!!prompt + !!data + !!prompt_ids) != 1 || max_new < 0 || top_k < 0 || threads < 0 ||
        beams > INT32_MAX || nret > INT32_MAX || ngram > INT32_MAX || min_new > INT32_MAX ||
        max_new > INT32_MAX) {
        fprintf(stderr,
                "ftune generate: --model and one of --prompt / --prompt-ids / --data are required; counts "
                "must be >= 0 (see ftune generate --help)\n");
        free(stops);
        return 2;
    }
    ft_gen_cfg gc;
    ft_gen_cfg_default(&gc);
    gc.max_new_tokens = (int)max_new;
    gc.sample.do_sample = sample;
    gc.sample.temperature = (float)temp;
    gc.sample.top_k = (int)top_k;
    gc.sample.top_p = (float)top_p;
    gc.sample.repetition_penalty = (float)rep;
    gc.sample.seed = (uint64_t)seed;
    gc.stop = stops;
    gc.n_stop = ns;
    gc.num_beams = (int)beams;
    gc.num_return_sequences = (int)nret;
    gc.no_repeat_ngram_size = (int)ngram;
    gc.min_new_tokens = (int)min_new;
    gc.length_penalty = (float)lpen;
    ft_status s = early ? ft_gen_early_parse(early, &gc.early_stopping) : FT_OK;
    if (s == FT_OK) /* the vocabulary bound is checked when the model is loaded */
        s = ft_gen_cfg_check(&gc, INT32_MAX);
    if (s != FT_OK) {
        free(stops);
        fprintf(stderr, "ftune generate: %s\n", ft_last_error());
        return 2;
    }
    ft_ctx ctx;
    ft_ctx_default(&ctx);
    if (threads > 0)
        ctx.threads = (int)threads;
    ft_ctx_apply(&ctx);
    ft_trained t;
    if (prompt_ids) {
        rc = gen_from_ids(model, adapter, prompt_ids, &gc, json);
        free(stops);
        return rc;
    }
    s = ft_trained_load(model, adapter, task, false, &t);
    if (s == FT_OK && !t.tok) {
        ft_trained_free(&t);
        s = ft_fail(FT_ERR_MISSING,
                    "%s: no tokenizer (the model was trained on pre-tokenized data); put the "
                    "tokenizer files next to it",
                    model);
    }
    if (s != FT_OK) {
        free(stops);
        return ft_cli_fail("generate", s);
    }
    const char *tmpl = tmpl_opt ? (!strcmp(tmpl_opt, "none") ? NULL : tmpl_opt) : t.chat_template;
    gc.extra_eos = ft_trained_turn_end_id(&t, tmpl);
    ft_tok_ids ids = {0};
    ft_gen_out g = {0};
    refs_t refs = {0};
    FILE *out = stdout;
    if (prompt) {
        s = ft_trained_encode_prompt(&t, tmpl, system, NULL, 0, prompt, &ids);
        if (s == FT_OK)
            s = ft_gen_run(t.m, t.tok, ids.ids, (int)ids.n, &gc, &g);
        if (s == FT_OK && json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "text", g.text);
            cJSON_AddStringToObject(j, "finish", g.finish);
            cJSON_AddNumberToObject(j, "prompt_tokens", g.n_prompt);
            cJSON_AddNumberToObject(j, "new_tokens", g.n_ids);
            cJSON_AddNumberToObject(j, "tokens_per_s", g.decode_s > 0 ? g.n_ids / g.decode_s : 0);
            if (g.seqs)
                add_beam_fields(j, &g);
            char *o = cJSON_PrintUnformatted(j);
            cJSON_Delete(j);
            if (o)
                printf("%s\n", o);
            cJSON_free(o);
        } else if (s == FT_OK) {
            for (int i = 0; i < (g.seqs ? g.n_seqs : 1); i++)
                printf("%s\n", g.seqs ? g.seqs[i].text : g.text);
        }
        ft_gen_out_free(&g);
    } else {
        ft_data_recs rs = {0};
        s = ft_data_read(data, &t.data, &rs);
        if (s == FT_OK && outp && !(out = fopen(outp, "w")))
            s = ft_fail(FT_ERR_IO, "%s: cannot write", outp);
        for (size_t i = 0; s == FT_OK && i < rs.n; i++) {
            const ft_data_rec *r = &rs.r[i];
            const char *ref = NULL, *p = NULL;
            int nm = r->n_msgs;
            if (nm > 0 && !strcmp(r->msgs[nm - 1].role, "assistant"))
                ref = r->msgs[--nm].content; /* the last reply is what the model should write */
            else if (nm == 0) {
                p = r->prompt ? r->prompt : r->text;
                ref = r->prompt || !strcmp(t.task, "seq2seq") ? r->response : NULL; /* seq2seq: the target */
            }
            if (!p && nm == 0) {
                s = ft_fail(FT_ERR_FORMAT, "%s:%ld: no prompt (fields '%s', '%s' or '%s')", r->file, r->line,
                            t.data.prompt_field, t.data.messages_field, t.data.text_field);
                break;
            }
            s = ft_trained_encode_prompt(&t, tmpl, system, nm > 0 ? r->msgs : NULL, nm, p, &ids);
            if (s == FT_OK)
                s = ft_gen_run(t.m, t.tok, ids.ids, (int)ids.n, &gc, &g);
            if (s != FT_OK) {
                s = ft_fail_ctx(s, "%s:%ld", r->file, r->line);
                break;
            }
            json_line(out, p ? p : r->msgs[nm > 0 ? nm - 1 : 0].content, &g, ref);
            if (ref)
                s = refs_push(&refs, g.text, ref);
            ft_gen_out_free(&g);
        }
        if (out != stdout && out && fclose(out) != 0 && s == FT_OK)
            s = ft_fail(FT_ERR_IO, "%s: write failed", outp);
        fflush(stdout);
        if (s == FT_OK && refs.n)
            s = print_gen_metrics(&refs, json);
        ft_data_recs_free(&rs);
    }
    refs_free(&refs);
    ft_tok_ids_free(&ids);
    ft_trained_free(&t);
    free(stops);
    return s == FT_OK ? 0 : ft_cli_fail("generate", s);
}
