// node: opens a Conclave node's storage, spawns its actors and publishes its
// ports.
//
// Start-up order: storage is opened and checked first (corruption stops the
// node before anything is served); then the registry (loading the newest
// snapshot), the storage worker, the log actor (with the Raft core restored
// from disk), the election actor and the session actor. The log actor is
// published on `peer-port` for the other members, the session actor on
// `client-port` for native clients.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/actors.hpp"
#include "runtime/node_config.hpp"

namespace conclave {

struct node_handles {
  registry_actor registry;
  storage_actor storage;
  log_actor log;
  election_actor election;
  session_actor session;
  /// The ZooKeeper front end's listener (actors/zk_server.hpp).
  caf::actor zk_listener;
  /// The admin port's listener (actors/admin_server.hpp), if enabled.
  caf::actor admin_listener;
  /// Ports actually bound (they differ from the config for port 0).
  uint16_t client_port = 0;
  uint16_t peer_port = 0;
  uint16_t zk_port = 0;
  uint16_t admin_port = 0;
};

/// Why start_node failed.
enum class start_failure { config, storage };

struct start_error {
  start_failure kind;
  std::string message;
};

/// Spawns and publishes the node. On failure (a taken port, damaged
/// storage) returns what went wrong, naming the config key or the file and
/// offset, and leaves nothing running.
std::variant<node_handles, start_error> start_node(caf::actor_system& sys,
                                                   const node_config& cfg);

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

/// Unpublishes and stops the node's actors.
void stop_node(caf::actor_system& sys, node_handles& node);

} // namespace conclave
