// supervisor: watches a node's actors and restarts the ones that fail.
//
// One per node, detached (restarts block: they reopen storage and rebind
// ports). It monitors every child (actors/node_actors.hpp) and probes
// each one every supervisor-probe-interval-ms; a child that dies, or does
// not answer a probe within supervisor-hang-timeout-ms, is restarted with
// the children its plan ties to it (runtime/supervision_plan.hpp), each
// rebuilt from the durable truth: the core (registry, storage, log) from
// the snapshot and log on disk, the session actor from the replicated
// session table (a leader's new session actor gives every session a fresh
// timeout), the election actor from the log's term. Clients of a restarted
// session actor reconnect and resume their sessions.
//
// Every restart spends from a budget (runtime/restart_budget.hpp); when it
// runs out, or a child cannot be started again (its port is taken, its
// storage is damaged, a hung storage worker does not let go of its files),
// the supervisor stops every child and exits with the reason: the node
// shuts down rather than crash-looping or serving wrong data. Custom actors
// spend budgets of their own: one that keeps failing, or cannot be started
// again, is disabled and the node serves on.
//
// It is also the node's directory: (get_atom, name) returns a child's
// current handle, so nothing keeps using a handle of a dead actor.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "actors/actors.hpp"
#include "actors/node_actors.hpp"
#include "runtime/restart_budget.hpp"
#include "runtime/supervision_plan.hpp"

namespace conclave {

struct supervisor_state {
  static inline const char* name = "supervisor";

  struct child {
    caf::actor handle;
    uint64_t restarts = 0;
    std::string last_reason;
    /// A liveness probe is outstanding.
    bool probing = false;
    /// It answered a probe since it started: only then does a silent probe
    /// count as a hang (a registry loading a big snapshot at start-up does
    /// not answer for a while).
    bool answered = false;
  };

  std::shared_ptr<node_actors> children;
  supervision_plan plan;
  std::optional<restart_budget> budget;
  std::map<std::string, child> by_name;
  std::map<caf::actor_addr, std::string> by_address;
  /// Custom actors: one that quits normally is not restarted.
  std::set<std::string> custom;
  /// Each custom actor's own restart budget (same limits as the node's).
  std::map<std::string, restart_budget> custom_budgets;
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds hang_timeout{10000};
  bool fault_injection = false;
};

/// The supervisor of `children`, which are all running.
supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           std::shared_ptr<node_actors> children);

} // namespace conclave
