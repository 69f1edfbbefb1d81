// node_actors: how each actor of a node is started, wired to the others
// and stopped; used by start_node for the first start and by the node's
// supervisor for every restart, so that both follow one path.
//
// Children by name, in start order (see runtime/supervision_plan.hpp):
//   registry   opens the data directory (corruption stops the start here)
//              and loads the newest snapshot into a new tree
//   storage    the storage worker, over the files just opened
//   log        the Raft core restored from disk; published on peer-port
//   election   drives the log's clock; announced to the log and session
//   session    published on client-port; announced to registry, log and
//              election, told its supervisor
//   zk         the ZooKeeper front end's listener on zk-port
//   admin      the admin HTTP port (if conclave.admin-server = "on")
//   NAME       each custom actor (actors.NAME), with a client of its own
//              connected to this node
// A restarted child gets the same port it had (also when the config said
// 0). Everything here blocks (opening storage, binding ports, waiting for
// an old actor to be gone), so it runs on the caller's thread at start-up
// and in the supervisor's own thread afterwards, never in a pooled actor.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "actors/actors.hpp"
#include "actors/custom_actor.hpp"
#include "actors/zk_server.hpp"
#include "runtime/raft/core.hpp"
#include "runtime/node_config.hpp"

namespace conclave {

namespace storage {
struct node_storage;
} // namespace storage

/// Why a child could not start.
enum class start_failure { config, storage };

struct start_error {
  start_failure kind;
  std::string message;
};

/// Ports a node listens on (0: not listening).
struct node_ports {
  uint16_t client = 0;
  uint16_t peer = 0;
  uint16_t zk = 0;
  uint16_t admin = 0;
};

/// Sends `hdl` an exit message with `reason` at high priority, so that it
/// goes before whatever else waits in the mailbox (an actor that wakes up
/// from a hang exits before it handles anything stale).
void send_exit(const caf::actor& hdl, caf::error reason);

class node_actors {
public:
  node_actors(caf::actor_system& sys, node_config cfg,
              const actor_registry& types);
  ~node_actors();

  node_actors(const node_actors&) = delete;
  node_actors& operator=(const node_actors&) = delete;

  /// Checks what only start-up can check: every custom actor's type is
  /// registered and accepts its settings.
  std::optional<start_error> check_custom_actors() const;

  /// Starts child `name` (its dependencies must be running); on failure
  /// nothing of it is left running.
  std::optional<start_error> start(const std::string& name);

  /// Stops child `name` and waits (at most `wait`) until it is gone; false
  /// if it did not go in time (it is hung; it exits when it wakes up).
  bool stop(const std::string& name, std::chrono::milliseconds wait);

  /// The child's current handle (null if it is not running).
  caf::actor handle(const std::string& name) const;

  /// The supervisor: told to the session actor now and on every restart.
  void set_supervisor(supervisor_actor supervisor);

  /// Restart counts for the session actor's status (pushed on change).
  void set_restarts(pb::NodeStatus restarts);

  const node_config& config() const noexcept { return cfg_; }
  const node_ports& ports() const noexcept { return ports_; }

private:
  /// Sends `xs` to `dest` from an actor of this process.
  template <class Dest, class... Ts>
  void tell(const Dest& dest, Ts&&... xs);

  std::optional<start_error> start_registry();
  std::optional<start_error> start_log();
  std::optional<start_error> start_session();
  std::optional<start_error> start_zk();
  std::optional<start_error> start_admin();
  std::optional<start_error> start_custom(const custom_actor_config& actor);

  caf::actor_system& sys_;
  node_config cfg_;
  const actor_registry& types_;
  node_ports ports_;
  /// The files opened by the last registry start, for storage and log.
  std::shared_ptr<storage::node_storage> stores_;
  std::optional<raft::persistent_state> disk_;
  registry_actor registry_;
  storage_actor storage_;
  log_actor log_;
  election_actor election_;
  session_actor session_;
  caf::actor zk_;
  std::function<zk_figures()> zk_figures_;
  caf::actor admin_;
  /// Custom actors and the client actor each one was given.
  std::map<std::string, std::pair<caf::actor, client_actor>> custom_;
  supervisor_actor supervisor_;
  pb::NodeStatus restarts_;
};

} // namespace conclave
