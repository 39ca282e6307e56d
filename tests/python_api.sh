#!/usr/bin/env bash
# The Python binding (python/, pure ctypes): installs offline with pip into a temporary directory, then
# Debian's python3-pytest runs python/tests/ against the built libftune.so (FTUNE_LIBRARY) and the ftune
# command. Skipped (77) without python3-pytest / -numpy / -setuptools / -pip, and under the sanitizers (FT_SANITIZED=1:
# an ASan-built libftune.so cannot be loaded into an uninstrumented python3 without LD_PRELOAD of the
# runtime; the C side of the same calls is covered there by api_install.sh).
set -euo pipefail
FT=${FT_BIN:?}
SRC=${FT_SRC:?}
PY=/usr/bin/python3
if [ "${FT_SANITIZED:-0}" = 1 ]; then echo "python_api: skipped under the sanitizers"; exit 77; fi
if ! $PY -c 'import pytest, numpy, setuptools, pip' 2>/dev/null; then
  echo "python_api: python3-pytest, -numpy, -setuptools or -pip missing (scripts/install-deps.sh), skipped"; exit 77
fi
lib=$(ls "$(dirname "$FT")"/libftune.so.* 2>/dev/null | head -1)
[ -n "$lib" ] || { echo "python_api: no libftune.so next to $FT (build the ftune_shared target)"; exit 1; }
W=$(mktemp -d /tmp/ft_py.XXXXXX)
trap 'rm -rf "$W"' EXIT
# offline install (no index; the system's setuptools; numpy from Debian) into a private directory
cp -r "$SRC/python" "$W/pkg" # pip builds in the source directory: a copy keeps the tree clean
rm -rf "$W/pkg/build" "$W/pkg/"*.egg-info
$PY -m pip install --quiet --no-index --no-build-isolation --no-deps --target "$W/site" "$W/pkg" > "$W/pip.log" 2>&1 ||
  { cat "$W/pip.log"; exit 1; }
[ -f "$W/site/ftune/__init__.py" ] || { echo "python_api: pip did not install the package"; exit 1; }
cd "$W"
export OMP_NUM_THREADS=1 FTUNE_LIBRARY=$lib FT_BIN=$FT PYTHONPATH=$W/site
$PY -m pytest -q -p no:cacheprovider "$SRC/python/tests"
