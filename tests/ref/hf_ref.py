#!/usr/bin/python3
"""Independent PyTorch reference for ftune's model parity tests.

Re-implements, from reading Hugging Face transformers, the math of GPT2LMHeadModel and of the
Llama family (LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM) as plain functions of the
checkpoint's tensors, runs one forward + backward (no dropout) on a batch and writes
  logits [B,T,V], loss [1], grad.<name> (one per stored parameter, in the checkpoint's shape)
as float32 safetensors, i.e. exactly what `ftune dump` writes. The math runs in float64 by default.

Usage: hf_ref.py --model DIR --batch batch.json --out ref.safetensors [--dtype float64|float32]
batch.json = {"input_ids": [[..]..], "attention_mask": [[..]..] (optional, 1 real / 0 pad),
              "labels": [[..]..] (optional, default input_ids; -100 = ignored)}
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

IGNORE_INDEX = -100


class RefError(Exception):
    pass


# ---------------------------------------------------------------- checkpoint loading

def load_checkpoint(model_dir):
    """Returns (config dict, ordered dict name -> float numpy array) from DIR/config.json and
    DIR/model.safetensors or the shards listed in DIR/model.safetensors.index.json."""
    cfg_path = os.path.join(model_dir, "config.json")
    try:
        with open(cfg_path) as f:
            cfg = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise RefError(f"{cfg_path}: {e}") from None
    if not isinstance(cfg, dict):
        raise RefError(f"{cfg_path}: not a JSON object")
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(single):
        tensors, _ = st.load(single)
    elif os.path.exists(index):
        with open(index) as f:
            wmap = json.load(f).get("weight_map", {})
        for shard in sorted(set(wmap.values())):
            part, _ = st.load(os.path.join(model_dir, shard))
            for k, v in part.items():
                if wmap.get(k) != shard:
                    raise RefError(f"{shard}: tensor {k} is not listed for this shard in {index}")
                tensors[k] = v
        missing = set(wmap) - set(tensors)
        if missing:
            raise RefError(f"{index}: tensors listed but absent from their shards: {sorted(missing)[:5]}")
    else:
        raise RefError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json")
    for k, v in tensors.items():
        if v.dtype.kind != "f":
            raise RefError(f"{model_dir}: tensor {k} has non-float dtype {v.dtype}")
    return cfg, tensors


def _get(cfg, key, default):
    v = cfg.get(key, default)
    return default if v is None and default is not None else v


def gpt2_config(cfg):
    d = int(cfg["n_embd"])
    c = {
        "arch": "gpt2",
        "vocab": int(cfg["vocab_size"]),
        "d": d,
        "layers": int(cfg["n_layer"]),
        "heads": int(cfg["n_head"]),
        "n_pos": int(cfg["n_positions"]),
        "inner": int(_get(cfg, "n_inner", 4 * d) or 4 * d),
        "eps": float(_get(cfg, "layer_norm_epsilon", 1e-5)),
        "act": _get(cfg, "activation_function", "gelu_new"),
        "scale_attn": bool(_get(cfg, "scale_attn_weights", True)),
        "scale_inv_layer": bool(_get(cfg, "scale_attn_by_inverse_layer_idx", False)),
        "tie": bool(_get(cfg, "tie_word_embeddings", True)),  # PretrainedConfig default
    }
    if d % c["heads"]:
        raise RefError(f"config: n_embd {d} is not divisible by n_head {c['heads']}")
    return c


def llama_config(cfg):
    mt = cfg.get("model_type")
    heads = int(cfg["num_attention_heads"])
    d = int(cfg["hidden_size"])
    n_layers = int(cfg["num_hidden_layers"])
    # Defaults as in configuration_llama.py / configuration_qwen2.py / configuration_mistral.py.
    kv_default = {"llama": heads, "qwen2": 32, "mistral": 8}[mt]
    # A missing key takes the class default; an explicit null means "as many as query heads".
    kv = cfg.get("num_key_value_heads", kv_default)
    kv = heads if kv is None else int(kv)
    # transformers 5 may write {"rope_parameters": {"rope_type", "rope_theta", ...}} instead.
    rope_params = cfg.get("rope_parameters") or {}
    head_dim = cfg.get("head_dim")
    head_dim = d // heads if head_dim is None else int(head_dim)
    c = {
        "arch": mt,
        "vocab": int(cfg["vocab_size"]),
        "d": d,
        "layers": n_layers,
        "heads": heads,
        "kv_heads": kv,
        "head_dim": head_dim,
        "inter": int(cfg["intermediate_size"]),
        "eps": float(_get(cfg, "rms_norm_eps", 1e-6)),
        "theta": float(_get(rope_params, "rope_theta", _get(cfg, "rope_theta", 10000.0))),
        "act": _get(cfg, "hidden_act", "silu"),
        "tie": bool(_get(cfg, "tie_word_embeddings", False)),
        "rope_scaling": cfg.get("rope_scaling") or (rope_params or None),
        "pad_id": cfg.get("pad_token_id"),
    }
    if heads % kv:
        raise RefError(f"config: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}")
    if head_dim % 2:
        raise RefError(f"config: head_dim {head_dim} must be even for RoPE")
    if mt == "llama":
        ab = bool(_get(cfg, "attention_bias", False))
        c["qkv_bias"], c["o_bias"], c["mlp_bias"] = ab, ab, bool(_get(cfg, "mlp_bias", False))
    elif mt == "qwen2":
        c["qkv_bias"], c["o_bias"], c["mlp_bias"] = True, False, False
    else:
        c["qkv_bias"], c["o_bias"], c["mlp_bias"] = False, False, False
    # Sliding window per layer (None = full causal attention).
    windows = [None] * n_layers
    if mt == "mistral":
        sw = cfg["sliding_window"] if "sliding_window" in cfg else 4096  # null = full attention
        windows = [None if sw is None else int(sw)] * n_layers
    elif mt == "qwen2":
        sw = cfg["sliding_window"] if "sliding_window" in cfg else 4096
        if not bool(_get(cfg, "use_sliding_window", False)):
            sw = None
        types = cfg.get("layer_types")
        if types is None:
            mwl = int(_get(cfg, "max_window_layers", 28))
            types = ["sliding_attention" if sw is not None and i >= mwl else "full_attention"
                     for i in range(n_layers)]
        if len(types) != n_layers:
            raise RefError(f"config: layer_types has {len(types)} entries for {n_layers} layers")
        windows = [int(sw) if t == "sliding_attention" and sw is not None else None for t in types]
    c["windows"] = windows
    pad = c["pad_id"]
    if pad is not None and not (0 <= int(pad) < c["vocab"]):
        pad = None  # nn.Embedding would reject it; HF configs with out-of-range pad ids do not load
    c["pad_id"] = None if pad is None else int(pad)
    return c


def model_config(cfg):
    mt = cfg.get("model_type")
    try:
        if mt == "gpt2":
            return gpt2_config(cfg)
        if mt in ("llama", "qwen2", "mistral"):
            return llama_config(cfg)
    except KeyError as e:
        raise RefError(f"config.json: missing field {e}") from None
    except (TypeError, ValueError) as e:
        raise RefError(f"config.json: bad field value: {e}") from None
    raise RefError(f"config.json: model_type {mt!r} is not supported (gpt2, llama, qwen2, mistral)")


def expected_params(c):
    """Ordered dict canonical HF name -> shape."""
    p = {}
    if c["arch"] == "gpt2":
        d, inner = c["d"], c["inner"]
        p["transformer.wte.weight"] = (c["vocab"], d)
        p["transformer.wpe.weight"] = (c["n_pos"], d)
        for i in range(c["layers"]):
            h = f"transformer.h.{i}."
            p[h + "ln_1.weight"] = (d,)
            p[h + "ln_1.bias"] = (d,)
            p[h + "attn.c_attn.weight"] = (d, 3 * d)
            p[h + "attn.c_attn.bias"] = (3 * d,)
            p[h + "attn.c_proj.weight"] = (d, d)
            p[h + "attn.c_proj.bias"] = (d,)
            p[h + "ln_2.weight"] = (d,)
            p[h + "ln_2.bias"] = (d,)
            p[h + "mlp.c_fc.weight"] = (d, inner)
            p[h + "mlp.c_fc.bias"] = (inner,)
            p[h + "mlp.c_proj.weight"] = (inner, d)
            p[h + "mlp.c_proj.bias"] = (d,)
        p["transformer.ln_f.weight"] = (d,)
        p["transformer.ln_f.bias"] = (d,)
    else:
        d, qd, kvd, inter = c["d"], c["heads"] * c["head_dim"], \
            c["kv_heads"] * c["head_dim"], c["inter"]
        p["model.embed_tokens.weight"] = (c["vocab"], d)
        for i in range(c["layers"]):
            h = f"model.layers.{i}."
            p[h + "input_layernorm.weight"] = (d,)
            p[h + "self_attn.q_proj.weight"] = (qd, d)
            p[h + "self_attn.k_proj.weight"] = (kvd, d)
            p[h + "self_attn.v_proj.weight"] = (kvd, d)
            if c["qkv_bias"]:
                p[h + "self_attn.q_proj.bias"] = (qd,)
                p[h + "self_attn.k_proj.bias"] = (kvd,)
                p[h + "self_attn.v_proj.bias"] = (kvd,)
            p[h + "self_attn.o_proj.weight"] = (d, qd)
            if c["o_bias"]:
                p[h + "self_attn.o_proj.bias"] = (d,)
            p[h + "post_attention_layernorm.weight"] = (d,)
            p[h + "mlp.gate_proj.weight"] = (inter, d)
            p[h + "mlp.up_proj.weight"] = (inter, d)
            p[h + "mlp.down_proj.weight"] = (d, inter)
            if c["mlp_bias"]:
                p[h + "mlp.gate_proj.bias"] = (inter,)
                p[h + "mlp.up_proj.bias"] = (inter,)
                p[h + "mlp.down_proj.bias"] = (d,)
        p["model.norm.weight"] = (d,)
    if not c["tie"]:
        p["lm_head.weight"] = (c["vocab"], c["d"])
    return p


def _ignorable(name):
    # Non-persistent buffers some checkpoints carry anyway.
    return (name.endswith(".attn.bias") and ".h." in name) or name.endswith(".attn.masked_bias") \
        or name.endswith("rotary_emb.inv_freq")


def bind_params(c, tensors, where):
    """Maps the checkpoint's tensors to canonical names. Returns (canonical -> array,
    canonical -> stored name). Errors name the tensor at fault."""
    exp = expected_params(c)
    stored = {}
    prefix_less = c["arch"] == "gpt2" and "transformer.wte.weight" not in tensors and "wte.weight" in tensors
    for k in tensors:
        canon = k
        if prefix_less and not k.startswith("lm_head."):
            canon = "transformer." + k
        stored[canon] = k
    out = {}
    for name, shape in exp.items():
        if name not in stored:
            raise RefError(f"{where}: missing tensor {name}")
        arr = tensors[stored[name]]
        if tuple(arr.shape) != tuple(shape):
            raise RefError(f"{where}: tensor {stored[name]} has shape {list(arr.shape)}, expected {list(shape)}")
        out[name] = arr
    for canon, k in stored.items():
        if canon in exp or _ignorable(canon):
            continue
        if canon == "lm_head.weight" and c["tie"]:
            emb = "transformer.wte.weight" if c["arch"] == "gpt2" else "model.embed_tokens.weight"
            if tensors[k].shape == out[emb].shape and np.array_equal(tensors[k], out[emb]):
                continue  # a stored copy of the tied matrix
            raise RefError(f"{where}: lm_head.weight differs from {emb} but tie_word_embeddings is true")
        raise RefError(f"{where}: unexpected tensor {k}")
    return out, {n: stored[n] for n in exp}


# ---------------------------------------------------------------- math

def activation(name, x):
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))
    if name == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name in ("silu", "swish"):
        return x * torch.sigmoid(x)
    if name == "relu":
        return torch.clamp(x, min=0)
    raise RefError(f"config: activation {name!r} is not supported")


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased variance, as nn.LayerNorm
    return (x - mu) / torch.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    # y = w * x / sqrt(mean(x^2) + eps), computed in at least fp32, weight applied after.
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def attention_mask_bool(mask, T, window=None):
    """allowed[b, 1, q, k] = k <= q and mask[b, k] (and q - k < window)."""
    q = torch.arange(T)[:, None]
    k = torch.arange(T)[None, :]
    allowed = k <= q
    if window is not None:
        allowed = allowed & (k > q - window)
    return allowed[None, None, :, :] & mask[:, None, None, :].bool()


def softmax_attention(q, k, v, allowed, scale):
    """q [B,H,T,hd], k/v [B,H,T,hd] (already expanded for GQA). Masked scores get the dtype's most
    negative value like HF (a query with no visible key then spreads evenly: such positions only
    occur with left padding and are not meaningful)."""
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    s = s.masked_fill(~allowed, torch.finfo(s.dtype).min)
    return torch.matmul(torch.softmax(s, dim=-1), v)


class Hooks:
    """Identity hooks; tests/ref/peft_ref.py overrides them to add PEFT methods without a second
    copy of the model math. Paths are Hugging Face module names (transformer.h.0.attn.c_attn)."""

    def embedding(self, path, ids, w, padding_idx):
        """nn.Embedding lookup w[ids] of module path (padding_idx: the row that gets no gradient, or None)."""
        return F.embedding(ids, w, padding_idx=padding_idx)

    def embed(self, x, mask):
        """Input embeddings [B,T,d] and mask [B,T] -> (embeddings, mask) the blocks run on."""
        return x, mask

    def linear(self, path, x, w, b, conv1d):
        """Conv1D (GPT-2, W [in,out]): x W + b; nn.Linear (W [out,in]): x W^T + b."""
        y = x @ w if conv1d else x @ w.t()
        return y if b is None else y + b

    def branch(self, path, o):
        """o: a sublayer's output (path ends in attn / self_attn / mlp) before the residual add."""
        return o


NO_HOOKS = Hooks()


def gpt2_logits(P, c, ids, mask, hooks=None):
    hk = hooks or NO_HOOKS
    H, d = c["heads"], c["d"]
    hd = d // H
    wte = P["transformer.wte.weight"]
    x, mask = hk.embed(hk.embedding("transformer.wte", ids, wte, None), mask)
    B, T = x.shape[0], x.shape[1]
    if T > c["n_pos"]:
        raise RefError(f"batch: sequence length {T} exceeds n_positions {c['n_pos']}")
    x = x + hk.embedding("transformer.wpe", torch.arange(T), P["transformer.wpe.weight"], None)[None]
    for i in range(c["layers"]):
        h = f"transformer.h.{i}."
        a = layer_norm(x, P[h + "ln_1.weight"], P[h + "ln_1.bias"], c["eps"])
        qkv = hk.linear(h + "attn.c_attn", a, P[h + "attn.c_attn.weight"], P[h + "attn.c_attn.bias"], True)
        q, k, v = qkv.split(d, dim=-1)
        q, k, v = (t.reshape(B, T, H, hd).transpose(1, 2) for t in (q, k, v))
        scale = 1.0
        if c["scale_attn"]:
            scale /= math.sqrt(hd)
        if c["scale_inv_layer"]:
            scale /= float(i + 1)
        o = softmax_attention(q, k, v, attention_mask_bool(mask, T), scale)
        o = o.transpose(1, 2).reshape(B, T, d)
        o = hk.linear(h + "attn.c_proj", o, P[h + "attn.c_proj.weight"], P[h + "attn.c_proj.bias"], True)
        x = x + hk.branch(h + "attn", o)
        m = layer_norm(x, P[h + "ln_2.weight"], P[h + "ln_2.bias"], c["eps"])
        m = activation(c["act"], hk.linear(h + "mlp.c_fc", m, P[h + "mlp.c_fc.weight"], P[h + "mlp.c_fc.bias"], True))
        m = hk.linear(h + "mlp.c_proj", m, P[h + "mlp.c_proj.weight"], P[h + "mlp.c_proj.bias"], True)
        x = x + hk.branch(h + "mlp", m)
    x = layer_norm(x, P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], c["eps"])
    head = wte if c["tie"] else P["lm_head.weight"]
    return x @ head.t()


def rope_inv_freq(c):
    """inv_freq[i] = theta^(-2i/hd), computed in float32 like HF, then scaled per rope_scaling."""
    hd = c["head_dim"]
    inv = 1.0 / (c["theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    rs = c["rope_scaling"]
    if rs is None:
        return inv
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "default":
        return inv
    if kind == "linear":
        return inv / float(rs["factor"])
    if kind == "llama3":
        factor, lo, hi = float(rs["factor"]), float(rs["low_freq_factor"]), float(rs["high_freq_factor"])
        old = float(rs["original_max_position_embeddings"])
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / lo, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / hi) & (wavelen <= old / lo)
        return torch.where(medium, smoothed, scaled)
    raise RefError(f"config: rope_scaling type {kind!r} is not supported (default, linear, llama3)")


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def llama_logits(P, c, ids, mask, hooks=None):
    hk = hooks or NO_HOOKS
    H, KV, hd, d = c["heads"], c["kv_heads"], c["head_dim"], c["d"]
    dt = P["model.embed_tokens.weight"].dtype
    emb = P["model.embed_tokens.weight"]
    # nn.Embedding(padding_idx=pad_token_id): the pad row gets no gradient from the lookup.
    x, mask = hk.embed(hk.embedding("model.embed_tokens", ids, emb, c["pad_id"]), mask)
    B, T = x.shape[0], x.shape[1]
    inv = rope_inv_freq(c)
    freqs = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]  # fp32 angles, positions 0..T-1
    ang = torch.cat((freqs, freqs), dim=-1).to(dt)
    cos, sin = torch.cos(ang)[None, None], torch.sin(ang)[None, None]
    rep = H // KV
    for i in range(c["layers"]):
        h = f"model.layers.{i}."
        a = rms_norm(x, P[h + "input_layernorm.weight"], c["eps"])

        def lin(name, t):
            return hk.linear(h + name, t, P[h + name + ".weight"], P.get(h + name + ".bias"), False)

        q = lin("self_attn.q_proj", a).reshape(B, T, H, hd).transpose(1, 2)
        k = lin("self_attn.k_proj", a).reshape(B, T, KV, hd).transpose(1, 2)
        v = lin("self_attn.v_proj", a).reshape(B, T, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # GQA: query head j reads kv head j // rep.
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        o = softmax_attention(q, k, v, attention_mask_bool(mask, T, c["windows"][i]), hd ** -0.5)
        o = o.transpose(1, 2).reshape(B, T, H * hd)
        x = x + hk.branch(h + "self_attn", lin("self_attn.o_proj", o))
        m = rms_norm(x, P[h + "post_attention_layernorm.weight"], c["eps"])
        m = activation(c["act"], lin("mlp.gate_proj", m)) * lin("mlp.up_proj", m)
        x = x + hk.branch(h + "mlp", lin("mlp.down_proj", m))
    x = rms_norm(x, P["model.norm.weight"], c["eps"])
    head = emb if c["tie"] else P["lm_head.weight"]
    return x @ head.t()


def causal_lm_loss(logits, labels):
    """mean over t, b with labels[b, t+1] != -100 of -log softmax(logits[b, t])[labels[b, t+1]]."""
    V = logits.shape[-1]
    sl = logits[:, :-1, :].reshape(-1, V)
    tl = labels[:, 1:].reshape(-1)
    if int((tl != IGNORE_INDEX).sum()) == 0:
        raise RefError("batch: every shifted label is -100; the mean loss is undefined")
    return F.cross_entropy(sl, tl, ignore_index=IGNORE_INDEX, reduction="mean")


# ---------------------------------------------------------------- batch + driver

def load_batch(path, vocab):
    try:
        with open(path) as f:
            b = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise RefError(f"{path}: {e}") from None

    def mat(key, required):
        if key not in b or b[key] is None:
            if required:
                raise RefError(f"{path}: missing {key}")
            return None
        rows = b[key]
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
            raise RefError(f"{path}: {key} must be a non-empty list of lists")
        if len({len(r) for r in rows}) != 1 or len(rows[0]) == 0:
            raise RefError(f"{path}: {key} rows must have one common, non-zero length")
        if not all(isinstance(v, int) and not isinstance(v, bool) for r in rows for v in r):
            raise RefError(f"{path}: {key} must hold integers")
        return torch.tensor(rows, dtype=torch.int64)

    ids = mat("input_ids", True)
    mask = mat("attention_mask", False)
    labels = mat("labels", False)
    for name, t in (("attention_mask", mask), ("labels", labels)):
        if t is not None and t.shape != ids.shape:
            raise RefError(f"{path}: {name} has shape {list(t.shape)}, input_ids {list(ids.shape)}")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab:
        raise RefError(f"{path}: input_ids outside [0, {vocab})")
    if mask is None:
        mask = torch.ones_like(ids)
    elif not bool(((mask == 0) | (mask == 1)).all()):
        raise RefError(f"{path}: attention_mask values must be 0 or 1")
    if labels is None:
        labels = ids.clone()
    else:
        bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= vocab))
        if bool(bad.any()):
            raise RefError(f"{path}: labels must be in [0, {vocab}) or -100")
    return ids, mask, labels


def forward_loss(P, c, ids, mask, labels, hooks=None):
    logits = gpt2_logits(P, c, ids, mask, hooks) if c["arch"] == "gpt2" else llama_logits(P, c, ids, mask, hooks)
    return logits, causal_lm_loss(logits, labels)


def make_params(arrays, dtype):
    return {k: torch.tensor(np.asarray(v, dtype=np.float64), dtype=dtype, requires_grad=True)
            for k, v in arrays.items()}


def run(model_dir, batch_path, dtype=torch.float64):
    """Returns ordered dict name -> float32 numpy array: logits, loss, grad.<stored name>."""
    cfg, tensors = load_checkpoint(model_dir)
    c = model_config(cfg)
    arrays, names = bind_params(c, tensors, model_dir)
    ids, mask, labels = load_batch(batch_path, c["vocab"])
    P = make_params(arrays, dtype)
    logits, loss = forward_loss(P, c, ids, mask, labels)
    loss.backward()
    out = {"logits": logits.detach().to(torch.float32).numpy(),
           "loss": loss.detach().reshape(1).to(torch.float32).numpy()}
    for canon, t in P.items():
        out["grad." + names[canon]] = t.grad.to(torch.float32).numpy()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="checkpoint directory (config.json + model.safetensors)")
    ap.add_argument("--batch", required=True, help="batch.json")
    ap.add_argument("--out", required=True, help="output .safetensors")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"], help="compute dtype")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        out = run(a.model, a.batch, torch.float64 if a.dtype == "float64" else torch.float32)
        st.save(a.out, out, metadata={"producer": "tests/ref/hf_ref.py", "compute_dtype": a.dtype})
    except (RefError, st.SafetensorsError, OSError) as e:
        print(f"hf_ref: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
