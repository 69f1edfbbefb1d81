// strong_id: distinct integer types for identifiers that must never mix.
//
// A term is not an index and a session id is not a node id, even though all
// of them are 64-bit integers underneath. Wrapping each in its own type makes
// the compiler reject `commit_index = current_term` and similar slips.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>

namespace conclave {

template <class Tag, class Rep>
class strong_id {
public:
  using rep_type = Rep;

  constexpr strong_id() noexcept = default;
  constexpr explicit strong_id(Rep value) noexcept : value_(value) {}

  constexpr Rep value() const noexcept { return value_; }

  friend constexpr bool operator==(strong_id a, strong_id b) noexcept {
    return a.value_ == b.value_;
  }
  friend constexpr bool operator!=(strong_id a, strong_id b) noexcept {
    return a.value_ != b.value_;
  }
  friend constexpr bool operator<(strong_id a, strong_id b) noexcept {
    return a.value_ < b.value_;
  }
  friend constexpr bool operator<=(strong_id a, strong_id b) noexcept {
    return a.value_ <= b.value_;
  }
  friend constexpr bool operator>(strong_id a, strong_id b) noexcept {
    return a.value_ > b.value_;
  }
  friend constexpr bool operator>=(strong_id a, strong_id b) noexcept {
    return a.value_ >= b.value_;
  }
  friend std::ostream& operator<<(std::ostream& out, strong_id x) {
    return out << x.value_;
  }

private:
  Rep value_ = 0;
};

/// ZooKeeper transaction id: the log position at which a change applied.
using zxid = strong_id<struct zxid_tag, int64_t>;
/// Client session identifier (ZooKeeper's 64-bit session id).
using session_id = strong_id<struct session_id_tag, int64_t>;
/// Cluster member identifier, as configured (`id` key).
using node_id = strong_id<struct node_id_tag, uint64_t>;
/// Raft term.
using term_t = strong_id<struct term_tag, uint64_t>;
/// Raft log index.
using log_index = strong_id<struct log_index_tag, uint64_t>;

} // namespace conclave

namespace std {
template <class Tag, class Rep>
struct hash<conclave::strong_id<Tag, Rep>> {
  size_t operator()(conclave::strong_id<Tag, Rep> x) const noexcept {
    return std::hash<Rep>{}(x.value());
  }
};
} // namespace std
