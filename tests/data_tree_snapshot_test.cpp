// data_tree snapshots: save() and load() round-trip every observable part of
// the tree, and load() turns every damaged payload into data_inconsistency.
//
// The tests decode and re-encode payloads themselves (with the generated
// messages and storage::crc32c), which also pins the documented format:
// u32 little-endian framing, header / nodes in pre-order / trailer, and a
// standard CRC-32C over everything before the trailer.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "messages/snapshot.pb.h"
#include "runtime/data_tree.hpp"
#include "runtime/storage/crc32c.hpp"

#include "tests/support/printers.hpp"

using namespace conclave;

namespace {

using namespace std::string_literals;

constexpr auto data_inconsistency = error_code::data_inconsistency;

// -- saving and loading -------------------------------------------------------

/// The whole payload, checking the chunk contract on the way.
std::string save_to_string(const data_tree& tree) {
  std::string out;
  bool chunk_sizes_ok = true;
  auto saved = tree.save([&](std::string_view chunk) {
    chunk_sizes_ok = chunk_sizes_ok && !chunk.empty()
                     && chunk.size() <= data_tree::snapshot_chunk_bytes;
    out.append(chunk);
    return true;
  });
  REQUIRE(saved);
  REQUIRE(chunk_sizes_ok);
  return out;
}

/// A pull source over `payload` that hands out at most `step` bytes a call.
std::function<size_t(char*, size_t)> source_of(std::string_view payload,
                                               size_t step = SIZE_MAX) {
  return [payload, step](char* into, size_t size) mutable {
    auto n = std::min({size, step, payload.size()});
    std::memcpy(into, payload.data(), n);
    payload.remove_prefix(n);
    return n;
  };
}

result<data_tree> load_string(std::string_view payload,
                              data_tree_limits limits = {},
                              size_t step = SIZE_MAX) {
  return data_tree::load(source_of(payload, step), limits);
}

// -- building trees -----------------------------------------------------------

/// Feeds one tree with strictly increasing zxids and times.
struct harness {
  explicit harness(data_tree_limits limits = {}) : tree(limits) {}

  data_tree tree;
  int64_t z = 0;
  int64_t now = 1'000'000;

  apply_result apply(command_body body, int64_t session = 0) {
    ++z;
    now += 10;
    return tree.apply(command{session_id{session}, std::move(body)}, zxid{z},
                      now);
  }
  void create(std::string path, std::string data = {},
              create_mode mode = create_mode::persistent, int64_t session = 0,
              int64_t ttl = 0) {
    auto r = apply(create_op{path, std::move(data), mode, ttl}, session);
    INFO("create " << path);
    REQUIRE(r.error == error_code::ok);
  }
  void remove(std::string path) {
    auto r = apply(delete_op{path, any_version});
    INFO("delete " << path);
    REQUIRE(r.error == error_code::ok);
  }
  void set(std::string path, std::string data) {
    auto r = apply(set_data_op{path, std::move(data), any_version});
    INFO("set " << path);
    REQUIRE(r.error == error_code::ok);
  }
};

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (auto& c : out)
    c = static_cast<char>(rng() & 0xFF);
  return out;
}

/// A tree with every create mode, ephemerals of several sessions, containers
/// and TTL nodes, sequence counters that differ from cversion, binary and
/// big data, changed built-ins, names whose byte order differs from path
/// order, a deep chain and a wide fan-out.
void build_rich(harness& h) {
  std::mt19937_64 rng{7};
  h.set("/", "root data");
  h.set("/zookeeper", "zk");
  h.set("/zookeeper/quota", "quota\0data"s);
  h.create("/app", "with\0NUL\0bytes\0"s);
  for (int i = 0; i < 3; ++i)
    h.create("/app/seq-", "s", create_mode::persistent_sequential);
  h.remove("/app/seq-0000000001"); // cversion 4, child_seq 3
  h.create("/app/e1", "one", create_mode::ephemeral, 1);
  h.create("/app/e2", "", create_mode::ephemeral, 2);
  h.create("/locks");
  for (int64_t s = 1; s <= 4; ++s)
    h.create("/locks/lock-", "owner " + std::to_string(s),
             create_mode::ephemeral_sequential, s);
  h.apply(close_session_op{}, 4); // removes /locks/lock-0000000003
  h.create("/locks/lock-", "", create_mode::ephemeral_sequential, 3);
  // Containers: one emptied (a cleanup candidate), one still in use.
  h.create("/c1", "", create_mode::container);
  h.create("/c1/x");
  h.remove("/c1/x");
  h.create("/c2", "", create_mode::container);
  h.create("/c2/x");
  h.create("/c3", "", create_mode::container); // never had children
  // TTL nodes.
  h.create("/t1", "ttl", create_mode::persistent_with_ttl, 0, 1000);
  h.create("/t2-", "", create_mode::persistent_sequential_with_ttl, 0,
           max_ttl_ms);
  h.create("/t3", "", create_mode::persistent_with_ttl, 0, 50'000);
  h.create("/t3/kid");
  // Byte order: "a" < "a-b" < "a/..." paths but "/a/b" sorts after "/a-b".
  h.create("/a");
  h.create("/a/b");
  h.create("/a-b");
  h.create("/a/b/c", "deep");
  h.create("/\xC3\xA9t\xC3\xA9", "utf-8 name");
  // Big data: the largest a znode may hold, and a few above a chunk.
  h.create("/big", random_bytes(rng, data_tree_limits{}.max_data_bytes));
  h.create("/big2", random_bytes(rng, 3 * data_tree::snapshot_chunk_bytes + 1));
  h.set("/big2", random_bytes(rng, 2 * data_tree::snapshot_chunk_bytes - 3));
  // Deep chain and wide fan-out, created in non-sorted order.
  std::string deep;
  for (int i = 0; i < 60; ++i) {
    deep += "/d";
    h.create(deep, std::to_string(i));
  }
  h.create("/w");
  std::vector<int> order(300);
  for (int i = 0; i < 300; ++i)
    order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (auto i : order)
    h.create("/w/n" + std::to_string(i), std::string(i % 7, 'x'));
  for (int i = 0; i < 300; i += 3)
    h.remove("/w/n" + std::to_string(i));
  // A successful and a failed multi (the failure still advances the zxid).
  multi_op ok_multi;
  ok_multi.ops.emplace_back(create_op{"/m", "1", create_mode::persistent, 0});
  ok_multi.ops.emplace_back(set_data_op{"/m", "2", any_version});
  ok_multi.ops.emplace_back(
    create_op{"/m/", "", create_mode::persistent_sequential, 0});
  REQUIRE(h.apply(ok_multi).error == error_code::ok);
  multi_op bad_multi;
  bad_multi.ops.emplace_back(create_op{"/n", "", create_mode::persistent, 0});
  bad_multi.ops.emplace_back(delete_op{"/missing", any_version});
  REQUIRE(h.apply(bad_multi).error == error_code::no_node);
  h.apply(check_op{"/nope", any_version}); // fails, advances the zxid
}

// -- comparing trees ----------------------------------------------------------

std::string describe(const conclave::stat& s) {
  std::ostringstream out;
  out << "{czxid " << s.czxid << " mzxid " << s.mzxid << " ctime " << s.ctime_ms
      << " mtime " << s.mtime_ms << " version " << s.version << " cversion "
      << s.cversion << " aversion " << s.aversion << " owner "
      << s.ephemeral_owner << " data_length " << s.data_length
      << " num_children " << s.num_children << " pzxid " << s.pzxid << "}";
  return out.str();
}

/// All paths of the tree, in pre-order.
std::vector<std::string> all_paths(const data_tree& t) {
  std::vector<std::string> out;
  std::vector<std::string> pending{"/"};
  while (!pending.empty()) {
    auto p = pending.back();
    pending.pop_back();
    out.push_back(p);
    auto kids = t.get_children(p).value().names;
    for (auto k = kids.rbegin(); k != kids.rend(); ++k)
      pending.push_back(p == "/" ? "/" + *k : p + "/" + *k);
  }
  return out;
}

/// The first observable difference between two trees, or "".
std::string diff(const data_tree& a, const data_tree& b, int64_t now,
                 const std::vector<int64_t>& sessions) {
  if (a.digest() != b.digest())
    return "digest";
  if (a.last_zxid() != b.last_zxid())
    return "last_zxid";
  if (a.node_count() != b.node_count())
    return "node_count";
  if (a.ephemeral_count() != b.ephemeral_count())
    return "ephemeral_count";
  if (a.approximate_data_bytes() != b.approximate_data_bytes())
    return "approximate_data_bytes";
  auto paths = all_paths(a);
  if (paths != all_paths(b))
    return "paths";
  for (const auto& p : paths) {
    auto da = a.get_data(p);
    auto db = b.get_data(p);
    if (!db || da->data != db->data || da->stat != db->stat)
      return "get_data " + p + ": " + describe(da->stat) + " vs "
             + (db ? describe(db->stat) : "error");
    if (b.exists(p).value() != da->stat)
      return "exists " + p;
    auto ca = a.get_children(p);
    auto cb = b.get_children(p);
    if (ca->names != cb->names || ca->stat != cb->stat)
      return "get_children " + p;
    if (a.count_descendants(p).value() != b.count_descendants(p).value())
      return "count_descendants " + p;
  }
  for (auto s : sessions)
    for (auto prefix : {"/", "", "/app", "/locks/lock-", "/q"})
      if (a.get_ephemerals(session_id{s}, prefix)
          != b.get_ephemerals(session_id{s}, prefix))
        return "get_ephemerals " + std::to_string(s) + " " + prefix;
  for (auto later : {int64_t{-1'000'000}, int64_t{0}, int64_t{999},
                     int64_t{1'001}, int64_t{60'000}, max_ttl_ms + 1'000'000})
    if (a.cleanup_candidates(now + later) != b.cleanup_candidates(now + later))
      return "cleanup_candidates at +" + std::to_string(later);
  return {};
}

const std::vector<int64_t> test_sessions{0, 1, 2, 3, 4, 5};

// -- random command streams -----------------------------------------------------

/// Random writes over a small namespace (its own, simpler than
/// data_tree_random_test's): every create mode, sessions 1-3, multis,
/// session closes, sequential names, binary data.
class command_stream {
public:
  explicit command_stream(uint64_t seed) : rng_(seed) {}

  command next() {
    command cmd;
    cmd.session = session_id{pick(4)};
    auto dice = pick(100);
    if (dice < 40)
      cmd.body = create();
    else if (dice < 60)
      cmd.body = delete_op{target(), version()};
    else if (dice < 78)
      cmd.body = set_data_op{target(), data(), version()};
    else if (dice < 82)
      cmd.body = check_op{target(), version()};
    else if (dice < 96)
      cmd.body = multi();
    else
      cmd.body = close_session_op{};
    return cmd;
  }

  /// Remembers created names (sequential ones included) as later targets.
  void learn(const apply_result& r) {
    for (const auto& op : r.results)
      if (!op.path.empty() && known_.size() < 200)
        known_.push_back(op.path);
  }

  int64_t pick(int64_t n) {
    return std::uniform_int_distribution<int64_t>{0, n - 1}(rng_);
  }

private:
  std::mt19937_64 rng_;
  std::vector<std::string> known_{
    "/a",   "/a/b",         "/a-b", "/a/b/c",          "/q",
    "/q/x", "/c",           "/c/k", "/a/b/d",          "/t",
    "/t/u", "/zookeeper/q", "/",    "/zookeeper/quota"};

  std::string target() {
    return known_[static_cast<size_t>(
      pick(static_cast<int64_t>(known_.size())))];
  }

  int32_t version() {
    return pick(4) == 0 ? static_cast<int32_t>(pick(3)) : any_version;
  }

  std::string data() {
    static const char alphabet[] = {'\0', 'x', 'y', '\xff'};
    std::string out(static_cast<size_t>(pick(9)), '\0');
    for (auto& c : out)
      c = alphabet[pick(4)];
    return out;
  }

  create_op create() {
    auto mode = static_cast<create_mode>(pick(7));
    // A few distinct ACLs, so that snapshots carry a table with freed and
    // shared lists (commands run as nobody: restrictive lists make later
    // creates below them fail, which is fine here).
    std::vector<std::vector<acl_entry>> acls{
      {},
      {},
      {{acl_perms::all, {"digest", "alice:h"}},
       {acl_perms::read | acl_perms::create, {"world", "anyone"}}},
      {{acl_perms::all, {"ip", "10.0.0.0/8"}},
       {acl_perms::all - acl_perms::admin, {"world", "anyone"}}}};
    create_op op{target(), data(), mode, 0, acls[static_cast<size_t>(pick(4))]};
    if (is_sequential(mode) && pick(2) == 0)
      op.path = pick(2) == 0 ? "/q/s-" : "/a/";
    if (is_ttl(mode))
      op.ttl_ms = 1 + pick(3000);
    return op;
  }

  multi_op multi() {
    multi_op m;
    for (auto n = 1 + pick(4); n > 0; --n) {
      auto dice = pick(10);
      if (dice < 5)
        m.ops.emplace_back(create());
      else if (dice < 7)
        m.ops.emplace_back(delete_op{target(), version()});
      else if (dice < 9)
        m.ops.emplace_back(set_data_op{target(), data(), version()});
      else
        m.ops.emplace_back(check_op{target(), version()});
    }
    return m;
  }
};

bool same_result(const apply_result& a, const apply_result& b) {
  if (a.error != b.error || a.events != b.events
      || a.results.size() != b.results.size())
    return false;
  for (size_t i = 0; i < a.results.size(); ++i)
    if (a.results[i].error != b.results[i].error
        || a.results[i].path != b.results[i].path
        || a.results[i].stat != b.results[i].stat)
      return false;
  return true;
}

/// Applies the same `steps` random commands to both trees, continuing at
/// zxid `z` and time `now`; they must answer alike and keep equal digests.
void apply_to_both(data_tree& a, data_tree& b, uint64_t seed, int steps,
                   int64_t& z, int64_t& now) {
  command_stream gen{seed};
  for (int step = 0; step < steps; ++step) {
    z += 1 + gen.pick(3);
    now += gen.pick(700);
    auto cmd = gen.next();
    auto ra = a.apply(cmd, zxid{z}, now);
    auto rb = b.apply(cmd, zxid{z}, now);
    gen.learn(ra);
    INFO("seed " << seed << " step " << step);
    REQUIRE(same_result(ra, rb));
    // digest() reads every byte (the rich tree holds over 1 MiB).
    if (step % 100 == 99 || step + 1 == steps)
      REQUIRE(a.digest() == b.digest());
  }
}

// -- taking payloads apart ------------------------------------------------------

/// A payload decoded into its records.
struct decoded {
  pb::TreeSnapshotHeader header;
  /// Format version 2 and later.
  std::optional<pb::TreeSnapshotAcls> acls;
  std::vector<pb::TreeSnapshotNode> nodes;
  pb::TreeSnapshotTrailer trailer;
};

void put_frame(std::string& out, const std::string& bytes) {
  auto n = static_cast<uint32_t>(bytes.size());
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>(n >> (8 * i));
  out += bytes;
}

std::string take_frame(std::string_view& in) {
  REQUIRE(in.size() >= 4);
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i)
    n |= uint32_t{static_cast<unsigned char>(in[i])} << (8 * i);
  in.remove_prefix(4);
  REQUIRE(in.size() >= n);
  std::string out{in.substr(0, n)};
  in.remove_prefix(n);
  return out;
}

decoded decode(std::string_view payload) {
  decoded d;
  auto all = payload;
  REQUIRE(d.header.ParseFromString(take_frame(payload)));
  if (d.header.format_version() >= 2) {
    d.acls.emplace();
    REQUIRE(d.acls->ParseFromString(take_frame(payload)));
  }
  for (uint64_t i = 0; i < d.header.node_count(); ++i) {
    d.nodes.emplace_back();
    REQUIRE(d.nodes.back().ParseFromString(take_frame(payload)));
  }
  auto checksummed = all.size() - payload.size();
  REQUIRE(d.trailer.ParseFromString(take_frame(payload)));
  REQUIRE(payload.empty());
  // The documented checksum: storage::crc32c of everything before the
  // trailer's frame.
  REQUIRE(d.trailer.crc32c()
          == storage::crc32c::of(all.substr(0, checksummed)));
  REQUIRE(d.trailer.record_count() == d.nodes.size());
  return d;
}

/// Re-encodes `d` with a correct checksum (record_count as given).
std::string encode(const decoded& d, const std::string& node_suffix = {}) {
  std::string out;
  put_frame(out, d.header.SerializeAsString());
  if (d.acls)
    put_frame(out, d.acls->SerializeAsString());
  for (const auto& n : d.nodes)
    put_frame(out, n.SerializeAsString() + node_suffix);
  auto trailer = d.trailer;
  trailer.set_crc32c(storage::crc32c::of(out));
  put_frame(out, trailer.SerializeAsString());
  return out;
}

pb::TreeSnapshotNode& node_at(decoded& d, const std::string& path) {
  for (auto& n : d.nodes)
    if (n.path() == path)
      return n;
  FAIL("no record for " << path);
  throw 0; // unreachable
}

size_t index_of(const decoded& d, const std::string& path) {
  for (size_t i = 0; i < d.nodes.size(); ++i)
    if (d.nodes[i].path() == path)
      return i;
  FAIL("no record for " << path);
  return 0;
}

/// A small tree for the exhaustive damage tests ("/t" and "/e" share an
/// ACL, "/a/0000000000" has another).
harness small_tree() {
  harness h;
  std::vector<acl_entry> shared{{acl_perms::all, {"ip", "10.0.0.0/8"}},
                                {acl_perms::read, {"world", "anyone"}}};
  h.create("/a", "x\0y"s);
  REQUIRE(h.apply(create_op{"/a/",
                            "",
                            create_mode::persistent_sequential,
                            0,
                            {{acl_perms::admin, {"digest", "u:h"}}}})
            .error
          == error_code::ok);
  REQUIRE(
    h.apply(create_op{"/e", "", create_mode::ephemeral, 0, shared}, 9).error
    == error_code::ok);
  REQUIRE(
    h.apply(create_op{"/t", "", create_mode::persistent_with_ttl, 100, shared})
      .error
    == error_code::ok);
  REQUIRE(h.tree.acl_count() == 2);
  return h;
}

} // namespace

// -- round trips ----------------------------------------------------------------

TEST_CASE("data_tree snapshot: an empty tree round-trips", "[snapshot]") {
  data_tree empty;
  auto payload = save_to_string(empty);
  auto loaded = load_string(payload);
  REQUIRE(loaded.ok());
  CHECK(diff(empty, *loaded, 0, test_sessions).empty());
  CHECK(loaded->node_count() == 4);
  CHECK(loaded->last_zxid() == zxid{0});
  CHECK(save_to_string(*loaded) == payload);

  auto d = decode(payload);
  CHECK(d.header.format_version() == 2);
  std::vector<std::string> paths;
  for (const auto& n : d.nodes)
    paths.push_back(n.path());
  CHECK(paths
        == std::vector<std::string>{"/", "/zookeeper", "/zookeeper/config",
                                    "/zookeeper/quota"});

  // Both keep working alike: the built-ins are still protected.
  int64_t z = 0;
  int64_t now = 5;
  apply_to_both(empty, loaded.value(), 11, 300, z, now);
  CHECK(loaded.value()
          .apply({session_id{0}, delete_op{"/zookeeper/quota", -1}},
                 zxid{z + 1}, now)
          .error
        == error_code::bad_arguments);
}

TEST_CASE("data_tree snapshot: a rich tree round-trips", "[snapshot]") {
  harness h;
  build_rich(h);
  auto payload = save_to_string(h.tree);
  auto loaded = load_string(payload);
  REQUIRE(loaded.ok());
  auto& copy = loaded.value();
  INFO(diff(h.tree, copy, h.now, test_sessions));
  REQUIRE(diff(h.tree, copy, h.now, test_sessions).empty());
  CHECK(copy.last_zxid() == zxid{h.z});
  CHECK(save_to_string(copy) == payload); // canonical

  // Sanity of the fixture itself: it exercises what it claims to.
  CHECK(copy.get_data("/app").value().data == "with\0NUL\0bytes\0"s);
  CHECK(copy.get_data("/big").value().data.size() == 1024 * 1024);
  CHECK(copy.get_ephemerals(session_id{1})
        == std::vector<std::string>{"/app/e1", "/locks/lock-0000000000"});
  CHECK(copy.get_ephemerals(session_id{3}, "/locks")
        == std::vector<std::string>{"/locks/lock-0000000002",
                                    "/locks/lock-0000000004"});
  CHECK(copy.get_ephemerals(session_id{4}).empty());
  CHECK(copy.cleanup_candidates(h.now)
        == std::vector<std::string>{"/c1", "/t1"});
  CHECK(copy.cleanup_candidates(h.now + max_ttl_ms + 1).size() == 3);
  auto app = copy.exists("/app").value();
  CHECK(app.cversion == 6);
  CHECK(app.num_children == 4);

  // The sequence counters survive: the next sequential names continue.
  for (auto* t : {&h.tree, &copy}) {
    auto r = t->apply(
      {session_id{0},
       create_op{"/app/seq-", "", create_mode::persistent_sequential, 0}},
      zxid{h.z + 1}, h.now + 1);
    CHECK(r.results.at(0).path == "/app/seq-0000000005");
    r = t->apply(
      {session_id{3},
       create_op{"/locks/lock-", "", create_mode::ephemeral_sequential, 0}},
      zxid{h.z + 2}, h.now + 2);
    CHECK(r.results.at(0).path == "/locks/lock-0000000005");
  }
  REQUIRE(h.tree.digest() == copy.digest());

  // Closing a session removes the same nodes with the same events, and
  // later random streams keep both trees identical.
  auto ra = h.tree.apply({session_id{1}, close_session_op{}}, zxid{h.z + 3},
                         h.now + 3);
  auto rb
    = copy.apply({session_id{1}, close_session_op{}}, zxid{h.z + 3}, h.now + 3);
  CHECK(ra.events.size() == 4);
  CHECK(same_result(ra, rb));
  int64_t z = h.z + 3;
  int64_t now = h.now + 3;
  apply_to_both(h.tree, copy, 5, 1500, z, now);
  CHECK(diff(h.tree, copy, now, test_sessions).empty());
}

TEST_CASE("data_tree snapshot: snapshots of random histories round-trip",
          "[snapshot]") {
  auto seed = GENERATE(as<uint64_t>{}, 1, 2, 3, 99);
  harness h;
  data_tree replica;
  int64_t z = 0;
  int64_t now = 1000;
  apply_to_both(h.tree, replica, seed, 10, z, now);
  // Snapshot every few hundred commands, replacing the replica each time;
  // payloads are canonical and states reached by failed multis, deletes
  // and session closes all survive.
  for (int round = 0; round < 6; ++round) {
    auto payload = save_to_string(replica);
    auto loaded = load_string(payload, {}, 1 + static_cast<size_t>(round * 7));
    REQUIRE(loaded.ok());
    replica = std::move(loaded.value());
    REQUIRE(diff(h.tree, replica, now, test_sessions).empty());
    REQUIRE(save_to_string(replica) == payload);
    apply_to_both(h.tree, replica, seed * 100 + static_cast<uint64_t>(round),
                  300, z, now);
  }
  CHECK(h.tree.node_count() > 8);
}

// -- streaming --------------------------------------------------------------------

TEST_CASE("data_tree snapshot: save streams bounded chunks", "[snapshot]") {
  harness h;
  build_rich(h);
  std::vector<size_t> sizes;
  std::string payload;
  REQUIRE(h.tree.save([&](std::string_view chunk) {
    sizes.push_back(chunk.size());
    payload.append(chunk);
    return true;
  }));
  CHECK(sizes.size()
        == (payload.size() + data_tree::snapshot_chunk_bytes - 1)
             / data_tree::snapshot_chunk_bytes);
  for (size_t i = 0; i < sizes.size(); ++i) {
    CHECK(sizes[i] > 0);
    // Every chunk but the last is full.
    CHECK(
      sizes[i]
      == (i + 1 < sizes.size() ? data_tree::snapshot_chunk_bytes : sizes[i]));
  }
  CHECK(payload == save_to_string(h.tree)); // deterministic
  decode(payload); // framing and CRC-32C (vs storage::crc32c) of 2+ MiB

  SECTION("a failing sink stops save at once") {
    for (size_t fail_at : {size_t{0}, size_t{1}, sizes.size() - 1}) {
      size_t calls = 0;
      auto saved
        = h.tree.save([&](std::string_view) { return calls++ != fail_at; });
      CHECK_FALSE(saved);
      CHECK(calls == fail_at + 1);
    }
  }
}

TEST_CASE("data_tree snapshot: load pulls from any source granularity",
          "[snapshot]") {
  harness h;
  build_rich(h);
  auto payload = save_to_string(h.tree);
  for (size_t step : {size_t{1}, size_t{3}, size_t{4096}, size_t{65537}}) {
    auto loaded = load_string(payload, {}, step);
    INFO("step " << step);
    REQUIRE(loaded.ok());
    CHECK(loaded->digest() == h.tree.digest());
  }
  // Random read sizes.
  std::mt19937_64 rng{3};
  std::string_view rest = payload;
  auto loaded = data_tree::load(
    [&](char* into, size_t size) {
      auto n = std::min<size_t>(
        {size, rest.size(), static_cast<size_t>(1 + rng() % 100'000)});
      std::memcpy(into, rest.data(), n);
      rest.remove_prefix(n);
      return n;
    },
    {});
  REQUIRE(loaded.ok());
  CHECK(loaded->digest() == h.tree.digest());
}

// -- damaged payloads ---------------------------------------------------------------

TEST_CASE("data_tree snapshot: every truncation fails cleanly", "[snapshot]") {
  auto h = small_tree();
  auto payload = save_to_string(h.tree);
  REQUIRE(load_string(payload).ok());
  for (size_t cut = 0; cut < payload.size(); ++cut) {
    INFO("cut at " << cut << " of " << payload.size());
    auto whole = load_string(std::string_view{payload}.substr(0, cut));
    REQUIRE(whole.error() == data_inconsistency);
    auto bytewise
      = load_string(std::string_view{payload}.substr(0, cut), {}, 1);
    REQUIRE(bytewise.error() == data_inconsistency);
  }
}

TEST_CASE("data_tree snapshot: trailing bytes and misbehaving sources fail",
          "[snapshot]") {
  auto h = small_tree();
  auto payload = save_to_string(h.tree);
  CHECK(load_string(payload + '\0').error() == data_inconsistency);
  CHECK(load_string(payload + payload).error() == data_inconsistency);
  CHECK(load_string(payload + payload, {}, 1).error() == data_inconsistency);
  // A source claiming more bytes than it was asked for.
  auto liar = data_tree::load(
    [&](char* into, size_t size) {
      std::memset(into, 0, size);
      return size + 1;
    },
    {});
  CHECK(liar.error() == data_inconsistency);
}

TEST_CASE("data_tree snapshot: every single bit flip fails cleanly",
          "[snapshot]") {
  auto h = small_tree();
  auto payload = save_to_string(h.tree);
  for (size_t bit = 0; bit < payload.size() * 8; ++bit) {
    auto damaged = payload;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    INFO("bit " << bit << " of byte " << bit / 8 << " of " << payload.size());
    REQUIRE(load_string(damaged).error() == data_inconsistency);
  }
}

TEST_CASE("data_tree snapshot: random bit flips in a big payload fail",
          "[snapshot]") {
  harness h;
  build_rich(h);
  auto payload = save_to_string(h.tree);
  std::mt19937_64 rng{11};
  for (int trial = 0; trial < 60; ++trial) {
    auto damaged = payload;
    auto flips = 1 + rng() % 3;
    for (uint64_t i = 0; i < flips; ++i) {
      auto bit = rng() % (damaged.size() * 8);
      damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    }
    INFO("trial " << trial);
    REQUIRE(load_string(damaged).error() == data_inconsistency);
  }
}

TEST_CASE("data_tree snapshot: random garbage never loads", "[snapshot]") {
  auto h = small_tree();
  auto payload = save_to_string(h.tree);
  std::mt19937_64 rng{12345};
  for (int trial = 0; trial < 3000; ++trial) {
    std::string input;
    switch (trial % 3) {
      case 0: // pure noise
        input = random_bytes(rng, rng() % 600);
        break;
      case 1: // a valid prefix, then noise
        input = payload.substr(0, rng() % payload.size())
                + random_bytes(rng, 1 + rng() % 300);
        break;
      default: { // plausible frames: small lengths, random bodies
        for (auto n = rng() % 8; n > 0; --n) {
          std::string body = random_bytes(rng, rng() % 40);
          put_frame(input, body);
        }
        break;
      }
    }
    INFO("trial " << trial);
    REQUIRE(load_string(input, {}, 1 + rng() % 64).error()
            == data_inconsistency);
  }
}

TEST_CASE("data_tree snapshot: version-1 payloads (no ACLs) still load",
          "[snapshot]") {
  harness h;
  h.create("/a", "x");
  h.create("/a/b", "y");
  auto d = decode(save_to_string(h.tree));
  d.header.set_format_version(1);
  d.acls.reset();
  for (auto& n : d.nodes)
    n.clear_acl();
  auto loaded = load_string(encode(d));
  REQUIRE(loaded.ok());
  CHECK(loaded->digest() == h.tree.digest());
  CHECK(loaded->get_acl("/a/b")->acl == open_acl_unsafe());
}

TEST_CASE("data_tree snapshot: the payload is the documented format",
          "[snapshot]") {
  auto h = small_tree();
  auto payload = save_to_string(h.tree);
  auto d = decode(payload); // checks framing, CRC-32C, record count
  CHECK(d.header.magic() == 0x454552544C434E43ULL); // "CNCLTREE"
  CHECK(d.header.last_zxid() == h.z);
  CHECK(d.header.node_count() == h.tree.node_count());
  CHECK(d.header.ephemeral_count() == 1);
  CHECK(d.header.data_bytes() == h.tree.approximate_data_bytes());
  std::vector<std::string> paths;
  for (const auto& n : d.nodes)
    paths.push_back(n.path());
  CHECK(paths
        == std::vector<std::string>{"/", "/a", "/a/0000000000", "/e", "/t",
                                    "/zookeeper", "/zookeeper/config",
                                    "/zookeeper/quota"});
  CHECK(node_at(d, "/a").data() == "x\0y"s);
  CHECK(node_at(d, "/a").child_seq() == 1);
  CHECK(node_at(d, "/e").ephemeral_owner() == 9);
  // ACLs by index into the table, which holds each list once.
  CHECK(node_at(d, "/a").acl() == 0);
  CHECK(node_at(d, "/e").acl() == node_at(d, "/t").acl());
  CHECK(node_at(d, "/e").acl() != node_at(d, "/a/0000000000").acl());
  REQUIRE(d.acls);
  auto table = acl_table::load(d.acls->table());
  REQUIRE(table.ok());
  CHECK(table->size() == 2);
  CHECK(table->ref_count(node_at(d, "/e").acl()) == 2);
  CHECK(table->get(node_at(d, "/a/0000000000").acl())
        == std::vector<acl_entry>{{acl_perms::admin, {"digest", "u:h"}}});
  // Re-encoding the decoded records gives the same bytes back.
  CHECK(encode(d) == payload);
}

TEST_CASE("data_tree snapshot: checksummed but inconsistent payloads fail",
          "[snapshot]") {
  auto h = small_tree();
  const auto original = decode(save_to_string(h.tree));
  REQUIRE(load_string(encode(original)).ok());
  auto d = original;

  auto must_fail = [&](const std::string& what, data_tree_limits limits = {}) {
    INFO(what);
    CHECK(load_string(encode(d), limits).error() == data_inconsistency);
    d = original;
  };
  auto drop = [&](const std::string& path) {
    auto i = index_of(d, path);
    auto removed = d.nodes[i];
    d.nodes.erase(d.nodes.begin() + static_cast<ptrdiff_t>(i));
    d.header.set_node_count(d.nodes.size());
    d.trailer.set_record_count(d.nodes.size());
    d.header.set_data_bytes(d.header.data_bytes() - removed.path().size()
                            - removed.data().size());
  };

  // Header.
  d.header.set_magic(d.header.magic() + 1);
  must_fail("magic");
  d.header.set_format_version(3);
  must_fail("format version");
  d.header.set_format_version(1); // version 1 has no ACL record
  must_fail("version 1 with an ACL record");
  d.header.set_last_zxid(h.z - 1);
  must_fail("a zxid above last_zxid");
  d.header.set_ephemeral_count(2);
  must_fail("ephemeral count");
  d.header.set_data_bytes(d.header.data_bytes() + 1);
  must_fail("data bytes");
  d.trailer.set_record_count(d.nodes.size() + 1);
  must_fail("trailer record count");

  // Structure.
  std::swap(d.nodes[index_of(d, "/zookeeper/config")],
            d.nodes[index_of(d, "/zookeeper/quota")]);
  must_fail("children out of name order");
  d.nodes.insert(d.nodes.begin() + 4, d.nodes[4]); // "/t" twice
  d.header.set_node_count(d.nodes.size());
  d.trailer.set_record_count(d.nodes.size());
  node_at(d, "/").set_num_children(node_at(d, "/").num_children() + 1);
  must_fail("a duplicate node");
  std::swap(d.nodes[index_of(d, "/a/0000000000")], d.nodes[index_of(d, "/e")]);
  must_fail("a child after its parent's subtree");
  std::swap(d.nodes[0], d.nodes[1]);
  must_fail("root not first");
  drop("/a/0000000000");
  must_fail("a child count that does not match");
  drop("/zookeeper/config");
  node_at(d, "/zookeeper").set_num_children(1);
  must_fail("a missing built-in node");
  node_at(d, "/a").set_path("/q");
  must_fail("an orphan (its parent /q is missing)");
  node_at(d, "/e").set_path("/e/");
  must_fail("an invalid path");
  node_at(d, "/e").set_path("/e\x01");
  must_fail("a forbidden character");

  // Node contents.
  node_at(d, "/a").set_data_length(2);
  must_fail("data_length");
  node_at(d, "/a").set_num_children(-1);
  must_fail("negative num_children");
  node_at(d, "/").set_ephemeral_owner(5);
  d.header.set_ephemeral_count(2);
  must_fail("an ephemeral root");
  node_at(d, "/zookeeper/quota").set_ephemeral_owner(5);
  d.header.set_ephemeral_count(2);
  must_fail("an ephemeral built-in");
  node_at(d, "/a").set_ephemeral_owner(5);
  d.header.set_ephemeral_count(2);
  must_fail("an ephemeral node with children");
  node_at(d, "/t").set_ephemeral_owner(ttl_ephemeral_owner(0));
  must_fail("a TTL of 0");
  node_at(d, "/t").set_ephemeral_owner(ttl_ephemeral_owner(max_ttl_ms + 1));
  must_fail("a TTL above the maximum");
  node_at(d, "/e").set_pzxid(h.z + 1);
  must_fail("pzxid above last_zxid");
  node_at(d, "/e").set_czxid(-1);
  must_fail("negative czxid");

  // ACLs.
  node_at(d, "/a").set_acl(3);
  must_fail("an ACL index beyond the table");
  node_at(d, "/a").set_acl(node_at(d, "/e").acl());
  must_fail("more references than the table counts");
  node_at(d, "/t").set_acl(0);
  must_fail("fewer references than the table counts");
  d.acls->mutable_table()->back() ^= 1;
  must_fail("an ACL table with a bad checksum");
  d.acls.reset();
  must_fail("a missing ACL record");

  // Unknown fields (field 99, varint 1) are rejected, not ignored.
  {
    INFO("unknown field in node records");
    CHECK(load_string(encode(d, "\x98\x06\x01"s)).error()
          == data_inconsistency);
  }

  // Limits bound what load accepts.
  must_fail("data above max_data_bytes", {2, 4096});
  must_fail("path above max_path_bytes", {1024, 8});
  auto fits = load_string(encode(d), {3, 17});
  CHECK(fits.ok());
  if (fits.ok())
    CHECK(fits->limits().max_path_bytes == 17);
}

// -- fork ---------------------------------------------------------------------------

namespace {

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

size_t read_some(int fd, char* into, size_t size) {
  for (;;) {
    auto n = ::read(fd, into, size);
    if (n < 0 && errno == EINTR)
      continue;
    return n < 0 ? 0 : static_cast<size_t>(n);
  }
}

/// Keeps other threads busy with locks and allocations while the test
/// forks, as the node's actor threads would be.
class busy_threads {
public:
  busy_threads() {
    for (int i = 0; i < 3; ++i)
      threads_.emplace_back([this] {
        std::vector<std::string> junk;
        while (!stop_) {
          std::lock_guard<std::mutex> lock{mutex_};
          junk.emplace_back(1000, 'j');
          if (junk.size() > 100)
            junk.clear();
        }
      });
  }
  ~busy_threads() {
    stop_ = true;
    for (auto& t : threads_)
      t.join();
  }

private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::thread> threads_;
};

} // namespace

TEST_CASE("data_tree snapshot: a forked child saves, the parent loads",
          "[snapshot]") {
  harness h;
  build_rich(h);
  busy_threads busy;

  SECTION("through a pipe") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    auto pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto ok = h.tree.save(
        [&](std::string_view chunk) { return write_all(fds[1], chunk); });
      ::_exit(ok ? 0 : 1);
    }
    ::close(fds[1]);
    auto loaded = data_tree::load(
      [&](char* into, size_t size) { return read_some(fds[0], into, size); },
      {});
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    REQUIRE(loaded.ok());
    CHECK(diff(h.tree, *loaded, h.now, test_sessions).empty());
  }

  SECTION("through a file") {
    // mkstemp() replaces the six trailing 'X's with a unique suffix.
    auto name = "/tmp/conclave-snapshot-" + std::string(6, 'X');
    int fd = ::mkstemp(name.data());
    REQUIRE(fd >= 0);
    ::unlink(name.c_str());
    auto pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      auto ok = h.tree.save(
        [&](std::string_view chunk) { return write_all(fd, chunk); });
      ::_exit(ok && ::fsync(fd) == 0 ? 0 : 1);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    REQUIRE(::lseek(fd, 0, SEEK_SET) == 0);
    auto loaded = data_tree::load(
      [&](char* into, size_t size) { return read_some(fd, into, size); }, {});
    ::close(fd);
    REQUIRE(loaded.ok());
    CHECK(loaded->digest() == h.tree.digest());
  }
}
