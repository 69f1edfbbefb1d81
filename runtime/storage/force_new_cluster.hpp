// force_new_cluster: recovery after the permanent loss of a majority.
//
// When a majority of the voters is gone for good, no configuration change
// can commit (it needs that majority), so the cluster cannot heal itself.
// This rewrites the data dir of ONE stopped survivor so that it restarts as
// the only voter of a new configuration; the operator then adds fresh nodes
// to it (docs/operations.md, "Recovering from the loss of a majority").
//
// It is dangerous and never automatic: Raft's guarantees assumed that a
// majority survives. The survivor keeps every entry in its log, including
// entries that were never committed (they become committed), and entries
// that other nodes committed but this one never received are lost. Pick
// the survivor with the highest last log index (`conclave-node` prints it
// at start-up; `conclavectl status` shows it), and never restart the old
// members with their old data: wipe them and add them back as new members.
//
// What it writes (after open_storage() has loaded and verified the dir):
//   - one configuration entry at last index + 1, in term T = max(stored
//     term, last log term) + 1, holding only this node as a voter (with its
//     address from the old configuration, or the one given);
//   - the hard state (term T, no vote, commit unchanged), written after the
//     entry is durable.
// On restart the node campaigns alone, wins in term T + 1 and commits
// everything in its log with its first entry.
#pragma once

#include <string>

#include "runtime/raft/configuration.hpp"
#include "runtime/storage/log_store.hpp"
#include "runtime/storage/storage_error.hpp"

namespace conclave::storage {

struct forced_cluster {
  /// The configuration in force before (from the log or the snapshot).
  raft::configuration old_config;
  /// The new one: this node alone, as a voter.
  raft::configuration new_config;
  /// Index and term of the configuration entry written.
  log_index index;
  term_t term;
  /// What open_storage() repaired while loading the dir.
  std::vector<repair> repairs;
};

/// Rewrites the data dir `dir` of stopped node `self` as described above.
/// `address` ("host:port" of its peer port) replaces the recorded one if
/// not empty; it is required if the old configuration has none for `self`.
storage_result<forced_cluster>
force_new_cluster(const std::string& dir, node_id self,
                  const std::string& address, const storage_options& opts = {});

} // namespace conclave::storage
