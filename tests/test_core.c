#include <unistd.h>

#include "core/core.h"
#include "ft_test.h"

FT_TEST(test_error_message) {
    ft_status s = ft_fail(FT_ERR_FORMAT, "file %s: bad %d", "x.json", 3);
    FT_CHECK(s == FT_ERR_FORMAT);
    FT_CHECK(strcmp(ft_last_error(), "file x.json: bad 3") == 0);
    ft_fail_ctx(s, "loading %s", "model");
    FT_CHECK(strcmp(ft_last_error(), "loading model: file x.json: bad 3") == 0);
}

FT_TEST(test_arena) {
    ft_arena a;
    FT_CHECK_OK(ft_arena_init(&a, 1000));
    void *p = ft_arena_alloc(&a, 10), *q = ft_arena_alloc(&a, 100);
    FT_CHECK(p && q && ((uintptr_t)q % FT_ALIGN) == 0 && (uint8_t *)q >= (uint8_t *)p + 10);
    FT_CHECK(ft_arena_alloc(&a, 5000) == NULL);
    FT_CHECK(strstr(ft_last_error(), "arena exhausted") != NULL);
    ft_arena_reset(&a);
    FT_CHECK(ft_arena_alloc(&a, 10) == p);
    FT_CHECK(a.peak >= 110);
    ft_arena_free(&a);
}

FT_TEST(test_arena_mark_rewind) {
    ft_arena a;
    FT_CHECK_OK(ft_arena_init(&a, 4096));
    void *keep = ft_arena_alloc(&a, 100);
    size_t mk = ft_arena_mark(&a);
    FT_CHECK(mk == a.used && mk >= 100);
    void *s1 = ft_arena_alloc(&a, 1000), *s2 = ft_arena_alloc(&a, 1000);
    FT_CHECK(keep && s1 && s2 && (uint8_t *)s1 > (uint8_t *)keep);
    size_t peak = a.peak;
    ft_arena_rewind(&a, mk);
    FT_CHECK(a.used == mk && a.peak == peak); /* the high-water mark survives a rewind */
    FT_CHECK(ft_arena_alloc(&a, 10) == s1);   /* the scratch is taken again from the same place */
    size_t inner = ft_arena_mark(&a);
    ft_arena_rewind(&a, mk);
    ft_arena_rewind(&a, inner); /* a mark above the fill (already rewound past) changes nothing */
    FT_CHECK(a.used == mk);
    FT_CHECK(ft_arena_alloc(&a, 10) == s1);
    ft_arena_rewind(&a, 0);
    FT_CHECK(ft_arena_alloc(&a, 10) == keep);
    ft_arena_free(&a);
}

FT_TEST(test_rng) {
    /* deterministic, uniform-ish, normal moments */
    FT_CHECK(ft_rng_u64(1, 2, 3) == ft_rng_u64(1, 2, 3));
    FT_CHECK(ft_rng_u64(1, 2, 3) != ft_rng_u64(1, 2, 4));
    FT_CHECK(ft_rng_u64(1, 2, 3) != ft_rng_u64(2, 2, 3));
    double s = 0, s2 = 0, su = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = ft_rng_normal(7, 0, (uint64_t)i);
        s += x;
        s2 += x * x;
        float u = ft_rng_uniform(7, 1, (uint64_t)i);
        FT_CHECK(u >= 0.0f && u < 1.0f);
        su += u;
    }
    FT_CHECK_NEAR(s / n, 0.0, 0.01);
    FT_CHECK_NEAR(s2 / n, 1.0, 0.02);
    FT_CHECK_NEAR(su / n, 0.5, 0.005);
}

FT_TEST(test_half) {
    float vals[] = {0.0f, 1.0f, -2.5f, 3.140625f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        FT_CHECK(ft_f16_to_f32(ft_f32_to_f16(vals[i])) == vals[i]);
        FT_CHECK_NEAR(ft_bf16_to_f32(ft_f32_to_bf16(vals[i])), vals[i], fabs(vals[i]) * 0.004);
    }
    FT_CHECK(ft_f32_to_bf16(1.0f) == 0x3f80);
    FT_CHECK(ft_f32_to_f16(1.0f) == 0x3c00);
    FT_CHECK(ft_f32_to_bf16(1.00390625f) == 0x3f80); /* tie rounds to even */
}

FT_TEST(test_atomic_write) {
    char path[] = "/tmp/ft_test_atomicXXXXXX";
    int fd = mkstemp(path);
    close(fd);
    FT_CHECK_OK(ft_write_file_atomic(path, "hello", 5));
    char *buf;
    size_t n;
    FT_CHECK_OK(ft_read_file(path, &buf, &n));
    FT_CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
    free(buf);
    unlink(path);
    FT_CHECK_FAILS(ft_read_file("/nonexistent/x", &buf, &n), FT_ERR_IO, "/nonexistent/x");
}

int main(void) {
    FT_RUN(test_error_message);
    FT_RUN(test_arena);
    FT_RUN(test_arena_mark_rewind);
    FT_RUN(test_rng);
    FT_RUN(test_half);
    FT_RUN(test_atomic_write);
    FT_DONE();
}
