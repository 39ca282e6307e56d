/* eval/naive_bayes: multinomial naive Bayes over bags of words, the non-neural baseline a fine-tuned
 * classifier is compared with (`ftune baseline`). The model is scikit-learn's
 * CountVectorizer() + MultinomialNB(alpha): words are maximal runs of two or more word characters
 * (letters, numbers, '_': Python's (?u)\w) of the lower-cased text; P(w|c) = (N_cw + alpha) /
 * (N_c + alpha * V) over the training vocabulary V, P(c) = documents of c / documents; words never seen
 * in training are ignored. Definitions and the sklearn check: docs/evaluation.md ("Baseline"). */
#ifndef FT_NAIVE_BAYES_H
#define FT_NAIVE_BAYES_H

#include <stddef.h>

#include "core/core.h"

typedef struct ft_nb ft_nb;

/* A model for n_classes (>= 2) classes with additive smoothing alpha (> 0; sklearn's default 1). */
ft_status ft_nb_new(size_t n_classes, double alpha, ft_nb **out);
void ft_nb_free(ft_nb *nb);

/* Count the words of one training document of class c (< n_classes). Text must be UTF-8. */
ft_status ft_nb_add(ft_nb *nb, const char *text, size_t len, size_t c);

/* Joint log-likelihood log P(c) + sum over the text's known words of log P(w|c), for every class
 * (jll[n_classes], may be NULL), and the best class (the first one on ties, as numpy's argmax).
 * Needs at least one training document in some class. */
ft_status ft_nb_predict(const ft_nb *nb, const char *text, size_t len, double *jll, size_t *best);

size_t ft_nb_vocab_size(const ft_nb *nb);
size_t ft_nb_n_docs(const ft_nb *nb, size_t c);

/* The words of text as the model sees them: calls fn(word, word_len, ud) for each (lower-cased, UTF-8,
 * not NUL-terminated); a non-OK return stops and is returned. Fails on invalid UTF-8 naming the byte. */
typedef ft_status (*ft_nb_word_fn)(const char *word, size_t len, void *ud);
ft_status ft_nb_words(const char *text, size_t len, ft_nb_word_fn fn, void *ud);

#endif
