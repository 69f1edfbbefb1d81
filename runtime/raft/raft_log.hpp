// raft/raft_log: the in-memory Raft log after the last compaction point.
//
// Holds the entries the core still needs (to replicate, to apply, to answer
// consistency checks) after a `base` (index, term) pair: the last entry
// dropped by compaction or covered by an installed snapshot (§5.1). Terms
// are known for `base` and every entry after it, never before. The class
// only maintains the log's shape (contiguous indexes, non-decreasing terms);
// the Raft rules about which entries may change live in the core.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

#include "runtime/raft/messages.hpp"
#include "runtime/strong_id.hpp"

namespace conclave::raft {

class raft_log {
public:
  raft_log() = default;

  /// An empty log whose compacted prefix ends at (`base_index`, `base_term`).
  raft_log(log_index base_index, term_t base_term);

  // -- queries ---------------------------------------------------------------

  /// Last compacted index (0: nothing compacted); its term is still known.
  log_index base_index() const noexcept { return base_index_; }
  term_t base_term() const noexcept { return base_term_; }
  log_index first_index() const noexcept;
  log_index last_index() const noexcept;
  term_t last_term() const noexcept;
  size_t size() const noexcept { return entries_.size(); }

  /// Term of the entry at `index`; nullopt if compacted or beyond the end.
  std::optional<term_t> term_at(log_index index) const noexcept;

  /// True if the log holds an entry (or the base) at `index` with `term`.
  bool matches(log_index index, term_t term) const noexcept;

  /// The entry at `index`, or nullptr if compacted or beyond the end.
  const entry* at(log_index index) const noexcept;

  /// Up to `max_count` entries from `from` on whose data add up to at most
  /// `max_bytes`, but always at least one if `from` is in the log.
  std::vector<entry> slice(log_index from, size_t max_count,
                           size_t max_bytes) const;

  /// Fast back-off, leader side (§5.3 of the thesis' "conflict term"
  /// optimization): the last index <= `at_most` holding `term`, or nullopt.
  std::optional<log_index> last_index_of_term(term_t term,
                                              log_index at_most) const;

  /// Fast back-off, follower side: the first index of the run of `term`
  /// that contains `at` (not below first_index()). `at` must hold `term`.
  log_index first_index_of_term(term_t term, log_index at) const;

  // -- changes ---------------------------------------------------------------

  /// Appends one entry; aborts unless it directly follows the last one and
  /// its term does not go back.
  void append(entry e);

  /// Follower side of AppendEntries (§3.5): `entries` follow `prev`, which
  /// must match. Entries already present are skipped; at the first conflict
  /// the log is truncated and the rest appended. Returns the index of the
  /// first entry written, nullopt if nothing changed.
  std::optional<log_index>
  merge(log_index prev, const std::vector<entry>& entries, size_t first);

  /// Drops the entries up to and including `index` (base <= index <= last).
  void compact(log_index index);

  /// Drops everything; the log restarts after (`index`, `term`).
  void reset(log_index index, term_t term);

  /// Aborts unless indexes are contiguous and terms non-decreasing.
  void check() const;

private:
  /// Position of `index` in entries_; `index` must be in the log.
  size_t offset(log_index index) const noexcept;

  log_index base_index_;
  term_t base_term_;
  std::deque<entry> entries_;
};

} // namespace conclave::raft
