#include "runtime/raft/progress.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace conclave::raft {

namespace {

[[noreturn]] void broken(node_id id, const std::string& what) {
  std::fprintf(stderr, "raft progress of %llu: broken invariant: %s\n",
               static_cast<unsigned long long>(id.value()), what.c_str());
  std::abort();
}

log_index plus1(log_index x) {
  return log_index{x.value() + 1};
}

} // namespace

// -- inflights ---------------------------------------------------------------

inflights::inflights(size_t capacity) : ring_(std::max<size_t>(capacity, 1)) {
  // nop
}

void inflights::add(log_index last) {
  if (full()) {
    std::fprintf(stderr, "raft inflights: add to a full window\n");
    std::abort();
  }
  if (count_ > 0 && ring_[(start_ + count_ - 1) % ring_.size()] >= last) {
    std::fprintf(stderr, "raft inflights: indexes not increasing\n");
    std::abort();
  }
  ring_[(start_ + count_) % ring_.size()] = last;
  ++count_;
}

void inflights::free_to(log_index index) {
  while (count_ > 0 && ring_[start_] <= index) {
    start_ = (start_ + 1) % ring_.size();
    --count_;
  }
}

// -- progress ----------------------------------------------------------------

const char* to_string(progress_state s) noexcept {
  switch (s) {
    case progress_state::probe:
      return "probe";
    case progress_state::replicate:
      return "replicate";
    case progress_state::snapshot:
      return "snapshot";
  }
  return "?";
}

progress::progress(node_id id, log_index leader_last, size_t max_inflight,
                   uint64_t now)
    : id_(id), next_(plus1(leader_last)), last_heard_(now),
      inflights_(max_inflight) {
  // nop
}

bool progress::can_send() const noexcept {
  switch (state_) {
    case progress_state::probe:
      return !paused_;
    case progress_state::replicate:
      return !inflights_.full();
    case progress_state::snapshot:
      return false;
  }
  return false;
}

bool progress::stalled() const noexcept {
  return state_ == progress_state::replicate && inflights_.count() > 0
         && inflight_at_heartbeat_ && !acked_since_heartbeat_;
}

void progress::heartbeat_sent() noexcept {
  acked_since_heartbeat_ = false;
  inflight_at_heartbeat_ = inflights_.count() > 0;
}

void progress::become_probe() noexcept {
  state_ = progress_state::probe;
  next_ = plus1(match_);
  paused_ = false;
  inflights_.reset();
}

void progress::become_replicate() noexcept {
  state_ = progress_state::replicate;
  next_ = plus1(match_);
  paused_ = false;
  inflights_.reset();
}

void progress::become_snapshot(log_index index, uint64_t now) noexcept {
  state_ = progress_state::snapshot;
  pending_snapshot_ = index;
  snapshot_sent_at_ = now;
  paused_ = false;
  inflights_.reset();
}

void progress::sent(log_index last, bool has_entries) {
  switch (state_) {
    case progress_state::probe:
      paused_ = true; // one probe at a time (§3.5)
      break;
    case progress_state::replicate:
      if (has_entries) {
        inflights_.add(last);
        next_ = plus1(last);
      }
      break;
    case progress_state::snapshot:
      broken(id_, "append sent in snapshot state");
  }
}

bool progress::acknowledge(log_index index) {
  paused_ = false;
  if (index <= match_)
    return false;
  match_ = index;
  acked_since_heartbeat_ = true;
  next_ = std::max(next_, plus1(index));
  inflights_.free_to(index);
  return true;
}

bool progress::reject(log_index rejected, log_index hint) noexcept {
  switch (state_) {
    case progress_state::snapshot:
      return false;
    case progress_state::replicate:
      // Appends up to match were acknowledged: an older rejection is stale.
      if (rejected <= match_)
        return false;
      become_probe();
      break;
    case progress_state::probe:
      // Only the answer to the outstanding probe counts.
      if (rejected != log_index{next_.value() - 1} || rejected <= match_)
        return false;
      break;
  }
  // Never below what is known to match, always below what was rejected.
  next_ = std::clamp(hint, plus1(match_), rejected);
  paused_ = false;
  return true;
}

void progress::ack_read(uint64_t round) noexcept {
  read_acked_ = std::max(read_acked_, round);
}

void progress::check(log_index leader_last) const {
  if (match_ > leader_last)
    broken(id_, "match " + std::to_string(match_.value())
                  + " beyond the leader's last index");
  if (next_ <= match_)
    broken(id_, "next <= match");
  if (next_ > plus1(leader_last))
    broken(id_, "next beyond the leader's last index + 1");
  if (state_ != progress_state::replicate && inflights_.count() > 0)
    broken(id_, "appends in flight outside replicate state");
}

} // namespace conclave::raft
