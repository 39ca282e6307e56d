#!/usr/bin/python3
"""Independent reference for ftune's beam search (tests/t5_beam.sh): Hugging Face generate()'s decoding rules,
written here from what transformers 4.37-4.47 do (generation/utils.py _beam_search and _greedy_search,
beam_search.py BeamSearchScorer / BeamHypotheses, logits_process.py), over the PyTorch T5 of t5_ref.py (float64
math, the logits rounded to float32 as a float32 model gives them). transformers is not imported.

Greedy (num_beams 1): the processors on the raw logits (repetition penalty: x*p below 0, x/p above, each id
of the decoder input once; no_repeat_ngram_size: ids completing an n-gram already in the decoder input get
-inf; min_new_tokens: eos gets -inf before that many new ids), then argmax (lowest id on ties).
Beam search (num_beams > 1): per step, log_softmax of each beam's logits (float32), the same processors, plus
the beam's running score (float32; beams 1.. start at -1e9); torch.topk of 2*num_beams over the flattened
[num_beams * V] scores; in rank order an eos among the first num_beams ranks becomes a finished hypothesis
scored sum_logprobs / generated_len ** length_penalty (generated_len counts the new ids and the eos: cur_len + 1
- decoder_prompt_len with decoder_prompt_len 1, the start token), other candidates become the next beams until
num_beams are taken; the hypotheses keep the num_beams best (a new one enters when fewer are kept or it beats
the worst; the lowest goes out). Done when num_beams hypotheses exist and: early_stopping true; false: the
worst kept >= best candidate score / generated_len ** length_penalty; "never": the same at max_new_tokens when
length_penalty > 0. At max_new_tokens the running beams join (their length without eos). The best hypothesis
is returned: sorted by score (stable), the last.

Near ties: every step records the smallest gap between consecutive values of the top 2*num_beams + 1
candidates (greedy: the two largest); a case whose gap falls below 1e-4 may legitimately differ between a
float32 engine and this float64 reference, so it is reported as a tie and not compared.

Subcommands:
  configs --work W   W/cfg-<kind>.json and W/kinds.tsv for `ftune init --arch t5`
  prepare --work W   the checkpoints W/<kind>-b (norms off 1, a sharper head, a likelier eos), W/cases.tsv (name,
                     model, prompt ids, ftune generate options) and W/expect.json (the reference's results)
  compare --work W   W/<name>.out (ftune generate --json) against W/expect.json
"""
import argparse
import itertools
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import enc_ref as enc  # noqa: E402
import hf_ref  # noqa: E402
import st  # noqa: E402
import t5_ref  # noqa: E402

KINDS = {k: t5_ref.KINDS[k] for k in ("t5", "t5v11")}  # v1.0 (relu, tied) and v1.1 (gated-gelu, untied)
# a decoder-only model through the same beam search (no tokenizer, so no eos: every beam runs to the length)
KINDS["gpt2"] = ("gpt2", dict(vocab_size=40, n_embd=24, n_layer=2, n_head=3, n_positions=64))
MAX_NEW = 12
TIE_GAP = 1e-4
SOURCES = [[5, 9, 3, 1], [7, 2, 30, 11, 4, 8, 21, 1], [3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 3, 2, 1], [12, 1],
           [33, 6, 17, 25, 2, 1]]


class Decoder:
    """Next-token logits of decoder inputs after one source (no cache: the whole forward each step). For T5 a
    sequence starts with decoder_start_token_id after the source went through the encoder; for GPT-2 the
    sequence starts with the source (the prompt) and eos is none."""

    def __init__(self, mdir):
        cfg, tensors = enc.load_model(mdir)
        self.cfg = cfg
        self.gpt2 = cfg.get("model_type") == "gpt2"
        self.V = cfg["vocab_size"]
        if self.gpt2:
            self.c = hf_ref.model_config(cfg)
            arrays, _ = hf_ref.bind_params(self.c, tensors, mdir)
            self.P = {k: torch.tensor(np.asarray(v), dtype=torch.float64) for k, v in arrays.items()}
            self.eos = -1
            return
        self.net = t5_ref.Net(cfg, {k: torch.tensor(v, dtype=torch.float64) for k, v in tensors.items()})
        self.start = cfg.get("decoder_start_token_id", 0)
        self.eos = cfg.get("eos_token_id", 1)

    def prefix(self, src):
        """The sequence before the first new id (HF's input_ids at the start)."""
        return list(src) if self.gpt2 else [self.start]

    def __call__(self, src, seqs):
        n = len(seqs)
        if self.gpt2:
            ids = torch.tensor(seqs)
            with torch.no_grad():
                return hf_ref.gpt2_logits(self.P, self.c, ids, torch.ones_like(ids))[:, -1, :].to(torch.float32)
        ids = torch.tensor([src] * n)
        dec = torch.tensor(seqs)
        b = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "decoder_input_ids": dec,
             "decoder_attention_mask": torch.ones_like(dec)}
        with torch.no_grad():
            return self.net.logits(b)[:, -1, :].to(torch.float32)


def process(scores, seq, k, o, eos):
    """HF's logits processors of every mode on one row (in place): repetition penalty, no-repeat n-grams,
    min new tokens."""
    if o["rep"] != 1.0:
        ids = torch.tensor(sorted(set(seq)))
        g = scores[ids]
        scores[ids] = torch.where(g < 0, g * o["rep"], g / o["rep"])
    n = o["ngram"]
    if n > 0 and len(seq) + 1 >= n:
        grams = {}
        for i in range(len(seq) - n + 1):
            grams.setdefault(tuple(seq[i:i + n - 1]), []).append(seq[i + n - 1])
        for t in grams.get(tuple(seq[len(seq) - n + 1:]), []):
            scores[t] = -float("inf")
    if k < o["min_new"] and eos >= 0:
        scores[eos] = -float("inf")


def gap(values, m):
    """The smallest gap between consecutive finite values of the m largest (sorted descending)."""
    v = [x for x in values[:m] if np.isfinite(x)]
    return min((a - b for a, b in zip(v, v[1:])), default=float("inf"))


def greedy(model, src, o):
    seq, min_gap = model.prefix(src), float("inf")
    p = len(seq)
    for k in range(MAX_NEW):
        lg = model(src, [seq])[0].clone()
        process(lg, seq, k, o, model.eos)
        top = torch.topk(lg, 2).values.tolist()
        min_gap = min(min_gap, gap(top, 2))
        t = int(torch.argmax(lg))
        seq.append(t)
        if t == model.eos:
            return {"ids": seq[p:], "finish": "eos", "gap": min_gap}
    return {"ids": seq[p:], "finish": "length", "gap": min_gap}


class Hypotheses:
    """BeamHypotheses: the num_beams best finished sequences."""

    def __init__(self, nb, lp, early):
        self.nb, self.lp, self.early = nb, lp, early
        self.beams, self.worst = [], 1e9

    def add(self, ids, sum_logprobs, gen_len, finished):
        score = sum_logprobs / (gen_len ** self.lp)
        if len(self.beams) < self.nb or score > self.worst:
            self.beams.append((score, ids, finished))
            if len(self.beams) > self.nb:
                ranked = sorted((s, i) for i, (s, _, _) in enumerate(self.beams))
                del self.beams[ranked[0][1]]
                self.worst = ranked[1][0]
            else:
                self.worst = min(score, self.worst)

    def done(self, best, gen_len):
        if len(self.beams) < self.nb:
            return False
        if self.early is True:
            return True
        length = MAX_NEW if self.early == "never" and self.lp > 0 else gen_len
        return self.worst >= best / length ** self.lp


def beam(model, src, o):
    nb, V = o["beams"], model.V
    seqs = [model.prefix(src) for _ in range(nb)]
    p = len(seqs[0])
    beam_scores = torch.zeros(nb, dtype=torch.float32)
    beam_scores[1:] = -1e9
    hyps = Hypotheses(nb, o["lp"], o["early"])
    done, min_gap, steps = False, float("inf"), 0
    for k in range(MAX_NEW):
        steps = k + 1
        scores = torch.log_softmax(model(src, seqs), dim=-1)
        for b in range(nb):
            process(scores[b], seqs[b], k, o, model.eos)
        scores = scores + beam_scores[:, None]
        top_v, top_i = torch.topk(scores.view(-1), 2 * nb, largest=True, sorted=True)
        min_gap = min(min_gap, gap(torch.topk(scores.view(-1), 2 * nb + 1).values.tolist(), 2 * nb + 1))
        nxt = []
        for rank, (v, i) in enumerate(zip(top_v.tolist(), top_i.tolist())):
            b, t = divmod(i, V)
            if t == model.eos:
                if rank < nb:
                    hyps.add(seqs[b][p:] + [t], v, k + 1, True)
            else:
                nxt.append((v, t, b))
            if len(nxt) == nb:
                break
        done = done or hyps.done(top_v[0].item(), k + 1)
        seqs = [seqs[b] + [t] for _, t, b in nxt]
        beam_scores = torch.tensor([v for v, _, _ in nxt], dtype=torch.float32)
        if done:
            break
    if not done:
        for b in range(nb):
            hyps.add(seqs[b][p:], beam_scores[b].item(), MAX_NEW, False)
    best = sorted(hyps.beams, key=lambda h: h[0])[-1]
    finals = sorted(h[0] for h in hyps.beams)
    return {"ids": best[1], "score": best[0], "finish": "eos" if best[2] else "length", "steps": steps,
            "gap": min(min_gap, gap(finals[::-1], len(finals)))}


def write_configs(work):
    for kind, (_arch, fields) in KINDS.items():
        with open(os.path.join(work, f"cfg-{kind}.json"), "w") as f:
            json.dump(fields, f, indent=2)
    with open(os.path.join(work, "kinds.tsv"), "w") as f:
        f.writelines(f"{kind}\t{arch}\n" for kind, (arch, _f) in KINDS.items())


def sharpen(src, dst, rng):
    """The `ftune init` checkpoint with the norms off 1 and the head rescaled until the logits' spread (std over
    the vocabulary, averaged over probe prefixes) is about 2: candidates well apart (few near ties) yet several
    plausible ones; then eos_token_id becomes the id most often ranked 2nd to 4th on greedy paths of the
    sources, so that hypotheses finish at different lengths."""
    shutil.copytree(src, dst)
    t, meta = st.load(os.path.join(src, "model.safetensors"))
    head = "lm_head.weight" if "lm_head.weight" in t else \
        "transformer.wte.weight" if "transformer.wte.weight" in t else "shared.weight"
    for k, v in t.items():
        if "layer_norm" in k or ".ln_" in k:
            t[k] = (v + 0.3 * rng.standard_normal(v.shape)).astype(np.float32)
    probes = [list(rng.integers(2, 30, n)) for n in (0, 3, 7)]
    for _ in range(4):
        st.save(os.path.join(dst, "model.safetensors"), t, metadata=meta)
        m = Decoder(dst)
        spread = float(np.mean([m(src, [m.prefix(src) + p]).std().item() for src in SOURCES for p in probes]))
        t[head] = (t[head] * (2.0 / spread)).astype(np.float32)
    st.save(os.path.join(dst, "model.safetensors"), t, metadata=meta)
    m = Decoder(dst)
    if m.gpt2:
        return
    counts = np.zeros(m.V)
    for src in SOURCES:
        seq = m.prefix(src)
        for _ in range(MAX_NEW):
            order = torch.argsort(m(src, [seq])[0], descending=True).tolist()
            counts[order[1:4]] += 1
            seq.append(order[0])
    counts[m.start] = -1
    cfg_path = os.path.join(dst, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["eos_token_id"] = int(np.argmax(counts))
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)


def options():
    """(name suffix, options) of every case: greedy with each processor, and beam search over widths 2 and 4,
    length penalties 0.6 / 1 / 2 and the three early_stopping modes, the processors cycling through them."""
    out = []
    for i, (ngram, min_new, rep) in enumerate([(0, 0, 1.0), (2, 0, 1.0), (0, 3, 1.0), (2, 3, 1.3)]):
        out.append((f"greedy{i}", dict(beams=1, lp=1.0, early=False, ngram=ngram, min_new=min_new, rep=rep)))
    modes = [False, True, "never"]
    for nb in (2, 4):
        for j, (early, lp) in enumerate(itertools.product(modes, (0.6, 1.0, 2.0))):
            ngram, min_new = [(0, 0), (2, 0), (0, 3), (2, 2)][j % 4]
            rep = 1.3 if j == 4 else 1.0
            name = f"b{nb}-{str(early).lower()}-lp{lp}-ng{ngram}-min{min_new}" + ("-rep" if rep != 1 else "")
            out.append((name, dict(beams=nb, lp=lp, early=early, ngram=ngram, min_new=min_new, rep=rep)))
    return out


def cli_args(o):
    return ["--max-new-tokens", str(MAX_NEW), "--num-beams", str(o["beams"]), "--length-penalty", repr(o["lp"]),
            "--early-stopping", str(o["early"]).lower(), "--no-repeat-ngram-size", str(o["ngram"]),
            "--min-new-tokens", str(o["min_new"]), "--repetition-penalty", repr(o["rep"])]


def prepare(work):
    rng = np.random.default_rng(1616)
    rows, expect = [], {}
    for kind in KINDS:
        mdir = os.path.join(work, kind + "-b")
        sharpen(os.path.join(work, kind), mdir, rng)
        model = Decoder(mdir)
        for si, src in enumerate(SOURCES):
            for suffix, o in options():
                name = f"{kind}-s{si}-{suffix}"
                r = greedy(model, src, o) if o["beams"] == 1 else beam(model, src, o)
                expect[name] = r
                rows.append("\t".join([name, mdir, " ".join(map(str, src))] + cli_args(o)))
    with open(os.path.join(work, "cases.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    with open(os.path.join(work, "expect.json"), "w") as f:
        json.dump(expect, f)


def compare(work, score_tol):
    with open(os.path.join(work, "expect.json")) as f:
        expect = json.load(f)
    fails, ties, n_eos, n_len, n_beam = 0, 0, 0, 0, 0
    early = {"false": 0, "true": 0, "never": 0}  # beam searches that stopped before max_new_tokens, by mode
    for name, want in expect.items():
        path = os.path.join(work, name + ".out")
        try:
            with open(path) as f:
                got = json.load(f)
        except (OSError, ValueError) as e:
            print(f"  {name}: no result ({e})")
            fails += 1
            continue
        if want["gap"] < TIE_GAP:
            ties += 1
            continue
        problems = []
        if got["ids"] != want["ids"]:
            problems.append(f"ids {got['ids']} != reference {want['ids']}")
        if got["finish"] != want["finish"]:
            problems.append(f"finish {got['finish']} != {want['finish']}")
        if "steps" in want and got.get("steps") != want["steps"]:
            problems.append(f"stopped after {got.get('steps')} steps, the reference after {want['steps']}")
        if "score" in want:
            n_beam += 1
            if want["steps"] < MAX_NEW:
                early[name.split("-")[3]] += 1
            if abs(got.get("score", float("nan")) - want["score"]) > score_tol * max(1.0, abs(want["score"])):
                problems.append(f"score {got.get('score')} != reference {want['score']:.9g}")
        n_eos += want["finish"] == "eos"
        n_len += want["finish"] == "length"
        if problems:
            fails += 1
            print(f"  {name}: " + "; ".join(problems))
    compared = len(expect) - ties
    print(f"beam_ref: {compared} cases compared ({n_beam} beam searches; {n_eos} end in eos, {n_len} at the "
          f"length), {ties} skipped as near ties (gap < {TIE_GAP}), {fails} failed; stopped early by "
          f"early_stopping: {early}")
    # the comparison must mean something: nearly every case compared, both endings present
    if ties > len(expect) // 10:
        print(f"  too many near ties ({ties} of {len(expect)}): the fixture does not separate the candidates")
        fails += 1
    if min(early.values()) < 3:
        print("  the fixture must stop early in each early_stopping mode")
        fails += 1
    if n_eos < 5 or n_len < 5:
        print("  the fixture must exercise both endings (eos and max length)")
        fails += 1
    return 0 if fails == 0 else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["configs", "prepare", "compare"])
    ap.add_argument("--work", required=True)
    ap.add_argument("--score-tol", type=float, default=1e-5)
    a = ap.parse_args(argv)
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    if a.command == "configs":
        write_configs(a.work)
    elif a.command == "prepare":
        prepare(a.work)
    else:
        return compare(a.work, a.score_tol)
    return 0


if __name__ == "__main__":
    sys.exit(main())
