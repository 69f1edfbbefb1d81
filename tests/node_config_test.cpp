// Tests for runtime/node_config: parsing, validation, command line, data dir.

#include "runtime/node_config.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/settings.hpp>
#include <catch2/catch.hpp>

#ifndef CONCLAVE_SOURCE_DIR
#  error "CONCLAVE_SOURCE_DIR must be defined as the repository root"
#endif

using namespace conclave;
using Catch::Matchers::Contains;

namespace {

constexpr const char* test_file = "test.conf";

node_config expect_ok(std::string_view text,
                      const std::vector<std::string>& overrides = {}) {
  auto result = parse_node_config(text, test_file, overrides);
  if (auto err = std::get_if<config_error>(&result))
    FAIL("unexpected error: " << err->to_string());
  return std::get<node_config>(result);
}

config_error expect_error(std::string_view text,
                          const std::vector<std::string>& overrides = {}) {
  auto result = parse_node_config(text, test_file, overrides);
  if (!std::holds_alternative<config_error>(result))
    FAIL("expected an error for:\n" << text);
  auto err = std::get<config_error>(result);
  INFO(err.to_string());
  CHECK(!err.message.empty());
  return err;
}

// Checks file and key of `err`, and that its rendering contains both and
// every fragment in `parts`.
void check_error(const config_error& err, const std::string& file,
                 const std::string& key,
                 const std::vector<std::string>& parts = {}) {
  auto str = err.to_string();
  INFO(str);
  CHECK(err.file == file);
  CHECK(err.key == key);
  CHECK_THAT(str, Contains(file + ":"));
  if (!key.empty())
    CHECK_THAT(str, Contains(": " + key + ": "));
  for (auto& part : parts)
    CHECK_THAT(str, Contains(part));
}

// Wraps `body` in a `conclave { }` group.
std::string in_group(const std::string& body) {
  return "conclave {\n" + body + "\n}\n";
}

std::string read_repo_file(const std::string& rel) {
  std::ifstream in{std::string{CONCLAVE_SOURCE_DIR} + "/" + rel};
  REQUIRE(in.good());
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::variant<node_config, config_error>
load(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"conclave-node"};
  for (auto& arg : args)
    argv.push_back(arg.c_str());
  return load_node_config(static_cast<int>(argv.size()), argv.data());
}

// A fresh directory under the system temp dir, removed on destruction.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path()
           / ("conclave-node-config-test-" + std::to_string(::getpid()) + "-"
              + std::to_string(++counter));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& content) {
    auto file = (path / name).string();
    std::ofstream out{file};
    out << content;
    return file;
  }
};

} // namespace

TEST_CASE("node_config: defaults", "[config]") {
  auto cfg = expect_ok("");
  CHECK(cfg.id == node_id{1});
  CHECK(cfg.data_dir == "data");
  CHECK(cfg.bind_address == "0.0.0.0");
  CHECK(cfg.client_port == 4181);
  CHECK(cfg.zk_port == 2181);
  CHECK(cfg.peer_port == 4281);
  CHECK(cfg.peers.empty());
  CHECK(cfg.log_level == log_level::info);
  CHECK(cfg.log_file_max_bytes == 10u * 1024 * 1024);
  CHECK(cfg.log_file_count == 5u);
  CHECK(cfg.max_data_bytes == 1024u * 1024);
  CHECK(cfg.max_path_bytes == 4096u);
  CHECK(cfg.max_request_bytes == 1024u * 1024 + 64 * 1024);
  CHECK(cfg.max_multi_ops == 1000u);
  CHECK(cfg.max_pending_requests == 10000u);
  CHECK(cfg.max_connections == 10000u);
  CHECK(cfg.scheduler_policy.empty());
  CHECK(cfg.scheduler_max_threads == 0u);
  CHECK(cfg.middleman_workers == -1);
  CHECK(cfg.source_file == test_file);
  // An empty group and a comment-only file are fine as well.
  CHECK(expect_ok("conclave { }\n# nothing\n; nothing\n").id == node_id{1});
  // No arguments at all: defaults, no source file.
  auto loaded = load({});
  REQUIRE(std::holds_alternative<node_config>(loaded));
  auto& dflt = std::get<node_config>(loaded);
  CHECK(dflt.source_file.empty());
  CHECK(dflt.client_port == 4181);
  CHECK(to_string(log_level::trace) == "trace");
  CHECK(to_string(log_level::warning) == "warning");
  CHECK(parse_log_level("error") == log_level::error);
  CHECK(!parse_log_level("verbose"));
}

TEST_CASE("node_config: shipped config files parse", "[config]") {
  auto local_peers = std::vector<peer_address>{{node_id{1}, "127.0.0.1", 4281},
                                               {node_id{2}, "127.0.0.1", 4282},
                                               {node_id{3}, "127.0.0.1", 4283}};
  SECTION("single.conf") {
    auto file = std::string{CONCLAVE_SOURCE_DIR} + "/configs/single.conf";
    auto result = load({"--config-file=" + file});
    if (auto err = std::get_if<config_error>(&result))
      FAIL(err->to_string());
    auto& cfg = std::get<node_config>(result);
    CHECK(cfg.source_file == file);
    CHECK(cfg.id == node_id{1});
    CHECK(cfg.data_dir == "data/single");
    CHECK(cfg.bind_address == "127.0.0.1");
    CHECK(cfg.client_port == 4181);
    CHECK(cfg.zk_port == 2181);
    CHECK(cfg.peer_port == 4281);
    REQUIRE(cfg.peers.size() == 1);
    CHECK(cfg.peers[0] == peer_address{node_id{1}, "127.0.0.1", 4281});
    CHECK(cfg.log_level == log_level::info);
    CHECK(cfg.scheduler_policy == "sharing");
    CHECK(cfg.middleman_workers == 0);
    CHECK(cfg.scheduler_max_threads == 0u);
    CHECK(cfg.max_request_bytes == node_config{}.max_request_bytes);
  }
  for (int n = 1; n <= 5; ++n) {
    DYNAMIC_SECTION("local/node" << n << ".conf") {
      auto rel = "configs/local/node" + std::to_string(n) + ".conf";
      auto result = parse_node_config(read_repo_file(rel), rel, {});
      if (auto err = std::get_if<config_error>(&result))
        FAIL(err->to_string());
      auto& cfg = std::get<node_config>(result);
      auto k = static_cast<uint16_t>(n);
      CHECK(cfg.id == node_id{static_cast<uint64_t>(n)});
      CHECK(cfg.data_dir == "data/node" + std::to_string(n));
      CHECK(cfg.bind_address == "127.0.0.1");
      CHECK(cfg.client_port == 4180 + k);
      CHECK(cfg.zk_port == 2180 + k);
      CHECK(cfg.peer_port == 4280 + k);
      if (n <= 3) {
        CHECK(cfg.peers == local_peers);
        CHECK(cfg.initial_cluster_state == "new");
      } else {
        // Nodes 4 and 5 join the running cluster (docs/operations.md).
        auto peers = local_peers;
        peers.push_back(peer_address{node_id{static_cast<uint64_t>(n)},
                                     "127.0.0.1",
                                     static_cast<uint16_t>(4280 + k)});
        CHECK(cfg.peers == peers);
        CHECK(cfg.initial_cluster_state == "existing");
      }
      CHECK(cfg.log_level == log_level::info);
    }
  }
}

TEST_CASE("node_config: initial-cluster-state is new or existing", "[config]") {
  auto cfg = expect_ok(in_group("initial-cluster-state = \"existing\""), {});
  CHECK(cfg.initial_cluster_state == "existing");
  CHECK(node_config{}.initial_cluster_state == "new");
  auto err = expect_error(in_group("initial-cluster-state = \"joined\""));
  CHECK(err.key == "conclave.initial-cluster-state");
}

TEST_CASE("node_config: overrides beat file values", "[config]") {
  auto text = in_group("id = 2\nclient-port = 5000\ndata-dir = \"from/file\"\n"
                       "peers = [\"1@a:1\", \"2@b:2\"]\nlog-level = \"info\"");
  auto cfg = expect_ok(
    text, {"--conclave.client-port=6000", "conclave.data-dir=unquoted/dir",
           "--conclave.log-level=\"debug\"", "--conclave.peers=[\"2@c:3\"]",
           "--caf.scheduler.policy=sharing", "--caf.scheduler.max-threads=3",
           "--caf.middleman.workers=2", "--conclave.zk-port=1",
           "--conclave.zk-port=2"});
  CHECK(cfg.id == node_id{2}); // from the file
  CHECK(cfg.client_port == 6000);
  CHECK(cfg.data_dir == "unquoted/dir");
  CHECK(cfg.log_level == log_level::debug);
  CHECK(cfg.peers == std::vector<peer_address>{{node_id{2}, "c", 3}});
  CHECK(cfg.scheduler_policy == "sharing");
  CHECK(cfg.scheduler_max_threads == 3u);
  CHECK(cfg.middleman_workers == 2);
  CHECK(cfg.zk_port == 2); // the last override wins
  // An override can empty the peer list.
  CHECK(expect_ok(text, {"--conclave.peers=[]"}).peers.empty());
  // Through load_node_config, with `--config-file FILE`.
  temp_dir tmp;
  auto file = tmp.write("node.conf", text);
  auto result = load(
    std::vector<std::string>{"--conclave.client-port=7000", "--config-file",
                             file, "--conclave.bind-address=10.0.0.1"});
  if (auto err = std::get_if<config_error>(&result))
    FAIL(err->to_string());
  auto& loaded = std::get<node_config>(result);
  CHECK(loaded.client_port == 7000);
  CHECK(loaded.bind_address == "10.0.0.1");
  CHECK(loaded.data_dir == "from/file");
  CHECK(loaded.source_file == file);
  // Without a file: defaults plus overrides.
  auto no_file = load({"--conclave.id=4", "--conclave.data-dir=d4"});
  REQUIRE(std::holds_alternative<node_config>(no_file));
  CHECK(std::get<node_config>(no_file).id == node_id{4});
  CHECK(std::get<node_config>(no_file).data_dir == "d4");
}

TEST_CASE("node_config: '#' and semicolon comments", "[config]") {
  auto cfg = expect_ok("# leading comment, it's got a quote\n"
                       "; CAF-style comment with a # inside\n"
                       "conclave { # after a brace\n"
                       "  id = 3 # after a value\n"
                       "  data-dir = \"a#b;c\\\"#d\" ; after a string\n"
                       "  # client-port = 1\n"
                       "  peers = [ # in a list\n"
                       "    \"3@h:1\", # after an element\n"
                       "    \"4@h:2\"  ; also CAF-style\n"
                       "  ]\n"
                       "}\n"
                       "[caf.scheduler] # after a section header\n"
                       "policy = 'stealing' # atom\n");
  CHECK(cfg.id == node_id{3});
  CHECK(cfg.data_dir == "a#b;c\"#d");
  CHECK(cfg.client_port == 4181);
  CHECK(cfg.peers.size() == 2);
  CHECK(cfg.scheduler_policy == "stealing");
  // The bind-address check rejects the quote; the message shows the string
  // was read intact up to its closing quote.
  auto err = expect_error(in_group("bind-address = \"x\\\"#y\" # c"));
  check_error(err, test_file, "conclave.bind-address", {"\"x\\\"#y\""});
  // CRLF line ends work too.
  CHECK(expect_ok("conclave {\r\n  id = 5 # c\r\n}\r\n").id == node_id{5});
}

TEST_CASE("node_config: syntax errors report line and column", "[config]") {
  SECTION("'#' where a value belongs") {
    auto err = expect_error("conclave {\n  id = 1\n  client-port = # x\n}\n");
    check_error(err, test_file, "", {"test.conf:3:17: ", "syntax error"});
    CHECK(err.line == 3);
    CHECK(err.column == 17);
  }
  SECTION("missing value at end of line") {
    auto err = expect_error("conclave {\n  id =\n}\n");
    check_error(err, test_file, "", {"test.conf:2:7: ", "end of line"});
  }
  SECTION("dotted key") {
    auto err = expect_error("\n\nconclave.id = 1\n");
    check_error(err, test_file, "", {"test.conf:3:9: ", "dotted keys"});
  }
  SECTION("unclosed group at end of file") {
    // CAF's parse_config reports success with empty settings here.
    auto err = expect_error("conclave {\n  id = 2\n");
    check_error(err, test_file, "", {"test.conf:3:", "end of file"});
  }
  SECTION("unterminated string") {
    auto err = expect_error(in_group("data-dir = \"abc"));
    check_error(err, test_file, "", {"test.conf:2:", "syntax error"});
  }
  SECTION("integer overflow") {
    auto err = expect_error(in_group("id = 99999999999999999999"));
    check_error(err, test_file, "", {"test.conf:2:", "64 bits"});
  }
  SECTION("nesting deep enough to overflow CAF's recursive parser") {
    auto deep = "conclave {\n  peers = " + std::string(100000, '[') + "\n}\n";
    auto err = expect_error(deep);
    check_error(err, test_file, "", {"test.conf:2:", "nest too deeply"});
    auto arg = "--conclave.peers=" + std::string(100000, '[');
    err = expect_error("", {arg});
    check_error(err, "<command line>", "conclave.peers", {"expected a list"});
  }
  SECTION("NUL byte") {
    auto err = expect_error(std::string_view{"conclave { id = 2 }\n\0x", 22});
    check_error(err, test_file, "", {"test.conf:2:1: ", "NUL"});
  }
}

TEST_CASE("node_config: repeated keys are errors, repeated groups merge",
          "[config]") {
  auto err = expect_error(in_group("id = 1\nid = 2"));
  check_error(err, test_file, "conclave.id",
              {"more than once", "lines 2 and 3"});
  err = expect_error("conclave { id = 1 }\n[conclave]\nid = 2\n");
  check_error(err, test_file, "conclave.id", {"more than once"});
  auto cfg = expect_ok("conclave { id = 2 }\nconclave { zk-port = 3 }\n"
                       "[caf.scheduler]\npolicy = \"sharing\"\n"
                       "[caf.middleman]\nworkers = 1\n");
  CHECK(cfg.id == node_id{2});
  CHECK(cfg.zk_port == 3);
  CHECK(cfg.scheduler_policy == "sharing");
  CHECK(cfg.middleman_workers == 1);
}

TEST_CASE("node_config: unknown key", "[config]") {
  auto err = expect_error(in_group("client_port = 4181"));
  check_error(err, test_file, "conclave.client_port",
              {"unknown key", "did you mean conclave.client-port?"});
  err = expect_error(in_group("colour = \"blue\""));
  check_error(err, test_file, "conclave.colour", {"unknown key"});
  err = expect_error("id = 1\n");
  check_error(err, test_file, "id", {"unknown key", "conclave"});
  err = expect_error("caf { scheduler { max-throughput = 5 } }\n");
  check_error(err, test_file, "caf.scheduler.max-throughput", {"unknown key"});
}

TEST_CASE("node_config: unknown group", "[config]") {
  auto err = expect_error("conclave { id = 1 }\nlogging { level = 1 }\n");
  check_error(err, test_file, "logging", {"unknown group"});
  err = expect_error("[global]\nfoo = 1\n"); // CAF flattens "global"
  check_error(err, test_file, "foo", {"unknown key"});
  err = expect_error("caf { logger { verbosity = 'trace' } }\n");
  check_error(err, test_file, "caf.logger", {"unknown group"});
  err = expect_error(in_group("limits { max = 1 }"));
  check_error(err, test_file, "conclave.limits", {"unknown group"});
  err = expect_error("conclave = 5\n");
  check_error(err, test_file, "conclave", {"expected a group", "got 5"});
}

TEST_CASE("node_config: wrong types", "[config]") {
  struct sample {
    std::string body;
    std::string key;
    std::vector<std::string> parts;
  };
  auto samples = std::vector<sample>{
    {"client-port = \"abc\"",
     "conclave.client-port",
     {"expected an integer in 0..65535, got \"abc\""}},
    {"client-port = 4181.5",
     "conclave.client-port",
     {"expected an integer in 0..65535, got 4181.5"}},
    {"zk-port = true", "conclave.zk-port", {"expected an integer", "got true"}},
    {"peer-port = [4281]",
     "conclave.peer-port",
     {"expected an integer", "got [4281]"}},
    {"id = \"1\"",
     "conclave.id",
     {"expected an integer in 1..254", "got \"1\""}},
    {"max-data-bytes = 10s",
     "conclave.max-data-bytes",
     {"expected an integer", "got 10s"}},
    {"data-dir = [\"a\", \"b\"]",
     "conclave.data-dir",
     {"expected a non-empty string", "got [\"a\", \"b\"]"}},
    {"data-dir = 5",
     "conclave.data-dir",
     {"expected a non-empty string", "got 5"}},
    {"bind-address = 'localhost'",
     "conclave.bind-address",
     {"expected a non-empty string", "got 'localhost'"}},
    {"log-level = 3",
     "conclave.log-level",
     {"expected one of \"trace\", \"debug\", \"info\", \"warning\", "
      "\"error\"",
      "got 3"}},
    {"peers = \"1@127.0.0.1:4281\"",
     "conclave.peers",
     {"expected a list of \"id@host:port\" strings",
      "got \"1@127.0.0.1:4281\""}},
    {"client-port { value = 1 }",
     "conclave.client-port",
     {"expected an integer", "got a group { value = 1 }"}},
  };
  for (auto& x : samples) {
    DYNAMIC_SECTION(x.body) {
      check_error(expect_error(in_group(x.body)), test_file, x.key, x.parts);
    }
  }
  SECTION("wrong types in the caf group") {
    auto err = expect_error("caf { scheduler { max-threads = \"4\" } }");
    check_error(err, test_file, "caf.scheduler.max-threads",
                {"expected an integer in 1..1024", "got \"4\""});
    err = expect_error("caf { scheduler = 'sharing' }");
    check_error(err, test_file, "caf.scheduler", {"expected a group"});
  }
  SECTION("wrong types on the command line") {
    auto err = expect_error("", {"--conclave.client-port=4181abc"});
    check_error(err, "<command line>", "conclave.client-port",
                {"expected an integer in 0..65535, got \"4181abc\""});
    err = expect_error("", {"--conclave.max-connections=1.5"});
    check_error(err, "<command line>", "conclave.max-connections", {"got 1.5"});
    err = expect_error("", {"--conclave.peers=1@127.0.0.1:4281"});
    check_error(err, "<command line>", "conclave.peers",
                {"expected a list", "got \"1@127.0.0.1:4281\""});
    err = expect_error("", {"--conclave.data-dir="});
    check_error(err, "<command line>", "conclave.data-dir",
                {"expected a non-empty string", "got \"\""});
  }
}

TEST_CASE("node_config: out-of-range values", "[config]") {
  struct sample {
    std::string text;
    std::string key;
    std::string part;
  };
  auto samples = std::vector<sample>{
    {in_group("client-port = 65536"), "conclave.client-port",
     "expected an integer in 0..65535, got 65536"},
    {in_group("zk-port = -1"), "conclave.zk-port", "got -1"},
    {in_group("id = 0"), "conclave.id", "expected an integer in 1..254, got 0"},
    {in_group("id = 255"), "conclave.id",
     "expected an integer in 1..254, got 255"},
    {in_group("log-file-count = 0"), "conclave.log-file-count",
     "expected an integer in 1..100, got 0"},
    {in_group("log-file-max-bytes = 1000"), "conclave.log-file-max-bytes",
     "expected an integer in 65536..1073741824, got 1000"},
    {in_group("max-data-bytes = 67108865"), "conclave.max-data-bytes",
     "in 1..67108864, got 67108865"},
    {in_group("max-path-bytes = 0"), "conclave.max-path-bytes", "got 0"},
    {in_group("max-multi-ops = 100001"), "conclave.max-multi-ops",
     "got 100001"},
    {in_group("max-pending-requests = 0"), "conclave.max-pending-requests",
     "in 1..1000000"},
    {in_group("max-connections = 1000001"), "conclave.max-connections",
     "got 1000001"},
    {in_group("max-request-bytes = 1048576"), "conclave.max-request-bytes",
     "expected a value greater than conclave.max-data-bytes (1048576), got "
     "1048576"},
    {in_group("max-data-bytes = 2097152"), "conclave.max-data-bytes",
     "expected a value less than conclave.max-request-bytes (1114112), got "
     "2097152"},
    {in_group("log-level = \"verbose\""), "conclave.log-level",
     "got \"verbose\""},
    {in_group("bind-address = \"my host\""), "conclave.bind-address",
     "expected a host name or IP address"},
    {"caf { scheduler { policy = 'fifo' } }", "caf.scheduler.policy",
     "expected one of \"stealing\", \"sharing\", got 'fifo'"},
    {"caf { scheduler { max-threads = 0 } }", "caf.scheduler.max-threads",
     "got 0"},
    {"caf { middleman { workers = 65 } }", "caf.middleman.workers",
     "expected an integer in 0..64, got 65"},
  };
  for (auto& x : samples) {
    DYNAMIC_SECTION(x.text) {
      check_error(expect_error(x.text), test_file, x.key, {x.part});
    }
  }
  // Boundaries are inclusive.
  auto cfg = expect_ok(in_group("client-port = 0\nzk-port = 65535\n"
                                "max-data-bytes = 67108864\n"
                                "max-request-bytes = 67108865\n"
                                "log-file-max-bytes = 65536"));
  CHECK(cfg.client_port == 0);
  CHECK(cfg.zk_port == 65535);
  CHECK(cfg.max_data_bytes == 64u * 1024 * 1024);
  CHECK(cfg.log_file_max_bytes == 65536u);
  // An atom works for enumerations.
  CHECK(expect_ok(in_group("log-level = 'warning'")).log_level
        == log_level::warning);
}

TEST_CASE("node_config: malformed peers, duplicate ids, missing own id",
          "[config]") {
  struct sample {
    std::string peers;
    std::string part;
  };
  auto samples = std::vector<sample>{
    {"[\"127.0.0.1:4281\"]", "entry 1: expected \"id@host:port\" (missing '@'"},
    {"[\"1@127.0.0.1\"]", "missing ':' before the port"},
    {"[\"x@h:1\"]", "the id must be an integer in 1..254), got \"x@h:1\""},
    {"[\"0@h:1\"]", "the id must be an integer in 1..254"},
    {"[\"255@h:1\"]", "the id must be an integer in 1..254"},
    {"[\"-1@h:1\"]", "the id must be an integer in 1..254"},
    {"[\"1@:4281\"]", "the host must not be empty"},
    {"[\"1@h h:4281\"]", "the host may contain only"},
    {"[\"1@::1:4281\"]", "IPv6 addresses in brackets"},
    {"[\"1@h:0\"]", "the port must be an integer in 1..65535"},
    {"[\"1@h:65536\"]", "the port must be an integer in 1..65535"},
    {"[\"1@h:42a\"]", "the port must be an integer in 1..65535"},
    {"[\"1@h:1\", 2]", "entry 2: expected a string \"id@host:port\", got 2"},
    {"[\"1@h:1\", \"2@h:2\", \"2@g:3\"]",
     "expected unique ids, got id 2 twice (entries 2 and 3)"},
    {"[\"1@h:1\", \"2@h:1\"]", "expected distinct addresses"},
    {"[\"2@h:2\", \"3@h:3\"]",
     "expected an entry for this node's id 1 (conclave.id)"},
  };
  for (auto& x : samples) {
    DYNAMIC_SECTION(x.peers) {
      auto err = expect_error(in_group("peers = " + x.peers));
      check_error(err, test_file, "conclave.peers", {x.part});
    }
  }
  SECTION("own id missing after overriding the id") {
    auto err
      = expect_error(in_group("peers = [\"1@h:1\"]"), {"--conclave.id=7"});
    check_error(err, test_file, "conclave.peers", {"this node's id 7"});
  }
  SECTION("well-formed peers") {
    auto cfg = expect_ok(in_group("id = 2\npeers = [\"1@node-a.example:4281\","
                                  " \"2@10.0.0.2:65535\", \"3@[::1]:1\"]"));
    REQUIRE(cfg.peers.size() == 3);
    CHECK(cfg.peers[0] == peer_address{node_id{1}, "node-a.example", 4281});
    CHECK(cfg.peers[1] == peer_address{node_id{2}, "10.0.0.2", 65535});
    CHECK(cfg.peers[2] == peer_address{node_id{3}, "::1", 1});
    CHECK(to_string(cfg.peers[2]) == "3@[::1]:1");
  }
}

TEST_CASE("node_config: missing or unreadable config file", "[config]") {
  temp_dir tmp;
  auto missing = (tmp.path / "nope.conf").string();
  auto result = load({"--config-file=" + missing});
  REQUIRE(std::holds_alternative<config_error>(result));
  auto& err = std::get<config_error>(result);
  check_error(err, missing, "", {"No such file or directory"});
  result = load({"--config-file", tmp.path.string()}); // a directory
  REQUIRE(std::holds_alternative<config_error>(result));
  check_error(std::get<config_error>(result), tmp.path.string(), "",
              {"Is a directory"});
  // Errors inside a loaded file name that file.
  auto bad = tmp.write("bad.conf", in_group("client-port = \"abc\""));
  result = load({"--config-file=" + bad});
  REQUIRE(std::holds_alternative<config_error>(result));
  check_error(std::get<config_error>(result), bad, "conclave.client-port",
              {"got \"abc\""});
}

TEST_CASE("node_config: unknown command-line arguments", "[config]") {
  for (auto args : std::vector<std::vector<std::string>>{
         {"--verbose"}, {"--conclave.id=1", "positional"}, {"-c", "x.conf"}}) {
    auto result = load(args);
    REQUIRE(std::holds_alternative<config_error>(result));
    auto& err = std::get<config_error>(result);
    check_error(err, "<command line>", "", {"unknown argument"});
    CHECK_THAT(err.message,
               Contains(args.back() == "x.conf" ? "\"-c\"" : args.back()));
  }
  auto result = load({"--config-file"});
  REQUIRE(std::holds_alternative<config_error>(result));
  check_error(std::get<config_error>(result), "<command line>", "",
              {"--config-file expects a file name"});
  result = load({"--config-file=a.conf", "--config-file=b.conf"});
  REQUIRE(std::holds_alternative<config_error>(result));
  check_error(std::get<config_error>(result), "<command line>", "",
              {"more than once"});
}

TEST_CASE("node_config: override of an unknown key", "[config]") {
  auto result = load({"--conclave.client_port=5"});
  REQUIRE(std::holds_alternative<config_error>(result));
  check_error(std::get<config_error>(result), "<command line>",
              "conclave.client_port",
              {"unknown key", "did you mean conclave.client-port?"});
  auto err = expect_error("", {"--caf.logger.verbosity=trace"});
  check_error(err, "<command line>", "caf.logger.verbosity", {"unknown key"});
  err = expect_error("", {"--conclave.client-port"});
  check_error(err, "<command line>", "conclave.client-port",
              {"expected --conclave.client-port=VALUE"});
  err = expect_error("", {"--conclave={id=1}"});
  check_error(err, "<command line>", "conclave", {"not a single key"});
}

TEST_CASE("node_config: check_data_dir", "[config]") {
  temp_dir tmp;
  SECTION("creates a missing directory with parents") {
    node_config cfg;
    cfg.data_dir = (tmp.path / "a" / "b" / "c").string();
    auto err = check_data_dir(cfg);
    if (err)
      FAIL(err->to_string());
    CHECK(std::filesystem::is_directory(cfg.data_dir));
    CHECK(std::filesystem::is_empty(cfg.data_dir)); // probe removed
    CHECK(!check_data_dir(cfg)); // existing directory is fine
  }
  SECTION("rejects a path under a regular file") {
    auto file = tmp.write("plain-file", "x");
    node_config cfg;
    cfg.source_file = "node.conf";
    cfg.data_dir = file + "/sub";
    auto err = check_data_dir(cfg);
    REQUIRE(err);
    check_error(*err, "node.conf", "conclave.data-dir",
                {"Not a directory", "plain-file/sub"});
    cfg.data_dir = file; // the file itself
    err = check_data_dir(cfg);
    REQUIRE(err);
    check_error(*err, "node.conf", "conclave.data-dir", {"Not a directory"});
  }
}

TEST_CASE("node_config: help lists every key with its default", "[config]") {
  auto help = node_config_help();
  for (auto key : {"--config-file",
                   "conclave.id",
                   "conclave.data-dir",
                   "conclave.bind-address",
                   "conclave.client-port",
                   "conclave.zk-port",
                   "conclave.peer-port",
                   "conclave.peers",
                   "conclave.log-level",
                   "conclave.log-file-max-bytes",
                   "conclave.log-file-count",
                   "conclave.max-data-bytes",
                   "conclave.max-path-bytes",
                   "conclave.max-request-bytes",
                   "conclave.max-multi-ops",
                   "conclave.max-pending-requests",
                   "conclave.max-connections",
                   "caf.scheduler.policy",
                   "caf.scheduler.max-threads",
                   "caf.middleman.workers",
                   "default: 4181",
                   "default: \"info\"",
                   "default: 10485760 (10 MiB)"})
    CHECK_THAT(help, Contains(key));
}

TEST_CASE("node_config: apply_caf_options uses CAF 0.17 key names",
          "[config]") {
  auto cfg
    = expect_ok("caf { scheduler { policy = 'sharing', max-threads = 3 },"
                " middleman { workers = 0 } }");
  caf::actor_system_config sys_cfg;
  apply_caf_options(cfg, sys_cfg);
  auto& content = sys_cfg.content;
  CHECK(caf::get_or(content, "scheduler.policy", caf::atom("x"))
        == caf::atom("sharing"));
  CHECK(caf::get_or(content, "scheduler.max-threads", size_t{0}) == 3u);
  CHECK(caf::get_or(content, "middleman.workers", size_t{99}) == 0u);
  // Unset keys stay unset, so CAF's defaults apply.
  caf::actor_system_config untouched;
  apply_caf_options(node_config{}, untouched);
  CHECK(untouched.content.empty());
}

TEST_CASE("node_config: timing keys are checked against each other",
          "[config]") {
  auto cfg
    = expect_ok("conclave {\n  tick-ms = 50\n  election-timeout-ms = 500\n"
                "  heartbeat-interval-ms = 50\n}\n");
  CHECK(cfg.tick_ms == 50);
  CHECK(cfg.election_timeout_ms == 500);
  CHECK(cfg.heartbeat_interval_ms == 50);
  check_error(expect_error("conclave {\n  tick-ms = 100\n"
                           "  election-timeout-ms = 150\n}\n"),
              test_file, "conclave.election-timeout-ms", {"two ticks"});
  check_error(expect_error("conclave {\n  heartbeat-interval-ms = 1000\n}\n"),
              test_file, "conclave.heartbeat-interval-ms",
              {"less than conclave.election-timeout-ms"});
  check_error(expect_error("conclave {\n  tick-ms = 100\n"
                           "  heartbeat-interval-ms = 50\n}\n"),
              test_file, "conclave.heartbeat-interval-ms", {"one tick"});
  // The key named is the one set; an override is named as the command line.
  check_error(expect_error("", {"--conclave.election-timeout-ms=100"}),
              std::string{command_line_origin}, "conclave.election-timeout-ms");
}

TEST_CASE("node_config: session and watch limits", "[config]") {
  auto cfg = expect_ok("conclave {\n  min-session-timeout-ms = 2000\n"
                       "  max-session-timeout-ms = 60000\n"
                       "  max-sessions = 50\n"
                       "  max-watches-per-session = 7\n"
                       "  max-watches = 70\n}\n");
  CHECK(cfg.min_session_timeout_ms == 2000);
  CHECK(cfg.max_session_timeout_ms == 60000);
  CHECK(cfg.max_sessions == 50);
  CHECK(cfg.max_watches_per_session == 7);
  CHECK(cfg.max_watches == 70);
  // ZooKeeper's defaults (tickTime 2000: 2 to 20 ticks).
  node_config defaults;
  CHECK(defaults.min_session_timeout_ms == 4000);
  CHECK(defaults.max_session_timeout_ms == 40000);
  check_error(expect_error("conclave {\n  min-session-timeout-ms = 5000\n"
                           "  max-session-timeout-ms = 4000\n}\n"),
              test_file, "conclave.max-session-timeout-ms",
              {"at least conclave.min-session-timeout-ms"});
  check_error(expect_error("conclave {\n  heartbeat-interval-ms = 400\n"
                           "  min-session-timeout-ms = 500\n}\n"),
              test_file, "conclave.min-session-timeout-ms", {"two heartbeats"});
  check_error(expect_error("conclave {\n  max-watches = 0\n}\n"), test_file,
              "conclave.max-watches");
  check_error(expect_error("conclave {\n  max-sessions = \"many\"\n}\n"),
              test_file, "conclave.max-sessions");
}

TEST_CASE("node_config: ZooKeeper port keys", "[config]") {
  auto cfg = expect_ok("conclave {\n  four-letter-words = \"ruok, mntr\"\n"
                       "  zk-max-connections-per-address = 5\n}\n");
  CHECK(cfg.four_letter_words == "ruok, mntr");
  CHECK(cfg.zk_max_connections_per_address == 5);
  // ZooKeeper's defaults.
  node_config defaults;
  CHECK(defaults.four_letter_words == "srvr");
  CHECK(defaults.zk_max_connections_per_address == 60);
  check_error(expect_error("conclave {\n  four-letter-words = \"ruok, wchp\"\n"
                           "}\n"),
              test_file, "conclave.four-letter-words",
              {"unknown four-letter word 'wchp'"});
  check_error(expect_error("conclave {\n  zk-max-connections-per-address = 0\n"
                           "}\n"),
              test_file, "conclave.zk-max-connections-per-address");
  CHECK(
    expect_ok("conclave {\n  four-letter-words = \"*\"\n}\n").four_letter_words
    == "*");
}

TEST_CASE("node_config: preferred leader and admin port keys", "[config]") {
  auto cfg
    = expect_ok("conclave {\n  id = 1\n  preferred-leader = 2\n"
                "  peers = [\"1@127.0.0.1:4281\", \"2@127.0.0.1:4282\"]\n"
                "  admin-server = \"off\"\n  admin-address = \"10.0.0.1\"\n"
                "  admin-port = 0\n}\n");
  CHECK(cfg.preferred_leader == node_id{2});
  CHECK(cfg.admin_server == "off");
  CHECK(cfg.admin_address == "10.0.0.1");
  CHECK(cfg.admin_port == 0);
  node_config defaults;
  CHECK(defaults.preferred_leader == node_id{0});
  CHECK(defaults.admin_server == "on");
  CHECK(defaults.admin_address == "127.0.0.1");
  CHECK(defaults.admin_port == 8080);
  check_error(expect_error("conclave {\n  id = 1\n  preferred-leader = 3\n"
                           "  peers = [\"1@127.0.0.1:4281\", "
                           "\"2@127.0.0.1:4282\"]\n}\n"),
              test_file, "conclave.preferred-leader",
              {"a member in conclave.peers"});
  check_error(expect_error("conclave {\n  admin-server = \"maybe\"\n}\n"),
              test_file, "conclave.admin-server", {"\"on\", \"off\""});
  check_error(expect_error("conclave {\n  admin-port = 70000\n}\n"), test_file,
              "conclave.admin-port");
}

TEST_CASE("node_config: supervision keys", "[config]") {
  auto cfg = expect_ok("conclave {\n  supervisor-max-restarts = 3\n"
                       "  supervisor-restart-window-ms = 5000\n"
                       "  supervisor-probe-interval-ms = 200\n"
                       "  supervisor-hang-timeout-ms = 2000\n"
                       "  fault-injection = \"on\"\n}\n");
  CHECK(cfg.supervisor_max_restarts == 3);
  CHECK(cfg.supervisor_restart_window_ms == 5000);
  CHECK(cfg.supervisor_probe_interval_ms == 200);
  CHECK(cfg.supervisor_hang_timeout_ms == 2000);
  CHECK(cfg.fault_injection == "on");
  node_config defaults;
  CHECK(defaults.fault_injection == "off");
  CHECK(defaults.supervisor_max_restarts == 5);
  check_error(expect_error("conclave {\n  fault-injection = true\n}\n"),
              test_file, "conclave.fault-injection", {"\"off\", \"on\""});
  check_error(
    expect_error("conclave {\n  supervisor-probe-interval-ms = 1\n}\n"),
    test_file, "conclave.supervisor-probe-interval-ms");
}

TEST_CASE("node_config: the actors group lists custom actors with their "
          "own settings",
          "[config]") {
  auto cfg = expect_ok("conclave {\n  id = 1\n}\n"
                       "actors {\n"
                       "  web-health {\n"
                       "    type = \"health-checker\"\n"
                       "    interval-ms = 500\n"
                       "    services = [\"web\"]\n"
                       "  }\n"
                       "  audit {\n"
                       "    type = \"audit-logger\"\n"
                       "  }\n"
                       "}\n");
  REQUIRE(cfg.actors.size() == 2);
  // Name order.
  CHECK(cfg.actors[0].name == "audit");
  CHECK(cfg.actors[0].type == "audit-logger");
  CHECK(cfg.actors[0].settings.empty());
  CHECK(cfg.actors[1].name == "web-health");
  CHECK(cfg.actors[1].type == "health-checker");
  CHECK(caf::get_or(cfg.actors[1].settings, "interval-ms", int64_t{0}) == 500);
  CHECK(cfg.actors[1].settings.count("type") == 0);
  CHECK(expect_ok("conclave {\n  id = 1\n}\n").actors.empty());
  check_error(expect_error("actors {\n  x {\n    interval-ms = 5\n  }\n}\n"),
              test_file, "actors.x.type", {"missing"});
  check_error(expect_error("actors {\n  x {\n    type = 5\n  }\n}\n"),
              test_file, "actors.x.type", {"expected a type name"});
  check_error(expect_error("actors {\n  x = 5\n}\n"), test_file, "actors.x",
              {"expected a group"});
  check_error(expect_error("actors = 5\n"), test_file, "actors",
              {"expected a group"});
  check_error(expect_error("actors {\n  log {\n    type = \"x\"\n  }\n}\n"),
              test_file, "actors.log", {"the node's own actors"});
  check_error(expect_error("other {\n  x = 5\n}\n"), test_file, "other",
              {"conclave, caf and actors"});
}
