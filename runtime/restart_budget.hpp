// restart_budget: how many restarts a supervisor may make in a window of
// time (Erlang's intensity and period) before it gives up.
//
// A child that keeps failing would otherwise be restarted forever, each
// time rebuilding state from disk and from its peers: a crash loop that
// serves nothing reliably and may hide the cause. Once more than
// `max_restarts` restarts fall within any `window_ms`, the supervisor shuts
// the node down cleanly and says why; an operator (or systemd) decides what
// comes next.
//
// Time is logical: the caller passes a monotonic `now_ms`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace conclave {

class restart_budget {
public:
  /// Allows at most `max_restarts` restarts within any `window_ms`.
  restart_budget(size_t max_restarts, int64_t window_ms);

  /// Records a restart at `now_ms` (non-decreasing between calls). Returns
  /// false if this restart exceeds the budget; the restart is recorded
  /// either way.
  bool spend(int64_t now_ms);

  /// Restarts recorded within the window ending at `now_ms`.
  size_t used(int64_t now_ms) const;

  size_t max_restarts() const noexcept { return max_restarts_; }
  int64_t window_ms() const noexcept { return window_ms_; }

private:
  void forget_before(int64_t now_ms);

  size_t max_restarts_;
  int64_t window_ms_;
  /// Times of recent restarts, oldest first (at most max_restarts_ + 1).
  std::deque<int64_t> times_;
};

} // namespace conclave
