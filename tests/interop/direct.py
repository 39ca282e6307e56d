#!/usr/bin/env python3
"""Runs the interop cases without pytest (for a machine that has transformers and PEFT but no
pytest): the same steps (flows.py) in the same order, the same results files.
Usage: direct.py [-k TEXT]...   (a case runs when its id contains any TEXT; none: every case)
Env: FT_BIN, FT_INTEROP_OUT (results directory), FT_INTEROP_SHARD (i/n), FT_INTEROP_WORK (keep the
files there; default a temporary directory, removed). Prints one line per case and
"interop: N passed, N failed, N skipped"; exit 1 when a case failed, else 0 (all skipped too).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flows  # noqa: E402
import ftio  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", action="append", default=[], help="run the cases whose id contains this")
    a = ap.parse_args(argv)
    shard = os.environ.get("FT_INTEROP_SHARD")
    sel = [c for c in flows.all_cases()
           if flows.in_shard(c[2], shard) and (not a.k or any(k in c[0] for k in a.k))]
    missing = ftio.probe_hf()
    results = []
    if missing:
        line = ftio.SKIP_LINE.format(missing)
        print(line)
        results = [{"case": c[0], "feature": c[1], "outcome": "skipped", "seconds": 0.0, "message": line}
                   for c in sel]
        header = ftio.results_header(skipped=line)
    else:
        import hfside

        header = ftio.results_header(hfside.versions())
        work = os.environ.get("FT_INTEROP_WORK") or tempfile.mkdtemp(prefix="ftune-interop-")
        os.makedirs(work, exist_ok=True)
        ctx = flows.Context(hfside, work)
        for cid, feat, _kind, step, args in sel:
            summary, t0 = {}, time.time()
            rec = {"case": cid, "feature": feat}
            try:
                step(ctx, *args, summary)
                rec["outcome"] = "passed"
            except flows.Skip as e:
                rec.update(outcome="skipped", message=str(e))
            except Exception:  # noqa: BLE001 (every failure is recorded, the run goes on)
                rec.update(outcome="failed", message=traceback.format_exc()[-3000:]
                           + f"interop: this case needs {feat}: {ftio.feature_text(feat)}\n")
            rec["seconds"] = round(time.time() - t0, 2)
            rec.update(summary)
            results.append(rec)
            print(f"{rec['outcome']:8} {cid}" + (f"  [needs {feat}]\n{rec['message']}" if rec["outcome"] == "failed"
                                                 else ""), flush=True)
        if not os.environ.get("FT_INTEROP_WORK"):
            shutil.rmtree(work, ignore_errors=True)
    header["runner"] = "direct.py"
    counts = {k: sum(r["outcome"] == k for r in results) for k in ("passed", "failed", "skipped")}
    if os.environ.get("FT_INTEROP_OUT"):
        ftio.write_results(os.environ["FT_INTEROP_OUT"], header, results)
    print(f"interop: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
