#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "runtime/path.hpp"

#include "tests/support/printers.hpp"

using conclave::error_code;
namespace path = conclave::path;

namespace {

constexpr size_t max_bytes = 4096;

// std::string literals: several cases contain NUL bytes.
using namespace std::string_literals;

} // namespace

TEST_CASE("path: valid paths are accepted", "[path]") {
  auto p = GENERATE(as<std::string>{}, "/", "/a", "/a/b", "/a/b/c", "/a.b",
                    "/...", "/a/...", "/.a", "/a/.b", "/a..", "/..a", "/a b",
                    "/zookeeper", "/zookeeper/quota", "/a-1_2~3", "/0000000001",
                    "/\xC3\xBC"s,                    // U+00FC
                    "/\xC2\xA0"s,                    // U+00A0, after C1
                    "/\xE2\x82\xAC"s,                // U+20AC
                    "/\xED\x9F\xBF"s,                // U+D7FF
                    "/\xEF\xA4\x80"s,                // U+F900, after PUA
                    "/\xEF\xBF\xAF"s,                // U+FFEF
                    "/a/\xE6\x97\xA5\xE6\x9C\xAC"s); // CJK
  CAPTURE(p);
  CHECK(path::validate(p, max_bytes) == error_code::ok);
  CHECK(path::validate_for_create(p, false, max_bytes) == error_code::ok);
}

TEST_CASE("path: invalid paths are rejected", "[path]") {
  auto p = GENERATE(
    as<std::string>{}, "", "a", "a/b", "//", "/a/", "/a//b", "/a/b/", "/.",
    "/..", "/a/.", "/a/..", "/./a", "/../a", "/a/./b", "/a/../b", " /a",
    "/a\0b"s, "/\0"s, "/a\x01"s, "/a\tb"s, "/a\nb"s, "/a\x1F"s, "/a\x7F"s,
    "/\xC2\x80"s,         // U+0080
    "/\xC2\x9F"s,         // U+009F
    "/\xEE\x80\x80"s,     // U+E000, private use
    "/\xEF\xA3\xBF"s,     // U+F8FF
    "/\xEF\xBF\xB0"s,     // U+FFF0
    "/\xEF\xBF\xBD"s,     // U+FFFD
    "/\xEF\xBF\xBF"s,     // U+FFFF
    "/\xF0\x9F\x98\x80"s, // U+1F600: a surrogate pair in Java
    "/\xED\xA0\x80"s,     // encoded surrogate U+D800
    "/\xC0\xAF"s,         // overlong '/'
    "/\xE0\x80\xAF"s,     // overlong '/'
    "/\xC3"s,             // truncated
    "/\xE2\x82"s,         // truncated
    "/\x80"s,             // lone continuation byte
    "/\xFF"s, "/\xF8\x88\x80\x80\x80"s, "/\xF4\x90\x80\x80"s); // > U+10FFFF
  CAPTURE(p);
  CHECK(path::validate(p, max_bytes) == error_code::bad_arguments);
}

TEST_CASE("path: the length limit counts bytes", "[path]") {
  CHECK(path::validate("/abcd", 5) == error_code::ok);
  CHECK(path::validate("/abcde", 5) == error_code::bad_arguments);
  CHECK(path::validate("/", 1) == error_code::ok);
  CHECK(path::validate("/", 0) == error_code::bad_arguments);
  // Two bytes per character.
  CHECK(path::validate("/\xC3\xBC\xC3\xBC", 5) == error_code::ok);
  CHECK(path::validate("/\xC3\xBC\xC3\xBC", 4) == error_code::bad_arguments);
}

TEST_CASE("path: sequential creates are validated with the suffix appended",
          "[path]") {
  auto ok = error_code::ok;
  auto bad = error_code::bad_arguments;
  CHECK(path::validate_for_create("/a/", true, max_bytes) == ok);
  CHECK(path::validate_for_create("/a/", false, max_bytes) == bad);
  CHECK(path::validate_for_create("/", true, max_bytes) == ok);
  CHECK(path::validate_for_create("/a/n-", true, max_bytes) == ok);
  CHECK(path::validate_for_create("/a/.", true, max_bytes) == ok);
  CHECK(path::validate_for_create("/a/..", true, max_bytes) == ok);
  CHECK(path::validate_for_create("/a/.", false, max_bytes) == bad);
  CHECK(path::validate_for_create("//", true, max_bytes) == bad);
  CHECK(path::validate_for_create("/a//", true, max_bytes) == bad);
  CHECK(path::validate_for_create("/./", true, max_bytes) == bad);
  CHECK(path::validate_for_create("a/", true, max_bytes) == bad);
  CHECK(path::validate_for_create("", true, max_bytes) == bad);
  CHECK(path::validate_for_create("/a\x01", true, max_bytes) == bad);
  // The limit bounds the name with its 10-digit suffix.
  CHECK(path::validate_for_create("/a", true, 12) == ok);
  CHECK(path::validate_for_create("/ab", true, 12) == bad);
  CHECK(path::validate_for_create("/ab", false, 12) == ok);
}

TEST_CASE("path: parent and basename split at the last slash", "[path]") {
  CHECK(path::parent("/a/b/c") == "/a/b");
  CHECK(path::parent("/a/b") == "/a");
  CHECK(path::parent("/a") == "/");
  CHECK(path::parent("/a/") == "/a");
  CHECK(path::parent("/") == "/");
  CHECK(path::basename("/a/b/c") == "c");
  CHECK(path::basename("/a") == "a");
  CHECK(path::basename("/a/") == "");
  CHECK(path::basename("/") == "");
}

TEST_CASE("path: join does not double the root's slash", "[path]") {
  CHECK(path::join("/", "a") == "/a");
  CHECK(path::join("/a", "b") == "/a/b");
  CHECK(path::join("/a/b", "0000000001") == "/a/b/0000000001");
}

TEST_CASE("path: sequence suffixes are ZooKeeper's %010d", "[path]") {
  CHECK(path::sequence_suffix(0) == "0000000000");
  CHECK(path::sequence_suffix(1) == "0000000001");
  CHECK(path::sequence_suffix(1234567) == "0001234567");
  CHECK(path::sequence_suffix(2147483647) == "2147483647");
  // Java's String.format("%010d", -1): the sign counts towards the width.
  CHECK(path::sequence_suffix(-1) == "-000000001");
  CHECK(path::sequence_suffix(INT32_MIN) == "-2147483648");
}

TEST_CASE("path: the built-in /zookeeper nodes are protected", "[path]") {
  CHECK(path::is_protected("/zookeeper"));
  CHECK(path::is_protected("/zookeeper/quota"));
  CHECK(path::is_protected("/zookeeper/config"));
  CHECK_FALSE(path::is_protected("/zookeeper/a"));
  CHECK_FALSE(path::is_protected("/zookeeper/quota/a"));
  CHECK_FALSE(path::is_protected("/"));
  CHECK_FALSE(path::is_protected("/zookeeperx"));
  CHECK_FALSE(path::is_protected("/a/zookeeper"));
}

TEST_CASE("path: step_up walks to the root like ZooKeeper's "
          "PathParentIterator",
          "[path]") {
  std::string_view p = "/a/bc/d";
  std::vector<std::string_view> seen;
  while (path::step_up(p))
    seen.push_back(p);
  CHECK(seen == std::vector<std::string_view>{"/a/bc", "/a", "/"});
  std::string_view root = "/";
  CHECK_FALSE(path::step_up(root));
  CHECK(root == "/");
  std::string_view not_a_path = "abc";
  CHECK_FALSE(path::step_up(not_a_path));
  std::string_view empty;
  CHECK_FALSE(path::step_up(empty));
}
