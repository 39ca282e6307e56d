/* data/split: deterministic (seeded) train/validation/test splits, optionally stratified by label. */
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "data/dataset.h"

typedef struct {
    const char *label;
    size_t i;
} lab_idx;

static int lab_cmp(const void *a, const void *b) {
    const lab_idx *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    return c ? c : (x->i > y->i) - (x->i < y->i);
}

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

ft_status ft_data_split(ft_data_recs *all, float val_ratio, float test_ratio, bool stratify, uint64_t seed,
                        ft_data_recs *train, ft_data_recs *val, ft_data_recs *test) {
    if (val_ratio < 0 || test_ratio < 0 || val_ratio + test_ratio >= 1)
        return ft_fail(FT_ERR_CONFIG, "data.val_ratio %g + data.test_ratio %g must be >= 0 and < 1",
                       (double)val_ratio, (double)test_ratio);
    size_t n = all->n;
    lab_idx *li = malloc((n ? n : 1) * sizeof *li);
    uint8_t *dest = malloc(n ? n : 1); /* 0 train, 1 val, 2 test */
    if (!li || !dest) {
        free(li);
        free(dest);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        li[i] = (lab_idx){stratify && all->r[i].label ? all->r[i].label : "", i};
    qsort(li, n, sizeof *li, lab_cmp); /* groups of equal labels, rows in file order inside */
    for (size_t a = 0; a < n;) {
        size_t e = a + 1;
        while (e < n && !strcmp(li[e].label, li[a].label))
            e++;
        size_t g = e - a;
        /* Fisher-Yates with a stream per label, so one label's split ignores the others' sizes */
        uint64_t stream = str_hash(li[a].label);
        for (size_t k = g; k > 1; k--) {
            size_t j = (size_t)(ft_rng_u64(seed, stream, k) % k);
            lab_idx t = li[a + k - 1];
            li[a + k - 1] = li[a + j];
            li[a + j] = t;
        }
        size_t nt = (size_t)((double)g * test_ratio + 0.5), nv = (size_t)((double)g * val_ratio + 0.5);
        if (nt + nv >= g && g > 0) { /* keep at least one training row per group */
            nt = nt < g - 1 ? nt : g - 1;
            nv = g - 1 - nt < nv ? g - 1 - nt : nv;
        }
        for (size_t k = 0; k < g; k++)
            dest[li[a + k].i] = k < nt ? 2 : k < nt + nv ? 1 : 0;
        a = e;
    }
    ft_status s = FT_OK;
    for (size_t i = 0; i < n; i++) {
        if (s == FT_OK)
            s = ft_data_recs_push(dest[i] == 2 ? test : dest[i] == 1 ? val : train, &all->r[i]);
        else
            ft_data_rec_free(&all->r[i]);
    }
    free(all->r);
    memset(all, 0, sizeof *all);
    free(li);
    free(dest);
    return s;
}

ft_status ft_data_subsample(ft_data_recs *rs, size_t n, bool stratify, uint64_t seed) {
    if (n == 0 || rs->n <= n)
        return FT_OK;
    size_t m = rs->n;
    lab_idx *li = malloc(m * sizeof *li);
    uint8_t *keep = calloc(m, 1);
    if (!li || !keep) {
        free(li);
        free(keep);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < m; i++)
        li[i] = (lab_idx){stratify && rs->r[i].label ? rs->r[i].label : "", i};
    qsort(li, m, sizeof *li, lab_cmp);
    /* groups of equal labels: [start, size, quota]; quotas by largest remainder of n * size / m, at
     * least one per label when n allows it, so every class is seen (at most m groups) */
    size_t(*g)[3] = calloc(m, sizeof *g);
    double *rem = calloc(m, sizeof *rem);
    if (!g || !rem) {
        free(li);
        free(keep);
        free(g);
        free(rem);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    size_t ng = 0;
    for (size_t a = 0; a < m; ng++) {
        size_t e = a + 1;
        while (e < m && !strcmp(li[e].label, li[a].label))
            e++;
        g[ng][0] = a;
        g[ng][1] = e - a;
        a = e;
    }
    size_t given = 0;
    for (size_t k = 0; k < ng; k++) {
        double share = (double)n * (double)g[k][1] / (double)m;
        g[k][2] = (size_t)share;
        if (g[k][2] == 0 && n >= ng)
            g[k][2] = 1;
        rem[k] = share - (double)(size_t)share;
        given += g[k][2];
    }
    while (given < n) { /* largest remainder first; ties to the earlier label */
        size_t best = ng;
        for (size_t k = 0; k < ng; k++)
            if (g[k][2] < g[k][1] && (best == ng || rem[k] > rem[best]))
                best = k;
        if (best == ng)
            break;
        g[best][2]++;
        rem[best] = -1;
        given++;
    }
    while (given > n) { /* the minimum of one per label overshot: take back from the largest quota */
        size_t big = 0;
        for (size_t k = 1; k < ng; k++)
            if (g[k][2] > g[big][2])
                big = k;
        g[big][2]--;
        given--;
    }
    for (size_t k = 0; k < ng; k++) { /* a seeded partial Fisher-Yates per label picks its quota */
        lab_idx *p = li + g[k][0];
        size_t sz = g[k][1];
        uint64_t stream = str_hash(p->label) ^ 0x5ab5a3e1ULL;
        for (size_t j = 0; j < g[k][2]; j++) {
            size_t r = j + (size_t)(ft_rng_u64(seed, stream, j) % (sz - j));
            lab_idx t = p[j];
            p[j] = p[r];
            p[r] = t;
            keep[p[j].i] = 1;
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < m; i++) {
        if (keep[i])
            rs->r[w++] = rs->r[i];
        else
            ft_data_rec_free(&rs->r[i]);
    }
    rs->n = w;
    free(li);
    free(keep);
    free(g);
    free(rem);
    return FT_OK;
}
