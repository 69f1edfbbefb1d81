#include "runtime/membership_target.hpp"

#include <algorithm>

namespace conclave {

namespace {

const pb::Member* find(const pb::Configuration& config, uint64_t id) {
  auto& ms = config.members();
  auto i = std::find_if(ms.begin(), ms.end(),
                        [id](const pb::Member& m) { return m.id() == id; });
  return i == ms.end() ? nullptr : &*i;
}

bool holds(const pb::MemberChange& c, const pb::Configuration& config) {
  const auto* m = find(config, c.id());
  auto addressed = [&] {
    return (c.address().empty() || m->address() == c.address())
           && (c.client_address().empty()
               || m->client_address() == c.client_address());
  };
  switch (c.kind()) {
    case pb::MemberChange::ADD_VOTER:
      return m && m->role() == pb::MEMBER_VOTER && addressed();
    case pb::MemberChange::PROMOTE:
      return m && m->role() == pb::MEMBER_VOTER;
    case pb::MemberChange::ADD_LEARNER:
      return m && m->role() == pb::MEMBER_LEARNER && addressed();
    case pb::MemberChange::REMOVE:
      return m == nullptr;
    default:
      return false;
  }
}

} // namespace

bool membership_target_reached(const pb::ReconfigRequest& req,
                               const pb::Configuration& config) {
  // Changes apply in order: a member's end state is its last change's.
  const auto& cs = req.changes();
  for (int i = 0; i < cs.size(); ++i) {
    auto later = std::any_of(
      cs.begin() + i + 1, cs.end(),
      [&](const pb::MemberChange& c) { return c.id() == cs[i].id(); });
    if (!later && !holds(cs[i], config))
      return false;
  }
  return true;
}

} // namespace conclave
