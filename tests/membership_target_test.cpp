#include "runtime/membership_target.hpp"

#include <catch2/catch.hpp>

using namespace conclave;

namespace {

pb::Configuration config(
  std::initializer_list<std::tuple<uint64_t, pb::MemberRole, const char*>> ms) {
  pb::Configuration out;
  for (auto& [id, role, address] : ms) {
    auto* m = out.add_members();
    m->set_id(id);
    m->set_role(role);
    m->set_address(address);
  }
  return out;
}

pb::ReconfigRequest
request(std::initializer_list<
        std::tuple<pb::MemberChange::Kind, uint64_t, const char*>>
          cs) {
  pb::ReconfigRequest out;
  for (auto& [kind, id, address] : cs) {
    auto* c = out.add_changes();
    c->set_kind(kind);
    c->set_id(id);
    c->set_address(address);
  }
  return out;
}

constexpr auto voter = pb::MEMBER_VOTER;
constexpr auto learner = pb::MEMBER_LEARNER;
constexpr auto add_voter = pb::MemberChange::ADD_VOTER;
constexpr auto add_learner = pb::MemberChange::ADD_LEARNER;
constexpr auto promote = pb::MemberChange::PROMOTE;
constexpr auto remove_member = pb::MemberChange::REMOVE;

} // namespace

TEST_CASE("membership target: a removal is done once the member is gone",
          "[membership]") {
  auto req = request({{remove_member, 3, ""}});
  CHECK(membership_target_reached(
    req, config({{1, voter, "a:1"}, {2, voter, "b:1"}})));
  CHECK_FALSE(membership_target_reached(
    req, config({{1, voter, "a:1"}, {3, learner, "c:1"}})));
}

TEST_CASE("membership target: an added voter must vote at the requested "
          "address",
          "[membership]") {
  auto req = request({{add_voter, 4, "d:1"}});
  CHECK(membership_target_reached(
    req, config({{1, voter, "a:1"}, {4, voter, "d:1"}})));
  // Caught up but not yet promoted: not done.
  CHECK_FALSE(membership_target_reached(
    req, config({{1, voter, "a:1"}, {4, learner, "d:1"}})));
  // Another node 4 (elsewhere) is not the one asked for.
  CHECK_FALSE(membership_target_reached(
    req, config({{1, voter, "a:1"}, {4, voter, "e:1"}})));
  CHECK_FALSE(membership_target_reached(req, config({{1, voter, "a:1"}})));
}

TEST_CASE("membership target: learners and promotions", "[membership]") {
  CHECK(membership_target_reached(request({{add_learner, 5, "e:1"}}),
                                  config({{5, learner, "e:1"}})));
  CHECK_FALSE(membership_target_reached(request({{add_learner, 5, "e:1"}}),
                                        config({{5, voter, "e:1"}})));
  // A promotion names no address.
  CHECK(membership_target_reached(request({{promote, 5, ""}}),
                                  config({{5, voter, "e:1"}})));
  CHECK_FALSE(membership_target_reached(request({{promote, 5, ""}}),
                                        config({{5, learner, "e:1"}})));
}

TEST_CASE("membership target: several changes, the last one per member "
          "counts",
          "[membership]") {
  // Replace node 3 by node 6, then move node 3 back in at a new address.
  auto req = request(
    {{remove_member, 3, ""}, {add_voter, 6, "f:1"}, {add_voter, 3, "g:1"}});
  CHECK(membership_target_reached(
    req, config({{3, voter, "g:1"}, {6, voter, "f:1"}})));
  CHECK_FALSE(membership_target_reached(
    req, config({{3, voter, "c:1"}, {6, voter, "f:1"}})));
  CHECK_FALSE(membership_target_reached(req, config({{6, voter, "f:1"}})));
  CHECK(membership_target_reached(pb::ReconfigRequest{}, config({})));
}
