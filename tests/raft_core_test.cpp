// Raft core scenarios: several cores connected by a small in-test network
// that delivers messages in FIFO order (unless a test drops some) and makes
// every write durable at once (persisted() right after each output).

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "runtime/raft/core.hpp"

using namespace conclave;
using namespace conclave::raft;

namespace {

constexpr int election_ticks = 10;

node_id n(uint64_t x) {
  return node_id{x};
}

log_index i(uint64_t x) {
  return log_index{x};
}

term_t t(uint64_t x) {
  return term_t{x};
}

/// N cores and a FIFO network between them.
class net {
public:
  using tweak_fn = std::function<void(core_config&)>;

  explicit net(size_t size, const tweak_fn& tweak = {}) {
    std::vector<node_id> voters;
    for (uint64_t k = 1; k <= size; ++k)
      voters.push_back(n(k));
    for (uint64_t k = 1; k <= size; ++k) {
      core_config cfg;
      cfg.self = n(k);
      cfg.voters = voters;
      cfg.election_timeout_ticks = election_ticks;
      cfg.heartbeat_interval_ticks = 1;
      cfg.seed = 7 * k;
      if (tweak)
        tweak(cfg);
      cores_.emplace_back(cfg, persistent_state{});
      applied_.emplace_back();
    }
  }

  core& node(uint64_t id) { return cores_.at(id - 1); }

  size_t size() const { return cores_.size(); }

  /// Drops every message to or from `id` until healed.
  void isolate(uint64_t id) { cut_.insert(n(id)); }

  void heal() { cut_.clear(); }

  /// Extra drop rule (e.g. to lose every append to one node).
  std::function<bool(const message&)> drop;

  /// Handles one node's output: writes are durable at once.
  void flush(uint64_t id) {
    auto& c = node(id);
    auto out = c.take_output();
    if (!out.entries.empty())
      c.persisted(out.entries.back().index, out.entries.back().term);
    else if (out.snapshot)
      c.persisted(out.snapshot->index, out.snapshot->term);
    auto& sm = applied_[id - 1];
    if (out.snapshot) {
      sm.clear();
      for (uint64_t k = 1; k <= out.snapshot->index.value(); ++k)
        sm.push_back(committed_.at(k));
    }
    for (auto& e : out.committed) {
      REQUIRE(e.index.value() == sm.size() + 1);
      record(e);
      sm.push_back(e);
    }
    for (auto& r : out.reads)
      reads[id].push_back(r);
    for (auto r : out.failed_reads)
      failed_reads[id].push_back(r);
    for (auto& m : out.messages)
      enqueue(m);
    for (auto& m : out.messages_after_persist)
      enqueue(m);
    c.check_invariants();
    if (out.state && c.role() != role::leader) // flush the persisted() effect
      flush_quiet(id);
  }

  void flush_all() {
    for (uint64_t k = 1; k <= size(); ++k)
      flush(k);
  }

  /// Delivers messages (FIFO) until the network is quiet.
  void deliver(size_t limit = 1'000'000) {
    flush_all();
    for (size_t steps = 0; !queue_.empty() && steps < limit; ++steps) {
      auto m = queue_.front();
      queue_.erase(queue_.begin());
      if (cut_.count(m.from) || cut_.count(m.to) || (drop && drop(m)))
        continue;
      ++delivered;
      node(m.to.value()).step(m);
      flush(m.to.value());
    }
    flush_all();
  }

  void tick(uint64_t id, int times = 1) {
    for (int k = 0; k < times; ++k) {
      node(id).tick();
      deliver();
    }
  }

  void tick_all(int times = 1) {
    for (int k = 0; k < times; ++k) {
      for (uint64_t id = 1; id <= size(); ++id)
        node(id).tick();
      deliver();
    }
  }

  /// Everybody ticks, but only the vote requests of `id` get through, until
  /// it leads.
  void elect(uint64_t id) {
    auto saved = drop;
    drop = [&, id](const message& m) {
      return (std::holds_alternative<vote_request>(m.body) && m.from != n(id))
             || (saved && saved(m));
    };
    for (int k = 0; k < 6 * election_ticks && node(id).role() != role::leader;
         ++k)
      tick_all();
    drop = saved;
    REQUIRE(node(id).role() == role::leader);
  }

  /// Log terms of a node, from its first index in memory.
  std::vector<entry> log(uint64_t id) {
    std::vector<entry> result;
    auto& c = node(id);
    for (auto k = c.compacted_index().value() + 1; k <= c.last_index().value();
         ++k)
      result.push_back(*c.entry_at(i(k)));
    return result;
  }

  const std::vector<entry>& applied(uint64_t id) const {
    return applied_.at(id - 1);
  }

  /// Messages sent (delivered or not) since the last clear.
  std::vector<message> sent;
  size_t delivered = 0;
  std::map<uint64_t, std::vector<read_state>> reads;
  std::map<uint64_t, std::vector<uint64_t>> failed_reads;

private:
  void enqueue(const message& m) {
    sent.push_back(m);
    queue_.push_back(m);
  }

  void flush_quiet(uint64_t id) {
    auto out = node(id).take_output();
    REQUIRE(out.messages.empty());
    REQUIRE(out.committed.empty());
  }

  void record(const entry& e) {
    auto [it, fresh] = committed_.emplace(e.index.value(), e);
    REQUIRE(it->second == e); // State Machine Safety
  }

  std::vector<core> cores_;
  std::vector<std::vector<entry>> applied_;
  std::map<uint64_t, entry> committed_;
  std::vector<message> queue_;
  std::set<node_id> cut_;
};

template <class T>
size_t count_of(const std::vector<message>& msgs, uint64_t to = 0) {
  return static_cast<size_t>(
    std::count_if(msgs.begin(), msgs.end(), [&](const message& m) {
      return std::holds_alternative<T>(m.body) && (to == 0 || m.to == n(to));
    }));
}

void propose_n(net& nw, uint64_t leader, int count, size_t bytes = 8) {
  for (int k = 0; k < count; ++k)
    REQUIRE(nw.node(leader).propose(std::string(bytes, 'a' + k % 26)).ok());
}

} // namespace

// -- elections ---------------------------------------------------------------

TEST_CASE("core: a 3-node cluster elects a leader and commits its noop",
          "[raft]") {
  net nw(3, [](core_config& c) { c.pre_vote = false; });
  nw.elect(1);
  CHECK(nw.node(1).term() == t(1));
  nw.tick(1); // a heartbeat carries the commit index to the last follower
  for (uint64_t k = 1; k <= 3; ++k) {
    CHECK(nw.node(k).leader() == n(1));
    CHECK(nw.node(k).commit_index() == i(1));
    REQUIRE(nw.applied(k).size() == 1);
    CHECK(nw.applied(k)[0].type == entry_type::noop);
  }
}

TEST_CASE("core: a 5-node cluster with pre-vote elects exactly one leader",
          "[raft]") {
  net nw(5);
  // Everybody ticks: randomized timeouts pick one winner.
  for (int k = 0; k < 10 * election_ticks; ++k)
    nw.tick_all();
  std::set<uint64_t> leaders;
  for (uint64_t k = 1; k <= 5; ++k)
    if (nw.node(k).role() == role::leader)
      leaders.insert(k);
  REQUIRE(leaders.size() == 1);
  auto leader = *leaders.begin();
  for (uint64_t k = 1; k <= 5; ++k) {
    CHECK(nw.node(k).leader() == n(leader));
    CHECK(nw.node(k).term() == nw.node(leader).term());
  }
  // Stable: no more elections while the leader is heard.
  auto term = nw.node(leader).term();
  nw.tick_all(20 * election_ticks);
  CHECK(nw.node(leader).term() == term);
  CHECK(nw.node(leader).role() == role::leader);
}

TEST_CASE("core: a node with a stale log cannot win", "[raft]") {
  net nw(3);
  nw.elect(1);
  nw.isolate(3);
  propose_n(nw, 1, 5);
  nw.deliver();
  nw.heal();
  nw.isolate(1);
  // 3 times out first, but 2 refuses its (pre-)vote.
  nw.tick(3, 4 * election_ticks);
  CHECK(nw.node(3).role() != role::leader);
  CHECK(nw.node(3).term() == nw.node(2).term());
  nw.elect(2);
  nw.heal();
  nw.tick_all(3);
  CHECK(nw.node(3).commit_index() == nw.node(2).commit_index());
}

// -- replication -------------------------------------------------------------

TEST_CASE("core: a new leader repairs divergent logs", "[raft]") {
  net nw(3);
  nw.elect(1);
  propose_n(nw, 1, 3);
  nw.deliver();
  // Node 1 appends entries nobody else gets, then is cut off.
  nw.isolate(1);
  propose_n(nw, 1, 4);
  nw.deliver();
  CHECK(nw.node(1).last_index() == i(8));
  nw.elect(2);
  propose_n(nw, 2, 2);
  nw.deliver();
  // Node 1 steps down on the new term and takes the new leader's log.
  nw.heal();
  nw.tick_all(3);
  CHECK(nw.node(1).role() == role::follower);
  auto log2 = nw.log(2);
  CHECK(nw.log(1) == log2);
  CHECK(nw.log(3) == log2);
  CHECK(nw.applied(1) == nw.applied(2));
}

TEST_CASE("core: fast back-off skips long divergent suffixes", "[raft]") {
  // Node 1 holds 300 entries of term 1 that nobody else has; nodes 2 and 3
  // hold 400 entries of a later term instead. A new leader probing node 1 at
  // its last index skips both runs with the conflict hints (§5.3) instead
  // of backing off one entry per round trip.
  net nw(3, [](core_config& c) { c.max_append_entries = 64; });
  nw.elect(1);
  nw.isolate(2);
  nw.isolate(3);
  propose_n(nw, 1, 300);
  nw.deliver();
  nw.heal();
  nw.isolate(1);
  nw.elect(3);
  propose_n(nw, 3, 400);
  nw.deliver();
  nw.heal();
  nw.isolate(3);
  nw.sent.clear();
  nw.elect(2); // probes node 1 at its last index
  nw.heal();
  nw.tick_all(2);
  size_t rejections = 0;
  for (const auto& m : nw.sent)
    if (auto r = std::get_if<append_response>(&m.body))
      rejections += (m.from == n(1) && !r->success) ? 1 : 0;
  CHECK(rejections >= 1);
  CHECK(rejections <= 3);
  CHECK(nw.log(1) == nw.log(2));
  CHECK(nw.node(1).last_index().value() > 400);
}

TEST_CASE("core: pipelining is bounded by the in-flight window", "[raft]") {
  net nw(3, [](core_config& c) {
    c.max_inflight_appends = 4;
    c.max_append_entries = 1;
  });
  nw.elect(1);
  nw.sent.clear();
  std::vector<message> held;
  nw.drop = [&](const message& m) {
    auto a = std::get_if<append_request>(&m.body);
    if (m.to == n(2) && a && !a->entries.empty()) {
      held.push_back(m);
      return true;
    }
    return false;
  };
  propose_n(nw, 1, 10);
  nw.deliver();
  CHECK(held.size() == 4); // the window is full
  CHECK(nw.node(1).progress_of(n(2))->inflights().full());
  // One acknowledgement frees one slot, so one more append goes out.
  nw.drop = nullptr;
  held.clear();
  nw.node(1).step(message{
    n(2), n(1), append_response{nw.node(1).term(), true, i(2), {}, {}}});
  auto out = nw.node(1).take_output();
  CHECK(count_of<append_request>(out.messages, 2) == 1);
}

TEST_CASE("core: appends are bounded in bytes, with at least one entry",
          "[raft]") {
  net nw(3, [](core_config& c) { c.max_append_bytes = 100; });
  nw.elect(1);
  nw.isolate(2);           // so that it catches up in batches
  propose_n(nw, 1, 6, 40); // two per append
  REQUIRE(nw.node(1).propose(std::string(500, 'x')).ok()); // alone
  propose_n(nw, 1, 2, 40);
  nw.deliver();
  nw.heal();
  nw.sent.clear();
  nw.tick_all(2);
  std::vector<size_t> sizes;
  for (const auto& m : nw.sent)
    if (auto a = std::get_if<append_request>(&m.body))
      if (m.to == n(2) && !a->entries.empty()) {
        size_t bytes = 0;
        for (const auto& e : a->entries)
          bytes += e.data.size();
        CHECK((bytes <= 100 || a->entries.size() == 1));
        sizes.push_back(a->entries.size());
      }
  CHECK(std::count(sizes.begin(), sizes.end(), 1u) >= 1);
  CHECK(*std::max_element(sizes.begin(), sizes.end()) == 2);
  CHECK(nw.log(2) == nw.log(1));
}

TEST_CASE("core: a single-node cluster", "[raft]") {
  net nw(1);
  nw.elect(1);
  CHECK(nw.node(1).commit_index() == i(1)); // noop after persisted()
  auto index = nw.node(1).propose("x");
  REQUIRE(index.ok());
  nw.deliver();
  CHECK(nw.node(1).commit_index() == *index);
  nw.node(1).read_index(11);
  nw.deliver();
  REQUIRE(nw.reads[1].size() == 1);
  CHECK(nw.reads[1][0].index == *index);
  CHECK(count_of<append_request>(nw.sent) == 0);
}

TEST_CASE("core: a follower that acknowledges after the commit is told the "
          "commit at once, not with the next heartbeat",
          "[raft]") {
  net nw(3);
  nw.elect(1);
  nw.deliver();
  // Node 3's acknowledgements are late: node 2's commit the entry first.
  std::vector<message> late;
  nw.drop = [&](const message& m) {
    if (m.from == n(3) && std::holds_alternative<append_response>(m.body)) {
      late.push_back(m);
      return true;
    }
    return false;
  };
  auto index = nw.node(1).propose("x");
  REQUIRE(index.ok());
  nw.deliver();
  REQUIRE(nw.node(1).commit_index() == *index);
  // Node 3 has the entry, but was told the commit at its older match.
  REQUIRE(nw.node(3).last_index() == *index);
  REQUIRE(nw.node(3).commit_index() < *index);
  REQUIRE_FALSE(late.empty());
  nw.drop = {};
  for (auto& m : late) {
    nw.node(1).step(m);
    nw.flush(1);
  }
  nw.deliver(); // no tick: no heartbeat
  CHECK(nw.node(3).commit_index() == *index);
  CHECK(nw.applied(3).size() == index->value());
}

TEST_CASE("core: proposals are throttled", "[raft]") {
  net nw(3, [](core_config& c) { c.max_uncommitted_entries = 5; });
  nw.elect(1);
  nw.isolate(2);
  nw.isolate(3);
  propose_n(nw, 1, 5);
  CHECK(nw.node(1).propose("y").error() == error_code::throttled_op);
  CHECK(nw.node(2).propose("y").error() == error_code::connection_loss);
  nw.heal();
  nw.tick(1);
  CHECK(nw.node(1).propose("y").ok());
}

// -- snapshots ---------------------------------------------------------------

TEST_CASE("core: a lagging follower catches up by snapshot", "[raft]") {
  net nw(3);
  nw.elect(1);
  nw.isolate(3);
  propose_n(nw, 1, 50);
  nw.deliver();
  auto& leader = nw.node(1);
  REQUIRE(leader.commit_index() == i(51));
  leader.snapshot_taken(
    snapshot_meta{i(40), leader.entry_at(i(40))->term, leader.config()}, 5);
  CHECK(leader.compacted_index() == i(35));
  nw.heal();
  nw.sent.clear();
  nw.tick_all(3);
  CHECK(count_of<install_snapshot>(nw.sent, 3) == 1);
  CHECK(nw.node(3).snapshot_index() == i(40));
  CHECK(nw.node(3).last_index() == leader.last_index());
  CHECK(nw.applied(3) == nw.applied(1));
  CHECK(leader.progress_of(n(3))->state() == progress_state::replicate);
  propose_n(nw, 1, 3);
  nw.tick_all(2); // the follower acknowledging last learns the commit later
  CHECK(nw.applied(3) == nw.applied(1));
}

TEST_CASE("core: an unanswered snapshot is sent again", "[raft]") {
  net nw(3, [](core_config& c) { c.snapshot_retry_ticks = 30; });
  nw.elect(1);
  nw.isolate(3);
  propose_n(nw, 1, 20);
  nw.deliver();
  auto& leader = nw.node(1);
  leader.snapshot_taken(
    snapshot_meta{i(20), leader.entry_at(i(20))->term, leader.config()}, 0);
  nw.heal();
  bool dropped = false;
  nw.drop = [&](const message& m) {
    if (std::holds_alternative<install_snapshot>(m.body) && !dropped) {
      dropped = true;
      return true;
    }
    return false;
  };
  nw.tick_all(5);
  CHECK(dropped);
  CHECK(leader.progress_of(n(3))->state() == progress_state::snapshot);
  nw.tick_all(30);
  CHECK(leader.progress_of(n(3))->state() == progress_state::replicate);
  CHECK(nw.applied(3) == nw.applied(1));
}

// -- leadership transfer -----------------------------------------------------

TEST_CASE("core: leadership transfer to a live target", "[raft]") {
  net nw(3);
  nw.elect(1);
  nw.isolate(3);
  propose_n(nw, 1, 5);
  nw.deliver();
  nw.heal();
  REQUIRE(nw.node(1).transfer_leadership(n(3)) == error_code::ok);
  nw.deliver();
  nw.tick_all(2);
  CHECK(nw.node(3).role() == role::leader);
  CHECK(nw.node(1).role() == role::follower);
  CHECK(nw.node(1).leader() == n(3));
  CHECK(nw.node(3).commit_index() >= i(6));
}

TEST_CASE("core: a transfer to a dead target aborts", "[raft]") {
  net nw(3);
  nw.elect(1);
  nw.isolate(3);
  propose_n(nw, 1, 2);
  nw.deliver();
  REQUIRE(nw.node(1).transfer_leadership(n(3)) == error_code::ok);
  CHECK(nw.node(1).propose("x").error() == error_code::throttled_op);
  int ticks = 0;
  while (nw.node(1).transferring() && ticks < 5 * election_ticks) {
    nw.tick_all();
    ++ticks;
  }
  CHECK(ticks == election_ticks);
  CHECK(nw.node(1).role() == role::leader);
  CHECK(nw.node(1).propose("x").ok());
}

// -- ReadIndex ---------------------------------------------------------------

TEST_CASE("core: reads registered together share one heartbeat round",
          "[raft]") {
  net nw(3);
  nw.elect(1);
  nw.tick_all(); // a quiet, committed leader
  nw.sent.clear();
  auto& leader = nw.node(1);
  for (uint64_t id = 1; id <= 100; ++id)
    leader.read_index(id);
  nw.deliver();
  REQUIRE(nw.reads[1].size() == 100);
  for (const auto& r : nw.reads[1])
    CHECK(r.index == leader.commit_index());
  // One heartbeat per follower.
  CHECK(count_of<append_request>(nw.sent) == 2);
  CHECK(leader.pending_reads() == 0);
}

TEST_CASE("core: a follower read goes through the leader", "[raft]") {
  net nw(3);
  nw.elect(1);
  propose_n(nw, 1, 3);
  nw.deliver();
  nw.node(2).read_index(77);
  nw.deliver();
  REQUIRE(nw.reads[2].size() == 1);
  CHECK(nw.reads[2][0].read_id == 77);
  CHECK(nw.reads[2][0].index == i(4));
}

TEST_CASE("core: an isolated leader cannot confirm reads", "[raft]") {
  net nw(3);
  nw.elect(1);
  nw.isolate(1);
  nw.node(1).read_index(5);
  nw.deliver();
  CHECK(nw.reads[1].empty());
  // CheckQuorum makes it step down; the read fails.
  nw.tick(1, election_ticks);
  CHECK(nw.node(1).role() == role::follower);
  CHECK(nw.failed_reads[1] == std::vector<uint64_t>{5});
}

TEST_CASE("core: forwarded reads fail when the leader never answers",
          "[raft]") {
  net nw(3);
  nw.elect(1);
  nw.drop = [](const message& m) {
    return std::holds_alternative<read_index_request>(m.body);
  };
  nw.node(2).read_index(9);
  nw.tick_all(election_ticks);
  CHECK(nw.failed_reads[2] == std::vector<uint64_t>{9});
  CHECK(nw.node(2).pending_reads() == 0);
}

TEST_CASE("core: too many pending reads fail", "[raft]") {
  net nw(3, [](core_config& c) { c.max_pending_reads = 3; });
  nw.elect(1);
  nw.isolate(2);
  nw.isolate(3);
  for (uint64_t id = 1; id <= 5; ++id)
    nw.node(1).read_index(id);
  nw.deliver();
  CHECK(nw.failed_reads[1] == std::vector<uint64_t>{4, 5});
}

// -- CheckQuorum and stickiness ----------------------------------------------

TEST_CASE("core: an isolated leader steps down and rejoins as follower",
          "[raft]") {
  net nw(5);
  nw.elect(1);
  nw.isolate(1);
  auto old = nw.node(1).term();
  nw.tick_all(3 * election_ticks);
  CHECK(nw.node(1).role() != role::leader);
  uint64_t leader = 0;
  for (uint64_t k = 2; k <= 5; ++k)
    if (nw.node(k).role() == role::leader)
      leader = k;
  REQUIRE(leader != 0);
  CHECK(nw.node(leader).term() > old);
  CHECK(nw.node(1).term() == old); // pre-vote kept its term
  nw.heal();
  nw.tick_all(2);
  CHECK(nw.node(1).leader() == n(leader));
  CHECK(nw.node(leader).role() == role::leader);
}

TEST_CASE("core: a rejoining node with a higher term does not disrupt a "
          "healthy leader forever",
          "[raft]") {
  // Without pre-vote a partitioned node inflates its term. On its return the
  // leader learns the term from its answers and steps down; a node with an
  // up-to-date log then wins.
  net nw(3, [](core_config& c) { c.pre_vote = false; });
  nw.elect(1);
  propose_n(nw, 1, 3);
  nw.deliver();
  nw.isolate(3);
  propose_n(nw, 1, 3);
  nw.deliver();
  nw.tick(3, 6 * election_ticks);
  CHECK(nw.node(3).term() > nw.node(1).term());
  nw.heal();
  nw.tick_all(6 * election_ticks);
  uint64_t leaders = 0;
  for (uint64_t k = 1; k <= 3; ++k)
    leaders += nw.node(k).role() == role::leader ? 1 : 0;
  CHECK(leaders == 1);
  CHECK(nw.node(3).role() != role::leader);
  CHECK(nw.log(3) == nw.log(1));
}

// -- config ------------------------------------------------------------------

TEST_CASE("core: config validation", "[raft]") {
  core_config ok;
  ok.self = n(1);
  ok.voters = {n(1), n(2), n(3)};
  CHECK(ok.validate().empty());
  auto bad = [&](const std::function<void(core_config&)>& f) {
    auto c = ok;
    f(c);
    return !c.validate().empty();
  };
  CHECK(bad([](core_config& c) { c.self = n(0); }));
  // No bootstrap configuration: a node joining an existing cluster.
  CHECK_FALSE(bad([](core_config& c) { c.voters = {}; }));
  CHECK(bad([](core_config& c) {
    c.bootstrap = configuration::of_voters({n(1)});
  })); // both
  CHECK(bad([](core_config& c) { c.voters = {n(1), n(1)}; }));
  CHECK(bad([](core_config& c) { c.voters = {n(2), n(3)}; }));
  CHECK(bad([](core_config& c) { c.heartbeat_interval_ticks = 10; }));
  CHECK(bad([](core_config& c) { c.election_timeout_ticks = 1; }));
  CHECK(bad([](core_config& c) { c.max_inflight_appends = 0; }));
  CHECK(bad([](core_config& c) { c.max_append_entries = 0; }));
  CHECK(bad([](core_config& c) { c.snapshot_retry_ticks = 5; }));
  CHECK(bad([](core_config& c) { c.max_pending_reads = 0; }));
}

TEST_CASE("core: votes from non-voters and messages for others are ignored",
          "[raft]") {
  net nw(3);
  auto& c = nw.node(1);
  // §4.2.3: a removed (or never added) server cannot raise terms.
  c.step(message{n(9), n(1), vote_request{t(5), i(9), t(4), false, false}});
  c.step(message{n(9), n(1), vote_request{t(5), i(9), t(4), true, false}});
  c.step(message{n(9), n(1), vote_response{t(5), true, false}});
  c.step(message{n(2), n(3), append_request{t(5), i(0), t(0), {}, i(0)}});
  c.step(message{n(0), n(1), append_request{t(5), i(0), t(0), {}, i(0)}});
  CHECK(c.term() == t(0));
  auto out = c.take_output();
  CHECK(out.messages.empty());
  CHECK(out.messages_after_persist.empty());
  CHECK(out.log.size() == 6); // the start and five notes
}
