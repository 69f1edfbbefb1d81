// Tests for watch_manager: every trigger rule against a real data_tree (the
// events fed are the ones apply() reports), removal, sessions, limits,
// set_watches, ordering, and a randomized comparison with a naive reference
// model of ZooKeeper's rules.

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "runtime/data_tree.hpp"
#include "runtime/watch_manager.hpp"

#include "tests/support/aborts.hpp"
#include "tests/support/printers.hpp"

namespace Catch {
template <>
struct StringMaker<conclave::notification> {
  static std::string convert(const conclave::notification& n) {
    std::ostringstream out;
    out << "{session " << n.session << ", type " << static_cast<int>(n.type)
        << ", " << n.path << ", zxid " << n.zxid << "}";
    return out.str();
  }
};
template <>
struct StringMaker<conclave::watch_info> {
  static std::string convert(const conclave::watch_info& w) {
    std::ostringstream out;
    out << "{session " << w.session << ", " << w.path << ", kind "
        << static_cast<int>(w.kind) << "}";
    return out.str();
  }
};
} // namespace Catch

using namespace conclave;

namespace {

using notes = std::vector<notification>;
using strings = std::vector<std::string>;

constexpr auto ok = error_code::ok;
constexpr auto no_watcher = error_code::no_watcher;
constexpr auto quota_exceeded = error_code::quota_exceeded;

constexpr auto data = watch_kind::data;
constexpr auto child = watch_kind::child;
constexpr auto persistent = watch_kind::persistent;
constexpr auto recursive = watch_kind::persistent_recursive;

constexpr auto created = watch_event::node_created;
constexpr auto deleted = watch_event::node_deleted;
constexpr auto changed = watch_event::node_data_changed;
constexpr auto children = watch_event::node_children_changed;

session_id sid(int64_t v) {
  return session_id{v};
}

notification note(int64_t session, watch_event type, std::string path,
                  int64_t zxid) {
  return notification{sid(session), type, std::move(path), zxid};
}

/// A tree and a watch manager fed the tree's events, zxids 1, 2, ...
struct harness {
  explicit harness(watch_limits limits = {}) : watches(limits) {}

  data_tree tree;
  watch_manager watches;
  int64_t z = 0; ///< zxid of the last apply

  /// Applies a command and returns the notifications its events fire.
  notes apply(command_body body, int64_t session = 0) {
    ++z;
    auto r
      = tree.apply(command{sid(session), std::move(body)}, zxid{z}, 1000 + z);
    return watches.on_events(r.events, z);
  }
  notes create(std::string path, create_mode mode = create_mode::persistent,
               int64_t session = 0) {
    return apply(create_op{std::move(path), "", mode, 0}, session);
  }
  notes remove(std::string path) {
    return apply(delete_op{std::move(path), any_version});
  }
  notes set(std::string path, std::string value = "x") {
    return apply(set_data_op{std::move(path), std::move(value), any_version});
  }
  void watch(int64_t session, std::string_view path, watch_kind kind) {
    REQUIRE(watches.add_watch(sid(session), path, kind) == ok);
  }
  bool has(int64_t session, std::string_view path, watch_kind kind) const {
    return watches.has_watch(sid(session), path, kind);
  }
  conclave::stat stat_of(std::string_view path) const {
    auto r = tree.exists(path);
    REQUIRE(r.ok());
    return *r;
  }
};

using conclave::test::aborts;

} // namespace

// -- one-shot watches ---------------------------------------------------------

TEST_CASE("watch_manager: a data watch fires NodeDataChanged once", "[watch]") {
  harness h;
  h.create("/a");
  h.watch(1, "/a", data);
  CHECK(h.set("/a") == notes{note(1, changed, "/a", 2)});
  CHECK_FALSE(h.has(1, "/a", data));
  CHECK(h.set("/a").empty());
  CHECK(h.watches.watch_count() == 0);
  CHECK(h.watches.path_count() == 0);
  CHECK(h.watches.session_count() == 0);
}

TEST_CASE("watch_manager: an exist watch on a missing node fires "
          "NodeCreated once",
          "[watch]") {
  harness h;
  h.watch(1, "/a", data); // exists("/a", watch) on a missing node
  CHECK(h.create("/a") == notes{note(1, created, "/a", 1)});
  CHECK(h.set("/a").empty());
  CHECK(h.remove("/a").empty());
  CHECK(h.watches.watch_count() == 0);
}

TEST_CASE("watch_manager: a data watch fires NodeDeleted, the parent's child "
          "watch NodeChildrenChanged",
          "[watch]") {
  harness h;
  h.create("/a");
  h.create("/a/b");
  h.watch(1, "/a/b", data);
  h.watch(2, "/a", child);
  CHECK(h.remove("/a/b")
        == notes{note(1, deleted, "/a/b", 3), note(2, children, "/a", 3)});
  CHECK(h.watches.watch_count() == 0);
}

TEST_CASE("watch_manager: a child watch fires on a child's create and delete "
          "only",
          "[watch]") {
  harness h;
  h.create("/a");
  h.watch(1, "/a", child);
  CHECK(h.set("/a").empty()); // data change: not a child event
  CHECK(h.create("/a/b") == notes{note(1, children, "/a", 3)});
  CHECK(h.create("/a/c").empty()); // fired once
  h.watch(1, "/a", child);
  CHECK(h.set("/a/b").empty()); // a child's data change is no child event
  CHECK(h.remove("/a/c") == notes{note(1, children, "/a", 6)});
  CHECK(h.watches.watch_count() == 0);
}

TEST_CASE("watch_manager: a child watch fires NodeDeleted when its node goes",
          "[watch]") {
  harness h;
  h.create("/a");
  h.watch(1, "/a", child);
  CHECK(h.remove("/a") == notes{note(1, deleted, "/a", 2)});
  CHECK(h.create("/a").empty());
}

TEST_CASE("watch_manager: a node's creation does not fire its own child "
          "watch, nor a data watch its children",
          "[watch]") {
  harness h;
  h.watch(1, "/a", child); // registered while /a is missing (never by ZK
                           // getChildren, but the manager does not care)
  h.watch(2, "/a", data);
  CHECK(h.create("/a") == notes{note(2, created, "/a", 1)});
  h.watch(2, "/a", data);
  CHECK(h.create("/a/b") == notes{note(1, children, "/a", 2)});
  CHECK(h.has(2, "/a", data));
}

TEST_CASE("watch_manager: a session with a data and a child watch on a "
          "deleted node gets one NodeDeleted",
          "[watch]") {
  harness h;
  h.create("/a");
  h.watch(1, "/a", data);
  h.watch(1, "/a", child);
  h.watch(2, "/a", child);
  CHECK(h.remove("/a")
        == notes{note(1, deleted, "/a", 2), note(2, deleted, "/a", 2)});
  CHECK(h.watches.watch_count() == 0); // both one-shots consumed
}

TEST_CASE("watch_manager: watches on the root", "[watch]") {
  harness h;
  h.watch(1, "/", child);
  h.watch(2, "/", recursive);
  CHECK(h.create("/a")
        == notes{note(2, created, "/a", 1), note(1, children, "/", 1)});
  CHECK(h.create("/a/b") == notes{note(2, created, "/a/b", 2)});
  CHECK(h.watches.watch_count() == 1);
}

// -- persistent and recursive watches -----------------------------------------

TEST_CASE("watch_manager: a persistent watch sees data, child and lifecycle "
          "events of its path and stays",
          "[watch]") {
  harness h;
  h.watch(1, "/a", persistent);
  CHECK(h.create("/a") == notes{note(1, created, "/a", 1)});
  CHECK(h.set("/a") == notes{note(1, changed, "/a", 2)});
  CHECK(h.set("/a") == notes{note(1, changed, "/a", 3)});
  CHECK(h.create("/a/b") == notes{note(1, children, "/a", 4)});
  CHECK(h.set("/a/b").empty());      // not recursive
  CHECK(h.create("/a/b/c").empty()); // not recursive
  CHECK(h.remove("/a/b/c").empty());
  CHECK(h.remove("/a/b") == notes{note(1, children, "/a", 8)});
  CHECK(h.remove("/a") == notes{note(1, deleted, "/a", 9)});
  CHECK(h.create("/a") == notes{note(1, created, "/a", 10)});
  CHECK(h.has(1, "/a", persistent));
  CHECK(h.watches.watch_count() == 1);
}

TEST_CASE("watch_manager: a one-shot and a persistent watch on one path give "
          "one notification, the one-shot goes and the persistent stays",
          "[watch]") {
  harness h;
  h.create("/a");
  h.watch(1, "/a", persistent);
  h.watch(1, "/a", data);
  h.watch(1, "/a", child);
  CHECK(h.watches.watch_count(sid(1)) == 3);
  CHECK(h.set("/a") == notes{note(1, changed, "/a", 2)});
  CHECK_FALSE(h.has(1, "/a", data));
  CHECK(h.has(1, "/a", child));
  CHECK(h.create("/a/b") == notes{note(1, children, "/a", 3)});
  CHECK_FALSE(h.has(1, "/a", child));
  CHECK(h.has(1, "/a", persistent));
  // Registered after the persistent one (ZooKeeper 3.6-3.8 let this replace
  // the persistent mode; with ZOOKEEPER-4466 both stay).
  h.watch(1, "/a", data);
  CHECK(h.set("/a") == notes{note(1, changed, "/a", 4)});
  CHECK(h.set("/a") == notes{note(1, changed, "/a", 5)});
  CHECK(h.watches.watches_of(sid(1))
        == std::vector<watch_info>{{sid(1), "/a", persistent}});
}

TEST_CASE("watch_manager: a recursive watch sees every create, delete and "
          "data change at or below its path, and no child events",
          "[watch]") {
  harness h;
  h.watch(1, "/services", recursive);
  CHECK(h.create("/services") == notes{note(1, created, "/services", 1)});
  CHECK(h.create("/services/a") == notes{note(1, created, "/services/a", 2)});
  CHECK(h.create("/services/a/x")
        == notes{note(1, created, "/services/a/x", 3)});
  CHECK(h.set("/services/a/x") == notes{note(1, changed, "/services/a/x", 4)});
  CHECK(h.set("/services") == notes{note(1, changed, "/services", 5)});
  CHECK(h.remove("/services/a/x")
        == notes{note(1, deleted, "/services/a/x", 6)});
  CHECK(h.create("/servicesX").empty()); // a sibling, not a descendant
  CHECK(h.create("/other").empty());
  CHECK(h.remove("/services/a") == notes{note(1, deleted, "/services/a", 9)});
  CHECK(h.remove("/services") == notes{note(1, deleted, "/services", 10)});
  CHECK(h.has(1, "/services", recursive));
  CHECK(h.watches.recursive_watch_count() == 1);
}

TEST_CASE("watch_manager: overlapping recursive and one-shot watches give "
          "one notification per session",
          "[watch]") {
  harness h;
  h.create("/a");
  h.create("/a/b");
  h.watch(1, "/", recursive);
  h.watch(1, "/a", recursive);
  h.watch(1, "/a/b", data);
  h.watch(1, "/a/b", persistent);
  h.watch(2, "/a", recursive);
  h.watch(3, "/a/b", data);
  CHECK(h.set("/a/b")
        == notes{note(1, changed, "/a/b", 3), note(2, changed, "/a/b", 3),
                 note(3, changed, "/a/b", 3)});
  CHECK_FALSE(h.has(1, "/a/b", data));
  CHECK(h.set("/a/b")
        == notes{note(1, changed, "/a/b", 4), note(2, changed, "/a/b", 4)});
  // Child events: only the persistent (non-recursive) watch on /a/b.
  CHECK(h.create("/a/b/c")
        == notes{note(1, created, "/a/b/c", 5), note(2, created, "/a/b/c", 5),
                 note(1, children, "/a/b", 5)});
}

// -- ordering -----------------------------------------------------------------

TEST_CASE("watch_manager: notifications follow the events, then ascending "
          "session ids",
          "[watch]") {
  harness h;
  h.create("/p");
  for (int64_t s : {7, 3, 11, 5}) {
    h.watch(s, "/p/q", data);
    h.watch(s, "/p", child);
  }
  auto n = h.create("/p/q");
  notes expected;
  for (int64_t s : {3, 5, 7, 11})
    expected.push_back(note(s, created, "/p/q", 2));
  for (int64_t s : {3, 5, 7, 11})
    expected.push_back(note(s, children, "/p", 2));
  CHECK(n == expected);
}

TEST_CASE("watch_manager: a multi fires per op in order, one-shots on the "
          "first match",
          "[watch]") {
  harness h;
  h.create("/m");
  h.watch(1, "/m/a", data);
  h.watch(2, "/m", child);
  h.watch(3, "/m", persistent);
  auto n = h.apply(multi_op{{create_op{"/m/a", "", create_mode::persistent, 0},
                             set_data_op{"/m/a", "v", any_version},
                             create_op{"/m/b", "", create_mode::persistent, 0},
                             delete_op{"/m/a", any_version}}});
  CHECK(n
        == notes{note(1, created, "/m/a", 2), note(2, children, "/m", 2),
                 note(3, children, "/m", 2), note(3, children, "/m", 2),
                 note(3, children, "/m", 2)});
}

TEST_CASE("watch_manager: failed commands fire nothing", "[watch]") {
  harness h;
  h.create("/a");
  h.watch(1, "/a", data);
  h.watch(1, "/a", child);
  CHECK(h.apply(multi_op{{set_data_op{"/a", "v", any_version},
                          delete_op{"/missing", any_version}}})
          .empty());
  CHECK(h.create("/a").empty()); // node_exists
  CHECK(h.watches.watch_count() == 2);
}

TEST_CASE("watch_manager: closing a session fires NodeDeleted on its "
          "ephemerals",
          "[watch]") {
  harness h;
  h.create("/e");
  h.create("/e/x", create_mode::ephemeral, 42);
  h.create("/e/y", create_mode::ephemeral, 42);
  h.watch(1, "/e/x", data);
  h.watch(2, "/e", child);
  h.watch(3, "/e", recursive);
  CHECK(h.apply(close_session_op{}, 42)
        == notes{note(1, deleted, "/e/x", 4), note(3, deleted, "/e/x", 4),
                 note(2, children, "/e", 4), note(3, deleted, "/e/y", 4)});
}

TEST_CASE("watch_manager: zxids must increase", "[watch]") {
  harness h;
  h.create("/a");
  CHECK(aborts([&] { h.watches.on_events({}, 1); }));
  CHECK(aborts([&] { h.watches.on_events({}, 0); }));
  CHECK_FALSE(aborts([&] { h.watches.on_events({}, 2); }));
  // set_watches with a tree behind the events fed.
  CHECK(aborts([&] {
    data_tree empty;
    (void)h.watches.set_watches(sid(1), 0, {}, {}, {}, {}, {}, empty);
  }));
  // A tree ahead of the events fed is fine (commands without events), but
  // later events must then come after the tree's state.
  h.set("/a");
  h.set("/a");
  auto tree_zxid = h.tree.last_zxid().value();
  CHECK(h.watches.set_watches(sid(1), 0, {}, {}, {}, {}, {}, h.tree).ok());
  CHECK(aborts([&] { h.watches.on_events({}, tree_zxid); }));
  CHECK_FALSE(aborts([&] { h.watches.on_events({}, tree_zxid + 1); }));
}

// -- removal ------------------------------------------------------------------

TEST_CASE("watch_manager: remove_watches removes by type and reports "
          "WatchRemoved",
          "[watch]") {
  using wt = watcher_type;
  harness h;
  auto all = [&] {
    for (auto k : {data, child, persistent, recursive})
      h.watch(1, "/a", k);
  };
  auto removed = [](std::vector<watch_event> types) {
    notes out;
    for (auto t : types)
      out.push_back(note(1, t, "/a", no_zxid));
    return out;
  };
  all();
  auto r = h.watches.remove_watches(sid(1), "/a", wt::data);
  REQUIRE(r.ok());
  CHECK(*r == removed({watch_event::data_watch_removed}));
  CHECK_FALSE(h.has(1, "/a", data));
  CHECK(h.has(1, "/a", persistent)); // ZOOKEEPER-4471: data is not persistent

  r = h.watches.remove_watches(sid(1), "/a", wt::children);
  REQUIRE(r.ok());
  CHECK(*r == removed({watch_event::child_watch_removed}));
  CHECK(h.watches.remove_watches(sid(1), "/a", wt::children).error()
        == no_watcher);

  r = h.watches.remove_watches(sid(1), "/a", wt::persistent);
  REQUIRE(r.ok());
  CHECK(*r == removed({watch_event::persistent_watch_removed}));
  CHECK(h.has(1, "/a", recursive));

  r = h.watches.remove_watches(sid(1), "/a", wt::persistent_recursive);
  REQUIRE(r.ok());
  CHECK(*r == removed({watch_event::persistent_watch_removed}));
  CHECK(h.watches.watch_count() == 0);
  CHECK(h.watches.path_count() == 0);

  all();
  r = h.watches.remove_watches(sid(1), "/a", wt::any);
  REQUIRE(r.ok());
  CHECK(*r
        == removed({watch_event::data_watch_removed,
                    watch_event::child_watch_removed,
                    watch_event::persistent_watch_removed}));
  CHECK(h.watches.watch_count() == 0);

  h.watch(1, "/a", recursive);
  r = h.watches.remove_watches(sid(1), "/a", wt::any);
  REQUIRE(r.ok());
  CHECK(*r == removed({watch_event::persistent_watch_removed}));

  // A removed watch no longer fires.
  h.watch(1, "/a", data);
  h.watch(2, "/a", data);
  REQUIRE(h.watches.remove_watches(sid(1), "/a", wt::data).ok());
  CHECK(h.create("/a") == notes{note(2, created, "/a", 1)});
}

TEST_CASE("watch_manager: check_watches and remove_watches answer no_watcher",
          "[watch]") {
  using wt = watcher_type;
  harness h;
  for (auto t : {wt::children, wt::data, wt::any, wt::persistent,
                 wt::persistent_recursive}) {
    CHECK(h.watches.check_watches(sid(1), "/a", t) == no_watcher);
    CHECK(h.watches.remove_watches(sid(1), "/a", t).error() == no_watcher);
  }
  h.watch(1, "/a", persistent);
  h.watch(2, "/a", data);
  CHECK(h.watches.check_watches(sid(1), "/a", wt::persistent) == ok);
  CHECK(h.watches.check_watches(sid(1), "/a", wt::any) == ok);
  CHECK(h.watches.check_watches(sid(1), "/a", wt::data) == no_watcher);
  CHECK(h.watches.check_watches(sid(1), "/a", wt::children) == no_watcher);
  CHECK(h.watches.check_watches(sid(1), "/a", wt::persistent_recursive)
        == no_watcher);
  CHECK(h.watches.check_watches(sid(2), "/a", wt::data) == ok);
  CHECK(h.watches.check_watches(sid(2), "/a", wt::persistent) == no_watcher);
  CHECK(h.watches.check_watches(sid(3), "/a", wt::any) == no_watcher);
  CHECK(h.watches.check_watches(sid(1), "/b", wt::any) == no_watcher);
  // A recursive watch on an ancestor is no watch on the path itself.
  h.watch(1, "/x", recursive);
  CHECK(h.watches.check_watches(sid(1), "/x/y", wt::any) == no_watcher);
  CHECK(h.watches.check_watches(sid(1), "/x", wt::persistent_recursive) == ok);
  CHECK(h.watches.remove_watches(sid(1), "/a", wt::data).error() == no_watcher);
  CHECK(h.watches.watch_count() == 3); // failed removals changed nothing
}

TEST_CASE("watch_manager: invalid kinds and types, and the wire helpers",
          "[watch]") {
  harness h;
  CHECK(h.watches.add_watch(sid(1), "/a", static_cast<watch_kind>(3))
        == error_code::bad_arguments);
  CHECK(h.watches.add_watch(sid(1), "/a", static_cast<watch_kind>(0))
        == error_code::bad_arguments);
  CHECK(h.watches.check_watches(sid(1), "/a", static_cast<watcher_type>(9))
        == error_code::bad_arguments);
  CHECK(
    h.watches.remove_watches(sid(1), "/a", static_cast<watcher_type>(0)).error()
    == error_code::bad_arguments);
  CHECK(h.watches.watch_count() == 0);
  CHECK(watch_kind_from_add_mode(0) == persistent);
  CHECK(watch_kind_from_add_mode(1) == recursive);
  CHECK_FALSE(watch_kind_from_add_mode(2).has_value());
  CHECK_FALSE(watch_kind_from_add_mode(-1).has_value());
  for (int32_t v = 1; v <= 5; ++v)
    CHECK(static_cast<int32_t>(*watcher_type_from_int(v)) == v);
  CHECK_FALSE(watcher_type_from_int(0).has_value());
  CHECK_FALSE(watcher_type_from_int(6).has_value());
  CHECK(to_watch_event(event_type::node_children_changed) == children);
  // Odd paths are stored as given and never crash the ancestor walk.
  h.watch(1, "", recursive);
  h.watch(1, "no-slash", recursive);
  h.watch(1, "/trailing/", recursive);
  CHECK(h.create("/trailing").empty());
  CHECK(h.watches.on_events({{event_type::node_created, "/trailing//x"},
                             {event_type::node_created, "no-slash"},
                             {event_type::node_created, ""}},
                            100)
        == notes{note(1, created, "/trailing//x", 100),
                 note(1, created, "no-slash", 100), note(1, created, "", 100)});
}

TEST_CASE("watch_manager: remove_session drops every watch of the session "
          "only",
          "[watch]") {
  harness h;
  h.create("/a");
  for (auto k : {data, child, persistent, recursive}) {
    h.watch(1, "/a", k);
    h.watch(1, "/b", k);
    h.watch(2, "/a", k);
  }
  h.watch(1, "/c", data);
  CHECK(h.watches.watch_count() == 13);
  CHECK(h.watches.remove_session(sid(1)) == 9);
  CHECK(h.watches.remove_session(sid(1)) == 0);
  CHECK(h.watches.remove_session(sid(3)) == 0);
  CHECK(h.watches.watch_count() == 4);
  CHECK(h.watches.path_count() == 1);
  CHECK(h.watches.session_count() == 1);
  CHECK(h.watches.recursive_watch_count() == 1);
  CHECK(h.watches.watches_of(sid(1)).empty());
  CHECK(h.set("/a") == notes{note(2, changed, "/a", 2)});
  CHECK(h.create("/c").empty());
}

// -- limits and figures -------------------------------------------------------

TEST_CASE("watch_manager: limits per session and per path", "[watch]") {
  watch_limits limits;
  limits.max_watches_per_session = 3;
  limits.max_watches_per_path = 2;
  harness h{limits};
  CHECK(h.watches.add_watch(sid(1), "/a", data) == ok);
  CHECK(h.watches.add_watch(sid(1), "/a", child) == ok);
  CHECK(h.watches.add_watch(sid(2), "/a", data) == quota_exceeded); // path
  CHECK(h.watches.add_watch(sid(1), "/a", data) == ok); // already held
  CHECK(h.watches.add_watch(sid(1), "/b", persistent) == ok);
  CHECK(h.watches.add_watch(sid(1), "/c", data) == quota_exceeded); // session
  CHECK(h.watches.add_watch(sid(1), "/b", recursive) == quota_exceeded);
  CHECK(h.watches.add_watch(sid(2), "/c", recursive) == ok); // other session
  CHECK(h.watches.watch_count() == 4);
  CHECK_FALSE(h.has(2, "/a", data));
  // Fired one-shots free their slots.
  CHECK(h.create("/a") == notes{note(1, created, "/a", 1)});
  CHECK(h.watches.add_watch(sid(2), "/a", data) == ok);
  CHECK(h.watches.add_watch(sid(1), "/c", data) == ok);
  CHECK(h.watches.add_watch(sid(1), "/d", data) == quota_exceeded);
}

TEST_CASE("watch_manager: counts and listings", "[watch]") {
  harness h;
  h.watch(2, "/b", recursive);
  h.watch(2, "/a", child);
  h.watch(2, "/a", data);
  h.watch(1, "/a", persistent);
  h.watch(3, "/a", recursive);
  CHECK(h.watches.watch_count() == 5);
  CHECK(h.watches.watch_count(sid(2)) == 3);
  CHECK(h.watches.watch_count(sid(9)) == 0);
  CHECK(h.watches.path_watch_count("/a") == 4);
  CHECK(h.watches.path_watch_count("/zz") == 0);
  CHECK(h.watches.path_count() == 2);
  CHECK(h.watches.session_count() == 3);
  CHECK(h.watches.recursive_watch_count() == 2);
  CHECK(h.watches.sessions()
        == std::vector<session_id>{sid(1), sid(2), sid(3)});
  CHECK(h.watches.watches_of(sid(2))
        == std::vector<watch_info>{{sid(2), "/a", data},
                                   {sid(2), "/a", child},
                                   {sid(2), "/b", recursive}});
  CHECK(h.watches.watchers_of("/a")
        == std::vector<watch_info>{{sid(1), "/a", persistent},
                                   {sid(2), "/a", data},
                                   {sid(2), "/a", child},
                                   {sid(3), "/a", recursive}});
  CHECK(h.watches.watchers_of("/none").empty());
  CHECK(h.watches.watches_of(sid(9)).empty());
}

// -- set_watches --------------------------------------------------------------

TEST_CASE("watch_manager: set_watches with data watches", "[watch]") {
  harness h;
  h.create("/same");    // 1
  h.create("/changed"); // 2
  h.create("/gone");    // 3
  auto seen = h.z;
  h.set("/changed"); // 4
  h.remove("/gone"); // 5
  auto r = h.watches.set_watches(sid(1), seen, {"/same", "/changed", "/gone"},
                                 {}, {}, {}, {}, h.tree);
  REQUIRE(r.ok());
  CHECK(
    *r == notes{note(1, changed, "/changed", 5), note(1, deleted, "/gone", 5)});
  CHECK(h.has(1, "/same", data));
  CHECK_FALSE(h.has(1, "/changed", data));
  CHECK(h.watches.watch_count() == 1);
  CHECK(h.set("/same") == notes{note(1, changed, "/same", 6)});
  // A change at exactly relative_zxid was seen: register.
  r = h.watches.set_watches(sid(1), 6, {"/same"}, {}, {}, {}, {}, h.tree);
  REQUIRE(r.ok());
  CHECK(r->empty());
  CHECK(h.has(1, "/same", data));
}

TEST_CASE("watch_manager: set_watches with exist watches", "[watch]") {
  harness h;
  h.create("/here");
  auto r = h.watches.set_watches(sid(1), 0, {}, {"/here", "/later", "bad"}, {},
                                 {}, {}, h.tree);
  REQUIRE(r.ok());
  CHECK(*r == notes{note(1, created, "/here", 1)});
  CHECK_FALSE(h.has(1, "/here", data));
  CHECK(h.has(1, "/later", data)); // exist watches are data watches
  CHECK(h.has(1, "bad", data));    // ZooKeeper registers those too
  CHECK(h.create("/later") == notes{note(1, created, "/later", 2)});
}

TEST_CASE("watch_manager: set_watches with child watches", "[watch]") {
  harness h;
  h.create("/quiet");   // 1
  h.create("/busy");    // 2
  h.create("/gone");    // 3
  h.create("/touched"); // 4
  auto seen = h.z;
  h.create("/busy/x"); // 5: pzxid of /busy
  h.remove("/gone");   // 6
  h.set("/touched");   // 7: data, not children
  auto r = h.watches.set_watches(sid(1), seen, {}, {},
                                 {"/quiet", "/busy", "/gone", "/touched"}, {},
                                 {}, h.tree);
  REQUIRE(r.ok());
  CHECK(*r
        == notes{note(1, children, "/busy", 7), note(1, deleted, "/gone", 7)});
  CHECK(h.has(1, "/quiet", child));
  CHECK(h.has(1, "/touched", child));
  CHECK(h.watches.watch_count() == 2);
  CHECK(h.create("/quiet/y") == notes{note(1, children, "/quiet", 8)});
}

TEST_CASE("watch_manager: set_watches registers persistent and recursive "
          "watches without firing",
          "[watch]") {
  harness h;
  h.create("/p");
  h.set("/p");
  auto r = h.watches.set_watches(sid(1), 0, {}, {}, {}, {"/p", "/missing"},
                                 {"/p", "/r"}, h.tree);
  REQUIRE(r.ok());
  CHECK(r->empty());
  CHECK(h.has(1, "/p", persistent));
  CHECK(h.has(1, "/missing", persistent));
  CHECK(h.has(1, "/p", recursive));
  CHECK(h.has(1, "/r", recursive));
  CHECK(h.create("/r") == notes{note(1, created, "/r", 3)});
  CHECK(h.create("/r/x") == notes{note(1, created, "/r/x", 4)});
  CHECK(h.create("/p/x")
        == notes{note(1, created, "/p/x", 5), note(1, children, "/p", 5)});
}

TEST_CASE("watch_manager: set_watches answers in ZooKeeper's order, without "
          "dedup",
          "[watch]") {
  harness h;
  h.create("/a");
  h.create("/b");
  auto r = h.watches.set_watches(sid(4), 0, {"/x", "/b", "/a"}, {"/b", "/a"},
                                 {"/x", "/a"}, {}, {}, h.tree);
  REQUIRE(r.ok());
  CHECK(*r
        == notes{note(4, deleted, "/x", 2), note(4, changed, "/b", 2),
                 note(4, changed, "/a", 2), note(4, created, "/b", 2),
                 note(4, created, "/a", 2), note(4, deleted, "/x", 2),
                 note(4, children, "/a", 2)});
  CHECK(h.watches.watch_count() == 0);
}

TEST_CASE("watch_manager: set_watches is all or nothing at a limit",
          "[watch]") {
  watch_limits limits;
  limits.max_watches_per_session = 4;
  limits.max_watches_per_path = 3;
  harness h{limits};
  h.create("/a");
  h.watch(1, "/a", data);
  // Duplicates and watches already held do not count.
  auto r = h.watches.set_watches(sid(1), 1, {"/a", "/a"}, {"/n", "/n"}, {"/a"},
                                 {"/a"}, {}, h.tree);
  REQUIRE(r.ok());
  CHECK(h.watches.watch_count(sid(1)) == 4);
  CHECK(h.watches.remove_session(sid(1)) == 4);
  // Session limit: five new registrations.
  r = h.watches.set_watches(sid(1), 1, {}, {"/n1", "/n2", "/n3"}, {},
                            {"/n4", "/n5"}, {}, h.tree);
  CHECK(r.error() == quota_exceeded);
  CHECK(h.watches.watch_count() == 0);
  // Path limit: four on /a.
  r = h.watches.set_watches(sid(1), 1, {"/a"}, {}, {"/a"}, {"/a"}, {"/a"},
                            h.tree);
  CHECK(r.error() == quota_exceeded);
  CHECK(h.watches.watch_count() == 0);
  h.watch(2, "/a", data);
  h.watch(2, "/a", child);
  r = h.watches.set_watches(sid(1), 1, {"/a"}, {}, {"/a"}, {}, {}, h.tree);
  CHECK(r.error() == quota_exceeded);
  r = h.watches.set_watches(sid(1), 1, {"/a"}, {}, {}, {}, {}, h.tree);
  CHECK(r.ok());
  CHECK(h.watches.watch_count() == 3);
}

// -- randomized comparison with a reference model -----------------------------

namespace {

/// ZooKeeper's watch rules, written as plainly as possible: a set of
/// (session, path, kind) and a scan over all of it per event.
struct reference_model {
  using watch = std::tuple<int64_t, std::string, int>; // kind as a bit
  std::set<watch> watches;
  watch_limits limits;

  size_t session_count(int64_t s) const {
    size_t n = 0;
    for (const auto& w : watches)
      n += std::get<0>(w) == s;
    return n;
  }
  size_t path_count(const std::string& p) const {
    size_t n = 0;
    for (const auto& w : watches)
      n += std::get<1>(w) == p;
    return n;
  }

  error_code add(int64_t s, const std::string& p, int kind) {
    if (watches.count({s, p, kind}) != 0)
      return ok;
    if (session_count(s) >= limits.max_watches_per_session
        || path_count(p) >= limits.max_watches_per_path)
      return quota_exceeded;
    watches.insert({s, p, kind});
    return ok;
  }

  static bool below(const std::string& p, const std::string& base) {
    if (base == "/")
      return p.size() > 1 && p[0] == '/';
    return p.size() > base.size() && p.compare(0, base.size(), base) == 0
           && p[base.size()] == '/';
  }

  /// Does a watch of `kind` on `wp` see `ev`? Sets `consumed` for one-shots.
  static bool sees(int kind, const std::string& wp, const tree_event& ev,
                   bool& consumed) {
    auto t = ev.type;
    auto child_event = t == event_type::node_children_changed;
    consumed = false;
    switch (static_cast<watch_kind>(kind)) {
      case watch_kind::data:
        consumed = wp == ev.path && !child_event;
        return consumed;
      case watch_kind::child:
        consumed
          = wp == ev.path && (child_event || t == event_type::node_deleted);
        return consumed;
      case watch_kind::persistent:
        return wp == ev.path;
      case watch_kind::persistent_recursive:
        return !child_event && (wp == ev.path || below(ev.path, wp));
    }
    return false;
  }

  notes fire(const std::vector<tree_event>& events, int64_t zxid) {
    notes out;
    for (const auto& ev : events) {
      std::set<int64_t> hit;
      for (auto i = watches.begin(); i != watches.end();) {
        bool consumed = false;
        if (sees(std::get<2>(*i), std::get<1>(*i), ev, consumed))
          hit.insert(std::get<0>(*i));
        i = consumed ? watches.erase(i) : std::next(i);
      }
      for (auto s : hit)
        out.push_back(note(s, to_watch_event(ev.type), ev.path, zxid));
    }
    return out;
  }

  static int mask_of(watcher_type t) {
    switch (t) {
      case watcher_type::children:
        return 2;
      case watcher_type::data:
        return 1;
      case watcher_type::any:
        return 15;
      case watcher_type::persistent:
        return 4;
      case watcher_type::persistent_recursive:
        return 8;
    }
    return 0;
  }

  error_code check(int64_t s, const std::string& p, watcher_type t) const {
    for (int k : {1, 2, 4, 8})
      if ((mask_of(t) & k) != 0 && watches.count({s, p, k}) != 0)
        return ok;
    return no_watcher;
  }

  result<notes> remove(int64_t s, const std::string& p, watcher_type t) {
    int gone = 0;
    for (int k : {1, 2, 4, 8})
      if ((mask_of(t) & k) != 0 && watches.erase({s, p, k}) != 0)
        gone |= k;
    if (gone == 0)
      return no_watcher;
    notes out;
    if (gone & 1)
      out.push_back(note(s, watch_event::data_watch_removed, p, no_zxid));
    if (gone & 2)
      out.push_back(note(s, watch_event::child_watch_removed, p, no_zxid));
    if (gone & 12)
      out.push_back(note(s, watch_event::persistent_watch_removed, p, no_zxid));
    return out;
  }

  size_t drop_session(int64_t s) {
    size_t n = 0;
    for (auto i = watches.begin(); i != watches.end();) {
      if (std::get<0>(*i) == s) {
        i = watches.erase(i);
        ++n;
      } else {
        ++i;
      }
    }
    return n;
  }

  result<notes> set_watches(int64_t s, int64_t rel, const strings& d,
                            const strings& e, const strings& c,
                            const strings& p, const strings& r,
                            const data_tree& tree) {
    auto now = tree.last_zxid().value();
    notes out;
    std::set<std::pair<std::string, int>> wanted;
    for (const auto& x : d) {
      auto st = tree.exists(x);
      if (!st)
        out.push_back(note(s, deleted, x, now));
      else if (st->mzxid > rel)
        out.push_back(note(s, changed, x, now));
      else
        wanted.insert({x, 1});
    }
    for (const auto& x : e) {
      if (tree.exists(x))
        out.push_back(note(s, created, x, now));
      else
        wanted.insert({x, 1});
    }
    for (const auto& x : c) {
      auto st = tree.exists(x);
      if (!st)
        out.push_back(note(s, deleted, x, now));
      else if (st->pzxid > rel)
        out.push_back(note(s, children, x, now));
      else
        wanted.insert({x, 2});
    }
    for (const auto& x : p)
      wanted.insert({x, 4});
    for (const auto& x : r)
      wanted.insert({x, 8});
    auto after = watches;
    for (const auto& [x, k] : wanted)
      after.insert({s, x, k});
    reference_model next{after, limits};
    if (next.session_count(s) > limits.max_watches_per_session)
      return quota_exceeded;
    for (const auto& [x, k] : wanted)
      if (next.path_count(x) > limits.max_watches_per_path
          && next.path_count(x) > path_count(x))
        return quota_exceeded;
    watches = std::move(after);
    return out;
  }

  std::vector<watch_info> listing(int64_t s) const {
    std::vector<watch_info> out;
    for (const auto& [ws, p, k] : watches)
      if (ws == s)
        out.push_back(watch_info{sid(s), p, static_cast<watch_kind>(k)});
    return out; // std::set order: path, then kind bit = watches_of's order
  }
};

void run_random(uint64_t seed, watch_limits limits, int steps) {
  std::mt19937_64 rng{seed};
  auto pick = [&](size_t n) {
    return static_cast<size_t>(
      std::uniform_int_distribution<size_t>{0, n - 1}(rng));
  };
  auto chance = [&](int percent) { return pick(100) < size_t(percent); };
  const strings pool{
    "/",    "/a",        "/a/b",        "/a/b/c",        "/a/c",       "/b",
    "/b/d", "/services", "/services/x", "/services/x/y", "/services/z"};
  const std::vector<watch_kind> kinds{data, child, persistent, recursive};
  const std::vector<watcher_type> types{
    watcher_type::children, watcher_type::data, watcher_type::any,
    watcher_type::persistent, watcher_type::persistent_recursive};
  constexpr int64_t sessions = 5;
  auto some_paths = [&] {
    strings out;
    for (auto n = pick(3); n > 0; --n)
      out.push_back(pool[pick(pool.size())]);
    return out;
  };
  auto random_op = [&]() -> txn_op {
    auto& p = pool[pick(pool.size())];
    switch (pick(3)) {
      case 0:
        return create_op{
          p, "", chance(30) ? create_mode::ephemeral : create_mode::persistent,
          0};
      case 1:
        return delete_op{p, any_version};
      default:
        return set_data_op{p, std::to_string(pick(1000)), any_version};
    }
  };

  harness h{limits};
  reference_model model;
  model.limits = limits;
  size_t fired = 0;
  for (int step = 0; step < steps; ++step) {
    INFO("seed " << seed << " step " << step);
    auto s = static_cast<int64_t>(1 + pick(sessions));
    auto& p = pool[pick(pool.size())];
    auto what = pick(100);
    if (what < 40) {
      command_body body;
      if (chance(10)) {
        body = close_session_op{};
      } else if (chance(20)) {
        multi_op m;
        for (auto n = 1 + pick(3); n > 0; --n)
          m.ops.push_back(random_op());
        body = std::move(m);
      } else {
        body = std::visit([](auto&& op) -> command_body { return op; },
                          random_op());
      }
      ++h.z;
      auto r = h.tree.apply(command{sid(s), std::move(body)}, zxid{h.z}, h.z);
      auto got = h.watches.on_events(r.events, h.z);
      fired += got.size();
      REQUIRE(got == model.fire(r.events, h.z));
    } else if (what < 70) {
      auto k = kinds[pick(kinds.size())];
      REQUIRE(h.watches.add_watch(sid(s), p, k)
              == model.add(s, p, static_cast<int>(k)));
    } else if (what < 78) {
      auto t = types[pick(types.size())];
      auto got = h.watches.remove_watches(sid(s), p, t);
      auto want = model.remove(s, p, t);
      REQUIRE(got.error() == want.error());
      if (got.ok())
        REQUIRE(*got == *want);
    } else if (what < 88) {
      auto t = types[pick(types.size())];
      REQUIRE(h.watches.check_watches(sid(s), p, t) == model.check(s, p, t));
    } else if (what < 91) {
      REQUIRE(h.watches.remove_session(sid(s)) == model.drop_session(s));
    } else {
      auto rel = static_cast<int64_t>(pick(static_cast<size_t>(h.z) + 1));
      auto d = some_paths(), e = some_paths(), c = some_paths(),
           ps = some_paths(), rs = some_paths();
      auto got = h.watches.set_watches(sid(s), rel, d, e, c, ps, rs, h.tree);
      auto want = model.set_watches(s, rel, d, e, c, ps, rs, h.tree);
      REQUIRE(got.error() == want.error());
      if (got.ok())
        REQUIRE(*got == *want);
    }
    // The whole state must agree after every step.
    REQUIRE(h.watches.watch_count() == model.watches.size());
    std::set<std::string> paths;
    size_t recursive_watches = 0;
    for (const auto& [ws, wp, k] : model.watches) {
      paths.insert(wp);
      recursive_watches += k == 8;
    }
    REQUIRE(h.watches.path_count() == paths.size());
    REQUIRE(h.watches.recursive_watch_count() == recursive_watches);
    for (int64_t x = 1; x <= sessions; ++x) {
      REQUIRE(h.watches.watches_of(sid(x)) == model.listing(x));
      REQUIRE(h.watches.watch_count(sid(x)) == model.session_count(x));
    }
    for (const auto& wp : pool)
      REQUIRE(h.watches.path_watch_count(wp) == model.path_count(wp));
  }
  CHECK(fired > 0);
}

} // namespace

TEST_CASE("watch_manager: randomized against a reference model", "[watch]") {
  for (uint64_t seed = 1; seed <= 12; ++seed)
    run_random(seed, watch_limits{}, 1500);
}

TEST_CASE("watch_manager: randomized against a reference model, tight limits",
          "[watch]") {
  watch_limits limits;
  limits.max_watches_per_session = 6;
  limits.max_watches_per_path = 4;
  for (uint64_t seed = 100; seed <= 111; ++seed)
    run_random(seed, limits, 1500);
}
