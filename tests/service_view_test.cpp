// service_view: znode observations of one service's instances, however late,
// reordered or duplicated, become each real up / down / changed exactly once,
// in id order, never going backwards; a simulated history checks it at
// random.

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "runtime/service_view.hpp"

using namespace conclave;

namespace Catch {

template <>
struct StringMaker<service_change> {
  static std::string convert(const service_change& c) {
    return std::string{to_string(c.kind)} + "(" + c.instance.id + " \""
           + c.instance.data + "\" c=" + std::to_string(c.instance.czxid)
           + " m=" + std::to_string(c.instance.mzxid) + ")";
  }
};

template <>
struct StringMaker<service_instance_state> {
  static std::string convert(const service_instance_state& s) {
    return s.id + " \"" + s.data + "\" c=" + std::to_string(s.czxid)
           + " m=" + std::to_string(s.mzxid);
  }
};

} // namespace Catch

namespace {

using changes = std::vector<service_change>;

service_instance_state inst(std::string id, std::string data, int64_t czxid,
                            int64_t mzxid) {
  return {std::move(id), std::move(data), czxid, mzxid};
}

service_change up(const service_instance_state& s) {
  return {service_change_kind::up, s};
}

service_change down(const service_instance_state& s) {
  return {service_change_kind::down, s};
}

service_change changed(const service_instance_state& s) {
  return {service_change_kind::changed, s};
}

std::vector<std::string> ids_of(const service_view& v) {
  std::vector<std::string> out;
  for (const auto& [id, state] : v.instances())
    out.push_back(id);
  return out;
}

} // namespace

TEST_CASE("service_view: a first listing brings every instance up in id order",
          "[service_view]") {
  service_view v;
  CHECK(v.size() == 0);
  CHECK(v.watermark() == service_view::no_listing);
  auto a = inst("a", "10.0.0.1:80", 3, 3);
  auto b = inst("b", "10.0.0.2:80", 5, 7);
  auto c = inst("c", "10.0.0.3:80", 4, 4);
  // Given out of order: events come by id.
  CHECK(v.on_listing({c, a, b}, 8) == changes{up(a), up(b), up(c)});
  CHECK(v.size() == 3);
  CHECK(ids_of(v) == std::vector<std::string>{"a", "b", "c"});
  CHECK(v.instances().at("b") == b);
  REQUIRE(v.find("c") != nullptr);
  CHECK(*v.find("c") == c);
  CHECK(v.find("d") == nullptr);
  CHECK(v.watermark() == 8);
  // An empty first listing: nothing.
  service_view w;
  CHECK(w.on_listing({}, 8).empty());
  CHECK(w.size() == 0);
  CHECK(w.watermark() == 8);
}

TEST_CASE("service_view: an instance missing from a later listing goes down",
          "[service_view]") {
  service_view v;
  auto a = inst("a", "x", 3, 3);
  auto b = inst("b", "y", 5, 5);
  auto c = inst("c", "z", 6, 6);
  v.on_listing({a, b, c}, 8);
  // b and c deleted, d created, before the second listing at 20.
  auto d = inst("d", "w", 15, 15);
  CHECK(v.on_listing({a, d}, 20) == changes{down(b), down(c), up(d)});
  CHECK(ids_of(v) == std::vector<std::string>{"a", "d"});
  // The down carries the last known state: the data changed in between.
  auto a2 = inst("a", "x2", 3, 22);
  CHECK(v.on_instance(a2) == changes{changed(a2)});
  CHECK(v.on_listing({d}, 30) == changes{down(a2)});
  CHECK(v.on_listing({}, 31) == changes{down(d)});
  CHECK(v.size() == 0);
}

TEST_CASE("service_view: a listing does not down what it predates",
          "[service_view]") {
  service_view v;
  auto a = inst("a", "x", 3, 3);
  v.on_listing({a}, 5);
  // b created at 12 and a changed at 14, seen by reads; then a listing
  // served at 10 (before both) arrives: it knows neither, downs neither.
  auto b = inst("b", "y", 12, 12);
  auto a2 = inst("a", "x2", 3, 14);
  CHECK(v.on_instance(b) == changes{up(b)});
  CHECK(v.on_instance(a2) == changes{changed(a2)});
  CHECK(v.on_listing({}, 10).empty());
  CHECK(v.on_listing({}, 11).empty());
  CHECK(ids_of(v) == std::vector<std::string>{"a", "b"});
  // A listing at 12 without b or a: b was created at 12, so it is gone by
  // the read; a (last known at 14) stays.
  CHECK(v.on_listing({}, 12) == changes{down(b)});
  CHECK(ids_of(v) == std::vector<std::string>{"a"});
  // Knowledge exactly at `at` is not newer than the listing: down.
  CHECK(v.on_listing({}, 14) == changes{down(a2)});
  CHECK(v.size() == 0);
}

TEST_CASE("service_view: changed only for a strictly newer mzxid",
          "[service_view]") {
  service_view v;
  auto a = inst("a", "v1", 3, 3);
  v.on_listing({a}, 5);
  auto a2 = inst("a", "v2", 3, 9);
  CHECK(v.on_instance(a2) == changes{changed(a2)});
  CHECK(v.instances().at("a") == a2);
  // Same mzxid, even with other bytes: nothing.
  CHECK(v.on_instance(inst("a", "other", 3, 9)).empty());
  CHECK(v.instances().at("a") == a2);
  // Older mzxid: nothing.
  CHECK(v.on_instance(a).empty());
  CHECK(v.on_instance(inst("a", "v1.5", 3, 7)).empty());
  CHECK(v.instances().at("a") == a2);
  // Through a listing: newer changes, same or older does not.
  auto a3 = inst("a", "v3", 3, 12);
  CHECK(v.on_listing({a3}, 12) == changes{changed(a3)});
  CHECK(v.on_listing({a3}, 13).empty());
  CHECK(v.on_listing({a2}, 14).empty());
  CHECK(v.instances().at("a") == a3);
  // Several changes in one listing, by id.
  auto b = inst("b", "b1", 15, 15);
  CHECK(v.on_instance(b) == changes{up(b)});
  auto a4 = inst("a", "v4", 3, 16);
  auto b2 = inst("b", "b2", 15, 17);
  CHECK(v.on_listing({b2, a4}, 17) == changes{changed(a4), changed(b2)});
}

TEST_CASE("service_view: duplicate and stale observations emit nothing",
          "[service_view]") {
  service_view v;
  auto a = inst("a", "x", 3, 3);
  auto b = inst("b", "y", 4, 6);
  REQUIRE(v.on_listing({a, b}, 6).size() == 2);
  // The same listing again, or an older one with the same content.
  CHECK(v.on_listing({a, b}, 6).empty());
  CHECK(v.on_listing({b, a}, 6).empty());
  // An older listing that misses b's later state shows its old state: no
  // event, and b keeps its newer data.
  CHECK(v.on_listing({a, inst("b", "y0", 4, 4)}, 4).empty());
  CHECK(v.instances().at("b") == b);
  // Reads of known states.
  CHECK(v.on_instance(a).empty());
  CHECK(v.on_instance(b).empty());
  // A NodeCreated read of a up twice.
  auto c = inst("c", "z", 8, 8);
  CHECK(v.on_instance(c) == changes{up(c)});
  CHECK(v.on_instance(c).empty());
  // Deleted twice: one down.
  CHECK(v.on_deleted("c", 9) == changes{down(c)});
  CHECK(v.on_deleted("c", 9).empty());
  CHECK(v.on_deleted("c", 10).empty());
  CHECK(ids_of(v) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("service_view: a listing with duplicate ids counts the newest",
          "[service_view]") {
  service_view v;
  auto old_a = inst("a", "old", 3, 3);
  auto new_a = inst("a", "new", 3, 5);
  auto reborn = inst("b", "reborn", 7, 7);
  auto gone = inst("b", "gone", 2, 6);
  CHECK(v.on_listing({old_a, new_a, reborn, gone}, 8)
        == changes{up(new_a), up(reborn)});
  CHECK(v.on_listing({new_a, old_a, gone, reborn}, 8).empty());
  CHECK(v.instances().at("a") == new_a);
  CHECK(v.instances().at("b") == reborn);
}

TEST_CASE("service_view: a re-registration goes down then up",
          "[service_view]") {
  service_view v;
  auto a = inst("a", "10.0.0.1", 3, 4);
  auto b = inst("b", "10.0.0.2", 5, 5);
  v.on_listing({a, b}, 5);
  // a's session expired (delete at 10) and it registered again at 12; the
  // view only sees the new znode (a NodeCreated read).
  auto a2 = inst("a", "10.0.0.9", 12, 12);
  CHECK(v.on_instance(a2) == changes{down(a), up(a2)});
  CHECK(v.instances().at("a") == a2);
  // A late read of the old incarnation, however new its mzxid: nothing.
  CHECK(v.on_instance(inst("a", "late", 3, 9)).empty());
  CHECK(v.on_instance(a).empty());
  // The NodeDeleted of the old incarnation, at 10, arrives late: the live
  // one was created after it, so nothing.
  CHECK(v.on_deleted("a", 10).empty());
  CHECK(v.instances().at("a") == a2);
  // Through a listing: b re-registered at 20 and changed at 21; down before
  // up, and only once even for a newer mzxid.
  auto b2 = inst("b", "10.0.0.3", 20, 21);
  CHECK(v.on_listing({a2, b2}, 21) == changes{down(b), up(b2)});
  CHECK(v.on_listing({a2, b2}, 21).empty());
  // A stale listing with the old incarnation: nothing.
  CHECK(v.on_listing({a, b}, 5).empty());
  CHECK(v.instances().at("b") == b2);
}

TEST_CASE("service_view: a stale listing cannot resurrect a deleted instance",
          "[service_view]") {
  service_view v;
  auto a = inst("a", "x", 3, 3);
  auto b = inst("b", "y", 4, 4);
  v.on_listing({a, b}, 5);
  // a deleted at 10 (NodeDeleted) and re-created at 12.
  CHECK(v.on_deleted("a", 10) == changes{down(a)});
  CHECK(v.tombstone_count() == 1);
  // A listing served at 9 (before the delete) still has a: ignored.
  CHECK(v.on_listing({a, b}, 9).empty());
  // A listing at 11 without it: nothing more (already down).
  CHECK(v.on_listing({b}, 11).empty());
  CHECK(ids_of(v) == std::vector<std::string>{"b"});
  // The one at 9 again, after 11 was applied: still nothing.
  CHECK(v.on_listing({a, b}, 9).empty());
  // A late read of the old a: nothing.
  CHECK(v.on_instance(a).empty());
  CHECK(v.on_instance(inst("a", "x2", 3, 9)).empty());
  // A listing at 12 with the new incarnation: up.
  auto a2 = inst("a", "x3", 12, 12);
  CHECK(v.on_listing({a2, b}, 12) == changes{up(a2)});
  CHECK(ids_of(v) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("service_view: a stale listing cannot revert data",
          "[service_view]") {
  service_view v;
  auto a = inst("a", "v1", 3, 3);
  v.on_listing({a}, 3);
  auto a2 = inst("a", "v2", 3, 8);
  CHECK(v.on_instance(a2) == changes{changed(a2)});
  CHECK(v.on_listing({a}, 5).empty());
  CHECK(v.instances().at("a") == a2);
  // Nor can a newer-served listing whose entry is older (the data was read
  // before a change the view already saw).
  CHECK(v.on_listing({a}, 9).empty());
  CHECK(v.instances().at("a") == a2);
}

TEST_CASE("service_view: on_deleted, stale and fresh", "[service_view]") {
  service_view v;
  auto a = inst("a", "x", 7, 9);
  v.on_listing({a}, 9);
  // A deletion observed at 6 predates a's creation at 7 (a NoNode read of
  // an earlier incarnation, or of a before it existed): ignored.
  CHECK(v.on_deleted("a", 6).empty());
  CHECK(v.tombstone_count() == 0);
  CHECK(v.size() == 1);
  // A deletion at or after the creation: down.
  CHECK(v.on_deleted("a", 12) == changes{down(a)});
  CHECK(v.size() == 0);
  // Unknown id: nothing emitted, but remembered.
  CHECK(v.on_deleted("zzz", 15).empty());
  CHECK(v.tombstone_count() == 2);
  // So a late read of zzz, created at 14 and gone at 15, stays buried...
  CHECK(v.on_instance(inst("zzz", "late", 14, 14)).empty());
  // ...but one created after 15 comes up.
  auto z = inst("zzz", "new", 16, 16);
  CHECK(v.on_instance(z) == changes{up(z)});
  CHECK(v.tombstone_count() == 1);
  // A NodeDeleted exactly at the czxid counts (czxid <= at).
  CHECK(v.on_deleted("zzz", 16) == changes{down(z)});
  // A re-created a, after its deletion at 12.
  CHECK(v.on_instance(inst("a", "x", 7, 9)).empty());
  CHECK(v.on_instance(inst("a", "x", 12, 12)).empty()); // not after 12
  auto a2 = inst("a", "x2", 13, 13);
  CHECK(v.on_instance(a2) == changes{up(a2)});
  // A deletion at 12 predates the new incarnation (13); one at 14 does not.
  CHECK(v.on_deleted("a", 12).empty());
  CHECK(v.on_deleted("a", 14) == changes{down(a2)});
  CHECK(v.size() == 0);
}

TEST_CASE("service_view: a tombstone keeps the latest deletion zxid",
          "[service_view]") {
  service_view v;
  CHECK(v.on_deleted("a", 20).empty());
  CHECK(v.on_deleted("a", 10).empty()); // older: the tombstone stays at 20
  CHECK(v.tombstone_count() == 1);
  CHECK(v.on_instance(inst("a", "x", 15, 15)).empty());
  CHECK(v.on_instance(inst("a", "x", 20, 20)).empty());
  auto a = inst("a", "x", 21, 21);
  CHECK(v.on_instance(a) == changes{up(a)});
  CHECK(v.tombstone_count() == 0);
}

TEST_CASE("service_view: clear downs everything in id order and starts over",
          "[service_view]") {
  service_view v;
  auto a = inst("a", "x", 7, 7);
  auto b = inst("b", "y", 4, 4);
  auto c = inst("c", "z", 5, 5);
  v.on_listing({c, b}, 5);
  CHECK(v.on_instance(a) == changes{up(a)});
  // e, created at 2 and absent at 5, is buried by the watermark.
  auto e = inst("e", "w", 2, 2);
  CHECK(v.on_instance(e).empty());
  v.on_deleted("d", 9);
  REQUIRE(v.tombstone_count() == 1);
  CHECK(v.clear() == changes{down(a), down(b), down(c)});
  CHECK(v.size() == 0);
  CHECK(v.instances().empty());
  CHECK(v.tombstone_count() == 0);
  CHECK(v.watermark() == service_view::no_listing);
  CHECK(v.clear().empty());
  // The view starts over: what it knew is forgotten, so reads of b and even
  // e (created below the old watermark) are news again...
  CHECK(v.on_instance(b) == changes{up(b)});
  CHECK(v.on_instance(e) == changes{up(e)});
  // ...and a re-listing puts everything right.
  CHECK(v.on_listing({a, b}, 12) == changes{up(a), down(e)});
  CHECK(v.watermark() == 12);
  // c, created at 5 and absent at 12, is gone: a late read of it is buried.
  CHECK(v.on_instance(c).empty());
}

TEST_CASE("service_view: tombstones are dropped by a newer listing",
          "[service_view]") {
  service_view v;
  v.on_listing({}, 10);
  CHECK(v.watermark() == 10);
  // Deletions at or below the watermark need no tombstone: the listing
  // already buries every incarnation created by then.
  CHECK(v.on_deleted("old", 7).empty());
  CHECK(v.on_deleted("old", 10).empty());
  CHECK(v.tombstone_count() == 0);
  CHECK(v.on_instance(inst("old", "x", 5, 5)).empty());
  CHECK(v.on_instance(inst("old", "x", 10, 10)).empty());
  // Deletions after it do.
  auto a = inst("a", "x", 11, 11);
  CHECK(v.on_instance(a) == changes{up(a)});
  CHECK(v.on_deleted("a", 12) == changes{down(a)});
  CHECK(v.on_deleted("b", 14).empty());
  CHECK(v.on_deleted("c", 16).empty());
  CHECK(v.on_deleted("d", 18).empty());
  CHECK(v.tombstone_count() == 4);
  // A stale listing (at 9) prunes nothing and does not lower the
  // watermark.
  CHECK(v.on_listing({}, 9).empty());
  CHECK(v.tombstone_count() == 4);
  CHECK(v.watermark() == 10);
  // A listing at 14 drops the tombstones at 12 and 14, not those after.
  CHECK(v.on_listing({}, 14).empty());
  CHECK(v.watermark() == 14);
  CHECK(v.tombstone_count() == 2);
  // The pruned deletions still hold: the watermark covers them.
  CHECK(v.on_instance(a).empty());
  CHECK(v.on_instance(inst("b", "x", 13, 13)).empty());
  // The kept ones too.
  CHECK(v.on_instance(inst("c", "x", 15, 15)).empty());
  CHECK(v.on_instance(inst("d", "x", 17, 17)).empty());
  // A listing at 30 drops the rest.
  auto c = inst("c", "y", 20, 20);
  CHECK(v.on_listing({c}, 30) == changes{up(c)});
  CHECK(v.tombstone_count() == 0);
  CHECK(v.watermark() == 30);
  CHECK(v.on_instance(inst("d", "x", 25, 25)).empty());
}

TEST_CASE("service_view: a current listing overrides a tombstone at its zxid",
          "[service_view]") {
  // A multi deletes and re-creates a in one transaction (zxid 10): the
  // NodeDeleted at 10 downs the new incarnation (czxid 10 <= 10) and the
  // read of it is buried, but a listing served at 10 or later is a
  // complete picture and brings it back.
  service_view v;
  auto a = inst("a", "x", 3, 3);
  v.on_listing({a}, 5);
  auto a2 = inst("a", "y", 10, 10);
  CHECK(v.on_instance(a2) == changes{down(a), up(a2)});
  CHECK(v.on_deleted("a", 10) == changes{down(a2)});
  CHECK(v.on_instance(a2).empty());
  CHECK(v.on_listing({a2}, 10) == changes{up(a2)});
  CHECK(v.tombstone_count() == 0);
}

TEST_CASE("service_view: randomized histories with late, reordered and "
          "duplicated observations",
          "[service_view]") {
  std::mt19937 rng(20240611);
  auto pick = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const std::vector<std::string> pool{"i0", "i1", "i2", "i3", "i4", "i5"};
  using snapshot = std::map<std::string, service_instance_state>;

  struct observation {
    enum { listing, instance, deleted } what;
    std::vector<service_instance_state> instances; // listing; instance: one
    std::string id;                                // deleted
    int64_t at = 0;                                // listing, deleted
  };

  int64_t total_events = 0;
  for (int trial = 0; trial < 400; ++trial) {
    // -- the true history: states[z] is the service after zxid z ---------
    const int64_t last = pick(5, 80);
    std::vector<snapshot> states{snapshot{}};
    std::map<std::string, std::vector<int64_t>> deletions;
    for (int64_t z = 1; z <= last; ++z) {
      auto s = states.back();
      if (pick(0, 4) != 0) { // else a transaction elsewhere in the tree
        const auto& id = pool[pick(0, pool.size() - 1)];
        auto i = s.find(id);
        if (i == s.end())
          s.emplace(id, inst(id, "c" + std::to_string(z), z, z));
        else if (pick(0, 2) == 0) {
          s.erase(i);
          deletions[id].push_back(z);
        } else {
          i->second.data = "m" + std::to_string(z);
          i->second.mzxid = z;
        }
      }
      states.push_back(std::move(s));
    }
    const auto& truth = states.back();

    // -- observations, each of the state at some zxid behind a cursor ----
    const int64_t max_lag = std::vector<int64_t>{0, 3, 15, last}[pick(0, 3)];
    const int count = static_cast<int>(pick(1, 120));
    std::vector<observation> obs;
    for (int k = 0; k < count; ++k) {
      int64_t cursor = (k + 1) * last / count;
      int64_t z = std::max<int64_t>(0, cursor - pick(0, max_lag));
      const auto& at_z = states[z];
      auto roll = pick(0, 99);
      if (roll < 10) {
        observation o{observation::listing, {}, {}, z};
        for (const auto& [id, st] : at_z)
          o.instances.push_back(st);
        // Sometimes an extra, older copy of an entry (newest counts).
        if (!o.instances.empty() && pick(0, 3) == 0) {
          auto st = o.instances[pick(0, o.instances.size() - 1)];
          for (int64_t y = z; y >= st.czxid; --y) {
            auto j = states[y].find(st.id);
            if (j != states[y].end() && j->second.czxid == st.czxid)
              st = j->second;
            if (pick(0, 1) == 0)
              break;
          }
          o.instances.push_back(st);
        }
        std::shuffle(o.instances.begin(), o.instances.end(), rng);
        obs.push_back(std::move(o));
      } else if (roll < 65) {
        // A read of one instance at z: its state, or NoNode at z.
        const auto& id = pool[pick(0, pool.size() - 1)];
        auto i = at_z.find(id);
        if (i != at_z.end())
          obs.push_back({observation::instance, {i->second}, {}, 0});
        else
          obs.push_back({observation::deleted, {}, id, z});
      } else if (roll < 85) {
        // A NodeDeleted event: the latest deletion of an id at or before z.
        const auto& id = pool[pick(0, pool.size() - 1)];
        const auto& ds = deletions[id];
        auto d = std::upper_bound(ds.begin(), ds.end(), z);
        if (d != ds.begin())
          obs.push_back({observation::deleted, {}, id, *std::prev(d)});
      } else if (!obs.empty()) {
        // A duplicate of an earlier observation.
        obs.push_back(obs[pick(0, obs.size() - 1)]);
      }
    }
    // Some more disorder: swap a few neighbours.
    for (size_t k = 0; k + 1 < obs.size(); ++k)
      if (pick(0, 3) == 0)
        std::swap(obs[k], obs[k + 1]);
    // The final, fresh listing.
    {
      observation o{observation::listing, {}, {}, last};
      for (const auto& [id, st] : truth)
        o.instances.push_back(st);
      obs.push_back(std::move(o));
    }

    // -- feed the view, checking every event ------------------------------
    service_view v;
    snapshot model; // the events replayed
    std::map<std::string, int64_t> last_mzxid;
    std::map<std::string, int64_t> last_up_czxid;
    for (const auto& o : obs) {
      changes out;
      if (o.what == observation::listing)
        out = v.on_listing(o.instances, o.at);
      else if (o.what == observation::instance)
        out = v.on_instance(o.instances.front());
      else
        out = v.on_deleted(o.id, o.at);
      for (const auto& e : out) {
        ++total_events;
        INFO("trial " << trial << " event "
                      << Catch::StringMaker<service_change>::convert(e));
        const auto& s = e.instance;
        auto m = model.find(s.id);
        switch (e.kind) {
          case service_change_kind::up:
            // Never up twice in a row; never an incarnation twice.
            REQUIRE(m == model.end());
            if (last_up_czxid.count(s.id) != 0)
              REQUIRE(s.czxid > last_up_czxid[s.id]);
            last_up_czxid[s.id] = s.czxid;
            model.emplace(s.id, s);
            break;
          case service_change_kind::changed:
            REQUIRE(m != model.end());
            REQUIRE(m->second.czxid == s.czxid);
            REQUIRE(s.mzxid > m->second.mzxid);
            m->second = s;
            break;
          case service_change_kind::down: {
            // Never down without up; carries the last state announced.
            REQUIRE(m != model.end());
            REQUIRE(m->second == s);
            // Only an incarnation that really was deleted goes down.
            auto t = truth.find(s.id);
            REQUIRE((t == truth.end() || t->second.czxid != s.czxid));
            model.erase(m);
            break;
          }
        }
        // Every state announced is a true one: the id's state right after
        // its mzxid.
        REQUIRE(s.mzxid >= 0);
        REQUIRE(s.mzxid <= last);
        auto real = states[s.mzxid].find(s.id);
        REQUIRE(real != states[s.mzxid].end());
        REQUIRE(real->second == s);
        // Events of an id never go back in mzxid.
        if (last_mzxid.count(s.id) != 0)
          REQUIRE(s.mzxid >= last_mzxid[s.id]);
        last_mzxid[s.id] = s.mzxid;
      }
      // The view is exactly what its events announced.
      REQUIRE(v.instances() == model);
      REQUIRE(v.size() == model.size());
    }
    INFO("trial " << trial);
    CHECK(v.instances() == truth);
    CHECK(v.watermark() == last);
    CHECK(v.tombstone_count() == 0);
  }
  // The simulation did exercise the view.
  CHECK(total_events > 1000);
}
