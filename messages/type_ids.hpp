// type_ids: every CAF type ID, atom and message type of Conclave, announced
// in one place.
//
// Protobuf messages travel through CAF as their serialized bytes: the
// `inspect` overload below (found by ADL in conclave::pb) saves a message by
// serializing it and loads it by parsing, so a payload that fails to parse
// is a deserialization error, never a half-filled message.
#pragma once

#include <string>
#include <type_traits>

#include <caf/all.hpp>
#include <caf/detail/stringification_inspector.hpp>
#include <google/protobuf/message.h>

#include "messages/conclave.pb.h"
#include "messages/raft.pb.h"

namespace conclave::pb {

template <class Inspector, class Message,
          class = std::enable_if_t<
            std::is_base_of<google::protobuf::Message, Message>::value>>
typename Inspector::result_type inspect(Inspector& f, Message& x) {
  if constexpr (std::is_same<Inspector,
                             caf::detail::stringification_inspector>::value) {
    auto text = x.ShortDebugString();
    return f(caf::meta::type_name(Message::descriptor()->name().c_str()), text);
  } else if constexpr (Inspector::reads_state) {
    auto bytes = x.SerializeAsString();
    return f(caf::meta::type_name("conclave.pb"), bytes);
  } else {
    std::string bytes;
    auto parse = caf::meta::load_callback([&]() -> caf::error {
      if (!x.ParseFromString(bytes))
        return caf::make_error(caf::sec::invalid_argument,
                               "malformed protobuf payload");
      return caf::none;
    });
    return f(caf::meta::type_name("conclave.pb"), bytes, parse);
  }
}

} // namespace conclave::pb

#include "messages/service_events.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(conclave, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(conclave, (conclave::pb::Command))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::LogEntry))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::LogBatch))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::Request))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::Response))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::Hello))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::NodeStatus))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::Proposal))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::Leadership))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::RaftMessage))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::SnapshotChunk))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::SnapshotMeta))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::Connect))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::WatchEvent))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::SessionTouches))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::SessionChanges))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::SessionCheck))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::ServiceInstance))
CAF_ADD_TYPE_ID(conclave, (conclave::service_up))
CAF_ADD_TYPE_ID(conclave, (conclave::service_down))
CAF_ADD_TYPE_ID(conclave, (conclave::service_changed))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::PathList))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::ReconfigRequest))
CAF_ADD_TYPE_ID(conclave, (conclave::pb::MembershipResult))

// Atoms: at most 10 characters each.
CAF_ADD_ATOM(conclave, conclave, hello_atom, "hello")
CAF_ADD_ATOM(conclave, conclave, request_atom, "request")
CAF_ADD_ATOM(conclave, conclave, read_atom, "read")
CAF_ADD_ATOM(conclave, conclave, propose_atom, "propose")
CAF_ADD_ATOM(conclave, conclave, apply_atom, "apply")
CAF_ADD_ATOM(conclave, conclave, applied_atom, "applied")
CAF_ADD_ATOM(conclave, conclave, status_atom, "status")
CAF_ADD_ATOM(conclave, conclave, bye_atom, "bye")
CAF_ADD_ATOM(conclave, conclave, connect_atom, "connect")
CAF_ADD_ATOM(conclave, conclave, tick_atom, "tick")
CAF_ADD_ATOM(conclave, conclave, raft_atom, "raft")
CAF_ADD_ATOM(conclave, conclave, chunk_atom, "chunk")
CAF_ADD_ATOM(conclave, conclave, read_index_atom, "readindex")
CAF_ADD_ATOM(conclave, conclave, transfer_atom, "transfer")
CAF_ADD_ATOM(conclave, conclave, persist_atom, "persist")
CAF_ADD_ATOM(conclave, conclave, compact_atom, "compact")
CAF_ADD_ATOM(conclave, conclave, snapshot_atom, "snapshot")
CAF_ADD_ATOM(conclave, conclave, load_atom, "load")
CAF_ADD_ATOM(conclave, conclave, leader_atom, "leader")
CAF_ADD_ATOM(conclave, conclave, sweep_atom, "sweep")
CAF_ADD_ATOM(conclave, conclave, flush_atom, "flush")
CAF_ADD_ATOM(conclave, conclave, reap_atom, "reap")
CAF_ADD_ATOM(conclave, conclave, fetch_atom, "fetch")
CAF_ADD_ATOM(conclave, conclave, retry_atom, "retry")
CAF_ADD_ATOM(conclave, conclave, event_atom, "event")
CAF_ADD_ATOM(conclave, conclave, sessions_atom, "sessions")
CAF_ADD_ATOM(conclave, conclave, touch_atom, "touch")
CAF_ADD_ATOM(conclave, conclave, watch_atom, "watch")
CAF_ADD_ATOM(conclave, conclave, expire_atom, "expire")
CAF_ADD_ATOM(conclave, conclave, check_atom, "check")
CAF_ADD_ATOM(conclave, conclave, state_atom, "state")
CAF_ADD_ATOM(conclave, conclave, ping_atom, "ping")
CAF_ADD_ATOM(conclave, conclave, cleanup_atom, "cleanup")
CAF_ADD_ATOM(conclave, conclave, policy_atom, "policy")
CAF_ADD_ATOM(conclave, conclave, fault_atom, "fault")
CAF_ADD_ATOM(conclave, conclave, probe_atom, "probe")
CAF_ADD_ATOM(conclave, conclave, restarts_atom, "restarts")
CAF_ADD_ATOM(conclave, conclave, reconfig_atom, "reconfig")

CAF_END_TYPE_ID_BLOCK(conclave)

namespace conclave {

/// Announces all of Conclave's message types to an actor system config.
/// Every program that spawns Conclave actors or talks to a node calls this
/// before constructing its actor_system.
void announce_message_types(caf::actor_system_config& cfg);

} // namespace conclave
