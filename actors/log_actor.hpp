// log_actor: orders proposed commands into the log and streams committed
// entries, in order, to the registry.
//
// This is the single-node, in-memory log: a proposal is committed the moment
// it is ordered, stamped with this node's clock (the leader's clock: the
// registry never reads one). The replication issue replaces the inside of
// this actor with the Raft core and durable storage; its interface
// (actors.hpp: log_actor) and the registry stay as they are.
#pragma once

#include <cstdint>
#include <functional>

#include "actors/actors.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// Source of the leader's timestamp, in milliseconds since the epoch.
/// Injected so that tests control time.
using clock_fn = std::function<int64_t()>;

/// Wall-clock milliseconds since the epoch.
int64_t system_clock_ms();

struct log_state {
  static inline const char* name = "log";

  node_id self_id;
  registry_actor registry;
  clock_fn clock;
  uint64_t last_index = 0;
};

log_actor::behavior_type commit_log(log_actor::stateful_pointer<log_state> self,
                             node_id id, registry_actor registry,
                             clock_fn clock);

} // namespace conclave
