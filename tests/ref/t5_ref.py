#!/usr/bin/python3
"""Independent PyTorch reference for ftune's T5 parity test (tests/t5_parity.sh).

Written from what Hugging Face transformers' modeling_t5.py computes (T5LayerNorm, T5Attention with its
_relative_position_bucket, T5LayerFF / T5DenseActDense / T5DenseGatedActDense, T5Stack,
T5ForConditionalGeneration with _shift_right) and PEFT's LoRA / DoRA / IA3 layers, as plain functions of the
checkpoint's tensors: RMS norms without mean or bias (variance in float32 in HF; float64 here), the relative
position bias of each stack computed by block 0's table and shared by the stack's blocks (bidirectional buckets
in the encoder, causal ones in the decoder, the bucket arithmetic in float32 as HF's), no 1/sqrt(d) scaling of
the scores, padding masks added as finfo.min, the decoder's causal mask, cross-attention without a bias, the
tied head's input scaled by d_model**-0.5; cross-entropy over labels != -100. One forward + backward in float64
(no dropout); writes what `ftune dump` writes: logits [B, T_dec, V], loss [1], grad.<name> of every trained
tensor (HF names for full fine-tuning, the adapter file's names with an adapter).

Subcommands (one Python process each, every case of the test in it):
  configs --work W      partial config.json files W/cfg-<kind>.json for `ftune init --arch t5|mt5`
  prepare --work W      after `ftune init` wrote W/<kind>/: perturbed copies, the batches, the PEFT adapters, the
                        reference dumps and W/cases.tsv
  compare --work W      compares each W/<case>.ftune.safetensors with W/<case>.ref.safetensors (compare.py's
                        rule), and for LoRA / IA3 the logits of W/<case>.merged.safetensors
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import enc_ref as enc  # noqa: E402  (the adapter reader, the dump, the comparison and the command line)
import st  # noqa: E402
import vit_ref  # noqa: E402  (PEFT's linear: LoRA, DoRA, IA3 on a bias-free weight)

PREFIX = "base_model.model."
KINDS = {  # kind: (--arch, config fields for `ftune init`)
    # v1.0: relu, tied head (input scaled by d_model**-0.5), 3 decoder blocks against 2 encoder blocks
    "t5": ("t5", dict(vocab_size=40, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_decoder_layers=3, num_heads=4,
                      relative_attention_num_buckets=8, relative_attention_max_distance=12,
                      feed_forward_proj="relu", dropout_rate=0.1)),
    # v1.1 / FLAN: gated-gelu (gelu_new), untied lm_head, heads x d_kv (18) != d_model (24)
    "t5v11": ("t5", dict(vocab_size=36, d_model=24, d_kv=6, d_ff=40, num_layers=2, num_decoder_layers=2, num_heads=3,
                         relative_attention_num_buckets=16, relative_attention_max_distance=20,
                         feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.1)),
    # mT5 naming, gated-silu, tied, one block each
    "mt5": ("mt5", dict(vocab_size=30, d_model=16, d_kv=4, d_ff=24, num_layers=1, num_decoder_layers=1, num_heads=4,
                        relative_attention_num_buckets=8, relative_attention_max_distance=10,
                        feed_forward_proj="gated-silu", tie_word_embeddings=True)),
}
# case: (kind, method, batch); the model is the perturbed copy unless the name ends in -init
CASES = [
    ("t5-full-init", "t5", "full", "lab"),
    ("t5-full", "t5", "full", "lab"),
    ("t5-full-dec", "t5", "full", "dec"),  # decoder_input_ids and decoder_attention_mask given
    ("t5v11-full", "t5v11", "full", "lab"),
    ("t5v11-full-dec", "t5v11", "full", "dec"),
    ("mt5-full", "mt5", "full", "lab"),
    ("t5-lora", "t5", "lora", "lab"),
    ("t5v11-lora", "t5v11", "lora", "dec"),
    ("t5-dora", "t5", "dora", "lab"),
    ("t5-ia3", "t5", "ia3", "lab"),
    ("t5v11-ia3", "t5v11", "ia3", "lab"),
    ("t5-prompt", "t5", "prompt", "lab"),  # PEFT's seq2seq table: 2n rows, the encoder's input takes n
    ("t5v11-prompt", "t5v11", "prompt", "dec"),
    ("t5-adapter", "t5", "adapter", "lab"),  # ftune's bottleneck adapters (houlsby: self-attention and FF)
    ("t5v11-adapter-pfeiffer", "t5v11", "adapter-pfeiffer", "dec"),  # FF only
]
_LORA = dict(enc._LORA, modules_to_save=None, task_type="SEQ_2_SEQ_LM")
_IA3 = dict(enc._IA3, modules_to_save=None, task_type="SEQ_2_SEQ_LM")


def bucket(rel, bidirectional, num_buckets, max_distance):
    """HF's _relative_position_bucket (long tensors in, the large-distance branch in float32)."""
    out = torch.zeros_like(rel)
    if bidirectional:
        num_buckets //= 2
        out = out + (rel > 0).to(torch.long) * num_buckets
        rel = torch.abs(rel)
    else:
        rel = -torch.min(rel, torch.zeros_like(rel))
    max_exact = num_buckets // 2
    small = rel < max_exact
    large = max_exact + (torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return out + torch.where(small, rel, large)


def linear_modules(cfg):
    ff = ["wi_0", "wi_1", "wo"] if cfg.get("feed_forward_proj", "relu").startswith("gated-") else ["wi", "wo"]
    mods = []
    for stack, n in (("encoder", cfg["num_layers"]), ("decoder", cfg.get("num_decoder_layers") or cfg["num_layers"])):
        for i in range(n):
            B = f"{stack}.block.{i}.layer."
            mods += [B + "0.SelfAttention." + p for p in "qkvo"]
            if stack == "decoder":
                mods += [B + "1.EncDecAttention." + p for p in "qkvo"]
            mods += [B + ("2" if stack == "decoder" else "1") + ".DenseReluDense." + p for p in ff]
    return mods


class Net(vit_ref.Net):
    def rms(self, x, name):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.P[name + ".weight"] * (x * torch.rsqrt(var + self.cfg.get("layer_norm_epsilon", 1e-6)))

    def position_bias(self, stack, Tq, Tk):
        c = self.cfg
        rel = torch.arange(Tk)[None, :] - torch.arange(Tq)[:, None]
        b = bucket(rel, stack == "encoder", c["relative_attention_num_buckets"],
                   c["relative_attention_max_distance"])
        table = self.P[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
        return table[b].permute(2, 0, 1).unsqueeze(0)  # [1, H, Tq, Tk]

    def attention(self, x, kv, mod, bias, key_mask, causal):
        c = self.cfg
        H, D = c["num_heads"], c["d_kv"]
        B, Tq, Tk = x.shape[0], x.shape[1], kv.shape[1]
        q = self.linear(x, mod + ".q").view(B, Tq, H, D).transpose(1, 2)
        k = self.linear(kv, mod + ".k").view(B, Tk, H, D).transpose(1, 2)
        v = self.linear(kv, mod + ".v").view(B, Tk, H, D).transpose(1, 2)
        s = q @ k.transpose(-1, -2)  # T5: no 1/sqrt(d)
        keep = key_mask[:, None, None, :].to(torch.bool).expand(B, 1, Tq, Tk)
        if causal:
            keep = keep & torch.tril(torch.ones(Tq, Tk, dtype=torch.bool))
        add = (~keep).to(s.dtype) * torch.finfo(s.dtype).min
        s = s + (bias if bias is not None else 0.0) + add
        p = torch.softmax(s, dim=-1)
        return self.linear((p @ v).transpose(1, 2).reshape(B, Tq, H * D), mod + ".o")

    def ff(self, x, mod):
        c = self.cfg
        proj = c.get("feed_forward_proj", "relu")
        act = proj.split("-")[-1]
        fn = {"relu": torch.relu, "silu": F.silu, "gelu": lambda t: F.gelu(t),
              "gelu_new": lambda t: F.gelu(t, approximate="tanh")}[act]
        if proj.startswith("gated-"):
            if act == "gelu":  # HF: gated-gelu is gelu_new
                fn = lambda t: F.gelu(t, approximate="tanh")  # noqa: E731
            h = fn(self.linear(x, mod + ".wi_0")) * self.linear(x, mod + ".wi_1")
        else:
            h = fn(self.linear(x, mod + ".wi"))
        return self.linear(h, mod + ".wo")

    def stack(self, stack, ids, mask, enc=None, enc_mask=None):
        c, P = self.cfg, self.P
        x = F.embedding(ids, P["shared.weight"])
        if stack == "encoder" and self.prompt is not None:  # PEFT prompt tuning: n virtual tokens first
            x = torch.cat([self.prompt[:self.n_virtual].unsqueeze(0).expand(x.shape[0], -1, -1), x], dim=1)
        T = x.shape[1]
        bias = self.position_bias(stack, T, T)
        n = c["num_layers"] if stack == "encoder" else (c.get("num_decoder_layers") or c["num_layers"])
        for i in range(n):
            L = f"{stack}.block.{i}.layer."
            h = self.rms(x, L + "0.layer_norm")  # ftune's bottleneck adapters: after self-attention and FF
            x = x + self.adapter(self.attention(h, h, L + "0.SelfAttention", bias, mask, stack == "decoder"), L + "0")
            f = "1"
            if stack == "decoder":
                x = x + self.attention(self.rms(x, L + "1.layer_norm"), enc, L + "1.EncDecAttention", None, enc_mask,
                                       False)
                f = "2"
            x = x + self.adapter(self.ff(self.rms(x, L + f + ".layer_norm"), L + f + ".DenseReluDense"), L + f)
        return self.rms(x, stack + ".final_layer_norm")

    def logits(self, b):
        c, P = self.cfg, self.P
        mask = b["attention_mask"]
        if self.prompt is not None:  # PEFT: the attention mask prefixed with ones (encoder and cross-attention)
            mask = torch.cat([torch.ones(mask.shape[0], self.n_virtual, dtype=mask.dtype), mask], dim=1)
        enc = self.stack("encoder", b["input_ids"], mask)
        dec = self.stack("decoder", b["decoder_input_ids"], b["decoder_attention_mask"], enc, mask)
        if c.get("tie_word_embeddings", True):
            return (dec * c["d_model"] ** -0.5) @ P["shared.weight"].T
        return dec @ P["lm_head.weight"].T


def shift_right(labels, start, pad):
    """HF _shift_right: decoder_start_token_id first, the labels after it, -100 -> pad_token_id."""
    out = torch.full_like(labels, start)
    out[:, 1:] = labels[:, :-1]
    return out.masked_fill(out == -100, pad)


def load_batch(path, cfg):
    with open(path) as f:
        b = json.load(f)
    out = {"input_ids": torch.tensor(b["input_ids"]), "labels": torch.tensor(b["labels"])}
    out["attention_mask"] = torch.tensor(b["attention_mask"]) if "attention_mask" in b else \
        torch.ones_like(out["input_ids"])
    out["decoder_input_ids"] = torch.tensor(b["decoder_input_ids"]) if "decoder_input_ids" in b else \
        shift_right(out["labels"], cfg.get("decoder_start_token_id", 0), cfg.get("pad_token_id", 0))
    out["decoder_attention_mask"] = torch.tensor(b["decoder_attention_mask"]) if "decoder_attention_mask" in b \
        else torch.ones_like(out["decoder_input_ids"])
    return out


def reference(mdir, adir, batch_path, out_path):
    cfg, tensors = enc.load_model(mdir)
    P = {k: torch.tensor(v, dtype=torch.float64) for k, v in tensors.items()}
    net = Net(cfg, P)
    named = enc.read_adapter(net, P, adir)
    if net.prompt is not None:
        with open(os.path.join(adir, "adapter_config.json")) as f:
            net.n_virtual = json.load(f)["num_virtual_tokens"]
    b = load_batch(batch_path, cfg)
    logits = net.logits(b)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["labels"].reshape(-1), ignore_index=-100)
    enc.write_dump(out_path, logits, loss, named)


# ---------------------------------------------------------------- fixtures

def write_configs(work, kinds=None):
    """W/cfg-<kind>.json and W/kinds.tsv (kind, --arch) of kinds (default: KINDS)."""
    kinds = KINDS if kinds is None else kinds
    for kind, (_arch, fields) in kinds.items():
        with open(os.path.join(work, f"cfg-{kind}.json"), "w") as f:
            json.dump(fields, f, indent=2)
    with open(os.path.join(work, "kinds.tsv"), "w") as f:
        f.writelines(f"{kind}\t{arch}\n" for kind, (arch, _f) in kinds.items())


def perturb(src, dst, rng):
    """A copy of an `ftune init` checkpoint with the norms moved off 1 and the weights scaled up a little."""
    shutil.copytree(src, dst)
    t, meta = st.load(os.path.join(src, "model.safetensors"))
    out = {}
    for k, v in t.items():
        if "layer_norm" in k:
            v = (v + 0.3 * rng.standard_normal(v.shape)).astype(np.float32)
        out[k] = v
    st.save(os.path.join(dst, "model.safetensors"), out, metadata=meta)


def write_batches(work, kind, cfg, rng):
    """lab: labels only (source rows padded, labels -100 at some ends, lengths past the exact buckets);
    dec: decoder_input_ids and a decoder_attention_mask given too."""
    V, B, Te, Td = cfg["vocab_size"], 3, 13, 9
    ids = rng.integers(2, V, (B, Te))
    mask = np.ones((B, Te), dtype=np.int64)
    mask[1, 9:] = 0
    mask[2, 5:] = 0
    ids[mask == 0] = 0
    labels = rng.integers(2, V, (B, Td))
    labels[0, 7:] = -100
    labels[2, 3:] = -100
    base = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "labels": labels.tolist()}
    with open(os.path.join(work, f"batch-{kind}-lab.json"), "w") as f:
        json.dump(base, f)
    dmask = np.ones((B, Td), dtype=np.int64)
    dmask[2, 6:] = 0
    dec = dict(base, decoder_input_ids=rng.integers(0, V, (B, Td)).tolist(), decoder_attention_mask=dmask.tolist())
    with open(os.path.join(work, f"batch-{kind}-dec.json"), "w") as f:
        json.dump(dec, f)


def write_adapter(mdir, method, adir, rng):
    """A PEFT-format adapter (task SEQ_2_SEQ_LM) with non-trivial values (LoRA B != 0, ia3_l != 1)."""
    cfg, tensors = enc.load_model(mdir)
    mods = linear_modules(cfg)
    out = {}
    if method in ("lora", "dora"):
        targets = ["q", "v"]  # PEFT's T5 default
        conf = dict(_LORA, target_modules=targets, base_model_name_or_path=os.path.abspath(mdir),
                    use_dora=method == "dora")
        out.update(vit_ref.lora_tensors(tensors, mods, targets, conf["lora_alpha"] / conf["r"], method == "dora",
                                        rng))
    elif method == "prompt":  # PEFT's SEQ_2_SEQ_LM table: num_transformer_submodules 2, so 2n rows
        n = 3
        conf = {"base_model_name_or_path": os.path.abspath(mdir), "inference_mode": True, "num_attention_heads":
                cfg["num_heads"], "num_layers": cfg["num_layers"], "num_transformer_submodules": 2,
                "num_virtual_tokens": n, "peft_type": "PROMPT_TUNING", "prompt_tuning_init": "RANDOM",
                "prompt_tuning_init_text": None, "revision": None, "task_type": "SEQ_2_SEQ_LM",
                "token_dim": cfg["d_model"], "tokenizer_name_or_path": None}
        out["prompt_embeddings"] = 0.5 * rng.standard_normal((2 * n, cfg["d_model"]))
    elif method.startswith("adapter"):  # ftune's format: <stack>.block.N.layer.<0 | FF's>.adapter.{down,up}
        pf = method.endswith("pfeiffer")
        conf = {"adapter_act": "gelu" if pf else "relu", "adapter_placement": "pfeiffer" if pf else "houlsby",
                "adapter_size": 5, "base_model_name_or_path": os.path.abspath(mdir), "inference_mode": True,
                "peft_type": "BOTTLENECK_ADAPTER", "revision": None, "task_type": "SEQ_2_SEQ_LM"}
        d = cfg["d_model"]
        places = sorted({m.rsplit(".", 2)[0] for m in mods if ".DenseReluDense." in m or ".SelfAttention." in m})
        for where in places:  # "<stack>.block.N.layer.K"
            if pf and where.endswith(".layer.0"):
                continue
            base = f"{PREFIX}{where}.adapter"
            enc.adapter_tensors(out, base, d, 5, rng)
    else:  # IA3, PEFT's T5 defaults: k, v, wo; wo feed-forward (scales its input)
        targets, ff = ["k", "v", "wo"], ["wo"]
        conf = dict(_IA3, target_modules=targets, feedforward_modules=ff, base_model_name_or_path=os.path.abspath(mdir))
        for mod in mods:
            if enc._suffix(mod, targets):
                fout, fin = tensors[mod + ".weight"].shape
                out[f"{PREFIX}{mod}.ia3_l"] = 1.0 + 0.3 * rng.standard_normal((1, fin) if enc._suffix(mod, ff)
                                                                              else (fout, 1))
    enc.save_adapter(adir, conf, out)


def prepare(work):
    rng = np.random.default_rng(5151)
    for kind in KINDS:
        perturb(os.path.join(work, kind), os.path.join(work, kind + "-p"), rng)
        cfg, _t = enc.load_model(os.path.join(work, kind))
        write_batches(work, kind, cfg, rng)
    rows = [(name, os.path.join(work, kind if name.endswith("-init") else kind + "-p"), method,
             os.path.join(work, f"batch-{kind}-{batch}.json")) for name, kind, method, batch in CASES]
    enc.write_cases(work, rows, write_adapter, reference, rng)


def main(argv=None):
    return enc.cli(argv, __doc__, write_configs, prepare,
                   lambda work, atol, rtol: enc.compare_all(work, atol, rtol, CASES, "t5_parity"), "t5_ref")


if __name__ == "__main__":
    sys.exit(main())
