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
#include <string>
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

/// Prometheus text (format 0.0.4) of `status` and `zk`. Every metric is
/// named conclave_*; per-peer Raft figures are labelled by peer id (leader
/// only: what it knows of each follower).
std::string render_metrics(const pb::NodeStatus& status, const zk_figures& zk);

/// `status` as JSON (protobuf's canonical mapping: lowerCamelCase fields,
/// 64-bit integers as strings), followed by a newline.
std::string render_status_json(const pb::NodeStatus& status);

} // namespace conclave
