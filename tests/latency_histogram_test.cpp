// Unit tests of conclave-bench's latency histogram
// (tools/bench/latency_histogram.hpp): bucket bounds, percentiles of known
// distributions within the documented precision (exact below 256, at most
// 1/256 relative error above), merge, empty and clamped values.
#include "tools/bench/latency_histogram.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using conclave::bench::latency_histogram;

namespace {

// The exact percentile with the histogram's rank rule (ceil(p/100 * n)).
uint64_t exact_percentile(std::vector<uint64_t> values, double p) {
  std::sort(values.begin(), values.end());
  auto n = values.size();
  double x = p / 100.0 * static_cast<double>(n);
  auto rank = static_cast<size_t>(std::ceil(x - 1e-9 * std::max(1.0, x)));
  rank = std::clamp<size_t>(rank, 1, n);
  return values[rank - 1];
}

double relative_error(uint64_t got, uint64_t want) {
  if (want == 0)
    return got == 0 ? 0.0 : 1.0;
  return std::abs(static_cast<double>(got) - static_cast<double>(want))
         / static_cast<double>(want);
}

constexpr double precision = 1.0 / 256;

} // namespace

TEST_CASE("latency_histogram: an empty histogram answers zeros",
          "[histogram]") {
  latency_histogram h;
  CHECK(h.count() == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.mean() == 0);
  CHECK(h.percentile(50) == 0);
  CHECK(h.percentile(100) == 0);
  CHECK(h.clamped() == 0);
}

TEST_CASE("latency_histogram: bucket bounds tile the range without gaps",
          "[histogram]") {
  CHECK(latency_histogram::index_of(0) == 0);
  CHECK(latency_histogram::index_of(255) == 255);
  CHECK(latency_histogram::index_of(256) == 256);
  CHECK(latency_histogram::index_of(257) == 256);
  CHECK(latency_histogram::index_of(258) == 257);
  CHECK(latency_histogram::index_of(latency_histogram::highest_trackable)
        == latency_histogram::bucket_count - 1);
  CHECK(latency_histogram::upper_of(latency_histogram::bucket_count - 1)
        == latency_histogram::highest_trackable);
  for (size_t i = 0; i + 1 < latency_histogram::bucket_count; ++i) {
    auto lo = latency_histogram::lower_of(i);
    auto hi = latency_histogram::upper_of(i);
    REQUIRE(lo <= hi);
    REQUIRE(latency_histogram::lower_of(i + 1) == hi + 1);
    REQUIRE(latency_histogram::index_of(lo) == i);
    REQUIRE(latency_histogram::index_of(hi) == i);
    // Width at most 1/128 of the lower bound (above the exact range).
    if (lo >= 256)
      REQUIRE(static_cast<double>(hi - lo + 1)
              <= static_cast<double>(lo) / 128);
  }
}

TEST_CASE("latency_histogram: small values are exact", "[histogram]") {
  latency_histogram h;
  for (uint64_t v = 1; v <= 100; ++v)
    h.record(v);
  CHECK(h.count() == 100);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);
  CHECK(h.mean() == Approx(50.5));
  CHECK(h.percentile(50) == 50);
  CHECK(h.percentile(99) == 99);
  CHECK(h.percentile(99.9) == 100);
  CHECK(h.percentile(100) == 100);
  CHECK(h.percentile(0) == 1);
  CHECK(h.percentile(1) == 1);
}

TEST_CASE(
  "latency_histogram: a uniform 1..1000000 distribution within the precision",
  "[histogram]") {
  latency_histogram h;
  for (uint64_t v = 1; v <= 1000000; ++v)
    h.record(v);
  CHECK(h.count() == 1000000);
  CHECK(h.mean() == Approx(500000.5));
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    auto want = static_cast<uint64_t>(std::llround(p * 10000));
    INFO("p" << p << " want " << want << " got " << h.percentile(p));
    CHECK(relative_error(h.percentile(p), want) <= precision);
  }
  CHECK(h.percentile(100) == 1000000);
}

TEST_CASE("latency_histogram: a log-normal distribution within the precision",
          "[histogram]") {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(7.0, 1.5); // median ~1.1 ms
  std::vector<uint64_t> values;
  latency_histogram h;
  for (int i = 0; i < 200000; ++i) {
    auto v = static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    auto want = exact_percentile(values, p);
    INFO("p" << p << " want " << want << " got " << h.percentile(p));
    CHECK(relative_error(h.percentile(p), want) <= precision);
  }
  CHECK(h.max() == *std::max_element(values.begin(), values.end()));
  CHECK(h.min() == *std::min_element(values.begin(), values.end()));
}

TEST_CASE("latency_histogram: percentiles are ordered and within [min, max]",
          "[histogram]") {
  latency_histogram h;
  h.record(1000);
  h.record(1001); // same bucket as 1000: the midpoint is clamped
  CHECK(h.percentile(50) >= 1000);
  CHECK(h.percentile(100) <= 1001);
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> dist(1.0 / 3000);
  for (int i = 0; i < 50000; ++i)
    h.record(static_cast<uint64_t>(dist(rng)));
  uint64_t last = 0;
  for (double p : {0.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    auto v = h.percentile(p);
    CHECK(v >= last);
    CHECK(v >= h.min());
    CHECK(v <= h.max());
    last = v;
  }
}

TEST_CASE("latency_histogram: merge equals recording both", "[histogram]") {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<uint64_t> a_dist(50, 5000);
  std::uniform_int_distribution<uint64_t> b_dist(1000, 900000);
  latency_histogram a, b, both;
  for (int i = 0; i < 30000; ++i) {
    auto v = a_dist(rng);
    a.record(v);
    both.record(v);
  }
  for (int i = 0; i < 10000; ++i) {
    auto v = b_dist(rng);
    b.record(v);
    both.record(v);
  }
  latency_histogram merged;
  merged.merge(a);
  merged.merge(b);
  merged.merge(latency_histogram{}); // merging an empty one changes nothing
  CHECK(merged.count() == both.count());
  CHECK(merged.min() == both.min());
  CHECK(merged.max() == both.max());
  CHECK(merged.mean() == Approx(both.mean()));
  for (double p : {0.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 100.0})
    CHECK(merged.percentile(p) == both.percentile(p));
  // Merging into a non-empty one keeps its smaller min.
  latency_histogram c;
  c.record(10);
  c.merge(a);
  CHECK(c.min() == 10);
  CHECK(c.count() == a.count() + 1);
}

TEST_CASE(
  "latency_histogram: values above the highest bucket are clamped and counted",
  "[histogram]") {
  latency_histogram h;
  auto huge = latency_histogram::highest_trackable * 4;
  h.record(100);
  h.record(huge);
  h.record(huge + 1);
  CHECK(h.count() == 3);
  CHECK(h.clamped() == 2);
  CHECK(h.max() == huge + 1); // exact
  CHECK(h.min() == 100);
  // Percentiles among the clamped values come from the top bucket.
  auto top = latency_histogram::lower_of(latency_histogram::bucket_count - 1);
  CHECK(h.percentile(99) >= top);
  CHECK(h.percentile(99) <= latency_histogram::highest_trackable);
  CHECK(h.percentile(10) == 100);
  latency_histogram m;
  m.merge(h);
  CHECK(m.clamped() == 2);
}

TEST_CASE("latency_histogram: reset forgets everything", "[histogram]") {
  latency_histogram h;
  h.record(5);
  h.record(latency_histogram::highest_trackable + 1);
  h.reset();
  CHECK(h.count() == 0);
  CHECK(h.clamped() == 0);
  CHECK(h.max() == 0);
  CHECK(h.percentile(50) == 0);
}
