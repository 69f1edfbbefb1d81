// Tests for the example custom actors (examples/): the settings checks of
// health-checker and audit-logger (defaults accepted, every bad setting
// rejected with a message naming its key), the health checker's TCP probe
// against a listening and a closed port on 127.0.0.1, and the audit
// logger's line format for every event type.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "examples/audit_logger.hpp"
#include "examples/example_actors.hpp"
#include "examples/health_checker.hpp"

using namespace conclave;
using namespace std::chrono_literals;

namespace {

caf::config_value integer(int64_t x) {
  return caf::config_value{x};
}

caf::config_value string(std::string x) {
  return caf::config_value{std::move(x)};
}

caf::config_value list(std::vector<caf::config_value> xs) {
  return caf::config_value{caf::config_value::list{std::move(xs)}};
}

caf::settings
settings_of(std::vector<std::pair<std::string, caf::config_value>> entries) {
  caf::settings out;
  for (auto& [key, value] : entries)
    out[key] = std::move(value);
  return out;
}

std::optional<std::string> check_health(const caf::settings& s) {
  return health_checker_type().check(s);
}

std::optional<std::string> check_audit(const caf::settings& s) {
  return audit_logger_type().check(s);
}

/// True if `msg` is a complaint about `key` ("KEY: expected ...").
bool names_key(const std::optional<std::string>& msg, const std::string& key) {
  return msg && msg->rfind(key + ": expected", 0) == 0;
}

/// A TCP socket bound to 127.0.0.1 on a port the kernel picks.
struct bound_socket {
  int fd = -1;
  uint16_t port = 0;

  explicit bound_socket(bool listening) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
    if (listening)
      REQUIRE(::listen(fd, 16) == 0);
  }

  void close() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }

  ~bound_socket() { close(); }

  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port); }
};

pb::WatchEvent event(int32_t type, std::string path, int64_t zxid) {
  pb::WatchEvent ev;
  ev.set_type(type);
  ev.set_path(std::move(path));
  ev.set_zxid(zxid);
  return ev;
}

pb::WatchEvent state_event(int32_t state) {
  pb::WatchEvent ev;
  ev.set_type(-1);
  ev.set_state(state);
  ev.set_zxid(-1);
  return ev;
}

/// 2023-11-14T22:13:20.123Z
const auto fixed_time = std::chrono::system_clock::time_point{
  std::chrono::milliseconds{1700000000123}};

} // namespace

// -- health-checker settings ---------------------------------------------------

TEST_CASE("health-checker accepts its defaults and a full valid group",
          "[examples]") {
  CHECK_FALSE(check_health({}));
  CHECK_FALSE(check_health(settings_of({
    {"interval-ms", integer(500)},
    {"timeout-ms", integer(100)},
    {"services", list({string("web"), string("db")})},
    {"failures-before-critical", integer(3)},
  })));
  CHECK_FALSE(check_health(settings_of({{"services", list({})}})));
  CHECK_FALSE(check_health(settings_of({
    {"interval-ms", integer(50)},
    {"timeout-ms", integer(10)},
    {"failures-before-critical", integer(100)},
  })));
  CHECK_FALSE(check_health(settings_of({
    {"interval-ms", integer(3600000)},
    {"timeout-ms", integer(60000)},
    {"failures-before-critical", integer(1)},
  })));
}

TEST_CASE("health-checker rejects a bad interval-ms", "[examples]") {
  for (auto bad : {integer(49), integer(3600001), integer(-1), string("2000"),
                   caf::config_value{true}}) {
    auto msg = check_health(settings_of({{"interval-ms", bad}}));
    CAPTURE(caf::to_string(bad), msg.value_or("(accepted)"));
    CHECK(names_key(msg, "interval-ms"));
  }
}

TEST_CASE("health-checker rejects a bad timeout-ms", "[examples]") {
  for (auto bad : {integer(9), integer(60001), string("1s")}) {
    auto msg = check_health(
      settings_of({{"interval-ms", integer(3600000)}, {"timeout-ms", bad}}));
    CAPTURE(caf::to_string(bad), msg.value_or("(accepted)"));
    CHECK(names_key(msg, "timeout-ms"));
  }
}

TEST_CASE("health-checker wants timeout-ms below interval-ms", "[examples]") {
  auto equal = check_health(settings_of(
    {{"interval-ms", integer(1000)}, {"timeout-ms", integer(1000)}}));
  CHECK(names_key(equal, "timeout-ms"));
  // The default timeout (1000) against a shorter interval.
  auto shorter = check_health(settings_of({{"interval-ms", integer(500)}}));
  CHECK(names_key(shorter, "timeout-ms"));
  CHECK_FALSE(check_health(settings_of(
    {{"interval-ms", integer(1000)}, {"timeout-ms", integer(999)}})));
}

TEST_CASE("health-checker rejects bad services", "[examples]") {
  for (auto bad :
       {string("web"), integer(1), list({string("web"), integer(2)}),
        list({string("a/b")}), list({string("")}), list({string("..")})}) {
    auto msg = check_health(settings_of({{"services", bad}}));
    CAPTURE(caf::to_string(bad), msg.value_or("(accepted)"));
    CHECK(names_key(msg, "services"));
  }
}

TEST_CASE("health-checker rejects a bad failures-before-critical",
          "[examples]") {
  for (auto bad : {integer(0), integer(101), string("2")}) {
    auto msg = check_health(settings_of({{"failures-before-critical", bad}}));
    CAPTURE(caf::to_string(bad), msg.value_or("(accepted)"));
    CHECK(names_key(msg, "failures-before-critical"));
  }
}

TEST_CASE("health-checker rejects unknown keys", "[examples]") {
  auto msg = check_health(settings_of({{"interval", integer(2000)}}));
  CHECK(names_key(msg, "interval"));
}

// -- audit-logger settings -----------------------------------------------------

TEST_CASE("audit-logger accepts a file with or without a path", "[examples]") {
  CHECK_FALSE(check_audit(settings_of({{"file", string("audit.log")}})));
  CHECK_FALSE(check_audit(settings_of(
    {{"file", string("/var/log/audit.log")}, {"path", string("/services")}})));
  CHECK_FALSE(check_audit(
    settings_of({{"file", string("a.log")}, {"path", string("/")}})));
}

TEST_CASE("audit-logger requires a file", "[examples]") {
  CHECK(names_key(check_audit({}), "file"));
  CHECK(names_key(check_audit(settings_of({{"file", string("")}})), "file"));
  CHECK(names_key(check_audit(settings_of({{"file", integer(1)}})), "file"));
}

TEST_CASE("audit-logger rejects a path that is not an absolute znode path",
          "[examples]") {
  for (auto bad : {string("services"), string(""), string("/a/"),
                   string("/a//b"), integer(1)}) {
    auto msg = check_audit(
      settings_of({{"file", string("audit.log")}, {"path", bad}}));
    CAPTURE(caf::to_string(bad), msg.value_or("(accepted)"));
    CHECK(names_key(msg, "path"));
  }
}

TEST_CASE("audit-logger rejects unknown keys", "[examples]") {
  auto msg = check_audit(
    settings_of({{"file", string("audit.log")}, {"flush", integer(1)}}));
  CHECK(names_key(msg, "flush"));
}

TEST_CASE("register_example_actors registers both types", "[examples]") {
  actor_registry types;
  register_example_actors(types);
  CHECK(types.find("health-checker") != nullptr);
  CHECK(types.find("audit-logger") != nullptr);
}

// -- probe_tcp -----------------------------------------------------------------

TEST_CASE("probe_tcp connects to a listening port", "[examples]") {
  bound_socket server{true};
  CHECK(probe_tcp(server.endpoint(), 2000ms));
}

TEST_CASE("probe_tcp fails on a closed port", "[examples]") {
  bound_socket gone{false};
  auto endpoint = gone.endpoint();
  gone.close();
  CHECK_FALSE(probe_tcp(endpoint, 2000ms));
}

TEST_CASE("probe_tcp fails on malformed endpoints", "[examples]") {
  for (auto bad : {"", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:0",
                   "127.0.0.1:65536", "127.0.0.1:http", "::1:80", "[::1"})
    CHECK_FALSE(probe_tcp(bad, 100ms));
}

TEST_CASE("probe_tcp_all answers each endpoint in order", "[examples]") {
  bound_socket up1{true};
  bound_socket up2{true};
  bound_socket down{false};
  auto down_endpoint = down.endpoint();
  down.close();
  auto results = probe_tcp_all(
    {up1.endpoint(), down_endpoint, "nonsense", up2.endpoint()}, 2000ms);
  CHECK(results == std::vector<bool>{true, false, false, true});
  CHECK(probe_tcp_all({}, 100ms).empty());
}

// -- audit_line ----------------------------------------------------------------

TEST_CASE("audit_line names every watch event type", "[examples]") {
  CHECK(audit_line(event(1, "/a", 7), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=7 created /a");
  CHECK(audit_line(event(2, "/a/b", 8), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=8 deleted /a/b");
  CHECK(audit_line(event(3, "/a", 4294967302), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=4294967302 changed /a");
  CHECK(audit_line(event(4, "/", 9), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=9 children /");
  CHECK(audit_line(event(7, "/a", -1), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=-1 watch-removed /a");
  CHECK(audit_line(event(42, "/a", 1), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=1 type-42 /a");
}

TEST_CASE("audit_line names connection states", "[examples]") {
  CHECK(audit_line(state_event(3), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=-1 state connected");
  CHECK(audit_line(state_event(0), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=-1 state disconnected");
  CHECK(audit_line(state_event(-112), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=-1 state expired");
  CHECK(audit_line(state_event(7), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=-1 state closed");
  CHECK(audit_line(state_event(5), fixed_time)
        == "2023-11-14T22:13:20.123Z zxid=-1 state 5");
}

TEST_CASE("audit_line pads milliseconds and keeps one event per line",
          "[examples]") {
  auto at = std::chrono::system_clock::time_point{
    std::chrono::milliseconds{1700000000005}};
  CHECK(audit_line(event(1, "/x", 1), at)
        == "2023-11-14T22:13:20.005Z zxid=1 created /x");
  auto epoch = std::chrono::system_clock::time_point{};
  CHECK(audit_line(event(1, "/x", 1), epoch)
        == "1970-01-01T00:00:00.000Z zxid=1 created /x");
  CHECK(audit_line(event(1, std::string{"/a\nb\x7f"}, 1), epoch)
        == "1970-01-01T00:00:00.000Z zxid=1 created /a\\x0ab\\x7f");
}
