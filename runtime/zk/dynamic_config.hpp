// dynamic_config: the cluster membership as ZooKeeper 3.5+ shows it in
// /zookeeper/config, and ZooKeeper's reconfig server specs turned into
// Conclave's single-server membership changes.
//
// Rendering (QuorumVerifier.toString / QuorumServer.toString): one line per
// member, in id order,
//
//   server.<id>=<host>:<peerport>:<peerport>:participant|observer[;<client>]
//
// then `version=<hex>` (no newline after it). ZooKeeper has a quorum and an
// election port; Conclave has one peer port, shown twice. Learners are
// observers. The client part ("host:port") appears only if the member's
// client address is known. The version is the configuration entry's log
// index (ZooKeeper uses the zxid that proposed the configuration); 0 for a
// bootstrap configuration that no log entry recorded.
//
// Parsing (reconfig, opcode 16): joiningServers and newMembers are
// comma-separated `server.ID=HOST:PORT[:PORT][:participant|observer]
// [;[CLIENTHOST:]CLIENTPORT]` specs (IPv6 hosts in brackets), leavingServers
// comma-separated ids. The first port is the peer port; a second one
// (ZooKeeper's election port) is accepted and ignored. A client part of a
// bare port means 0.0.0.0:PORT, as in ZooKeeper. Input is hostile: sizes
// are bounded, every error is a text, nothing throws.
//
// Planning: plan_reconfig() compares the request with the configuration in
// force and lists the single-server changes the leader applies one at a
// time, in this order:
//   1. additions (ADD_VOTER for participants: the log actor adds a learner,
//      waits until it caught up and promotes it; ADD_LEARNER for observers),
//   2. promotions (an observer listed as participant: PROMOTE),
//   3. removals, observers first.
// Growing before shrinking keeps every step's majority as large as
// possible, and replacing a member (add the new, remove the old) never
// passes through a smaller cluster. A member listed with the spec it has is
// left alone. Refused with BadArguments: malformed specs, an id twice,
// removing a non-member, demoting a participant to an observer and changing
// a member's address (both need a removal and a re-add the operator should
// order), a result without voters or with more than raft::max_members
// members, and mixing the incremental and the non-incremental form.
// newMembers (non-incremental) is planned the same way as the difference
// between the list and the configuration in force. Unlike ZooKeeper, the
// changes are not atomic: a failure stops the sequence and the changes
// applied so far stay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "messages/conclave.pb.h"
#include "runtime/raft/configuration.hpp"

namespace conclave::zk {

/// /zookeeper/config's text for `config` at `version` (see above).
std::string render_dynamic_config(const raft::configuration& config,
                                  uint64_t version);

/// Largest joiningServers / leavingServers / newMembers string accepted.
constexpr size_t max_reconfig_spec_bytes = 64 * 1024;

/// One parsed `server.ID=...` spec.
struct server_spec {
  node_id id;
  raft::member_role role = raft::member_role::voter;
  /// "host:port" of the peer port (IPv6 hosts in brackets).
  std::string address;
  /// "host:port" of the client port, empty if the spec has none.
  std::string client_address;
};

/// Parses one `server.ID=...` spec; false with `error` set if malformed.
bool parse_server_spec(std::string_view spec, server_spec& out,
                       std::string& error);

/// Parses a comma-separated list of specs (empty items are skipped);
/// false with `error` set if any is malformed or an id repeats.
bool parse_server_list(std::string_view list, std::vector<server_spec>& out,
                       std::string& error);

/// Parses a comma-separated list of ids; false with `error` set if any is
/// not a positive decimal id or repeats.
bool parse_id_list(std::string_view list, std::vector<node_id>& out,
                   std::string& error);

/// What plan_reconfig() decided.
struct reconfig_plan {
  /// 0 (ok) or a ZooKeeper error code (BadArguments).
  int32_t error = 0;
  std::string message;
  /// The changes, in the order to apply them; empty if the request changes
  /// nothing.
  std::vector<pb::MemberChange> changes;
};

/// Plans a reconfig request against the configuration in force (see the
/// top of this file).
reconfig_plan plan_reconfig(const raft::configuration& current,
                            std::string_view joining, std::string_view leaving,
                            std::string_view new_members);

} // namespace conclave::zk
