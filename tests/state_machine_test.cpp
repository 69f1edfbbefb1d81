// Tests for state_machine: sessions and ephemerals change together, writes of
// sessions that are not open fail identically everywhere, and the snapshot
// payload carries both (and still reads a tree-only payload).
#include "runtime/state_machine.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "tests/support/printers.hpp"

using namespace conclave;

namespace {

const std::string password(session_password_bytes, 'p');

struct fixture {
  state_machine sm{data_tree_limits{}, session_limits_config{1000, 5000, 3}};
  int64_t z = 0;

  machine_result apply(int64_t session, command_body body) {
    ++z;
    return sm.apply(command{session_id{session}, std::move(body)}, zxid{z},
                    1000 + z);
  }

  machine_result open(int64_t session, int32_t timeout_ms = 2000) {
    return apply(session, open_session_op{timeout_ms, password});
  }

  std::string payload() const {
    std::string out;
    REQUIRE(sm.save([&](std::string_view chunk) {
      out.append(chunk);
      return true;
    }));
    return out;
  }
};

result<state_machine> load(const std::string& bytes) {
  size_t used = 0;
  return state_machine::load(
    [&](char* buf, size_t size) {
      auto n = std::min(size, bytes.size() - used);
      std::copy_n(bytes.data() + used, n, buf);
      used += n;
      return n;
    },
    data_tree_limits{}, session_limits_config{1000, 5000, 3});
}

} // namespace

TEST_CASE("state_machine: open clamps the timeout and reports the change",
          "[state_machine]") {
  fixture f;
  auto r = f.open(7, 100);
  REQUIRE(r.result.error == error_code::ok);
  REQUIRE(r.session);
  CHECK(r.session->opened);
  CHECK(r.session->timeout_ms == 1000);
  CHECK(f.sm.sessions().check_password(session_id{7}, password));
  // Opening it again fails the same way on every replica.
  CHECK(f.open(7).result.error == error_code::runtime_inconsistency);
}

TEST_CASE("state_machine: a write of a session that is not open fails",
          "[state_machine]") {
  fixture f;
  auto r = f.apply(9, create_op{"/e", "x", create_mode::ephemeral});
  CHECK(r.result.error == error_code::session_expired);
  CHECK_FALSE(f.sm.tree().exists("/e"));
  // Session 0 (no session) may still write persistent nodes.
  CHECK(f.apply(0, create_op{"/p", "x"}).result.error == error_code::ok);
}

TEST_CASE(
  "state_machine: closing or expiring removes the ephemerals atomically",
  "[state_machine]") {
  fixture f;
  REQUIRE(f.open(7).result.error == error_code::ok);
  REQUIRE(f.open(8).result.error == error_code::ok);
  REQUIRE(f.apply(0, create_op{"/s", ""}).result.error == error_code::ok);
  REQUIRE(f.apply(7, create_op{"/s/a", "", create_mode::ephemeral}).result.error
          == error_code::ok);
  REQUIRE(f.apply(7, create_op{"/s/b", "", create_mode::ephemeral}).result.error
          == error_code::ok);
  REQUIRE(f.apply(8, create_op{"/s/c", "", create_mode::ephemeral}).result.error
          == error_code::ok);
  auto r = f.apply(7, close_session_op{true});
  REQUIRE(r.session);
  CHECK_FALSE(r.session->opened);
  CHECK(r.session->expired);
  CHECK(r.result.events.size() >= 2); // two deletions (and the parent)
  CHECK_FALSE(f.sm.tree().exists("/s/a"));
  CHECK_FALSE(f.sm.tree().exists("/s/b"));
  CHECK(f.sm.tree().exists("/s/c"));
  CHECK(f.sm.sessions().find(session_id{7}) == nullptr);
  // Closing again is harmless and reports no change.
  auto again = f.apply(7, close_session_op{});
  CHECK(again.result.error == error_code::ok);
  CHECK_FALSE(again.session);
  // The expired session can no longer create anything.
  CHECK(f.apply(7, create_op{"/s/d", "", create_mode::ephemeral}).result.error
        == error_code::session_expired);
}

TEST_CASE("state_machine: max_sessions throttles opens", "[state_machine]") {
  fixture f;
  for (int64_t s = 1; s <= 3; ++s)
    REQUIRE(f.open(s).result.error == error_code::ok);
  CHECK(f.open(4).result.error == error_code::throttled_op);
  f.apply(1, close_session_op{});
  CHECK(f.open(4).result.error == error_code::ok);
}

TEST_CASE("state_machine: snapshot payload round-trips tree and sessions",
          "[state_machine]") {
  fixture f;
  REQUIRE(f.open(7).result.error == error_code::ok);
  REQUIRE(
    f.apply(7, create_op{"/e", "data", create_mode::ephemeral}).result.error
    == error_code::ok);
  auto bytes = f.payload();
  auto loaded = load(bytes);
  REQUIRE(loaded);
  auto copy = std::move(loaded).value();
  CHECK(copy.tree().digest() == f.sm.tree().digest());
  CHECK(copy.sessions().sessions() == f.sm.sessions().sessions());
  // The copy applies the close exactly as the original does.
  auto a = f.sm.apply({session_id{7}, close_session_op{}}, zxid{100}, 5);
  auto b = copy.apply({session_id{7}, close_session_op{}}, zxid{100}, 5);
  CHECK(a.result.events == b.result.events);
  CHECK(copy.tree().digest() == f.sm.tree().digest());
}

TEST_CASE("state_machine: a tree-only payload loads with no sessions",
          "[state_machine]") {
  data_tree tree;
  REQUIRE(tree.apply({session_id{0}, create_op{"/a", "x"}}, zxid{1}, 1).error
          == error_code::ok);
  std::string bytes;
  REQUIRE(tree.save([&](std::string_view c) {
    bytes.append(c);
    return true;
  }));
  auto sm = load(bytes);
  REQUIRE(sm);
  CHECK(sm->tree().digest() == tree.digest());
  CHECK(sm->sessions().empty());
}

TEST_CASE("state_machine: damaged payloads are refused, never crash",
          "[state_machine]") {
  fixture f;
  REQUIRE(f.open(7).result.error == error_code::ok);
  REQUIRE(f.apply(0, create_op{"/a", "x"}).result.error == error_code::ok);
  auto bytes = f.payload();
  for (size_t cut = 0; cut < bytes.size(); cut += 7)
    CHECK_FALSE(load(bytes.substr(0, cut)));
  for (size_t i = 0; i < bytes.size(); i += 5) {
    auto bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    CHECK_FALSE(load(bad));
  }
  // A session count far beyond the payload is refused before allocating.
  auto huge = bytes;
  huge[19] = '\x7f';
  CHECK_FALSE(load(huge));
}

TEST_CASE("state_machine: a configuration entry sets /zookeeper/config and "
          "leaves sessions alone",
          "[state_machine]") {
  fixture f;
  REQUIRE(f.open(7).result.error == error_code::ok);
  auto sessions = f.sm.sessions().sessions();
  auto res
    = f.sm.apply_config("server.1=h:1:1:participant\nversion=2", zxid{2}, 0);
  CHECK(res.result.error == error_code::ok);
  CHECK_FALSE(res.session);
  REQUIRE(res.result.events.size() == 1);
  CHECK(res.result.events[0].path == "/zookeeper/config");
  CHECK(f.sm.sessions().sessions() == sessions);
  auto node = f.sm.tree().get_data("/zookeeper/config");
  REQUIRE(node);
  CHECK(node->data == "server.1=h:1:1:participant\nversion=2");
  CHECK(node->stat.mzxid == 2);
  // The next command continues after the entry's zxid, and the text
  // survives a snapshot.
  f.z = 2;
  REQUIRE(f.apply(0, create_op{"/a", "x"}).result.error == error_code::ok);
  auto loaded = load(f.payload());
  REQUIRE(loaded);
  CHECK(loaded->tree().digest() == f.sm.tree().digest());
  f.sm.reset_config("version=0");
  CHECK(f.sm.tree().get_data("/zookeeper/config")->data == "version=0");
  CHECK(loaded->tree().digest() != f.sm.tree().digest());
}
