#!/usr/bin/env bash
# Configures and builds Conclave into build/ (programs in build/bin/).
# Extra arguments go to the CMake configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build_type="${CONCLAVE_BUILD_TYPE:-RelWithDebInfo}"
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE="$build_type" "$@" >/dev/null
fi
cmake --build build --parallel "$(nproc)"
