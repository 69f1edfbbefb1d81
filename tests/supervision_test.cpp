// Supervision under fault injection: real conclave-node processes whose
// actors are made to throw, exit or hang (conclave.fault-injection = on)
// while clients write; the supervisor must restart them, the cluster must
// recover, and no acknowledged write may be lost.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/type_ids.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/temp_dir.hpp"

using namespace conclave;
using namespace conclave::test;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

const std::vector<std::string> fault_flags{
  "--conclave.fault-injection=on",
  // Many restarts are on purpose here.
  "--conclave.supervisor-max-restarts=1000",
  "--conclave.supervisor-probe-interval-ms=100",
};

/// Writes /w/N one after another through a client of every node until
/// stopped, remembering each acknowledged write.
class writer {
public:
  explicit writer(local_cluster& cluster)
      : client_(cluster.client_all(10s)), thread_([this] { run(); }) {
    // nop
  }

  ~writer() { stop(); }

  void stop() {
    done_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  size_t acked() const { return acked_count_; }

  /// Waits until `n` more writes than now were acknowledged.
  bool advance(size_t n, std::chrono::milliseconds timeout) {
    auto target = acked_count_ + n;
    auto deadline = clock_type::now() + timeout;
    while (clock_type::now() < deadline)
      if (acked_count_ >= target)
        return true;
      else
        std::this_thread::yield();
    return false;
  }

  /// Starts measuring the longest pause between acknowledged writes.
  void reset_gap() {
    std::lock_guard<std::mutex> guard{mtx_};
    max_gap_ = std::chrono::milliseconds{0};
    last_ack_ = clock_type::now();
  }

  std::chrono::milliseconds max_gap() {
    std::lock_guard<std::mutex> guard{mtx_};
    return max_gap_;
  }

  std::set<std::string> acknowledged() {
    std::lock_guard<std::mutex> guard{mtx_};
    return acked_;
  }

  /// The writer's session when it started and when it stopped.
  int64_t first_session() const { return first_session_; }
  int64_t last_session() const { return last_session_; }

private:
  void run() {
    if (auto r = client_->connect())
      first_session_ = r.value;
    client_->create("/w", "");
    for (size_t i = 0; !done_; ++i) {
      auto name = "n" + std::to_string(i);
      auto r = client_->create("/w/" + name, name);
      // node_exists: an earlier try of ours made it (the answer was lost).
      if (r || r.error == error_code::node_exists) {
        std::lock_guard<std::mutex> guard{mtx_};
        acked_.insert(name);
        ++acked_count_;
        auto now = clock_type::now();
        max_gap_ = std::max(
          max_gap_, std::chrono::duration_cast<std::chrono::milliseconds>(
                      now - last_ack_));
        last_ack_ = now;
      } else {
        --i; // not acknowledged: try the same name again
      }
    }
    if (auto r = client_->connect())
      last_session_ = r.value;
  }

  std::unique_ptr<blocking_client> client_;
  std::atomic<bool> done_{false};
  std::atomic<size_t> acked_count_{0};
  std::mutex mtx_;
  std::set<std::string> acked_;
  clock_type::time_point last_ack_ = clock_type::now();
  std::chrono::milliseconds max_gap_{0};
  std::atomic<int64_t> first_session_{0};
  std::atomic<int64_t> last_session_{0};
  std::thread thread_;
};

uint64_t restarts_of(const pb::NodeStatus& s, const std::string& actor) {
  for (const auto& r : s.restarts())
    if (r.actor() == actor)
      return r.restarts();
  return 0;
}

std::string last_reason_of(const pb::NodeStatus& s, const std::string& actor) {
  for (const auto& r : s.restarts())
    if (r.actor() == actor)
      return r.last_reason();
  return {};
}

/// Waits until node i reports more than `before` restarts of `actor`.
bool wait_restarted(local_cluster& cluster, size_t i, const std::string& actor,
                    uint64_t before, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    if (auto s = cluster.status(i); s && restarts_of(*s, actor) > before)
      return true;
    std::this_thread::yield();
  }
  return false;
}

/// Injects `kind` into `actor` on node i through a client of that node.
void inject(local_cluster& cluster, size_t i, const std::string& actor,
            const std::string& kind) {
  auto c = cluster.client(i);
  auto r = c->inject_fault(actor, kind);
  INFO(r.message);
  // A fault in the session actor may take the answer down with it.
  REQUIRE((r || r.error == error_code::connection_loss));
}

/// Every acknowledged write of the writer is on every node.
void check_all_present(local_cluster& cluster,
                       const std::set<std::string>& acked) {
  REQUIRE(cluster.wait_for_leader(30s) >= 0);
  for (size_t i = 0; i < cluster.size(); ++i) {
    auto c = cluster.client(i);
    REQUIRE(c->sync("/w"));
    auto children = c->children("/w");
    REQUIRE(children);
    std::set<std::string> present(children.value.names.begin(),
                                  children.value.names.end());
    size_t missing = 0;
    for (const auto& name : acked)
      missing += present.count(name) == 0 ? 1 : 0;
    INFO("node " << i + 1 << ": " << acked.size() << " acknowledged");
    CHECK(missing == 0);
  }
}

} // namespace

TEST_CASE("supervision: every actor kind fails on the leader and on a "
          "follower under write load and nothing acknowledged is lost",
          "[supervision][cluster]") {
  local_cluster cluster{3, fault_flags};
  auto first_leader = cluster.wait_for_leader(30s);
  REQUIRE(first_leader >= 0);
  writer w{cluster};
  REQUIRE(w.advance(20, 30s));
  const std::vector<std::string> actors{
    "registry", "storage", "log", "election", "session", "zk", "admin"};
  for (const auto& where : {"leader", "follower"}) {
    for (const auto& actor : actors) {
      auto leader = cluster.wait_for_leader(30s);
      REQUIRE(leader >= 0);
      auto target = std::string{where} == "leader"
                      ? static_cast<size_t>(leader)
                      : static_cast<size_t>((leader + 1) % 3);
      auto before = cluster.status(target);
      REQUIRE(before);
      INFO(actor << " on the " << where << " (node " << target + 1 << ")");
      inject(cluster, target, actor, "throw");
      CHECK(wait_restarted(cluster, target, actor, restarts_of(*before, actor),
                           30s));
      // The cluster takes writes again.
      CHECK(w.advance(10, 30s));
    }
  }
  // The exit fault stops an actor the way a broken invariant would.
  auto leader = cluster.wait_for_leader(30s);
  REQUIRE(leader >= 0);
  auto before = cluster.status(leader);
  REQUIRE(before);
  inject(cluster, leader, "log", "exit");
  CHECK(
    wait_restarted(cluster, leader, "log", restarts_of(*before, "log"), 30s));
  REQUIRE(w.advance(10, 30s));
  w.stop();
  // Every acknowledged write is on every node, and the writer's session
  // survived every restart (its ephemeral-owning identity is unchanged).
  auto acked = w.acknowledged();
  CHECK(w.first_session() != 0);
  CHECK(w.last_session() == w.first_session());
  check_all_present(cluster, acked);
  // conclavectl status shows the restarts per actor.
  auto ctl = run({std::string{CONCLAVE_BIN_DIR} + "/conclavectl", "--server",
                  cluster.server(static_cast<size_t>(first_leader)), "status"});
  CHECK(ctl.exit_code == 0);
  CHECK(ctl.out.find("restarts=") != std::string::npos);
  CHECK(ctl.out.find("registry:") != std::string::npos);
}

TEST_CASE("supervision: an actor that stops answering is found hung and "
          "restarted",
          "[supervision][cluster]") {
  auto flags = fault_flags;
  flags.push_back("--conclave.supervisor-hang-timeout-ms=1000");
  local_cluster cluster{3, flags};
  REQUIRE(cluster.wait_for_leader(30s) >= 0);
  writer w{cluster};
  REQUIRE(w.advance(10, 30s));
  // Found hung after 1 s, told to stop, gone when it wakes at 1.5 s: within
  // the second 1 s the supervisor waits before it would give up. The
  // election actor may outlive its replacement: it sleeps for 3 s.
  const std::vector<std::pair<std::string, std::string>> faults{
    {"election", "block:3000"},
    {"registry", "block:1500"},
    {"log", "block:1500"},
    {"session", "block:1500"}};
  for (const auto& [actor, kind] : faults) {
    for (const auto& where : {"leader", "follower"}) {
      auto leader = cluster.wait_for_leader(30s);
      REQUIRE(leader >= 0);
      auto target = std::string{where} == "leader"
                      ? static_cast<size_t>(leader)
                      : static_cast<size_t>((leader + 1) % 3);
      auto before = cluster.status(target);
      REQUIRE(before);
      INFO(actor << " on the " << where);
      inject(cluster, target, actor, kind);
      REQUIRE(wait_restarted(cluster, target, actor,
                             restarts_of(*before, actor), 30s));
      auto after = cluster.status(target);
      REQUIRE(after);
      CHECK(last_reason_of(*after, actor).find("hung") != std::string::npos);
      CHECK(w.advance(10, 30s));
    }
  }
  w.stop();
  CHECK(w.first_session() != 0);
  CHECK(w.last_session() == w.first_session());
  auto acked = w.acknowledged();
  check_all_present(cluster, acked);
}

TEST_CASE("supervision: a node whose actors keep failing shuts down and "
          "says why",
          "[supervision]") {
  temp_dir dir;
  auto client_port = free_port();
  child_process node{{
    std::string{CONCLAVE_BIN_DIR} + "/conclave-node",
    "--config-file=" + std::string{CONCLAVE_SOURCE_DIR}
      + "/configs/single.conf",
    "--conclave.data-dir=" + dir.path,
    "--conclave.client-port=" + std::to_string(client_port),
    "--conclave.zk-port=" + std::to_string(free_port()),
    "--conclave.peer-port=" + std::to_string(free_port()),
    "--conclave.admin-port=0",
    "--conclave.fault-injection=on",
    "--conclave.supervisor-max-restarts=2",
  }};
  REQUIRE(node.wait_for_line("conclave-node ready", 30s));
  caf::actor_system_config cfg;
  announce_message_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  client_options opts;
  opts.servers = parse_server_list("127.0.0.1:" + std::to_string(client_port));
  opts.request_timeout = 5s;
  blocking_client c{sys, opts};
  auto election_restarts = [&]() -> std::optional<uint64_t> {
    auto s = c.status();
    if (!s)
      return std::nullopt;
    return restarts_of(s.value, "election");
  };
  for (uint64_t i = 0; i < 2; ++i) {
    REQUIRE(c.inject_fault("election", "throw"));
    // The next fault must reach the new election actor.
    auto deadline = clock_type::now() + 20s;
    while (clock_type::now() < deadline && election_restarts() != i + 1)
      std::this_thread::yield();
    REQUIRE(election_restarts() == i + 1);
  }
  // The third exceeds the budget: the node goes (answering first or not).
  c.inject_fault("election", "throw");
  auto code = node.stop(0, 20s);
  CHECK(code == 4);
  CHECK(node.err().find("restart budget") != std::string::npos);
  CHECK(node.err().find("election") != std::string::npos);
}

TEST_CASE("supervision: fault injection is refused unless the config turns "
          "it on",
          "[supervision][cluster]") {
  local_cluster cluster{1};
  REQUIRE(cluster.wait_for_leader(30s) == 0);
  auto c = cluster.client(0);
  auto r = c->inject_fault("log", "throw");
  CHECK(r.error == error_code::bad_arguments);
  CHECK(r.message.find("fault-injection") != std::string::npos);
  // Nor do the published actors take a raw fault, restart counts or a new
  // supervisor from the network, whatever the config says.
  auto& sys = cluster.system();
  auto port = cluster.server(0).substr(std::string{"127.0.0.1:"}.size());
  auto session = sys.middleman().remote_actor<session_actor>(
    "127.0.0.1", static_cast<uint16_t>(std::stoi(port)));
  REQUIRE(session);
  caf::anon_send(*session, fault_atom::value, std::string{"throw"});
  {
    caf::scoped_actor self{sys};
    self->send(*session, fault_atom::value, std::string{"exit"});
    self->send(*session, restarts_atom::value, pb::NodeStatus{});
  }
  // The session actor still serves, and nothing was restarted.
  REQUIRE(c->create("/still-here", ""));
  auto s = cluster.status(0);
  REQUIRE(s);
  CHECK(s->restarts_size() > 0); // the supervisor's counts, not ours
  for (const auto& entry : s->restarts())
    CHECK(entry.restarts() == 0);
}

TEST_CASE("supervision: a kazoo client of a node whose actors restart keeps "
          "its session and its ephemeral node and its watch",
          "[supervision][compat][cluster]") {
  const std::string python = "/usr/bin/python3";
  const std::string source_dir = CONCLAVE_SOURCE_DIR;
  for (const auto& actor : {"session", "registry"}) {
    INFO(actor);
    local_cluster cluster{3, fault_flags};
    REQUIRE(cluster.wait_for_leader(30s) >= 0);
    // The client connects to node 0 first: its actors are the ones to fail.
    child_process client{{python,
                          source_dir + "/tests/compat/failover_client.py",
                          "--hosts", cluster.zk_servers()}};
    REQUIRE(client.wait_for_line("READY", 60s));
    inject(cluster, 0, actor, "throw");
    auto resumed = client.wait_for_line("RESUMED", 60s);
    INFO(client.out() << client.err());
    REQUIRE(resumed);
    auto writer = cluster.client(1);
    REQUIRE(writer->set("/failover/data", "after").ok());
    CHECK(client.wait_for_line("WATCHED", 60s));
    CHECK(client.stop(0, 30s) == 0);
  }
}

// Not part of the suite (hidden tag): the figures in docs/operations.md.
//   build/bin/conclave-tests "[.restart-gap]"   (CONCLAVE_RESTART_TRIALS=N)
// For each actor, on the leader and on a follower: the longest pause
// between a single writer's acknowledged writes around a `throw` fault.
TEST_CASE("bench: write pause while an actor restarts", "[.restart-gap]") {
  int trials = 5;
  if (auto env = std::getenv("CONCLAVE_RESTART_TRIALS"))
    trials = std::max(1, std::atoi(env));
  local_cluster cluster{3,
                        {"--conclave.fault-injection=on",
                         "--conclave.supervisor-max-restarts=1000",
                         "--conclave.election-timeout-ms=1000",
                         "--conclave.heartbeat-interval-ms=100"}};
  REQUIRE(cluster.wait_for_leader(30s) >= 0);
  writer w{cluster};
  REQUIRE(w.advance(20, 30s));
  for (const auto& where : {"leader", "follower"}) {
    for (const auto& actor :
         {"registry", "storage", "log", "election", "session", "zk", "admin"}) {
      std::vector<int64_t> gaps;
      for (int t = 0; t < trials; ++t) {
        auto leader = cluster.wait_for_leader(30s);
        REQUIRE(leader >= 0);
        auto target = std::string{where} == "leader"
                        ? static_cast<size_t>(leader)
                        : static_cast<size_t>((leader + 1) % 3);
        auto before = cluster.status(target);
        REQUIRE(before);
        REQUIRE(w.advance(5, 30s));
        w.reset_gap();
        inject(cluster, target, actor, "throw");
        REQUIRE(wait_restarted(cluster, target, actor,
                               restarts_of(*before, actor), 30s));
        REQUIRE(w.advance(20, 30s));
        gaps.push_back(w.max_gap().count());
      }
      std::sort(gaps.begin(), gaps.end());
      std::cout << where << " " << actor << ": median " << gaps[gaps.size() / 2]
                << " ms, max " << gaps.back() << " ms over " << gaps.size()
                << " trials" << std::endl;
    }
  }
}
