"""pytest set-up of the interop suite (docs/interop.md).

Without transformers and PEFT every case is skipped with one line saying so. Each case carries the
ftune feature it needs (`@pytest.mark.feature(...)`, see ftio.FEATURES); a failure names it. With
FT_INTEROP_OUT=DIR the session writes DIR/interop-results.json and DIR/interop-results.txt;
FT_INTEROP_SHARD=i/n runs only the model kinds whose index % n == i (run.sh runs n processes).
"""
import datetime
import os
import subprocess
import sys
import time
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ftio  # noqa: E402

# Everything is built locally: never wait on the Hugging Face Hub (the lent machine has no network).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _probe():
    """None when torch, transformers and peft all import; else what failed, per module."""
    bad = []
    for mod in ("torch", "transformers", "peft"):
        try:
            __import__(mod)
        except Exception as e:  # noqa: BLE001 (any import failure means: skip)
            bad.append(f"{mod}: {type(e).__name__}: {e}")
    return "; ".join(bad) or None


HF_MISSING = _probe()
SKIP_LINE = "interop: skipped: transformers/peft not importable ({})"
_RESULTS = []


def pytest_configure(config):
    config.addinivalue_line("markers", "feature(name): the ftune feature a case needs (ftio.FEATURES)")


def pytest_report_header(config):
    if HF_MISSING:
        return SKIP_LINE.format(HF_MISSING)
    import hfside

    try:
        ft = ftio.ftune_bin()
    except ftio.FtuneError as e:
        ft = str(e)
    return "interop: " + ", ".join(f"{k} {v}" for k, v in hfside.versions().items()) + f"; ftune {ft}"


def _shard_of(item):
    kind = item.callspec.params.get("kind") if hasattr(item, "callspec") else None
    import cases

    return cases.KINDS.index(kind) if kind in cases.KINDS else 0


def pytest_collection_modifyitems(config, items):
    shard = os.environ.get("FT_INTEROP_SHARD")  # "i/n": this process runs the kinds with index % n == i
    if shard:
        i, n = (int(v) for v in shard.split("/"))
        keep = [it for it in items if _shard_of(it) % n == i]
        config.hook.pytest_deselected(items=[it for it in items if it not in keep])
        items[:] = keep
    if HF_MISSING:
        mark = pytest.mark.skip(reason=SKIP_LINE.format(HF_MISSING))
        for it in items:
            it.add_marker(mark)


def _feature(item):
    m = item.get_closest_marker("feature")
    return m.args[0] if m else "base"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    feat = _feature(item)
    if rep.failed:
        rep.sections.append(("interop: this case needs", f"{feat}: {ftio.feature_text(feat)}"))
    if rep.when == "call" or (rep.when == "setup" and not rep.passed):
        rec = {"case": item.callspec.id if hasattr(item, "callspec") else item.name, "test": item.nodeid,
               "feature": feat, "outcome": rep.outcome, "seconds": round(rep.duration, 2)}
        rec.update(getattr(item, "interop_summary", {}))
        if rep.failed:
            rec["message"] = str(rep.longrepr)[-3000:]
        elif rep.skipped and isinstance(rep.longrepr, tuple):
            rec["message"] = rep.longrepr[2]
        _RESULTS.append(rec)


def _git_commit():
    try:
        return subprocess.run(["git", "-C", ftio.SRC, "describe", "--always", "--dirty"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("FT_INTEROP_OUT")
    if not out:
        return
    header = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "ftune": ftio.ftune_version(), "ftune_commit": _git_commit(),
              "ftune_bin": os.environ.get("FT_BIN") or os.path.join(ftio.SRC, "build", "ftune")}
    header.update(ftio.machine_info())
    if HF_MISSING:
        header["skipped"] = SKIP_LINE.format(HF_MISSING)
    else:
        import hfside

        header.update(hfside.versions())
    ftio.write_results(out, header, _RESULTS)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if HF_MISSING:
        terminalreporter.write_line(SKIP_LINE.format(HF_MISSING))


@pytest.fixture
def summary(request):
    """A dict the test fills with its measured errors; it lands in the results file."""
    d = {}
    request.node.interop_summary = d
    return d


@pytest.fixture(scope="session")
def hf():
    import hfside

    return hfside


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    d = os.environ.get("FT_INTEROP_WORK")
    if d:
        os.makedirs(d, exist_ok=True)
        return d
    return str(tmp_path_factory.mktemp("interop"))


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


@pytest.fixture(scope="session")
def bases(hf, work):
    return Bases(hf, work)


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


@pytest.fixture(scope="session")
def adapters(hf, bases, work):
    return Adapters(hf, bases, work)


@pytest.fixture(scope="session")
def trained(bases, work):
    return Trained(bases, work)
