// node_metrics: what a node's admin port serves — its figures as Prometheus
// text (GET /metrics) and its status as JSON (GET /status) — rendered from
// plain values, so the rendering is testable without a node.
//
// Sources: the node's merged status (the same pb::NodeStatus that
// `conclavectl status` prints: Raft term, indexes and peers from the log
// actor; znodes, sessions and watches from the registry) and the ZooKeeper
// front end's figures (requests and their latency per operation, packets,
// connections).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "messages/conclave.pb.h"
#include "runtime/prometheus.hpp"

namespace conclave {

/// The ZooKeeper front end's figures, as one scrape sees them.
struct zk_figures {
  uint64_t packets_received = 0;
  uint64_t packets_sent = 0;
  uint64_t outstanding_requests = 0;
  uint64_t connections = 0;
  /// Request latency (seconds, from arrival to answer) per operation name
  /// ("create", "getData", ...), in a stable order.
  std::vector<std::pair<std::string, prometheus::histogram>> latency;
};

/// Latency histograms by operation name, as the node's actors keep them.
/// (Looked up by string_view: no allocation per observed request.)
using latency_by_op = std::map<std::string, prometheus::histogram, std::less<>>;

/// The operation a native request asks for, named as ZooKeeper names it
/// ("create", "getData", "multi", "sync", ...; "status", "other").
std::string_view native_op_name(const pb::Request& req);

/// Counts `seconds` for `op` (a latency_seconds() histogram is made on
/// first use).
void observe_latency(latency_by_op& by_op, std::string_view op, double seconds);

/// Adds `by_op` to a status's request_seconds (merging an op both have).
void add_latency(const latency_by_op& by_op, pb::NodeStatus& status);

/// Prometheus text (format 0.0.4) of `status` and `zk`. Every metric is
/// named conclave_*; per-peer Raft figures are labelled by peer id (leader
/// only: what it knows of each follower).
std::string render_metrics(const pb::NodeStatus& status, const zk_figures& zk);

/// `status` as JSON (protobuf's canonical mapping: lowerCamelCase fields,
/// 64-bit integers as strings), followed by a newline.
std::string render_status_json(const pb::NodeStatus& status);

} // namespace conclave
