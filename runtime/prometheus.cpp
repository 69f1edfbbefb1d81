// prometheus: the exposition follows
// https://prometheus.io/docs/instrumenting/exposition_formats/ (text format
// 0.0.4) and client_golang's histogram semantics (upper bounds inclusive,
// an implicit +Inf bucket).

#include "runtime/prometheus.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <system_error>

namespace conclave::prometheus {

namespace {

[[noreturn]] void invariant_failure(const std::string& what) {
  std::fprintf(stderr, "prometheus: broken invariant: %s\n", what.c_str());
  std::abort();
}

std::string quoted(std::string_view text) {
  std::string result;
  result.reserve(text.size() + 2);
  result += '"';
  result += text;
  result += '"';
  return result;
}

bool is_name_start(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_name_char(char c) noexcept {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

void append_uint(std::string& out, uint64_t x) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), x);
  out.append(buf, res.ptr);
}

/// Label values: backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

/// HELP text: backslash and line feed (a double quote stays as is).
void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

} // namespace

const std::string& content_type() {
  static const std::string result = "text/plain; version=0.0.4; charset=utf-8";
  return result;
}

// -- names and numbers --------------------------------------------------------

bool is_valid_metric_name(std::string_view name) noexcept {
  if (name.empty() || !(is_name_start(name[0]) || name[0] == ':'))
    return false;
  return std::all_of(name.begin() + 1, name.end(),
                     [](char c) { return is_name_char(c) || c == ':'; });
}

bool is_valid_label_name(std::string_view name) noexcept {
  if (name.empty() || !is_name_start(name[0]))
    return false;
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_')
    return false;
  return std::all_of(name.begin() + 1, name.end(), is_name_char);
}

void append_value(std::string& out, double x) {
  if (std::isnan(x)) {
    out += "NaN";
    return;
  }
  if (std::isinf(x)) {
    out += x > 0 ? "+Inf" : "-Inf";
    return;
  }
  // 2^53: every integer below it is exact and fits an int64_t.
  constexpr double exact_limit = 9007199254740992.0;
  char buf[64];
  if (std::fabs(x) < exact_limit && std::trunc(x) == x) {
    auto res = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(x));
    out.append(buf, res.ptr);
    return;
  }
#if defined(__cpp_lib_to_chars)
  auto res = std::to_chars(buf, buf + sizeof(buf), x);
  if (res.ec != std::errc{})
    invariant_failure("to_chars failed on a finite double");
  out.append(buf, res.ptr);
#else
  auto n = std::snprintf(buf, sizeof(buf), "%.17g", x);
  out.append(buf, static_cast<size_t>(n));
#endif
}

std::string format_value(double x) {
  std::string result;
  append_value(result, x);
  return result;
}

// -- histogram ----------------------------------------------------------------

histogram::histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)) {
  if (bounds_.empty())
    invariant_failure("histogram without bucket bounds");
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]))
      invariant_failure("histogram bucket bound " + format_value(bounds_[i])
                        + " is not finite");
    if (i > 0 && !(bounds_[i - 1] < bounds_[i]))
      invariant_failure("histogram bucket bounds not strictly increasing: "
                        + format_value(bounds_[i - 1]) + " then "
                        + format_value(bounds_[i]));
  }
  counts_.resize(bounds_.size() + 1, 0);
}

histogram histogram::latency_seconds() {
  return histogram{{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
}

std::optional<histogram>
histogram::from_counts(std::vector<double> upper_bounds,
                       std::vector<uint64_t> counts, double sum) {
  if (upper_bounds.empty() || counts.size() != upper_bounds.size() + 1)
    return std::nullopt;
  for (size_t i = 0; i < upper_bounds.size(); ++i)
    if (!std::isfinite(upper_bounds[i])
        || (i > 0 && !(upper_bounds[i - 1] < upper_bounds[i])))
      return std::nullopt;
  histogram out{std::move(upper_bounds)};
  out.counts_ = std::move(counts);
  out.count_ = 0;
  for (auto n : out.counts_)
    out.count_ += n;
  out.sum_ = sum;
  return out;
}

void histogram::observe(double value) noexcept {
  if (std::isnan(value))
    return;
  // The first bound >= value; bounds_.size() (the overflow bucket) if none.
  auto i
    = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[static_cast<size_t>(i)];
  ++count_;
  sum_ += value;
}

void histogram::merge(const histogram& other) {
  if (bounds_ != other.bounds_)
    invariant_failure("merging histograms with different bucket bounds");
  for (size_t i = 0; i < counts_.size(); ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
}

// -- text_writer --------------------------------------------------------------

void text_writer::counter(std::string_view name, std::string_view help,
                          const label_set& labels, double value) {
  begin_sample(name, help, family_type::counter, labels);
  auto text = format_value(value);
  write_sample(name, "", labels, nullptr, text);
}

void text_writer::gauge(std::string_view name, std::string_view help,
                        const label_set& labels, double value) {
  begin_sample(name, help, family_type::gauge, labels);
  auto text = format_value(value);
  write_sample(name, "", labels, nullptr, text);
}

void text_writer::histogram(std::string_view name, std::string_view help,
                            const label_set& labels,
                            const prometheus::histogram& h) {
  begin_sample(name, help, family_type::histogram, labels);
  std::string le;
  std::string value;
  uint64_t cumulative = 0;
  const auto& bounds = h.upper_bounds();
  const auto& counts = h.bucket_counts();
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += counts[i];
    le.clear();
    append_value(le, bounds[i]);
    value.clear();
    append_uint(value, cumulative);
    write_sample(name, "_bucket", labels, &le, value);
  }
  le = "+Inf";
  value.clear();
  append_uint(value, h.count());
  write_sample(name, "_bucket", labels, &le, value);
  write_sample(name, "_sum", labels, nullptr, format_value(h.sum()));
  write_sample(name, "_count", labels, nullptr, value);
}

const char* text_writer::type_name(family_type type) noexcept {
  switch (type) {
    case family_type::counter:
      return "counter";
    case family_type::gauge:
      return "gauge";
    case family_type::histogram:
      return "histogram";
  }
  return "?";
}

std::string text_writer::release() {
  auto result = std::move(out_);
  out_.clear();
  family_.clear();
  family_type_ = family_type::counter;
  done_.clear();
  series_.clear();
  return result;
}

void text_writer::begin_sample(std::string_view name, std::string_view help,
                               family_type type, const label_set& labels) {
  if (!is_valid_metric_name(name))
    invariant_failure("invalid metric name " + quoted(name));
  std::vector<std::pair<std::string, std::string>> key;
  key.reserve(labels.size());
  for (const auto& l : labels) {
    if (!is_valid_label_name(l.name))
      invariant_failure("invalid label name " + quoted(l.name) + " in "
                        + quoted(name));
    if (type == family_type::histogram && l.name == "le")
      invariant_failure("histogram " + quoted(name)
                        + " has a label named \"le\"");
    key.emplace_back(l.name, l.value);
  }
  std::sort(key.begin(), key.end());
  for (size_t i = 1; i < key.size(); ++i)
    if (key[i - 1].first == key[i].first)
      invariant_failure("label " + quoted(key[i].first) + " repeated in "
                        + quoted(name));
  if (name != family_) {
    if (done_.count(name) != 0)
      invariant_failure("metric family " + quoted(name)
                        + " written again after another family");
    if (!family_.empty())
      done_.emplace(std::move(family_));
    family_ = name;
    family_type_ = type;
    series_.clear();
    if (!help.empty()) {
      out_ += "# HELP ";
      out_ += name;
      out_ += ' ';
      append_help(out_, help);
      out_ += '\n';
    }
    out_ += "# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type_name(type);
    out_ += '\n';
  } else if (type != family_type_) {
    invariant_failure("metric family " + quoted(name) + " written as "
                      + type_name(family_type_) + " and " + type_name(type));
  }
  if (!series_.insert(std::move(key)).second)
    invariant_failure("metric family " + quoted(name)
                      + " written twice with the same labels");
}

void text_writer::write_sample(std::string_view name, std::string_view suffix,
                               const label_set& labels, const std::string* le,
                               std::string_view value) {
  out_ += name;
  out_ += suffix;
  if (!labels.empty() || le != nullptr) {
    out_ += '{';
    bool first = true;
    for (const auto& l : labels) {
      if (!first)
        out_ += ',';
      first = false;
      out_ += l.name;
      out_ += "=\"";
      append_label_value(out_, l.value);
      out_ += '"';
    }
    if (le != nullptr) {
      if (!first)
        out_ += ',';
      out_ += "le=\"";
      out_ += *le;
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += value;
  out_ += '\n';
}

} // namespace conclave::prometheus
