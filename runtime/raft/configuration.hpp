// raft/configuration: who belongs to the cluster, as recorded in the log.
//
// Membership is replicated state (Raft dissertation §4): a configuration
// entry in the log lists every member with its role and address, and each
// node uses the latest configuration in its log, committed or not (§4.1).
// A snapshot carries the configuration at its index. Config files only
// bootstrap a new cluster; after that, the log is the truth.
//
// Members are voters (count toward elections and commitment) or learners
// (ZooKeeper's observers, etcd's learners: they receive the log and serve
// reads, but never vote and never count toward a quorum).
//
// Changes are single-server (§4.1): each change adds or removes one member,
// or promotes one learner, so any majority of the old configuration overlaps
// any majority of the new one and no joint consensus is needed. A leader
// proposes a change only after it has committed an entry of its own term and
// while no other change is uncommitted (the fix of Ongaro's 2015 errata).
//
// Pure value code: no I/O. The address is opaque here ("host:port" of the
// member's peer port, as the shell dials it); `client_address` is what
// clients are told (ZooKeeper's "host:port" client part), possibly empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/strong_id.hpp"

namespace conclave::raft {

enum class member_role : uint8_t { voter = 0, learner = 1 };

const char* to_string(member_role r) noexcept;

struct member {
  node_id id;
  member_role role = member_role::voter;
  /// Peer address ("host:port"); opaque to the core.
  std::string address;
  /// Where clients connect (ZooKeeper protocol), e.g. "127.0.0.1:2181";
  /// empty if unknown.
  std::string client_address;

  friend bool operator==(const member& a, const member& b) {
    return a.id == b.id && a.role == b.role && a.address == b.address
           && a.client_address == b.client_address;
  }
  friend bool operator!=(const member& a, const member& b) { return !(a == b); }
};

/// Largest number of members (voters and learners) of one configuration.
constexpr size_t max_members = 64;

/// A cluster configuration: members sorted by id, ids unique.
struct configuration {
  std::vector<member> members;

  const member* find(node_id id) const noexcept;
  bool contains(node_id id) const noexcept { return find(id) != nullptr; }
  bool is_voter(node_id id) const noexcept;
  bool is_learner(node_id id) const noexcept;
  std::vector<node_id> voters() const;
  std::vector<node_id> learners() const;
  size_t voter_count() const noexcept;
  bool empty() const noexcept { return members.empty(); }

  /// Empty if well formed (sorted unique non-zero ids, at most max_members,
  /// at least one voter unless empty), else what is wrong.
  std::string validate() const;

  /// A configuration of `voters` only, without addresses (tests, legacy
  /// snapshots that recorded only voter ids).
  static configuration of_voters(const std::vector<node_id>& voters);

  friend bool operator==(const configuration& a, const configuration& b) {
    return a.members == b.members;
  }
  friend bool operator!=(const configuration& a, const configuration& b) {
    return !(a == b);
  }
};

/// One single-server change (§4.1).
struct membership_change {
  enum class kind : uint8_t {
    /// Adds a new member as a learner (it catches up before promotion).
    add_learner,
    /// Makes a caught-up learner a voter (§4.2.1).
    promote,
    /// Removes a voter or a learner (possibly the leader itself, §4.2.2).
    remove,
    /// Changes a member's recorded addresses (a replaced machine with the
    /// same id); role unchanged.
    readdress,
  };
  kind what = kind::add_learner;
  node_id id;
  std::string address;
  std::string client_address;
};

const char* to_string(membership_change::kind k) noexcept;

/// The configuration after `change`, or what makes it invalid (an error
/// text: adding a member that exists, promoting a non-learner, removing
/// the last voter, ...).
struct change_outcome {
  std::optional<configuration> config;
  std::string error;
};
change_outcome apply_change(const configuration& from,
                            const membership_change& change);

} // namespace conclave::raft
