// conclave-bench's `watch` workload: see zk_bench_watch.hpp.
#include "tools/bench/zk_bench_watch.hpp"

#include "tools/bench/zk_bench_result.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace conclave::bench {

namespace {

using clock_type = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clock_type::now().time_since_epoch())
    .count();
}

struct watch_state {
  const watch_config* cfg = nullptr;
  int n = 0;
  std::atomic<int> notified{0};
  std::atomic<int> armed{0};
  std::atomic<int64_t> round_start_ns{0};
  std::atomic<bool> recording{false};
  std::atomic<bool> failed{false};
  // Written by the round's last notified watcher (rounds never overlap).
  latency_histogram latency;
  error_counts errors;
  std::mutex mutex;
  std::condition_variable cv;

  void wake() {
    std::lock_guard<std::mutex> guard(mutex);
    cv.notify_all();
  }
};

struct watcher_ctx {
  watch_state* st = nullptr;
  zhandle_t* zh = nullptr;
};

void on_watch(zhandle_t*, int type, int, const char*, void* ctx);

void on_armed(int rc, const char*, int, const Stat*, const void* data) {
  auto& w = *static_cast<watcher_ctx*>(const_cast<void*>(data));
  auto& st = *w.st;
  if (rc != ZOK) {
    st.errors.add(rc);
    st.failed.store(true);
    st.wake();
    return;
  }
  if (st.armed.fetch_add(1, std::memory_order_acq_rel) + 1 == st.n)
    st.wake();
}

void arm(watcher_ctx& w) {
  int rc
    = zoo_awget(w.zh, w.st->cfg->path.c_str(), &on_watch, &w, &on_armed, &w);
  if (rc != ZOK) {
    w.st->errors.add(rc);
    w.st->failed.store(true);
    w.st->wake();
  }
}

void on_watch(zhandle_t*, int type, int, const char*, void* ctx) {
  // Session events reach every watcher too; only data changes count.
  if (type != ZOO_CHANGED_EVENT)
    return;
  int64_t now = now_ns();
  auto& w = *static_cast<watcher_ctx*>(ctx);
  auto& st = *w.st;
  if (st.notified.fetch_add(1, std::memory_order_acq_rel) + 1 == st.n) {
    if (st.recording.load(std::memory_order_acquire)) {
      int64_t us
        = (now - st.round_start_ns.load(std::memory_order_acquire)) / 1000;
      st.latency.record(static_cast<uint64_t>(us < 0 ? 0 : us));
    }
    st.wake();
  }
  arm(w); // after recording: armed == n implies the record happened
}

void on_set(int rc, const Stat*, const void* data) {
  if (rc != ZOK) {
    auto& st = *static_cast<watch_state*>(const_cast<void*>(data));
    st.errors.add(rc);
  }
}

} // namespace

watch_outcome run_watch(const watch_config& cfg,
                        std::vector<std::unique_ptr<zk_session>>& watchers,
                        zk_session& writer) {
  watch_state st;
  st.cfg = &cfg;
  st.n = static_cast<int>(watchers.size());
  std::vector<watcher_ctx> ctxs(watchers.size());
  for (size_t i = 0; i < watchers.size(); ++i)
    ctxs[i] = watcher_ctx{&st, watchers[i]->handle()};
  watch_outcome out;
  auto round_done = [&] {
    return st.failed.load()
           || (st.notified.load() == st.n && st.armed.load() == st.n);
  };
  // The first watches.
  st.notified.store(st.n);
  for (auto& w : ctxs)
    arm(w);
  {
    std::unique_lock<std::mutex> lock(st.mutex);
    if (!st.cv.wait_for(lock, cfg.round_timeout, round_done) || st.failed)
      out.setup_failed = true;
  }
  auto t0 = clock_type::now();
  auto warm_end
    = t0 + std::chrono::duration_cast<clock_type::duration>(cfg.warmup);
  auto end
    = warm_end + std::chrono::duration_cast<clock_type::duration>(cfg.duration);
  bool started = false;
  clock_type::time_point m0{}, m1{};
  while (!out.setup_failed) {
    auto now = clock_type::now();
    if (now >= end)
      break;
    bool recording = now >= warm_end;
    if (recording && !started) {
      started = true;
      m0 = now;
    }
    st.armed.store(0, std::memory_order_release);
    st.notified.store(0, std::memory_order_release);
    st.recording.store(recording, std::memory_order_release);
    st.round_start_ns.store(now_ns(), std::memory_order_release);
    int rc = zoo_aset(writer.handle(), cfg.path.c_str(), cfg.value.data(),
                      static_cast<int>(cfg.value.size()), -1, &on_set, &st);
    if (rc != ZOK) {
      st.errors.add(rc);
      break;
    }
    bool done;
    {
      std::unique_lock<std::mutex> lock(st.mutex);
      done = st.cv.wait_for(lock, cfg.round_timeout, round_done);
    }
    if (st.failed)
      break;
    if (!done) {
      st.errors.add(ZOPERATIONTIMEOUT);
      break;
    }
    if (recording) {
      out.notifications += static_cast<uint64_t>(st.n);
      m1 = clock_type::now();
    }
  }
  // Closing the watchers joins their threads: no callback runs after this.
  for (auto& w : watchers)
    w->close();
  out.measured_s
    = started ? std::chrono::duration<double>(m1 - m0).count() : 0.0;
  out.latency.merge(st.latency);
  out.errors = st.errors.snapshot();
  return out;
}

} // namespace conclave::bench
