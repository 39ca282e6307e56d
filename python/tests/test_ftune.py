"""The Python binding against the built libftune and the `ftune` command on tiny models made here:
every result the binding gives is checked against the command's (classify, generate, tokenize, inspect)
or against what the run wrote. Run by tests/python_api.sh (FT_BIN = the ftune binary, FTUNE_LIBRARY =
the shared library)."""
import json
import math
import os
import random
import subprocess

import numpy as np
import pytest

import ftune

FT = os.environ["FT_BIN"]
POS = "good great fine nice happy love best super".split()
NEG = "bad awful poor sad hate worst ugly evil".split()
NEU = "the a it is was very so and".split()


def sh(*args, stdin=None):
    return subprocess.run([FT, *args], input=stdin, capture_output=True, text=True, check=True).stdout


def sentences(n, seed):
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        c = rnd.randrange(2)
        words = [rnd.choice(NEU) if rnd.random() < 0.5 else rnd.choice(NEG if c else POS)
                 for _ in range(4 + rnd.randrange(4))]
        rows.append({"text": " ".join(words), "label": "neg" if c else "pos"})
    return rows


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    w = tmp_path_factory.mktemp("ftpy")
    (w / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + POS + NEG + NEU + ["</s>"]) + "\n")
    with open(w / "train.jsonl", "w") as f:
        for r in sentences(200, 1):
            f.write(json.dumps(r) + "\n")
    (w / "g.json").write_text('{"vocab_size": 32, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32}')
    sh("init", "--arch", "gpt2", "--config", str(w / "g.json"), "--out", str(w / "base"), "--seed", "3")
    (w / "base" / "vocab.txt").write_text((w / "vocab.txt").read_text())
    return w


RECIPE = """task: classification
method: lora
lora: {r: 4, alpha: 8}
train: {max_steps: 40, batch_size: 8, seq_len: 16}
optim: {lr: 3e-3}
eval: {every: 10}
report: {tensorboard: false}
"""


@pytest.fixture(scope="session")
def trained(work):
    steps, evals, logs = [], [], []
    info = ftune.train(yaml=RECIPE, on_step=steps.append, on_eval=lambda s, m: evals.append((s, m)),
                       on_log=logs.append, model=str(work / "base"), data__train=str(work / "train.jsonl"),
                       output_dir=str(work / "out_cls"))
    return info, steps, evals, logs


def test_version():
    assert ftune.version() == "0.1.0"
    assert ftune.abi_version() == ftune.ABI_VERSION
    assert os.path.exists(ftune.library_path()) or "ftune" in ftune.library_path()


def test_tokenizer_matches_cli(work):
    tok = ftune.Tokenizer(work / "base")
    text = "good movie, very bad"
    ids = tok.encode(text, add_special=False)
    assert ids.dtype == np.int32
    cli = [int(x) for x in sh("tokenize", "--tokenizer", str(work / "base"), "--ids", stdin=text + "\n").split()]
    assert ids.tolist() == cli
    ids2, offs = tok.encode(text, add_special=False, offsets=True)
    assert ids2.tolist() == cli and offs.shape == (len(cli), 2)
    cli_offs = sh("tokenize", "--tokenizer", str(work / "base"), "--offsets", stdin=text + "\n").split()
    assert [[int(v) for v in t.split("@")[1].split(":")] for t in cli_offs] == offs.tolist()
    assert text[offs[0][0]:offs[0][1]] == "good"
    for skip, flags in ((False, []), (True, ["--skip-special"])):
        assert tok.decode(ids, skip_special=skip) == sh("tokenize", "--tokenizer", str(work / "base"), "--decode",
                                                        *flags, stdin=" ".join(map(str, cli)) + "\n").rstrip("\n")
    assert "[UNK]" in tok.decode(ids, skip_special=False) and "[UNK]" not in tok.decode(ids)
    assert tok.vocab_size == len((work / "vocab.txt").read_text().split())


def test_dataset_rows_train_like_the_file(work, trained, tmp_path):
    rows = [json.loads(l) for l in open(work / "train.jsonl")]
    assert len(ftune.Dataset(rows)) == len(rows) == len(ftune.Dataset().read(work / "train.jsonl"))
    ftune.train(yaml=RECIPE, model=str(work / "base"), train_data=rows, output_dir=str(tmp_path / "rows"))
    a = (work / "out_cls" / "adapter_model.safetensors").read_bytes()
    assert (tmp_path / "rows" / "adapter_model.safetensors").read_bytes() == a  # the same bits as from the file
    with pytest.raises(ValueError, match="unknown example fields"):
        ftune.Dataset([{"txt": "x"}])


@pytest.mark.parametrize("task", ["token_classification", "question_answering", "masked_lm"])
def test_encoder_tasks_like_the_command(tmp_path, task):
    """The library's trainer runs the tasks whose data readers moved out of the command (train/task_data.c):
    the same recipe through ftune.train and `ftune train` ends with the same model bytes and test metrics."""
    words = "alice bob paris london the a met in at visited".split()
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    (tmp_path / "b.json").write_text('{"vocab_size": 15, "hidden_size": 16, "num_hidden_layers": 1, '
                                     '"num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 40}')
    sh("init", "--arch", "bert", "--config", str(tmp_path / "b.json"), "--out", str(tmp_path / "bert"), "--seed", "3")
    (tmp_path / "bert" / "vocab.txt").write_text((tmp_path / "vocab.txt").read_text())
    rnd = random.Random(5)
    with open(tmp_path / "d.jsonl", "w") as f:
        for i in range(40):
            toks = [rnd.choice(words) for _ in range(3 + rnd.randrange(5))]
            if task == "token_classification":
                f.write(json.dumps({"tokens": toks, "tags": ["B-PER" if w in ("alice", "bob") else "B-LOC"
                                                             if w in ("paris", "london") else "O" for w in toks]}) + "\n")
            elif task == "question_answering":
                ctx = " ".join(toks + ["paris"])
                f.write(json.dumps({"id": str(i), "question": "where", "context": ctx,
                                    "answers": {"text": ["paris"], "answer_start": [ctx.rindex("paris")]}}) + "\n")
            else:
                f.write(json.dumps({"text": " ".join(toks)}) + "\n")
    recipe = (f"task: {task}\nmethod: full\ntrain: {{max_steps: 3, batch_size: 4, seq_len: 16}}\n"
              "optim: {lr: 1e-3}\nreport: {tensorboard: false, progress: quiet}\nseed: 4\n")
    (tmp_path / "r.yaml").write_text(recipe)
    common = [f"model={tmp_path / 'bert'}", f"data.train={tmp_path / 'd.jsonl'}"]
    if task == "question_answering":
        common.append(f"data.test={tmp_path / 'd.jsonl'}")
    sh("train", str(tmp_path / "r.yaml"), *common, f"output_dir={tmp_path / 'cli'}")
    info = ftune.train(str(tmp_path / "r.yaml"), output_dir=str(tmp_path / "api"),
                       **dict(c.split("=", 1) for c in common))
    assert info["step"] == 3 and info["done"]
    assert (tmp_path / "api" / "model.safetensors").read_bytes() == (tmp_path / "cli" / "model.safetensors").read_bytes()


def test_named_adapters(work, trained, tmp_path):
    rows = [{"text": t, "label": l} for t, l in (("good great", "a"), ("bad awful", "b"), ("the it", "c"))] * 30
    with open(tmp_path / "abc.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    ftune.train(yaml="task: classification\nmethod: ia3\ntrain: {max_steps: 4, batch_size: 6, seq_len: 16}\n"
                     "report: {tensorboard: false}\n", model=str(work / "base"), data__train=str(tmp_path / "abc.jsonl"),
                output_dir=str(tmp_path / "abc"))
    ma = ftune.Model(work / "base", adapter=work / "out_cls")
    alone_a = ma.classify("good movie")
    alone_b = ftune.Model(work / "base", adapter=tmp_path / "abc").classify("bad awful")
    m = ftune.Model(work / "base")
    assert m.active_adapter is None
    m.load_adapter(work / "out_cls", adapter_name="sentiment")
    m.load_adapter(tmp_path / "abc", adapter_name="abc")
    assert m.active_adapter == "abc" and m.labels == ["a", "b", "c"]
    lb, pb = m.classify("bad awful")
    assert lb == alone_b[0] and pb.tolist() == alone_b[1].tolist()
    m.set_adapter("sentiment")
    la, pa = m.classify("good movie")
    assert m.labels == ma.labels and len(m.labels) == 2
    assert la == alone_a[0] and pa.tolist() == alone_a[1].tolist()
    m.set_adapter(None)
    assert m.active_adapter is None and m.info["task"] == "causal_lm"
    with pytest.raises(ftune.Error, match="no adapter named 'nope'"):
        m.set_adapter("nope")
    with pytest.raises(ftune.Error, match="1 to 64 characters"):
        m.load_adapter(tmp_path / "abc", adapter_name="../x")


def test_chat_templates(work):
    msgs = [{"role": "user", "content": "good"}, {"role": "assistant", "content": "bad"}]
    assert {"chatml", "llama3", "llama2", "alpaca"} <= set(ftune.chat_formats())
    text = ftune.chat_render(msgs, "chatml")
    assert text == "<|im_start|>user\ngood<|im_end|>\n<|im_start|>assistant\nbad<|im_end|>\n"
    assert ftune.chat_render(msgs[:1], "chatml", add_generation_prompt=True).endswith("<|im_start|>assistant\n")
    tok = ftune.Tokenizer(work / "base")
    ids, mask = tok.apply_chat_template(msgs, "chatml", return_mask=True)
    assert ids.tolist() == tok.encode(text, add_special=False).tolist()  # one encoding of the rendered text
    good, bad = tok.encode("good", add_special=False)[0], tok.encode("bad", add_special=False)[0]
    assert mask.dtype == np.uint8 and 0 < mask.sum() < len(ids)
    assert bad in ids[mask == 1] and good not in ids[mask == 1]
    assert tok.apply_chat_template(msgs, "chatml").tolist() == ids.tolist()
    with pytest.raises(ftune.Error, match="unknown format 'nope'"):
        ftune.chat_render(msgs, "nope")


def test_model_info_matches_inspect(work):
    m = ftune.Model(work / "base")
    info = m.info
    assert (info["model_type"], info["task"], info["method"]) == ("gpt2", "causal_lm", "full")
    assert (info["vocab_size"], info["hidden_size"], info["n_layers"], info["n_heads"]) == (32, 32, 2, 4)
    line = [x for x in sh("inspect", str(work / "base")).splitlines() if x.startswith("parameters:")][0]
    assert info["n_params"] == int(line.split()[1])
    m.close()
    with pytest.raises(ftune.Error, match="closed"):
        m.info


def test_train_callbacks_and_outputs(work, trained):
    info, steps, evals, logs = trained
    assert info["done"] and not info["stopped"] and info["step"] == 40
    assert [s["step"] for s in steps] == list(range(1, 41))
    assert all(math.isfinite(s["loss"]) and s["lr"] > 0 for s in steps)
    assert [s for s, _ in evals] == [0, 10, 20, 30, 40]
    assert {"loss", "accuracy", "f1_macro"} <= set(evals[-1][1])
    assert any(line.startswith("model ") for line in logs)
    out = work / "out_cls"
    for f in ("adapter_config.json", "adapter_model.safetensors", "ftune_train.json", "metrics.jsonl"):
        assert (out / f).exists(), f
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4
    # the evaluation callback's numbers are the ones metrics.jsonl holds
    last = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if "eval/loss" in x][-1]
    assert last["eval/loss"] == pytest.approx(evals[-1][1]["loss"], rel=1e-9)


def test_classify_matches_cli(work, trained):
    m = ftune.Model(work / "base", adapter=work / "out_cls")
    assert m.labels == ["neg", "pos"] and m.info["task"] == "classification"
    lines = [r["text"] for r in sentences(10, 9)]
    cli = [json.loads(x) for x in sh("classify", "--model", str(work / "base"), "--adapter", str(work / "out_cls"),
                                     "--json", stdin="\n".join(lines) + "\n").splitlines()]
    for text, c in zip(lines, cli):
        label, probs = m.classify(text)
        assert probs.dtype == np.float32 and probs.shape == (2,)
        assert label == c["label"]
        assert probs.tolist() == pytest.approx([c["probs"]["neg"], c["probs"]["pos"]], abs=1e-6)
    # the adapter dir alone: its ftune_train.json names the base
    assert ftune.Model(work / "out_cls").classify(lines[0])[0] == cli[0]["label"]


def test_evaluate_matches_cli(work, trained):
    with open(work / "test.jsonl", "w") as f:
        for r in sentences(30, 11):
            f.write(json.dumps(r) + "\n")
    m = ftune.Model(work / "base", adapter=work / "out_cls")
    ev = m.evaluate(work / "test.jsonl", batch_size=8)
    cli = json.loads(sh("eval", "--model", str(work / "out_cls"), "--data", str(work / "test.jsonl"), "--json"))
    assert ev["n_examples"] == cli["n_examples"] == 30
    for k in ("loss", "accuracy", "f1_macro", "f1_micro", "f1_weighted", "precision_macro", "recall_macro"):
        assert ev[k] == pytest.approx(cli[k], rel=1e-6, abs=1e-9), k
    (work / "bad.jsonl").write_text('{"text": "good", "label": "maybe"}\n')
    with pytest.raises(ftune.Error, match="bad.jsonl:1: label 'maybe'"):
        m.evaluate(work / "bad.jsonl")


def test_generate_matches_cli_and_streams(work):
    lm = ftune.Model(work / "base")
    got = lm.generate("good movie", max_new_tokens=12, details=True)
    cli = json.loads(sh("generate", "--model", str(work / "base"), "--prompt", "good movie", "--max-new-tokens", "12",
                        "--json"))
    assert got["text"] == cli["text"] and got["finish"] == cli["finish"] and len(got["ids"]) == cli["new_tokens"]
    pieces, ids = [], []
    text = lm.generate("good movie", max_new_tokens=12, on_token=lambda i, p: ids.append(i) or pieces.append(p))
    assert text == got["text"] and "".join(pieces).strip() == text.strip() and ids == got["ids"].tolist()
    one = lm.generate("good movie", max_new_tokens=12, on_token=lambda i, p: True, details=True)
    assert one["finish"] == "callback" and len(one["ids"]) == 1
    s1 = lm.generate("good", max_new_tokens=10, do_sample=True, temperature=0.8, seed=7)
    cli_s = sh("generate", "--model", str(work / "base"), "--prompt", "good", "--max-new-tokens", "10",
               "--do-sample", "--temperature", "0.8", "--seed", "7").rstrip("\n")
    assert s1 == cli_s == lm.generate("good", max_new_tokens=10, do_sample=True, temperature=0.8, seed=7)
    # beam search: the command's answer and score; options checked by name
    b = lm.generate("good movie", max_new_tokens=10, num_beams=3, length_penalty=0.6, early_stopping="never",
                    no_repeat_ngram_size=2, details=True)
    cli_b = json.loads(sh("generate", "--model", str(work / "base"), "--prompt", "good movie", "--max-new-tokens",
                          "10", "--num-beams", "3", "--length-penalty", "0.6", "--early-stopping", "never",
                          "--no-repeat-ngram-size", "2", "--json"))
    assert b["text"] == cli_b["text"] and b["finish"] == cli_b["finish"] and b["score"] == pytest.approx(cli_b["score"])
    assert b["score"] < 0 and got["score"] != got["score"]  # NaN without beam search
    with pytest.raises(ftune.Error, match="min_new_tokens 11 must be in"):
        lm.generate("good", max_new_tokens=10, min_new_tokens=11)
    with pytest.raises(ValueError, match="early_stopping 'sometimes'"):
        lm.generate("good", num_beams=2, early_stopping="sometimes")


def test_generate_nbest_ids_and_file_match_cli(work, tmp_path):
    lm = ftune.Model(work / "base")
    base = str(work / "base")
    # beam search's n best: the command's sequences, best first
    nb = lm.generate("good movie", max_new_tokens=8, num_beams=4, num_return_sequences=3, details=True)
    cli = json.loads(sh("generate", "--model", base, "--prompt", "good movie", "--max-new-tokens", "8",
                        "--num-beams", "4", "--num-return-sequences", "3", "--json"))
    assert len(nb["sequences"]) == len(cli["sequences"]) == 3
    for a, b in zip(nb["sequences"], cli["sequences"]):
        assert a["ids"].tolist() == b["ids"] and a["text"] == b["text"] and a["score"] == pytest.approx(b["score"])
    assert lm.generate("good movie", max_new_tokens=8, num_beams=4, num_return_sequences=3) == \
        [q["text"] for q in cli["sequences"]]
    with pytest.raises(ftune.Error, match="num_return_sequences 5 must be in"):
        lm.generate("good", num_beams=4, num_return_sequences=5)
    # ids in, ids out: the command's --prompt-ids, also on a copy without tokenizer files
    got = lm.generate_ids([5, 6, 7], max_new_tokens=6)
    cli_i = json.loads(sh("generate", "--model", base, "--prompt-ids", "5 6 7", "--max-new-tokens", "6", "--json"))
    assert got["ids"].tolist() == cli_i["ids"] and got["text"] == cli_i["text"] and got["prompt_tokens"] == 3
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ("config.json", "model.safetensors"):
        (bare / f).write_bytes((work / "base" / f).read_bytes())
    with pytest.raises(ftune.Error, match="no tokenizer"):
        ftune.Model(bare)
    mb = ftune.Model(bare, tokenizer_optional=True)
    assert not mb.has_tokenizer and lm.has_tokenizer
    g2 = mb.generate_ids(np.array([5, 6, 7]), max_new_tokens=6)
    cli_b = json.loads(sh("generate", "--model", str(bare), "--prompt-ids", "5,6,7", "--max-new-tokens", "6", "--json"))
    assert g2["text"] is None and g2["ids"].tolist() == cli_b["ids"] and g2["finish"] == cli_b["finish"]
    with pytest.raises(ftune.Error, match="no tokenizer"):
        mb.generate("good")
    # a data file: the command's rows and scores
    data = tmp_path / "gen.jsonl"
    data.write_text('{"prompt": "good movie", "response": "great film"}\n{"text": "bad"}\n'
                    '{"prompt": "awful", "response": "boring"}\n')
    rows, metrics = lm.generate_file(data, max_new_tokens=5)
    out = sh("generate", "--model", base, "--data", str(data), "--max-new-tokens", "5", "--json").splitlines()
    cli_rows, cli_m = [json.loads(x) for x in out[:-1]], json.loads(out[-1])
    assert [r["output"] for r in rows] == [r["output"] for r in cli_rows]
    assert [r["reference"] for r in rows] == ["great film", None, "boring"] and [r["line"] for r in rows] == [1, 2, 3]
    assert cli_m["n_examples"] == 2 and set(metrics) == set(cli_m) - {"n_examples"}
    for k, v in metrics.items():
        assert v == pytest.approx(cli_m[k], rel=1e-12, abs=1e-12), k
    seen = []
    rows1, _ = lm.generate_file(data, max_new_tokens=5, on_row=lambda r: seen.append(r) or True)
    assert len(rows1) == len(seen) == 1
    data.write_text('{"text": "good"}\n{"label": "x"}\n')
    with pytest.raises(ftune.Error, match="gen.jsonl:2: no prompt"):
        lm.generate_file(data)


def test_adapter_create_save_load_merge(work, tmp_path):
    m = ftune.Model(work / "base")
    before = m.generate("good", max_new_tokens=8)
    m.add_adapter("lora", r=4, alpha=8, target_modules=["c_attn"], init="gaussian")
    info = m.info
    assert info["method"] == "lora" and 0 < info["n_trainable"] < info["n_params"]
    with pytest.raises(ftune.Error, match="already has a lora adapter"):
        m.add_adapter("lora", r=2)
    m.save_adapter(tmp_path / "ad")
    cfg = json.loads((tmp_path / "ad" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8 and cfg["target_modules"] == ["c_attn"]
    adapted = m.generate("good", max_new_tokens=8, details=True)
    m2 = ftune.Model(work / "base", adapter=tmp_path / "ad")
    assert m2.generate("good", max_new_tokens=8, details=True)["ids"].tolist() == adapted["ids"].tolist()
    m2.merge()
    assert m2.generate("good", max_new_tokens=8, details=True)["ids"].tolist() == adapted["ids"].tolist()
    m2.unmerge()
    assert isinstance(before, str)
    with pytest.raises(ftune.Error, match="not a method key"):
        ftune.Model(work / "base").add_adapter("lora", **{"optim.lr": 1})


def test_stop_and_evaluate(work):
    seen = []
    t = ftune.Trainer(yaml=RECIPE, overrides={"model": str(work / "base"), "data.train": str(work / "train.jsonl"),
                                              "output_dir": str(work / "out_stop"), "eval.every": 0},
                      on_step=lambda p: seen.append(p["step"]) or (p["step"] == 3 and t.stop()))
    info = t.run()
    assert info["stopped"] and info["step"] == 3 and seen == [1, 2, 3]
    assert not (work / "out_stop" / "adapter_model.safetensors").exists()
    assert any(p.startswith("step-") for p in os.listdir(work / "out_stop" / "checkpoints"))
    ev = t.evaluate("validation")
    assert {"loss", "accuracy"} <= set(ev) and math.isfinite(ev["loss"])
    with pytest.raises(ftune.Error, match="not validation or test"):
        t.evaluate("dev")
    t.close()


def test_stream_base_matches_mapped(work, tmp_path):
    """train.stream_base through the library's trainer: a 3-layer bf16 GPT-2 used in place, its layers streamed
    into slots (logged) trains to the mapped run's losses bit for bit."""
    (tmp_path / "g3.json").write_text('{"vocab_size": 32, "n_embd": 32, "n_layer": 3, "n_head": 4, "n_positions": 32}')
    sh("init", "--arch", "gpt2", "--config", str(tmp_path / "g3.json"), "--out", str(tmp_path / "b16"), "--seed", "3",
       "--dtype", "bf16")
    (tmp_path / "b16" / "vocab.txt").write_text((work / "vocab.txt").read_text())
    runs = {}
    for mode in ("false", "true"):
        steps, logs = [], []
        ftune.train(yaml=RECIPE, on_step=steps.append, on_log=logs.append, model=str(tmp_path / "b16"),
                    data__train=str(work / "train.jsonl"), output_dir=str(tmp_path / f"o_{mode}"),
                    train__max_steps=6, train__base_dtype="file", train__stream_base=mode, eval__every=0)
        runs[mode] = ([p["loss"] for p in steps], logs)
    assert len(runs["true"][0]) == 6 and runs["true"][0] == runs["false"][0]
    assert any(line.startswith("base streaming: on") for line in runs["true"][1])
    assert not any(line.startswith("base streaming") for line in runs["false"][1])


def test_errors_carry_the_message(work):
    with pytest.raises(ftune.Error, match="nowhere"):
        ftune.Model(work / "nowhere")
    with pytest.raises(ftune.Error, match="lora.rr"):
        ftune.Trainer(yaml=RECIPE, overrides={"lora.rr": 3})
    with pytest.raises(ftune.Error, match="classification"):
        ftune.Model(work / "base").classify("good")

    def boom(p):
        raise RuntimeError("from the callback")
    t = ftune.Trainer(yaml=RECIPE, overrides={"model": str(work / "base"), "data.train": str(work / "train.jsonl"),
                                              "output_dir": str(work / "out_boom")}, on_step=boom)
    with pytest.raises(RuntimeError, match="from the callback"):
        t.step()
    t.close()


DIGITS = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"


@pytest.mark.skipif(not os.path.exists(DIGITS), reason="needs python3-sklearn's digits.csv.gz")
def test_image_classification(work, tmp_path):
    """task image_classification through ftune.train on the digits pixel CSV (a LoRA adapter on a tiny
    ViT); classify_image on PNGs written here and evaluate on the CSV agree with the command."""
    PIL = pytest.importorskip("PIL.Image")
    import gzip
    (tmp_path / "v.json").write_text('{"image_size": 8, "patch_size": 4, "num_channels": 1, "hidden_size": 16, '
                                     '"num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}')
    sh("init", "--arch", "vit", "--config", str(tmp_path / "v.json"), "--out", str(tmp_path / "vit"), "--seed", "1")
    steps = []
    ftune.train(yaml="task: image_classification\nmethod: lora\ntrain: {max_steps: 30, batch_size: 16}\n"
                     "optim: {lr: 1e-2}\nreport: {tensorboard: false, html: false}\n",
                on_step=steps.append, model=str(tmp_path / "vit"), data__train=DIGITS, data__format="pixels",
                data__pixel_max=16, data__hflip=0, output_dir=str(tmp_path / "out"))
    assert len(steps) == 30
    assert (tmp_path / "out" / "preprocessor_config.json").exists()
    m = ftune.Model(tmp_path / "out")
    assert m.labels == [str(i) for i in range(10)]
    rows = np.loadtxt(gzip.open(DIGITS), delimiter=",")[:5]
    for i, r in enumerate(rows):
        p = tmp_path / f"d{i}.png"
        PIL.fromarray(np.floor(r[:-1] * 255 / 16 + 0.5).astype(np.uint8).reshape(8, 8), "L").save(p)
        label, probs = m.classify_image(p)
        cli = json.loads(sh("predict", "--model", str(tmp_path / "out"), "--image", str(p), "--json", "--top", "10"))
        assert label == cli["label"] and probs.shape == (10,)
        for e in cli["top"]:
            assert probs[int(e["label"])] == pytest.approx(e["prob"], abs=1e-6)
    ev = m.evaluate(DIGITS, batch_size=64)
    cli = json.loads(sh("eval", "--model", str(tmp_path / "out"), "--data", DIGITS, "--json"))
    assert ev["n_examples"] == cli["n_examples"] == 1797
    assert ev["accuracy"] == pytest.approx(cli["accuracy"], abs=1e-12)
    with pytest.raises(ftune.Error, match="not an image classifier"):
        ftune.Model(work / "base").classify_image(tmp_path / "d0.png")


def test_seq2seq(tmp_path):
    """task seq2seq through ftune.train: a tiny T5 (character tokenizer in T5's layout) on string reversal;
    Model.evaluate gives the command's loss and generated-text scores, Model.generate its text."""
    sp = ["<pad>", "</s>", "<unk>"]
    ms = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    part = [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}]
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text(json.dumps({
        "version": "1.0", "normalizer": None, "pre_tokenizer": ms, "decoder": ms,
        "added_tokens": [{"id": i, "content": t, "special": True} for i, t in enumerate(sp)],
        "post_processor": {"type": "TemplateProcessing", "single": part, "pair": part + part,
                           "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
        "model": {"type": "Unigram", "unk_id": 2,
                  "vocab": [[t, 0.0] for t in sp] + [["\u2581", -2.0]] + [[c, -3.0] for c in "abcdef"]}}))
    rnd = random.Random(4)
    with open(tmp_path / "rev.jsonl", "w") as f:
        for _ in range(300):
            s = "".join(rnd.choice("abcdef") for _ in range(rnd.randint(2, 5)))
            f.write(json.dumps({"source": s, "target": s[::-1]}) + "\n")
    (tmp_path / "t5.json").write_text('{"vocab_size": 16, "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, '
                                      '"num_heads": 4, "relative_attention_num_buckets": 8, "dropout_rate": 0}')
    sh("init", "--arch", "t5", "--config", str(tmp_path / "t5.json"), "--out", str(tmp_path / "t5"), "--seed", "2")
    evals = []
    ftune.train(yaml="task: seq2seq\ndata: {max_source_length: 8, max_target_length: 8}\n"
                     "train: {max_steps: 40, batch_size: 16}\noptim: {lr: 1e-2}\neval: {every: 20, generate_limit: 8}\n"
                     "report: {tensorboard: false, html: false}\n",
                on_eval=lambda s, m: evals.append(m), model=str(tmp_path / "t5"), tokenizer=str(tmp_path / "tok"),
                data__train=str(tmp_path / "rev.jsonl"), output_dir=str(tmp_path / "out"))
    assert len(evals) == 3 and all("rougeL" in e and "bleu" in e and "exact_match" in e for e in evals)
    m = ftune.Model(tmp_path / "out")
    ev = m.evaluate(tmp_path / "rev.jsonl", batch_size=32)
    cli = json.loads(sh("eval", "--model", str(tmp_path / "out"), "--data", str(tmp_path / "rev.jsonl"), "--json"))
    assert ev["n_examples"] == cli["n_examples"] == 300
    for k in ("loss", "rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "exact_match", "f1"):
        assert ev[k] == pytest.approx(cli[k], rel=1e-6, abs=1e-9), k
    assert m.generate("abcd") == sh("generate", "--model", str(tmp_path / "out"), "--prompt", "abcd").rstrip("\n")
