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

/// One write for the storage worker, made durable with one sync. In order:
/// the hard state (if it changed; it never trails the log), `pre_entries`
/// (entries of outputs before the snapshot's), `snapshot` (one received
/// from the leader, made current: the log keeps the entries after it only
/// if it holds the snapshot's last entry, §5.3), then `entries` (an entry at
/// or below the last index overwrites that suffix).
struct persist_batch {
  std::optional<raft::hard_state> state;
  std::vector<raft::entry> pre_entries;
  std::optional<raft::snapshot_meta> snapshot;
  std::vector<raft::entry> entries;
};

} // namespace conclave

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(conclave::persist_batch)
