// session_actor: a node's client-facing endpoint (published on client-port).
//
// Each connected client actor gets a session at `hello`; the session ends —
// and a close-session command removes its ephemeral nodes — when the client
// says `bye` or its actor goes down (the connection drops). Reads are
// delegated to the registry; writes are checked against the limits, turned
// into commands and proposed to the log, and answered when the registry
// reports the applied result. The sessions issue grows this actor into the
// full session manager (timeouts, heartbeats, replicated session table).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <unordered_map>

#include "actors/actors.hpp"
#include "actors/clock.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// Limits the session actor enforces before anything enters the log.
struct session_limits {
  /// A write not applied within this time is answered OperationTimeout.
  int64_t request_timeout_ms = 10000;
  size_t max_data_bytes = 1024 * 1024;
  size_t max_request_bytes = 1024 * 1024 + 64 * 1024;
  size_t max_multi_ops = 1000;
  size_t max_pending_requests = 10000;
  size_t max_connections = 10000;
};

/// A write waiting for its applied result.
struct pending_write {
  caf::typed_response_promise<pb::Response> promise;
  int64_t deadline_ms = 0;
};

struct session_state {
  static inline const char* name = "session";

  node_id self_id;
  session_limits limits;
  registry_actor registry;
  log_actor log;
  election_actor election;
  clock_fn clock;
  pb::Leadership leadership;
  /// Client actors subscribed to leadership changes.
  std::map<caf::actor_addr, client_actor> leadership_subscribers;
  /// Connected clients and their sessions.
  std::unordered_map<caf::actor_addr, int64_t> sessions;
  /// ZooKeeper-style session ids: node id in the top byte, start time and a
  /// counter below, so ids stay unique across restarts.
  int64_t next_session_id = 0;
  /// Request ids start from this boot's clock (ms << 20), so that results of
  /// entries an earlier run of this node proposed never answer a new write.
  uint64_t next_request_id = 1;
  /// Sessions whose close is proposed but not yet applied: session id ->
  /// (request id, deadline); re-proposed until applied (closing twice is
  /// harmless), so a dead client's ephemerals always go.
  std::map<int64_t, std::pair<uint64_t, int64_t>> closing;
  /// Writes waiting for their applied result.
  std::unordered_map<uint64_t, pending_write> pending;
};

/// First session id of a node started at `start_ms` (ZooKeeper's scheme).
int64_t initial_session_id(node_id id, int64_t start_ms);

session_actor::behavior_type
session_manager(session_actor::stateful_pointer<session_state> self, node_id id,
                session_limits limits, registry_actor registry, log_actor log,
                election_actor election, clock_fn clock);

} // namespace conclave
