#!/usr/bin/env bash
# Data-parallel scaling (docs/distributed.md): tokens/s of `ftune train` on 1 rank and on N ranks
# (mpirun, one OpenMP thread per rank, the same micro-batch per rank: the global batch grows with N), and
# the bytes each rank exchanges per step, for full fine-tuning and LoRA, on a randomly initialized Llama
# written by `ftune init` (the speed of a step does not depend on the weights' values). Also one rank with
# N x K threads: the other way to spend the same cores.
#   bench/scaling.sh [--ranks N] [--hidden H] [--layers L] [--batch B] [--seq T] [--steps S] [--threads K]
# --threads K: OpenMP threads per rank (default 1). Prints one line per run and a table.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
FT=${FT_BIN:-$SRC/build/ftune}
ranks=2 hidden=256 layers=4 batch=4 seq=128 steps=30 threads=1
while [ $# -gt 0 ]; do
  case $1 in
  --ranks) ranks=$2 ;; --hidden) hidden=$2 ;; --layers) layers=$2 ;; --batch) batch=$2 ;;
  --seq) seq=$2 ;; --steps) steps=$2 ;; --threads) threads=$2 ;;
  *) echo "scaling: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
[ -x "$FT" ] || { echo "scaling: build ftune first (cmake --build build --target ftune)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "scaling: mpirun not found (openmpi-bin)" >&2; exit 1; }
[ -e "$(dirname "$FT")/libftune_mpi.so" ] || { echo "scaling: no libftune_mpi.so next to $FT (FT_MPI)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/ftune-scaling.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive
heads=$((hidden / 32))
echo "{\"hidden_size\": $hidden, \"intermediate_size\": $((hidden * 8 / 3 / 32 * 32)), \"num_hidden_layers\": $layers,
  \"num_attention_heads\": $heads, \"num_key_value_heads\": $heads, \"max_position_embeddings\": $seq,
  \"vocab_size\": 4096, \"tie_word_embeddings\": false}" >cfg.json
"$FT" init --arch llama --config cfg.json --out m >/dev/null
/usr/bin/env python3 - "$seq" >d.jsonl <<'PY'
import random, sys
T = int(sys.argv[1]); random.seed(1)
for _ in range(512):
    print('{"input_ids": [%s]}' % ", ".join(str(random.randrange(1, 4096)) for _ in range(T)))
PY
cpu=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
feat=$(grep -m1 '^flags' /proc/cpuinfo | grep -o 'avx512f\|avx512_bf16\|amx_bf16\|avx2' | sort -u | tr '\n' ' ')
echo "scaling: $cpu ($feat), $(getconf _NPROCESSORS_ONLN) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); Llama hidden $hidden x $layers layers, vocab 4096, micro-batch $batch x $seq per rank, $steps steps, $threads thread(s) per rank"
declare -A TPS BYTES
for method in full lora; do
  for np in 1 "$ranks"; do
    cmd=("$FT" train --model m --data d.jsonl --out "o$method$np" --method "$method" --threads "$threads" --steps "$steps"
      --batch-size "$batch" --seq-len "$seq" --lr 1e-4 --quiet report.tensorboard=false report.html=false)
    if [ "$np" = 1 ]; then "${cmd[@]}" >log 2>&1; else mpirun --oversubscribe --bind-to none -np "$np" "${cmd[@]}" >log 2>&1; fi ||
      { cat log; exit 1; }
    TPS[$method$np]=$(sed -n 's/.* tokens, \([0-9]*\) tok\/s.*/\1/p' log)
    BYTES[$method$np]=$(sed -n 's/.* \([0-9.]*\) MB exchanged per step.*/\1/p' log)
    echo "  $method, $np rank(s): ${TPS[$method$np]} tok/s${BYTES[$method$np]:+, ${BYTES[$method$np]} MB exchanged per step and rank}"
  done
  k=$((ranks * threads)) # one rank on all the cores, at the same global batch
  OMP_NUM_THREADS=$k "$FT" train --model m --data d.jsonl --out "o${method}t" --method "$method" --threads "$k" \
    --steps "$steps" --batch-size $((batch * ranks)) --seq-len "$seq" --lr 1e-4 --quiet report.tensorboard=false \
    report.html=false >log 2>&1 || { cat log; exit 1; }
  TPS[${method}t]=$(sed -n 's/.* tokens, \([0-9]*\) tok\/s.*/\1/p' log)
  echo "  $method, 1 rank x $k threads, batch $((batch * ranks)): ${TPS[${method}t]} tok/s"
done
printf '\n| method | 1 rank tok/s | %d ranks tok/s | speed-up | 1 rank x %d threads tok/s | MB exchanged per step and rank |\n|---|---|---|---|---|---|\n' "$ranks" $((ranks * threads))
for method in full lora; do
  a=${TPS[${method}1]} b=${TPS[$method$ranks]}
  printf '| %s | %s | %s | %s | %s | %s |\n' "$method" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", b/a}')" \
    "${TPS[${method}t]}" "${BYTES[$method$ranks]:-?}"
done
