// conclave-bench: a load generator on the official ZooKeeper C client
// (libzookeeper_mt), so that Apache ZooKeeper and Conclave's ZooKeeper
// port are driven by exactly the same client code and can be compared.
// The CLI (zk_bench_options.cpp, `--help`) is what
// scripts/bench-vs-zookeeper.sh runs; the output is one table line and,
// with --json, one JSON object (fields: zk_bench_result.hpp).
//
// A run:
//  1. setup (not measured): one admin session creates --root (kept) and a
//     per-run subtree ROOT/<label or "run">-<8 hex digits> with what the
//     workload needs, in multi batches (zk_bench_batch.hpp):
//       create            RUN/c<i>                  (one parent per client)
//       set get exists    RUN/data/k<0..Z-1>        (B bytes each)
//       multi mixed       RUN/data/k<0..Z-1>
//       children          RUN/tree/p<j>/c<0..9>     (Z children, 10 per parent)
//       delete            RUN/c<i>/n<0..pool-1>     (empty values, see below)
//       churn             RUN/churn                 (ephemerals come and go)
//       watch             RUN/watch                 (B bytes)
//  2. the clients connect (each its own session), then warm up for W s
//     (not recorded) and run for S s (recorded): zk_bench_pipeline.hpp,
//     zk_bench_churn.hpp, zk_bench_watch.hpp;
//  3. the servers' VmRSS is read (--server-pids), the sessions closed;
//  4. clean-up: the run's subtree is deleted, deepest level first, in
//     multi batches of 100 deletes (16 in flight), which is much faster
//     than the run that created it; --keep leaves it.
//
// The delete workload must never run out of znodes, and pre-creating
// "enough" needs a rate: setup first creates Z znodes per client, then
// calibrates for 0.7 s with the same clients and outstanding requests
// doing setData on them (a write of the same cost as a delete, as far as
// the log and the replication are concerned), and tops each client's pool
// up to 3x what that rate would delete in warmup + duration (at least Z).
// Should a client still exhaust its pool, it stops (its slots end), the
// JSON says "pool_exhausted": true and a warning goes to stderr: ops/s is
// then an underestimate, not a silent error.
#include "tools/bench/zk_bench_batch.hpp"
#include "tools/bench/zk_bench_churn.hpp"
#include "tools/bench/zk_bench_floor.hpp"
#include "tools/bench/zk_bench_options.hpp"
#include "tools/bench/zk_bench_pipeline.hpp"
#include "tools/bench/zk_bench_result.hpp"
#include "tools/bench/zk_bench_session.hpp"
#include "tools/bench/zk_bench_watch.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <random>

namespace conclave::bench {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto connect_timeout = std::chrono::milliseconds(15000);
constexpr int children_per_parent = 10;
constexpr uint64_t max_delete_pool_total = 5000000;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

std::string key(const std::string& prefix, uint64_t i) {
  return prefix + std::to_string(i);
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  return static_cast<bool>(out);
}

// Everything one run does, in order.
class bench_run {
public:
  explicit bench_run(const options& o) : o_(o) {}

  int run();

private:
  void note(const std::string& msg) const {
    if (o_.verbose)
      std::cerr << "conclave-bench: " << msg << "\n";
  }
  bool setup();
  bool create_group(std::vector<std::string> paths, const std::string& value);
  std::vector<std::unique_ptr<pipeline_client>>
  pipeline_clients(const std::vector<std::unique_ptr<zk_session>>& sessions,
                   const std::function<void(pipeline_client&, size_t)>& init);
  bool run_pipelined();
  bool run_delete(std::vector<std::unique_ptr<zk_session>>& sessions);
  bool run_churn_workload();
  bool run_watch_workload();
  void collect(std::vector<std::unique_ptr<pipeline_client>>& clients,
               const pipeline_outcome& out);
  void read_rss();
  void cleanup();

  const options& o_;
  run_result r_;
  std::string run_path_;
  std::unique_ptr<zk_session> admin_;
  // Created znodes, in creation order (clean-up deletes them in reverse).
  std::vector<std::vector<std::string>> groups_;
  std::string value_;
  uint64_t seed_ = 0;
  bool rss_read_ = false;
};

bool bench_run::create_group(std::vector<std::string> paths,
                             const std::string& value) {
  if (paths.empty())
    return true;
  auto res = create_all(admin_->handle(), paths, value);
  groups_.push_back(std::move(paths));
  if (res.failed != 0) {
    std::cerr << "conclave-bench: setup: " << res.failed
              << " znodes could not be created (first error " << res.first_error
              << ": " << zerror(res.first_error) << ")\n";
    return false;
  }
  return true;
}

bool bench_run::setup() {
  auto* zh = admin_->handle();
  // --root and its ancestors: kept after the run (other runs share them).
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = o_.root.find('/', pos + 1);
    std::string prefix = o_.root.substr(0, pos);
    int rc = zoo_create(zh, prefix.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                        ZOO_PERSISTENT, nullptr, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) {
      std::cerr << "conclave-bench: setup: create " << prefix << ": "
                << zerror(rc) << " (" << rc << ")\n";
      return false;
    }
  }
  int rc = zoo_create(zh, run_path_.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                      ZOO_PERSISTENT, nullptr, 0);
  if (rc != ZOK) {
    std::cerr << "conclave-bench: setup: create " << run_path_ << ": "
              << zerror(rc) << " (" << rc << ")\n";
    return false;
  }
  groups_.push_back({run_path_});
  auto z = static_cast<uint64_t>(o_.znodes);
  auto per_client_parents = [&] {
    std::vector<std::string> parents;
    for (int i = 0; i < o_.clients; ++i)
      parents.push_back(run_path_ + "/c" + std::to_string(i));
    return parents;
  };
  switch (o_.load) {
    case workload::create:
      return create_group(per_client_parents(), "");
    case workload::del: {
      if (!create_group(per_client_parents(), ""))
        return false;
      std::vector<std::string> pool;
      for (int i = 0; i < o_.clients; ++i)
        for (uint64_t j = 0; j < z; ++j)
          pool.push_back(key(run_path_ + "/c" + std::to_string(i) + "/n", j));
      // Not a group: the clean-up lists what the run left of the pool.
      auto res = create_all(zh, pool, "");
      if (res.failed != 0) {
        std::cerr << "conclave-bench: setup: " << res.failed
                  << " pool znodes could not be created ("
                  << zerror(res.first_error) << ")\n";
        groups_.push_back(std::move(pool)); // clean up what was created
        return false;
      }
      return true;
    }
    case workload::set:
    case workload::get:
    case workload::exists:
    case workload::multi:
    case workload::mixed: {
      if (!create_group({run_path_ + "/data"}, ""))
        return false;
      std::vector<std::string> keys;
      for (uint64_t i = 0; i < z; ++i)
        keys.push_back(key(run_path_ + "/data/k", i));
      return create_group(std::move(keys), value_);
    }
    case workload::children: {
      if (!create_group({run_path_ + "/tree"}, ""))
        return false;
      uint64_t parents = (z + children_per_parent - 1) / children_per_parent;
      std::vector<std::string> ps, cs;
      for (uint64_t j = 0; j < parents; ++j)
        ps.push_back(key(run_path_ + "/tree/p", j));
      for (uint64_t i = 0; i < z; ++i)
        cs.push_back(ps[i / children_per_parent] + "/c"
                     + std::to_string(i % children_per_parent));
      return create_group(std::move(ps), "")
             && create_group(std::move(cs), value_);
    }
    case workload::churn:
      return create_group({run_path_ + "/churn"}, "");
    case workload::watch:
      return create_group({run_path_ + "/watch"}, value_);
  }
  return false;
}

std::vector<std::unique_ptr<pipeline_client>> bench_run::pipeline_clients(
  const std::vector<std::unique_ptr<zk_session>>& sessions,
  const std::function<void(pipeline_client&, size_t)>& init) {
  std::vector<std::unique_ptr<pipeline_client>> clients;
  for (size_t i = 0; i < sessions.size(); ++i) {
    auto c = std::make_unique<pipeline_client>();
    c->session = sessions[i].get();
    c->zh = sessions[i]->handle();
    init(*c, i);
    clients.push_back(std::move(c));
  }
  return clients;
}

void bench_run::collect(std::vector<std::unique_ptr<pipeline_client>>& clients,
                        const pipeline_outcome& out) {
  for (auto& c : clients) {
    r_.latency.merge(c->latency);
    for (auto& [code, n] : c->errors.snapshot())
      r_.errors[code] += n;
  }
  r_.duration_s = out.measured_s;
  if (!out.drained)
    std::cerr << "conclave-bench: warning: some requests were still "
                 "unanswered "
              << "after the run; their sessions were closed\n";
}

bool bench_run::run_pipelined() {
  std::vector<std::unique_ptr<zk_session>> sessions;
  try {
    sessions = zk_session::open_many(o_.servers, o_.clients,
                                     o_.session_timeout_ms, connect_timeout);
  } catch (const std::exception& e) {
    std::cerr << "conclave-bench: " << e.what() << "\n";
    return false;
  }
  if (o_.load == workload::del)
    return run_delete(sessions);
  pipeline_config cfg;
  cfg.outstanding = o_.outstanding;
  cfg.value = value_;
  cfg.multi_ops = o_.multi_ops;
  cfg.read_percent = o_.read_percent;
  cfg.seed = seed_;
  cfg.warmup = std::chrono::duration<double>(o_.warmup_s);
  cfg.duration = std::chrono::duration<double>(o_.duration_s);
  std::string prefix;
  uint64_t keys = static_cast<uint64_t>(o_.znodes);
  switch (o_.load) {
    case workload::create:
      cfg.kind = op_kind::create;
      break;
    case workload::set:
      cfg.kind = op_kind::set;
      break;
    case workload::get:
      cfg.kind = op_kind::get;
      break;
    case workload::exists:
      cfg.kind = op_kind::exists;
      break;
    case workload::multi:
      cfg.kind = op_kind::multi;
      break;
    case workload::mixed:
      cfg.kind = op_kind::mixed;
      break;
    case workload::children:
      cfg.kind = op_kind::children;
      prefix = run_path_ + "/tree/p";
      keys = (keys + children_per_parent - 1) / children_per_parent;
      break;
    default:
      return false;
  }
  if (prefix.empty())
    prefix = run_path_ + "/data/k";
  auto clients = pipeline_clients(sessions, [&](pipeline_client& c, size_t i) {
    c.key_prefix = o_.load == workload::create
                     ? run_path_ + "/c" + std::to_string(i) + "/n"
                     : prefix;
    c.key_count = keys;
  });
  auto out = run_pipeline(cfg, clients);
  collect(clients, out);
  read_rss();
  if (o_.load == workload::create) {
    // What to clean up: every name a create was sent for (a failed one
    // may or may not exist: delete_all does not mind).
    std::vector<std::string> created;
    for (size_t i = 0; i < clients.size(); ++i)
      for (uint64_t j = 0; j < clients[i]->next_seq.load(); ++j)
        created.push_back(key(clients[i]->key_prefix, j));
    groups_.push_back(std::move(created));
  }
  return true;
}

bool bench_run::run_delete(std::vector<std::unique_ptr<zk_session>>& sessions) {
  auto t_cal = clock_type::now();
  auto z = static_cast<uint64_t>(o_.znodes);
  // The pool's first `n` znodes of every client (clean-up after a failure).
  auto pool_group = [&](uint64_t n) {
    std::vector<std::string> all;
    for (int i = 0; i < o_.clients; ++i)
      for (uint64_t j = 0; j < n; ++j)
        all.push_back(key(run_path_ + "/c" + std::to_string(i) + "/n", j));
    groups_.push_back(std::move(all));
  };
  auto own_pool = [&](pipeline_client& c, size_t i) {
    c.key_prefix = run_path_ + "/c" + std::to_string(i) + "/n";
    c.key_count = z;
  };
  // Calibration: setData on the pool, same clients and outstanding.
  pipeline_config cal;
  cal.kind = op_kind::set;
  cal.outstanding = o_.outstanding;
  cal.seed = seed_ + 1;
  cal.warmup = std::chrono::duration<double>(0.2);
  cal.duration = std::chrono::duration<double>(0.5);
  auto cal_clients = pipeline_clients(sessions, own_pool);
  auto cal_out = run_pipeline(cal, cal_clients);
  uint64_t cal_ops = 0;
  for (auto& c : cal_clients)
    cal_ops += c->latency.count();
  double rate = cal_out.measured_s > 0
                  ? static_cast<double>(cal_ops) / cal_out.measured_s
                  : 0;
  auto per_client = static_cast<uint64_t>(
    std::ceil(rate / o_.clients * (o_.warmup_s + o_.duration_s) * 3));
  uint64_t pool
    = std::max(z, per_client + static_cast<uint64_t>(o_.outstanding));
  pool = std::min(pool, std::max(z, max_delete_pool_total
                                      / static_cast<uint64_t>(o_.clients)));
  note("delete: calibrated " + std::to_string(static_cast<long>(rate))
       + " writes/s; pool of " + std::to_string(pool) + " znodes per client");
  if (!cal_out.drained) {
    pool_group(z);
    return false;
  }
  std::vector<std::string> top_up;
  for (int i = 0; i < o_.clients; ++i)
    for (uint64_t j = z; j < pool; ++j)
      top_up.push_back(key(run_path_ + "/c" + std::to_string(i) + "/n", j));
  auto res = create_all(admin_->handle(), top_up, "");
  if (res.failed != 0) {
    std::cerr << "conclave-bench: setup: " << res.failed
              << " pool znodes could not be created ("
              << zerror(res.first_error) << ")\n";
    pool_group(pool); // as far as it goes
    return false;
  }
  r_.pool_per_client = pool;
  r_.setup_s += seconds_since(t_cal); // calibration and top-up
  pipeline_config cfg;
  cfg.kind = op_kind::del;
  cfg.outstanding = o_.outstanding;
  cfg.seed = seed_;
  cfg.warmup = std::chrono::duration<double>(o_.warmup_s);
  cfg.duration = std::chrono::duration<double>(o_.duration_s);
  auto clients = pipeline_clients(sessions, [&](pipeline_client& c, size_t i) {
    own_pool(c, i);
    c.seq_limit = pool;
  });
  auto out = run_pipeline(cfg, clients);
  collect(clients, out);
  read_rss();
  std::vector<std::string> left;
  for (auto& c : clients) {
    if (c->exhausted.load())
      r_.pool_exhausted = true;
    for (uint64_t j = std::min(c->next_seq.load(), pool); j < pool; ++j)
      left.push_back(key(c->key_prefix, j));
    std::lock_guard<std::mutex> guard(c->failed_mutex);
    for (uint64_t j : c->failed_seqs)
      left.push_back(key(c->key_prefix, j));
  }
  groups_.push_back(std::move(left));
  if (r_.pool_exhausted)
    std::cerr << "conclave-bench: warning: delete: a client used up its pool "
                 "of "
              << pool << " znodes before the end; ops/s underestimates\n";
  return true;
}

bool bench_run::run_churn_workload() {
  churn_config cfg;
  cfg.servers = o_.servers;
  cfg.session_timeout_ms = o_.session_timeout_ms;
  cfg.clients = o_.clients;
  cfg.parent = run_path_ + "/churn";
  cfg.value = value_;
  cfg.warmup = std::chrono::duration<double>(o_.warmup_s);
  cfg.duration = std::chrono::duration<double>(o_.duration_s);
  auto out = run_churn(cfg);
  r_.latency.merge(out.latency);
  r_.errors = out.errors;
  r_.duration_s = out.measured_s;
  read_rss();
  return true;
}

bool bench_run::run_watch_workload() {
  std::vector<std::unique_ptr<zk_session>> watchers, writer;
  try {
    watchers = zk_session::open_many(o_.servers, o_.watchers,
                                     o_.session_timeout_ms, connect_timeout);
    writer = zk_session::open_many(o_.servers, 1, o_.session_timeout_ms,
                                   connect_timeout);
  } catch (const std::exception& e) {
    std::cerr << "conclave-bench: " << e.what() << "\n";
    return false;
  }
  watch_config cfg;
  cfg.path = run_path_ + "/watch";
  cfg.value = value_;
  cfg.warmup = std::chrono::duration<double>(o_.warmup_s);
  cfg.duration = std::chrono::duration<double>(o_.duration_s);
  auto out = run_watch(cfg, watchers, *writer[0]);
  read_rss();
  r_.latency.merge(out.latency);
  r_.errors = out.errors;
  r_.duration_s = out.measured_s;
  r_.notifications = out.notifications;
  if (out.setup_failed) {
    std::cerr << "conclave-bench: watch: the watchers could not set their "
                 "first watches\n";
    return false;
  }
  return true;
}

void bench_run::read_rss() {
  if (rss_read_)
    return;
  rss_read_ = true;
  for (int pid : o_.server_pids)
    r_.server_rss_kb.push_back(read_rss_kb(pid));
}

void bench_run::cleanup() {
  if (o_.keep) {
    std::cerr << "conclave-bench: --keep: left " << run_path_
              << " on the server\n";
    return;
  }
  auto t0 = clock_type::now();
  size_t failed = 0;
  for (auto it = groups_.rbegin(); it != groups_.rend(); ++it)
    failed += delete_all(admin_->handle(), *it).failed;
  r_.cleanup_s = seconds_since(t0);
  r_.cleaned = failed == 0;
  if (failed != 0)
    std::cerr << "conclave-bench: clean-up: " << failed << " znodes under "
              << run_path_ << " could not be deleted\n";
}

int bench_run::run() {
  set_client_logging(o_.verbose);
  seed_ = o_.seed;
  if (!o_.seed_given) {
    std::random_device rd;
    seed_ = (uint64_t{rd()} << 32) | rd();
  }
  std::mt19937_64 rng(seed_);
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%08x",
                static_cast<unsigned>(rng() & 0xffffffffu));
  run_path_
    = o_.root + "/" + (o_.label.empty() ? "run" : o_.label) + "-" + suffix;
  value_.assign(static_cast<size_t>(o_.value_bytes), 'v');
  r_.workload = workload_name(o_.load);
  r_.label = o_.label;
  r_.servers = o_.servers;
  r_.run_path = run_path_;
  r_.clients = o_.load == workload::watch ? 1 : o_.clients;
  r_.outstanding = (o_.load == workload::watch || o_.load == workload::churn)
                     ? 1
                     : o_.outstanding;
  r_.value_bytes = o_.value_bytes;
  r_.znodes = o_.znodes;
  r_.warmup_s = o_.warmup_s;
  r_.seed = seed_;
  r_.multi_ops = o_.multi_ops;
  r_.read_percent = o_.read_percent;
  r_.watchers = o_.watchers;

  auto t_setup = clock_type::now();
  admin_ = std::make_unique<zk_session>(o_.servers, o_.session_timeout_ms);
  if (!admin_->wait_connected(connect_timeout)) {
    std::cerr << "conclave-bench: could not connect to " << o_.servers
              << " within " << connect_timeout.count() << " ms\n";
    return 1;
  }
  note("run subtree " + run_path_);
  bool ok = setup();
  r_.setup_s = seconds_since(t_setup);
  if (ok) {
    switch (o_.load) {
      case workload::churn:
        ok = run_churn_workload();
        break;
      case workload::watch:
        ok = run_watch_workload();
        break;
      default:
        ok = run_pipelined();
    }
  }
  cleanup();
  admin_->close();
  std::cout << table_header() << "\n" << table_row(r_) << std::endl;
  if (!r_.errors.empty()) {
    std::cerr << "conclave-bench: errors by code:";
    for (auto& [code, n] : r_.errors)
      std::cerr << " " << code << " (" << zerror(code) << "): " << n << ";";
    std::cerr << "\n";
  }
  if (!o_.json.empty() && !write_file(o_.json, to_json(r_))) {
    std::cerr << "conclave-bench: cannot write " << o_.json << "\n";
    return 1;
  }
  if (!ok) {
    std::cerr << "conclave-bench: the run failed\n";
    return 1;
  }
  if (r_.ops() == 0) {
    std::cerr << "conclave-bench: the run completed no operation\n";
    return 1;
  }
  return 0;
}

int run_floor(const options& o) {
  try {
    auto r = measure_floor(o.dir, o.samples);
    std::cout << floor_table(r) << std::flush;
    if (!o.json.empty() && !write_file(o.json, floor_json(r))) {
      std::cerr << "conclave-bench: cannot write " << o.json << "\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "conclave-bench floor: " << e.what() << "\n";
    return 1;
  }
}

} // namespace

} // namespace conclave::bench

int main(int argc, char** argv) {
  using namespace conclave::bench;
  std::signal(SIGPIPE, SIG_IGN);
  options o;
  try {
    o = parse_options(argc, argv);
  } catch (const usage_error& e) {
    std::cerr << "conclave-bench: " << e.what() << "\n\n" << usage_text();
    return 2;
  }
  if (o.help) {
    std::cout << usage_text();
    return 0;
  }
  if (o.floor)
    return run_floor(o);
  return bench_run(o).run();
}
