#!/usr/bin/env bash
# Sets everything up, builds, and runs the whole test suite through ctest.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure --parallel "$(nproc)" "$@"
