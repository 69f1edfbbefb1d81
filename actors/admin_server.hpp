// admin_server: a node's admin HTTP port, for operators and scrapers.
//
//   GET /metrics   Prometheus text format: Raft term, indexes and per-peer
//                  lag, znodes, sessions, watches, connections, and the
//                  ZooKeeper port's requests with latency histograms per
//                  operation (runtime/node_metrics)
//   GET /status    the node's status as JSON: the same content as
//                  `conclavectl status`
//
// It listens on conclave.admin-address (loopback by default) and
// conclave.admin-port (8080, as ZooKeeper's AdminServer); admin-server =
// "off" disables it. One broker per connection reads one request head (at
// most 8 KiB, within 10 s), answers and closes: HTTP/1.1 without
// keep-alive, enough for curl and Prometheus. Only GET and HEAD are served;
// anything malformed gets a 4xx answer and the connection closes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <variant>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/actors.hpp"
#include "actors/tcp_listener.hpp"
#include "runtime/node_metrics.hpp"

namespace conclave {

struct admin_server_options {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;
  /// Longest request head accepted.
  size_t max_head_bytes = 8 * 1024;
  /// A connection must send its request head within this time.
  std::chrono::milliseconds request_timeout{10000};
};

/// Spawns the listener on options.port (0: any free port); returns it and
/// the port it listens on, or an error text. `zk` reports the ZooKeeper
/// front end's figures (thread-safe).
std::variant<tcp_listener, std::string>
start_admin_server(caf::actor_system& sys, admin_server_options options,
                   session_actor session, std::function<zk_figures()> zk);

} // namespace conclave
