/* Porter stemmer as NLTK's PorterStemmer in its default NLTK_EXTENSIONS mode (the one rouge-score
 * uses): the 1980 algorithm plus NLTK's irregular forms, 'ies'/'ied' on 4-letter words, step 1c's
 * (*c and not c) condition, 'alli' first in step 2, 'fulli' and 'logi', and the 2-letter *o case.
 * Words are lowercase ASCII; each step keeps the word in place and returns its new length. */
#include <string.h>

#include "eval/metrics.h"

static int is_vowel_letter(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

/* Consonant test of w[i]: y is a consonant at the start or after a vowel. */
static int cons(const char *w, size_t i) {
    if (is_vowel_letter(w[i]))
        return 0;
    if (w[i] != 'y')
        return 1;
    size_t j = i; /* start of the run of y's ending at i */
    while (j > 0 && w[j - 1] == 'y')
        j--;
    int first = j == 0 ? 1 : !cons(w, j - 1); /* cons(w, j-1) is a non-y: no deep recursion */
    return ((i - j) % 2 == 0) ? first : !first;
}

/* m in [C](VC){m}[V]: the number of vowel→consonant transitions. */
static int measure(const char *w, size_t len) {
    int m = 0, prev_v = 0;
    for (size_t i = 0; i < len; i++) {
        int c = cons(w, i);
        if (c && prev_v)
            m++;
        prev_v = !c;
    }
    return m;
}

static int has_vowel(const char *w, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!cons(w, i))
            return 1;
    return 0;
}

static int ends_double_cons(const char *w, size_t len) {
    return len >= 2 && w[len - 1] == w[len - 2] && cons(w, len - 1);
}

static int ends_cvc(const char *w, size_t len) {
    if (len >= 3 && cons(w, len - 3) && !cons(w, len - 2) && cons(w, len - 1) && w[len - 1] != 'w' &&
        w[len - 1] != 'x' && w[len - 1] != 'y')
        return 1;
    return len == 2 && !cons(w, 0) && cons(w, 1); /* NLTK extension */
}

static int ends(const char *w, size_t len, const char *suf) {
    size_t n = strlen(suf);
    return n <= len && memcmp(w + len - n, suf, n) == 0;
}

static size_t put(char *w, size_t stem_len, const char *rep) {
    size_t n = strlen(rep);
    memcpy(w + stem_len, rep, n);
    return stem_len + n;
}

/* Rule conditions get the word and the length of the stem left after removing the suffix. */
enum cond { C_NONE, C_M0, C_M1, C_ION, C_LOGI };
typedef struct {
    const char *suf, *rep;
    enum cond cond;
} rule;

static int cond_ok(enum cond c, const char *w, size_t stem_len) {
    switch (c) {
    case C_NONE: return 1;
    case C_M0: return measure(w, stem_len) > 0;
    case C_M1: return measure(w, stem_len) > 1;
    case C_ION: return measure(w, stem_len) > 1 && stem_len > 0 && (w[stem_len - 1] == 's' || w[stem_len - 1] == 't');
    case C_LOGI: return measure(w, stem_len + 1) > 0; /* the 'l' stays with the stem */
    }
    return 0;
}

/* The first rule whose suffix matches decides: applied if its condition holds, else the word stays. */
static size_t apply_rules(char *w, size_t len, const rule *r, size_t nr) {
    for (size_t i = 0; i < nr; i++) {
        if (ends(w, len, r[i].suf)) {
            size_t stem = len - strlen(r[i].suf);
            return cond_ok(r[i].cond, w, stem) ? put(w, stem, r[i].rep) : len;
        }
    }
    return len;
}

#define NR(a) (sizeof(a) / sizeof *(a))

static size_t step1a(char *w, size_t len) {
    if (len == 4 && ends(w, len, "ies"))
        return put(w, 1, "ie");
    static const rule r[] = {{"sses", "ss", C_NONE}, {"ies", "i", C_NONE}, {"ss", "ss", C_NONE}, {"s", "", C_NONE}};
    return apply_rules(w, len, r, NR(r));
}

static size_t step1b(char *w, size_t len) {
    if (ends(w, len, "ied"))
        return put(w, len - 3, len == 4 ? "ie" : "i");
    if (ends(w, len, "eed"))
        return measure(w, len - 3) > 0 ? put(w, len - 3, "ee") : len;
    size_t s;
    if (ends(w, len, "ed") && has_vowel(w, len - 2))
        s = len - 2;
    else if (ends(w, len, "ing") && has_vowel(w, len - 3))
        s = len - 3;
    else
        return len;
    if (ends(w, s, "at"))
        return put(w, s, "e");
    if (ends(w, s, "bl"))
        return put(w, s, "e");
    if (ends(w, s, "iz"))
        return put(w, s, "e");
    if (ends_double_cons(w, s)) {
        char c = w[s - 1];
        return (c != 'l' && c != 's' && c != 'z') ? s - 1 : s;
    }
    if (measure(w, s) == 1 && ends_cvc(w, s))
        return put(w, s, "e");
    return s;
}

static size_t step1c(char *w, size_t len) {
    if (ends(w, len, "y") && len - 1 > 1 && cons(w, len - 2))
        w[len - 1] = 'i';
    return len;
}

static size_t step2(char *w, size_t len) {
    if (ends(w, len, "alli") && measure(w, len - 4) > 0)
        return step2(w, put(w, len - 4, "al"));
    static const rule r[] = {
        {"ational", "ate", C_M0}, {"tional", "tion", C_M0}, {"enci", "ence", C_M0}, {"anci", "ance", C_M0},
        {"izer", "ize", C_M0},    {"bli", "ble", C_M0},     {"alli", "al", C_M0},   {"entli", "ent", C_M0},
        {"eli", "e", C_M0},       {"ousli", "ous", C_M0},   {"ization", "ize", C_M0}, {"ation", "ate", C_M0},
        {"ator", "ate", C_M0},    {"alism", "al", C_M0},    {"iveness", "ive", C_M0}, {"fulness", "ful", C_M0},
        {"ousness", "ous", C_M0}, {"aliti", "al", C_M0},    {"iviti", "ive", C_M0}, {"biliti", "ble", C_M0},
        {"fulli", "ful", C_M0},   {"logi", "log", C_LOGI},
    };
    return apply_rules(w, len, r, NR(r));
}

static size_t step3(char *w, size_t len) {
    static const rule r[] = {{"icate", "ic", C_M0}, {"ative", "", C_M0}, {"alize", "al", C_M0}, {"iciti", "ic", C_M0},
                             {"ical", "ic", C_M0},  {"ful", "", C_M0},   {"ness", "", C_M0}};
    return apply_rules(w, len, r, NR(r));
}

static size_t step4(char *w, size_t len) {
    static const rule r[] = {{"al", "", C_M1},   {"ance", "", C_M1}, {"ence", "", C_M1}, {"er", "", C_M1},
                             {"ic", "", C_M1},   {"able", "", C_M1}, {"ible", "", C_M1}, {"ant", "", C_M1},
                             {"ement", "", C_M1}, {"ment", "", C_M1}, {"ent", "", C_M1}, {"ion", "", C_ION},
                             {"ou", "", C_M1},   {"ism", "", C_M1},  {"ate", "", C_M1},  {"iti", "", C_M1},
                             {"ous", "", C_M1},  {"ive", "", C_M1},  {"ize", "", C_M1}};
    return apply_rules(w, len, r, NR(r));
}

static size_t step5a(char *w, size_t len) {
    if (!ends(w, len, "e"))
        return len;
    int m = measure(w, len - 1);
    if (m > 1 || (m == 1 && !ends_cvc(w, len - 1)))
        return len - 1;
    return len;
}

static size_t step5b(char *w, size_t len) {
    if (ends(w, len, "ll") && measure(w, len - 1) > 1)
        return len - 1;
    return len;
}

/* NLTK_EXTENSIONS' irregular forms, looked up before any step. */
static const char *const irregular[][2] = {
    {"sky", "sky"},         {"skies", "sky"},     {"dying", "die"},     {"lying", "lie"},
    {"tying", "tie"},       {"news", "news"},     {"innings", "inning"}, {"inning", "inning"},
    {"outings", "outing"},  {"outing", "outing"}, {"cannings", "canning"}, {"canning", "canning"},
    {"howe", "howe"},       {"proceed", "proceed"}, {"exceed", "exceed"}, {"succeed", "succeed"},
};

size_t ft_porter_stem(const char *word, size_t len, char *out) {
    for (size_t i = 0; i < NR(irregular); i++) {
        if (strlen(irregular[i][0]) == len && memcmp(irregular[i][0], word, len) == 0) {
            size_t n = strlen(irregular[i][1]);
            memcpy(out, irregular[i][1], n + 1);
            return n;
        }
    }
    memmove(out, word, len);
    out[len] = 0;
    if (len <= 2)
        return len;
    /* Every step leaves the word no longer than it found it (a suffix of at least as many letters
     * is removed before 'e'/'ate' is added), so out's len + 1 bytes suffice. */
    len = step1a(out, len);
    len = step1b(out, len);
    len = step1c(out, len);
    len = step2(out, len);
    len = step3(out, len);
    len = step4(out, len);
    len = step5a(out, len);
    len = step5b(out, len);
    out[len] = 0;
    return len;
}
