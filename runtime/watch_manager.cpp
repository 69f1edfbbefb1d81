#include "runtime/watch_manager.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <utility>

#include "runtime/path.hpp"

// ZooKeeper sources the rules follow (current, with WatchStats; see the
// header):
// - server/watch/WatchManager.java: triggerWatch walks the event path and,
//   while any recursive watch exists, its ancestors (PathParentIterator); at
//   the event path every watcher in the table fires and loses its STANDARD
//   mode; at an ancestor only PERSISTENT_RECURSIVE ones fire. Watchers are
//   collected in a set, so each fires once per trigger.
// - server/DataTree.java: createNode triggers NodeCreated on the data table
//   and NodeChildrenChanged(parent) on the child table; deleteNode triggers
//   NodeDeleted on the data table, then on the child table suppressing the
//   watchers already notified, then NodeChildrenChanged(parent); setData
//   triggers NodeDataChanged on the data table. addWatch puts PERSISTENT in
//   both tables and PERSISTENT_RECURSIVE in the data table only, so
//   recursive watches never see NodeChildrenChanged. setWatches,
//   containsWatcher and removeWatch are mirrored by set_watches,
//   check_watches and remove_watches.
// The data_tree reports exactly these triggers as tree_events, in order:
// create -> NodeCreated(p), NodeChildrenChanged(parent); delete ->
// NodeDeleted(p), NodeChildrenChanged(parent); set -> NodeDataChanged(p).

namespace conclave {

namespace {

[[noreturn]] void invariant_failure(const char* what) {
  std::fprintf(stderr, "watch_manager: broken invariant: %s\n", what);
  std::abort();
}

constexpr uint8_t data_bit = static_cast<uint8_t>(watch_kind::data);
constexpr uint8_t child_bit = static_cast<uint8_t>(watch_kind::child);
constexpr uint8_t persistent_bit = static_cast<uint8_t>(watch_kind::persistent);
constexpr uint8_t recursive_bit
  = static_cast<uint8_t>(watch_kind::persistent_recursive);
/// The kinds kept in path_entry::watchers.
constexpr uint8_t plain_bits = data_bit | child_bit | persistent_bit;
constexpr uint8_t all_bits = plain_bits | recursive_bit;

constexpr watch_kind kinds_in_order[]
  = {watch_kind::data, watch_kind::child, watch_kind::persistent,
     watch_kind::persistent_recursive};

size_t count_bits(uint8_t bits) noexcept {
  return static_cast<size_t>(__builtin_popcount(bits));
}

bool valid_kind(watch_kind kind) noexcept {
  switch (kind) {
    case watch_kind::data:
    case watch_kind::child:
    case watch_kind::persistent:
    case watch_kind::persistent_recursive:
      return true;
  }
  return false;
}

/// The kinds a watcher_type selects (ZooKeeper's DataTree.containsWatcher /
/// removeWatch); 0 for an invalid type.
uint8_t kinds_of_type(watcher_type type) noexcept {
  switch (type) {
    case watcher_type::children:
      return child_bit;
    case watcher_type::data:
      return data_bit;
    case watcher_type::any:
      return all_bits;
    case watcher_type::persistent:
      return persistent_bit;
    case watcher_type::persistent_recursive:
      return recursive_bit;
  }
  return 0;
}

bool by_session(session_id a, session_id b) noexcept {
  return a < b;
}

} // namespace

std::optional<watch_kind> watch_kind_from_add_mode(int32_t mode) noexcept {
  switch (mode) {
    case 0:
      return watch_kind::persistent;
    case 1:
      return watch_kind::persistent_recursive;
    default:
      return std::nullopt;
  }
}

std::optional<watcher_type> watcher_type_from_int(int32_t value) noexcept {
  if (value < 1 || value > 5)
    return std::nullopt;
  return static_cast<watcher_type>(value);
}

watch_manager::watch_manager(watch_limits limits) : limits_(limits) {
  // nop
}

// -- registration -------------------------------------------------------------

error_code watch_manager::add_watch(session_id session, std::string_view path,
                                    watch_kind kind) {
  if (!valid_kind(kind))
    return error_code::bad_arguments;
  auto bit = static_cast<uint8_t>(kind);
  auto* e = find_entry(path);
  if (e != nullptr && (kinds_of(*e, session) & bit) != 0)
    return error_code::ok;
  auto on_path = e != nullptr ? e->watch_count : 0;
  if (on_path >= limits_.max_watches_per_path
      || watch_count(session) >= limits_.max_watches_per_session)
    return error_code::quota_exceeded;
  insert(e != nullptr ? *e : entry_for(path), session, bit);
  return error_code::ok;
}

error_code watch_manager::check_watches(session_id session,
                                        std::string_view path,
                                        watcher_type type) const {
  auto mask = kinds_of_type(type);
  if (mask == 0)
    return error_code::bad_arguments;
  auto* e = find_entry(path);
  if (e == nullptr || (kinds_of(*e, session) & mask) == 0)
    return error_code::no_watcher;
  return error_code::ok;
}

result<std::vector<notification>>
watch_manager::remove_watches(session_id session, std::string_view path,
                              watcher_type type) {
  auto mask = kinds_of_type(type);
  if (mask == 0)
    return error_code::bad_arguments;
  auto* e = find_entry(path);
  if (e == nullptr)
    return error_code::no_watcher;
  auto removed = erase(*e, session, mask); // may free *e
  if (removed == 0)
    return error_code::no_watcher;
  std::vector<notification> out;
  auto report = [&](watch_event type) {
    out.push_back(notification{session, type, std::string{path}, no_zxid});
  };
  if ((removed & data_bit) != 0)
    report(watch_event::data_watch_removed);
  if ((removed & child_bit) != 0)
    report(watch_event::child_watch_removed);
  if ((removed & (persistent_bit | recursive_bit)) != 0)
    report(watch_event::persistent_watch_removed);
  return out;
}

size_t watch_manager::remove_session(session_id session) {
  auto i = sessions_.find(session);
  if (i == sessions_.end())
    return 0;
  auto total = i->second.watch_count;
  std::vector<path_entry*> entries(i->second.entries.begin(),
                                   i->second.entries.end());
  sessions_.erase(i);
  size_t dropped = 0;
  for (auto* e : entries) {
    size_t n = 0;
    auto w = std::lower_bound(
      e->watchers.begin(), e->watchers.end(), session,
      [](const watcher& x, session_id s) { return x.session < s; });
    if (w != e->watchers.end() && w->session == session) {
      n += count_bits(w->kinds);
      e->watchers.erase(w);
    }
    auto r = std::lower_bound(e->recursive.begin(), e->recursive.end(), session,
                              by_session);
    if (r != e->recursive.end() && *r == session) {
      ++n;
      --recursive_count_;
      e->recursive.erase(r);
    }
    if (n == 0 || n > e->watch_count)
      invariant_failure("remove_session: session index out of step");
    e->watch_count -= n;
    watch_count_ -= n;
    dropped += n;
    drop_if_empty(*e);
  }
  if (dropped != total)
    invariant_failure("remove_session: session count out of step");
  return dropped;
}

result<std::vector<notification>>
watch_manager::set_watches(session_id session, int64_t relative_zxid,
                           const std::vector<std::string>& data_paths,
                           const std::vector<std::string>& exist_paths,
                           const std::vector<std::string>& child_paths,
                           const std::vector<std::string>& persistent_paths,
                           const std::vector<std::string>& recursive_paths,
                           const data_tree& tree) {
  auto now = tree.last_zxid().value();
  if (now < high_water_)
    invariant_failure("set_watches: tree behind the events already fed");
  high_water_ = now;
  std::vector<notification> out;
  auto fire = [&](watch_event type, const std::string& path) {
    out.push_back(notification{session, type, path, now});
  };
  // Registrations to make: (path, kind bit).
  std::vector<std::pair<std::string_view, uint8_t>> plan;
  for (const auto& p : data_paths) {
    auto st = tree.exists(p);
    if (!st)
      fire(watch_event::node_deleted, p);
    else if (st->mzxid > relative_zxid)
      fire(watch_event::node_data_changed, p);
    else
      plan.emplace_back(p, data_bit);
  }
  for (const auto& p : exist_paths) {
    if (tree.exists(p))
      fire(watch_event::node_created, p);
    else
      plan.emplace_back(p, data_bit);
  }
  for (const auto& p : child_paths) {
    auto st = tree.exists(p);
    if (!st)
      fire(watch_event::node_deleted, p);
    else if (st->pzxid > relative_zxid)
      fire(watch_event::node_children_changed, p);
    else
      plan.emplace_back(p, child_bit);
  }
  for (const auto& p : persistent_paths)
    plan.emplace_back(p, persistent_bit);
  for (const auto& p : recursive_paths)
    plan.emplace_back(p, recursive_bit);
  // Keep only new registrations, then check the limits for all of them
  // before registering any (all or nothing).
  std::sort(plan.begin(), plan.end());
  plan.erase(std::unique(plan.begin(), plan.end()), plan.end());
  plan.erase(std::remove_if(plan.begin(), plan.end(),
                            [&](const auto& x) {
                              auto* e = find_entry(x.first);
                              return e != nullptr
                                     && (kinds_of(*e, session) & x.second) != 0;
                            }),
             plan.end());
  if (watch_count(session) + plan.size() > limits_.max_watches_per_session)
    return error_code::quota_exceeded;
  for (size_t i = 0; i < plan.size();) {
    auto j = i;
    while (j < plan.size() && plan[j].first == plan[i].first)
      ++j;
    if (path_watch_count(plan[i].first) + (j - i)
        > limits_.max_watches_per_path)
      return error_code::quota_exceeded;
    i = j;
  }
  for (const auto& [p, bit] : plan)
    insert(entry_for(p), session, bit);
  return out;
}

// -- events -------------------------------------------------------------------

std::vector<notification>
watch_manager::on_events(const std::vector<tree_event>& events, int64_t zxid) {
  if (zxid <= high_water_)
    invariant_failure("on_events: zxid not greater than every earlier one");
  high_water_ = zxid;
  std::vector<notification> out;
  std::vector<session_id> hit;
  for (const auto& ev : events) {
    hit.clear();
    switch (ev.type) {
      case event_type::node_created:
      case event_type::node_data_changed:
        fire_exact(ev.path, data_bit | persistent_bit, data_bit, true, hit);
        fire_ancestors(ev.path, hit);
        break;
      case event_type::node_deleted:
        fire_exact(ev.path, data_bit | child_bit | persistent_bit,
                   data_bit | child_bit, true, hit);
        fire_ancestors(ev.path, hit);
        break;
      case event_type::node_children_changed:
        fire_exact(ev.path, child_bit | persistent_bit, child_bit, false, hit);
        break;
      default:
        invariant_failure("on_events: unknown event type");
    }
    std::sort(hit.begin(), hit.end(), by_session);
    hit.erase(std::unique(hit.begin(), hit.end()), hit.end());
    for (auto s : hit)
      out.push_back(notification{s, to_watch_event(ev.type), ev.path, zxid});
  }
  return out;
}

void watch_manager::fire_exact(std::string_view path, uint8_t match,
                               uint8_t clear, bool recursive,
                               std::vector<session_id>& hit) {
  auto* e = find_entry(path);
  if (e == nullptr)
    return;
  if (recursive)
    hit.insert(hit.end(), e->recursive.begin(), e->recursive.end());
  auto keep = e->watchers.begin();
  for (auto& w : e->watchers) {
    if ((w.kinds & match) != 0) {
      hit.push_back(w.session);
      if (auto gone = static_cast<uint8_t>(w.kinds & clear); gone != 0) {
        w.kinds = static_cast<uint8_t>(w.kinds & ~clear);
        auto still
          = w.kinds != 0
            || std::binary_search(e->recursive.begin(), e->recursive.end(),
                                  w.session, by_session);
        forget(*e, w.session, count_bits(gone), still);
      }
    }
    if (w.kinds != 0)
      *keep++ = w;
  }
  e->watchers.erase(keep, e->watchers.end());
  drop_if_empty(*e);
}

void watch_manager::fire_ancestors(std::string_view path,
                                   std::vector<session_id>& hit) {
  if (recursive_count_ == 0)
    return;
  for (auto p = path; path::step_up(p);)
    if (auto* e = find_entry(p); e != nullptr)
      hit.insert(hit.end(), e->recursive.begin(), e->recursive.end());
}

// -- figures and listings -----------------------------------------------------

size_t watch_manager::watch_count(session_id session) const noexcept {
  auto i = sessions_.find(session);
  return i == sessions_.end() ? 0 : i->second.watch_count;
}

size_t watch_manager::path_watch_count(std::string_view path) const noexcept {
  auto* e = find_entry(path);
  return e == nullptr ? 0 : e->watch_count;
}

bool watch_manager::has_watch(session_id session, std::string_view path,
                              watch_kind kind) const noexcept {
  auto* e = find_entry(path);
  return e != nullptr
         && (kinds_of(*e, session) & static_cast<uint8_t>(kind)) != 0;
}

std::vector<watch_info> watch_manager::watches_of(session_id session) const {
  std::vector<watch_info> out;
  auto i = sessions_.find(session);
  if (i == sessions_.end())
    return out;
  for (const auto* e : i->second.entries) {
    auto kinds = kinds_of(*e, session);
    for (auto k : kinds_in_order)
      if ((kinds & static_cast<uint8_t>(k)) != 0)
        out.push_back(watch_info{session, e->path, k});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.path, a.kind) < std::tie(b.path, b.kind);
  });
  return out;
}

std::vector<watch_info>
watch_manager::watchers_of(std::string_view path) const {
  std::vector<watch_info> out;
  auto* e = find_entry(path);
  if (e == nullptr)
    return out;
  for (const auto& w : e->watchers)
    for (auto k : kinds_in_order)
      if ((w.kinds & static_cast<uint8_t>(k)) != 0)
        out.push_back(watch_info{w.session, e->path, k});
  for (auto s : e->recursive)
    out.push_back(watch_info{s, e->path, watch_kind::persistent_recursive});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.session, a.kind) < std::tie(b.session, b.kind);
  });
  return out;
}

std::vector<session_id> watch_manager::sessions() const {
  std::vector<session_id> out;
  out.reserve(sessions_.size());
  for (const auto& [id, entry] : sessions_)
    out.push_back(id);
  std::sort(out.begin(), out.end(), by_session);
  return out;
}

// -- internals ----------------------------------------------------------------

watch_manager::path_entry*
watch_manager::find_entry(std::string_view path) const noexcept {
  auto i = paths_.find(path);
  return i == paths_.end() ? nullptr : i->second.get();
}

watch_manager::path_entry& watch_manager::entry_for(std::string_view path) {
  if (auto* e = find_entry(path); e != nullptr)
    return *e;
  // The key views the entry's own string, which lives on the heap with the
  // entry and therefore never moves.
  auto e = std::make_unique<path_entry>();
  e->path = std::string{path};
  auto* raw = e.get();
  paths_.emplace(std::string_view{raw->path}, std::move(e));
  return *raw;
}

uint8_t watch_manager::kinds_of(const path_entry& e,
                                session_id session) noexcept {
  uint8_t kinds = 0;
  auto w = std::lower_bound(
    e.watchers.begin(), e.watchers.end(), session,
    [](const watcher& x, session_id s) { return x.session < s; });
  if (w != e.watchers.end() && w->session == session)
    kinds = w->kinds;
  if (std::binary_search(e.recursive.begin(), e.recursive.end(), session,
                         by_session))
    kinds |= recursive_bit;
  return kinds;
}

void watch_manager::insert(path_entry& e, session_id session, uint8_t add) {
  auto before = kinds_of(e, session);
  if ((before & add) != 0 || (add & ~all_bits) != 0)
    invariant_failure("insert: kind already held or invalid");
  if (auto plain = static_cast<uint8_t>(add & plain_bits); plain != 0) {
    auto w = std::lower_bound(
      e.watchers.begin(), e.watchers.end(), session,
      [](const watcher& x, session_id s) { return x.session < s; });
    if (w != e.watchers.end() && w->session == session)
      w->kinds = static_cast<uint8_t>(w->kinds | plain);
    else
      e.watchers.insert(w, watcher{session, plain});
  }
  if ((add & recursive_bit) != 0) {
    auto r = std::lower_bound(e.recursive.begin(), e.recursive.end(), session,
                              by_session);
    e.recursive.insert(r, session);
    ++recursive_count_;
  }
  auto n = count_bits(add);
  e.watch_count += n;
  watch_count_ += n;
  auto& s = sessions_[session];
  s.watch_count += n;
  if (before == 0)
    s.entries.insert(&e);
}

uint8_t watch_manager::erase(path_entry& e, session_id session, uint8_t mask) {
  uint8_t removed = 0;
  if ((mask & plain_bits) != 0) {
    auto w = std::lower_bound(
      e.watchers.begin(), e.watchers.end(), session,
      [](const watcher& x, session_id s) { return x.session < s; });
    if (w != e.watchers.end() && w->session == session) {
      removed = static_cast<uint8_t>(w->kinds & mask);
      w->kinds = static_cast<uint8_t>(w->kinds & ~mask);
      if (w->kinds == 0)
        e.watchers.erase(w);
    }
  }
  if ((mask & recursive_bit) != 0) {
    auto r = std::lower_bound(e.recursive.begin(), e.recursive.end(), session,
                              by_session);
    if (r != e.recursive.end() && *r == session) {
      e.recursive.erase(r);
      --recursive_count_;
      removed |= recursive_bit;
    }
  }
  if (removed == 0)
    return 0;
  forget(e, session, count_bits(removed), kinds_of(e, session) != 0);
  drop_if_empty(e);
  return removed;
}

void watch_manager::forget(path_entry& e, session_id session, size_t count,
                           bool still_watching) {
  auto i = sessions_.find(session);
  if (i == sessions_.end() || i->second.watch_count < count
      || e.watch_count < count || watch_count_ < count)
    invariant_failure("forget: counts out of step");
  e.watch_count -= count;
  watch_count_ -= count;
  auto& s = i->second;
  s.watch_count -= count;
  if (!still_watching && s.entries.erase(&e) != 1)
    invariant_failure("forget: session index out of step");
  if (s.watch_count == 0) {
    if (!s.entries.empty())
      invariant_failure("forget: session without watches keeps paths");
    sessions_.erase(i);
  }
}

void watch_manager::drop_if_empty(path_entry& e) {
  if (e.watch_count != 0)
    return;
  if (!e.watchers.empty() || !e.recursive.empty())
    invariant_failure("drop_if_empty: count out of step");
  auto i = paths_.find(std::string_view{e.path});
  if (i == paths_.end() || i->second.get() != &e)
    invariant_failure("drop_if_empty: entry not indexed");
  paths_.erase(i); // frees e
}

} // namespace conclave
