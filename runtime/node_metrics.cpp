#include "runtime/node_metrics.hpp"

#include <google/protobuf/util/json_util.h>

#include <optional>

namespace conclave {

namespace {

double num(uint64_t x) {
  return static_cast<double>(x);
}

void to_proto(const prometheus::histogram& h, pb::Histogram& out) {
  out.clear_upper_bounds();
  out.clear_counts();
  for (auto b : h.upper_bounds())
    out.add_upper_bounds(b);
  for (auto n : h.bucket_counts())
    out.add_counts(n);
  out.set_sum(h.sum());
}

std::optional<prometheus::histogram> from_proto(const pb::Histogram& h) {
  return prometheus::histogram::from_counts(
    {h.upper_bounds().begin(), h.upper_bounds().end()},
    {h.counts().begin(), h.counts().end()}, h.sum());
}

} // namespace

std::string_view native_op_name(const pb::Request& req) {
  switch (req.op_case()) {
    case pb::Request::kCreate:
      return "create";
    case pb::Request::kDelete:
      return "delete";
    case pb::Request::kSetData:
      return "setData";
    case pb::Request::kCheck:
      return "check";
    case pb::Request::kMulti:
      return "multi";
    case pb::Request::kSetAcl:
      return "setACL";
    case pb::Request::kGetData:
      return "getData";
    case pb::Request::kExists:
      return "exists";
    case pb::Request::kGetChildren:
      return "getChildren";
    case pb::Request::kGetEphemerals:
      return "getEphemerals";
    case pb::Request::kCountDescendants:
      return "getAllChildrenNumber";
    case pb::Request::kGetAcl:
      return "getACL";
    case pb::Request::kSync:
      return "sync";
    case pb::Request::kAddWatch:
      return "addWatch";
    case pb::Request::kRemoveWatches:
      return "removeWatches";
    case pb::Request::kSetWatches:
      return "setWatches";
    case pb::Request::kCheckWatches:
      return "checkWatches";
    case pb::Request::kMultiRead:
      return "multiRead";
    case pb::Request::kStatus:
      return "status";
    default:
      return "other";
  }
}

void observe_latency(latency_by_op& by_op, std::string_view op,
                     double seconds) {
  auto i = by_op.find(op);
  if (i == by_op.end())
    i = by_op.emplace(std::string{op}, prometheus::histogram::latency_seconds())
          .first;
  i->second.observe(seconds);
}

void add_latency(const latency_by_op& by_op, pb::NodeStatus& status) {
  auto& out = *status.mutable_request_seconds();
  for (const auto& [op, h] : by_op) {
    auto i = out.find(op);
    if (i == out.end()) {
      to_proto(h, out[op]);
      continue;
    }
    auto mine = from_proto(i->second);
    if (!mine || mine->upper_bounds() != h.upper_bounds()) {
      to_proto(h, i->second);
      continue;
    }
    mine->merge(h);
    to_proto(*mine, i->second);
  }
}

std::string render_metrics(const pb::NodeStatus& s, const zk_figures& zk) {
  prometheus::text_writer w;
  // -- Raft ------------------------------------------------------------------
  w.gauge("conclave_raft_term", "current Raft term", {}, num(s.term()));
  w.gauge("conclave_raft_is_leader", "1 if this node leads", {},
          s.role() == "leader" ? 1 : 0);
  w.gauge("conclave_raft_leader_id", "id of the known leader (0: none)", {},
          num(s.leader_id()));
  w.gauge("conclave_raft_commit_index", "highest committed log index", {},
          num(s.commit_index()));
  w.gauge("conclave_raft_applied_index",
          "highest log index applied to the tree", {}, num(s.applied_index()));
  w.gauge("conclave_raft_last_log_index", "last index in the local log", {},
          num(s.last_log_index()));
  w.gauge("conclave_raft_snapshot_index", "index of the newest snapshot", {},
          num(s.snapshot_index()));
  w.gauge("conclave_raft_apply_lag_entries",
          "committed entries not yet applied here", {},
          s.commit_index() > s.applied_index()
            ? num(s.commit_index() - s.applied_index())
            : 0);
  w.counter("conclave_raft_leadership_changes_total",
            "changes of role, term or leader seen by this node", {},
            num(s.leader_changes()));
  w.counter("conclave_persist_total", "durable writes (storage round trips)",
            {}, num(s.persist_count()));
  w.counter("conclave_fsync_total",
            "fdatasync/fsync calls (log, hard state, snapshots, directories)",
            {}, num(s.fsync_count()));
  w.gauge("conclave_persist_recent_seconds",
          "recent mean of durable write latency (EWMA, weight 1/5)", {},
          s.persist_ewma_ms() / 1000.0);
  for (const auto& r : s.restarts())
    w.counter("conclave_actor_restarts_total",
              "restarts of the node's actors by its supervisor",
              {{"actor", r.actor()}}, num(r.restarts()));
  if (s.has_persist_seconds()) {
    auto restored = from_proto(s.persist_seconds());
    if (restored)
      w.histogram("conclave_persist_seconds",
                  "latency of durable writes (write and fsync)", {}, *restored);
  }
  w.gauge("conclave_log_bytes_since_snapshot",
          "bytes in the log since the last snapshot", {}, num(s.log_bytes()));
  for (const auto& p : s.peers())
    w.gauge("conclave_raft_peer_match_index",
            "leader only: highest index known replicated on the peer",
            {{"peer", std::to_string(p.node_id())}}, num(p.match_index()));
  for (const auto& p : s.peers())
    w.gauge("conclave_raft_peer_lag_entries",
            "leader only: entries the peer lacks",
            {{"peer", std::to_string(p.node_id())}},
            s.last_log_index() > p.match_index()
              ? num(s.last_log_index() - p.match_index())
              : 0);
  for (const auto& p : s.peers())
    w.gauge("conclave_raft_peer_reachable",
            "leader only: 1 if connected to the peer",
            {{"peer", std::to_string(p.node_id())}}, p.reachable() ? 1 : 0);
  // -- data ------------------------------------------------------------------
  w.gauge("conclave_znodes", "znodes in the tree (built-ins included)", {},
          num(s.znode_count()));
  w.gauge("conclave_ephemerals", "ephemeral znodes", {},
          num(s.ephemeral_count()));
  w.gauge("conclave_data_bytes", "sum of znode path and data bytes", {},
          num(s.approximate_data_bytes()));
  w.gauge("conclave_sessions", "open sessions (cluster-wide)", {},
          num(s.session_count()));
  w.gauge("conclave_watches", "watches registered on this node", {},
          num(s.watch_count()));
  w.gauge("conclave_connections", "client connections to this node",
          {{"protocol", "native"}}, num(s.connection_count()));
  w.gauge("conclave_connections", "client connections to this node",
          {{"protocol", "zookeeper"}}, num(zk.connections));
  // -- ZooKeeper front end ---------------------------------------------------
  w.counter("conclave_zk_packets_received_total",
            "frames received on the ZooKeeper port", {},
            num(zk.packets_received));
  w.counter("conclave_zk_packets_sent_total",
            "frames sent on the ZooKeeper port", {}, num(zk.packets_sent));
  w.gauge("conclave_zk_outstanding_requests",
          "ZooKeeper requests received and not yet answered", {},
          num(zk.outstanding_requests));
  // Sorted, so that a scrape is deterministic (protobuf maps are not).
  std::map<std::string, pb::Histogram> native(s.request_seconds().begin(),
                                              s.request_seconds().end());
  for (const auto& [op, h] : native)
    if (auto restored = from_proto(h))
      w.histogram("conclave_request_duration_seconds",
                  "native-protocol requests by operation: writes from "
                  "arrival to applied, reads from reaching the tree (after "
                  "any wait to catch up) to answer",
                  {{"op", op}}, *restored);
  for (const auto& [op, h] : zk.latency)
    w.histogram("conclave_zk_request_duration_seconds",
                "ZooKeeper requests by operation, from arrival to answer",
                {{"op", op}}, h);
  return w.release();
}

std::string render_status_json(const pb::NodeStatus& status) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  auto ok = google::protobuf::util::MessageToJsonString(status, &out, options);
  if (!ok.ok())
    return "{}\n";
  out += '\n';
  return out;
}

} // namespace conclave
