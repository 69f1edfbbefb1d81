// supervision_plan: which of a node's actors a supervisor restarts when one
// of them fails, and in what order.
//
// Each child names the children it holds handles to and cannot be told
// about again (`depends_on`), and children that share one durable state
// form a `group`. When a child fails, the supervisor restarts:
// - the child's whole group (one-for-all inside a group): the registry,
//   the storage worker and the log actor share the log and snapshot files
//   and the applied index, so they are rebuilt together from disk;
// - every child that depends on a restarted child, transitively
//   (rest-for-one along the dependency order): a new session actor means
//   new ZooKeeper and admin listeners, which hold its handle;
// - nothing else (one-for-one): a child whose handle others hold but can be
//   given again (the election actor: the supervisor re-announces the new
//   one to the log and session actors) restarts alone, as does a listener
//   or a custom actor.
// Children are kept in start order; restart_set() answers in that order
// (dependencies first), which is also the order to start them in; stop them
// in reverse.
//
// Pure and deterministic: no CAF, no clock.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace conclave {

struct child_spec {
  std::string name;
  /// Children this one holds handles to (declared before it).
  std::vector<std::string> depends_on;
  /// Children with the same non-empty group restart together.
  std::string group;
};

class supervision_plan {
public:
  /// Adds a child after the ones added so far. Returns false (and adds
  /// nothing) for a duplicate name or a dependency on a child not added yet.
  bool add(child_spec spec);

  /// The children in start order.
  const std::vector<child_spec>& children() const noexcept { return children_; }

  const child_spec* find(std::string_view name) const;

  /// Everything to restart when `failed` fails, in start order (empty for
  /// an unknown name).
  std::vector<std::string> restart_set(std::string_view failed) const;

  /// "one-for-one", "one-for-all (GROUP)" or "rest-for-one": how a failure
  /// of `name` is handled, for logs and docs.
  std::string policy_of(std::string_view name) const;

  /// The standard plan of a node: registry, storage, log (group "core"),
  /// election, session, zk, admin (if enabled), then the custom actors.
  static supervision_plan
  for_node(bool admin_server, const std::vector<std::string>& custom_actors);

private:
  std::optional<size_t> index_of(std::string_view name) const;

  std::vector<child_spec> children_;
};

} // namespace conclave
