// raft/core: the Raft consensus algorithm as a pure, deterministic state
// machine (modelled on etcd-io/raft's Step/Ready and ScyllaDB's fsm_output).
//
// The core owns all Raft safety state: current term, vote, the log (after the
// last snapshot), commit index and role. It does no I/O, reads no clock and
// draws randomness only from a PRNG seeded in its config (splitmix64: the same
// seed gives the same run on every platform). Time enters as tick() calls;
// messages as step(); client work as propose() / read_index() /
// transfer_leadership(). Effects leave through take_output().
//
// == The shell's contract (the log actor implements it) ==
//
// Outputs must be handled completely and in the order take_output() returned
// them:
//
//   1. send `messages` at once. They never depend on this output's writes:
//      the leader's appends and heartbeats (its own disk write runs in
//      parallel with replication, §10.2.1), pre-votes, ReadIndex traffic,
//      timeout_now and install_snapshot (see Snapshots).
//   2. persist `snapshot` (see Snapshots) first, then `entries` (an entry
//      whose index is <= the stored last index overwrites the stored log
//      from that index on: a follower truncating a conflicting suffix, §3.5)
//      and `state`, these two in either order (a restart tolerates a crash
//      between them: the stored commit never covers entries not yet durable,
//      and a term below the log's last term is raised to it). Writes become
//      durable in output order (one FIFO writer); an output with nothing to
//      write still queues behind the writes of earlier outputs. Several outputs
//      may be merged into one write (group commit) if the merge keeps these
//      rules: later entries overwrite queued ones from their first index on; a
//      later `snapshot` drops the queued entries <= meta.index, and all queued
//      entries unless the queued entries (or, if none is at meta.index, the
//      stored log) hold meta.index with meta.term.
//   3. once the writes of this output and of all earlier ones are durable:
//      call persisted(i, t) where (i, t) is the index and term of the last
//      entry of `entries`, or of `snapshot` if `entries` is empty (no call if
//      both are empty); then send `messages_after_persist`. These promise
//      durability: vote requests and grants (term and vote on disk first,
//      §3.4), append acknowledgements (a follower never acknowledges entries
//      that are not durable) and snapshot acknowledgements. Every response to
//      append_request, install_snapshot and (real) vote_request goes there.
//   4. give `snapshot` (if any) and then `committed` to the state machine, in
//      order; this need not wait for (2) (committed entries are durable on a
//      majority). A read of `reads` may be served once the state machine has
//      applied its index; `failed_reads` fail (the client retries).
//
// The leader counts its own log as replicated only up to the index reported
// by persisted(), so a single-node cluster commits only after persisted().
//
// == Snapshots (§5) ==
//
// - Taking one: once the state machine's snapshot file at index i is durable,
//   the shell calls snapshot_taken(meta, keep) (i <= the last index handed
//   out in `committed`). The core forgets its entries up to i - keep and
//   counts the prefix up to i as durable. Making the file the current
//   snapshot and deleting stored entries up to i - keep (never beyond i) go
//   through the FIFO writer, after the writes already queued: a snapshot
//   received from the leader may still be on its way to disk. The latest
//   snapshot must stay readable: the leader may have to send it.
// - Sending one (leader): when a follower needs compacted entries, `messages`
//   holds install_snapshot{term, meta} for it and `snapshot_for` lists it;
//   meta is the core's latest snapshot (taken or installed). The shell
//   streams that snapshot's bytes to the peer, carrying the install_snapshot
//   message along (e.g. as the stream's header); the receiving shell must not
//   step it before the bytes are durable. A transfer that fails may simply be
//   dropped: the leader asks again after snapshot_retry_ticks. A transfer of
//   the same meta.index to the same peer that is still running need not be
//   restarted.
// - Receiving one (follower): the shell receives the bytes and makes them
//   durable (as a candidate file, not yet "the" snapshot), then calls step()
//   with the install_snapshot message. The core answers in
//   messages_after_persist with install_snapshot_response. If meta.index <=
//   its commit index it already has that state: no `snapshot` in the output,
//   and the shell may delete the received bytes. Otherwise `snapshot` = meta
//   and, in step 2, the shell makes the received snapshot the current one,
//   deletes the stored entries <= meta.index and, unless the stored log
//   (after all earlier outputs' writes) held an entry with meta.index and
//   meta.term, deletes the whole stored log (§5.3: "if an existing log entry
//   has the same index and term as the snapshot's last included entry,
//   retain log entries following it"); the core decides the same way, and
//   any `entries` of that output come after the snapshot. In step 4 the state
//   machine loads the snapshot before applying `committed`.
// - Restarting: `persistent_state` holds the hard state, the current snapshot
//   meta and the stored entries after it (entries at or before its index are
//   ignored). The state machine starts from that snapshot; the first output
//   re-emits the committed entries after it.
//
// == Wire details ==
//
// Heartbeats are append_requests without entries. A rejecting
// append_response carries the rejected prev_log_index in match_index (so that
// the leader can tell stale rejections from current ones) besides the
// conflict hints. Since every acknowledgement waits for the disk (step 3),
// write latency adds to heartbeat round trips: keep it well below the
// election timeout, or CheckQuorum (§6.2) deposes healthy leaders.
//
// == Errors and limits ==
//
// propose() fails with connection_loss on a node that is not the leader (the
// shell answers "not leader, try leader()"), with throttled_op while a
// leadership transfer runs (retry shortly: at the new leader, or here if it
// aborts) or when max_uncommitted_entries wait. read_index() reports reads it
// cannot serve in `failed_reads`. Messages for another node, with stale
// terms or malformed contents are ignored (and logged); stale requests are
// answered with the current term so that the sender steps down.
//
// == Membership (§4) ==
//
// The configuration (raft/configuration.hpp) lives in the log: the latest
// configuration entry in the log, committed or not, is in force (§4.1); a
// suffix truncated by a new leader takes its configuration entries along,
// and the one before them is in force again. The snapshot carries the
// configuration at its index; `core_config::voters` only bootstraps a new
// cluster (empty: a node joining an existing cluster, which waits for a
// leader to send it the log). Changes are single-server (§4.1; see
// change_membership()). Learners receive the log and may ask for read
// indexes but never vote, campaign or count toward a quorum. A leader that
// removed itself leads until the change commits (not counting itself), then
// hands over with timeout_now to the most up-to-date voter and steps down
// (§4.2.2). Vote requests from nodes that are not voters in the latest
// configuration are ignored, except from a learner whose log is more up to
// date (it knows configuration entries we lack, its promotion, and may need
// our vote, §4.1; a removed server is no member), and a node
// that is not a voter never campaigns, so removed servers cannot disrupt
// the cluster (§4.2.3, with pre-vote and leader stickiness). The one
// exception: a node removed by an entry not yet known committed that was a
// voter before (a leader that removed itself and lost leadership before
// the removal committed) may campaign among the voters of its latest
// configuration, not counting itself: the previous configuration may need
// its log, and if it wins it commits the removal and hands over. Other messages
// are accepted from any sender: a leader that is not in a follower's latest
// configuration must still be able to commit the change that removed it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/error_code.hpp"
#include "runtime/raft/configuration.hpp"
#include "runtime/raft/messages.hpp"
#include "runtime/raft/progress.hpp"
#include "runtime/raft/raft_log.hpp"
#include "runtime/result.hpp"
#include "runtime/strong_id.hpp"

namespace conclave::raft {

enum class role : uint8_t { follower, pre_candidate, candidate, leader };

const char* to_string(role r) noexcept;

/// Tunables; every one is bounded and validated by validate().
struct core_config {
  node_id self;
  /// The bootstrap configuration of a new cluster, used while neither the
  /// log nor a snapshot holds one: its voters (and their addresses, opaque
  /// here). Empty: this node joins an existing cluster and waits for a
  /// leader. If not empty it must contain `self`. `voters` is a shorthand
  /// (voters without addresses) used when `bootstrap` is empty.
  configuration bootstrap;
  std::vector<node_id> voters;
  /// Election timeout in ticks; each election waits a random time in
  /// [election_timeout_ticks, 2 * election_timeout_ticks) (§3.4). It is also
  /// the CheckQuorum window (§6.2), the leader-stickiness lease (§9.6), the
  /// leadership-transfer deadline (§3.10) and the deadline of reads a
  /// follower forwarded to its leader.
  int election_timeout_ticks = 10;
  /// Heartbeat interval in ticks; must be < election_timeout_ticks.
  int heartbeat_interval_ticks = 1;
  /// A leader re-sends a snapshot that got no answer after this many ticks
  /// (>= election_timeout_ticks).
  int snapshot_retry_ticks = 200;
  bool pre_vote = true; ///< §9.6
  /// §6.2: a leader steps down without a majority; it also makes a leader
  /// ignore vote requests like a follower that hears from it (stickiness).
  bool check_quorum = true;
  /// At most this many entries / bytes of entry data in one append_request
  /// (but at least one entry, however big).
  size_t max_append_entries = 1024;
  size_t max_append_bytes = 1024 * 1024;
  /// Unacknowledged append_requests in flight per follower (pipelining).
  size_t max_inflight_appends = 16;
  /// Proposals that may wait uncommitted in the leader's log; more fail
  /// with throttled_op.
  size_t max_uncommitted_entries = 100000;
  /// Read requests waiting for their ReadIndex round (leader) or for the
  /// leader's answer (follower); more fail.
  size_t max_pending_reads = 100000;
  /// Seeds the PRNG that randomizes election timeouts.
  uint64_t seed = 1;

  /// Empty if valid, else what is wrong.
  std::string validate() const;
  /// `bootstrap`, or a configuration of `voters` if it is empty.
  configuration initial() const;
};

/// What the core was, durably, when the node last stopped.
struct persistent_state {
  hard_state state;
  /// Index 0 = no snapshot.
  snapshot_meta snapshot;
  /// The log after the snapshot, contiguous, starting at snapshot.index + 1
  /// (entries at or before snapshot.index are skipped).
  std::vector<entry> entries;
};

/// Why change_membership() refused, for the operator.
struct membership_error {
  /// connection_loss: not the leader; reconfig_in_progress: another change
  /// is not committed yet, or this leader has not committed an entry of its
  /// term yet (retry shortly); new_config_no_quorum: the learner to promote
  /// has not caught up (retry once it has); throttled_op: a leadership
  /// transfer runs; bad_arguments: the change is invalid here.
  error_code code = error_code::ok;
  std::string text;
};

/// A linearizable read is safe once the state machine applied `index`.
struct read_state {
  uint64_t read_id = 0;
  log_index index;
};

/// A core-level log line (the shell maps them to its logger; tests can
/// capture them as a transcript).
struct log_line {
  enum class level : uint8_t { debug, info, warning } severity;
  std::string text;
};

/// Everything the shell must do after one or more calls into the core (see
/// the contract at the top of this file for the order).
struct output {
  /// Set when term, vote or commit changed since the last output. Its
  /// commit is capped at what persisted() reported, so that it never covers
  /// entries that are not durable (it may lag commit_index()).
  std::optional<hard_state> state;
  /// A snapshot received from the leader to make current and hand to the
  /// state machine (see "Receiving one" above).
  std::optional<snapshot_meta> snapshot;
  /// Entries to append, contiguous; the first may overwrite a stored suffix.
  std::vector<entry> entries;
  std::vector<message> messages;
  std::vector<message> messages_after_persist;
  /// Newly committed entries, in order, to apply.
  std::vector<entry> committed;
  std::vector<read_state> reads;
  /// Reads that cannot be served here (leadership lost, no leader known,
  /// leader unreachable or too many pending); the client should retry.
  std::vector<uint64_t> failed_reads;
  /// Set when role, term or known leader changed.
  bool leadership_changed = false;
  /// Peers that need the core's latest snapshot (leader only); `messages`
  /// holds an install_snapshot for each (see "Sending one" above).
  std::vector<node_id> snapshot_for;
  std::vector<log_line> log;

  bool empty() const noexcept;
};

class core {
public:
  /// Restores from `disk`. The config must be valid (aborts otherwise).
  core(core_config cfg, persistent_state disk);

  // -- inputs ----------------------------------------------------------------

  /// Advances logical time by one tick.
  void tick();

  /// Handles a message from a peer. Messages from unknown nodes, with stale
  /// terms or malformed contents are ignored (and logged), never trusted.
  void step(const message& msg);

  /// Appends a command (leader only). Errors: connection_loss if not the
  /// leader (the caller retries at leader()), throttled_op while a
  /// leadership transfer runs or when max_uncommitted_entries wait.
  result<log_index> propose(std::string data);

  /// Requests a linearizable read index for `read_id` (§6.4). The answer
  /// arrives as a read_state (or in failed_reads) in a later output. On the
  /// leader, all reads registered before one heartbeat round share it: the
  /// round goes out with the next take_output() or heartbeat. A follower
  /// forwards the read to its leader. Read ids must be unique per node.
  void read_index(uint64_t read_id);

  /// Starts a leadership transfer to `target` (§3.10). Errors:
  /// connection_loss if not the leader, bad_arguments if `target` is self or
  /// not a voter, throttled_op if a transfer already runs. Proposals fail
  /// while it runs; it aborts after an election timeout.
  error_code transfer_leadership(node_id target);

  /// Proposes a single-server membership change (leader only; §4.1): an
  /// entry with the new configuration, in force as soon as it is appended.
  /// Refused unless this leader has committed an entry of its term and no
  /// other change is uncommitted (one at a time), and a learner is
  /// promoted only once its log matches the commit index (§4.2.1). On
  /// success, the index of the configuration entry.
  std::variant<log_index, membership_error>
  change_membership(const membership_change& change);

  /// The shell made the log durable up to `index` (whose term is `term`).
  /// Reports of entries that were overwritten since are ignored.
  void persisted(log_index index, term_t term);

  /// The state machine's snapshot `meta` is durable: the core compacts its
  /// log up to there (keeping `keep_entries` entries behind it so that
  /// slightly lagging followers need no snapshot) and sends it to followers
  /// that need entries before the kept ones.
  void snapshot_taken(const snapshot_meta& meta, size_t keep_entries);

  /// Drains the accumulated effects (and starts the ReadIndex round of the
  /// reads registered since the last one, §6.4).
  output take_output();

  // -- queries ---------------------------------------------------------------

  node_id id() const noexcept;
  raft::role role() const noexcept;
  term_t term() const noexcept;
  /// Vote cast in the current term; node_id{0} if none.
  node_id vote() const noexcept;
  /// Known leader of the current term; node_id{0} if none.
  node_id leader() const noexcept;
  log_index commit_index() const noexcept;
  log_index last_index() const noexcept;
  term_t last_term() const noexcept;
  /// Last index the core knows durable (reported by persisted() or covered
  /// by a snapshot).
  log_index persisted_index() const noexcept;
  /// Index of the last snapshot (0: none).
  log_index snapshot_index() const noexcept;
  /// The last snapshot (taken or installed); index 0 if none.
  const snapshot_meta& latest_snapshot() const noexcept;
  /// Entries up to here are no longer in memory (<= snapshot_index()).
  log_index compacted_index() const noexcept;
  /// The voters of the latest configuration.
  std::vector<node_id> voters() const;
  /// The latest configuration in the log (committed or not).
  const configuration& config() const noexcept;
  /// Index of the entry that set config() (the snapshot's or 0 when it
  /// came from a snapshot or the bootstrap).
  log_index config_index() const noexcept;
  /// True if config() is committed (the next change may be proposed).
  bool config_committed() const noexcept;
  /// Every member of any configuration still in memory (the latest, the
  /// uncommitted ones before it and the committed one they follow): the
  /// nodes the shell must be able to reach.
  std::vector<member> known_members() const;
  /// Leader only (else empty): each voter's match index, in voters() order
  /// (0 for unknown; the leader's own is persisted_index()).
  std::vector<std::pair<node_id, log_index>> match_indexes() const;
  /// Leader only: the replication tracker of `peer` (nullptr otherwise).
  const progress* progress_of(node_id peer) const noexcept;
  /// True while a leadership transfer runs.
  bool transferring() const noexcept;
  /// Reads waiting for a ReadIndex round (leader) or the leader (follower).
  size_t pending_reads() const noexcept;
  /// Entry at `index` if it is in memory (after the compaction point).
  const entry* entry_at(log_index index) const;

  /// Checks the core's invariants (terms only grow, one vote per term,
  /// commit only grows and stays <= last index, log indexes contiguous, a
  /// leader's log ends in its term, trackers consistent with the log, ...);
  /// aborts with a message when one fails. Tests call it after every step.
  void check_invariants() const;

private:
  /// A read registered on the leader (§6.4).
  struct pending_read {
    uint64_t id;
    /// self for local reads, else the follower that forwarded it.
    node_id origin;
    /// Round of heartbeats that must be acknowledged by a majority.
    uint64_t round;
    /// The read index; unknown until the leader committed in its term.
    std::optional<log_index> index;
  };

  /// A read a follower forwarded to its leader.
  struct forwarded_read {
    uint64_t id;
    node_id leader;
    uint64_t sent_at;
  };

  // -- roles (§3.4) ----------------------------------------------------------

  void become_follower(term_t term, node_id leader);
  void become_pre_candidate();
  void become_candidate(bool transfer);
  void become_leader();
  void campaign();
  void reset_election_timer();
  void set_leader(node_id leader);
  void set_vote(node_id candidate);
  void abandon_leadership();
  bool in_lease() const noexcept;
  bool is_voter(node_id id) const noexcept;
  /// A voter, or removed by an uncommitted entry of its latest
  /// configuration while a voter of the one before (see campaign()).
  bool may_campaign() const noexcept;
  size_t quorum() const noexcept;

  // -- membership (§4) -------------------------------------------------------

  /// Records the configuration entries among the log's entries from
  /// `from` on (after forgetting those at or after `from`), and brings the
  /// leader's trackers in line with the configuration in force.
  void track_configs(log_index from);
  void config_changed();
  void maybe_leave();

  // -- time ------------------------------------------------------------------

  void tick_election();
  void tick_leader();
  bool quorum_active() const;
  void expire_forwarded_reads();

  // -- messages --------------------------------------------------------------

  bool accept_term(const message& msg);
  void reply_stale(const message& msg);
  void on(node_id from, const vote_request& req);
  void on(node_id from, const vote_response& resp);
  void on(node_id from, const append_request& req);
  void on(node_id from, const append_response& resp);
  void on(node_id from, const install_snapshot& req);
  void on(node_id from, const install_snapshot_response& resp);
  void on(node_id from, const timeout_now& req);
  void on(node_id from, const read_index_request& req);
  void on(node_id from, const read_index_response& resp);
  void follow(node_id leader);
  void tally_vote(node_id from, bool granted);
  bool valid(const append_request& req) const;
  void handle_append(node_id from, const append_request& req);
  void reject_append(node_id from, const append_request& req);
  void reply_append(node_id to, bool success, log_index match,
                    uint64_t read_context);
  void handle_snapshot(node_id from, const install_snapshot& req);

  // -- replication (§3.5, leader) --------------------------------------------

  progress* find_progress(node_id id) noexcept;
  const progress* find_progress(node_id id) const noexcept;
  bool send_append(progress& pr, bool allow_empty);
  void send_appends(progress& pr);
  void broadcast_appends();
  void send_heartbeat(progress& pr);
  void send_commit(progress& pr);
  void broadcast_heartbeat();
  void send_snapshot(progress& pr);
  log_index back_off_hint(const append_response& resp,
                          log_index rejected) const;
  void maybe_send_timeout_now(const progress& pr);
  void abort_transfer(const char* why);

  // -- commit, apply, reads (§3.6, §6.4) -------------------------------------

  void maybe_commit();
  void commit_to(log_index index);
  bool committed_in_term() const noexcept;
  void register_read(uint64_t id, node_id origin);
  uint64_t quorum_read_round() const;
  void confirm_reads();
  void finish_read(const pending_read& read, bool ok);
  void fail_forwarded_reads();

  // -- output ----------------------------------------------------------------

  void send(node_id to, message_body body);
  void send_after_persist(node_id to, message_body body);
  void stage_entries(log_index from);
  void drop_staged_up_to(log_index index, bool all);
  hard_state current_hard_state() const noexcept;
  template <class... Ts>
  void note(log_line::level severity, const Ts&... xs);
  [[noreturn]] void broken(const std::string& what) const;

  core_config cfg_;
  /// Configurations in the log: the first is the one in force at the
  /// compaction point (from the snapshot or the bootstrap, index <= the
  /// compaction point), the rest come from configuration entries after it,
  /// ascending. The last is in force.
  std::deque<std::pair<log_index, configuration>> configs_;
  raft_log log_;
  /// Latest snapshot (taken here or installed from the leader).
  snapshot_meta snapshot_;

  // Persistent state (§3.8 Figure 3.1) and volatile indexes.
  term_t term_;
  node_id vote_;
  log_index commit_;
  /// Last index handed to the shell in `committed` (or loaded by snapshot).
  log_index applied_;
  /// Last index known durable (persisted() or a snapshot).
  log_index persisted_;

  raft::role role_ = raft::role::follower;
  node_id leader_;
  /// Ticks since the node last heard from a leader or granted a vote.
  int election_elapsed_ = 0;
  int randomized_timeout_ = 0;
  int heartbeat_elapsed_ = 0;
  /// Logical clock: ticks since construction.
  uint64_t now_ = 0;
  uint64_t rng_state_;

  /// Votes received in the current (pre-)election: (voter, granted).
  std::vector<std::pair<node_id, bool>> votes_;

  // Leader state.
  std::vector<progress> peers_;
  node_id transfer_target_;
  int transfer_elapsed_ = 0;
  /// Highest heartbeat round sent (ReadIndex, §6.4).
  uint64_t read_round_ = 0;
  bool read_round_needed_ = false;
  std::deque<pending_read> pending_reads_;

  // Follower state.
  std::deque<forwarded_read> forwarded_reads_;

  output out_;
  hard_state reported_state_;
  raft::role reported_role_ = raft::role::follower;
  term_t reported_term_;
  node_id reported_leader_;

  // Invariant tracking (check_invariants() is const but remembers).
  mutable term_t checked_term_;
  mutable node_id checked_vote_;
  mutable log_index checked_commit_;
};

} // namespace conclave::raft
