#!/usr/bin/env bash
# Static analysis: cppcheck's warning class over the library and the CLI must be clean. Inline
# suppressions (cppcheck-suppress) mark checked false positives; unknownMacro = cJSON's iteration macro.
set -euo pipefail
command -v cppcheck >/dev/null || { echo "cppcheck not installed: skipped"; exit 77; }
[ "${FT_SANITIZED:-0}" = 1 ] && { echo "static analysis runs in the plain pass only: skipped"; exit 77; }
cd "${FT_SRC:?}"
cppcheck --quiet --enable=warning --inline-suppr -I include -I src --suppress=missingIncludeSystem \
  --suppress=unknownMacro --error-exitcode=1 -j2 src
echo "cppcheck: clean"
