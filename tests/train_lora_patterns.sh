#!/usr/bin/env bash
# LoRA with PEFT's rank_pattern, alpha_pattern, layers_to_transform, layers_pattern and exclude_modules
# from a recipe: YAML (mappings and lists) and key=value overrides give the same adapter, bit for bit;
# adapter_config.json holds the keys as PEFT writes them and the tensors have the per-module ranks; the
# resolved recipe reproduces the run; the adapter loads again; all-linear is written as module names;
# bad values are refused with the key at fault. (The per-module math is checked against the PyTorch
# reference by tests/peft_parity.sh, the matching rules by tests/test_peft.c.)
set -euo pipefail
FT=${FT_BIN:?}
PY=${FT_PYTHON:-/usr/bin/python3}
W=$(mktemp -d /tmp/ft_lora_patterns.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_NUM_THREADS=1
awk 'BEGIN { srand(5); for (i = 0; i < 32; i++) { a = int(rand()*50); printf "{\"input_ids\": [";
     for (t = 0; t < 16; t++) printf "%s%d", (t ? "," : ""), (a + 3*t) % 50; print "]}" } }' > train.jsonl
echo '{"vocab_size": 50, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32}' > g.json
"$FT" init --arch gpt2 --config g.json --out base --seed 3 > /dev/null
cat > r.yaml <<'Y'
model: base
output_dir: out_a
method: lora
data: {train: train.jsonl, format: pretokenized, val_ratio: 0, test_ratio: 0}
train: {max_steps: 3, batch_size: 4, seq_len: 16}
optim: {lr: 1e-2}
report: {tensorboard: false, html: false}
checkpoint.save_model: false
lora:
  r: 4
  target_modules: [c_attn, c_proj, c_fc]
  rank_pattern: {c_proj: 2, "h.0.attn.c_attn": 6}
  alpha_pattern:
    c_fc: 16
  layers_to_transform: [0, 1]
  layers_pattern: h
  exclude_modules: [transformer.h.1.mlp.c_fc]
Y
fail=0
"$FT" train r.yaml --quiet > /dev/null
# the adapter file: PEFT's keys and the per-module shapes
"$PY" - out_a <<'P' || fail=1
import json, struct, sys
d = sys.argv[1]
c = json.load(open(d + "/adapter_config.json"))
raw = open(d + "/adapter_model.safetensors", "rb").read()
hdr = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
shape = {k.replace("base_model.model.transformer.", ""): v["shape"] for k, v in hdr.items() if k != "__metadata__"}
want = {"rank_pattern": {"c_proj": 2, "h.0.attn.c_attn": 6}, "alpha_pattern": {"c_fc": 16},
        "layers_to_transform": [0, 1], "layers_pattern": "h", "exclude_modules": ["transformer.h.1.mlp.c_fc"],
        "target_modules": ["c_attn", "c_proj", "c_fc"], "r": 4}
bad = [f"{k} = {c.get(k)!r}, want {v!r}" for k, v in want.items() if c.get(k) != v]
ranks = {k: shape[k + ".lora_A.weight"][0] for k in ("h.0.attn.c_attn", "h.1.attn.c_attn", "h.0.attn.c_proj",
                                                    "h.1.mlp.c_proj", "h.0.mlp.c_fc") if k + ".lora_A.weight" in shape}
if ranks != {"h.0.attn.c_attn": 6, "h.1.attn.c_attn": 4, "h.0.attn.c_proj": 2, "h.1.mlp.c_proj": 2, "h.0.mlp.c_fc": 4}:
    bad.append(f"ranks {ranks}")
if "h.1.mlp.c_fc.lora_A.weight" in shape or len(shape) != 14:
    bad.append(f"tensors {sorted(shape)}")
print("\n".join("FAIL: " + b for b in bad))
sys.exit(1 if bad else 0)
P
# the same keys as overrides (and the pattern keys in another order): the same adapter, bit for bit
"$FT" train r.yaml output_dir=out_b lora.rank_pattern=h.0.attn.c_attn:6,c_proj:2 lora.alpha_pattern=c_fc:16 \
  lora.layers_to_transform=0,1 lora.layers_pattern=h lora.exclude_modules=transformer.h.1.mlp.c_fc --quiet > /dev/null
for f in adapter_config.json adapter_model.safetensors; do
  cmp -s out_a/$f out_b/$f || { echo "FAIL: overrides give another $f"; fail=1; }
done
grep -q 'rank_pattern: "c_proj:2,h.0.attn.c_attn:6"' out_a/recipe.yaml || { echo "FAIL: resolved recipe"; fail=1; }
"$FT" train out_a/recipe.yaml output_dir=out_c --quiet > /dev/null
cmp -s out_a/adapter_model.safetensors out_c/adapter_model.safetensors || { echo "FAIL: resolved recipe differs"; fail=1; }
"$FT" train r.yaml output_dir=out_d lora.rank_pattern= --quiet > /dev/null
cmp -s out_a/adapter_model.safetensors out_d/adapter_model.safetensors && { echo "FAIL: rank_pattern had no effect"; fail=1; }
"$FT" merge --model base --adapter out_a --out merged > /dev/null || { echo "FAIL: merge"; fail=1; }
# all-linear: the resolved module names; a regex exclude_modules is written as a string
"$FT" train r.yaml output_dir=out_e lora.target_modules=all-linear lora.layers_to_transform= lora.layers_pattern= \
  'lora.exclude_modules=.*\.h\.1\.mlp\..*' --quiet > /dev/null
"$PY" - out_e <<'P' || fail=1
import json, sys
c = json.load(open(sys.argv[1] + "/adapter_config.json"))
t = [f"transformer.h.{i}.{m}" for i in (0, 1) for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]
ok = c["target_modules"] == t and c["exclude_modules"] == r".*\.h\.1\.mlp\..*"
print("" if ok else f"FAIL: all-linear config {c['target_modules']} {c['exclude_modules']!r}")
sys.exit(0 if ok else 1)
P
printf '{"input_ids": [[1, 2, 3, 4, 5, 6]]}\n' > batch.json
"$FT" dump --model base --adapter out_e --batch batch.json --out e.st > /dev/null || { echo "FAIL: all-linear adapter does not load"; fail=1; }
expect_fail() { local want=$1; shift
  if out=$("$@" 2>&1); then echo "FAIL: '$*' succeeded"; fail=1; return; fi
  grep -qF -- "$want" <<<"$out" || { echo "FAIL: '$*' said: $out (wanted: $want)"; fail=1; }; }
expect_fail "rank_pattern item 'c_proj=2': expected key:positive integer" "$FT" train r.yaml output_dir=x lora.rank_pattern=c_proj=2
expect_fail "and layers_pattern 'layers' selects no module of this gpt2 model" "$FT" train r.yaml output_dir=x lora.layers_pattern=layers
expect_fail "cannot be used when target_modules is a string" "$FT" train r.yaml output_dir=x 'lora.target_modules=.*c_attn'
expect_fail "excluded by exclude_modules" "$FT" train r.yaml output_dir=x lora.exclude_modules=c_attn,c_proj,c_fc
printf 'lora:\n  rank_pattern: {c_proj: [1]}\n' > bad.yaml
expect_fail "bad.yaml:2: lora.rank_pattern: a mapping of plain keys to numbers is expected" "$FT" train bad.yaml
"$FT" train --help | grep "lora.rank_pattern" > /dev/null || { echo "FAIL: --help does not list lora.rank_pattern"; fail=1; }
[ $fail = 0 ] && echo "train_lora_patterns: all checks passed"
exit $fail
