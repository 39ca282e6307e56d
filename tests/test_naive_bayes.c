/* eval/naive_bayes: multinomial naive Bayes on a bag of words, checked against values worked by hand;
 * the word splitter (Python's lower() + (?u)\b\w\w+\b); bad input. Parity with scikit-learn on the
 * SpamAssassin demo split: tests/naive_bayes_sklearn.sh. */
#include <math.h>
#include <string.h>

#include "eval/naive_bayes.h"
#include "ft_test.h"

typedef struct {
    char buf[512];
} word_list;

static ft_status collect(const char *w, size_t len, void *ud) {
    word_list *l = ud;
    size_t n = strlen(l->buf);
    if (n + len + 2 > sizeof l->buf)
        return ft_fail(FT_ERR_RANGE, "test buffer full");
    memcpy(l->buf + n, w, len);
    l->buf[n + len] = '|';
    l->buf[n + len + 1] = 0;
    return FT_OK;
}

static const char *words_of(word_list *l, const char *text) {
    l->buf[0] = 0;
    if (ft_nb_words(text, strlen(text), collect, l) != FT_OK)
        return "(error)";
    return l->buf;
}

FT_TEST(nb_words_like_sklearn_count_vectorizer) {
    word_list l;
    FT_CHECK(!strcmp(words_of(&l, "Good movie!! a I x2"), "good|movie|x2|"));
    FT_CHECK(!strcmp(words_of(&l, "snake_case 12,5 don't"), "snake_case|12|don|"));
    FT_CHECK(!strcmp(words_of(&l, "\xc3\x89"
                                  "COLE na\xc3\xafve \xce\xa3\xce\xa9"),
                     "\xc3\xa9"
                     "cole|na\xc3\xafve|\xcf\x83\xcf\x89|"));
    FT_CHECK(!strcmp(words_of(&l, ""), ""));
    FT_CHECK(!strcmp(words_of(&l, "ab"), "ab|"));              /* a word ending the text */
    FT_CHECK(!strcmp(words_of(&l, "x\xe2\x80\x94yz"), "yz|")); /* an em dash separates */
    /* Python lower-cases U+0130 to "i" + U+0307 (a combining mark, not \w), which cuts the word */
    FT_CHECK(!strcmp(words_of(&l, "B\xc4\xb0RL\xc4\xb0KTE"), "bi|rli|kte|"));
}

/* Three documents: class 0 "good good movie"; class 1 "bad movie", "Bad BAD plot a" ("a" is no word). */
static ft_nb *toy_model(double alpha) {
    ft_nb *nb = NULL;
    FT_CHECK_OK(ft_nb_new(2, alpha, &nb));
    if (nb) {
        FT_CHECK_OK(ft_nb_add(nb, "good good movie", 15, 0));
        FT_CHECK_OK(ft_nb_add(nb, "bad movie", 9, 1));
        FT_CHECK_OK(ft_nb_add(nb, "Bad BAD plot a", 14, 1));
    }
    return nb;
}

FT_TEST(nb_probabilities_worked_by_hand) {
    ft_nb *nb = toy_model(1.0);
    if (!nb)
        return;
    FT_CHECK(ft_nb_vocab_size(nb) == 4); /* good movie bad plot */
    FT_CHECK(ft_nb_n_docs(nb, 0) == 1 && ft_nb_n_docs(nb, 1) == 2);
    /* N_0 = 3, N_1 = 5, V = 4: P(w|0) = (N_0w + 1) / 7, P(w|1) = (N_1w + 1) / 9; priors 1/3, 2/3 */
    double jll[2];
    size_t best = 9;
    FT_CHECK_OK(ft_nb_predict(nb, "Good movie, good!", 17, jll, &best));
    double e0 = log(1.0 / 3) + 2 * log(3.0 / 7) + log(2.0 / 7),
           e1 = log(2.0 / 3) + 2 * log(1.0 / 9) + log(2.0 / 9);
    FT_CHECKF(fabs(jll[0] - e0) < 1e-12 && fabs(jll[1] - e1) < 1e-12, "%.15g %.15g vs %.15g %.15g", jll[0],
              jll[1], e0, e1);
    FT_CHECK(best == 0);
    FT_CHECK_OK(ft_nb_predict(nb, "bad plot", 8, jll, &best));
    FT_CHECK(best == 1);
    /* unknown words are ignored: the priors decide */
    FT_CHECK_OK(ft_nb_predict(nb, "zzz qqq", 7, jll, &best));
    FT_CHECK(best == 1 && fabs(jll[0] - log(1.0 / 3)) < 1e-12 && fabs(jll[1] - log(2.0 / 3)) < 1e-12);
    /* alpha scales the smoothing: alpha 0.5 -> P(good|0) = 2.5 / (3 + 2) */
    ft_nb *nb2 = toy_model(0.5);
    if (nb2) {
        FT_CHECK_OK(ft_nb_predict(nb2, "good", 4, jll, NULL));
        FT_CHECK(fabs(jll[0] - (log(1.0 / 3) + log(2.5 / 5))) < 1e-12);
        FT_CHECK(fabs(jll[1] - (log(2.0 / 3) + log(0.5 / 7))) < 1e-12);
    }
    ft_nb_free(nb2);
    ft_nb_free(nb);
}

FT_TEST(nb_ties_go_to_the_first_class) {
    ft_nb *nb = NULL;
    FT_CHECK_OK(ft_nb_new(3, 1.0, &nb));
    if (!nb)
        return;
    FT_CHECK_OK(ft_nb_add(nb, "aa", 2, 1));
    FT_CHECK_OK(ft_nb_add(nb, "bb", 2, 2));
    size_t best = 9;
    double jll[3];
    FT_CHECK_OK(ft_nb_predict(nb, "cc", 2, jll, &best));
    FT_CHECK(best == 1); /* class 0 has no document: log prior -inf */
    FT_CHECK(isinf(jll[0]) && jll[0] < 0);
    ft_nb_free(nb);
}

FT_TEST(nb_bad_input) {
    ft_nb *nb = NULL;
    FT_CHECK(ft_nb_new(1, 1.0, &nb) == FT_ERR_ARG && !nb);
    FT_CHECK(ft_nb_new(2, 0.0, &nb) == FT_ERR_ARG && !nb);
    FT_CHECK(ft_nb_new(2, NAN, &nb) == FT_ERR_ARG && !nb);
    FT_CHECK_OK(ft_nb_new(2, 1.0, &nb));
    if (!nb)
        return;
    size_t best;
    FT_CHECK(ft_nb_predict(nb, "aa", 2, NULL, &best) == FT_ERR_ARG); /* nothing trained */
    FT_CHECK(ft_nb_add(nb, "aa", 2, 2) == FT_ERR_RANGE);
    FT_CHECK(ft_nb_add(nb, "ok \xff no", 8, 0) == FT_ERR_FORMAT);
    FT_CHECKF(strstr(ft_last_error(), "byte 3") != NULL, "%s", ft_last_error());
    FT_CHECK(ft_nb_n_docs(nb, 0) == 0 && ft_nb_vocab_size(nb) == 0); /* nothing of it was counted */
    ft_nb_free(nb);
}

int main(void) {
    FT_RUN(nb_words_like_sklearn_count_vectorizer);
    FT_RUN(nb_probabilities_worked_by_hand);
    FT_RUN(nb_ties_go_to_the_first_class);
    FT_RUN(nb_bad_input);
    FT_DONE();
}
