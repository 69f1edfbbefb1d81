// checks: the properties of a chaos history other than register
// linearizability (tools/chaos/linearizability.hpp): plain reads, the set,
// sequential names, sessions, watches and locks. Each is polynomial and
// sound: it reports only what no correct ZooKeeper-style service could
// have produced, judging "before" by record order (history.hpp) and never
// counting an unknown operation as done or as not done.
//
// The operations and fields each check reads are listed in
// tools/chaos/history.proto. In short:
//
// - plain-reads: per process and key, a read never returns an older mzxid
//   than the process already saw (its own writes included); a read's value
//   is the value the write with its mzxid wrote.
// - set: no element appears twice in a read; an acknowledged add is in every
//   read invoked after it completed (the final read included), an element
//   once read stays; no element appears that nobody added or whose add
//   definitely failed.
// - sequential: no created name is returned twice; names increase with the
//   zxids of their creates and with real time.
// - sessions: a synced exists never finds an ephemeral missing while its
//   session is proven alive (the session has an ok operation invoked after
//   the exists completed) and nobody may have deleted it; an ephemeral of a
//   killed session is not found later than the kill's bound.
// - watches: per process, events come in zxid order; per watch, no event
//   twice, and every recorded change under the watch between its
//   registration and the process's last sync (or a disconnect) is delivered,
//   with a type that matches the change.
// - locks: no fencing token granted twice; a grant completed before another
//   acquire was invoked has the lower token; no fenced write with a token
//   older than one already granted or accepted succeeds; no grant while a
//   holder that has not begun to release is proven alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tools/chaos/history.hpp"

namespace conclave::chaos {

/// Something no correct service could have done.
struct violation {
  /// The check that found it ("set", "locks", ...).
  std::string check;
  /// The key (set, prefix, path, lock) it concerns.
  std::string key;
  std::string message;
  /// Operations involved: indexes into history::operations.
  std::vector<size_t> ops;
  /// Event records involved: indexes into history::records.
  std::vector<size_t> records;
};

/// What one check found.
struct check_result {
  std::string name;
  /// Operations and events the check judged; 0 = nothing to check.
  size_t checked = 0;
  std::vector<violation> violations;
  /// What it could not judge (no final read, no zxid, no bound, ...).
  std::vector<std::string> notes;

  bool applies() const noexcept { return checked > 0; }
  bool ok() const noexcept { return violations.empty(); }
};

struct check_options {
  /// The bound for kill events without timeout_ns, in nanoseconds (0: such
  /// kills are not checked).
  int64_t session_bound_ns = 0;
};

check_result check_plain_reads(const history& h);
check_result check_set(const history& h);
check_result check_sequential(const history& h);
check_result check_sessions(const history& h, const check_options& opts = {});
check_result check_watches(const history& h);
check_result check_locks(const history& h);

/// All of the above, in that order.
std::vector<check_result> run_checks(const history& h,
                                     const check_options& opts = {});

} // namespace conclave::chaos
