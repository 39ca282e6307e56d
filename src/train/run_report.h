/* train/run_report: report.html of a run from its metrics.jsonl (so a resumed run's report covers the
 * whole run) plus the recipe, a parameter summary and a confusion matrix. */
#ifndef FT_RUN_REPORT_H
#define FT_RUN_REPORT_H

#include "eval/metrics.h"
#include "report/report_html.h"
#include "train/recipe.h"

/* Write <dir>/report.html. extra (nextra pairs) come first in the table, then every recipe key.
 * cls (may be NULL): the confusion matrix, with class names (may be NULL: ids). */
ft_status ft_run_report_write(const char *dir, const char *metrics_path, const ft_recipe *r, const ft_html_kv *extra,
                              size_t nextra, const ft_metric_cls *cls, const char *const *class_names);

#endif
