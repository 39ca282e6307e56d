#!/usr/bin/env bash
# Release build of libftune and the ftune command into build/ (FT_NATIVE=OFF for a portable build).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFT_NATIVE="${FT_NATIVE:-ON}" >/dev/null
cmake --build build -j"$(nproc)"
