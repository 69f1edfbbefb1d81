// raft/messages: the values the Raft core exchanges with its peers, and the
// entries of its log.
//
// Plain C++ values; raft/codec.hpp maps them to protobuf for the network and
// the disk. Field names follow the Raft dissertation (Ongaro 2014); section
// numbers in comments refer to it.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "runtime/raft/configuration.hpp"
#include "runtime/strong_id.hpp"

namespace conclave::raft {

enum class entry_type : uint8_t {
  /// A state-machine command (opaque payload).
  normal = 0,
  /// The empty entry a new leader appends to commit its term (§3.6.2, §6.4).
  noop = 1,
  /// A cluster configuration (raft/configuration.hpp); `data` holds it
  /// encoded as pb::Configuration. It takes effect when appended (§4.1).
  config = 2,
};

/// One log entry. `data` is opaque to the core.
struct entry {
  term_t term;
  log_index index;
  entry_type type = entry_type::normal;
  std::string data;

  friend bool operator==(const entry& a, const entry& b) {
    return a.term == b.term && a.index == b.index && a.type == b.type
           && a.data == b.data;
  }
};

/// What must survive a crash besides the log (§3.8 Figure 3.1).
struct hard_state {
  term_t term;
  /// Candidate voted for in `term`; node_id{0} = none.
  node_id vote;
  /// Highest index known committed (persisting it is an optimization: after
  /// a restart, entries up to it can be applied before hearing a leader).
  log_index commit;

  friend bool operator==(const hard_state& a, const hard_state& b) {
    return a.term == b.term && a.vote == b.vote && a.commit == b.commit;
  }
  friend bool operator!=(const hard_state& a, const hard_state& b) {
    return !(a == b);
  }
};

/// Describes a state-machine snapshot (§5.1): everything up to and including
/// `index` is in it; `config` is the cluster configuration at that index.
struct snapshot_meta {
  log_index index;
  term_t term;
  configuration config;
};

// -- messages ----------------------------------------------------------------

/// RequestVote (§3.4), also used for PreVote (§9.6) with `pre_vote` set: a
/// pre-vote asks "would you vote for me in term `term`?" without anybody
/// changing their term.
struct vote_request {
  term_t term;
  log_index last_log_index;
  term_t last_log_term;
  bool pre_vote = false;
  /// Set when the election follows a TimeoutNow (§3.10): voters then ignore
  /// their leader-stickiness check.
  bool leadership_transfer = false;
};

struct vote_response {
  term_t term;
  bool granted = false;
  bool pre_vote = false;
};

/// AppendEntries (§3.5); empty `entries` = heartbeat. `read_context` carries
/// the leader's ReadIndex round (§6.4), echoed in the response.
struct append_request {
  term_t term;
  log_index prev_log_index;
  term_t prev_log_term;
  std::vector<entry> entries;
  log_index leader_commit;
  uint64_t read_context = 0;
};

struct append_response {
  term_t term;
  bool success = false;
  /// On success: the last index now matching the leader (prev + entries);
  /// on a rejection: the rejected prev_log_index (so that the leader can
  /// ignore stale rejections).
  log_index match_index;
  /// On failure: fast back-off hints (§5.3 "conflict term/index"): the term
  /// of the follower's entry at prev_log_index (0 if it has none there) and
  /// the first index it holds for that term (or its last index + 1).
  term_t conflict_term;
  log_index conflict_index;
  uint64_t read_context = 0;
};

/// InstallSnapshot (§5.3), metadata only: the leader tells a follower that it
/// must load snapshot `meta`. The shell transfers the snapshot's bytes in
/// chunks and, once they are durable on the follower, steps this message
/// itself into the follower's core (see core.hpp, "Receiving one").
struct install_snapshot {
  term_t term;
  snapshot_meta meta;
};

/// A follower's answer once it has installed (or rejected) a snapshot.
struct install_snapshot_response {
  term_t term;
  log_index last_index; ///< follower's last index after the install
  bool success = false;
};

/// Leadership transfer (§3.10): the target starts an election at once.
struct timeout_now {
  term_t term;
};

/// A follower asks the leader for a read index (§6.4.1).
struct read_index_request {
  term_t term;
  uint64_t read_id = 0;
};

/// The leader's answer: reads may be served once applied >= `index`.
/// `success` is false if the leader could not confirm its leadership.
struct read_index_response {
  term_t term;
  uint64_t read_id = 0;
  log_index index;
  bool success = false;
};

using message_body
  = std::variant<vote_request, vote_response, append_request, append_response,
                 install_snapshot, install_snapshot_response, timeout_now,
                 read_index_request, read_index_response>;

struct message {
  node_id from;
  node_id to;
  message_body body;
};

} // namespace conclave::raft
