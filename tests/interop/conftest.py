"""pytest set-up of the interop suite (docs/interop.md).

Without transformers and PEFT every case is skipped with one line saying so. Each case carries the
ftune feature it needs (`@pytest.mark.feature(...)`, see ftio.FEATURES); a failure names it. With
FT_INTEROP_OUT=DIR the session writes DIR/interop-results.json and DIR/interop-results.txt;
FT_INTEROP_SHARD=i/n runs only the model kinds whose index % n == i (run.sh runs n processes).
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flows  # noqa: E402
import ftio  # noqa: E402

HF_MISSING = ftio.probe_hf()
SKIP_LINE = ftio.SKIP_LINE
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


def pytest_collection_modifyitems(config, items):
    shard = os.environ.get("FT_INTEROP_SHARD")  # "i/n": this process runs the kinds with index % n == i
    if shard:
        keep = [it for it in items if flows.in_shard(it.callspec.params.get("kind") if hasattr(it, "callspec")
                                                     else None, shard)]
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


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("FT_INTEROP_OUT")
    if not out:
        return
    if HF_MISSING:
        header = ftio.results_header(skipped=SKIP_LINE.format(HF_MISSING))
    else:
        import hfside

        header = ftio.results_header(hfside.versions())
    header["runner"] = "pytest"
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


@pytest.fixture(scope="session")
def ctx(hf, work):
    """The session's caches of bases, PEFT adapters and ftune outputs (flows.Context)."""
    return flows.Context(hf, work)


def run_step(step, ctx, args, summary):
    """Runs a flows step; its Skip becomes pytest's skip."""
    try:
        step(ctx, *args, summary)
    except flows.Skip as e:
        pytest.skip(str(e))


def params(select):
    """pytest parameters (kind, step, args) of the flows.all_cases() entries that select() takes, each
    with its case id and its feature mark."""
    return [pytest.param(kind, step, args, id=cid, marks=pytest.mark.feature(feat))
            for cid, feat, kind, step, args in flows.all_cases() if select(step)]
