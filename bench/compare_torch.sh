#!/usr/bin/env bash
# Builds bench/train_step if needed and runs bench/compare_torch.py with Debian's python (torch 1.13).
# Arguments pass through, e.g.: bench/compare_torch.sh --shape gpt2,smollm2 --rounds 3
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x build/bench/train_step ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j2 --target bench_train_step
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "compare_torch: /usr/bin/python3 has no torch (apt install python3-torch)" >&2
  exit 1
fi
exec /usr/bin/python3 bench/compare_torch.py "$@"
