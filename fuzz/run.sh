#!/usr/bin/env bash
# Runs one libFuzzer target (or all of them in turn) on its committed seed corpus.
#   fuzz/run.sh TARGET SECONDS [libFuzzer flags...]    TARGET: safetensors config tokenizer peft recipe
#   fuzz/run.sh all SECONDS [libFuzzer flags...]               readers mail batch image (or fuzz_<name>)
# Builds build-fuzz/ with clang-14 (-DFT_FUZZ=ON) first unless FT_FUZZ_NO_BUILD=1. The committed corpus
# fuzz/corpus/<target>/ and past findings fuzz/regress/<target>/ are only read: inputs the fuzzer adds
# go to $FT_FUZZ_OUT/corpus/<target>/ and crashes, leaks, timeouts and out-of-memory inputs to
# $FT_FUZZ_OUT/artifacts/<target>/ (FT_FUZZ_OUT defaults to build-fuzz/out). Prints one summary line
# per target; exits non-zero if any target failed.
# Environment: FT_FUZZ_NICE (niceness, default 0), FT_FUZZ_BUILD (build dir), CC (default clang-14),
# TMPDIR (scratch files of the targets; default /dev/shm when writable).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -lt 2 ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
target="$1"; secs="$2"; shift 2
bdir="${FT_FUZZ_BUILD:-$root/build-fuzz}"
out="${FT_FUZZ_OUT:-$bdir/out}"
nice_n="${FT_FUZZ_NICE:-0}"
all=(safetensors config tokenizer peft recipe readers mail batch image)
if [ "$target" = all ]; then targets=("${all[@]}"); else targets=("${target#fuzz_}"); fi
for t in "${targets[@]}"; do
  [ -f "$root/fuzz/fuzz_$t.c" ] || { echo "run.sh: no target '$t' (${all[*]})" >&2; exit 2; }
done

if [ "${FT_FUZZ_NO_BUILD:-0}" != 1 ]; then
  if [ ! -f "$bdir/CMakeCache.txt" ]; then
    CC="${CC:-clang-14}" cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFT_FUZZ=ON >/dev/null
  fi
  nice -n "$nice_n" cmake --build "$bdir" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null
fi

# inputs the targets read from a path go to a scratch file: keep it in memory when /dev/shm is there
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
fail=0
for t in "${targets[@]}"; do
  bin="$bdir/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "run.sh: $bin is not built" >&2; exit 1; }
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  log="$out/fuzz_$t.log"
  seeds=("$root/fuzz/corpus/$t")
  [ -d "$root/fuzz/regress/$t" ] && seeds+=("$root/fuzz/regress/$t")  # past findings run first, too
  dict=()
  [ -f "$root/fuzz/dict/$t.dict" ] && dict=(-dict="$root/fuzz/dict/$t.dict")
  rc=0
  # -timeout: one input running 10 s is a hang; -rss_limit_mb / -malloc_limit_mb: an input that makes
  # us allocate more than 2 GB is a finding (the parsers' limits are far below that).
  OMP_NUM_THREADS=1 nice -n "$nice_n" "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -print_final_stats=1 "${dict[@]}" -artifact_prefix="$out/artifacts/$t/" "$@" \
    "$out/corpus/$t" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
  if [ "$rc" = 0 ]; then
    echo "fuzz_$t: ok, ${runs:-?} runs in ${secs} s, coverage ${cov:-?} edges"
  else
    fail=1
    echo "fuzz_$t: FAILED (exit $rc) after ${runs:-?} runs; see $log and $out/artifacts/$t/"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 || true
  fi
done
exit $fail
