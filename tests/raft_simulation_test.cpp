// Randomized, deterministic simulation of whole Raft clusters (see
// tests/support/raft_simulator.hpp for the model and the checks). Each seed
// replays exactly; a failure prints the seed and the step, and
// `raft-sim --seeds 1 --first SEED --nodes N --trace` replays it with a
// full trace. Longer campaigns: raft-sim --seeds 100000 [--membership].

#include <algorithm>
#include <string>

#include <catch2/catch.hpp>

#include "tests/support/raft_simulator.hpp"

using namespace conclave::raft;

namespace {

/// Seeds per cluster size and steps per seed: ~200 runs in a few seconds.
constexpr uint64_t ci_seeds = 100;
constexpr size_t ci_steps = 5000;

void campaign(size_t nodes, uint64_t first) {
  size_t committed = 0;
  size_t leaders = 0;
  size_t crashes = 0;
  size_t snapshots = 0;
  size_t reads = 0;
  for (uint64_t seed = first; seed < first + ci_seeds; ++seed) {
    sim::options opts;
    opts.seed = seed;
    opts.nodes = nodes;
    opts.steps = ci_steps;
    auto res = sim::run(opts);
    INFO(sim::describe(res));
    INFO("replay: raft-sim --seeds 1 --first " << seed << " --nodes " << nodes
                                               << " --steps " << ci_steps
                                               << " --trace");
    REQUIRE(res.ok);
    committed += res.counts.committed;
    leaders += res.counts.leaders;
    crashes += res.counts.crashes;
    snapshots += res.counts.snapshots_installed;
    reads += res.counts.reads_ok;
  }
  // The campaign did exercise what it claims to.
  CHECK(committed > ci_seeds * 50);
  CHECK(leaders > ci_seeds * 2);
  CHECK(crashes > ci_seeds * 2);
  CHECK(snapshots > ci_seeds / 2);
  CHECK(reads > ci_seeds * 10);
}

} // namespace

TEST_CASE("simulation: 3-node clusters stay safe and live under faults",
          "[raft][simulation]") {
  campaign(3, 1);
}

TEST_CASE("simulation: 5-node clusters stay safe and live under faults",
          "[raft][simulation]") {
  campaign(5, 100001);
}

namespace {

/// Membership changes mixed with the faults (raft-sim --membership runs
/// long campaigns): fewer seeds, the same steps.
constexpr uint64_t ci_membership_seeds = 60;

void membership_campaign(size_t nodes, uint64_t first) {
  sim::stats total;
  for (uint64_t seed = first; seed < first + ci_membership_seeds; ++seed) {
    sim::options opts;
    opts.seed = seed;
    opts.nodes = nodes;
    opts.steps = ci_steps;
    opts.membership = true;
    auto res = sim::run(opts);
    INFO(sim::describe(res));
    INFO("replay: raft-sim --seeds 1 --first " << seed << " --nodes " << nodes
                                               << " --steps " << ci_steps
                                               << " --membership --trace");
    REQUIRE(res.ok);
    total.committed += res.counts.committed;
    total.config_changes += res.counts.config_changes;
    total.configs_committed += res.counts.configs_committed;
    total.joins += res.counts.joins;
    total.leader_removals += res.counts.leader_removals;
    total.decommissions += res.counts.decommissions;
    total.crashes += res.counts.crashes;
    total.max_voters = std::max(total.max_voters, res.counts.max_voters);
  }
  // The campaign did exercise what it claims to.
  CHECK(total.committed > ci_membership_seeds * 50);
  CHECK(total.configs_committed > ci_membership_seeds * 2);
  CHECK(total.joins > ci_membership_seeds / 2);
  CHECK(total.leader_removals > ci_membership_seeds / 10);
  CHECK(total.decommissions > ci_membership_seeds / 10);
  CHECK(total.crashes > ci_membership_seeds * 2);
  CHECK(total.max_voters > nodes);
}

} // namespace

TEST_CASE("simulation: 3-node clusters with membership changes stay safe "
          "and live",
          "[raft][simulation][membership]") {
  membership_campaign(3, 300001);
}

TEST_CASE("simulation: 5-node clusters with membership changes stay safe "
          "and live",
          "[raft][simulation][membership]") {
  membership_campaign(5, 400001);
}

TEST_CASE("simulation: a membership seed replays exactly",
          "[raft][simulation][membership]") {
  sim::options opts;
  opts.seed = 4242;
  opts.nodes = 5;
  opts.membership = true;
  auto a = sim::run(opts);
  auto b = sim::run(opts);
  REQUIRE(a.ok);
  CHECK(a.transcript == b.transcript);
  CHECK(a.counts.config_changes == b.counts.config_changes);
  CHECK(a.counts.committed == b.counts.committed);
}

TEST_CASE("simulation: a seed replays exactly", "[raft][simulation]") {
  sim::options opts;
  opts.seed = 4242;
  opts.nodes = 5;
  auto a = sim::run(opts);
  auto b = sim::run(opts);
  REQUIRE(a.ok);
  CHECK(a.transcript == b.transcript);
  CHECK(a.step == b.step);
  CHECK(a.counts.delivered == b.counts.delivered);
  CHECK(a.counts.committed == b.counts.committed);
  opts.seed = 4243;
  auto c = sim::run(opts);
  CHECK(c.transcript != a.transcript);
}

TEST_CASE("simulation: a fault-free cluster commits and reads steadily",
          "[raft][simulation]") {
  for (size_t nodes : {1, 3, 5}) {
    sim::options opts;
    opts.seed = 99;
    opts.nodes = nodes;
    opts.faults = false;
    auto res = sim::run(opts);
    INFO(sim::describe(res));
    REQUIRE(res.ok);
    // One election, plus one per leadership transfer: no churn.
    CHECK(res.counts.leaders <= res.counts.transfers + 1);
    CHECK(res.counts.committed > 200);
    CHECK(res.counts.reads_ok > 80);
    // Reads fail only around leadership transfers.
    CHECK(res.counts.reads_failed * 2 < res.counts.reads_ok);
  }
}
