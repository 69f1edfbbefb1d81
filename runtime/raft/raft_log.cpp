#include "runtime/raft/raft_log.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace conclave::raft {

namespace {

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "raft_log: broken invariant: %s\n", what.c_str());
  std::abort();
}

std::string str(log_index x) {
  return std::to_string(x.value());
}

log_index next(log_index x) {
  return log_index{x.value() + 1};
}

} // namespace

raft_log::raft_log(log_index base_index, term_t base_term)
    : base_index_(base_index), base_term_(base_term) {
  // nop
}

log_index raft_log::first_index() const noexcept {
  return next(base_index_);
}

log_index raft_log::last_index() const noexcept {
  return log_index{base_index_.value() + entries_.size()};
}

term_t raft_log::last_term() const noexcept {
  return entries_.empty() ? base_term_ : entries_.back().term;
}

size_t raft_log::offset(log_index index) const noexcept {
  return static_cast<size_t>(index.value() - base_index_.value() - 1);
}

std::optional<term_t> raft_log::term_at(log_index index) const noexcept {
  if (index == base_index_)
    return base_term_;
  if (index < base_index_ || index > last_index())
    return std::nullopt;
  return entries_[offset(index)].term;
}

bool raft_log::matches(log_index index, term_t term) const noexcept {
  auto t = term_at(index);
  return t && *t == term;
}

const entry* raft_log::at(log_index index) const noexcept {
  if (index <= base_index_ || index > last_index())
    return nullptr;
  return &entries_[offset(index)];
}

std::vector<entry> raft_log::slice(log_index from, size_t max_count,
                                   size_t max_bytes) const {
  std::vector<entry> result;
  if (from <= base_index_ || from > last_index())
    return result;
  size_t bytes = 0;
  for (auto i = entries_.begin() + static_cast<std::ptrdiff_t>(offset(from));
       i != entries_.end() && result.size() < max_count; ++i) {
    bytes += i->data.size();
    if (!result.empty() && bytes > max_bytes)
      break;
    result.push_back(*i);
  }
  return result;
}

std::optional<log_index> raft_log::last_index_of_term(term_t term,
                                                      log_index at_most) const {
  at_most = std::min(at_most, last_index());
  if (at_most < base_index_)
    return std::nullopt;
  // Terms never decrease: the first entry after the run is an upper bound.
  auto end
    = entries_.begin()
      + static_cast<std::ptrdiff_t>(at_most.value() - base_index_.value());
  auto i
    = std::upper_bound(entries_.begin(), end, term,
                       [](term_t t, const entry& e) { return t < e.term; });
  if (i != entries_.begin()) {
    auto& prev = *(i - 1);
    if (prev.term == term)
      return prev.index;
    return std::nullopt;
  }
  if (base_term_ == term)
    return base_index_;
  return std::nullopt;
}

log_index raft_log::first_index_of_term(term_t term, log_index at) const {
  if (!matches(at, term))
    broken("first_index_of_term: no term " + std::to_string(term.value())
           + " at " + str(at));
  if (at == base_index_)
    return first_index();
  auto end = entries_.begin() + static_cast<std::ptrdiff_t>(offset(at) + 1);
  auto i
    = std::lower_bound(entries_.begin(), end, term,
                       [](const entry& e, term_t t) { return e.term < t; });
  return i->index;
}

void raft_log::append(entry e) {
  if (e.index != next(last_index()))
    broken("append: index " + str(e.index) + " after " + str(last_index()));
  if (e.term < last_term())
    broken("append: term goes back at " + str(e.index));
  entries_.push_back(std::move(e));
}

std::optional<log_index> raft_log::merge(log_index prev,
                                         const std::vector<entry>& entries,
                                         size_t first) {
  if (!term_at(prev))
    broken("merge: unknown prev " + str(prev));
  for (size_t i = first; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (e.index <= base_index_)
      continue; // compacted, hence committed and equal
    auto t = term_at(e.index);
    if (t && *t == e.term)
      continue; // already there (Log Matching)
    if (t)      // conflict: drop it and everything after it (§3.5)
      entries_.resize(offset(e.index));
    for (size_t j = i; j < entries.size(); ++j)
      append(entries[j]);
    return e.index;
  }
  return std::nullopt;
}

void raft_log::compact(log_index index) {
  if (index < base_index_ || index > last_index())
    broken("compact: " + str(index) + " outside [" + str(base_index_) + ", "
           + str(last_index()) + "]");
  if (index == base_index_)
    return;
  base_term_ = entries_[offset(index)].term;
  entries_.erase(entries_.begin(),
                 entries_.begin()
                   + static_cast<std::ptrdiff_t>(offset(index) + 1));
  base_index_ = index;
}

void raft_log::reset(log_index index, term_t term) {
  entries_.clear();
  base_index_ = index;
  base_term_ = term;
}

void raft_log::check() const {
  auto expected = first_index();
  auto term = base_term_;
  for (const auto& e : entries_) {
    if (e.index != expected)
      broken("gap: expected index " + str(expected) + ", found "
             + str(e.index));
    if (e.term < term)
      broken("term goes back at index " + str(e.index));
    term = e.term;
    expected = next(expected);
  }
}

} // namespace conclave::raft
