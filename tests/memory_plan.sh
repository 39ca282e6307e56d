#!/usr/bin/env bash
# The memory plan before training (ftune train --dry-run, FTUNE_MEM_LIMIT) and the frozen base in its file dtype:
# a bf16 Llama trained with LoRA under train.base_dtype auto and fp32 gives the same losses; the plan shows the
# bf16 bytes held in place; a limit below the plan refuses up front naming the biggest items; auto checkpointing
# turns on only when the run needs it to fit; bad keys are refused; an int8 base holds fewer bytes, trains to
# nearly the same losses and is evaluated on int8 again.
set -euo pipefail
FT=${FT_BIN:?}
W=$(mktemp -d /tmp/ft_memplan.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_NUM_THREADS=1
gen() { awk -v n="$1" -v seed="$2" 'BEGIN { srand(seed); for (i = 0; i < n; i++) { a = int(rand()*300); d = 1 + int(rand()*3);
    printf "{\"input_ids\": ["; for (t = 0; t < 64; t++) printf "%s%d", (t ? "," : ""), (a + t*d) % 300; print "]}" } }'; }
gen 32 1 > train.jsonl
echo '{"vocab_size": 8000, "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
       "num_key_value_heads": 2, "max_position_embeddings": 64, "tie_word_embeddings": false}' > l.json
"$FT" init --arch llama --config l.json --out base --seed 3 --dtype bf16 > /dev/null
cat > r.yaml <<'Y'
model: base
method: lora
lora: {r: 4, target_modules: "q_proj,k_proj,v_proj,o_proj"}
data: {train: train.jsonl, format: pretokenized}
train: {max_steps: 4, batch_size: 4, seq_len: 64}
eval.every: 0
checkpoint.every: 0
report.progress: quiet
Y
fail=0
# the same run with the base in its file dtype and converted to fp32: the same losses, bit for bit
"$FT" train r.yaml output_dir=o_file train.base_dtype=file > log_file.txt
"$FT" train r.yaml output_dir=o_fp32 train.base_dtype=fp32 > log_fp32.txt
grep -o '"train/loss"[^,}]*' o_file/metrics.jsonl > lf.txt
grep -o '"train/loss"[^,}]*' o_fp32/metrics.jsonl > l32.txt
[ "$(wc -l < lf.txt)" = 4 ] && cmp -s lf.txt l32.txt || { echo "FAIL: losses differ between base_dtype file and fp32"; paste lf.txt l32.txt; fail=1; }
grep -q 'bf16/f16 mapped in place' log_file.txt || { echo "FAIL: no in-place line in the plan"; fail=1; }
inplace=$(sed -n 's/^  base weights bf16\/f16 mapped in place *\([0-9.]*\) MiB/\1/p' log_file.txt)
owned32=$(sed -n 's/^  fp32 weights owned (converted, trained, attached) *\([0-9.]*\) MiB/\1/p' log_fp32.txt)
awk -v x="$inplace" -v y="$owned32" 'BEGIN { exit !(x > 0 && y > 1.9 * x) }' || { echo "FAIL: held in place $inplace MiB, fp32 base owns $owned32 MiB"; fail=1; }
grep -q '0.00 bf16/f16 mapped in place' log_fp32.txt || { echo "FAIL: fp32 base reports bytes in place"; fail=1; }
cmp -s o_file/adapter_model.safetensors o_fp32/adapter_model.safetensors || { echo "FAIL: adapters differ"; fail=1; }
# int8 base: the plan shows the quantized bytes (about half the bf16 ones), the losses are close to the bf16
# base's but not equal (the rounding), and `ftune eval` of the run loads the base as int8 again: its loss on
# the training file is the one the trainer's evaluation printed at the end, not the bf16 base's
"$FT" train r.yaml output_dir=o_int8 train.base_dtype=int8 eval.every=0 data.validation=train.jsonl > log_int8.txt
q8=$(sed -n 's/^  base weights quantized to int8 *\([0-9.]*\) MiB/\1/p' log_int8.txt)
awk -v q="$q8" -v h="$inplace" 'BEGIN { exit !(q > 0 && q < h) }' || { echo "FAIL: int8 plan $q8 MiB vs bf16 in place $inplace MiB"; fail=1; }
grep -o '"train/loss"[^,}]*' o_int8/metrics.jsonl > l8.txt
paste -d' ' l8.txt lf.txt | awk -F'[: ]' '{ d = $2 - $4; if (d < 0) d = -d; if (d > 0.01 * $4) bad = 1; if (d > 0) diff = 1 }
    END { exit !(NR == 4 && !bad && diff) }' || { echo "FAIL: int8 losses vs bf16"; paste l8.txt lf.txt; fail=1; }
"$FT" eval --model o_int8 --data train.jsonl --json > ev8.json
sed -i 's/base_dtype: "int8"/base_dtype: "file"/' o_int8/recipe.yaml   # the same adapter on the bf16 base
"$FT" eval --model o_int8 --data train.jsonl --json > evf.json
/usr/bin/python3 - o_int8/metrics.jsonl ev8.json evf.json <<'PY' || { echo "FAIL: ftune eval of the int8 run"; fail=1; }
import json, sys
end = [json.loads(l)["eval/loss"] for l in open(sys.argv[1]) if "eval/loss" in l][-1]
e8, ef = json.load(open(sys.argv[2]))["loss"], json.load(open(sys.argv[3]))["loss"]
print(f"int8 run: trainer's final eval {end!r}, ftune eval {e8!r} (int8 base), {ef!r} (the bf16 base)")
sys.exit(not (abs(e8 - end) <= 1e-9 * abs(end) and abs(ef - end) > 1e-7 * abs(end)))
PY
# a saved int8 checkpoint (save_dtype int8 of a full run at lr 1e-30: the base's own values, quantized): LoRA on it
# under train.base_dtype auto keeps its projections int8 in place and trains to the int8 base's losses bit for bit
"$FT" train r.yaml method=full optim.lr=1e-30 save_dtype=int8 output_dir=o_q8save eval.every=0 > /dev/null
/usr/bin/python3 - o_q8save <<'PY' || { echo "FAIL: save_dtype int8 wrote no int8 checkpoint"; fail=1; }
import json, struct, sys
d = sys.argv[1]
raw = open(f"{d}/model.safetensors", "rb").read()
h = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
i8 = [k for k, v in h.items() if k != "__metadata__" and v["dtype"] == "I8"]
sc = [k for k, v in h.items() if k.endswith("_scale") and v["dtype"] == "F32" and v["shape"][1] == 1]
q = json.load(open(f"{d}/config.json"))["quantization_config"]
print(f"save_dtype int8: {len(i8)} I8 tensors, {len(sc)} scales, quant_method {q['quant_method']}")
sys.exit(not (len(i8) == 4 * 7 and len(sc) == len(i8) and q["quant_method"] == "ftune-int8"))
PY
"$FT" train r.yaml model=o_q8save output_dir=o_onq8 eval.every=0 data.validation=train.jsonl > log_onq8.txt
grep -o '"train/loss"[^,}]*' o_onq8/metrics.jsonl > lq.txt
cmp -s lq.txt l8.txt || { echo "FAIL: LoRA on the int8 checkpoint vs the int8 base"; paste lq.txt l8.txt; fail=1; }
q8s=$(sed -n 's/^  base weights quantized to int8 *\([0-9.]*\) MiB/\1/p' log_onq8.txt)
[ "$q8s" = "$q8" ] || { echo "FAIL: plan of the int8 checkpoint $q8s MiB vs int8 base $q8 MiB"; fail=1; }
# ftune merge --dtype int8: the adapter folded in, the projections written as int8 (LoRA on q,k,v,o of 4 layers
# plus the MLP: 28 sites), loaded back in place by the next LoRA run
"$FT" merge --model base --adapter o_int8 --out m_int8 --dtype int8 > /dev/null
n_i8=$(/usr/bin/python3 -c 'import json,struct,sys; r=open(sys.argv[1],"rb").read(); h=json.loads(r[8:8+struct.unpack("<Q",r[:8])[0]]); print(sum(1 for k,v in h.items() if k!="__metadata__" and v["dtype"]=="I8"))' m_int8/model.safetensors)
[ "$n_i8" = 28 ] || { echo "FAIL: ftune merge --dtype int8 wrote $n_i8 I8 tensors"; fail=1; }
"$FT" train r.yaml model=m_int8 output_dir=o_m8 train.max_steps=1 > log_m8.txt
grep -q '^  base weights quantized to int8' log_m8.txt || { echo "FAIL: the merged int8 checkpoint is not int8 in place"; fail=1; }
! "$FT" merge --model base --adapter o_int8 --out m_bad --dtype int4 2> bad.txt && grep -q 'f32, bf16 or int8' bad.txt \
  || { echo "FAIL: merge --dtype int4 not refused"; cat bad.txt; fail=1; }
# train.int8_matmul: the int8 base's products as int8 x int8 (activations quantized per row): the losses close to
# the int8 base's widened products (within 1 %) but not equal; refused without int8 weights. A CPU without VNNI
# warns and widens: then the losses are the int8 base's exactly.
"$FT" train r.yaml output_dir=o_i8mm train.base_dtype=int8 train.int8_matmul=true eval.every=0 data.validation=train.jsonl > log_i8mm.txt 2> err_i8mm.txt
grep -o '"train/loss"[^,}]*' o_i8mm/metrics.jsonl > lmm.txt
if grep -q 'int8_matmul not available' err_i8mm.txt; then
  cmp -s lmm.txt l8.txt || { echo "FAIL: int8_matmul fallback vs int8 base"; paste lmm.txt l8.txt; fail=1; }
else
  grep -q 'int8 x int8 products for the int8 base' log_i8mm.txt || { echo "FAIL: int8_matmul not reported"; cat log_i8mm.txt; fail=1; }
  paste -d' ' lmm.txt l8.txt | awk -F'[: ]' '{ a = $2; b = $4; if (a - b > 0.01 * b || b - a > 0.01 * b) bad = 1; if (a != b) diff = 1 }
    END { exit !(NR == 4 && !bad && diff) }' || { echo "FAIL: int8_matmul losses vs int8 base"; paste lmm.txt l8.txt; fail=1; }
  echo "int8_matmul: losses $(sed 's/.*://' lmm.txt | tr '\n' ' ')against the widened int8 base's $(sed 's/.*://' l8.txt | tr '\n' ' ')"
  # ftune eval of that run multiplies as it trained: its loss is the trainer's last evaluation
  "$FT" eval --model o_i8mm --data train.jsonl --json > evmm.json
  /usr/bin/python3 - o_i8mm/metrics.jsonl evmm.json <<'PY' || { echo "FAIL: ftune eval of the int8_matmul run"; fail=1; }
import json, sys
end = [json.loads(l)["eval/loss"] for l in open(sys.argv[1]) if "eval/loss" in l][-1]
e = json.load(open(sys.argv[2]))["loss"]
print(f"int8_matmul run: trainer's final eval {end!r}, ftune eval {e!r}")
sys.exit(not abs(e - end) <= 1e-9 * abs(end))
PY
fi
! "$FT" train r.yaml output_dir=o_i8bad train.int8_matmul=true > /dev/null 2> i8bad.txt && grep -q 'no int8 weights' i8bad.txt \
  || { echo "FAIL: int8_matmul without an int8 base not refused"; cat i8bad.txt; fail=1; }
# --dry-run: the plan, nothing trained
"$FT" train r.yaml output_dir=o_dry --dry-run > dry.txt
grep -q '^memory plan: ' dry.txt && grep -q 'activations without / with checkpointing' dry.txt && grep -q 'KV cache' dry.txt \
  || { echo "FAIL: dry-run plan"; cat dry.txt; fail=1; }
grep -q 'dry run: the plan fits' dry.txt || { echo "FAIL: dry-run end line"; fail=1; }
! grep -q 'trained steps' dry.txt || { echo "FAIL: dry-run trained"; fail=1; }
# sizes from the plan (GiB, 3 decimals): activations off/on
read -r off on < <(sed -n 's/.*activations without \/ with checkpointing \([0-9.]*\) \/ \([0-9.]*\) MiB.*/\1 \2/p' dry.txt)
total=$(sed -n 's/^memory plan: \([0-9.]*\) MiB.*/\1/p' dry.txt)
# a limit below the plan: refused with the numbers and the biggest items, exit != 0, before training
if FTUNE_MEM_LIMIT=1M "$FT" train r.yaml output_dir=o_small > small.txt 2> small.err; then echo "FAIL: 1M limit accepted"; fail=1; fi
grep -q 'needs about .* GiB but 0.00 GiB are available (FTUNE_MEM_LIMIT): biggest' small.err || { echo "FAIL: refusal message"; cat small.err; fail=1; }
! grep -q 'trained steps' small.txt || { echo "FAIL: refused run trained"; fail=1; }
[ ! -e o_small ] && [ ! -e o_dry ] || { echo "FAIL: a refused run or a dry run created its output directory"; fail=1; }
# a load that would convert more than the limit is refused before converting (base fp32 of this bf16 model:
# ≈ 9 MiB of fp32), with the hint; the same limit loads the base in place (auto) and plans on
if FTUNE_MEM_LIMIT=4M "$FT" train r.yaml output_dir=o_load train.base_dtype=fp32 > load.txt 2> load.err; then echo "FAIL: 4M fp32 load accepted"; fail=1; fi
grep -q 'loading this model with train.base_dtype fp32 needs .* GiB (weights converted to fp32) but 0.00 GiB are available (FTUNE_MEM_LIMIT); a bf16/f16 checkpoint stays in place' load.err \
  || { echo "FAIL: load refusal message"; cat load.err; fail=1; }
FTUNE_MEM_LIMIT=4M "$FT" train r.yaml output_dir=o_load2 --dry-run > load2.txt 2>&1 || true
grep -q '^memory plan: ' load2.txt || { echo "FAIL: the in-place load did not reach the plan"; cat load2.txt; fail=1; }
# auto: a limit between the plan with and without checkpointing turns it on; a roomy one leaves it off
mid=$(awk -v t="$total" -v a="$off" -v b="$on" 'BEGIN { printf "%d", (t - (a - b) / 2) * 1048576 }')
FTUNE_MEM_LIMIT=$mid "$FT" train r.yaml output_dir=o_auto train.activation_checkpointing=auto > auto.txt
grep -q 'activation checkpointing: on (train.activation_checkpointing auto' auto.txt || { echo "FAIL: auto did not turn it on (limit $mid)"; cat auto.txt; fail=1; }
grep -o '"train/loss"[^,}]*' o_auto/metrics.jsonl | cmp -s - lf.txt || { echo "FAIL: checkpointed run differs"; fail=1; }
FTUNE_MEM_LIMIT=64G "$FT" train r.yaml output_dir=o_auto2 train.activation_checkpointing=auto --dry-run > auto2.txt
grep -q 'checkpointing off$' auto2.txt || { echo "FAIL: auto turned it on without need"; cat auto2.txt; fail=1; }
# train.stream_base: the base's layers read ahead into two slots instead of the page cache. Forced on, the run's
# losses are the mapped run's bit for bit; the plan shows the slots; auto turns it on only under a limit between
# the plan with and without it (a deeper model, so that the slots are well below the layers); refused where
# nothing is in place (an fp32 base) and for a bad value
"$FT" train r.yaml output_dir=o_stream train.stream_base=true train.base_dtype=file > log_stream.txt
grep -q '^base streaming: on: .* MiB of layers read ahead into 2 slots' log_stream.txt || { echo "FAIL: no streaming line"; cat log_stream.txt; fail=1; }
grep -q '^  two layer slots of the streamed base' log_stream.txt || { echo "FAIL: no slots in the plan"; cat log_stream.txt; fail=1; }
grep -o '"train/loss"[^,}]*' o_stream/metrics.jsonl | cmp -s - lf.txt || { echo "FAIL: streamed run differs"; fail=1; }
# ftune eval of that run streams its base again (the run's train.stream_base): the mapped run's numbers
"$FT" eval --model o_stream --data train.jsonl --json > ev_st.json
"$FT" eval --model o_file --data train.jsonl --json > ev_map.json
cmp -s ev_st.json ev_map.json || { echo "FAIL: ftune eval of the streamed run"; cat ev_st.json ev_map.json; fail=1; }
echo '{"vocab_size": 2000, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 8, "num_attention_heads": 4,
       "num_key_value_heads": 2, "max_position_embeddings": 64, "tie_word_embeddings": false}' > d.json
"$FT" init --arch llama --config d.json --out deep --seed 4 --dtype bf16 > /dev/null
plan_total() { sed -n 's/^memory plan: \([0-9.]*\) MiB.*/\1/p' "$1"; }
"$FT" train r.yaml model=deep output_dir=o_d0 train.stream_base=false --dry-run > d0.txt
"$FT" train r.yaml model=deep output_dir=o_d1 train.stream_base=true --dry-run > d1.txt
t0=$(plan_total d0.txt) t1=$(plan_total d1.txt)
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b < a - 4) }' || { echo "FAIL: streaming plans $t1 MiB against $t0 MiB"; fail=1; }
mid=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (a + b) / 2 * 1048576 }')
FTUNE_MEM_LIMIT=$mid "$FT" train r.yaml model=deep output_dir=o_dauto train.max_steps=2 > dauto.txt
grep -q '^base streaming: on (train.stream_base auto: the run needs it to fit)' dauto.txt || { echo "FAIL: auto did not stream (limit $mid)"; cat dauto.txt; fail=1; }
grep -q 'activation checkpointing: on' dauto.txt && { echo "FAIL: streaming auto turned checkpointing on"; fail=1; }
"$FT" train r.yaml model=deep output_dir=o_dmap train.max_steps=2 > dmap.txt
! grep -q '^base streaming' dmap.txt || { echo "FAIL: streamed without need"; fail=1; }
cmp -s <(grep -o '"train/loss"[^,}]*' o_dauto/metrics.jsonl) <(grep -o '"train/loss"[^,}]*' o_dmap/metrics.jsonl) \
  || { echo "FAIL: the auto-streamed deep run differs from the mapped one"; fail=1; }
if "$FT" train r.yaml output_dir=o_sbad train.base_dtype=fp32 train.stream_base=true > /dev/null 2> sbad.err; then echo "FAIL: streaming an fp32 base"; fail=1; fi
grep -q 'train.stream_base: true needs a decoder whose layer weights are used in place' sbad.err || { echo "FAIL: stream refusal"; cat sbad.err; fail=1; }
if "$FT" train r.yaml output_dir=o_sbad2 train.stream_base=sometimes > /dev/null 2> sbad2.err; then echo "FAIL: stream sometimes"; fail=1; fi
grep -q "is not one of" sbad2.err || { echo "FAIL: stream value message"; cat sbad2.err; fail=1; }
# a memory cgroup's limit (what a container sets, which MemAvailable does not show) is the plan's limit when it
# is the smaller: a child cgroup of 3000 MiB (needs root and a writable memory controller; skipped elsewhere)
cg=""
if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers \
   && mkdir "/sys/fs/cgroup/ftune-plan-$$" 2>/dev/null; then
  cg=/sys/fs/cgroup/ftune-plan-$$; echo $((3000 << 20)) > "$cg/memory.max" 2>/dev/null || { rmdir "$cg"; cg=""; }
elif [ -d /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/ftune-plan-$$" 2>/dev/null; then
  cg=/sys/fs/cgroup/memory/ftune-plan-$$; echo $((3000 << 20)) > "$cg/memory.limit_in_bytes" 2>/dev/null || { rmdir "$cg"; cg=""; }
fi
if [ -n "$cg" ]; then
  sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" env -u FTUNE_MEM_LIMIT "$FT" train r.yaml output_dir=o_cg --dry-run > cg.txt 2>&1 || true
  rmdir "$cg" 2>/dev/null || true
  lim=$(sed -n "s/^memory plan: [0-9.]* MiB of \([0-9.]*\) MiB (the memory cgroup's limit less its anonymous memory).*/\1/p" cg.txt)
  awk -v l="$lim" 'BEGIN { exit !(l > 2800 && l <= 3000) }' || { echo "FAIL: the cgroup's limit is not the plan's"; cat cg.txt; fail=1; }
  echo "memory cgroup of 3000 MiB: the plan's limit $lim MiB"
else
  echo "memory_plan: no writable cgroup memory controller here: the cgroup limit part skipped"
fi
# bad values
if "$FT" train r.yaml output_dir=o_bad train.base_dtype=int4 2> bad.err > /dev/null; then echo "FAIL: base_dtype int4"; fail=1; fi
grep -q "train.base_dtype = 'int4' is not one of" bad.err || { echo "FAIL: base_dtype message"; cat bad.err; fail=1; }
if "$FT" train r.yaml output_dir=o_bad2 train.activation_checkpointing=sometimes 2> bad2.err > /dev/null; then echo "FAIL: ckpt sometimes"; fail=1; fi
grep -q "is not one of" bad2.err || { echo "FAIL: checkpointing message"; cat bad2.err; fail=1; }
[ $fail = 0 ] && echo "memory_plan: ok"
exit $fail
