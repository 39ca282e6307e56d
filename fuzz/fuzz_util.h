/* Helpers shared by the fuzz targets (header-only: each target is one executable).
 * Inputs that a parser reads from a path go to a file in one private temporary directory per process,
 * removed at exit. */
#ifndef FT_FUZZ_UTIL_H
#define FT_FUZZ_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char ftfz_dir[64] __attribute__((unused));
static volatile unsigned ftfz_sink
    __attribute__((unused)); /* keeps reads of accepted data from being optimized away */

static inline void ftfz_cleanup(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ftfz_dir);
    if (ftfz_dir[0] && system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", ftfz_dir);
}

/* The process's scratch directory (created on first use). */
static inline const char *ftfz_tmpdir(void) {
    if (!ftfz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(ftfz_dir, sizeof ftfz_dir, "%.40s/ftfuzz-XXXXXX", t && *t && strlen(t) < 40 ? t : "/tmp");
        if (!mkdtemp(ftfz_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(ftfz_cleanup);
    }
    return ftfz_dir;
}

/* Writes data to <tmpdir>/<name> and returns that path (static buffer). */
static inline const char *ftfz_write(const char *name, const void *data, size_t size) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", ftfz_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* A NUL-terminated copy of the input (free it). */
static inline char *ftfz_str(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}
#endif
