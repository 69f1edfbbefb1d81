#!/usr/bin/env bash
# Sets everything up and runs Conclave: the local three-node cluster from
# configs/local/ (native client ports 4181-4183, ZooKeeper ports 2181-2183,
# data in data/node1..3), in the foreground until Ctrl-C, which stops all
# three nodes cleanly.
#
#   scripts/run.sh            the three-node cluster
#   scripts/run.sh --single   one node from configs/single.conf
#
# Talk to it with:
#   build/bin/conclavectl --server 127.0.0.1:4181,127.0.0.1:4182,127.0.0.1:4183 status
#   /usr/share/zookeeper/bin/zkCli.sh -server 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
#   curl -s http://127.0.0.1:9181/metrics      (admin ports 9181-9183: /metrics, /status)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh

if [ "${1:-}" = "--single" ]; then
  shift
  exec build/bin/conclave-node --config-file=configs/single.conf "$@"
fi

pids=()
stop_all() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop_all INT TERM EXIT

for i in 1 2 3; do
  build/bin/conclave-node --config-file="configs/local/node$i.conf" "$@" &
  pids+=("$!")
done
echo "run.sh: nodes 1-3 starting (client ports 4181-4183, ZooKeeper ports 2181-2183); Ctrl-C stops them"
# Returns when any node exits (or on Ctrl-C); then the trap stops the rest.
wait -n "${pids[@]}" || true
