/* Multinomial naive Bayes over bags of words (scikit-learn's CountVectorizer + MultinomialNB). */
#include "eval/naive_bayes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "eval/eval_internal.h"

struct ft_nb {
    size_t n_classes;
    double alpha;
    ft_emap ids;    /* word -> id; keys point into words[] */
    char **words;   /* [n_words] owned copies */
    double *counts; /* [n_words][n_classes]: occurrences of word w in documents of class c */
    size_t n_words, cap_words;
    double *class_words; /* [n_classes]: all word occurrences in class c */
    size_t *class_docs;  /* [n_classes] */
};

ft_status ft_nb_new(size_t n_classes, double alpha, ft_nb **out) {
    *out = NULL;
    if (n_classes < 2)
        return ft_fail(FT_ERR_ARG, "naive Bayes needs at least two classes (got %zu)", n_classes);
    if (!(alpha > 0) || !isfinite(alpha))
        return ft_fail(FT_ERR_ARG, "naive Bayes smoothing alpha must be a positive number (got %g)", alpha);
    ft_nb *nb = calloc(1, sizeof *nb);
    if (!nb || !(nb->class_words = calloc(n_classes, sizeof *nb->class_words)) ||
        !(nb->class_docs = calloc(n_classes, sizeof *nb->class_docs))) {
        ft_nb_free(nb);
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    }
    nb->n_classes = n_classes;
    nb->alpha = alpha;
    ft_emap_init(&nb->ids);
    *out = nb;
    return FT_OK;
}

void ft_nb_free(ft_nb *nb) {
    if (!nb)
        return;
    for (size_t i = 0; i < nb->n_words; i++)
        free(nb->words[i]);
    free(nb->words);
    free(nb->counts);
    free(nb->class_words);
    free(nb->class_docs);
    ft_emap_free(&nb->ids);
    free(nb);
}

size_t ft_nb_vocab_size(const ft_nb *nb) {
    return nb->n_words;
}
size_t ft_nb_n_docs(const ft_nb *nb, size_t c) {
    return c < nb->n_classes ? nb->class_docs[c] : 0;
}

/* Python's str.isalnum() or '_' for one (lower-cased) code point: the characters (?u)\w matches. */
static bool is_word_cp(utf8proc_int32_t cp) {
    if (cp == '_')
        return true;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return true;
    default: return false;
    }
}

ft_status ft_nb_words(const char *text, size_t len, ft_nb_word_fn fn, void *ud) {
    for (size_t at = 0; at < len;) { /* whole text first: a bad document yields no word at all */
        utf8proc_int32_t cp;
        utf8proc_ssize_t adv =
            utf8proc_iterate((const utf8proc_uint8_t *)text + at, (utf8proc_ssize_t)(len - at), &cp);
        if (adv < 0)
            return ft_fail(FT_ERR_FORMAT, "text is not valid UTF-8 (byte %zu)", at);
        at += (size_t)adv;
    }
    char *buf = malloc(4 * len + 1); /* lower-casing keeps a code point within 4 bytes */
    if (!buf)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    size_t i = 0, n = 0, n_cp = 0; /* the current word: n bytes, n_cp code points in buf */
    ft_status s = FT_OK;
    while (s == FT_OK) {
        utf8proc_int32_t cp = -1;
        if (i < len) {
            utf8proc_ssize_t adv =
                utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
            i += (size_t)(adv > 0 ? adv : 1); /* valid: checked above */
            if (cp == 0x130) { /* Python lower-cases İ to i + U+0307 (a mark, not \w): the word ends */
                buf[n++] = 'i';
                n_cp++;
                cp = 0x307;
            } else {
                cp = utf8proc_tolower(cp);
            }
        }
        if (cp >= 0 && is_word_cp(cp)) {
            n += (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)buf + n);
            n_cp++;
            continue;
        }
        if (n_cp >= 2)
            s = fn(buf, n, ud);
        n = n_cp = 0;
        if (cp < 0)
            break;
    }
    free(buf);
    return s;
}

typedef struct {
    ft_nb *nb;
    size_t c;
} add_ctx;

static ft_status add_word(const char *w, size_t len, void *ud) {
    add_ctx *a = ud;
    ft_nb *nb = a->nb;
    int64_t id = ft_emap_find(&nb->ids, w, len, -1);
    if (id < 0) {
        if (nb->n_words == nb->cap_words) {
            size_t nc = nb->cap_words ? 2 * nb->cap_words : 1024;
            char **nw = realloc(nb->words, nc * sizeof *nw);
            if (nw)
                nb->words = nw;
            double *ncnt = nw ? realloc(nb->counts, nc * nb->n_classes * sizeof *ncnt) : NULL;
            if (!ncnt)
                return ft_fail(FT_ERR_NOMEM, "out of memory");
            nb->counts = ncnt;
            nb->cap_words = nc;
        }
        char *copy = malloc(len + 1); /* the map's key: owned here, freed with the model */
        if (!copy)
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        memcpy(copy, w, len);
        copy[len] = 0;
        int64_t *slot = ft_emap_get(&nb->ids, copy, len, (int64_t)nb->n_words);
        if (!slot) {
            free(copy);
            return ft_fail(FT_ERR_NOMEM, "out of memory");
        }
        id = (int64_t)nb->n_words;
        nb->words[nb->n_words++] = copy;
        memset(nb->counts + (size_t)id * nb->n_classes, 0, nb->n_classes * sizeof *nb->counts);
    }
    nb->counts[(size_t)id * nb->n_classes + a->c] += 1;
    nb->class_words[a->c] += 1;
    return FT_OK;
}

ft_status ft_nb_add(ft_nb *nb, const char *text, size_t len, size_t c) {
    if (c >= nb->n_classes)
        return ft_fail(FT_ERR_RANGE, "naive Bayes: class %zu out of range (%zu classes)", c, nb->n_classes);
    add_ctx a = {nb, c};
    FT_TRY(ft_nb_words(text, len, add_word, &a));
    nb->class_docs[c]++;
    return FT_OK;
}

typedef struct {
    const ft_nb *nb;
    double *jll;
    const double *log_denom; /* [n_classes]: log(N_c + alpha V) */
} pred_ctx;

static ft_status score_word(const char *w, size_t len, void *ud) {
    pred_ctx *p = ud;
    const ft_nb *nb = p->nb;
    int64_t id = ft_emap_find(&nb->ids, w, len, -1);
    if (id < 0)
        return FT_OK; /* not in the training vocabulary */
    const double *cnt = nb->counts + (size_t)id * nb->n_classes;
    for (size_t c = 0; c < nb->n_classes; c++)
        p->jll[c] += log(cnt[c] + nb->alpha) - p->log_denom[c];
    return FT_OK;
}

ft_status ft_nb_predict(const ft_nb *nb, const char *text, size_t len, double *jll, size_t *best) {
    size_t k = nb->n_classes, docs = 0;
    for (size_t c = 0; c < k; c++)
        docs += nb->class_docs[c];
    if (docs == 0)
        return ft_fail(FT_ERR_ARG, "naive Bayes: no training documents");
    double *buf = malloc(2 * k * sizeof *buf);
    if (!buf)
        return ft_fail(FT_ERR_NOMEM, "out of memory");
    double *acc = buf, *log_denom = buf + k;
    for (size_t c = 0; c < k; c++) {
        /* an empty class gets log 0 = -inf prior, as sklearn's log(class_count) */
        acc[c] = log((double)nb->class_docs[c]) - log((double)docs);
        log_denom[c] = log(nb->class_words[c] + nb->alpha * (double)nb->n_words);
    }
    pred_ctx p = {nb, acc, log_denom};
    ft_status s = ft_nb_words(text, len, score_word, &p);
    if (s == FT_OK) {
        size_t b = 0;
        for (size_t c = 1; c < k; c++)
            if (acc[c] > acc[b])
                b = c;
        if (best)
            *best = b;
        if (jll)
            memcpy(jll, acc, k * sizeof *jll);
    }
    free(buf);
    return s;
}
