// zk_server: the node's ZooKeeper wire-protocol front end (zk-port).
//
// A listener broker accepts connections and forks one connection broker per
// client; each connection broker decodes jute frames (runtime/zk/
// frame_decoder, records), translates every request into the native
// protocol (runtime/zk/translate) and talks to the node's session actor
// exactly as a native client does: the handshake is its `hello`, each
// request its `request`, `closeSession` its `bye`. So a session, its watches
// and its ephemeral nodes are the same whichever port a client comes
// through, and nothing below the session actor knows about ZooKeeper.
//
// Order: ZooKeeper answers a connection's requests in the order they came;
// the node may finish them out of order (reads are served at once, writes
// after they commit), so each connection keeps its answers in a queue and
// writes the longest finished prefix. Watch notifications are written as
// they arrive: the registry sends a notification before it serves any read
// that reflects the change, and CAF keeps one sender's messages in order,
// so a client sees the notification before such a read's answer.
//
// Trouble: a frame longer than max-request-bytes, a negative length or a
// body that does not decode closes that connection only (logged once per
// connection); a node without a leader, or a session that expired, closes
// the connection after ZooKeeper's answer, and ZooKeeper clients move on.
// A connection that sends a four-letter word gets its text and is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include <caf/io/broker.hpp>

#include "actors/actors.hpp"
#include "runtime/node_metrics.hpp"
#include "runtime/zk/four_letter.hpp"

namespace conclave {

struct zk_server_options {
  std::string bind_address;
  uint16_t port = 0;
  /// Longest frame accepted (requests of max-request-bytes plus headers).
  size_t max_frame_bytes = 1024 * 1024 + 64 * 1024;
  /// Connections one client address may hold (ZooKeeper's maxClientCnxns).
  size_t max_connections_per_address = 60;
  /// Requests one connection may have unanswered; beyond it the connection
  /// stops reading (TCP pushes back on the client) until half are answered
  /// (ZooKeeper's globalOutstandingLimit, per connection here).
  size_t max_outstanding_per_connection = 1000;
  zk::four_letter_whitelist four_letter_words;
  /// "key=value" lines for the "conf" word.
  std::vector<std::pair<std::string, std::string>> configuration;
  /// Requests taking longer than this are answered OperationTimeout.
  std::chrono::milliseconds request_timeout{10000};
};

/// A running front end.
struct zk_server_handle {
  caf::actor listener;
  /// The port it listens on.
  uint16_t port = 0;
  /// The front end's figures right now (thread-safe; for the admin port).
  std::function<zk_figures()> figures;
};

/// Spawns the listener on options.port (0: any free port); returns it, or
/// an error text.
std::variant<zk_server_handle, std::string>
start_zk_server(caf::actor_system& sys, zk_server_options options,
                session_actor session, log_actor log, registry_actor registry);

} // namespace conclave
