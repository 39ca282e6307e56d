#!/usr/bin/env bash
# Continue training a PEFT adapter (`ftune train --adapter ADIR`, recipe key peft.init_from): N AdamW
# steps from a given adapter (tests/ref/make_adapter.py, PEFT's file format, non-trivial values) give the
# same adapter tensors as the same N steps in PyTorch over tests/ref/peft_ref.py's PEFT math
# (tests/ref/peft_train_ref.py): LoRA on GPT-2 and Llama, IA3 on GPT-2, prompt tuning on Llama, and LoRA
# with a classification head (modules_to_save score) on GPT-2 and Llama.
# Also: the saved adapter_config.json keeps the adapter's fields; a resumed run that started from
# init_from ends bit-identical to an uninterrupted one; recipe keys that contradict the adapter are
# refused; a classification head in the adapter keeps training. Skips (77) without python3 + torch.
set -u
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
REF=$SRC/tests/ref
FT=${FT_BIN:-$SRC/build/ftune}
"$PY" -c "import torch, numpy" >/dev/null 2>&1 || { echo "peft_continue: skipped: no python3 with torch"; exit 77; }
W=$(mktemp -d "${TMPDIR:-/tmp}/ftune-peft-continue.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
export OMP_NUM_THREADS=1
fail=0
bad() { echo "peft_continue: FAIL $*"; fail=1; }
expect_fail() { local want=$1; shift
  if out=$("$@" 2>&1); then bad "'$*' succeeded"; return; fi
  grep -qF -- "$want" <<<"$out" || bad "'$*' said: $out (wanted: $want)"; }

STEPS=3 LR=1e-2 WD=0.01 CLIP=1.0
# 4 rows x 10 tokens, no padding (vocab 67 of the tiny kinds)
"$PY" - <<'EOF' || exit 1
import json, numpy as np
rng = np.random.default_rng(3)
with open("d.jsonl", "w") as f:
    for _ in range(4):
        f.write(json.dumps({"input_ids": [int(x) for x in rng.integers(1, 67, 10)]}) + "\n")
with open("cls8.jsonl", "w") as f:  # 4 rows of 8 tokens, classes 0, 1, 2, 0
    for i in range(4):
        f.write(json.dumps({"input_ids": [int(x) for x in rng.integers(1, 67, 8)], "label": i % 3}) + "\n")
EOF
for k in gpt2 llama; do "$PY" "$REF/make_tiny.py" --kind $k --out $k --seed 1 || exit 1; done
# ftune: the flag form, constant LR, no warm-up; dropout off (the tiny GPT-2 config has 0.1)
ft_train() { # MODEL ADAPTER OUT [extra...]
  local m=$1 a=$2 o=$3; shift 3
  "$FT" train --model "$m" --data d.jsonl --out "$o" --adapter "$a" --steps $STEPS --batch-size 4 --seq-len 16 \
    --lr $LR --weight-decay $WD --clip $CLIP --threads 1 --quiet dropout.resid=0 dropout.embd=0 dropout.attn=0 \
    report.tensorboard=false report.html=false "$@"
}

# compare A (ftune) with B (reference) tensor by tensor: |a - b| <= 1e-4 |b| + 1e-6, and the reference
# must have moved every tensor by more than 1e-3 (so equality with the start cannot pass)
cmp_tensors() { # FTUNE REF START
  "$PY" - "$REF" "$@" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import st
a, _ = st.load(sys.argv[2]); b, _ = st.load(sys.argv[3]); s, _ = st.load(sys.argv[4])
ok = sorted(a) == sorted(b) == sorted(s)
if not ok:
    print(f"tensor names differ: {sorted(set(a) ^ set(b))}")
worst = 0.0
for k in sorted(b):
    if k not in a:
        continue
    x, y = np.asarray(a[k], np.float64), np.asarray(b[k], np.float64)
    moved = np.max(np.abs(y - np.asarray(s[k], np.float64)))
    err = np.max(np.abs(x - y) / (1e-4 * np.abs(y) + 1e-6))
    worst = max(worst, err)
    if x.shape != y.shape or err > 1 or moved <= 1e-3:
        print(f"{k}: shape {x.shape} vs {y.shape}, max |a-b|/(1e-4|b|+1e-6) = {err:.3g}, moved {moved:.3g}")
        ok = False
print(f"{len(b)} tensors, worst error {worst:.3g} of the tolerance")
sys.exit(0 if ok else 1)
EOF
}

# adapter_config.json of the output: every field of the start adapter, same values (numbers compared as
# numbers), base_model_name_or_path excepted
same_config() { # START OUT
  "$PY" - "$1/adapter_config.json" "$2/adapter_config.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
diff = [k for k in set(a) | set(b) if k != "base_model_name_or_path" and a.get(k, "<absent>") != b.get(k, "<absent>")]
print("config fields differ: " + ", ".join(sorted(diff)) if diff else "config fields equal")
sys.exit(1 if diff else 0)
EOF
}

# run_case NAME MODEL make_adapter-options...; with HEAD=K the start adapter gets a classification head
# (score.weight [K, hidden], modules_to_save ["score"], task_type SEQ_CLS) and trains on cls8.jsonl
run_case() {
  local name=$1 model=$2 data=d.jsonl ftx=() refx=(); shift 2
  "$PY" "$REF/make_adapter.py" --model "$model" --seed 7 --out "$name.start" "$@" >/dev/null || { bad "$name: make_adapter"; return; }
  if [ -n "${HEAD:-}" ]; then
    data=cls8.jsonl ftx=(--task classification) refx=(--classification)
    "$PY" - "$REF" "$name.start" "$HEAD" <<'EOF' || { bad "$name: adding the head"; return; }
import json, os, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import st
d, k = sys.argv[2], int(sys.argv[3])
conf = json.load(open(os.path.join(d, "adapter_config.json")))
conf.update(modules_to_save=["score"], task_type="SEQ_CLS")
json.dump(conf, open(os.path.join(d, "adapter_config.json"), "w"), indent=2, sort_keys=True)
t, meta = st.load(os.path.join(d, "adapter_model.safetensors"))
width = t[sorted(n for n in t if n.endswith("lora_A.weight"))[0]].shape[1]
t["base_model.model.score.weight"] = (0.3 * np.random.default_rng(k).standard_normal((k, width))).astype(np.float32)
st.save(os.path.join(d, "adapter_model.safetensors"), t, metadata={"format": "pt"})
EOF
  fi
  if ! ft_train "$model" "$name.start" "$name.ft" --data $data "${ftx[@]}" >"$name.log" 2>&1; then
    bad "$name: ftune train:"; sed 's/^/    /' "$name.log"; return
  fi
  if ! "$PY" "$REF/peft_train_ref.py" --model "$model" --adapter "$name.start" --data $data --steps $STEPS --lr $LR \
      --weight-decay $WD --clip $CLIP "${refx[@]}" --out "$name.ref.safetensors" >"$name.ref.log" 2>&1; then
    bad "$name: reference:"; sed 's/^/    /' "$name.ref.log"; return
  fi
  if out=$(cmp_tensors "$name.ft/adapter_model.safetensors" "$name.ref.safetensors" "$name.start/adapter_model.safetensors"); then
    echo "peft_continue: ok   $name ($(tail -n 1 <<<"$out"))"
  else
    bad "$name: ftune differs from the reference:"; sed 's/^/    /' <<<"$out"
  fi
  out=$(same_config "$name.start" "$name.ft") || bad "$name: $out"
}

run_case gpt2_lora gpt2 --method lora --r 4 --alpha 8
run_case llama_lora llama --method lora --r 4 --alpha 16 --target q_proj,v_proj,down_proj --rslora
run_case gpt2_ia3 gpt2 --method ia3
run_case llama_prompt llama --method prompt --virtual 3
HEAD=3 run_case gpt2_lora_cls gpt2 --method lora --r 4 --alpha 8
HEAD=3 run_case llama_lora_cls llama --method lora --r 4 --alpha 8

# ---- the resolved recipe records the adapter's method and options
grep -q '^method: "lora"' gpt2_lora.ft/recipe.yaml && grep -q '^  r: 4$' gpt2_lora.ft/recipe.yaml \
  || bad "recipe.yaml does not record method lora and lora.r 4"

# ---- resume: a run from init_from stopped at step 2 and resumed ends as the uninterrupted one, bit for bit
"$PY" "$REF/make_adapter.py" --model gpt2 --method lora --seed 9 --out res.start --r 4 >/dev/null || exit 1
STEPS=4 ft_train gpt2 res.start res.full checkpoint.every=2 checkpoint.keep_last=0 >/dev/null 2>&1 || bad "resume: full run"
STEPS=4 ft_train gpt2 res.start res.resumed resume=res.full/checkpoints/step-00000002 >res.log 2>&1 || { bad "resume run:"; cat res.log; }
grep -q "resuming from" res.log || bad "resume: the run did not say it resumed"
cmp -s res.full/adapter_model.safetensors res.resumed/adapter_model.safetensors || bad "resume: the adapters differ"

# ---- recipe keys that contradict the adapter are refused; equal ones are fine
expect_fail "the adapter is lora, but the recipe says method ia3" ft_train gpt2 res.start x1 --method ia3
expect_fail "the recipe sets lora.r = 16, the adapter has r = 4" ft_train gpt2 res.start x2 lora.r=16
expect_fail "lora.target_modules" ft_train gpt2 res.start x3 lora.target_modules=mlp.c_fc
ft_train gpt2 res.start x4 --method lora lora.r=4 lora.alpha=8 >/dev/null 2>&1 || bad "equal method and lora.r refused"
expect_fail "peft.init_from nowhere" ft_train gpt2 nowhere x5

# ---- a classification head in the adapter (modules_to_save: score) keeps training
"$PY" - <<'EOF' || exit 1
import json, numpy as np
rng = np.random.default_rng(5)
with open("cls.jsonl", "w") as f:
    for i in range(16):
        c = i % 2
        f.write(json.dumps({"input_ids": [int(x) for x in rng.integers(1 + 33 * c, 33 + 33 * c, 8)], "label": c}) + "\n")
EOF
"$FT" train --model gpt2 --data cls.jsonl --out cls1 --method lora --task classification --steps 3 --batch-size 4 \
  --seq-len 16 --lr 1e-2 --quiet report.tensorboard=false >/dev/null 2>&1 || bad "classification LoRA run"
"$FT" train --model gpt2 --data cls.jsonl --out cls2 --adapter cls1 --task classification --steps 3 --batch-size 4 \
  --seq-len 16 --lr 1e-2 --quiet report.tensorboard=false >/dev/null 2>&1 || bad "continuing the classification adapter"
"$PY" - "$REF" <<'EOF' || bad "the head in the continued adapter"
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import st
a, _ = st.load("cls1/adapter_model.safetensors"); b, _ = st.load("cls2/adapter_model.safetensors")
k = "base_model.model.score.weight"
assert sorted(a) == sorted(b) and k in b, sorted(b)
assert b[k].shape == (2, 32), b[k].shape
moved = {n: float(np.max(np.abs(a[n] - b[n]))) for n in a}
print("moved", {n.split(".")[-2] + "." + n.split(".")[-1]: f"{v:.3g}" for n, v in moved.items()})
assert all(v > 1e-4 for v in moved.values()), moved
EOF
# the task must fit the adapter: a head where the task has none, or none where it needs one
expect_fail "the adapter has a classification head, but task is causal_lm" ft_train gpt2 cls1 x6
expect_fail "score.weight' is missing" "$FT" train --model gpt2 --data cls.jsonl --out x7 --adapter res.start \
  --task classification --steps 1 --quiet
"$FT" eval --model cls2 --data cls.jsonl --json >cls.eval 2>&1 && grep -q '"accuracy"' cls.eval || { bad "eval of the continued adapter:"; cat cls.eval; }

[ $fail = 0 ] && echo "peft_continue: all passed"
exit $fail
