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
# and the compiler agrees: every source compiles with include/ and the CLI's own headers alone on the path
# (a directory holding only cli/), so no internal header can be reached however it is spelled
if command -v cc > /dev/null; then
  inc=$(mktemp -d)
  trap 'rm -rf "$inc"' EXIT
  ln -s "$FT_SRC/src/cli" "$inc/cli"
  for f in "$FT_SRC"/src/cli/*.c; do
    cc -std=gnu11 -fsyntax-only -I "$FT_SRC/include" -I "$inc" "$f" 2> "$inc/err" ||
      { echo "cli_api_only: src/cli/${f##*/} does not compile with include/ alone:"; head -5 "$inc/err"; status=1; }
  done
fi
[ $status = 0 ] && echo "cli_api_only: all $n files under src/cli/ on ftune.h alone (and each .c compiles so)"
exit $status
