#include <stdio.h>

#include "cli/cli.h"

int ft_cli_fail(const char *cmd, ft_status s) {
    fprintf(stderr, "ftune %s: %s\n", cmd, ft_last_error()[0] ? ft_last_error() : ft_status_name(s));
    return 1;
}

int ft_cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("ftune %s\n", FTUNE_VERSION);
    return 0;
}
