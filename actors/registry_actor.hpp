// registry_actor: hosts the node's replicated state (runtime/state_machine:
// the znode tree and the session table) and the watches of the clients
// connected to this node (runtime/watch_manager).
//
// It is the only actor that touches them. It applies committed log entries
// strictly in index order (an entry out of order is a broken invariant: the
// actor aborts loudly), serves reads locally (ZooKeeper's sequential
// consistency) once it has applied what the reader already saw, and returns
// the results of entries proposed by this node to the node's session actor.
//
// Watches live here, next to the tree, so that registering a watch with a
// read is atomic (no change can slip between the read and the watch) and a
// watch's notification leaves before any later read result: both go from
// this actor to the same client, and CAF keeps one sender's messages to one
// receiver in order. After loading a snapshot (a follower that fell too far
// behind) the tree jumped over changes no watch saw: the registry drops
// every watch and tells each listener it is disconnected, so its client
// reconnects and re-registers with SetWatches, which fires what changed.
//
// Snapshots are taken without stopping service: the registry fork()s, the
// child process (a copy-on-write image of the tree at the applied index)
// writes the snapshot file and exits, and the parent goes on applying and
// serving; a periodic `reap` collects the child. docs/storage.md explains
// why this beats a stop-the-world copy or a fuzzy snapshot.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "actors/actors.hpp"
#include "runtime/node_metrics.hpp"
#include <unordered_map>

#include "runtime/raft/codec.hpp"
#include "runtime/raft/configuration.hpp"

#include "runtime/state_machine.hpp"
#include "runtime/watch_manager.hpp"
#include "runtime/storage/snapshot_store.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// Where and how the registry keeps snapshots.
struct registry_options {
  data_tree_limits limits;
  /// Session limits (identical on every node: opens clamp with them).
  session_limits_config sessions;
  /// Watches per session and per path on this node.
  watch_limits watches;
  /// Watches of all sessions on this node.
  size_t max_watches = 1000000;
  /// Where snapshots are written and read.
  storage::snapshot_store snapshots;
  /// Snapshot to load at start-up (empty for an empty tree), and the index
  /// and term it covers.
  std::string initial_snapshot;
  uint64_t initial_snapshot_index = 0;
  uint64_t initial_snapshot_term = 0;
  /// The configuration in force at start-up: the initial snapshot's, else
  /// the bootstrap one (empty for a node joining an existing cluster). The
  /// registry shows it in /zookeeper/config and records it in snapshots
  /// until a configuration entry replaces it.
  pb::Configuration config;
  /// Reads waiting for the tree to catch up; more are refused.
  size_t max_parked_reads = 10000;
  /// A read parked this long is answered OperationTimeout (measured in
  /// one-second sweeps).
  std::chrono::seconds parked_read_timeout{10};
};

/// A read (or a session check) waiting until the tree has applied its
/// `min_zxid`.
struct parked_read {
  pb::Request request;
  /// Set for a session check instead of a read.
  std::optional<pb::SessionCheck> check;
  caf::typed_response_promise<pb::Response> promise;
  /// Sweeps seen while parked.
  int64_t sweeps = 0;
  /// When it reached the registry (for the latency metrics).
  std::chrono::steady_clock::time_point arrived;
};

struct registry_state {
  static inline const char* name = "registry";

  registry_state() = default;
  registry_state(const registry_state&) = delete;
  registry_state& operator=(const registry_state&) = delete;
  /// Never leaves a snapshot child behind: kills and reaps it. Runs when the
  /// actor exits, before anyone hears of its exit, so a supervisor that
  /// reopens the storage next never races the child's writes.
  ~registry_state();

  state_machine machine;
  watch_manager watches;
  /// Where each session's watch events go (its client's connection here).
  std::unordered_map<int64_t, watch_listener> listeners;
  node_id self_id;
  registry_options options;
  /// Receives results of entries this node proposed.
  session_actor sessions;
  /// Index and term of the last applied entry (noops included).
  uint64_t applied_index = 0;
  uint64_t applied_term = 0;
  /// The configuration of the last configuration entry applied (or of the
  /// snapshot loaded, or options.config): recorded in snapshot metas.
  raft::configuration config;
  /// Index of the snapshot the tree was last loaded from or saved to.
  uint64_t snapshot_index = 0;
  std::deque<parked_read> parked;
  /// Read latency by operation, for /metrics (measured here, not applied:
  /// the clock never touches the replicated state).
  latency_by_op read_seconds;
  /// A running snapshot child, its metadata and who waits for it.
  pid_t snapshot_child = -1;
  pb::SnapshotMeta snapshot_meta;
  caf::typed_response_promise<pb::SnapshotMeta> snapshot_promise;
};

/// Behavior of the registry of node `id`. Aborts (refuses to start) if the
/// initial snapshot cannot be loaded: serving wrong data is worse.
registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self, node_id id,
         registry_options options);

/// Serves one read request from `tree`, reporting `applied` as its zxid
/// (exposed for tests and reuse). Registers no watches. ACLs are checked
/// against Request.auth (getData, getChildren, getAllChildrenNumber: READ;
/// getACL: READ or ADMIN, digest ids redacted without ADMIN).
pb::Response serve_read(const data_tree& tree, const pb::Request& req,
                        int64_t applied);

} // namespace conclave
