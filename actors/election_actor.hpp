// election_actor: leadership policy around the Raft core.
//
// It drives the core's clock (a tick to the log actor every tick-ms), learns
// from the log actor when role, term or leader change, tells the session and
// registry actors, logs every change once, and decides where leadership
// should move when asked (`conclavectl transfer-leader`). Later issues add
// automatic transfers (graceful shutdown, a degraded leader) here.
#pragma once

#include <chrono>
#include <cstdint>

#include "actors/actors.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

struct election_state {
  static inline const char* name = "election";

  node_id self_id;
  log_actor log;
  session_actor sessions;
  std::chrono::milliseconds tick_interval{100};
  pb::Leadership current;
  /// Leadership changes seen since start (for status and metrics).
  uint64_t changes = 0;
};

election_actor::behavior_type
election(election_actor::stateful_pointer<election_state> self, node_id id,
         std::chrono::milliseconds tick_interval, log_actor log);

} // namespace conclave
