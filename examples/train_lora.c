/* examples/train_lora.c: LoRA-fine-tune a model on a JSONL file and save the adapter, through the
 * public API only (ftune.h).
 *
 *   cc train_lora.c $(pkg-config --cflags --libs ftune) -o train_lora
 *   ./train_lora BASE_DIR train.jsonl OUT_DIR [key=value ...]
 *
 * The run is a recipe (YAML text here) plus key=value overrides, the same keys as `ftune train`
 * (e.g. task=causal_lm lora.r=4 train.max_steps=50). It is stepped one optimizer step at a time so the
 * program draws its own progress; the adapter lands in OUT_DIR in PEFT's format, next to
 * ftune_train.json, which lets `ftune eval/classify/generate` or ftune_model_load use it. */
#include <stdio.h>
#include <stdlib.h>

#include <ftune.h>

static const char *RECIPE = "task: classification\n"
                            "method: lora\n"
                            "lora: {r: 8, alpha: 16}\n"
                            "train: {max_steps: 60, batch_size: 8, seq_len: 16}\n"
                            "optim: {lr: 3e-3}\n"
                            "data: {val_ratio: 0.1, test_ratio: 0}\n"
                            "report: {tensorboard: false}\n";

static void on_progress(void *user, const ftune_progress *p) {
    (void)user;
    if (p->step % 10 == 0 || p->step == p->max_steps)
        printf("step %lld/%lld loss %.4f lr %.2e\n", (long long)p->step, (long long)p->max_steps, p->loss,
               p->lr);
}

static void on_eval(void *user, int64_t step, const ftune_metric *m, size_t n) {
    (void)user;
    printf("eval at step %lld:", (long long)step);
    for (size_t i = 0; i < n; i++)
        printf(" %s %.4f", m[i].name, m[i].value);
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s BASE_DIR train.jsonl OUT_DIR [key=value ...]\n", argv[0]);
        return 2;
    }
    char model[4200], data[4200], out[4200];
    snprintf(model, sizeof model, "model=%s", argv[1]);
    snprintf(data, sizeof data, "data.train=%s", argv[2]);
    snprintf(out, sizeof out, "output_dir=%s", argv[3]);
    const char *over[64] = {model, data, out};
    size_t n_over = 3;
    for (int i = 4; i < argc && n_over < 64; i++)
        over[n_over++] = argv[i];

    ftune_ctx *ctx;
    if (ftune_ctx_new(&ctx) != FT_OK)
        return 1;
    ftune_trainer *tr = NULL;
    ftune_status s = ftune_trainer_new(ctx, NULL, RECIPE, over, n_over, &tr);
    if (s == FT_OK)
        s = ftune_trainer_set_callbacks(tr, on_progress, NULL, on_eval, NULL);
    int done = 0;
    while (s == FT_OK && !done)
        s = ftune_trainer_step(tr, &done);
    if (s == FT_OK) {
        ftune_trainer_info info;
        ftune_trainer_get_info(tr, &info);
        printf("trained %lld steps, loss %.4f -> %.4f; adapter in %s\n", (long long)info.step,
               info.first_loss, info.last_loss, info.output_dir);
    }
    if (s != FT_OK)
        fprintf(stderr, "train_lora: %s: %s\n", ftune_status_name(s), ftune_last_error(ctx));
    ftune_trainer_free(tr);
    ftune_ctx_free(ctx);
    return s == FT_OK ? 0 : 1;
}
