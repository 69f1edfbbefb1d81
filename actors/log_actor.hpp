// log_actor: hosts the Raft core (runtime/raft/core) and is its shell.
//
// The shell owns everything the core may not touch: the network (peers' log
// actors, reached through CAF's middleman and reconnected with backoff), the
// disk (through the storage worker, which fsyncs off this actor's thread),
// and the clock (ticks from the election actor). It obeys the core's output
// contract in one place, drain(): send what may go now, persist, send what
// had to wait for durability, then apply (committed entries go to the
// registry in order).
//
// Group commit: handlers only feed the core and schedule a `flush` to
// themselves; a mailbox full of proposals is drained as one output, so many
// proposals share one disk write. While a write is in flight the next one
// accumulates.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/actors.hpp"
#include "runtime/prometheus.hpp"
#include "actors/clock.hpp"
#include "runtime/node_config.hpp"
#include "runtime/raft/core.hpp"

namespace conclave {

struct log_options {
  raft::core_config core;
  /// Where to find cluster members whose configuration records no address
  /// (the bootstrap of a cluster whose snapshot predates addresses), and
  /// the nodes a joining node may hear from first.
  std::vector<peer_address> peers;
  /// The Raft clock's period (turns membership timeouts into ticks).
  size_t tick_ms = 100;
  /// A membership change waits this long for a learner to catch up and for
  /// each change to commit, unless the request says otherwise.
  size_t reconfig_timeout_ms = 60000;
  /// Take a snapshot after this many applied entries or log bytes.
  size_t snapshot_entries = 100000;
  size_t snapshot_log_bytes = 256 * 1024 * 1024;
  /// Entries kept behind a snapshot, so slightly lagging followers need no
  /// snapshot transfer.
  size_t snapshot_keep_entries = 1000;
  /// Bytes per snapshot chunk sent to a follower.
  size_t snapshot_chunk_bytes = 1024 * 1024;
  /// Reads waiting for a ReadIndex answer; more are refused.
  size_t max_pending_reads = 100000;
};

/// A connection to one peer's log actor.
struct peer_link {
  peer_address address;
  log_actor handle;
  bool connecting = false;
  /// Failed attempts in a row (backoff grows with it).
  uint32_t failures = 0;
  uint64_t retry_tick = 0;
  /// Unreachability is logged once, not per attempt.
  bool reported = false;
};

/// One write and what waits for it.
struct queued_write {
  persist_batch batch;
  /// Messages to send once this write (and all before it) is durable.
  std::vector<raft::message> after;
  /// The write holds entries or a snapshot: report it with persisted().
  bool reports = false;
};

/// A membership change request the leader is working through (one at a
/// time): each change is proposed, then waited for until committed; adding
/// a voter adds a learner, waits until it caught up, then promotes it.
struct reconfig_job {
  pb::ReconfigRequest request;
  caf::typed_response_promise<pb::MembershipResult> promise;
  /// The change being worked on.
  int next = 0;
  /// Its configuration entry, waiting to commit (0: none proposed yet).
  uint64_t index = 0;
  /// ADD_VOTER: the learner was added; promotion is next.
  bool promoting = false;
  /// The leader's term when the job started; it fails if leadership moves.
  uint64_t term = 0;
  /// The current change gives up at this tick.
  uint64_t deadline_tick = 0;
};

/// A snapshot being streamed to a follower.
struct snapshot_transfer {
  uint64_t offset = 0;
  uint64_t started_tick = 0;
  /// The leader's term when the core asked for it; chunks carry this term,
  /// and the transfer ends when this node stops leading.
  uint64_t term = 0;
  /// Index of the snapshot file being sent (0 until the first chunk).
  uint64_t index = 0;
};

struct log_state {
  static inline const char* name = "log";

  node_id self_id;
  log_options options;
  std::optional<raft::core> core;
  registry_actor registry;
  storage_actor storage;
  leadership_listener election;
  /// Receives liveness batches forwarded by followers (while leader).
  session_actor sessions;
  clock_fn clock;
  std::map<node_id, peer_link> peers;
  uint64_t ticks = 0;
  bool flush_scheduled = false;

  // -- persistence pipeline (see drain()) --------------------------------------
  /// Writes waiting for the storage worker, oldest first; the front one is
  /// in flight when `write_in_flight`. Later outputs merge into the last
  /// one that is not in flight (group commit).
  std::deque<queued_write> writes;
  bool write_in_flight = false;
  /// Path of a snapshot the storage worker installed for the core.
  std::string installed_snapshot;

  // -- reads and snapshots -----------------------------------------------------
  uint64_t next_read_id = 1;
  std::unordered_map<uint64_t, caf::typed_response_promise<uint64_t>> reads;
  bool snapshot_running = false;
  /// Asked for a snapshot now (backups): answered when the next one is
  /// durable.
  std::vector<caf::typed_response_promise<pb::SnapshotMeta>> snapshot_waiters;
  bool snapshot_forced = false;
  std::optional<reconfig_job> reconfig;
  /// Configuration index the peer links were last built for.
  uint64_t peers_config_index = ~uint64_t{0};
  uint64_t entries_since_snapshot = 0;
  uint64_t bytes_since_snapshot = 0;
  std::map<node_id, snapshot_transfer> transfers;
  pb::Leadership reported;
  uint64_t leader_changes = 0;

  // -- disk health (a slow leader hands over: see election_actor) -------------
  uint64_t persist_count = 0;
  /// The last hard state handed to the storage worker (see queue_write).
  std::optional<raft::hard_state> queued_state;
  /// Recent storage round-trip latency: EWMA with weight 1/5 per write.
  double persist_ewma_ms = 0;
  /// Every durable write's latency (for /metrics).
  prometheus::histogram persist_seconds
    = prometheus::histogram::latency_seconds();
};

log_actor::behavior_type
replicated_log(log_actor::stateful_pointer<log_state> self, node_id id,
               log_options options, raft::persistent_state disk,
               registry_actor registry, storage_actor storage, clock_fn clock);

} // namespace conclave
