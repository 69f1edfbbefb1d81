// The result of one conclave-bench run and how it is reported: one human
// table line on stdout, one JSON object in --json FILE (the comparison
// script reads it; keep the field names stable), and the servers' resident
// memory read from /proc.
//
// JSON fields: workload, label, servers, clients, outstanding, value_bytes,
// znodes, duration_s (the measured window, s), warmup_s, ops (successful
// operations in the window), ops_per_s, errors (non-ZOK results, warmup
// and window), errors_by_code {"-110": n, ...} (ZooKeeper codes), p50_us,
// p90_us, p99_us, p999_us, max_us, min_us, mean_us, server_rss_kb [kB per
// --server-pids, null if unreadable], seed, run_path, setup_s, cleanup_s,
// cleaned; for multi: multi_ops; for mixed: read_percent; for watch:
// watchers, notifications; for delete: pool_per_client, pool_exhausted.
#pragma once

#include "tools/bench/latency_histogram.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace conclave::bench {

// Non-ZOK results per code, counted from any thread without a lock.
class error_counts {
public:
  error_counts();
  void add(int rc);
  // code -> count, codes with a count only.
  std::map<int, uint64_t> snapshot() const;

private:
  std::array<std::atomic<uint64_t>, 256> by_negated_code_;
};

struct run_result {
  std::string workload;
  std::string label;
  std::string servers;
  std::string run_path;
  int clients = 0;
  int outstanding = 0;
  int value_bytes = 0;
  int znodes = 0;
  double duration_s = 0; // the measured window
  double warmup_s = 0;
  latency_histogram latency; // successful operations of the window, us
  std::map<int, uint64_t> errors;
  uint64_t seed = 0;
  std::vector<long> server_rss_kb; // -1: unreadable
  double setup_s = 0;
  double cleanup_s = 0;
  bool cleaned = false;
  // workload-specific (written when the workload is theirs)
  int multi_ops = 0;
  int read_percent = 0;
  int watchers = 0;
  uint64_t notifications = 0;
  uint64_t pool_per_client = 0;
  bool pool_exhausted = false;

  uint64_t ops() const { return latency.count(); }
  double ops_per_s() const;
  uint64_t error_total() const;
};

// VmRSS of /proc/PID/status in kB, -1 if unreadable.
long read_rss_kb(int pid);

std::string to_json(const run_result& r);
std::string table_header();
std::string table_row(const run_result& r);

// A JSON string literal (quotes included).
std::string json_string(const std::string& s);

} // namespace conclave::bench
