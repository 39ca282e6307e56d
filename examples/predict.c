/* examples/predict.c: load a base model plus a PEFT adapter and, for each line of stdin, print its
 * class and probability (a classification model, as `ftune classify`) or a greedy continuation streamed
 * token by token (a causal LM, as `ftune generate --prompt LINE`). Public API only (ftune.h).
 *
 *   cc predict.c $(pkg-config --cflags --libs ftune) -o predict
 *   ./predict BASE_DIR ADAPTER_DIR < lines.txt      (ADAPTER_DIR may be "-": the base alone) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftune.h>

static int print_piece(void *user, int32_t id, const char *piece) {
    (void)user;
    (void)id;
    fputs(piece, stdout);
    return 0; /* non-zero would stop the generation here */
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BASE_DIR ADAPTER_DIR|- < lines.txt\n", argv[0]);
        return 2;
    }
    ftune_ctx *ctx;
    if (ftune_ctx_new(&ctx) != FT_OK)
        return 1;
    ftune_model *m = NULL;
    ftune_model_info info;
    ftune_status s = ftune_model_load(ctx, argv[1], strcmp(argv[2], "-") ? argv[2] : NULL, &m);
    if (s == FT_OK)
        s = ftune_model_get_info(m, &info);
    const int classify = s == FT_OK && !strcmp(info.task, "classification");
    float *probs = s == FT_OK ? calloc((size_t)info.n_labels + 1, sizeof *probs) : NULL;
    char line[4096];
    while (s == FT_OK && fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (classify) {
            int label;
            s = ftune_classify(m, line, &label, probs, (size_t)info.n_labels);
            if (s == FT_OK)
                printf("%s\t%.6f\n", ftune_model_label(m, label), (double)probs[label]);
        } else {
            ftune_gen_opts o;
            ftune_gen_opts_init(&o); /* greedy, 64 new tokens */
            s = ftune_generate(m, line, &o, print_piece, NULL, NULL, NULL, NULL, NULL);
            printf("\n");
        }
    }
    if (s != FT_OK)
        fprintf(stderr, "predict: %s\n", ftune_last_error(ctx));
    free(probs);
    ftune_model_free(m);
    ftune_ctx_free(ctx);
    return s == FT_OK ? 0 : 1;
}
