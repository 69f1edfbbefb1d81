#include "tests/support/history_builder.hpp"
#include "tools/chaos/linearizability.hpp"

#include <algorithm>
#include <map>
#include <random>

#include <catch2/catch.hpp>

using namespace conclave::chaos;

namespace {

/// A history builder with time stamps and register shorthands.
class builder : public conclave::test::history_builder {
public:
  builder() : history_builder(true) {
    // nop
  }

  // Sequential shorthands: invoke and complete at once.
  void write(int64_t p, const std::string& key, const std::string& value) {
    invoke(p, "write", key).set_value(value);
    ok(p);
  }
  void read(int64_t p, const std::string& key, const std::string& value) {
    invoke(p, "read", key);
    ok(p).set_value(value);
  }
};

verdict check(const builder& b, uint64_t max_steps = 1'000'000) {
  auto h = b.build();
  linearizability_options opts;
  opts.max_steps = max_steps;
  return check_linearizability(h, opts).overall();
}

/// The single key's result.
key_result check_one(const builder& b) {
  auto h = b.build();
  auto res = check_linearizability(h);
  REQUIRE(res.keys.size() == 1);
  return res.keys[0];
}

} // namespace

TEST_CASE("linearizability: sequential reads and writes pass", "[chaos]") {
  builder b;
  b.invoke(1, "read", "x");
  b.ok(1); // missing
  b.write(1, "x", "1");
  b.read(2, "x", "1");
  b.write(2, "x", "2");
  b.read(1, "x", "2");
  CHECK(check(b) == verdict::ok);
}

TEST_CASE("linearizability: concurrent operations may take effect in either "
          "order",
          "[chaos]") {
  for (auto seen : {"0", "1"}) {
    builder b;
    b.write(1, "x", "0");
    b.invoke(1, "write", "x").set_value("1");
    b.invoke(2, "read", "x");
    b.ok(2).set_value(seen);
    b.ok(1);
    b.read(2, "x", "1");
    CHECK(check(b) == verdict::ok);
  }
  // Two overlapping writes and reads that saw them in opposite orders
  // cannot both be right once both writes are done.
  builder b;
  b.invoke(1, "write", "x").set_value("a");
  b.invoke(2, "write", "x").set_value("b");
  b.ok(1);
  b.ok(2);
  b.read(3, "x", "a");
  b.read(4, "x", "b");
  CHECK(check(b) == verdict::violation);
}

TEST_CASE("linearizability: a stale read is rejected with its window",
          "[chaos]") {
  builder b;
  b.write(1, "x", "1");
  b.write(1, "x", "2");
  b.invoke(3, "write", "y").set_value("9"); // another key: not in the window
  b.read(2, "x", "1");
  b.ok(3);
  auto h = b.build();
  auto res = check_linearizability(h);
  REQUIRE(res.keys.size() == 2);
  CHECK(res.overall() == verdict::violation);
  const auto& x = res.keys[0];
  CHECK(x.key == "x");
  CHECK(x.result == verdict::violation);
  REQUIRE(x.failing_op != never);
  CHECK(h.operations[x.failing_op].f() == "read");
  // The window: the read, the last write before it and the write of "1".
  CHECK(x.window == std::vector<size_t>{0, 1, 3});
  CHECK(x.message.find("read(-> \"1\")") != std::string::npos);
  CHECK(res.keys[1].result == verdict::ok);
}

TEST_CASE("linearizability: a lost write is rejected", "[chaos]") {
  // The write of 2 is acknowledged, but reads after it keep seeing 1.
  builder b;
  b.write(1, "x", "1");
  b.read(2, "x", "1");
  b.write(1, "x", "2");
  b.read(2, "x", "1");
  b.read(3, "x", "1");
  auto r = check_one(b);
  CHECK(r.result == verdict::violation);
  CHECK(r.failing_op == 3);
}

TEST_CASE("linearizability: a value read again after it was overwritten is "
          "rejected",
          "[chaos]") {
  builder b;
  b.write(1, "x", "a");
  b.read(2, "x", "a");
  b.write(1, "x", "b");
  b.read(2, "x", "b");
  b.read(2, "x", "a"); // the old value comes back
  CHECK(check(b) == verdict::violation);
}

TEST_CASE("linearizability: unknown writes may or may not take effect",
          "[chaos]") {
  for (auto seen : {"1", "2"}) {
    builder b;
    b.write(1, "x", "1");
    b.invoke(1, "write", "x").set_value("2");
    b.info(1);
    b.read(2, "x", seen);
    b.read(2, "x", seen);
    CHECK(check(b) == verdict::ok);
  }
  // It may even take effect long after it was given up on: but only once.
  builder b;
  b.write(1, "x", "1");
  b.invoke(1, "write", "x").set_value("2"); // never completes
  b.read(2, "x", "1");
  b.read(2, "x", "2");
  b.read(2, "x", "2");
  CHECK(check(b) == verdict::ok);
  b.read(2, "x", "1");
  CHECK(check(b) == verdict::violation);
}

TEST_CASE("linearizability: a definitely failed write never takes effect",
          "[chaos]") {
  builder b;
  b.write(1, "x", "1");
  b.invoke(1, "write", "x").set_value("2");
  b.fail(1);
  b.read(2, "x", "1");
  CHECK(check(b) == verdict::ok);
  b.read(2, "x", "2");
  CHECK(check(b) == verdict::violation);
}

TEST_CASE("linearizability: cas checks the version and the expected value",
          "[chaos]") {
  builder b;
  b.invoke(1, "write", "x").set_value("a");
  b.ok(1).set_version(0);
  auto& cas = b.invoke(1, "cas", "x");
  cas.set_value("b");
  cas.set_version(0);
  b.ok(1);
  b.invoke(2, "read", "x");
  auto& r = b.ok(2);
  r.set_value("b");
  r.set_version(1);
  CHECK(check(b) == verdict::ok);
  // A cas that requires a version the node no longer has cannot succeed.
  auto& stale = b.invoke(3, "cas", "x");
  stale.set_value("c");
  stale.set_version(0);
  b.ok(3);
  CHECK(check(b) == verdict::violation);
}

TEST_CASE("linearizability: cas with an expected value", "[chaos]") {
  builder b;
  b.write(1, "x", "a");
  auto& cas = b.invoke(1, "cas", "x");
  cas.set_value("b");
  cas.set_expected("z");
  b.ok(1);
  CHECK(check(b) == verdict::violation);
}

TEST_CASE("linearizability: versions and zxids must match the writes",
          "[chaos]") {
  builder b;
  b.invoke(1, "write", "x").set_value("a");
  b.ok(1).set_zxid(10);
  b.invoke(1, "write", "x").set_value("a"); // same value, other zxid
  b.ok(1).set_zxid(11);
  b.invoke(2, "read", "x");
  auto& r = b.ok(2);
  r.set_value("a");
  r.set_version(1);
  r.set_zxid(11);
  CHECK(check(b) == verdict::ok);
  b.invoke(2, "read", "x");
  auto& old = b.ok(2);
  old.set_value("a");
  old.set_zxid(10); // the right value, from the overwritten write
  CHECK(check(b) == verdict::violation);
}

TEST_CASE("linearizability: reading a missing node after a write is "
          "rejected",
          "[chaos]") {
  builder b;
  b.write(1, "x", "1");
  b.invoke(2, "read", "x");
  b.ok(2);
  CHECK(check(b) == verdict::violation);
}

TEST_CASE("linearizability: plain reads and other operations are not "
          "searched",
          "[chaos]") {
  builder b;
  b.write(1, "x", "1");
  b.write(1, "x", "2");
  b.invoke(2, "read", "x").set_plain(true);
  b.ok(2).set_value("1"); // stale, which plain reads may be
  b.invoke(2, "add", "s").set_value("e");
  b.ok(2);
  auto h = b.build();
  CHECK_FALSE(is_register_op(h.operations[2]));
  CHECK_FALSE(is_register_op(h.operations[3]));
  auto res = check_linearizability(h);
  REQUIRE(res.keys.size() == 1);
  CHECK(res.keys[0].operations == 2);
  CHECK(res.overall() == verdict::ok);
}

TEST_CASE("linearizability: an exhausted budget is unknown, never ok",
          "[chaos]") {
  builder good;
  for (int i = 0; i < 10; ++i)
    good.write(1, "x", std::to_string(i));
  CHECK(check(good, 5) == verdict::unknown);
  CHECK(check(good, 1000) == verdict::ok);
  // Many concurrent unknown writes and a read of a version they cannot
  // reach: the search must try every subset of the writes before it can
  // say no.
  builder bad;
  for (int p = 0; p < 12; ++p)
    bad.invoke(p, "write", "x").set_value(std::to_string(p));
  bad.invoke(100, "read", "x");
  auto& r = bad.ok(100);
  r.set_value("5");
  r.set_version(20);
  auto h = bad.build();
  linearizability_options opts;
  opts.max_steps = 50;
  auto res = check_linearizability(h, opts);
  CHECK(res.overall() == verdict::unknown);
  CHECK(res.keys[0].steps == 50);
  opts.max_steps = 10'000'000;
  CHECK(check_linearizability(h, opts).overall() == verdict::violation);
}

TEST_CASE("linearizability: plain anomalies are found without searching",
          "[chaos]") {
  linearizability_options opts;
  opts.max_steps = 1;
  SECTION("a read of a value nobody wrote") {
    builder b;
    for (int p = 0; p < 30; ++p)
      b.invoke(p, "write", "x").set_value(std::to_string(p));
    b.read(100, "x", "never written");
    auto h = b.build();
    auto res = check_linearizability(h, opts);
    REQUIRE(res.keys[0].result == verdict::violation);
    CHECK(res.keys[0].steps == 0);
    CHECK(res.keys[0].window == std::vector<size_t>{30});
    CHECK(res.keys[0].message.find("nobody wrote that value")
          != std::string::npos);
  }
  SECTION("a read of an overwritten value, behind unknown writes") {
    builder b;
    b.write(1, "x", "old");
    for (int p = 10; p < 40; ++p)
      b.invoke(p, "write", "x").set_value(std::to_string(p));
    b.write(1, "x", "new");
    b.read(2, "x", "old");
    auto res = check_linearizability(b.build(), opts);
    REQUIRE(res.keys[0].result == verdict::violation);
    CHECK(res.keys[0].window == std::vector<size_t>{0, 31, 32});
    CHECK(res.keys[0].message.find("was overwritten by") != std::string::npos);
  }
  SECTION("two writes that produced the same version") {
    builder b;
    b.invoke(1, "write", "x").set_value("a");
    b.ok(1).set_version(3);
    b.invoke(2, "write", "x").set_value("b");
    b.ok(2).set_version(3);
    auto res = check_linearizability(b.build(), opts);
    REQUIRE(res.keys[0].result == verdict::violation);
    CHECK(res.keys[0].failing_op == 1);
    CHECK(res.keys[0].message.find("both produced version 3")
          != std::string::npos);
  }
  SECTION("a read of a version another value was written at") {
    builder b;
    b.invoke(1, "write", "x").set_value("a");
    b.ok(1).set_version(0);
    b.invoke(2, "read", "x");
    auto& r = b.ok(2);
    r.set_value("b");
    r.set_version(0);
    b.invoke(3, "write", "x").set_value("b"); // concurrent, never finished
    auto res = check_linearizability(b.build(), opts);
    REQUIRE(res.keys[0].result == verdict::violation);
    CHECK(res.keys[0].message.find("but version 0 was written by")
          != std::string::npos);
  }
}

TEST_CASE("linearizability: keys are checked independently", "[chaos]") {
  builder b;
  b.write(1, "x", "1");
  b.write(1, "y", "1");
  b.read(2, "y", "1");
  b.read(2, "x", "0");
  auto h = b.build();
  auto res = check_linearizability(h);
  REQUIRE(res.keys.size() == 2);
  CHECK(res.keys[0].result == verdict::violation);
  CHECK(res.keys[1].result == verdict::ok);
}

namespace {

/// A history of a correct register service: processes invoke reads, writes
/// and cas at random, each takes effect at a random instant before it
/// completes, and some crash (info) before or after taking effect.
struct simulation {
  struct znode {
    bool present = false;
    std::string value;
    int64_t version = 0;
    int64_t mzxid = 0;
  };
  struct in_flight {
    std::string f;
    std::string key;
    std::string value;
    int64_t version = 0;
    bool applied = false;
    bool succeeded = false;
    znode seen; // read: the node; write/cas: after
  };

  explicit simulation(uint64_t seed) : rng(seed) {
    // nop
  }

  builder run(int processes, int keys, int operations) {
    builder b;
    std::map<int64_t, in_flight> busy;
    std::vector<int64_t> ids;
    for (int p = 0; p < processes; ++p)
      ids.push_back(p);
    int64_t next_id = processes;
    int invoked = 0;
    auto pick = [&](int n) {
      return std::uniform_int_distribution<int>{0, n - 1}(rng);
    };
    while (invoked < operations || !busy.empty()) {
      auto roll = pick(100);
      if (roll < 35 && invoked < operations && busy.size() < ids.size()) {
        // Invoke on an idle process.
        std::vector<int64_t> idle;
        for (auto p : ids)
          if (busy.count(p) == 0)
            idle.push_back(p);
        auto p = idle[static_cast<size_t>(pick(static_cast<int>(idle.size())))];
        in_flight op;
        op.key = "k" + std::to_string(pick(keys));
        auto kind = pick(10);
        op.f = kind < 4 ? "read" : kind < 8 ? "write" : "cas";
        auto& rec = b.invoke(p, op.f, op.key);
        if (op.f != "read") {
          op.value = "v" + std::to_string(++values);
          rec.set_value(op.value);
        }
        if (op.f == "cas") {
          op.version = state[op.key].version + pick(2); // may be stale
          rec.set_version(op.version);
        }
        busy.emplace(p, op);
        ++invoked;
        continue;
      }
      if (busy.empty())
        continue;
      auto it = busy.begin();
      std::advance(it, pick(static_cast<int>(busy.size())));
      auto p = it->first;
      auto& op = it->second;
      if (roll < 70 && !op.applied) {
        apply(op);
      } else if (roll < 97 && op.applied) {
        if (op.f == "cas" && !op.succeeded) {
          b.fail(p).set_error("BadVersion");
        } else {
          auto& rec = b.ok(p);
          if (op.f == "read") {
            if (op.seen.present) {
              rec.set_value(op.seen.value);
              rec.set_version(op.seen.version);
              rec.set_zxid(op.seen.mzxid);
            }
          } else {
            rec.set_zxid(op.seen.mzxid);
            if (op.f == "write")
              rec.set_version(op.seen.version);
          }
        }
        busy.erase(it);
      } else if (roll >= 97) {
        // Crash, before or after taking effect; the process is replaced.
        if (pick(2) == 0 && !op.applied)
          apply(op);
        if (pick(3) > 0)
          b.info(p).set_error("ConnectionLoss");
        busy.erase(it);
        std::replace(ids.begin(), ids.end(), p, next_id++);
      }
    }
    return b;
  }

  void apply(in_flight& op) {
    auto& node = state[op.key];
    op.applied = true;
    if (op.f == "read") {
      op.seen = node;
      return;
    }
    if (op.f == "cas" && (!node.present || node.version != op.version))
      return; // fails
    node.version = node.present ? node.version + 1 : 0;
    node.present = true;
    node.value = op.value;
    node.mzxid = ++zxid;
    op.succeeded = true;
    op.seen = node;
  }

  std::mt19937_64 rng;
  std::map<std::string, znode> state;
  int values = 0;
  int64_t zxid = 0;
};

/// Makes an ok read of the history stale: it returns the value of a write
/// that a later write definitely overwrote before the read began. Returns
/// the read's operation index, or never if the history has no such read.
size_t inject_stale_read(builder& b) {
  auto h = b.build();
  const auto& ops = h.operations;
  auto is_ok_write = [&](const operation& op) {
    return op.outcome == Record::ok && op.f() != "read";
  };
  for (size_t r = 0; r < ops.size(); ++r) {
    if (ops[r].f() != "read" || ops[r].outcome != Record::ok)
      continue;
    for (size_t w0 = 0; w0 < ops.size(); ++w0) {
      if (!is_ok_write(ops[w0]) || ops[w0].key() != ops[r].key()
          || ops[w0].op.value() == ops[r].op.value())
        continue;
      for (size_t w1 = 0; w1 < ops.size(); ++w1) {
        if (!is_ok_write(ops[w1]) || ops[w1].key() != ops[r].key()
            || ops[w0].complete >= ops[w1].invoke
            || ops[w1].complete >= ops[r].invoke)
          continue;
        auto& done = b.records()[ops[r].complete];
        done.set_value(ops[w0].op.value());
        done.clear_version();
        done.set_zxid(ops[w0].op.zxid());
        return r;
      }
    }
  }
  return never;
}

} // namespace

TEST_CASE("linearizability: random histories of a correct register pass and "
          "one injected stale read fails",
          "[chaos]") {
  int injected = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    CAPTURE(seed);
    simulation sim{seed};
    auto b = sim.run(5, 3, 150);
    auto h = b.build();
    auto res = check_linearizability(h);
    for (const auto& k : res.keys) {
      INFO(k.message);
      REQUIRE(k.result == verdict::ok);
    }
    auto read = inject_stale_read(b);
    if (read == never)
      continue;
    ++injected;
    auto bad = b.build();
    auto after = check_linearizability(bad);
    REQUIRE(after.overall() == verdict::violation);
    for (const auto& k : after.keys) {
      if (k.key != bad.operations[read].key()) {
        CHECK(k.result == verdict::ok);
        continue;
      }
      CHECK(k.result == verdict::violation);
      // The shortest failing prefix ends with the stale read.
      CHECK(k.failing_op == read);
      CHECK(std::find(k.window.begin(), k.window.end(), read)
            != k.window.end());
    }
  }
  CHECK(injected >= 30);
}
