#!/usr/bin/env bash
# Cross-check ft_adamw_step against torch.optim.AdamW: a few steps on fixed numbers, run by torch and
# by `test_kernels --adamw-driver FILE`, final parameters compared. Skips (77) without python3+torch.
set -euo pipefail
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c 'import torch, numpy' 2>/dev/null || { echo "skip: no python3 with torch"; exit 77; }
bin="$(dirname "${FT_BIN:-./ftune}")/test_kernels"
[ -x "$bin" ] || { echo "skip: $bin not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" - "$bin" "$tmp" <<'EOF'
import subprocess, sys
import numpy as np
import torch

binary, tmp = sys.argv[1], sys.argv[2]
f32 = lambda x: float(np.float32(x))  # the kernel takes fp32 hyper-parameters: give torch the same values
# (lr, beta1, beta2, eps, weight_decay, gradient scale, steps)
configs = [(1e-2, 0.9, 0.999, 1e-8, 0.1, 1.0, 8),
           (1e-3, 0.8, 0.99, 1e-3, 0.0, 1e-3, 6),   # eps comparable to sqrt(v): its placement matters
           (1e-1, 0.9, 0.95, 1e-6, 0.5, 0.1, 10)]   # strong decoupled weight decay
n, failed = 257, 0
for ci, (lr, b1, b2, eps, wd, gs, steps) in enumerate(configs):
    lr, b1, b2, eps, wd = map(f32, (lr, b1, b2, eps, wd))
    rng = np.random.default_rng(1234 + ci)
    p0 = rng.uniform(-1, 1, n).astype(np.float32)
    grads = (rng.standard_normal((steps, n)) * gs).astype(np.float32)
    grads[:, 0] = 0.0  # only weight decay moves this one
    path = f"{tmp}/adamw{ci}.txt"
    with open(path, "w") as fh:
        fh.write(f"{n} {steps} {lr:.9g} {b1:.9g} {b2:.9g} {eps:.9g} {wd:.9g}\n")
        fh.write(" ".join(f"{v:.9g}" for v in p0) + "\n")
        for g in grads:
            fh.write(" ".join(f"{v:.9g}" for v in g) + "\n")
    out = subprocess.run([binary, "--adamw-driver", path], capture_output=True, text=True, check=True).stdout
    ours = np.array([float(v) for v in out.split()], dtype=np.float64)
    p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = torch.optim.AdamW([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
    ref = p.detach().numpy().astype(np.float64)
    err = np.max(np.abs(ours - ref))
    moved = np.max(np.abs(ref - p0))
    # Both run fp32 arithmetic on |p| <= 1 with steps of size ~lr; torch forms the bias corrections in
    # double and we in fp32 (relative 1e-6 at most here), so the runs may drift apart by a few fp32
    # ulps per step: 2e-6 covers <= 10 steps, while a wrong formula moves p by >= 1e-4 (see `moved`).
    ok = ours.shape == ref.shape and err <= 2e-6 and moved > 1e-3
    print(f"config {ci}: max |ours - torch| = {err:.3g}, max |torch - p0| = {moved:.3g} -> {'ok' if ok else 'FAIL'}")
    failed += not ok
sys.exit(1 if failed else 0)
EOF
