// election_actor: leadership policy around the Raft core.
//
// It drives the core's clock (a tick to the log actor every tick-ms), learns
// from the log actor when role, term or leader change, tells the session and
// registry actors, logs every change once, and decides where leadership
// should move: when asked (`conclavectl transfer-leader`), and by itself to
// the configured preferred leader. A leader checks every policy interval
// whether the preferred node is reachable and has the whole log; if so it
// hands over (Raft's TimeoutNow: no write is lost, the transfer aborts after
// an election timeout if the node does not take over). A hand-over that
// did not make the preferred node lead is retried only after ten intervals,
// so a node that keeps failing to take over cannot make leadership flap.
// (A graceful shutdown hands over too: see actors/node.hpp.)
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
  /// The node that should lead (0: none) and how often a leader checks.
  node_id preferred_leader;
  std::chrono::milliseconds policy_interval{1000};
  /// Policy checks left before the next hand-over may be tried.
  int backoff_checks = 0;
};

election_actor::behavior_type
election(election_actor::stateful_pointer<election_state> self, node_id id,
         std::chrono::milliseconds tick_interval, log_actor log,
         node_id preferred_leader = node_id{0},
         std::chrono::milliseconds policy_interval
         = std::chrono::milliseconds{1000});

} // namespace conclave
