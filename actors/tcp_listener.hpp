// tcp_listener: spawns a broker that owns a listening TCP socket, for the
// node's own protocols on their ports (ZooKeeper's, the admin port's).
// The broker's behavior decides what to do with each new connection.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <variant>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/io/broker.hpp>

namespace conclave {

struct tcp_listener {
  caf::actor broker;
  /// The port it listens on (the one asked for, or a free one for 0).
  uint16_t port = 0;
};

/// Listens on bind_address:port (all interfaces for an empty address, any
/// free port for 0; SO_REUSEADDR) and spawns a broker with `behavior` that
/// owns the socket. Returns it, or why the port could not be opened.
std::variant<tcp_listener, std::string>
spawn_tcp_listener(caf::actor_system& sys, const std::string& bind_address,
                   uint16_t port,
                   std::function<caf::behavior(caf::io::broker*)> behavior);

} // namespace conclave
