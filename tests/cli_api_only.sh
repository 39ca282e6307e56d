#!/usr/bin/env bash
# Issue 17's rule: the `ftune` command is a client of the public API (include/ftune.h) alone. For every
# source and header under src/cli/, every header it includes from the tree, followed through src/cli/*.h,
# must be ftune.h or a CLI header (cli/...) that obeys the same rule; a library header (core/, tokenizer/,
# train/, ...) fails, naming the chain of includes that reaches it.
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
status=0
check() { # FILE CHAIN
  local f=$1 chain=$2 inc
  while read -r inc; do
    case $inc in
      ftune.h) ;;
      cli/*) check "$FT_SRC/src/$inc" "$chain -> $inc" ;;
      *) echo "cli_api_only: $chain includes the internal header $inc"; status=1 ;;
    esac
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | grep -v '^cli/commands.def$' || true)
}
n=0
for f in "$FT_SRC"/src/cli/*.c "$FT_SRC"/src/cli/*.h; do
  check "$f" "src/cli/${f##*/}"
  n=$((n + 1))
done
[ $n -gt 10 ] || { echo "cli_api_only: only $n files under $FT_SRC/src/cli"; exit 1; }
[ $status = 0 ] && echo "cli_api_only: all $n files under src/cli/ on ftune.h alone"
exit $status
