#ifndef FT_CLI_H
#define FT_CLI_H

#include <stdbool.h>

#include "ftune.h"

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
/* `ftune predict`'s question-answering mode (cmd_predict_qa.c), entered from ft_cmd_predict. */
int ft_cmd_predict_qa(int argc, char **argv);
/* Its image-classification mode (predict_image.c), entered on --image. */
int ft_cmd_predict_image(int argc, char **argv);
/* Its seq2seq mode (predict_s2s.c): the text m generates from text, or from each row of the data file jsonl
 * (its source field); json: one {"source", "output"} object per input. Returns the exit status. */
int ft_cli_predict_seq2seq(ftune_ctx *ctx, ftune_model *m, const char *text, const char *jsonl, bool json);

/* Commands on the public API (util.c): a context for a command's calls with its --threads (0 = all cores),
 * NULL after printing why; "ftune <cmd>: <the context's last error>" on stderr, returning 1. */
ftune_ctx *ft_cli_ctx(const char *cmd, long threads);
int ft_cli_fail_ctx(const char *cmd, const ftune_ctx *ctx);
/* A model loaded through ctx with the load options lo, and its info (info may be NULL); NULL after printing
 * "ftune <cmd>: <why>". */
ftune_model *ft_cli_model(const char *cmd, ftune_ctx *ctx, const char *dir, const char *adapter,
                          const ftune_model_load_opts *lo, ftune_model_info *info);
/* A whole file into *out (NUL-terminated, free), 0; or 1 after printing "ftune <cmd>: <path>: why". */
int ft_cli_read_file(const char *cmd, const char *path, char **out);

/* Options: "--name value" or "--name=value"; flags: "--name". Positional args collected in order. */
typedef enum { FT_OPT_STR, FT_OPT_INT, FT_OPT_FLOAT, FT_OPT_FLAG } ft_opt_kind;
typedef struct {
    const char *name; /* without the leading "--" */
    ft_opt_kind kind;
    void *out;        /* const char **, long *, double *, bool * */
} ft_opt;
/* Parses argv[1..]; positional arguments go to pos (up to max_pos). Prints the usage text to stdout
 * and returns 0 with *help_shown = true on --help; returns 2 after printing an error on bad usage. */
int ft_cli_parse(const char *cmd, int argc, char **argv, const ft_opt *opts, size_t n_opts, const char *usage,
                 const char **pos, int max_pos, int *n_pos, bool *help_shown);

/* Print j (a cJSON object, may be NULL after a failed allocation) on one line and free it: 0, or 1 after
 * printing "ftune <cmd>: out of memory" (util.c). */
struct cJSON;
int ft_cli_json(const char *cmd, struct cJSON *j);

#endif
