#!/usr/bin/env bash
# ctest entry of the interop suite (tests/interop/, docs/interop.md): ftune against the real
# transformers and PEFT. Here it checks what can be checked without those libraries: every file
# compiles, tests/interop/selfcheck.py (the suite's plumbing on real ftune runs, against the
# project's own references) passes, and pytest (and direct.py, the runner without pytest) collect
# every case and skip it with one line.
# Then, without transformers/peft (Debian packages neither), it exits 77 (skipped) saying so; with
# them it runs the suite and returns its status.
# Env: FT_BIN, FT_SRC, FT_PYTHON (/usr/bin/python3).
set -u
PY=${FT_PYTHON:-/usr/bin/python3}
SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
export FT_BIN=${FT_BIN:-$SRC/build/ftune} PYTHONDONTWRITEBYTECODE=1
DIR=$SRC/tests/interop

if ! "$PY" -c "import numpy, torch" >/dev/null 2>&1; then
    echo "interop: skipped: $PY cannot import numpy and torch (install python3-numpy python3-torch)"
    exit 77
fi
for f in "$DIR"/*.py; do
    "$PY" -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' "$f" || { echo "interop: FAIL $f does not compile"; exit 1; }
done
"$PY" "$DIR/selfcheck.py" || { echo "interop: FAIL selfcheck.py"; exit 1; }

probe=$("$PY" - <<'PYEOF'
bad = []
for mod in ("torch", "transformers", "peft"):
    try:
        __import__(mod)
    except Exception as e:
        bad.append(f"{mod}: {type(e).__name__}: {e}")
print("; ".join(bad))
PYEOF
)
if ! "$PY" -c "import pytest" >/dev/null 2>&1; then
    if [ -n "$probe" ]; then
        echo "interop: skipped: transformers/peft not importable ($probe); pytest missing too (apt-get install python3-pytest)"
    else
        echo "interop: skipped: pytest is not importable by $PY (apt-get install python3-pytest)"
    fi
    exit 77
fi
log=$(mktemp "${TMPDIR:-/tmp}/ftune-interop.XXXXXX")
trap 'rm -f "$log"' EXIT
(cd "$SRC" && "$PY" -m pytest -p no:cacheprovider -q -rfE tests/interop) >"$log" 2>&1
rc=$?
if [ -n "$probe" ]; then
    # Without the libraries every case must be collected and skipped, with the one clear line.
    line="interop: skipped: transformers/peft not importable ($probe)"
    if [ "$rc" -ne 0 ] || ! grep -qF "$line" "$log" || ! grep -qE '^[0-9]+ skipped in ' "$log" || grep -qE 'error|passed|failed' "$log"; then
        echo "interop: FAIL pytest did not skip the suite cleanly (status $rc):"
        sed 's/^/    /' "$log"
        exit 1
    fi
    n=$(grep -oE '^[0-9]+ skipped' "$log" | grep -oE '^[0-9]+')
    want=$(cd "$DIR" && "$PY" -c 'import flows; print(len(flows.all_cases()))')
    if [ "$n" != "$want" ]; then
        echo "interop: FAIL pytest collected $n cases, flows.all_cases() lists $want"
        exit 1
    fi
    echo "interop: pytest collected $n cases (as flows.all_cases() lists them) and skipped them all"
    # the runner for machines without pytest must do the same
    if ! "$PY" "$DIR/direct.py" >"$log" 2>&1 || ! grep -qF "$line" "$log" \
        || ! grep -qx "interop: 0 passed, 0 failed, $want skipped" "$log"; then
        echo "interop: FAIL direct.py did not skip the suite cleanly:"
        sed 's/^/    /' "$log"
        exit 1
    fi
    echo "interop: direct.py skipped them all too"
    echo "$line"
    exit 77
fi
cat "$log"
exit "$rc"
