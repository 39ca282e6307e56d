#ifndef FT_CLI_H
#define FT_CLI_H

#include "core/core.h"

/* Each command is `int ft_cmd_<name>(int argc, char **argv)` with argv[0] = the command name;
 * it returns the process exit status (0 ok, 1 failure, 2 usage). */
typedef int (*ft_cli_fn)(int argc, char **argv);
typedef struct {
    const char *name;
    ft_cli_fn fn;
    const char *help;
} ft_cli_command;

#define FT_CLI_CMD(name, fn, help) int fn(int argc, char **argv);
#include "cli/commands.def"
#undef FT_CLI_CMD

/* Print "ftune <cmd>: <message of last error>" to stderr and return 1. */
int ft_cli_fail(const char *cmd, ft_status s);

#endif
