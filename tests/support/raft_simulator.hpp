// raft_simulator: a deterministic simulation of a Raft cluster in one
// process, driven by one seed.
//
// N cores (raft/core.hpp) run under simulated shells that follow the core's
// output contract: messages travel through a network that drops, duplicates,
// delays and reorders them, and that partitions and heals (random halves,
// isolated leader); each node's writes go to a simulated disk that makes
// them durable in order after a random delay (then persisted() and
// messages_after_persist), sometimes merging queued outputs into one write
// (group commit) and writing the hard state before or after the entries;
// nodes crash (losing writes not yet durable, possibly tearing the oldest
// one; some crashes are aimed at a write in flight) and restart from their
// disk; a hash-chain state machine applies committed entries and takes
// snapshots at random points, which leaders ship to lagging followers.
// Config knobs and fault rates are drawn per seed.
//
// Checks, after every core call: check_invariants(); at most one leader per
// term; one vote per node and term across crashes; every vote request, vote,
// append or snapshot acknowledgement is durable on its sender's disk when it
// leaves; State Machine Safety (every committed or applied entry and every
// state-machine hash matches a global record) and every newly committed
// entry is durable on a majority; Leader Completeness for each new leader;
// every read index covers every entry committed before the read was
// requested. With membership changes, also: every node's configuration is
// the latest one in its log (or its snapshot's, or its bootstrap's); a
// leader holds at most one uncommitted configuration entry; consecutive
// committed configurations differ by one single-server change; and
// "committed" means durable on a majority of the committing leader's
// voters. At the end everything heals and every node must apply a final
// entry (liveness: progress at least every settle_steps).
//
// The same seed replays exactly: all randomness comes from one splitmix64
// stream, and `transcript` hashes everything that happened. A broken core
// invariant aborts; a SIGABRT handler then prints the seed and step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace conclave::raft::sim {

struct options {
  uint64_t seed = 1;
  /// Cluster size (3 or 5 make sense).
  size_t nodes = 3;
  /// Time units of the faulty phase (a core ticks every 10 units).
  size_t steps = 3000;
  /// Time units the healed cluster may go without progress before the
  /// liveness check fails (and at most 10 times this in all) while it
  /// applies a final entry everywhere.
  size_t settle_steps = 3000;
  /// Inject faults (loss, duplication, partitions, crashes, torn writes).
  bool faults = true;
  /// Mix in random membership changes (§4): brand-new nodes (empty
  /// bootstrap configuration, fresh disk) join as learners, learners are
  /// promoted, voters (the leader too) and learners are removed, removed
  /// nodes are shut down and their ids may join again as new nodes.
  bool membership = false;
  /// Ids beyond `nodes` available to joining nodes (membership only).
  size_t spare_nodes = 2;
  /// If set, every event and core log line is written here.
  std::ostream* trace = nullptr;
};

struct stats {
  size_t leaders = 0; ///< distinct (term, leader) pairs
  size_t max_term = 0;
  size_t committed = 0; ///< highest committed index
  size_t proposals = 0;
  size_t delivered = 0;
  size_t dropped = 0;
  size_t duplicated = 0;
  size_t partitions = 0;
  size_t crashes = 0;
  size_t torn_writes = 0;
  size_t snapshots_taken = 0;
  size_t snapshots_installed = 0;
  size_t reads_ok = 0;
  size_t reads_failed = 0;
  size_t transfers = 0;
  size_t config_changes = 0; ///< accepted by a leader
  size_t configs_committed = 0;
  size_t joins = 0;           ///< brand-new nodes started
  size_t leader_removals = 0; ///< leaders that proposed their own removal
  size_t decommissions = 0;   ///< removed nodes shut down for good
  size_t max_voters = 0;      ///< most voters of any configuration
};

struct result {
  bool ok = true;
  uint64_t seed = 0;
  /// Step at which a check failed.
  size_t step = 0;
  std::string failure;
  /// Hash of every event; equal seeds give equal transcripts.
  uint64_t transcript = 0;
  stats counts;
};

/// Runs one seed.
result run(const options& opts);

/// One line: seed, outcome, figures.
std::string describe(const result& res);

} // namespace conclave::raft::sim
