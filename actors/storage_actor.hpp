// storage_actor: the node's storage worker. It owns the durable stores
// (runtime/storage: segmented log, hard state, snapshots) and runs detached,
// on its own thread, because it blocks on fsync: the log actor keeps
// replicating and committing while a write is being made durable.
//
// Order: requests are handled one at a time in arrival order, so the hard
// state of an output is durable before its entries, and a persist that
// follows another is durable after it. Any I/O failure is answered with an
// error; the log actor then stops the node (an fsync that failed cannot be
// retried safely).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>

#include "actors/actors.hpp"
#include "runtime/storage/log_store.hpp"

namespace conclave {

struct storage_state {
  static inline const char* name = "storage";

  storage::log_store log;
  storage::hard_state_file hard_state;
  storage::snapshot_store snapshots;
  size_t snapshot_keep = 2;
  /// Fault injection (conclave.fault-fsync-delay-ms, 0 in production): each
  /// durable write waits this long first, as on a failing disk.
  std::chrono::milliseconds fault_delay{0};
  /// The hard state last made durable.
  raft::hard_state saved_state;
  /// A snapshot being received from the leader.
  std::optional<storage::snapshot_receiver> receiving;
  pb::SnapshotMeta receiving_meta;
  /// Snapshot files being streamed to followers, by index (verified once,
  /// when a transfer starts; the two newest are remembered).
  std::map<uint64_t, storage::snapshot_info> sending;
};

/// `stores` are moved into the actor's state.
storage_actor::behavior_type storage_worker(
  storage_actor::stateful_pointer<storage_state> self,
  std::shared_ptr<storage::node_storage> stores, size_t snapshot_keep,
  std::chrono::milliseconds fault_delay = std::chrono::milliseconds{0});

} // namespace conclave
