#!/usr/bin/env bash
# Sets everything up and runs Conclave on the default config in the
# foreground, until Ctrl-C. Talk to it with:
#   build/bin/conclavectl --server 127.0.0.1:4181 status
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/bin/conclave-node --config-file=configs/single.conf "$@"
