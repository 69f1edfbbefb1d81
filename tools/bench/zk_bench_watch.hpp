// conclave-bench's `watch` workload: watch fan-out. N watcher sessions
// each hold a data watch (getData with a watcher) on one znode; one writer
// session sets the znode. One operation = one round: the time from just
// before the writer's setData is sent until the LAST of the N watchers got
// its NodeDataChanged notification. Each watcher re-arms its watch (a new
// getData with a watcher) as soon as it is notified; the writer starts the
// next round once all N notifications arrived and all N watches are armed
// again, so rounds never overlap.
//
// A round that does not complete within round_timeout (a lost
// notification, a watcher that could not re-arm) counts as
// ZOPERATIONTIMEOUT (-7) and ends the run: the watchers' state is unknown.
#pragma once

#include "tools/bench/latency_histogram.hpp"
#include "tools/bench/zk_bench_session.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace conclave::bench {

struct watch_config {
  std::string path; // the watched znode (exists)
  std::string value;
  std::chrono::duration<double> warmup{0};
  std::chrono::duration<double> duration{1};
  std::chrono::milliseconds round_timeout{10000};
};

struct watch_outcome {
  latency_histogram latency; // the window's rounds, us
  std::map<int, uint64_t> errors;
  uint64_t notifications = 0; // received in the window's rounds
  double measured_s = 0;
  bool setup_failed = false; // the first watches could not be set
};

// `watchers` and `writer` are connected sessions.
watch_outcome run_watch(const watch_config& cfg,
                        std::vector<std::unique_ptr<zk_session>>& watchers,
                        zk_session& writer);

} // namespace conclave::bench
