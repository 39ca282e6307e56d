"""Model.tag / tag_file, Model.generate_seq2seq and Model.evaluate_report against `ftune predict` and `ftune
eval` on the same models (the library calls behind both)."""
import json
import os
import random
import subprocess

import pytest

import ftune

FT = os.environ["FT_BIN"]


def sh(*args, cwd=None):
    return subprocess.run([FT, *args], capture_output=True, text=True, check=True, cwd=cwd).stdout


def test_tagging_matches_the_commands(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "alice", "bob", "paris", "rome", "the", "met", "in",
             "smith", "john", "##son"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    r = random.Random(3)
    rows = []
    for _ in range(120):
        toks, tags = [], []
        for _ in range(r.randint(3, 7)):
            w = r.choice(["alice", "bob", "paris", "rome", "the", "met", "in", "smith", "johnson"])
            toks.append(w)
            tags.append({"alice": "B-PER", "bob": "B-PER", "paris": "B-LOC", "rome": "B-LOC", "smith": "I-PER",
                         "johnson": "I-PER"}.get(w, "O"))
        rows.append(json.dumps({"tokens": toks, "tags": tags}))
    (tmp_path / "train.jsonl").write_text("\n".join(rows[:100]) + "\n")
    (tmp_path / "test.jsonl").write_text("\n".join(rows[100:]) + "\n")
    (tmp_path / "bert.json").write_text(json.dumps({"vocab_size": len(vocab), "hidden_size": 32, "num_hidden_layers": 1,
                                                    "num_attention_heads": 4, "intermediate_size": 64,
                                                    "max_position_embeddings": 40}))
    sh("init", "--arch", "bert", "--config", "bert.json", "--out", "base", "--seed", "3", cwd=tmp_path)
    (tmp_path / "base" / "vocab.txt").write_text((tmp_path / "vocab.txt").read_text())
    (tmp_path / "r.yaml").write_text("model: base\ntask: token_classification\noutput_dir: out\ndata: {train: "
                                     "train.jsonl}\ntrain: {max_steps: 20, batch_size: 8, seq_len: 16}\n"
                                     "report: {progress: quiet, tensorboard: false, html: false}\n")
    sh("train", "r.yaml", cwd=tmp_path)
    with ftune.Model(tmp_path / "out") as m:
        assert m.seq_len == 16
        words = ["alice", "johnson", "met", "bob", "in", "rome"]
        tags = m.tag(words)
        assert sh("predict", "--model", "out", "--text", " ".join(words), cwd=tmp_path) == \
            "".join(f"{w}\t{t}\n" for w, t in zip(words, tags)) + "\n"
        got = m.tag_file(tmp_path / "test.jsonl")
        assert len(got) == 20 and got[0][0] == f"{tmp_path / 'test.jsonl'}:1"
        lines = sh("predict", "--model", "out", "--jsonl", "test.jsonl", "--json", cwd=tmp_path).splitlines()
        assert [json.loads(x) for x in lines] == [{"tokens": w, "tags": t} for _, w, t in got]
        rep = m.evaluate_report(tmp_path / "test.jsonl", batch_size=16)
        assert rep["json"] == json.loads(sh("eval", "--model", "out", "--data", "test.jsonl", "--json", "--batch-size",
                                            "16", cwd=tmp_path))
        assert rep["task"] == "token_classification" and rep["n_examples"] == 20 and rep["unknown_tags"] == 0
        assert rep["metrics"]["accuracy"] == rep["json"]["accuracy"] == m.evaluate(tmp_path / "test.jsonl")["accuracy"]
        table = sh("eval", "--model", "out", "--data", "test.jsonl", "--batch-size", "16", cwd=tmp_path)
        assert table.split("\n", 1)[1] == rep["table"]
        with pytest.raises(ftune.Error, match="word 1 is empty"):
            m.tag(["alice", ""])
        with pytest.raises(ftune.Error, match="not seq2seq"):
            m.generate_seq2seq("alice")
        with pytest.raises(ftune.Error, match="predictions is for a seq2seq model"):
            m.evaluate_report(tmp_path / "test.jsonl", predictions=tmp_path / "p.jsonl")
