/* The helpers of the commands not yet on the public API alone (issue 17): they read the library's
 * thread-local error and set the OpenMP threads directly. This file goes when the last of them moves;
 * commands on ftune.h use ft_cli_fail_ctx, ft_cli_ctx and ft_cli_json (util.c) instead. */
#include <stdio.h>

#include "cli/cli.h"
#include "core/core.h"

#include <cjson/cJSON.h>

int ft_cli_fail(const char *cmd, ft_status s) {
    fprintf(stderr, "ftune %s: %s\n", cmd, ft_last_error()[0] ? ft_last_error() : ft_status_name(s));
    return 1;
}

void ft_cli_threads(long threads) {
    ft_ctx ctx;
    ft_ctx_default(&ctx);
    if (threads > 0)
        ctx.threads = (int)threads;
    ft_ctx_apply(&ctx);
}

ft_status ft_cli_print_json(cJSON *j) {
    char *out = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!out)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    printf("%s\n", out);
    cJSON_free(out);
    return FT_OK;
}
