// Tests for client_watch_table: routing of every notification type to the
// registrations ZooKeeper's ZKWatchManager.materialize() picks, one-shot
// removal, recursion over ancestors, dedup and ordering, removal by type and
// listener, the reconnect lists, and a randomized comparison with a naive
// reference model.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "runtime/client_watch_table.hpp"
#include "runtime/watch_manager.hpp"

#include "tests/support/aborts.hpp"

namespace Catch {
template <>
struct StringMaker<conclave::client_watch_table::watch_lists> {
  static std::string
  convert(const conclave::client_watch_table::watch_lists& l) {
    std::ostringstream out;
    auto put = [&](const char* name, const std::vector<std::string>& v) {
      out << name << " [";
      for (size_t i = 0; i < v.size(); ++i)
        out << (i == 0 ? "" : ", ") << v[i];
      out << "] ";
    };
    out << "{ ";
    put("data", l.data);
    put("exist", l.exist);
    put("child", l.child);
    put("persistent", l.persistent);
    put("recursive", l.recursive);
    out << "}";
    return out.str();
  }
};
} // namespace Catch

using namespace conclave;

namespace {

using ids = std::vector<uint64_t>;
using strings = std::vector<std::string>;
using lists_t = client_watch_table::watch_lists;

constexpr auto data = client_watch_kind::data;
constexpr auto exist = client_watch_kind::exist;
constexpr auto child = client_watch_kind::child;
constexpr auto persistent = client_watch_kind::persistent;
constexpr auto recursive = client_watch_kind::persistent_recursive;

constexpr client_watch_kind all_kinds[]
  = {data, exist, child, persistent, recursive};

constexpr auto created = watch_event::node_created;
constexpr auto deleted = watch_event::node_deleted;
constexpr auto changed = watch_event::node_data_changed;
constexpr auto children = watch_event::node_children_changed;

constexpr watch_event all_events[] = {created,
                                      deleted,
                                      changed,
                                      children,
                                      watch_event::data_watch_removed,
                                      watch_event::child_watch_removed,
                                      watch_event::persistent_watch_removed};

constexpr watcher_type all_types[]
  = {watcher_type::children, watcher_type::data, watcher_type::any,
     watcher_type::persistent, watcher_type::persistent_recursive};

using conclave::test::aborts;

} // namespace

// -- one-shot watches ---------------------------------------------------------

TEST_CASE("client_watch_table: a data watch fires once, on data change or "
          "creation",
          "[client_watch_table]") {
  client_watch_table t;
  CHECK(t.empty());
  CHECK(t.add("/a", data, 1));
  CHECK(t.size() == 1);
  CHECK(t.on_event(changed, "/a") == ids{1});
  CHECK_FALSE(t.contains("/a", data, 1));
  CHECK(t.on_event(changed, "/a").empty());
  CHECK(t.empty());
  CHECK(t.path_count() == 0);

  t.add("/a", data, 1);
  CHECK(t.on_event(created, "/a") == ids{1});
  CHECK(t.on_event(created, "/a").empty());
  CHECK(t.empty());
}

TEST_CASE("client_watch_table: an exist watch fires once, on creation, data "
          "change or deletion",
          "[client_watch_table]") {
  for (auto ev : {created, changed, deleted}) {
    INFO("event " << static_cast<int>(ev));
    client_watch_table t;
    t.add("/a", exist, 7);
    CHECK(t.on_event(ev, "/a") == ids{7});
    CHECK(t.on_event(ev, "/a").empty());
    CHECK(t.empty());
    CHECK(t.path_count() == 0);
  }
}

TEST_CASE("client_watch_table: a child watch fires once, on children change "
          "or deletion only",
          "[client_watch_table]") {
  client_watch_table t;
  t.add("/a", child, 1);
  CHECK(t.on_event(changed, "/a").empty());
  CHECK(t.on_event(created, "/a").empty());
  CHECK(t.contains("/a", child, 1));
  CHECK(t.on_event(children, "/a") == ids{1});
  CHECK(t.on_event(children, "/a").empty());
  CHECK(t.empty());

  t.add("/a", child, 1);
  CHECK(t.on_event(deleted, "/a") == ids{1});
  CHECK(t.empty());
}

TEST_CASE("client_watch_table: NodeDeleted fires data, exist and child "
          "watches and removes them all",
          "[client_watch_table]") {
  client_watch_table t;
  t.add("/a", data, 1);
  t.add("/a", exist, 2);
  t.add("/a", child, 3);
  t.add("/a/b", data, 4); // a child's watch: not fired by /a's deletion
  CHECK(t.on_event(deleted, "/a") == ids{1, 2, 3});
  CHECK(t.size() == 1);
  CHECK(t.contains("/a/b", data, 4));
  CHECK(t.lists() == lists_t{{"/a/b"}, {}, {}, {}, {}});
}

TEST_CASE("client_watch_table: NodeChildrenChanged fires neither data, exist "
          "nor recursive watches, and keeps them",
          "[client_watch_table]") {
  client_watch_table t;
  t.add("/a", data, 1);
  t.add("/a", exist, 2);
  t.add("/a", recursive, 3);
  t.add("/", recursive, 4);
  t.add("/a", child, 5);
  CHECK(t.on_event(children, "/a") == ids{5});
  CHECK(t.size() == 4);
  CHECK(t.contains("/a", data, 1));
  CHECK(t.contains("/a", exist, 2));
  CHECK(t.on_event(children, "/a").empty());
}

TEST_CASE("client_watch_table: data and creation events do not fire child "
          "watches, nor events on other paths",
          "[client_watch_table]") {
  client_watch_table t;
  t.add("/a", data, 1);
  t.add("/a", child, 2);
  CHECK(t.on_event(changed, "/a/b").empty()); // a child's change
  CHECK(t.on_event(changed, "/").empty());    // the parent's change
  CHECK(t.on_event(deleted, "/ab").empty());  // a sibling sharing a prefix
  CHECK(t.on_event(changed, "/a") == ids{1});
  CHECK(t.contains("/a", child, 2));
  CHECK(t.size() == 1);
}

// -- persistent watches -------------------------------------------------------

TEST_CASE("client_watch_table: a persistent watch sees every event on its "
          "path and survives them",
          "[client_watch_table]") {
  client_watch_table t;
  t.add("/a", persistent, 1);
  for (int round = 0; round < 2; ++round) {
    CHECK(t.on_event(created, "/a") == ids{1});
    CHECK(t.on_event(changed, "/a") == ids{1});
    CHECK(t.on_event(children, "/a") == ids{1});
    CHECK(t.on_event(deleted, "/a") == ids{1});
  }
  CHECK(t.on_event(changed, "/a/b").empty()); // not recursive
  CHECK(t.on_event(children, "/").empty());
  CHECK(t.size() == 1);
  CHECK(t.contains("/a", persistent, 1));
}

TEST_CASE("client_watch_table: a recursive watch sees its path and every "
          "descendant, up to the root",
          "[client_watch_table]") {
  client_watch_table t;
  t.add("/a", recursive, 1);
  t.add("/", recursive, 2);
  t.add("/a/b", recursive, 3);
  CHECK(t.on_event(created, "/a") == ids{1, 2});
  CHECK(t.on_event(changed, "/a/b") == ids{1, 2, 3});
  CHECK(t.on_event(deleted, "/a/b/c/d") == ids{1, 2, 3});
  CHECK(t.on_event(changed, "/") == ids{2});
  CHECK(t.on_event(created, "/b") == ids{2});
  // Event paths sharing a prefix with /a are no descendants of it.
  CHECK(t.on_event(created, "/ab") == ids{2});
  CHECK(t.on_event(changed, "/ab/c") == ids{2});
  CHECK(t.on_event(deleted, "/a/bc") == ids{1, 2});
  // Never child events, not even on the watched path.
  CHECK(t.on_event(children, "/a").empty());
  CHECK(t.on_event(children, "/").empty());
  CHECK(t.size() == 3);
}

TEST_CASE("client_watch_table: a recursive watch on a prefix-sharing sibling "
          "stays silent",
          "[client_watch_table]") {
  client_watch_table t;
  t.add("/ab", recursive, 1);
  t.add("/a", recursive, 2);
  CHECK(t.on_event(changed, "/a") == ids{2});
  CHECK(t.on_event(changed, "/a/b") == ids{2});
  CHECK(t.on_event(changed, "/ab") == ids{1});
  CHECK(t.on_event(changed, "/ab/x") == ids{1});
  CHECK(t.on_event(changed, "/abc").empty());
}

TEST_CASE("client_watch_table: a recursive watch only on the root",
          "[client_watch_table]") {
  client_watch_table t;
  t.add("/", recursive, 9);
  CHECK(t.on_event(created, "/zookeeper/config") == ids{9});
  CHECK(t.on_event(deleted, "/x") == ids{9});
  CHECK(t.on_event(changed, "/") == ids{9});
  CHECK(t.on_event(children, "/").empty());
  CHECK(t.contains("/", recursive, 9));
}

// -- dedup and order ----------------------------------------------------------

TEST_CASE("client_watch_table: a listener holding several matching kinds is "
          "notified once and keeps its persistent ones",
          "[client_watch_table]") {
  client_watch_table t;
  for (auto k : all_kinds)
    t.add("/a/b", k, 5);
  t.add("/a", recursive, 5);
  t.add("/", recursive, 5);
  CHECK(t.size() == 7);
  CHECK(t.on_event(deleted, "/a/b") == ids{5});
  // data, exist and child fired and went; the persistent ones stay.
  CHECK(t.size() == 4);
  CHECK(t.lists() == lists_t{{}, {}, {}, {"/a/b"}, {"/", "/a", "/a/b"}});
  CHECK(t.on_event(changed, "/a/b") == ids{5});
  CHECK(t.size() == 4);
}

TEST_CASE("client_watch_table: several listeners come in ascending order",
          "[client_watch_table]") {
  client_watch_table t;
  constexpr uint64_t big = uint64_t{1} << 63;
  t.add("/a", data, 30);
  t.add("/a", exist, big);
  t.add("/a", persistent, 10);
  t.add("/", recursive, 20);
  t.add("/a", child, 0);
  t.add("/a", data, 10);
  CHECK(t.on_event(changed, "/a") == ids{10, 20, 30, big});
  CHECK(t.on_event(changed, "/a") == ids{10, 20});
  CHECK(t.on_event(children, "/a") == ids{0, 10});
}

TEST_CASE("client_watch_table: a registration is a set member",
          "[client_watch_table]") {
  client_watch_table t;
  CHECK(t.add("/a", data, 1));
  CHECK_FALSE(t.add("/a", data, 1));
  CHECK(t.add("/a", exist, 1));
  CHECK(t.add("/a", data, 2));
  CHECK(t.add("/b", data, 1));
  CHECK(t.size() == 4);
  CHECK(t.path_count() == 2);
  CHECK(t.on_event(changed, "/a") == ids{1, 2});
  CHECK(t.size() == 1);
}

TEST_CASE("client_watch_table: the WatchRemoved types fire nothing",
          "[client_watch_table]") {
  client_watch_table t;
  for (auto k : all_kinds)
    t.add("/a", k, 1);
  t.add("/", recursive, 2);
  for (auto ev :
       {watch_event::data_watch_removed, watch_event::child_watch_removed,
        watch_event::persistent_watch_removed}) {
    CHECK(t.on_event(ev, "/a").empty());
    CHECK(t.on_event(ev, "/").empty());
  }
  CHECK(t.on_event(static_cast<watch_event>(0), "/a").empty());
  CHECK(t.on_event(static_cast<watch_event>(-1), "/a").empty());
  CHECK(t.size() == 6);
}

// -- removal ------------------------------------------------------------------

TEST_CASE("client_watch_table: remove by type selects ZooKeeper's client "
          "tables",
          "[client_watch_table]") {
  auto filled = [] {
    client_watch_table t;
    for (auto k : all_kinds) {
      t.add("/a", k, 1);
      t.add("/a", k, 2);
    }
    t.add("/b", data, 1);
    return t;
  };
  SECTION("children: child only") {
    auto t = filled();
    CHECK(t.remove("/a", watcher_type::children) == 2);
    CHECK(t.remove("/a", watcher_type::children) == 0);
    CHECK(t.size() == 9);
    CHECK(t.lists() == lists_t{{"/a", "/b"}, {"/a"}, {}, {"/a"}, {"/a"}});
  }
  SECTION("data: data and exist") {
    auto t = filled();
    CHECK(t.remove("/a", watcher_type::data) == 4);
    CHECK(t.size() == 7);
    CHECK(t.lists() == lists_t{{"/b"}, {}, {"/a"}, {"/a"}, {"/a"}});
  }
  SECTION("persistent: persistent only") {
    auto t = filled();
    CHECK(t.remove("/a", watcher_type::persistent) == 2);
    CHECK(t.lists() == lists_t{{"/a", "/b"}, {"/a"}, {"/a"}, {}, {"/a"}});
  }
  SECTION("persistent_recursive: recursive only") {
    auto t = filled();
    CHECK(t.remove("/a", watcher_type::persistent_recursive) == 2);
    CHECK(t.lists() == lists_t{{"/a", "/b"}, {"/a"}, {"/a"}, {"/a"}, {}});
    // No recursive watch left: events below /a reach nobody.
    CHECK(t.on_event(changed, "/a/x").empty());
  }
  SECTION("any: everything on the path") {
    auto t = filled();
    CHECK(t.remove("/a", watcher_type::any) == 10);
    CHECK(t.size() == 1);
    CHECK(t.path_count() == 1);
    CHECK(t.lists() == lists_t{{"/b"}, {}, {}, {}, {}});
  }
  SECTION("nothing on other paths, nothing for an invalid type") {
    auto t = filled();
    CHECK(t.remove("/c", watcher_type::any) == 0);
    CHECK(t.remove("/a/b", watcher_type::any) == 0);
    CHECK(t.remove("/", watcher_type::any) == 0);
    CHECK(t.remove("/a", static_cast<watcher_type>(0)) == 0);
    CHECK(t.remove("/a", static_cast<watcher_type>(6)) == 0);
    CHECK(t.size() == 11);
  }
}

TEST_CASE("client_watch_table: remove by type and listener",
          "[client_watch_table]") {
  client_watch_table t;
  for (auto k : all_kinds) {
    t.add("/a", k, 1);
    t.add("/a", k, 2);
  }
  CHECK(t.remove("/a", watcher_type::data, 1) == 2);
  CHECK(t.remove("/a", watcher_type::data, 1) == 0);
  CHECK_FALSE(t.contains("/a", data, 1));
  CHECK_FALSE(t.contains("/a", exist, 1));
  CHECK(t.contains("/a", data, 2));
  CHECK(t.contains("/a", exist, 2));
  CHECK(t.remove("/a", watcher_type::children, 3) == 0); // not a holder
  CHECK(t.remove("/a", watcher_type::any, 2) == 5);
  CHECK(t.size() == 3);
  CHECK(t.listeners() == ids{1});
  CHECK(t.on_event(deleted, "/a") == ids{1}); // child, persistent, recursive
  CHECK(t.remove("/a", watcher_type::any, 1) == 2);
  CHECK(t.empty());
  CHECK(t.path_count() == 0);
}

TEST_CASE("client_watch_table: server_still_needs maps client kinds to "
          "server-side watches",
          "[client_watch_table]") {
  client_watch_table t;
  for (auto type : all_types)
    CHECK_FALSE(t.server_still_needs("/a", type));

  t.add("/a", exist, 1);
  CHECK(t.server_still_needs("/a", watcher_type::data));
  CHECK(t.server_still_needs("/a", watcher_type::any));
  CHECK_FALSE(t.server_still_needs("/a", watcher_type::children));
  CHECK_FALSE(t.server_still_needs("/a", watcher_type::persistent));
  CHECK_FALSE(t.server_still_needs("/a", watcher_type::persistent_recursive));
  CHECK_FALSE(t.server_still_needs("/", watcher_type::any));
  CHECK_FALSE(t.server_still_needs("/a", static_cast<watcher_type>(0)));

  // Two listeners share the server's data watch: removing one locally
  // leaves it needed; removing the other does not.
  t.add("/a", data, 2);
  CHECK(t.remove("/a", watcher_type::data, 1) == 1);
  CHECK(t.server_still_needs("/a", watcher_type::data));
  CHECK(t.remove("/a", watcher_type::data, 2) == 1);
  CHECK_FALSE(t.server_still_needs("/a", watcher_type::data));
  CHECK_FALSE(t.server_still_needs("/a", watcher_type::any));

  t.add("/a", child, 1);
  t.add("/a", persistent, 1);
  t.add("/a", recursive, 1);
  CHECK(t.server_still_needs("/a", watcher_type::children));
  CHECK(t.server_still_needs("/a", watcher_type::persistent));
  CHECK(t.server_still_needs("/a", watcher_type::persistent_recursive));
  CHECK_FALSE(t.server_still_needs("/a", watcher_type::data));
  // Recursion does not make the watch a descendant's.
  CHECK_FALSE(t.server_still_needs("/a/b", watcher_type::any));
  CHECK(t.on_event(children, "/a") == ids{1});
  CHECK_FALSE(t.server_still_needs("/a", watcher_type::children));
}

TEST_CASE("client_watch_table: remove_listener drops all of a listener's "
          "registrations",
          "[client_watch_table]") {
  client_watch_table t;
  for (auto k : all_kinds) {
    t.add("/a", k, 1);
    t.add("/b/c", k, 1);
  }
  t.add("/a", data, 2);
  t.add("/", recursive, 3);
  CHECK(t.listeners() == ids{1, 2, 3});
  CHECK(t.remove_listener(1) == 10);
  CHECK(t.remove_listener(1) == 0);
  CHECK(t.remove_listener(99) == 0);
  CHECK(t.size() == 2);
  CHECK(t.path_count() == 2);
  CHECK(t.listeners() == ids{2, 3});
  CHECK(t.lists() == lists_t{{"/a"}, {}, {}, {}, {"/"}});
  CHECK(t.on_event(deleted, "/b/c") == ids{3});
  CHECK(t.remove_listener(3) == 1);
  CHECK(t.on_event(deleted, "/b/c").empty());
  CHECK(t.on_event(changed, "/a") == ids{2});
  CHECK(t.empty());
  CHECK(t.path_count() == 0);
}

// -- reconnect lists and clear ------------------------------------------------

TEST_CASE("client_watch_table: lists are sorted, unique, per kind, and lose "
          "fired one-shots",
          "[client_watch_table]") {
  client_watch_table t;
  CHECK(t.lists() == lists_t{});
  t.add("/z", data, 1);
  t.add("/b", data, 2);
  t.add("/b", data, 1);
  t.add("/m", exist, 1);
  t.add("/b", exist, 3);
  t.add("/b", child, 1);
  t.add("/a/b", child, 1);
  t.add("/p", persistent, 1);
  t.add("/p", persistent, 2);
  t.add("/", recursive, 4);
  t.add("/r", recursive, 4);
  CHECK(t.lists()
        == lists_t{
          {"/b", "/z"}, {"/b", "/m"}, {"/a/b", "/b"}, {"/p"}, {"/", "/r"}});
  CHECK(t.on_event(changed, "/b") == ids{1, 2, 3, 4});
  CHECK(t.on_event(created, "/m") == ids{1, 4});
  CHECK(t.on_event(children, "/a/b") == ids{1});
  CHECK(t.on_event(deleted, "/p") == ids{1, 2, 4});
  CHECK(t.lists() == lists_t{{"/z"}, {}, {"/b"}, {"/p"}, {"/", "/r"}});
  CHECK(t.size() == 6);
}

TEST_CASE("client_watch_table: clear drops everything",
          "[client_watch_table]") {
  client_watch_table t;
  for (auto k : all_kinds)
    t.add("/a", k, 1);
  t.add("/", recursive, 2);
  t.clear();
  CHECK(t.empty());
  CHECK(t.size() == 0);
  CHECK(t.path_count() == 0);
  CHECK(t.lists() == lists_t{});
  CHECK(t.listeners().empty());
  for (auto ev : all_events)
    CHECK(t.on_event(ev, "/a").empty());
  // Usable again afterwards.
  t.add("/a", recursive, 3);
  CHECK(t.on_event(changed, "/a/b") == ids{3});
}

TEST_CASE("client_watch_table: invalid kinds abort on add and hold nothing",
          "[client_watch_table]") {
  CHECK(aborts([] {
    client_watch_table t;
    t.add("/a", static_cast<client_watch_kind>(5), 1);
  }));
  client_watch_table t;
  t.add("/a", data, 1);
  CHECK_FALSE(t.contains("/a", static_cast<client_watch_kind>(9), 1));
}

// -- randomized ---------------------------------------------------------------

namespace {

/// ZooKeeper's rules written out naively over a list of triples.
struct reference_model {
  using triple = std::tuple<std::string, client_watch_kind, uint64_t>;
  std::vector<triple> regs;

  static bool has_prefix(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
  }

  /// `a` is `p` or one of its ancestors.
  static bool covers(const std::string& a, const std::string& p) {
    if (a == p)
      return true;
    if (a == "/")
      return p.size() > 1 && p[0] == '/';
    return has_prefix(p, a + "/");
  }

  static bool selects(watcher_type type, client_watch_kind k) {
    switch (type) {
      case watcher_type::children:
        return k == child;
      case watcher_type::data:
        return k == data || k == exist;
      case watcher_type::persistent:
        return k == persistent;
      case watcher_type::persistent_recursive:
        return k == recursive;
      case watcher_type::any:
        return true;
    }
    return false;
  }

  bool add(const std::string& p, client_watch_kind k, uint64_t l) {
    triple x{p, k, l};
    if (std::find(regs.begin(), regs.end(), x) != regs.end())
      return false;
    regs.push_back(x);
    return true;
  }

  ids fire(watch_event ev, const std::string& p) {
    ids out;
    std::vector<triple> kept;
    for (const auto& x : regs) {
      const auto& [wp, k, l] = x;
      bool hit = false;
      bool one_shot = k == data || k == exist || k == child;
      switch (ev) {
        case created:
        case changed:
          hit = (wp == p && (k == data || k == exist || k == persistent))
                || (k == recursive && covers(wp, p));
          break;
        case deleted:
          hit
            = (wp == p && k != recursive) || (k == recursive && covers(wp, p));
          break;
        case children:
          hit = wp == p && (k == child || k == persistent);
          break;
        default:
          break;
      }
      if (hit)
        out.push_back(l);
      if (!(hit && one_shot))
        kept.push_back(x);
    }
    regs = std::move(kept);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  size_t remove(const std::string& p, watcher_type type,
                std::optional<uint64_t> l) {
    auto before = regs.size();
    regs.erase(std::remove_if(regs.begin(), regs.end(),
                              [&](const triple& x) {
                                return std::get<0>(x) == p
                                       && selects(type, std::get<1>(x))
                                       && (!l || std::get<2>(x) == *l);
                              }),
               regs.end());
    return before - regs.size();
  }

  size_t remove_listener(uint64_t l) {
    auto before = regs.size();
    regs.erase(
      std::remove_if(regs.begin(), regs.end(),
                     [&](const triple& x) { return std::get<2>(x) == l; }),
      regs.end());
    return before - regs.size();
  }

  bool needs(const std::string& p, watcher_type type) const {
    return std::any_of(regs.begin(), regs.end(), [&](const triple& x) {
      return std::get<0>(x) == p && selects(type, std::get<1>(x));
    });
  }

  lists_t lists() const {
    lists_t out;
    for (const auto& [p, k, l] : regs) {
      switch (k) {
        case data:
          out.data.push_back(p);
          break;
        case exist:
          out.exist.push_back(p);
          break;
        case child:
          out.child.push_back(p);
          break;
        case persistent:
          out.persistent.push_back(p);
          break;
        case recursive:
          out.recursive.push_back(p);
          break;
      }
    }
    for (auto* v :
         {&out.data, &out.exist, &out.child, &out.persistent, &out.recursive}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    return out;
  }

  ids listeners() const {
    ids out;
    for (const auto& x : regs)
      out.push_back(std::get<2>(x));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  size_t path_count() const {
    strings ps;
    for (const auto& x : regs)
      ps.push_back(std::get<0>(x));
    std::sort(ps.begin(), ps.end());
    return static_cast<size_t>(std::unique(ps.begin(), ps.end()) - ps.begin());
  }

  std::vector<triple> sorted() const {
    auto out = regs;
    std::sort(out.begin(), out.end());
    return out;
  }
};

/// The table's registrations, read back through contains() over `pool`.
std::vector<reference_model::triple> dump(const client_watch_table& t,
                                          const strings& pool,
                                          const ids& listener_pool) {
  std::vector<reference_model::triple> out;
  for (const auto& p : pool)
    for (auto k : all_kinds)
      for (auto l : listener_pool)
        if (t.contains(p, k, l))
          out.emplace_back(p, k, l);
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE("client_watch_table: randomized against a reference model",
          "[client_watch_table]") {
  std::mt19937 rng{20240611};
  auto pick = [&](size_t n) {
    return std::uniform_int_distribution<size_t>{0, n - 1}(rng);
  };
  const strings pool{"/",     "/a",    "/ab", "/a/b", "/a/b/c",
                     "/a/bc", "/ab/c", "/b",  "/b/a", "/a/b/c/d"};
  const ids listener_pool{1, 2, 3, 4, uint64_t{1} << 40};

  client_watch_table t;
  reference_model model;
  size_t fired = 0, removed = 0, max_size = 0;
  for (int step = 0; step < 5000; ++step) {
    INFO("step " << step);
    const auto& p = pool[pick(pool.size())];
    auto l = listener_pool[pick(listener_pool.size())];
    auto what = pick(1000);
    if (what < 450) {
      auto k = all_kinds[pick(5)];
      REQUIRE(t.add(p, k, l) == model.add(p, k, l));
    } else if (what < 750) {
      auto ev = all_events[pick(7)];
      auto got = t.on_event(ev, p);
      fired += got.size();
      REQUIRE(got == model.fire(ev, p));
    } else if (what < 880) {
      auto type = all_types[pick(5)];
      std::optional<uint64_t> who;
      if (pick(2) == 0)
        who = l;
      auto n = t.remove(p, type, who);
      removed += n;
      REQUIRE(n == model.remove(p, type, who));
    } else if (what < 960) {
      auto type = all_types[pick(5)];
      REQUIRE(t.server_still_needs(p, type) == model.needs(p, type));
    } else if (what < 997) {
      REQUIRE(t.remove_listener(l) == model.remove_listener(l));
    } else {
      t.clear();
      model.regs.clear();
    }
    max_size = std::max(max_size, t.size());
    // The whole state must agree after every step.
    REQUIRE(t.size() == model.regs.size());
    REQUIRE(t.empty() == model.regs.empty());
    REQUIRE(t.path_count() == model.path_count());
    REQUIRE(t.lists() == model.lists());
    REQUIRE(t.listeners() == model.listeners());
    REQUIRE(dump(t, pool, listener_pool) == model.sorted());
  }
  // The run exercised what it is meant to.
  CHECK(fired > 500);
  CHECK(removed > 100);
  CHECK(max_size > 20);
}
