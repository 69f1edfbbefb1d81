// raft/codec: Raft values (raft/messages.hpp) <-> protobuf (raft.proto).
//
// Decoding never trusts its input: an empty or malformed message is an
// error value, and entry payloads are moved, not copied.
#pragma once

#include <optional>
#include <string>

#include "messages/raft.pb.h"
#include "runtime/raft/messages.hpp"
#include "runtime/result.hpp"

namespace conclave::raft {

void encode(entry&& x, pb::RaftEntry* out);
void encode(const entry& x, pb::RaftEntry* out);
entry decode(pb::RaftEntry&& x);

void encode(const configuration& x, pb::Configuration* out);
/// The configuration as the bytes of a config entry.
std::string encode(const configuration& x);
/// nullopt if malformed (unknown role, unsorted or repeated ids, ...).
std::optional<configuration> decode(const pb::Configuration& x);
std::optional<configuration> decode_configuration(const std::string& bytes);

/// A meta without `config` (first format) gets a configuration of its
/// voters, without addresses; a malformed `config` decodes as empty (the
/// caller rejects it).
void encode(const snapshot_meta& x, pb::SnapshotMeta* out);
snapshot_meta decode(const pb::SnapshotMeta& x);

pb::HardState encode(const hard_state& x);
hard_state decode(const pb::HardState& x);

pb::RaftMessage encode(message&& msg);
/// bad_arguments for a message without a body or with a bad entry type.
result<message> decode(pb::RaftMessage&& msg);

} // namespace conclave::raft
