#!/usr/bin/python3
"""Writes a seeded batch.json for the parity tests:
{"input_ids": [[..]..], "attention_mask": [[..]..], "labels": [[..]..]}

Row 0 is full length; every other row is right-padded (attention_mask 0 at the end, pad id in
input_ids). Labels: row 1 marks its padding -100; row 2 (if any) leaves the labels under its
padding as real targets (HF ignores only -100, not padding); a few random positions are -100.
Usage: make_batch.py --vocab V --out batch.json [--batch 3] [--seq 12] [--seed N] [--pad-id 0]
                     [--no-mask] [--no-labels]
"""
import argparse
import json
import sys

import numpy as np


def make(vocab, batch=3, seq=12, seed=0, pad_id=0, with_mask=True, with_labels=True):
    if batch < 1 or seq < 4:
        raise ValueError("need batch >= 1 and seq >= 4")
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(batch, seq))
    mask = np.ones((batch, seq), dtype=np.int64)
    labels = ids.copy()
    for r in range(1, batch):
        n_pad = 1 + (r * 2) % (seq // 2)
        if with_mask:
            mask[r, seq - n_pad:] = 0
            ids[r, seq - n_pad:] = pad_id
            labels[r, seq - n_pad:] = ids[r, seq - n_pad:]
            if r % 2 == 1:
                labels[r, seq - n_pad:] = -100
    # A few ignored targets in the real part (never position 1 of row 0, so something is left).
    for r in range(batch):
        for t in rng.choice(np.arange(2, seq), size=2, replace=False):
            labels[r, t] = -100
    out = {"input_ids": ids.tolist()}
    if with_mask:
        out["attention_mask"] = mask.tolist()
    if with_labels:
        out["labels"] = labels.tolist()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--seq", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pad-id", type=int, default=0)
    ap.add_argument("--no-mask", action="store_true")
    ap.add_argument("--no-labels", action="store_true")
    a = ap.parse_args(argv)
    b = make(a.vocab, a.batch, a.seq, a.seed, a.pad_id, not a.no_mask, not a.no_labels)
    with open(a.out, "w") as f:
        json.dump(b, f)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
