// /zookeeper/config's text and ZooKeeper's reconfig specs
// (runtime/zk/dynamic_config.hpp).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "runtime/error_code.hpp"
#include "runtime/raft/codec.hpp"
#include "runtime/zk/dynamic_config.hpp"
#include "runtime/zk/translate.hpp"

using namespace conclave;
using namespace conclave::zk;

namespace {

raft::member voter(uint64_t id, std::string address, std::string client = {}) {
  return raft::member{node_id{id}, raft::member_role::voter, std::move(address),
                      std::move(client)};
}

raft::member learner(uint64_t id, std::string address,
                     std::string client = {}) {
  return raft::member{node_id{id}, raft::member_role::learner,
                      std::move(address), std::move(client)};
}

raft::configuration three() {
  return raft::configuration{{voter(1, "127.0.0.1:7001", "127.0.0.1:2181"),
                              voter(2, "127.0.0.1:7002", "127.0.0.1:2182"),
                              voter(3, "127.0.0.1:7003", "127.0.0.1:2183")}};
}

/// "KIND:ID" per change, for compact expectations.
std::string summary(const reconfig_plan& p) {
  std::string out;
  for (const auto& c : p.changes) {
    if (!out.empty())
      out += " ";
    switch (c.kind()) {
      case pb::MemberChange::ADD_VOTER:
        out += "add_voter";
        break;
      case pb::MemberChange::ADD_LEARNER:
        out += "add_learner";
        break;
      case pb::MemberChange::PROMOTE:
        out += "promote";
        break;
      default:
        out += "remove";
        break;
    }
    out += ":" + std::to_string(c.id());
  }
  return out;
}

constexpr auto bad_arguments = static_cast<int32_t>(error_code::bad_arguments);

} // namespace

TEST_CASE("dynamic config: rendered as ZooKeeper's QuorumVerifier.toString",
          "[zk]") {
  auto config = three();
  config.members.push_back(learner(4, "10.0.0.4:7004"));
  CHECK(render_dynamic_config(config, 0x1a2b)
        == "server.1=127.0.0.1:7001:7001:participant;127.0.0.1:2181\n"
           "server.2=127.0.0.1:7002:7002:participant;127.0.0.1:2182\n"
           "server.3=127.0.0.1:7003:7003:participant;127.0.0.1:2183\n"
           "server.4=10.0.0.4:7004:7004:observer\n"
           "version=1a2b");
  CHECK(render_dynamic_config({}, 0) == "version=0");
  CHECK(render_dynamic_config(raft::configuration{{voter(7, "[::1]:9000")}},
                              0xFFFFFFFFFFFFFFFF)
        == "server.7=[::1]:9000:9000:participant\nversion=ffffffffffffffff");
}

TEST_CASE("dynamic config: server specs in ZooKeeper's forms", "[zk]") {
  server_spec s;
  std::string err;
  REQUIRE(parse_server_spec(
    "server.4=127.0.0.1:2888:3888:participant;127.0.0.1:2184", s, err));
  CHECK(s.id == node_id{4});
  CHECK(s.role == raft::member_role::voter);
  CHECK(s.address == "127.0.0.1:2888");
  CHECK(s.client_address == "127.0.0.1:2184");

  REQUIRE(parse_server_spec(" server.12 = host-a.example:7000:OBSERVER;2181 ",
                            s, err));
  CHECK(s.id == node_id{12});
  CHECK(s.role == raft::member_role::learner);
  CHECK(s.address == "host-a.example:7000");
  CHECK(s.client_address == "0.0.0.0:2181");

  REQUIRE(parse_server_spec("server.5=[::1]:7000:7001", s, err));
  CHECK(s.address == "[::1]:7000");
  CHECK(s.role == raft::member_role::voter);
  CHECK(s.client_address.empty());

  REQUIRE(parse_server_spec("server.6=h:7000", s, err));
  CHECK(s.address == "h:7000");
}

TEST_CASE("dynamic config: malformed specs are refused with a reason", "[zk]") {
  server_spec s;
  for (const std::string& bad :
       std::vector<std::string>{"",
                                "server.4",
                                "srv.4=h:1",
                                "server.=h:1",
                                "server.0=h:1",
                                "server.-1=h:1",
                                "server.x=h:1",
                                "server.4=h",
                                "server.4=:1",
                                "server.4=h:0",
                                "server.4=h:65536",
                                "server.4=h:1:2:leader",
                                "server.4=h:1:2:participant:9",
                                "server.4=h:1;a;b",
                                "server.4=h:1;host:",
                                "server.4=h:1;h:1:2",
                                "server.4=[::1:7000",
                                "server.4=a|b:1:2",
                                "server.4=h o:1",
                                "server.4=h:+1",
                                "server.99999999999999999999=h:1",
                                "server.4=h:1;0",
                                std::string("server.4=h\0x:1", 14)}) {
    std::string err;
    CHECK_FALSE(parse_server_spec(bad, s, err));
    CHECK_FALSE(err.empty());
  }
  std::string err;
  std::vector<server_spec> list;
  CHECK_FALSE(parse_server_list("server.4=h:1,server.4=h:2", list, err));
  CHECK_THAT(err, Catch::Contains("twice"));
  CHECK_FALSE(parse_server_list(std::string(max_reconfig_spec_bytes + 1, ','),
                                list, err));
  CHECK_THAT(err, Catch::Contains("too long"));
  std::string many;
  for (int i = 1; i <= 65; ++i)
    many += "server." + std::to_string(i) + "=h:" + std::to_string(i) + ",";
  CHECK_FALSE(parse_server_list(many, list, err));
  std::vector<node_id> ids;
  CHECK(parse_id_list(" 4 , 5,", ids, err));
  CHECK(ids == std::vector<node_id>{node_id{4}, node_id{5}});
  CHECK_FALSE(parse_id_list("4,x", ids, err));
  CHECK_FALSE(parse_id_list("4,4", ids, err));
  CHECK_FALSE(parse_id_list("0", ids, err));
}

TEST_CASE("dynamic config: incremental reconfig plans", "[zk]") {
  auto current = three();
  SECTION("a joining participant is added as a voter") {
    auto p = plan_reconfig(
      current, "server.4=127.0.0.1:7004:7004:participant;127.0.0.1:2184", "",
      "");
    REQUIRE(p.error == 0);
    CHECK(summary(p) == "add_voter:4");
    CHECK(p.changes[0].address() == "127.0.0.1:7004");
    CHECK(p.changes[0].client_address() == "127.0.0.1:2184");
  }
  SECTION("an observer is added as a learner, a leaver removed after") {
    auto p
      = plan_reconfig(current, "server.5=h:1:observer,server.4=h:2", "2", "");
    REQUIRE(p.error == 0);
    CHECK(summary(p) == "add_learner:5 add_voter:4 remove:2");
  }
  SECTION("an observer listed as participant is promoted") {
    current.members.push_back(learner(4, "h:4"));
    auto p = plan_reconfig(current, "server.4=h:4:4:participant", "", "");
    REQUIRE(p.error == 0);
    CHECK(summary(p) == "promote:4");
  }
  SECTION("observers leave before participants") {
    current.members.push_back(learner(4, "h:4"));
    auto p = plan_reconfig(current, "", "1,4", "");
    REQUIRE(p.error == 0);
    CHECK(summary(p) == "remove:4 remove:1");
  }
  SECTION("a member listed as it is changes nothing") {
    auto p = plan_reconfig(current, "server.2=127.0.0.1:7002:7002", "", "");
    REQUIRE(p.error == 0);
    CHECK(p.changes.empty());
  }
  SECTION("refusals") {
    auto refused = [&](std::string_view j, std::string_view l,
                       std::string_view n, std::string_view why) {
      auto p = plan_reconfig(current, j, l, n);
      INFO(p.message);
      CHECK(p.error == bad_arguments);
      CHECK_THAT(p.message, Catch::Contains(std::string{why}));
      CHECK(p.changes.empty());
    };
    refused("", "", "", "nothing to change");
    refused("", "9", "", "not a member");
    refused("server.4=h:1", "4", "", "both joining and leaving");
    refused("server.2=10.0.0.2:7002", "", "", "address");
    refused("server.2=127.0.0.1:7002:7002:observer", "", "", "observer");
    refused("", "1,2,3", "", "last voter");
    refused("server.4=h:1", "", "server.1=h:1", "not both");
    refused("server.4=h", "", "", "peer port");
    refused("", "a", "", "positive integer");
  }
}

TEST_CASE("dynamic config: non-incremental reconfig is planned as a "
          "difference, growing first",
          "[zk]") {
  auto current = three();
  SECTION("replace a member") {
    auto p = plan_reconfig(current, "", "",
                           "server.1=127.0.0.1:7001:7001;127.0.0.1:2181,"
                           "server.2=127.0.0.1:7002,"
                           "server.4=127.0.0.1:7004:7004:participant");
    REQUIRE(p.error == 0);
    CHECK(summary(p) == "add_voter:4 remove:3");
  }
  SECTION("a whole new cluster") {
    auto p = plan_reconfig(current, "", "",
                           "server.4=h:4,server.5=h:5,server.6=h:6:observer");
    REQUIRE(p.error == 0);
    CHECK(summary(p)
          == "add_voter:4 add_voter:5 add_learner:6 remove:1 remove:2 "
             "remove:3");
  }
  SECTION("only observers is refused") {
    auto p = plan_reconfig(current, "", "", "server.6=h:6:observer");
    CHECK(p.error == bad_arguments);
    CHECK_THAT(p.message, Catch::Contains("last voter"));
  }
  SECTION("the same membership changes nothing") {
    auto p = plan_reconfig(current, "", "",
                           "server.3=127.0.0.1:7003,server.1=127.0.0.1:7001,"
                           "server.2=127.0.0.1:7002");
    REQUIRE(p.error == 0);
    CHECK(p.changes.empty());
  }
}

namespace {

std::string reconfig_body(const reconfig_request& x) {
  std::string out;
  jute_writer w{out};
  encode(w, x);
  return out;
}

/// The node's answer to the listing: `config` in force since `index`.
pb::Response listing(const raft::configuration& config, uint64_t index,
                     bool committed = true) {
  pb::Response resp;
  resp.set_zxid(42);
  auto m = resp.mutable_members();
  raft::encode(config, m->mutable_config());
  m->set_config_index(index);
  m->set_committed(committed);
  if (committed) {
    m->mutable_zk_config()->set_data(render_dynamic_config(config, index));
    m->mutable_zk_config()->mutable_stat()->set_mzxid(
      static_cast<int64_t>(index));
    m->mutable_zk_config()->mutable_stat()->set_version(3);
  }
  return resp;
}

constexpr auto reconfig_type = static_cast<int32_t>(op_code::reconfig);

} // namespace

TEST_CASE("translate: reconfig first lists the membership", "[zk]") {
  auto t
    = translate(reconfig_type, reconfig_body({"server.4=h:1", "", "", 0x10}));
  auto sent = std::get_if<to_node>(&t);
  REQUIRE(sent != nullptr);
  REQUIRE(sent->request.has_reconfig());
  CHECK(sent->request.reconfig().changes_size() == 0);
  REQUIRE(sent->reconfig);
  CHECK(sent->reconfig->joining_servers == "server.4=h:1");
  CHECK(sent->reconfig->cur_config_id == 0x10);
  // A body that does not decode is MarshallingError.
  auto bad = translate(reconfig_type, "\x00\x00");
  REQUIRE(std::holds_alternative<local_reply>(bad));
  CHECK(std::get<local_reply>(bad).err
        == static_cast<int32_t>(error_code::marshalling_error));
}

TEST_CASE("translate: reconfig is planned against the listed configuration",
          "[zk]") {
  auto current = three();
  auto listed = listing(current, 7);
  auto planned = [&](reconfig_request r, const pb::Response& l) {
    return plan_reconfig_request(r, l, 5000);
  };
  auto error_of = [](const std::variant<to_node, reply>& v) {
    return std::holds_alternative<reply>(v) ? std::get<reply>(v).err : 0;
  };
  SECTION("joining: the planned changes, guarded by the listed config id") {
    auto v = planned(
      {"server.4=127.0.0.1:7004:7004:participant;127.0.0.1:2184", "", "", -1},
      listed);
    REQUIRE(std::holds_alternative<to_node>(v));
    const auto& r = std::get<to_node>(v).request.reconfig();
    REQUIRE(r.changes_size() == 1);
    CHECK(r.changes(0).kind() == pb::MemberChange::ADD_VOTER);
    CHECK(r.changes(0).id() == 4);
    CHECK(r.expected_config_id() == 7);
    CHECK(r.catch_up_timeout_ms() == 5000);
  }
  SECTION("errors") {
    CHECK(error_of(planned({"server.4=h", "", "", -1}, listed))
          == static_cast<int32_t>(error_code::bad_arguments));
    CHECK(error_of(planned({"", "9", "", -1}, listed))
          == static_cast<int32_t>(error_code::bad_arguments));
    CHECK(error_of(planned({"server.4=h:1", "", "", 6}, listed))
          == static_cast<int32_t>(error_code::bad_version));
    CHECK(error_of(planned({"server.4=h:1", "", "", -5}, listed))
          == static_cast<int32_t>(error_code::bad_version));
    CHECK(error_of(planned({"server.4=h:1", "", "", 7}, listed)) == 0);
    CHECK(error_of(
            planned({"server.4=h:1", "", "", -1}, listing(current, 7, false)))
          == static_cast<int32_t>(error_code::reconfig_in_progress));
    pb::Response lost;
    lost.set_error(static_cast<int32_t>(error_code::connection_loss));
    CHECK(error_of(planned({"server.4=h:1", "", "", -1}, lost))
          == static_cast<int32_t>(error_code::connection_loss));
  }
  SECTION("a request that changes nothing answers the current config") {
    auto v = planned({"server.1=127.0.0.1:7001", "", "", -1}, listed);
    REQUIRE(std::holds_alternative<reply>(v));
    const auto& r = std::get<reply>(v);
    CHECK(r.err == 0);
    jute_reader in{r.body};
    auto data = decode<get_data_response>(in);
    REQUIRE(data);
    CHECK(data->data == render_dynamic_config(current, 7));
    CHECK(data->stat.mzxid == 7);
    CHECK(data->stat.version == 3);
  }
}

TEST_CASE("translate: the reconfig answer is /zookeeper/config's "
          "GetDataResponse",
          "[zk]") {
  to_node sent;
  sent.reconfig = reconfig_request{"server.4=h:1", "", "", -1};
  auto config = three();
  auto resp = listing(config, 9);
  auto r = encode_reply(reconfig_type, sent, resp);
  REQUIRE(r.err == 0);
  CHECK(r.zxid == 42);
  jute_reader in{r.body};
  auto data = decode<get_data_response>(in);
  REQUIRE(data);
  CHECK(data->data == render_dynamic_config(config, 9));
  CHECK(in.remaining() == 0);

  // ZooKeeper's error codes pass through; a stale plan of a request that
  // named no version is ReconfigInProgress, not BadVersion.
  pb::Response failed;
  failed.set_error(static_cast<int32_t>(error_code::new_config_no_quorum));
  CHECK(encode_reply(reconfig_type, sent, failed).err == -13);
  failed.set_error(static_cast<int32_t>(error_code::bad_version));
  CHECK(encode_reply(reconfig_type, sent, failed).err == -14);
  sent.reconfig->cur_config_id = 3;
  CHECK(encode_reply(reconfig_type, sent, failed).err == -103);
  CHECK(encode_reply(reconfig_type, sent, failed).body.empty());
}
