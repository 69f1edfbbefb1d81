// raft/configuration: single-server changes (Raft dissertation §4.1), the
// well-formedness rules and the protobuf form of a configuration.

#include <string>

#include <catch2/catch.hpp>

#include "runtime/raft/codec.hpp"
#include "runtime/raft/configuration.hpp"

using namespace conclave;
using namespace conclave::raft;

namespace {

node_id n(uint64_t x) {
  return node_id{x};
}

using kind = membership_change::kind;

membership_change change(kind what, uint64_t id, std::string address = {},
                         std::string client = {}) {
  return membership_change{what, n(id), std::move(address), std::move(client)};
}

/// Voters 1..3 with addresses, learner 5.
configuration sample() {
  configuration c;
  c.members = {
    member{n(1), member_role::voter, "h1:1", "h1:2181"},
    member{n(2), member_role::voter, "h2:1", "h2:2181"},
    member{n(3), member_role::voter, "h3:1", ""},
    member{n(5), member_role::learner, "h5:1", "h5:2181"},
  };
  return c;
}

/// The error text of a refused change (fails the test if it was accepted).
std::string refused(const configuration& from, const membership_change& ch) {
  auto out = apply_change(from, ch);
  CHECK_FALSE(out.config);
  CHECK_FALSE(out.error.empty());
  return out.error;
}

} // namespace

TEST_CASE("configuration: queries", "[raft][membership]") {
  auto c = sample();
  REQUIRE(c.validate().empty());
  CHECK(c.voters() == std::vector<node_id>{n(1), n(2), n(3)});
  CHECK(c.learners() == std::vector<node_id>{n(5)});
  CHECK(c.voter_count() == 3);
  CHECK(c.is_voter(n(2)));
  CHECK_FALSE(c.is_learner(n(2)));
  CHECK(c.is_learner(n(5)));
  CHECK_FALSE(c.is_voter(n(5)));
  CHECK(c.contains(n(5)));
  CHECK_FALSE(c.contains(n(4)));
  CHECK(c.find(n(4)) == nullptr);
  CHECK(c.find(n(9)) == nullptr);
  REQUIRE(c.find(n(1)) != nullptr);
  CHECK(c.find(n(1))->client_address == "h1:2181");
  CHECK(std::string(to_string(member_role::learner)) == "learner");
  CHECK(std::string(to_string(kind::promote)) == "promote");
}

TEST_CASE("configuration: of_voters sorts and has no addresses",
          "[raft][membership]") {
  auto c = configuration::of_voters({n(3), n(1), n(2)});
  REQUIRE(c.members.size() == 3);
  CHECK(c.members[0].id == n(1));
  CHECK(c.members[2].id == n(3));
  for (const auto& m : c.members) {
    CHECK(m.role == member_role::voter);
    CHECK(m.address.empty());
  }
  CHECK(c.validate().empty());
  CHECK(configuration::of_voters({}).empty());
  // Repeated ids are kept (and then rejected by validate()).
  CHECK_FALSE(configuration::of_voters({n(2), n(2)}).validate().empty());
}

TEST_CASE("configuration: validate", "[raft][membership]") {
  CHECK(configuration{}.validate().empty()); // empty: a joining node
  auto c = sample();
  SECTION("unsorted") {
    std::swap(c.members[0], c.members[1]);
    CHECK_FALSE(c.validate().empty());
  }
  SECTION("repeated") {
    c.members[1].id = n(1);
    CHECK_FALSE(c.validate().empty());
  }
  SECTION("id 0") {
    c.members.insert(c.members.begin(),
                     member{node_id{}, member_role::voter, "x", ""});
    CHECK_FALSE(c.validate().empty());
  }
  SECTION("learners only") {
    for (auto& m : c.members)
      m.role = member_role::learner;
    CHECK_FALSE(c.validate().empty());
  }
  SECTION("unknown role") {
    c.members[0].role = static_cast<member_role>(7);
    CHECK_FALSE(c.validate().empty());
  }
  SECTION("too many members") {
    configuration big;
    for (uint64_t k = 1; k <= max_members; ++k)
      big.members.push_back(member{n(k), member_role::voter, "a", ""});
    CHECK(big.validate().empty());
    big.members.push_back(
      member{n(max_members + 1), member_role::learner, "a", ""});
    CHECK_FALSE(big.validate().empty());
  }
}

TEST_CASE("configuration: add_learner", "[raft][membership]") {
  auto c = sample();
  auto out = apply_change(c, change(kind::add_learner, 4, "h4:1", "h4:2181"));
  REQUIRE(out.config);
  CHECK(out.error.empty());
  const auto& next = *out.config;
  CHECK(next.validate().empty());
  REQUIRE(next.members.size() == 5);
  CHECK(next.members[3].id == n(4)); // inserted in order
  CHECK(next.is_learner(n(4)));
  CHECK(next.find(n(4))->address == "h4:1");
  CHECK(next.find(n(4))->client_address == "h4:2181");
  CHECK(next.voter_count() == 3); // a learner never changes the quorum
  // The others are untouched.
  for (auto id : {1, 2, 3, 5})
    CHECK(*next.find(n(id)) == *c.find(n(id)));
  CHECK(c.members.size() == 4); // `from` is not modified
  // Also after the last one and into an empty configuration.
  CHECK(apply_change(c, change(kind::add_learner, 9, "h9:1")).config);
  refused(c, change(kind::add_learner, 2, "h2:9")); // a voter
  refused(c, change(kind::add_learner, 5, "h5:9")); // a learner
  refused(c, change(kind::add_learner, 4));         // no address
  refused(c, change(kind::add_learner, 0, "h0:1")); // id 0
  // An empty configuration would get a learner and no voter.
  refused(configuration{}, change(kind::add_learner, 1, "h1:1"));
  configuration full;
  for (uint64_t k = 1; k <= max_members; ++k)
    full.members.push_back(member{n(k), member_role::voter, "a", ""});
  refused(full, change(kind::add_learner, 100, "h:1"));
}

TEST_CASE("configuration: promote", "[raft][membership]") {
  auto c = sample();
  auto out = apply_change(c, change(kind::promote, 5));
  REQUIRE(out.config);
  CHECK(out.config->is_voter(n(5)));
  CHECK(out.config->voter_count() == 4);
  CHECK(out.config->find(n(5))->address == "h5:1"); // kept
  CHECK(out.config->members.size() == 4);
  refused(c, change(kind::promote, 1)); // already a voter
  refused(c, change(kind::promote, 4)); // not a member
}

TEST_CASE("configuration: remove", "[raft][membership]") {
  auto c = sample();
  auto out = apply_change(c, change(kind::remove, 2));
  REQUIRE(out.config);
  CHECK_FALSE(out.config->contains(n(2)));
  CHECK(out.config->voters() == std::vector<node_id>{n(1), n(3)});
  CHECK(out.config->learners() == std::vector<node_id>{n(5)});
  out = apply_change(c, change(kind::remove, 5));
  REQUIRE(out.config);
  CHECK(out.config->learners().empty());
  CHECK(out.config->voter_count() == 3);
  refused(c, change(kind::remove, 4)); // not a member
  auto one = configuration::of_voters({n(1)});
  refused(one, change(kind::remove, 1)); // the last voter
  // The last voter cannot go even when learners remain.
  auto with_learner = apply_change(one, change(kind::add_learner, 2, "h2:1"));
  REQUIRE(with_learner.config);
  refused(*with_learner.config, change(kind::remove, 1));
  // But a learner next to the last voter can.
  CHECK(apply_change(*with_learner.config, change(kind::remove, 2)).config);
}

TEST_CASE("configuration: readdress", "[raft][membership]") {
  auto c = sample();
  auto out = apply_change(c, change(kind::readdress, 1, "new:1"));
  REQUIRE(out.config);
  CHECK(out.config->find(n(1))->address == "new:1");
  // An empty client address keeps the old one.
  CHECK(out.config->find(n(1))->client_address == "h1:2181");
  CHECK(out.config->find(n(1))->role == member_role::voter);
  out = apply_change(c, change(kind::readdress, 5, "new:5", "new:2181"));
  REQUIRE(out.config);
  CHECK(out.config->find(n(5))->client_address == "new:2181");
  CHECK(out.config->is_learner(n(5)));           // role unchanged
  refused(c, change(kind::readdress, 4, "x:1")); // not a member
  refused(c, change(kind::readdress, 1));        // no address
}

TEST_CASE("configuration: codec round trip", "[raft][membership][codec]") {
  auto c = sample();
  auto bytes = encode(c);
  auto back = decode_configuration(bytes);
  REQUIRE(back);
  CHECK(*back == c);
  // The empty configuration round-trips too.
  auto empty = decode_configuration(encode(configuration{}));
  REQUIRE(empty);
  CHECK(empty->empty());
  // Snapshot metas carry it, and the voters for the first format.
  snapshot_meta meta{log_index{9}, term_t{3}, c};
  pb::SnapshotMeta pm;
  encode(meta, &pm);
  CHECK(pm.voters_size() == 3);
  auto got = decode(pm);
  CHECK(got.index == log_index{9});
  CHECK(got.term == term_t{3});
  CHECK(got.config == c);
  // A meta of the first format (voters only) gets voters without addresses.
  pm.clear_config();
  CHECK(decode(pm).config == configuration::of_voters({n(1), n(2), n(3)}));
}

TEST_CASE("configuration: malformed bytes decode as nullopt",
          "[raft][membership][codec]") {
  CHECK_FALSE(decode_configuration(std::string("\xff\xff\xff", 3)));
  auto encode_members = [](auto fill) {
    pb::Configuration msg;
    fill(msg);
    return msg.SerializeAsString();
  };
  // Unsorted ids.
  CHECK_FALSE(decode_configuration(encode_members([](pb::Configuration& m) {
    m.add_members()->set_id(2);
    m.add_members()->set_id(1);
  })));
  // Repeated ids.
  CHECK_FALSE(decode_configuration(encode_members([](pb::Configuration& m) {
    m.add_members()->set_id(1);
    m.add_members()->set_id(1);
  })));
  // Id 0.
  CHECK_FALSE(decode_configuration(
    encode_members([](pb::Configuration& m) { m.add_members()->set_id(0); })));
  // Learners only.
  CHECK_FALSE(decode_configuration(encode_members([](pb::Configuration& m) {
    auto x = m.add_members();
    x->set_id(1);
    x->set_role(pb::MEMBER_LEARNER);
  })));
  // An unknown role (a newer peer's enum value).
  auto unknown = encode_members([](pb::Configuration& m) {
    auto x = m.add_members();
    x->set_id(1);
    x->set_role(static_cast<pb::MemberRole>(5));
  });
  CHECK_FALSE(decode_configuration(unknown));
  // A well formed one for contrast.
  CHECK(decode_configuration(encode_members([](pb::Configuration& m) {
    m.add_members()->set_id(1);
    auto x = m.add_members();
    x->set_id(2);
    x->set_role(pb::MEMBER_LEARNER);
  })));
}
