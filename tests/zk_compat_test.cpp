// ZooKeeper wire compatibility with clients nobody here wrote: Debian's
// python3-kazoo (tests/compat/kazoo_compat.py), a raw-socket client for the
// opcodes kazoo does not send (tests/compat/raw_compat.py) — both also pass
// against Apache ZooKeeper from Debian's zookeeper package, so they test
// ZooKeeper's behaviour, not ours — zkCli.sh and the C client's cli_mt;
// plus what a broken or hostile client can do to the ZooKeeper port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/tcp.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/temp_dir.hpp"

using namespace conclave;
using namespace conclave::test;
using namespace std::chrono_literals;

namespace {

const std::string source_dir = CONCLAVE_SOURCE_DIR;
const std::string python = "/usr/bin/python3";
const std::string zookeeper_bin = "/usr/share/zookeeper/bin";

uint16_t port_of(const std::string& host_port) {
  return static_cast<uint16_t>(
    std::stoi(host_port.substr(host_port.rfind(':') + 1)));
}

std::string run_suite(const std::string& hosts, run_result& r) {
  r = run({python, source_dir + "/tests/compat/kazoo_compat.py", "--hosts",
           hosts, "--four-letter"},
          180s);
  return r.out + r.err;
}

} // namespace

TEST_CASE("compat: the kazoo suite passes against a three-node cluster",
          "[compat][cluster]") {
  // Containers and TTL nodes are reaped within a second, as the ZooKeeper
  // below is told to (the suite polls for it).
  local_cluster cluster{3,
                        {"--conclave.four-letter-words=*",
                         "--conclave.container-check-interval-ms=1000"}};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  run_result r;
  auto out = run_suite(cluster.zk_servers(), r);
  INFO(out);
  CHECK(r.exit_code == 0);
  CHECK_THAT(out, Catch::Contains("OK"));
  // The opcodes kazoo does not send, spoken raw.
  auto raw = run({python, source_dir + "/tests/compat/raw_compat.py", "--host",
                  cluster.zk_server(1), "--conclave"},
                 120s);
  INFO(raw.out << raw.err);
  CHECK(raw.exit_code == 0);
}

TEST_CASE("compat: the kazoo suite passes against Apache ZooKeeper",
          "[compat]") {
  temp_dir dir;
  auto port = free_port();
  auto cfg = dir.path + "/zoo.cfg";
  std::ofstream{cfg} << "tickTime=2000\ndataDir=" << dir.path
                     << "/data\nclientPort=" << port
                     << "\nclientPortAddress=127.0.0.1\n"
                        "4lw.commands.whitelist=*\nadmin.enableServer=false\n";
  // TTL nodes need extended types; containers and TTL nodes are reaped
  // every second instead of every minute.
  child_process zk{{"/usr/bin/env", "ZOO_LOG_DIR=" + dir.path,
                    "SERVER_JVMFLAGS=-Dzookeeper.extendedTypesEnabled=true "
                    "-Dznode.container.checkIntervalMs=1000",
                    zookeeper_bin + "/zkServer.sh", "start-foreground", cfg}};
  // Ready once it answers "ruok".
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (converse(port, "ruok").first != "imok") {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::yield();
  }
  run_result r;
  auto out = run_suite("127.0.0.1:" + std::to_string(port), r);
  INFO(out);
  CHECK(r.exit_code == 0);
  auto raw = run({python, source_dir + "/tests/compat/raw_compat.py", "--host",
                  "127.0.0.1:" + std::to_string(port)},
                 120s);
  INFO(raw.out << raw.err);
  CHECK(raw.exit_code == 0);
  zk.stop(SIGTERM, 30s);
}

TEST_CASE("compat: a scripted zkCli.sh session against a three-node cluster",
          "[compat][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto script = "create /cli hello\n"
                "get /cli\n"
                "set /cli world\n"
                "get /cli\n"
                "create /cli/child x\n"
                "ls /cli\n"
                "stat /cli\n"
                "delete /cli/child\n"
                "delete /cli\n"
                "create /secure s\n"
                "addauth digest bob:pw\n"
                "setAcl /secure auth:bob:pw:cdrwa\n"
                "getAcl /secure\n"
                "ls /\n"
                "quit\n";
  auto r = run({"/bin/bash", "-c",
                "printf '" + std::string{script} + "' | " + zookeeper_bin
                  + "/zkCli.sh -server " + cluster.zk_servers()},
               120s);
  // zkCli prints results to stdout and "Created ..." to stderr.
  auto out = r.out + r.err;
  INFO(out);
  CHECK_THAT(out, Catch::Contains("Created /cli"));
  CHECK_THAT(out, Catch::Contains("hello"));
  CHECK_THAT(out, Catch::Contains("world"));
  CHECK_THAT(out, Catch::Contains("[child]"));
  CHECK_THAT(out, Catch::Contains("numChildren = 1"));
  CHECK_THAT(out, Catch::Contains("[secure, zookeeper]"));
  // getAcl shows the digest the auth scheme expanded to.
  CHECK_THAT(out, Catch::Contains("'digest,'" + digest_of("bob:pw")));
  CHECK_THAT(out, Catch::Contains(": cdrwa"));
  // What it did is what the native client sees.
  auto c = cluster.client_all();
  CHECK(c->exists("/cli").error == error_code::no_node);
  CHECK(c->get("/secure").error == error_code::no_auth);
  REQUIRE(c->add_auth("digest", "bob:pw").ok());
  CHECK(c->get("/secure").ok());
}

TEST_CASE("compat: malformed frames close that connection only",
          "[compat][process]") {
  local_cluster cluster{1,
                        {"--conclave.four-letter-words=ruok",
                         "--conclave.zk-max-connections-per-address=3"}};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto port = port_of(cluster.zk_server(0));
  // A negative length, a length beyond max-request-bytes, garbage after a
  // valid length: each connection is closed without an answer.
  for (auto bytes :
       {std::string{"\xff\xff\xff\xfe", 4}, std::string{"\x7f\x00\x00\x00", 4},
        std::string{"\x00\x00\x00\x05hello", 9}}) {
    auto [out, closed] = converse(port, bytes);
    CHECK(closed);
    CHECK(out.empty());
  }
  // A known four-letter word that is not whitelisted gets ZooKeeper's
  // refusal; a whitelisted one its answer.
  CHECK(converse(port, "mntr").first
        == "mntr is not executed because it is not in the whitelist.\n");
  CHECK(converse(port, "ruok").first == "imok");
  // The node still serves everyone else.
  auto c = cluster.client(0);
  CHECK(c->create("/still-here", "").ok());
  // zk-max-connections-per-address: a fourth connection from 127.0.0.1 is
  // closed at once; the three before it stay open.
  std::vector<int> open;
  for (int i = 0; i < 3; ++i)
    open.push_back(dial(port));
  auto [out, closed] = converse(port, "");
  CHECK(closed);
  CHECK(out.empty());
  for (auto fd : open)
    ::close(fd);
}

TEST_CASE("compat: a kazoo client whose server dies keeps its session and its "
          "ephemeral node and its watch on another node",
          "[compat][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  // Node 0 first: the client connects there.
  child_process client{{python, source_dir + "/tests/compat/failover_client.py",
                        "--hosts", cluster.zk_servers()}};
  REQUIRE(client.wait_for_line("READY", 60s));
  cluster.stop(0, SIGKILL);
  auto resumed = client.wait_for_line("RESUMED", 60s);
  INFO(client.out() << client.err());
  REQUIRE(resumed);
  auto writer = cluster.client(1);
  REQUIRE(writer->set("/failover/data", "after").ok());
  CHECK(client.wait_for_line("WATCHED", 60s));
  // It closes its session and exits 0 by itself (signal 0: just wait).
  CHECK(client.stop(0, 30s) == 0);
}

TEST_CASE("compat: the ZooKeeper C client (cli_mt) against a three-node "
          "cluster",
          "[compat][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto cli = [&](const std::string& cmd) {
    auto r = run(
      {"/usr/lib/zookeeper/bin/cli_mt", cluster.zk_servers(), "cmd:" + cmd},
      60s);
    return r.out + r.err;
  };
  auto created = cli("create /from-c");
  INFO(created);
  CHECK_THAT(created, Catch::Contains("rc = 0") && Catch::Contains("/from-c"));
  auto got = cli("get /from-c");
  INFO(got);
  CHECK_THAT(got, Catch::Contains("version=0"));
  auto removed = cli("delete /from-c");
  INFO(removed);
  CHECK_THAT(removed, Catch::Contains("rc = 0"));
  // (get, not exists: cli_mt's batch mode never exits after an exists that
  // finds nothing, against ZooKeeper too; it would cost the whole timeout.)
  auto gone = cli("get /from-c");
  INFO(gone);
  CHECK_THAT(gone, Catch::Contains("-101"));
  // The native client agrees.
  auto c = cluster.client_all();
  CHECK(c->exists("/from-c").error == error_code::no_node);
}

TEST_CASE("compat: a connection that never sends its handshake is closed",
          "[compat][process]") {
  // request-timeout-ms bounds how long an idle, unconnected socket may
  // hold a slot (converse() itself gives up only after 10 s).
  local_cluster cluster{1, {"--conclave.request-timeout-ms=1000"}};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto [out, closed] = converse(port_of(cluster.zk_server(0)), "");
  CHECK(closed);
  CHECK(out.empty());
}
