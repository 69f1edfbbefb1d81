// conclave-bench's pipelined request engine: see zk_bench_pipeline.hpp.
#include "tools/bench/zk_bench_pipeline.hpp"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <random>

namespace conclave::bench {

namespace {

using clock_type = std::chrono::steady_clock;

enum phase : int { warming = 0, measuring = 1, stopping = 2 };

struct engine;

struct slot {
  engine* eng = nullptr;
  pipeline_client* client = nullptr;
  std::mt19937_64 rng;
  clock_type::time_point start;
  uint64_t seq = 0;
  op_kind current = op_kind::get;
  std::string path;
  // multi
  std::vector<std::string> multi_paths;
  std::vector<zoo_op_t> ops;
  std::vector<zoo_op_result_t> results;
  std::vector<Stat> stats;
  std::vector<uint64_t> keys;
};

struct engine {
  const pipeline_config* cfg = nullptr;
  std::atomic<int> phase{warming};
  std::atomic<int64_t> live{0};
  std::mutex mutex;
  std::condition_variable cv;
};

void set_path(std::string& path, const std::string& prefix, uint64_t key) {
  char digits[24];
  auto res = std::to_chars(digits, digits + sizeof(digits), key);
  path.assign(prefix);
  path.append(digits, res.ptr);
}

void finish(slot& s) {
  if (s.eng->live.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard<std::mutex> guard(s.eng->mutex);
    s.eng->cv.notify_all();
  }
}

void complete(slot& s, int rc);
bool issue(slot& s);

void on_void(int rc, const void* data) {
  complete(*static_cast<slot*>(const_cast<void*>(data)), rc);
}
void on_stat(int rc, const Stat*, const void* data) {
  complete(*static_cast<slot*>(const_cast<void*>(data)), rc);
}
void on_data(int rc, const char*, int, const Stat*, const void* data) {
  complete(*static_cast<slot*>(const_cast<void*>(data)), rc);
}
void on_strings(int rc, const String_vector*, const void* data) {
  complete(*static_cast<slot*>(const_cast<void*>(data)), rc);
}
void on_string(int rc, const char*, const void* data) {
  complete(*static_cast<slot*>(const_cast<void*>(data)), rc);
}

void note_error(slot& s, int rc) {
  s.client->errors.add(rc);
  if (s.current == op_kind::del) {
    std::lock_guard<std::mutex> guard(s.client->failed_mutex);
    s.client->failed_seqs.push_back(s.seq);
  }
}

// Sends the slot's next request; false if it could not (the slot ends).
bool issue(slot& s) {
  auto& c = *s.client;
  const auto& cfg = *s.eng->cfg;
  const char* value = cfg.value.data();
  int value_len = static_cast<int>(cfg.value.size());
  s.current = cfg.kind;
  if (s.current == op_kind::mixed)
    s.current = static_cast<int>(s.rng() % 100) < cfg.read_percent
                  ? op_kind::get
                  : op_kind::set;
  int rc = ZOK;
  switch (s.current) {
    case op_kind::create:
      s.seq = c.next_seq.fetch_add(1, std::memory_order_relaxed);
      set_path(s.path, c.key_prefix, s.seq);
      s.start = clock_type::now();
      rc = zoo_acreate(c.zh, s.path.c_str(), value, value_len,
                       &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, &on_string, &s);
      break;
    case op_kind::del:
      s.seq = c.next_seq.fetch_add(1, std::memory_order_relaxed);
      if (s.seq >= c.seq_limit) {
        c.exhausted.store(true, std::memory_order_relaxed);
        return false;
      }
      set_path(s.path, c.key_prefix, s.seq);
      s.start = clock_type::now();
      rc = zoo_adelete(c.zh, s.path.c_str(), -1, &on_void, &s);
      break;
    case op_kind::set:
      set_path(s.path, c.key_prefix, s.rng() % c.key_count);
      s.start = clock_type::now();
      rc = zoo_aset(c.zh, s.path.c_str(), value, value_len, -1, &on_stat, &s);
      break;
    case op_kind::get:
      set_path(s.path, c.key_prefix, s.rng() % c.key_count);
      s.start = clock_type::now();
      rc = zoo_aget(c.zh, s.path.c_str(), 0, &on_data, &s);
      break;
    case op_kind::exists:
      set_path(s.path, c.key_prefix, s.rng() % c.key_count);
      s.start = clock_type::now();
      rc = zoo_aexists(c.zh, s.path.c_str(), 0, &on_stat, &s);
      break;
    case op_kind::children:
      set_path(s.path, c.key_prefix, s.rng() % c.key_count);
      s.start = clock_type::now();
      rc = zoo_aget_children(c.zh, s.path.c_str(), 0, &on_strings, &s);
      break;
    case op_kind::multi: {
      // multi_ops distinct keys (the option parser keeps M <= key_count).
      auto m = static_cast<size_t>(cfg.multi_ops);
      s.keys.clear();
      while (s.keys.size() < m) {
        uint64_t k = s.rng() % c.key_count;
        if (std::find(s.keys.begin(), s.keys.end(), k) == s.keys.end())
          s.keys.push_back(k);
      }
      for (size_t i = 0; i < m; ++i) {
        set_path(s.multi_paths[i], c.key_prefix, s.keys[i]);
        zoo_set_op_init(&s.ops[i], s.multi_paths[i].c_str(), value, value_len,
                        -1, &s.stats[i]);
      }
      s.start = clock_type::now();
      rc = zoo_amulti(c.zh, static_cast<int>(m), s.ops.data(), s.results.data(),
                      &on_void, &s);
      break;
    }
    case op_kind::mixed: // resolved above
      break;
  }
  if (rc != ZOK) {
    note_error(s, rc);
    return false;
  }
  return true;
}

void complete(slot& s, int rc) {
  auto now = clock_type::now();
  int ph = s.eng->phase.load(std::memory_order_acquire);
  if (rc == ZOK) {
    if (ph == measuring) {
      auto us
        = std::chrono::duration_cast<std::chrono::microseconds>(now - s.start)
            .count();
      s.client->latency.record(static_cast<uint64_t>(std::max<int64_t>(us, 0)));
    }
  } else {
    note_error(s, rc);
  }
  if (ph != stopping && issue(s))
    return;
  finish(s);
}

} // namespace

pipeline_outcome
run_pipeline(const pipeline_config& cfg,
             std::vector<std::unique_ptr<pipeline_client>>& clients) {
  engine eng;
  eng.cfg = &cfg;
  std::vector<std::unique_ptr<slot>> slots;
  std::seed_seq seeds{cfg.seed, uint64_t{0x5eed}};
  std::vector<uint32_t> slot_seeds(clients.size()
                                   * static_cast<size_t>(cfg.outstanding));
  seeds.generate(slot_seeds.begin(), slot_seeds.end());
  size_t n = 0;
  for (auto& c : clients) {
    for (int k = 0; k < cfg.outstanding; ++k) {
      auto s = std::make_unique<slot>();
      s->eng = &eng;
      s->client = c.get();
      s->rng.seed(slot_seeds[n++]);
      s->path.reserve(c->key_prefix.size() + 24);
      if (cfg.kind == op_kind::multi) {
        auto m = static_cast<size_t>(cfg.multi_ops);
        s->multi_paths.resize(m);
        for (auto& p : s->multi_paths)
          p.reserve(c->key_prefix.size() + 24);
        s->ops.resize(m);
        s->results.resize(m);
        s->stats.resize(m);
      }
      slots.push_back(std::move(s));
    }
  }
  auto warmup = std::chrono::duration_cast<clock_type::duration>(cfg.warmup);
  auto duration
    = std::chrono::duration_cast<clock_type::duration>(cfg.duration);
  eng.phase.store(warmup.count() > 0 ? warming : measuring);
  eng.live.store(static_cast<int64_t>(slots.size()));
  auto t0 = clock_type::now();
  for (auto& s : slots)
    if (!issue(*s))
      finish(*s);
  auto all_done = [&] { return eng.live.load() == 0; };
  pipeline_outcome out;
  {
    std::unique_lock<std::mutex> lock(eng.mutex);
    eng.cv.wait_until(lock, t0 + warmup, all_done);
  }
  eng.phase.store(measuring, std::memory_order_release);
  auto m0 = clock_type::now();
  {
    std::unique_lock<std::mutex> lock(eng.mutex);
    eng.cv.wait_until(lock, m0 + duration, all_done);
  }
  eng.phase.store(stopping, std::memory_order_release);
  out.measured_s
    = std::chrono::duration<double>(clock_type::now() - m0).count();
  std::unique_lock<std::mutex> lock(eng.mutex);
  if (!eng.cv.wait_for(lock, cfg.drain_timeout, all_done)) {
    out.drained = false;
    lock.unlock();
    // Closing answers what is left (ZCLOSING) while the slots still exist.
    for (auto& c : clients) {
      c->session->close();
      c->zh = nullptr;
    }
  }
  return out;
}

} // namespace conclave::bench
