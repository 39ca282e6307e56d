#!/usr/bin/python3
"""Compares two dump files (ftune dump vs tests/ref/hf_ref.py): A is the one under test, B the
reference.

Criteria (every check must pass, else exit status 1):
  * A and B hold exactly the same tensor names, and each name has the same shape in both.
  * Every value is finite in both.
  * logits, loss: max |a - b| <= --logits-atol (absolute).
  * every other tensor (grad.<name>): max |a - b| / max(max |b|, 1e-30) <= --grad-rtol, i.e. the
    largest absolute difference relative to the reference tensor's largest magnitude (a
    tensor-wide relative error, robust to entries that are near zero).
One line per tensor: name, shape, the error measured, the limit, OK/FAIL.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

TINY = 1e-30
ABS_NAMES = ("logits", "loss")


def compare(a, b, logits_atol, grad_rtol):
    """Returns (list of report lines, number of failures)."""
    lines, fails = [], 0
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    for n in only_a:
        lines.append(f"FAIL {n}: only in A")
    for n in only_b:
        lines.append(f"FAIL {n}: only in B")
    fails += len(only_a) + len(only_b)
    for n in [k for k in b if k in a]:
        x, y = np.asarray(a[n], dtype=np.float64), np.asarray(b[n], dtype=np.float64)
        if x.shape != y.shape:
            lines.append(f"FAIL {n}: shape {list(x.shape)} in A, {list(y.shape)} in B")
            fails += 1
            continue
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            lines.append(f"FAIL {n} {list(x.shape)}: non-finite values (A {int((~np.isfinite(x)).sum())},"
                         f" B {int((~np.isfinite(y)).sum())})")
            fails += 1
            continue
        diff = float(np.max(np.abs(x - y))) if x.size else 0.0
        if n in ABS_NAMES:
            err, lim, what = diff, logits_atol, "abs"
        else:
            scale = float(np.max(np.abs(y))) if y.size else 0.0
            err, lim, what = diff / max(scale, TINY), grad_rtol, "rel"
        ok = err <= lim
        fails += 0 if ok else 1
        lines.append(f"{'ok  ' if ok else 'FAIL'} {n} {list(x.shape)}: {what} err {err:.3e} (limit {lim:.1e})")
    return lines, fails


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="file under test (e.g. ftune dump output)")
    ap.add_argument("b", help="reference file (e.g. hf_ref.py output)")
    ap.add_argument("--logits-atol", type=float, default=1e-4, help="absolute limit for logits and loss")
    ap.add_argument("--grad-rtol", type=float, default=1e-3,
                    help="limit for max|a-b| / max(max|b|, 1e-30) on every other tensor")
    args = ap.parse_args(argv)
    try:
        a, _ = st.load(args.a)
        b, _ = st.load(args.b)
    except (OSError, st.SafetensorsError) as e:
        print(f"compare: error: {e}", file=sys.stderr)
        return 2
    lines, fails = compare(a, b, args.logits_atol, args.grad_rtol)
    print("\n".join(lines))
    print(f"compare: {len(set(a) | set(b))} tensors, {fails} failure(s)")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
