#include "runtime/error_code.hpp"

namespace conclave {

namespace {

struct error_name {
  error_code code;
  std::string_view zk_name;
  std::string_view snake_name;
};

constexpr error_name error_names[] = {
  {error_code::ok, "Ok", "ok"},
  {error_code::system_error, "SystemError", "system_error"},
  {error_code::runtime_inconsistency, "RuntimeInconsistency",
   "runtime_inconsistency"},
  {error_code::data_inconsistency, "DataInconsistency", "data_inconsistency"},
  {error_code::connection_loss, "ConnectionLoss", "connection_loss"},
  {error_code::marshalling_error, "MarshallingError", "marshalling_error"},
  {error_code::unimplemented, "Unimplemented", "unimplemented"},
  {error_code::operation_timeout, "OperationTimeout", "operation_timeout"},
  {error_code::bad_arguments, "BadArguments", "bad_arguments"},
  {error_code::unknown_session, "UnknownSession", "unknown_session"},
  {error_code::new_config_no_quorum, "NewConfigNoQuorum",
   "new_config_no_quorum"},
  {error_code::reconfig_in_progress, "ReconfigInProgress",
   "reconfig_in_progress"},
  {error_code::api_error, "APIError", "api_error"},
  {error_code::no_node, "NoNode", "no_node"},
  {error_code::no_auth, "NoAuth", "no_auth"},
  {error_code::bad_version, "BadVersion", "bad_version"},
  {error_code::no_children_for_ephemerals, "NoChildrenForEphemerals",
   "no_children_for_ephemerals"},
  {error_code::node_exists, "NodeExists", "node_exists"},
  {error_code::not_empty, "NotEmpty", "not_empty"},
  {error_code::session_expired, "SessionExpired", "session_expired"},
  {error_code::invalid_callback, "InvalidCallback", "invalid_callback"},
  {error_code::invalid_acl, "InvalidACL", "invalid_acl"},
  {error_code::auth_failed, "AuthFailed", "auth_failed"},
  {error_code::session_moved, "SessionMoved", "session_moved"},
  {error_code::not_read_only, "NotReadOnly", "not_read_only"},
  {error_code::ephemeral_on_local_session, "EphemeralOnLocalSession",
   "ephemeral_on_local_session"},
  {error_code::no_watcher, "NoWatcher", "no_watcher"},
  {error_code::request_timeout, "RequestTimeout", "request_timeout"},
  {error_code::reconfig_disabled, "ReconfigDisabled", "reconfig_disabled"},
  {error_code::session_closed_require_sasl_auth, "SessionClosedRequireSaslAuth",
   "session_closed_require_sasl_auth"},
  {error_code::quota_exceeded, "QuotaExceeded", "quota_exceeded"},
  {error_code::throttled_op, "ThrottledOp", "throttled_op"},
};

const error_name* find(error_code code) noexcept {
  for (const auto& entry : error_names)
    if (entry.code == code)
      return &entry;
  return nullptr;
}

} // namespace

std::string_view to_string(error_code code) noexcept {
  auto entry = find(code);
  return entry ? entry->zk_name : std::string_view{"UnknownError"};
}

std::string_view to_snake_name(error_code code) noexcept {
  auto entry = find(code);
  return entry ? entry->snake_name : std::string_view{"unknown_error"};
}

std::optional<error_code> error_code_from_int(int32_t value) noexcept {
  auto entry = find(static_cast<error_code>(value));
  if (entry == nullptr)
    return std::nullopt;
  return entry->code;
}

} // namespace conclave
