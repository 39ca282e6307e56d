/* ftune: the command-line front end, a thin layer over libftune. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const ft_cli_command commands[] = {
#define FT_CLI_CMD(name, fn, help) {name, fn, help},
#include "cli/commands.def"
#undef FT_CLI_CMD
};

static void usage(FILE *f) {
    fprintf(f, "ftune %s — fine-tune pretrained models on the CPU\n\nusage: ftune <command> [options]\n\ncommands:\n",
            FTUNE_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'ftune <command> --help' describes each command.\n");
}

int main(int argc, char **argv) {
    /* A file that outgrows RLIMIT_FSIZE would kill us with SIGXFSZ mid-write; ignored, the write fails
     * with EFBIG instead and the writer reports it, naming the file (and a checkpoint in progress is
     * cleaned up, the previous one left as it was). */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ftune %s\n", FTUNE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ftune: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
