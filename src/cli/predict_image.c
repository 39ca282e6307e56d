/* ftune predict --image: an image classifier's top classes for image files (docs/vision.md). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"

static const char *USAGE =
    "usage: ftune predict --model DIR [--adapter DIR] --image FILE [FILE ...] [--top K] [--json] [--threads "
    "N]\n"
    "\n"
    "An image classifier (task image_classification: a vit trained by ftune, or a ViTForImageClassification\n"
    "checkpoint) on PNG/JPEG files (an IDX file: its first image). Each image goes through the processor "
    "the\n"
    "model was trained with (the output's preprocessor_config.json: resize, rescale, normalize; no\n"
    "augmentation) and prints its name, then the K most probable classes (default 5), one\n"
    "'  class<TAB>probability' line each (softmax of the logits); --json: one object per image,\n"
    "{\"image\": FILE, \"label\": best, \"top\": [{\"label\": ..., \"prob\": ...}, ...]}.\n"
    "See docs/vision.md.\n";

static int by_prob(const void *a, const void *b, void *ctx) {
    const double *p = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    return p[i] < p[j] ? 1 : p[i] > p[j] ? -1 : (i > j) - (i < j);
}

int ft_cmd_predict_image(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *image = NULL;
    long threads = 0, top = 5;
    bool json = false, help;
    ft_opt opts[] = {{"model", FT_OPT_STR, &model}, {"adapter", FT_OPT_STR, &adapter},
                     {"image", FT_OPT_STR, &image}, {"top", FT_OPT_INT, &top},
                     {"json", FT_OPT_FLAG, &json},  {"threads", FT_OPT_INT, &threads}};
    const char *pos[4096];
    int npos = 0;
    int rc =
        ft_cli_parse("predict", argc, argv, opts, sizeof opts / sizeof *opts, USAGE, pos, 4096, &npos, &help);
    if (rc || help)
        return rc;
    if (!model || !image || top < 1 || threads < 0) {
        fprintf(stderr, "ftune predict: --model and --image FILE are required, --top >= 1 (see ftune predict "
                        "--image x --help)\n");
        return 2;
    }
    ftune_ctx *ctx = ft_cli_ctx("predict", threads);
    if (!ctx)
        return 1;
    ftune_model *m = NULL;
    ftune_model_info info;
    ftune_model_load_opts lo;
    ftune_model_load_opts_init(&lo);
    lo.head_task = 0; /* the command's rule: ftune_train.json's task, else the model type's */
    ftune_status s = ftune_model_load_with(ctx, model, adapter, &lo, &m);
    if (s == FT_OK)
        s = ftune_model_get_info(m, &info);
    if (s != FT_OK) {
        ft_cli_fail_ctx("predict", ctx);
        ftune_model_free(m);
        ftune_ctx_free(ctx);
        return 1;
    }
    /* an image classifier: a vit (the loader checked that its task has the head) that does not regress */
    if (strcmp(info.model_type, "vit") != 0 || !strcmp(info.task, "regression")) {
        fprintf(stderr,
                "ftune predict: %s: --image needs an image classifier (a vit with a classification head)\n",
                model);
        ftune_model_free(m);
        ftune_ctx_free(ctx);
        return 1;
    }
    const int K = info.n_labels;
    double *pr = malloc((size_t)(K > 0 ? K : 1) * sizeof *pr);
    int *ord = malloc((size_t)(K > 0 ? K : 1) * sizeof *ord);
    rc = 0;
    if (!pr || !ord) {
        fprintf(stderr, "ftune predict: out of memory\n");
        rc = 1;
    }
    for (int f = -1; !rc && f < npos; f++) {
        const char *path = f < 0 ? image : pos[f];
        int best = -1;
        if (ftune_classify_image_f64(m, path, &best, pr, (size_t)K) != FT_OK) {
            rc = ft_cli_fail_ctx("predict", ctx);
            break;
        }
        for (int k = 0; k < K; k++)
            ord[k] = k;
        qsort_r(ord, (size_t)K, sizeof *ord, by_prob, pr);
        const int n = top < K ? (int)top : K;
        if (json) {
            cJSON *j = cJSON_CreateObject(), *arr = cJSON_CreateArray();
            cJSON_AddStringToObject(j, "image", path);
            cJSON_AddStringToObject(j, "label", ftune_model_label(m, best));
            for (int k = 0; k < n; k++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "label", ftune_model_label(m, ord[k]));
                cJSON_AddNumberToObject(e, "prob", pr[ord[k]]);
                cJSON_AddItemToArray(arr, e);
            }
            cJSON_AddItemToObject(j, "top", arr);
            rc = ft_cli_json("predict", j);
        } else {
            printf("%s\n", path);
            for (int k = 0; k < n; k++)
                printf("  %s\t%.4f\n", ftune_model_label(m, ord[k]), pr[ord[k]]);
        }
    }
    free(pr);
    free(ord);
    ftune_model_free(m);
    ftune_ctx_free(ctx);
    return rc;
}
