/* ftune tokenize: text lines (or JSONL) from stdin -> ids/tokens, or back with --decode. A client of the
 * public API only (include/ftune.h): ftune_encode / ftune_decode / ftune_token_text. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ftune.h"

static const char usage_text[] =
    "usage: ftune tokenize --tokenizer DIR [--ids|--tokens] [--special] [--offsets|--byte-offsets]\n"
    "                      [--jsonl] [--max-length N]\n"
    "       ftune tokenize --tokenizer DIR --decode [--skip-special] [--jsonl]\n"
    "Reads stdin line by line.\n"
    "  --tokenizer DIR  directory with tokenizer.json (or encoder.json + vocab.bpe, or vocab.txt) or file\n"
    "                   (models BPE, WordPiece, Unigram, WordLevel: docs/tokenizers.md lists what loads)\n"
    "  --ids            print ids separated by spaces (default)\n"
    "  --tokens         print token strings separated by spaces (an unknown piece prints as the\n"
    "                   unk token, where HF's Unigram shows the text it covers)\n"
    "  --special        add the special tokens the post-processor adds (BOS/EOS/CLS/SEP)\n"
    "  --offsets        also print where each token comes from: [start, end) in characters (code\n"
    "                   points) of the input text, as Hugging Face tokenizers' offsets; (0, 0) for\n"
    "                   the special tokens --special adds. Plain output: ID@START:END (TOKEN@START:END\n"
    "                   with --tokens); JSONL: an \"offsets\" field\n"
    "  --byte-offsets   the same in bytes of the UTF-8 text\n"
    "  --jsonl          input lines {\"text\": ...}, output {\"ids\": [...], \"tokens\": [...]};\n"
    "                   an input \"text_pair\" string encodes the pair (text, text_pair) and adds\n"
    "                   \"type_ids\" (offsets of each sequence count from its own start);\n"
    "                   with --decode input {\"ids\": [...]}, output {\"text\": ...}\n"
    "  --decode         ids (space-separated, or JSONL) -> text\n"
    "  --skip-special   with --decode: leave special tokens out\n"
    "  --max-length N   cut each text (or pair) to N tokens as Hugging Face tokenizers' truncation\n"
    "                   (longest_first, right) does: the special tokens --special adds count and stay;\n"
    "                   a pair gives up tokens of its longer text first (how ftune cuts text pairs for\n"
    "                   training, data.text_pair_field)\n"
    "Input must be UTF-8; a line that is not fails with its line number.\n";

/* ---- a small JSON reader for one line: an object whose "text" is a string or "ids" an int array ---- */
typedef struct {
    const char *p, *end;
} jr;

static void ws(jr *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n'))
        r->p++;
}

static int hex4(const char *p, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9') *v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') *v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') *v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    return 0;
}

static void put_utf8(char **o, unsigned cp) {
    unsigned char *u = (unsigned char *)*o;
    if (cp < 0x80) *u++ = (unsigned char)cp;
    else if (cp < 0x800) { *u++ = (unsigned char)(0xC0 | (cp >> 6)); *u++ = (unsigned char)(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
        *u++ = (unsigned char)(0xE0 | (cp >> 12)); *u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *u++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *u++ = (unsigned char)(0xF0 | (cp >> 18)); *u++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); *u++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *o = (char *)u;
}

/* Parse a JSON string at r->p into out (malloc'd, may hold NULs); NULL on error (*err set). */
static char *jstring(jr *r, size_t *len, const char **err) {
    if (r->p >= r->end || *r->p != '"') {
        *err = "expected a string";
        return NULL;
    }
    r->p++;
    char *out = malloc((size_t)(r->end - r->p) + 4), *o = out;
    if (!out) {
        *err = "out of memory";
        return NULL;
    }
    while (r->p < r->end && *r->p != '"') {
        char c = *r->p++;
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        if (r->p >= r->end)
            break;
        c = *r->p++;
        unsigned v, v2;
        switch (c) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case '/': case '\\': case '"': *o++ = c; break;
        case 'u':
            if (r->end - r->p < 4 || hex4(r->p, &v)) {
                free(out);
                *err = "bad \\u escape";
                return NULL;
            }
            r->p += 4;
            if (v >= 0xD800 && v < 0xDC00 && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u' &&
                !hex4(r->p + 2, &v2) && v2 >= 0xDC00 && v2 < 0xE000) {
                v = 0x10000 + ((v - 0xD800) << 10) + (v2 - 0xDC00);
                r->p += 6;
            } else if (v >= 0xD800 && v < 0xE000) {
                free(out);
                *err = "lone surrogate in \\u escape (not valid UTF-8)";
                return NULL;
            }
            put_utf8(&o, v);
            break;
        default:
            free(out);
            *err = "bad escape";
            return NULL;
        }
    }
    if (r->p >= r->end) {
        free(out);
        *err = "unterminated string";
        return NULL;
    }
    r->p++;
    *len = (size_t)(o - out);
    *o = 0;
    return out;
}

/* Skip any JSON value (for keys we do not use). */
static int jskip(jr *r) {
    ws(r);
    if (r->p >= r->end)
        return -1;
    if (*r->p == '"') {
        const char *err;
        size_t l;
        char *s = jstring(r, &l, &err);
        free(s);
        return s ? 0 : -1;
    }
    if (*r->p == '{' || *r->p == '[') {
        int depth = 0;
        while (r->p < r->end) {
            if (*r->p == '"') {
                if (jskip(r))
                    return -1;
                continue;
            }
            if (*r->p == '{' || *r->p == '[')
                depth++;
            else if (*r->p == '}' || *r->p == ']') {
                if (--depth == 0) {
                    r->p++;
                    return 0;
                }
            }
            r->p++;
        }
        return -1;
    }
    while (r->p < r->end && *r->p != ',' && *r->p != '}' && *r->p != ']')
        r->p++;
    return 0;
}

typedef struct {
    char *text, *pair;
    size_t len, pair_len;
    int32_t *ids;
    size_t nids;
    bool has_text, has_ids;
} jline;

static const char *parse_line(const char *s, size_t n, jline *L) {
    memset(L, 0, sizeof *L);
    jr r = {s, s + n};
    const char *err = NULL;
    ws(&r);
    if (r.p >= r.end || *r.p != '{')
        return "expected a JSON object";
    r.p++;
    for (;;) {
        ws(&r);
        if (r.p < r.end && *r.p == '}')
            break;
        size_t kl;
        char *key = jstring(&r, &kl, &err);
        if (!key)
            return err;
        ws(&r);
        if (r.p >= r.end || *r.p != ':') {
            free(key);
            return "expected ':'";
        }
        r.p++;
        ws(&r);
        if (!strcmp(key, "text") && r.p < r.end && *r.p == '"') {
            free(L->text);
            L->text = jstring(&r, &L->len, &err);
            if (!L->text) {
                free(key);
                return err;
            }
            L->has_text = true;
        } else if (!strcmp(key, "text_pair") && r.p < r.end && *r.p == '"') {
            free(L->pair);
            L->pair = jstring(&r, &L->pair_len, &err);
            if (!L->pair) {
                free(key);
                return err;
            }
        } else if (!strcmp(key, "ids") && r.p < r.end && *r.p == '[') {
            r.p++;
            size_t cap = 16;
            free(L->ids);
            L->ids = malloc(cap * sizeof *L->ids);
            L->nids = 0;
            for (;;) {
                ws(&r);
                if (r.p < r.end && *r.p == ']') {
                    r.p++;
                    break;
                }
                char *e;
                long v = strtol(r.p, &e, 10);
                if (e == r.p || e > r.end) {
                    free(key);
                    return "ids must be an array of integers";
                }
                r.p = e;
                if (L->nids == cap) {
                    cap *= 2;
                    int32_t *q = realloc(L->ids, cap * sizeof *q);
                    if (!q) {
                        free(key);
                        return "out of memory";
                    }
                    L->ids = q;
                }
                L->ids[L->nids++] = (int32_t)v;
                ws(&r);
                if (r.p < r.end && *r.p == ',')
                    r.p++;
            }
            L->has_ids = true;
        } else if (jskip(&r)) {
            free(key);
            return "malformed JSON value";
        }
        free(key);
        ws(&r);
        if (r.p < r.end && *r.p == ',') {
            r.p++;
            continue;
        }
        if (r.p < r.end && *r.p == '}')
            break;
        return "expected ',' or '}'";
    }
    return NULL;
}

static void put_json_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') fputs("\\\"", f);
        else if (c == '\\') fputs("\\\\", f);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

int ft_cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL;
    bool tokens = false, special = false, jsonl = false, decode = false, skip = false, offsets = false;
    int unit = FTUNE_OFFSETS_CHARS;
    size_t max_length = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--ids"))
            tokens = false;
        else if (!strcmp(argv[i], "--tokens"))
            tokens = true;
        else if (!strcmp(argv[i], "--special"))
            special = true;
        else if (!strcmp(argv[i], "--offsets"))
            offsets = true, unit = FTUNE_OFFSETS_CHARS;
        else if (!strcmp(argv[i], "--byte-offsets"))
            offsets = true, unit = FTUNE_OFFSETS_BYTES;
        else if (!strcmp(argv[i], "--jsonl"))
            jsonl = true;
        else if (!strcmp(argv[i], "--decode"))
            decode = true;
        else if (!strcmp(argv[i], "--skip-special"))
            skip = true;
        else if (!strcmp(argv[i], "--max-length") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000000000) {
                fprintf(stderr, "ftune tokenize: --max-length '%s' is not a positive integer\n", argv[i]);
                return 2;
            }
            max_length = (size_t)v;
        } else {
            fprintf(stderr, "ftune tokenize: unknown option '%s'\n%s", argv[i], usage_text);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "ftune tokenize: --tokenizer DIR is required\n%s", usage_text);
        return 2;
    }
    ftune_ctx *ctx;
    if (ftune_ctx_new(&ctx) != FT_OK) {
        fputs("ftune tokenize: out of memory\n", stderr);
        return 1;
    }
    ftune_tokenizer *tok;
    ftune_status st = ftune_tokenizer_load(ctx, dir, &tok);
    if (st != FT_OK) {
        fprintf(stderr, "ftune tokenize: %s\n", ftune_last_error(ctx));
        ftune_ctx_free(ctx);
        return 1;
    }
    ftune_encode_opts eo;
    ftune_encode_opts_init(&eo);
    eo.add_special = special;
    eo.offsets = offsets ? unit : FTUNE_OFFSETS_NONE;
    eo.max_length = max_length;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    ftune_encoding ids = {0};
    int rc = 0;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        if (n && line[n - 1] == '\n')
            n--;
        jline L = {0};
        const char *text = line;
        size_t tlen = n;
        if (jsonl) {
            const char *err = parse_line(line, n, &L);
            if (!err && !(decode ? L.has_ids : L.has_text))
                err = decode ? "no \"ids\" array" : "no \"text\" string";
            if (err) {
                fprintf(stderr, "ftune tokenize: stdin line %zu: %s\n", lineno, err);
                free(L.text), free(L.pair), free(L.ids);
                rc = 1;
                break;
            }
            text = L.text;
            tlen = L.len;
        }
        if (decode) {
            if (!jsonl) { /* space-separated ids */
                size_t c2 = 16;
                L.ids = malloc(c2 * sizeof *L.ids);
                char *p = line, *e;
                line[n] = 0;
                for (;;) {
                    long v = strtol(p, &e, 10);
                    if (e == p)
                        break;
                    if (L.nids == c2) {
                        c2 *= 2;
                        L.ids = realloc(L.ids, c2 * sizeof *L.ids);
                    }
                    L.ids[L.nids++] = (int32_t)v;
                    p = e;
                }
            }
            char *out;
            size_t olen;
            st = ftune_decode(tok, L.ids, L.nids, skip, &out, &olen);
            if (st == FT_OK) {
                if (jsonl) {
                    fputs("{\"text\": ", stdout);
                    put_json_string(stdout, out, olen);
                    fputs("}\n", stdout);
                } else {
                    fwrite(out, 1, olen, stdout);
                    fputc('\n', stdout);
                }
                ftune_free(out);
            }
        } else {
            ftune_encoding_free(&ids);
            st = ftune_encode(tok, text, tlen, L.pair, L.pair ? L.pair_len : 0, &eo, &ids);
            if (st == FT_OK) {
                if (jsonl) {
                    fputs("{\"ids\": [", stdout);
                    for (size_t i = 0; i < ids.n; i++)
                        printf(i ? ", %d" : "%d", (int)ids.ids[i]);
                    fputs("], \"tokens\": [", stdout);
                    for (size_t i = 0; i < ids.n; i++) {
                        size_t tl = 0;
                        const char *ts = ftune_token_text(tok, ids.ids[i], &tl);
                        if (i)
                            fputs(", ", stdout);
                        put_json_string(stdout, ts ? ts : "", tl);
                    }
                    fputc(']', stdout);
                    if (L.pair) {
                        fputs(", \"type_ids\": [", stdout);
                        for (size_t i = 0; i < ids.n; i++)
                            printf(i ? ", %d" : "%d", (int)ids.type_ids[i]);
                        fputc(']', stdout);
                    }
                    if (offsets) {
                        fputs(", \"offsets\": [", stdout);
                        for (size_t i = 0; i < ids.n; i++) {
                            printf(i ? ", [%zu, %zu]" : "[%zu, %zu]", ids.offsets[2 * i],
                                   ids.offsets[2 * i + 1]);
                        }
                        fputc(']', stdout);
                    }
                    fputs("}\n", stdout);
                } else {
                    for (size_t i = 0; i < ids.n; i++) {
                        if (i)
                            fputc(' ', stdout);
                        if (tokens) {
                            size_t tl = 0;
                            const char *ts = ftune_token_text(tok, ids.ids[i], &tl);
                            fwrite(ts ? ts : "", 1, tl, stdout);
                        } else
                            printf("%d", (int)ids.ids[i]);
                        if (offsets)
                            printf("@%zu:%zu", ids.offsets[2 * i], ids.offsets[2 * i + 1]);
                    }
                    fputc('\n', stdout);
                }
            }
        }
        free(L.text);
        free(L.pair);
        free(L.ids);
        if (st != FT_OK) {
            fprintf(stderr, "ftune tokenize: stdin line %zu: %s\n", lineno, ftune_last_error(ctx));
            rc = 1;
            break;
        }
    }
    free(line);
    ftune_encoding_free(&ids);
    ftune_tokenizer_free(tok);
    ftune_ctx_free(ctx);
    if (fflush(stdout) != 0)
        rc = 1;
    return rc;
}
