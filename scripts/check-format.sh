#!/usr/bin/env bash
# Fails if any tracked C++ source differs from .clang-format's layout.
# Fix with: clang-format -i $(git ls-files '*.cpp' '*.hpp')
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find actors runtime messages tools tests examples -name '*.[ch]pp')
clang-format --dry-run --Werror "${files[@]}"
