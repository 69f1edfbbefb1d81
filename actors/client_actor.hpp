// client_actor: a native client's connection to a Conclave cluster.
//
// The client actor owns the connection and the session: it connects to the
// first reachable server of its list (trying them in turn), opens a session
// with `hello`, queues requests while connecting (bounded), relays each
// request to the node and each response back, and keeps the session alive
// with a ping every third of its timeout. When its node goes down, stops
// answering pings or says it lost its leader, the client moves to the next
// server and resumes the same session there (id and password), re-registering
// its watches with the last zxid it saw (SetWatches), so no change is missed.
// It learns that its session expired only from a node that applied the
// expiry; expiry is final for a client actor (spawn a new one).
//
// Watches: an application asks for one with (watch_atom, request, listener);
// the client keeps a client_watch_table and routes each notification to the
// listeners whose watches it fires. Connection-state changes (connected,
// disconnected, expired) go to listeners subscribed with state_atom.
// Applications talk to it with typed messages (actors.hpp: client_actor) or
// through blocking_client for simple programs.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <unordered_map>
#include <string>
#include <vector>

#include "actors/actors.hpp"
#include "runtime/client_watch_table.hpp"

namespace conclave {

struct server_address {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const;
};

/// Parses "host:port[,host:port...]"; an empty vector on a malformed list.
std::vector<server_address> parse_server_list(std::string_view text);

struct client_options {
  std::vector<server_address> servers;
  /// How long one request (or connection attempt) may take.
  std::chrono::milliseconds request_timeout{10000};
  /// Requests queued while connecting; more are refused (throttled_op).
  size_t max_queued_requests = 1000;
  /// Requested session timeout (the cluster clamps it).
  std::chrono::milliseconds session_timeout{10000};
};

/// ZooKeeper's KeeperState values for connection-state events.
enum class connection_state : int32_t {
  disconnected = 0,
  connected = 3,
  expired = -112,
  /// The application closed the session (ZooKeeper's Closed).
  closed = 7,
};

struct client_state {
  static inline const char* name = "client";

  /// A request on its way: waiting for a connection or for a retry.
  struct queued {
    pb::Request request;
    caf::typed_response_promise<pb::Response> promise;
    std::chrono::steady_clock::time_point deadline;
    uint32_t attempt = 0;
    /// Runs on the node's response before the application sees it (watch
    /// bookkeeping).
    std::function<void(const pb::Response&)> on_response;
  };

  client_options options;
  session_actor server;
  pb::Hello hello;
  /// The session, once opened: resumed with these on every reconnect.
  int64_t session_id = 0;
  std::string password;
  connection_state state = connection_state::disconnected;
  /// A server answered but could not serve (no leader): keep trying.
  bool worth_retrying = false;
  /// Pings: one outstanding at most; the timer runs while the session lives.
  bool ping_outstanding = false;
  bool pinging = false;
  /// A reconnect round is scheduled (connect_atom).
  bool reconnect_scheduled = false;
  uint32_t failed_rounds = 0;
  /// When the connected node last answered (handshake or ping): the
  /// cluster expires the session about a timeout after that, so a resume
  /// must succeed before then.
  std::chrono::steady_clock::time_point last_heard;
  /// Identities proven with auth requests: proven again on every new
  /// connection (a node knows them per connection, as ZooKeeper does).
  std::vector<pb::AuthRequest> auth;
  /// Watches and the application actors they go to.
  client_watch_table watches;
  std::unordered_map<uint64_t, watch_listener> listeners;
  std::unordered_map<caf::actor_addr, uint64_t> listener_ids;
  uint64_t next_listener_id = 1;
  /// Listeners of connection-state events.
  std::vector<watch_listener> state_listeners;
  size_t next_server = 0;
  /// Highest zxid seen in any response: requests carry it as min_zxid, so
  /// the client never reads older state after moving to another node.
  int64_t last_zxid = 0;
  bool connecting = false;
  std::deque<queued> queue;
  /// Application actors told about leadership changes, and the last one.
  std::vector<leadership_listener> leadership_subscribers;
  pb::Leadership leadership;
  /// Requests sent to the current server and not answered yet: failed at
  /// once (ConnectionLoss) when the server goes down.
  std::unordered_map<uint64_t, caf::typed_response_promise<pb::Response>>
    inflight;
  uint64_t next_inflight_id = 1;
  /// Requests waiting to be sent again (see retry_atom).
  std::unordered_map<uint64_t, queued> retries;
  uint64_t next_retry_id = 1;
  struct hello_waiter {
    caf::typed_response_promise<pb::Hello> promise;
    std::chrono::steady_clock::time_point deadline;
  };
  std::vector<hello_waiter> hello_waiters;
};

client_actor::behavior_type
client(client_actor::stateful_pointer<client_state> self,
       client_options options);

} // namespace conclave
