// registry_actor: hosts the node's znode tree (runtime/data_tree).
//
// It is the only actor that touches the tree. It applies committed log
// entries strictly in index order (an entry out of order is a broken
// invariant: the actor aborts loudly), serves reads locally (ZooKeeper's
// sequential consistency), and returns the results of entries proposed by
// this node to the node's session actor.
#pragma once

#include <cstdint>

#include "actors/actors.hpp"
#include "runtime/data_tree.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

struct registry_state {
  static inline const char* name = "registry";

  data_tree tree;
  node_id self_id;
  /// Receives results of entries this node proposed.
  session_actor sessions;
  /// Index of the last applied entry.
  uint64_t applied_index = 0;
};

/// Behavior of the registry of node `id`.
registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self, node_id id,
         data_tree_limits limits);

/// Serves one read request from `tree` (exposed for tests and reuse).
pb::Response serve_read(const data_tree& tree, const pb::Request& req);

} // namespace conclave
