// node: starts a Conclave node under its supervisor, hands leadership over
// before a planned stop, and stops it.
//
// Start-up order (actors/node_actors.hpp): storage is opened and checked
// first (corruption stops the node before anything is served); then the
// registry (loading the newest snapshot), the storage worker, the log actor
// (with the Raft core restored from disk, published on `peer-port`), the
// election actor, the session actor (published on `client-port`), the
// ZooKeeper and admin listeners and the custom actors. Then the supervisor
// (actors/supervisor.hpp) takes them over.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

#include <caf/actor_system.hpp>

#include "actors/actors.hpp"
#include "actors/custom_actor.hpp"
#include "actors/node_actors.hpp"
#include "runtime/node_config.hpp"

namespace conclave {

struct node_handles {
  /// The node's supervisor: its directory of current actor handles.
  supervisor_actor supervisor;
  /// Ports actually bound (they differ from the config for port 0).
  node_ports ports;
};

/// Starts the node's actors and their supervisor. On failure (a taken
/// port, damaged storage, an unknown custom actor type) returns what went
/// wrong, naming the config key or the file and offset, and leaves nothing
/// running. `types` must outlive the node.
std::variant<node_handles, start_error> start_node(caf::actor_system& sys,
                                                   const node_config& cfg,
                                                   const actor_registry& types);

/// What hand_over_leadership() did.
struct hand_over_result {
  /// This node was leading (with followers) when asked.
  bool was_leader = false;
  /// Another node leads now (0: none within the timeout).
  uint64_t new_leader = 0;
  std::chrono::milliseconds took{0};
};

/// If this node leads a cluster, hands leadership to the most up-to-date
/// reachable follower (Raft's TimeoutNow, §3.10) and waits until another
/// node leads, at most `timeout`: a leader that shuts down this way leaves
/// no election timeout behind. Does nothing on a follower.
hand_over_result hand_over_leadership(caf::actor_system& sys,
                                      const node_handles& node,
                                      std::chrono::milliseconds timeout);

/// The same through the node's log actor (the supervisor uses it before it
/// restarts a leader's core).
hand_over_result hand_over_leadership(caf::actor_system& sys,
                                      const log_actor& log,
                                      std::chrono::milliseconds timeout);

/// Stops the supervisor and with it every actor of the node; returns true
/// once they are gone, false if they were not gone within `timeout`.
bool stop_node(caf::actor_system& sys, node_handles& node,
               std::chrono::milliseconds timeout);

} // namespace conclave
