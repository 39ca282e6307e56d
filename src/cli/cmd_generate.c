/* ftune generate: text from a causal LM (KV cache, greedy or sampled), one prompt or a data file;
 * BLEU / ROUGE / exact match when the data has references. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/trained.h"
#include "eval/generate.h"
#include "eval/metrics.h"

static const char *GEN_USAGE =
    "usage: ftune generate --model DIR [--adapter DIR] (--prompt TEXT | --data FILE) [options]\n"
    "\n"
    "Generates with a KV cache (each new token costs one position). Greedy by default; --do-sample draws\n"
    "from the distribution after the repetition penalty, temperature, top-k and top-p (Hugging Face order\n"
    "and semantics), seeded: the same seed gives the same text. A chat template (from ftune_train.json or\n"
    "--chat-template) wraps the prompt as a user turn and asks for the assistant's reply.\n"
    "\n"
    "  --prompt TEXT            generate from this text; prints the new text (--json: an object)\n"
    "  --data FILE              one generation per row (prompt/response fields, messages, or text as the\n"
    "                           prompt); prints one JSON line per row {prompt, output, reference?, finish}\n"
    "                           (to --out FILE when given); with references (response, or the last assistant\n"
    "                           message) also BLEU, ROUGE-1/2/L/Lsum and exact match (a table, or --json)\n"
    "  --max-new-tokens N       64\n"
    "  --do-sample              sample instead of greedy decoding\n"
    "  --temperature X          1 (0 = greedy)\n"
    "  --top-k N                0 = off\n"
    "  --top-p X                1 = off\n"
    "  --repetition-penalty X   1 = off (> 1 discourages tokens already in the prompt or output)\n"
    "  --seed N                 42\n"
    "  --stop STR               end the text before STR (repeatable); the eos token always ends it\n"
    "  --chat-template NAME     chatml | llama3 | llama2 | alpaca | none (default: what training used)\n"
    "  --system TEXT            a system message for the chat template\n"
    "  --out FILE               --data: write the generations here\n"
    "  --json                   machine-readable output\n"
    "  --task TASK, --threads N\n"
    "See docs/evaluation.md.\n";

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
    size_t *off = malloc((r->n + 1) * sizeof *off);
    if (!off)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i <= r->n; i++)
        off[i] = i;
    ft_bleu_opts bo;
    ft_bleu_opts_default(&bo);
    ft_bleu_score b = {0};
    ft_rouge_score rg = {0};
    ft_squad_score sq = {0};
    const char *const *h = (const char *const *)r->hyp, *const *f = (const char *const *)r->ref;
    ft_status s = ft_metric_bleu(h, r->n, f, off, &bo, &b);
    if (s == FT_OK)
        s = ft_metric_rouge(h, r->n, f, off, false, &rg);
    if (s == FT_OK)
        s = ft_metric_squad(h, r->n, f, off, &sq);
    free(off);
    FT_TRY(s);
    if (json)
        printf("{\"n_examples\":%zu,\"bleu\":%.17g,\"rouge1\":%.17g,\"rouge2\":%.17g,\"rougeL\":%.17g,"
               "\"rougeLsum\":%.17g,\"exact_match\":%.17g,\"f1\":%.17g}\n",
               r->n, b.bleu, rg.rouge1, rg.rouge2, rg.rougeL, rg.rougeLsum, sq.exact_match, sq.f1);
    else
        printf("examples     %zu\nbleu         %.2f\nrouge1       %.4f\nrouge2       %.4f\nrougeL       %.4f\n"
               "rougeLsum    %.4f\nexact_match  %.2f\nf1           %.2f\n",
               r->n, b.bleu, rg.rouge1, rg.rouge2, rg.rougeL, rg.rougeLsum, sq.exact_match, sq.f1);
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
               *system = NULL, *outp = NULL;
    long max_new = 64, top_k = 0, seed = 42, threads = 0;
    double temp = 1, top_p = 1, rep = 1;
    bool sample = false, json = false, help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model},
                     {"adapter", FT_OPT_STR, &adapter},
                     {"prompt", FT_OPT_STR, &prompt},
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
    if (!model || (!prompt == !data) || max_new < 0 || top_k < 0 || threads < 0) {
        fprintf(stderr, "ftune generate: --model and one of --prompt / --data are required; counts must be >= 0 "
                        "(see ftune generate --help)\n");
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
    ft_status s = ft_gen_opts_check(&gc.sample);
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
            char *o = cJSON_PrintUnformatted(j);
            cJSON_Delete(j);
            if (o)
                printf("%s\n", o);
            cJSON_free(o);
        } else if (s == FT_OK) {
            printf("%s\n", g.text);
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
