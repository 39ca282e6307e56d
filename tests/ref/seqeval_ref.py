#!/usr/bin/python3
"""Independent reference for ftune's token-classification metrics (tests/seqeval_parity.sh).

Written from seqeval's documented default (non-strict) behaviour: the sentences are joined with an 'O'
after each; a label is read as its first character (the chunk tag) and the text after the first '-' of
the rest (the type, '_' when empty); a chunk closes after E or S, when B or I is followed by B, S or O, and
when a non-O (non-'.') tag is followed by another type; a chunk opens at B or S, at I or E after O, E or S,
and at any non-O (non-'.') tag whose type differs from the previous one. Entities are (type, begin, end)
sets; micro precision / recall / F1 over all of them, the same per type over the union of true and
predicted types; accuracy over the words. A tag set that is not all 'O' / B- / I- / E- / S- tags gets,
instead of entity scores, the macro-F1 over the tags that occur in the truth or the prediction.

  gen --out FILE [--n N] [--seed S]     random cases (and hand-picked edge cases), one JSON per line
  compare --cases FILE --got FILE       compares ftune's lines (test_tagging --cases) with this reference
"""
import argparse
import json
import random
import sys


def head_and_type(label):
    head = label[0]
    rest = label[1:]
    kind = rest.split("-", 1)[-1] if rest else ""
    return head, kind or "_"


def chunks(labels):
    found = []
    prev_head, prev_type, start = "O", "", 0
    for pos, label in enumerate(list(labels) + ["O"]):
        head, kind = head_and_type(label)
        type_switch = kind != prev_type
        closes = (prev_head in ("E", "S")
                  or (prev_head in ("B", "I") and head in ("B", "S", "O"))
                  or (prev_head not in ("O", ".") and type_switch))
        opens = (head in ("B", "S")
                 or (head in ("I", "E") and prev_head in ("O", "E", "S"))
                 or (head not in ("O", ".") and type_switch))
        if closes:
            found.append((prev_type, start, pos - 1))
        if opens:
            start = pos
        prev_head, prev_type = head, kind
    return found


def joined(sentences):
    out = []
    for s in sentences:
        out.extend(s)
        out.append("O")
    return out


def ratio(a, b):
    return a / b if b else 0.0


def prf(correct, pred, true):
    p, r = ratio(correct, pred), ratio(correct, true)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def is_bio(names):
    tagged = [n for n in names if n != "O"]
    return bool(tagged) and all(len(n) > 2 and n[0] in "BIES" and n[1] == "-" for n in tagged)


def metrics(names, true_ids, pred_ids):
    t = [[names[i] for i in s] for s in true_ids]
    p = [[names[i] for i in s] for s in pred_ids]
    flat_t = [x for s in t for x in s]
    flat_p = [x for s in p for x in s]
    out = {"accuracy": ratio(sum(a == b for a, b in zip(flat_t, flat_p)), len(flat_t)), "entities": is_bio(names)}
    if out["entities"]:
        te, pe = set(chunks(joined(t))), set(chunks(joined(p)))
        out["precision"], out["recall"], out["f1"] = prf(len(te & pe), len(pe), len(te))
        per = {}
        for kind in sorted({e[0] for e in te} | {e[0] for e in pe}):
            tk, pk = {e for e in te if e[0] == kind}, {e for e in pe if e[0] == kind}
            pr, rc, f1 = prf(len(tk & pk), len(pk), len(tk))
            per[kind] = {"precision": pr, "recall": rc, "f1": f1, "support": len(tk)}
        out["per_type"] = per
    else:
        scores = []
        for tag in sorted(set(flat_t) | set(flat_p)):
            tp = sum(a == b == tag for a, b in zip(flat_t, flat_p))
            scores.append(prf(tp, flat_p.count(tag), flat_t.count(tag))[2])
        out["f1_macro_tags"] = sum(scores) / len(scores) if scores else 0.0
    return out


TAGSETS = [
    ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"],
    ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-MISC", "I-MISC", "E-MISC", "S-MISC"],  # IOBES
    ["O", "B-A-B", "I-A-B", "I-C"],  # types with a dash; an I- type that never begins
    ["O", "I-PER", "I-ORG"],  # IOB1-like: chunks open at I after O
    ["NN", "VB", "DT", "JJ", "IN"],  # POS: no entities
    ["O", "B-PER", "NN"],  # mixed: not BIO
]

EDGE = [  # (tag set index, true, pred)
    (0, [["O", "O"]], [["O", "O"]]),
    (0, [["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]]),
    (0, [["B-PER", "I-LOC"]], [["B-PER", "I-PER"]]),
    (0, [["B-PER"], ["I-PER"]], [["B-PER", ], ["B-PER"]]),
    (0, [[], ["B-ORG", "I-ORG"]], [[], ["B-ORG", "O"]]),
    (1, [["S-LOC", "E-LOC", "E-LOC"]], [["B-LOC", "E-LOC", "S-LOC"]]),
    (2, [["B-A-B", "I-A-B", "I-C"]], [["I-C", "I-A-B", "O"]]),
]


def gen(path, n, seed):
    rng = random.Random(seed)
    cases = []
    for k, t, p in EDGE:
        names = TAGSETS[k]
        cases.append({"names": names, "true": [[names.index(x) for x in s] for s in t],
                      "pred": [[names.index(x) for x in s] for s in p]})
    for _ in range(n):
        names = rng.choice(TAGSETS)
        sents = rng.randint(1, 5)
        true, pred = [], []
        for _ in range(sents):
            L = rng.randint(0, 12)
            # mostly 'O' where there is one, so chunks are realistic; the prediction copies the truth with noise
            t = [0 if names[0] == "O" and rng.random() < 0.4 else rng.randrange(len(names)) for _ in range(L)]
            noise = rng.choice([0.0, 0.1, 0.3, 1.0])
            q = [rng.randrange(len(names)) if rng.random() < noise else x for x in t]
            true.append(t)
            pred.append(q)
        cases.append({"names": names, "true": true, "pred": pred})
    with open(path, "w") as f:
        for c in cases:
            f.write(json.dumps(c) + "\n")


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol


def compare(cases_path, got_path):
    with open(cases_path) as f:
        cases = [json.loads(x) for x in f]
    with open(got_path) as f:
        got = [json.loads(x) for x in f]
    if len(cases) != len(got):
        print(f"seqeval_parity: FAIL {len(got)} results for {len(cases)} cases")
        return 1
    bad = 0
    for i, (c, g) in enumerate(zip(cases, got)):
        want = metrics(c["names"], c["true"], c["pred"])
        errs = []
        for key in ("accuracy", "precision", "recall", "f1", "f1_macro_tags"):
            if key in want and not close(want[key], g[key]):
                errs.append(f"{key} {g[key]} != {want[key]}")
        if want["entities"] != g["entities"]:
            errs.append(f"entities {g['entities']} != {want['entities']}")
        if want["entities"]:
            wp, gp = want["per_type"], g["per_type"]
            if sorted(wp) != sorted(gp):
                errs.append(f"types {sorted(gp)} != {sorted(wp)}")
            else:
                for k in wp:
                    for m in ("precision", "recall", "f1", "support"):
                        if not close(wp[k][m], gp[k][m]):
                            errs.append(f"{k}.{m} {gp[k][m]} != {wp[k][m]}")
        if errs:
            bad += 1
            if bad <= 5:
                print(f"seqeval_parity: FAIL case {i + 1} {json.dumps(c)}: " + "; ".join(errs))
    n_ent = sum(1 for c in cases if is_bio(c["names"]))
    print(f"seqeval_parity: {len(cases) - bad} of {len(cases)} cases agree ({n_ent} with entity scores)")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["gen", "compare"])
    ap.add_argument("--out")
    ap.add_argument("--cases")
    ap.add_argument("--got")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=14)
    a = ap.parse_args()
    if a.command == "gen":
        gen(a.out, a.n, a.seed)
        return 0
    return compare(a.cases, a.got)


if __name__ == "__main__":
    sys.exit(main())
