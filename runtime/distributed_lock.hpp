// distributed_lock: ZooKeeper's lock recipe (no herd effect) on a
// blocking_client, with a fencing token.
//
// What: a mutex shared by processes that talk to the same Conclave cluster.
// The lock is a znode (`lock_path`); every contender creates an
// EPHEMERAL_SEQUENTIAL child of it, and the child with the lowest sequence
// number holds the lock. A contender that is not first watches only the
// child right before its own (its predecessor), so a release wakes exactly
// one waiter (no herd), and the lock is granted in the order the children
// were created (fair, FIFO). The child is ephemeral: when the holder's
// session ends (close, or expiry after the holder died or was cut off for
// longer than its session timeout) the cluster deletes the child and the
// next waiter takes over.
//
// Why a recipe: every service that elects a coordinator or serializes a job
// needs this, and the subtle parts (herd effect, a create whose reply was
// lost, session expiry, stale holders) are easy to get wrong.
//
// The lock is ADVISORY. Conclave does not stop anyone from touching the
// resource the lock names; it only tells the contenders who holds it. Worse,
// "holds" is a lease: a holder that stalls (GC pause, swapped out, cut off
// from the cluster) for longer than its session timeout loses the lock
// without noticing, while the next waiter already holds it. So a protected
// resource must check the FENCING TOKEN of every write:
//
//   token = the zxid at which the holder's lock node was created (its czxid).
//
// Successive holders' tokens strictly increase (a node becomes the holder
// only when every older node is gone, and later nodes get later zxids), so
// a resource that remembers the highest token it has seen and rejects
// writes carrying a lower one never accepts a write from a stale holder
// after a newer holder's write. For a resource kept in Conclave itself, make
// the write conditional on the lock node in one atomic multi:
//
//   client.multi({check_op{lock.node_path()},             // still ours?
//                 set_data_op{"/resource", value, version}});
//
// It fails with NoNode on the check once the lock was lost (the node goes
// with the session), and nothing is written.
//
// A create whose reply is lost (ConnectionLoss or OperationTimeout: it may
// or may not have happened) is handled with ZooKeeper's "protected" names
// (Curator's protection mode): every node this lock object creates is named
// `<prefix><tag>-<sequence>`, with a random 64-bit tag fixed per object, so
// after a lost reply the lock syncs, lists the children and recognizes its
// own node by the tag. A node of ours that shows up later (a duplicate from
// a create whose outcome was unknown, or one a timed-out acquire could not
// delete) is deleted when it is seen, so the lock never waits on itself.
//
// Events: while acquire() waits it takes events from the client's
// next_event() and drops the ones that are not its own, so give the recipes
// a blocking_client of their own if the application uses watches too (a
// session is cheap). While the lock is held nobody reads the client's
// events; an application that wants to learn about a lost lock early passes
// what next_event() returns to on_event(), or calls verify(). Like a
// blocking_client, a distributed_lock is used from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/blocking_client.hpp"

namespace conclave {

/// Asked between a recipe's steps and at least every 50 ms while it waits
/// for a watch: true stops the wait early, as a timeout does (e.g. on
/// SIGTERM). A single request in flight is not interrupted.
using cancel_check = std::function<bool()>;

class distributed_lock {
public:
  /// A lock on `lock_path` through `client`. `data` is stored in this
  /// contender's node (who holds the lock, for operators); `prefix` names
  /// the nodes ("lock-").
  distributed_lock(blocking_client& client, std::string lock_path,
                   std::string data = {}, std::string prefix = "lock-");
  /// Releases the lock if held (best effort).
  ~distributed_lock();

  distributed_lock(const distributed_lock&) = delete;
  distributed_lock& operator=(const distributed_lock&) = delete;

  /// Waits at most `timeout` for the lock (creating `lock_path` and its
  /// ancestors if missing); returns the fencing token, or nullopt on
  /// timeout, cancellation, session expiry or another error (see
  /// last_error()); this contender's node is then gone. Returns the current
  /// token at once if the lock is already held.
  std::optional<int64_t> acquire(std::chrono::milliseconds timeout,
                                 const cancel_check& cancelled = {});

  /// Releases the lock (deletes this contender's node). False if the
  /// deletion could not be confirmed (connection loss, see last_error()):
  /// the lock counts as not held either way, but the node may still be
  /// there, blocking everybody else, until release() succeeds, the next
  /// acquire() deletes it, or the session ends (close the client if
  /// release() keeps failing).
  bool release();

  /// Whether this object believes it holds the lock: true from a successful
  /// acquire() until release(), or until it learns that the lock was lost
  /// (session expired or node deleted: on_event(), verify(), or any failed
  /// call).
  bool is_held() const noexcept { return held_; }

  /// Asks the cluster whether this contender's node still exists; false
  /// (and no longer held) if it is gone or the session expired, false
  /// (held unchanged) if the cluster could not be asked.
  bool verify();

  /// Feeds an event the application got from the client's next_event()
  /// while holding the lock; returns true if it concerned this lock (its
  /// session expired or its node was deleted: the lock is lost).
  bool on_event(const pb::WatchEvent& ev);

  /// The fencing token of the current hold (czxid of the lock node); 0 when
  /// not held.
  int64_t token() const noexcept { return held_ ? token_ : 0; }

  /// This contender's node while queued or held (for check_op), or while
  /// its deletion is unconfirmed; empty otherwise.
  const std::string& node_path() const noexcept { return node_; }

  const std::string& path() const noexcept { return path_; }

  /// Why the last acquire(), release() or verify() failed: ok,
  /// operation_timeout (timed out or cancelled), session_expired (the
  /// client is unusable from now on: make a new one), no_node (the node was
  /// deleted behind our back), or the error the cluster returned.
  error_code last_error() const noexcept { return last_error_; }

  /// How many times acquire() read the queue (the children of the lock
  /// node) since this object was made: a waiter reads it once when it
  /// queues and once each time its predecessor goes, never on releases
  /// further ahead (tests use this to check the absence of a herd effect).
  size_t queue_reads() const noexcept { return queue_reads_; }

private:
  friend class leader_election;

  /// Creates our node, recovering from a lost reply; false on failure.
  bool create_node(std::chrono::steady_clock::time_point deadline);
  /// The lowest node of ours (protected name) among `names`, or empty.
  std::string find_own(const std::vector<std::string>& names) const;
  /// Deletes our node after a failed acquire (bounded retries).
  void abandon();
  /// Deletes our node, trying `tries` times.
  bool remove_node(int tries);
  /// The node is gone (session expired, or deleted): not held any more.
  void lost(error_code why);

  blocking_client& client_;
  std::string path_;
  std::string data_;
  /// `<prefix><tag>-`: the name every node of this object starts with.
  std::string own_prefix_;
  std::string prefix_;
  std::string node_;
  int64_t token_ = 0;
  /// czxid of node_ if the create reply carried it, else 0.
  int64_t created_zxid_ = 0;
  bool held_ = false;
  error_code last_error_ = error_code::ok;
  size_t queue_reads_ = 0;
};

/// Helpers shared by the recipes (distributed_lock, leader_election,
/// barrier); not part of the API.
namespace recipe_detail {

using clock_type = std::chrono::steady_clock;

/// One node of a recipe queue: `<prefix><16 hex digits>-<10 digits>`.
struct queue_entry {
  int64_t sequence = 0;
  std::string name;
};

/// The names of `names` that are queue nodes with `prefix`, by sequence.
std::vector<queue_entry> sorted_queue(const std::vector<std::string>& names,
                                      std::string_view prefix);

/// A random 16-hex-digit tag.
std::string random_tag();

/// Makes sure `path` exists, creating it and missing ancestors as
/// persistent nodes; retries connection loss until `deadline`.
error_code ensure_path(blocking_client& client, std::string_view path,
                       clock_type::time_point deadline);

enum class wait_result { fired, timed_out, cancelled, expired };

/// Waits for a watch event on `path` (ignoring others) until `deadline`.
/// A connection-state event of session expiry ends the wait (expired);
/// disconnects do not (the client resumes the session elsewhere and
/// re-registers its watches). The recipes only wait after leaving a watch,
/// and the client actor tells every actor that ever left a watch about the
/// expiry, so they need no watch_state() subscription (which would add the
/// client's actor to the state listeners once more on every call).
wait_result wait_for_event(blocking_client& client, std::string_view path,
                           clock_type::time_point deadline,
                           const cancel_check& cancelled);

/// Whether `code` leaves the outcome of a write unknown.
constexpr bool outcome_unknown(error_code code) noexcept {
  return code == error_code::connection_loss
         || code == error_code::operation_timeout;
}

} // namespace recipe_detail

} // namespace conclave
