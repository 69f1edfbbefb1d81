// services: the service registry's layout in the znode tree and the encoding
// of a registration.
//
// An instance of service NAME registers as the ephemeral znode
//
//   /services/NAME/INSTANCE_ID
//
// owned by the instance's session, so it vanishes when the instance's
// process dies (its session expires) or it deregisters. The znode's data is
// the registration as JSON — {"service": ..., "id": ..., "endpoint": ...,
// "metadata": {...}} — so any ZooKeeper tool can read it (Curator's service
// discovery stores JSON the same way). /services and /services/NAME are
// persistent and created on first registration.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "messages/conclave.pb.h"
#include "runtime/result.hpp"

namespace conclave {

/// Root of the service registry.
inline constexpr std::string_view services_root = "/services";

/// A valid service name or instance id: 1..255 bytes, not "." or "..", no
/// '/', no control characters.
bool is_valid_service_name(std::string_view name) noexcept;

/// "/services/NAME" (bad_arguments for an invalid name).
result<std::string> service_path(std::string_view name);

/// "/services/NAME/ID" (bad_arguments for an invalid name or id).
result<std::string> instance_path(std::string_view name, std::string_view id);

/// The registration as stored: JSON of service, id, endpoint and metadata
/// (czxid and mzxid are not stored).
std::string encode_instance(const pb::ServiceInstance& instance);

/// The instance a registration znode describes: its stored data (JSON, see
/// encode_instance; unreadable data leaves endpoint and metadata empty),
/// with service, id and zxids taken from the znode itself, which is the
/// truth for them whatever the JSON says.
pb::ServiceInstance instance_of(std::string_view service, std::string_view id,
                                std::string_view data, int64_t czxid,
                                int64_t mzxid);

/// Parses stored registration data; bad_arguments if it is not such JSON.
/// Unknown JSON fields are ignored (newer writers may add some).
result<pb::ServiceInstance> decode_instance(std::string_view json);

} // namespace conclave
