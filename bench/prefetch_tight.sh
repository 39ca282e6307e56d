#!/usr/bin/env bash
# What streaming or prefetching the mapped base gains when the page cache cannot hold it (issue 19,
# docs/big-models.md): bench/train_step on a bf16 (or saved int8) checkpoint inside a memory cgroup whose limit
# is below the file's size, so that every step reads the base from disk again; rounds alternate the modes
# (MODES, default "stream on off": the base streamed layer by layer into slots (--stream), the mapping with
# madvise prefetch, the mapping without it (--no-prefetch)), each after the file's pages were dropped from the
# page cache. Prints each run's median step time and major page faults per step, then the medians over the
# rounds. Needs root and the cgroup memory controller (v1 /sys/fs/cgroup/memory or v2).
# Usage: [MODES="stream on off"] bench/prefetch_tight.sh MODEL_DIR LIMIT_MIB [ROUNDS] [train_step arguments ...]
#   e.g. bench/prefetch_tight.sh out/tinyllama 1200 3 --method lora --targets q_proj,k_proj,v_proj,o_proj \
#        --lora-r 16 --checkpoint --batch 1 --seq 512 --steps 3 --warmup 1
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
MODES=${MODES:-stream on off}
MODEL=$1 LIMIT=$2 ROUNDS=${3:-3}
shift 2; [ $# -gt 0 ] && shift
TS=${FT_TRAIN_STEP:-$(cd "$(dirname "$0")/.." && pwd)/build/bench/train_step}
[ -x "$TS" ] || { echo "prefetch_tight: $TS not built (cmake --build build)" >&2; exit 2; }
if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
  CG=/sys/fs/cgroup/ftune-tight-$$; mkdir "$CG"; echo $((LIMIT << 20)) > "$CG/memory.max"
elif [ -d /sys/fs/cgroup/memory ]; then
  CG=/sys/fs/cgroup/memory/ftune-tight-$$; mkdir "$CG"; echo $((LIMIT << 20)) > "$CG/memory.limit_in_bytes"
else
  echo "prefetch_tight: no cgroup memory controller here" >&2; exit 2
fi
trap 'rmdir "$CG" 2>/dev/null || true' EXIT
size=$(du -cm "$MODEL"/*.safetensors | tail -1 | cut -f1)
echo "prefetch_tight: $MODEL ($size MiB of safetensors) under a $LIMIT MiB memory cgroup, $ROUNDS rounds; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs"
declare -A med
for r in $(seq 1 "$ROUNDS"); do
  for mode in $MODES; do
    for f in "$MODEL"/*.safetensors; do dd if="$f" iflag=nocache count=0 status=none; done
    extra=(); [ $mode = off ] && extra=(--no-prefetch); [ $mode = stream ] && extra=(--stream)
    out=$(sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$CG" "$TS" --model "$MODEL" --base-dtype file \
          "$@" "${extra[@]}" 2>&1) || { echo "$out" >&2; exit 1; }
    s=$(sed -n 's/^  step median \([0-9.]*\) s.*/\1/p' <<< "$out")
    pf=$(sed -n 's/^  major page faults per step \([0-9]*\).*/\1/p' <<< "$out")
    io=$(sed -n 's/^  major page faults per step [0-9]* (base streamed, \(.*\))$/; \1/p' <<< "$out")
    rss=$(sed -n 's/^  peak RSS \([0-9.]*\) GiB.*/\1/p' <<< "$out")
    echo "round $r $mode: step median $s s, $pf major page faults per step, peak RSS $rss GiB$io"
    med[$mode]="${med[$mode]:-} $s"
  done
done
for mode in $MODES; do
  echo "$mode: median over rounds $(tr ' ' '\n' <<< "${med[$mode]}" | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') s"
done
