// session_table: the replicated session table applies opens and closes
// deterministically, clamps timeouts and enforces its limits, saves to a
// pinned byte layout and rejects every damaged snapshot; make_session_id
// follows ZooKeeper's scheme and keeps ids unique as documented.

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "runtime/session_table.hpp"
#include "runtime/storage/crc32c.hpp"

#include "tests/support/aborts.hpp"
#include "tests/support/printers.hpp"

using namespace conclave;

namespace {

constexpr int64_t int64_min = std::numeric_limits<int64_t>::min();

/// A negative session id (node byte 0xC0 = 192; small negative numbers
/// have the reserved 0xFF node byte).
constexpr int64_t neg(uint64_t low) {
  return static_cast<int64_t>(0xC000000000000000ULL | low);
}

/// A 16-byte password derived from `seed` (tests only; the shell uses a
/// random source).
std::string pw(uint64_t seed) {
  std::string out(session_password_bytes, '\0');
  for (size_t k = 0; k < out.size(); ++k)
    out[k] = static_cast<char>((seed * 131 + k * 17 + (seed >> 8)) & 0xFF);
  return out;
}

session_id sid(int64_t x) {
  return session_id{x};
}

using conclave::test::aborts;

// -- byte helpers for hand-made snapshots -------------------------------------

void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>(x >> (8 * i)));
}

void put_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>(x >> (8 * i)));
}

uint64_t get_u64(const std::string& s, size_t at) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i)
    x = x << 8 | static_cast<unsigned char>(s[at + i]);
  return x;
}

uint32_t get_u32(const std::string& s, size_t at) {
  uint32_t x = 0;
  for (int i = 3; i >= 0; --i)
    x = x << 8 | static_cast<unsigned char>(s[at + i]);
  return x;
}

struct raw_record {
  uint64_t id;
  uint32_t timeout;
  uint64_t zxid;
  std::string password = pw(1);
};

/// A snapshot built by hand: header, records as given (no checks), count
/// `n` (default: the number of records), and a correct CRC-32C computed
/// with storage::crc32c (Boost.CRC), which pins the checksum.
std::string make_snapshot(const std::vector<raw_record>& records,
                          std::optional<uint64_t> n = std::nullopt,
                          uint32_t version = 1) {
  std::string out = "CNCLSESS";
  put_u32(out, version);
  put_u64(out, n ? *n : records.size());
  for (const auto& r : records) {
    put_u64(out, r.id);
    put_u32(out, r.timeout);
    put_u64(out, r.zxid);
    out += r.password;
  }
  put_u32(out, storage::crc32c::of(out));
  return out;
}

/// Recomputes the trailing CRC after an edit.
void reseal(std::string& bytes) {
  bytes.resize(bytes.size() - 4);
  put_u32(bytes, storage::crc32c::of(bytes));
}

session_table sample_table(size_t n, session_limits_config limits = {}) {
  session_table t{limits};
  for (size_t k = 0; k < n; ++k) {
    auto id = make_session_id(node_id{1 + k % 3}, k, 1'700'000'000'000);
    auto r = t.open(id, static_cast<int32_t>(4000 + 100 * k), pw(k),
                    zxid{static_cast<int64_t>(k + 1)});
    REQUIRE(r.ok());
  }
  return t;
}

} // namespace

// -- open, close, find --------------------------------------------------------

TEST_CASE("session_table: open, find and close", "[session]") {
  session_table t;
  CHECK(t.empty());
  CHECK(t.find(sid(7)) == nullptr);
  auto r = t.open(sid(7), 10000, pw(7), zxid{3});
  REQUIRE(r.ok());
  CHECK(r->id == sid(7));
  CHECK(r->timeout_ms == 10000);
  CHECK(r->password == pw(7));
  CHECK(r->created_zxid == zxid{3});
  CHECK(t.size() == 1);
  auto found = t.find(sid(7));
  REQUIRE(found != nullptr);
  CHECK(*found == *r);
  REQUIRE(t.open(sid(5), 6000, pw(5), zxid{4}).ok());
  CHECK(t.size() == 2);
  CHECK(t.close(sid(7)));
  CHECK_FALSE(t.close(sid(7)));
  CHECK_FALSE(t.close(sid(99)));
  CHECK(t.find(sid(7)) == nullptr);
  REQUIRE(t.find(sid(5)) != nullptr);
  CHECK(t.size() == 1);
  // A closed id may be opened again (a new session with the same id).
  auto again = t.open(sid(7), 5000, pw(70), zxid{9});
  REQUIRE(again.ok());
  CHECK(again->created_zxid == zxid{9});
  CHECK(t.check_password(sid(7), pw(70)));
}

TEST_CASE("session_table: check_password", "[session]") {
  session_table t;
  REQUIRE(t.open(sid(1), 5000, pw(1), zxid{1}).ok());
  REQUIRE(t.open(sid(2), 5000, pw(2), zxid{2}).ok());
  CHECK(t.check_password(sid(1), pw(1)));
  CHECK(t.check_password(sid(2), pw(2)));
  CHECK_FALSE(t.check_password(sid(1), pw(2)));
  CHECK_FALSE(t.check_password(sid(3), pw(1))); // unknown session
  CHECK_FALSE(t.check_password(sid(1), ""));
  CHECK_FALSE(t.check_password(sid(1), pw(1).substr(0, 15)));
  CHECK_FALSE(t.check_password(sid(1), pw(1) + "x"));
  // Every single-bit difference anywhere is noticed.
  for (size_t k = 0; k < session_password_bytes; ++k)
    for (int bit = 0; bit < 8; ++bit) {
      auto p = pw(1);
      p[k] = static_cast<char>(p[k] ^ (1 << bit));
      CHECK_FALSE(t.check_password(sid(1), p));
    }
  // Passwords are arbitrary bytes, including NULs.
  REQUIRE(t.open(sid(3), 5000, std::string(16, '\0'), zxid{3}).ok());
  CHECK(t.check_password(sid(3), std::string(16, '\0')));
  CHECK_FALSE(t.check_password(sid(3), std::string(16, '\1')));
  t.close(sid(1));
  CHECK_FALSE(t.check_password(sid(1), pw(1)));
}

TEST_CASE("session_table: timeouts are clamped, never refused", "[session]") {
  session_limits_config defaults;
  CHECK(defaults.min_timeout_ms == 4000);  // 2 ticks of 2000 ms
  CHECK(defaults.max_timeout_ms == 40000); // 20 ticks
  CHECK(defaults.valid());
  CHECK(defaults.clamp_timeout(4000) == 4000);
  CHECK(defaults.clamp_timeout(3999) == 4000);
  CHECK(defaults.clamp_timeout(0) == 4000);
  CHECK(defaults.clamp_timeout(-1) == 4000);
  CHECK(defaults.clamp_timeout(std::numeric_limits<int32_t>::min()) == 4000);
  CHECK(defaults.clamp_timeout(4001) == 4001);
  CHECK(defaults.clamp_timeout(30000) == 30000);
  CHECK(defaults.clamp_timeout(40000) == 40000);
  CHECK(defaults.clamp_timeout(40001) == 40000);
  CHECK(defaults.clamp_timeout(std::numeric_limits<int32_t>::max()) == 40000);

  session_table t{{100, 200, 10}};
  CHECK(t.open(sid(1), 50, pw(1), zxid{1})->timeout_ms == 100);
  CHECK(t.open(sid(2), 150, pw(2), zxid{2})->timeout_ms == 150);
  CHECK(t.open(sid(3), 999, pw(3), zxid{3})->timeout_ms == 200);
  CHECK(t.open(sid(4), -5, pw(4), zxid{4})->timeout_ms == 100);
  CHECK(t.find(sid(3))->timeout_ms == 200);
  // min == max: every session gets exactly that.
  session_table fixed{{3000, 3000, 10}};
  CHECK(fixed.open(sid(1), 1, pw(1), zxid{1})->timeout_ms == 3000);
  CHECK(fixed.open(sid(2), 1 << 30, pw(2), zxid{2})->timeout_ms == 3000);
}

TEST_CASE("session_table: invalid limits are broken invariants", "[session]") {
  CHECK_FALSE(session_limits_config{0, 10, 1}.valid());
  CHECK_FALSE(session_limits_config{-1, 10, 1}.valid());
  CHECK_FALSE(session_limits_config{11, 10, 1}.valid());
  CHECK_FALSE(session_limits_config{1, 10, 0}.valid());
  CHECK(session_limits_config{1, 1, 1}.valid());
  CHECK(aborts([] { session_table t{{0, 10, 1}}; }));
  CHECK(aborts([] { session_table t{{5, 4, 1}}; }));
  CHECK(aborts([] { (void)session_table::load("", {1, 10, 0}); }));
  CHECK_FALSE(aborts([] { session_table t{{1, 1, 1}}; }));
}

TEST_CASE("session_table: max_sessions throttles opens", "[session]") {
  session_table t{{4000, 40000, 3}};
  REQUIRE(t.open(sid(1), 5000, pw(1), zxid{1}).ok());
  REQUIRE(t.open(sid(2), 5000, pw(2), zxid{2}).ok());
  REQUIRE(t.open(sid(3), 5000, pw(3), zxid{3}).ok());
  auto before = t.save();
  auto r = t.open(sid(4), 5000, pw(4), zxid{4});
  CHECK(r.error() == error_code::throttled_op);
  CHECK(t.size() == 3);
  CHECK(t.find(sid(4)) == nullptr);
  CHECK(t.save() == before);
  // Closing one makes room again.
  CHECK(t.close(sid(2)));
  CHECK(t.open(sid(4), 5000, pw(4), zxid{5}).ok());
  CHECK(t.open(sid(5), 5000, pw(5), zxid{6}).error()
        == error_code::throttled_op);
}

TEST_CASE("session_table: invalid ids and passwords are bad_arguments",
          "[session]") {
  session_table t;
  auto open = [&](int64_t id, std::string password) {
    return t.open(sid(id), 5000, std::move(password), zxid{1}).error();
  };
  CHECK(open(0, pw(1)) == error_code::bad_arguments);
  CHECK(open(int64_min, pw(1)) == error_code::bad_arguments); // container
  CHECK(open(static_cast<int64_t>(0xFF00000000000001ULL), pw(1))
        == error_code::bad_arguments);                 // TTL marker byte
  CHECK(open(-1, pw(1)) == error_code::bad_arguments); // 0xFF... as well
  CHECK(open(1, "") == error_code::bad_arguments);
  CHECK(open(1, std::string(15, 'x')) == error_code::bad_arguments);
  CHECK(open(1, std::string(17, 'x')) == error_code::bad_arguments);
  CHECK(t.empty());
  // Negative ids other than the markers are fine (node ids 128..254).
  CHECK(open(static_cast<int64_t>(0x8000000000000001ULL), pw(1))
        == error_code::ok);
  CHECK(open(static_cast<int64_t>(0xFE00000000000000ULL), pw(1))
        == error_code::ok);
  CHECK(open(std::numeric_limits<int64_t>::max(), pw(1)) == error_code::ok);
  CHECK(t.size() == 3);

  CHECK_FALSE(is_valid_session_id(sid(0)));
  CHECK_FALSE(is_valid_session_id(sid(int64_min)));
  CHECK_FALSE(is_valid_session_id(sid(-1)));
  CHECK_FALSE(
    is_valid_session_id(sid(static_cast<int64_t>(0xFF12345678ABCDEFULL))));
  CHECK(is_valid_session_id(sid(1)));
  CHECK(is_valid_session_id(sid(int64_min + 1)));
  CHECK(is_valid_session_id(sid(static_cast<int64_t>(0xFEFFFFFFFFFFFFFFULL))));
}

TEST_CASE("session_table: a duplicate id is refused and changes nothing",
          "[session]") {
  session_table t;
  REQUIRE(t.open(sid(42), 5000, pw(1), zxid{1}).ok());
  auto before = t.save();
  auto r = t.open(sid(42), 9000, pw(2), zxid{2});
  CHECK(r.error() == error_code::runtime_inconsistency);
  CHECK(t.save() == before);
  CHECK(t.find(sid(42))->timeout_ms == 5000);
  CHECK(t.find(sid(42))->created_zxid == zxid{1});
  CHECK(t.check_password(sid(42), pw(1)));
  CHECK_FALSE(t.check_password(sid(42), pw(2)));
  // Checked before the limit: a full table still reports the duplicate.
  session_table full{{4000, 40000, 1}};
  REQUIRE(full.open(sid(1), 5000, pw(1), zxid{1}).ok());
  CHECK(full.open(sid(1), 5000, pw(1), zxid{2}).error()
        == error_code::runtime_inconsistency);
  CHECK(full.open(sid(2), 5000, pw(1), zxid{2}).error()
        == error_code::throttled_op);
}

TEST_CASE("session_table: a zxid <= 0 is a broken invariant", "[session]") {
  CHECK(aborts([] { session_table{}.open(sid(1), 5000, pw(1), zxid{0}); }));
  CHECK(aborts([] { session_table{}.open(sid(1), 5000, pw(1), zxid{-3}); }));
  // Even for otherwise invalid arguments: it is the shell's bug.
  CHECK(aborts([] { session_table{}.open(sid(0), 5000, "", zxid{0}); }));
  CHECK_FALSE(
    aborts([] { session_table{}.open(sid(1), 5000, pw(1), zxid{1}); }));
}

TEST_CASE("session_table: sessions iterate in ascending id order",
          "[session]") {
  session_table t;
  std::vector<int64_t> ids = {
    50, neg(7), 3, int64_min + 1, 1000, 2, std::numeric_limits<int64_t>::max()};
  int64_t z = 1;
  for (auto id : ids) {
    REQUIRE(t.open(sid(id), 5000, pw(z), zxid{z}).ok());
    ++z;
  }
  std::vector<int64_t> seen;
  for (const auto& [id, info] : t.sessions()) {
    CHECK(info.id == id);
    seen.push_back(id.value());
  }
  std::sort(ids.begin(), ids.end());
  CHECK(seen == ids);
}

// -- determinism --------------------------------------------------------------

TEST_CASE("session_table: replicas fed the same commands agree, and so does "
          "a model",
          "[session]") {
  // A random stream of opens (some duplicates, some invalid), closes and
  // password checks, applied to two tables and checked against a map.
  std::mt19937_64 rng{20240611};
  session_limits_config limits{1000, 9000, 50};
  session_table a{limits};
  session_table b{limits};
  std::map<int64_t, session_info> model;
  for (int64_t step = 1; step <= 20000; ++step) {
    auto id = static_cast<int64_t>(rng() % 80); // includes 0
    auto what = rng() % 10;
    if (what < 5) {
      auto timeout = static_cast<int32_t>(rng() % 12000) - 1000;
      auto password = pw(rng());
      auto ra = a.open(sid(id), timeout, password, zxid{step});
      auto rb = b.open(sid(id), timeout, password, zxid{step});
      REQUIRE(ra.error() == rb.error());
      error_code expected = error_code::ok;
      if (id == 0)
        expected = error_code::bad_arguments;
      else if (model.count(id) != 0)
        expected = error_code::runtime_inconsistency;
      else if (model.size() >= limits.max_sessions)
        expected = error_code::throttled_op;
      REQUIRE(ra.error() == expected);
      if (expected == error_code::ok) {
        session_info info{sid(id), limits.clamp_timeout(timeout), password,
                          zxid{step}};
        REQUIRE(*ra == info);
        model[id] = info;
      }
    } else if (what < 8) {
      auto ca = a.close(sid(id));
      REQUIRE(ca == b.close(sid(id)));
      REQUIRE(ca == (model.erase(id) == 1));
    } else {
      auto i = model.find(id);
      auto right = i == model.end() ? pw(0) : i->second.password;
      REQUIRE(a.check_password(sid(id), right) == (i != model.end()));
    }
    REQUIRE(a.size() == model.size());
  }
  CHECK(a.save() == b.save());
  std::vector<session_info> from_table;
  for (const auto& [id, info] : a.sessions())
    from_table.push_back(info);
  std::vector<session_info> from_model;
  for (const auto& [id, info] : model)
    from_model.push_back(info);
  CHECK(from_table == from_model);
}

TEST_CASE("session_table: save depends only on the sessions", "[session]") {
  // Same final sessions, reached in different orders and via closes.
  session_table a;
  REQUIRE(a.open(sid(3), 5000, pw(3), zxid{1}).ok());
  REQUIRE(a.open(sid(1), 6000, pw(1), zxid{2}).ok());
  REQUIRE(a.open(sid(2), 7000, pw(2), zxid{3}).ok());
  session_table b;
  REQUIRE(b.open(sid(9), 5000, pw(9), zxid{7}).ok());
  REQUIRE(b.open(sid(2), 7000, pw(2), zxid{3}).ok());
  REQUIRE(b.open(sid(1), 6000, pw(1), zxid{2}).ok());
  REQUIRE(b.open(sid(3), 5000, pw(3), zxid{1}).ok());
  CHECK(b.close(sid(9)));
  CHECK(a.save() == b.save());
  // A different field changes the bytes.
  session_table c;
  REQUIRE(c.open(sid(3), 5000, pw(3), zxid{1}).ok());
  REQUIRE(c.open(sid(1), 6000, pw(1), zxid{2}).ok());
  REQUIRE(c.open(sid(2), 7001, pw(2), zxid{3}).ok());
  CHECK(a.save() != c.save());
  // The limits are not part of the bytes.
  session_table d{{1, 100000, 5}};
  REQUIRE(d.open(sid(1), 6000, pw(1), zxid{2}).ok());
  REQUIRE(d.open(sid(2), 7000, pw(2), zxid{3}).ok());
  REQUIRE(d.open(sid(3), 5000, pw(3), zxid{1}).ok());
  CHECK(a.save() == d.save());
}

// -- snapshots ----------------------------------------------------------------

TEST_CASE("session_table: save/load round trip", "[session]") {
  for (size_t n : {0, 1, 2, 17, 1000}) {
    INFO("sessions: " << n);
    auto t = sample_table(n);
    auto bytes = t.save();
    CHECK(bytes.size() == session_table::snapshot_bytes(n));
    CHECK(bytes == t.save()); // stable
    auto loaded = session_table::load(bytes, {});
    REQUIRE(loaded.ok());
    CHECK(loaded->size() == n);
    CHECK(loaded->save() == bytes);
    for (const auto& [id, info] : t.sessions()) {
      auto found = loaded->find(id);
      REQUIRE(found != nullptr);
      CHECK(*found == info);
      CHECK(loaded->check_password(id, info.password));
    }
  }
}

TEST_CASE("session_table: a loaded table applies like the original",
          "[session]") {
  session_limits_config limits{4000, 40000, 8};
  auto t = sample_table(5, limits);
  auto loaded = session_table::load(t.save(), limits);
  REQUIRE(loaded.ok());
  auto& u = loaded.value();
  CHECK(u.limits().max_sessions == 8);
  int64_t z = 100;
  for (int64_t id = 1; id <= 6; ++id) {
    auto ra = t.open(sid(id), 1000 * static_cast<int32_t>(id), pw(id), zxid{z});
    auto rb
      = u.open(sid(id), 1000 * static_cast<int32_t>(id), pw(id), zxid{z++});
    CHECK(ra.error() == rb.error());
  }
  auto first = t.sessions().begin()->first;
  CHECK(t.close(first) == u.close(first));
  CHECK(t.save() == u.save());
}

TEST_CASE("session_table: the snapshot layout is pinned", "[session]") {
  session_table t;
  auto id = static_cast<int64_t>(0x0102030405060708ULL);
  REQUIRE(t.open(sid(id), 12345, pw(5), zxid{0x1122334455667788}).ok());
  REQUIRE(t.open(sid(neg(2)), 4000, pw(6), zxid{9}).ok());
  auto bytes = t.save();
  REQUIRE(bytes.size() == 24 + 2 * 36);
  CHECK(bytes.substr(0, 8) == "CNCLSESS");
  CHECK(get_u32(bytes, 8) == 1);
  CHECK(get_u64(bytes, 12) == 2);
  // Ascending signed order: the negative id first.
  CHECK(get_u64(bytes, 20) == static_cast<uint64_t>(neg(2)));
  CHECK(get_u32(bytes, 28) == 4000);
  CHECK(get_u64(bytes, 32) == 9);
  CHECK(bytes.substr(40, 16) == pw(6));
  CHECK(get_u64(bytes, 56) == 0x0102030405060708ULL);
  CHECK(static_cast<unsigned char>(bytes[56]) == 0x08); // little-endian
  CHECK(get_u32(bytes, 64) == 12345);
  CHECK(get_u64(bytes, 68) == 0x1122334455667788ULL);
  CHECK(bytes.substr(76, 16) == pw(5));
  // The trailer is the standard CRC-32C (cross-checked with Boost.CRC).
  CHECK(get_u32(bytes, 92)
        == storage::crc32c::of(std::string_view{bytes}.substr(0, 92)));
  CHECK(make_snapshot(
          {{static_cast<uint64_t>(neg(2)), 4000, 9, pw(6)},
           {0x0102030405060708ULL, 12345, 0x1122334455667788ULL, pw(5)}})
        == bytes);
  // The empty table.
  auto empty = session_table{}.save();
  CHECK(empty == make_snapshot({}));
  CHECK(empty.size() == 24);
}

TEST_CASE("session_table: every truncation is data_inconsistency",
          "[session]") {
  auto bytes = sample_table(4).save();
  for (size_t len = 0; len < bytes.size(); ++len) {
    INFO("length " << len);
    CHECK(session_table::load(bytes.substr(0, len), {}).error()
          == error_code::data_inconsistency);
  }
  // Extra bytes after the trailer are refused too.
  CHECK(session_table::load(bytes + '\0', {}).error()
        == error_code::data_inconsistency);
  CHECK(session_table::load(bytes + bytes, {}).error()
        == error_code::data_inconsistency);
  CHECK(session_table::load(bytes, {}).ok());
}

TEST_CASE("session_table: every bit flip is data_inconsistency", "[session]") {
  for (size_t n : {0, 3}) {
    auto bytes = sample_table(n).save();
    for (size_t k = 0; k < bytes.size(); ++k)
      for (int bit = 0; bit < 8; ++bit) {
        auto bad = bytes;
        bad[k] = static_cast<char>(bad[k] ^ (1 << bit));
        INFO("n " << n << " byte " << k << " bit " << bit);
        CHECK(session_table::load(bad, {}).error()
              == error_code::data_inconsistency);
      }
  }
}

TEST_CASE("session_table: random damage never crashes", "[session]") {
  std::mt19937_64 rng{7};
  auto bytes = sample_table(6).save();
  for (int round = 0; round < 3000; ++round) {
    auto bad = bytes;
    auto edits = 1 + rng() % 6;
    for (size_t e = 0; e < edits; ++e)
      bad[rng() % bad.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0)
      bad.resize(rng() % (bad.size() + 1));
    auto r = session_table::load(bad, {});
    if (bad != bytes)
      CHECK(r.error() == error_code::data_inconsistency);
  }
  // Arbitrary garbage, including a sealed CRC over garbage.
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 200, '\0');
    for (auto& ch : junk)
      ch = static_cast<char>(rng());
    if (junk.size() >= 4 && rng() % 2 == 0)
      reseal(junk);
    auto r = session_table::load(junk, {});
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("session_table: well-sealed but invalid snapshots are refused",
          "[session]") {
  auto refused = [](const std::string& bytes) {
    return session_table::load(bytes, {}).error()
           == error_code::data_inconsistency;
  };
  raw_record a{5, 4000, 1};
  raw_record b{6, 4000, 2};
  CHECK_FALSE(refused(make_snapshot({a, b})));
  CHECK(refused(make_snapshot({b, a})));                  // descending ids
  CHECK(refused(make_snapshot({a, a})));                  // duplicate ids
  CHECK(refused(make_snapshot({{0, 4000, 1}})));          // id 0
  CHECK(refused(make_snapshot({{1ULL << 63, 4000, 1}}))); // container marker
  CHECK(refused(make_snapshot({{0xFF00000000000005ULL, 4000, 1}}))); // TTL
  CHECK(refused(make_snapshot({{5, 0, 1}})));           // timeout 0
  CHECK(refused(make_snapshot({{5, 0xFFFFFFFFu, 1}}))); // timeout -1
  CHECK(refused(make_snapshot({{5, 0x80000000u, 1}}))); // INT32_MIN
  CHECK(refused(make_snapshot({{5, 4000, 0}})));        // zxid 0
  CHECK(refused(make_snapshot({{5, 4000, ~0ULL}})));    // zxid -1
  CHECK(refused(make_snapshot({a, b}, 1)));             // count too small
  CHECK(refused(make_snapshot({a, b}, 3)));             // count too large
  CHECK(refused(make_snapshot({}, ~0ULL)));             // huge count
  CHECK(refused(make_snapshot({a}, ~0ULL / 36 + 2)));   // count * 36 wraps
  CHECK(refused(make_snapshot({a}, std::nullopt, 0)));  // version 0
  CHECK(refused(make_snapshot({a}, std::nullopt, 2)));  // version 2
  auto magic = make_snapshot({a});
  magic[0] = 'X';
  reseal(magic);
  CHECK(refused(magic));
  // A body that is not a whole number of records.
  auto ragged = make_snapshot({a});
  ragged.insert(ragged.size() - 4, "x");
  reseal(ragged);
  CHECK(refused(ragged));
  // Ascending signed order across the sign boundary is valid...
  CHECK_FALSE(refused(
    make_snapshot({{static_cast<uint64_t>(neg(5)), 4000, 1}, {5, 4000, 1}})));
  // ...and unsigned order is not.
  CHECK(refused(
    make_snapshot({{5, 4000, 1}, {static_cast<uint64_t>(neg(5)), 4000, 1}})));
  // Largest timeout and zxid are accepted.
  CHECK_FALSE(
    refused(make_snapshot({{5, 0x7FFFFFFFu, 0x7FFFFFFFFFFFFFFFULL}})));
}

TEST_CASE("session_table: load accepts sessions beyond today's limits",
          "[session]") {
  auto t = sample_table(5, {100, 100000, 10}); // timeouts 4000..4400
  auto loaded = session_table::load(t.save(), {100, 1000, 3});
  REQUIRE(loaded.ok());
  auto& u = loaded.value();
  CHECK(u.size() == 5);
  CHECK(u.sessions().begin()->second.timeout_ms > 1000);
  // New opens are throttled until the table is below the limit again.
  CHECK(u.open(sid(77), 500, pw(77), zxid{100}).error()
        == error_code::throttled_op);
  while (u.size() > 2)
    u.close(u.sessions().begin()->first);
  CHECK(u.open(sid(77), 5000, pw(77), zxid{100})->timeout_ms == 1000);
}

// -- session ids --------------------------------------------------------------

TEST_CASE("session_table: make_session_id follows ZooKeeper's layout",
          "[session]") {
  constexpr int64_t t0 = 1'700'000'000'123; // ms since the epoch
  auto id = make_session_id(node_id{3}, 0, t0);
  // ZooKeeper: ((time << 24) >>> 8) | (sid << 56), then + counter.
  auto zk = static_cast<int64_t>((static_cast<uint64_t>(t0) << 24 >> 8)
                                 | (uint64_t{3} << 56));
  CHECK(id.value() == zk);
  CHECK(static_cast<uint64_t>(id.value()) >> 56 == 3);
  CHECK((static_cast<uint64_t>(id.value()) >> 16 & ((1ULL << 40) - 1))
        == (static_cast<uint64_t>(t0) & ((1ULL << 40) - 1)));
  CHECK((id.value() & 0xFFFF) == 0);
  CHECK(make_session_id(node_id{3}, 5, t0).value() == zk + 5);
  CHECK(make_session_id(node_id{3}, 70000, t0).value() == zk + 70000);
  // Node ids 128..254 give negative ids, valid all the same.
  auto high = make_session_id(node_id{200}, 1, t0);
  CHECK(high.value() < 0);
  CHECK(is_valid_session_id(high));
  CHECK(static_cast<uint64_t>(high.value()) >> 56 == 200);
  // The low 56 bits wrap; the node byte never changes.
  auto top = make_session_id(node_id{7}, (1ULL << 56) - 1, t0);
  CHECK(static_cast<uint64_t>(top.value()) >> 56 == 7);
  auto max_time = make_session_id(node_id{7}, 1ULL << 16, (1LL << 40) - 1);
  CHECK(static_cast<uint64_t>(max_time.value()) == 7ULL << 56);
  CHECK(make_session_id(node_id{9}, ~0ULL, -1).value() >> 56 == 9);
  // Only the low 40 bits of the time count.
  CHECK(make_session_id(node_id{1}, 0, t0)
        == make_session_id(node_id{1}, 0, t0 + (1LL << 40)));
}

TEST_CASE("session_table: make_session_id needs a leader id in 1..254",
          "[session]") {
  CHECK_FALSE(can_issue_session_ids(node_id{0}));
  CHECK(can_issue_session_ids(node_id{1}));
  CHECK(can_issue_session_ids(node_id{254}));
  CHECK_FALSE(can_issue_session_ids(node_id{255}));
  CHECK_FALSE(can_issue_session_ids(node_id{256}));
  CHECK_FALSE(can_issue_session_ids(node_id{~0ULL}));
  CHECK(aborts([] { make_session_id(node_id{0}, 0, 1); }));
  CHECK(aborts([] { make_session_id(node_id{255}, 0, 1); }));
  CHECK(aborts([] { make_session_id(node_id{1000}, 0, 1); }));
  CHECK_FALSE(aborts([] { make_session_id(node_id{254}, 0, 1); }));
  // Every leader id in range yields valid ids (leader 128's one exception
  // is below), never a TTL marker.
  for (uint64_t leader = 1; leader <= max_session_leader_id; ++leader)
    for (uint64_t counter : {0ULL, 1ULL, 65535ULL, 1ULL << 40})
      CHECK(is_valid_session_id(
        make_session_id(node_id{leader}, counter, 1'700'000'000'000)));
  // The one reserved id the formula can produce: leader 128, low bits 0.
  CHECK(make_session_id(node_id{128}, 0, 0).value() == int64_min);
  CHECK_FALSE(is_valid_session_id(make_session_id(node_id{128}, 0, 0)));
}

TEST_CASE("session_table: session ids are unique across counters, leaders "
          "and times",
          "[session]") {
  std::set<int64_t> seen;
  size_t made = 0;
  auto add = [&](uint64_t leader, uint64_t counter, int64_t time) {
    seen.insert(make_session_id(node_id{leader}, counter, time).value());
    ++made;
  };
  constexpr int64_t t0 = 1'700'000'000'000;
  // One leader, one base: 200,000 consecutive counters.
  for (uint64_t c = 0; c < 200000; ++c)
    add(1, c, t0);
  CHECK(seen.size() == made);
  // All leaders, several bases 1 ms to years apart, each run issuing fewer
  // than 65,536 ids per ms elapsed before the next base.
  seen.clear();
  made = 0;
  const int64_t bases[] = {t0,
                           t0 + 1,
                           t0 + 2,
                           t0 + 1000,
                           t0 + 86'400'000LL,
                           t0 + 365LL * 86'400'000LL};
  for (uint64_t leader = 1; leader <= max_session_leader_id; ++leader)
    for (auto base : bases)
      for (uint64_t c = 0; c < 300; ++c)
        add(leader, c, base);
  CHECK(seen.size() == made);
  // The documented boundary: a run based on t1 that reaches counter
  // (t2 - t1) * 65536 meets the first id of the run based on t2.
  CHECK(make_session_id(node_id{4}, 65535, t0)
        != make_session_id(node_id{4}, 0, t0 + 1));
  CHECK(make_session_id(node_id{4}, 65536, t0)
        == make_session_id(node_id{4}, 0, t0 + 1));
  CHECK(make_session_id(node_id{4}, 3 * 65536 - 1, t0)
        != make_session_id(node_id{4}, 0, t0 + 3));
  // Same counter and time, different leaders: always distinct.
  std::set<int64_t> by_leader;
  for (uint64_t leader = 1; leader <= max_session_leader_id; ++leader)
    by_leader.insert(make_session_id(node_id{leader}, 12345, t0).value());
  CHECK(by_leader.size() == max_session_leader_id);
}

TEST_CASE("session_table: next_free_id skips taken and reserved ids",
          "[session]") {
  constexpr int64_t t0 = 1'700'000'000'000;
  session_table t;
  uint64_t counter = 0;
  auto first = t.next_free_id(node_id{2}, counter, t0);
  CHECK(first == make_session_id(node_id{2}, 0, t0));
  CHECK(counter == 1);
  // The next ids are taken (opened by a former run with the same base).
  for (uint64_t c = 1; c <= 3; ++c)
    REQUIRE(t.open(make_session_id(node_id{2}, c, t0), 5000, pw(c),
                   zxid{static_cast<int64_t>(c)})
              .ok());
  auto next = t.next_free_id(node_id{2}, counter, t0);
  CHECK(next == make_session_id(node_id{2}, 4, t0));
  CHECK(counter == 5);
  CHECK(t.find(next) == nullptr);
  // Leader 128 at time 0 and counter 0 would produce the container marker.
  uint64_t c128 = 0;
  auto id128 = t.next_free_id(node_id{128}, c128, 0);
  CHECK(id128 == make_session_id(node_id{128}, 1, 0));
  CHECK(is_valid_session_id(id128));
  CHECK(c128 == 2);
  // The ids it hands out can always be opened.
  session_table u{{4000, 40000, 1000}};
  uint64_t c = 0;
  for (int64_t z = 1; z <= 1000; ++z)
    REQUIRE(
      u.open(u.next_free_id(node_id{1}, c, t0), 5000, pw(z), zxid{z}).ok());
  CHECK(aborts([&] {
    uint64_t x = 0;
    t.next_free_id(node_id{0}, x, t0);
  }));
}
