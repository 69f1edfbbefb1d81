// latency_histogram: see latency_histogram.hpp.
#include "tools/bench/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace conclave::bench {

namespace {

constexpr size_t exact_count = size_t{1} << latency_histogram::exact_bits;
constexpr size_t sub_count = size_t{1} << latency_histogram::sub_bits;

int top_bit(uint64_t v) {
  return 63 - __builtin_clzll(v);
}

} // namespace

latency_histogram::latency_histogram() {
  counts_.fill(0);
}

size_t latency_histogram::index_of(uint64_t value) {
  if (value > highest_trackable)
    value = highest_trackable;
  if (value < exact_count)
    return static_cast<size_t>(value);
  int k = top_bit(value);
  int shift = k - sub_bits;
  auto sub = static_cast<size_t>(value >> shift); // in [sub_count, 2*sub_count)
  return exact_count + static_cast<size_t>(k - exact_bits) * sub_count
         + (sub - sub_count);
}

uint64_t latency_histogram::lower_of(size_t index) {
  if (index < exact_count)
    return index;
  size_t r = index - exact_count;
  int k = exact_bits + static_cast<int>(r / sub_count);
  uint64_t sub = sub_count + r % sub_count;
  return sub << (k - sub_bits);
}

uint64_t latency_histogram::upper_of(size_t index) {
  if (index < exact_count)
    return index;
  size_t r = index - exact_count;
  int k = exact_bits + static_cast<int>(r / sub_count);
  return lower_of(index) + (uint64_t{1} << (k - sub_bits)) - 1;
}

void latency_histogram::record(uint64_t value) {
  if (value > highest_trackable)
    ++clamped_;
  ++counts_[index_of(value)];
  if (count_ == 0 || value < min_)
    min_ = value;
  if (value > max_)
    max_ = value;
  ++count_;
  sum_ += static_cast<long double>(value);
}

void latency_histogram::merge(const latency_histogram& other) {
  if (other.count_ == 0)
    return;
  for (size_t i = 0; i < bucket_count; ++i)
    counts_[i] += other.counts_[i];
  if (count_ == 0 || other.min_ < min_)
    min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  clamped_ += other.clamped_;
  sum_ += other.sum_;
}

void latency_histogram::reset() {
  *this = latency_histogram{};
}

double latency_histogram::mean() const {
  if (count_ == 0)
    return 0;
  return static_cast<double>(sum_ / static_cast<long double>(count_));
}

uint64_t latency_histogram::percentile(double p) const {
  if (count_ == 0)
    return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The rank of the answer, 1-based; the epsilon keeps 99.9% of 1000 at
  // 999 despite 99.9 not being exact in binary.
  double x = p / 100.0 * static_cast<double>(count_);
  auto rank = static_cast<uint64_t>(std::ceil(x - 1e-9 * std::max(1.0, x)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      uint64_t mid = lower_of(i) + (upper_of(i) - lower_of(i)) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_; // not reached: the counts add up to count_
}

} // namespace conclave::bench
