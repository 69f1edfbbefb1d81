#include "runtime/raft/configuration.hpp"

#include <algorithm>

namespace conclave::raft {

const char* to_string(member_role r) noexcept {
  return r == member_role::voter ? "voter" : "learner";
}

const char* to_string(membership_change::kind k) noexcept {
  switch (k) {
    case membership_change::kind::add_learner:
      return "add_learner";
    case membership_change::kind::promote:
      return "promote";
    case membership_change::kind::remove:
      return "remove";
    case membership_change::kind::readdress:
      return "readdress";
  }
  return "?";
}

const member* configuration::find(node_id id) const noexcept {
  auto i
    = std::lower_bound(members.begin(), members.end(), id,
                       [](const member& m, node_id x) { return m.id < x; });
  return i != members.end() && i->id == id ? &*i : nullptr;
}

bool configuration::is_voter(node_id id) const noexcept {
  auto m = find(id);
  return m && m->role == member_role::voter;
}

bool configuration::is_learner(node_id id) const noexcept {
  auto m = find(id);
  return m && m->role == member_role::learner;
}

std::vector<node_id> configuration::voters() const {
  std::vector<node_id> out;
  for (const auto& m : members)
    if (m.role == member_role::voter)
      out.push_back(m.id);
  return out;
}

std::vector<node_id> configuration::learners() const {
  std::vector<node_id> out;
  for (const auto& m : members)
    if (m.role == member_role::learner)
      out.push_back(m.id);
  return out;
}

size_t configuration::voter_count() const noexcept {
  return static_cast<size_t>(
    std::count_if(members.begin(), members.end(), [](const member& m) {
      return m.role == member_role::voter;
    }));
}

std::string configuration::validate() const {
  if (members.size() > max_members)
    return "a configuration holds at most " + std::to_string(max_members)
           + " members";
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i].id == node_id{})
      return "member id 0 is not allowed";
    if (i > 0 && !(members[i - 1].id < members[i].id))
      return "member ids must be unique and sorted";
    if (members[i].role != member_role::voter
        && members[i].role != member_role::learner)
      return "unknown member role";
  }
  if (!members.empty() && voter_count() == 0)
    return "a configuration needs at least one voter";
  return {};
}

configuration configuration::of_voters(const std::vector<node_id>& voters) {
  configuration out;
  for (auto id : voters)
    out.members.push_back(member{id, member_role::voter, {}, {}});
  std::sort(out.members.begin(), out.members.end(),
            [](const member& a, const member& b) { return a.id < b.id; });
  return out;
}

change_outcome apply_change(const configuration& from,
                            const membership_change& change) {
  using kind = membership_change::kind;
  auto id = change.id;
  if (id == node_id{})
    return {std::nullopt, "node id 0 is not allowed"};
  auto next = from;
  auto& ms = next.members;
  auto pos
    = std::lower_bound(ms.begin(), ms.end(), id,
                       [](const member& m, node_id x) { return m.id < x; });
  bool exists = pos != ms.end() && pos->id == id;
  auto name = "node " + std::to_string(id.value());
  switch (change.what) {
    case kind::add_learner:
      if (exists)
        return {std::nullopt, name + " is already a member"};
      if (change.address.empty())
        return {std::nullopt, "a new member needs an address"};
      if (ms.size() >= max_members)
        return {std::nullopt, "the configuration is full ("
                                + std::to_string(max_members) + " members)"};
      ms.insert(pos, member{id, member_role::learner, change.address,
                            change.client_address});
      break;
    case kind::promote:
      if (!exists)
        return {std::nullopt, name + " is not a member"};
      if (pos->role != member_role::learner)
        return {std::nullopt, name + " is already a voter"};
      pos->role = member_role::voter;
      break;
    case kind::remove:
      if (!exists)
        return {std::nullopt, name + " is not a member"};
      if (pos->role == member_role::voter && from.voter_count() == 1)
        return {std::nullopt, "cannot remove the last voter"};
      ms.erase(pos);
      break;
    case kind::readdress:
      if (!exists)
        return {std::nullopt, name + " is not a member"};
      if (change.address.empty())
        return {std::nullopt, "readdress needs an address"};
      pos->address = change.address;
      if (!change.client_address.empty())
        pos->client_address = change.client_address;
      break;
  }
  if (auto err = next.validate(); !err.empty())
    return {std::nullopt, err};
  return {std::move(next), {}};
}

} // namespace conclave::raft
