// custom_actor: how users extend a node with actors of their own.
//
// A user writes an ordinary CAF actor plus a factory for it, registers the
// factory under a type name in an actor_registry, and builds a node binary
// with run_node(argc, argv, registry) (actors/node_main.hpp). A node's
// config then lists instances of registered types, each with its own
// settings:
//
//   actors {
//     web-health {                 # instance name (logs, status, metrics)
//       type = "health-checker"    # registered type
//       interval-ms = 2000         # the rest belongs to the actor
//     }
//   }
//
// At start-up the node checks every instance: its type must be registered
// and the type's check() must accept its settings, or the node refuses to
// start naming the key. Then it spawns each instance under its supervisor
// (one-for-one: an instance that fails is restarted on its own, within the
// node's restart budget) and hands it a node_context: a client actor of
// its own connected to this node (reads, writes through the log, watches,
// service subscriptions with subscribe(), session and connection events),
// plus its settings. The client reconnects by itself when the node's
// session actor restarts, so custom actors never hold a stale handle.
// See docs/extending.md and examples/.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/settings.hpp>

#include "actors/actors.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// What a custom actor gets from its node. Every spawn (the first and each
/// restart) gets a new client actor with a new session; the node stops the
/// client when the custom actor goes.
struct node_context {
  /// The instance's name in the config (`actors.NAME`).
  std::string name;
  /// The node it runs on.
  node_id node;
  /// A client of this node with a session of its own (see client_actor.hpp):
  /// requests, watches, leadership and connection-state subscriptions.
  client_actor client;
  /// The instance's settings: its config group without `type`.
  caf::settings settings;
  /// The node's data directory (conclave.data-dir): where an actor keeps
  /// files of its own, under a name of its own.
  std::string data_dir;
};

/// A registered type of custom actor.
struct actor_type {
  /// Checks an instance's settings before the node starts; returns what is
  /// wrong ("KEY: expected ..., got ...") or nothing. May be empty.
  std::function<std::optional<std::string>(const caf::settings&)> check;
  /// Spawns an instance. The node monitors the returned actor and restarts
  /// it (calling spawn again with a fresh context) if it exits with an
  /// error; an actor that quits normally is not restarted.
  std::function<caf::actor(caf::actor_system&, const node_context&)> spawn;
};

/// Custom actor types by name.
class actor_registry {
public:
  /// Registers `type` under `name` (replacing an earlier one).
  void add(std::string name, actor_type type);

  /// The type registered under `name`, or nullptr.
  const actor_type* find(const std::string& name) const;

  /// All registered names, sorted.
  std::vector<std::string> names() const;

private:
  std::map<std::string, actor_type> types_;
};

} // namespace conclave
