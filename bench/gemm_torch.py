#!/usr/bin/env python3
"""The GEMMs of one transformer layer's training step through torch.matmul (PyTorch's fp32 path:
OpenBLAS for Debian's torch), at the shapes and in the order `build/bench/kernels --gemms` prints
them for ftune: x·Wᵀ (forward), dy·W (input gradient), dyᵀ·x (weight gradient) for q/k/v/o [C,C],
fc [4C,C] and proj [C,4C], N = batch·seq rows. Median of --reps, ms and GFLOP/s, then the layer's GEMM
time for full fine-tuning (fwd + dx + dW) and LoRA (fwd + dx).

A training step cannot run faster than its GEMMs: dividing PyTorch's measured step time by ftune's
GEMM-only time of the same step bounds the speed-up over PyTorch that any amount of non-GEMM work
could give (docs/encoders.md, "The ceiling").

Run with Debian's python: OPENBLAS_CORETYPE=Haswell /usr/bin/python3 bench/gemm_torch.py [--threads 2]
"""
import argparse
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=512, help="N = batch x seq (512 = 4 x 128)")
    ap.add_argument("--hidden", type=int, default=768)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=11)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    N, C = a.rows, a.hidden
    g = torch.Generator().manual_seed(0)
    sites = [("q|k|v|o", C, C, 4), ("fc (C->4C)", 4 * C, C, 1), ("proj (4C->C)", C, 4 * C, 1)]

    def timed(label, flops, fn):
        fn()
        ts = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        med = statistics.median(ts)
        print(f"  {label:<44s} {med * 1e3:9.2f} ms {flops / med / 1e9:8.1f} GFLOP/s")
        return med

    print(f"gemm_torch N={N} C={C} threads={a.threads} torch {torch.__version__} "
          f"({torch.__config__.parallel_info().splitlines()[0]})")
    fwd = dx = dw = flops_all = 0.0
    for name, out, inp, cnt in sites:
        x = torch.rand(N, inp, generator=g) - 0.5
        w = (torch.rand(out, inp, generator=g) - 0.5) * 0.1
        dy = torch.rand(N, out, generator=g) - 0.5
        f = 2.0 * N * out * inp
        t0 = timed(f"{name} fwd  NT {N}x{out}x{inp}", f, lambda: torch.matmul(x, w.t()))
        t1 = timed(f"{name} dx   NN {N}x{inp}x{out}", f, lambda: torch.matmul(dy, w))
        t2 = timed(f"{name} dW   TN {out}x{inp}x{N}", f, lambda: torch.matmul(dy.t(), x))
        fwd, dx, dw = fwd + cnt * t0, dx + cnt * t1, dw + cnt * t2
        flops_all += cnt * f
    print(f"  one layer, GEMMs only: forward {fwd * 1e3:.2f} ms, dx {dx * 1e3:.2f} ms, dW {dw * 1e3:.2f} ms")
    print(f"  full fine-tuning (fwd+dx+dW) {(fwd + dx + dw) * 1e3:.2f} ms = {3 * flops_all / (fwd + dx + dw) / 1e9:.1f}"
          f" GFLOP/s; LoRA (fwd+dx) {(fwd + dx) * 1e3:.2f} ms = {2 * flops_all / (fwd + dx) / 1e9:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
