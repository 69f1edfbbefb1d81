// Raft membership changes (dissertation §4): learners, promotion, removal
// (of followers and of the leader itself), configurations that take effect
// on append and revert on truncation, joining nodes, restarts and snapshots
// with configurations. Cores are connected by a small FIFO network (as in
// raft_core_test.cpp) whose nodes can be added, stopped and restarted, and
// whose writes are durable at once; check_invariants() runs after every
// step.

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "runtime/raft/codec.hpp"
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

using kind = membership_change::kind;

membership_change add_learner(uint64_t id) {
  return {kind::add_learner, n(id), "h" + std::to_string(id) + ":1", {}};
}

membership_change promote(uint64_t id) {
  return {kind::promote, n(id), {}, {}};
}

membership_change remove(uint64_t id) {
  return {kind::remove, n(id), {}, {}};
}

/// What a node's disk holds (writes are durable at once).
struct disk {
  hard_state state;
  snapshot_meta snapshot;
  std::vector<entry> log;

  persistent_state load() const {
    persistent_state ps;
    ps.state = state;
    ps.snapshot = snapshot;
    for (const auto& e : log)
      if (e.index > snapshot.index)
        ps.entries.push_back(e);
    return ps;
  }
};

/// Cores with arbitrary ids and a FIFO network between them.
class net {
public:
  using tweak_fn = std::function<void(core_config&)>;

  explicit net(size_t size, tweak_fn tweak = {}) : tweak_(std::move(tweak)) {
    for (uint64_t k = 1; k <= size; ++k)
      voters_.push_back(n(k));
    for (uint64_t k = 1; k <= size; ++k)
      start(k, voters_);
  }

  /// Starts node `id` with the bootstrap voters `voters` (empty: joining).
  void start(uint64_t id, const std::vector<node_id>& voters,
             persistent_state ps = {}) {
    core_config cfg;
    cfg.self = n(id);
    cfg.voters = voters;
    cfg.election_timeout_ticks = election_ticks;
    cfg.heartbeat_interval_ticks = 1;
    cfg.seed = 7 * id + restarts_++;
    if (tweak_)
      tweak_(cfg);
    cores_.erase(id);
    cores_.emplace(id, std::make_unique<core>(cfg, std::move(ps)));
    auto& sm = applied_[id];
    sm.clear();
    for (uint64_t k = 1; k <= cores_[id]->snapshot_index().value(); ++k)
      sm.push_back(committed_.at(k));
    flush(id);
  }

  /// A brand-new node joining with an empty bootstrap configuration.
  void join(uint64_t id) {
    disks_[id] = disk{};
    start(id, {});
  }

  /// Stops a node (its disk stays).
  void stop(uint64_t id) { cores_.erase(id); }

  /// Restarts a stopped node from its disk.
  void restart(uint64_t id, const std::vector<node_id>& voters) {
    start(id, voters, disks_[id].load());
  }

  bool running(uint64_t id) const { return cores_.count(id) > 0; }

  core& node(uint64_t id) {
    REQUIRE(running(id));
    return *cores_.at(id);
  }

  const disk& disk_of(uint64_t id) { return disks_[id]; }

  /// The state machine of `id` saved a snapshot at `index` (durable first,
  /// as the contract requires); the core compacts up to index - keep.
  void take_snapshot(uint64_t id, uint64_t index, size_t keep,
                     configuration given = {}) {
    auto& c = node(id);
    REQUIRE(c.entry_at(i(index)));
    c.snapshot_taken(
      snapshot_meta{i(index), c.entry_at(i(index))->term, std::move(given)},
      keep);
    auto& d = disks_[id];
    d.snapshot = c.latest_snapshot();
    REQUIRE(d.snapshot.index == i(index));
    auto cut = index - std::min<uint64_t>(keep, index);
    d.log.erase(
      std::remove_if(d.log.begin(), d.log.end(),
                     [&](const entry& e) { return e.index.value() <= cut; }),
      d.log.end());
    flush(id);
  }

  /// Drops every message to or from `id` until healed.
  void isolate(uint64_t id) { cut_.insert(n(id)); }

  void heal() { cut_.clear(); }

  /// Extra drop rule.
  std::function<bool(const message&)> drop;

  void flush(uint64_t id) {
    auto& c = node(id);
    auto out = c.take_output();
    auto& d = disks_[id];
    if (out.snapshot) {
      bool keep = std::any_of(d.log.begin(), d.log.end(), [&](const entry& e) {
        return e.index == out.snapshot->index && e.term == out.snapshot->term;
      });
      d.snapshot = *out.snapshot;
      if (!keep)
        d.log.clear();
    }
    for (const auto& e : out.entries) {
      while (!d.log.empty() && d.log.back().index >= e.index)
        d.log.pop_back();
      d.log.push_back(e);
    }
    if (out.state)
      d.state = *out.state;
    if (!out.entries.empty())
      c.persisted(out.entries.back().index, out.entries.back().term);
    else if (out.snapshot)
      c.persisted(out.snapshot->index, out.snapshot->term);
    auto& sm = applied_[id];
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
    for (auto& l : out.log)
      log.push_back(l.text);
    c.check_invariants();
    check_config(c);
    if (c.role() == role::leader)
      leaders_[c.term().value()].insert(id);
    REQUIRE(leaders_[c.term().value()].size() <= 1);
    if (out.state || !out.entries.empty())
      flush(id); // the persisted() effects
  }

  void flush_all() {
    std::vector<uint64_t> ids;
    for (auto& [id, _] : cores_)
      ids.push_back(id);
    for (auto id : ids)
      flush(id);
  }

  /// Delivers messages (FIFO) until the network is quiet.
  void deliver(size_t limit = 1'000'000) {
    flush_all();
    for (size_t steps = 0; !queue_.empty() && steps < limit; ++steps) {
      auto m = queue_.front();
      queue_.erase(queue_.begin());
      if (cut_.count(m.from) || cut_.count(m.to) || (drop && drop(m))
          || !running(m.to.value()))
        continue;
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
      std::vector<uint64_t> ids;
      for (auto& [id, _] : cores_)
        ids.push_back(id);
      for (auto id : ids)
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

  /// The node leading the highest term, 0 if none.
  uint64_t leader() {
    uint64_t best = 0;
    for (auto& [id, c] : cores_)
      if (c->role() == role::leader
          && (best == 0 || c->term() > node(best).term()))
        best = id;
    return best;
  }

  /// A successful change, delivered.
  log_index change(uint64_t leader, const membership_change& ch) {
    auto r = node(leader).change_membership(ch);
    if (auto err = std::get_if<membership_error>(&r))
      FAIL("change refused: " << err->text);
    deliver();
    return std::get<log_index>(r);
  }

  /// The error code of a refused change.
  error_code refused(uint64_t leader, const membership_change& ch) {
    auto r = node(leader).change_membership(ch);
    auto err = std::get_if<membership_error>(&r);
    REQUIRE(err);
    CHECK_FALSE(err->text.empty());
    return err->code;
  }

  const std::vector<entry>& applied(uint64_t id) { return applied_[id]; }

  std::vector<message> sent;
  std::map<uint64_t, std::vector<read_state>> reads;
  std::map<uint64_t, std::vector<uint64_t>> failed_reads;
  std::vector<std::string> log;

private:
  void enqueue(const message& m) {
    sent.push_back(m);
    queue_.push_back(m);
  }

  void record(const entry& e) {
    auto [it, fresh] = committed_.emplace(e.index.value(), e);
    REQUIRE(it->second == e); // State Machine Safety
  }

  /// The configuration in force is the latest one in the log (§4.1).
  static void check_config(const core& c) {
    for (auto k = c.last_index().value(); k > c.compacted_index().value();
         --k) {
      auto e = c.entry_at(i(k));
      if (e->type != entry_type::config)
        continue;
      REQUIRE(c.config_index() == i(k));
      auto decoded = decode_configuration(e->data);
      REQUIRE(decoded);
      REQUIRE(*decoded == c.config());
      return;
    }
    REQUIRE(c.config_index() <= c.compacted_index());
  }

  tweak_fn tweak_;
  std::vector<node_id> voters_;
  uint64_t restarts_ = 0;
  std::map<uint64_t, std::unique_ptr<core>> cores_;
  std::map<uint64_t, disk> disks_;
  std::map<uint64_t, std::vector<entry>> applied_;
  std::map<uint64_t, entry> committed_;
  std::map<uint64_t, std::set<uint64_t>> leaders_;
  std::vector<message> queue_;
  std::set<node_id> cut_;
};

template <class T>
size_t count_of(const std::vector<message>& msgs, uint64_t from, uint64_t to) {
  return static_cast<size_t>(
    std::count_if(msgs.begin(), msgs.end(), [&](const message& m) {
      return std::holds_alternative<T>(m.body)
             && (from == 0 || m.from == n(from)) && (to == 0 || m.to == n(to));
    }));
}

void propose_n(net& nw, uint64_t leader, int count) {
  for (int k = 0; k < count; ++k)
    REQUIRE(nw.node(leader).propose("cmd" + std::to_string(k)).ok());
  nw.deliver();
}

/// A 3-node cluster led by 1 that committed its no-op, and node 4 joining
/// as a learner that has caught up.
void three_and_a_learner(net& nw) {
  nw.elect(1);
  nw.tick(1);
  nw.join(4);
  nw.change(1, add_learner(4));
  nw.tick_all(2);
  REQUIRE(nw.node(4).config().is_learner(n(4)));
  REQUIRE(nw.node(4).commit_index() == nw.node(1).commit_index());
}

} // namespace

// -- learners ----------------------------------------------------------------

TEST_CASE("membership: an added learner receives the log and never votes",
          "[raft][membership]") {
  net nw(3);
  nw.elect(1);
  propose_n(nw, 1, 5);
  nw.join(4);
  CHECK(nw.node(4).config().empty());
  auto at = nw.change(1, add_learner(4));
  CHECK(at == i(7));
  CHECK(nw.node(1).config().is_learner(n(4)));
  CHECK(nw.node(1).config_committed());
  nw.tick_all(2);
  // The learner holds the whole log and the configuration that added it.
  CHECK(nw.node(4).last_index() == nw.node(1).last_index());
  CHECK(nw.node(4).commit_index() == nw.node(1).commit_index());
  CHECK(nw.applied(4) == nw.applied(1));
  CHECK(nw.node(4).config() == nw.node(1).config());
  CHECK(nw.node(4).config_index() == at);
  CHECK(nw.node(4).leader() == n(1));
  // It is tracked but not among the voters the leader reports.
  REQUIRE(nw.node(1).progress_of(n(4)));
  CHECK(nw.node(1).progress_of(n(4))->match() == nw.node(1).last_index());
  CHECK(nw.node(1).match_indexes().size() == 3);
  // It never campaigns, even when the leader is gone for long.
  nw.isolate(1);
  nw.sent.clear();
  nw.tick(4, 10 * election_ticks);
  CHECK(nw.node(4).role() == role::follower);
  CHECK(count_of<vote_request>(nw.sent, 4, 0) == 0);
  // A timeout_now does not make it campaign either.
  nw.heal();
  nw.node(4).step(message{n(1), n(4), timeout_now{nw.node(1).term()}});
  nw.flush(4);
  CHECK(nw.node(4).role() == role::follower);
  CHECK(nw.node(4).term() == nw.node(1).term());
}

TEST_CASE("membership: a learner's ack never counts toward commitment",
          "[raft][membership]") {
  net nw(3);
  three_and_a_learner(nw);
  auto commit = nw.node(1).commit_index();
  // The voters 2 and 3 are cut off: only the learner acknowledges.
  nw.isolate(2);
  nw.isolate(3);
  propose_n(nw, 1, 3);
  CHECK(nw.node(1).progress_of(n(4))->match() == nw.node(1).last_index());
  CHECK(nw.node(1).commit_index() == commit);
  CHECK(nw.node(4).commit_index() == commit);
  // With the learner gone and one voter back, entries commit.
  nw.heal();
  nw.isolate(4);
  nw.isolate(3);
  propose_n(nw, 1, 1);
  CHECK(nw.node(1).commit_index() == nw.node(1).last_index());
  nw.heal();
  nw.tick_all(2);
  CHECK(nw.applied(4) == nw.applied(1));
  CHECK(nw.applied(3) == nw.applied(1));
}

TEST_CASE("membership: a learner's votes are not counted",
          "[raft][membership]") {
  net nw(3);
  three_and_a_learner(nw);
  // 1 is gone; 2 campaigns and hears only from the learner: no majority.
  nw.stop(1);
  nw.isolate(3);
  nw.tick(2, 4 * election_ticks);
  CHECK(nw.node(2).role() != role::leader);
  // Its vote requests go to voters only.
  CHECK(count_of<vote_request>(nw.sent, 2, 4) == 0);
  // A forged grant from the learner is ignored as well.
  if (nw.node(2).role() == role::candidate) {
    nw.node(2).step(
      message{n(4), n(2), vote_response{nw.node(2).term(), true, false}});
    nw.flush(2);
    CHECK(nw.node(2).role() == role::candidate);
  }
  nw.heal();
  nw.tick_all(4 * election_ticks);
  auto leader = nw.leader();
  CHECK((leader == 2 || leader == 3));
}

TEST_CASE("membership: a learner's read goes through the leader",
          "[raft][membership]") {
  net nw(3);
  three_and_a_learner(nw);
  nw.node(4).read_index(77);
  nw.deliver();
  REQUIRE(nw.reads[4].size() == 1);
  CHECK(nw.reads[4][0].read_id == 77);
  CHECK(nw.reads[4][0].index == nw.node(1).commit_index());
  CHECK(nw.failed_reads[4].empty());
  // The learner's heartbeat acknowledgement does not confirm a read: with
  // both voters away the leader cannot answer.
  nw.isolate(2);
  nw.isolate(3);
  nw.node(4).read_index(78);
  nw.deliver();
  nw.tick(1);
  CHECK(nw.reads[4].size() == 1);
  CHECK(nw.node(1).pending_reads() == 1);
  nw.heal();
  nw.tick(1);
  REQUIRE(nw.reads[4].size() == 2);
  CHECK(nw.reads[4][1].read_id == 78);
}

TEST_CASE("membership: a learner added after compaction gets a snapshot",
          "[raft][membership]") {
  net nw(3);
  nw.elect(1);
  propose_n(nw, 1, 30);
  auto& leader = nw.node(1);
  REQUIRE(leader.commit_index() == i(31));
  nw.take_snapshot(1, 25, 2);
  CHECK(leader.compacted_index() == i(23));
  CHECK(leader.latest_snapshot().config
        == configuration::of_voters({n(1), n(2), n(3)}));
  nw.join(4);
  nw.sent.clear();
  auto at = nw.change(1, add_learner(4));
  nw.tick_all(3);
  CHECK(count_of<install_snapshot>(nw.sent, 1, 4) == 1);
  CHECK(nw.node(4).snapshot_index() == i(25));
  CHECK(nw.node(4).last_index() == leader.last_index());
  CHECK(nw.node(4).config_index() == at);
  CHECK(nw.node(4).config().is_learner(n(4)));
  CHECK(nw.applied(4) == nw.applied(1));
  CHECK(leader.progress_of(n(4))->state() == progress_state::replicate);
}

// -- promotion ---------------------------------------------------------------

TEST_CASE("membership: promotion waits until the learner caught up",
          "[raft][membership]") {
  net nw(3);
  nw.elect(1);
  nw.tick(1);
  nw.join(4);
  nw.isolate(4);
  nw.change(1, add_learner(4));
  propose_n(nw, 1, 4);
  // §4.2.1: a voter far behind would stall commitment.
  CHECK(nw.refused(1, promote(4)) == error_code::new_config_no_quorum);
  CHECK(nw.node(1).config().is_learner(n(4)));
  nw.heal();
  nw.tick_all(2);
  REQUIRE(nw.node(1).progress_of(n(4))->match() == nw.node(1).last_index());
  auto at = nw.change(1, promote(4));
  nw.tick_all(2);
  for (uint64_t k = 1; k <= 4; ++k) {
    CHECK(nw.node(k).config().is_voter(n(4)));
    CHECK(nw.node(k).config_index() == at);
    CHECK(nw.node(k).commit_index() >= at);
  }
  CHECK(nw.node(1).voters().size() == 4);
  // Four voters: a majority is three; 1 and 4 alone cannot commit.
  nw.isolate(2);
  nw.isolate(3);
  auto commit = nw.node(1).commit_index();
  propose_n(nw, 1, 1);
  CHECK(nw.node(1).commit_index() == commit);
  nw.heal();
  nw.isolate(3);
  propose_n(nw, 1, 1); // 1, 2 and 4 are a majority
  CHECK(nw.node(1).commit_index() == nw.node(1).last_index());
  nw.heal();
  // The promoted node can now lead.
  REQUIRE(nw.node(1).transfer_leadership(n(4)) == error_code::ok);
  nw.deliver();
  CHECK(nw.leader() == 4);
  nw.tick_all(2);
  CHECK(nw.node(1).leader() == n(4));
  CHECK(nw.applied(1) == nw.applied(4));
}

TEST_CASE("membership: one change at a time", "[raft][membership]") {
  net nw(3);
  nw.elect(1);
  nw.tick(1);
  nw.join(4);
  nw.join(5);
  nw.isolate(2);
  nw.isolate(3);
  auto r = nw.node(1).change_membership(add_learner(4));
  REQUIRE(std::holds_alternative<log_index>(r));
  CHECK_FALSE(nw.node(1).config_committed());
  // In force at once (§4.1) although not committed.
  CHECK(nw.node(1).config().is_learner(n(4)));
  CHECK(nw.refused(1, add_learner(5)) == error_code::reconfig_in_progress);
  CHECK(nw.refused(1, remove(2)) == error_code::reconfig_in_progress);
  nw.deliver();
  nw.heal();
  nw.tick_all(2);
  CHECK(nw.node(1).config_committed());
  nw.change(1, add_learner(5));
  // Invalid changes are refused as such.
  CHECK(nw.refused(1, add_learner(5)) == error_code::bad_arguments);
  CHECK(nw.refused(1, promote(2)) == error_code::bad_arguments);
  CHECK(nw.refused(1, remove(9)) == error_code::bad_arguments);
  // Followers refuse.
  CHECK(nw.refused(2, remove(3)) == error_code::connection_loss);
  // And while a leadership transfer runs.
  nw.isolate(3);
  REQUIRE(nw.node(1).transfer_leadership(n(3)) == error_code::ok);
  CHECK(nw.refused(1, remove(5)) == error_code::throttled_op);
}

TEST_CASE("membership: a new leader changes nothing before its no-op commits",
          "[raft][membership]") {
  // The 2015 errata of single-server changes: a leader must commit an entry
  // of its own term before it appends a configuration entry.
  net nw(3);
  nw.elect(1);
  nw.tick(1);
  nw.join(4);
  nw.isolate(1);
  // 3's acknowledgements are lost: 2's no-op does not commit.
  nw.drop = [](const message& m) {
    return m.from == n(3) && std::holds_alternative<append_response>(m.body);
  };
  nw.elect(2);
  REQUIRE(nw.node(2).commit_index() < nw.node(2).last_index());
  CHECK(nw.refused(2, add_learner(4)) == error_code::reconfig_in_progress);
  nw.drop = {};
  nw.tick(2);
  REQUIRE(nw.node(2).commit_index() == nw.node(2).last_index());
  REQUIRE(nw.node(2).role() == role::leader);
  nw.change(2, add_learner(4));
  CHECK(nw.node(2).config().is_learner(n(4)));
}

// -- configurations in the log -----------------------------------------------

TEST_CASE("membership: a truncated configuration entry reverts the config",
          "[raft][membership]") {
  net nw(5, [](core_config& c) { c.check_quorum = false; });
  nw.elect(1);
  nw.tick(1);
  // 1 appends the change and gets it to 2 only, whose acks are lost.
  nw.isolate(3);
  nw.isolate(4);
  nw.isolate(5);
  nw.drop = [](const message& m) {
    return m.from == n(2) && std::holds_alternative<append_response>(m.body);
  };
  auto r = nw.node(1).change_membership(add_learner(6));
  REQUIRE(std::holds_alternative<log_index>(r));
  auto at = std::get<log_index>(r);
  nw.deliver();
  nw.drop = {};
  for (uint64_t k : {1, 2}) {
    CHECK(nw.node(k).last_index() == at);
    CHECK(nw.node(k).commit_index() < at);
    // In force although not committed (§4.1).
    CHECK(nw.node(k).config().is_learner(n(6)));
    CHECK(nw.node(k).config_index() == at);
  }
  // 3 leads a later term without the change; it commits with 4 and 5.
  nw.heal();
  nw.isolate(1);
  nw.isolate(2);
  nw.elect(3);
  propose_n(nw, 3, 2);
  CHECK(nw.node(3).commit_index() == nw.node(3).last_index());
  CHECK_FALSE(nw.node(3).config().contains(n(6)));
  // 1 and 2 come back: their entry is overwritten and the configuration
  // before it is in force again.
  nw.heal();
  nw.tick_all(3);
  CHECK(nw.node(1).role() == role::follower);
  auto boot = configuration::of_voters({n(1), n(2), n(3), n(4), n(5)});
  for (uint64_t k : {1, 2}) {
    CHECK(nw.node(k).config() == boot);
    CHECK(nw.node(k).config_index() == i(0));
    CHECK(nw.node(k).known_members().size() == 5);
    CHECK(nw.node(k).entry_at(at)->type != entry_type::config);
    CHECK(nw.applied(k) == nw.applied(3));
  }
}

TEST_CASE("membership: a follower uses an appended configuration at once",
          "[raft][membership]") {
  // Node 3 gets the entry that removes 2 but never learns that it is
  // committed: it acts on it anyway (§4.1) ...
  net nw(3);
  nw.elect(1);
  nw.tick(1);
  nw.drop = [](const message& m) {
    // Acks from 3 are lost: the entry cannot commit via 3, and 2 is cut.
    return m.from == n(3) && std::holds_alternative<append_response>(m.body);
  };
  nw.isolate(2);
  auto r = nw.node(1).change_membership(remove(2));
  REQUIRE(std::holds_alternative<log_index>(r));
  nw.deliver();
  CHECK(nw.node(3).last_index() == std::get<log_index>(r));
  CHECK(nw.node(3).commit_index() < std::get<log_index>(r));
  CHECK_FALSE(nw.node(3).config().contains(n(2)));
  // ... and ignores vote requests from 2, which is not a voter for it,
  // even once it has not heard from the leader for an election timeout.
  nw.drop = {};
  nw.heal();
  nw.isolate(1);
  auto term3 = nw.node(3).term();
  for (int k = 0; k < election_ticks; ++k)
    nw.node(3).tick();
  nw.deliver();
  REQUIRE(nw.node(3).term() == term3); // at most pre-campaigning
  nw.node(3).step(message{
    n(2), n(3), vote_request{t(term3.value() + 5), i(1), t(1), false, false}});
  nw.flush(3);
  CHECK(nw.node(3).term() == term3);
  CHECK(nw.node(3).vote() != n(2));
}

// -- removal -----------------------------------------------------------------

TEST_CASE("membership: removing a follower", "[raft][membership]") {
  for (bool pre_vote : {true, false}) {
    INFO("pre_vote " << pre_vote);
    net nw(5, [&](core_config& c) { c.pre_vote = pre_vote; });
    nw.elect(1);
    nw.tick(1);
    auto term = nw.node(1).term();
    auto at = nw.change(1, remove(5));
    nw.tick_all(2);
    CHECK(nw.node(1).progress_of(n(5)) == nullptr);
    CHECK(nw.node(1).voters() == std::vector<node_id>{n(1), n(2), n(3), n(4)});
    for (uint64_t k = 1; k <= 4; ++k) {
      CHECK(nw.node(k).config_index() == at);
      CHECK(nw.node(k).commit_index() >= at);
    }
    // The leader no longer sends 5 anything (so 5 never learns, §4.2.3).
    nw.sent.clear();
    nw.tick_all(3);
    CHECK(count_of<append_request>(nw.sent, 1, 5) == 0);
    CHECK(nw.node(5).config().is_voter(n(5)));
    // 5 times out and campaigns again and again; nobody listens.
    nw.sent.clear();
    nw.tick_all(6 * election_ticks);
    CHECK(count_of<vote_request>(nw.sent, 5, 0) > 0);
    CHECK(count_of<vote_response>(nw.sent, 0, 5) == 0);
    CHECK(nw.node(1).role() == role::leader);
    for (uint64_t k = 1; k <= 4; ++k)
      CHECK(nw.node(k).term() == term);
    // Four voters: 1, 2 and 3 make a majority without 4; two do not.
    nw.isolate(4);
    propose_n(nw, 1, 1);
    CHECK(nw.node(1).commit_index() == nw.node(1).last_index());
    nw.isolate(3);
    auto commit = nw.node(1).commit_index();
    propose_n(nw, 1, 1);
    CHECK(nw.node(1).commit_index() == commit);
  }
}

TEST_CASE("membership: removing a learner", "[raft][membership]") {
  net nw(3);
  three_and_a_learner(nw);
  nw.change(1, remove(4));
  CHECK(nw.node(1).progress_of(n(4)) == nullptr);
  CHECK(nw.node(1).config().members.size() == 3);
  CHECK(nw.node(2).config().members.size() == 3);
  CHECK(nw.node(1).config_committed());
  nw.sent.clear();
  propose_n(nw, 1, 1);
  nw.tick_all(2);
  CHECK(count_of<append_request>(nw.sent, 1, 4) == 0);
  CHECK(nw.applied(4).size() < nw.applied(1).size());
  // It can be added again later (a new machine with the same id).
  nw.stop(4);
  nw.join(4);
  nw.change(1, add_learner(4));
  nw.tick_all(2);
  CHECK(nw.applied(4) == nw.applied(1));
  CHECK(nw.node(4).config().is_learner(n(4)));
}

TEST_CASE("membership: a leader removes itself, hands over and steps down",
          "[raft][membership]") {
  net nw(3);
  nw.elect(1);
  nw.tick(1);
  propose_n(nw, 1, 2);
  nw.isolate(2);
  nw.isolate(3);
  auto r = nw.node(1).change_membership(remove(1));
  REQUIRE(std::holds_alternative<log_index>(r));
  auto at = std::get<log_index>(r);
  nw.deliver();
  // §4.2.2: it keeps leading (and replicating) while the change is pending.
  CHECK(nw.node(1).role() == role::leader);
  CHECK_FALSE(nw.node(1).config().contains(n(1)));
  CHECK(nw.node(1).voters() == std::vector<node_id>{n(2), n(3)});
  CHECK(nw.node(1).propose("while leaving").ok());
  nw.deliver();
  // Its own disk does not count: nothing commits without both 2 and 3.
  CHECK(nw.node(1).commit_index() < at);
  nw.heal();
  nw.isolate(3);
  nw.tick(1);
  CHECK(nw.node(1).commit_index() < at);
  CHECK(nw.node(1).role() == role::leader);
  nw.heal();
  nw.sent.clear();
  nw.tick(1);
  // Committed with 2 and 3: it hands over to a caught-up voter and steps
  // down; that voter wins the next term.
  CHECK(nw.node(1).role() == role::follower);
  CHECK(count_of<timeout_now>(nw.sent, 1, 0) == 1);
  nw.tick_all(2);
  auto leader = nw.leader();
  REQUIRE((leader == 2 || leader == 3));
  CHECK(nw.node(leader).term() == t(nw.node(1).term().value() + 1));
  CHECK(nw.node(leader).commit_index() >= at);
  CHECK(nw.node(leader).progress_of(n(1)) == nullptr);
  // The entry proposed while leaving survived.
  bool found = false;
  for (const auto& e : nw.applied(leader))
    found = found || e.data == "while leaving";
  CHECK(found);
  // The old leader never campaigns again, and the new one keeps leading.
  auto term = nw.node(leader).term();
  nw.tick_all(6 * election_ticks);
  CHECK(nw.node(1).role() == role::follower);
  CHECK(nw.node(leader).role() == role::leader);
  CHECK(nw.node(leader).term() == term);
  propose_n(nw, leader, 1);
  CHECK(nw.node(leader).commit_index() == nw.node(leader).last_index());
}

TEST_CASE("membership: a removed leader catches a voter up before handing "
          "over",
          "[raft][membership]") {
  net nw(3, [](core_config& c) { c.max_append_entries = 1; });
  nw.elect(1);
  nw.tick(1);
  nw.isolate(2);
  nw.isolate(3);
  auto r = nw.node(1).change_membership(remove(1));
  REQUIRE(std::holds_alternative<log_index>(r));
  auto at = std::get<log_index>(r);
  // More entries after the change: when it commits, nobody has them yet.
  for (int k = 0; k < 3; ++k)
    REQUIRE(nw.node(1).propose("late" + std::to_string(k)).ok());
  nw.deliver();
  auto last = nw.node(1).last_index();
  nw.heal();
  // 2 and 3 get entries up to the change only: it commits, and nobody has
  // the entries after it.
  nw.drop = [&](const message& m) {
    auto a = std::get_if<append_request>(&m.body);
    return a && !a->entries.empty() && a->entries.back().index > at;
  };
  nw.log.clear();
  nw.tick(1);
  nw.tick(1);
  REQUIRE(nw.node(1).commit_index() >= at);
  CHECK(nw.node(1).role() == role::leader);
  CHECK(nw.node(1).transferring()); // catching the best voter up
  CHECK(nw.node(1).propose("refused").error() == error_code::throttled_op);
  nw.drop = {};
  nw.sent.clear();
  nw.tick_all(3);
  CHECK(nw.node(1).role() == role::follower);
  bool caught_up_first
    = std::any_of(nw.log.begin(), nw.log.end(), [](const std::string& line) {
        return line.find("catching") != std::string::npos;
      });
  CHECK(caught_up_first);
  // The timeout_now went out only after its target had the last entry.
  auto tn = std::find_if(nw.sent.begin(), nw.sent.end(), [](const message& m) {
    return std::holds_alternative<timeout_now>(m.body);
  });
  REQUIRE(tn != nw.sent.end());
  auto target = tn->to;
  auto acked = std::find_if(nw.sent.begin(), tn, [&](const message& m) {
    auto a = std::get_if<append_response>(&m.body);
    return m.from == target && a && a->success && a->match_index == last;
  });
  CHECK(acked != tn);
  auto leader = nw.leader();
  CHECK(leader == target.value());
  REQUIRE(leader != 0);
  CHECK(nw.node(leader).commit_index() >= at);
  CHECK(nw.applied(leader).size() >= last.value());
}

TEST_CASE("membership: a removed leader's read is confirmed by the others",
          "[raft][membership]") {
  net nw(2);
  nw.elect(1);
  nw.tick(1);
  nw.isolate(2);
  auto r = nw.node(1).change_membership(remove(1));
  REQUIRE(std::holds_alternative<log_index>(r));
  nw.deliver();
  nw.heal();
  // One voter left (2), and the leader does not count itself: a read needs
  // 2's acknowledgement of a heartbeat round, which goes out at once.
  nw.node(1).read_index(5);
  nw.deliver();
  REQUIRE(nw.reads[1].size() == 1);
  CHECK(nw.reads[1][0].read_id == 5);
}

// -- joining, restarts, snapshots --------------------------------------------

TEST_CASE("membership: a joining node catches up and becomes a voter",
          "[raft][membership]") {
  net nw(3);
  nw.elect(1);
  propose_n(nw, 1, 10);
  nw.join(4);
  // A joining node waits: no campaign, no vote, whoever asks.
  nw.tick(4, 5 * election_ticks);
  CHECK(nw.node(4).term() == t(0));
  CHECK(nw.node(4).role() == role::follower);
  nw.change(1, add_learner(4));
  nw.tick_all(2);
  nw.change(1, promote(4));
  nw.tick_all(2);
  CHECK(nw.node(4).config().is_voter(n(4)));
  CHECK(nw.node(4).voters().size() == 4);
  CHECK(nw.applied(4) == nw.applied(1));
  // After a restart it still knows it is a voter (from its log).
  nw.stop(4);
  nw.restart(4, {});
  CHECK(nw.node(4).config().is_voter(n(4)));
  nw.tick_all(2);
  // Its vote now counts: 1 and 4 with 2 and 3 down cannot; 1, 3, 4 can.
  nw.stop(2);
  nw.isolate(3);
  auto commit = nw.node(1).commit_index();
  propose_n(nw, 1, 1);
  CHECK(nw.node(1).commit_index() == commit);
  nw.heal();
  nw.tick(1, 3);
  CHECK(nw.node(1).commit_index() == nw.node(1).last_index());
}

TEST_CASE("membership: a restart restores the configuration from the "
          "snapshot and the log",
          "[raft][membership]") {
  auto c1 = configuration::of_voters({n(1), n(2), n(3)});
  auto c2 = apply_change(c1, add_learner(4)).config.value();
  auto c3 = apply_change(c2, promote(4)).config.value();
  auto c4 = apply_change(c3, remove(2)).config.value();
  core_config cfg;
  cfg.self = n(1);
  cfg.voters = {n(1), n(2), n(3)};
  auto config_entry = [](uint64_t index, const configuration& c) {
    return entry{t(2), i(index), entry_type::config, encode(c)};
  };
  auto normal = [](uint64_t index) {
    return entry{t(2), i(index), entry_type::normal, "x"};
  };
  SECTION("snapshot configuration, then entries") {
    persistent_state ps;
    ps.state = hard_state{t(2), n(1), i(7)};
    ps.snapshot = snapshot_meta{i(5), t(2), c2};
    // Entries up to the snapshot are skipped, even a config entry.
    ps.entries = {config_entry(5, c1), normal(6),           config_entry(7, c3),
                  normal(8),           config_entry(9, c4), normal(10)};
    core c(cfg, ps);
    c.check_invariants();
    // The latest configuration, although beyond the commit index.
    CHECK(c.config() == c4);
    CHECK(c.config_index() == i(9));
    CHECK_FALSE(c.config_committed());
    CHECK(c.voters() == std::vector<node_id>{n(1), n(3), n(4)});
    auto known = c.known_members();
    REQUIRE(known.size() == 4); // 2 is still in the committed c3
    CHECK(known[1].id == n(2));
  }
  SECTION("snapshot configuration only") {
    persistent_state ps;
    ps.state = hard_state{t(2), n(1), i(5)};
    ps.snapshot = snapshot_meta{i(5), t(2), c3};
    ps.entries = {normal(6)};
    core c(cfg, ps);
    c.check_invariants();
    CHECK(c.config() == c3);
    CHECK(c.config_index() == i(5));
    CHECK(c.config_committed());
    CHECK(c.latest_snapshot().config == c3);
  }
  SECTION("no snapshot: bootstrap, then the log's entries") {
    persistent_state ps;
    ps.state = hard_state{t(2), n(1), i(1)};
    ps.entries = {normal(1), config_entry(2, c2)};
    core c(cfg, ps);
    c.check_invariants();
    CHECK(c.config() == c2);
    CHECK(c.config_index() == i(2));
  }
  SECTION("a node restarted after its removal does not campaign") {
    persistent_state ps;
    ps.state = hard_state{t(2), n(2), i(10)};
    ps.entries = {normal(1), config_entry(2, c2), config_entry(3, c3),
                  config_entry(4, c4)};
    ps.state.commit = i(4);
    core_config cfg2 = cfg;
    cfg2.self = n(2);
    core c(cfg2, ps);
    c.check_invariants();
    CHECK_FALSE(c.config().contains(n(2)));
    for (int k = 0; k < 10 * election_ticks; ++k) {
      c.tick();
      auto out = c.take_output();
      CHECK(out.messages.empty());
      CHECK(out.messages_after_persist.empty());
    }
    CHECK(c.role() == role::follower);
    CHECK(c.term() == t(2));
  }
}

TEST_CASE("membership: snapshot_taken folds the configurations",
          "[raft][membership]") {
  net nw(3);
  nw.elect(1);
  nw.tick(1);
  nw.join(4);
  nw.join(5);
  auto a = nw.change(1, add_learner(4)); // 2
  propose_n(nw, 1, 3);                   // 3..5
  auto b = nw.change(1, add_learner(5)); // 6
  propose_n(nw, 1, 3);                   // 7..9
  auto& leader = nw.node(1);
  REQUIRE(leader.commit_index() == i(9));
  auto c_a = decode_configuration(leader.entry_at(a)->data).value();
  auto c_b = leader.config();
  REQUIRE(b == i(6));
  REQUIRE(leader.known_members().size() == 5);
  // A snapshot between the two changes carries the first one.
  nw.take_snapshot(1, 4, 0);
  CHECK(leader.latest_snapshot().config == c_a);
  CHECK(leader.config() == c_b);
  CHECK(leader.config_index() == b);
  // A snapshot given a wrong configuration gets the log's.
  nw.take_snapshot(1, 7, 0, configuration::of_voters({n(9)}));
  CHECK(leader.latest_snapshot().config == c_b);
  CHECK(leader.config() == c_b);
  CHECK(leader.config_index() == b); // from the snapshot now
  CHECK(leader.compacted_index() == i(7));
  CHECK(leader.known_members().size() == 5);
  // Restarting from that state keeps the configuration.
  nw.stop(1);
  nw.restart(1, {n(1), n(2), n(3)});
  CHECK(nw.node(1).config() == c_b);
  CHECK(nw.node(1).snapshot_index() == i(7));
}

TEST_CASE("membership: install_snapshot brings the configuration along",
          "[raft][membership]") {
  net nw(3);
  nw.elect(1);
  nw.tick(1);
  nw.isolate(3);
  nw.join(4);
  nw.change(1, add_learner(4));
  nw.tick_all(2);
  nw.change(1, promote(4));
  propose_n(nw, 1, 5);
  auto& leader = nw.node(1);
  auto last = leader.last_index();
  nw.take_snapshot(1, last.value(), 0);
  REQUIRE(leader.compacted_index() == last);
  // 3 missed every change: the snapshot tells it.
  CHECK(nw.node(3).config() == configuration::of_voters({n(1), n(2), n(3)}));
  nw.heal();
  nw.sent.clear();
  nw.tick_all(3);
  CHECK(count_of<install_snapshot>(nw.sent, 1, 3) == 1);
  CHECK(nw.node(3).snapshot_index() == last);
  CHECK(nw.node(3).config() == leader.config());
  CHECK(nw.node(3).config().is_voter(n(4)));
  CHECK(nw.node(3).config_index() == last);
  CHECK(nw.disk_of(3).snapshot.config == leader.config());
  // A snapshot without a configuration is malformed and rejected.
  auto term = nw.node(3).term();
  nw.node(3).step(message{
    n(1), n(3), install_snapshot{term, snapshot_meta{i(100), term, {}}}});
  auto out = nw.node(3).take_output();
  CHECK_FALSE(out.snapshot);
  REQUIRE(out.messages_after_persist.size() == 1);
  CHECK_FALSE(
    std::get<install_snapshot_response>(out.messages_after_persist[0].body)
      .success);
  CHECK(nw.node(3).snapshot_index() == last);
}

TEST_CASE("membership: a config entry without members is malformed",
          "[raft][membership]") {
  net nw(3);
  nw.elect(1);
  nw.tick(1);
  auto& f = nw.node(2);
  auto term = f.term();
  auto last = f.last_index();
  append_request req{term,
                     last,
                     f.last_term(),
                     {entry{term, i(last.value() + 1), entry_type::config,
                            encode(configuration{})}},
                     f.commit_index(),
                     0};
  f.step(message{n(1), n(2), req});
  nw.flush(2);
  CHECK(f.last_index() == last);
  CHECK(f.config() == configuration::of_voters({n(1), n(2), n(3)}));
  // Garbage is refused too.
  req.entries[0].data = std::string("\xff\xff", 2);
  f.step(message{n(1), n(2), req});
  nw.flush(2);
  CHECK(f.last_index() == last);
}

TEST_CASE("membership: a newly promoted voter can win with lagging voters",
          "[raft][membership]") {
  // Four voters and learner 5. The promotion of 5 commits on 1, 2 and 5;
  // then 1 and 2 fail. 3 and 4 lack the promotion but 5 has the newest log:
  // 3, 4 and 5 are a majority of the five voters and must be able to elect 5
  // (§4.1: servers vote without consulting their configurations).
  net nw(4);
  nw.elect(1);
  nw.tick(1);
  nw.join(5);
  nw.change(1, add_learner(5));
  nw.tick_all(2);
  nw.isolate(3);
  nw.isolate(4);
  auto at = nw.change(1, promote(5));
  nw.tick_all(2);
  REQUIRE(nw.node(1).commit_index() >= at);
  REQUIRE(nw.node(3).config().is_learner(n(5)));
  nw.stop(1);
  nw.stop(2);
  nw.heal();
  for (int k = 0; k < 20 * election_ticks && nw.leader() == 0; ++k)
    nw.tick_all();
  CHECK(nw.leader() == 5);
}

TEST_CASE("membership: a leader that lost leadership before its removal "
          "committed can still finish it",
          "[raft][membership]") {
  // 1 and 2 are the voters; 1 leads and appends its own removal, which only
  // it holds, then steps down (CheckQuorum). 2 needs 1's vote under the
  // old configuration but 1's log is ahead: unless 1 may campaign among the
  // voters of its latest configuration ({2}), nobody can ever lead.
  net nw(3);
  nw.elect(1);
  nw.tick(1);
  nw.change(1, remove(3));
  nw.isolate(2);
  auto r = nw.node(1).change_membership(remove(1));
  REQUIRE(std::holds_alternative<log_index>(r));
  auto at = std::get<log_index>(r);
  nw.deliver();
  nw.tick(1, 2 * election_ticks);
  REQUIRE(nw.node(1).role() == role::follower);
  REQUIRE(nw.node(1).commit_index() < at);
  REQUIRE(nw.node(2).last_index() < at);
  nw.heal();
  for (int k = 0; k < 20 * election_ticks; ++k) {
    nw.tick(1);
    nw.tick(2);
    if (nw.node(2).role() == role::leader)
      break;
  }
  REQUIRE(nw.node(2).role() == role::leader);
  CHECK(nw.node(2).config() == configuration::of_voters({n(2)}));
  CHECK(nw.node(2).commit_index() >= at);
  CHECK(nw.node(1).role() == role::follower);
  // 1 is out for good now: it never campaigns again.
  nw.sent.clear();
  nw.tick(1, 5 * election_ticks);
  CHECK(count_of<vote_request>(nw.sent, 1, 0) == 0);
}
