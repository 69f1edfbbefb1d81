#include "runtime/services.hpp"

#include <google/protobuf/util/json_util.h>

namespace conclave {

bool is_valid_service_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 255 || name == "." || name == "..")
    return false;
  for (auto c : name)
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      return false;
  return true;
}

result<std::string> service_path(std::string_view name) {
  if (!is_valid_service_name(name))
    return error_code::bad_arguments;
  std::string out{services_root};
  out += '/';
  out += name;
  return out;
}

result<std::string> instance_path(std::string_view name, std::string_view id) {
  auto parent = service_path(name);
  if (!parent || !is_valid_service_name(id))
    return error_code::bad_arguments;
  auto out = std::move(parent).value();
  out += '/';
  out += id;
  return out;
}

std::string encode_instance(const pb::ServiceInstance& instance) {
  auto stored = instance;
  stored.clear_czxid();
  stored.clear_mzxid();
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string out;
  // Printing a message without Any fields cannot fail.
  (void)google::protobuf::util::MessageToJsonString(stored, &out, opts);
  return out;
}

result<pb::ServiceInstance> decode_instance(std::string_view json) {
  pb::ServiceInstance out;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(
    google::protobuf::StringPiece{json.data(), json.size()}, &out, opts);
  if (!status.ok())
    return error_code::bad_arguments;
  return out;
}

pb::ServiceInstance instance_of(std::string_view service, std::string_view id,
                                std::string_view data, int64_t czxid,
                                int64_t mzxid) {
  pb::ServiceInstance out;
  if (auto decoded = decode_instance(data))
    out = std::move(decoded).value();
  out.set_service(std::string{service});
  out.set_id(std::string{id});
  out.set_czxid(czxid);
  out.set_mzxid(mzxid);
  return out;
}

} // namespace conclave
