#!/usr/bin/env bash
# Installs every Debian package ftune's build, tests and benchmarks need. Idempotent; runs as
# root or through sudo. Usage: scripts/install-deps.sh [--no-test]
#   --no-test: what building and the demo need (compilers, libraries, node/npm to fetch the demo's
#   tokenizer and corpus, WordNet for augmentation), without the Python references the tests use.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# libpng-dev libjpeg62-turbo-dev zlib1g-dev: image input (src/image/, docs/vision.md)
# libopenmpi-dev + openmpi-bin: the data-parallel plugin libftune_mpi.so (FT_MPI, docs/distributed.md) and
# the mpirun that tests/dist_mpi.sh and bench/scaling.sh launch
build_pkgs=(build-essential cmake pkg-config libdnnl-dev libcjson-dev libyaml-dev libpcre2-dev libutf8proc-dev
            libpng-dev libjpeg62-turbo-dev zlib1g-dev nodejs npm wordnet-base libopenmpi-dev openmpi-bin)
# python3-pytest: collects tests/interop (skipped without transformers/peft, which Debian lacks)
# libopenblas0-openmp: without it torch runs fp32 on reference BLAS (~4 GFLOP/s) in bench/compare_torch
# clang-14 + libclang-rt-14-dev (libFuzzer, ASan/UBSan runtimes) + libomp-14-dev (clang's OpenMP): the fuzz
# targets under fuzz/ (fuzz/run.sh, docs/reliability.md)
# python3-pip + python3-setuptools: tests/python_api.sh installs the ctypes binding (python/) offline
# valgrind: tests/valgrind_cli.sh (memcheck over the CLI commands, docs/reliability.md)
# python3-pil: tests/image_pil.sh (the ViTImageProcessor reference); dataset-fashion-mnist: IDX test data
test_pkgs=(python3 python3-torch python3-numpy python3-sklearn python3-nltk python3-pytest python3-pip python3-setuptools
           python3-pil dataset-fashion-mnist
           libopenblas0-openmp cppcheck valgrind
           clang-14 libclang-rt-14-dev libomp-14-dev)
pkgs=("${build_pkgs[@]}")
if [ "${1:-}" != "--no-test" ]; then pkgs+=("${test_pkgs[@]}"); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs may come from elsewhere than Debian (a preinstalled node): accept any working node/npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
want=()
for p in "${missing[@]}"; do [ -n "$p" ] && want+=("$p"); done
if [ "${#want[@]}" -gt 0 ]; then
  echo "install-deps: installing ${want[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${want[@]}"
else
  echo "install-deps: all packages present"
fi
