#!/usr/bin/python3
"""Compares two training outputs (tests/dist_mpi.sh): A from N MPI ranks, B from one process.

  dist_compare.py A B [--losses [--since S]] [--file F ...] [--rtol R] [--expect-differ]

--losses: train/loss and eval/loss of every step in A/metrics.jsonl and B/metrics.jsonl: the same
  (key, step) pairs, and |a - b| <= R * |b| for each. --since S: only the steps after S (A resumed from
  a checkpoint of step S, B a run that never stopped).
--file F: the safetensors file A/F and B/F: the same tensor names and shapes, every value finite, and
  per tensor max |a - b| <= R * max(max |b|, 1e-30) (the largest difference relative to the tensor's
  largest magnitude, robust to entries near zero).
--expect-differ: exit 0 only when some check fails (the negative control: the comparison can fail).
Prints one line per failing check and a summary; exit status 0 when every check passes.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402


def losses(d, since):
    out = {}
    with open(os.path.join(d, "metrics.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            for key in ("train/loss", "eval/loss"):
                if key in rec and rec["step"] > since:
                    out[(key, rec["step"])] = rec[key]
    return out


def check_losses(a, b, rtol, since):
    la, lb = losses(a, since), losses(b, since)
    bad = []
    if sorted(la) != sorted(lb) or not la:
        return [f"losses: steps differ ({sorted(la)} vs {sorted(lb)})"], 0.0
    worst = 0.0
    for s in sorted(lb):
        err = abs(la[s] - lb[s]) / max(abs(lb[s]), 1e-30)
        worst = max(worst, err)
        if not (err <= rtol):
            bad.append(f"losses: {s[0]} step {s[1]}: {la[s]!r} vs {lb[s]!r} (relative {err:.3g} > {rtol:g})")
    return bad, worst


def check_file(a, b, name, rtol):
    ta = st.load(os.path.join(a, name), upcast=True)[0]
    tb = st.load(os.path.join(b, name), upcast=True)[0]
    if set(ta) != set(tb) or not tb:
        return [f"{name}: tensor names differ ({sorted(set(ta) ^ set(tb))[:4]})"], 0.0
    bad, worst = [], 0.0
    for k in sorted(tb):
        x, y = np.asarray(ta[k], np.float64), np.asarray(tb[k], np.float64)
        if x.shape != y.shape:
            bad.append(f"{name}: {k}: shape {x.shape} vs {y.shape}")
            continue
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            bad.append(f"{name}: {k}: non-finite values")
            continue
        err = float(np.max(np.abs(x - y))) / max(float(np.max(np.abs(y))), 1e-30) if y.size else 0.0
        worst = max(worst, err)
        if not (err <= rtol):
            bad.append(f"{name}: {k}: relative {err:.3g} > {rtol:g}")
    return bad, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--losses", action="store_true")
    ap.add_argument("--since", type=int, default=-1)
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--expect-differ", action="store_true")
    args = ap.parse_args()
    bad, summary = [], []
    if args.losses:
        b, w = check_losses(args.a, args.b, args.rtol, args.since)
        bad += b
        summary.append(f"losses worst {w:.2e}")
    for f in args.file:
        b, w = check_file(args.a, args.b, f, args.rtol)
        bad += b
        summary.append(f"{f} worst {w:.2e}")
    if not args.expect_differ:
        for line in bad[:20]:
            print("  " + line)
    print(f"{args.a} vs {args.b}: {', '.join(summary)}; {len(bad)} check(s) over rtol {args.rtol:g}")
    ok = not bad
    return 0 if ok != args.expect_differ else 1


if __name__ == "__main__":
    sys.exit(main())
