// session_actor: a node's client-facing endpoint (published on client-port)
// and its part in keeping sessions alive.
//
// Sessions are replicated (runtime/session_table, applied by the registry):
// a client's `hello` either opens a session — this node draws the id (its
// node id in the top byte) and a random password and proposes the open —
// or resumes one with its id and password, which any node can check against
// its applied table. A session outlives its connection: when a client's
// connection drops, the session stays (with its ephemeral nodes) until the
// client resumes it elsewhere or the leader expires it; only `bye` closes
// it at once.
//
// Liveness: every request and ping marks the session as heard from. A
// follower forwards the ids it heard from to the leader in batches (through
// the log actors, every liveness interval); the leader feeds them to its
// session_tracker and proposes an expiry for sessions silent longer than
// their timeout. It does so only right after confirming it still leads a
// quorum (ReadIndex), and after any failed confirmation it first gives every
// session a fresh full timeout, as after a leader change: a leader cut off
// from its followers never hears their clients, and must not expire them.
//
// A node without a leader cannot serve its clients: it tells each one it is
// disconnected (a state event), drops the connection, and refuses new ones,
// so clients move to a node that can. Clients learn that their session
// expired only from a node that applied the expiry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "actors/actors.hpp"
#include "runtime/node_metrics.hpp"
#include "actors/clock.hpp"
#include "runtime/acl.hpp"
#include "runtime/session_tracker.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// Limits and timing the session actor works with.
struct session_limits {
  /// A write not applied within this time is answered OperationTimeout.
  int64_t request_timeout_ms = 10000;
  size_t max_data_bytes = 1024 * 1024;
  size_t max_request_bytes = 1024 * 1024 + 64 * 1024;
  size_t max_multi_ops = 1000;
  size_t max_pending_requests = 10000;
  size_t max_connections = 10000;
  /// Identities one connection may prove with auth requests.
  size_t max_auth_ids = 16;
  /// The leader deletes empty containers and expired TTL nodes this often,
  /// at most container_max_per_minute a minute.
  int64_t container_check_interval_ms = 60000;
  size_t container_max_per_minute = 10000;
  /// How often liveness goes to the leader and the leader checks for
  /// expired sessions (a fraction of the shortest session timeout).
  int64_t liveness_interval_ms = 500;
  /// A liveness round that comes this much later than the previous one
  /// means this process stalled (a pause, an overloaded machine): liveness
  /// that arrived meanwhile may not have been counted yet, so the leader
  /// gives every session a fresh timeout instead of expiring them.
  int64_t stall_grace_ms = 2000;
};

/// A write (or session open) waiting for its applied result.
struct pending_write {
  std::function<void(pb::Response&&)> done;
  int64_t deadline_ms = 0;
};

/// A client connected to this node.
struct client_connection {
  int64_t session = 0;
  int32_t timeout_ms = 0;
  watch_listener listener;
  /// What the connection proved (auth requests) and where it comes from
  /// (the address, from the node's own ZooKeeper front end): ACLs are
  /// checked against it. Per connection, as in ZooKeeper: a client that
  /// moves to another node authenticates again.
  auth_info auth;
};

struct session_state {
  static inline const char* name = "session";

  node_id self_id;
  session_limits limits;
  registry_actor registry;
  log_actor log;
  /// The election actor at spawn time; transfers look up the current one
  /// in the supervisor's directory when there is a supervisor.
  election_actor election;
  supervisor_actor supervisor;
  /// Latency of writes and linearizable reads by operation, for /metrics.
  latency_by_op request_seconds;
  /// Restart counts from the supervisor (NodeStatus.restarts only).
  pb::NodeStatus restarts;
  /// Monotonic milliseconds (deadlines, liveness).
  clock_fn clock;
  pb::Leadership leadership;
  /// Client actors subscribed to leadership changes.
  std::map<caf::actor_addr, client_actor> leadership_subscribers;
  /// Connected clients, and which client holds which session here.
  std::unordered_map<caf::actor_addr, client_connection> connections;
  std::unordered_map<int64_t, caf::actor_addr> by_session;
  /// Session ids this node issues: make_session_id(self, counter, base),
  /// with the wall clock at start as base (ZooKeeper's scheme).
  int64_t session_time_base_ms = 0;
  uint64_t session_counter = 0;
  /// Request ids start from this boot's wall clock (ms << 20), so that
  /// results of entries an earlier run of this node proposed never answer a
  /// new write.
  uint64_t next_request_id = 1;
  /// Sessions whose close is proposed but not yet applied: session id ->
  /// (request id, deadline); re-proposed until applied (closing twice is
  /// harmless), so a departed client's ephemerals always go.
  std::map<int64_t, std::pair<uint64_t, int64_t>> closing;
  /// Writes waiting for their applied result.
  std::unordered_map<uint64_t, pending_write> pending;

  // -- liveness ---------------------------------------------------------------
  /// Sessions heard from since the last batch went to the leader.
  std::set<int64_t> touched;
  /// This node leads; the tracker exists only then (and is ready once the
  /// registry sent the session table).
  bool leading = false;
  std::optional<session_tracker> tracker;
  bool tracker_ready = false;
  /// The last quorum confirmation succeeded; a confirmation is running.
  bool quorum_ok = true;
  bool confirming = false;
  /// When the last liveness round ran (0: never).
  int64_t last_round_ms = 0;
};

/// Behavior of node `id`'s session actor. `clock` must be monotonic.
session_actor::behavior_type
session_manager(session_actor::stateful_pointer<session_state> self, node_id id,
                session_limits limits, registry_actor registry, log_actor log,
                election_actor election, clock_fn clock);

} // namespace conclave
