/* bench/tokenize: single-threaded encode throughput (MB/s) per tokenizer type, plain and with character
 * offsets (ft_tok_encode_offsets).
 * usage: tokenize [TEXT_FILE] — tokenizers from $FT_SRC/.cache/tok (scripts/fetch-fixtures.sh);
 * without TEXT_FILE, ~16 MB of English built from the licence texts in /usr/share/common-licenses. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "tokenizer/tokenizer.h"

static char *english(size_t want, size_t *len) {
    const char *dir = "/usr/share/common-licenses";
    char *text = malloc(want + (1u << 20));
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    char *files[64];
    size_t nf = 0;
    while (d && (e = readdir(d)) && nf < 64)
        if (e->d_name[0] != '.') {
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            char *buf;
            size_t bl;
            if (ft_read_file(p, &buf, &bl) == FT_OK)
                files[nf++] = buf;
        }
    if (d)
        closedir(d);
    while (nf && n < want)
        for (size_t i = 0; i < nf && n < want; i++) {
            size_t l = strlen(files[i]);
            if (n + l > want + (1u << 20) - 1)
                l = want + (1u << 20) - 1 - n;
            memcpy(text + n, files[i], l);
            n += l;
        }
    for (size_t i = 0; i < nf; i++)
        free(files[i]);
    *len = n;
    return text;
}

int main(int argc, char **argv) {
    const char *src = getenv("FT_SRC");
    char base[1024];
    snprintf(base, sizeof base, "%s/.cache/tok", src ? src : ".");
    size_t len = 0;
    char *text = NULL;
    if (argc > 1) {
        if (ft_read_file(argv[1], &text, &len) != FT_OK) {
            fprintf(stderr, "%s\n", ft_last_error());
            return 1;
        }
    } else
        text = english(16u << 20, &len);
    if (!len) {
        fprintf(stderr, "no text\n");
        return 1;
    }
    static const char *const names[][2] = {{"gpt2", "byte-level BPE (GPT-2)"}, {"llama3", "byte-level BPE (Llama-3)"},
                                           {"qwen3", "byte-level BPE (Qwen3)"},  {"mistral", "SentencePiece BPE (Mistral)"},
                                           {"gemma3", "SentencePiece BPE (Gemma-3)"}, {"bert", "WordPiece (BERT)"},
                                           {"albert", "Unigram + Precompiled (ALBERT)"}};
    printf("text: %.1f MB\n", (double)len / 1e6);
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/%s", base, names[k][0]);
        ft_tok_ids ids = {0};
        double dt[2] = {0, 0};
        size_t ntok[2] = {0, 0};
        bool ok = true;
        for (int mode = 0; mode < 2 && ok; mode++) { /* a fresh tokenizer each time: both start cold */
            ft_tokenizer *t;
            if (ft_tok_load(dir, &t) != FT_OK) {
                printf("%-30s skipped (%s)\n", names[k][1], ft_last_error());
                ok = false;
                break;
            }
            double t0 = ft_now();
            /* line by line, as a data pipeline feeds it */
            for (size_t i = 0; i < len;) {
                const char *nl = memchr(text + i, '\n', len - i);
                size_t l = nl ? (size_t)(nl - (text + i)) + 1 : len - i;
                ft_status st = mode ? ft_tok_encode_offsets(t, text + i, l, false, FT_TOK_OFFSETS_CHARS, &ids)
                                    : ft_tok_encode(t, text + i, l, false, &ids);
                if (st != FT_OK) {
                    fprintf(stderr, "%s\n", ft_last_error());
                    break;
                }
                ntok[mode] += ids.n;
                i += l;
            }
            dt[mode] = ft_now() - t0;
            ft_tok_free(t);
        }
        if (ok)
            printf("%-30s %7.1f MB/s  (%zu tokens, %.2f s); with offsets %7.1f MB/s\n", names[k][1],
                   (double)len / 1e6 / dt[0], ntok[0], dt[0], (double)len / 1e6 / dt[1]);
        if (ok && ntok[0] != ntok[1])
            printf("  token counts differ with offsets: %zu vs %zu\n", ntok[0], ntok[1]);
        ft_tok_ids_free(&ids);
    }
    free(text);
    return 0;
}
