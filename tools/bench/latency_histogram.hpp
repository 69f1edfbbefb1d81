// latency_histogram: a fixed-size, log-linear latency histogram in the
// style of HdrHistogram, for conclave-bench (tools/bench/zk_bench.cpp).
//
// Why: a benchmark records millions of latencies per second from many
// threads; keeping every sample is too slow and too big, and plain
// power-of-two buckets are too coarse to tell 1.0 ms from 1.4 ms. Each
// client thread records into its own histogram (no locks on the hot path);
// the histograms are merged once at the end.
//
// Layout (values are integers, microseconds in conclave-bench):
//  - values 0..255 have a bucket each (exact);
//  - every power-of-two range [2^k, 2^(k+1)), k = 8..31, is split into 128
//    equal buckets of width 2^(k-7).
// A bucket is therefore at most 1/128 (0.78%) of its lower bound wide, and
// percentile() answers the bucket's midpoint: at most 0.4% (1/256) from
// any value in that bucket. Values 0..255 are answered exactly.
// Highest trackable value: 2^32 - 1 (about 71 minutes in microseconds).
// Larger values are recorded in the top bucket and counted by clamped();
// count, min, max and mean stay exact (computed from the raw values).
//
// Pure: no I/O, no clock, no allocation after construction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace conclave::bench {

class latency_histogram {
public:
  static constexpr int exact_bits = 8;   // values < 256 are exact
  static constexpr int sub_bits = 7;     // 128 buckets per power of two
  static constexpr int highest_bit = 31; // last range [2^31, 2^32)
  static constexpr uint64_t highest_trackable = (uint64_t{1} << 32) - 1;
  static constexpr size_t bucket_count
    = (size_t{1} << exact_bits)
      + static_cast<size_t>(highest_bit - exact_bits + 1)
          * (size_t{1} << sub_bits);

  latency_histogram();

  // Records one value (clamped to highest_trackable for the buckets).
  void record(uint64_t value);

  // Adds every value recorded in `other` (as if recorded here too).
  void merge(const latency_histogram& other);

  // Forgets everything.
  void reset();

  uint64_t count() const { return count_; }
  // Values above highest_trackable (recorded as highest_trackable).
  uint64_t clamped() const { return clamped_; }
  // Exact; 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;

  // The value at or below which p percent of the recorded values lie
  // (p in [0, 100]; the smallest value with rank >= ceil(p/100 * count)),
  // as the midpoint of its bucket, kept within [min(), max()]. 0 when empty.
  uint64_t percentile(double p) const;

  // The bucket index of a value, and that bucket's [lower, upper] bounds
  // (exposed for the tests).
  static size_t index_of(uint64_t value);
  static uint64_t lower_of(size_t index);
  static uint64_t upper_of(size_t index);

private:
  std::array<uint64_t, bucket_count> counts_;
  uint64_t count_ = 0;
  uint64_t clamped_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

} // namespace conclave::bench
