// command_codec: converts between the pure cores' C++ values (runtime/ops.hpp,
// data_tree results) and their protobuf encodings (messages/conclave.proto).
//
// Command format versions: 1 (the first); 2 adds who issued the command
// (Command.auth, checked against ACLs when applied), ACLs on creates, setACL
// and deleteContainer. decode() accepts every version it knows and refuses
// newer ones with data_inconsistency, so a node never applies a command it
// does not understand (a version-1 node would ignore the ACL fields).
#pragma once

#include <string>

#include "messages/conclave.pb.h"
#include "runtime/data_tree.hpp"
#include "runtime/ops.hpp"
#include "runtime/result.hpp"
#include "runtime/stat.hpp"

namespace conclave {

/// The Command.format_version this build writes.
constexpr uint32_t command_format_version = 2;

// -- commands ----------------------------------------------------------------

pb::Command encode(const command& cmd);

/// bad_arguments for an empty or malformed body, data_inconsistency for a
/// format version newer than this build knows.
result<command> decode(const pb::Command& msg);

/// Extracts the write of a client request as a command body; bad_arguments if
/// the request is not a write or is malformed.
result<command_body> write_of(const pb::Request& req);

/// True if the request is a write (create, delete, set, check, multi,
/// setACL).
bool is_write(const pb::Request& req);

// -- ACLs and auth -------------------------------------------------------------

void encode(const std::vector<acl_entry>& acl,
            google::protobuf::RepeatedPtrField<pb::Acl>* out);
std::vector<acl_entry>
decode_acl(const google::protobuf::RepeatedPtrField<pb::Acl>& msg);

void encode(const auth_info& auth, pb::Auth* out);
auth_info decode(const pb::Auth& msg);

// -- results -----------------------------------------------------------------

void encode(const conclave::stat& st, pb::Stat* out);
conclave::stat decode(const pb::Stat& msg);

/// Builds the client response for an applied command.
pb::Response to_response(const command& cmd, const apply_result& res, zxid id);

/// A sentence for a failed operation on `path`, e.g. "/a does not exist".
std::string describe_failure(error_code code, std::string_view path,
                             bool is_create = false);

/// A response carrying only an error (and a human-readable message).
pb::Response error_response(error_code code, std::string message,
                            zxid id = zxid{0});

} // namespace conclave
