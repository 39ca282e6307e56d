"""Dataset.read_file / clean / augment / split / write_jsonl, recipe_splits(), baseline(), init_checkpoint(),
inspect_checkpoint(), dump() and merge() against the `ftune data`, `baseline`, `init`, `inspect`, `dump` and
`merge` commands (the same library calls behind both)."""
import json
import os
import subprocess

import pytest

import ftune

FT = os.environ["FT_BIN"]


def sh(*args, cwd=None):
    return subprocess.run([FT, *args], capture_output=True, text=True, check=True, cwd=cwd).stdout


ROWS = [{"text": "good film", "label": "pos"}, {"text": "good film", "label": "pos"},
        {"text": "<b>bad</b> &amp; sad", "label": "neg"}, {"text": "", "label": "neg"},
        {"text": "a   fine  one", "label": "pos"}]


def test_data_matches_the_command(tmp_path):
    src = tmp_path / "d.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    d = ftune.Dataset().read_file(src)
    assert len(d) == 5 and d[2] == {"text": "<b>bad</b> &amp; sad", "label": "neg"}
    stats, summary = d.clean(name=str(src), summary=True, clean_html=True)
    assert stats["in"] == 5 and stats["out"] == 3 and stats["dup_exact"] == 1 and stats["garbled"] == 1
    assert [r["text"] for r in (d[0], d[1], d[2])] == ["good film", "bad & sad", "a fine one"]
    d.write_jsonl(tmp_path / "api.jsonl")
    out = sh("data", "--input", str(src), "--out", str(tmp_path / "cli.jsonl"), "--html")
    assert summary in out
    assert (tmp_path / "api.jsonl").read_text() == (tmp_path / "cli.jsonl").read_text()
    with pytest.raises(ValueError):
        d.clean(no_such_option=1)
    with pytest.raises(ftune.Error, match="near_dup_threshold"):
        d.clean(near_dup_threshold=0.0)
    with pytest.raises(IndexError):
        d[3]


def test_augment_and_split(tmp_path):
    d = ftune.Dataset([{"text": f"the quick brown fox number {i} jumps", "label": f"l{i % 2}"} for i in range(20)])
    tr, va, te = d.split(0.2, 0.2, seed=7)
    assert (len(tr), len(va), len(te)) == (12, 4, 4)
    assert sorted(r["label"] for r in va) == ["l0", "l0", "l1", "l1"]
    added = tr.augment(1, aug_p_insert=0, aug_p_synonym=0, seed=3)
    assert added > 0 and len(tr) == 12 + added


def test_recipe_splits_and_baseline_match_the_command(tmp_path):
    rows = [{"text": "good great fine", "label": "pos"}, {"text": "bad awful poor", "label": "neg"}] * 40
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "b.yaml").write_text("model: none\ntask: classification\noutput_dir: out\ndata: {train: b.jsonl}\n")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        lines = []
        tr, va, te = ftune.recipe_splits("b.yaml", on_log=lines.append, data__val_ratio=0.25)
        assert lines[0] == "read b.jsonl: 80 rows"
        va.write_jsonl("api.validation.jsonl")
        sh("data", "--recipe", "b.yaml", "--splits-out", "cli", "data.val_ratio=0.25", cwd=tmp_path)
        assert open("api.validation.jsonl").read() == open("cli.validation.jsonl").read()
        assert len(tr) + len(va) + len(te) == 80
        got, report = ftune.baseline("b.yaml", alpha=0.5, report=True)
        assert got == json.loads(sh("baseline", "--recipe", "b.yaml", "--alpha", "0.5", "--json", cwd=tmp_path))
        assert sh("baseline", "--recipe", "b.yaml", "--alpha", "0.5", cwd=tmp_path).endswith(report)
        assert got["validation"]["accuracy"] == 1.0
        with pytest.raises(ftune.Error, match="no_such.key"):
            ftune.baseline("b.yaml", no_such__key=1)
    finally:
        os.chdir(old)


def test_checkpoint_tools_match_the_command(tmp_path):
    cfg = {"vocab_size": 64, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32}
    assert "gpt2" in ftune.checkpoint_archs() and "t5" in ftune.checkpoint_archs()
    info = ftune.init_checkpoint(tmp_path / "api", "gpt2", cfg, seed=3)
    assert info["model_type"] == "gpt2" and info["n_params"] == 28544 and info["task"] == "causal_lm"
    (tmp_path / "g.json").write_text(json.dumps(cfg))
    assert sh("init", "--arch", "gpt2", "--config", str(tmp_path / "g.json"), "--out", str(tmp_path / "cli"),
              "--seed", "3") == f"wrote {tmp_path / 'cli'}: gpt2, 28544 parameters\n"
    assert (tmp_path / "api/model.safetensors").read_bytes() == (tmp_path / "cli/model.safetensors").read_bytes()
    assert ftune.inspect_checkpoint(tmp_path / "api", tensors=True) == sh("inspect", str(tmp_path / "api"), "--tensors")
    (tmp_path / "batch.json").write_text(json.dumps({"input_ids": [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]}))
    loss, n = ftune.dump(tmp_path / "api", tmp_path / "batch.json", tmp_path / "api.st")
    out = sh("dump", "--model", str(tmp_path / "api"), "--batch", str(tmp_path / "batch.json"), "--out",
             str(tmp_path / "cli.st"))
    assert out.startswith(f"loss {loss:.6f} over {n} targets")
    assert (tmp_path / "api.st").read_bytes() == (tmp_path / "cli.st").read_bytes()
    with pytest.raises(ftune.Error, match="'gpt3'"):
        ftune.init_checkpoint(tmp_path / "x", "gpt3", cfg)
    with pytest.raises(ftune.Error, match="missing-adapter"):
        ftune.merge(tmp_path / "api", tmp_path / "missing-adapter", tmp_path / "m")
