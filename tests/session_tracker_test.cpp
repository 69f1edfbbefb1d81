// session_tracker: the leader's liveness view expires a session exactly one
// millisecond after its timeout has fully elapsed since it was last heard
// from, on a logical clock; touches renew, a leader change grants every
// session a fresh full timeout. No sleeps, no real time.

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "tests/support/aborts.hpp"

#include "runtime/session_table.hpp"
#include "runtime/session_tracker.hpp"

using namespace conclave;

namespace {

session_id sid(int64_t x) {
  return session_id{x};
}

std::vector<session_id> ids(std::initializer_list<int64_t> xs) {
  std::vector<session_id> out;
  for (auto x : xs)
    out.push_back(sid(x));
  return out;
}

using conclave::test::aborts;

std::string pw(int64_t seed) {
  return std::string(session_password_bytes, static_cast<char>(seed));
}

/// Brute force: what expired() must return.
struct model {
  struct entry {
    int32_t timeout;
    int64_t last;
    bool closing = false;
  };
  std::map<int64_t, entry> sessions;

  std::vector<session_id> expired(int64_t now) const {
    std::vector<session_id> out;
    for (const auto& [id, e] : sessions)
      if (!e.closing && now - e.last > e.timeout)
        out.push_back(sid(id));
    return out;
  }
};

} // namespace

TEST_CASE("session_tracker: a session expires exactly after its timeout",
          "[session]") {
  session_tracker t;
  t.add(sid(1), 4000, 1000);
  CHECK(t.size() == 1);
  CHECK(t.contains(sid(1)));
  CHECK(t.deadline(sid(1)) == 5000);
  CHECK(t.next_deadline() == 5000);
  CHECK(t.expired(1000).empty());
  CHECK(t.expired(4999).empty());
  CHECK(t.expired(5000).empty());     // silent for exactly the timeout: alive
  CHECK(t.expired(5001) == ids({1})); // timeout + 1
  CHECK(t.expired(1'000'000) == ids({1}));
  // expired() reports, it does not remove.
  CHECK(t.expired(5001) == ids({1}));
  CHECK(t.contains(sid(1)));
  // Time before the session was added: nothing.
  CHECK(t.expired(0).empty());
  CHECK(t.expired(std::numeric_limits<int64_t>::min()).empty());
}

TEST_CASE("session_tracker: touch renews a session", "[session]") {
  session_tracker t;
  t.add(sid(1), 4000, 0);
  t.add(sid(2), 4000, 0);
  CHECK(t.touch(sid(1), 3000));
  CHECK(t.deadline(sid(1)) == 7000);
  CHECK(t.expired(4001) == ids({2}));
  CHECK(t.expired(7000) == ids({2}));
  CHECK(t.expired(7001) == ids({1, 2}));
  // Touching right at the deadline still saves it.
  CHECK(t.touch(sid(2), 4000));
  CHECK(t.expired(8000) == ids({1}));
  CHECK(t.expired(8001) == ids({1, 2}));
  // A late (older) touch never moves the last-heard time backwards.
  CHECK(t.touch(sid(1), 1000));
  CHECK(t.deadline(sid(1)) == 7000);
  CHECK(t.touch(sid(1), 3000)); // same time: no change
  CHECK(t.deadline(sid(1)) == 7000);
  // Unknown ids are ignored.
  CHECK_FALSE(t.touch(sid(99), 5000));
  CHECK_FALSE(t.contains(sid(99)));
  CHECK(t.size() == 2);
}

TEST_CASE("session_tracker: a steady heartbeat keeps a session alive",
          "[session]") {
  session_tracker t;
  t.add(sid(5), 6000, 0);
  t.add(sid(6), 6000, 0);
  // Session 5 pings every timeout / 3 for an hour of logical time; 6 pings
  // every exact timeout (the last possible moment), which also suffices.
  for (int64_t now = 0; now <= 3'600'000; now += 1000) {
    if (now % 2000 == 0)
      t.touch(sid(5), now);
    if (now % 6000 == 0)
      t.touch(sid(6), now);
    REQUIRE(t.expired(now).empty());
  }
  CHECK(t.expired(3'600'000 + 6000).empty());
  CHECK(t.expired(3'600'000 + 6001) == ids({5, 6}));
}

TEST_CASE("session_tracker: touch_many renews a forwarded batch", "[session]") {
  session_tracker t;
  for (int64_t id = 1; id <= 5; ++id)
    t.add(sid(id), 4000, 0);
  // A follower's batch: known ids, an unknown one, a duplicate.
  auto renewed = t.touch_many(ids({2, 4, 77, 4, 5}), 3000);
  CHECK(renewed == 4); // 2, 4, 4 again, 5
  CHECK(t.expired(4001) == ids({1, 3}));
  CHECK(t.expired(7001) == ids({1, 2, 3, 4, 5}));
  CHECK(t.touch_many({}, 9000) == 0);
  CHECK(t.touch_many(ids({77, 78}), 9000) == 0);
  CHECK(t.size() == 5);
  // A batch older than the last touch renews nothing.
  t.touch_many(ids({1}), 2000);
  t.touch_many(ids({1}), 1000);
  CHECK(t.deadline(sid(1)) == 6000);
}

TEST_CASE("session_tracker: remove and add", "[session]") {
  session_tracker t;
  t.add(sid(1), 4000, 0);
  t.add(sid(2), 4000, 0);
  CHECK(t.remove(sid(1)));
  CHECK_FALSE(t.remove(sid(1)));
  CHECK_FALSE(t.remove(sid(3)));
  CHECK_FALSE(t.contains(sid(1)));
  CHECK(t.expired(10000) == ids({2}));
  CHECK_FALSE(t.touch(sid(1), 100));
  CHECK_FALSE(t.deadline(sid(1)).has_value());
  // Adding a tracked id replaces its timeout and renews it.
  t.add(sid(2), 10000, 5000);
  CHECK(t.size() == 1);
  CHECK(t.deadline(sid(2)) == 15000);
  CHECK(t.expired(15000).empty());
  CHECK(t.expired(15001) == ids({2}));
  CHECK(t.remove(sid(2)));
  CHECK(t.size() == 0);
  CHECK(t.expired(1'000'000).empty());
  CHECK_FALSE(t.next_deadline().has_value());
}

TEST_CASE("session_tracker: expired is sorted by id whatever the deadlines",
          "[session]") {
  session_tracker t;
  // Negative ids (node ids 128..254) sort first, as in the table.
  constexpr auto neg4 = static_cast<int64_t>(0xC000000000000004ULL);
  t.add(sid(30), 1000, 0);
  t.add(sid(neg4), 9000, 0);
  t.add(sid(10), 5000, 0);
  t.add(sid(20), 3000, 0);
  t.add(sid(1), 7000, 0);
  CHECK(t.next_deadline() == 1000);
  CHECK(t.expired(1001) == ids({30}));
  CHECK(t.expired(3001) == ids({20, 30}));
  CHECK(t.expired(5001) == ids({10, 20, 30}));
  CHECK(t.expired(7001) == ids({1, 10, 20, 30}));
  CHECK(t.expired(9001) == ids({neg4, 1, 10, 20, 30}));
}

TEST_CASE("session_tracker: a leader change never expires a healthy "
          "session",
          "[session]") {
  // The replicated table, as every node holds it.
  session_table table;
  REQUIRE(table.open(sid(1), 4000, pw(1), zxid{1}).ok());
  REQUIRE(table.open(sid(2), 10000, pw(2), zxid{2}).ok());
  REQUIRE(table.open(sid(3), 6000, pw(3), zxid{3}).ok());

  // The old leader heard from session 1 last at t=1000 (its own clock), then
  // failed. Session 1 stayed silent for 10 s (> its 4 s timeout) while the
  // cluster elected a new leader, e.g. because its pings went to the dead
  // leader's node.
  session_tracker old_leader;
  old_leader.reset_all(table, 0);
  old_leader.touch(sid(1), 1000);
  CHECK(old_leader.expired(9000) == ids({1, 3}));

  // The new leader (another node, another clock) starts its tracker from the
  // table at the moment it becomes leader: t=500000 on its clock.
  session_tracker t;
  t.add(sid(99), 4000, 0); // leftovers of an earlier leadership are dropped
  constexpr int64_t now = 500'000;
  t.reset_all(table, now);
  CHECK(t.size() == 3);
  CHECK_FALSE(t.contains(sid(99)));
  // Every session gets a full timeout, each its own.
  CHECK(t.deadline(sid(1)) == now + 4000);
  CHECK(t.deadline(sid(2)) == now + 10000);
  CHECK(t.deadline(sid(3)) == now + 6000);
  CHECK(t.expired(now).empty());
  CHECK(t.expired(now + 4000).empty());
  CHECK(t.expired(now + 4001) == ids({1}));
  // Session 1 reconnects in time and survives; 3 never does.
  CHECK(t.touch(sid(1), now + 3999));
  CHECK(t.expired(now + 6001) == ids({3}));
  CHECK(t.expired(now + 7999) == ids({3}));
  CHECK(t.expired(now + 8000) == ids({1, 3}));
  CHECK(t.expired(now + 10001) == ids({1, 2, 3}));
}

TEST_CASE("session_tracker: reset_all of the table follows the table",
          "[session]") {
  session_table table;
  for (int64_t id = 1; id <= 10; ++id)
    REQUIRE(
      table
        .open(sid(id), 4000 + static_cast<int32_t>(id) * 1000, pw(id), zxid{id})
        .ok());
  table.close(sid(4));
  session_tracker t;
  t.reset_all(table, 100);
  CHECK(t.size() == 9);
  for (const auto& [id, info] : table.sessions())
    CHECK(t.deadline(id) == 100 + info.timeout_ms);
  CHECK_FALSE(t.contains(sid(4)));
  // A later open applies while leader: add() it.
  REQUIRE(table.open(sid(11), 5000, pw(11), zxid{11}).ok());
  t.add(sid(11), table.find(sid(11))->timeout_ms, 200);
  CHECK(t.deadline(sid(11)) == 5200);
  // An empty table empties the tracker.
  t.reset_all(session_table{}, 300);
  CHECK(t.size() == 0);
  CHECK(t.expired(1'000'000'000).empty());
}

TEST_CASE("session_tracker: reset_all(now) renews everyone", "[session]") {
  session_tracker t;
  t.add(sid(1), 4000, 0);
  t.add(sid(2), 8000, 0);
  t.mark_closing(sid(2));
  CHECK(t.expired(9000) == ids({1}));
  t.reset_all(9000);
  CHECK(t.size() == 2);
  CHECK_FALSE(t.is_closing(sid(2)));
  CHECK(t.expired(13000).empty());
  CHECK(t.expired(13001) == ids({1}));
  CHECK(t.expired(17001) == ids({1, 2}));
}

TEST_CASE("session_tracker: closing sessions are reported once", "[session]") {
  session_tracker t;
  t.add(sid(1), 4000, 0);
  t.add(sid(2), 4000, 0);
  auto due = t.expired(4001);
  CHECK(due == ids({1, 2}));
  // The shell proposes an expire for 1 and marks it.
  CHECK(t.mark_closing(sid(1)));
  CHECK(t.mark_closing(sid(1))); // idempotent
  CHECK_FALSE(t.mark_closing(sid(9)));
  CHECK(t.is_closing(sid(1)));
  CHECK_FALSE(t.is_closing(sid(2)));
  CHECK_FALSE(t.is_closing(sid(9)));
  CHECK(t.expired(4001) == ids({2}));
  CHECK(t.next_deadline() == 4000);
  // A closing session is not renewed.
  CHECK_FALSE(t.touch(sid(1), 4001));
  CHECK(t.touch_many(ids({1, 2}), 4001) == 1);
  CHECK(t.expired(100000) == ids({2}));
  CHECK(t.contains(sid(1)));
  CHECK(t.deadline(sid(1)) == 4000);
  // The expire applies: the shell removes it.
  CHECK(t.remove(sid(1)));
  CHECK(t.size() == 1);
  // Re-adding clears the mark.
  t.add(sid(1), 4000, 200000);
  CHECK_FALSE(t.is_closing(sid(1)));
  CHECK(t.expired(204001) == ids({1, 2}));
  t.mark_closing(sid(2));
  t.mark_closing(sid(1));
  CHECK_FALSE(t.next_deadline().has_value());
}

TEST_CASE("session_tracker: invalid adds are broken invariants", "[session]") {
  CHECK(aborts([] { session_tracker{}.add(sid(0), 4000, 0); }));
  CHECK(aborts([] {
    session_tracker{}.add(sid(std::numeric_limits<int64_t>::min()), 4000, 0);
  }));
  CHECK(aborts([] { session_tracker{}.add(sid(1), 0, 0); }));
  CHECK(aborts([] { session_tracker{}.add(sid(1), -4000, 0); }));
  CHECK_FALSE(aborts([] { session_tracker{}.add(sid(1), 1, 0); }));
}

TEST_CASE("session_tracker: extreme timeouts and times", "[session]") {
  session_tracker t;
  t.add(sid(1), 1, 0);
  CHECK(t.expired(1).empty());
  CHECK(t.expired(2) == ids({1}));
  t.add(sid(2), std::numeric_limits<int32_t>::max(), 0);
  CHECK(t.deadline(sid(2)) == std::numeric_limits<int32_t>::max());
  // Deadlines saturate instead of overflowing: never expires.
  constexpr auto max = std::numeric_limits<int64_t>::max();
  t.add(sid(3), 4000, max - 10);
  CHECK(t.deadline(sid(3)) == max);
  CHECK(t.expired(max) == ids({1, 2}));
  CHECK(t.touch(sid(3), max));
  CHECK(t.deadline(sid(3)) == max);
  // Very early times work too.
  constexpr auto min = std::numeric_limits<int64_t>::min();
  t.add(sid(4), 4000, min);
  CHECK(t.deadline(sid(4)) == min + 4000);
  CHECK(t.expired(min + 4000).empty());
  CHECK(t.expired(min + 4001) == ids({4}));
}

TEST_CASE("session_tracker: many sessions against a brute-force model",
          "[session]") {
  std::mt19937_64 rng{99};
  session_tracker t;
  model m;
  constexpr int64_t n = 20000;
  for (int64_t id = 1; id <= n; ++id) {
    auto timeout = static_cast<int32_t>(4000 + rng() % 36001);
    t.add(sid(id), timeout, 0);
    m.sessions[id] = {timeout, 0};
  }
  int64_t now = 0;
  for (int round = 0; round < 400; ++round) {
    now += static_cast<int64_t>(rng() % 500);
    // A batch of touches (some unknown), a few removes and adds.
    std::vector<session_id> batch;
    for (int k = 0; k < 200; ++k)
      batch.push_back(sid(static_cast<int64_t>(rng() % (n + 100))));
    auto late = now - static_cast<int64_t>(rng() % 3000); // may be stale
    size_t expect_renewed = 0;
    for (auto id : batch) {
      auto i = m.sessions.find(id.value());
      if (i != m.sessions.end() && !i->second.closing) {
        ++expect_renewed;
        i->second.last = std::max(i->second.last, late);
      }
    }
    REQUIRE(t.touch_many(batch, late) == expect_renewed);
    for (int k = 0; k < 5; ++k) {
      auto id = static_cast<int64_t>(1 + rng() % n);
      switch (rng() % 3) {
        case 0:
          REQUIRE(t.remove(sid(id)) == (m.sessions.erase(id) == 1));
          break;
        case 1: {
          auto timeout = static_cast<int32_t>(4000 + rng() % 36001);
          t.add(sid(id), timeout, now);
          m.sessions[id] = {timeout, now};
          break;
        }
        default: {
          auto i = m.sessions.find(id);
          REQUIRE(t.mark_closing(sid(id)) == (i != m.sessions.end()));
          if (i != m.sessions.end())
            i->second.closing = true;
        }
      }
    }
    REQUIRE(t.size() == m.sessions.size());
    auto got = t.expired(now);
    REQUIRE(got == m.expired(now));
    auto probe = now + static_cast<int64_t>(rng() % 50000);
    REQUIRE(t.expired(probe) == m.expired(probe));
  }
  // The earliest deadline matches the model.
  std::optional<int64_t> earliest;
  for (const auto& [id, e] : m.sessions)
    if (!e.closing && (!earliest || e.last + e.timeout < *earliest))
      earliest = e.last + e.timeout;
  CHECK(t.next_deadline() == earliest);
  // Finally a leader change renews all of them.
  t.reset_all(now);
  CHECK(t.expired(now + 4000).empty());
}

TEST_CASE("session_tracker: one hundred thousand sessions", "[session]") {
  session_table table{{4000, 40000, 100000}};
  uint64_t counter = 0;
  for (int64_t z = 1; z <= 100000; ++z)
    REQUIRE(table
              .open(table.next_free_id(node_id{1}, counter, 1'700'000'000'000),
                    10000, pw(z), zxid{z})
              .ok());
  session_tracker t;
  t.reset_all(table, 0);
  CHECK(t.size() == 100000);
  // Everyone but every 10th session pings at 3000.
  std::vector<session_id> batch;
  size_t k = 0;
  for (const auto& [id, info] : table.sessions())
    if (k++ % 10 != 0)
      batch.push_back(id);
  CHECK(t.touch_many(batch, 3000) == 90000);
  CHECK(t.expired(10000).empty());
  auto due = t.expired(10001);
  CHECK(due.size() == 10000);
  CHECK(std::is_sorted(due.begin(), due.end()));
  CHECK(t.expired(13000) == due);
  CHECK(t.expired(13001).size() == 100000);
  for (auto id : due)
    t.remove(id);
  CHECK(t.size() == 90000);
}

TEST_CASE("session_tracker: an expire that did not go through is reported "
          "again",
          "[session]") {
  session_tracker t;
  t.add(sid(1), 4000, 0);
  t.add(sid(2), 4000, 1000);
  REQUIRE(t.expired(4001) == ids({1}));
  REQUIRE(t.mark_closing(sid(1)));
  CHECK(t.expired(5000).empty());
  // The proposal was refused: 1 is due again, with its old last-heard time.
  CHECK(t.unmark_closing(sid(1)));
  CHECK_FALSE(t.unmark_closing(sid(1))); // not closing any more
  CHECK_FALSE(t.unmark_closing(sid(9))); // unknown
  CHECK_FALSE(t.is_closing(sid(1)));
  CHECK(t.deadline(sid(1)) == 4000);
  CHECK(t.next_deadline() == 4000);
  CHECK(t.expired(6000) == ids({1, 2}));
  // And a touch renews it like any other session.
  CHECK(t.touch(sid(1), 6000));
  CHECK(t.expired(6000) == ids({2}));
}
