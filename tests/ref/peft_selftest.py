#!/usr/bin/python3
"""Self-test of the PEFT reference (peft_ref.py, make_adapter.py), without ftune.

Checks: LoRA with B = 0, IA3 with l = 1, a zero bottleneck adapter and prompt tuning with no virtual
token all equal the base model exactly; LoRA / IA3 / BitFit merged into the weights (W + s B A,
transposed for Conv1D; IA3 along the input or output, bias included) reproduce the unmerged logits;
prompt tuning equals the base model run on extra vocabulary rows holding the prompt (positions,
mask and -100 labels over the concatenation); directional finite differences match every adapter
gradient for every method on GPT-2 and Llama; PEFT's target matching (suffix, regex fullmatch,
all-linear, non-linear targets refused), IA3's plain-suffix feed-forward check, rank_pattern, bias
names; the files make_adapter writes; errors name the fault. One line per check; exit 1 on failure.
"""
import json
import os
import subprocess
import sys
import tempfile
from types import SimpleNamespace

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hf_ref  # noqa: E402
import make_adapter  # noqa: E402
import make_batch  # noqa: E402
import make_tiny  # noqa: E402
import peft_ref  # noqa: E402
import st  # noqa: E402

PY = sys.executable
FAILS = []
PFX = peft_ref.PREFIX


def check(cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        FAILS.append(what)


def model(kind, tmp, seed=3):
    d = os.path.join(tmp, f"{kind}-{seed}")
    if not os.path.exists(d):
        make_tiny.write(kind, d, seed)
    cfg, tensors = hf_ref.load_checkpoint(d)
    c = hf_ref.model_config(cfg)
    arrays, _ = hf_ref.bind_params(c, tensors, d)
    return d, c, arrays


def adapter(mdir, tmp, method, seed=1, **kw):
    """make_adapter with defaults for every option; returns (dir, config, tensors)."""
    opts = dict(model=mdir, method=method, seed=seed, target=None, target_regex=None, ff=None, r=4, alpha=8,
                rslora=False, bias="none", zero_b=False, plain_bias_names=False, virtual=4, adapter_size=6, placement="houlsby", act="relu",
                rank_pattern=None, alpha_pattern=None, layers=None, layers_pattern=None, exclude=None, exclude_regex=None,
                no_base_table=False)
    opts.update(kw)
    a = SimpleNamespace(**opts)
    conf, tensors = make_adapter.build(a)
    adir = os.path.join(tmp, f"ad-{os.path.basename(mdir)}-{method}-{seed}-{abs(hash(json.dumps(kw, sort_keys=True)))}")
    make_adapter.write(adir, conf, tensors)
    return adir, conf, tensors


def batch(seq=10, seed=6):
    b = make_batch.make(make_tiny.VOCAB, batch=3, seq=seq, seed=seed)
    return torch.tensor(b["input_ids"]), torch.tensor(b["attention_mask"]), torch.tensor(b["labels"])


def base_run(c, arrays, b):
    P = hf_ref.make_params(arrays, torch.float64)
    return hf_ref.forward_loss(P, c, *b)


def peft_run(c, arrays, adir, b, tensors=None):
    acfg, at = peft_ref.load_adapter(adir)
    at = tensors if tensors is not None else at
    plan = peft_ref.plan_adapter(acfg, at, c, arrays, adir)
    return peft_ref.forward(c, arrays, plan, at, *b), plan, at


def maxdiff(x, y):
    return float((x - y).abs().max())


# ---------------------------------------------------------------- identities

def test_identities(tmp):
    b = batch()
    for kind in ("gpt2", "llama", "qwen2"):
        d, c, arrays = model(kind, tmp)
        bl, bloss = base_run(c, arrays, b)
        adir, _, _ = adapter(d, tmp, "lora", zero_b=True, target="all-linear")
        (lg, loss, A), plan, _ = peft_run(c, arrays, adir, b)
        loss.backward()
        ga = max(float(A[k].grad.abs().max()) for k in A if "lora_A" in k)
        gb = min(float(A[k].grad.abs().max()) for k in A if "lora_B" in k)
        check(torch.equal(lg, bl) and float(loss) == float(bloss) and ga == 0.0 and gb > 0,
              f"{kind}: LoRA with B = 0 equals the base exactly; dA = 0, dB != 0 ({len(plan.lora)} targets)")
        adir, _, t = adapter(d, tmp, "ia3")
        ones = {k: np.ones_like(v) for k, v in t.items()}
        (lg, loss, _), _, _ = peft_run(c, arrays, adir, b, ones)
        check(torch.equal(lg, bl), f"{kind}: IA3 with l = 1 equals the base exactly")
        adir, _, t = adapter(d, tmp, "adapter")
        zero_up = {k: (0 * v if ".up." in k else v) for k, v in t.items()}
        (lg, _, _), _, _ = peft_run(c, arrays, adir, b, zero_up)
        check(torch.equal(lg, bl), f"{kind}: a bottleneck adapter with up = 0 equals the base exactly")
        adir, _, _ = adapter(d, tmp, "prompt", virtual=0)
        (lg, loss, _), _, _ = peft_run(c, arrays, adir, b)
        check(torch.equal(lg, bl) and float(loss) == float(bloss), f"{kind}: prompt tuning with n = 0 equals the base")
        adir, _, _ = adapter(d, tmp, "lora")
        (lg, _, _), _, _ = peft_run(c, arrays, adir, b)
        check(maxdiff(lg, bl) > 1e-2, f"{kind}: make_adapter's LoRA (B != 0) changes the logits ({maxdiff(lg, bl):.2f})")


# ---------------------------------------------------------------- merging

def test_merge(tmp):
    b = batch()
    cases = [("lora", {}), ("lora", dict(target="all-linear", rslora=True, r=3, alpha=5)),
             ("lora", dict(bias="all")), ("lora", dict(bias="lora_only", target="c_attn,c_fc,q_proj,k_proj")),
             ("ia3", {}), ("ia3", dict(target="c_attn,c_fc,mlp.c_proj,q_proj,up_proj,down_proj",
                                       ff="c_fc,mlp.c_proj,up_proj,down_proj")),
             ("bitfit", {})]
    for kind in ("gpt2", "llama_bias", "qwen2"):
        d, c, arrays = model(kind, tmp)
        for method, kw in cases:
            if method == "ia3" and kw:
                names = [t for t in kw["target"].split(",") if t in ("c_attn", "c_fc", "mlp.c_proj")] \
                    if kind == "gpt2" else [t for t in kw["target"].split(",") if t.endswith("_proj")]
                kw = dict(target=",".join(names), ff=",".join(n for n in kw["ff"].split(",") if n in names))
            if method == "lora" and "target" in kw and kw["target"] != "all-linear":
                kw = dict(kw, target="c_attn,c_fc" if kind == "gpt2" else "q_proj,k_proj")
            adir, _, t = adapter(d, tmp, method, seed=4, **kw)
            (lg, _, _), plan, at = peft_run(c, arrays, adir, b)
            W = peft_ref.merge(c, arrays, plan, at)
            ml, _ = base_run(c, W, b)
            e = maxdiff(ml, lg)
            check(e < 1e-10, f"{kind}: {method} {kw or 'default'} merged into the weights gives the same logits ({e:.1e})")
    # The Conv1D transpose matters: merging B A without it would not even fit c_fc's [in, out] shape,
    # and on the square c_proj it changes the logits.
    d, c, arrays = model("gpt2", tmp)
    adir, _, _ = adapter(d, tmp, "lora", seed=5, target="attn.c_proj")
    (lg, _, _), plan, at = peft_run(c, arrays, adir, b)
    W = {k: np.asarray(v, dtype=np.float64).copy() for k, v in arrays.items()}
    for path, (ka, kb, s) in plan.lora.items():
        W[path + ".weight"] += s * at[kb] @ at[ka]  # no transpose: wrong for Conv1D
    check(maxdiff(base_run(c, W, b)[0], lg) > 1e-3, "gpt2: an untransposed LoRA merge on Conv1D differs (the check can fail)")


# ---------------------------------------------------------------- prompt tuning, independently

def test_prompt_as_vocab(tmp):
    """Prompt tuning == the base model on extra embedding rows: ids V..V+n-1 prepended, mask 1,
    labels -100 (GPT-2's learned positions and Llama's RoPE run over the concatenation)."""
    b = batch(seq=9)
    for kind in ("gpt2", "llama"):
        d, c, arrays = model(kind, tmp)
        adir, _, t = adapter(d, tmp, "prompt", virtual=3)
        (lg, loss, _), _, _ = peft_run(c, arrays, adir, b)
        pe = t["prompt_embeddings"]
        n, V = pe.shape[0], c["vocab"]
        emb = "transformer.wte.weight" if kind == "gpt2" else "model.embed_tokens.weight"
        W = dict(arrays)
        W[emb] = np.concatenate([arrays[emb], pe], axis=0)
        c2 = dict(c, vocab=V + n)
        if not c["tie"]:  # (tied: the extra rows also become head rows; their logits are cut below)
            W["lm_head.weight"] = np.concatenate([arrays["lm_head.weight"], np.zeros((n, c["d"]))], axis=0)
        ids, mask, labels = b
        B = ids.shape[0]
        ids2 = torch.cat((torch.arange(V, V + n).expand(B, n), ids), 1)
        mask2 = torch.cat((torch.ones(B, n, dtype=mask.dtype), mask), 1)
        lab2 = torch.cat((torch.full((B, n), -100), labels), 1)
        P = hf_ref.make_params(W, torch.float64)
        logits = hf_ref.gpt2_logits(P, c2, ids2, mask2) if kind == "gpt2" else hf_ref.llama_logits(P, c2, ids2, mask2)
        logits = logits[..., :V]
        ref_loss = hf_ref.causal_lm_loss(logits, lab2)
        check(lg.shape == (B, n + ids.shape[1], V) and maxdiff(logits, lg) < 1e-12
              and abs(float(ref_loss) - float(loss)) < 1e-12,
              f"{kind}: prompt tuning = base on extra vocab rows (logits [B, n+T, V], loss)")
        # The last virtual token predicts labels[0]: changing labels[0] of row 0 changes the loss.
        lab3 = labels.clone()
        lab3[0, 0] = (int(lab3[0, 0]) + 1) % V if int(lab3[0, 0]) >= 0 else 1
        acfg, at = peft_ref.load_adapter(adir)
        plan = peft_ref.plan_adapter(acfg, at, c, arrays, adir)
        _, l3, _ = peft_ref.forward(c, arrays, plan, at, ids, mask, lab3)
        check(abs(float(l3) - float(loss)) > 1e-6, f"{kind}: with prompt tuning the last virtual token predicts labels[0]")


# ---------------------------------------------------------------- gradients

def fd_worst(c, arrays, plan, at, A, b, rng, eps=1e-6):
    """Worst relative error of directional central differences against each trained tensor's gradient. The
    direction leaves out the padding_idx column of lora_embedding_A (its gradient is 0 by design)."""
    worst = 0.0
    for k in A:
        if k in plan.frozen:
            continue
        v = rng.standard_normal(A[k].shape)
        if "lora_embedding_A" in k and c.get("pad_id") is not None:
            v[:, c["pad_id"]] = 0
        lp = float(peft_ref.forward(c, arrays, plan, dict(at, **{k: at[k] + eps * v}), *b)[1])
        lm = float(peft_ref.forward(c, arrays, plan, dict(at, **{k: at[k] - eps * v}), *b)[1])
        num, ana = (lp - lm) / (2 * eps), float((A[k].grad.numpy() * v).sum())
        worst = max(worst, abs(num - ana) / max(abs(ana), 1e-8))
    return worst


def test_fd(tmp):
    b = batch(seq=8, seed=9)
    rng = np.random.default_rng(2)
    variants = [("lora", dict(target="all-linear", rslora=True)), ("lora", dict(bias="all")), ("ia3", {}),
                ("prompt", {}), ("bitfit", {}), ("adapter", dict(act="gelu")),
                ("adapter", dict(placement="pfeiffer", act="silu"))]
    for kind in ("gpt2", "llama_bias"):
        d, c, arrays = model(kind, tmp)
        for method, kw in variants:
            adir, _, t = adapter(d, tmp, method, seed=7, **kw)
            acfg, at = peft_ref.load_adapter(adir)
            plan = peft_ref.plan_adapter(acfg, at, c, arrays, adir)
            _, loss, A = peft_ref.forward(c, arrays, plan, at, *b)
            loss.backward()
            worst = fd_worst(c, arrays, plan, at, A, b, rng)
            check(worst < 1e-6, f"{kind}: {method} {kw or ''} finite differences match all {len(A)} adapter "
                                f"gradients (worst rel {worst:.1e})")


# ---------------------------------------------------------------- LoRA on embeddings

def test_embedding(tmp):
    b = batch(seq=8, seed=9)
    rng = np.random.default_rng(3)
    for kind, target in (("gpt2", "wte,wpe"), ("llama", "embed_tokens"), ("qwen2", "embed_tokens,q_proj")):
        d, c, arrays = model(kind, tmp)
        bl, bloss = base_run(c, arrays, b)
        # PEFT's init (A = 0, B ~ N(0, 1)): the base exactly, dB = 0, dA != 0 but not on the pad column
        adir, _, t = adapter(d, tmp, "lora", zero_b=True, target=target, r=3)
        (lg, loss, A), plan, _ = peft_run(c, arrays, adir, b)
        loss.backward()
        ga = {k: A[k].grad for k in A if "lora_embedding_A" in k}
        gb = max(float(A[k].grad.abs().max()) for k in A if "lora_embedding_B" in k)
        pad_ok = c.get("pad_id") is None or all(float(g[:, c["pad_id"]].abs().max()) == 0.0 for g in ga.values())
        check(torch.equal(lg, bl) and float(loss) == float(bloss) and gb == 0.0 and
              min(float(g.abs().max()) for g in ga.values()) > 0 and pad_ok and len(plan.emb_lora) == len(ga) > 0,
              f"{kind}: embedding LoRA with A = 0 equals the base exactly; dB = 0, dA != 0 (pad column 0)")
        check((f"{peft_ref.PREFIX}model.embed_tokens.base_layer.weight" in t) == (kind != "gpt2"),
              f"{kind}: make_adapter saves embed_tokens' own table as PEFT does (not GPT-2's wte)")
        # non-trivial values: finite differences and the merge (a tied head keeps the original matrix)
        adir, _, t = adapter(d, tmp, "lora", seed=8, target=target, r=3, rslora=True)
        acfg, at = peft_ref.load_adapter(adir)
        plan = peft_ref.plan_adapter(acfg, at, c, arrays, adir)
        lg, loss, A = peft_ref.forward(c, arrays, plan, at, *b)
        loss.backward()
        worst = fd_worst(c, arrays, plan, at, A, b, rng)
        check(worst < 1e-6 and len(plan.frozen) == (kind != "gpt2"),
              f"{kind}: embedding LoRA finite differences match (worst rel {worst:.1e})")
        W = peft_ref.merge(c, arrays, plan, at)
        cm = dict(c, tie=c["tie"] and "lm_head.weight" not in W)
        e = maxdiff(base_run(cm, W, b)[0], lg.detach())
        check(e < 1e-10 and ("lm_head.weight" in W) == ("lm_head.weight" in arrays or c["tie"]),
              f"{kind}: embedding LoRA merged gives the same logits ({e:.1e}); tied head untied: {c['tie']}")
        if c["tie"]:  # PEFT's in-place merge into the shared matrix changes the head (the check can fail)
            W.pop("lm_head.weight")
            check(maxdiff(base_run(c, W, b)[0], lg.detach()) > 1e-3, f"{kind}: a merge into the tied matrix differs")
        else:  # a saved base table that differs from the base's is refused
            bad = dict(at)
            k = f"{peft_ref.PREFIX}model.embed_tokens.base_layer.weight"
            bad[k] = bad[k] + 1.0
            try:
                peft_ref.plan_adapter(acfg, bad, c, arrays, adir)
                ok = False
            except peft_ref.RefError as err:
                ok = "base_layer.weight differs" in str(err)
            check(ok, f"{kind}: a saved embed_tokens table unlike the base's is refused")


# ---------------------------------------------------------------- PEFT's matching rules

def test_matching(tmp):
    _d, c, _a = model("gpt2", tmp)
    m = lambda spec: peft_ref.match_targets({"target_modules": spec}, c, "t", peft_ref.DEFAULT_LORA_TARGETS)  # noqa: E731
    check(m(["c_proj"]) == ["transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj",
                            "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_proj"],
          "targets: a list entry matches every module name ending in .entry")
    check(m(["attn.c_proj"]) == ["transformer.h.0.attn.c_proj", "transformer.h.1.attn.c_proj"],
          "targets: a dotted entry matches that suffix only")
    check(m(["transformer.h.1.mlp.c_fc"]) == ["transformer.h.1.mlp.c_fc"], "targets: an exact full name")
    check(m(r"transformer\.h\.0\..*c_.*") == ["transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj",
                                              "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj"],
          "targets: a string is a regex fullmatched on the whole name")
    check(m(None) == ["transformer.h.0.attn.c_attn", "transformer.h.1.attn.c_attn"], "targets: null -> gpt2 default c_attn")
    check(len(m("all-linear")) == 8, "targets: all-linear = every decoder linear layer, not lm_head")
    for spec, needle in (("c_attn", "matches no module"), (["attn"], "transformer.h.0.attn,"),
                         (["ln_1"], "ln_1"), (["lm_head"], "lm_head"), (["nothing"], "matches no module")):
        try:
            m(spec)
            ok = False
        except hf_ref.RefError as e:
            ok = needle in str(e) + ","
        check(ok, f"targets: {spec!r} is refused ({needle})")
    _d, cl, _a = model("llama", tmp)
    lay = peft_ref.ia3_layout({"target_modules": ["q_proj", "o_proj", "down_proj", "proj"],
                               "feedforward_modules": ["proj"]},
                              cl, "t")
    check(all(lay.values()) and len(lay) == 6, "IA3: the feed-forward check is a plain suffix match ('proj')")
    lay = peft_ref.ia3_layout({"target_modules": None, "feedforward_modules": None}, cl, "t")
    check(sorted({k.rsplit(".", 1)[1]: v for k, v in lay.items()}.items())
          == [("down_proj", True), ("k_proj", False), ("v_proj", False)], "IA3: llama defaults k/v/down, ff down")
    try:
        peft_ref.ia3_layout({"target_modules": ["q_proj"], "feedforward_modules": ["down_proj"]}, cl, "t")
        ok = False
    except hf_ref.RefError as e:
        ok = "subset" in str(e)
    check(ok, "IA3: feedforward_modules outside target_modules is refused")
    # rank_pattern / alpha_pattern pick r and alpha per module.
    d, c2, arrays = model("llama", tmp)
    adir, conf, t = adapter(d, tmp, "lora", r=4)
    acfg, at = peft_ref.load_adapter(adir)
    k = "model.layers.1.self_attn.v_proj"
    at = dict(at, **{f"{PFX}{k}.lora_A.weight": np.ones((2, 32)), f"{PFX}{k}.lora_B.weight": np.ones((16, 2))})
    plan = peft_ref.plan_adapter(dict(acfg, rank_pattern={r"layers\.1\.self_attn\.v_proj": 2},
                                      alpha_pattern={"v_proj": 3}), at, c2, arrays, adir)
    check(plan.lora[k][2] == 1.5 and plan.lora["model.layers.0.self_attn.v_proj"][2] == 0.75
          and plan.lora["model.layers.0.self_attn.q_proj"][2] == 2.0, "LoRA: rank_pattern / alpha_pattern scales")
    # PEFT 0.21: exclude_modules first; layers only for a suffix match; layers_pattern; first pattern key wins
    m2 = lambda **kw: peft_ref.match_targets(kw, c, "t", peft_ref.DEFAULT_LORA_TARGETS)  # noqa: E731
    H = "transformer.h."
    check(m2(target_modules=["c_attn", "c_fc"], layers_to_transform=1) == [H + "1.attn.c_attn", H + "1.mlp.c_fc"],
          "layers_to_transform: an int selects that layer (index after the first .<name>.)")
    check(m2(target_modules=["c_attn"], layers_to_transform=[0, 1], layers_pattern="h") == [H + "0.attn.c_attn", H + "1.attn.c_attn"]
          and m2(target_modules=["c_attn"], layers_to_transform=[], layers_pattern=None) == [H + "0.attn.c_attn", H + "1.attn.c_attn"],
          "layers_to_transform: a list with layers_pattern; [] selects every layer")
    check(m2(target_modules=[H + "0.attn.c_attn", "c_fc"], layers_to_transform=1) == [H + "0.attn.c_attn", H + "1.mlp.c_fc"],
          "layers_to_transform: an exact module name skips the layer check")
    check(m2(target_modules=["c_proj"], exclude_modules=["mlp.c_proj", H + "1.attn.c_proj"]) == [H + "0.attn.c_proj"]
          and m2(target_modules="all-linear", exclude_modules=r".*\.h\.0\..*") == peft_ref.linear_names(c)[4:],
          "exclude_modules: a list (exact or suffix) or a regex, before the targets")
    for kw, needle in ((dict(target_modules=["c_attn"], layers_to_transform=0, layers_pattern="layers"), "matches no module"),
                       (dict(target_modules="c_attn", layers_to_transform=0), "str target_modules"),
                       (dict(target_modules=["c_attn"], layers_pattern="h"), "needs layers_to_transform")):
        try:
            m2(**kw)
            ok = False
        except hf_ref.RefError as e:
            ok = needle in str(e)
        check(ok, f"layers: {kw} is refused ({needle})")
    check(peft_ref.linear_names(c) == sorted(peft_ref.linear_names(c)) and len(peft_ref.linear_names(c)) == 8
          and all(n.startswith(H) for n in peft_ref.linear_names(c)), "all-linear: the full names of the linear modules")
    ra = lambda rp, name: peft_ref.rank_alpha({"r": 8, "lora_alpha": 8, "rank_pattern": rp}, name)[0]  # noqa: E731
    check(ra({"c_proj": 2, "attn.c_proj": 6}, H + "0.attn.c_proj") == 2
          and ra({"attn.c_proj": 6, "c_proj": 2}, H + "0.attn.c_proj") == 6
          and ra({"proj": 2}, H + "0.attn.c_proj") == 8 and ra({"^c_attn": 3}, H + "0.attn.c_attn") == 8,
          "rank_pattern: the first key in the dict's order that matches (.*\\.)?(key)$ wins")


# ---------------------------------------------------------------- files

def test_files(tmp):
    d, c, arrays = model("gpt2", tmp)
    adir, conf, t = adapter(d, tmp, "lora", bias="all", target="c_attn,c_fc")
    raw = open(os.path.join(adir, "adapter_config.json")).read()
    check(raw == json.dumps(json.loads(raw), indent=2, sort_keys=True),
          "make_adapter: adapter_config.json is sorted, indent 2, no trailing newline (PEFT's json.dumps)")
    j = json.loads(raw)
    check(j["peft_type"] == "LORA" and j["fan_in_fan_out"] is True and j["task_type"] == "CAUSAL_LM"
          and j["inference_mode"] is True and "runtime_config" not in j and j["target_modules"] == ["c_attn", "c_fc"]
          and len(j) == len(make_adapter._LORA) + len(make_adapter._BASE),
          "make_adapter: LoRA config has PEFT's field set (no runtime_config), fan_in_fan_out true for gpt2")
    _, meta = st.load(os.path.join(adir, "adapter_model.safetensors"))
    names = list(st.load(os.path.join(adir, "adapter_model.safetensors"))[0])
    check(meta == {"format": "pt"} and names == sorted(names)
          and set(st.dtype_of(os.path.join(adir, "adapter_model.safetensors")).values()) == {"F32"},
          "make_adapter: safetensors metadata {format: pt}, F32, sorted names")
    check(f"{PFX}transformer.h.0.attn.c_attn.base_layer.bias" in t and f"{PFX}transformer.h.0.ln_1.bias" in t
          and f"{PFX}transformer.h.0.attn.c_attn.bias" not in t,
          "make_adapter: bias=all names a targeted layer's bias .base_layer.bias (PEFT), others plainly")
    check(all(not np.allclose(t[k], 0) for k in t if "lora_B" in k), "make_adapter: lora_B != 0")
    # The plain form of a wrapped bias loads too, with grads under the file's own name.
    t2 = {k.replace(".base_layer.bias", ".bias"): v for k, v in t.items()}
    st.save(os.path.join(adir, "adapter_model.safetensors"), t2, metadata={"format": "pt"})
    acfg, at = peft_ref.load_adapter(adir)
    plan = peft_ref.plan_adapter(acfg, at, c, arrays, adir)
    check(plan.biases["transformer.h.0.attn.c_attn.bias"] == f"{PFX}transformer.h.0.attn.c_attn.bias",
          "peft_ref: a wrapped layer's bias also loads under its plain name")
    for meth, key, n in (("ia3", None, len(make_adapter._IA3) + len(make_adapter._BASE)),
                         ("prompt", None, len(make_adapter._PROMPT) + len(make_adapter._BASE))):
        adir, conf, t = adapter(d, tmp, meth)
        j = json.load(open(os.path.join(adir, "adapter_config.json")))
        check(len(j) == n, f"make_adapter: {meth} config has its PEFT field set ({n} keys)")
    j = json.load(open(os.path.join(adapter(d, tmp, "prompt")[0], "adapter_config.json")))
    check(j["token_dim"] == 32 and j["num_transformer_submodules"] == 1 and j["num_layers"] == 2
          and j["num_attention_heads"] == 4 and j["peft_type"] == "PROMPT_TUNING", "make_adapter: prompt config values")


def run(args):
    return subprocess.run([PY] + args, capture_output=True, text=True)


def test_errors(tmp):
    d, c, arrays = model("llama", tmp)
    bp = os.path.join(tmp, "b.json")
    with open(bp, "w") as f:
        json.dump(make_batch.make(make_tiny.VOCAB, seed=2), f)
    out = os.path.join(tmp, "o.st")

    def refuses(adir, needle, what):
        p = run([os.path.join(HERE, "peft_ref.py"), "--model", d, "--adapter", adir, "--batch", bp, "--out", out])
        check(p.returncode == 1 and needle in p.stderr and "Traceback" not in p.stderr,
              f"peft_ref.py: refuses {what} naming it ({p.stderr.strip()[:90]})")

    adir, conf, t = adapter(d, tmp, "lora")
    p = run([os.path.join(HERE, "peft_ref.py"), "--model", d, "--adapter", adir, "--batch", bp, "--out", out])
    o, _ = st.load(out)
    check(p.returncode == 0 and sorted(o) == sorted(["logits", "loss"] + ["grad." + k for k in t]),
          "peft_ref.py: writes logits, loss and one grad per adapter tensor, nothing else")
    wpath = os.path.join(adir, "adapter_model.safetensors")
    cpath = os.path.join(adir, "adapter_config.json")
    miss = f"{PFX}model.layers.1.self_attn.v_proj.lora_B.weight"
    st.save(wpath, {k: v for k, v in t.items() if k != miss})
    refuses(adir, miss, "a missing tensor")
    st.save(wpath, dict(t, **{miss: t[miss][:, :3]}))
    refuses(adir, miss, "a wrong shape")
    st.save(wpath, dict(t, **{f"{PFX}model.layers.0.mlp.up_proj.lora_A.weight": t[miss][:4]}))
    refuses(adir, "up_proj.lora_A", "an unexpected tensor")
    st.save(wpath, t)
    for what, change, needle in (("an unknown peft_type", {"peft_type": "LOHA"}, "LOHA"),
                                 ("use_dora without magnitude vectors", {"use_dora": True}, "lora_magnitude_vector"),
                                 ("modules_to_save", {"modules_to_save": ["lm_head"]}, "modules_to_save"),
                                 ("a bad bias mode", {"bias": "some"}, "bias")):
        with open(cpath, "w") as f:
            json.dump(dict(conf, **change), f)
        refuses(adir, needle, what)
    with open(cpath, "w") as f:
        json.dump({k: v for k, v in conf.items() if k != "peft_type"}, f)
    refuses(adir, "peft_type", "a config without peft_type")
    dq, cq, aq = model("qwen2", tmp)
    adir, conf, t = adapter(dq, tmp, "lora", bias="all")
    st.save(os.path.join(adir, "adapter_model.safetensors"),
            {k: v for k, v in t.items() if "layers.1.self_attn.k_proj" not in k})
    p = run([os.path.join(HERE, "peft_ref.py"), "--model", dq, "--adapter", adir, "--batch", bp, "--out", out])
    check(p.returncode == 1 and "layers.1.self_attn.k_proj.bias" in p.stderr, "peft_ref.py: bias=all requires every bias")
    p = run([os.path.join(HERE, "make_adapter.py"), "--model", d, "--method", "bitfit", "--out", os.path.join(tmp, "x")])
    check(p.returncode == 1 and "no biases" in p.stderr, "make_adapter.py: BitFit on a model without biases is an error")


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        test_identities(tmp)
        test_merge(tmp)
        test_prompt_as_vocab(tmp)
        test_fd(tmp)
        test_embedding(tmp)
        test_matching(tmp)
        test_files(tmp)
        test_errors(tmp)
    print(f"peft_selftest: {len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
