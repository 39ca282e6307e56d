#!/usr/bin/env bash
# Issue 17's rule, file by file: the CLI sources listed here use the public API (include/ftune.h) only.
# For each, every header it includes from the tree, followed through src/cli/*.h, must be ftune.h or a
# CLI header (cli/...) that obeys the same rule; a library header (core/, tokenizer/, train/, ...) fails.
# Add a file to the list when its command moves onto ftune.h; the goal is every file under src/cli/.
set -euo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
PUBLIC=(main.c util.c cmd_tokenize.c cmd_score.c cmd_image.c cmd_tokenizer.c predict_image.c cmd_predict_qa.c
        cmd_data.c cmd_baseline.c cmd_model.c cmd_train.c cmd_compare.c predict_s2s.c cmd_predict.c cmd_eval.c)
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
for f in "${PUBLIC[@]}"; do check "$FT_SRC/src/cli/$f" "src/cli/$f"; done
n=$(ls "$FT_SRC"/src/cli/*.c | wc -l)
[ $status = 0 ] && echo "cli_api_only: ${#PUBLIC[@]} of $n CLI sources on ftune.h alone (${PUBLIC[*]})"
exit $status
