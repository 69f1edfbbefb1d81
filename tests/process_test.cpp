// Multi-process tests: the real conclave-node binary, driven by the real
// conclavectl binary and the hello_registry example, on loopback, on free
// ports, always stopped at the end.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>

#include "tests/support/child_process.hpp"
#include "tests/support/tcp.hpp"

using namespace conclave::test;
using namespace std::chrono_literals;

namespace {

const std::string bin_dir = CONCLAVE_BIN_DIR;
const std::string source_dir = CONCLAVE_SOURCE_DIR;

/// One conclave-node on a free port with its own data directory.
struct running_node {
  temp_dir dir;
  std::unique_ptr<child_process> proc;
  std::string server;
  uint16_t admin_port = 0;

  explicit running_node(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{
      bin_dir + "/conclave-node",
      "--config-file=" + source_dir + "/configs/single.conf",
      "--conclave.client-port=0",
      "--conclave.zk-port=0",
      "--conclave.admin-port=0",
      // A cluster of one that no peer dials: tests may run in parallel.
      "--conclave.peer-port=0",
      "--conclave.peers=[]",
      "--conclave.data-dir=" + dir.path,
    };
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<child_process>(argv);
    auto line = proc->wait_for_line("conclave-node ready", 30s);
    INFO("node stderr: " << proc->err());
    REQUIRE(line);
    auto pos = line->find("client-port=");
    REQUIRE(pos != std::string::npos);
    server = "127.0.0.1:" + std::to_string(std::stoi(line->substr(pos + 12)));
    if (auto admin = line->find("admin-port="); admin != std::string::npos)
      admin_port = static_cast<uint16_t>(std::stoi(line->substr(admin + 11)));
  }

  run_result ctl(std::vector<std::string> args) const {
    std::vector<std::string> argv{bin_dir + "/conclavectl", "--server", server};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }
};

run_result node_with(std::vector<std::string> args) {
  std::vector<std::string> argv{bin_dir + "/conclave-node"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

std::string write_file(const temp_dir& dir, const std::string& name,
                       const std::string& text) {
  auto path = dir.path + "/" + name;
  std::ofstream{path} << text;
  return path;
}

} // namespace

TEST_CASE("process: conclavectl creates, reads, lists, updates and deletes",
          "[process]") {
  running_node node;
  auto r = node.ctl({"create", "/app", "hello"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "Created /app\n");
  r = node.ctl({"get", "/app"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "hello\n");
  r = node.ctl({"set", "/app", "world", "-v", "0"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Set /app (version 1)\n");
  r = node.ctl({"get", "/app"});
  CHECK(r.out == "world\n");
  r = node.ctl({"create", "/app/child", ""});
  CHECK(r.exit_code == 0);
  r = node.ctl({"create", "-s", "/app/seq-", "x"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Created /app/seq-0000000001\n");
  r = node.ctl({"ls", "/app"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "child\nseq-0000000001\n");
  r = node.ctl({"ls", "/"});
  CHECK(r.out == "app\nzookeeper\n");
  r = node.ctl({"tree", "/app"});
  CHECK(r.out == "/app\n  child\n  seq-0000000001\n");
  r = node.ctl({"stat", "/app"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("dataVersion = 1")
                      && Catch::Contains("numChildren = 2"));
  r = node.ctl({"--json", "stat", "/app"});
  CHECK_THAT(r.out, Catch::Contains("\"ok\":true")
                      && Catch::Contains("\"version\":1")
                      && Catch::Contains("\"numChildren\":2"));
  r = node.ctl({"delete", "/app/child"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "Deleted /app/child\n");
  r = node.ctl({"delete", "/app/seq-0000000001"});
  CHECK(r.exit_code == 0);
  r = node.ctl({"delete", "/app", "-v", "1"});
  CHECK(r.exit_code == 0);
  r = node.ctl({"get", "/app"});
  CHECK(r.exit_code == 1);
}

TEST_CASE("process: conclavectl reports ZooKeeper's errors with exit code 1",
          "[process]") {
  running_node node;
  REQUIRE(node.ctl({"create", "/p", "v"}).exit_code == 0);
  REQUIRE(node.ctl({"create", "/p/c", ""}).exit_code == 0);
  struct error_case {
    std::vector<std::string> args;
    std::string name;
  };
  std::vector<error_case> cases = {
    {{"set", "/p", "x", "-v", "7"}, "BadVersion"},
    {{"delete", "/p", "-v", "3"}, "BadVersion"},
    {{"get", "/missing"}, "NoNode"},
    {{"delete", "/missing"}, "NoNode"},
    {{"create", "/missing/child", ""}, "NoNode"},
    {{"create", "/p", ""}, "NodeExists"},
    {{"delete", "/p"}, "NotEmpty"},
    {{"get", "/a//b"}, "BadArguments"},
    {{"create", "/trailing/", ""}, "BadArguments"},
    {{"ls", "relative"}, "BadArguments"},
  };
  for (const auto& c : cases) {
    auto r = node.ctl(c.args);
    INFO(c.args[0] << " " << c.args[1]);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains(c.name));
  }
  auto r = node.ctl({"--json", "get", "/missing"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.out, Catch::Contains("\"error\":\"no_node\"")
                      && Catch::Contains("\"code\":-101"));
}

TEST_CASE("process: conclavectl usage and connection errors exit with 2",
          "[process]") {
  auto ctl = bin_dir + "/conclavectl";
  CHECK(run({ctl, "frobnicate"}).exit_code == 2);
  CHECK(run({ctl}).exit_code == 2);
  CHECK(run({ctl, "--server", "nonsense", "ls", "/"}).exit_code == 2);
  CHECK(run({ctl, "--server", "127.0.0.1:1", "get"}).exit_code == 2);
  auto port = std::to_string(free_port());
  auto r = run(
    {ctl, "--timeout", "3000", "--server", "127.0.0.1:" + port, "ls", "/"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("127.0.0.1:" + port));
  CHECK(run({ctl, "--help"}).exit_code == 0);
}

TEST_CASE("process: several servers are tried in turn", "[process]") {
  running_node node;
  auto dead = "127.0.0.1:" + std::to_string(free_port());
  auto r = run({bin_dir + "/conclavectl", "--server", dead + "," + node.server,
                "ls", "/"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("zookeeper"));
}

TEST_CASE("process: status reports the node", "[process]") {
  running_node node;
  REQUIRE(node.ctl({"create", "/s", ""}).exit_code == 0);
  auto r = node.ctl({"--json", "status"});
  CHECK(r.exit_code == 0);
  // Five entries: the leader's no-op; the first conclavectl's session open,
  // create and close; the open of the status call's own session (opening
  // and closing sessions are logged commands, as in ZooKeeper), which is
  // the one session open.
  CHECK_THAT(
    r.out,
    Catch::Contains("\"id\":1") && Catch::Contains("\"role\":\"leader\"")
      && Catch::Contains("\"leader\":1") && Catch::Contains("\"commit\":5")
      && Catch::Contains("\"applied\":5") && Catch::Contains("\"sessions\":1"));
  // At least two leadership changes (follower at start, then leader, maybe
  // a candidate between); durable writes happened, so their recent latency
  // is known.
  auto changes = r.out.find("\"leader_changes\":");
  REQUIRE(changes != std::string::npos);
  CHECK(std::stoi(r.out.substr(changes + 17)) >= 2);
  CHECK_THAT(r.out, Catch::Contains("\"persist_ms\":"));
  r = node.ctl({"status"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("role=leader"));
}

TEST_CASE("process: ephemeral registrations live as long as their session",
          "[process]") {
  running_node node;
  auto r = run({bin_dir + "/hello_registry", node.server});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("registered /services/hello/")
                      && Catch::Contains("instances of hello:")
                      && Catch::Contains("127.0.0.1:8080"));
  // The example has exited: its session closed and its instance is gone.
  auto ls = node.ctl({"ls", "/services/hello"});
  CHECK(ls.exit_code == 0);
  CHECK(ls.out.empty());
}

TEST_CASE("process: conclavectl watch prints changes as they happen",
          "[process]") {
  running_node node;
  REQUIRE(node.ctl({"create", "/w", ""}).exit_code == 0);
  child_process watch{{bin_dir + "/conclavectl", "--server", node.server,
                       "watch", "/w", "-r", "-n", "3"}};
  REQUIRE(watch.wait_for_line("watching /w and below", 30s));
  REQUIRE(node.ctl({"create", "/w/a", "1"}).exit_code == 0);
  REQUIRE(node.ctl({"set", "/w/a", "2"}).exit_code == 0);
  REQUIRE(node.ctl({"delete", "/w/a"}).exit_code == 0);
  REQUIRE(watch.wait_for_line("NodeDeleted /w/a", 30s));
  CHECK(watch.stop(SIGTERM, 10s) == 0);
  // In order, each once.
  auto created = watch.out().find("NodeCreated /w/a");
  auto changed = watch.out().find("NodeDataChanged /w/a");
  auto deleted = watch.out().find("NodeDeleted /w/a");
  CHECK(created < changed);
  CHECK(changed < deleted);
  CHECK(deleted != std::string::npos);
  CHECK(watch.out().find("NodeCreated /w/a", created + 1) == std::string::npos);
}

TEST_CASE("process: conclavectl services lists services and live instances",
          "[process]") {
  running_node node;
  auto empty = node.ctl({"services"});
  CHECK(empty.exit_code == 0);
  CHECK(empty.out.empty());
  // hello_registry registers and exits (closing its session): nothing stays.
  REQUIRE(run({bin_dir + "/hello_registry", node.server}).exit_code == 0);
  auto after = node.ctl({"services"});
  CHECK(after.exit_code == 0);
  CHECK_THAT(after.out, Catch::Contains("hello (0 instances)"));
  // A live instance, registered by a process that stays.
  child_process instance{{bin_dir + "/service_subscriber",
                          "--servers=" + node.server, "--service=api",
                          "--instance=i1"}};
  REQUIRE(instance.wait_for_line("registered /services/api/i1", 30s));
  auto listed = node.ctl({"services", "api"});
  CHECK(listed.exit_code == 0);
  CHECK_THAT(listed.out, Catch::Contains("api (1 instance)")
                           && Catch::Contains("  i1  127.0.0.1:"));
  auto json = node.ctl({"--json", "services"});
  CHECK_THAT(json.out, Catch::Contains("{\"name\":\"api\",\"instances\":[{"
                                       "\"id\":\"i1\""));
  CHECK(instance.stop(SIGTERM, 10s) == 0);
}

TEST_CASE("process: SIGTERM and SIGINT shut the node down cleanly",
          "[process]") {
  for (int sig : {SIGTERM, SIGINT}) {
    running_node node;
    CHECK(node.proc->stop(sig, 20s) == 0);
    CHECK_THAT(node.proc->err(), Catch::Contains("shutting down"));
  }
}

TEST_CASE("process: bad configs stop start-up with exit code 2",
          "[process][config]") {
  temp_dir dir;
  auto data = "--conclave.data-dir=" + dir.path + "/data";
  SECTION("missing file") {
    auto r = node_with({"--config-file=" + dir.path + "/nope.conf"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("nope.conf"));
  }
  SECTION("unknown key") {
    auto file = write_file(dir, "a.conf", "conclave {\n  colour = 3\n}\n");
    auto r = node_with({"--config-file=" + file, data});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err,
               Catch::Contains("a.conf") && Catch::Contains("conclave.colour"));
  }
  SECTION("wrong type") {
    auto file
      = write_file(dir, "b.conf", "conclave {\n  client-port = \"abc\"\n}\n");
    auto r = node_with({"--config-file=" + file, data});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("b.conf")
                        && Catch::Contains("conclave.client-port"));
  }
  SECTION("syntax error") {
    auto file = write_file(dir, "c.conf", "conclave {\n  id = = 1\n");
    auto r = node_with({"--config-file=" + file, data});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("c.conf"));
  }
  SECTION("taken port") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    auto port = std::to_string(ntohs(addr.sin_port));
    auto r = node_with({"--config-file=" + source_dir + "/configs/single.conf",
                        data, "--conclave.peer-port=0", "--conclave.peers=[]",
                        "--conclave.client-port=" + port});
    ::close(fd);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("single.conf")
                        && Catch::Contains("conclave.client-port"));
  }
  SECTION("unwritable data directory") {
    auto file = write_file(dir, "plain-file", "x");
    auto r = node_with({"--conclave.data-dir=" + file + "/sub"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("conclave.data-dir"));
  }
  SECTION("unknown flag") {
    auto r = node_with({"--colour=blue"});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--colour"));
  }
}

TEST_CASE("process: the admin port serves metrics and status", "[process]") {
  running_node node;
  REQUIRE(node.admin_port != 0);
  REQUIRE(node.ctl({"create", "/app", "hello"}).exit_code == 0);
  REQUIRE(node.ctl({"get", "/app"}).exit_code == 0);
  auto get = [&](const std::string& head) {
    auto [out, closed] = converse(node.admin_port, head);
    CHECK(closed); // one request per connection
    return out;
  };
  auto metrics = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  INFO(metrics);
  CHECK(metrics.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK_THAT(metrics,
             Catch::Contains("Content-Type: text/plain; version=0.0.4"));
  CHECK_THAT(metrics, Catch::Contains("\nconclave_raft_is_leader 1\n"));
  // "/", "/zookeeper", its two children and "/app".
  CHECK_THAT(metrics, Catch::Contains("\nconclave_znodes 5\n"));
  // Latency of the create and the get, durable writes, restarts (none).
  CHECK_THAT(metrics,
             Catch::Contains("\nconclave_request_duration_seconds_count{op="
                             "\"create\"} 1\n"));
  CHECK_THAT(metrics, Catch::Contains("conclave_request_duration_seconds_"
                                      "bucket{op=\"getData\""));
  CHECK_THAT(metrics, Catch::Contains("\nconclave_persist_seconds_count "));
  CHECK_THAT(metrics, Catch::Contains("\nconclave_actor_restarts_total{actor="
                                      "\"log\"} 0\n"));
  auto status = get("GET /status HTTP/1.0\r\n\r\n");
  INFO(status);
  CHECK(status.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK_THAT(status, Catch::Contains("application/json"));
  CHECK_THAT(status, Catch::Contains("\"role\":\"leader\""));
  CHECK(get("GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0) == 0);
  CHECK(get("POST /metrics HTTP/1.1\r\nContent-Length: 1\r\n\r\nx")
          .rfind("HTTP/1.1 405", 0)
        == 0);
  CHECK(get("hello\r\n\r\n").rfind("HTTP/1.1 400", 0) == 0);
  CHECK(get(std::string(9000, 'a')).rfind("HTTP/1.1 431", 0) == 0);
  // The node goes on serving.
  CHECK(node.ctl({"get", "/app"}).exit_code == 0);
}

TEST_CASE("process: admin-server off opens no admin port", "[process]") {
  running_node node{{"--conclave.admin-server=off"}};
  CHECK(node.admin_port == 0);
  CHECK(node.ctl({"create", "/x", "y"}).exit_code == 0);
}
