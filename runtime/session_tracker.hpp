// session_tracker: the leader's view of which sessions are alive (ZooKeeper's
// SessionTrackerImpl), not replicated.
//
// Only the leader decides that a session expired, by proposing an expire
// command; every node then applies it to its session_table (and removes the
// session's ephemerals). So only the leader keeps a tracker. Followers keep
// none: they collect the ids of sessions they heard from (pings and
// requests) and forward them to the leader in batches (touch_many).
//
// Time is logical: every call takes the caller's `now_ms`, a monotonic
// millisecond clock of the leader's own (steady clock); nothing here reads a
// clock. A session is expired at `now_ms` when now_ms - last_heard >
// timeout_ms, i.e. at last_heard + timeout_ms + 1 and not a millisecond
// earlier.
//
// Rules for the shell:
// - On becoming leader, call reset_all(table, now): every session the table
//   holds gets a fresh, full timeout from that moment, however long it was
//   silent before, since the old leader's liveness view is lost and a
//   leader change must never expire a healthy session (ZooKeeper does the
//   same). On losing leadership, drop the tracker.
// - While leader, add() each session when its open is applied and remove()
//   it when its close or expire is applied. Sessions opened by entries that
//   commit after reset_all() are added then, as they apply.
// - Call expired() only while leader with a quorum (CheckQuorum confirms
//   it): a leader cut off from its quorum hears no forwarded pings, and
//   would expire healthy sessions; its expire proposals could not commit,
//   but there is no reason to make them. An expire must commit like any
//   command before a session counts as gone.
// - After proposing an expire, mark_closing(id): expired() then stops
//   reporting it and touch() stops renewing it (ZooKeeper's "closing"
//   state) until the expire applies and the shell remove()s it.
//
// Expiry uses exact deadlines in an ordered index (touch: O(log n);
// expired: O(k log n) for k expired sessions), not ZooKeeper's
// expirationInterval buckets: buckets round every deadline up to the next
// interval, which would break the exact semantics above, and the ordered
// index is cheap enough for the session counts the table allows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/session_table.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

class session_tracker {
public:
  session_tracker() = default;

  // -- membership -------------------------------------------------------------

  /// Tracks `id` with `timeout_ms`, heard from at `now_ms`. Adding a tracked
  /// id replaces its timeout, renews it and clears its closing mark.
  /// Preconditions: is_valid_session_id(id), timeout_ms ≥ 1 (aborts).
  void add(session_id id, int32_t timeout_ms, int64_t now_ms);

  /// Stops tracking `id`; returns whether it was tracked.
  bool remove(session_id id);

  /// Replaces everything with the sessions of `table`, each heard from at
  /// `now_ms` with its full timeout, none closing. Call on becoming leader.
  void reset_all(const session_table& table, int64_t now_ms);

  /// Renews every tracked session at `now_ms` and clears closing marks.
  void reset_all(int64_t now_ms);

  // -- liveness ---------------------------------------------------------------

  /// The session was heard from at `now_ms` (a ping or any request).
  /// Returns false, changing nothing, for an unknown or closing session.
  /// Never moves a session's last-heard time backwards (a batch that
  /// arrives late cannot shorten a session's life).
  bool touch(session_id id, int64_t now_ms);

  /// touch() for each id of a batch (forwarded by a follower); unknown and
  /// closing ids are ignored. Returns how many were renewed.
  size_t touch_many(const std::vector<session_id>& ids, int64_t now_ms);

  /// Tracked sessions, not closing, for which now_ms - last_heard >
  /// timeout_ms, in ascending id order. See the rules above.
  std::vector<session_id> expired(int64_t now_ms) const;

  /// Marks `id` as being expired (its expire command is proposed); returns
  /// whether it is tracked.
  bool mark_closing(session_id id);

  /// The expire proposed for `id` did not go through (refused, or not
  /// applied in time): clears its closing mark, keeping its last-heard
  /// time, so that expired() reports it again (or a touch renews it).
  /// Returns whether it was closing.
  bool unmark_closing(session_id id);

  // -- queries ----------------------------------------------------------------

  bool contains(session_id id) const { return entries_.count(id) != 0; }
  bool is_closing(session_id id) const;
  size_t size() const noexcept { return entries_.size(); }

  /// last_heard + timeout_ms of a tracked session (saturating): it expires
  /// at any now_ms greater than this.
  std::optional<int64_t> deadline(session_id id) const;

  /// The earliest deadline among sessions not closing, or nullopt: the
  /// shell's next expiry check is due at that value + 1.
  std::optional<int64_t> next_deadline() const;

private:
  struct entry {
    int32_t timeout_ms;
    int64_t last_heard_ms;
    bool closing;
  };

  static int64_t deadline_of(const entry& e) noexcept;

  /// Sessions by id.
  std::unordered_map<session_id, entry> entries_;
  /// (deadline, id) of every session not closing.
  std::set<std::pair<int64_t, session_id>> queue_;
};

} // namespace conclave
