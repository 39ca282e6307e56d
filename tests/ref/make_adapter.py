#!/usr/bin/python3
"""Writes a seeded random adapter directory in Hugging Face PEFT's file format, without ftune or PEFT:
ADIR/adapter_config.json (the config class's fields, sorted keys, indent 2, no trailing newline, as
PeftConfig.save_pretrained writes them; field set of huggingface/peft at PEFT_COMMIT) and
ADIR/adapter_model.safetensors (metadata {"format": "pt"}, F32, names sorted).

Values are deliberately non-trivial (LoRA B != 0, ia3_l != 1, biases moved off the base's) so that
every adapter tensor gets a meaningful gradient in the parity tests.

Usage: make_adapter.py --model DIR --method lora|ia3|prompt|bitfit|adapter --out ADIR [--seed N]
         [--target a,b | --target-regex R | --target all-linear] [--r 4] [--alpha 8] [--rslora]
         [--bias none|all|lora_only] [--ff a,b] [--virtual 4] [--adapter-size 6]
         [--placement houlsby|pfeiffer] [--act relu|gelu|silu] [--zero-b] [--plain-bias-names] [--no-base-table]
         [--rank-pattern JSON] [--alpha-pattern JSON] [--layers 1 | --layers 0,1] [--layers-pattern h[,x]]
         [--exclude a,b | --exclude-regex R]
(a rank_pattern / alpha_pattern object keeps the JSON's key order in the file, so the precedence of
overlapping keys can be tested; PEFT itself writes them sorted)
A LoRA target may be an embedding (wte, wpe, embed_tokens): lora_embedding_A [r, V], lora_embedding_B [d, r].
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_ref  # noqa: E402
import peft_ref  # noqa: E402
import st  # noqa: E402

PEFT_COMMIT = "5d602fdbff04c33c1c4de55cda9d4ae1d7cb7e40"
PEFT_VERSION = "0.20.1.dev0@" + PEFT_COMMIT

# PeftConfigMixin + PeftConfig fields.
_BASE = {"auto_mapping": None, "base_model_name_or_path": None, "inference_mode": True, "peft_type": None,
         "peft_version": PEFT_VERSION, "revision": None, "task_type": "CAUSAL_LM"}
# LoraConfig's fields as written (to_dict drops runtime_config); defaults of that class.
_LORA = {"r": 8, "target_modules": None, "exclude_modules": None, "lora_alpha": 8, "lora_dropout": 0.0,
         "fan_in_fan_out": False, "bias": "none", "use_rslora": False, "modules_to_save": None,
         "init_lora_weights": True, "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {},
         "alpha_pattern": {}, "megatron_config": None, "megatron_core": "megatron.core",
         "trainable_token_indices": None, "loftq_config": {}, "eva_config": None, "corda_config": None,
         "lora_ga_config": None, "use_dora": False, "velora_config": None, "alora_invocation_tokens": None,
         "use_qalora": False, "qalora_group_size": 16, "monteclora_config": None, "layer_replication": None,
         "lora_bias": False, "target_parameters": None, "use_bdlora": None, "arrow_config": None,
         "kasa_config": None, "ensure_weight_tying": False}
_IA3 = {"target_modules": None, "exclude_modules": None, "feedforward_modules": None, "fan_in_fan_out": False,
        "modules_to_save": None, "init_ia3_weights": True}
# PromptLearningConfig + PromptTuningConfig.
_PROMPT = {"num_virtual_tokens": None, "token_dim": None, "num_transformer_submodules": None,
           "num_attention_heads": None, "num_layers": None, "modules_to_save": None,
           "prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": None, "tokenizer_name_or_path": None,
           "tokenizer_kwargs": None}
# ftune's own methods: PeftConfig's plain fields plus the method's keys.
_OWN = {"base_model_name_or_path": None, "inference_mode": True, "peft_type": None, "revision": None,
        "task_type": "CAUSAL_LM"}


def _targets(a):
    if a.target_regex:
        return a.target_regex
    if a.target == "all-linear":
        return "all-linear"
    if a.target:
        return sorted(t for t in a.target.split(",") if t)
    return None


def _patterns(a, conf):
    """LoRA's rank_pattern, alpha_pattern, layers_to_transform, layers_pattern, exclude_modules."""
    if a.rank_pattern:
        conf["rank_pattern"] = json.loads(a.rank_pattern)
    if a.alpha_pattern:
        conf["alpha_pattern"] = json.loads(a.alpha_pattern)
    if a.layers is not None:
        v = [int(x) for x in a.layers.split(",") if x != ""]
        conf["layers_to_transform"] = v[0] if len(v) == 1 and "," not in a.layers else v
    if a.layers_pattern is not None:
        v = a.layers_pattern.split(",")
        conf["layers_pattern"] = v[0] if len(v) == 1 else v
    if a.exclude or a.exclude_regex:
        conf["exclude_modules"] = a.exclude_regex or sorted(a.exclude.split(","))


def build(a):
    """Returns (config dict, dict name -> float32 array)."""
    cfg, tensors = hf_ref.load_checkpoint(a.model)
    c = hf_ref.model_config(cfg)
    arrays, _ = hf_ref.bind_params(c, tensors, a.model)
    rng = np.random.default_rng(a.seed)
    mods = peft_ref.modules(c)
    P = peft_ref.PREFIX
    out = {}
    base = dict(_BASE, base_model_name_or_path=os.path.abspath(a.model))
    conv = c["arch"] == "gpt2"
    if a.method == "lora":
        tm = _targets(a)
        conf = dict({**base, **_LORA}, peft_type="LORA", r=a.r, lora_alpha=a.alpha, use_rslora=a.rslora,
                    bias=a.bias, fan_in_fan_out=conv, use_dora=getattr(a, "dora", False),
                    target_modules=tm if tm is not None else peft_ref.DEFAULT_LORA_TARGETS[c["arch"]])
        _patterns(a, conf)
        targets = peft_ref.match_targets(conf, c, "make_adapter", peft_ref.DEFAULT_LORA_TARGETS, embeddings=True)
        for name in targets:
            _k, fin, fout = mods[name]
            r, _alpha = peft_ref.rank_alpha(conf, name)
            if _k == "embedding":  # lora.Embedding: A [r, V], B [d, r], saved without ".weight"
                rows, d = arrays[name + ".weight"].shape
                ea = 0.3 * rng.standard_normal((r, rows))
                out[f"{P}{name}.lora_embedding_A"] = 0 * ea if a.zero_b else ea  # PEFT's init: A = 0, B ~ N(0, 1)
                out[f"{P}{name}.lora_embedding_B"] = (1.0 if a.zero_b else 0.4 / np.sqrt(r)) * \
                    rng.standard_normal((d, r))
                # save_embedding_layers="auto": PEFT also stores a targeted embed_tokens' own table
                if name.endswith("embed_tokens") and not a.no_base_table:
                    out[f"{P}{name}.base_layer.weight"] = arrays[name + ".weight"]
                continue
            out[f"{P}{name}.lora_A.weight"] = rng.uniform(-1, 1, (r, fin)) * np.sqrt(3.0 / fin)
            b = 0.4 / np.sqrt(r) * rng.standard_normal((fout, r))
            out[f"{P}{name}.lora_B.weight"] = 0 * b if a.zero_b else b
            if getattr(a, "dora", False):  # DoRA magnitude [out]: positive, not equal to the row norms, so it matters
                out[f"{P}{name}.lora_magnitude_vector"] = 0.5 + rng.uniform(0, 1, (fout,))
        if a.bias != "none":
            wanted = [k for k in arrays if k.endswith(".bias")] if a.bias == "all" else \
                [t + ".bias" for t in targets if t + ".bias" in arrays]
            for canon in wanted:
                mod = canon[: -len(".bias")]
                # PEFT names a wrapped layer's bias <module>.base_layer.bias.
                key = f"{P}{mod}.base_layer.bias" if mod in targets and not a.plain_bias_names else f"{P}{canon}"
                out[key] = arrays[canon] + 0.2 * rng.standard_normal(arrays[canon].shape)
    elif a.method == "ia3":
        tm = _targets(a)
        ff = sorted(a.ff.split(",")) if a.ff else None
        if tm is None:
            tm = peft_ref.DEFAULT_IA3_TARGETS[c["arch"]]
            ff = ff or peft_ref.DEFAULT_IA3_FF[c["arch"]]
        conf = dict({**base, **_IA3}, peft_type="IA3", target_modules=tm, feedforward_modules=ff or [],
                    fan_in_fan_out=conv)
        if a.exclude or a.exclude_regex:
            conf["exclude_modules"] = a.exclude_regex or sorted(a.exclude.split(","))
        for name, is_ff in peft_ref.ia3_layout(conf, c, "make_adapter").items():
            _k, fin, fout = mods[name]
            out[f"{P}{name}.ia3_l"] = 1.0 + 0.3 * rng.standard_normal((1, fin) if is_ff else (fout, 1))
    elif a.method == "prompt":
        heads_key, layers_key = ("n_head", "n_layer") if conv else ("num_attention_heads", "num_hidden_layers")
        conf = dict({**base, **_PROMPT}, peft_type="PROMPT_TUNING", num_virtual_tokens=a.virtual, token_dim=c["d"],
                    num_transformer_submodules=1, num_attention_heads=cfg[heads_key], num_layers=cfg[layers_key])
        out["prompt_embeddings"] = 0.5 * rng.standard_normal((a.virtual, c["d"]))
    elif a.method == "bitfit":
        conf = dict(_OWN, peft_type="BITFIT")
        biases = [k for k in arrays if k.endswith(".bias")]
        if not biases:
            raise hf_ref.RefError(f"{a.model}: the model has no biases to train with BitFit")
        for k in biases:
            out[P + k] = arrays[k] + 0.2 * rng.standard_normal(arrays[k].shape)
    else:
        conf = dict(_OWN, peft_type="BOTTLENECK_ADAPTER", adapter_size=a.adapter_size,
                    adapter_placement=a.placement, adapter_act=a.act)
        k, d = a.adapter_size, c["d"]
        for i in range(c["layers"]):
            names = [f"transformer.h.{i}.attn", f"transformer.h.{i}.mlp"] if conv else \
                [f"model.layers.{i}.self_attn", f"model.layers.{i}.mlp"]
            for br in (names if a.placement == "houlsby" else names[1:]):
                out[f"{P}{br}.adapter.down.weight"] = rng.standard_normal((k, d)) / np.sqrt(d)
                out[f"{P}{br}.adapter.down.bias"] = 0.3 * rng.standard_normal(k)
                out[f"{P}{br}.adapter.up.weight"] = 0.6 / np.sqrt(k) * rng.standard_normal((d, k))
                out[f"{P}{br}.adapter.up.bias"] = 0.1 * rng.standard_normal(d)
    return conf, {n: np.asarray(out[n], dtype=np.float32) for n in sorted(out)}


def write(adir, conf, tensors):
    os.makedirs(adir, exist_ok=True)
    # PEFT's json.dumps(indent=2, sort_keys=True), except that rank_pattern / alpha_pattern keep the
    # order given (to test the first-key-wins precedence on a file whose keys are not sorted)
    text = json.dumps(conf, indent=2, sort_keys=True)
    for k in ("rank_pattern", "alpha_pattern"):
        if conf.get(k):
            sorted_text = json.dumps(conf[k], indent=2, sort_keys=True).replace("\n", "\n  ")
            given_text = json.dumps(conf[k], indent=2).replace("\n", "\n  ")
            text = text.replace(f'"{k}": {sorted_text}', f'"{k}": {given_text}', 1)
    with open(os.path.join(adir, "adapter_config.json"), "w") as f:
        f.write(text)
    st.save(os.path.join(adir, "adapter_model.safetensors"), tensors, metadata={"format": "pt"})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--method", required=True, choices=["lora", "ia3", "prompt", "bitfit", "adapter"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", help="comma-separated module names, or all-linear")
    ap.add_argument("--target-regex", help="a regex fullmatched on the whole module name")
    ap.add_argument("--ff", help="IA3 feedforward_modules, comma-separated (with --target)")
    ap.add_argument("--r", type=int, default=4)
    ap.add_argument("--alpha", type=float, default=8)
    ap.add_argument("--rslora", action="store_true")
    ap.add_argument("--dora", action="store_true", help="use_dora: adds lora_magnitude_vector [out]")
    ap.add_argument("--bias", default="none", choices=["none", "all", "lora_only"])
    ap.add_argument("--plain-bias-names", action="store_true",
                    help="name a targeted layer's bias <module>.bias, not PEFT's <module>.base_layer.bias")
    ap.add_argument("--rank-pattern", help="rank_pattern as a JSON object, e.g. '{\"h.0.attn.c_attn\": 2}'")
    ap.add_argument("--alpha-pattern", help="alpha_pattern as a JSON object")
    ap.add_argument("--layers", help="layers_to_transform: '1' (an int) or '0,1' / '1,' (a list)")
    ap.add_argument("--layers-pattern", help="layers_pattern: 'h' (a str) or 'a,b' (a list)")
    ap.add_argument("--exclude", help="exclude_modules as a list, comma-separated")
    ap.add_argument("--exclude-regex", help="exclude_modules as a regex string")
    ap.add_argument("--zero-b", action="store_true", help="LoRA B = 0 (PEFT's init; embeddings: A = 0, B ~ N(0, 1))")
    ap.add_argument("--no-base-table", action="store_true",
                    help="leave out <embed_tokens>.base_layer.weight, which PEFT saves for a targeted embed_tokens")
    ap.add_argument("--virtual", type=int, default=4)
    ap.add_argument("--adapter-size", type=int, default=6)
    ap.add_argument("--placement", default="houlsby", choices=["houlsby", "pfeiffer"])
    ap.add_argument("--act", default="relu", choices=["relu", "gelu", "silu"])
    a = ap.parse_args(argv)
    if a.alpha == int(a.alpha):
        a.alpha = int(a.alpha)  # PEFT writes lora_alpha as the int it usually is
    try:
        conf, tensors = build(a)
        write(a.out, conf, tensors)
    except (hf_ref.RefError, st.SafetensorsError, OSError) as e:
        print(f"make_adapter: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
