/* ftune predict --image: an image classifier's top classes for image files (docs/vision.md). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "train/trained.h"

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
    ft_cli_threads(threads);
    ft_trained t;
    ft_status s = ft_trained_load(model, adapter, NULL, false, &t);
    if (s != FT_OK)
        return ft_cli_fail("predict", s);
    if (!t.image || t.m->task != FT_TASK_SEQ_CLS)
        s = ft_fail(FT_ERR_CONFIG, "%s: --image needs an image classifier (a vit with a classification head)",
                    model);
    const int K = t.n_labels;
    float *lg = malloc((size_t)(K > 0 ? K : 1) * sizeof *lg);
    double *pr = malloc((size_t)(K > 0 ? K : 1) * sizeof *pr);
    int *ord = malloc((size_t)(K > 0 ? K : 1) * sizeof *ord);
    if (s == FT_OK && (!lg || !pr || !ord))
        s = ft_fail(FT_ERR_NOMEM, "out of memory");
    for (int f = -1; s == FT_OK && f < npos; f++) {
        const char *path = f < 0 ? image : pos[f];
        int best = -1;
        s = ft_trained_classify_image(&t, path, lg, pr, &best);
        if (s != FT_OK)
            break;
        for (int k = 0; k < K; k++)
            ord[k] = k;
        qsort_r(ord, (size_t)K, sizeof *ord, by_prob, pr);
        const int n = top < K ? (int)top : K;
        if (json) {
            cJSON *j = cJSON_CreateObject(), *arr = cJSON_CreateArray();
            cJSON_AddStringToObject(j, "image", path);
            cJSON_AddStringToObject(j, "label", t.label_names[best]);
            for (int k = 0; k < n; k++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "label", t.label_names[ord[k]]);
                cJSON_AddNumberToObject(e, "prob", pr[ord[k]]);
                cJSON_AddItemToArray(arr, e);
            }
            cJSON_AddItemToObject(j, "top", arr);
            s = ft_cli_print_json(j);
        } else {
            printf("%s\n", path);
            for (int k = 0; k < n; k++)
                printf("  %s\t%.4f\n", t.label_names[ord[k]], pr[ord[k]]);
        }
    }
    free(lg);
    free(pr);
    free(ord);
    ft_trained_free(&t);
    return s == FT_OK ? 0 : ft_cli_fail("predict", s);
}
