#!/usr/bin/python3
"""Independent PyTorch reference of parameter-efficient methods on top of hf_ref.py.

Reads a base checkpoint (frozen) and an adapter directory in Hugging Face PEFT's format
(ADIR/adapter_config.json + ADIR/adapter_model.safetensors), runs one forward + backward in
float64 and writes, like `ftune dump --adapter`:
  logits [B, T, V] ([B, n_virtual + T, V] for prompt tuning), loss [1],
  grad.<name> for every tensor of adapter_model.safetensors (and nothing else: the base is frozen).

Methods (peft_type), math read in huggingface/peft (tuners/lora, tuners/ia3, peft_model.py):
  LORA                y = base(x) + (x A^T B^T) * s, s = lora_alpha / r (use_rslora: / sqrt(r)),
                      A [r, in], B [out, r] also for GPT-2's Conv1D; rank_pattern / alpha_pattern,
                      exclude_modules, layers_to_transform / layers_pattern (PEFT 0.21's rules);
                      bias "all" / "lora_only": the file's biases replace the base's and train.
                      Embeddings (lora.Embedding: wte, wpe, embed_tokens): y = E[x] + A^T[x] B^T * s with
                      lora_embedding_A [r, V], lora_embedding_B [d, r], the lookup of A^T with the base's
                      padding_idx, no dropout; <module>.base_layer.weight (PEFT saves embed_tokens' own
                      table) must equal the base's. Merge: E += s (B A)^T; a tied head keeps the original
                      matrix as lm_head.weight (tie_word_embeddings false: ftune's choice, see docs/peft.md).
  IA3                 feed-forward targets: base(x * l), l [1, in]; others: base(x) * l, l [out, 1]
                      (the bias is scaled too). Feed-forward check: plain suffix match (or fullmatch).
  PROMPT_TUNING       prompt_embeddings [n, d] prepended to the input embeddings; positions
                      0..n+T-1; mask prefixed with ones; labels with -100.
  BITFIT (ftune)      the file holds biases `base_model.model.<HF param>` that replace and train.
  BOTTLENECK_ADAPTER  (ftune) sublayer output o -> o + up(act(down(o))) before the residual add,
                      after attention and MLP ("houlsby") or after the MLP only ("pfeiffer").

Usage: peft_ref.py --model DIR --adapter ADIR --batch batch.json --out ref.safetensors [--dtype float64|float32]
       peft_ref.py --model DIR --adapter ADIR --merge-out MDIR   (LoRA / IA3 / BitFit: merged checkpoint)
"""
import argparse
import json
import math
import os
import re
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_ref  # noqa: E402
import st  # noqa: E402

RefError = hf_ref.RefError
PREFIX = "base_model.model."
METHODS = ("LORA", "IA3", "PROMPT_TUNING", "BITFIT", "BOTTLENECK_ADAPTER")

# PEFT's defaults (utils/constants.py) when target_modules / feedforward_modules are null.
DEFAULT_LORA_TARGETS = {"gpt2": ["c_attn"], "llama": ["q_proj", "v_proj"], "qwen2": ["q_proj", "v_proj"],
                        "mistral": ["q_proj", "v_proj"]}
DEFAULT_IA3_TARGETS = {"gpt2": ["c_attn", "mlp.c_proj"], "llama": ["k_proj", "v_proj", "down_proj"],
                       "qwen2": ["q_proj", "v_proj", "down_proj"], "mistral": ["k_proj", "v_proj", "down_proj"]}
DEFAULT_IA3_FF = {"gpt2": ["mlp.c_proj"], "llama": ["down_proj"], "qwen2": ["down_proj"], "mistral": ["down_proj"]}


# ---------------------------------------------------------------- the model's modules

def modules(c):
    """Ordered dict module name -> (kind, in, out), kind in linear / conv1d / other (as named_modules
    of the transformers model lists them; only linear layers carry in/out)."""
    m = {}
    d = c["d"]
    if c["arch"] == "gpt2":
        m["transformer"] = ("other", 0, 0)
        m["transformer.wte"] = ("embedding", 0, 0)
        m["transformer.wpe"] = ("embedding", 0, 0)
        m["transformer.drop"] = ("other", 0, 0)
        m["transformer.h"] = ("other", 0, 0)
        for i in range(c["layers"]):
            h = f"transformer.h.{i}"
            m[h] = ("other", 0, 0)
            m[h + ".ln_1"] = ("other", 0, 0)
            m[h + ".attn"] = ("other", 0, 0)
            m[h + ".attn.c_attn"] = ("conv1d", d, 3 * d)
            m[h + ".attn.c_proj"] = ("conv1d", d, d)
            m[h + ".attn.attn_dropout"] = ("other", 0, 0)
            m[h + ".attn.resid_dropout"] = ("other", 0, 0)
            m[h + ".ln_2"] = ("other", 0, 0)
            m[h + ".mlp"] = ("other", 0, 0)
            m[h + ".mlp.c_fc"] = ("conv1d", d, c["inner"])
            m[h + ".mlp.c_proj"] = ("conv1d", c["inner"], d)
            m[h + ".mlp.act"] = ("other", 0, 0)
            m[h + ".mlp.dropout"] = ("other", 0, 0)
        m["transformer.ln_f"] = ("other", 0, 0)
    else:
        qd, kvd, inter = c["heads"] * c["head_dim"], c["kv_heads"] * c["head_dim"], c["inter"]
        m["model"] = ("other", 0, 0)
        m["model.embed_tokens"] = ("embedding", 0, 0)
        m["model.layers"] = ("other", 0, 0)
        for i in range(c["layers"]):
            h = f"model.layers.{i}"
            m[h] = ("other", 0, 0)
            m[h + ".self_attn"] = ("other", 0, 0)
            m[h + ".self_attn.q_proj"] = ("linear", d, qd)
            m[h + ".self_attn.k_proj"] = ("linear", d, kvd)
            m[h + ".self_attn.v_proj"] = ("linear", d, kvd)
            m[h + ".self_attn.o_proj"] = ("linear", qd, d)
            m[h + ".mlp"] = ("other", 0, 0)
            m[h + ".mlp.gate_proj"] = ("linear", d, inter)
            m[h + ".mlp.up_proj"] = ("linear", d, inter)
            m[h + ".mlp.down_proj"] = ("linear", inter, d)
            m[h + ".mlp.act_fn"] = ("other", 0, 0)
            m[h + ".input_layernorm"] = ("other", 0, 0)
            m[h + ".post_attention_layernorm"] = ("other", 0, 0)
        m["model.norm"] = ("other", 0, 0)
        m["model.rotary_emb"] = ("other", 0, 0)
    m["lm_head"] = ("linear", d, c["vocab"])
    return m


def _matches(spec, key):
    """PEFT's check_target_module_exists: a string is a regex fullmatched on the whole name; a list
    matches the exact name or any name ending in "." + entry."""
    if isinstance(spec, str):
        return re.fullmatch(spec, key) is not None
    return key in spec or any(key.endswith("." + t) for t in spec)


def _spec(acfg, key, where):
    v = acfg.get(key)
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(t, str) for t in v):
        return v
    raise RefError(f"{where}: {key} must be a list of names or a regex string")


def _layer_ok(acfg, key, where):
    """PEFT 0.21 (tuners_utils.check_target_module_exists, list branch, after a suffix match): with
    layers_to_transform (an int or a non-empty list) the module's layer index must be in it; the index
    is the number in re.match(r".*?\.[^.]*\.(\d+)\.", key), or with layers_pattern (a str or a list,
    tried in turn) in re.match(rf".*?\.{p}\.(\d+)\.", key); no index found -> not targeted."""
    lt = acfg.get("layers_to_transform")
    if lt is None or (isinstance(lt, list) and not lt):
        return True
    if not (isinstance(lt, int) or (isinstance(lt, list) and all(isinstance(i, int) for i in lt))):
        raise RefError(f"{where}: layers_to_transform must be an int or a list of ints")
    lp = acfg.get("layers_pattern")
    idx = None
    if lp is None or len(lp) == 0:
        idx = re.match(r".*?\.[^.]*\.(\d+)\.", key)
    else:
        for pat in [lp] if isinstance(lp, str) else lp:
            idx = re.match(rf".*?\.{pat}\.(\d+)\.", key)
            if idx is not None:
                break
    if idx is None:
        return False
    i = int(idx.group(1))
    return i == lt if isinstance(lt, int) else i in lt


def linear_names(c):
    """PEFT's _maybe_include_all_linear_layers: the full names of every Linear / Conv1D module but the
    output layer (a set; make_adapter writes it sorted)."""
    return sorted(k for k, v in modules(c).items() if v[0] in ("linear", "conv1d") and k != "lm_head")


def match_targets(acfg, c, where, defaults, embeddings=False):
    """Module names (model order) that the config selects: exclude_modules first (a list: exact name or
    "." + entry suffix; a str: fullmatch), then target_modules; the layer check only for a list entry
    that matched as a suffix (an exact name skips it, as in PEFT). Embedding tables too when embeddings
    (LoRA's lora.Embedding)."""
    mods = modules(c)
    spec = _spec(acfg, "target_modules", where)
    if spec is None:
        spec = defaults[c["arch"]]
    lt, lp = acfg.get("layers_to_transform"), acfg.get("layers_pattern")
    if isinstance(spec, str) and (lt is not None or lp is not None):  # LoraConfig.__post_init__
        raise RefError(f"{where}: layers_to_transform / layers_pattern cannot be used with a str target_modules")
    if lp and lt is None:
        raise RefError(f"{where}: layers_pattern needs layers_to_transform")
    if isinstance(spec, str) and spec.lower() == "all-linear":
        spec = linear_names(c)
    excl = _spec(acfg, "exclude_modules", where)
    out = []
    for name, (kind, _i, _o) in mods.items():
        if excl and _matches(excl, name):
            continue
        if isinstance(spec, str):
            ok = re.fullmatch(spec, name) is not None
        elif name in spec:
            ok = True
        else:
            ok = any(name.endswith("." + t) for t in spec) and _layer_ok(acfg, name, where)
        if not ok:
            continue
        if name == "lm_head" or kind not in ("linear", "conv1d") and not (embeddings and kind == "embedding"):
            raise RefError(f"{where}: target_modules selects {name}, which is not a supported target "
                           f"(only the decoder's linear layers)")
        out.append(name)
    if not out:
        raise RefError(f"{where}: target_modules {spec!r} matches no module of this {c['arch']} model")
    return out


def rank_alpha(acfg, name):
    """LoraModel._create_and_replace: r and alpha of a module from the first key k of rank_pattern /
    alpha_pattern (in the dict's order, i.e. the JSON file's) with re.match(rf"(.*\.)?({k})$", name)."""
    r, alpha = acfg.get("r", 8), acfg.get("lora_alpha", 8)
    rp, ap = acfg.get("rank_pattern") or {}, acfg.get("alpha_pattern") or {}
    rr = next((v for k, v in rp.items() if re.match(rf"(.*\.)?({k})$", name)), r)
    aa = next((v for k, v in ap.items() if re.match(rf"(.*\.)?({k})$", name)), alpha)
    return rr, aa


def _reject(acfg, where, keys):
    """Options this reference does not implement must be off (PEFT's defaults)."""
    for k, off in keys:
        v = acfg.get(k, off)
        if v not in (off, None) and not (isinstance(v, (list, dict)) and not v):
            raise RefError(f"{where}: {k} = {json.dumps(v)} is not supported by the reference")


# ---------------------------------------------------------------- adapter loading

def load_adapter(adir):
    cfg_path = os.path.join(adir, "adapter_config.json")
    try:
        with open(cfg_path) as f:
            acfg = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise RefError(f"{cfg_path}: {e}") from None
    if not isinstance(acfg, dict):
        raise RefError(f"{cfg_path}: not a JSON object")
    if "peft_type" not in acfg:
        raise RefError(f"{cfg_path}: missing peft_type")
    if acfg["peft_type"] not in METHODS:
        raise RefError(f"{cfg_path}: peft_type {acfg['peft_type']!r} is not supported ({', '.join(METHODS)})")
    wpath = os.path.join(adir, "adapter_model.safetensors")
    if not os.path.exists(wpath):
        raise RefError(f"{adir}: no adapter_model.safetensors")
    tensors, _ = st.load(wpath)
    for k, v in tensors.items():
        if v.dtype.kind != "f":
            raise RefError(f"{wpath}: tensor {k} has non-float dtype {v.dtype}")
    return acfg, tensors


def ia3_layout(acfg, c, where):
    """IA3 targets -> whether each is a feed-forward one (scales its input, ia3_l [1, in])."""
    targets = match_targets(acfg, c, where, DEFAULT_IA3_TARGETS)
    ff = _spec(acfg, "feedforward_modules", where)
    if ff is None:
        ff = DEFAULT_IA3_FF[c["arch"]]
    tl = acfg.get("target_modules")
    if isinstance(ff, list) and isinstance(tl, list) and not set(ff) <= set(tl):
        raise RefError(f"{where}: feedforward_modules must be a subset of target_modules")
    # ia3/model.py _check_target_module_feedforward: fullmatch for a string, else a plain endswith
    # (no "." boundary: "output.dense" also matches "attention.output.dense").
    return {name: (re.fullmatch(ff, name) is not None if isinstance(ff, str) else any(name.endswith(t) for t in ff))
            for name in targets}


class Plan:
    """What an adapter does to the model: parsed config + adapter arrays keyed by role."""

    def __init__(self):
        self.method = None
        self.lora = {}        # module -> (A name, B name, scale)
        self.emb_lora = {}    # embedding module -> (lora_embedding_A name, lora_embedding_B name, scale)
        self.frozen = set()   # file tensors that do not train (a saved base embedding table)
        self.dora = {}        # module -> magnitude name (LoRA with use_dora)
        self.ia3 = {}         # module -> (l name, feed-forward?)
        self.adapters = {}    # branch path -> (down.w, down.b, up.w, up.b names), act
        self.act = None
        self.prompt = None    # tensor name
        self.n_virtual = 0
        self.biases = {}      # canonical HF param name -> tensor name in the file


def _need(tensors, name, shape, where, used):
    if name not in tensors:
        raise RefError(f"{where}: missing tensor {name}")
    if tuple(tensors[name].shape) != tuple(shape):
        raise RefError(f"{where}: tensor {name} has shape {list(tensors[name].shape)}, expected {list(shape)}")
    used.add(name)
    return name


def _int(acfg, key, where, default=None, lo=1):
    v = acfg.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise RefError(f"{where}: {key} must be an integer >= {lo}, got {json.dumps(v)}")
    return v


def _bias_file_names(tensors, mods, where):
    """Bias tensors in the file -> canonical HF parameter names. PEFT names the bias of a wrapped
    (targeted) layer <module>.base_layer.bias; any other as <module>.bias."""
    out = {}
    for k in tensors:
        if not k.endswith(".bias") or ".lora_" in k or ".adapter." in k:
            continue
        if not k.startswith(PREFIX):
            raise RefError(f"{where}: tensor {k} does not start with {PREFIX}")
        canon = k[len(PREFIX):]
        if canon.endswith(".base_layer.bias"):
            canon = canon[: -len(".base_layer.bias")] + ".bias"
        if canon in out.values():
            raise RefError(f"{where}: two tensors name the bias {canon}")
        out[k] = canon
    return {v: k for k, v in out.items()}


def plan_adapter(acfg, tensors, c, arrays, where):
    """Validates the adapter against the model. Returns a Plan; every tensor of the file must be used."""
    p = Plan()
    p.method = acfg["peft_type"]
    used = set()
    mods = modules(c)
    if p.method == "LORA":
        _reject(acfg, where, [("modules_to_save", None),
                              ("lora_bias", False), ("trainable_token_indices", None), ("layer_replication", None),
                              ("target_parameters", None), ("use_qalora", False)])
        r = _int(acfg, "r", where, 8)
        alpha = acfg.get("lora_alpha", 8)
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool):
            raise RefError(f"{where}: lora_alpha must be a number")
        rsl = acfg.get("use_rslora", False)
        if not isinstance(rsl, bool):
            raise RefError(f"{where}: use_rslora must be true or false")
        bias = acfg.get("bias", "none")
        if bias not in ("none", "all", "lora_only"):
            raise RefError(f"{where}: bias {bias!r} must be none, all or lora_only")
        targets = match_targets(acfg, c, where, DEFAULT_LORA_TARGETS, embeddings=True)
        for name in targets:
            rr, aa = rank_alpha(dict(acfg, r=r, lora_alpha=alpha), name)
            scale = aa / math.sqrt(rr) if rsl else aa / rr
            _kind, fin, fout = mods[name]
            if _kind == "embedding":
                if acfg.get("use_dora", False):
                    raise RefError(f"{where}: use_dora on the embedding {name} is not supported by the reference")
                rows, d = arrays[name + ".weight"].shape
                a = _need(tensors, f"{PREFIX}{name}.lora_embedding_A", (rr, rows), where, used)
                b = _need(tensors, f"{PREFIX}{name}.lora_embedding_B", (d, rr), where, used)
                p.emb_lora[name] = (a, b, float(scale))
                own = f"{PREFIX}{name}.base_layer.weight"
                if own in tensors:
                    if not np.array_equal(np.asarray(tensors[own], dtype=np.float64),
                                          np.asarray(arrays[name + ".weight"], dtype=np.float64)):
                        raise RefError(f"{where}: {own} differs from the base model's table")
                    used.add(own)
                    p.frozen.add(own)
                continue
            a = _need(tensors, f"{PREFIX}{name}.lora_A.weight", (rr, fin), where, used)
            b = _need(tensors, f"{PREFIX}{name}.lora_B.weight", (fout, rr), where, used)
            p.lora[name] = (a, b, float(scale))
            if acfg.get("use_dora", False):  # DoRA: magnitude [out] (saved without ".weight", as PEFT does)
                p.dora[name] = _need(tensors, f"{PREFIX}{name}.lora_magnitude_vector", (fout,), where, used)
        have = _bias_file_names(tensors, mods, where)
        if bias == "all":  # every bias of the model trains (mark_only_adapters_as_trainable)
            want = [k for k in arrays if k.endswith(".bias")]
        elif bias == "lora_only":
            want = [t + ".bias" for t in targets if t + ".bias" in arrays]
        else:
            want = []
        for canon in want:
            if canon not in have:
                raise RefError(f"{where}: bias={bias} but the file has no tensor for {canon} "
                               f"({PREFIX}{canon} or its .base_layer.bias form)")
            p.biases[canon] = _need(tensors, have[canon], arrays[canon].shape, where, used)
    elif p.method == "IA3":
        _reject(acfg, where, [("modules_to_save", None)])
        for name, is_ff in ia3_layout(acfg, c, where).items():
            _kind, fin, fout = mods[name]
            shape = (1, fin) if is_ff else (fout, 1)
            p.ia3[name] = (_need(tensors, f"{PREFIX}{name}.ia3_l", shape, where, used), is_ff)
    elif p.method == "PROMPT_TUNING":
        n = _int(acfg, "num_virtual_tokens", where, None, lo=0)
        subs = acfg.get("num_transformer_submodules")
        if subs not in (None, 1):
            raise RefError(f"{where}: num_transformer_submodules {subs} (a decoder-only model has 1)")
        td = acfg.get("token_dim")
        if td is not None and td != c["d"]:
            raise RefError(f"{where}: token_dim {td} differs from the model's hidden size {c['d']}")
        p.n_virtual = n
        p.prompt = _need(tensors, "prompt_embeddings", (n, c["d"]), where, used)
    elif p.method == "BITFIT":
        have = _bias_file_names(tensors, mods, where)
        for canon, k in have.items():
            if canon not in arrays:
                raise RefError(f"{where}: tensor {k} names no bias of the model")
            p.biases[canon] = _need(tensors, k, arrays[canon].shape, where, used)
        if not p.biases:
            raise RefError(f"{where}: a BITFIT adapter must hold at least one bias")
    elif p.method == "BOTTLENECK_ADAPTER":
        k = _int(acfg, "adapter_size", where, None)
        place = acfg.get("adapter_placement", "houlsby")
        if place not in ("houlsby", "pfeiffer"):
            raise RefError(f"{where}: adapter_placement {place!r} must be houlsby or pfeiffer")
        act = acfg.get("adapter_act", "relu")
        if act not in ("relu", "gelu", "silu"):
            raise RefError(f"{where}: adapter_act {act!r} must be relu, gelu or silu")
        p.act = act
        d = c["d"]
        for i in range(c["layers"]):
            if c["arch"] == "gpt2":
                attn, mlp = f"transformer.h.{i}.attn", f"transformer.h.{i}.mlp"
            else:
                attn, mlp = f"model.layers.{i}.self_attn", f"model.layers.{i}.mlp"
            for br in ([attn, mlp] if place == "houlsby" else [mlp]):
                q = f"{PREFIX}{br}.adapter."
                p.adapters[br] = (_need(tensors, q + "down.weight", (k, d), where, used),
                                  _need(tensors, q + "down.bias", (k,), where, used),
                                  _need(tensors, q + "up.weight", (d, k), where, used),
                                  _need(tensors, q + "up.bias", (d,), where, used))
    extra = [k for k in tensors if k not in used]
    if extra:
        raise RefError(f"{where}: unexpected tensor {extra[0]} for peft_type {p.method}")
    return p


# ---------------------------------------------------------------- the hooks

class PeftHooks(hf_ref.Hooks):
    def __init__(self, plan, A):
        self.p, self.A = plan, A  # A: tensor name -> torch tensor (leaf, requires_grad)

    def embed(self, x, mask):
        if self.p.prompt is None:
            return x, mask
        B = x.shape[0]
        pe = self.A[self.p.prompt].to(x.dtype)
        n = pe.shape[0]
        x = torch.cat((pe[None].expand(B, n, pe.shape[1]), x), dim=1)
        return x, torch.cat((torch.ones(B, n, dtype=mask.dtype), mask), dim=1)

    def embedding(self, path, ids, w, padding_idx):
        y = super().embedding(path, ids, w, padding_idx)
        lo = self.p.emb_lora.get(path)
        if lo is None:
            return y
        a, b, s = lo
        # PEFT lora.Embedding: F.embedding(x, A^T, padding_idx of the base) @ B^T * s
        return y + torch.nn.functional.embedding(ids, self.A[a].t(), padding_idx=padding_idx) @ self.A[b].t() * s

    def linear(self, path, x, w, b, conv1d):
        ia3 = self.p.ia3.get(path)
        x_in = x
        if ia3 is not None and ia3[1]:
            x = x * self.A[ia3[0]].flatten()  # feed-forward: scale the input
        y = super().linear(path, x, w, b, conv1d)
        if ia3 is not None and not ia3[1]:
            y = y * self.A[ia3[0]].flatten()  # scale the output, bias included
        lo = self.p.lora.get(path)
        if lo is not None and path in self.p.dora:
            # DoRA (PEFT, dropout off): W' = W + s·B·A in [out, in]; its row norms are detached;
            # y = m/‖W'‖ ⊙ (x Wᵀ + s·x Aᵀ Bᵀ) + b
            a, bb, s = lo
            w_oi = w.t() if conv1d else w
            wp = w_oi + s * (self.A[bb] @ self.A[a])
            g = self.A[self.p.dora[path]] / wp.norm(dim=1).detach()
            inner = x_in @ w_oi.t() + (x_in @ self.A[a].t()) @ self.A[bb].t() * s
            y = g * inner + (b if b is not None else 0)
        elif lo is not None:
            a, bb, s = lo
            y = y + (x_in @ self.A[a].t()) @ self.A[bb].t() * s
        return y

    def branch(self, path, o):
        ad = self.p.adapters.get(path)
        if ad is None:
            return o
        dw, db, uw, ub = (self.A[n] for n in ad)
        return o + hf_ref.activation(self.p.act, o @ dw.t() + db) @ uw.t() + ub


# ---------------------------------------------------------------- driver

def prepare(model_dir, adapter_dir):
    cfg, tensors = hf_ref.load_checkpoint(model_dir)
    c = hf_ref.model_config(cfg)
    arrays, _names = hf_ref.bind_params(c, tensors, model_dir)
    acfg, atensors = load_adapter(adapter_dir)
    plan = plan_adapter(acfg, atensors, c, arrays, adapter_dir)
    return cfg, c, arrays, acfg, atensors, plan


def forward(c, arrays, plan, atensors, ids, mask, labels, dtype=torch.float64):
    """Returns (logits, loss, adapter leaf tensors)."""
    A = {k: torch.tensor(np.asarray(v, dtype=np.float64), dtype=dtype, requires_grad=True)
         for k, v in atensors.items()}
    P = {k: torch.tensor(np.asarray(v, dtype=np.float64), dtype=dtype) for k, v in arrays.items()}
    for canon, k in plan.biases.items():
        P[canon] = A[k]  # the file's bias replaces the base's and trains
    if plan.n_virtual:
        labels = torch.cat((torch.full((labels.shape[0], plan.n_virtual), hf_ref.IGNORE_INDEX,
                                       dtype=labels.dtype), labels), dim=1)
    logits, loss = hf_ref.forward_loss(P, c, ids, mask, labels, PeftHooks(plan, A))
    return logits, loss, A


def run(model_dir, adapter_dir, batch_path, dtype=torch.float64):
    _cfg, c, arrays, _acfg, atensors, plan = prepare(model_dir, adapter_dir)
    ids, mask, labels = hf_ref.load_batch(batch_path, c["vocab"])
    logits, loss, A = forward(c, arrays, plan, atensors, ids, mask, labels, dtype)
    loss.backward()
    out = {"logits": logits.detach().to(torch.float32).numpy(),
           "loss": loss.detach().reshape(1).to(torch.float32).numpy()}
    for k in sorted(set(A) - plan.frozen):
        out["grad." + k] = A[k].grad.to(torch.float32).numpy()
    return out


def merge(c, arrays, plan, atensors):
    """Base arrays with the adapter folded in (float64): LoRA W += s B A (transposed for Conv1D);
    IA3 W scaled along its input (feed-forward) or output rows and bias; file biases replace."""
    if plan.method not in ("LORA", "IA3", "BITFIT"):
        raise RefError(f"peft_type {plan.method} cannot be merged into the base weights")
    W = {k: np.asarray(v, dtype=np.float64).copy() for k, v in arrays.items()}
    T = {k: np.asarray(v, dtype=np.float64) for k, v in atensors.items()}
    conv = c["arch"] == "gpt2"
    for canon, k in plan.biases.items():
        W[canon] = T[k].copy()
    for path, (a, b, s) in plan.lora.items():
        delta = s * T[b] @ T[a]  # [out, in]
        W[path + ".weight"] += delta.T if conv else delta
    for path, (a, b, s) in plan.emb_lora.items():
        if path != "transformer.wpe" and c["tie"]:
            W["lm_head.weight"] = W[path + ".weight"].copy()  # untied: the head keeps the original matrix
        W[path + ".weight"] += (s * T[b] @ T[a]).T  # [V, d]
    for path, (l, ff) in plan.ia3.items():
        v = T[l].reshape(-1)
        w = W[path + ".weight"]  # Linear [out, in], Conv1D [in, out]
        if ff:
            W[path + ".weight"] = w * (v[:, None] if conv else v[None, :])
        else:
            W[path + ".weight"] = w * (v[None, :] if conv else v[:, None])
            if path + ".bias" in W:
                W[path + ".bias"] = W[path + ".bias"] * v
    return W


def write_merged(model_dir, adapter_dir, out_dir):
    cfg, c, arrays, _acfg, atensors, plan = prepare(model_dir, adapter_dir)
    _cfg2, tensors = hf_ref.load_checkpoint(model_dir)
    _arr, names = hf_ref.bind_params(c, tensors, model_dir)
    W = merge(c, arrays, plan, atensors)
    os.makedirs(out_dir, exist_ok=True)
    if "lm_head.weight" in W and "lm_head.weight" not in arrays:  # an embedding LoRA untied the head
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump(dict(cfg, tie_word_embeddings=False), f, indent=2)
    else:
        shutil.copyfile(os.path.join(model_dir, "config.json"), os.path.join(out_dir, "config.json"))
    st.save(os.path.join(out_dir, "model.safetensors"),
            {names.get(k, k): W[k].astype(np.float32) for k in sorted(W)}, metadata={"format": "pt"})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="base checkpoint directory")
    ap.add_argument("--adapter", required=True, help="PEFT adapter directory")
    ap.add_argument("--batch", help="batch.json")
    ap.add_argument("--out", help="output .safetensors")
    ap.add_argument("--merge-out", help="write the merged checkpoint here instead (LoRA, IA3, BitFit)")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"], help="compute dtype")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        if a.merge_out:
            write_merged(a.model, a.adapter, a.merge_out)
            return 0
        if not a.batch or not a.out:
            ap.error("--batch and --out are required (or --merge-out)")
        out = run(a.model, a.adapter, a.batch, torch.float64 if a.dtype == "float64" else torch.float32)
        st.save(a.out, out, metadata={"producer": "tests/ref/peft_ref.py", "compute_dtype": a.dtype})
    except (RefError, st.SafetensorsError, OSError) as e:
        print(f"peft_ref: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
