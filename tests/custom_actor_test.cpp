// Custom actors from config files: the example node binary (extended-node)
// runs the health checker and the audit logger named in its config, under
// the node's supervisor; a node refuses a config naming an unknown type.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <caf/io/middleman.hpp>

#include "actors/custom_actor.hpp"
#include "messages/type_ids.hpp"
#include "runtime/blocking_client.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/file_bytes.hpp"
#include "tests/support/temp_dir.hpp"

using namespace conclave;
using namespace conclave::test;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

const std::string bin_dir = CONCLAVE_BIN_DIR;

/// A TCP socket listening on 127.0.0.1 (a healthy instance's endpoint).
struct listening_socket {
  int fd = -1;
  uint16_t port = 0;

  listening_socket() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }

  ~listening_socket() { ::close(fd); }
};

/// One node of the extended binary, from a config file written here.
struct extended_node {
  temp_dir dir;
  uint16_t client_port = free_port();
  std::unique_ptr<child_process> proc;

  explicit extended_node(const std::string& actors_group,
                         const std::string& more_conclave_keys = "") {
    std::ofstream conf{dir.path + "/node.conf"};
    conf << "conclave {\n"
            "  id = 1\n"
            "  data-dir = \""
         << dir.path
         << "/data\"\n"
            "  bind-address = \"127.0.0.1\"\n"
            "  fault-injection = \"on\"\n"
            "  supervisor-probe-interval-ms = 100\n"
         << more_conclave_keys << "}\n"
         << actors_group;
    conf.close();
    proc = std::make_unique<child_process>(std::vector<std::string>{
      bin_dir + "/extended-node", "--config-file=" + dir.path + "/node.conf",
      "--conclave.client-port=" + std::to_string(client_port),
      "--conclave.zk-port=" + std::to_string(free_port()),
      "--conclave.peer-port=" + std::to_string(free_port()),
      "--conclave.admin-port=0", "--conclave.election-timeout-ms=300",
      "--conclave.tick-ms=20", "--conclave.heartbeat-interval-ms=40"});
  }

  ~extended_node() {
    if (proc)
      proc->stop(SIGKILL, 10s);
  }

  std::string server() const {
    return "127.0.0.1:" + std::to_string(client_port);
  }
};

template <class Predicate>
bool eventually(std::chrono::milliseconds timeout, Predicate pred) {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::yield();
  }
  return false;
}

std::string health_of(blocking_client& c, const std::string& id) {
  auto found = c.discover("web");
  if (!found)
    return {};
  for (const auto& inst : found.value)
    if (inst.id() == id) {
      auto i = inst.metadata().find("health");
      return i == inst.metadata().end() ? std::string{} : i->second;
    }
  return {};
}

bool file_contains(const std::string& path, const std::string& needle) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str().find(needle) != std::string::npos;
}

/// The restart count the node reports for `actor` (nullopt: no answer, or
/// no such actor).
std::optional<uint64_t> restarts_of(blocking_client& c,
                                    const std::string& actor) {
  auto s = c.status();
  if (!s)
    return std::nullopt;
  for (const auto& r : s.value.restarts())
    if (r.actor() == actor)
      return r.restarts();
  return std::nullopt;
}

} // namespace

TEST_CASE("custom actors: the health checker and the audit logger run from "
          "a config file under supervision",
          "[custom][cluster]") {
  extended_node node{"actors {\n"
                     "  web-health {\n"
                     "    type = \"health-checker\"\n"
                     "    interval-ms = 200\n"
                     "    timeout-ms = 100\n"
                     "    services = [\"web\"]\n"
                     "    failures-before-critical = 1\n"
                     "  }\n"
                     "  audit {\n"
                     "    type = \"audit-logger\"\n"
                     "    path = \"/\"\n"
                     "    file = \"audit.log\"\n"
                     "  }\n"
                     "}\n"};
  REQUIRE(node.proc->wait_for_line("conclave-node ready", 30s));
  caf::actor_system_config cfg;
  announce_message_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  client_options opts;
  opts.servers = parse_server_list(node.server());
  blocking_client c{sys, opts};
  // One instance that answers, one whose port is closed.
  listening_socket up;
  auto closed_port = free_port();
  REQUIRE(
    c.register_service("web", "up", "127.0.0.1:" + std::to_string(up.port)));
  REQUIRE(c.register_service("web", "down",
                             "127.0.0.1:" + std::to_string(closed_port)));
  CHECK(eventually(20s, [&] { return health_of(c, "up") == "passing"; }));
  CHECK(eventually(20s, [&] { return health_of(c, "down") == "critical"; }));
  // Every change under / reaches the audit log, the checker's own too.
  auto audit_file = node.dir.path + "/data/audit.log";
  REQUIRE(c.create("/audited", "x"));
  CHECK(eventually(
    20s, [&] { return file_contains(audit_file, "created /audited"); }));
  CHECK(file_contains(audit_file, "changed /services/web/up"));
  // A custom actor that fails is restarted on its own and goes on.
  REQUIRE(c.inject_fault("audit", "throw"));
  CHECK(eventually(20s, [&] { return restarts_of(c, "audit") == 1u; }));
  CHECK(restarts_of(c, "web-health") == 0u);
  CHECK(restarts_of(c, "log") == 0u);
  // The new instance sees what changes once its watch is in place (a
  // persistent watch does not replay the past): keep changing things until
  // it logs one.
  int n = 0;
  CHECK(eventually(20s, [&] {
    c.create("/after-restart-" + std::to_string(n++), "x");
    return file_contains(audit_file, "created /after-restart-");
  }));
}

TEST_CASE("custom actors: a node refuses an unknown actor type or bad "
          "settings and names the key",
          "[custom]") {
  {
    extended_node node{
      "actors {\n  x {\n    type = \"no-such-type\"\n  }\n}\n"};
    auto code = node.proc->stop(0, 20s);
    CHECK(code == 2);
    CHECK(node.proc->err().find("actors.x.type: unknown actor type "
                                "'no-such-type'")
          != std::string::npos);
    CHECK(node.proc->err().find("health-checker") != std::string::npos);
  }
  {
    extended_node node{"actors {\n  h {\n    type = \"health-checker\"\n"
                       "    interval-ms = \"often\"\n  }\n}\n"};
    auto code = node.proc->stop(0, 20s);
    CHECK(code == 2);
    CHECK(node.proc->err().find("actors.h.interval-ms") != std::string::npos);
  }
  {
    // conclave-node itself knows no custom types.
    temp_dir dir;
    std::ofstream conf{dir.path + "/node.conf"};
    conf << "conclave { data-dir = \"" << dir.path
         << "/data\" }\nactors {\n  a {\n    type = \"audit-logger\"\n"
            "    file = \"x\"\n  }\n}\n";
    conf.close();
    auto r = run({bin_dir + "/conclave-node",
                  "--config-file=" + dir.path + "/node.conf",
                  "--conclave.client-port=" + std::to_string(free_port()),
                  "--conclave.zk-port=" + std::to_string(free_port()),
                  "--conclave.peer-port=" + std::to_string(free_port()),
                  "--conclave.admin-port=0"},
                 20s);
    CHECK(r.exit_code == 2);
    INFO(r.err);
    CHECK(r.err.find("this binary knows: none") != std::string::npos);
  }
}

TEST_CASE("custom actors: one that keeps failing is disabled and the node "
          "serves on",
          "[custom][cluster]") {
  extended_node node{"actors {\n"
                     "  audit {\n"
                     "    type = \"audit-logger\"\n"
                     "    file = \"audit.log\"\n"
                     "  }\n"
                     "}\n",
                     "  supervisor-max-restarts = 1\n"};
  REQUIRE(node.proc->wait_for_line("conclave-node ready", 30s));
  caf::actor_system_config cfg;
  announce_message_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  client_options opts;
  opts.servers = parse_server_list(node.server());
  blocking_client c{sys, opts};
  REQUIRE(c.inject_fault("audit", "throw"));
  REQUIRE(eventually(20s, [&] { return restarts_of(c, "audit") == 1u; }));
  // Over its budget: disabled, not restarted, and the node lives on.
  REQUIRE(c.inject_fault("audit", "exit"));
  auto disabled = [&] {
    auto s = c.status();
    if (!s)
      return false;
    for (const auto& r : s.value.restarts())
      if (r.actor() == "audit")
        return r.last_reason().rfind("disabled", 0) == 0;
    return false;
  };
  REQUIRE(eventually(20s, disabled));
  CHECK(restarts_of(c, "audit") == 1u);
  CHECK(c.create("/still-serving", "x"));
  CHECK(node.proc->stop(0, std::chrono::milliseconds(200)) < 0); // running
  // It is gone for good: a fault finds nothing to fail.
  CHECK(c.inject_fault("audit", "throw").error == error_code::bad_arguments);
}
