#!/usr/bin/env bash
# Conclave vs Apache ZooKeeper, side by side on this machine: three nodes of
# each on 127.0.0.1, the same load (conclave-bench, ZooKeeper's C client)
# against both, alternating, then memory with many znodes and restart /
# catch-up times. Installs what is missing (scripts/deps.sh: the build
# dependencies, Debian's zookeeper package, kazoo), builds conclave-node,
# conclavectl and conclave-bench in build-bench/ (RelWithDebInfo, ccache)
# unless --bin DIR names ready programs, then runs tools/bench/compare.py.
#
#   scripts/bench-vs-zookeeper.sh              full run, ~25-30 min
#   scripts/bench-vs-zookeeper.sh --quick      ~3-4 min
#   scripts/bench-vs-zookeeper.sh --smoke      CI: < 90 s, checks ops > 0, 0 errors
#   scripts/bench-vs-zookeeper.sh --bin build-d/bin --workloads create,get --clients 32
#
# Other options (passed to compare.py): --reps N, --out DIR (default
# bench-results/<timestamp>), --workloads a,b,c, --clients 1,32,256,
# --outstanding K, --duration-s S, --warmup-s W, --znodes Z,
# --memory-znodes N, --catchup-writes N, --skip-memory,
# --only zookeeper|conclave, --tmp-dir DIR, --keep; --help lists them.
# Results: summary.md (Markdown tables), summary.json, chart.svg, raw/*.json.
# Exit codes: 0 ok, 1 failed, 2 usage, 77 Java/ZooKeeper missing.
# Run one at a time: the comparison needs the machine to itself.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin)
      [ $# -ge 2 ] || { echo "bench-vs-zookeeper: --bin needs a directory" >&2; exit 2; }
      bin="$2"
      shift 2
      ;;
    --bin=*)
      bin="${1#--bin=}"
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exec /usr/bin/python3 tools/bench/compare.py --help
      ;;
    *)
      args+=("$1")
      shift
      ;;
  esac
done

# Missing packages are installed (root or sudo); if that is impossible,
# compare.py still says precisely what is missing (exit 77 for ZooKeeper).
scripts/deps.sh || echo "bench-vs-zookeeper: scripts/deps.sh failed; trying anyway" >&2

if [ -z "$bin" ]; then
  if [ ! -f build-bench/CMakeCache.txt ]; then
    launcher=()
    if command -v ccache >/dev/null; then
      launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    fi
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
  fi
  cmake --build build-bench --parallel "$(nproc)" \
    --target conclave-node conclavectl conclave-bench
  bin=build-bench/bin
fi

exec /usr/bin/python3 tools/bench/compare.py --bin "$bin" "${args[@]}"
