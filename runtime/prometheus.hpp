// prometheus: the Prometheus text exposition format (version 0.0.4) and a
// fixed-bucket latency histogram, as a pure and deterministic core.
//
// A node exposes its figures (request latencies, znode counts, Raft state)
// to Prometheus scrapers. This module holds the parts that must be exact:
// - histogram: counts of observations per fixed bucket, with their sum,
//   mergeable across owners (e.g. one per connection, summed at scrape);
// - text_writer: renders counters, gauges and histograms as the text
//   format's lines (# HELP, # TYPE, samples), escaping label values and help
//   text and formatting numbers the same way everywhere;
// - format_value(): the number formatting, exposed for tests and callers.
//
// No clock, no I/O, no logging, no locks. Nothing here parses untrusted
// input: every argument comes from the node's own code, so malformed ones
// (invalid names, bad bucket bounds, a metric family split in two) are the
// caller's bugs and abort with a message on stderr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace conclave::prometheus {

/// The Content-Type of text_writer's output:
/// "text/plain; version=0.0.4; charset=utf-8".
const std::string& content_type();

// -- names and numbers --------------------------------------------------------

/// Whether `name` matches [a-zA-Z_:][a-zA-Z0-9_:]*.
bool is_valid_metric_name(std::string_view name) noexcept;

/// Whether `name` matches [a-zA-Z_][a-zA-Z0-9_]* and does not start with
/// "__" (reserved for Prometheus's internal labels).
bool is_valid_label_name(std::string_view name) noexcept;

/// Appends `x` as the text format writes sample values and `le` bounds:
/// - NaN as "NaN", infinities as "+Inf" and "-Inf";
/// - an integral value with |x| < 2^53 as a plain integer ("0", "-1",
///   "1000"; -0.0 as "0");
/// - anything else as the shortest text that reads back as the same double
///   (std::to_chars: "0.1", "1e-07", "1e+300", "9007199254740992").
void append_value(std::string& out, double x);

/// append_value() into a new string.
std::string format_value(double x);

// -- histogram ----------------------------------------------------------------

/// Observation counts in fixed buckets, Prometheus style: bucket i counts
/// the values v with bounds[i-1] < v <= bounds[i] (the first bucket every
/// v <= bounds[0], negative values included when bounds[0] >= 0), and one
/// more bucket counts the values above the last bound (+Inf included).
/// Counts are kept per bucket (not cumulative); text_writer accumulates
/// them. NaN observations are ignored: they change neither a count nor the
/// sum.
///
/// Not thread-safe: the owner serializes observe() and merge() with every
/// other call (one histogram per actor, merged into a fresh one to scrape).
class histogram {
public:
  /// Bucket upper bounds; aborts unless they are non-empty, finite and
  /// strictly increasing.
  explicit histogram(std::vector<double> upper_bounds);

  /// Seconds, for request latencies of a coordination service: 50 µs to
  /// 10 s in 1-2.5-5 steps (0.00005, 0.0001, 0.00025, ..., 2.5, 5, 10).
  static histogram latency_seconds();

  /// A histogram with the given (non-cumulative) bucket counts and sum, as
  /// another process reported them; nullopt unless the bounds are valid
  /// (as for the constructor) and there is one count per bucket plus the
  /// overflow bucket.
  static std::optional<histogram> from_counts(std::vector<double> upper_bounds,
                                              std::vector<uint64_t> counts,
                                              double sum);

  /// Counts `value` in its bucket and adds it to sum(); NaN is ignored.
  void observe(double value) noexcept;

  /// Adds `other`'s counts and sum to this one's. Aborts unless both have
  /// the same bounds. `other` may be *this (which doubles every count).
  void merge(const histogram& other);

  /// The bucket upper bounds, as given.
  const std::vector<double>& upper_bounds() const noexcept { return bounds_; }

  /// Observations per bucket, non-cumulative: upper_bounds().size() + 1
  /// entries, the last one for values above the last bound.
  const std::vector<uint64_t>& bucket_counts() const noexcept {
    return counts_;
  }

  /// Number of observations (NaN excluded).
  uint64_t count() const noexcept { return count_; }

  /// Sum of the observations (NaN excluded; +Inf makes it +Inf).
  double sum() const noexcept { return sum_; }

  friend bool operator==(const histogram& a, const histogram& b) {
    return a.bounds_ == b.bounds_ && a.counts_ == b.counts_
           && a.count_ == b.count_ && a.sum_ == b.sum_;
  }
  friend bool operator!=(const histogram& a, const histogram& b) {
    return !(a == b);
  }

private:
  std::vector<double> bounds_;
  /// bounds_.size() + 1 entries.
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
};

// -- text_writer --------------------------------------------------------------

/// One label: its name (is_valid_label_name()) and any value (bytes are
/// written as given, escaped; Prometheus expects UTF-8).
struct label {
  std::string name;
  std::string value;
};

/// A sample's labels, written in this order.
using label_set = std::vector<label>;

/// Builds one exposition in the text format 0.0.4.
///
/// Every call writes one sample (a histogram: its _bucket, _sum and _count
/// samples) of a metric family. The first call for a family name also
/// writes "# HELP name help" (help escaped; omitted when help is empty) and
/// "# TYPE name counter|gauge|histogram"; later calls' help is ignored.
/// Calls for one family must come consecutively, each with a different
/// label set (the text format requires both).
///
/// Aborts (the caller's bugs): an invalid metric or label name; a label
/// name repeated within a label set; a histogram label named "le"; a family
/// name used again after another family, or with another type; a label set
/// repeated within a family (same names and values, in any order). Not
/// checked: a family name equal to a histogram's sample name (a counter
/// "x_count" next to a histogram "x").
///
/// Not thread-safe; deterministic: equal calls give equal text.
class text_writer {
public:
  text_writer() = default;

  /// A counter sample: `name{labels} value`.
  void counter(std::string_view name, std::string_view help,
               const label_set& labels, double value);

  /// A gauge sample: `name{labels} value`.
  void gauge(std::string_view name, std::string_view help,
             const label_set& labels, double value);

  /// A histogram: one `name_bucket{labels,le="bound"}` sample per bound
  /// with the cumulative count, `le="+Inf"` with count(), then `name_sum`
  /// and `name_count`.
  void histogram(std::string_view name, std::string_view help,
                 const label_set& labels, const prometheus::histogram& h);

  /// The text written so far.
  const std::string& text() const noexcept { return out_; }

  /// Moves the text out and resets the writer (no family seen).
  std::string release();

private:
  enum class family_type { counter, gauge, histogram };

  static const char* type_name(family_type type) noexcept;

  /// Checks `name` and `labels`, registers the sample with its family and
  /// writes the family's header lines when the family is new.
  void begin_sample(std::string_view name, std::string_view help,
                    family_type type, const label_set& labels);

  /// Appends `name`, the labels (plus `le`, if not null) and the value.
  void write_sample(std::string_view name, std::string_view suffix,
                    const label_set& labels, const std::string* le,
                    std::string_view value);

  std::string out_;
  /// The family being written; empty before the first sample.
  std::string family_;
  family_type family_type_ = family_type::counter;
  /// Families finished (written before family_).
  std::set<std::string, std::less<>> done_;
  /// The label sets family_ has written, sorted by name.
  std::set<std::vector<std::pair<std::string, std::string>>> series_;
};

} // namespace conclave::prometheus
