/* Minimal test harness: each test file defines tests with FT_TEST and runs them in main via
 * FT_RUN; the closing line is "N passed, N failed" (the form CI reads). */
#ifndef FT_TEST_H
#define FT_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ft_t_passed, ft_t_failed, ft_t_cur_failed;
static const char *ft_t_name;

#define FT_CHECK(cond)                                                                  \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s\n", __FILE__, __LINE__, ft_t_name, #cond); \
            ft_t_cur_failed = 1;                                                        \
        }                                                                               \
    } while (0)

#define FT_CHECKF(cond, ...)                                                            \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s: ", __FILE__, __LINE__, ft_t_name, #cond); \
            fprintf(stderr, __VA_ARGS__);                                               \
            fprintf(stderr, "\n");                                                      \
            ft_t_cur_failed = 1;                                                        \
        }                                                                               \
    } while (0)

/* Assert a call returned FT_OK, printing ft_last_error() otherwise. */
#define FT_CHECK_OK(expr)                                                               \
    do {                                                                                \
        ft_status ft_t_s = (expr);                                                      \
        if (ft_t_s != FT_OK) {                                                          \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s -> %s: %s\n", __FILE__, __LINE__, ft_t_name, \
                    #expr, ft_status_name(ft_t_s), ft_last_error());                    \
            ft_t_cur_failed = 1;                                                        \
        }                                                                               \
    } while (0)

/* Assert a call failed with status st and a message containing substr. */
#define FT_CHECK_FAILS(expr, st, substr)                                                \
    do {                                                                                \
        ft_status ft_t_s = (expr);                                                      \
        if (ft_t_s != (st) || !strstr(ft_last_error(), (substr))) {                     \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s -> %s '%s', wanted %s containing '%s'\n", \
                    __FILE__, __LINE__, ft_t_name, #expr, ft_status_name(ft_t_s),       \
                    ft_last_error(), ft_status_name(st), (substr));                     \
            ft_t_cur_failed = 1;                                                        \
        }                                                                               \
    } while (0)

#define FT_CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                                \
        double ft_t_a = (double)(a), ft_t_b = (double)(b);                              \
        if (!(fabs(ft_t_a - ft_t_b) <= (tol))) {                                        \
            fprintf(stderr, "  FAIL %s:%d [%s]: %s=%.9g vs %s=%.9g (tol %g)\n", __FILE__, \
                    __LINE__, ft_t_name, #a, ft_t_a, #b, ft_t_b, (double)(tol));        \
            ft_t_cur_failed = 1;                                                        \
        }                                                                               \
    } while (0)

#define FT_TEST(name) static void name(void)
#define FT_RUN(name)                                                                    \
    do {                                                                                \
        ft_t_name = #name;                                                              \
        ft_t_cur_failed = 0;                                                            \
        name();                                                                         \
        if (ft_t_cur_failed) {                                                          \
            ft_t_failed++;                                                              \
            fprintf(stderr, "not ok %s\n", #name);                                      \
        } else {                                                                        \
            ft_t_passed++;                                                              \
            printf("ok %s\n", #name);                                                   \
        }                                                                               \
    } while (0)
#define FT_DONE()                                                                       \
    do {                                                                                \
        printf("%d passed, %d failed\n", ft_t_passed, ft_t_failed);                     \
        return ft_t_failed ? 1 : 0;                                                     \
    } while (0)

/* A character-level Unigram tokenizer.json in T5's layout: <pad> </s> <unk> (ids 0, 1, 2), the word marker
 * (3) and a..e (4..8), Metaspace, the post-processor "$A </s>" (test_data, test_api's seq2seq runs). */
#define FT_TEST_T5_CHAR_TOKENIZER                                                                            \
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":0,\"content\":\"<pad>\",\"special\":true},{\"id\":1,"    \
    "\"content\":\"</s>\",\"special\":true},{\"id\":2,\"content\":\"<unk>\",\"special\":true}],"             \
    "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\","        \
    "\"prepend_scheme\":\"always\",\"split\":true},\"post_processor\":{\"type\":\"TemplateProcessing\","     \
    "\"single\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</"                 \
    "s>\",\"type_id\":0}}],"                                                                                 \
    "\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</"                   \
    "s>\",\"type_id\":0}}],"                                                                                 \
    "\"special_tokens\":{\"</s>\":{\"id\":\"</s>\",\"ids\":[1],\"tokens\":[\"</s>\"]}}},"                    \
    "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\",\"prepend_scheme\":\"always\","    \
    "\"split\":true},\"model\":{\"type\":\"Unigram\",\"unk_id\":2,\"vocab\":[[\"<pad>\",0],[\"</s>\",0],"    \
    "[\"<unk>\",0],[\"\xE2\x96\x81\",-2],[\"a\",-3],[\"b\",-3],[\"c\",-3],[\"d\",-3],[\"e\",-3]]}}"

#endif
