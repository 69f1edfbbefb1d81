// translate: ZooKeeper wire requests <-> Conclave's native requests.
//
// The ZooKeeper front end (actors/zk_server) speaks jute to ZooKeeper
// clients and the native protocol (messages/conclave.proto) to the node's
// session actor, so that a session, its watches and its ephemeral nodes are
// the same whichever way a client comes in. This file is the pure part:
// decode one request frame's body into a pb::Request (or a reply the front
// end gives by itself: pings, errors, requests Conclave does not support),
// and encode the node's pb::Response as the jute reply ZooKeeper would send.
//
// Requests Conclave does not support are answered Unimplemented (-6); the
// connection stays open (docs/zookeeper-compatibility.md lists them).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <optional>
#include <variant>
#include <vector>

#include "messages/conclave.pb.h"
#include "runtime/zk/records.hpp"

namespace conclave::zk {

/// Send this request to the node; encode its answer with encode_reply().
struct to_node {
  pb::Request request;
  /// multi: each op's ZooKeeper op code (results are typed after them).
  std::vector<int32_t> op_types;
  /// reconfig (16): `request` only lists the membership (a reconfig without
  /// changes); the front end then plans this record against the listed
  /// configuration with plan_reconfig_request() and sends the result.
  std::optional<reconfig_request> reconfig;
};

/// Answer at once, without the node: `err` (0 = ok) and, if 0, `body`.
struct local_reply {
  int32_t err = 0;
  std::string body;
};

/// The client closes its session (closeSession, -11).
struct close_session_request {};

using translated = std::variant<to_node, local_reply, close_session_request>;

/// Decodes the body of a request of type `type` (the RequestHeader's) into
/// what to do with it. A body that does not decode is MarshallingError (-5)
/// (ZooKeeper closes such a connection; the caller does, after replying).
translated translate(int32_t type, std::string_view body);

/// A reply: header fields and the body (empty unless err == 0).
struct reply {
  int32_t err = 0;
  int64_t zxid = 0;
  std::string body;
};

/// Encodes the node's answer to `sent`, a request of type `type`. For
/// reconfig: the GetDataResponse of /zookeeper/config the answer carries
/// (Response.members.zk_config), or its error.
reply encode_reply(int32_t type, const to_node& sent, const pb::Response& resp);

/// reconfig, second step: given the node's answer `listed` to the listing
/// request, either the request that applies `record` (its planned single-
/// server changes, zk/dynamic_config.hpp, guarded by the listed config id;
/// `catch_up_timeout_ms` bounds each step at the leader), or the reply to
/// give at once: the listing's error, BadArguments for a bad spec, BadVersion
/// for a curConfigId (other than -1) that is not the listed config id,
/// ReconfigInProgress while the listed configuration is not committed, and
/// for a request that changes nothing, the current /zookeeper/config.
std::variant<to_node, reply>
plan_reconfig_request(const reconfig_request& record,
                      const pb::Response& listed, uint64_t catch_up_timeout_ms);

/// A whole frame: length, ReplyHeader{xid, zxid, err}, body if err == 0.
std::string frame_reply(int32_t xid, const reply& r);

/// A watch notification frame (xid -1), or nothing for events a ZooKeeper
/// client must not see (connection-state events are the front end's own
/// business; *WatchRemoved events are made by ZooKeeper's client library).
std::string frame_notification(const pb::WatchEvent& ev);

/// Converts a stat as ZooKeeper shows it to clients (ephemeralOwner 0 for
/// containers and TTL nodes).
zk::stat to_zk(const pb::Stat& st);

} // namespace conclave::zk
