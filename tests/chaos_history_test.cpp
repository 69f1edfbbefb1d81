#include "tools/chaos/history.hpp"

#include <algorithm>
#include <sstream>

#include <catch2/catch.hpp>

using namespace conclave::chaos;

namespace {

std::optional<history> parse(const std::string& text, std::string& error) {
  std::istringstream in{text};
  return read_history(in, error);
}

history parse_ok(const std::string& text) {
  std::string error;
  auto h = parse(text, error);
  INFO(error);
  REQUIRE(h);
  return std::move(*h);
}

std::string parse_error(const std::string& text) {
  std::string error;
  auto h = parse(text, error);
  REQUIRE_FALSE(h);
  return error;
}

} // namespace

TEST_CASE("chaos history: records survive a JSON-lines round trip", "[chaos]") {
  std::ostringstream out;
  history_writer writer{out};
  Record inv;
  inv.set_process(7);
  inv.set_type(Record::invoke);
  inv.set_f("write");
  inv.set_key("/r/1");
  inv.set_value("");
  inv.set_time_ns(1000);
  inv.set_session(0x1234567890abLL);
  CHECK(writer.append(inv) == 0);
  Record done;
  done.set_process(7);
  done.set_type(Record::ok);
  done.set_f("write");
  done.set_version(0);
  done.set_zxid(42);
  done.set_time_ns(2000);
  CHECK(writer.append(done) == 1);
  Record ev;
  ev.set_process(3);
  ev.set_type(Record::event);
  ev.set_f("watch_event");
  ev.set_key("/r");
  ev.set_path("/r/1");
  ev.set_event_type("created");
  ev.set_zxid(42);
  ev.add_values("a");
  CHECK(writer.append(ev) == 2);
  auto text = out.str();
  // snake_case names, enum names, one record per line.
  CHECK(text.find("\"type\":\"invoke\"") != std::string::npos);
  CHECK(text.find("\"time_ns\":\"1000\"") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);
  auto h = parse_ok(text);
  REQUIRE(h.records.size() == 3);
  REQUIRE(h.operations.size() == 1);
  const auto& op = h.operations[0];
  CHECK(op.outcome == Record::ok);
  CHECK(op.invoke == 0);
  CHECK(op.complete == 1);
  // The empty value is set, not missing; the completion adds its outputs.
  CHECK(op.op.has_value());
  CHECK(op.op.value().empty());
  CHECK(op.op.has_version());
  CHECK(op.op.version() == 0);
  CHECK(op.op.zxid() == 42);
  CHECK(op.op.session() == 0x1234567890abLL);
  CHECK(op.op.time_ns() == 1000); // the invoke's time
  CHECK(h.records[1].time_ns() == 2000);
  REQUIRE(h.events.size() == 1);
  CHECK(h.records[h.events[0]].path() == "/r/1");
  CHECK(h.records[2].values_size() == 1);
  CHECK(h.lines == std::vector<size_t>{1, 2, 3});
  CHECK(h.op_of_record[1] == 0);
  CHECK(h.op_of_record[2] == never);
}

TEST_CASE("chaos history: pairs invokes with completions per process",
          "[chaos]") {
  auto h = parse_ok(
    R"({"process":1,"type":"invoke","f":"write","key":"x","value":"1"}
{"process":2,"type":"invoke","f":"read","key":"x"}

{"process":2,"type":"ok","f":"read","value":"1","version":0,"zxid":5}
{"process":1,"type":"info","f":"write","error":"ConnectionLoss"}
{"process":3,"type":"invoke","f":"cas","key":"x","value":"2","version":7}
{"process":3,"type":"fail","f":"cas","error":"BadVersion"}
{"process":4,"type":"invoke","f":"write","key":"x","value":"3"}
)");
  REQUIRE(h.operations.size() == 4);
  // Operations are in invoke order.
  CHECK(h.operations[0].f() == "write");
  CHECK(h.operations[0].outcome == Record::info);
  CHECK(h.operations[0].op.error() == "ConnectionLoss");
  CHECK(h.operations[1].f() == "read");
  CHECK(h.operations[1].outcome == Record::ok);
  CHECK(h.operations[1].op.value() == "1");
  CHECK(h.operations[1].op.zxid() == 5);
  CHECK(h.operations[2].outcome == Record::fail);
  CHECK(h.operations[2].op.version() == 7);
  // Never completed: unknown.
  CHECK(h.operations[3].outcome == Record::info);
  CHECK_FALSE(h.operations[3].completed());
  CHECK(h.operations[3].complete == never);
  // Line numbers count the blank line; indexes are positions.
  CHECK(h.lines[2] == 4);
  CHECK(h.records[2].index() == 2);
  CHECK(h.records[2].type() == Record::ok);
}

TEST_CASE("chaos history: a read completion without value reads a missing "
          "node",
          "[chaos]") {
  auto h = parse_ok(R"({"process":1,"type":"invoke","f":"read","key":"x"}
{"process":1,"type":"ok","f":"read"}
{"process":1,"type":"invoke","f":"read","key":"x"}
{"process":1,"type":"ok","f":"read","value":""}
)");
  CHECK_FALSE(h.operations[0].op.has_value());
  CHECK(h.operations[1].op.has_value());
}

TEST_CASE("chaos history: malformed lines are errors that name the line",
          "[chaos]") {
  CHECK(parse_error("{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n"
                    "\n"
                    "{not json\n")
          .find("line 3: ")
        == 0);
  CHECK(parse_error("{\"process\":1,\"type\":\"invoke\",\"f\":\"read\","
                    "\"colour\":\"red\"}\n")
          .find("line 1: ")
        == 0);
  CHECK(parse_error("{\"process\":1,\"type\":\"bogus\",\"f\":\"read\"}\n")
          .find("line 1: ")
        == 0);
  CHECK(parse_error("{\"process\":1,\"f\":\"read\"}\n")
        == "line 1: record without a type");
  CHECK(parse_error("{\"process\":1,\"type\":\"invoke\"}\n")
        == "line 1: record without f");
}

TEST_CASE("chaos history: pairing errors name the line", "[chaos]") {
  auto e = parse_error(R"({"process":1,"type":"invoke","f":"read","key":"x"}
{"process":2,"type":"ok","f":"read"}
)");
  CHECK(e == "line 2: ok read of process 2, which has no pending invoke");
  e = parse_error(R"({"process":1,"type":"invoke","f":"read","key":"x"}
{"process":1,"type":"invoke","f":"write","key":"x"}
)");
  CHECK(e
        == "line 2: process 1 invokes write while its read invoked on line 1 "
           "is pending");
  e = parse_error(R"({"process":1,"type":"invoke","f":"read","key":"x"}
{"process":1,"type":"ok","f":"write"}
)");
  CHECK(e
        == "line 2: ok write of process 1 completes its read invoked on line "
           "1");
  e = parse_error(R"({"index":4,"process":1,"type":"invoke","f":"read"}
{"index":4,"process":1,"type":"ok","f":"read"}
)");
  CHECK(e == "line 2: index 4 does not follow index 4");
}

TEST_CASE("chaos history: a process may invoke again after info", "[chaos]") {
  auto h = parse_ok(
    R"({"process":1,"type":"invoke","f":"write","key":"x","value":"1"}
{"process":1,"type":"info","f":"write"}
{"process":1,"type":"invoke","f":"read","key":"x"}
{"process":1,"type":"ok","f":"read","value":"1"}
)");
  REQUIRE(h.operations.size() == 2);
  CHECK(h.operations[0].outcome == Record::info);
  CHECK(h.operations[0].completed());
}

TEST_CASE("chaos history: a missing file is an error naming it", "[chaos]") {
  std::string error;
  CHECK_FALSE(read_history_file("/nonexistent/history.jsonl", error));
  CHECK(error == "/nonexistent/history.jsonl: cannot open");
}

TEST_CASE("chaos history: make_history numbers records built in memory",
          "[chaos]") {
  std::vector<Record> recs(2);
  recs[0].set_type(Record::invoke);
  recs[0].set_f("acquire");
  recs[0].set_key("/lock");
  recs[1].set_type(Record::ok);
  recs[1].set_f("acquire");
  recs[1].set_token(9);
  std::string error;
  auto h = make_history(recs, {}, error);
  REQUIRE(h);
  CHECK(h->lines == std::vector<size_t>{1, 2});
  CHECK(h->records[1].index() == 1);
  CHECK(h->operations[0].op.token() == 9);
  CHECK(h->operations[0].key() == "/lock");
  CHECK(is_mutation("create_seq"));
  CHECK_FALSE(is_mutation("read"));
}
