// linearizability: decides whether the register operations of a history
// (read, write, cas on znodes, see tools/chaos/history.proto) could have
// happened one at a time, each at some instant between its invoke and its
// completion, as a single copy of each register would have.
//
// Linearizability is compositional, so each key is checked on its own
// (P-compositionality). A key is searched with Wing & Gong's algorithm as
// refined by Lowe and Porcupine: try to linearize, in real-time order, any
// operation that is invoked before the earliest pending completion;
// backtrack when stuck; remember every (set of linearized operations, model
// state) visited so that no configuration is explored twice.
//
// Outcomes: `ok` operations are bounded by their invoke and completion;
// `info` (unknown) operations may take effect at any time after their
// invoke, or never (unknown reads are dropped: they constrain nothing);
// `fail` operations are dropped, as definitely not having happened. Plain
// reads (`plain`) are sequentially consistent only and are not checked
// here (see checks.hpp).
//
// The model is a znode: missing, or a value with a version and the zxid of
// the write that set it. A write to a missing node creates it (version 0);
// a cas needs the node, its `expected` value and its required `version`
// (each if given); a read must match what it reports (version and zxid only
// if given; an unknown write's zxid matches any).
//
// Registers are never deleted: a workload that deletes a register node
// (resetting its version) cannot be checked with this model.
//
// Before searching, sound shortcuts that need no search look for the usual
// anomalies: a read of a value nobody wrote, of a value whose every write
// was overwritten before the read began (stale read, lost write, a value
// coming back), of a missing node after a write, two writes producing one
// version, and versions going backwards in real time (versions never
// decrease; a read without a version is given that of the only write of its
// value). Each names the two or three operations at fault. The search
// itself tries completed operations before unknown ones (so an unknown
// operation is made to take effect only where needed) and prunes a state
// whose version is newer than one a completed, not yet linearized operation
// needs.
//
// The search is exponential in the worst case, so it has a budget in steps
// (no clock: the same history always gets the same answer). A key whose
// budget runs out is `unknown`, never `ok`. Proving a violation deep in a
// long history is the expensive case (every order of the prefix must be
// refuted); histories whose operations record versions rarely need it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tools/chaos/history.hpp"

namespace conclave::chaos {

/// What a check concluded.
enum class verdict {
  ok,
  violation,
  /// The search budget ran out before an answer.
  unknown,
};

std::string_view to_string(verdict v);

struct linearizability_options {
  /// Search steps allowed per key (one step = one attempt to linearize or
  /// one backtrack). The memo grows by at most one entry per step, of
  /// (operations of the key) / 8 bytes.
  uint64_t max_steps = 1'000'000;
};

/// The verdict for one key.
struct key_result {
  std::string key;
  verdict result = verdict::ok;
  /// Operations searched (ok ones and unknown writes and cas).
  size_t operations = 0;
  /// Steps the search took (violations: including the search for the
  /// shortest failing prefix; 0 when a shortcut found it).
  uint64_t steps = 0;
  /// Violation: the operation (index into history::operations) at fault.
  /// From the search, the one whose completion ends the shortest failing
  /// prefix of the key's history: no order of the operations invoked before
  /// it explains it.
  size_t failing_op = never;
  /// Violation: the failing window, indexes into history::operations in
  /// invoke order. From a shortcut: the two or three operations that
  /// contradict each other. From the search: the failing operation, the
  /// operations concurrent with it and since the latest write of the value
  /// it read or expected (at most 64), and the last write completed before
  /// them.
  std::vector<size_t> window;
  /// One line saying what went wrong (empty when ok).
  std::string message;
};

struct linearizability_result {
  /// One per key with register operations, in key order.
  std::vector<key_result> keys;

  /// violation if any key has one, else unknown if any key is unknown.
  verdict overall() const;
};

/// Whether `op` is checked here: read (not plain), write or cas.
bool is_register_op(const operation& op);

/// Checks every key of `h` that has register operations.
linearizability_result check_linearizability(const history& h,
                                             const linearizability_options& opts
                                             = {});

/// Checks the register operations `ops` (indexes into h.operations) as one
/// key named `key`.
key_result check_key(const history& h, const std::string& key,
                     const std::vector<size_t>& ops,
                     const linearizability_options& opts = {});

} // namespace conclave::chaos
