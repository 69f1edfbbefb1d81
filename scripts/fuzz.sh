#!/usr/bin/env bash
# Builds the ZooKeeper wire-codec fuzzer (tests/fuzz/jute_fuzz.cpp) with
# Debian's clang + libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer
# and runs it for SECONDS (default 30). CI runs it through ctest; longer
# campaigns: scripts/fuzz.sh 3600.
#
#   scripts/fuzz.sh [SECONDS] [BUILD_DIR]
#
# Exit code 0 when the fuzzer found nothing.
set -euo pipefail
seconds="${1:-30}"
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${2:-$root/build}/fuzz"
mkdir -p "$out/corpus"
sources=(tests/fuzz/jute_fuzz.cpp runtime/zk/jute.cpp runtime/zk/records.cpp
         runtime/zk/frame_decoder.cpp)
binary="$out/jute_fuzz"
# Rebuild only when a source is newer than the binary.
rebuild=0
[ -x "$binary" ] || rebuild=1
for s in "${sources[@]}" runtime/zk/*.hpp; do
  [ "$root/$s" -nt "$binary" ] && rebuild=1
done
if [ "$rebuild" -eq 1 ]; then
  (cd "$root" && clang++ -std=c++17 -O1 -g -Werror -Wall -Wextra \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I. "${sources[@]}" -o "$binary")
fi
# A four-letter word and a handshake as seeds; the corpus grows across runs.
printf 'ruok' > "$out/corpus/seed-ruok"
printf '\x00\x00\x00\x2d\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x75\x30\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
  > "$out/corpus/seed-connect"
exec "$binary" "$out/corpus" -max_total_time="$seconds" -max_len=4096 \
  -malloc_limit_mb=64 -print_final_stats=1 -close_fd_mask=1
