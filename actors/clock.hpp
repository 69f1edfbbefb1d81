// clock: how actor shells read time. Pure cores never do; shells take a
// clock_fn so that deterministic tests can drive time themselves.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace conclave {

/// Milliseconds since the epoch (or any fixed origin, for tests).
using clock_fn = std::function<int64_t()>;

/// Wall-clock milliseconds since the epoch.
inline int64_t system_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// Monotonic milliseconds (any origin): for deadlines and liveness, which
/// must not jump when the wall clock is set.
inline int64_t steady_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
    .count();
}

} // namespace conclave
