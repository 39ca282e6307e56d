#!/usr/bin/env bash
# Valgrind memcheck on the paths the CLI exercises (issue 18): every command of a small fine-tuning session
# — init, inspect, tokenize, data, train (LoRA with a checkpoint, then resumed), eval, classify, baseline,
# score, merge, dump, generate, a failing command — on tiny models, each run under memcheck with no
# memory error and no definite or indirect leak (`--errors-for-leak-kinds=definite,indirect`; memory
# still reachable at exit, e.g. the OpenMP runtime's thread pool, is not a leak). Skipped (77) without
# valgrind, and under the sanitizer build (ASan and valgrind cannot run together).
set -euo pipefail
FT=${FT_BIN:?}
TESTS=$(cd "$(dirname "$0")" && pwd)
command -v valgrind > /dev/null || { echo "valgrind_cli: valgrind not installed (scripts/install-deps.sh), skipped"; exit 77; }
[ "${FT_SANITIZED:-0}" = 1 ] && { echo "valgrind_cli: sanitizer build, skipped (ASan and valgrind exclude each other)"; exit 77; }
# Valgrind has no AVX-512 support: a build for this CPU (-march=native, FT_NATIVE) on an AVX-512 machine stops
# with SIGILL in the first vectorized loop. Skipped there (the ASan/UBSan build covers memory errors); a
# portable build (FT_NATIVE=OFF, x86-64-v3) runs it.
libs=$(ldd "$FT" 2>/dev/null | awk '/libftune/ { print $3 }')
# (EVEX-only operands: zmm, mask registers, xmm/ymm 16-31, embedded broadcasts)
if grep -qw avx512f /proc/cpuinfo &&
  objdump -d --no-show-raw-insn "$FT" $libs 2>/dev/null | grep -c -E '%zmm|%k[1-7]|%[xy]mm(1[6-9]|2[0-9]|3[01])|\{1to' > /dev/null; then
  echo "valgrind_cli: the build uses AVX-512 instructions, which valgrind cannot run: skipped"; exit 77
fi
W=$(mktemp -d /tmp/ft_vgcli.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_NUM_THREADS=1
fail=0
n=0
# vg WANT_RC ARGS...: ftune ARGS under memcheck (stdin from $VG_IN, default /dev/null; stdout and stderr to
# out<N>.txt); exit status 99 means memcheck found something
vg() { local want=$1; shift; n=$((n + 1))
  local rc=0 t0=$SECONDS
  valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    --log-file="vg$n.log" "$FT" "$@" < "${VG_IN:-/dev/null}" > "out$n.txt" 2>&1 || rc=$?
  if [ "$rc" = 99 ] || [ -s "vg$n.log" ]; then
    echo "FAIL: memcheck on 'ftune $*':"; sed -n 1,40p "vg$n.log"; fail=1
  elif [ "$rc" != "$want" ]; then
    echo "FAIL: 'ftune $*' exited $rc, expected $want:"; tail -5 "out$n.txt"; fail=1
  fi
  echo "  $((SECONDS - t0)) s  ftune $*"; }

. "$TESTS/lib/sentiment.sh"
sentiment_vocab vocab.txt
gen() { sentiment_gen "$@"; }
gen 60 1 > train.jsonl; gen 20 2 > test.jsonl
echo '{"vocab_size": 32, "n_embd": 16, "n_layer": 2, "n_head": 2, "n_positions": 32}' > g.json
vg 0 init --arch gpt2 --config g.json --out base --seed 3
cp vocab.txt base/
vg 0 inspect base --tensors
echo "good and bad" > t.txt
VG_IN=t.txt vg 0 tokenize --tokenizer base --tokens --offsets --special
vg 0 data --input train.jsonl --out clean.jsonl --html --near-dup
cat > cls.yaml <<'Y'
model: base
task: classification
method: lora
output_dir: out
data: {train: train.jsonl, test: test.jsonl, val_ratio: 0.2}
train: {max_steps: 6, batch_size: 4, seq_len: 12}
checkpoint: {every: 3}
optim: {lr: 3e-3}
eval: {every: 3}
report: {progress: quiet, tensorboard: true, html: true}
Y
vg 0 train cls.yaml
vg 0 train cls.yaml resume=out/checkpoints/step-00000003
vg 0 eval --model out --data test.jsonl --json
sed 's/.*"text": "\([^"]*\)".*/\1/' test.jsonl > texts.txt
VG_IN=texts.txt vg 0 classify --model out
cp "out$n.txt" cls.tsv
cut -f1 cls.tsv > pred.txt; sed 's/.*"label": "\([^"]*\)".*/\1/' test.jsonl > gold.txt
vg 0 score --metric classification --pred pred.txt --ref gold.txt --json
vg 0 baseline --recipe cls.yaml --json
vg 0 merge --model base --adapter out --out merged
sed 's/, "label": "[a-z]*"//' train.jsonl > lm.jsonl
vg 0 train cls.yaml task=causal_lm method=full output_dir=lm data.train=lm.jsonl data.test=null train.max_steps=2
vg 0 generate --model lm --prompt "good" --max-new-tokens 5 --seed 1 --temperature 0.8
echo '{"input_ids": [[5, 6, 7, 8], [9, 10, 11, 12]]}' > batch.json
vg 0 dump --model base --batch batch.json --out dump.safetensors
vg 1 train cls.yaml optim.lrr=1        # a recipe typo: an error, not a leak
vg 1 eval --model out --data missing.jsonl
echo "valgrind_cli: $n commands under memcheck"
exit $fail
