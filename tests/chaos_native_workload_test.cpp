// conclave-chaos-native end to end: both workloads (registers and watches)
// append to one history on a three-node cluster while its leader is killed
// with SIGKILL and restarted; on SIGTERM each finishes, prints its summary
// and exits 0, and conclave-check must pass the history.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/file_wait.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/temp_dir.hpp"

using namespace conclave;
using namespace conclave::test;
using namespace std::chrono_literals;

namespace {

const std::string native_bin
  = std::string{CONCLAVE_BIN_DIR} + "/conclave-chaos-native";

long count_lines(const std::string& path) {
  std::ifstream in{path};
  return std::count(std::istreambuf_iterator<char>{in},
                    std::istreambuf_iterator<char>{}, '\n');
}

/// Waits until `path` has `more` lines more than now (at most a minute).
bool wait_lines(const std::string& path, long more) {
  auto target = count_lines(path) + more;
  auto dir = std::filesystem::path{path}.parent_path().string();
  return wait_in_dir(dir, 60s, [&] { return count_lines(path) >= target; });
}

} // namespace

TEST_CASE("chaos: conclave-chaos-native refuses bad command lines", "[chaos]") {
  temp_dir dir;
  auto history = dir.path + "/history.jsonl";
  CHECK(run({native_bin}).exit_code == 2);
  CHECK(run({native_bin, "--servers", "127.0.0.1:1", "--history", history,
             "--workload", "queues", "--seed", "1", "--process-base", "0"})
          .exit_code
        == 2);
  CHECK(run({native_bin, "--servers", "nonsense", "--history", history,
             "--workload", "registers", "--seed", "1", "--process-base", "0"})
          .exit_code
        == 2);
  CHECK(run({native_bin, "--servers", "127.0.0.1:1", "--history", history,
             "--workload", "watches", "--seed", "1"})
          .exit_code
        == 2); // --process-base missing
  CHECK(run({native_bin, "--help"}).exit_code == 0);
}

TEST_CASE("chaos: conclave-chaos-native's workloads through a leader crash "
          "pass conclave-check",
          "[chaos][cluster]") {
  temp_dir dir;
  auto history = dir.path + "/history.jsonl";
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(30s) >= 0);
  auto start = [&](const std::string& workload, const std::string& base) {
    return std::make_unique<child_process>(std::vector<std::string>{
      native_bin, "--servers", cluster.servers(), "--history", history,
      "--workload", workload, "--seed", "7", "--process-base", base,
      "--clients", "2", "--keys", "3", "--final-timeout-s", "30"});
  };
  auto registers = start("registers", "1000000");
  auto watches = start("watches", "2000000");
  CHECK(wait_lines(history, 1500));
  auto leader = cluster.wait_for_leader(30s);
  REQUIRE(leader >= 0);
  cluster.stop(static_cast<size_t>(leader), SIGKILL);
  CHECK(wait_lines(history, 1500));
  cluster.start(static_cast<size_t>(leader));
  CHECK(wait_lines(history, 1500));
  // Both finish in-flight operations and their final phase, then exit 0.
  CHECK(registers->stop(SIGTERM, 90s) == 0);
  CHECK(watches->stop(SIGTERM, 90s) == 0);
  INFO(registers->out() << registers->err() << watches->out()
                        << watches->err());
  CHECK(registers->out().find("{\"workload\":\"registers\",\"ops\":")
        != std::string::npos);
  CHECK(watches->out().find("{\"workload\":\"watches\",\"ops\":")
        != std::string::npos);
  auto check
    = run({std::string{CONCLAVE_BIN_DIR} + "/conclave-check", history}, 120s);
  INFO(check.out << check.err);
  CHECK(check.exit_code == 0);
  CHECK(check.out.find("linearizability: ") != std::string::npos);
  CHECK(check.out.find("watches: ok") != std::string::npos);
}
