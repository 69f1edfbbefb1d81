// Tests for the four-letter words: recognition, the whitelist (ZooKeeper's
// default and syntax) and the answers' layouts.
#include "runtime/zk/four_letter.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace conclave::zk;

namespace {

server_figures sample() {
  server_figures f;
  f.version = "3.8.0-conclave-0.1.0";
  f.mode = "leader";
  f.last_zxid = 0x1a;
  f.znode_count = 7;
  f.watch_count = 5;
  f.watched_paths = 3;
  f.watching_sessions = 2;
  f.ephemeral_count = 1;
  f.approximate_data_bytes = 123;
  f.outstanding_requests = 4;
  f.packets_received = 10;
  f.packets_sent = 9;
  f.alive_connections = 2;
  f.min_latency_ms = 0;
  f.avg_latency_ms = 0.5;
  f.max_latency_ms = 3;
  f.followers = 2;
  f.synced_followers = 2;
  f.node_id = 1;
  f.raft_term = 3;
  f.leader_id = 1;
  f.commit_index = 26;
  f.applied_index = 26;
  f.session_count = 2;
  f.connections.push_back({"/127.0.0.1:40000", 0x100000001, 0, 6, 5});
  f.configuration = {{"clientPort", "2181"}, {"tickTime", "50"}};
  f.environment = {{"host.name", "box"}};
  f.snapshot_bytes = 4096;
  f.log_bytes = 8192;
  return f;
}

four_letter_whitelist all() {
  return *four_letter_whitelist::parse("*");
}

} // namespace

TEST_CASE("four_letter: only the known words are recognized", "[four_letter]") {
  for (auto w : {"ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs", "dirs",
                 "isro", "envi"})
    CHECK(four_letter_word(w) == std::string_view{w});
  CHECK_FALSE(four_letter_word("RUOK"));
  CHECK_FALSE(four_letter_word("wchp")); // ZooKeeper's DoS-prone ones
  CHECK_FALSE(four_letter_word("abcd"));
  CHECK_FALSE(four_letter_word(std::string_view{"\0\0\0\x2c", 4}));
}

TEST_CASE("four_letter: the whitelist defaults to srvr and parses lists",
          "[four_letter]") {
  four_letter_whitelist defaults;
  CHECK(defaults.allows("srvr"));
  CHECK_FALSE(defaults.allows("mntr"));
  CHECK(defaults.to_string() == "srvr");
  auto some = four_letter_whitelist::parse("stat, ruok,mntr  isro");
  REQUIRE(some);
  CHECK(some->allows("mntr"));
  CHECK(some->allows("isro"));
  CHECK_FALSE(some->allows("srvr"));
  CHECK(some->to_string() == "ruok,stat,mntr,isro");
  CHECK(all().allows("envi"));
  CHECK(all().to_string() == "*");
  std::string bad;
  CHECK_FALSE(four_letter_whitelist::parse("ruok, wchp", &bad));
  CHECK(bad == "wchp");
  auto none = four_letter_whitelist::parse("");
  REQUIRE(none);
  CHECK_FALSE(none->allows("srvr"));
}

TEST_CASE("four_letter: a word off the whitelist gets ZooKeeper's refusal",
          "[four_letter]") {
  CHECK(render_four_letter("mntr", four_letter_whitelist{}, sample())
        == "mntr is not executed because it is not in the whitelist.\n");
}

TEST_CASE("four_letter: ruok, isro, srvr and stat", "[four_letter]") {
  auto f = sample();
  CHECK(render_four_letter("ruok", all(), f) == "imok");
  CHECK(render_four_letter("isro", all(), f) == "rw");
  f.read_only = true;
  CHECK(render_four_letter("isro", all(), f) == "ro");
  auto srvr = render_four_letter("srvr", all(), f);
  CHECK(srvr
        == "Zookeeper version: 3.8.0-conclave-0.1.0\n"
           "Latency min/avg/max: 0/0.5/3\n"
           "Received: 10\nSent: 9\nConnections: 2\nOutstanding: 4\n"
           "Zxid: 0x1a\nMode: leader\nNode count: 7\n");
  auto stat = render_four_letter("stat", all(), f);
  CHECK_THAT(stat, Catch::StartsWith("Zookeeper version: 3.8.0-conclave-0.1.0\n"
                                     "Clients:\n"
                                     " /127.0.0.1:40000[1](queued=0,recved=6,"
                                     "sent=5)\n\nLatency min/avg/max:"));
  CHECK_THAT(stat, Catch::EndsWith("Node count: 7\n"));
}

TEST_CASE("four_letter: mntr uses ZooKeeper's keys plus Conclave's",
          "[four_letter]") {
  auto f = sample();
  auto m = render_four_letter("mntr", all(), f);
  for (auto line :
       {"zk_version\t3.8.0-conclave-0.1.0\n", "zk_server_state\tleader\n",
        "zk_avg_latency\t0.5\n", "zk_znode_count\t7\n", "zk_watch_count\t5\n",
        "zk_ephemerals_count\t1\n", "zk_approximate_data_size\t123\n",
        "zk_outstanding_requests\t4\n", "zk_num_alive_connections\t2\n",
        "zk_followers\t2\n", "zk_synced_followers\t2\n",
        "conclave_raft_term\t3\n", "conclave_raft_commit_index\t26\n",
        "conclave_session_count\t2\n"})
    CHECK_THAT(m, Catch::Contains(line));
  // Every line is key<TAB>value.
  size_t start = 0;
  while (start < m.size()) {
    auto end = m.find('\n', start);
    REQUIRE(end != std::string::npos);
    CHECK(m.substr(start, end - start).find('\t') != std::string::npos);
    start = end + 1;
  }
  // Followers report no follower figures.
  f.mode = "follower";
  CHECK_THAT(render_four_letter("mntr", all(), f),
             !Catch::Contains("zk_followers"));
}

TEST_CASE("four_letter: conf, envi, cons, wchs and dirs", "[four_letter]") {
  auto f = sample();
  CHECK(render_four_letter("conf", all(), f)
        == "clientPort=2181\ntickTime=50\n");
  CHECK(render_four_letter("envi", all(), f)
        == "Environment:\nhost.name=box\n");
  CHECK(render_four_letter("cons", all(), f)
        == " /127.0.0.1:40000[1](queued=0,recved=6,sent=5,sid=0x100000001)\n"
           "\n");
  CHECK(render_four_letter("wchs", all(), f)
        == "2 connections watching 3 paths\nTotal watches:5\n");
  CHECK(render_four_letter("dirs", all(), f)
        == "datadir_size: 4096\nlogdir_size: 8192\n");
}
