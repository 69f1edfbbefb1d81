// `conclave-bench floor`: the physical limits of this machine for a
// replicated write, to compare any server's write latency with.
//
//  (a) fdatasync: N times, append 4 KiB to a file in DIR and fdatasync it
//      (the file grows, as a log segment does without preallocation); the
//      latency of write + fdatasync. The file is deleted afterwards.
//  (b) loopback round trip: a 64-byte ping-pong between two threads over
//      TCP on 127.0.0.1 (TCP_NODELAY), N round trips.
//
// best_write_us = fdatasync_p50 + 2 * rtt_p50. A write acknowledged by a
// quorum has on its critical path one client round trip (client -> leader
// -> client), one leader -> follower round trip (the proposal and its ack)
// and one fsync, if the leader fsyncs its own log in parallel with the
// followers (a single node: one round trip and one fsync, so the formula
// is an upper bound of its floor). No server can answer a durable write
// faster on this machine; the gap between a server's p50 and this floor is
// its own overhead (and queueing).
#pragma once

#include <string>

namespace conclave::bench {

struct floor_result {
  std::string dir;
  int samples = 0;
  // Microseconds (measured in nanoseconds).
  double fdatasync_p50_us = 0;
  double fdatasync_p99_us = 0;
  double fdatasync_max_us = 0;
  double rtt_p50_us = 0;
  double rtt_p99_us = 0;
  double rtt_max_us = 0;
  double best_write_us = 0;
};

// Throws std::runtime_error (naming the call and errno) on failure.
floor_result measure_floor(const std::string& dir, int samples);

std::string floor_json(const floor_result& r);
std::string floor_table(const floor_result& r);

} // namespace conclave::bench
