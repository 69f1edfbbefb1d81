// audit_logger: a custom actor (actors/custom_actor.hpp) that keeps an
// audit trail of a subtree: one line per change, appended to a file.
//
// It leaves a persistent recursive watch on `path` through its node's
// client and appends, and flushes, one line per notification and per
// connection-state change:
//
//   2026-11-28T18:04:05.123Z zxid=4294967302 created /services/web/a
//   2026-11-28T18:04:07.512Z zxid=-1 state disconnected
//
// Lines are written as the events arrive; a gap between "state
// disconnected" and "state connected" may hide changes (a persistent
// watch does not replay what happened while the client was away).
//
//   actors {
//     audit {
//       type = "audit-logger"
//       path = "/services"     # default "/": the whole tree
//       file = "audit.log"     # required; relative to conclave.data-dir
//     }
//   }
//
// The actor runs detached (file writes never hold up a scheduler thread).
// A file it cannot open or write makes it quit with an error (the node's
// supervisor restarts it, within the node's restart budget); so does the
// expiry of its client's session. A watch that cannot be left yet (no
// connection, no leader) is retried with a backoff.
#pragma once

#include <chrono>
#include <string>

#include "actors/custom_actor.hpp"

namespace conclave {

/// An audit logger's interface.
using audit_logger_actor = caf::typed_actor<
  // A notification or connection-state event, from the client actor (so
  // the actor is a watch_listener).
  caf::reacts_to<event_atom, pb::WatchEvent>,
  // Self-sent: tries again to leave the watch after a failure.
  caf::reacts_to<retry_atom>>;

/// The "audit-logger" type: check() validates path and file (and rejects
/// any other key); spawn() starts a detached logger.
actor_type audit_logger_type();

/// One audit line for `ev`, without the newline:
/// "<UTC time, ISO 8601 with ms> zxid=<zxid> <event> <path>", where event
/// is created, deleted, changed or children (types 1..4; the watch-removed
/// types are data-watch-removed, child-watch-removed, watch-removed, others
/// type-N), or "<time> zxid=<zxid> state <name>" for a connection-state
/// event (type -1; name connected, disconnected, expired, closed or the
/// number). Control characters in the path are written as \xNN.
std::string audit_line(const pb::WatchEvent& ev,
                       std::chrono::system_clock::time_point at);

} // namespace conclave
