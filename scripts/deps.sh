#!/usr/bin/env bash
# Installs what Conclave needs to build and test, from Debian 12's packages.
# Idempotent, and silent when nothing is missing. Needs root (or sudo) only
# when something has to be installed.
set -euo pipefail

packages=(
  g++ cmake make pkg-config ccache clang-format
  # libFuzzer for the wire-codec fuzzer (scripts/fuzz.sh).
  clang
  libcaf-dev libprotobuf-dev protobuf-compiler
  libboost-log-dev catch2
  # Compatibility tests with clients nobody here wrote, and the real thing
  # to compare with: kazoo, zkCli.sh and Apache ZooKeeper itself.
  python3-kazoo zookeeper zookeeper-bin
  # conclave-bench drives both servers through the official C client.
  libzookeeper-mt-dev
  # The chaos harness (tools/chaos/chaos): network namespaces, veth pairs,
  # a bridge and packet-dropping partitions.
  iproute2 iptables
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
