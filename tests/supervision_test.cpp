// Supervision under fault injection: real conclave-node processes whose
// actors are made to throw, exit or hang (conclave.fault-injection = on)
// while clients write; the supervisor must restart them, the cluster must
// recover, and no acknowledged write may be lost.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/io/middleman.hpp>

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
  REQUIRE(cluster.wait_for_leader(30s) >= 0);
  for (size_t i = 0; i < 3; ++i) {
    auto c = cluster.client(i);
    REQUIRE(c->sync("/w"));
    auto children = c->children("/w");
    REQUIRE(children);
    std::set<std::string> present(children.value.names.begin(),
                                  children.value.names.end());
    size_t missing = 0;
    for (const auto& name : acked)
      if (present.count(name) == 0)
        ++missing;
    INFO("node " << i + 1 << ": " << acked.size() << " acknowledged");
    CHECK(missing == 0);
  }
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
  flags.push_back("--conclave.supervisor-hang-timeout-ms=500");
  local_cluster cluster{3, flags};
  auto leader = cluster.wait_for_leader(30s);
  REQUIRE(leader >= 0);
  writer w{cluster};
  REQUIRE(w.advance(10, 30s));
  for (const auto& actor : {"election", "registry"}) {
    auto target = static_cast<size_t>((leader + 1) % 3);
    auto before = cluster.status(target);
    REQUIRE(before);
    INFO(actor);
    inject(cluster, target, actor, "block:3000");
    REQUIRE(
      wait_restarted(cluster, target, actor, restarts_of(*before, actor), 30s));
    auto after = cluster.status(target);
    REQUIRE(after);
    CHECK(last_reason_of(*after, actor).find("hung") != std::string::npos);
    CHECK(w.advance(10, 30s));
  }
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
  for (int i = 0; i < 3; ++i) {
    blocking_client c{sys, opts};
    // The third fault exceeds the budget: the node is gone before it
    // answers, or answers and then goes.
    c.inject_fault("election", "throw");
  }
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
  auto s = cluster.status(0);
  REQUIRE(s);
  CHECK(restarts_of(*s, "log") == 0);
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
