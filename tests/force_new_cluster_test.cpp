// Tests of majority-loss recovery (runtime/storage/force_new_cluster.hpp):
// the rewritten data dir loads, holds the one-voter configuration after the
// old log, and a core restarted from it elects itself and commits every
// entry it kept.
#include <catch2/catch.hpp>

#include "tests/support/temp_dir.hpp"

#include "runtime/raft/codec.hpp"
#include "runtime/raft/core.hpp"
#include "runtime/storage/force_new_cluster.hpp"
#include "runtime/storage/log_store.hpp"

using namespace conclave;
using namespace conclave::storage;
using conclave::test::temp_dir;

namespace {

raft::configuration three_voters() {
  raft::configuration c;
  for (uint64_t id = 1; id <= 3; ++id)
    c.members.push_back(raft::member{node_id{id}, raft::member_role::voter,
                                     "10.0.0." + std::to_string(id) + ":4281",
                                     "10.0.0." + std::to_string(id) + ":2181"});
  return c;
}

/// A survivor's data dir: a config entry, `n` commands in term 2, commit at
/// `commit`, voted in term 3.
void write_survivor(const std::string& dir, uint64_t n, uint64_t commit) {
  auto s = open_storage(dir);
  REQUIRE(s);
  std::vector<raft::entry> es;
  es.push_back(raft::entry{term_t{1}, log_index{1}, raft::entry_type::config,
                           raft::encode(three_voters())});
  for (uint64_t i = 2; i <= n + 1; ++i)
    es.push_back(raft::entry{term_t{2}, log_index{i}, raft::entry_type::normal,
                             "cmd-" + std::to_string(i)});
  REQUIRE(s->log.append(es));
  REQUIRE(s->log.sync());
  REQUIRE(s->hard_state.save(
    raft::hard_state{term_t{3}, node_id{2}, log_index{commit}}));
}

} // namespace

TEST_CASE("force_new_cluster: the survivor restarts as the only voter and "
          "commits every entry it kept",
          "[storage]") {
  temp_dir d;
  write_survivor(d.path, 10, 4);
  auto forced = force_new_cluster(d.path, node_id{2}, "");
  REQUIRE(forced);
  CHECK(forced->old_config == three_voters());
  REQUIRE(forced->new_config.members.size() == 1);
  CHECK(forced->new_config.members[0].id == node_id{2});
  CHECK(forced->new_config.members[0].address == "10.0.0.2:4281");
  CHECK(forced->new_config.members[0].client_address == "10.0.0.2:2181");
  CHECK(forced->index == log_index{12});
  CHECK(forced->term == term_t{4});
  auto s = open_storage(d.path);
  REQUIRE(s);
  CHECK(s->state.state.term == term_t{4});
  CHECK(s->state.state.vote == node_id{});
  CHECK(s->state.state.commit == log_index{4});
  REQUIRE(s->state.entries.size() == 12);
  CHECK(s->state.entries.back().type == raft::entry_type::config);
  // A core with no bootstrap configuration (the log is the truth) elects
  // itself and commits the whole kept log, the uncommitted part included.
  raft::core_config cfg;
  cfg.self = node_id{2};
  raft::core c{cfg, s->state};
  CHECK(c.config() == forced->new_config);
  for (int i = 0; i < 40 && c.role() != raft::role::leader; ++i) {
    c.tick();
    auto out = c.take_output();
    if (!out.entries.empty())
      c.persisted(out.entries.back().index, out.entries.back().term);
  }
  REQUIRE(c.role() == raft::role::leader);
  CHECK(c.term() == term_t{5});
  auto out = c.take_output();
  if (!out.entries.empty())
    c.persisted(out.entries.back().index, out.entries.back().term);
  CHECK(c.commit_index() == log_index{13}); // the kept log + the no-op
  c.check_invariants();
}

TEST_CASE("force_new_cluster: refuses what it cannot recover", "[storage]") {
  temp_dir d;
  SECTION("no such directory") {
    auto r = force_new_cluster(d.path + "/missing", node_id{1}, "h:1");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == storage_errc::invalid_argument);
  }
  SECTION("an empty data dir") {
    auto r = force_new_cluster(d.path, node_id{1}, "h:1");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("nothing to recover") != std::string::npos);
  }
  SECTION("a node the configuration has no address for") {
    write_survivor(d.path, 3, 2);
    auto r = force_new_cluster(d.path, node_id{7}, "");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("no address") != std::string::npos);
    // Nothing was written: the log still ends at the old entries.
    auto s = open_storage(d.path);
    REQUIRE(s);
    CHECK(s->state.entries.size() == 4);
    CHECK(s->state.state.term == term_t{3});
  }
}
