/* eval: metrics against hand-computed cases and the values published in sacreBLEU's and
 * rouge-score's own test files. `test_metrics --stem` stems words from stdin (one per line) for
 * tests/porter_nltk.sh. */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "eval/metrics.h"
#include "ft_test.h"

/* ---------------- classification / regression / perplexity ---------------- */

FT_TEST(test_classification_ids) {
    /* y_true 0 1 2 0 1 2, y_pred 0 2 1 0 0 1. class 0: TP 2, predicted 3, true 2 → P 2/3, R 1,
     * F 0.8; classes 1 and 2: TP 0 → 0. macro = (2/3)/3, 1/3, 0.8/3; weighted: supports all 2. */
    int t[] = {0, 1, 2, 0, 1, 2}, p[] = {0, 2, 1, 0, 0, 1};
    ft_metric_cls m;
    FT_CHECK_OK(ft_metric_classification_ids(t, p, 6, 3, &m));
    FT_CHECK_NEAR(m.accuracy, 2.0 / 6, 1e-15);
    FT_CHECK_NEAR(m.precision[0], 2.0 / 3, 1e-15);
    FT_CHECK_NEAR(m.recall[0], 1.0, 1e-15);
    FT_CHECK_NEAR(m.f1[0], 0.8, 1e-15);
    FT_CHECK_NEAR(m.precision_macro, 2.0 / 9, 1e-15);
    FT_CHECK_NEAR(m.recall_macro, 1.0 / 3, 1e-15);
    FT_CHECK_NEAR(m.f1_macro, 0.8 / 3, 1e-15);
    FT_CHECK_NEAR(m.precision_micro, 1.0 / 3, 1e-15);
    FT_CHECK_NEAR(m.f1_micro, 1.0 / 3, 1e-15);
    FT_CHECK_NEAR(m.precision_weighted, 2.0 / 9, 1e-15);
    FT_CHECK_NEAR(m.f1_weighted, 0.8 / 3, 1e-15);
    int64_t cm[9] = {2, 0, 0, 1, 0, 1, 0, 2, 0};
    FT_CHECK(memcmp(m.confusion, cm, sizeof cm) == 0);
    FT_CHECK(m.support[0] == 2 && m.support[1] == 2 && m.support[2] == 2);
    ft_metric_cls_free(&m);
    int bad[] = {0, 3};
    FT_CHECK_FAILS(ft_metric_classification_ids(bad, bad, 2, 3, &m), FT_ERR_RANGE, "outside [0, 3)");
    FT_CHECK_FAILS(ft_metric_classification_ids(t, p, 0, 3, &m), FT_ERR_ARG, "no examples");
}

FT_TEST(test_classification_strings) {
    /* Labels: union {cat, dog, fox} (fox only predicted). true: cat cat dog dog; pred: cat fox dog cat.
     * cat: TP1 pred2 true2 → .5 .5 .5; dog: TP1 pred1 true2 → 1 .5 2/3; fox: pred1 true0 → 0 0 0.
     * weighted (supports 2,2,0): P .75, R .5, F (.5+2/3)/2. */
    const char *t[] = {"cat", "cat", "dog", "dog"}, *p[] = {"cat", "fox", "dog", "cat"};
    ft_metric_cls m;
    FT_CHECK_OK(ft_metric_classification(t, p, 4, &m));
    FT_CHECK(m.n_classes == 3 && !strcmp(m.labels[0], "cat") && !strcmp(m.labels[2], "fox"));
    FT_CHECK_NEAR(m.accuracy, 0.5, 1e-15);
    FT_CHECK_NEAR(m.precision_macro, 0.5, 1e-15);
    FT_CHECK_NEAR(m.recall_macro, 1.0 / 3, 1e-15);
    FT_CHECK_NEAR(m.f1_macro, (0.5 + 2.0 / 3) / 3, 1e-15);
    FT_CHECK_NEAR(m.precision_weighted, 0.75, 1e-15);
    FT_CHECK_NEAR(m.recall_weighted, 0.5, 1e-15);
    FT_CHECK_NEAR(m.f1_weighted, (0.5 + 2.0 / 3) / 2, 1e-15);
    FT_CHECK(m.confusion[0 * 3 + 2] == 1 && m.confusion[1 * 3 + 0] == 1 && m.confusion[1 * 3 + 1] == 1 && m.confusion[0 * 3 + 0] == 1);
    ft_metric_cls_free(&m);
}

FT_TEST(test_regression) {
    /* d = .5 -.5 0 -1: MSE = 1.5/4, MAE = 2/4; mean 2.875, SS_tot = 29.1875 → R² = 1 - 1.5/29.1875 */
    double t[] = {3, -0.5, 2, 7}, p[] = {2.5, 0.0, 2, 8};
    ft_metric_reg r;
    FT_CHECK_OK(ft_metric_regression(t, p, 4, &r));
    FT_CHECK_NEAR(r.mse, 0.375, 1e-15);
    FT_CHECK_NEAR(r.mae, 0.5, 1e-15);
    FT_CHECK_NEAR(r.r2, 1 - 1.5 / 29.1875, 1e-15);
    double c[] = {2, 2}, c2[] = {2, 3};
    FT_CHECK_OK(ft_metric_regression(c, c, 2, &r));
    FT_CHECK(r.r2 == 1.0); /* constant truth, perfect prediction */
    FT_CHECK_OK(ft_metric_regression(c, c2, 2, &r));
    FT_CHECK(r.r2 == 0.0); /* constant truth, imperfect prediction (sklearn's force_finite) */
    FT_CHECK_OK(ft_metric_regression(t, p, 1, &r));
    FT_CHECK(isnan(r.r2) && r.mse == 0.25);
    double nan_[] = {NAN, 1};
    FT_CHECK_FAILS(ft_metric_regression(nan_, c, 2, &r), FT_ERR_NUMERIC, "example 0");
    FT_CHECK_FAILS(ft_metric_regression(t, p, 0, &r), FT_ERR_ARG, "no examples");
}

FT_TEST(test_perplexity) {
    double ppl;
    FT_CHECK_OK(ft_metric_perplexity(3 * log(2.0), 3, &ppl));
    FT_CHECK_NEAR(ppl, 2.0, 1e-12);
    FT_CHECK_OK(ft_metric_perplexity(0, 10, &ppl));
    FT_CHECK(ppl == 1.0);
    FT_CHECK_FAILS(ft_metric_perplexity(1.0, 0, &ppl), FT_ERR_ARG, "token count");
    FT_CHECK_FAILS(ft_metric_perplexity(INFINITY, 4, &ppl), FT_ERR_NUMERIC, "not finite");
}

/* ---------------- BLEU ---------------- */

static void tok_is(const char *in, const char *want) {
    char *o = NULL;
    FT_CHECK_OK(ft_bleu_tokenize_13a(in, &o));
    FT_CHECKF(o && !strcmp(o, want), "13a('%s') = '%s', want '%s'", in, o ? o : "(null)", want);
    free(o);
}

FT_TEST(test_bleu_13a) {
    /* hand-applied mteval-v13a rules */
    tok_is("Hello, world! 3.5-4 x.", "Hello , world ! 3.5 - 4 x .");
    tok_is("It wasn't (really) \"fine\"", "It wasn't ( really ) \" fine \"");
    tok_is("1,000.5 a.b", "1,000.5 a . b");
    tok_is("x &amp;lt; y &quot;z&quot;", "x < y \" z \"");
    tok_is("wel-\ncome<skipped> home\n", "welcome home");
    tok_is("  spaced\xc2\xa0out\xe3\x80\x80 ", "spaced out"); /* NBSP and ideographic space split */
    tok_is("caf\xc3\xa9. Na\xc3\xafve,", "caf\xc3\xa9 . Na\xc3\xafve ,");
    tok_is("", "");
}

static double bleu1(const char *const *h, size_t n, const char *const *r, const size_t *off, const ft_bleu_opts *o,
                    ft_bleu_score *s) {
    ft_bleu_score tmp;
    if (!s)
        s = &tmp;
    ft_status st = ft_metric_bleu(h, n, r, off, o, s);
    return st == FT_OK ? s->bleu : -1;
}

/* sacreBLEU test/test_bleu.py: _hyps/_refs (two reference streams), re-laid as per-example lists. */
static const char *const sb_hyps[] = {"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
static const char *const sb_refs[] = {"The dog bit the man.",   "The dog had bit the man.",   "It was not unexpected.",
                                      "No one was surprised.", "The man bit him first.", "The man had bitten the dog."};
static const size_t sb_off[] = {0, 2, 4, 6};

FT_TEST(test_bleu_sacrebleu_corpus) {
    ft_bleu_opts o;
    ft_bleu_opts_default(&o);
    ft_bleu_score s;
    /* test_corpus_bleu_cases */
    FT_CHECK_NEAR(bleu1(sb_hyps, 3, sb_refs, sb_off, &o, &s), 48.530827, 1e-6);
    FT_CHECK(s.sys_len == 17 && s.ref_len == 18);
    const char *const empty[] = {"", "", ""};
    FT_CHECK_NEAR(bleu1(empty, 3, sb_refs, sb_off, &o, &s), 0.0, 1e-12);
    FT_CHECK(s.sys_len == 0 && s.bp == 0.0);
    o.tokenize = FT_BLEU_TOK_NONE;
    FT_CHECK_NEAR(bleu1(sb_hyps, 3, sb_refs, sb_off, &o, NULL), 49.1919566, 1e-6);
    o.tokenize = FT_BLEU_TOK_13A;
    o.smooth = FT_BLEU_SMOOTH_NONE;
    FT_CHECK_NEAR(bleu1(sb_hyps, 3, sb_refs, sb_off, &o, NULL), 48.530827, 1e-6);
    /* test_bleu_max_order: printed with 2 decimals */
    ft_bleu_opts_default(&o);
    const double want[] = {77.65, 60.50, 53.93, 48.53, 46.14, 43.28};
    for (int k = 1; k <= 6; k++) {
        o.max_order = k;
        char got[32], exp_[32];
        snprintf(got, sizeof got, "%.2f", bleu1(sb_hyps, 3, sb_refs, sb_off, &o, NULL));
        snprintf(exp_, sizeof exp_, "%.2f", want[k - 1]);
        FT_CHECKF(!strcmp(got, exp_), "max order %d: %s, want %s", k, got, exp_);
    }
}

/* sacreBLEU's raw_corpus_bleu: tokenize none, floor smoothing, effective order. */
static double raw_bleu(const char *const *h, size_t n, const char *const *r, const size_t *off, double floor_v,
                       ft_bleu_score *s) {
    ft_bleu_opts o;
    ft_bleu_opts_default(&o);
    o.tokenize = FT_BLEU_TOK_NONE;
    o.smooth = FT_BLEU_SMOOTH_FLOOR;
    o.smooth_value = floor_v;
    o.effective_order = true;
    return bleu1(h, n, r, off, &o, s) / 100;
}

FT_TEST(test_bleu_sacrebleu_raw) {
    /* test_raw_bleu_cases (one reference stream: example i gets ref i) */
    const char *h1[] = {"this is a test", "another test"}, *r1[] = {"ref1", "ref2"};
    size_t o2[] = {0, 1, 2}, o1[] = {0, 1};
    FT_CHECK_NEAR(raw_bleu(h1, 2, r1, o2, 0.01, NULL), 0.0, 1e-8);
    const char *h2[] = {"this is a test"}, *r2[] = {"this is a test"};
    FT_CHECK_NEAR(raw_bleu(h2, 1, r2, o1, 0.01, NULL), 1.0, 1e-8);
    const char *h3[] = {"this is a fest"};
    FT_CHECK_NEAR(raw_bleu(h3, 1, r2, o1, 0.01, NULL), 0.223606797749979, 1e-8);
    /* test_case_effective_order */
    const char *e1[] = {"test"}, *e2[] = {"a test"}, *e3[] = {"a little test"}, *er[] = {"a test"};
    FT_CHECK_NEAR(raw_bleu(e1, 1, er, o1, 0.01, NULL), 0.3678794411714425, 1e-8);
    FT_CHECK_NEAR(raw_bleu(e2, 1, er, o1, 0.01, NULL), 1.0, 1e-8);
    FT_CHECK_NEAR(raw_bleu(e3, 1, er, o1, 0.01, NULL), 0.03218297948685433, 1e-8);
    /* test_case_statistics and test_case_offset */
    const char *sh[] = {"am I am a character sequence"}, *sr[] = {"I am a symbol string sequence a a"};
    ft_bleu_score s;
    FT_CHECK_NEAR(raw_bleu(sh, 1, sr, o1, 0.01, &s), raw_bleu(sh, 1, sr, o1, 0.01, NULL), 0);
    FT_CHECK(s.counts[0] == 4 && s.counts[1] == 2 && s.counts[2] == 1 && s.counts[3] == 0);
    FT_CHECK(s.totals[0] == 6 && s.totals[1] == 5 && s.totals[2] == 4 && s.totals[3] == 3);
    FT_CHECK_NEAR(raw_bleu(sh, 1, sr, o1, 0.0, NULL), 0.0, 1e-8);
    FT_CHECK_NEAR(raw_bleu(sh, 1, sr, o1, -1 /* default 0.1 */, NULL), 0.1555722182, 1e-8);
}

FT_TEST(test_bleu_sacrebleu_sentence) {
    /* test/test_sentence_bleu.py (example from sacreBLEU #98), effective order on, tolerance 1e-3 */
    const char *sys[] = {"Produc\xc8\x9bia de zah\xc4\x83r prim\xc4\x83 va fi exprimat\xc4\x83 \xc3\xaen ceea ce "
                         "prive\xc8\x99te zah\xc4\x83rul alb;"};
    const char *ref[] = {"produc\xc5\xa3ia de zah\xc4\x83r brut se exprim\xc4\x83 \xc3\xaen zah\xc4\x83r alb;"};
    size_t off[] = {0, 1};
    struct {
        ft_bleu_smooth m;
        double v;
        ft_bleu_tok tok;
        double want;
    } cases[] = {
        {FT_BLEU_SMOOTH_EXP, -1, FT_BLEU_TOK_13A, 8.493},     {FT_BLEU_SMOOTH_NONE, -1, FT_BLEU_TOK_13A, 0.0},
        {FT_BLEU_SMOOTH_FLOOR, -1, FT_BLEU_TOK_13A, 4.51688}, {FT_BLEU_SMOOTH_FLOOR, 0.1, FT_BLEU_TOK_13A, 4.51688},
        {FT_BLEU_SMOOTH_FLOOR, 0.5, FT_BLEU_TOK_13A, 10.10},  {FT_BLEU_SMOOTH_ADD_K, -1, FT_BLEU_TOK_13A, 14.882},
        {FT_BLEU_SMOOTH_ADD_K, 1, FT_BLEU_TOK_13A, 14.882},   {FT_BLEU_SMOOTH_ADD_K, 2, FT_BLEU_TOK_13A, 21.389},
        {FT_BLEU_SMOOTH_EXP, -1, FT_BLEU_TOK_NONE, 7.347},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ft_bleu_opts o;
        ft_bleu_opts_default(&o);
        o.smooth = cases[i].m;
        o.smooth_value = cases[i].v;
        o.tokenize = cases[i].tok;
        o.effective_order = true;
        double b = bleu1(sys, 1, ref, off, &o, NULL);
        FT_CHECKF(fabs(b - cases[i].want) < 1e-3, "case %zu: %.5f, want %.5f", i, b, cases[i].want);
    }
    /* test_cases_zero_bleu (#141): no match at all is 0 whatever the smoothing */
    const char *s0[] = {"this is a cat"}, *r0[] = {"okay thanks"};
    for (int m = FT_BLEU_SMOOTH_EXP; m <= FT_BLEU_SMOOTH_ADD_K; m++) {
        ft_bleu_opts o;
        ft_bleu_opts_default(&o);
        o.smooth = (ft_bleu_smooth)m;
        o.effective_order = true;
        FT_CHECK(bleu1(s0, 1, r0, off, &o, NULL) == 0.0);
    }
}

FT_TEST(test_bleu_hand) {
    ft_bleu_opts o;
    ft_bleu_opts_default(&o);
    ft_bleu_score s;
    /* "a b c d" vs "a b c e": 3/4, 2/3, 1/2, 0/1 → exp smoothing p4 = 1/(2·1); BLEU = (1/8)^(1/4) */
    const char *h[] = {"a b c d"}, *r[] = {"a b c e"};
    size_t off[] = {0, 1};
    FT_CHECK_NEAR(bleu1(h, 1, r, off, &o, &s), 100 * pow(0.125, 0.25), 1e-9);
    FT_CHECK_NEAR(s.precisions[3], 50.0, 1e-12);
    FT_CHECK(s.bp == 1.0);
    /* closest reference length, ties to the shorter: hyp 3 tokens, refs 2 and 4 → 2 */
    const char *h2[] = {"x y z"}, *r2[] = {"x y w v", "x y"};
    size_t off2[] = {0, 2};
    bleu1(h2, 1, r2, off2, &o, &s);
    FT_CHECK(s.ref_len == 2 && s.sys_len == 3);
    /* clipping by the maximum count over references: "the the the" vs refs with 1 and 2 "the" */
    const char *h3[] = {"the the the"}, *r3[] = {"the cat", "the the dog"};
    bleu1(h3, 1, r3, off2, &o, &s);
    FT_CHECK(s.counts[0] == 2 && s.totals[0] == 3 && s.counts[1] == 1 && s.totals[1] == 2);
    /* hypothesis shorter than the reference: BP = exp(1 - 4/2) */
    const char *h4[] = {"a b"}, *r4[] = {"a b c d"};
    bleu1(h4, 1, r4, off, &o, &s);
    FT_CHECK_NEAR(s.bp, exp(1.0 - 2.0), 1e-15);
    /* errors */
    size_t off0[] = {0, 0};
    FT_CHECK_FAILS(ft_metric_bleu(h, 1, r, off0, &o, &s), FT_ERR_ARG, "example 1 has no reference");
    o.max_order = 9;
    FT_CHECK_FAILS(ft_metric_bleu(h, 1, r, off, &o, &s), FT_ERR_ARG, "max n-gram order 9");
}

/* ---------------- Porter stemmer ---------------- */

FT_TEST(test_porter) {
    /* the paper's examples, NLTK's extensions (ties, dies, spied, flies, irregular forms, enjoy) and
     * NLTK_EXTENSIONS-mode outputs of nltk 3.8 */
    static const char *const pairs[][2] = {
        {"caresses", "caress"}, {"ponies", "poni"},       {"ties", "tie"},          {"cats", "cat"},
        {"feed", "feed"},       {"agreed", "agre"},       {"plastered", "plaster"}, {"motoring", "motor"},
        {"sing", "sing"},       {"conflated", "conflat"}, {"troubled", "troubl"},   {"sized", "size"},
        {"hopping", "hop"},     {"tanned", "tan"},        {"falling", "fall"},      {"hissing", "hiss"},
        {"fizzed", "fizz"},     {"failing", "fail"},      {"filing", "file"},       {"happy", "happi"},
        {"sky", "sky"},         {"relational", "relat"},  {"conditional", "condit"}, {"rational", "ration"},
        {"valenci", "valenc"},  {"digitizer", "digit"},   {"conformabli", "conform"}, {"radicalli", "radic"},
        {"differentli", "differ"}, {"vileli", "vile"},    {"analogousli", "analog"}, {"vietnamization", "vietnam"},
        {"predication", "predic"}, {"operator", "oper"},  {"feudalism", "feudal"},  {"decisiveness", "decis"},
        {"hopefulness", "hope"}, {"callousness", "callous"}, {"formaliti", "formal"}, {"sensitiviti", "sensit"},
        {"sensibiliti", "sensibl"}, {"triplicate", "triplic"}, {"formative", "form"}, {"formalize", "formal"},
        {"electriciti", "electr"}, {"electrical", "electr"}, {"hopeful", "hope"},   {"goodness", "good"},
        {"revival", "reviv"},   {"allowance", "allow"},   {"inference", "infer"},   {"airliner", "airlin"},
        {"gyroscopic", "gyroscop"}, {"adjustable", "adjust"}, {"defensible", "defens"}, {"irritant", "irrit"},
        {"replacement", "replac"}, {"adjustment", "adjust"}, {"dependent", "depend"}, {"adoption", "adopt"},
        {"homologou", "homolog"}, {"communism", "commun"}, {"activate", "activ"},   {"angulariti", "angular"},
        {"homologous", "homolog"}, {"effective", "effect"}, {"bowdlerize", "bowdler"}, {"probate", "probat"},
        {"rate", "rate"},       {"cease", "ceas"},        {"controll", "control"},  {"roll", "roll"},
        {"dying", "die"},       {"lying", "lie"},         {"skies", "sky"},         {"flies", "fli"},
        {"dies", "die"},        {"spied", "spi"},         {"died", "die"},          {"news", "news"},
        {"innings", "inning"},  {"generously", "gener"},  {"archaeology", "archaeolog"}, {"geology", "geolog"},
        {"yyyy", "yyyi"},       {"syzygy", "syzygi"},     {"toy", "toy"},           {"enjoy", "enjoy"},
        {"spy", "spi"},         {"fly", "fli"},           {"is", "is"},             {"a", "a"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        char out[64];
        size_t n = ft_porter_stem(pairs[i][0], strlen(pairs[i][0]), out);
        FT_CHECKF(n == strlen(out) && !strcmp(out, pairs[i][1]), "stem(%s) = %s, want %s", pairs[i][0], out,
                  pairs[i][1]);
    }
}

/* ---------------- ROUGE ---------------- */

static void rouge_is(const char *target, const char *pred, bool stem, int type, double p, double r, double f,
                     double tol) {
    ft_rouge_prf s[4];
    FT_CHECK_OK(ft_rouge_pair(target, pred, stem, s));
    FT_CHECKF(fabs(s[type].p - p) <= tol && fabs(s[type].r - r) <= tol && fabs(s[type].f - f) <= tol,
              "type %d: P %.6f R %.6f F %.6f, want %.6f %.6f %.6f", type, s[type].p, s[type].r, s[type].f, p, r, f);
}

enum { R1, R2, RL, RLSUM };

FT_TEST(test_rouge_scorer_tests) {
    /* rouge-score rouge_scorer_test.py: testRouge1, testRouge2, testRougeLConsecutive,
     * testRougeLNonConsecutive, testMultipleRougeTypes, testRougeEmpty, testRougeLsum */
    rouge_is("testing one two", "testing", false, R1, 1, 1.0 / 3, 0.5, 1e-12);
    rouge_is("testing one two", "testing one", false, R2, 1, 0.5, 2.0 / 3, 1e-12);
    rouge_is("testing one two", "testing one", false, RL, 1, 2.0 / 3, 0.8, 1e-12);
    rouge_is("testing one two", "testing two", false, RL, 1, 2.0 / 3, 0.8, 1e-12);
    rouge_is("testing one two", "testing one", false, R1, 1, 2.0 / 3, 0.8, 1e-12);
    for (int t = R1; t <= RLSUM; t++)
        rouge_is("testing one two", "", false, t, 0, 0, 0, 0);
    rouge_is("w1 w2 w3 w4 w5", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5", false, RLSUM, 0.4, 0.8, 0.5333, 1e-4);
    rouge_is("w1 w2 w3 w4 w5", "", false, RLSUM, 0, 0, 0, 0);
    rouge_is("", "w1", false, RLSUM, 0, 0, 0, 0);
    rouge_is("w1 w2 w3 w4 w5", "/", false, RLSUM, 0, 0, 0, 0);
}

/* rouge-score testdata/target.txt and prediction.txt lines 1-2 and pyrouge_files/{target,prediction}_multi.0.txt
 * (synthetic strings; the expected values are ROUGE-1.5.5's, published in rouge_scorer_test.py). */
static const char *const T0 =
    "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr "
    "q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n";
static const char *const T1 =
    "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer "
    "HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion "
    "gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n";
static const char *const P0 = "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n";
static const char *const P1 =
    "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed "
    "nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n";
static const char *const TM =
    "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr "
    "q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n"
    "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer "
    "HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion "
    "gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n"
    "NhETebUbBk'er WOvoHMTjSRizKgH'vHiing Xu,hWxfs VkNE QhgKiLHE -HidivzoM.dO anhtion jbLQiSGDTCsuhREebUaKM dv J "
    "dVN tmbOT\n"
    "vMR HDm,xOAetion D,tion HJtodT.mHl UIv-p VjWH'BdyWjnfGU-OjT aEMdFICyLWfQMtion wEMfdOKing AwkeKbO 'DxqNOHBH "
    "qKtVvm OYJl mM\n";
static const char *const PM =
    "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n"
    "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed "
    "nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n"
    "xfs VkJE QhgKiLHE -HidivzoM.dO anhing jbLQiSGDTCsuhREebUaKM dv J\n"
    "VjWH'BdyWjnfGU-OjTNaEMdFICyLWfQMing wEMfdOKijg AwkeKbO 'DxqNO\n";

FT_TEST(test_rouge_against_rouge155) {
    const double e = 5e-6; /* assertAlmostEqual(..., 5): 5 decimal places */
    /* testRouge1AgainstRouge155 / WithStemming */
    rouge_is(T0, P0, false, R1, 0.68750, 0.40741, 0.51163, e);
    rouge_is(T1, P1, false, R1, 0.65385, 0.40476, 0.50000, e);
    rouge_is(T0, P0, true, R1, 0.68750, 0.40741, 0.51163, e);
    rouge_is(T1, P1, true, R1, 0.69231, 0.42857, 0.52941, e);
    /* testRouge2AgainstRouge155 / WithStemming */
    rouge_is(T0, P0, false, R2, 0.53333, 0.30769, 0.39024, e);
    rouge_is(T1, P1, false, R2, 0.48000, 0.29268, 0.36364, e);
    rouge_is(T0, P0, true, R2, 0.53333, 0.30769, 0.39024, e);
    rouge_is(T1, P1, true, R2, 0.48000, 0.29268, 0.36364, e);
    /* testRougeLAgainstRouge155 */
    rouge_is(T0, P0, false, RL, 0.68750, 0.40741, 0.51163, e);
    rouge_is(T1, P1, false, RL, 0.65385, 0.40476, 0.50000, e);
    /* testRougeLSumAgainstRouge155WithStemming */
    rouge_is(TM, PM, true, RLSUM, 0.66667, 0.36538, 0.47205, e);
}

FT_TEST(test_rouge_hand) {
    char *buf;
    size_t n;
    /* lowercase, split on non-[a-z0-9]; U+212A KELVIN SIGN lowers to 'k', 'İ' to 'i' + a separator */
    FT_CHECK_OK(ft_rouge_tokenize("Hello, World! it's 3AM caf\xc3\xa9 5\xe2\x84\xaa \xc4\xb0x", false, &buf, &n));
    const char *want[] = {"hello", "world", "it", "s", "3am", "caf", "5k", "i", "x"};
    FT_CHECK(n == 9);
    const char *p = buf;
    for (size_t i = 0; i < n && i < 9; i++, p += strlen(p) + 1)
        FT_CHECKF(!strcmp(p, want[i]), "token %zu '%s' want '%s'", i, p, want[i]);
    free(buf);
    /* stemming only touches tokens longer than 3: "dies" → "die", "ties" (4) → "tie", "was" stays */
    FT_CHECK_OK(ft_rouge_tokenize("Dies was running", true, &buf, &n));
    FT_CHECK(n == 3 && !strcmp(buf, "die") && !strcmp(buf + 4, "was") && !strcmp(buf + 8, "run"));
    free(buf);
    /* rougeL vs rouge2 by hand: target "a b c d e", pred "a c e b": LCS a c e = 3 → P 3/4 R 3/5;
     * bigrams of pred (ac ce eb) none in target → 0 */
    rouge_is("a b c d e", "a c e b", false, RL, 0.75, 0.6, 2 * 0.75 * 0.6 / 1.35, 1e-12);
    rouge_is("a b c d e", "a c e b", false, R2, 0, 0, 0, 0);
    /* rougeLsum counts a token once per occurrence on both sides */
    rouge_is("a a\na", "a", false, RLSUM, 1, 1.0 / 3, 0.5, 1e-12);
    /* mean over examples, best reference per example */
    const char *preds[] = {"the cat sat", "hello"}, *refs[] = {"a dog", "the cat sat", "bye"};
    size_t off[] = {0, 2, 3};
    ft_rouge_score s;
    FT_CHECK_OK(ft_metric_rouge(preds, 2, refs, off, false, &s));
    FT_CHECK_NEAR(s.rouge1, 0.5, 1e-12);
    FT_CHECK_NEAR(s.rougeLsum, 0.5, 1e-12);
    size_t off0[] = {0, 0, 1};
    FT_CHECK_FAILS(ft_metric_rouge(preds, 2, refs, off0, false, &s), FT_ERR_ARG, "example 1 has no reference");
}

/* ---------------- SQuAD ---------------- */

static void norm_is(const char *in, const char *want) {
    char *o = NULL;
    FT_CHECK_OK(ft_squad_normalize(in, &o));
    FT_CHECKF(o && !strcmp(o, want), "normalize('%s') = '%s', want '%s'", in, o ? o : "", want);
    free(o);
}

FT_TEST(test_squad) {
    norm_is("The  Quick, brown fox!", "quick brown fox");
    norm_is("an apple a day", "apple day");
    norm_is("Theater anthem", "theater anthem");
    norm_is("the-end", "theend");   /* punctuation goes before the article rule */
    norm_is("a.b", "ab");
    norm_is("\xc3\x89" "COLE", "\xc3\xa9" "cole"); /* Unicode lowercase */
    double em, f1;
    /* "cat sat" vs "cat sat down": 2 shared, P 1, R 2/3 → F1 0.8 */
    FT_CHECK_OK(ft_squad_pair("the cat sat", "a cat sat down", &em, &f1));
    FT_CHECK(em == 0.0);
    FT_CHECK_NEAR(f1, 0.8, 1e-15);
    FT_CHECK_OK(ft_squad_pair("The Cat, sat.", "cat sat", &em, &f1));
    FT_CHECK(em == 1.0 && f1 == 1.0);
    /* duplicates count once per occurrence: "a b b" vs "b c": tokens "b b" vs "b c" → 1 shared */
    FT_CHECK_OK(ft_squad_pair("x b b", "b c", &em, &f1));
    FT_CHECK_NEAR(f1, 2 * (1.0 / 3) * 0.5 / (1.0 / 3 + 0.5), 1e-15);
    /* v1.1: both empty after normalization → EM 1, F1 0 */
    FT_CHECK_OK(ft_squad_pair("the", "", &em, &f1));
    FT_CHECK(em == 1.0 && f1 == 0.0);
    /* max over gold answers, mean ×100 */
    const char *preds[] = {"Denver Broncos", "1990"}, *golds[] = {"Broncos", "Denver Broncos", "1991"};
    size_t off[] = {0, 2, 3};
    ft_squad_score s;
    FT_CHECK_OK(ft_metric_squad(preds, 2, golds, off, &s));
    FT_CHECK_NEAR(s.exact_match, 50.0, 1e-12);
    FT_CHECK_NEAR(s.f1, 50.0, 1e-12);
    size_t off0[] = {0, 2, 2};
    FT_CHECK_FAILS(ft_metric_squad(preds, 2, golds, off0, &s), FT_ERR_ARG, "example 2 has no gold answer");
}

/* ---------------- files and ft_score_compute ---------------- */

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *content) {
    static char paths[16][128];
    static int k;
    char *p = paths[k++ % 16];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    fputs(content, f);
    fclose(f);
    return p;
}

static cJSON *score_json(const char *metric, const char *pred, const char *const *refs, size_t nr, bool stem) {
    ft_score_data d;
    if (ft_score_read(pred, refs, nr, &d) != FT_OK)
        return NULL;
    ft_score_opts o = {.stem = stem};
    ft_bleu_opts_default(&o.bleu);
    cJSON *j = NULL;
    char *text = NULL;
    ft_score_compute(metric, &d, &o, &j, &text);
    free(text);
    ft_score_data_free(&d);
    return j;
}

static int has_keys(const cJSON *j, const char *const *keys, size_t n) {
    if (!j || cJSON_GetArraySize(j) != (int)n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!cJSON_GetObjectItemCaseSensitive(j, keys[i]))
            return 0;
    return 1;
}

static double num(const cJSON *j, const char *k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

FT_TEST(test_score_read) {
    /* text: CRLF and a missing final newline; JSONL: strings with newlines, empty strings, lists */
    const char *p = write_tmp("p.txt", "one\r\ntwo\n\nfour");
    const char *r = write_tmp("r.jsonl", "\"one\"\n[\"2\", \"two\"]\n\"\"\n\"fo\\nur\"\n");
    const char *refs[] = {r, p};
    ft_score_data d;
    FT_CHECK_OK(ft_score_read(p, refs, 2, &d));
    FT_CHECK(d.n == 4 && !strcmp(d.pred[0], "one") && !strcmp(d.pred[2], "") && !strcmp(d.pred[3], "four"));
    FT_CHECK(d.off[0] == 0 && d.off[1] == 2 && d.off[2] == 5 && d.off[4] == 9);
    FT_CHECK(!strcmp(d.refs[2], "2") && !strcmp(d.refs[3], "two") && !strcmp(d.refs[4], "two"));
    FT_CHECK(!strcmp(d.refs[7], "fo\nur") && d.ref_line[7] == 4 && d.ref_path[8] == p);
    ft_score_data_free(&d);

    /* bad input */
    const char *short_ = write_tmp("short.txt", "a\nb\n");
    const char *one[] = {short_};
    FT_CHECK_FAILS(ft_score_read(p, one, 1, &d), FT_ERR_FORMAT, "p.txt has 4 examples but");
    FT_CHECK(strstr(ft_last_error(), "short.txt has 2"));
    const char *bad = write_tmp("bad.jsonl", "\"ok\"\n{\"x\": 1\n\"ok\"\n\"ok\"\n");
    const char *b1[] = {bad};
    FT_CHECK_FAILS(ft_score_read(p, b1, 1, &d), FT_ERR_FORMAT, "bad.jsonl:2: not a JSON value");
    const char *blank = write_tmp("blank.jsonl", "\"ok\"\n\n\"ok\"\n\"ok\"\n");
    const char *b2[] = {blank};
    FT_CHECK_FAILS(ft_score_read(p, b2, 1, &d), FT_ERR_FORMAT, "blank.jsonl:2: empty line");
    const char *obj = write_tmp("obj.jsonl", "\"ok\"\n\"ok\"\n{\"a\": 1}\n\"ok\"\n");
    const char *b3[] = {obj};
    FT_CHECK_FAILS(ft_score_read(p, b3, 1, &d), FT_ERR_FORMAT, "obj.jsonl:3: expected a JSON string or a list");
    const char *lp = write_tmp("listpred.jsonl", "[\"a\"]\n");
    const char *b4[] = {lp};
    FT_CHECK_FAILS(ft_score_read(lp, b4, 1, &d), FT_ERR_FORMAT, "listpred.jsonl:1: expected a JSON string");
    const char *el = write_tmp("emptylist.jsonl", "[]\n");
    const char *sp = write_tmp("single.txt", "x\n");
    const char *b5[] = {el};
    FT_CHECK_FAILS(ft_score_read(sp, b5, 1, &d), FT_ERR_FORMAT, "emptylist.jsonl:1: empty list");
    const char *empty = write_tmp("empty.txt", "");
    FT_CHECK_FAILS(ft_score_read(empty, one, 1, &d), FT_ERR_FORMAT, "empty.txt: empty file");
    FT_CHECK_FAILS(ft_score_read(p, NULL, 0, &d), FT_ERR_ARG, "no reference file");
    char missing[128];
    snprintf(missing, sizeof missing, "%s/nope.txt", tmpdir);
    FT_CHECK_FAILS(ft_score_read(missing, one, 1, &d), FT_ERR_IO, "nope.txt");
}

FT_TEST(test_score_compute) {
    const char *p = write_tmp("cp.txt", "a\nb\na\n");
    const char *r = write_tmp("cr.txt", "a\na\nb\n");
    const char *refs[] = {r};
    static const char *const ck[] = {"accuracy", "precision_macro", "recall_macro", "f1_macro",
                                     "precision_micro", "recall_micro", "f1_micro", "precision_weighted",
                                     "recall_weighted", "f1_weighted"};
    cJSON *j = score_json("classification", p, refs, 1, false);
    FT_CHECK(has_keys(j, ck, 10));
    FT_CHECK_NEAR(num(j, "accuracy"), 1.0 / 3, 1e-15);
    cJSON_Delete(j);

    const char *np = write_tmp("np.txt", "1.5\n-2\n3e1\n"), *nr = write_tmp("nr.jsonl", "1\n\"-1\"\n30\n");
    const char *nrefs[] = {nr};
    static const char *const rk[] = {"mse", "mae", "r2"};
    j = score_json("regression", np, nrefs, 1, false);
    FT_CHECK(has_keys(j, rk, 3));
    FT_CHECK_NEAR(num(j, "mse"), (0.25 + 1) / 3, 1e-15);
    cJSON_Delete(j);

    const char *tp = write_tmp("tp.txt", "The cat sat on the mat.\n"), *tr = write_tmp("tr.txt", "The cat is on the mat.\n");
    const char *trefs[] = {tr};
    static const char *const bk[] = {"bleu", "precisions", "bp", "sys_len", "ref_len"};
    j = score_json("bleu", tp, trefs, 1, false);
    FT_CHECK(has_keys(j, bk, 5) && cJSON_GetArraySize(cJSON_GetObjectItem(j, "precisions")) == 4);
    FT_CHECK(num(j, "sys_len") == 7 && num(j, "ref_len") == 7);
    cJSON_Delete(j);
    static const char *const ok_[] = {"rouge1", "rouge2", "rougeL", "rougeLsum"};
    j = score_json("rouge", tp, trefs, 1, true);
    FT_CHECK(has_keys(j, ok_, 4));
    FT_CHECK_NEAR(num(j, "rouge1"), 5.0 / 6, 1e-12); /* the cat on the mat: 5 of 6 both ways */
    cJSON_Delete(j);
    static const char *const sk[] = {"exact_match", "f1"};
    j = score_json("squad", tp, trefs, 1, false);
    FT_CHECK(has_keys(j, sk, 2));
    cJSON_Delete(j);

    /* errors from the metrics, naming the file and line */
    ft_score_data d;
    ft_score_opts o = {0};
    ft_bleu_opts_default(&o.bleu);
    cJSON *out;
    char *text;
    FT_CHECK_OK(ft_score_read(tp, trefs, 1, &d));
    FT_CHECK_FAILS(ft_score_compute("regression", &d, &o, &out, &text), FT_ERR_FORMAT, "tp.txt:1: not a number");
    FT_CHECK_FAILS(ft_score_compute("blue", &d, &o, &out, &text), FT_ERR_ARG,
                   "unknown metric 'blue' (known: bleu, rouge, squad, classification, regression)");
    ft_score_data_free(&d);
    const char *inf = write_tmp("inf.txt", "1\ninf\n3\n");
    const char *irefs[] = {inf};
    FT_CHECK_OK(ft_score_read(np, irefs, 1, &d));
    FT_CHECK_FAILS(ft_score_compute("regression", &d, &o, &out, &text), FT_ERR_NUMERIC, "inf.txt:2: not a finite");
    ft_score_data_free(&d);
    const char *multi = write_tmp("multi.jsonl", "[\"a\", \"b\"]\n\"a\"\n\"b\"\n");
    const char *mrefs[] = {multi};
    FT_CHECK_OK(ft_score_read(p, mrefs, 1, &d));
    FT_CHECK_FAILS(ft_score_compute("classification", &d, &o, &out, &text), FT_ERR_FORMAT,
                   "multi.jsonl:1: classification takes exactly one reference");
    ft_score_data_free(&d);
}

static int stem_stdin(void) {
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strcspn(line, "\r\n");
        char out[4096];
        ft_porter_stem(line, n, out);
        printf("%s\n", out);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--stem"))
        return stem_stdin();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ft_test_metricsXXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    FT_RUN(test_classification_ids);
    FT_RUN(test_classification_strings);
    FT_RUN(test_regression);
    FT_RUN(test_perplexity);
    FT_RUN(test_bleu_13a);
    FT_RUN(test_bleu_sacrebleu_corpus);
    FT_RUN(test_bleu_sacrebleu_raw);
    FT_RUN(test_bleu_sacrebleu_sentence);
    FT_RUN(test_bleu_hand);
    FT_RUN(test_porter);
    FT_RUN(test_rouge_scorer_tests);
    FT_RUN(test_rouge_against_rouge155);
    FT_RUN(test_rouge_hand);
    FT_RUN(test_squad);
    FT_RUN(test_score_read);
    FT_RUN(test_score_compute);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    FT_DONE();
}
