#!/usr/bin/env bash
# Crash safety of checkpoints (issue 18, docs/reliability.md). A tiny GPT-2 (ftune init) trains for
# $STEPS steps with a checkpoint after every step (keep_last 2, so pruning runs too) and is killed with
# SIGKILL at random moments (seeded), one to three times per trial, each time resumed with
# resume=<output_dir>. After every kill: each step-* directory left is complete, `latest` names one of
# them, and no temporary is taken for a checkpoint. The last resume must finish the run with final
# weights bit-identical to an uninterrupted run. With checkpoints this frequent a good share of the kills
# land inside a checkpoint write (a .tmp-step-* directory is left behind); the test counts them and
# requires some.
# Then a full disk: the same resume under `ulimit -f` (EFBIG) and, where a private tmpfs can be mounted
# (root, or `unshare -rm`), on a tmpfs too small for the next checkpoint (ENOSPC): ftune must exit
# non-zero with an error naming the file, leave the previous checkpoints byte for byte as they were, and
# a resume from them afterwards must still end bit-identical.
# Environment: CRASH_TRIALS (default 20; 6 with FT_SANITIZED=1), CRASH_SEED (default 1), CRASH_STEPS
# (default 120), CRASH_KEEP=1 keeps the work directory.
# 100 of 100 trials: CRASH_TRIALS=100 bash tests/crash_resume.sh (see docs/reliability.md).
set -u
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT=${FT_BIN:-$SRC/build/ftune}
# the sanitizer pass (FT_SANITIZED=1, runs several times slower) checks these paths for memory errors
# with fewer trials; the plain pass does the 20
TRIALS=${CRASH_TRIALS:-20}
[ "${FT_SANITIZED:-0}" = 1 ] && TRIALS=${CRASH_TRIALS:-6}
STEPS=${CRASH_STEPS:-120}
RANDOM=${CRASH_SEED:-1}
# on a tmpfs the fsyncs cost nothing, so the run is short and the kills land everywhere
base=${TMPDIR:-}
if [ -z "$base" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; else base=/tmp; fi
fi
W=$(mktemp -d "$base/ftune-crash.XXXXXX")
[ -n "${CRASH_KEEP:-}" ] || trap 'rm -rf "$W"' EXIT; echo "crash_resume: work dir $W"
cd "$W" || exit 1
fail=0
bad() { echo "crash_resume: FAIL $*"; fail=1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

echo '{"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32, "vocab_size": 67}' >small.json
"$FT" init --arch gpt2 --config small.json --out m --seed 1 >/dev/null || exit 1
for ((i = 0; i < 64; i++)); do
  ids=$((RANDOM % 66 + 1)); for ((j = 1; j < 16; j++)); do ids+=", $((RANDOM % 66 + 1))"; done
  echo "{\"input_ids\": [$ids]}"
done >d.jsonl
# ftune train OUT [extra...]; in the background, ftune itself must be the child (a killed subshell would
# leave it running), hence no function around it there
TRAIN=(train --model m --data d.jsonl --steps "$STEPS" --batch-size 4 --seq-len 16 --lr 3e-3 --threads 1 --quiet
  checkpoint.every=1 checkpoint.keep_last=2 report.tensorboard=false report.html=false --out)
train() { "$FT" "${TRAIN[@]}" "$@"; }
resume_args() { [ -f "$1/checkpoints/latest" ] && echo "resume=$1"; }

# the uninterrupted run, twice: the same weights both times (else nothing below could be bit-identical),
# and the second one's wall time (warm caches) bounds the kill delays
for r in ref ref2; do
  t0=$(now_ms)
  train $r >$r.log 2>&1 || { echo "crash_resume: FAIL the uninterrupted run:"; cat $r.log; exit 1; }
  dur=$(( $(now_ms) - t0 ))
done
[ -s ref/model.safetensors ] || { echo "crash_resume: FAIL no ref/model.safetensors"; exit 1; }
cmp -s ref/model.safetensors ref2/model.safetensors || { echo "crash_resume: FAIL two uninterrupted runs differ"; exit 1; }
rm -rf ref2

# every step-* directory complete, latest naming one of them; $temps: how many temporaries were left
check_dir() { # OUT WHAT
  local c=$1/checkpoints d f
  temps=0
  [ -d "$c" ] || return
  for d in "$c"/step-*; do
    [ -d "$d" ] || continue
    for f in trainable.safetensors optimizer.safetensors trainer_state.json model.safetensors config.json; do
      [ -s "$d/$f" ] || bad "$2: $d has no $f (a half checkpoint under a real name)"
    done
  done
  if [ -f "$c/latest" ]; then
    local l; l=$(cat "$c/latest")
    [[ $l == step-* ]] && [ -s "$c/$l/trainer_state.json" ] || bad "$2: latest names '$l', not a complete checkpoint"
  fi
  for d in "$c"/.tmp-* "$c"/.old-* "$c"/.del-*; do [ -e "$d" ] && temps=$((temps + 1)); done
}

kills=0 in_write=0 early=0 cold=0
for ((t = 1; t <= TRIALS; t++)); do
  o=run$t n=$((RANDOM % 3 + 1))
  # trial 1 writes through an output_dir that is a symbolic link (followed by design, docs/reliability.md)
  [ $t = 1 ] && mkdir -p real1 && ln -sfn real1 $o
  for ((k = 1; k <= n; k++)); do
    args=$(resume_args $o)
    [ -z "$args" ] && [ $k -gt 1 ] && cold=$((cold + 1))
    delay=$(( (RANDOM * 32768 + RANDOM) % (dur * 4 / 5 + 1) ))
    "$FT" "${TRAIN[@]}" $o $args >$o.kill$k.log 2>&1 &
    pid=$!
    sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
    if kill -9 $pid 2>/dev/null; then kills=$((kills + 1)); else early=$((early + 1)); fi
    wait $pid 2>/dev/null
    check_dir $o "trial $t kill $k"
    [ "$temps" -gt 0 ] && in_write=$((in_write + 1))
  done
  # a kill during the final save leaves <out>/model.safetensors.tmp.<pid>: plant one (a dead writer's) in
  # every trial; the resumed run must remove it
  dead=$(sh -c 'echo $$')
  [ -d $o ] && echo junk >$o/model.safetensors.tmp.$dead
  if ! train $o $(resume_args $o) >$o.log 2>&1; then
    bad "trial $t: the resumed run failed:"; sed 's/^/    /' $o.log; continue
  fi
  cmp -s ref/model.safetensors $o/model.safetensors || bad "trial $t: final weights differ from the uninterrupted run"
  check_dir $o "trial $t end"
  [ "$temps" = 0 ] || bad "trial $t: $temps temporaries left in $o/checkpoints after the run finished"
  left=$(cd $o && ls -A | grep -E '\.tmp\.[0-9]+$' | tr '\n' ' ')
  [ -z "$left" ] || bad "trial $t: temporaries left in $o after the run finished: $left"
  [ $t = 1 ] && { [ -L $o ] && [ -s real1/model.safetensors ] || bad "trial 1: the output_dir link was not followed"; }
  [ $fail = 0 ] && rm -rf $o $o.*log
done
echo "crash_resume: $TRIALS trials, runs of $dur ms, $kills SIGKILLs ($in_write inside a checkpoint write, $early runs had" \
  "finished before their kill, $cold restarts before any checkpoint), final weights compared"
[ $TRIALS -lt 10 ] || [ $in_write -gt 0 ] || bad "no kill landed inside a checkpoint write: the test did not test that"

# ---- full disk. The starting point: a run stopped early with Ctrl-C (SIGINT: it finishes the step and
# writes a checkpoint), so its checkpoints directory is clean; kept as disk0, its checkpoints as snap. The
# SIGINT goes once the first checkpoint exists (not after a fixed delay: on a loaded machine the load alone
# can outlast one), waiting at most 4 run lengths + 10 s for it.
"$FT" "${TRAIN[@]}" disk0 >/dev/null 2>&1 &
pid=$!
deadline=$(( $(now_ms) + 4 * dur + 10000 ))
while [ ! -f disk0/checkpoints/latest ] && kill -0 $pid 2>/dev/null && [ "$(now_ms)" -lt $deadline ]; do
  sleep 0.01
done
kill -INT $pid 2>/dev/null
wait $pid 2>/dev/null
[ -f disk0/checkpoints/latest ] && [ ! -e disk0/model.safetensors ] ||
  { bad "full disk: the run stopped with SIGINT left no checkpoint to start from (or had finished)"; exit 1; }
rm -rf snap && cp -a disk0/checkpoints snap
# the previous checkpoints are intact: the same files, byte for byte, and nothing else
same_ckpts() { # DIR WHAT
  local l
  l=$(cd "$1/checkpoints" && ls -A | sort | tr '\n' ' ')
  [ "$l" = "$(cd snap && ls -A | sort | tr '\n' ' ')" ] || bad "$2: checkpoints now: $l (were: $(ls -A snap | tr '\n' ' '))"
  diff -r snap "$1/checkpoints" >/dev/null 2>&1 || bad "$2: a previous checkpoint changed"
}
# the failed run's exit status and message: non-zero (not a signal), the cause and a file named
check_full() { # RC OUTPUT CAUSE WHAT
  if [ "$1" = 0 ]; then
    bad "$4: the run succeeded"
  elif [ "$1" -gt 128 ]; then
    bad "$4: killed by signal $(($1 - 128)) instead of an error: $2"
  elif grep -q "$3" <<<"$2" && grep -qE "/[^ ]*\.(safetensors|json|yaml|jsonl)" <<<"$2"; then
    echo "crash_resume: $4: exit $1: $(grep -m1 "$3" <<<"$2")"
  else
    bad "$4: the error does not name the file and the cause ($3): $2"
  fi
}
# then resumed without the limit: the run ends bit-identical
finish() { # DIR WHAT
  train "$1" resume="$1" >"$1.log" 2>&1 || { bad "$2: resume afterwards failed:"; cat "$1.log"; return; }
  cmp -s ref/model.safetensors "$1/model.safetensors" || bad "$2: the resumed run's weights differ"
}

# EFBIG: files limited to 64 KiB (SIGXFSZ ignored by ftune); the next checkpoint's
# trainable.safetensors is 117 KB
cp -a disk0 efbig
out=$( (ulimit -f 64; train efbig resume=efbig) 2>&1 ); rc=$?
check_full $rc "$out" "File too large" "full disk (ulimit -f 64, EFBIG)"
same_ckpts efbig "full disk (EFBIG)"
finish efbig "full disk (EFBIG)"

# ENOSPC: a private tmpfs (a mount namespace of our own) with room for the run as it is plus 100 KB
if [ "$(id -u)" = 0 ]; then ns=(unshare -m); else ns=(unshare -rm); fi
if "${ns[@]}" bash -c 'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d" && rmdir "$d"' 2>/dev/null; then
  kb=$(( $(du -sk disk0 | cut -f1) + 100 ))
  mkdir mnt
  out=$("${ns[@]}" bash -c 'mount -t tmpfs -o size='$kb'k tmpfs mnt || exit 99
    cp -a disk0 mnt/run || exit 98
    "$@" mnt/run resume=mnt/run 2>&1; rc=$?
    cp -a mnt/run enospc
    exit $rc' _ "$FT" "${TRAIN[@]}"); rc=$?
  if [ $rc = 99 ] || [ $rc = 98 ]; then
    bad "full disk (ENOSPC): could not set up the ${kb} KB tmpfs"
  else
    check_full $rc "$out" "No space left on device" "full disk (${kb} KB tmpfs, ENOSPC)"
    same_ckpts enospc "full disk (ENOSPC)"
    finish enospc "full disk (ENOSPC)"
  fi
else
  echo "crash_resume: no private tmpfs here (unshare ${ns[*]:1} + mount refused): the ENOSPC part skipped"
fi

[ $fail = 0 ] && echo "crash_resume: all passed"
exit $fail
