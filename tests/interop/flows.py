"""The interop cases' steps, without pytest: build what a case needs with transformers/PEFT (through
hfside) or ftune, run both sides, compare. test_read.py / test_write.py run them under pytest;
direct.py runs them where pytest is missing. Each step fills `summary` (the numbers that go into
the results file) and raises AssertionError / ftio.FtuneError on a failure, Skip to skip.
"""
import os
import time
import zlib

import numpy as np

import cases
import ftio


class Skip(Exception):
    pass


class Bases:
    """Tiny base models built by transformers, once per (kind, task) and session."""

    def __init__(self, hf, work):
        self.hf, self.work, self.dirs = hf, work, {}

    def get(self, kind, task="causal_lm", dtype="f32"):
        key = (kind, task, dtype)
        if key not in self.dirs:
            d = os.path.join(self.work, f"base-{kind}-{task}-{dtype}")
            seed = 1000 + 10 * sorted(self.hf.CONFIGS).index(kind) + (1 if task == "cls" else 0)
            t0 = time.time()
            self.dirs[key] = self.hf.build_base(kind, d, seed, task, dtype)
            print(f"built {d} in {time.time() - t0:.1f} s")
        return self.dirs[key]


def case_seed(name):
    """A seed of its own for each case id, stable across runs and machines."""
    return zlib.crc32(name.encode()) % 100000


def case_dir(work, name):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    return d


class Adapters:
    """Adapters PEFT built and saved (cases.READ specs), once per (kind, case) and session."""

    def __init__(self, hf, bases, work):
        self.hf, self.bases, self.work, self.dirs = hf, bases, work, {}

    def get(self, kind, case):
        key = (kind, case.name)
        if key not in self.dirs:
            name = f"{kind}-{case.name}"
            out = os.path.join(case_dir(self.work, "peft-" + name), "adapter")
            self.dirs[key] = self.hf.make_adapter(self.bases.get(kind, case.task, case.dtype), case.spec(kind),
                                                  case_seed(name), out, case.task)
        return self.dirs[key]


TRAIN_STEPS = 6


def train_args(base, data, out):
    """`ftune train` in flag form on pre-tokenized data: a few AdamW steps with a large enough
    learning rate that the trained tensors move visibly."""
    return ["train", "--model", base, "--data", data, "--out", out, "--steps", str(TRAIN_STEPS), "--batch-size", "4",
            "--seq-len", "12", "--lr", "2e-2", "--seed", "5", "--threads", "4", "--quiet"]


def train_data(d, task, seed):
    path = os.path.join(d, "train.jsonl")
    ftio.write_pretok(path, seed, n_labels=3 if task == "cls" else 0)
    return path


class Trained:
    """What ftune train wrote (cases.WRITE_TRAIN), once per (kind, case) and session."""

    def __init__(self, bases, work):
        self.bases, self.work, self.dirs = bases, work, {}

    def get(self, kind, case):
        key = (kind, case.name)
        if key not in self.dirs:
            name = f"{kind}-{case.name}"
            d = case_dir(self.work, "train-" + name)
            out = os.path.join(d, "out")
            # classification trains from the causal-LM base: ftune adds the score head
            args = train_args(self.bases.get(kind), train_data(d, case.task, case_seed(name)), out)
            ftio.run_ftune(args + case.kind_args(kind), d, "train")
            self.dirs[key] = out
        return self.dirs[key]



class Context:
    """The session: hfside and the caches, over one work directory."""

    def __init__(self, hf, work):
        self.hf, self.work = hf, work
        self.bases = Bases(hf, work)
        self.adapters = Adapters(hf, self.bases, work)
        self.trained = Trained(self.bases, work)


def batch_for(task, seed, hf):
    return ftio.cls_batch(seed, hf.N_LABELS) if task == "cls" else ftio.causal_batch(seed)


def run_read(ctx, kind, case, summary):
    """ftune dump on what transformers/PEFT wrote vs their forward + backward."""
    hf, name = ctx.hf, f"{kind}-{case.name}"
    d = case_dir(ctx.work, "read-" + name)
    base = ctx.bases.get(kind, case.task, case.dtype)
    adir = ctx.adapters.get(kind, case) if case.spec else None
    batch = batch_for(case.task, case_seed(name), hf)
    ref = hf.reference(base, batch, adir, case.task)
    ftio.save_dump(os.path.join(d, "library.safetensors"), ref)
    got = ftio.ftune_dump(base, batch, d, adir)
    ok, report, summ = ftio.compare_dumps(got, ref)
    summary.update(summ)
    assert ok, f"ftune dump vs {'PEFT' if adir else 'transformers'} (A = ftune, B = library):\n{report}"
    assert summ["n_grads"] > 0, "no gradient was compared"


# Trained adapters must move the logits by more than this (else "equal" could mean "both ignored it").
MIN_EFFECT = 1e-3


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


def run_init(ctx, kind, summary):
    """ftune init --config small.json: transformers loads the checkpoint and computes ftune's numbers."""
    hf, name = ctx.hf, f"{kind}-init"
    d = case_dir(ctx.work, "write-" + name)
    small = os.path.join(d, "small.json")
    ftio.write_json(small, hf.CONFIGS[kind])
    out = os.path.join(d, "model")
    ftio.run_ftune(["init", "--arch", kind, "--config", small, "--out", out, "--seed", "7"], d, "init")
    batch = ftio.causal_batch(case_seed(name))
    ref = hf.reference(out, batch)
    _check(ftio.ftune_dump(out, batch, d), ref, summary, "ftune init output read by transformers")


def run_train(ctx, kind, case, summary):
    """ftune train's output (a checkpoint or an adapter) read by transformers / PEFT."""
    hf, name = ctx.hf, f"{kind}-{case.name}"
    d = case_dir(ctx.work, "write-" + name)
    out = ctx.trained.get(kind, case)
    base = ctx.bases.get(kind)
    is_adapter = os.path.exists(os.path.join(out, "adapter_config.json"))
    assert is_adapter == (case.name not in ("train-full", "train-cls-full")), \
        f"{out}: adapter_config.json {'present' if is_adapter else 'missing'}"
    batch = batch_for(case.task, case_seed(name), hf)
    model_dir, adir = (base, out) if is_adapter else (out, None)
    ref = hf.reference(model_dir, batch, adir, case.task)
    what = "PeftModel.from_pretrained on ftune's adapter" if adir else "transformers on ftune's checkpoint"
    _check(ftio.ftune_dump(model_dir, batch, d, adir), ref, summary, what)
    summary["effect"] = _effect(hf, base, batch, ref, case.task)


def run_merge(ctx, kind, merge, summary):
    """ftune merge output read by transformers: its logits equal PEFT's on the unmerged adapter and
    on PEFT's own merge_and_unload (except a LoRA merged into a tied embedding, see below), and
    ftune's own logits and gradients on that file."""
    hf = ctx.hf
    mname, _feat, src, ref_case = merge
    name = f"{kind}-{mname}"
    d = case_dir(ctx.work, "write-" + name)
    if src == "read":
        rc = cases.read_case(ref_case)
        base, adir = ctx.bases.get(kind, rc.task, rc.dtype), ctx.adapters.get(kind, rc)
    else:
        base, adir = ctx.bases.get(kind), ctx.trained.get(kind, cases.write_case(ref_case))
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


def run_continue(ctx, kind, cont, summary):
    """ftune train --adapter DIR (or peft.init_from=DIR) on an adapter PEFT saved: the output keeps the
    adapter's kind and options, its tensors moved, and PEFT reads it with ftune's logits and grads."""
    hf = ctx.hf
    cname, _feat, src_case, extra = cont
    name = f"{kind}-{cname}"
    d = case_dir(ctx.work, "write-" + name)
    rc = cases.read_case(src_case)
    base = ctx.bases.get(kind, rc.task, rc.dtype)
    adir = ctx.adapters.get(kind, rc)
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


def run_tokenizer(ctx, summary):
    """A byte-level BPE tokenizer.json trained by Hugging Face `tokenizers`: ftune tokenize gives its ids."""
    d = case_dir(ctx.work, "tokenizer")
    try:
        want = ctx.hf.train_tokenizer(TEXTS, d)
    except ImportError as e:
        raise Skip(f"tokenizers not importable: {e}") from None
    got = ftio.ftune_tokenize(d, TEXTS, d)
    summary["texts"] = len(TEXTS)
    assert len(got) == len(want), f"ftune gave {len(got)} lines for {len(want)} texts"
    bad = [i for i, (a, b) in enumerate(zip(got, want)) if a != b]
    assert not bad, f"ids differ on text {bad[0]} {TEXTS[bad[0]]!r}: ftune {got[bad[0]]}, tokenizers {want[bad[0]]}"


def in_shard(kind, shard):
    """shard "i/n" (or None: all): the kinds whose index in cases.KINDS is i modulo n; cases
    without a kind go with shard 0."""
    if not shard:
        return True
    i, n = (int(v) for v in shard.split("/"))
    return (cases.KINDS.index(kind) if kind in cases.KINDS else 0) % n == i


def all_cases():
    """Every case in collection order: (id, feature, kind or None, step function, its arguments)."""
    out = [(f"{k}-{c.name}", c.feature, k, run_read, (k, c)) for c in cases.READ for k in c.kinds]
    out += [(f"{k}-init", "base", k, run_init, (k,)) for k in cases.KINDS]
    out += [(f"{k}-{c.name}", c.feature, k, run_train, (k, c)) for c in cases.WRITE_TRAIN for k in c.kinds]
    out += [(f"{k}-{m[0]}", m[1], k, run_merge, (k, m)) for m in cases.MERGE for k in cases.KINDS]
    out += [(f"{k}-{c[0]}", c[1], k, run_continue, (k, c)) for c in cases.CONTINUE for k in cases.KINDS]
    out.append(("tokenizer", "base", None, run_tokenizer, ()))
    return out
