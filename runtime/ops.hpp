// ops: the state-machine commands that change the znode tree.
//
// A command is what the log carries: the originating session plus one write
// (or an atomic multi of writes). Commands are plain values; their durable
// encoding is messages/conclave.proto (see command_codec.hpp). Reads are not
// commands: they are served straight from the tree.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/acl.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// ZooKeeper's CreateMode, with ZooKeeper's numeric values.
enum class create_mode : int32_t {
  persistent = 0,
  ephemeral = 1,
  persistent_sequential = 2,
  ephemeral_sequential = 3,
  container = 4,
  persistent_with_ttl = 5,
  persistent_sequential_with_ttl = 6,
};

constexpr bool is_sequential(create_mode m) noexcept {
  return m == create_mode::persistent_sequential
         || m == create_mode::ephemeral_sequential
         || m == create_mode::persistent_sequential_with_ttl;
}

constexpr bool is_ephemeral(create_mode m) noexcept {
  return m == create_mode::ephemeral || m == create_mode::ephemeral_sequential;
}

constexpr bool is_ttl(create_mode m) noexcept {
  return m == create_mode::persistent_with_ttl
         || m == create_mode::persistent_sequential_with_ttl;
}

/// Version value that matches any version (ZooKeeper's -1).
constexpr int32_t any_version = -1;

struct create_op {
  std::string path;
  std::string data;
  create_mode mode = create_mode::persistent;
  int64_t ttl_ms = 0; ///< only for the *_with_ttl modes, must be > 0
  /// The new node's ACL, as the client sent it (the tree applies
  /// fixup_acl() with the command's auth); empty: open_acl_unsafe().
  std::vector<acl_entry> acl = {};
};

struct delete_op {
  std::string path;
  int32_t version = any_version;
};

struct set_data_op {
  std::string path;
  std::string data;
  int32_t version = any_version;
};

struct check_op {
  std::string path;
  int32_t version = any_version;
};

/// Replaces a node's ACL (ZooKeeper's setACL): needs ADMIN on the node;
/// `version` is compared with the node's aversion.
struct set_acl_op {
  std::string path;
  std::vector<acl_entry> acl = {};
  int32_t version = any_version;
};

/// Deletes a container or TTL node that is due (the leader's cleanup,
/// ZooKeeper's ContainerManager): only if, at the command's time, it has no
/// children and is a container that had some (cversion > 0) or a TTL node
/// whose TTL has passed since its last change. Never a client's request
/// (ZooKeeper refuses deleteContainer from clients too).
struct delete_container_op {
  std::string path;
};

/// One operation inside a multi.
using txn_op = std::variant<create_op, delete_op, set_data_op, check_op>;

/// An atomic list of operations: all apply or none does.
struct multi_op {
  std::vector<txn_op> ops;
};

/// Ends a session: removes every ephemeral node the command's session owns,
/// atomically, in one zxid.
struct close_session_op {
  /// The leader expired the session (it stopped hearing from it), as
  /// opposed to the client closing it.
  bool expired = false;
};

/// Opens the command's session (see runtime/session_table.hpp). The tree
/// itself does not change.
struct open_session_op {
  /// Requested timeout; clamped by the session limits when applied.
  int32_t timeout_ms = 0;
  /// session_password_bytes random bytes drawn by the proposing node.
  std::string password;
};

using command_body = std::variant<create_op, delete_op, set_data_op, check_op,
                                  multi_op, close_session_op, open_session_op,
                                  set_acl_op, delete_container_op>;

/// Whether a command body names one znode (every single-op write does;
/// multi and the session commands do not).
template <class T>
constexpr bool names_a_path_v
  = !std::is_same_v<
      T,
      multi_op> && !std::is_same_v<T, close_session_op> && !std::is_same_v<T, open_session_op>;

/// A write as the log carries it.
struct command {
  command() = default;
  command(conclave::session_id session, command_body body, auth_info auth = {})
      : session(session), body(std::move(body)), auth(std::move(auth)) {
    // nop
  }

  /// The session on whose behalf the command runs; it owns ephemeral nodes.
  conclave::session_id session;
  command_body body;
  /// Who issued it: every replica checks ACLs against this when it applies
  /// the command, so the outcome is the same everywhere. Filled in by the
  /// node that accepted the request.
  auth_info auth;
};

} // namespace conclave
