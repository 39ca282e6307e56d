#!/usr/bin/env bash
# ftune train with a YAML recipe: overrides, outputs in output_dir (model, recipe.yaml, ftune_train.json,
# metrics.jsonl, TensorBoard events, report.html, checkpoints), resume from a mid-run checkpoint and after
# Ctrl-C ending bit for bit where an uninterrupted run ends, unknown keys with a suggestion.
set -euo pipefail
FT=${FT_BIN:?}
W=$(mktemp -d /tmp/ft_recipe.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_NUM_THREADS=1
gen() { awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); for (i = 0; i < n; i++) { a = int(rand()*50); d = 1 + int(rand()*3);
    printf "{\"input_ids\": ["; for (t = 0; t < 20; t++) printf "%s%d", (t ? "," : ""), (a + t*d) % 50; print "]}" } }'; }
gen 96 1 > train.jsonl
gen 16 2 > val.jsonl
echo '{"vocab_size": 50, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32, "resid_pdrop": 0.1}' > g.json
"$FT" init --arch gpt2 --config g.json --out base --seed 3 > /dev/null
cat > r.yaml <<'Y'
model: base
output_dir: out_a
data:
  train: train.jsonl
  validation: val.jsonl
  format: pretokenized
train: {max_steps: 24, batch_size: 4, grad_accum: 2, seq_len: 20}
optim:
  lr: 3e-3
  schedule: cosine
  warmup_steps: 3
eval.every: 6
checkpoint:
  every: 6
  keep_last: 0
Y
fail=0
"$FT" train r.yaml --quiet > log_a.txt
for f in model.safetensors config.json recipe.yaml ftune_train.json metrics.jsonl report.html checkpoints/latest \
         checkpoints/best checkpoints/step-00000012/trainer_state.json checkpoints/step-00000012/optimizer.safetensors \
         checkpoints/step-00000012/trainable.safetensors checkpoints/step-00000024/model.safetensors; do
  [ -e "out_a/$f" ] || { echo "FAIL: out_a/$f missing"; fail=1; }
done
ls out_a/events.out.tfevents.* > /dev/null || { echo "FAIL: no TensorBoard file"; fail=1; }
grep -q '"train/loss"' out_a/metrics.jsonl || { echo "FAIL: metrics.jsonl has no train/loss"; fail=1; }
[ "$(grep -c '"train/loss"' out_a/metrics.jsonl)" = 24 ] || { echo "FAIL: 24 train lines expected"; fail=1; }
grep -q '"eval/loss"' out_a/metrics.jsonl || { echo "FAIL: metrics.jsonl has no eval/loss"; fail=1; }
grep -q 'schedule: "cosine"' out_a/recipe.yaml || { echo "FAIL: resolved recipe"; fail=1; }
grep -q '<svg' out_a/report.html || { echo "FAIL: report has no chart"; fail=1; }
grep -Eq '"task":[[:space:]]*"causal_lm"' out_a/ftune_train.json || { echo "FAIL: ftune_train.json"; fail=1; }
"$FT" inspect out_a | grep "architecture: gpt2" >/dev/null || { echo "FAIL: output does not load"; fail=1; }
# the resolved recipe reproduces the run
"$FT" train out_a/recipe.yaml output_dir=out_b checkpoint.every=0 --quiet > /dev/null
cmp -s out_a/model.safetensors out_b/model.safetensors || { echo "FAIL: resolved recipe gives another model"; fail=1; }
# activation checkpointing (the key and the flag form) changes memory, not the run: same losses, same model
"$FT" train r.yaml output_dir=out_ac checkpoint.every=0 train.activation_checkpointing=true --quiet > /dev/null
grep -q 'activation_checkpointing: true' out_ac/recipe.yaml || { echo "FAIL: key not in the resolved recipe"; fail=1; }
cmp -s out_a/model.safetensors out_ac/model.safetensors || { echo "FAIL: activation checkpointing changed the model"; fail=1; }
losses() { grep -o '"train/loss":[^,}]*' "$1"; }
[ "$(losses out_a/metrics.jsonl)" = "$(losses out_ac/metrics.jsonl)" ] && [ -n "$(losses out_ac/metrics.jsonl)" ] ||
  { echo "FAIL: activation checkpointing changed the losses"; fail=1; }
"$FT" train --model base --data train.jsonl --out out_fa --steps 4 --seq-len 20 --quiet > /dev/null
"$FT" train --model base --data train.jsonl --out out_fb --steps 4 --seq-len 20 --quiet --activation-checkpointing > /dev/null
grep -q 'activation_checkpointing: true' out_fb/recipe.yaml || { echo "FAIL: --activation-checkpointing ignored"; fail=1; }
cmp -s out_fa/model.safetensors out_fb/model.safetensors || { echo "FAIL: flag form differs with checkpointing"; fail=1; }
# resume from the step-12 checkpoint: the same final parameters, bit for bit
"$FT" train r.yaml output_dir=out_c resume=out_a/checkpoints/step-00000012 --quiet > log_c.txt
grep -q "resuming from out_a/checkpoints/step-00000012" log_c.txt || { echo "FAIL: no resume line"; fail=1; }
cmp -s out_a/model.safetensors out_c/model.safetensors || { echo "FAIL: resumed run differs"; fail=1; }
# overrides change the run; an override of the seed changes the parameters (the comparison can fail)
"$FT" train r.yaml output_dir=out_d seed=7 checkpoint.every=0 --quiet > /dev/null
cmp -s out_a/model.safetensors out_d/model.safetensors && { echo "FAIL: seed override had no effect"; fail=1; }
# Ctrl-C: checkpoint, exit 130, then resume=output_dir ends where the uninterrupted run ends
"$FT" train r.yaml output_dir=out_e train.max_steps=1500 checkpoint.every=0 eval.every=0 --quiet > log_e.txt 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  [ -f out_e/metrics.jsonl ] && [ "$(grep -c train/loss out_e/metrics.jsonl)" -ge 5 ] && break; sleep 0.1
done
kill -INT $pid
rc=0; wait $pid || rc=$?
if [ $rc != 130 ]; then echo "FAIL: Ctrl-C exit status $rc (wanted 130)"; cat log_e.txt; fail=1; fi
grep -q "interrupted at step" log_e.txt || { echo "FAIL: no interruption message"; fail=1; }
if [ $rc = 130 ]; then
  "$FT" train r.yaml output_dir=out_e train.max_steps=1500 checkpoint.every=0 eval.every=0 resume=out_e --quiet > /dev/null
  "$FT" train r.yaml output_dir=out_f train.max_steps=1500 checkpoint.every=0 eval.every=0 --quiet > /dev/null
  cmp -s out_e/model.safetensors out_f/model.safetensors || { echo "FAIL: Ctrl-C + resume differs"; fail=1; }
fi
# errors
expect_fail() { local want=$1; shift
  if out=$("$@" 2>&1); then echo "FAIL: '$*' succeeded"; fail=1; return; fi
  grep -qF -- "$want" <<<"$out" || { echo "FAIL: '$*' said: $out (wanted: $want)"; fail=1; }; }
expect_fail "unknown key 'optim.lrr' (did you mean 'optim.lr'?)" "$FT" train r.yaml optim.lrr=1
printf 'model: base\ntrain:\n  epoch: 3\n' > typo.yaml
expect_fail "typo.yaml:3: unknown key 'train.epoch' (did you mean 'train.epochs'?)" "$FT" train typo.yaml
expect_fail "not a checkpoint" "$FT" train r.yaml output_dir=out_x resume=nowhere
# a run that cannot fit stops before training, with the estimate (50k vocabulary x 4096 x 4096 logits)
echo '{"vocab_size": 50000, "n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 4096}' > big.json
"$FT" init --arch gpt2 --config big.json --out big --seed 3 > /dev/null
expect_fail "this run needs about" "$FT" train r.yaml model=big output_dir=out_big train.batch_size=4096 train.seq_len=4096
expect_fail "train.label_smoothing must be in [0, 1)" "$FT" train r.yaml output_dir=out_x train.label_smoothing=1.5
"$FT" train r.yaml output_dir=out_ls train.label_smoothing=0.1 --quiet > /dev/null 2>&1 || { echo "FAIL: label smoothing run"; fail=1; }
"$FT" train r.yaml output_dir=out_gl train.group_by_length=true --quiet > /dev/null 2>&1 || { echo "FAIL: group_by_length run"; fail=1; }
# every shipped recipe parses and validates (it stops at the missing model, not at a key)
for rf in "${FT_SRC:?}"/recipes/*.yaml; do
  expect_fail "/nonexistent-model" "$FT" train "$rf" model=/nonexistent-model output_dir=out_x
done
# precision bf16: the run says what ran; where the CPU has bf16, the result differs from fp32 (bf16 products
# really ran) and a resume ends bit for bit where the uninterrupted bf16 run ends
"$FT" train r.yaml output_dir=out_bf precision=bf16 checkpoint.every=12 --quiet > log_bf.txt 2>&1 || { echo "FAIL: bf16 run"; cat log_bf.txt; fail=1; }
if grep -q "^precision bf16 (" log_bf.txt; then
  cmp -s out_a/model.safetensors out_bf/model.safetensors && { echo "FAIL: bf16 gave the fp32 model"; fail=1; }
  "$FT" train r.yaml output_dir=out_bf2 --precision bf16 resume=out_bf/checkpoints/step-00000012 --quiet > /dev/null 2>&1
  cmp -s out_bf/model.safetensors out_bf2/model.safetensors || { echo "FAIL: bf16 resume differs"; fail=1; }
else
  grep -q "precision bf16 not available" log_bf.txt || { echo "FAIL: no bf16 and no fallback warning"; fail=1; }
fi
FTUNE_NO_BF16=1 "$FT" train r.yaml output_dir=out_nb precision=bf16 checkpoint.every=0 eval.every=0 --quiet > log_nb.txt 2>&1
grep -q "warning: precision bf16 not available (bf16 compute needs a CPU with AVX512-BF16" log_nb.txt || { echo "FAIL: fallback warning"; cat log_nb.txt; fail=1; }
grep -q "^precision fp32" log_nb.txt || { echo "FAIL: fallback did not run fp32"; fail=1; }
cmp -s out_a/model.safetensors out_nb/model.safetensors || { echo "FAIL: the fp32 fallback differs from fp32"; fail=1; }
expect_fail "precision" "$FT" train r.yaml output_dir=out_x precision=fp16
"$FT" train --help | grep "optim.weight_decay" >/dev/null || { echo "FAIL: --help does not list keys"; fail=1; }
[ $fail = 0 ] && echo "train_recipe: all checks passed"
exit $fail
