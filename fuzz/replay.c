/* main() for the fuzz targets in builds without libFuzzer: runs LLVMFuzzerTestOneInput once on every
 * file given, or on every file of a directory given (a missing directory is skipped; nothing replayed at
 * all is a failure). A crash or sanitizer report fails the ctest that runs it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || n < 0 || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fprintf(stderr, "%s: read failed\n", path);
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    int n = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0)
            continue; /* e.g. no fuzz/regress/<target> yet */
        if (!S_ISDIR(st.st_mode)) {
            bad += replay_file(argv[i]);
            n++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) {
            perror(argv[i]);
            return 1;
        }
        char **names = NULL;
        size_t k = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            if (k == cap) {
                cap = cap ? 2 * cap : 64;
                char **nn = realloc(names, cap * sizeof *names);
                if (!nn)
                    abort();
                names = nn;
            }
            names[k++] = strdup(e->d_name);
        }
        closedir(d);
        if (k)
            qsort(names, k, sizeof *names, cmp_str);
        for (size_t j = 0; j < k; j++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], names[j]);
            fprintf(stderr, "replay %s\n", p);
            bad += replay_file(p);
            n++;
            free(names[j]);
        }
        free(names);
    }
    printf("%d inputs replayed, %d unreadable\n", n, bad);
    return n == 0 || bad ? 1 : 0;
}
