#!/usr/bin/env bash
# Determinism (issue 18, docs/reliability.md): the same recipe and seed give bit-identical final
# parameters run after run at a fixed thread count, for full fine-tuning and LoRA on a tiny GPT-2 with
# dropout on (so the seeded RNG is exercised), at 1 and at 2 threads; another seed gives other parameters
# (so the comparison can fail). Also prints whether 1 and 2 threads give the same parameters (they need
# not: see docs/reliability.md), without gating on it.
set -u
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT=${FT_BIN:-$SRC/build/ftune}
W=$(mktemp -d "${TMPDIR:-/tmp}/ftune-determinism.XXXXXX")
[ -n "${DET_KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
# threads that sleep at barriers instead of spinning: on a loaded CI machine the 2-thread runs are then
# 3x faster (the results are the same: the policy changes no arithmetic)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
fail=0
bad() { echo "determinism: FAIL $*"; fail=1; }

# wide enough (rows x width >= 16384) that the OpenMP loops and oneDNN's GEMM really run threaded
echo '{"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 64, "vocab_size": 67, "resid_pdrop": 0.1,
  "embd_pdrop": 0.1, "attn_pdrop": 0.1}' >small.json
"$FT" init --arch gpt2 --config small.json --out m --seed 1 >/dev/null || exit 1
RANDOM=5
for ((i = 0; i < 64; i++)); do
  ids=$((RANDOM % 66 + 1)); for ((j = 1; j < 48; j++)); do ids+=", $((RANDOM % 66 + 1))"; done
  echo "{\"input_ids\": [$ids]}"
done >d.jsonl

run() { # OUT METHOD THREADS SEED
  "$FT" train --model m --data d.jsonl --out "$1" --method "$2" --threads "$3" --seed "$4" --steps 12 \
    --batch-size 8 --seq-len 48 --lr 3e-3 --quiet report.tensorboard=false report.html=false >"$1.log" 2>&1 ||
    { bad "$1: ftune train failed:"; cat "$1.log"; }
}
for method in full lora; do
  f=model.safetensors
  [ $method = lora ] && f=adapter_model.safetensors
  for t in 1 2; do
    run $method.t$t.a $method $t 7
    run $method.t$t.b $method $t 7
    run $method.t$t.s8 $method $t 8
    if cmp -s $method.t$t.a/$f $method.t$t.b/$f; then
      echo "determinism: ok   $method, $t thread(s): two runs bit-identical"
    else
      bad "$method, $t thread(s): two runs with the same recipe and seed differ"
    fi
    cmp -s $method.t$t.a/$f $method.t$t.s8/$f && bad "$method, $t thread(s): seed 8 gives the same $f as seed 7"
  done
  if cmp -s $method.t1.a/$f $method.t2.a/$f; then
    echo "determinism: note $method: 1 and 2 threads give bit-identical parameters"
  else
    echo "determinism: note $method: 1 and 2 threads give different parameters (reduction order; not an error)"
  fi
done
[ $fail = 0 ] && echo "determinism: all passed"
exit $fail
