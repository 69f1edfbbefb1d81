#include <catch2/catch.hpp>

#include <string>

#include "runtime/node_metrics.hpp"

using namespace conclave;

namespace {

pb::NodeStatus leader_status() {
  pb::NodeStatus s;
  s.set_node_id(1);
  s.set_role("leader");
  s.set_term(7);
  s.set_leader_id(1);
  s.set_commit_index(120);
  s.set_applied_index(118);
  s.set_last_log_index(121);
  s.set_znode_count(42);
  s.set_session_count(3);
  s.set_watch_count(5);
  s.set_connection_count(2);
  s.set_leader_changes(4);
  s.set_persist_count(9);
  s.set_fsync_count(7);
  s.set_persist_ewma_ms(2.5);
  auto h = s.mutable_persist_seconds();
  for (double b : {0.001, 0.01})
    h->add_upper_bounds(b);
  for (uint64_t n : {3, 1, 0})
    h->add_counts(n);
  h->set_sum(0.012);
  auto r = s.add_restarts();
  r->set_actor("log");
  r->set_restarts(2);
  r = s.add_restarts();
  r->set_actor("session");
  auto p = s.add_peers();
  p->set_node_id(2);
  p->set_match_index(121);
  p->set_reachable(true);
  p = s.add_peers();
  p->set_node_id(3);
  p->set_match_index(100);
  p->set_reachable(false);
  return s;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos
         || text.rfind(line + "\n", 0) == 0;
}

} // namespace

TEST_CASE("node_metrics: Raft, tree and session figures", "[metrics]") {
  auto text = render_metrics(leader_status(), zk_figures{});
  INFO(text);
  CHECK(has_line(text, "conclave_raft_term 7"));
  CHECK(has_line(text, "conclave_raft_is_leader 1"));
  CHECK(has_line(text, "conclave_raft_commit_index 120"));
  CHECK(has_line(text, "conclave_raft_applied_index 118"));
  CHECK(has_line(text, "conclave_raft_apply_lag_entries 2"));
  CHECK(has_line(text, "conclave_raft_peer_match_index{peer=\"3\"} 100"));
  CHECK(has_line(text, "conclave_raft_peer_lag_entries{peer=\"2\"} 0"));
  CHECK(has_line(text, "conclave_raft_peer_lag_entries{peer=\"3\"} 21"));
  CHECK(has_line(text, "conclave_raft_peer_reachable{peer=\"3\"} 0"));
  CHECK(has_line(text, "conclave_znodes 42"));
  CHECK(has_line(text, "conclave_actor_restarts_total{actor=\"log\"} 2"));
  CHECK(has_line(text, "conclave_persist_seconds_bucket{le=\"0.001\"} 3"));
  CHECK(has_line(text, "conclave_persist_seconds_bucket{le=\"+Inf\"} 4"));
  CHECK(has_line(text, "conclave_persist_seconds_count 4"));
  CHECK(has_line(text, "conclave_actor_restarts_total{actor=\"session\"} 0"));
  CHECK(has_line(text, "conclave_sessions 3"));
  CHECK(has_line(text, "conclave_watches 5"));
  CHECK(has_line(text, "conclave_connections{protocol=\"native\"} 2"));
  CHECK(has_line(text, "# TYPE conclave_raft_term gauge"));
  CHECK(has_line(text, "conclave_raft_leadership_changes_total 4"));
  CHECK(has_line(text, "conclave_persist_total 9"));
  CHECK(has_line(text, "conclave_fsync_total 7"));
  CHECK(has_line(text, "conclave_persist_recent_seconds 0.0025"));
}

TEST_CASE("node_metrics: ZooKeeper requests with latency per operation",
          "[metrics]") {
  zk_figures zk;
  zk.packets_received = 10;
  zk.connections = 4;
  auto h = prometheus::histogram::latency_seconds();
  h.observe(0.0003);
  h.observe(0.002);
  zk.latency.emplace_back("getData", h);
  auto text = render_metrics(pb::NodeStatus{}, zk);
  INFO(text);
  CHECK(has_line(text, "conclave_zk_packets_received_total 10"));
  CHECK(has_line(text, "conclave_connections{protocol=\"zookeeper\"} 4"));
  CHECK(
    has_line(text, "# TYPE conclave_zk_request_duration_seconds histogram"));
  CHECK(has_line(
    text, "conclave_zk_request_duration_seconds_count{op=\"getData\"} 2"));
  CHECK(has_line(
    text,
    "conclave_zk_request_duration_seconds_bucket{op=\"getData\",le=\"+Inf\"} "
    "2"));
  // A follower knows no peers: no per-peer lines.
  CHECK(text.find("conclave_raft_peer_") == std::string::npos);
  CHECK(has_line(text, "conclave_raft_is_leader 0"));
}

TEST_CASE("node_metrics: status as JSON", "[metrics]") {
  auto json = render_status_json(leader_status());
  INFO(json);
  CHECK(json.find("\"nodeId\":\"1\"") != std::string::npos);
  CHECK(json.find("\"role\":\"leader\"") != std::string::npos);
  CHECK(json.find("\"matchIndex\":\"100\"") != std::string::npos);
  CHECK(json.back() == '\n');
}

TEST_CASE("node_metrics: native request latency by operation, merged from "
          "the actors that measure it",
          "[metrics]") {
  pb::Request req;
  req.mutable_create();
  CHECK(native_op_name(req) == "create");
  req.mutable_get_data();
  CHECK(native_op_name(req) == "getData");
  req.mutable_sync();
  CHECK(native_op_name(req) == "sync");
  CHECK(native_op_name(pb::Request{}) == "other");
  latency_by_op reads;
  observe_latency(reads, "getData", 0.0002);
  observe_latency(reads, "getData", 0.002);
  latency_by_op writes;
  observe_latency(writes, "create", 0.004);
  // A linearizable getData is measured by the session actor.
  observe_latency(writes, "getData", 0.001);
  pb::NodeStatus s;
  add_latency(reads, s);
  add_latency(writes, s);
  auto text = render_metrics(s, zk_figures{});
  INFO(text);
  CHECK(has_line(text,
                 "conclave_request_duration_seconds_count{op=\"getData\"} 3"));
  CHECK(
    has_line(text, "conclave_request_duration_seconds_count{op=\"create\"} 1"));
  // Operations in name order, whatever order the map holds them in.
  CHECK(text.find("{op=\"create\"") < text.find("{op=\"getData\""));
}
