"""transformers and PEFT read what ftune writes: a model from `ftune init`, full fine-tuning output,
every adapter kind `ftune train` saves, `ftune merge` output, classifiers, and adapters trained
further from a PEFT adapter. Each time the library's logits (and gradients, through the same
reference as test_read.py) must equal `ftune dump`'s on the same files, and the trained tensors must
have moved far enough that a library ignoring them would fail.
"""
import os

import numpy as np
import pytest

import cases
import ftio
from conftest import TRAIN_STEPS, case_dir, case_seed, train_args, train_data

# Trained adapters must move the logits by more than this (else "equal" could mean "both ignored it").
MIN_EFFECT = 1e-3


def batch_for(task, seed, hf):
    return ftio.cls_batch(seed, hf.N_LABELS) if task == "cls" else ftio.causal_batch(seed)


def _check(got, ref, summary, what):
    ok, report, summ = ftio.compare_dumps(got, ref)
    summary.update(summ)
    assert ok, f"{what} (A = ftune dump, B = library):\n{report}"


def _effect(hf, base, batch, ref, task):
    if task == "cls":
        return None  # the base has no (or another) head: nothing to compare with
    plain = hf.reference(base, batch, None, task, grads=False)["logits"]
    if plain.shape != ref["logits"].shape:
        return None  # prompt tuning adds positions
    eff = ftio.max_abs_diff(plain, ref["logits"])
    assert eff > MIN_EFFECT, f"the trained tensors change the library's logits by only {eff:.2e}"
    return eff


@pytest.mark.parametrize("kind", cases.KINDS, ids=[f"{k}-init" for k in cases.KINDS])
def test_init(kind, hf, work, summary):
    """ftune init --config small.json: transformers loads the checkpoint and computes ftune's numbers."""
    name = f"{kind}-init"
    d = case_dir(work, "write-" + name)
    small = os.path.join(d, "small.json")
    ftio.write_json(small, hf.CONFIGS[kind])
    out = os.path.join(d, "model")
    ftio.run_ftune(["init", "--arch", kind, "--config", small, "--out", out, "--seed", "7"], d, "init")
    batch = ftio.causal_batch(case_seed(name))
    ref = hf.reference(out, batch)
    _check(ftio.ftune_dump(out, batch, d), ref, summary, "ftune init output read by transformers")


def _train_params():
    return [pytest.param(k, c, id=f"{k}-{c.name}", marks=pytest.mark.feature(c.feature))
            for c in cases.WRITE_TRAIN for k in c.kinds]


@pytest.mark.parametrize("kind,case", _train_params())
def test_train(kind, case, hf, bases, trained, work, summary):
    name = f"{kind}-{case.name}"
    d = case_dir(work, "write-" + name)
    out = trained.get(kind, case)
    base = bases.get(kind)
    is_adapter = os.path.exists(os.path.join(out, "adapter_config.json"))
    assert is_adapter == (case.name not in ("train-full", "train-cls-full")), \
        f"{out}: adapter_config.json {'present' if is_adapter else 'missing'}"
    batch = batch_for(case.task, case_seed(name), hf)
    model_dir, adir = (base, out) if is_adapter else (out, None)
    ref = hf.reference(model_dir, batch, adir, case.task)
    what = "PeftModel.from_pretrained on ftune's adapter" if adir else "transformers on ftune's checkpoint"
    _check(ftio.ftune_dump(model_dir, batch, d, adir), ref, summary, what)
    summary["effect"] = _effect(hf, base, batch, ref, case.task)


def _merge_params():
    return [pytest.param(k, m, id=f"{k}-{m[0]}", marks=pytest.mark.feature(m[1]))
            for m in cases.MERGE for k in cases.KINDS]


@pytest.mark.parametrize("kind,merge", _merge_params())
def test_merge(kind, merge, hf, bases, adapters, trained, work, summary):
    """ftune merge output read by transformers: its logits equal PEFT's on the unmerged adapter and
    on PEFT's own merge_and_unload (except a LoRA merged into a tied embedding, see below), and
    ftune's own logits and gradients on that file."""
    mname, _feat, src, ref_case = merge
    name = f"{kind}-{mname}"
    d = case_dir(work, "write-" + name)
    if src == "read":
        rc = cases.read_case(ref_case)
        base, adir = bases.get(kind, rc.task, rc.dtype), adapters.get(kind, rc)
    else:
        base, adir = bases.get(kind), trained.get(kind, cases.write_case(ref_case))
    mdir = os.path.join(d, "merged")
    ftio.run_ftune(["merge", "--model", base, "--adapter", adir, "--out", mdir], d, "merge")
    batch = ftio.causal_batch(case_seed(name))
    ref = hf.reference(mdir, batch)
    _check(ftio.ftune_dump(mdir, batch, d), ref, summary, "transformers on ftune's merged checkpoint")
    # float32 rounding of merged weights moves logits by ~1e-5 x their size (docs/parity.md)
    unmerged = hf.reference(base, batch, adir, grads=False)["logits"]
    tol = ftio.LOGITS_ATOL * max(1.0, float(np.max(np.abs(unmerged))))
    diff = ftio.max_abs_diff(ref["logits"], unmerged)
    summary["vs_peft_unmerged"] = diff
    assert diff <= tol, f"transformers on ftune's merge vs PEFT's unmerged adapter: logits differ by {diff:.3e} > {tol:.1e}"
    peft_merged = hf.merged_logits(base, adir, batch)["logits"]
    diff = ftio.max_abs_diff(ref["logits"], peft_merged)
    summary["vs_peft_merge"] = diff
    tied = hf.CONFIGS[kind].get("tie_word_embeddings", kind == "gpt2")
    if mname == "merge-lora-embed" and tied:
        # PEFT merges into the embedding the head shares, so its merged model is not its unmerged one;
        # ftune writes the merge untied to keep the unmerged logits (docs/peft.md): only recorded.
        return
    assert diff <= tol, f"transformers on ftune's merge vs PEFT merge_and_unload: logits differ by {diff:.3e} > {tol:.1e}"


def _continue_params():
    return [pytest.param(k, c, id=f"{k}-{c[0]}", marks=pytest.mark.feature(c[1]))
            for c in cases.CONTINUE for k in cases.KINDS]


@pytest.mark.parametrize("kind,cont", _continue_params())
def test_continue(kind, cont, hf, bases, adapters, work, summary):
    """ftune train --adapter DIR (or peft.init_from=DIR) on an adapter PEFT saved: the output keeps the
    adapter's kind and options, its tensors moved, and PEFT reads it with ftune's logits and grads."""
    cname, _feat, src_case, extra = cont
    name = f"{kind}-{cname}"
    d = case_dir(work, "write-" + name)
    rc = cases.read_case(src_case)
    base = bases.get(kind, rc.task, rc.dtype)
    adir = adapters.get(kind, rc)
    out = os.path.join(d, "out")
    args = train_args(base, train_data(d, rc.task, case_seed(name)), out) + [a.format(adapter=adir) for a in extra]
    ftio.run_ftune(args, d, "train")
    cin, cout = hf.adapter_config(adir), hf.adapter_config(out)
    for key in ("peft_type", "task_type", "r", "lora_alpha", "use_rslora", "use_dora", "bias", "rank_pattern",
                "alpha_pattern", "num_virtual_tokens"):
        if key in cin:
            assert cout.get(key) == cin[key], f"{out}: {key} {cout.get(key)!r}, the adapter it started from had {cin[key]!r}"
    for key in ("target_modules", "feedforward_modules", "modules_to_save"):
        a, b = cin.get(key), cout.get(key)
        norm = (lambda v: sorted(v) if isinstance(v, (list, set, tuple)) else v)
        assert norm(b) == norm(a), f"{out}: {key} {b!r}, the adapter it started from had {a!r}"
    t_in = ftio.load_dump(os.path.join(adir, "adapter_model.safetensors"))
    t_out = ftio.load_dump(os.path.join(out, "adapter_model.safetensors"))
    assert sorted(t_in) == sorted(t_out), f"tensor names changed: {sorted(set(t_in) ^ set(t_out))[:6]}"
    moved = max(ftio.max_abs_diff(t_in[k], t_out[k]) for k in t_in)
    summary["moved"] = moved
    assert moved > 1e-4, f"{TRAIN_STEPS} steps moved no tensor of the adapter (max change {moved:.1e})"
    batch = batch_for(rc.task, case_seed(name), hf)
    ref = hf.reference(base, batch, out, rc.task)
    _check(ftio.ftune_dump(base, batch, d, out), ref, summary, "PeftModel.from_pretrained on the continued adapter")


TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Fine-tuning tiny transformers on a CPU, in C.",
    "naïve café — déjà vu: 東京 2026, ünïcödé and emoji 🙂!",
    "  leading spaces and\ttabs, numbers 12345 and 3.14159",
    "low-rank adapters: LoRA, DoRA, IA3 and prompt tuning",
] * 4


def test_tokenizer(work, summary):
    """A byte-level BPE tokenizer.json trained by Hugging Face `tokenizers`: ftune tokenize gives its ids."""
    d = case_dir(work, "tokenizer")
    try:
        import hfside

        want = hfside.train_tokenizer(TEXTS, d)
    except ImportError as e:
        pytest.skip(f"tokenizers not importable: {e}")
    got = ftio.ftune_tokenize(d, TEXTS, d)
    summary["texts"] = len(TEXTS)
    assert len(got) == len(want), f"ftune gave {len(got)} lines for {len(want)} texts"
    bad = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    assert not bad, f"ids differ on text {bad[0]} {TEXTS[bad[0]]!r}: ftune {got[bad[0]]}, tokenizers {want[bad[0]]}"
