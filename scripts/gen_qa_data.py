#!/usr/bin/env python3
"""A small GENERATED extractive-QA set in SQuAD format (no real QA data is reachable here).

Each context states facts about 1-4 (default 2-4) invented people (birth city and year, job, city of work) in a few
sentence templates; each question asks one fact of one of them in one of several paraphrases, so a model
must find the person and then the slot. A share of the questions (--negatives) ask about a person the
context does not mention: SQuAD 2.0 style, is_impossible with no answer. Deterministic for a seed.

Writes into OUTDIR: train.json and test.json (SQuAD JSON: data[].paragraphs[].context/qas[]),
validation.jsonl (HF datasets' squad rows: id, question, context, answers{text, answer_start}) and
vocab.txt (a WordPiece vocabulary of every word used, for `ftune init` tiny encoders).

usage: gen_qa_data.py OUTDIR [--train N] [--validation N] [--test N] [--negatives F] [--seed S]
                      [--people-min K] [--people-max K]
"""
import argparse
import json
import os
import random
import re

FIRST = ["anna", "ben", "carla", "david", "elena", "farid", "greta", "hugo", "ines", "jonas", "kira", "leo",
         "maria", "nils", "olga", "pedro", "rosa", "sami", "tara", "umar", "vera", "walter", "yara", "zeno"]
LAST = ["adler", "brandt", "costa", "dietz", "eriksen", "fischer", "garcia", "horvat", "ivanov", "jensen",
        "keller", "lopez", "moreau", "novak", "olsen", "petrov", "quinn", "rossi", "schmidt", "tanaka"]
CITIES = ["paris", "lisbon", "oslo", "vienna", "madrid", "prague", "dublin", "athens", "warsaw", "berlin",
          "rome", "zurich", "helsinki", "riga", "sofia", "porto", "lyon", "geneva", "milan", "krakow"]
JOBS = ["teacher", "baker", "pilot", "doctor", "painter", "lawyer", "farmer", "nurse", "chemist", "architect",
        "carpenter", "journalist", "engineer", "librarian", "singer", "tailor"]

BORN = ["{n} was born in {c} in {y}.", "{n} was born in {y} in {c}.", "In {y}, {n} was born in {c}."]
WORK = ["{n} works as a {j} in {w}.", "{n} is a {j} who works in {w}.", "Today {n} works in {w} as a {j}."]
Q = {
    "city": ["Where was {n} born?", "In which city was {n} born?", "What is the birthplace of {n}?"],
    "year": ["When was {n} born?", "In what year was {n} born?", "What year was {n} born in?"],
    "job": ["What does {n} do?", "What is the job of {n}?", "What work does {n} do?"],
    "work": ["Where does {n} work?", "In which city does {n} work?", "What city does {n} work in?"],
}


def cap(s):
    return " ".join(w.capitalize() for w in s.split())


def make_example(rng, k, negatives, people_min, people_max):
    """One paragraph: its context and one question."""
    names = set()
    want = rng.randint(people_min, people_max) + 1  # one extra name for a question without answer
    while len(names) < want:
        names.add(cap(rng.choice(FIRST) + " " + rng.choice(LAST)))
    names = sorted(names)
    rng.shuffle(names)
    absent, people = names[0], names[1:]
    sents, facts = [], {}
    for n in people:
        f = {"city": cap(rng.choice(CITIES)), "year": str(rng.randint(1900, 1999)),
             "job": rng.choice(JOBS), "work": cap(rng.choice(CITIES))}
        facts[n] = f
        sents.append((rng.choice(BORN).format(n=n, c=f["city"], y=f["year"]), n, "born"))
        sents.append((rng.choice(WORK).format(n=n, j=f["job"], w=f["work"]), n, "work"))
    rng.shuffle(sents)
    context = " ".join(s for s, _, _ in sents)
    slot = rng.choice(sorted(Q))
    if rng.random() < negatives:
        q = rng.choice(Q[slot]).format(n=absent)
        return context, {"id": "gen-%06d" % k, "question": q, "answers": [], "is_impossible": True}
    n = rng.choice(people)
    q = rng.choice(Q[slot]).format(n=n)
    ans = facts[n][slot]
    # the answer's place: inside the sentence about n that states it
    kind = "born" if slot in ("city", "year") else "work"
    start = 0
    for s, who, k2 in sents:
        if who == n and k2 == kind:
            assert s.count(ans) == 1
            start += s.index(ans)
            break
        start += len(s) + 1
    assert context[start:start + len(ans)] == ans
    return context, {"id": "gen-%06d" % k, "question": q, "answers": [{"text": ans, "answer_start": start}],
                     "is_impossible": False}


def squad_json(pairs):
    return {"version": "generated", "data": [{"title": "generated people",
                                              "paragraphs": [{"context": c, "qas": [q]} for c, q in pairs]}]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--validation", type=int, default=200)
    ap.add_argument("--test", type=int, default=300)
    ap.add_argument("--negatives", type=float, default=0.0, help="share of unanswerable questions (SQuAD 2.0)")
    ap.add_argument("--people-min", type=int, default=2, help="fewest people in one context (>= 1)")
    ap.add_argument("--people-max", type=int, default=4, help="most people in one context")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    rng = random.Random(a.seed)
    k = 0
    sets = {}
    for name, n in (("train", a.train), ("validation", a.validation), ("test", a.test)):
        sets[name] = []
        for _ in range(n):
            lo = max(1, a.people_min)
            sets[name].append(make_example(rng, k, a.negatives, lo, max(lo, a.people_max)))
            k += 1
    for name in ("train", "test"):
        with open(os.path.join(a.outdir, name + ".json"), "w") as f:
            json.dump(squad_json(sets[name]), f, indent=None)
    with open(os.path.join(a.outdir, "validation.jsonl"), "w") as f:
        for c, q in sets["validation"]:
            ans = q["answers"]
            f.write(json.dumps({"id": q["id"], "question": q["question"], "context": c,
                                "answers": {"text": [x["text"] for x in ans],
                                            "answer_start": [x["answer_start"] for x in ans]}}) + "\n")
    words = set()
    for pairs in sets.values():
        for c, q in pairs:
            words.update(re.findall(r"\w+|[^\w\s]", (c + " " + q["question"]).lower()))
    for n in FIRST + LAST + CITIES + JOBS:
        words.add(n)
    with open(os.path.join(a.outdir, "vocab.txt"), "w") as f:
        f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")
        for w in sorted(words):
            f.write(w + "\n")


if __name__ == "__main__":
    main()
