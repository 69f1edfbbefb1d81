// node: spawns one Conclave node's actors and publishes its client endpoint.
//
// Start-up order: registry, then log (which feeds the registry), then the
// session actor (which uses both); the registry is then subscribed to the
// session actor for results. The session actor is published on
// `bind-address:client-port` for native clients.
#pragma once

#include <cstdint>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/actors.hpp"
#include "runtime/node_config.hpp"

namespace conclave {

struct node_handles {
  registry_actor registry;
  log_actor log;
  session_actor session;
  /// The client port actually bound (differs from the config for port 0).
  uint16_t client_port = 0;
};

/// Spawns and publishes the node. On failure (e.g. the client port is
/// taken) returns a message that names the config key, and spawns nothing
/// that keeps running.
caf::expected<node_handles> start_node(caf::actor_system& sys,
                                       const node_config& cfg);

/// Unpublishes and stops the node's actors.
void stop_node(caf::actor_system& sys, node_handles& node);

} // namespace conclave
