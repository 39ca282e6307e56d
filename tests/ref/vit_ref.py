#!/usr/bin/python3
"""Independent PyTorch reference for ftune's ViT parity test (tests/vit_parity.sh).

Written from what Hugging Face transformers' modeling_vit.py computes (ViTEmbeddings, ViTPatchEmbeddings,
ViTLayer, ViTForImageClassification) and PEFT's LoRA / DoRA / IA3 layers, as plain functions of the
checkpoint's tensors: the patch embedding as torch's Conv2d (stride = kernel = patch_size), [CLS] prepended,
position embeddings added (their patch grid resized by torch.nn.functional.interpolate(mode="bicubic",
align_corners=False, size=(H/p, W/p)) when the image's grid is not the checkpoint's, HF's
interpolate_pos_encoding), pre-LayerNorm blocks with exact GELU, the final LayerNorm, `classifier` on the [CLS]
row; cross-entropy (labels -100 ignored) or MSE for problem_type regression. One forward + backward in float64
(no dropout); writes what `ftune dump` writes: logits [B, num_labels], loss [1], grad.<name> of every trained
tensor (HF names for full fine-tuning, the adapter file's names with an adapter).

Subcommands (one Python process each, every case of the test in it):
  configs --work W      partial config.json files W/cfg-<kind>.json for `ftune init --arch vit`
  prepare --work W      after `ftune init` wrote W/<kind>/: perturbed copies, a bare-named ViTModel copy, the
                        image batches, the PEFT adapters, the reference dumps and W/cases.tsv
  compare --work W      compares each W/<case>.ftune.safetensors with W/<case>.ref.safetensors (compare.py's
                        rule), and for LoRA / IA3 the logits of W/<case>.merged.safetensors
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import enc_ref as enc  # noqa: E402  (the adapter reader, the comparison and the command line are shared)
import st  # noqa: E402

PREFIX = "base_model.model."
KINDS = {  # kind: config fields for `ftune init --arch vit`
    "vit": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48, image_size=12,
                patch_size=4, num_channels=3, num_labels=3, initializer_range=0.2),
    "vit_reg": dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24, image_size=8,
                    patch_size=4, num_channels=1, problem_type="regression", qkv_bias=False, initializer_range=0.2),
    "vit_base": dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=24, image_size=8,
                     patch_size=4, num_channels=3, initializer_range=0.2),  # a ViTModel (pooler, no head)
}
# case: (kind, method, batch); the model is the perturbed copy unless the name ends in -init
CASES = [
    ("vit-full-init", "vit", "full", "sq"),
    ("vit-full", "vit", "full", "sq"),
    ("vit-full-interp-up", "vit", "full", "up"),      # 16x20 pixels: a 4x5 grid from the 3x3 one
    ("vit-full-interp-down", "vit", "full", "down"),  # 8x8 pixels: 2x2
    ("vit-lora", "vit", "lora", "sq"),
    ("vit-lora-interp", "vit", "lora", "up"),
    ("vit-dora", "vit", "dora", "sq"),
    ("vit-ia3", "vit", "ia3", "sq"),
    ("vit-bitfit", "vit", "bitfit", "sq"),
    ("vit-adapter", "vit", "adapter", "sq"),
    ("vit_reg-full", "vit_reg", "full", "gray"),
    ("vit_base-bare-lora", "vit_base", "lora", "small"),  # bare ViTModel names + an adapter bringing the head
]
BATCHES = {  # name: (B, channels, H, W, labels)
    "sq": (3, 3, 12, 12, [2, -100, 1]),
    "up": (2, 3, 16, 20, [0, 2]),
    "down": (2, 3, 8, 8, [1, 0]),
    "gray": (3, 1, 8, 8, None),
    "small": (2, 3, 8, 8, [1, 0]),
}
_LORA = dict(enc._LORA, modules_to_save=["classifier"])
_IA3 = dict(enc._IA3, modules_to_save=["classifier"])
_suffix = enc._suffix
LINEAR = ("attention.attention.query", "attention.attention.key", "attention.attention.value",
          "attention.output.dense", "intermediate.dense", "output.dense")


def canonical(k):
    """A bare ViTModel file names its tensors without the 'vit.' prefix."""
    return k if k.startswith(("vit.", "classifier.")) else "vit." + k


# ---------------------------------------------------------------- the math

class Net:
    def __init__(self, cfg, P):
        self.cfg, self.P = cfg, P
        self.lora, self.dora, self.ia3, self.adapters = {}, {}, {}, {}
        self.adapter_act, self.prompt = "relu", None

    def linear(self, x, mod):
        W, b = self.P[mod + ".weight"], self.P.get(mod + ".bias")
        ia3 = self.ia3.get(mod)
        xin = x * ia3[0].flatten() if ia3 is not None and ia3[1] else x  # feed-forward: scales the input
        y = xin @ W.T
        if mod in self.lora:
            A, Bm, s = self.lora[mod]
            lo = s * ((x @ A.T) @ Bm.T)
            if mod in self.dora:  # DoRA: m / ||W + s·B·A||_row (the norm detached) on both products
                g = self.dora[mod] / (W + s * Bm @ A).norm(dim=1).detach()
                y = g * (y + lo)
            else:
                y = y + lo
        if b is not None:
            y = y + b
        if ia3 is not None and not ia3[1]:  # otherwise the output, bias included
            y = y * ia3[0].flatten()
        return y

    adapter = enc.Net.adapter  # o + up(act(down(o))) on a branch output (ftune's bottleneck adapter)

    def ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.P[name + ".weight"], self.P[name + ".bias"],
                            self.cfg.get("layer_norm_eps", 1e-12))

    def logits(self, pix):
        cfg, P = self.cfg, self.P
        p, C, nh = cfg["patch_size"], cfg["hidden_size"], cfg["num_attention_heads"]
        G = cfg["image_size"] // p
        B, _ch, H, Wd = pix.shape
        E = F.conv2d(pix, P["vit.embeddings.patch_embeddings.projection.weight"],
                     P["vit.embeddings.patch_embeddings.projection.bias"], stride=p)
        E = E.flatten(2).transpose(1, 2)
        x = torch.cat([P["vit.embeddings.cls_token"].expand(B, -1, -1), E], dim=1)
        pos = P["vit.embeddings.position_embeddings"]
        if not (E.shape[1] == G * G and H == Wd):  # HF interpolate_pos_encoding
            grid = pos[:, 1:].reshape(1, G, G, C).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(H // p, Wd // p), mode="bicubic", align_corners=False)
            pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, C)], dim=1)
        x = x + pos
        T, D = x.shape[1], C // nh
        for i in range(cfg["num_hidden_layers"]):
            L = f"vit.encoder.layer.{i}."
            h = self.ln(x, L + "layernorm_before")
            q, k, v = (self.linear(h, L + "attention.attention." + n).view(B, T, nh, D).transpose(1, 2)
                       for n in ("query", "key", "value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / D ** 0.5, dim=-1) @ v
            o = self.linear(att.transpose(1, 2).reshape(B, T, C), L + "attention.output.dense")
            x = x + self.adapter(o, L + "attention.output")
            h = self.ln(x, L + "layernorm_after")
            f = F.gelu(self.linear(h, L + "intermediate.dense"))
            x = x + self.adapter(self.linear(f, L + "output.dense"), L + "output")
        x = self.ln(x, "vit.layernorm")
        return self.linear(x[:, 0], "classifier")

    def loss(self, logits, batch):
        if self.cfg.get("problem_type") == "regression":
            return F.mse_loss(logits.squeeze(-1), batch["targets"])
        return F.cross_entropy(logits, batch["cls_labels"], ignore_index=-100)


def load_batch(path):
    with open(path) as f:
        b = json.load(f)
    out = {"pixel_values": torch.tensor(b["pixel_values"], dtype=torch.float64)}
    if "cls_labels" in b:
        out["cls_labels"] = torch.tensor(b["cls_labels"])
    if "targets" in b:
        out["targets"] = torch.tensor(b["targets"], dtype=torch.float64)
    return out


def reference(mdir, adir, batch_path, out_path):
    cfg, tensors = enc.load_model(mdir)
    P = {canonical(k): torch.tensor(v, dtype=torch.float64) for k, v in tensors.items()
         if not canonical(k).startswith("vit.pooler.")}  # ViTForImageClassification has no pooler
    net = Net(cfg, P)
    if adir is not None and json.load(open(os.path.join(adir, "adapter_config.json")))["peft_type"] == "PROMPT_TUNING":
        raise enc.RefError("prompt tuning is not modelled for vit (ftune refuses it)")
    named = enc.read_adapter(net, P, adir)
    b = load_batch(batch_path)
    logits = net.logits(b["pixel_values"])
    loss = net.loss(logits, b)
    enc.write_dump(out_path, logits, loss, named)


# ---------------------------------------------------------------- fixtures

def write_configs(work):
    for kind, fields in KINDS.items():
        with open(os.path.join(work, f"cfg-{kind}.json"), "w") as f:
            json.dump(fields, f, indent=2)
    with open(os.path.join(work, "kinds.tsv"), "w") as f:
        f.writelines(f"{kind}\tvit\n" for kind in KINDS)


def perturb(src, dst, rng, bare=False):
    """A copy of an `ftune init` checkpoint with biases and norms moved off 0 / 1; bare: names without 'vit.'."""
    shutil.copytree(src, dst)
    t, meta = st.load(os.path.join(src, "model.safetensors"))
    out = {}
    for k, v in t.items():
        if k.endswith(".bias") or "layernorm" in k:
            v = (v + 0.3 * rng.standard_normal(v.shape)).astype(np.float32)
        out[k[4:] if bare and k.startswith("vit.") else k] = v
    st.save(os.path.join(dst, "model.safetensors"), out, metadata=meta)


def write_batches(work, rng):
    for name, (B, ch, H, W, labels) in BATCHES.items():
        b = {"pixel_values": rng.uniform(-1, 1, (B, ch, H, W)).round(4).tolist()}
        if labels is None:
            b["targets"] = rng.standard_normal(B).round(4).tolist()
        else:
            b["cls_labels"] = labels
        with open(os.path.join(work, f"batch-{name}.json"), "w") as f:
            json.dump(b, f)


def lora_tensors(tensors, mods, targets, s, dora, rng):
    """Rank-4 LoRA pairs (B != 0) on the modules PEFT's list rule selects, under PEFT's names; with dora their
    magnitudes, off the norm of W + s·B·A."""
    out = {}
    for mod in mods:
        if not _suffix(mod, targets):
            continue
        W = tensors[mod + ".weight"]
        fout, fin = W.shape
        A = rng.uniform(-1, 1, (4, fin)) * np.sqrt(3.0 / fin)
        Bm = 0.4 * rng.standard_normal((fout, 4))
        out[f"{PREFIX}{mod}.lora_A.weight"], out[f"{PREFIX}{mod}.lora_B.weight"] = A, Bm
        if dora:
            norm = np.linalg.norm(W + s * Bm @ A, axis=1)
            out[f"{PREFIX}{mod}.lora_magnitude_vector"] = norm * (1 + 0.2 * rng.standard_normal(fout))
    return out


def write_adapter(mdir, method, adir, rng, n_labels=None):
    """A PEFT-format adapter with non-trivial values (LoRA B != 0, ia3_l != 1, biases and head moved)."""
    cfg, tensors = enc.load_model(mdir)
    tensors = {canonical(k): v for k, v in tensors.items()}
    d, n_layers = cfg["hidden_size"], cfg["num_hidden_layers"]
    mods = [f"vit.encoder.layer.{i}.{n}" for i in range(n_layers) for n in LINEAR]
    heads = [k for k in tensors if k.startswith("classifier.")]
    out = {}
    if method in ("lora", "dora"):
        targets = ["query", "value"]
        conf = dict(_LORA, target_modules=targets, base_model_name_or_path=os.path.abspath(mdir),
                    use_dora=method == "dora")
        out.update(lora_tensors(tensors, mods, targets, conf["lora_alpha"] / conf["r"], method == "dora", rng))
    elif method == "ia3":
        targets, ff = ["key", "value", "output.dense"], ["output.dense"]
        conf = dict(_IA3, target_modules=targets, feedforward_modules=ff, base_model_name_or_path=os.path.abspath(mdir))
        for mod in mods:
            if _suffix(mod, targets):
                fout, fin = tensors[mod + ".weight"].shape
                out[f"{PREFIX}{mod}.ia3_l"] = 1.0 + 0.3 * rng.standard_normal((1, fin) if _suffix(mod, ff) else (fout, 1))
    elif method == "adapter":  # ftune's bottleneck adapters (houlsby: after the attention output and the FFN's)
        conf = {"adapter_act": "relu", "adapter_placement": "houlsby", "adapter_size": 6,
                "base_model_name_or_path": os.path.abspath(mdir), "inference_mode": True,
                "peft_type": "BOTTLENECK_ADAPTER", "revision": None, "task_type": "SEQ_CLS"}
        for i in range(n_layers):
            for where in ("attention.output", "output"):
                base = f"{PREFIX}vit.encoder.layer.{i}.{where}.adapter"
                enc.adapter_tensors(out, base, d, 6, rng)
    else:  # BitFit: every bias of the base model (the patch projection's and the LayerNorms' too)
        conf = {"base_model_name_or_path": os.path.abspath(mdir), "inference_mode": True, "peft_type": "BITFIT",
                "revision": None, "task_type": "SEQ_CLS"}
        for k in tensors:
            if k.endswith(".bias") and k not in heads:
                out[PREFIX + k] = tensors[k] + 0.2 * rng.standard_normal(tensors[k].shape)
    for k in heads:  # modules_to_save: the trained head
        out[PREFIX + k] = tensors[k] + 0.1 * rng.standard_normal(tensors[k].shape)
    if not heads and n_labels:  # a bare ViTModel base: the adapter brings a fresh head
        out[PREFIX + "classifier.weight"] = 0.3 * rng.standard_normal((n_labels, d))
        out[PREFIX + "classifier.bias"] = 0.1 * rng.standard_normal(n_labels)
    enc.save_adapter(adir, conf, out)


def prepare(work):
    rng = np.random.default_rng(4321)
    write_batches(work, rng)
    for kind in KINDS:
        perturb(os.path.join(work, kind), os.path.join(work, kind + "-p"), rng, bare=kind == "vit_base")
    rows = [(name, os.path.join(work, kind if name.endswith("-init") else kind + "-p"), method,
             os.path.join(work, f"batch-{batch}.json")) for name, kind, method, batch in CASES]
    enc.write_cases(work, rows, lambda m, meth, a, r: write_adapter(m, meth, a, r, n_labels=2), reference, rng)


def main(argv=None):
    return enc.cli(argv, __doc__, write_configs, prepare,
                   lambda work, atol, rtol: enc.compare_all(work, atol, rtol, CASES, "vit_parity"), "vit_ref")


if __name__ == "__main__":
    sys.exit(main())
