// A short chaos run end to end: native clients read, write and
// compare-and-set registers on a three-node cluster while its leader is
// killed with SIGKILL and restarted; every operation goes into a history
// file, and conclave-check must find it linearizable. (The full harness,
// with network partitions and the other workloads, is tools/chaos' next
// part.)
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <chrono>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/chaos/history.hpp"

using namespace conclave;
using namespace conclave::test;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

/// The history, in real-time order: a record is appended after everything
/// it could have observed (the lock orders appends across threads).
class recorder {
public:
  explicit recorder(const std::string& path) : out_(path), writer_(out_) {
    // nop
  }

  void append(chaos::Record rec) {
    std::lock_guard<std::mutex> guard{mtx_};
    rec.set_time_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      clock_type::now().time_since_epoch())
                      .count());
    writer_.append(std::move(rec));
  }

private:
  std::mutex mtx_;
  std::ofstream out_;
  chaos::history_writer writer_;
};

chaos::Record record(int64_t process, chaos::Record::Type type,
                     const std::string& f, const std::string& key) {
  chaos::Record rec;
  rec.set_process(process);
  rec.set_type(type);
  rec.set_f(f);
  rec.set_key(key);
  return rec;
}

/// Whether an error says nothing about whether the write happened.
bool unknown_outcome(error_code err) {
  return err == error_code::connection_loss
         || err == error_code::operation_timeout
         || err == error_code::session_expired
         || err == error_code::system_error;
}

/// One client process: random reads (linearizable), writes and
/// compare-and-sets on the keys until `stop`.
void run_client(local_cluster& cluster, recorder& rec, int64_t process,
                const std::vector<std::string>& keys, uint32_t seed,
                std::atomic<bool>& stop) {
  auto c = cluster.client_all(10s);
  c->set_linearizable(true);
  std::mt19937 rng{seed};
  std::map<std::string, int32_t> last_version;
  for (int n = 0; !stop; ++n) {
    const auto& key = keys[rng() % keys.size()];
    auto choice = rng() % 3;
    if (choice == 0) {
      rec.append(record(process, chaos::Record::invoke, "read", key));
      auto r = c->get(key);
      auto done = record(process, chaos::Record::ok, "read", key);
      if (r) {
        done.set_value(r.value.data);
        done.set_version(r.value.stat.version);
        done.set_zxid(r.value.stat.mzxid);
        last_version[key] = r.value.stat.version;
      } else {
        // A failed read changed nothing: unknown and fail alike.
        done.set_type(chaos::Record::fail);
      }
      rec.append(std::move(done));
      continue;
    }
    auto value = std::to_string(process) + "-" + std::to_string(n);
    bool cas = choice == 2 && last_version.count(key) > 0;
    auto f = cas ? "cas" : "write";
    auto inv = record(process, chaos::Record::invoke, f, key);
    inv.set_value(value);
    int32_t version = -1;
    if (cas) {
      version = last_version[key];
      inv.set_version(version);
    }
    rec.append(std::move(inv));
    auto r = c->set(key, value, version);
    auto done = record(process, chaos::Record::ok, f, key);
    if (r) {
      done.set_zxid(r.value.mzxid);
      if (!cas)
        done.set_version(r.value.version);
      last_version[key] = r.value.version;
    } else if (unknown_outcome(r.error)) {
      done.set_type(chaos::Record::info);
      last_version.erase(key);
    } else {
      done.set_type(chaos::Record::fail); // BadVersion: it did not happen
      last_version.erase(key);
    }
    rec.append(std::move(done));
  }
}

} // namespace

TEST_CASE("chaos: a register workload through a leader crash is "
          "linearizable",
          "[chaos][cluster]") {
  temp_dir dir;
  auto history_file = dir.path + "/history.jsonl";
  std::vector<std::string> keys{"/r0", "/r1", "/r2"};
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(30s) >= 0);
  {
    recorder rec{history_file};
    {
      // Every register starts with a value (recorded as process 0's
      // writes, as the checker's model wants).
      auto setup = cluster.client_all(10s);
      for (const auto& key : keys) {
        auto inv = record(0, chaos::Record::invoke, "write", key);
        inv.set_value("init");
        rec.append(std::move(inv));
        auto r = setup->create(key, "init");
        REQUIRE(r);
        auto done = record(0, chaos::Record::ok, "write", key);
        done.set_version(0);
        done.set_zxid(r.zxid);
        rec.append(std::move(done));
      }
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int64_t p = 1; p <= 3; ++p)
      clients.emplace_back([&, p] {
        run_client(cluster, rec, p, keys, static_cast<uint32_t>(p * 7919),
                   stop);
      });
    // The nemesis: let the clients work, kill the leader, let them work
    // through the failover, restart it, let them work on.
    auto count_lines = [&] {
      std::ifstream in{history_file};
      return std::count(std::istreambuf_iterator<char>{in},
                        std::istreambuf_iterator<char>{}, '\n');
    };
    auto wait_lines = [&](long more) {
      auto target = count_lines() + more;
      auto deadline = clock_type::now() + 60s;
      while (clock_type::now() < deadline && count_lines() < target)
        std::this_thread::yield();
      return count_lines() >= target;
    };
    CHECK(wait_lines(300));
    auto leader = cluster.wait_for_leader(30s);
    REQUIRE(leader >= 0);
    cluster.stop(static_cast<size_t>(leader), SIGKILL);
    CHECK(wait_lines(300));
    cluster.start(static_cast<size_t>(leader));
    CHECK(wait_lines(300));
    stop = true;
    for (auto& t : clients)
      t.join();
  }
  auto check = run({std::string{CONCLAVE_BIN_DIR} + "/conclave-check",
                    history_file, "--report", dir.path + "/report"},
                   120s);
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
  CHECK(check.out.find("linearizab") != std::string::npos);
  if (std::getenv("CONCLAVE_CHAOS_SHOW"))
    std::cout << check.out << std::endl;
}
