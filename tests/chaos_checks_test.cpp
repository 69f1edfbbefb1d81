#include "tools/chaos/checks.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include "tests/support/history_builder.hpp"
#include "tests/support/temp_dir.hpp"
#include "tools/chaos/linearizability.hpp"
#include "tools/chaos/report.hpp"

using namespace conclave::chaos;
using conclave::test::temp_dir;

namespace {

/// A history builder with shorthands for complete operations.
class builder : public conclave::test::history_builder {
public:
  // Shorthands for complete operations.
  void add(int64_t p, const std::string& set, const std::string& element) {
    invoke(p, "add", set).set_value(element);
    ok(p);
  }
  void read_set(int64_t p, const std::string& set,
                std::vector<std::string> elements) {
    invoke(p, "read_set", set);
    auto& r = ok(p);
    for (auto& e : elements)
      r.add_values(e);
  }
  void create_seq(int64_t p, const std::string& prefix, const std::string& name,
                  int64_t zxid) {
    invoke(p, "create_seq", prefix);
    auto& r = ok(p);
    r.set_value(name);
    r.set_zxid(zxid);
  }
  void write(int64_t p, const std::string& path, const std::string& value,
             int64_t zxid) {
    invoke(p, "write", path).set_value(value);
    ok(p).set_zxid(zxid);
  }
  void sync(int64_t p, int64_t zxid) {
    invoke(p, "sync", "/");
    ok(p).set_zxid(zxid);
  }
  void watch(int64_t p, const std::string& path, int64_t zxid) {
    invoke(p, "watch", path).set_recursive(true);
    ok(p).set_zxid(zxid);
  }
  void watch_event(int64_t p, const std::string& watched,
                   const std::string& path, const std::string& type,
                   int64_t zxid) {
    auto& e = event(p, "watch_event", watched);
    e.set_path(path);
    e.set_event_type(type);
    e.set_zxid(zxid);
  }
  void exists(int64_t p, const std::string& path, bool found,
              int64_t time_ns = 0) {
    invoke(p, "exists", path).set_time_ns(time_ns);
    ok(p).set_found(found);
  }
  void op_in_session(int64_t p, int64_t session) {
    invoke(p, "ping", "").set_session(session);
    ok(p);
  }
  void acquire(int64_t p, const std::string& lock, int64_t token,
               int64_t session = 0) {
    invoke(p, "acquire", lock).set_session(session);
    ok(p).set_token(token);
  }
  void release(int64_t p, const std::string& lock, int64_t token) {
    invoke(p, "release", lock).set_token(token);
    ok(p);
  }
  void fenced_write(int64_t p, const std::string& lock, int64_t token,
                    bool accepted) {
    invoke(p, "fenced_write", lock).set_token(token);
    if (accepted)
      ok(p);
    else
      fail(p);
  }
};

std::string messages(const check_result& r) {
  std::string s;
  for (auto& v : r.violations)
    s += v.message + "\n";
  return s;
}

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in{file};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

// -- plain reads ---------------------------------------------------------------

TEST_CASE("chaos checks: plain reads never go back in time", "[chaos]") {
  builder b;
  b.write(1, "/r", "a", 5);
  b.write(1, "/r", "b", 8);
  b.invoke(2, "read", "/r").set_plain(true);
  auto& r1 = b.ok(2);
  r1.set_value("a");
  r1.set_zxid(5); // stale but allowed: plain
  b.invoke(2, "read", "/r").set_plain(true);
  auto& r2 = b.ok(2);
  r2.set_value("b");
  r2.set_zxid(8);
  auto good = check_plain_reads(b.build());
  CHECK(good.ok());
  CHECK(good.checked == 2);
  b.invoke(2, "read", "/r").set_plain(true);
  auto& r3 = b.ok(2);
  r3.set_value("a");
  r3.set_zxid(5); // after seeing zxid 8
  auto bad = check_plain_reads(b.build());
  REQUIRE(bad.violations.size() == 1);
  CHECK(bad.violations[0].message.find("went back in time")
        != std::string::npos);
  CHECK(bad.violations[0].ops == std::vector<size_t>{3, 4});
}

TEST_CASE("chaos checks: a plain read after the process's own write sees it",
          "[chaos]") {
  builder b;
  b.write(1, "/r", "a", 5);
  b.write(2, "/r", "b", 8);
  b.invoke(2, "read", "/r").set_plain(true);
  auto& r = b.ok(2);
  r.set_value("a");
  r.set_zxid(5);
  CHECK_FALSE(check_plain_reads(b.build()).ok());
}

TEST_CASE("chaos checks: a read's value must be what its mzxid wrote",
          "[chaos]") {
  builder b;
  b.write(1, "/r", "a", 5);
  b.invoke(2, "read", "/r").set_plain(true);
  auto& r = b.ok(2);
  r.set_value("z");
  r.set_zxid(5);
  auto res = check_plain_reads(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("the write with that zxid wrote \"a\"")
        != std::string::npos);
}

// -- set -----------------------------------------------------------------------

TEST_CASE("chaos checks: a correct set history passes", "[chaos]") {
  builder b;
  b.add(1, "/set", "a");
  b.invoke(2, "add", "/set").set_value("b");
  b.info(2); // unknown: may be present or not
  b.invoke(3, "add", "/set").set_value("c");
  b.fail(3);
  b.read_set(1, "/set", {"a"});
  b.invoke(4, "add", "/set").set_value("d"); // concurrent with the final read
  b.read_set(1, "/set", {"a", "b"});
  b.ok(4);
  auto res = check_set(b.build());
  CHECK(res.checked == 2);
  INFO(messages(res));
  CHECK(res.ok());
}

TEST_CASE("chaos checks: a lost set element is rejected", "[chaos]") {
  builder b;
  b.add(1, "/set", "a");
  b.add(2, "/set", "b");
  b.read_set(1, "/set", {"a"});
  auto res = check_set(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("1 acknowledged adds missing from the "
                                       "final read")
        != std::string::npos);
  CHECK(res.violations[0].ops == std::vector<size_t>{1, 2});
}

TEST_CASE("chaos checks: a set element read twice is rejected", "[chaos]") {
  builder b;
  b.add(1, "/set", "a");
  b.read_set(1, "/set", {"a", "a"});
  auto res = check_set(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("more than once: \"a\" x2")
        != std::string::npos);
}

TEST_CASE("chaos checks: unexpected set elements are rejected", "[chaos]") {
  builder b;
  b.add(1, "/set", "a");
  b.invoke(2, "add", "/set").set_value("f");
  b.fail(2);
  b.read_set(1, "/set", {"a", "f", "ghost"});
  auto res = check_set(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("\"f\" (its add failed), \"ghost\"")
        != std::string::npos);
}

TEST_CASE("chaos checks: a set element that vanishes is rejected", "[chaos]") {
  builder b;
  b.invoke(2, "add", "/set").set_value("u");
  b.info(2);
  b.read_set(1, "/set", {"u"});
  b.read_set(1, "/set", {});
  auto res = check_set(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("earlier read") != std::string::npos);
}

TEST_CASE("chaos checks: a set without a final read is noted, not passed "
          "silently",
          "[chaos]") {
  builder b;
  b.add(1, "/set", "a");
  auto res = check_set(b.build());
  CHECK(res.ok());
  CHECK_FALSE(res.applies());
  REQUIRE(res.notes.size() == 1);
  CHECK(res.notes[0].find("no ok read_set") != std::string::npos);
}

// -- sequential ----------------------------------------------------------------

TEST_CASE("chaos checks: sequential names in zxid order pass", "[chaos]") {
  builder b;
  b.create_seq(1, "/q/n-", "/q/n-0000000001", 10);
  b.invoke(2, "create_seq", "/q/n-");
  b.invoke(3, "create_seq", "/q/n-");
  // Concurrent: either may come first.
  auto& x = b.ok(3);
  x.set_value("/q/n-0000000003");
  x.set_zxid(14);
  auto& y = b.ok(2);
  y.set_value("/q/n-0000000002");
  y.set_zxid(12);
  auto res = check_sequential(b.build());
  CHECK(res.checked == 3);
  INFO(messages(res));
  CHECK(res.ok());
}

TEST_CASE("chaos checks: a reused sequential name is rejected", "[chaos]") {
  builder b;
  b.create_seq(1, "/q/n-", "/q/n-0000000001", 10);
  b.create_seq(2, "/q/n-", "/q/n-0000000001", 11);
  auto res = check_sequential(b.build());
  REQUIRE_FALSE(res.ok());
  CHECK(res.violations[0].message.find("returned twice") != std::string::npos);
}

TEST_CASE("chaos checks: sequential names out of zxid order are rejected",
          "[chaos]") {
  builder b;
  b.invoke(1, "create_seq", "/q/n-");
  b.invoke(2, "create_seq", "/q/n-");
  auto& x = b.ok(1);
  x.set_value("/q/n-0000000002");
  x.set_zxid(10);
  auto& y = b.ok(2);
  y.set_value("/q/n-0000000001");
  y.set_zxid(11);
  auto res = check_sequential(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("does not follow") != std::string::npos);
}

TEST_CASE("chaos checks: a sequential name lower than one already created "
          "is rejected",
          "[chaos]") {
  builder b;
  b.create_seq(1, "/q/n-", "/q/n-0000000005", 0);
  b.create_seq(2, "/q/n-", "/q/n-0000000004", 0);
  auto res = check_sequential(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("lower sequence number")
        != std::string::npos);
}

// -- sessions ------------------------------------------------------------------

TEST_CASE("chaos checks: an ephemeral of a live session never goes missing",
          "[chaos]") {
  builder b;
  b.invoke(1, "create_ephemeral", "/e/1").set_session(7);
  b.ok(1).set_zxid(3);
  b.exists(2, "/e/1", true);
  b.op_in_session(1, 7);
  auto good = check_sessions(b.build());
  CHECK(good.checked == 1);
  CHECK(good.ok());
  b.exists(2, "/e/1", false);
  auto unproven = check_sessions(b.build());
  CHECK(unproven.ok());  // the session may have expired since
  b.op_in_session(1, 7); // ... but it had not
  auto bad = check_sessions(b.build());
  REQUIRE(bad.violations.size() == 1);
  CHECK(bad.violations[0].message.find("while the session was alive")
        != std::string::npos);
}

TEST_CASE("chaos checks: a deleted ephemeral may go missing", "[chaos]") {
  builder b;
  b.invoke(1, "create_ephemeral", "/e/1").set_session(7);
  b.ok(1);
  b.invoke(1, "delete", "/e/1").set_session(7);
  b.info(1);
  b.exists(2, "/e/1", false);
  b.op_in_session(3, 7);
  CHECK(check_sessions(b.build()).ok());
}

TEST_CASE("chaos checks: plain exists are not judged", "[chaos]") {
  builder b;
  b.invoke(1, "create_ephemeral", "/e/1").set_session(7);
  b.ok(1);
  b.invoke(2, "exists", "/e/1").set_plain(true);
  b.ok(2).set_found(false);
  b.op_in_session(1, 7);
  auto res = check_sessions(b.build());
  CHECK(res.ok());
  CHECK(res.notes.size() == 1);
}

TEST_CASE("chaos checks: an ephemeral of a killed session vanishes within "
          "the bound",
          "[chaos]") {
  const int64_t ms = 1'000'000;
  builder b;
  b.invoke(1, "create_ephemeral", "/e/1").set_session(7);
  b.ok(1);
  auto& kill = b.event(0, "kill", "");
  kill.set_session(7);
  kill.set_time_ns(1000 * ms);
  kill.set_timeout_ns(500 * ms);
  b.exists(2, "/e/1", true, 1400 * ms); // within the bound
  b.exists(2, "/e/1", false, 1600 * ms);
  CHECK(check_sessions(b.build()).ok());
  b.exists(3, "/e/1", true, 1700 * ms); // back, or never gone
  auto res = check_sessions(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("700 ms after its client was killed")
        != std::string::npos);
  CHECK(res.violations[0].records == std::vector<size_t>{2});
}

TEST_CASE("chaos checks: a kill without a bound uses the default or is "
          "noted",
          "[chaos]") {
  const int64_t ms = 1'000'000;
  builder b;
  b.invoke(1, "create_ephemeral", "/e/1").set_session(7);
  b.ok(1);
  auto& kill = b.event(0, "kill", "");
  kill.set_session(7);
  kill.set_time_ns(1000 * ms);
  b.exists(2, "/e/1", true, 3000 * ms);
  auto h = b.build();
  auto unbounded = check_sessions(h);
  CHECK(unbounded.ok());
  CHECK(unbounded.notes.size() == 1);
  check_options opts;
  opts.session_bound_ns = 1000 * ms;
  CHECK_FALSE(check_sessions(h, opts).ok());
}

// -- watches -------------------------------------------------------------------

TEST_CASE("chaos checks: every change delivered once and in order passes",
          "[chaos]") {
  builder b;
  b.watch(9, "/w", 4);
  b.write(1, "/w/a", "1", 5);
  b.write(1, "/w/b", "1", 6);
  b.write(1, "/other", "1", 7); // not watched
  b.watch_event(9, "/w", "/w/a", "data_changed", 5);
  b.watch_event(9, "/w", "/w/b", "data_changed", 6);
  b.sync(9, 7);
  auto res = check_watches(b.build());
  CHECK(res.checked == 3);
  INFO(messages(res));
  CHECK(res.ok());
}

TEST_CASE("chaos checks: reordered watch events are rejected", "[chaos]") {
  builder b;
  b.watch(9, "/w", 4);
  b.write(1, "/w/a", "1", 5);
  b.write(1, "/w/b", "1", 6);
  b.watch_event(9, "/w", "/w/b", "data_changed", 6);
  b.watch_event(9, "/w", "/w/a", "data_changed", 5);
  b.sync(9, 6);
  auto res = check_watches(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("got the event of zxid 5")
        != std::string::npos);
  CHECK(res.violations[0].records.size() == 2);
}

TEST_CASE("chaos checks: a watch event delivered twice is rejected",
          "[chaos]") {
  builder b;
  b.watch(9, "/w", 4);
  b.write(1, "/w/a", "1", 5);
  b.watch_event(9, "/w", "/w/a", "data_changed", 5);
  b.watch_event(9, "/w", "/w/a", "data_changed", 5);
  auto res = check_watches(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("twice") != std::string::npos);
}

TEST_CASE("chaos checks: a missed watch event is rejected", "[chaos]") {
  builder b;
  b.watch(9, "/w", 4);
  b.write(1, "/w/a", "1", 5);
  b.invoke(1, "create", "/w/b");
  b.ok(1).set_zxid(6);
  b.watch_event(9, "/w", "/w/a", "data_changed", 5);
  b.write(1, "/w/c", "1", 8); // after the watcher's sync: not yet due
  b.sync(9, 7);
  auto res = check_watches(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("missed 1 changes it covered: create "
                                       "/w/b at zxid 6")
        != std::string::npos);
}

TEST_CASE("chaos checks: changes while disconnected need not be delivered",
          "[chaos]") {
  builder b;
  b.watch(9, "/w", 4);
  b.write(1, "/w/a", "1", 5);
  b.watch_event(9, "/w", "/w/a", "data_changed", 5);
  b.event(9, "disconnect", "").set_zxid(5);
  b.write(1, "/w/a", "2", 6); // missed while away
  b.watch(9, "/w", 6);        // re-registered
  b.write(1, "/w/a", "3", 7);
  b.watch_event(9, "/w", "/w/a", "data_changed", 7);
  b.sync(9, 7);
  auto h = b.build();
  CHECK(check_watches(h).ok());
  // Without the disconnect the gap is a violation.
  builder strict;
  strict.watch(9, "/w", 4);
  strict.write(1, "/w/a", "1", 5);
  strict.write(1, "/w/a", "2", 6);
  strict.watch_event(9, "/w", "/w/a", "data_changed", 5);
  strict.sync(9, 6);
  CHECK_FALSE(check_watches(strict.build()).ok());
}

TEST_CASE("chaos checks: a watch event of the wrong type is rejected",
          "[chaos]") {
  builder b;
  b.watch(9, "/w", 4);
  b.invoke(1, "delete", "/w/a");
  b.ok(1).set_zxid(5);
  b.watch_event(9, "/w", "/w/a", "created", 5);
  auto res = check_watches(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("got created /w/a at zxid 5")
        != std::string::npos);
}

// -- locks ---------------------------------------------------------------------

TEST_CASE("chaos checks: a correct lock history passes", "[chaos]") {
  builder b;
  b.acquire(1, "/lock", 10, 100);
  b.fenced_write(1, "/lock", 10, true);
  b.release(1, "/lock", 10);
  b.acquire(2, "/lock", 12, 200);
  b.fenced_write(1, "/lock", 10, false); // a stale holder is refused
  b.fenced_write(2, "/lock", 12, true);
  b.op_in_session(1, 100);
  auto res = check_locks(b.build());
  CHECK(res.checked == 4);
  INFO(messages(res));
  CHECK(res.ok());
}

TEST_CASE("chaos checks: two lock holders are rejected", "[chaos]") {
  SECTION("with the same token") {
    builder b;
    b.acquire(1, "/lock", 10);
    b.acquire(2, "/lock", 10);
    auto res = check_locks(b.build());
    REQUIRE_FALSE(res.ok());
    CHECK(res.violations[0].message.find("granted twice") != std::string::npos);
  }
  SECTION("while the first holder's session is alive") {
    builder b;
    b.acquire(1, "/lock", 10, 100);
    b.acquire(2, "/lock", 12, 200);
    b.op_in_session(1, 100);
    b.release(1, "/lock", 10);
    auto res = check_locks(b.build());
    REQUIRE(res.violations.size() == 1);
    CHECK(res.violations[0].message.find("two holders") != std::string::npos);
  }
  SECTION("a lease lost with its session is no violation") {
    builder b;
    b.acquire(1, "/lock", 10, 100);
    b.acquire(2, "/lock", 12, 200);
    b.release(1, "/lock", 10); // session 100 never proven alive again
    CHECK(check_locks(b.build()).ok());
  }
}

TEST_CASE("chaos checks: lock tokens that go backwards are rejected",
          "[chaos]") {
  builder b;
  b.acquire(1, "/lock", 12);
  b.release(1, "/lock", 12);
  b.acquire(2, "/lock", 10);
  auto res = check_locks(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("token 10") != std::string::npos);
}

TEST_CASE("chaos checks: a fenced write with a stale token is rejected",
          "[chaos]") {
  builder b;
  b.acquire(1, "/lock", 10);
  b.acquire(2, "/lock", 12);
  b.fenced_write(1, "/lock", 10, true);
  auto res = check_locks(b.build());
  REQUIRE(res.violations.size() == 1);
  CHECK(res.violations[0].message.find("succeeded after token 12 was granted")
        != std::string::npos);
  // Also after a newer token was accepted, without seeing the grant.
  builder c;
  c.fenced_write(2, "/lock", 12, true);
  c.fenced_write(1, "/lock", 10, true);
  CHECK_FALSE(check_locks(c.build()).ok());
}

// -- all checks, the report and conclave-check ---------------------------------

TEST_CASE("chaos checks: run_checks reports only what applies", "[chaos]") {
  builder b;
  b.add(1, "/set", "a");
  b.read_set(1, "/set", {"a"});
  auto all = run_checks(b.build());
  REQUIRE(all.size() == 6);
  size_t applied = 0;
  for (auto& c : all) {
    CHECK(c.ok());
    applied += c.applies() ? 1 : 0;
  }
  CHECK(applied == 1);
}

TEST_CASE("chaos checks: the report shows the failing window as text and "
          "SVG",
          "[chaos]") {
  builder b;
  b.invoke(1, "write", "x").set_value("1");
  b.ok(1).set_zxid(1);
  b.invoke(1, "write", "x").set_value("2");
  b.ok(1).set_zxid(2);
  b.invoke(2, "read", "x");
  b.ok(2).set_value("1 <stale> & old");
  b.add(3, "/set", "a");
  b.read_set(3, "/set", {});
  auto h = b.build();
  findings f;
  f.source = "test.jsonl";
  f.linearizability = check_linearizability(h);
  f.checks = run_checks(h);
  CHECK(f.overall() == verdict::violation);
  auto windows = failure_windows(h, f);
  REQUIRE(windows.size() == 2);
  CHECK(windows[0].title == "linearizability: x");
  CHECK(windows[1].title == "set: /set");
  auto text = text_report(h, f);
  CHECK(text.find("conclave-check test.jsonl: violation") == 0);
  CHECK(text.find("violation 2: set: /set") != std::string::npos);
  CHECK(text.find("  * lines 5-6 process 2 ok read x") != std::string::npos);
  temp_dir dir;
  auto out = (std::filesystem::path{dir.path} / "report").string();
  std::string error;
  REQUIRE(write_report(out, h, f, error));
  CHECK(slurp(std::filesystem::path{dir.path} / "report" / "report.txt")
        == text);
  auto html = slurp(std::filesystem::path{dir.path} / "report" / "report.html");
  CHECK(html.find("<!DOCTYPE html>") == 0);
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("process 2</text>") != std::string::npos);
  // Values are escaped.
  CHECK(html.find("&lt;stale&gt; &amp; old") != std::string::npos);
  CHECK(html.find("<stale>") == std::string::npos);
}

#ifdef CONCLAVE_BIN_DIR

namespace {

int run_check(const std::string& args) {
  auto cmd = std::string{CONCLAVE_BIN_DIR} + "/conclave-check " + args
             + " >/dev/null 2>&1";
  auto status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string write_file(const temp_dir& dir, const std::string& name,
                       const std::string& content) {
  auto file = (std::filesystem::path{dir.path} / name).string();
  std::ofstream out{file};
  out << content;
  return file;
}

} // namespace

TEST_CASE("chaos checks: conclave-check exit codes", "[chaos]") {
  temp_dir dir;
  auto good = write_file(dir, "good.jsonl", R"(
{"process":1,"type":"invoke","f":"write","key":"x","value":"1"}
{"process":1,"type":"ok","f":"write"}
{"process":2,"type":"invoke","f":"read","key":"x"}
{"process":2,"type":"ok","f":"read","value":"1"}
)");
  auto stale = write_file(dir, "stale.jsonl", R"(
{"process":1,"type":"invoke","f":"write","key":"x","value":"1"}
{"process":1,"type":"ok","f":"write"}
{"process":1,"type":"invoke","f":"write","key":"x","value":"2"}
{"process":1,"type":"ok","f":"write"}
{"process":2,"type":"invoke","f":"read","key":"x"}
{"process":2,"type":"ok","f":"read","value":"1"}
)");
  // Needs a search: the writes overlap, the reads disagree.
  auto split = write_file(dir, "split.jsonl", R"(
{"process":1,"type":"invoke","f":"write","key":"x","value":"a"}
{"process":2,"type":"invoke","f":"write","key":"x","value":"b"}
{"process":1,"type":"ok","f":"write"}
{"process":2,"type":"ok","f":"write"}
{"process":3,"type":"invoke","f":"read","key":"x"}
{"process":3,"type":"ok","f":"read","value":"a"}
{"process":4,"type":"invoke","f":"read","key":"x"}
{"process":4,"type":"ok","f":"read","value":"b"}
)");
  auto broken = write_file(dir, "broken.jsonl", "{\"process\":\n");
  auto empty = write_file(dir, "empty.jsonl", "");
  CHECK(run_check(good) == 0);
  CHECK(run_check(stale) == 1);
  CHECK(run_check(split) == 1);
  CHECK(run_check(split + " --max-steps 1") == 3);
  CHECK(run_check(good + " --max-steps 1") == 3);
  CHECK(run_check(broken) == 2);
  CHECK(run_check(empty) == 2);
  CHECK(run_check("") == 2);
  CHECK(run_check(good + " --max-steps x") == 2);
  CHECK(run_check(good + " --bogus") == 2);
  auto report = (std::filesystem::path{dir.path} / "out").string();
  CHECK(run_check(stale + " --report " + report) == 1);
  CHECK(
    slurp(std::filesystem::path{dir.path} / "out" / "report.html").find("<svg")
    != std::string::npos);
}

#endif
