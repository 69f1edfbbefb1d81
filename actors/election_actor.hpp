// election_actor: leadership policy around the Raft core.
//
// It drives the core's clock (a tick to the log actor every tick-ms), learns
// from the log actor when role, term or leader change, tells the session and
// registry actors, logs every change once, and decides where leadership
// should move: when asked (`conclavectl transfer-leader`), and by itself.
// A leader checks every policy interval:
// - whether it is degraded: its durable writes are slow (their recent mean
//   above max_persist_ms) or its tree trails the commit index by more than
//   max_apply_lag entries at two checks in a row; then it hands over to its
//   most up-to-date reachable follower;
// - otherwise, whether the preferred leader is reachable and has the whole
//   log; then it hands over to it.
// Hand-overs use Raft's TimeoutNow (no write is lost; the transfer aborts
// after an election timeout if the target does not take over). After one,
// the leader (if it still leads) waits ten intervals before the next, so
// leadership cannot flap. (A graceful shutdown hands over too: see
// actors/node.hpp.)
#pragma once

#include <chrono>
#include <cstdint>

#include "actors/actors.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// When a leader hands over by itself.
struct election_policy {
  /// The node that should lead (0: none).
  node_id preferred_leader;
  /// How often a leader checks.
  std::chrono::milliseconds interval{1000};
  /// Degraded: durable writes slower than this on average (0: never).
  double max_persist_ms = 0;
  /// Degraded: the tree trails the commit index by more entries (0: never).
  uint64_t max_apply_lag = 0;
};

struct election_state {
  static inline const char* name = "election";

  node_id self_id;
  log_actor log;
  session_actor sessions;
  std::chrono::milliseconds tick_interval{100};
  pb::Leadership current;
  /// Leadership changes seen since start (for status and metrics).
  uint64_t changes = 0;
  election_policy policy;
  /// Policy checks left before the next hand-over may be tried.
  int backoff_checks = 0;
  /// Checks in a row that found the tree lagging.
  int lag_strikes = 0;
};

election_actor::behavior_type
election(election_actor::stateful_pointer<election_state> self, node_id id,
         std::chrono::milliseconds tick_interval, log_actor log,
         election_policy policy = {});

} // namespace conclave
