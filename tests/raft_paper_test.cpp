// Raft core, rule by rule: each TEST_CASE quotes the sentence of the Raft
// dissertation (Ongaro 2014) it checks, in the manner of etcd-io/raft's
// raft_paper_test.go. A test drives one core directly: it steps hand-written
// messages into it and inspects the output (messages, persistence, commits).

#include <algorithm>
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

term_t t(uint64_t x) {
  return term_t{x};
}

log_index i(uint64_t x) {
  return log_index{x};
}

std::vector<node_id> ids(size_t count) {
  std::vector<node_id> result;
  for (uint64_t k = 1; k <= count; ++k)
    result.push_back(n(k));
  return result;
}

core_config config(uint64_t self, size_t size, bool pre_vote = false) {
  core_config cfg;
  cfg.self = n(self);
  cfg.voters = ids(size);
  cfg.election_timeout_ticks = election_ticks;
  cfg.heartbeat_interval_ticks = 1;
  cfg.pre_vote = pre_vote;
  cfg.seed = 42 + self;
  return cfg;
}

/// Entries 1..k with the given terms.
std::vector<entry> log_of(std::vector<uint64_t> terms) {
  std::vector<entry> result;
  for (size_t k = 0; k < terms.size(); ++k)
    result.push_back(entry{t(terms[k]), i(k + 1), entry_type::normal,
                           "e" + std::to_string(k + 1)});
  return result;
}

persistent_state disk(uint64_t term, std::vector<uint64_t> terms = {},
                      uint64_t vote = 0, uint64_t commit = 0) {
  persistent_state result;
  result.state = hard_state{t(term), n(vote), i(commit)};
  result.entries = log_of(std::move(terms));
  return result;
}

core make(uint64_t self, size_t size, persistent_state d = {},
          bool pre_vote = false) {
  return core{config(self, size, pre_vote), std::move(d)};
}

message msg(uint64_t from, uint64_t to, message_body body) {
  return message{n(from), n(to), std::move(body)};
}

template <class T>
std::vector<std::pair<node_id, T>> all_of(const std::vector<message>& msgs) {
  std::vector<std::pair<node_id, T>> result;
  for (const auto& m : msgs)
    if (auto x = std::get_if<T>(&m.body))
      result.emplace_back(m.to, *x);
  return result;
}

/// Ticks until the core leaves follower state (at most 2T ticks).
void time_out(core& c) {
  for (int k = 0; k < 2 * election_ticks && c.role() == role::follower; ++k)
    c.tick();
}

/// Makes `c` the leader of its cluster: an election won by all votes.
void make_leader(core& c) {
  time_out(c);
  for (auto v : c.voters())
    if (c.role() == role::pre_candidate && v != c.id())
      c.step(message{v, c.id(),
                     vote_response{term_t{c.term().value() + 1}, true, true}});
  for (auto v : c.voters())
    if (c.role() == role::candidate && v != c.id())
      c.step(message{v, c.id(), vote_response{c.term(), true, false}});
  REQUIRE(c.role() == role::leader);
}

/// The leader's disk and every follower acknowledge its whole log.
void replicate_all(core& c) {
  c.persisted(c.last_index(), c.last_term());
  for (auto v : c.voters())
    if (v != c.id())
      c.step(message{v, c.id(),
                     append_response{c.term(), true, c.last_index(), {}, {}}});
}

/// A leader whose noop entry is committed; its output drained.
core committed_leader(uint64_t self, size_t size) {
  auto c = make(self, size);
  make_leader(c);
  replicate_all(c);
  c.take_output();
  return c;
}

append_request append(uint64_t term, uint64_t prev, uint64_t prev_term,
                      std::vector<entry> entries, uint64_t commit = 0) {
  return append_request{t(term), i(prev), t(prev_term), std::move(entries),
                        i(commit)};
}

entry e(uint64_t term, uint64_t index, std::string data = "") {
  return entry{t(term), i(index), entry_type::normal, std::move(data)};
}

std::vector<uint64_t> terms_of(const core& c) {
  std::vector<uint64_t> result;
  for (auto k = c.compacted_index().value() + 1; k <= c.last_index().value();
       ++k)
    result.push_back(c.entry_at(i(k))->term.value());
  return result;
}

} // namespace

// -- §3.3 basics -------------------------------------------------------------

TEST_CASE("paper: servers start up as followers", "[raft]") {
  // "When servers start up, they begin as followers." (§3.4)
  auto c = make(1, 3);
  CHECK(c.role() == role::follower);
  CHECK(c.leader() == node_id{});
  c.check_invariants();
}

TEST_CASE("paper: a smaller term is updated and candidates or leaders revert "
          "to followers",
          "[raft]") {
  // "Current terms are exchanged whenever servers communicate; if one
  // server's current term is smaller than the other's, then it updates its
  // current term to the larger value. If a candidate or leader discovers
  // that its term is out of date, it immediately reverts to follower state."
  // (§3.3)
  auto check = [](core c) {
    auto term = c.term().value() + 5;
    c.step(msg(2, 1, append(term, 0, 0, {})));
    CHECK(c.term() == t(term));
    CHECK(c.role() == role::follower);
    CHECK(c.leader() == n(2));
    c.check_invariants();
  };
  SECTION("follower") {
    check(make(1, 3));
  }
  SECTION("candidate") {
    auto c = make(1, 3);
    time_out(c);
    REQUIRE(c.role() == role::candidate);
    check(std::move(c));
  }
  SECTION("leader") {
    auto c = make(1, 3);
    make_leader(c);
    check(std::move(c));
  }
}

TEST_CASE("paper: a request with a stale term is rejected", "[raft]") {
  // "If a server receives a request with a stale term number, it rejects the
  // request." (§3.3)
  auto c = make(1, 3, disk(3, {1, 2}));
  c.take_output();
  c.step(msg(2, 1, append(2, 2, 2, {e(2, 3)}, 3)));
  auto out = c.take_output();
  CHECK(c.last_index() == i(2));
  CHECK(c.commit_index() == i(0));
  CHECK(c.leader() == node_id{});
  auto rs = all_of<append_response>(out.messages_after_persist);
  REQUIRE(rs.size() == 1);
  CHECK_FALSE(rs[0].second.success);
  CHECK(rs[0].second.term == t(3)); // so that the stale leader steps down
}

// -- §3.4 leader election ----------------------------------------------------

TEST_CASE("paper: leaders send periodic heartbeats", "[raft]") {
  // "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log
  // entries) to all followers in order to maintain their authority." (§3.4)
  auto c = committed_leader(1, 3);
  c.tick();
  auto hb = all_of<append_request>(c.take_output().messages);
  REQUIRE(hb.size() == 2);
  std::set<node_id> to;
  for (const auto& [peer, req] : hb) {
    to.insert(peer);
    CHECK(req.entries.empty());
    CHECK(req.term == c.term());
    CHECK(req.leader_commit == c.commit_index());
  }
  CHECK(to == std::set<node_id>{n(2), n(3)});
}

TEST_CASE("paper: a follower that hears nothing starts an election", "[raft]") {
  // "If a follower receives no communication over a period of time called
  // the election timeout, then it assumes there is no viable leader and
  // begins an election to choose a new leader. To begin an election, a
  // follower increments its current term and transitions to candidate state.
  // It then votes for itself and issues RequestVote RPCs in parallel to each
  // of the other servers in the cluster." (§3.4)
  // "If many followers become candidates at the same time, votes could be
  // split [...] each candidate will time out and start a new election by
  // incrementing its term and initiating another round of RequestVote RPCs."
  auto c = make(1, 3, disk(1, {1}));
  c.step(msg(2, 1, append(1, 1, 1, {})));
  c.take_output();
  int ticks = 0;
  while (c.role() == role::follower) {
    c.tick();
    ++ticks;
  }
  CHECK(ticks >= election_ticks);
  CHECK(ticks < 2 * election_ticks);
  CHECK(c.role() == role::candidate);
  CHECK(c.term() == t(2));
  CHECK(c.vote() == n(1));
  auto out = c.take_output();
  // The vote requests wait until term and vote are durable.
  REQUIRE(out.state);
  CHECK(out.state->term == t(2));
  CHECK(out.state->vote == n(1));
  CHECK(all_of<vote_request>(out.messages).empty());
  auto reqs = all_of<vote_request>(out.messages_after_persist);
  REQUIRE(reqs.size() == 2);
  for (const auto& [to, req] : reqs) {
    CHECK(req.term == t(2));
    CHECK(req.last_log_index == i(1));
    CHECK(req.last_log_term == t(1));
    CHECK_FALSE(req.pre_vote);
  }
  // A candidate that does not win times out and tries again.
  for (int k = 0; k < 2 * election_ticks && c.term() == t(2); ++k)
    c.tick();
  CHECK(c.role() == role::candidate);
  CHECK(c.term() == t(3));
  CHECK(all_of<vote_request>(c.take_output().messages_after_persist).size()
        == 2);
}

TEST_CASE("paper: a candidate wins with votes from a majority", "[raft]") {
  // "A candidate wins an election if it receives votes from a majority of
  // the servers in the full cluster for the same term." "[If] it receives
  // [denials from a majority] it returns to follower state"; otherwise it
  // stays candidate. (§3.4)
  struct row {
    size_t size;
    std::vector<std::pair<uint64_t, bool>> votes;
    role expected;
  };
  std::vector<row> rows = {
    {1, {}, role::leader},
    {3, {{2, true}, {3, true}}, role::leader},
    {3, {{2, true}}, role::leader},
    {5, {{2, true}, {3, true}, {4, true}, {5, true}}, role::leader},
    {5, {{2, true}, {3, true}}, role::leader},
    {3, {{2, false}, {3, false}}, role::follower},
    {5, {{2, false}, {3, false}, {4, false}, {5, false}}, role::follower},
    {5, {{2, true}, {3, false}, {4, false}, {5, false}}, role::follower},
    {3, {}, role::candidate},
    {5, {{2, true}}, role::candidate},
    {5, {{2, false}, {3, false}}, role::candidate},
    {5, {{2, true}, {2, true}}, role::candidate}, // duplicates count once
  };
  for (size_t k = 0; k < rows.size(); ++k) {
    INFO("row " << k);
    auto c = make(1, rows[k].size);
    time_out(c);
    for (auto [from, granted] : rows[k].votes)
      c.step(msg(from, 1, vote_response{t(1), granted, false}));
    CHECK(c.role() == rows[k].expected);
    CHECK(c.term() == t(1));
    c.check_invariants();
  }
}

TEST_CASE("paper: each server votes for at most one candidate per term",
          "[raft]") {
  // "Each server will vote for at most one candidate in a given term, on a
  // first-come-first-served basis." (§3.4) The vote is durable before the
  // answer leaves (§3.8).
  struct row {
    uint64_t voted;
    uint64_t candidate;
    bool granted;
  };
  for (auto r : std::vector<row>{{0, 2, true},
                                 {0, 3, true},
                                 {2, 2, true},
                                 {3, 3, true},
                                 {2, 3, false},
                                 {3, 2, false}}) {
    INFO("voted " << r.voted << ", candidate " << r.candidate);
    auto c = make(1, 3, disk(1, {}, r.voted));
    c.take_output();
    c.step(msg(r.candidate, 1, vote_request{t(1), i(0), t(0)}));
    auto out = c.take_output();
    CHECK(all_of<vote_response>(out.messages).empty());
    auto rs = all_of<vote_response>(out.messages_after_persist);
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].first == n(r.candidate));
    CHECK(rs[0].second.granted == r.granted);
    if (r.granted && r.voted == 0) {
      REQUIRE(out.state);
      CHECK(out.state->vote == n(r.candidate));
    }
    c.check_invariants();
  }
}

TEST_CASE("paper: a candidate recognizes a leader of at least its term",
          "[raft]") {
  // "While waiting for votes, a candidate may receive an AppendEntries RPC
  // from another server claiming to be leader. If the leader's term is at
  // least as large as the candidate's current term, then the candidate
  // recognizes the leader as legitimate and returns to follower state."
  // (§3.4)
  for (uint64_t term : {1, 2}) {
    auto c = make(1, 3);
    time_out(c);
    REQUIRE(c.role() == role::candidate);
    c.step(msg(2, 1, append(term, 0, 0, {})));
    CHECK(c.role() == role::follower);
    CHECK(c.term() == t(term));
    CHECK(c.leader() == n(2));
    c.check_invariants();
  }
}

TEST_CASE("paper: election timeouts are randomized between T and 2T",
          "[raft]") {
  // "Raft uses randomized election timeouts [...] election timeouts are
  // chosen randomly from a fixed interval." (§3.4)
  auto c = make(1, 3);
  std::set<int> seen;
  for (int round = 0; round < 50 * election_ticks; ++round) {
    c.step(msg(2, 1, append(c.term().value() + 1, 0, 0, {})));
    c.take_output();
    int ticks = 0;
    while (c.role() == role::follower) {
      c.tick();
      ++ticks;
    }
    seen.insert(ticks);
  }
  CHECK(*seen.begin() == election_ticks);
  CHECK(*seen.rbegin() == 2 * election_ticks - 1);
  CHECK(seen.size() == static_cast<size_t>(election_ticks));
}

TEST_CASE("paper: in most cases only a single server times out", "[raft]") {
  // "This spreads out the servers so that in most cases only a single server
  // will time out; it wins the election and sends heartbeats before any
  // other servers time out." (§3.4)
  std::vector<core> cs;
  for (uint64_t k = 1; k <= 5; ++k)
    cs.push_back(make(k, 5));
  int conflicts = 0;
  for (int round = 0; round < 1000; ++round) {
    for (auto& c : cs) {
      c.step(msg(c.id() == n(1) ? 2 : 1, c.id().value(),
                 append(c.term().value() + 1, 0, 0, {})));
      c.take_output();
    }
    int timed_out = 0;
    while (timed_out == 0)
      for (auto& c : cs) {
        c.tick();
        if (c.role() != role::follower)
          ++timed_out;
      }
    conflicts += timed_out > 1 ? 1 : 0;
  }
  CHECK(conflicts <= 300);
}

// -- §3.5 log replication ----------------------------------------------------

TEST_CASE("paper: the leader appends a command and replicates it in parallel",
          "[raft]") {
  // "The leader appends the command to its log as a new entry, then issues
  // AppendEntries RPCs in parallel to each of the other servers to replicate
  // the entry." "When sending an AppendEntries RPC, the leader includes the
  // index and term of the entry in its log that immediately precedes the new
  // entries." (§3.5) The leader writes to its disk in parallel (§10.2.1).
  auto c = committed_leader(1, 3);
  auto li = c.last_index();
  auto index = c.propose("some data");
  REQUIRE(index.ok());
  CHECK(*index == i(li.value() + 1));
  CHECK(c.commit_index() == li);
  auto out = c.take_output();
  REQUIRE(out.entries.size() == 1);
  CHECK(out.entries[0] == e(1, li.value() + 1, "some data"));
  auto reqs = all_of<append_request>(out.messages); // not after persist
  REQUIRE(reqs.size() == 2);
  for (const auto& [to, req] : reqs) {
    CHECK(req.prev_log_index == li);
    CHECK(req.prev_log_term == t(1));
    REQUIRE(req.entries.size() == 1);
    CHECK(req.entries[0].data == "some data");
    CHECK(req.leader_commit == li);
  }
}

TEST_CASE("paper: an entry commits once replicated on a majority", "[raft]") {
  // "A log entry is committed once the leader that created the entry has
  // replicated it on a majority of the servers." (§3.5) The leader counts
  // itself only for entries persisted() reported durable.
  struct row {
    size_t size;
    std::vector<uint64_t> acceptors;
    bool committed;
  };
  for (const auto& r : std::vector<row>{{1, {}, true},
                                        {3, {}, false},
                                        {3, {2}, true},
                                        {3, {2, 3}, true},
                                        {5, {}, false},
                                        {5, {2}, false},
                                        {5, {2, 3}, true},
                                        {5, {2, 3, 4, 5}, true}}) {
    INFO("size " << r.size << ", acceptors " << r.acceptors.size());
    auto c = committed_leader(1, r.size);
    auto index = *c.propose("x");
    c.persisted(index, c.term());
    for (auto a : r.acceptors)
      c.step(msg(a, 1, append_response{c.term(), true, index, {}, {}}));
    CHECK((c.commit_index() == index) == r.committed);
    auto out = c.take_output();
    CHECK(out.committed.size() == (r.committed ? 1u : 0u));
  }
}

TEST_CASE("paper: the leader counts itself only after persisted()", "[raft]") {
  // §10.2.1: "the leader writes to its disk in parallel"; its own log counts
  // towards the majority only once durable.
  SECTION("single node: commits only after persisted()") {
    auto c = make(1, 1);
    make_leader(c);
    CHECK(c.commit_index() == i(0));
    auto index = *c.propose("x");
    CHECK(c.commit_index() == i(0));
    c.persisted(i(1), t(1));
    CHECK(c.commit_index() == i(1));
    c.persisted(index, t(1));
    CHECK(c.commit_index() == index);
  }
  SECTION("three nodes: one follower is not enough without the leader's "
          "disk") {
    auto c = make(1, 3);
    make_leader(c);
    c.step(msg(2, 1, append_response{c.term(), true, i(1), {}, {}}));
    CHECK(c.commit_index() == i(0));
    c.persisted(i(1), t(1));
    CHECK(c.commit_index() == i(1));
  }
  SECTION("persisted() of overwritten entries is ignored") {
    auto c = make(1, 3, disk(1, {1, 1}));
    c.step(msg(2, 1, append(2, 1, 1, {e(2, 2)})));
    c.persisted(i(2), t(1)); // the old entry 2 was durable
    CHECK(c.persisted_index() == i(1));
    c.persisted(i(2), t(2));
    CHECK(c.persisted_index() == i(2));
  }
}

TEST_CASE("paper: the leader sends its commit index in later appends",
          "[raft]") {
  // "The leader keeps track of the highest index it knows to be committed,
  // and it includes that index in future AppendEntries RPCs (including
  // heartbeats) so that the other servers eventually find out." (§3.5)
  auto c = committed_leader(1, 3);
  auto index = *c.propose("x");
  replicate_all(c);
  REQUIRE(c.commit_index() == index);
  c.take_output();
  c.tick();
  for (const auto& [to, req] : all_of<append_request>(c.take_output().messages))
    CHECK(req.leader_commit == index);
  c.propose("y");
  for (const auto& [to, req] : all_of<append_request>(c.take_output().messages))
    CHECK(req.leader_commit == index);
}

TEST_CASE("paper: committing an entry commits all preceding entries",
          "[raft]") {
  // "When the leader commits a log entry, it also commits all preceding
  // entries in the leader's log, including entries created by previous
  // leaders." (§3.5)
  auto c = make(1, 3, disk(2, {1, 2}));
  make_leader(c);
  REQUIRE(c.term() == t(3));
  replicate_all(c);
  CHECK(c.commit_index() == i(3));
  auto out = c.take_output();
  REQUIRE(out.committed.size() == 3);
  CHECK(out.committed[0].term == t(1));
  CHECK(out.committed[1].term == t(2));
  CHECK(out.committed[2].type == entry_type::noop);
}

TEST_CASE("paper: a follower applies entries it learns are committed",
          "[raft]") {
  // "Once a follower learns that a log entry is committed, it applies the
  // entry to its local state machine (in log order)." (§3.5) The commit
  // index is min(leaderCommit, index of last new entry) (Figure 3.1).
  auto c = make(1, 3);
  c.step(
    msg(2, 1, append(1, 0, 0, {e(1, 1, "a"), e(1, 2, "b"), e(1, 3, "c")}, 2)));
  auto out = c.take_output();
  CHECK(c.commit_index() == i(2));
  REQUIRE(out.committed.size() == 2);
  CHECK(out.committed[0].data == "a");
  CHECK(out.committed[1].data == "b");
  // A heartbeat at 2 cannot commit 3, even if the leader committed it.
  c.step(msg(2, 1, append(1, 2, 1, {}, 3)));
  CHECK(c.commit_index() == i(2));
  c.step(msg(2, 1, append(1, 3, 1, {}, 3)));
  CHECK(c.commit_index() == i(3));
  CHECK(c.take_output().committed.at(0).data == "c");
}

TEST_CASE("paper: a follower refuses entries that do not follow its log",
          "[raft]") {
  // "When sending an AppendEntries RPC, the leader includes the index and
  // term of the entry in its log that immediately precedes the new entries.
  // If the follower does not find an entry in its log with the same index
  // and term, then it refuses the new entries." (§3.5)
  struct row {
    uint64_t prev, prev_term;
    bool success;
    uint64_t conflict_term, conflict_index;
  };
  // Follower log: terms 1 1 2 (indexes 1-3).
  for (auto r : std::vector<row>{{0, 0, true, 0, 0},
                                 {1, 1, true, 0, 0},
                                 {3, 2, true, 0, 0},
                                 {3, 3, false, 2, 3},
                                 {2, 2, false, 1, 1},
                                 {5, 2, false, 0, 4}}) {
    INFO("prev " << r.prev << " term " << r.prev_term);
    auto c = make(1, 3, disk(3, {1, 1, 2}));
    c.take_output();
    c.step(msg(2, 1, append(3, r.prev, r.prev_term, {})));
    auto rs = all_of<append_response>(c.take_output().messages_after_persist);
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].second.success == r.success);
    if (!r.success) {
      CHECK(rs[0].second.match_index == i(r.prev)); // the rejected prev
      CHECK(rs[0].second.conflict_term == t(r.conflict_term));
      CHECK(rs[0].second.conflict_index == i(r.conflict_index));
    }
    CHECK(c.last_index() == i(3));
  }
}

TEST_CASE("paper: conflicting entries are deleted, new ones appended",
          "[raft]") {
  // "If an existing entry conflicts with a new one (same index but different
  // terms), delete the existing entry and all that follow it; append any new
  // entries not already in the log." (§3.5, Figure 3.1)
  struct row {
    uint64_t prev, prev_term;
    std::vector<entry> entries;
    std::vector<uint64_t> terms;
    std::vector<entry> written; // output.entries
  };
  std::vector<row> rows = {
    {2, 2, {e(3, 3)}, {1, 2, 3}, {e(3, 3)}},
    {1, 1, {e(3, 2), e(4, 3)}, {1, 3, 4}, {e(3, 2), e(4, 3)}},
    {0, 0, {e(1, 1)}, {1, 2}, {}},
    {0, 0, {e(3, 1)}, {3}, {e(3, 1)}},
    {1, 1, {e(2, 2)}, {1, 2}, {}}, // a stale, shorter append truncates nothing
  };
  for (size_t k = 0; k < rows.size(); ++k) {
    INFO("row " << k);
    auto c = make(1, 3, disk(2, {1, 2}));
    c.take_output();
    c.step(
      msg(2, 1, append(4, rows[k].prev, rows[k].prev_term, rows[k].entries)));
    CHECK(terms_of(c) == rows[k].terms);
    auto out = c.take_output();
    CHECK(out.entries == rows[k].written);
    c.check_invariants();
  }
}

TEST_CASE("paper: one output holds the final log suffix", "[raft]") {
  // Figure 3.1 across several appends handled before one take_output(): the
  // shell writes `entries` once, and they are what the log now holds.
  SECTION("a later conflict overwrites part of the staged entries") {
    auto c = make(1, 3, disk(1, {1}));
    c.take_output();
    c.step(
      msg(2, 1, append(2, 1, 1, {e(2, 2, "a"), e(2, 3, "b"), e(2, 4, "c")})));
    c.step(msg(3, 1, append(3, 2, 2, {e(3, 3, "x")})));
    auto out = c.take_output();
    CHECK(out.entries == std::vector<entry>{e(2, 2, "a"), e(3, 3, "x")});
    CHECK(terms_of(c) == std::vector<uint64_t>{1, 2, 3});
  }
  SECTION("a conflict before all staged entries replaces them") {
    auto c = make(1, 3, disk(1, {1, 1}));
    c.take_output();
    c.step(msg(2, 1, append(2, 2, 1, {e(2, 3, "a"), e(2, 4, "b")})));
    c.step(msg(3, 1, append(3, 1, 1, {e(3, 2, "x")})));
    auto out = c.take_output();
    CHECK(out.entries == std::vector<entry>{e(3, 2, "x")});
  }
  SECTION("a snapshot drops the staged and committed entries it covers") {
    auto c = make(1, 3, disk(1, {1}));
    c.take_output();
    c.step(msg(2, 1, append(2, 1, 1, {e(2, 2), e(2, 3), e(2, 4)}, 1)));
    c.step(msg(
      2, 1,
      install_snapshot{
        t(2), snapshot_meta{i(3), t(2), configuration::of_voters(ids(3))}}));
    auto out = c.take_output();
    REQUIRE(out.snapshot);
    CHECK(out.entries == std::vector<entry>{e(2, 4)});
    CHECK(out.committed.empty()); // entry 1 is in the snapshot
    c.step(msg(
      2, 1,
      install_snapshot{
        t(2), snapshot_meta{i(6), t(2), configuration::of_voters(ids(3))}}));
    out = c.take_output();
    REQUIRE(out.snapshot);
    CHECK(out.snapshot->index == i(6));
    CHECK(out.entries.empty());
    CHECK(c.last_index() == i(6));
  }
}

TEST_CASE("paper: a follower acknowledges only durable entries", "[raft]") {
  // Figure 3.1: followers respond after storing the entries; the answer to an
  // append waits in messages_after_persist, behind this output's writes.
  auto c = make(1, 3);
  c.step(msg(2, 1, append(1, 0, 0, {e(1, 1)})));
  auto out = c.take_output();
  CHECK(out.entries.size() == 1);
  CHECK(all_of<append_response>(out.messages).empty());
  auto rs = all_of<append_response>(out.messages_after_persist);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].second.success);
  CHECK(rs[0].second.match_index == i(1));
}

TEST_CASE("paper: the stored commit index covers only durable entries",
          "[raft]") {
  // The hard state may reach the disk before the entries of the same output
  // (Figure 3.1 persists currentTerm and votedFor; commitIndex is an
  // optimization): it must never make a restart apply entries that were
  // about to be overwritten.
  auto c = make(1, 3, disk(1, {1, 1, 1}, 0, 1));
  c.take_output();
  // A leader of term 2 overwrites 2-3 and says 3 is committed.
  c.step(msg(2, 1, append(2, 1, 1, {e(2, 2), e(2, 3)}, 3)));
  CHECK(c.commit_index() == i(3));
  auto out = c.take_output();
  REQUIRE(out.state);
  CHECK(out.state->term == t(2));
  CHECK(out.state->commit == i(1)); // the old 2-3 are still on disk
  c.persisted(i(3), t(2));
  out = c.take_output();
  REQUIRE(out.state);
  CHECK(out.state->commit == i(3));
}

TEST_CASE("paper: the leader forces followers' logs to duplicate its own",
          "[raft]") {
  // "The leader handles inconsistencies by forcing the followers' logs to
  // duplicate its own. [...] the leader must find the latest log entry where
  // the two logs agree, delete any entries in the follower's log after that
  // point, and send the follower all of the leader's entries after that
  // point." (§3.5, Figure 3.7 follower logs a-f)
  std::vector<uint64_t> leader_log = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  std::vector<std::vector<uint64_t>> followers = {
    {1, 1, 1, 4, 4, 5, 5, 6, 6},
    {1, 1, 1, 4},
    {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},
    {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},
    {1, 1, 1, 4, 4, 4, 4},
    {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3},
  };
  for (size_t k = 0; k < followers.size(); ++k) {
    INFO("follower " << static_cast<char>('a' + k));
    // Node 1 leads term 8 with votes of 2 and 3; node 2 holds the log.
    auto leader = make(1, 3, disk(7, leader_log));
    make_leader(leader);
    REQUIRE(leader.term() == t(8));
    leader.persisted(leader.last_index(), leader.last_term());
    auto follower = make(2, 3, disk(7, followers[k]));
    follower.take_output();
    auto pending = leader.take_output().messages;
    for (int round = 0; round < 50 && !pending.empty(); ++round) {
      std::vector<message> next;
      for (const auto& m : pending) {
        if (m.to != n(2))
          continue;
        follower.step(m);
        auto out = follower.take_output();
        if (!out.entries.empty())
          follower.persisted(out.entries.back().index, out.entries.back().term);
        for (const auto& r : out.messages_after_persist) {
          leader.step(r);
          auto lo = leader.take_output();
          next.insert(next.end(), lo.messages.begin(), lo.messages.end());
        }
      }
      pending = std::move(next);
    }
    auto expected = leader_log;
    expected.push_back(8);
    CHECK(terms_of(follower) == expected);
    CHECK(leader.progress_of(n(2))->match() == leader.last_index());
  }
}

// -- §3.6 safety -------------------------------------------------------------

TEST_CASE("paper: a voter denies its vote to a less up-to-date log", "[raft]") {
  // "The RequestVote RPC implements this restriction: the RPC includes
  // information about the candidate's log, and the voter denies its vote if
  // its own log is more up-to-date than that of the candidate." "If the logs
  // have last entries with different terms, then the log with the later term
  // is more up-to-date. If the logs end with the same term, then whichever
  // log is longer is more up-to-date." (§3.6.1)
  struct row {
    uint64_t index, term;
    bool granted;
  };
  // Voter log: terms 1 2 (last index 2, last term 2).
  for (auto r : std::vector<row>{{1, 1, false},
                                 {2, 1, false},
                                 {3, 1, false},
                                 {1, 2, false},
                                 {2, 2, true},
                                 {3, 2, true},
                                 {1, 3, true},
                                 {3, 3, true}}) {
    for (bool pre_vote : {false, true}) {
      INFO("candidate last " << r.index << "/" << r.term << " pre-vote "
                             << pre_vote);
      auto c = make(1, 3, disk(2, {1, 2}));
      c.take_output();
      c.step(msg(2, 1, vote_request{t(3), i(r.index), t(r.term), pre_vote}));
      auto out = c.take_output();
      auto rs = all_of<vote_response>(pre_vote ? out.messages
                                               : out.messages_after_persist);
      REQUIRE(rs.size() == 1);
      CHECK(rs[0].second.granted == r.granted);
      CHECK(rs[0].second.pre_vote == pre_vote);
    }
  }
}

TEST_CASE("paper: only entries of the current term commit by counting",
          "[raft]") {
  // "Raft never commits log entries from previous terms by counting
  // replicas. Only log entries from the leader's current term are committed
  // by counting replicas; once an entry from the current term has been
  // committed in this way, then all prior entries are committed indirectly
  // because of the Log Matching Property." (§3.6.2)
  auto c = make(1, 5, disk(2, {1, 2}));
  make_leader(c);
  REQUIRE(c.term() == t(3));
  c.persisted(i(3), t(3));
  // A majority stores entry 2 (term 2): not committed.
  c.step(msg(2, 1, append_response{t(3), true, i(2), {}, {}}));
  c.step(msg(3, 1, append_response{t(3), true, i(2), {}, {}}));
  CHECK(c.commit_index() == i(0));
  // Once the noop of term 3 is on a majority, everything up to it commits.
  c.step(msg(2, 1, append_response{t(3), true, i(3), {}, {}}));
  c.step(msg(3, 1, append_response{t(3), true, i(3), {}, {}}));
  CHECK(c.commit_index() == i(3));
}

TEST_CASE("paper: a new leader appends a no-op entry", "[raft]") {
  // "Raft handles this by having each leader commit a blank no-op entry into
  // the log at the start of its term." (§6.4, §3.6.2)
  auto c = make(1, 3, disk(1, {1}));
  make_leader(c);
  REQUIRE(c.last_index() == i(2));
  CHECK(c.entry_at(i(2))->type == entry_type::noop);
  CHECK(c.entry_at(i(2))->term == c.term());
  auto out = c.take_output();
  REQUIRE(out.entries.size() == 1);
  for (const auto& [to, req] : all_of<append_request>(out.messages)) {
    CHECK(req.prev_log_index == i(1));
    REQUIRE(req.entries.size() == 1);
    CHECK(req.entries[0].type == entry_type::noop);
  }
}

// -- §9.6 PreVote and leader stickiness --------------------------------------

TEST_CASE("paper: a pre-candidate asks without changing terms", "[raft]") {
  // "In the Pre-Vote algorithm, a candidate only increments its term if it
  // first learns from a majority of the cluster that they would be willing
  // to grant the candidate their votes (if the candidate's log is
  // sufficiently up-to-date, and the voters have not received heartbeats
  // from a valid leader for at least a baseline election timeout)." (§9.6)
  auto c = make(1, 3, disk(1, {1}), true);
  time_out(c);
  CHECK(c.role() == role::pre_candidate);
  CHECK(c.term() == t(1));
  auto out = c.take_output();
  CHECK_FALSE(out.state); // nothing changed durably
  auto reqs = all_of<vote_request>(out.messages);
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].second.pre_vote);
  CHECK(reqs[0].second.term == t(2));

  SECTION("a majority of pre-votes starts the real election") {
    c.step(msg(2, 1, vote_response{t(2), true, true}));
    CHECK(c.role() == role::candidate);
    CHECK(c.term() == t(2));
    auto real = all_of<vote_request>(c.take_output().messages_after_persist);
    REQUIRE(real.size() == 2);
    CHECK_FALSE(real[0].second.pre_vote);
  }
  SECTION("rejections from a majority return it to follower state") {
    c.step(msg(2, 1, vote_response{t(1), false, true}));
    c.step(msg(3, 1, vote_response{t(1), false, true}));
    CHECK(c.role() == role::follower);
    CHECK(c.term() == t(1));
  }
  SECTION("a voter's pre-vote does not change its term or vote") {
    auto voter = make(2, 3, disk(1, {1}), true);
    voter.take_output();
    voter.step(reqs[0].first == n(2) ? message{n(1), n(2), reqs[0].second}
                                     : message{n(1), n(2), reqs[1].second});
    CHECK(voter.term() == t(1));
    CHECK(voter.vote() == node_id{});
    auto vo = voter.take_output();
    CHECK_FALSE(vo.state);
    auto rs = all_of<vote_response>(vo.messages);
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].second.granted);
    CHECK(rs[0].second.term == t(2));
  }
}

TEST_CASE("paper: a partitioned pre-candidate does not inflate its term",
          "[raft]") {
  // "[PreVote] prevents a server that was partitioned from the cluster from
  // disrupting it when it rejoins: its term does not grow while it cannot
  // reach a majority." (§9.6)
  auto c = make(1, 3, disk(1, {1}), true);
  for (int k = 0; k < 20 * election_ticks; ++k)
    c.tick();
  CHECK(c.term() == t(1));
  CHECK(c.role() == role::pre_candidate);
}

TEST_CASE("paper: servers that hear from a leader ignore vote requests",
          "[raft]") {
  // "If a server receives a RequestVote request within the minimum election
  // timeout of hearing from a current leader, it does not update its term or
  // grant its vote." (§4.2.3, §9.6) A leadership transfer overrides this
  // (§3.10).
  auto c = make(1, 3, disk(1, {1}), true);
  c.step(msg(2, 1, append(1, 1, 1, {})));
  c.take_output();
  c.step(msg(3, 1, vote_request{t(2), i(1), t(1)}));
  CHECK(c.term() == t(1));
  CHECK(c.vote() == node_id{});
  CHECK(all_of<vote_response>(c.take_output().messages_after_persist).empty());
  c.step(msg(3, 1, vote_request{t(2), i(1), t(1), true}));
  auto pre = all_of<vote_response>(c.take_output().messages);
  REQUIRE(pre.size() == 1);
  CHECK_FALSE(pre[0].second.granted);
  SECTION("after the minimum election timeout it votes") {
    for (int k = 0; k < election_ticks; ++k)
      c.tick();
    c.take_output();
    c.step(msg(3, 1, vote_request{t(2), i(1), t(1)}));
    CHECK(c.term() == t(2));
    CHECK(c.vote() == n(3));
  }
  SECTION("a leadership transfer overrides stickiness") {
    c.step(msg(3, 1, vote_request{t(2), i(1), t(1), false, true}));
    CHECK(c.term() == t(2));
    CHECK(c.vote() == n(3));
    auto rs = all_of<vote_response>(c.take_output().messages_after_persist);
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].second.granted);
  }
}

// -- §6.2 CheckQuorum --------------------------------------------------------

TEST_CASE("paper: a leader without a majority steps down", "[raft]") {
  // "[CheckQuorum:] the leader steps down if an election timeout elapses
  // without a successful round of heartbeats to a majority of its cluster."
  // (§6.2)
  auto c = committed_leader(1, 5);
  SECTION("silence") {
    for (int k = 0; k < election_ticks && c.role() == role::leader; ++k)
      c.tick();
    CHECK(c.role() == role::follower);
    CHECK(c.term() == t(1));
    CHECK(c.leader() == node_id{});
  }
  SECTION("one follower answering is not a majority of five") {
    for (int k = 0; k < election_ticks && c.role() == role::leader; ++k) {
      c.tick();
      c.step(msg(2, 1, append_response{t(1), true, c.last_index(), {}, {}}));
    }
    CHECK(c.role() == role::follower);
  }
  SECTION("two followers answering keep it leader") {
    for (int k = 0; k < 5 * election_ticks; ++k) {
      c.tick();
      c.step(msg(2, 1, append_response{t(1), true, c.last_index(), {}, {}}));
      c.step(msg(3, 1, append_response{t(1), true, c.last_index(), {}, {}}));
    }
    CHECK(c.role() == role::leader);
  }
}

// -- §3.10 leadership transfer -----------------------------------------------

TEST_CASE("paper: leadership transfer", "[raft]") {
  // "1. The prior leader stops accepting new client requests. 2. The prior
  // leader fully updates the target server's log to match its own [...]
  // 3. The prior leader sends a TimeoutNow request to the target server.
  // This request has the same effect as the target server's election timer
  // firing." "If the transfer does not complete within about an election
  // timeout, the prior leader aborts the transfer and resumes accepting
  // client requests." (§3.10)
  auto c = committed_leader(1, 3);
  CHECK(c.transfer_leadership(n(1)) == error_code::bad_arguments);
  CHECK(c.transfer_leadership(n(9)) == error_code::bad_arguments);
  auto index = *c.propose("x"); // node 3 does not have it
  c.step(msg(2, 1, append_response{t(1), true, index, {}, {}}));
  c.take_output();
  CHECK(c.transfer_leadership(n(3)) == error_code::ok);
  CHECK(c.transferring());
  CHECK(c.propose("y").error() == error_code::throttled_op);
  CHECK(c.transfer_leadership(n(2)) == error_code::throttled_op);
  CHECK(all_of<timeout_now>(c.take_output().messages).empty());
  SECTION("timeout_now once the target caught up") {
    c.step(msg(3, 1, append_response{t(1), true, index, {}, {}}));
    auto tn = all_of<timeout_now>(c.take_output().messages);
    REQUIRE(tn.size() == 1);
    CHECK(tn[0].first == n(3));
    // The target campaigns at once, skipping pre-vote.
    auto target = make(3, 3, disk(1, {1, 1}), true);
    target.step(msg(1, 3, append(1, 2, 1, {})));
    target.take_output();
    target.step(msg(1, 3, tn[0].second));
    CHECK(target.role() == role::candidate);
    CHECK(target.term() == t(2));
    auto reqs
      = all_of<vote_request>(target.take_output().messages_after_persist);
    REQUIRE(reqs.size() == 2);
    CHECK(reqs[0].second.leadership_transfer);
    CHECK_FALSE(reqs[0].second.pre_vote);
  }
  SECTION("abort after an election timeout") {
    for (int k = 0; k < election_ticks; ++k) {
      c.tick();
      c.step(msg(2, 1, append_response{t(1), true, index, {}, {}}));
      c.step(
        msg(3, 1, append_response{t(1), true, i(index.value() - 1), {}, {}}));
    }
    CHECK_FALSE(c.transferring());
    CHECK(c.role() == role::leader);
    CHECK(c.propose("y").ok());
  }
  SECTION("not a leader") {
    auto f = make(2, 3);
    CHECK(f.transfer_leadership(n(1)) == error_code::connection_loss);
  }
}

// -- §6.4 ReadIndex ----------------------------------------------------------

TEST_CASE("paper: ReadIndex", "[raft]") {
  // "1. If the leader has not yet marked an entry from its current term
  // committed, it waits until it has done so. 2. The leader saves its
  // current commit index in a local variable readIndex. 3. The leader needs
  // to make sure it hasn't been superseded by a newer leader of which it is
  // unaware. It issues a new round of heartbeats and waits for their
  // acknowledgments from a majority of the cluster. 4. The leader waits for
  // its state machine to advance at least as far as the readIndex." (§6.4)
  auto c = make(1, 3);
  make_leader(c);
  c.take_output();
  c.read_index(7);
  auto out = c.take_output();
  CHECK(out.reads.empty());
  // The round goes out, but the noop is not committed yet.
  auto hb = all_of<append_request>(out.messages);
  REQUIRE(hb.size() == 2);
  auto round = hb[0].second.read_context;
  CHECK(round > 0);
  c.step(msg(2, 1, append_response{t(1), true, i(0), {}, {}, round}));
  CHECK(c.take_output().reads.empty());
  // The noop commits: the read index is the commit index then.
  replicate_all(c);
  out = c.take_output();
  REQUIRE(out.reads.size() == 1);
  CHECK(out.reads[0].read_id == 7);
  CHECK(out.reads[0].index == i(1));
  // Later reads wait for a round after them.
  c.read_index(8);
  c.step(msg(2, 1, append_response{t(1), true, i(1), {}, {}, round}));
  CHECK(c.take_output().reads.empty());
  c.step(msg(3, 1, append_response{t(1), true, i(1), {}, {}, round + 1}));
  out = c.take_output();
  REQUIRE(out.reads.size() == 1);
  CHECK(out.reads[0].read_id == 8);
}

TEST_CASE("paper: ReadIndex on followers and lost leadership", "[raft]") {
  // "Followers [...] issue a request to the leader [for] the current
  // readIndex" (§6.4.1); reads that cannot be confirmed fail.
  SECTION("no leader known") {
    auto f = make(2, 3);
    f.read_index(1);
    CHECK(f.take_output().failed_reads == std::vector<uint64_t>{1});
  }
  SECTION("forwarded to the leader") {
    auto f = make(2, 3);
    f.step(msg(1, 2, append(1, 0, 0, {})));
    f.take_output();
    f.read_index(5);
    auto fwd = all_of<read_index_request>(f.take_output().messages);
    REQUIRE(fwd.size() == 1);
    CHECK(fwd[0].first == n(1));
    f.step(msg(1, 2, read_index_response{t(1), 5, i(9), true}));
    auto out = f.take_output();
    REQUIRE(out.reads.size() == 1);
    CHECK(out.reads[0].index == i(9));
  }
  SECTION("leadership lost") {
    auto c = committed_leader(1, 3);
    c.read_index(3);
    c.take_output();
    c.step(msg(2, 1, append(2, 0, 0, {})));
    CHECK(c.take_output().failed_reads == std::vector<uint64_t>{3});
  }
}

// -- §5 snapshots ------------------------------------------------------------

TEST_CASE("paper: a leader sends a snapshot for compacted entries", "[raft]") {
  // "The leader uses a new RPC called InstallSnapshot to send snapshots to
  // followers that are too far behind [...] when the leader has already
  // discarded the next log entry that it needs to send to a follower."
  // (§5.3)
  auto c = committed_leader(1, 3);
  for (int k = 0; k < 5; ++k)
    c.propose("x");
  c.persisted(c.last_index(), c.term());
  c.step(msg(2, 1, append_response{t(1), true, c.last_index(), {}, {}}));
  REQUIRE(c.commit_index() == i(6));
  c.take_output();
  c.snapshot_taken(snapshot_meta{i(5), t(1), configuration::of_voters(ids(3))},
                   1);
  CHECK(c.snapshot_index() == i(5));
  CHECK(c.compacted_index() == i(4));
  // Node 3 lost the appends after 1: it rejects the heartbeat at 6.
  c.step(msg(3, 1, append_response{t(1), false, i(6), {}, i(2)}));
  auto out = c.take_output();
  auto snaps = all_of<install_snapshot>(out.messages);
  REQUIRE(snaps.size() == 1);
  CHECK(snaps[0].first == n(3));
  CHECK(snaps[0].second.meta.index == i(5));
  CHECK(out.snapshot_for == std::vector<node_id>{n(3)});
  CHECK(c.progress_of(n(3))->state() == progress_state::snapshot);
  // No appends while the snapshot is on its way.
  c.propose("y");
  for (const auto& [to, req] : all_of<append_request>(c.take_output().messages))
    CHECK(to != n(3));
  // Once installed, replication resumes after the snapshot.
  c.step(msg(3, 1, install_snapshot_response{t(1), i(5), true}));
  CHECK(c.progress_of(n(3))->state() == progress_state::replicate);
  auto reqs = all_of<append_request>(c.take_output().messages);
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].second.prev_log_index == i(5));
  CHECK(reqs[0].second.entries.size() == 2);
}

TEST_CASE("paper: a follower installs a snapshot", "[raft]") {
  // "If existing log entry has same index and term as snapshot's last
  // included entry, retain log entries following it and reply. Discard the
  // entire log. Reset state machine using snapshot contents." (§5.3 Figure
  // 5.3)
  auto meta = snapshot_meta{i(3), t(2), configuration::of_voters(ids(3))};
  SECTION("a matching entry keeps the log after it") {
    auto c = make(1, 3, disk(2, {1, 2, 2, 2, 2}, 0, 1));
    c.take_output();
    c.step(msg(2, 1, install_snapshot{t(2), meta}));
    auto out = c.take_output();
    REQUIRE(out.snapshot);
    CHECK(out.snapshot->index == i(3));
    CHECK(c.commit_index() == i(3));
    CHECK(c.last_index() == i(5));
    CHECK(c.snapshot_index() == i(3));
    CHECK(out.committed.empty());
    auto rs = all_of<install_snapshot_response>(out.messages_after_persist);
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].second.success);
    CHECK(rs[0].second.last_index == i(3));
    c.check_invariants();
  }
  SECTION("otherwise the whole log goes") {
    auto c = make(1, 3, disk(2, {1, 1, 1, 1, 1}, 0, 1));
    c.take_output();
    c.step(msg(2, 1, install_snapshot{t(2), meta}));
    auto out = c.take_output();
    REQUIRE(out.snapshot);
    CHECK(c.last_index() == i(3));
    CHECK(c.last_term() == t(2));
    c.check_invariants();
  }
  SECTION("an older snapshot is only acknowledged") {
    auto c = make(1, 3, disk(2, {1, 2, 2, 2}, 0, 4));
    c.take_output();
    c.step(msg(2, 1, install_snapshot{t(2), meta}));
    auto out = c.take_output();
    CHECK_FALSE(out.snapshot);
    auto rs = all_of<install_snapshot_response>(out.messages_after_persist);
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].second.success);
    CHECK(rs[0].second.last_index == i(4));
  }
}

TEST_CASE("paper: restart restores durable state", "[raft]") {
  // "Persistent state on all servers: currentTerm, votedFor, log[]"
  // (Figure 3.1); committed entries after the snapshot are re-applied.
  persistent_state d;
  d.state = hard_state{t(3), n(2), i(4)};
  d.snapshot = snapshot_meta{i(2), t(1), configuration::of_voters(ids(3))};
  d.entries = log_of({1, 1, 2, 3, 3});
  auto c = make(1, 3, d);
  CHECK(c.term() == t(3));
  CHECK(c.vote() == n(2));
  CHECK(c.commit_index() == i(4));
  CHECK(c.last_index() == i(5));
  auto out = c.take_output();
  REQUIRE(out.committed.size() == 2);
  CHECK(out.committed[0].index == i(3));
  CHECK(out.committed[1].index == i(4));
  c.check_invariants();
}
