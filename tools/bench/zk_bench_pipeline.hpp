// conclave-bench's pipelined request engine: every client (its own session,
// its own zhandle_t) keeps K asynchronous requests outstanding until the
// duration ends. Used by the create, set, get, exists, children, delete,
// multi and mixed workloads.
//
// Each outstanding request is a "slot": when its completion arrives (on the
// handle's completion thread) the slot records the latency (steady clock,
// from just before the zoo_a* call to the callback) into its client's
// histogram and sends the next request. A client's completions all run on
// its handle's one completion thread, so its histogram needs no lock; the
// histograms are merged once at the end, after every slot finished.
//
// Phases: warmup (run, not recorded), measuring (recorded), stopping (no
// new requests; the engine waits until every outstanding one is answered).
// Only ZOK results are recorded and count as operations; every other code
// is counted by code, in every phase, and the slot carries on (a failed
// zoo_a* call, e.g. on an expired session, ends the slot).
#pragma once

#include "tools/bench/latency_histogram.hpp"
#include "tools/bench/zk_bench_result.hpp"
#include "tools/bench/zk_bench_session.hpp"
#include "tools/bench/zk_bench_zookeeper.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace conclave::bench {

enum class op_kind {
  create,   // create key_prefix + next_seq (persistent)
  set,      // setData of key_prefix + random key
  get,      // getData
  exists,   // exists
  children, // getChildren of key_prefix + random key
  del,      // delete key_prefix + next_seq, while next_seq < seq_limit
  multi,    // multi of multi_ops setData on distinct random keys
  mixed,    // read_percent getData, the rest setData
};

struct pipeline_config {
  op_kind kind = op_kind::get;
  int outstanding = 1;
  std::string value; // create, set, multi, mixed writes
  int multi_ops = 1;
  int read_percent = 90;
  uint64_t seed = 0;
  std::chrono::duration<double> warmup{0};
  std::chrono::duration<double> duration{1};
  // Waiting for the last answers after the end, at most.
  std::chrono::milliseconds drain_timeout{30000};
};

struct pipeline_client {
  zk_session* session = nullptr; // owned by the caller
  zhandle_t* zh = nullptr;       // session->handle()
  std::string key_prefix;
  uint64_t key_count = 1; // random keys: [0, key_count)
  std::atomic<uint64_t> next_seq{0};
  uint64_t seq_limit = UINT64_MAX; // delete: the pool's size
  // Results (read after run_pipeline returned).
  latency_histogram latency;
  error_counts errors;
  std::atomic<bool> exhausted{false};
  std::mutex failed_mutex;           // error path only
  std::vector<uint64_t> failed_seqs; // delete: keys whose delete failed
};

struct pipeline_outcome {
  double measured_s = 0;
  bool drained = true; // false: some requests were never answered
};

// Runs the load; returns after every slot finished. If some requests are
// still unanswered after drain_timeout, closes the clients' handles (which
// answers them with ZCLOSING) before returning, and says so.
pipeline_outcome
run_pipeline(const pipeline_config& cfg,
             std::vector<std::unique_ptr<pipeline_client>>& clients);

} // namespace conclave::bench
