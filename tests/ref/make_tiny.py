#!/usr/bin/python3
"""Writes a tiny random checkpoint in exact Hugging Face layout, without ftune:
DIR/config.json + DIR/model.safetensors (HF tensor names, seeded random weights).

Kinds (see KINDS below): gpt2, llama (untied, GQA, pad_token_id set), llama_bias (attention_bias,
tied, explicit head_dim != hidden/heads), qwen2 (q/k/v biases, tied, one KV head), mistral
(sliding_window null), mistral_swa (sliding_window 5, shorter than the test batch).

Usage: make_tiny.py --kind KIND --out DIR [--seed N] [--dtype f32|bf16|f16] [--config-only]
       make_tiny.py --list
Weights are drawn larger than a real init (unit-scale activations, peaked attention) so that
every nonlinearity matters in the parity test.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
import hf_ref  # noqa: E402

VOCAB = 67
_LLAMA_BASE = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": VOCAB,
    "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 64,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None, "attention_bias": False,
    "attention_dropout": 0.0, "mlp_bias": False, "tie_word_embeddings": False,
    "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
}

KINDS = {
    "gpt2": {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": VOCAB,
        "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 24, "n_ctx": 24, "n_inner": None,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "resid_pdrop": 0.1,
        "embd_pdrop": 0.1, "attn_pdrop": 0.1, "scale_attn_weights": True,
        "bos_token_id": 0, "eos_token_id": 0, "torch_dtype": "float32",
    },
    "llama": dict(_LLAMA_BASE, pad_token_id=0),
    "llama_bias": dict(_LLAMA_BASE, attention_bias=True, tie_word_embeddings=True, head_dim=12,
                       num_key_value_heads=4, rope_theta=500.0),
    "qwen2": dict(_LLAMA_BASE, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                  num_key_value_heads=1, tie_word_embeddings=True, rope_theta=1000000.0,
                  rms_norm_eps=1e-6, use_sliding_window=False, sliding_window=None,
                  max_window_layers=2),
    "mistral": dict({k: v for k, v in _LLAMA_BASE.items() if k not in ("attention_bias", "mlp_bias")},
                    architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=None,
                    num_hidden_layers=3),
    "mistral_swa": dict({k: v for k, v in _LLAMA_BASE.items() if k not in ("attention_bias", "mlp_bias")},
                        architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=5),
}


def random_weights(cfg, rng):
    """dict HF name -> float32 array, for every parameter the config implies."""
    c = hf_ref.model_config(cfg)
    out = {}
    for name, shape in hf_ref.expected_params(c).items():
        if name.endswith(".bias"):
            w = 0.2 * rng.standard_normal(shape)
        elif len(shape) == 1:  # norm gains
            w = 1.0 + 0.2 * rng.standard_normal(shape)
        elif "wte" in name or "embed_tokens" in name or "lm_head" in name:
            w = 0.4 * rng.standard_normal(shape)
        elif "wpe" in name:
            w = 0.3 * rng.standard_normal(shape)
        else:
            fan_in = shape[0] if c["arch"] == "gpt2" else shape[1]  # Conv1D [in,out] vs Linear [out,in]
            w = 1.5 / np.sqrt(fan_in) * rng.standard_normal(shape)
        out[name] = w.astype(np.float32)
    return out


def write(kind, out_dir, seed=0, dtype="f32", config_only=False):
    cfg = dict(KINDS[kind])
    cfg["torch_dtype"] = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[dtype]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    if config_only:
        return
    rng = np.random.default_rng(seed)
    w = random_weights(cfg, rng)
    stdt = {"f32": "F32", "bf16": "BF16", "f16": "F16"}[dtype]
    names = sorted(w)  # the safetensors library writes in sorted order too
    st.save(os.path.join(out_dir, "model.safetensors"), {n: w[n] for n in names},
            metadata={"format": "pt"}, dtypes={n: stdt for n in names})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=sorted(KINDS))
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    ap.add_argument("--config-only", action="store_true", help="write config.json only")
    ap.add_argument("--list", action="store_true", help="print the kinds and exit")
    a = ap.parse_args(argv)
    if a.list:
        print("\n".join(KINDS))
        return 0
    if not a.kind or not a.out:
        ap.error("--kind and --out are required")
    write(a.kind, a.out, a.seed, a.dtype, a.config_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
