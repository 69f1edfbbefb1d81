// session_tracker: see session_tracker.hpp.

#include "runtime/session_tracker.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace conclave {

namespace {

[[noreturn]] void invariant_failure(const char* what) {
  std::fprintf(stderr, "session_tracker: broken invariant: %s\n", what);
  std::abort();
}

} // namespace

int64_t session_tracker::deadline_of(const entry& e) noexcept {
  constexpr auto max = std::numeric_limits<int64_t>::max();
  if (e.last_heard_ms > max - e.timeout_ms)
    return max;
  return e.last_heard_ms + e.timeout_ms;
}

void session_tracker::add(session_id id, int32_t timeout_ms, int64_t now_ms) {
  if (!is_valid_session_id(id))
    invariant_failure("add: invalid session id");
  if (timeout_ms < 1)
    invariant_failure("add: timeout < 1 ms");
  remove(id);
  entry e{timeout_ms, now_ms, false};
  entries_.emplace(id, e);
  queue_.emplace(deadline_of(e), id);
}

bool session_tracker::remove(session_id id) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return false;
  if (!i->second.closing)
    queue_.erase({deadline_of(i->second), id});
  entries_.erase(i);
  return true;
}

void session_tracker::reset_all(const session_table& table, int64_t now_ms) {
  entries_.clear();
  queue_.clear();
  entries_.reserve(table.size());
  for (const auto& [id, info] : table.sessions())
    add(id, info.timeout_ms, now_ms);
}

void session_tracker::reset_all(int64_t now_ms) {
  queue_.clear();
  for (auto& [id, e] : entries_) {
    e.last_heard_ms = now_ms;
    e.closing = false;
    queue_.emplace(deadline_of(e), id);
  }
}

bool session_tracker::touch(session_id id, int64_t now_ms) {
  auto i = entries_.find(id);
  if (i == entries_.end() || i->second.closing)
    return false;
  auto& e = i->second;
  if (now_ms > e.last_heard_ms) {
    auto node = queue_.extract({deadline_of(e), id});
    if (node.empty())
      invariant_failure("touch: session missing from the queue");
    e.last_heard_ms = now_ms;
    node.value().first = deadline_of(e);
    queue_.insert(std::move(node));
  }
  return true;
}

size_t session_tracker::touch_many(const std::vector<session_id>& ids,
                                   int64_t now_ms) {
  size_t renewed = 0;
  for (auto id : ids)
    if (touch(id, now_ms))
      ++renewed;
  return renewed;
}

std::vector<session_id> session_tracker::expired(int64_t now_ms) const {
  std::vector<session_id> out;
  for (const auto& [deadline, id] : queue_) {
    if (deadline >= now_ms)
      break;
    out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool session_tracker::mark_closing(session_id id) {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return false;
  if (!i->second.closing) {
    queue_.erase({deadline_of(i->second), id});
    i->second.closing = true;
  }
  return true;
}

bool session_tracker::unmark_closing(session_id id) {
  auto i = entries_.find(id);
  if (i == entries_.end() || !i->second.closing)
    return false;
  i->second.closing = false;
  queue_.emplace(deadline_of(i->second), id);
  return true;
}

bool session_tracker::is_closing(session_id id) const {
  auto i = entries_.find(id);
  return i != entries_.end() && i->second.closing;
}

std::optional<int64_t> session_tracker::deadline(session_id id) const {
  auto i = entries_.find(id);
  if (i == entries_.end())
    return std::nullopt;
  return deadline_of(i->second);
}

std::optional<int64_t> session_tracker::next_deadline() const {
  if (queue_.empty())
    return std::nullopt;
  return queue_.begin()->first;
}

} // namespace conclave
