// client_actor: a native client's connection to a Conclave cluster.
//
// The client actor owns the connection: it connects to the first reachable
// server of its list (trying them in turn), opens a session with `hello`,
// queues requests while connecting (bounded), relays each request to the
// node and each response back, and moves to the next server when the current
// one goes down. Applications talk to it with typed messages (actors.hpp:
// client_actor) or through blocking_client for simple programs.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <string>
#include <vector>

#include "actors/actors.hpp"

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
};

struct client_state {
  static inline const char* name = "client";

  /// A request on its way: waiting for a connection or for a retry.
  struct queued {
    pb::Request request;
    caf::typed_response_promise<pb::Response> promise;
    std::chrono::steady_clock::time_point deadline;
    uint32_t attempt = 0;
  };

  client_options options;
  session_actor server;
  pb::Hello hello;
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
  std::vector<caf::typed_response_promise<pb::Hello>> hello_waiters;
};

client_actor::behavior_type
client(client_actor::stateful_pointer<client_state> self,
       client_options options);

} // namespace conclave
