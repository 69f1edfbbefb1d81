// local_messages: C++ values that travel between the actors of one node and
// never cross the network (so they need no serialization). Announced here,
// beside type_ids.hpp, so that every message type lives under messages/.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

#include "runtime/raft/messages.hpp"

namespace conclave {

/// One write for the storage worker, made durable with one sync: a snapshot
/// received from the leader to make current (the log is cut to continue
/// it), the hard state (if it changed) and the entries to append (an entry
/// at or below the last index overwrites that suffix).
struct persist_batch {
  std::optional<raft::snapshot_meta> snapshot;
  std::optional<raft::hard_state> state;
  std::vector<raft::entry> entries;
};

} // namespace conclave

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(conclave::persist_batch)
