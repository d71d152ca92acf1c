#!/usr/bin/env bash
# Fails if any C++ source differs from what clang-format (.clang-format) would write.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' 2>/dev/null || find include src tools tests -name '*.cc' -o -name '*.h')
if [ ${#files[@]} -eq 0 ]; then exit 0; fi
if clang-format --dry-run -Werror "${files[@]}" 2>/tmp/quac-format.log; then
  echo "format check: ${#files[@]} files clean"
else
  grep -E "error:" /tmp/quac-format.log | sed -E 's/:[0-9]+:[0-9]+: error:.*//' | sort -u | sed 's/^/needs clang-format: /'
  exit 1
fi
