// raft/progress: what a leader knows about one follower's log (§3.5).
//
// A follower is in one of three states (as in etcd-io/raft's tracker):
// - probe: its match point is unknown; the leader sends one append at a time
//   and backs off `next` on each rejection until one succeeds;
// - replicate: the match point is known; appends are pipelined optimistically
//   (`next` advances when an append is sent) up to a window of in-flight
//   appends;
// - snapshot: the entries it needs are compacted; the leader sent it a
//   snapshot and sends no appends until it answers (§5).
// It also keeps when the follower was last heard from (CheckQuorum, §6.2) and
// the highest ReadIndex round it acknowledged (§6.4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/strong_id.hpp"

namespace conclave::raft {

/// A bounded FIFO of the last indexes of unacknowledged appends.
class inflights {
public:
  explicit inflights(size_t capacity);

  bool full() const noexcept { return count_ == ring_.size(); }
  size_t count() const noexcept { return count_; }
  size_t capacity() const noexcept { return ring_.size(); }

  /// Records an append ending at `last`; aborts when full or not increasing.
  void add(log_index last);

  /// Forgets every append whose last index is <= `index`.
  void free_to(log_index index);

  void reset() noexcept { start_ = count_ = 0; }

private:
  std::vector<log_index> ring_;
  size_t start_ = 0;
  size_t count_ = 0;
};

enum class progress_state : uint8_t { probe, replicate, snapshot };

const char* to_string(progress_state s) noexcept;

class progress {
public:
  /// A follower of a fresh leader: probing right after the leader's log.
  progress(node_id id, log_index leader_last, size_t max_inflight,
           uint64_t now);

  node_id id() const noexcept { return id_; }
  progress_state state() const noexcept { return state_; }
  /// Highest index known to match the leader's log (0: none known).
  log_index match() const noexcept { return match_; }
  /// Next index to send.
  log_index next() const noexcept { return next_; }
  /// The snapshot index sent while in snapshot state.
  log_index pending_snapshot() const noexcept { return pending_snapshot_; }
  uint64_t snapshot_sent_at() const noexcept { return snapshot_sent_at_; }
  uint64_t read_acked() const noexcept { return read_acked_; }
  const raft::inflights& inflights() const noexcept { return inflights_; }
  bool paused() const noexcept { return paused_; }

  /// Replicate state only: appends that were in flight at the previous
  /// heartbeat are still unacknowledged and nothing was acknowledged since
  /// (they may be lost).
  bool stalled() const noexcept;

  /// True if the leader may send it an append now.
  bool can_send() const noexcept;

  /// True if heard from within the last `window` ticks (§6.2).
  bool active(uint64_t now, uint64_t window) const noexcept {
    return now - last_heard_ < window;
  }

  // -- transitions -----------------------------------------------------------

  void become_probe() noexcept;
  void become_replicate() noexcept;
  void become_snapshot(log_index index, uint64_t now) noexcept;

  // -- events ----------------------------------------------------------------

  /// An append ending at `last` was sent (`last` = prev for an empty one).
  void sent(log_index last, bool has_entries);

  /// The follower acknowledged `index`; returns true if match advanced.
  bool acknowledge(log_index index);

  /// The follower rejected an append whose prev was `rejected`; `hint` is
  /// where the leader guesses the logs diverge. Returns false if the
  /// rejection is stale (answers an append sent before the last change).
  bool reject(log_index rejected, log_index hint) noexcept;

  /// The highest commit index the follower was told and can accept (an
  /// append ending at `last` with commit `c` lets it commit min(c, last)).
  log_index commit_told() const noexcept { return commit_told_; }
  void told_commit(log_index index) noexcept {
    if (index > commit_told_)
      commit_told_ = index;
  }

  void heard(uint64_t now) noexcept { last_heard_ = now; }
  void heartbeat_sent() noexcept;
  void ack_read(uint64_t round) noexcept;

  /// Aborts if the tracker contradicts the leader's log.
  void check(log_index leader_last) const;

private:
  node_id id_;
  progress_state state_ = progress_state::probe;
  log_index match_;
  log_index next_;
  bool paused_ = false;
  bool acked_since_heartbeat_ = false;
  bool inflight_at_heartbeat_ = false;
  log_index pending_snapshot_;
  log_index commit_told_;
  uint64_t snapshot_sent_at_ = 0;
  uint64_t last_heard_ = 0;
  uint64_t read_acked_ = 0;
  raft::inflights inflights_;
};

} // namespace conclave::raft
