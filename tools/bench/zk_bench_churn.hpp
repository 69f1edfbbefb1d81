// conclave-bench's `churn` workload: session churn, as a fleet of
// short-lived processes (cron jobs, CLIs, crashing workers) causes it.
// Each client is a thread looping: open a session (zookeeper_init, wait for
// CONNECTED), create an EPHEMERAL znode PARENT/c<client>-<n> of B bytes,
// close the session (zookeeper_close: closeSession answered). One
// operation = the whole cycle; its latency is open -> closed. The znode
// vanishes with the session, so the run leaves nothing behind.
//
// Errors: the create's or the close's code; a session that does not
// connect within the connect timeout counts as ZOPERATIONTIMEOUT (-7).
#pragma once

#include "tools/bench/latency_histogram.hpp"
#include "tools/bench/zk_bench_result.hpp"

#include <chrono>
#include <map>
#include <string>

namespace conclave::bench {

struct churn_config {
  std::string servers;
  int session_timeout_ms = 20000;
  int clients = 1;
  std::string parent; // an existing znode
  std::string value;
  std::chrono::duration<double> warmup{0};
  std::chrono::duration<double> duration{1};
  std::chrono::milliseconds connect_timeout{10000};
};

struct churn_outcome {
  latency_histogram latency; // the window's successful cycles, us
  std::map<int, uint64_t> errors;
  double measured_s = 0;
};

churn_outcome run_churn(const churn_config& cfg);

} // namespace conclave::bench
