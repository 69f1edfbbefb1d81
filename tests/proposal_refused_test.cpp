// A write is sent again only when the leader refused it before appending
// (messages/proposal_refused.hpp). A leader that appended it but answered
// late must not see the same write proposed again: it would be applied once
// per attempt (found by the chaos harness's native workload).
#include <catch2/catch.hpp>

#include <chrono>

#include <caf/sec.hpp>

#include "messages/proposal_refused.hpp"
#include "tests/support/local_cluster.hpp"

using namespace conclave;
using namespace conclave::test;
using namespace std::chrono_literals;

TEST_CASE("proposal_refused: only a refusal proves nothing was appended",
          "[sessions]") {
  CHECK(is_proposal_refused(make_error(proposal_refused::no_leader, "x")));
  CHECK(is_proposal_refused(make_error(proposal_refused::throttled, "x")));
  CHECK_FALSE(is_proposal_refused(caf::make_error(caf::sec::request_timeout)));
  CHECK_FALSE(
    is_proposal_refused(caf::make_error(caf::sec::request_receiver_down)));
  CHECK_FALSE(is_proposal_refused(caf::error{}));
}

TEST_CASE("sessions: a write the leader appended late is applied once, not "
          "once per attempt",
          "[sessions][cluster]") {
  // Writes time out at the nodes after 500 ms; the leader's log actor will
  // stall for 1.5 s, well inside the election timeout (no new leader).
  local_cluster cluster{3,
                        {"--conclave.request-timeout-ms=500",
                         "--conclave.election-timeout-ms=3000",
                         "--conclave.fault-injection=on"}};
  auto leader = cluster.wait_for_leader(30s);
  REQUIRE(leader >= 0);
  auto follower = static_cast<size_t>((leader + 1) % 3);
  auto c = cluster.client(follower);
  REQUIRE(c->create("/once", "v0").ok());
  auto admin = cluster.client(static_cast<size_t>(leader));
  REQUIRE(admin->inject_fault("log", "block:1500").ok());
  // Proposed through the follower to the stalled leader, which appends it
  // when it wakes up: the node's answer comes first and must not invite
  // the client to send it again.
  auto r = c->set("/once", "v1");
  CHECK_FALSE(r.ok());
  CHECK((r.error == error_code::operation_timeout
         || r.error == error_code::connection_loss));
  // Once the leader is back, the write is there exactly once.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  int32_t version = -1;
  while (std::chrono::steady_clock::now() < deadline && version < 1) {
    if (c->sync().ok())
      if (auto g = c->get("/once"); g.ok())
        version = g.value.stat.version;
  }
  CHECK(version == 1);
  REQUIRE(c->sync().ok());
  auto g = c->get("/once");
  REQUIRE(g.ok());
  CHECK(g.value.data == "v1");
  CHECK(g.value.stat.version == 1);
}
