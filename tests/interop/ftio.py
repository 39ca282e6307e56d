"""Plumbing of the interop suite that needs neither transformers nor PEFT (numpy only): running
ftune, batches and training data, PEFT's tensor names, dump files and their comparison, the
results summary. `selfcheck.py` tests all of it on this machine; the HF-specific calls live in
`hfside.py`.
"""
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "ref"))
import compare as _compare  # noqa: E402  (tests/ref/compare.py: the parity criteria)
import make_batch as _make_batch  # noqa: E402
import st  # noqa: E402  (tests/ref/st.py: safetensors in numpy)

VOCAB = 67
LOGITS_ATOL = float(os.environ.get("FT_INTEROP_LOGITS_ATOL", "1e-4"))
GRAD_RTOL = float(os.environ.get("FT_INTEROP_GRAD_RTOL", "1e-3"))
ADAPTER = "default"  # PEFT's adapter name

# What each case needs from ftune beyond what main had on 2026-12-04 (issue 12's points). A case
# that fails names it, so a failure caused by a feature not merged yet is easy to tell apart.
FEATURES = {
    "base": "ftune as of 2026-12-04 (main)",
    "patterns": "issue 12.1: rank_pattern / alpha_pattern / layers_to_transform / layers_pattern / exclude_modules",
    "all-linear": "issue 12.2: all-linear resolved to module names in the saved adapter_config.json",
    "embed": "issue 12.3: LoRA on embeddings (lora_embedding_A/B)",
    "embed-saved": "issue 12.3 + adapter files that carry the embedding layers (PEFT's save_embedding_layers='auto')",
    "pretok-cls": "issue 12.4: classification from pre-tokenized JSONL with integer labels",
    "method-flag": "issue 12.5: ftune train --method",
    "init-from": "issue 12.7: ftune train --adapter DIR / recipe peft.init_from",
}


def feature_text(feature):
    """What a case's feature means; "a+b" names two."""
    return "; ".join(FEATURES.get(f, "?") for f in (feature or "base").split("+"))


# Everything is built locally: never wait on the Hugging Face Hub (the lent machine has no network).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
SKIP_LINE = "interop: skipped: transformers/peft not importable ({})"


def probe_hf():
    """None when torch, transformers and peft all import; else what failed, per module."""
    bad = []
    for mod in ("torch", "transformers", "peft"):
        try:
            __import__(mod)
        except Exception as e:  # noqa: BLE001 (any import failure means: skip)
            bad.append(f"{mod}: {type(e).__name__}: {e}")
    return "; ".join(bad) or None


class FtuneError(Exception):
    pass


def ftune_bin():
    """FT_BIN, else build/ftune of this checkout; absolute, checked to exist."""
    path = os.environ.get("FT_BIN") or os.path.join(SRC, "build", "ftune")
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise FtuneError(f"ftune binary not found or not executable: {path} (set FT_BIN)")
    return path


def run_ftune(args, log_dir, name, stdin=None, timeout=300):
    """Runs `ftune ARGS...`; returns its stdout. On a non-zero exit raises FtuneError with the
    command line and the tail of its output; the full log goes to LOG_DIR/NAME.log."""
    cmd = [ftune_bin()] + [str(a) for a in args]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FtuneError(f"timed out after {timeout} s: {shlex.join(cmd)}") from None
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, name + ".log"), "w") as f:
        f.write(f"$ {shlex.join(cmd)}\n# exit {p.returncode}, {time.time() - t0:.2f} s\n{p.stdout}{p.stderr}")
    if p.returncode != 0:
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-8:])
        raise FtuneError(f"exit {p.returncode}: {shlex.join(cmd)}\n{tail}")
    return p.stdout


def ftune_version():
    try:
        p = subprocess.run([ftune_bin(), "version"], capture_output=True, text=True, timeout=30)
        return (p.stdout or p.stderr).strip()
    except (FtuneError, OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"


def ftune_dump(model, batch, d, adapter=None, name="dump"):
    """Writes batch to D/NAME.batch.json, runs `ftune dump` into D/NAME.safetensors, returns its
    tensors."""
    bpath, out = os.path.join(d, name + ".batch.json"), os.path.join(d, name + ".safetensors")
    write_json(bpath, batch)
    args = ["dump", "--model", model, "--batch", bpath, "--out", out]
    if adapter:
        args += ["--adapter", adapter]
    run_ftune(args, d, name)
    return load_dump(out)


def ftune_tokenize(tok_dir, texts, d):
    """`ftune tokenize --jsonl` on the texts: a list of id lists."""
    stdin = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    out = run_ftune(["tokenize", "--tokenizer", tok_dir, "--jsonl"], d, "tokenize", stdin=stdin)
    return [json.loads(line)["ids"] for line in out.splitlines()]


# ---- batches and data -----------------------------------------------------------------------

def causal_batch(seed, batch=3, seq=12, vocab=VOCAB):
    """The parity tests' batch (tests/ref/make_batch.py): right padding with id 0, a few -100
    labels, labels left under the padding of one row."""
    return _make_batch.make(vocab, batch, seq, seed, pad_id=0)


def cls_batch(seed, n_labels, batch=4, seq=10, vocab=VOCAB):
    """A classification batch: right padding with id 0 and real tokens never 0, so HF's pooling
    (the last token that is not pad_token_id) and ftune's (the last position with mask 1) pick the
    same token; "cls_labels" for ftune dump."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, seq))
    mask = np.ones((batch, seq), dtype=np.int64)
    for r in range(1, batch):
        n_pad = 1 + (r * 3) % (seq // 2)
        ids[r, seq - n_pad:] = 0
        mask[r, seq - n_pad:] = 0
    labels = [int(r % n_labels) for r in range(batch)]
    return {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "cls_labels": labels}


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)
        f.write("\n")


def write_pretok(path, seed, n=24, n_labels=0, vocab=VOCAB, min_len=6, max_len=12):
    """Pre-tokenized JSONL for `ftune train --data`: {"input_ids": [...]} per line, plus an integer
    "label" (0..n_labels-1, every label present) when n_labels > 0. Ids avoid 0 (the pad id)."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for i in range(n):
            ids = rng.integers(1, vocab, size=int(rng.integers(min_len, max_len + 1))).tolist()
            row = {"input_ids": ids}
            if n_labels:
                row["label"] = i % n_labels
            f.write(json.dumps(row) + "\n")


# ---- PEFT's tensor names --------------------------------------------------------------------

def peft_saved_name(param_name, adapter=ADAPTER):
    """The name under which PEFT saves a trainable parameter of a PeftModel (written from PEFT's
    save_and_load.py / tuners_utils.py rules, not copied):
      prompt learning  prompt_encoder.<a>.embedding.weight  -> prompt_embeddings
      modules_to_save  <m>.modules_to_save.<a>.<p>          -> <m>.<p>
      DoRA             <m>.lora_magnitude_vector.<a>.weight -> <m>.lora_magnitude_vector
      nn.Parameter     <m>.ia3_l.<a>, <m>.lora_embedding_A.<a> -> the adapter name dropped at the end
      nn.Module        <m>.lora_A.<a>.weight                -> <m>.lora_A.weight
      anything else (biases with bias=all/lora_only)        -> unchanged."""
    a = re.escape(adapter)
    if re.fullmatch(rf"prompt_encoder\.{a}\.embedding\.weight", param_name):
        return "prompt_embeddings"
    n = re.sub(rf"\.modules_to_save\.{a}\.", ".", param_name)
    if n != param_name:
        return n
    m = re.fullmatch(rf"(.*\.lora_magnitude_vector)\.{a}\.weight", param_name)
    if m:
        return m.group(1)
    if param_name.endswith("." + adapter):
        return param_name[: -len(adapter) - 1]
    m = re.fullmatch(rf"(.*)\.{a}\.([^.]+)", param_name)
    if m:
        return f"{m.group(1)}.{m.group(2)}"
    return param_name


# Embedding layers PEFT writes into an adapter file beside the adapter (save_embedding_layers, by
# default when an embedding is targeted): frozen, so they have no gradient.
SAVED_EMBEDDING = re.compile(r"base_model\.model\.(.*\.)?(wte|embed_tokens|lm_head)(\.base_layer)?\.weight")


def check_names(mapped, file_names, what):
    """The gradient names a reference produced must be exactly the tensors of the adapter file, but
    for saved embedding layers (SAVED_EMBEDDING), which are in the file and frozen."""
    mapped = set(mapped)
    file_names = {n for n in file_names if n in mapped or not SAVED_EMBEDDING.fullmatch(n)}
    if mapped != file_names:
        raise AssertionError(
            f"{what}: PEFT parameter -> saved-name mapping does not give the adapter file's tensors; "
            f"only mapped: {sorted(mapped - file_names)[:6]}, only in file: {sorted(file_names - mapped)[:6]}")


# ---- dump files and comparison --------------------------------------------------------------

def load_dump(path):
    t, _ = st.load(path)
    return t


def save_dump(path, tensors):
    st.save(path, {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}, metadata={"format": "pt"})


def compare_dumps(a, b, logits_atol=None, grad_rtol=None, only=None):
    """compare.py's criteria on two dicts (A = ftune, B = the library). `only` restricts the check to
    some names (e.g. logits and loss). Returns (ok, report text, summary dict with the largest
    logits/loss abs error and largest grad rel error)."""
    la = LOGITS_ATOL if logits_atol is None else logits_atol
    gr = GRAD_RTOL if grad_rtol is None else grad_rtol
    if only is not None:
        a = {k: v for k, v in a.items() if k in only}
        b = {k: v for k, v in b.items() if k in only}
    lines, fails = _compare.compare(a, b, la, gr)
    summ = {"logits_abs": 0.0, "grad_rel": 0.0, "n_grads": 0}
    for k in b:
        if k not in a or np.shape(a[k]) != np.shape(b[k]):
            continue
        x, y = np.asarray(a[k], np.float64), np.asarray(b[k], np.float64)
        d = float(np.max(np.abs(x - y))) if x.size else 0.0
        if k in _compare.ABS_NAMES:
            summ["logits_abs"] = max(summ["logits_abs"], d)
        else:
            summ["n_grads"] += 1
            s = float(np.max(np.abs(y))) if y.size else 0.0
            summ["grad_rel"] = max(summ["grad_rel"], d / max(s, _compare.TINY))
    return fails == 0, "\n".join(lines), summ


def max_abs_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {list(a.shape)} vs {list(b.shape)}")
    return float(np.max(np.abs(a - b)))


# ---- results --------------------------------------------------------------------------------

def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
            "cores": os.cpu_count()}


def results_header(hf_versions=None, skipped=None):
    """The results' header: date, ftune (version, commit, binary), machine, library versions or
    the skip line."""
    try:
        commit = subprocess.run(["git", "-C", SRC, "describe", "--always", "--dirty"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    import datetime

    h = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "ftune": ftune_version(),
         "ftune_commit": commit, "ftune_bin": os.environ.get("FT_BIN") or os.path.join(SRC, "build", "ftune")}
    h.update(machine_info())
    if skipped:
        h["skipped"] = skipped
    h.update(hf_versions or {})
    return h


def results_table(results):
    """A plain-text table of case results (for docs/interop.md)."""
    head = ("case", "needs", "outcome", "logits abs", "grad rel", "s")
    rows = [head]
    for r in results:
        def num(k):
            v = r.get(k)
            return f"{v:.1e}" if isinstance(v, (int, float)) and v is not None else "-"
        rows.append((r["case"], r.get("feature") or "-", r["outcome"], num("logits_abs"), num("grad_rel"),
                     f"{r.get('seconds', 0.0):.1f}"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    out = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def write_results(out_dir, header, results):
    """OUT/interop-results.json (header + one record per case) and OUT/interop-results.txt (the
    header as lines, counts, the table, then each failure's message)."""
    os.makedirs(out_dir, exist_ok=True)
    counts = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    with open(os.path.join(out_dir, "interop-results.json"), "w") as f:
        json.dump({"header": header, "counts": counts, "results": results}, f, indent=2, sort_keys=True)
        f.write("\n")
    lines = [f"{k}: {v}" for k, v in header.items()]
    lines.append("counts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    lines += ["", results_table(results), ""]
    for r in results:
        if r["outcome"] == "failed":
            need = feature_text(r.get("feature"))
            lines.append(f"--- {r['case']} (needs: {r.get('feature')}: {need})")
            lines.append(r.get("message", "").rstrip())
            lines.append("")
    with open(os.path.join(out_dir, "interop-results.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return counts


def merge_results(out_dir, part_dirs):
    """Joins the results of several pytest processes (run.sh's shards) into OUT's files: the header
    of the first part (plus the shard count), every part's cases in order."""
    header, results = None, []
    for d in part_dirs:
        with open(os.path.join(d, "interop-results.json")) as f:
            j = json.load(f)
        header = header or dict(j["header"])
        results += j["results"]
    if header is None:
        raise ValueError("no result files to merge")
    header["processes"] = len(part_dirs)
    return write_results(out_dir, header, results)


if __name__ == "__main__":
    # ftio.py merge OUTDIR PART_DIR... (used by run.sh)
    if len(sys.argv) < 4 or sys.argv[1] != "merge":
        sys.exit("usage: ftio.py merge OUTDIR PART_DIR...")
    print(merge_results(sys.argv[2], sys.argv[3:]))
