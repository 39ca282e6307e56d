#!/usr/bin/python3
"""A stand-in for `ftune dump` / `ftune init`, used only to test tests/parity.sh itself.

dump computes with hf_ref in float32 (as ftune does); init writes random weights for an HF
config.json. FAKE_FTUNE_BUG selects a deliberate defect the parity test must catch:
  nomask  - ignore attention_mask        tie     - drop the head's share of a tied embedding grad
  rope    - RoPE on adjacent pairs (GPT-J style) instead of rotate_half
  swa     - (mistral with sliding_window) refuse it with a clear error, which parity.sh allows
With --adapter (PEFT methods, computed by peft_ref):
  rslora  - ignore use_rslora (scale alpha/r)     ia3bias - IA3 output scaling leaves the bias unscaled
  prompt0 - prompt tuning: the last virtual token does not predict labels[0]
  noadapter - refuse BOTTLENECK_ADAPTER as "unsupported" (peft_parity.sh must count it as skipped)
  mergeia3  - `merge` leaves the IA3 feed-forward targets unscaled
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_ref  # noqa: E402
import make_tiny  # noqa: E402
import peft_ref  # noqa: E402
import st  # noqa: E402


def rotate_pairs(x):
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((-b, a), dim=-1).flatten(-2)


def dump_adapter(a, bug):
    _cfg, c, arrays, acfg, atensors, plan = peft_ref.prepare(a.model, a.adapter)
    if bug == "noadapter" and plan.method == "BOTTLENECK_ADAPTER":
        print(f"ftune: {a.adapter}: peft_type BOTTLENECK_ADAPTER is unsupported", file=sys.stderr)
        return 1
    if bug == "rslora" and acfg.get("use_rslora"):
        plan.lora = {k: (x, y, s * math.sqrt(acfg["r"]) / acfg["r"]) for k, (x, y, s) in plan.lora.items()}
        plan.emb_lora = {k: (x, y, s * math.sqrt(acfg["r"]) / acfg["r"]) for k, (x, y, s) in plan.emb_lora.items()}
    if bug == "ia3bias":
        base_linear = peft_ref.PeftHooks.linear

        def linear(self, path, x, w, b, conv1d):
            ia3 = self.p.ia3.get(path)
            if ia3 is None or ia3[1] or b is None:
                return base_linear(self, path, x, w, b, conv1d)
            return base_linear(self, path, x, w, None, conv1d) + b
        peft_ref.PeftHooks.linear = linear
    ids, mask, labels = hf_ref.load_batch(a.batch, c["vocab"])
    if bug == "prompt0" and plan.n_virtual:
        labels = labels.clone()
        labels[:, 0] = hf_ref.IGNORE_INDEX
    logits, loss, A = peft_ref.forward(c, arrays, plan, atensors, ids, mask, labels, torch.float32)
    loss.backward()
    out = {"logits": logits.detach().numpy(), "loss": loss.detach().reshape(1).numpy()}
    for k, t in A.items():
        if k not in plan.frozen:  # a saved base embedding table does not train
            out["grad." + k] = t.grad.numpy()
    st.save(a.out, out)
    return 0


def merge(a):
    bug = os.environ.get("FAKE_FTUNE_BUG", "")
    if bug == "mergeia3":
        real = peft_ref.merge

        def merge_bug(c, arrays, plan, atensors):
            plan.ia3 = {k: v for k, v in plan.ia3.items() if not v[1]}
            return real(c, arrays, plan, atensors)
        peft_ref.merge = merge_bug
    peft_ref.write_merged(a.model, a.adapter, a.out)
    return 0


def dump(a):
    bug = os.environ.get("FAKE_FTUNE_BUG", "")
    if a.adapter:
        return dump_adapter(a, bug)
    cfg, tensors = hf_ref.load_checkpoint(a.model)
    c = hf_ref.model_config(cfg)
    if bug == "swa" and any(w is not None for w in c.get("windows", [])):
        print("ftune: config.json: sliding_window smaller than the sequence is not supported", file=sys.stderr)
        return 1
    if bug == "rope":
        hf_ref.rotate_half = rotate_pairs
    arrays, names = hf_ref.bind_params(c, tensors, a.model)
    ids, mask, labels = hf_ref.load_batch(a.batch, c["vocab"])
    if bug == "nomask":
        mask = torch.ones_like(mask)
    P = hf_ref.make_params(arrays, torch.float32)
    if bug == "tie" and c["tie"]:
        emb = "transformer.wte.weight" if c["arch"] == "gpt2" else "model.embed_tokens.weight"
        head = P[emb].detach().clone()
        P["lm_head.weight"] = head
        c = dict(c, tie=False)
    logits, loss = hf_ref.forward_loss(P, c, ids, mask, labels)
    loss.backward()
    out = {"logits": logits.detach().numpy(), "loss": loss.detach().reshape(1).numpy()}
    for canon, t in P.items():
        if canon in names:
            out["grad." + names[canon]] = t.grad.numpy()
    st.save(a.out, out)
    return 0


def init(a):
    with open(a.config) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != a.arch and not (a.arch == "llama" and cfg.get("model_type") in ("qwen2", "mistral")):
        print(f"ftune: {a.config}: model_type does not match --arch {a.arch}", file=sys.stderr)
        return 1
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    w = make_tiny.random_weights(cfg, np.random.default_rng(a.seed))
    dt = "BF16" if a.dtype == "bf16" else "F32"
    st.save(os.path.join(a.out, "model.safetensors"), w, metadata={"format": "pt"}, dtypes={k: dt for k in w})
    return 0


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("dump", "init", "merge"):
        print("fake_ftune: unknown command", file=sys.stderr)
        return 2
    ap = argparse.ArgumentParser(prog=f"fake_ftune {sys.argv[1]}")
    if sys.argv[1] == "dump":
        ap.add_argument("--model", required=True)
        ap.add_argument("--batch", required=True)
        ap.add_argument("--out", required=True)
        if os.environ.get("FAKE_FTUNE_NO_ADAPTER") != "1":
            ap.add_argument("--adapter", help="PEFT adapter directory")
        a = ap.parse_args(sys.argv[2:])
        a.adapter = getattr(a, "adapter", None)
        return dump(a)
    if sys.argv[1] == "merge":
        if os.environ.get("FAKE_FTUNE_NO_MERGE") == "1":
            print("fake_ftune: unknown command", file=sys.stderr)
            return 2
        ap.add_argument("--model", required=True)
        ap.add_argument("--adapter", required=True)
        ap.add_argument("--out", required=True)
        return merge(ap.parse_args(sys.argv[2:]))
    ap.add_argument("--arch", required=True, choices=["gpt2", "llama"])
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    return init(ap.parse_args(sys.argv[2:]))


if __name__ == "__main__":
    sys.exit(main())
