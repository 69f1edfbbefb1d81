// session_table: the replicated table of client sessions (ZooKeeper's
// SessionTracker state as every server holds it).
//
// A session's life is a sequence of log commands: the leader proposes an open
// (carrying the id, the requested timeout and a password it drew from a
// random source), a close (the client said goodbye) or an expire (the leader's
// session_tracker found it silent for longer than its timeout). Every node
// applies the committed commands to its own session_table in log order, so
// every node knows every session and its password, and any node can accept a
// reconnecting client. The table is pure and deterministic: no clock, no
// randomness, no I/O; replicas fed the same commands hold byte-identical
// tables (save() output). Ending a session also removes its ephemeral znodes;
// that is data_tree's close_session_op, applied by the shell with the close.
//
// Limits are part of the replicated state machine, like data_tree_limits:
// open() clamps the timeout and enforces max_sessions with the table's
// session_limits_config, so every node must run with the same limits (the
// leader should also check them before proposing, so that a refused open
// rarely reaches the log).
//
// Anything a log entry can carry yields an error value, never an abort: an
// entry every replica fails on would otherwise crash-loop the whole cluster.
// Aborts are reserved for the shell's own bugs (a zero zxid, invalid limits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "runtime/error_code.hpp"
#include "runtime/result.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// Length of a session password (ZooKeeper's 16 random bytes).
constexpr size_t session_password_bytes = 16;

/// Highest node id that can issue session ids: the node id fills the top byte
/// of a session id, and 0xFF there marks a TTL node's ephemeralOwner
/// (ZooKeeper's EphemeralType.validateServerId allows 1..254 likewise).
constexpr uint64_t max_session_leader_id = 254;

/// Whether `leader` may issue session ids (1 ≤ id ≤ max_session_leader_id).
constexpr bool can_issue_session_ids(node_id leader) noexcept {
  return leader.value() >= 1 && leader.value() <= max_session_leader_id;
}

/// Whether `id` may name a session: not 0 (ephemeralOwner 0 means
/// "persistent"), not INT64_MIN (the container marker) and no 0xFF top byte
/// (the TTL marker). See data_tree's node kinds.
constexpr bool is_valid_session_id(session_id id) noexcept {
  auto raw = static_cast<uint64_t>(id.value());
  return raw != 0 && raw != (uint64_t{1} << 63) && (raw >> 56) != 0xFF;
}

/// ZooKeeper's session id scheme (SessionTrackerImpl.initializeNextSessionId):
/// the leader's node id in the top byte, the low 40 bits of `time_ms` in bits
/// 16..55, plus `counter`; the sum of time bits and counter wraps within the
/// low 56 bits and never touches the node byte (ZooKeeper lets it carry).
///
///   id = leader << 56 | ((time_ms mod 2^40) * 2^16 + counter) mod 2^56
///
/// The leader picks `time_ms` once, when it becomes leader (wall-clock ms
/// since the epoch, so that it grows across restarts), and proposes opens
/// with counter 0, 1, 2, ... Uniqueness:
/// - ids of different leaders differ (top byte);
/// - ids of one leader and one time base differ for counters < 2^56;
/// - ids of one leader with time bases t1 < t2 (less than 2^40 ms ≈ 34.8
///   years apart) differ as long as the run based on t1 used counters below
///   (t2 - t1) * 65536, i.e. issued fewer than 65,536 ids per millisecond
///   between the two bases.
/// session_table::next_free_id() additionally skips reserved and taken ids,
/// and open() refuses a duplicate deterministically, so a collision never
/// splits replicas; it only fails one open.
///
/// Precondition: can_issue_session_ids(leader) (aborts otherwise; the config
/// must not allow such a node to lead). The result may be a reserved id (for
/// leader 128, once per 2^56 ids); next_free_id() skips it.
session_id make_session_id(node_id leader, uint64_t counter, int64_t time_ms);

/// One session, as replicated.
struct session_info {
  session_id id;
  /// The negotiated (clamped) timeout.
  int32_t timeout_ms = 0;
  /// session_password_bytes bytes, drawn by the proposing leader.
  std::string password;
  /// The zxid of the open command.
  zxid created_zxid;

  friend bool operator==(const session_info& a, const session_info& b) {
    return a.id == b.id && a.timeout_ms == b.timeout_ms
           && a.password == b.password && a.created_zxid == b.created_zxid;
  }
  friend bool operator!=(const session_info& a, const session_info& b) {
    return !(a == b);
  }
};

/// Cluster-wide session limits (identical on every node, see above).
/// Defaults are ZooKeeper's with tickTime = 2000: 2 to 20 ticks.
struct session_limits_config {
  int32_t min_timeout_ms = 4000;
  int32_t max_timeout_ms = 40000;
  /// Most sessions the cluster holds at once; opens beyond are ThrottledOp.
  size_t max_sessions = 100000;

  /// ZooKeeper never refuses a timeout: it clamps it into [min, max]
  /// (a negative or zero request becomes min).
  int32_t clamp_timeout(int32_t requested_ms) const noexcept {
    if (requested_ms < min_timeout_ms)
      return min_timeout_ms;
    if (requested_ms > max_timeout_ms)
      return max_timeout_ms;
    return requested_ms;
  }

  /// 1 ≤ min ≤ max and max_sessions ≥ 1.
  bool valid() const noexcept {
    return min_timeout_ms >= 1 && min_timeout_ms <= max_timeout_ms
           && max_sessions >= 1;
  }
};

class session_table {
public:
  /// Sessions in ascending id order.
  using map_type = std::map<session_id, session_info>;

  /// Precondition: limits.valid() (aborts otherwise).
  explicit session_table(session_limits_config limits = {});

  // -- apply (log commands, identical on every node) --------------------------

  /// Opens session `id` with the clamped timeout at zxid `at`. Errors (the
  /// table is unchanged):
  /// - bad_arguments: `id` is not is_valid_session_id() (0, the container
  ///   or a TTL marker), or the password is not session_password_bytes long;
  /// - runtime_inconsistency: `id` is already open. Not an abort: the id
  ///   comes from the log, and a proposer that reuses an id (a clock set
  ///   back, a re-proposed entry) must fail one open, not crash every
  ///   replica. The leader avoids it with next_free_id();
  /// - throttled_op: max_sessions sessions are open.
  /// Precondition: at > 0 (aborts otherwise).
  result<session_info> open(session_id id, int32_t requested_timeout_ms,
                            std::string password, zxid at);

  /// Closes (or expires) `id`; returns whether it was open.
  bool close(session_id id);

  // -- reads ------------------------------------------------------------------

  /// The session, or nullptr. Valid until the next open/close/assignment.
  const session_info* find(session_id id) const;

  /// Whether `id` is open and `password` is its password. Compares in time
  /// independent of where the passwords differ.
  bool check_password(session_id id, std::string_view password) const;

  size_t size() const noexcept { return sessions_.size(); }
  bool empty() const noexcept { return sessions_.empty(); }

  /// All sessions in ascending id order (snapshots, the tracker's reset).
  const map_type& sessions() const noexcept { return sessions_; }

  const session_limits_config& limits() const noexcept { return limits_; }

  // -- the leader's id generator ----------------------------------------------

  /// The id for the leader's next open proposal: make_session_id(leader,
  /// counter, time_base_ms) for counter, counter + 1, ..., skipping ids that
  /// are not is_valid_session_id() or already open. Sets `counter` one past
  /// the counter used. Tries at most size() + 2 counters. Ids proposed but
  /// not yet applied are not in the table: they never repeat as long as the
  /// leader keeps one counter per time base. Precondition:
  /// can_issue_session_ids(leader).
  session_id next_free_id(node_id leader, uint64_t& counter,
                          int64_t time_base_ms) const;

  // -- snapshots --------------------------------------------------------------
  //
  // Fixed little-endian layout (24 + 36 * n bytes):
  //
  //   offset      size  field
  //   0           8     magic "CNCLSESS"
  //   8           4     u32 format version (1)
  //   12          8     u64 n, the number of sessions
  //   20          36*n  n records in strictly ascending id order:
  //                       i64 id, i32 timeout_ms, i64 created_zxid,
  //                       16 bytes password
  //   20 + 36*n   4     u32 CRC-32C (Castagnoli) of all bytes before it
  //
  // Limits are not saved: they are configuration.

  /// Size of a save() of `n` sessions.
  static constexpr size_t snapshot_bytes(size_t n) noexcept {
    return 24 + 36 * n;
  }

  /// The table as bytes. Deterministic: tables with the same sessions give
  /// identical bytes. Fork-safe like data_tree::save (no locks, no lazily
  /// initialized statics; it allocates the result only).
  std::string save() const;

  /// Rebuilds a table from save() output, with `limits` as its limits.
  /// Any malformed input (wrong magic, version, size or checksum; ids not
  /// strictly ascending or not valid; timeout < 1; created_zxid < 1) yields
  /// data_inconsistency; it never crashes, and the count is checked against
  /// the input's size before anything is allocated. Sessions beyond
  /// limits.max_sessions or with timeouts outside the limits are accepted
  /// (they were valid when opened, under the limits of that time); new
  /// opens are throttled until the table is below the limit again.
  /// Precondition: limits.valid().
  static result<session_table> load(std::string_view bytes,
                                    session_limits_config limits);

private:
  session_limits_config limits_;
  map_type sessions_;
};

} // namespace conclave
