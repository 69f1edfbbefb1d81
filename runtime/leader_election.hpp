// leader_election: ZooKeeper's leader-election recipe (no herd effect) on a
// blocking_client.
//
// What: candidates for one role (a coordinator, a primary, a scheduler)
// each create an EPHEMERAL_SEQUENTIAL child of `election_path` holding their
// `candidate_data` (an address, a name); the candidate whose child has the
// lowest sequence number leads. A candidate that does not lead watches only
// the child right before its own, so the leader's departure wakes exactly
// the next candidate (no herd), and leadership passes in the order the
// candidates joined. The child is ephemeral: a leader that dies or is cut
// off for longer than its session timeout loses leadership when the cluster
// expires its session.
//
// Why: this is the distributed_lock recipe with a different reading (the
// lock holder is the leader; everyone may ask who it is), so it is built on
// distributed_lock and shares its handling of lost create replies,
// duplicates and session expiry (see distributed_lock.hpp).
//
// Leadership is ADVISORY and a lease, like the lock: a leader that stalls
// past its session timeout is replaced without noticing at once. Hence
// term(), the leader's FENCING TOKEN: the zxid that created its candidate
// node (czxid). Terms of successive leaders strictly increase, so whatever
// the leader commands (a database, a storage server, a znode) rejects
// commands carrying a term lower than the highest it has seen; for state
// kept in Conclave, make each write conditional on leadership:
//
//   client.multi({check_op{election.node_path()},        // still leading?
//                 set_data_op{"/cluster/config", value}});
//
// Events: campaign() consumes the client's events like
// distributed_lock::acquire() (give the recipe its own blocking_client if
// the application uses watches); a leader learns of its loss from verify(),
// on_event() or a failed conditional write. Use from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "runtime/distributed_lock.hpp"

namespace conclave {

class leader_election {
public:
  /// A candidate for the election at `election_path` (created if missing)
  /// that publishes `candidate_data` while it runs.
  leader_election(blocking_client& client, std::string election_path,
                  std::string candidate_data);
  /// Resigns if still running (best effort).
  ~leader_election() = default;

  leader_election(const leader_election&) = delete;
  leader_election& operator=(const leader_election&) = delete;

  /// Joins the election and waits at most `timeout` until this candidate
  /// leads; true if it does. On timeout, cancellation or session expiry it
  /// withdraws and returns false (see last_error()). True at once if it
  /// already leads.
  bool campaign(std::chrono::milliseconds timeout,
                const cancel_check& cancelled = {});

  /// Whether this candidate believes it leads (see
  /// distributed_lock::is_held()).
  bool is_leader() const noexcept { return lock_.is_held(); }

  /// The fencing token of the current leadership (czxid of the candidate
  /// node); 0 when not leading.
  int64_t term() const noexcept { return lock_.token(); }

  /// The data of the current leader (the candidate with the lowest
  /// sequence number), as of the call (it syncs first); nullopt if there is
  /// no candidate or the cluster could not be asked. Needs no campaign().
  std::optional<std::string> leader();

  /// Steps down and leaves the election (deletes the candidate node); false
  /// if the deletion could not be confirmed.
  bool resign() { return lock_.release(); }

  /// Asks the cluster whether the candidate node still exists (see
  /// distributed_lock::verify()).
  bool verify() { return lock_.verify(); }

  /// Feeds an event from the client's next_event(); true if it ended this
  /// candidacy (session expired, node deleted).
  bool on_event(const pb::WatchEvent& ev) { return lock_.on_event(ev); }

  /// Why the last campaign(), resign() or verify() failed (see
  /// distributed_lock::last_error()).
  error_code last_error() const noexcept { return lock_.last_error(); }

  /// This candidate's node while running (for check_op); empty otherwise.
  const std::string& node_path() const noexcept { return lock_.node_path(); }

  const std::string& path() const noexcept { return lock_.path(); }

  /// How many times campaign() read the candidate list (see
  /// distributed_lock::queue_reads()).
  size_t queue_reads() const noexcept { return lock_.queue_reads(); }

  /// Name prefix of candidate nodes.
  static constexpr const char* candidate_prefix = "candidate-";

private:
  blocking_client& client_;
  distributed_lock lock_;
};

} // namespace conclave
