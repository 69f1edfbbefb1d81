// conclave-bench's `churn` workload: see zk_bench_churn.hpp.
#include "tools/bench/zk_bench_churn.hpp"

#include "tools/bench/zk_bench_session.hpp"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace conclave::bench {

namespace {

using clock_type = std::chrono::steady_clock;

enum phase : int { warming = 0, measuring = 1, stopping = 2 };

struct churn_worker {
  latency_histogram latency;
};

void churn_loop(const churn_config& cfg, int id, std::atomic<int>& ph,
                churn_worker& w, error_counts& errors) {
  uint64_t n = 0;
  std::string prefix = cfg.parent + "/c" + std::to_string(id) + "-";
  while (ph.load(std::memory_order_acquire) != stopping) {
    std::string path = prefix + std::to_string(n++);
    auto t0 = clock_type::now();
    int rc = ZOK;
    {
      zk_session session(cfg.servers, cfg.session_timeout_ms);
      if (!session.wait_connected(cfg.connect_timeout)) {
        rc = ZOPERATIONTIMEOUT;
      } else {
        rc = zoo_create(session.handle(), path.c_str(), cfg.value.data(),
                        static_cast<int>(cfg.value.size()),
                        &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, nullptr, 0);
      }
      int close_rc = session.close();
      if (rc == ZOK)
        rc = close_rc;
    }
    auto t1 = clock_type::now();
    if (rc != ZOK) {
      errors.add(rc);
      continue;
    }
    if (ph.load(std::memory_order_acquire) == measuring)
      w.latency.record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0)
          .count()));
  }
}

} // namespace

churn_outcome run_churn(const churn_config& cfg) {
  std::atomic<int> ph{cfg.warmup.count() > 0 ? warming : measuring};
  error_counts errors;
  std::vector<std::unique_ptr<churn_worker>> workers;
  std::vector<std::thread> threads;
  auto t0 = clock_type::now();
  for (int i = 0; i < cfg.clients; ++i) {
    workers.push_back(std::make_unique<churn_worker>());
    threads.emplace_back(churn_loop, std::cref(cfg), i, std::ref(ph),
                         std::ref(*workers.back()), std::ref(errors));
  }
  std::this_thread::sleep_until(
    t0 + std::chrono::duration_cast<clock_type::duration>(cfg.warmup));
  ph.store(measuring, std::memory_order_release);
  auto m0 = clock_type::now();
  std::this_thread::sleep_until(
    m0 + std::chrono::duration_cast<clock_type::duration>(cfg.duration));
  ph.store(stopping, std::memory_order_release);
  churn_outcome out;
  out.measured_s
    = std::chrono::duration<double>(clock_type::now() - m0).count();
  for (auto& t : threads)
    t.join();
  for (auto& w : workers)
    out.latency.merge(w->latency);
  out.errors = errors.snapshot();
  return out;
}

} // namespace conclave::bench
