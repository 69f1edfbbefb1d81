// client_watch_table: see client_watch_table.hpp.
//
// ZooKeeper sources the rules follow: ZKWatchManager.java (materialize,
// removeWatcher, containsWatcher, get*WatchList) and ZooKeeper.java's
// WatchRegistration classes (which table a reply registers in).

#include "runtime/client_watch_table.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "runtime/path.hpp"

namespace conclave {

namespace {

[[noreturn]] void invariant_failure(const char* what) {
  std::fprintf(stderr, "client_watch_table: broken invariant: %s\n", what);
  std::abort();
}

constexpr size_t index_of(client_watch_kind kind) noexcept {
  return static_cast<size_t>(kind);
}

constexpr uint8_t bit_of(client_watch_kind kind) noexcept {
  return static_cast<uint8_t>(1u << index_of(kind));
}

constexpr uint8_t data_bit = bit_of(client_watch_kind::data);
constexpr uint8_t exist_bit = bit_of(client_watch_kind::exist);
constexpr uint8_t child_bit = bit_of(client_watch_kind::child);
constexpr uint8_t persistent_bit = bit_of(client_watch_kind::persistent);
constexpr uint8_t recursive_bit
  = bit_of(client_watch_kind::persistent_recursive);
constexpr uint8_t all_bits
  = data_bit | exist_bit | child_bit | persistent_bit | recursive_bit;

bool valid_kind(client_watch_kind kind) noexcept {
  switch (kind) {
    case client_watch_kind::data:
    case client_watch_kind::exist:
    case client_watch_kind::child:
    case client_watch_kind::persistent:
    case client_watch_kind::persistent_recursive:
      return true;
  }
  return false;
}

/// The client kinds a watcher_type selects (ZKWatchManager.removeWatcher);
/// 0 for an invalid type.
uint8_t kinds_of_type(watcher_type type) noexcept {
  switch (type) {
    case watcher_type::children:
      return child_bit;
    case watcher_type::data:
      return data_bit | exist_bit;
    case watcher_type::any:
      return all_bits;
    case watcher_type::persistent:
      return persistent_bit;
    case watcher_type::persistent_recursive:
      return recursive_bit;
  }
  return 0;
}

template <class Lists>
bool all_empty(const Lists& lists) noexcept {
  return std::all_of(lists.begin(), lists.end(),
                     [](const auto& v) { return v.empty(); });
}

} // namespace

// -- registration -------------------------------------------------------------

bool client_watch_table::add(std::string path, client_watch_kind kind,
                             uint64_t listener) {
  if (!valid_kind(kind))
    invariant_failure("add: invalid kind");
  auto i = paths_.find(path);
  if (i == paths_.end())
    i = paths_.emplace(std::move(path), path_entry{}).first;
  auto& v = i->second.listeners[index_of(kind)];
  auto pos = std::lower_bound(v.begin(), v.end(), listener);
  if (pos != v.end() && *pos == listener)
    return false;
  v.insert(pos, listener);
  ++size_;
  if (kind == client_watch_kind::persistent_recursive)
    ++recursive_count_;
  return true;
}

size_t client_watch_table::remove(std::string_view path, watcher_type type,
                                  std::optional<uint64_t> listener) {
  auto mask = kinds_of_type(type);
  if (mask == 0)
    return 0;
  auto i = paths_.find(path);
  if (i == paths_.end())
    return 0;
  return erase(i, mask, listener);
}

bool client_watch_table::server_still_needs(std::string_view path,
                                            watcher_type type) const {
  auto mask = kinds_of_type(type);
  auto i = paths_.find(path);
  if (mask == 0 || i == paths_.end())
    return false;
  for (size_t k = 0; k < kind_count; ++k)
    if ((mask & (1u << k)) != 0 && !i->second.listeners[k].empty())
      return true;
  return false;
}

size_t client_watch_table::remove_listener(uint64_t listener) {
  size_t removed = 0;
  for (auto i = paths_.begin(); i != paths_.end();) {
    auto next = std::next(i);
    removed += erase(i, all_bits, listener); // may erase *i
    i = next;
  }
  return removed;
}

void client_watch_table::clear() noexcept {
  paths_.clear();
  size_ = 0;
  recursive_count_ = 0;
}

size_t client_watch_table::erase(path_map::iterator i, uint8_t mask,
                                 std::optional<uint64_t> listener) {
  auto& listeners = i->second.listeners;
  size_t removed = 0;
  for (size_t k = 0; k < kind_count; ++k) {
    if ((mask & (1u << k)) == 0)
      continue;
    auto& v = listeners[k];
    size_t n = 0;
    if (listener) {
      auto pos = std::lower_bound(v.begin(), v.end(), *listener);
      if (pos != v.end() && *pos == *listener) {
        v.erase(pos);
        n = 1;
      }
    } else {
      n = v.size();
      v.clear();
      v.shrink_to_fit();
    }
    if (k == index_of(client_watch_kind::persistent_recursive)) {
      if (n > recursive_count_)
        invariant_failure("erase: recursive count out of step");
      recursive_count_ -= n;
    }
    removed += n;
  }
  if (removed > size_)
    invariant_failure("erase: size out of step");
  size_ -= removed;
  if (all_empty(listeners))
    paths_.erase(i);
  return removed;
}

// -- notifications ------------------------------------------------------------

std::vector<uint64_t> client_watch_table::on_event(watch_event type,
                                                   std::string_view path) {
  std::vector<uint64_t> hit;
  bool recursive = false;
  switch (type) {
    case watch_event::node_created:
    case watch_event::node_data_changed:
      collect(path, client_watch_kind::data, true, hit);
      collect(path, client_watch_kind::exist, true, hit);
      collect(path, client_watch_kind::persistent, false, hit);
      recursive = true;
      break;
    case watch_event::node_deleted:
      collect(path, client_watch_kind::data, true, hit);
      collect(path, client_watch_kind::exist, true, hit);
      collect(path, client_watch_kind::child, true, hit);
      collect(path, client_watch_kind::persistent, false, hit);
      recursive = true;
      break;
    case watch_event::node_children_changed:
      collect(path, client_watch_kind::child, true, hit);
      collect(path, client_watch_kind::persistent, false, hit);
      break;
    case watch_event::data_watch_removed:
    case watch_event::child_watch_removed:
    case watch_event::persistent_watch_removed:
      break;
  }
  if (recursive && recursive_count_ > 0) {
    auto p = path;
    do {
      collect(p, client_watch_kind::persistent_recursive, false, hit);
    } while (path::step_up(p));
  }
  std::sort(hit.begin(), hit.end());
  hit.erase(std::unique(hit.begin(), hit.end()), hit.end());
  return hit;
}

void client_watch_table::collect(std::string_view path, client_watch_kind kind,
                                 bool one_shot, std::vector<uint64_t>& hit) {
  auto i = paths_.find(path);
  if (i == paths_.end())
    return;
  auto& v = i->second.listeners[index_of(kind)];
  if (v.empty())
    return;
  hit.insert(hit.end(), v.begin(), v.end());
  if (one_shot)
    erase(i, bit_of(kind), std::nullopt); // may erase *i
}

// -- queries ------------------------------------------------------------------

client_watch_table::watch_lists client_watch_table::lists() const {
  watch_lists out;
  std::array<std::vector<std::string>*, kind_count> by_kind{
    &out.data, &out.exist, &out.child, &out.persistent, &out.recursive};
  // paths_ is ordered, so every list comes out sorted and unique.
  for (const auto& [path, entry] : paths_)
    for (size_t k = 0; k < kind_count; ++k)
      if (!entry.listeners[k].empty())
        by_kind[k]->push_back(path);
  return out;
}

std::vector<uint64_t> client_watch_table::listeners() const {
  std::vector<uint64_t> out;
  for (const auto& [path, entry] : paths_)
    for (const auto& v : entry.listeners)
      out.insert(out.end(), v.begin(), v.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool client_watch_table::contains(std::string_view path, client_watch_kind kind,
                                  uint64_t listener) const {
  if (!valid_kind(kind))
    return false;
  auto i = paths_.find(path);
  if (i == paths_.end())
    return false;
  const auto& v = i->second.listeners[index_of(kind)];
  return std::binary_search(v.begin(), v.end(), listener);
}

} // namespace conclave
