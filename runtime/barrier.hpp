// barrier: ZooKeeper's double barrier on a blocking_client.
//
// What: `count` participants meet at `path`. enter() returns once at least
// `count` of them have entered, so nobody starts a computation before all
// are there; leave() returns once all of them have left, so nobody moves on
// before all are done. Each participant is an EPHEMERAL child of `path`
// named after it (`name`), so a participant that dies leaves the barrier.
//
// Why the recipe looks the way it does (ZooKeeper's recipe, unchanged):
// - enter: the participant that completes the count creates the persistent
//   node `path`/ready; the others wait for it with an exists() watch. The
//   alternative, waiting until the child list is long enough, is racy: a
//   fast participant that already left shortens the list again, and a slow
//   one never sees it complete. Every arrival then wakes every waiter once,
//   which a barrier cannot avoid.
// - leave: the lowest-named participant waits for the highest one to go;
//   every other participant deletes its node and waits for the lowest one
//   to go. So each departure wakes at most one waiter (no herd), and when
//   the lowest participant leaves last, everybody else wakes once. The
//   last one out deletes the ready node.
//
// A barrier path serves one round: use a fresh path (e.g. with a job id or
// a round number) for each, since a ready node left by a round that did not
// finish (a participant died inside) would let the next round pass at
// once. Barriers are ADVISORY like every recipe: a participant whose session
// expires silently drops out (a later enter() or leave() fails with
// session_expired).
//
// Events: enter() and leave() consume the client's events like
// distributed_lock::acquire() (give the recipe its own blocking_client if
// the application uses watches). Use from one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "runtime/distributed_lock.hpp"

namespace conclave {

class barrier {
public:
  /// Participant `name` (one path segment, not "ready") of the barrier of
  /// `count` participants at `path` (created if missing).
  barrier(blocking_client& client, std::string path, size_t count,
          std::string name);
  /// Deletes this participant's node if it is still there (best effort).
  ~barrier();

  barrier(const barrier&) = delete;
  barrier& operator=(const barrier&) = delete;

  /// Enters and waits at most `timeout` until `count` participants have
  /// entered; true once they have. On timeout or cancellation it deletes
  /// its node again and returns false (see last_error()); if the count was
  /// completed at that very moment, the others may pass having counted it.
  bool enter(std::chrono::milliseconds timeout,
             const cancel_check& cancelled = {});

  /// Leaves (deletes this participant's node) and waits at most `timeout`
  /// until no participant is left; true once none is. On timeout it returns
  /// false: its node may already be gone (call leave() again to keep
  /// waiting).
  bool leave(std::chrono::milliseconds timeout,
             const cancel_check& cancelled = {});

  /// Why the last enter() or leave() failed: ok, operation_timeout (timed
  /// out or cancelled), bad_arguments (count 0 or a bad name), node_exists
  /// (another session entered under this name), session_expired, or the
  /// error the cluster returned.
  error_code last_error() const noexcept { return last_error_; }

  /// This participant's node.
  const std::string& node_path() const noexcept { return node_; }

  /// Name of the node the participant completing the count creates.
  static constexpr const char* ready_name = "ready";

private:
  /// Creates this participant's node (or finds it already ours).
  bool join(recipe_detail::clock_type::time_point deadline);
  bool fail(error_code why);

  blocking_client& client_;
  std::string path_;
  size_t count_;
  std::string name_;
  std::string node_;
  std::string ready_;
  bool joined_ = false;
  error_code last_error_ = error_code::ok;
};

} // namespace conclave
