/* train/trained_image: a trained image classifier (vit) on one image file or an image set: what `ftune
 * predict --image` and `ftune eval` use for task image_classification (docs/vision.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "train/img_task.h"
#include "train/trained.h"
#include "train/trainer.h"

ft_status ft_trained_classify_image(ft_trained *t, const char *path, float *logits, double *probs,
                                    int *best) {
    if (!t->image || t->m->task != FT_TASK_SEQ_CLS)
        return ft_fail(FT_ERR_CONFIG, "not an image classifier (a vit with a classification head)");
    const ft_img_proc *p = &t->img_proc;
    const int C = t->m->cfg.num_channels;
    ft_img im;
    FT_TRY(ft_img_load(path, &im, NULL));
    ft_batch b = {.B = 1, .img_c = C, .img_h = p->height, .img_w = p->width};
    b.pixel_values = malloc((size_t)C * (size_t)p->height * (size_t)p->width * sizeof(float));
    ft_status s = b.pixel_values ? ft_img_preprocess(&im, p, C, NULL, 0, 0, 0, b.pixel_values)
                                 : ft_fail(FT_ERR_NOMEM, "out of memory");
    if (s != FT_OK)
        s = ft_fail_ctx(s, "%s", path);
    ft_img_free(&im);
    ft_arena arena = {0};
    if (s == FT_OK)
        s = ft_arena_init(&arena, ft_model_act_bytes(t->m, 1, t->seq_len) + ((size_t)1 << 20));
    if (s == FT_OK) {
        ft_fwd_opts o = {.keep_logits = true, .no_loss = true};
        ft_acts *a = NULL;
        double loss;
        int64_t cnt, rows = 0, cols = 0;
        s = ft_model_forward(t->m, &b, &o, &arena, &a, &loss, &cnt);
        const float *lg = s == FT_OK ? ft_acts_logits(a, &rows, &cols) : NULL;
        if (s == FT_OK && (!lg || rows != 1 || cols != t->n_labels))
            s = ft_fail(FT_ERR_INTERNAL, "image classifier: logits [%lld, %lld], expected [1, %d]",
                        (long long)rows, (long long)cols, t->n_labels);
        if (s == FT_OK) {
            double mx = -INFINITY, sum = 0.0;
            *best = 0;
            for (int k = 0; k < t->n_labels; k++) {
                logits[k] = lg[k];
                if (lg[k] > mx)
                    mx = lg[k], *best = k;
            }
            for (int k = 0; k < t->n_labels; k++)
                sum += (probs[k] = exp((double)lg[k] - mx));
            for (int k = 0; k < t->n_labels; k++)
                probs[k] /= sum;
        }
        ft_arena_free(&arena);
    }
    free(b.pixel_values);
    return s;
}

ft_status ft_trained_eval_images(ft_trained *t, const char *data, int batch_size, ft_eval_result *res,
                                 size_t *n_examples) {
    if (t->m->task != FT_TASK_SEQ_CLS)
        return ft_fail(FT_ERR_UNSUPPORTED, "%s: evaluating an image model without a classification head",
                       data);
    ft_img_dataset set;
    FT_TRY(ft_imgtask_read(&t->rec, data, NULL, &set));
    ft_img_source src = {.set = &set, .proc = t->img_proc, .channels = t->m->cfg.num_channels};
    ft_dataset ds = {0};
    ft_status s = ft_imgtask_name_classes(&t->rec, data, &set);
    if (s == FT_OK)
        s = ft_imgtask_dataset(&set, t->label_names, t->n_labels, data, &src, &ds);
    ft_arena arena = {0};
    if (s == FT_OK)
        s = ft_arena_init(&arena, ft_model_act_bytes(t->m, batch_size, t->seq_len) + ((size_t)4 << 20));
    if (s == FT_OK) {
        s = ft_train_evaluate(t->m, &ds, batch_size, t->seq_len, t->pad_id, &arena, res);
        if (s == FT_OK && !res->has_cls) {
            ft_eval_result_free(res);
            s = ft_fail(FT_ERR_INTERNAL, "no classification predictions were made");
        }
        ft_arena_free(&arena);
    }
    if (s == FT_OK)
        *n_examples = ds.n;
    ft_dataset_free(&ds);
    ft_img_dataset_free(&set);
    return s;
}
