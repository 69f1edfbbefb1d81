#include "runtime/restart_budget.hpp"

#include <algorithm>

namespace conclave {

restart_budget::restart_budget(size_t max_restarts, int64_t window_ms)
    : max_restarts_(max_restarts), window_ms_(window_ms) {
  // nop
}

void restart_budget::forget_before(int64_t now_ms) {
  // A restart at t counts while now - t < window.
  while (!times_.empty() && now_ms - times_.front() >= window_ms_)
    times_.pop_front();
}

bool restart_budget::spend(int64_t now_ms) {
  forget_before(now_ms);
  times_.push_back(now_ms);
  if (times_.size() > max_restarts_ + 1)
    times_.pop_front();
  return times_.size() <= max_restarts_;
}

size_t restart_budget::used(int64_t now_ms) const {
  return static_cast<size_t>(
    std::count_if(times_.begin(), times_.end(),
                  [&](int64_t t) { return now_ms - t < window_ms_; }));
}

} // namespace conclave
