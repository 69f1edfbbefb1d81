// error_code: the typed errors that travel to clients.
//
// The values are ZooKeeper's KeeperException codes, so that the ZooKeeper
// wire protocol can pass them through unchanged and native clients see the
// same taxonomy. Expected failures (no node, bad version, ...) are values of
// this type; broken invariants are not errors but aborts.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace conclave {

enum class error_code : int32_t {
  ok = 0,
  system_error = -1,
  runtime_inconsistency = -2,
  data_inconsistency = -3,
  connection_loss = -4,
  marshalling_error = -5,
  unimplemented = -6,
  operation_timeout = -7,
  bad_arguments = -8,
  unknown_session = -12,
  new_config_no_quorum = -13,
  reconfig_in_progress = -14,
  api_error = -100,
  no_node = -101,
  no_auth = -102,
  bad_version = -103,
  no_children_for_ephemerals = -108,
  node_exists = -110,
  not_empty = -111,
  session_expired = -112,
  invalid_callback = -113,
  invalid_acl = -114,
  auth_failed = -115,
  session_moved = -118,
  not_read_only = -119,
  ephemeral_on_local_session = -120,
  no_watcher = -121,
  request_timeout = -122,
  reconfig_disabled = -123,
  session_closed_require_sasl_auth = -124,
  quota_exceeded = -125,
  throttled_op = -127,
};

/// ZooKeeper's name for the code, e.g. "NoNode", "BadVersion".
std::string_view to_string(error_code code) noexcept;

/// snake_case name used in JSON output and logs, e.g. "no_node".
std::string_view to_snake_name(error_code code) noexcept;

/// Maps a raw wire value back to a known code; nullopt for unknown values.
std::optional<error_code> error_code_from_int(int32_t value) noexcept;

} // namespace conclave
