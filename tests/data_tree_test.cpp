#include <algorithm>
#include <csignal>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "runtime/data_tree.hpp"

#include "tests/support/aborts.hpp"
#include "tests/support/printers.hpp"

using namespace conclave;

namespace {

using strings = std::vector<std::string>;

constexpr auto ok = error_code::ok;
constexpr auto bad_arguments = error_code::bad_arguments;

/// Feeds a tree with strictly increasing zxids (1, 2, ...) and times.
struct harness {
  explicit harness(data_tree_limits limits = {}) : tree(limits) {}

  data_tree tree;
  int64_t z = 0;         ///< zxid of the last apply
  int64_t now = 100'000; ///< time of the last apply

  apply_result apply(command_body body, int64_t session = 0) {
    ++z;
    now += 10;
    return tree.apply(command{session_id{session}, std::move(body)}, zxid{z},
                      now);
  }
  apply_result create(std::string path, std::string data = {},
                      create_mode mode = create_mode::persistent,
                      int64_t session = 0, int64_t ttl = 0) {
    return apply(create_op{std::move(path), std::move(data), mode, ttl},
                 session);
  }
  apply_result remove(std::string path, int32_t version = any_version) {
    return apply(delete_op{std::move(path), version});
  }
  apply_result set(std::string path, std::string data,
                   int32_t version = any_version) {
    return apply(set_data_op{std::move(path), std::move(data), version});
  }
  apply_result check(std::string path, int32_t version = any_version) {
    return apply(check_op{std::move(path), version});
  }
  apply_result multi(std::vector<txn_op> ops, int64_t session = 0) {
    return apply(multi_op{std::move(ops)}, session);
  }
  apply_result close(int64_t session) {
    return apply(close_session_op{}, session);
  }

  conclave::stat stat_of(std::string_view path) const {
    auto r = tree.exists(path);
    REQUIRE(r.ok());
    return *r;
  }
  std::string data_of(std::string_view path) const {
    auto r = tree.get_data(path);
    REQUIRE(r.ok());
    return r->data;
  }
  strings children_of(std::string_view path) const {
    auto r = tree.get_children(path);
    REQUIRE(r.ok());
    return r->names;
  }
};

txn_op op_create(std::string path, std::string data = {},
                 create_mode mode = create_mode::persistent, int64_t ttl = 0) {
  return create_op{std::move(path), std::move(data), mode, ttl};
}
txn_op op_delete(std::string path, int32_t version = any_version) {
  return delete_op{std::move(path), version};
}
txn_op op_set(std::string path, std::string data,
              int32_t version = any_version) {
  return set_data_op{std::move(path), std::move(data), version};
}
txn_op op_check(std::string path, int32_t version = any_version) {
  return check_op{std::move(path), version};
}

/// Expects a failed single-op command: its error, one result, no events.
void require_failure(const apply_result& r, error_code expected) {
  CHECK(r.error == expected);
  REQUIRE(r.results.size() == 1);
  CHECK(r.results[0].error == expected);
  CHECK(r.events.empty());
}

tree_event created(std::string p) {
  return {event_type::node_created, std::move(p)};
}
tree_event deleted(std::string p) {
  return {event_type::node_deleted, std::move(p)};
}
tree_event changed(std::string p) {
  return {event_type::node_data_changed, std::move(p)};
}
tree_event children(std::string p) {
  return {event_type::node_children_changed, std::move(p)};
}

/// Everything observable about a set of paths, for before/after comparisons.
struct snapshot {
  uint64_t digest;
  size_t nodes;
  size_t ephemerals;
  size_t bytes;
  std::vector<std::pair<std::string, conclave::stat>> stats;
  std::vector<std::string> data;

  snapshot(const data_tree& tree, const strings& paths)
      : digest(tree.digest()), nodes(tree.node_count()),
        ephemerals(tree.ephemeral_count()),
        bytes(tree.approximate_data_bytes()) {
    for (const auto& p : paths) {
      auto r = tree.get_data(p);
      stats.emplace_back(p, r ? r->stat : conclave::stat{});
      data.push_back(r ? r->data : "<none>");
    }
  }

  bool operator==(const snapshot& other) const {
    return digest == other.digest && nodes == other.nodes
           && ephemerals == other.ephemerals && bytes == other.bytes
           && stats == other.stats && data == other.data;
  }
};

} // namespace

// -- initial state
// --------------------------------------------------------------

TEST_CASE("data_tree: a new tree holds / and the reserved /zookeeper nodes",
          "[data_tree]") {
  harness h;
  auto& t = h.tree;
  CHECK(t.node_count() == 4);
  CHECK(t.ephemeral_count() == 0);
  CHECK(t.last_zxid() == zxid{0});
  // "/" 1 + "/zookeeper" 10 + "/zookeeper/quota" 16 + "/zookeeper/config" 17,
  // as ZooKeeper's approximateDataSize() of a fresh tree.
  CHECK(t.approximate_data_bytes() == 44);
  CHECK(h.children_of("/") == strings{"zookeeper"});
  CHECK(h.children_of("/zookeeper") == strings{"config", "quota"});
  CHECK(h.children_of("/zookeeper/quota").empty());
  conclave::stat root;
  root.num_children = 1;
  CHECK(h.stat_of("/") == root);
  conclave::stat zk;
  zk.num_children = 2;
  CHECK(h.stat_of("/zookeeper") == zk);
  CHECK(h.stat_of("/zookeeper/config") == conclave::stat{});
  CHECK(t.count_descendants("/").value() == 3);
  CHECK(t.cleanup_candidates(INT64_MAX).empty());
}

// -- create
// ---------------------------------------------------------------------

TEST_CASE("data_tree: create sets all eleven stat fields of the new node",
          "[data_tree]") {
  harness h;
  auto r = h.create("/a", "hello");
  REQUIRE(r.error == ok);
  REQUIRE(r.results.size() == 1);
  CHECK(r.results[0].error == ok);
  CHECK(r.results[0].path == "/a");
  auto s = r.results[0].stat;
  CHECK(s.czxid == h.z);
  CHECK(s.mzxid == h.z);
  CHECK(s.pzxid == h.z);
  CHECK(s.ctime_ms == h.now);
  CHECK(s.mtime_ms == h.now);
  CHECK(s.version == 0);
  CHECK(s.cversion == 0);
  CHECK(s.aversion == 0);
  CHECK(s.ephemeral_owner == 0);
  CHECK(s.data_length == 5);
  CHECK(s.num_children == 0);
  CHECK(h.stat_of("/a") == s);
  CHECK(h.data_of("/a") == "hello");
  CHECK(r.events == std::vector<tree_event>{created("/a"), children("/")});
  CHECK(h.tree.last_zxid() == zxid{h.z});
}

TEST_CASE("data_tree: create changes the parent's cversion, pzxid and "
          "num_children only",
          "[data_tree]") {
  harness h;
  h.create("/p", "v");
  h.set("/p", "vv");
  auto before = h.stat_of("/p");
  auto r = h.create("/p/c");
  REQUIRE(r.error == ok);
  CHECK(r.events == std::vector<tree_event>{created("/p/c"), children("/p")});
  auto after = h.stat_of("/p");
  CHECK(after.cversion == before.cversion + 1);
  CHECK(after.pzxid == h.z);
  CHECK(after.num_children == before.num_children + 1);
  CHECK(after.czxid == before.czxid);
  CHECK(after.mzxid == before.mzxid);
  CHECK(after.ctime_ms == before.ctime_ms);
  CHECK(after.mtime_ms == before.mtime_ms);
  CHECK(after.version == before.version);
  CHECK(after.aversion == before.aversion);
  CHECK(after.ephemeral_owner == before.ephemeral_owner);
  CHECK(after.data_length == before.data_length);
  // The child's own cversion/pzxid start fresh.
  CHECK(h.stat_of("/p/c").cversion == 0);
  CHECK(h.stat_of("/p/c").pzxid == h.z);
}

TEST_CASE("data_tree: create reports each error", "[data_tree]") {
  harness h;
  REQUIRE(h.create("/a").error == ok);
  REQUIRE(h.create("/e", "", create_mode::ephemeral, 7).error == ok);
  auto before = snapshot{h.tree, {"/", "/a", "/e"}};

  SECTION("no_node: the parent is missing") {
    require_failure(h.create("/x/y"), error_code::no_node);
    require_failure(h.create("/x/", "", create_mode::persistent_sequential),
                    error_code::no_node);
  }
  SECTION("node_exists") {
    require_failure(h.create("/a"), error_code::node_exists);
    require_failure(h.create("/a", "", create_mode::ephemeral, 3),
                    error_code::node_exists);
    require_failure(h.create("/"), error_code::node_exists);
  }
  SECTION("no_children_for_ephemerals") {
    require_failure(h.create("/e/c"), error_code::no_children_for_ephemerals);
    require_failure(h.create("/e/", "", create_mode::ephemeral_sequential, 7),
                    error_code::no_children_for_ephemerals);
  }
  SECTION("bad_arguments: invalid paths") {
    for (auto p : {"", "a", "/a/", "/a//b", "/a/.", "/a/..", "/a\x01"})
      require_failure(h.create(p), bad_arguments);
    require_failure(h.create("//", "", create_mode::persistent_sequential),
                    bad_arguments);
  }
  SECTION("bad_arguments: ephemerals need a session") {
    require_failure(h.create("/s", "", create_mode::ephemeral, 0),
                    bad_arguments);
    require_failure(h.create("/s", "", create_mode::ephemeral_sequential, 0),
                    bad_arguments);
    // Session ids that would read back as a container or TTL marker.
    require_failure(
      h.create("/s", "", create_mode::ephemeral, container_ephemeral_owner),
      bad_arguments);
    require_failure(
      h.create("/s", "", create_mode::ephemeral, ttl_ephemeral_owner(5)),
      bad_arguments);
  }
  SECTION("bad_arguments: TTL out of range") {
    for (auto mode : {create_mode::persistent_with_ttl,
                      create_mode::persistent_sequential_with_ttl}) {
      require_failure(h.create("/t", "", mode, 0, 0), bad_arguments);
      require_failure(h.create("/t", "", mode, 0, -1), bad_arguments);
      require_failure(h.create("/t", "", mode, 0, max_ttl_ms + 1),
                      bad_arguments);
    }
    // A TTL on a mode without one.
    require_failure(h.create("/t", "", create_mode::persistent, 0, 5),
                    bad_arguments);
    require_failure(h.create("/t", "", create_mode::container, 0, 5),
                    bad_arguments);
  }
  SECTION("bad_arguments: unknown create mode") {
    require_failure(h.create("/m", "", static_cast<create_mode>(7)),
                    bad_arguments);
    require_failure(h.create("/m", "", static_cast<create_mode>(-1)),
                    bad_arguments);
  }
  SECTION("bad_arguments: data too large") {
    std::string big(h.tree.limits().max_data_bytes + 1, 'x');
    require_failure(h.create("/big", big), bad_arguments);
  }
  CHECK(snapshot{h.tree, {"/", "/a", "/e"}} == before);
  CHECK(h.tree.last_zxid() == zxid{h.z}); // failures still advance it
}

TEST_CASE("data_tree: every create mode yields ZooKeeper's ephemeral_owner",
          "[data_tree]") {
  harness h;
  auto owner = [&](std::string path, create_mode mode, int64_t ttl = 0) {
    auto r = h.create(std::move(path), "", mode, 42, ttl);
    REQUIRE(r.error == ok);
    CHECK(h.stat_of(r.results[0].path) == r.results[0].stat);
    return r.results[0].stat.ephemeral_owner;
  };
  CHECK(owner("/p", create_mode::persistent) == 0);
  CHECK(owner("/ps-", create_mode::persistent_sequential) == 0);
  CHECK(owner("/e", create_mode::ephemeral) == 42);
  CHECK(owner("/es-", create_mode::ephemeral_sequential) == 42);
  CHECK(owner("/c", create_mode::container) == INT64_MIN);
  CHECK(owner("/t", create_mode::persistent_with_ttl, 500)
        == static_cast<int64_t>(0xFF000000000001F4ULL));
  CHECK(owner("/ts-", create_mode::persistent_sequential_with_ttl, 7)
        == static_cast<int64_t>(0xFF00000000000007ULL));
  CHECK(owner("/tmax", create_mode::persistent_with_ttl, max_ttl_ms)
        == static_cast<int64_t>(0xFF0000FFFFFFFFFFULL));
  CHECK(h.tree.ephemeral_count() == 2);
  // Containers and TTL nodes may have children; they aren't ephemeral.
  CHECK(h.create("/c/x").error == ok);
  CHECK(h.create("/t/x").error == ok);
}

// -- sequential names
// -------------------------------------------------------------

TEST_CASE("data_tree: sequential names count the parent's child creates, "
          "not deletes",
          "[data_tree]") {
  harness h;
  h.create("/q");
  auto seq = [&](std::string base,
                 create_mode mode = create_mode::persistent_sequential,
                 int64_t session = 0) {
    auto r = h.create(std::move(base), "", mode, session);
    REQUIRE(r.error == ok);
    return r.results[0].path;
  };
  CHECK(seq("/q/n-") == "/q/n-0000000000");
  CHECK(seq("/q/n-") == "/q/n-0000000001");
  REQUIRE(h.create("/q/plain").error == ok); // any create counts
  CHECK(seq("/q/n-") == "/q/n-0000000003");
  CHECK(h.stat_of("/q").cversion == 4);

  // Deletes advance cversion and pzxid, but not the sequence counter
  // (measured against ZooKeeper 3.8, see data_tree.cpp).
  REQUIRE(h.remove("/q/n-0000000003").error == ok);
  CHECK(h.stat_of("/q").cversion == 5);
  CHECK(h.stat_of("/q").pzxid == h.z);
  CHECK(seq("/q/n-") == "/q/n-0000000004");
  for (auto p :
       {"/q/n-0000000000", "/q/n-0000000001", "/q/plain", "/q/n-0000000004"})
    REQUIRE(h.remove(p).error == ok);
  CHECK(h.stat_of("/q").num_children == 0);
  CHECK(seq("/q/n-") == "/q/n-0000000005");

  // A bare "/q/" base, ephemeral and TTL variants share the same counter.
  CHECK(seq("/q/") == "/q/0000000006");
  CHECK(seq("/q/e-", create_mode::ephemeral_sequential, 9)
        == "/q/e-0000000007");
  CHECK(h.stat_of("/q/e-0000000007").ephemeral_owner == 9);
  CHECK(h.tree.get_ephemerals(session_id{9}) == strings{"/q/e-0000000007"});
  auto r = h.create("/q/t-", "", create_mode::persistent_sequential_with_ttl, 0,
                    1000);
  CHECK(r.results[0].path == "/q/t-0000000008");

  // Under the root, with the bare "/" base: only /q was created there.
  CHECK(h.stat_of("/").cversion == 1);
  CHECK(seq("/") == "/0000000001");
}

TEST_CASE("data_tree: a sequential name can collide and then fails cleanly",
          "[data_tree]") {
  // As in ZooKeeper: a plain create may take the next sequential name.
  harness h;
  h.create("/q");
  REQUIRE(h.create("/q/n-0000000001").error == ok); // cversion 0 -> 1
  auto before = snapshot{h.tree, {"/q"}};
  require_failure(h.create("/q/n-", "", create_mode::persistent_sequential),
                  error_code::node_exists);
  CHECK(snapshot{h.tree, {"/q"}} == before);
  REQUIRE(h.create("/q/x").error == ok); // cversion 1 -> 2
  auto r = h.create("/q/n-", "", create_mode::persistent_sequential);
  CHECK(r.results[0].path == "/q/n-0000000002");
}

// -- delete
// ---------------------------------------------------------------------

TEST_CASE("data_tree: delete changes the parent's pzxid, cversion and "
          "num_children only",
          "[data_tree]") {
  harness h;
  h.create("/p", "data");
  h.create("/p/c");
  h.set("/p", "more");
  auto before = h.stat_of("/p");
  auto r = h.remove("/p/c");
  REQUIRE(r.error == ok);
  REQUIRE(r.results.size() == 1);
  CHECK(r.results[0].error == ok);
  CHECK(r.events == std::vector<tree_event>{deleted("/p/c"), children("/p")});
  CHECK(h.tree.exists("/p/c").error() == error_code::no_node);
  auto after = h.stat_of("/p");
  CHECK(after.pzxid == h.z);
  CHECK(after.num_children == before.num_children - 1);
  CHECK(after.cversion == before.cversion + 1); // creates and deletes
  CHECK(after.czxid == before.czxid);
  CHECK(after.mzxid == before.mzxid);
  CHECK(after.ctime_ms == before.ctime_ms);
  CHECK(after.mtime_ms == before.mtime_ms);
  CHECK(after.version == before.version);
  CHECK(after.aversion == before.aversion);
  CHECK(after.ephemeral_owner == before.ephemeral_owner);
  CHECK(after.data_length == before.data_length);
  r = h.remove("/p");
  CHECK(r.events == std::vector<tree_event>{deleted("/p"), children("/")});
  CHECK(h.stat_of("/").pzxid == h.z);
}

TEST_CASE("data_tree: delete reports each error", "[data_tree]") {
  harness h;
  h.create("/a");
  h.create("/a/b");
  h.set("/a/b", "x"); // version 1
  auto before = snapshot{h.tree, {"/", "/a", "/a/b"}};
  require_failure(h.remove("/missing"), error_code::no_node);
  require_failure(h.remove("/a/missing"), error_code::no_node);
  require_failure(h.remove("/a/b", 0), error_code::bad_version);
  require_failure(h.remove("/a/b", 2), error_code::bad_version);
  require_failure(h.remove("/a"), error_code::not_empty);
  require_failure(h.remove("/"), bad_arguments);
  for (auto p : {"", "a", "/a/", "/a//b", "/a/b/.."})
    require_failure(h.remove(p), bad_arguments);
  CHECK(snapshot{h.tree, {"/", "/a", "/a/b"}} == before);
  CHECK(h.remove("/a/b", 1).error == ok); // matching version
  CHECK(h.remove("/a", 0).error == ok);
}

// -- set_data
// -------------------------------------------------------------------

TEST_CASE("data_tree: set_data bumps version, mzxid, mtime and data_length",
          "[data_tree]") {
  harness h;
  h.create("/a", "one");
  h.create("/a/c");
  auto before = h.stat_of("/a");
  auto r = h.set("/a", "three");
  REQUIRE(r.error == ok);
  REQUIRE(r.results.size() == 1);
  CHECK(r.events == std::vector<tree_event>{changed("/a")});
  auto s = r.results[0].stat;
  CHECK(s == h.stat_of("/a"));
  CHECK(s.version == 1);
  CHECK(s.mzxid == h.z);
  CHECK(s.mtime_ms == h.now);
  CHECK(s.data_length == 5);
  CHECK(s.czxid == before.czxid);
  CHECK(s.ctime_ms == before.ctime_ms);
  CHECK(s.cversion == before.cversion);
  CHECK(s.pzxid == before.pzxid);
  CHECK(s.num_children == before.num_children);
  CHECK(s.aversion == 0);
  CHECK(s.ephemeral_owner == 0);
  CHECK(h.data_of("/a") == "three");
  // The parent is untouched by a data change.
  CHECK(h.stat_of("/").pzxid < h.z);
  CHECK(h.set("/a", "", 1).results[0].stat.version == 2);
  CHECK(h.data_of("/a").empty());
  CHECK(h.stat_of("/a").data_length == 0);
  CHECK(h.set("/", "root data").error == ok); // the root is writable
}

TEST_CASE("data_tree: set_data reports each error", "[data_tree]") {
  harness h;
  h.create("/a", "x");
  auto before = snapshot{h.tree, {"/a"}};
  require_failure(h.set("/missing", "y"), error_code::no_node);
  require_failure(h.set("/a", "y", 1), error_code::bad_version);
  require_failure(h.set("/a", "y", -2), error_code::bad_version);
  require_failure(h.set("/a/", "y"), bad_arguments);
  require_failure(
    h.set("/a", std::string(h.tree.limits().max_data_bytes + 1, 'x')),
    bad_arguments);
  CHECK(snapshot{h.tree, {"/a"}} == before);
}

// -- check
// ----------------------------------------------------------------------

TEST_CASE("data_tree: check compares versions and changes nothing",
          "[data_tree]") {
  harness h;
  h.create("/a");
  h.set("/a", "x");
  auto before = snapshot{h.tree, {"/", "/a"}};
  auto r = h.check("/a", 1);
  CHECK(r.error == ok);
  REQUIRE(r.results.size() == 1);
  CHECK(r.events.empty());
  CHECK(h.check("/a").error == ok);
  CHECK(h.check("/zookeeper", 0).error == ok); // not a write
  require_failure(h.check("/a", 0), error_code::bad_version);
  require_failure(h.check("/missing"), error_code::no_node);
  require_failure(h.check("/a/"), bad_arguments);
  CHECK(snapshot{h.tree, {"/", "/a"}} == before);
  CHECK(h.tree.last_zxid() == zxid{h.z});
}

// -- multi
// ----------------------------------------------------------------------

TEST_CASE("data_tree: multi applies its ops in order under one zxid",
          "[data_tree]") {
  harness h;
  auto r = h.multi({
    op_create("/m", "a"),
    op_create("/m/c", "d"),
    op_set("/m", "b", 0),
    op_check("/m", 1),
    op_delete("/m/c", 0),
    op_create("/m/s-", "", create_mode::persistent_sequential),
  });
  REQUIRE(r.error == ok);
  REQUIRE(r.results.size() == 6);
  for (const auto& op : r.results)
    CHECK(op.error == ok);
  CHECK(r.results[0].path == "/m");
  CHECK(r.results[0].stat.czxid == h.z);
  CHECK(r.results[1].path == "/m/c");
  CHECK(r.results[2].stat.version == 1);
  CHECK(r.results[2].stat.data_length == 1);
  // /m/c's create counted, its delete didn't.
  CHECK(r.results[5].path == "/m/s-0000000001");
  CHECK(r.events
        == std::vector<tree_event>{
          created("/m"), children("/"), created("/m/c"), children("/m"),
          changed("/m"), deleted("/m/c"), children("/m"),
          created("/m/s-0000000001"), children("/m")});
  auto s = h.stat_of("/m");
  CHECK(s.czxid == h.z);
  CHECK(s.mzxid == h.z);
  CHECK(s.pzxid == h.z);
  CHECK(s.version == 1);
  CHECK(s.cversion == 3); // two creates and a delete
  CHECK(s.num_children == 1);
  CHECK(h.children_of("/m") == strings{"s-0000000001"});
  CHECK(h.data_of("/m") == "b");
}

TEST_CASE("data_tree: a failing op leaves no trace of its multi",
          "[data_tree]") {
  harness h;
  h.create("/base", "orig");
  h.create("/base/old", "x", create_mode::ephemeral, 5);
  h.create("/seq");
  h.create("/full");
  h.create("/full/child");
  const strings watched{"/",         "/base",      "/base/old",
                        "/base/new", "/seq",       "/seq/n-0000000000",
                        "/full",     "/full/child"};
  auto before = snapshot{h.tree, watched};
  auto ephemerals = h.tree.get_ephemerals(session_id{5});

  struct failing {
    txn_op op;
    error_code error;
  };
  auto [bad_op, expected] = GENERATE(
    failing{op_create("/nope/x"), error_code::no_node},
    failing{op_create("/base"), error_code::node_exists},
    failing{op_check("/base", 7), error_code::bad_version},
    failing{op_set("/gone", "z"), error_code::no_node},
    // Earlier ops of the same multi are visible to later ones:
    failing{op_delete("/base"), error_code::not_empty},  // new child
    failing{op_check("/base/old"), error_code::no_node}, // deleted
    failing{op_create("/seq/n-0000000000"), error_code::node_exists},
    failing{op_create("/base/new/x"), // ephemeral
            error_code::no_children_for_ephemerals},
    failing{op_set("/base", "z", 0), error_code::bad_version},
    failing{op_create("/a//b"), error_code::bad_arguments},
    failing{op_delete("/zookeeper/quota"), error_code::bad_arguments});
  CAPTURE(expected);
  auto r = h.multi(
    {
      op_create("/seq/n-", "", create_mode::persistent_sequential),
      op_set("/base", "new"),
      op_delete("/base/old"),
      op_create("/base/new", "fresh", create_mode::ephemeral),
      op_delete("/full/child"),
      bad_op,
      op_set("/base", "later"),
      op_create("/later"),
    },
    5);
  CHECK(r.error == expected);
  REQUIRE(r.results.size() == 8);
  for (size_t i = 0; i < 5; ++i) {
    CHECK(r.results[i].error == ok);
    CHECK(r.results[i].path.empty());
  }
  CHECK(r.results[5].error == expected);
  CHECK(r.results[6].error == error_code::runtime_inconsistency);
  CHECK(r.results[7].error == error_code::runtime_inconsistency);
  CHECK(r.events.empty());
  CHECK(h.tree.last_zxid() == zxid{h.z});

  CHECK(snapshot{h.tree, watched} == before);
  CHECK(h.tree.get_ephemerals(session_id{5}) == ephemerals);
  CHECK(h.children_of("/base") == strings{"old"});
  CHECK(h.tree.exists("/later").error() == error_code::no_node);
  // The sequence counter is back where it was.
  auto next = h.create("/seq/n-", "", create_mode::persistent_sequential);
  CHECK(next.results[0].path == "/seq/n-0000000000");
  // And the restored nodes behave: the ephemeral still goes with its session.
  auto closed = h.close(5);
  CHECK(closed.events
        == std::vector<tree_event>{deleted("/base/old"), children("/base")});
}

TEST_CASE("data_tree: a multi that fails on its first or last op",
          "[data_tree]") {
  harness h;
  h.create("/a");
  auto before = snapshot{h.tree, {"/", "/a", "/b"}};
  auto r = h.multi({op_check("/a", 3), op_create("/b")});
  CHECK(r.error == error_code::bad_version);
  REQUIRE(r.results.size() == 2);
  CHECK(r.results[0].error == error_code::bad_version);
  CHECK(r.results[1].error == error_code::runtime_inconsistency);
  r = h.multi({op_create("/b"), op_delete("/a"), op_create("/b")});
  CHECK(r.error == error_code::node_exists);
  REQUIRE(r.results.size() == 3);
  CHECK(r.results[0].error == ok);
  CHECK(r.results[1].error == ok);
  CHECK(r.results[2].error == error_code::node_exists);
  CHECK(r.events.empty());
  CHECK(snapshot{h.tree, {"/", "/a", "/b"}} == before);
}

TEST_CASE("data_tree: an empty multi succeeds with no results", "[data_tree]") {
  harness h;
  auto digest = h.tree.digest();
  auto r = h.multi({});
  CHECK(r.error == ok);
  CHECK(r.results.empty());
  CHECK(r.events.empty());
  CHECK(h.tree.digest() == digest);
  CHECK(h.tree.last_zxid() == zxid{1});
}

TEST_CASE("data_tree: multi can delete and recreate the same node",
          "[data_tree]") {
  harness h;
  h.create("/a", "old");
  auto r = h.multi({op_delete("/a"), op_create("/a", "new")});
  REQUIRE(r.error == ok);
  CHECK(h.data_of("/a") == "new");
  CHECK(h.stat_of("/a").czxid == h.z);
  CHECK(h.stat_of("/").num_children == 2);
  // A failed variant restores the old node and its slot.
  auto before = snapshot{h.tree, {"/", "/a"}};
  r = h.multi({op_delete("/a"), op_create("/a", "newer"), op_check("/x")});
  CHECK(r.error == error_code::no_node);
  CHECK(snapshot{h.tree, {"/", "/a"}} == before);
  CHECK(h.data_of("/a") == "new");
}

// -- close_session
// ----------------------------------------------------------------

TEST_CASE("data_tree: close_session removes only that session's ephemerals",
          "[data_tree]") {
  harness h;
  h.create("/p");
  h.create("/p/b", "", create_mode::ephemeral, 1);
  h.create("/a", "", create_mode::ephemeral, 1);
  h.create("/p/a-", "", create_mode::ephemeral_sequential, 1);
  h.create("/c", "", create_mode::ephemeral, 2);
  h.create("/pq", "", create_mode::ephemeral, 1);
  CHECK(h.tree.ephemeral_count() == 5);
  CHECK(h.tree.get_ephemerals(session_id{1})
        == strings{"/a", "/p/a-0000000001", "/p/b", "/pq"});
  CHECK(h.tree.get_ephemerals(session_id{1}, "")
        == h.tree.get_ephemerals(session_id{1}));
  // ZooKeeper's prefix match is a plain string prefix.
  CHECK(h.tree.get_ephemerals(session_id{1}, "/p")
        == strings{"/p/a-0000000001", "/p/b", "/pq"});
  CHECK(h.tree.get_ephemerals(session_id{1}, "/p/")
        == strings{"/p/a-0000000001", "/p/b"});
  CHECK(h.tree.get_ephemerals(session_id{2}) == strings{"/c"});
  CHECK(h.tree.get_ephemerals(session_id{3}).empty());

  auto p_before = h.stat_of("/p");
  auto r = h.close(1);
  CHECK(r.error == ok);
  CHECK(r.results.size() == 1);
  CHECK(r.events
        == std::vector<tree_event>{deleted("/a"), children("/"),
                                   deleted("/p/a-0000000001"), children("/p"),
                                   deleted("/p/b"), children("/p"),
                                   deleted("/pq"), children("/")});
  CHECK(h.tree.get_ephemerals(session_id{1}).empty());
  CHECK(h.tree.ephemeral_count() == 1);
  CHECK(h.tree.exists("/c").ok());
  CHECK(h.children_of("/p").empty());
  auto p_after = h.stat_of("/p");
  CHECK(p_after.pzxid == h.z);
  CHECK(p_after.cversion == p_before.cversion + 2); // two deletes
  CHECK(p_after.num_children == 0);
  CHECK(h.tree.node_count() == 4 + 2); // /p and /c

  auto digest = h.tree.digest();
  for (int64_t session : {1, 42, 0}) {
    r = h.close(session);
    CHECK(r.error == ok);
    CHECK(r.events.empty());
    CHECK(h.tree.digest() == digest);
  }
}

// -- containers and TTL nodes
// ---------------------------------------------------

TEST_CASE("data_tree: cleanup_candidates lists used empty containers",
          "[data_tree]") {
  harness h;
  h.create("/c", "", create_mode::container);
  h.create("/p"); // persistent and empty: never a candidate
  h.create("/e", "", create_mode::ephemeral, 3);
  CHECK(h.tree.cleanup_candidates(h.now).empty()); // never had a child
  h.create("/c/x");
  CHECK(h.tree.cleanup_candidates(h.now).empty()); // has a child
  h.remove("/c/x");
  CHECK(h.tree.cleanup_candidates(h.now) == strings{"/c"});
  h.create("/b", "", create_mode::container);
  h.create("/b/x", "", create_mode::ephemeral, 3);
  h.close(3);
  CHECK(h.tree.cleanup_candidates(h.now) == strings{"/b", "/c"});
  h.remove("/c");
  CHECK(h.tree.cleanup_candidates(h.now) == strings{"/b"});
}

TEST_CASE("data_tree: cleanup_candidates lists expired empty TTL nodes",
          "[data_tree]") {
  harness h;
  h.create("/t", "", create_mode::persistent_with_ttl, 0, 100);
  auto created_at = h.now;
  CHECK(h.tree.cleanup_candidates(created_at + 100).empty()); // not yet <
  CHECK(h.tree.cleanup_candidates(created_at + 101) == strings{"/t"});
  // A data change restarts the clock (ZooKeeper measures from mtime).
  h.set("/t", "touch");
  auto touched_at = h.now;
  CHECK(h.tree.cleanup_candidates(created_at + 101).empty());
  CHECK(h.tree.cleanup_candidates(touched_at + 101) == strings{"/t"});
  // Children keep it alive.
  h.create("/t/x");
  CHECK(h.tree.cleanup_candidates(INT64_MAX).empty());
  h.remove("/t/x");
  // Sequential TTL nodes too; huge TTLs don't overflow.
  auto r
    = h.create("/s-", "", create_mode::persistent_sequential_with_ttl, 0, 50);
  h.create("/forever", "", create_mode::persistent_with_ttl, 0, max_ttl_ms);
  CHECK(h.tree.cleanup_candidates(h.now + 101)
        == strings{r.results[0].path, "/t"});
  CHECK(h.tree.cleanup_candidates(INT64_MAX)
        == strings{"/forever", r.results[0].path, "/t"});
}

// -- reserved nodes
// -------------------------------------------------------------

TEST_CASE("data_tree: the built-in /zookeeper nodes are protected as in "
          "ZooKeeper",
          "[data_tree]") {
  // Measured against ZooKeeper 3.8: deleting the built-ins is BadArguments,
  // setting /zookeeper/config is NoAuth, anything else below /zookeeper is an
  // ordinary node.
  harness h;
  auto before = snapshot{
    h.tree, {"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"}};
  require_failure(h.create("/zookeeper"), error_code::node_exists);
  require_failure(h.set("/zookeeper/config", "x"), error_code::no_auth);
  require_failure(h.remove("/zookeeper/config"), bad_arguments);
  require_failure(h.remove("/zookeeper/quota"), bad_arguments);
  require_failure(h.remove("/zookeeper"), bad_arguments);
  require_failure(h.remove("/"), bad_arguments);
  auto r = h.multi({op_create("/ok"), op_delete("/zookeeper/config")});
  CHECK(r.error == bad_arguments);
  CHECK(snapshot{h.tree,
                 {"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"}}
        == before);
  CHECK(h.tree.get_data("/zookeeper/config").ok());
  CHECK(h.check("/zookeeper/quota").error == ok);
  CHECK(h.create("/zookeeper/x").error == ok);
  CHECK(h.create("/zookeeper/quota/y").error == ok);
  CHECK(h.set("/zookeeper", "x").error == ok);
  CHECK(h.remove("/zookeeper/x").error == ok);
  CHECK(h.children_of("/zookeeper") == strings{"config", "quota"});
  CHECK(h.create("/zookeeperx").error == ok);
}

// -- limits and figures
// ---------------------------------------------------------

TEST_CASE("data_tree: size limits are enforced on apply", "[data_tree]") {
  harness h{data_tree_limits{8, 16}};
  CHECK(h.create("/d", std::string(8, 'x')).error == ok);
  require_failure(h.create("/e", std::string(9, 'x')), bad_arguments);
  require_failure(h.set("/d", std::string(9, 'x')), bad_arguments);
  CHECK(h.set("/d", std::string(8, 'y')).error == ok);
  CHECK(h.stat_of("/d").data_length == 8);
  const std::string p16 = "/" + std::string(15, 'p');
  const std::string p17 = "/" + std::string(16, 'p');
  CHECK(h.create(p16).error == ok);
  require_failure(h.create(p17), bad_arguments);
  // A sequential name counts with its 10-digit suffix.
  CHECK(h.create("/abcde", "", create_mode::persistent_sequential).error == ok);
  require_failure(h.create("/abcdef", "", create_mode::persistent_sequential),
                  bad_arguments);
  // Reads of over-long paths are invalid requests.
  CHECK(h.tree.exists(p16).ok());
  CHECK(h.tree.exists(p17).error() == bad_arguments);
  CHECK(h.tree.get_data(p17).error() == bad_arguments);
  auto r = h.multi({op_create("/f"), op_set("/f", std::string(9, 'z'))});
  CHECK(r.error == bad_arguments);
  CHECK(h.tree.exists("/f").error() == error_code::no_node);
}

TEST_CASE("data_tree: counts and approximate_data_bytes track every change",
          "[data_tree]") {
  harness h;
  auto& t = h.tree;
  auto base = t.approximate_data_bytes();
  h.create("/a", "xyz"); // "/a" 2 + 3
  CHECK(t.approximate_data_bytes() == base + 5);
  h.create("/a/bb"); // "/a/bb" 5 + 0
  CHECK(t.approximate_data_bytes() == base + 10);
  h.set("/a", ""); // -3
  CHECK(t.approximate_data_bytes() == base + 7);
  h.set("/", "rootdata"); // +8
  CHECK(t.approximate_data_bytes() == base + 15);
  h.create("/e", "12", create_mode::ephemeral, 4); // "/e" 2 + 2
  CHECK(t.approximate_data_bytes() == base + 19);
  CHECK(t.node_count() == 4 + 3);
  CHECK(t.ephemeral_count() == 1);
  CHECK(t.count_descendants("/").value() == 6);
  CHECK(t.count_descendants("/a").value() == 1);
  CHECK(t.count_descendants("/a/bb").value() == 0);
  CHECK(t.count_descendants("/zookeeper").value() == 2);
  CHECK(t.count_descendants("/missing").error() == error_code::no_node);
  CHECK(t.count_descendants("bad").error() == bad_arguments);
  // A failed multi changes none of the figures.
  h.multi({op_create("/z", "zzzz"), op_delete("/a/bb"), op_check("/q")});
  CHECK(t.approximate_data_bytes() == base + 19);
  CHECK(t.node_count() == 7);
  h.remove("/a/bb");
  h.close(4);
  CHECK(t.approximate_data_bytes() == base + 10);
  CHECK(t.node_count() == 5);
  CHECK(t.ephemeral_count() == 0);
}

// -- reads
// ----------------------------------------------------------------------

TEST_CASE("data_tree: reads report no_node and bad_arguments", "[data_tree]") {
  harness h;
  h.create("/a");
  for (auto p : {"/missing", "/a/missing", "/missing/a"}) {
    CAPTURE(p);
    CHECK(h.tree.get_data(p).error() == error_code::no_node);
    CHECK(h.tree.exists(p).error() == error_code::no_node);
    CHECK(h.tree.get_children(p).error() == error_code::no_node);
    CHECK(h.tree.count_descendants(p).error() == error_code::no_node);
  }
  for (auto p : {"", "a", "/a/", "/a//b", "/.", "/a\x02"}) {
    CAPTURE(p);
    CHECK(h.tree.get_data(p).error() == bad_arguments);
    CHECK(h.tree.exists(p).error() == bad_arguments);
    CHECK(h.tree.get_children(p).error() == bad_arguments);
    CHECK(h.tree.count_descendants(p).error() == bad_arguments);
  }
}

TEST_CASE("data_tree: get_children returns sorted names and the node's stat",
          "[data_tree]") {
  harness h;
  h.create("/p", "pd");
  for (auto name : {"b", "a", "c", "B", "a0", "\xC3\xBC"})
    h.create(std::string{"/p/"} + name);
  auto r = h.tree.get_children("/p");
  REQUIRE(r.ok());
  CHECK(r->names == strings{"B", "a", "a0", "b", "c", "\xC3\xBC"});
  CHECK(r->stat == h.stat_of("/p"));
  CHECK(r->stat.num_children == 6);
}

TEST_CASE("data_tree: many siblings survive child-index growth and deletes",
          "[data_tree]") {
  harness h;
  h.create("/n");
  h.create("/m");
  constexpr int count = 3000;
  for (int i = 0; i < count; ++i) {
    REQUIRE(h.create("/n/" + std::to_string(i)).error == ok);
    if (i % 7 == 0)
      REQUIRE(h.create("/m/" + std::to_string(i)).error == ok);
  }
  for (int i = 0; i < count; i += 3)
    REQUIRE(h.remove("/n/" + std::to_string(i)).error == ok);
  for (int i = 0; i < count; ++i) {
    auto expected = i % 3 == 0 ? error_code::no_node : ok;
    auto got = h.tree.exists("/n/" + std::to_string(i)).error();
    if (got != expected) // one REQUIRE per failure keeps this fast
      REQUIRE(got == expected);
    auto in_m = h.tree.exists("/m/" + std::to_string(i)).error();
    if (in_m != (i % 7 == 0 ? ok : error_code::no_node))
      REQUIRE(in_m == (i % 7 == 0 ? ok : error_code::no_node));
  }
  CHECK(h.stat_of("/n").num_children == count - count / 3);
  CHECK(h.children_of("/n").size() == count - count / 3);
  // Freed slots get reused without confusing lookups.
  for (int i = 0; i < count; i += 3)
    REQUIRE(h.create("/n/r" + std::to_string(i)).error == ok);
  CHECK(h.stat_of("/n").num_children == count);
  CHECK(h.tree.exists("/n/r0").ok());
  CHECK(h.tree.exists("/n/0").error() == error_code::no_node);
}

// -- digest
// ---------------------------------------------------------------------

TEST_CASE("data_tree: digest is canonical and covers data and stat",
          "[data_tree]") {
  harness a;
  harness b;
  a.multi({op_create("/p"), op_create("/p/x", "1"), op_create("/p/y", "2")});
  b.multi({op_create("/p"), op_create("/p/y", "2"), op_create("/p/x", "1")});
  CHECK(a.tree.digest() == b.tree.digest()); // insertion order is invisible

  // A rolled-back multi leaves the same digest as a plain failure.
  a.multi({op_create("/q"), op_delete("/p/x"), op_check("/none")});
  b.check("/none");
  CHECK(a.tree.digest() == b.tree.digest());

  auto same = a.tree.digest();
  a.set("/p/x", "1"); // same data, new version/mzxid/mtime
  CHECK(a.tree.digest() != same);
  b.set("/p/x", "2");
  CHECK(a.tree.digest() != b.tree.digest()); // same stats, other data

  harness c;
  harness d;
  c.create("/a");
  d.create("/b");
  CHECK(c.tree.digest() != d.tree.digest()); // other path
  c.create("/a/x", "", create_mode::ephemeral, 1);
  d.create("/b/x", "", create_mode::ephemeral, 2);
  c.remove("/a/x");
  d.remove("/b/x");
  c.remove("/a");
  d.remove("/b");
  // Both back to the bare tree, but the root's cversion/pzxid moved.
  CHECK(c.tree.digest() == d.tree.digest());
  CHECK(c.tree.digest() != harness{}.tree.digest());
}

namespace {

/// A fixed command stream whose knobs each change exactly one stat field.
struct scenario {
  int64_t create_zxid = 1;   // /a czxid
  int64_t create_time = 100; // /a ctime
  bool extra_set = false;    // /a version
  int64_t set_zxid = 10;     // /a mzxid
  int64_t set_time = 200;    // /a mtime
  bool extra_child = false;  // /a cversion
  int64_t delete_zxid = 21;  // /a pzxid
  int64_t session = 1;       // /e ephemeral_owner
  std::string data = "x";    // /a data (and data_length)

  data_tree build() const {
    data_tree t;
    auto at = [&](int64_t z, int64_t time, command_body body, int64_t s = 0) {
      REQUIRE(
        t.apply(command{session_id{s}, std::move(body)}, zxid{z}, time).error
        == ok);
    };
    auto create
      = [](std::string p, create_mode mode = create_mode::persistent) {
          return create_op{std::move(p), {}, mode, 0};
        };
    at(create_zxid, create_time, create("/a"));
    if (extra_set)
      at(8, 150, set_data_op{"/a", data, any_version});
    at(set_zxid, set_time, set_data_op{"/a", data, any_version});
    if (extra_child) {
      at(11, 300, create("/a/d"));
      at(12, 300, delete_op{"/a/d", any_version});
    }
    at(20, 300, create("/a/c"));
    at(delete_zxid, 300, delete_op{"/a/c", any_version});
    // Equalize the root's pzxid/cversion whatever happened to /a.
    at(30, 300, create("/r"));
    at(31, 300, delete_op{"/r", any_version});
    at(40, 400, create("/e", create_mode::ephemeral), session);
    return t;
  }
};

/// Number of stat fields in which `a` and `b` differ.
int differing_fields(const conclave::stat& a, const conclave::stat& b) {
  return (a.czxid != b.czxid) + (a.mzxid != b.mzxid)
         + (a.ctime_ms != b.ctime_ms) + (a.mtime_ms != b.mtime_ms)
         + (a.version != b.version) + (a.cversion != b.cversion)
         + (a.aversion != b.aversion) + (a.ephemeral_owner != b.ephemeral_owner)
         + (a.data_length != b.data_length) + (a.num_children != b.num_children)
         + (a.pzxid != b.pzxid);
}

} // namespace

TEST_CASE("data_tree: digest changes with each single stat field",
          "[data_tree]") {
  const scenario base;
  const auto base_tree = base.build();
  std::vector<std::pair<std::string, scenario>> variants;
  auto add = [&](std::string name, auto change) {
    auto s = base;
    change(s);
    variants.emplace_back(std::move(name), s);
  };
  add("czxid", [](scenario& s) { s.create_zxid = 2; });
  add("ctime", [](scenario& s) { s.create_time = 105; });
  add("version", [](scenario& s) { s.extra_set = true; });
  add("mzxid", [](scenario& s) { s.set_zxid = 9; });
  add("mtime", [](scenario& s) { s.set_time = 205; });
  add("cversion", [](scenario& s) { s.extra_child = true; });
  add("pzxid", [](scenario& s) { s.delete_zxid = 22; });
  add("ephemeral_owner", [](scenario& s) { s.session = 2; });
  add("data", [](scenario& s) { s.data = "y"; });
  std::vector<uint64_t> digests{base_tree.digest()};
  for (const auto& [name, s] : variants) {
    CAPTURE(name);
    auto tree = s.build();
    // The variant really differs in one stat field of one node (or, for
    // "data", in the data only).
    int fields = 0;
    for (auto p : {"/", "/a", "/e"})
      fields += differing_fields(*tree.exists(p), *base_tree.exists(p));
    CHECK(fields == (name == "data" ? 0 : 1));
    CHECK(tree.node_count() == base_tree.node_count());
    digests.push_back(tree.digest());
  }
  std::sort(digests.begin(), digests.end());
  CHECK(std::adjacent_find(digests.begin(), digests.end()) == digests.end());
}

TEST_CASE("data_tree: a moved tree keeps its content", "[data_tree]") {
  harness h;
  h.create("/a", "x");
  h.create("/e", "", create_mode::ephemeral, 3);
  auto digest = h.tree.digest();
  data_tree moved{std::move(h.tree)};
  CHECK(moved.digest() == digest);
  CHECK(moved.get_ephemerals(session_id{3}) == strings{"/e"});
  CHECK(
    moved
      .apply(command{session_id{3}, close_session_op{}}, zxid{h.z + 1}, h.now)
      .events.size()
    == 2);
}

// -- invariants
// -----------------------------------------------------------------

namespace {

using conclave::test::aborts;

} // namespace

TEST_CASE("data_tree: apply aborts unless the zxid increases", "[data_tree]") {
  harness h;
  h.create("/a"); // zxid 1
  auto cmd = command{session_id{0}, check_op{"/a", any_version}};
  CHECK(aborts([&] { h.tree.apply(cmd, zxid{1}, 0); }));
  CHECK(aborts([&] { h.tree.apply(cmd, zxid{0}, 0); }));
  CHECK(aborts([&] { data_tree{}.apply(cmd, zxid{0}, 0); }));
  CHECK(aborts([&] { data_tree{}.apply(cmd, zxid{-5}, 0); }));
  CHECK_FALSE(aborts([&] { h.tree.apply(cmd, zxid{2}, 0); }));
}

TEST_CASE("data_tree: a configuration entry sets /zookeeper/config like "
          "setData",
          "[data_tree]") {
  harness h;
  REQUIRE(h.apply(create_op{"/a", "x"}).error == ok);
  auto before = h.tree.get_data("/zookeeper/config");
  REQUIRE(before);
  auto res = h.tree.set_config("server.1=h:1:1:participant\nversion=5", zxid{5},
                               123'456);
  REQUIRE(res.error == ok);
  CHECK(res.events
        == std::vector<tree_event>{
          {event_type::node_data_changed, "/zookeeper/config"}});
  auto after = h.tree.get_data("/zookeeper/config");
  REQUIRE(after);
  CHECK(after->data == "server.1=h:1:1:participant\nversion=5");
  CHECK(after->stat.version == before->stat.version + 1);
  CHECK(after->stat.mzxid == 5);
  CHECK(after->stat.mtime_ms == 123'456);
  CHECK(after->stat.czxid == before->stat.czxid);
  CHECK(after->stat.data_length == static_cast<int32_t>(after->data.size()));
  CHECK(h.tree.last_zxid() == zxid{5});
  // Time 0 (configuration entries carry none): the mtime stays.
  REQUIRE(h.tree.set_config("version=6", zxid{6}, 0).error == ok);
  after = h.tree.get_data("/zookeeper/config");
  CHECK(after->stat.mtime_ms == 123'456);
  CHECK(after->stat.version == before->stat.version + 2);
  // Clients still cannot set it.
  h.z = 6;
  CHECK(h.apply(set_data_op{"/zookeeper/config", "mine", -1}).error
        == error_code::no_auth);
  CHECK(h.tree.get_data("/zookeeper/config")->data == "version=6");
  // The zxid rule of apply().
  CHECK(aborts([&] { h.tree.set_config("x", zxid{7}, 0); }));
}

TEST_CASE("data_tree: an oversized configuration text changes nothing",
          "[data_tree]") {
  data_tree_limits limits;
  limits.max_data_bytes = 8;
  harness h{limits};
  auto digest = h.tree.digest();
  auto res = h.tree.set_config(std::string(9, 'x'), zxid{1}, 1);
  CHECK(res.error == bad_arguments);
  CHECK(res.events.empty());
  CHECK(h.tree.digest() == digest);
  CHECK(h.tree.last_zxid() == zxid{1});
  h.tree.reset_config(std::string(9, 'x'));
  CHECK(h.tree.digest() == digest);
}

TEST_CASE("data_tree: reset_config shows a configuration without a zxid",
          "[data_tree]") {
  data_tree a, b;
  a.reset_config("server.1=h:1:1:participant\nversion=0");
  auto node = a.get_data("/zookeeper/config");
  REQUIRE(node);
  CHECK(node->data == "server.1=h:1:1:participant\nversion=0");
  CHECK(node->stat.version == 0);
  CHECK(node->stat.mzxid == 0);
  CHECK(node->stat.data_length == static_cast<int32_t>(node->data.size()));
  CHECK(a.last_zxid() == zxid{0});
  CHECK(a.digest() != b.digest());
  b.reset_config("server.1=h:1:1:participant\nversion=0");
  CHECK(a.digest() == b.digest());
  CHECK(a.approximate_data_bytes() == b.approximate_data_bytes());
  // It survives a snapshot.
  std::string bytes;
  REQUIRE(a.save([&](std::string_view c) {
    bytes.append(c);
    return true;
  }));
  size_t pos = 0;
  auto loaded = data_tree::load(
    [&](char* buf, size_t n) {
      auto k = std::min(n, bytes.size() - pos);
      std::copy_n(bytes.data() + pos, k, buf);
      pos += k;
      return k;
    },
    {});
  REQUIRE(loaded);
  CHECK(loaded->digest() == a.digest());
  CHECK(loaded->get_data("/zookeeper/config")->data
        == "server.1=h:1:1:participant\nversion=0");
}
