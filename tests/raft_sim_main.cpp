// raft-sim: long randomized campaigns of the deterministic Raft simulation.
//
//   raft-sim --seeds N [--first S] [--nodes 3|5] [--steps K] [--membership
//            [--spare K]] [--trace]
//
// Runs seeds S .. S+N-1 (default S = 1), prints progress and every failing
// seed, and exits with 1 if any seed failed. --trace prints every event of
// every seed run (use it with --seeds 1 to replay a failure). --membership
// mixes in random membership changes, with K spare node ids for joining
// nodes (default 2).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "tests/support/raft_simulator.hpp"

namespace {

void usage() {
  std::fprintf(stderr, "usage: raft-sim --seeds N [--first S] [--nodes 3|5] "
                       "[--steps K] [--membership [--spare K]] [--trace]\n");
}

bool parse(const char* text, uint64_t& out) {
  char* end = nullptr;
  auto value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0')
    return false;
  out = value;
  return true;
}

} // namespace

int main(int argc, char* argv[]) {
  uint64_t seeds = 0;
  uint64_t first = 1;
  uint64_t nodes = 3;
  uint64_t steps = 3000;
  uint64_t spare = 2;
  bool trace = false;
  bool membership = false;
  for (int k = 1; k < argc; ++k) {
    std::string arg = argv[k];
    uint64_t* target = nullptr;
    if (arg == "--seeds")
      target = &seeds;
    else if (arg == "--first")
      target = &first;
    else if (arg == "--nodes")
      target = &nodes;
    else if (arg == "--steps")
      target = &steps;
    else if (arg == "--spare")
      target = &spare;
    else if (arg == "--membership") {
      membership = true;
      continue;
    } else if (arg == "--trace") {
      trace = true;
      continue;
    }
    if (!target || k + 1 >= argc || !parse(argv[++k], *target)) {
      usage();
      return 2;
    }
  }
  if (seeds == 0 || nodes < 1 || nodes > 9 || steps == 0 || spare > 9) {
    usage();
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<uint64_t> failed;
  uint64_t step_total = 0;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    conclave::raft::sim::options opts;
    opts.seed = seed;
    opts.nodes = static_cast<size_t>(nodes);
    opts.steps = static_cast<size_t>(steps);
    opts.trace = trace ? &std::cout : nullptr;
    opts.membership = membership;
    opts.spare_nodes = static_cast<size_t>(spare);
    auto res = conclave::raft::sim::run(opts);
    step_total += res.step;
    if (!res.ok) {
      failed.push_back(seed);
      std::printf("%s\n", conclave::raft::sim::describe(res).c_str());
    } else if (trace || seeds <= 10) {
      std::printf("%s\n", conclave::raft::sim::describe(res).c_str());
    }
    auto done = seed - first + 1;
    if (done % 100 == 0 || done == seeds) {
      auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                                - start)
                    .count();
      std::printf("%llu/%llu seeds, %zu failed, %llu steps, %.1f s\n",
                  static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(seeds), failed.size(),
                  static_cast<unsigned long long>(step_total), secs);
      std::fflush(stdout);
    }
  }
  if (!failed.empty()) {
    std::printf("FAILED seeds (%zu):", failed.size());
    for (auto s : failed)
      std::printf(" %llu", static_cast<unsigned long long>(s));
    std::printf("\nreplay one with: raft-sim --seeds 1 --first SEED --nodes "
                "%llu --steps %llu%s --trace\n",
                static_cast<unsigned long long>(nodes),
                static_cast<unsigned long long>(steps),
                membership
                  ? (" --membership --spare " + std::to_string(spare)).c_str()
                  : "");
    return 1;
  }
  return 0;
}
