#!/usr/bin/env bash
# Runs the interop suite in one go and leaves a summary to copy back (docs/interop.md):
#   tests/interop/run.sh OUTDIR
# OUTDIR/interop-results.txt (versions, counts, the table, each failure), interop-results.json,
# pytest-*.log, selfcheck.log. No install step: the python must import torch, transformers, peft
# (safetensors and tokenizers optional); without pytest, tests/interop/direct.py runs the same cases.
# ftune is $FT_BIN (default build/ftune of this
# checkout; for a portable build made by scripts/pack-portable.sh, its wrapper DIR/ftune).
# The model kinds run in FT_INTEROP_PROCS parallel pytest processes (4), each with
# FT_INTEROP_THREADS OpenMP/torch threads (4): 16 cores in all.
# Env: FT_BIN, FT_PYTHON (python3), FT_INTEROP_PROCS, FT_INTEROP_THREADS, FT_INTEROP_K (a pytest -k
#      filter), FT_INTEROP_KEEP=1 (keep every case's files under OUTDIR/work).
# Exit status: 0 when no case failed (every case skipped also gives 0), 1 otherwise.
set -u
OUT=${1:?usage: tests/interop/run.sh OUTDIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=${FT_PYTHON:-python3}
PROCS=${FT_INTEROP_PROCS:-4}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
FT_BIN=$(realpath "${FT_BIN:-$SRC/build/ftune}")
[ -x "$FT_BIN" ] || { echo "interop: no executable ftune at $FT_BIN (set FT_BIN)" >&2; exit 2; }
export FT_BIN PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=${FT_INTEROP_THREADS:-4}
rm -rf "$OUT"/part-* "$OUT"/work
echo "interop: ftune $FT_BIN ($("$FT_BIN" version 2>&1)), python $("$PY" -c 'import sys; print(sys.executable)')"
start=$(date +%s)
"$PY" "$SRC/tests/interop/selfcheck.py" >"$OUT/selfcheck.log" 2>&1
echo "interop: $(tail -n 1 "$OUT/selfcheck.log") (selfcheck.log)"
filter=()
if "$PY" -c "import pytest" >/dev/null 2>&1; then
    runner=(-m pytest -p no:cacheprovider -q -rfE tests/interop)
    [ -n "${FT_INTEROP_K:-}" ] && filter=(-k "$FT_INTEROP_K")
else  # the same cases and results files without pytest; FT_INTEROP_K is then a plain substring
    echo "interop: pytest is not importable by $PY: running tests/interop/direct.py instead"
    runner=(tests/interop/direct.py)
    [ -n "${FT_INTEROP_K:-}" ] && filter=(-k "$FT_INTEROP_K")
fi
pids=()
for ((i = 0; i < PROCS; i++)); do
    work=()
    [ "${FT_INTEROP_KEEP:-0}" = 1 ] && work=(FT_INTEROP_WORK="$OUT/work/part-$i")
    (cd "$SRC" && env "${work[@]}" FT_INTEROP_SHARD="$i/$PROCS" FT_INTEROP_OUT="$OUT/part-$i" \
        "$PY" "${runner[@]}" "${filter[@]}") >"$OUT/pytest-$i.log" 2>&1 &
    pids+=($!)
done
rc=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}"
    r=$?
    echo "interop: process $i/$PROCS: status $r, $(tail -n 1 "$OUT/pytest-$i.log")"
    # 5 = nothing collected in this process (a -k filter): not a failure
    [ "$r" -ne 0 ] && [ "$r" -ne 5 ] && rc=1
done
parts=()
for ((i = 0; i < PROCS; i++)); do [ -f "$OUT/part-$i/interop-results.json" ] && parts+=("$OUT/part-$i"); done
if [ "${#parts[@]}" -gt 0 ]; then
    "$PY" "$SRC/tests/interop/ftio.py" merge "$OUT" "${parts[@]}" >/dev/null || rc=1
    rm -rf "$OUT"/part-*
fi
grep -h "interop: skipped" "$OUT"/pytest-*.log | sort -u
echo "interop: done in $(( $(date +%s) - start )) s; summary in $OUT/interop-results.txt"
[ -f "$OUT/interop-results.txt" ] && sed -n '/^counts:/p' "$OUT/interop-results.txt"
exit "$rc"
