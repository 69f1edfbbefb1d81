#include <catch2/catch.hpp>

#include "runtime/raft/codec.hpp"

using namespace conclave;
using namespace conclave::raft;

namespace {

message through_the_wire(message msg) {
  auto bytes = encode(std::move(msg)).SerializeAsString();
  pb::RaftMessage parsed;
  REQUIRE(parsed.ParseFromString(bytes));
  auto decoded = decode(std::move(parsed));
  REQUIRE(decoded);
  return std::move(decoded).value();
}

} // namespace

TEST_CASE("raft codec: every message survives the wire", "[raft][codec]") {
  node_id a{1};
  node_id b{2};
  append_request app;
  app.term = term_t{7};
  app.prev_log_index = log_index{41};
  app.prev_log_term = term_t{6};
  app.entries = {entry{term_t{7}, log_index{42}, entry_type::noop, ""},
                 entry{term_t{7}, log_index{43}, entry_type::normal,
                       std::string("\0x\xff", 3)}};
  app.leader_commit = log_index{40};
  app.read_context = 99;
  auto got = through_the_wire(message{a, b, app});
  CHECK(got.from == a);
  CHECK(got.to == b);
  auto& x = std::get<append_request>(got.body);
  CHECK(x.term == app.term);
  CHECK(x.prev_log_index == app.prev_log_index);
  CHECK(x.prev_log_term == app.prev_log_term);
  CHECK(x.entries == app.entries);
  CHECK(x.leader_commit == app.leader_commit);
  CHECK(x.read_context == 99);

  auto vr = std::get<vote_request>(
    through_the_wire(
      {a, b, vote_request{term_t{3}, log_index{9}, term_t{2}, true, true}})
      .body);
  CHECK((vr.term == term_t{3} && vr.last_log_index == log_index{9}
         && vr.last_log_term == term_t{2} && vr.pre_vote
         && vr.leadership_transfer));
  auto vresp = std::get<vote_response>(
    through_the_wire({a, b, vote_response{term_t{3}, true, true}}).body);
  CHECK((vresp.granted && vresp.pre_vote && vresp.term == term_t{3}));
  append_response ar{term_t{5}, false,         log_index{0},
                     term_t{4}, log_index{17}, 12};
  auto ar2 = std::get<append_response>(through_the_wire({a, b, ar}).body);
  CHECK((!ar2.success && ar2.conflict_term == term_t{4}
         && ar2.conflict_index == log_index{17} && ar2.read_context == 12));
  snapshot_meta meta{
    log_index{100}, term_t{4},
    configuration{{{a, member_role::voter, "h1:1", "h1:2181"},
                   {b, member_role::voter, "h2:1", ""},
                   {node_id{3}, member_role::learner, "h3:1", "h3:2181"}}}};
  auto is = std::get<install_snapshot>(
    through_the_wire({a, b, install_snapshot{term_t{5}, meta}}).body);
  CHECK(is.meta.index == meta.index);
  CHECK(is.meta.term == meta.term);
  CHECK(is.meta.config == meta.config);
  auto isr = std::get<install_snapshot_response>(
    through_the_wire(
      {a, b, install_snapshot_response{term_t{5}, log_index{100}, true}})
      .body);
  CHECK((isr.success && isr.last_index == log_index{100}));
  CHECK(
    std::get<timeout_now>(through_the_wire({a, b, timeout_now{term_t{8}}}).body)
      .term
    == term_t{8});
  auto rir = std::get<read_index_request>(
    through_the_wire({a, b, read_index_request{term_t{2}, 77}}).body);
  CHECK(rir.read_id == 77);
  auto rip = std::get<read_index_response>(
    through_the_wire(
      {a, b, read_index_response{term_t{2}, 77, log_index{5}, true}})
      .body);
  CHECK((rip.read_id == 77 && rip.index == log_index{5} && rip.success));
}

TEST_CASE("raft codec: malformed messages are refused", "[raft][codec]") {
  pb::RaftMessage empty;
  CHECK(decode(std::move(empty)).error() == error_code::bad_arguments);
  pb::RaftMessage bad_type;
  bad_type.mutable_append_request()->add_entries()->set_type(
    static_cast<pb::EntryType>(9));
  CHECK(decode(std::move(bad_type)).error() == error_code::bad_arguments);
}

TEST_CASE("raft codec: hard state round trip", "[raft][codec]") {
  hard_state hs{term_t{9}, node_id{2}, log_index{31}};
  CHECK(decode(encode(hs)) == hs);
}
