/* TEMPORARY weak fallback for ft_model_set_task (declared in models/model.h, implemented by the models
 * module); the strong definition wins at link time. Only the causal-LM task is available here.
 * Delete this file once src/models/ implements it. */
#include "models/model.h"

__attribute__((weak)) ft_status ft_model_set_task(ft_model *m, ft_task task, int n_labels,
                                                  const char *const *label_names, uint64_t seed) {
    (void)n_labels;
    (void)label_names;
    (void)seed;
    if (task == FT_TASK_CAUSAL_LM) {
        m->task = task;
        return FT_OK;
    }
    return ft_fail(FT_ERR_UNSUPPORTED, "classification/regression heads are not available in this build");
}
