#!/usr/bin/python3
"""Reference for ftune's QA post-processing: a plain re-implementation of what HF transformers'
examples/pytorch/question-answering/utils_qa.py postprocess_qa_predictions does (written from its
description, not copied), and random cases to check ftune against.

  qa_post.py cases OUT.json [SEED]   write random cases (examples, windows with offsets and logits, settings)
  qa_post.py ref CASES.json OUT.json  the reference answers of each case
  qa_post.py compare REF.json FTUNE.json   exit 1 on a difference (texts exactly, probabilities 1e-5)

A window's offset_mapping entry is [start, end] in the context's characters, or null for a token that is
not context (question, special tokens), as run_qa's prepare_validation_features leaves them."""
import json
import math
import random
import sys

import numpy as np

WORDS = ["alpha", "beta", "gamma", "delta", "zürich", "café", "naïve", "x", "yy", "the", "of", "river", "日本",
         "über", "one", "two", "three", "sea", "stone", "42", "1999", "—", "it's"]


def best_indexes(logits, n):
    """The n largest logits' indexes, largest first, as np.argsort(...)[-1:-n-1:-1] picks them."""
    order = np.argsort(np.asarray(logits, dtype=np.float64), kind="stable")
    return order[-1:-n - 1:-1].tolist()


def postprocess(example, windows, n_best, max_answer_length, v2, threshold):
    """One example's answer: {"text", "prob", "null_score", "start_logit", "end_logit"}."""
    ctx = example["context"]
    null = None
    prelim = []
    for w in windows:
        sl, el, om = w["start_logits"], w["end_logits"], w["offset_mapping"]
        ns = sl[0] + el[0]
        if null is None or null["score"] > ns:
            null = {"offsets": (0, 0), "score": ns, "start_logit": sl[0], "end_logit": el[0], "null": True}
        for s in best_indexes(sl, n_best):
            for e in best_indexes(el, n_best):
                if s >= len(om) or e >= len(om) or om[s] is None or om[e] is None:
                    continue
                if e < s or e - s + 1 > max_answer_length:
                    continue
                prelim.append({"offsets": (om[s][0], om[e][1]), "score": sl[s] + el[e], "start_logit": sl[s],
                               "end_logit": el[e], "null": False})
    if v2:
        prelim.append(null)
        null_score = null["score"]
    preds = sorted(prelim, key=lambda p: p["score"], reverse=True)[:n_best]
    if v2 and not any(p["null"] for p in preds):
        preds.append(null)
    for p in preds:
        p["text"] = "" if p["null"] else ctx[p["offsets"][0]:p["offsets"][1]]
    if len(preds) == 0 or (len(preds) == 1 and preds[0]["text"] == ""):
        preds.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0, "null": False})
    scores = np.array([p["score"] for p in preds], dtype=np.float64)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    for p, q in zip(preds, probs):
        p["prob"] = float(q)
    out = {"null_score": null["score"]}
    if not v2:
        pick = preds[0]
    else:
        i = 0
        while preds[i]["text"] == "":
            i += 1
        best = preds[i]
        pick = null if null_score - best["start_logit"] - best["end_logit"] > threshold else best
        if pick is null:
            pick = dict(null, text="", prob=next(p["prob"] for p in preds if p.get("null")))
    out.update(text=pick["text"], prob=pick["prob"], start_logit=pick["start_logit"], end_logit=pick["end_logit"])
    return out


def make_context(rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 40))]
    ctx, spans, pos = "", [], 0
    for i, w in enumerate(words):
        sep = "" if i == 0 else rng.choice([" ", " ", "  ", ", "])
        ctx += sep
        pos = len(ctx)
        # a word may be split into two pieces (as WordPiece would)
        if len(w) > 3 and rng.random() < 0.3:
            k = rng.randint(1, len(w) - 1)
            spans += [(pos, pos + k), (pos + k, pos + len(w))]
        else:
            spans.append((pos, pos + len(w)))
        ctx += w
    return ctx, spans


def make_case(rng, k):
    ctx, spans = make_context(rng)
    nq = rng.randint(1, 5)                     # question tokens
    head, mid, tail = 1, rng.choice([1, 2]), 1  # [CLS] q [SEP] (or </s></s>) ctx [SEP]
    room = rng.choice([len(spans), max(1, len(spans) // 2), max(1, len(spans) // 3), 2])
    stride = rng.randint(0, max(0, room - 1))
    windows, start = [], 0
    while True:
        end = min(start + room, len(spans))
        om = [None] * (head + nq + mid) + [list(s) for s in spans[start:end]] + [None] * tail
        if rng.random() < 0.05:  # a window whose context is cut off entirely (only non-context tokens)
            om = [None] * (head + nq + mid + tail)
        scale = rng.choice([0.5, 2.0, 5.0])
        sl = [float(np.float32(rng.gauss(0, scale))) for _ in om]
        el = [float(np.float32(rng.gauss(0, scale))) for _ in om]
        if rng.random() < 0.3:  # a strong null score in some windows
            sl[0] += 8.0
            el[0] += 8.0
        windows.append({"offset_mapping": om, "start_logits": sl, "end_logits": el})
        if end >= len(spans):
            break
        start += room - stride
    return {"id": "case-%d" % k, "context": ctx,
            "settings": {"n_best": rng.choice([1, 3, 5, 20]), "max_answer_length": rng.choice([1, 2, 5, 30]),
                         "version_2_with_negative": rng.random() < 0.5,
                         "null_score_diff_threshold": rng.choice([-2.0, 0.0, 0.0, 1.5])},
            "windows": windows}


def main():
    cmd = sys.argv[1]
    if cmd == "cases":
        rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
        cases = [make_case(rng, k) for k in range(300)]
        json.dump(cases, open(sys.argv[2], "w"), ensure_ascii=False)
    elif cmd == "ref":
        cases = json.load(open(sys.argv[2]))
        out = []
        for c in cases:
            s = c["settings"]
            out.append(postprocess(c, c["windows"], s["n_best"], s["max_answer_length"],
                                   s["version_2_with_negative"], s["null_score_diff_threshold"]))
        json.dump(out, open(sys.argv[3], "w"), ensure_ascii=False)
    elif cmd == "compare":
        ref, got = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
        if len(ref) != len(got):
            sys.exit("%d reference answers, %d from ftune" % (len(ref), len(got)))
        bad = 0
        kinds = {"null": 0, "empty": 0, "span": 0}
        for i, (r, g) in enumerate(zip(ref, got)):
            kinds["null" if r["text"] == "" else "empty" if r["text"] == "empty" else "span"] += 1
            ok = r["text"] == g["text"] and all(abs(r[k] - g[k]) <= 1e-5 * max(1.0, abs(r[k]))
                                                for k in ("prob", "null_score", "start_logit", "end_logit"))
            if not ok:
                bad += 1
                if bad <= 5:
                    print("case %d: reference %s, ftune %s" % (i, json.dumps(r, ensure_ascii=False),
                                                             json.dumps(g, ensure_ascii=False)))
        print("%d cases (%d spans, %d null answers, %d 'empty'), %d differ" % (len(ref), kinds["span"],
                                                                             kinds["null"], kinds["empty"], bad))
        if bad or min(kinds.values()) == 0:
            sys.exit(1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
