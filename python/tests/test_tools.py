"""score(), image_info() / preprocess_image() / write_image_config() and train_tokenizer() against the
`ftune score`, `ftune image` and `ftune tokenizer train` commands (the same library calls behind both)."""
import gzip
import json
import math
import os
import struct
import subprocess

import numpy as np
import pytest

import ftune

FT = os.environ["FT_BIN"]


def sh(*args):
    return subprocess.run([FT, *args], capture_output=True, text=True, check=True).stdout


HYP = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
REFS = [["The dog bit the man.", "The dog had bit the man."], ["It was not unexpected.", "No one was surprised."],
        ["The man bit him first.", "The man had bitten the dog."]]


def test_score_matches_the_command(tmp_path):
    (tmp_path / "hyp.txt").write_text("\n".join(HYP) + "\n")
    (tmp_path / "refs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in REFS))
    assert ftune.score_metrics() == ["bleu", "rouge", "squad", "classification", "regression"]
    for metric, stem in [("bleu", False), ("rouge", False), ("rouge", True), ("squad", False)]:
        args = ["score", "--metric", metric, "--pred", str(tmp_path / "hyp.txt"), "--ref",
                str(tmp_path / "refs.jsonl")] + (["--stemmer"] if stem else [])
        want = json.loads(sh(*args, "--json"))
        got, report = ftune.score(metric, HYP, REFS, stemmer=stem, report=True)
        assert report == sh(*args)
        if metric == "bleu":  # the precisions array expanded in place
            p = want.pop("precisions")
            want = {"bleu": want.pop("bleu"), **{f"precision_{i + 1}": v for i, v in enumerate(p)}, **want}
            assert report.startswith("BLEU = 48.53 ")
        assert list(got) == list(want)
        for k, v in want.items():
            assert got[k] == pytest.approx(v, rel=1e-12, abs=1e-12), (metric, k)
    # one reference each, the label and number metrics
    cls = ftune.score("classification", ["a", "b", "a", "b"], ["a", "a", "b", "b"])
    assert cls["accuracy"] == 0.5 and len(cls) == 10
    reg = ftune.score("regression", ["1"], ["1"])
    assert reg["mse"] == 0 and math.isnan(reg["r2"])
    with pytest.raises(ftune.Error, match="unknown metric 'blue'"):
        ftune.score("blue", HYP, REFS)
    with pytest.raises(ftune.Error, match="predictions:2: not a number: 'x'"):
        ftune.score("regression", ["1", "x"], ["1", "2"])
    with pytest.raises(ftune.Error, match="3 predictions but 2 references"):
        ftune.score("bleu", HYP, REFS[:2])


def test_image_files_match_the_command(tmp_path):
    idx = tmp_path / "two.idx3.gz"  # two 4x3 images, bytes 0..23
    idx.write_bytes(gzip.compress(struct.pack(">IIII", 0x803, 2, 4, 3) + bytes(range(24))))
    info = ftune.image_info(idx)
    want = json.loads(sh("image", "info", "--json", str(idx)))
    assert {k: v for k, v in want.items() if k != "file"} == info
    assert info["format"] == "IDX" and info["count"] == 2 and (info["width"], info["height"]) == (3, 4)
    for args in [dict(size=6, channels=3, index=1), dict(size=5, channels=1, resample=3),
                 dict(size=7, channels=3, index=1, augment=True, seed=4, epoch=2)]:
        cli = ["image", "preprocess", "--json", "--size", str(args["size"]), "--channels", str(args["channels"])]
        cli += ["--index", str(args.get("index", 0))]
        if "resample" in args:
            cli += ["--resample", str(args["resample"])]
        if args.get("augment"):
            cli += ["--augment", "--seed", str(args["seed"]), "--epoch", str(args["epoch"])]
        want = json.loads(sh(*cli, str(idx)))
        px = ftune.preprocess_image(idx, **args)
        assert px.dtype == np.float32 and list(px.shape) == want["shape"]
        assert np.array_equal(px.ravel(), np.array(want["pixel_values"], dtype=np.float32))
    cfg = tmp_path / "pp.json"
    ftune.write_image_config(cfg, size=3, channels=1, resample=0)
    sh("image", "config", "--size", "3", "--channels", "1", "--resample", "0", str(tmp_path / "cli.json"))
    assert cfg.read_bytes() == (tmp_path / "cli.json").read_bytes()
    assert ftune.preprocess_image(idx, config=cfg, channels=1).shape == (1, 3, 3)
    with pytest.raises(ftune.Error, match="image index 2 out of range"):
        ftune.preprocess_image(idx, index=2)
    with pytest.raises(ftune.Error, match="size 0"):
        ftune.write_image_config(cfg, size=0)


def test_train_tokenizer_matches_the_command(tmp_path):
    lines = ["the cat sat on the mat", "then the rat ate the hat<|endoftext|>", "a theme for the thesis"] * 30
    (tmp_path / "a.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "b.jsonl").write_text('{"body": "the end"}\n{"body": "then again"}\n')
    st = ftune.train_tokenizer(tmp_path / "py", files=[tmp_path / "a.txt"], jsonl=[tmp_path / "b.jsonl"],
                               field="body", vocab_size=280, special=["<|endoftext|>", "<pad>"],
                               model_max_length=128, threads=2)
    out = sh("tokenizer", "train", "--files", str(tmp_path / "a.txt"), "--jsonl", str(tmp_path / "b.jsonl"),
             "--field", "body", "--vocab-size", "280", "--special", "<|endoftext|>,<pad>", "--model-max-length",
             "128", "--out", str(tmp_path / "cli"))
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        assert (tmp_path / "py" / f).read_bytes() == (tmp_path / "cli" / f).read_bytes(), f
    assert f"merges     {st['merges']} learned" in out and f"{st['sequences']} sequences" in out
    assert st["vocab_size"] == 280 and st["stop"] == "vocab size reached" and st["sequences"] == 92
    tok = ftune.Tokenizer(tmp_path / "py")
    ids = tok.encode("the cat<|endoftext|>", add_special=False)
    assert ids[-1] == 0 and len(ids) < len("the cat") + 1 and tok.decode(ids, skip_special=False) == "the cat<|endoftext|>"
    # texts in memory are sequences line by line, as a file's
    st2 = ftune.train_tokenizer(tmp_path / "mem", texts=["\n".join(lines) + "\n", "the end\nthen again\n"],
                                vocab_size=280, special=["<|endoftext|>", "<pad>"], model_max_length=128)
    assert (tmp_path / "mem" / "tokenizer.json").read_bytes() == (tmp_path / "py" / "tokenizer.json").read_bytes()
    assert st2["sequences"] == st["sequences"]
    with pytest.raises(ftune.Error, match="vocab size 100"):
        ftune.train_tokenizer(tmp_path / "x", texts=["a"], vocab_size=100)
    with pytest.raises(ftune.Error, match="nope.txt"):
        ftune.train_tokenizer(tmp_path / "x", files=[tmp_path / "nope.txt"])


def test_answer_matches_ftune_predict(tmp_path):
    """A tiny BERT trained on generated SQuAD-style data (scripts/gen_qa_data.py): Model.answer gives what
    `ftune predict --json` prints."""
    src = os.environ.get("FT_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")
    gen = os.path.join(src, "scripts", "gen_qa_data.py")
    if not os.path.exists(gen):
        pytest.skip("no scripts/gen_qa_data.py")
    d = tmp_path / "d"
    subprocess.run(["/usr/bin/python3", gen, str(d), "--train", "300", "--validation", "20", "--test", "20",
                    "--people-min", "1", "--people-max", "1"], check=True, capture_output=True)
    v = len((d / "vocab.txt").read_text().splitlines())
    (tmp_path / "bert.json").write_text(json.dumps({"vocab_size": v, "hidden_size": 32, "num_hidden_layers": 1,
                                                    "num_attention_heads": 4, "intermediate_size": 64,
                                                    "max_position_embeddings": 64, "type_vocab_size": 2}))
    sh("init", "--arch", "bert", "--config", str(tmp_path / "bert.json"), "--out", str(tmp_path / "base"), "--seed", "3")
    (tmp_path / "base" / "vocab.txt").write_text((d / "vocab.txt").read_text())
    ftune.train(yaml="task: question_answering\ndata: {doc_stride: 16}\ntrain: {max_steps: 20, batch_size: 16, "
                     "seq_len: 40}\noptim: {lr: 1e-3}\neval: {every: 0}\nreport: {tensorboard: false}\n",
                model=str(tmp_path / "base"), data__train=str(d / "train.json"), output_dir=str(tmp_path / "out"))
    q, c = "What does Ada Keller do?", "Ada Keller was born in Paris in 1950. Ada Keller works as a pilot in Oslo."
    m = ftune.Model(tmp_path / "out")
    got = m.answer(q, c)
    want = json.loads(sh("predict", "--model", str(tmp_path / "out"), "--question", q, "--context", c, "--json"))
    assert got["answer"] == want["answer"] and got["answer"] in c
    for k in ("score", "prob", "null_score"):  # cJSON prints 15 digits when they read back within its epsilon
        assert got[k] == pytest.approx(want[k], rel=1e-13, abs=1e-15), k
    one = m.answer(q, c, max_answer_length=1)
    assert " " not in one["answer"] and one["answer"] in c
    with pytest.raises(ftune.Error, match="not question_answering"):
        ftune.Model(tmp_path / "base").answer(q, c)
