// state_machine: the replicated state of a node — the znode tree and the
// session table — and the one function that applies a committed command to
// both.
//
// Sessions and ephemeral nodes must change together: a session's close or
// expiry removes its ephemerals in the same command, and a write on behalf
// of a session that is not open must fail identically on every replica
// (otherwise a client that missed its own expiry could leave an ephemeral
// node that no session will ever remove). Keeping both in one pure class
// makes that rule one place, testable without actors.
//
// Snapshot payload (what the registry writes into a snapshot file):
//
//   session_table::save() bytes (magic "CNCLSESS", self-delimiting: the
//   session count at offset 12 gives the length), then data_tree::save()
//   bytes.
//
// A payload that does not start with the session magic is a tree alone (a
// snapshot from before sessions were replicated): it loads with an empty
// session table.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/data_tree.hpp"
#include "runtime/ops.hpp"
#include "runtime/result.hpp"
#include "runtime/session_table.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// A change to the session table caused by one command.
struct session_change {
  session_id id;
  /// Negotiated timeout of an opened session; 0 when it ended.
  int32_t timeout_ms = 0;
  bool opened = false;
  /// The session ended because the leader expired it.
  bool expired = false;
};

/// What applying one command did.
struct machine_result {
  /// The tree's result (for an open: one ok result, or the open's error).
  apply_result result;
  /// Set if the command opened or ended a session.
  std::optional<session_change> session;
};

class state_machine {
public:
  state_machine(data_tree_limits tree_limits = {},
                session_limits_config session_limits = {});

  /// Applies a committed command at `id` with the proposer's timestamp.
  /// - open_session: opens the session (session_table::open's errors);
  /// - close_session: closes the session if open and removes its
  ///   ephemerals (always ok: closing twice is harmless);
  /// - any other write with a session other than 0: session_expired if
  ///   that session is not open (nothing changes), else the tree applies
  ///   it.
  /// Precondition: `id` greater than every zxid applied before (aborts).
  machine_result apply(const command& cmd, zxid id, int64_t time_ms);

  /// Applies a configuration entry at `id`: sets /zookeeper/config's data
  /// to `rendered` (data_tree::set_config; `time_ms` 0 keeps the node's
  /// mtime). Sessions are not involved. Same zxid precondition as apply().
  machine_result apply_config(std::string rendered, zxid id, int64_t time_ms);

  /// Shows the configuration a node starts from (data_tree::reset_config).
  void reset_config(std::string rendered);

  const data_tree& tree() const noexcept { return tree_; }
  const session_table& sessions() const noexcept { return sessions_; }

  /// Writes the snapshot payload (see the top of this file) to `sink`, in
  /// chunks; false if the sink failed. Fork-safe like data_tree::save.
  [[nodiscard]] bool
  save(const std::function<bool(std::string_view)>& sink) const;

  /// Loads a payload save() wrote (or a tree-only payload). Malformed input
  /// yields data_inconsistency, never a crash.
  static result<state_machine>
  load(const std::function<size_t(char*, size_t)>& source,
       data_tree_limits tree_limits, session_limits_config session_limits);

private:
  state_machine(data_tree tree, session_table sessions);

  data_tree tree_;
  session_table sessions_;
};

} // namespace conclave
