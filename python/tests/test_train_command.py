"""ftune.train_command and ftune.recipe_help (ftune_trainer_create with the command's options) against the
`ftune train` command: the same texts (up to the timings and the free memory), the same outputs, the same
messages. Run by tests/python_api.sh."""
import json
import os
import re
import subprocess

import pytest

import ftune

FT = os.environ["FT_BIN"]
WORDS = "good bad fine awful the it".split()


def masked(text):
    text = re.sub(r"[0-9.]+[kM]? tok/s", "N tok/s", text)
    text = re.sub(r"[0-9.]+ GiB available", "N GiB available", text)
    return re.sub(r"of [0-9.]+ MiB \(MemAvailable", "of N MiB (MemAvailable", text)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    w = tmp_path_factory.mktemp("fttc")
    (w / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + WORDS) + "\n")
    rows = [{"text": "good fine the it", "label": "pos"}, {"text": "bad awful it the", "label": "neg"}] * 20
    for name, n in (("train", 40), ("val", 8), ("test", 6)):
        with open(w / f"{name}.jsonl", "w") as f:
            for r in rows[:n]:
                f.write(json.dumps(r) + "\n")
    (w / "g.json").write_text('{"vocab_size": 16, "n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 16}')
    subprocess.run([FT, "init", "--arch", "gpt2", "--config", str(w / "g.json"), "--out", str(w / "base"),
                    "--seed", "1"], check=True, capture_output=True)
    (w / "base" / "vocab.txt").write_text((w / "vocab.txt").read_text())
    (w / "r.yaml").write_text("model: base\ntask: classification\n"
                              "data: {train: train.jsonl, validation: val.jsonl, test: test.jsonl}\n"
                              "train: {max_steps: 4, batch_size: 4, seq_len: 8}\noptim: {lr: 1e-2}\n"
                              "report: {tensorboard: false, progress: quiet}\n")
    return w


def test_same_texts_and_model_as_the_command(work, monkeypatch):
    monkeypatch.chdir(work)
    cli = subprocess.run([FT, "train", "r.yaml", "output_dir=cli"], capture_output=True, text=True, check=True)
    seen = []
    r = ftune.train_command("r.yaml", "output_dir=api", on_output=lambda s, t: seen.append(s))
    assert masked(r["stdout"]) == masked(cli.stdout).replace("saved cli", "saved api")
    assert r["stderr"] == cli.stderr == ""
    assert "test: loss " in r["stdout"] and " accuracy " in r["stdout"] and " f1_macro " in r["stdout"]
    assert set(seen) == {1}
    st = r["state"]
    assert st["done"] and st["finished"] and not st["stopped"] and st["step"] == 4 and st["world"] == 1
    assert (work / "cli" / "model.safetensors").read_bytes() == (work / "api" / "model.safetensors").read_bytes()
    assert (work / "api" / "report.html").exists()


def test_dry_run_and_keys(work, monkeypatch):
    monkeypatch.chdir(work)
    cli = subprocess.run([FT, "train", "r.yaml", "output_dir=dcli", "method=lora", "--dry-run"],
                         capture_output=True, text=True, check=True)
    r = ftune.train_command("r.yaml", "output_dir=dapi", dry_run=True, method="lora")
    assert masked(r["stdout"]) == masked(cli.stdout)
    assert r["stdout"].endswith("dry run: the plan fits; nothing trained\n")
    assert r["state"]["done"] and not r["state"]["finished"] and r["state"]["step"] == 0
    assert not (work / "dapi" / "model.safetensors").exists()


def test_errors_are_the_commands(work, monkeypatch):
    monkeypatch.chdir(work)
    for args in (["optim.lrr=1"], ["output_dir=e", "optim.lr=-1"], ["output_dir=e", "resume=nowhere"]):
        cli = subprocess.run([FT, "train", "r.yaml", *args], capture_output=True, text=True)
        assert cli.returncode == 1
        with pytest.raises(ftune.Error) as e:
            ftune.train_command("r.yaml", *args)
        assert cli.stderr == f"ftune train: {e.value.message}\n"


def test_recipe_help_is_the_commands(work):
    cli = subprocess.run([FT, "train", "--help"], capture_output=True, text=True, check=True).stdout
    keys = ftune.recipe_help()
    assert "optim.lr" in keys and cli.endswith(keys)
