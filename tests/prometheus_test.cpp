// prometheus: the text writer's output is pinned byte for byte (HELP and
// TYPE once per family, escaping, number formatting, cumulative histogram
// buckets), histograms count Prometheus style (inclusive upper bounds, NaN
// ignored) and merge, and randomized label values survive a round trip
// through a small parser of the text format.

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "runtime/prometheus.hpp"

#include "tests/support/aborts.hpp"

using namespace conclave::prometheus;

namespace {

constexpr double infinity = std::numeric_limits<double>::infinity();
constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

// -- a small parser of the text format, for round trips -----------------------

struct parsed_sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string value;
};

bool is_metric_char(char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':')
    return true;
  return !first && c >= '0' && c <= '9';
}

bool is_label_char(char c, bool first) {
  return c != ':' && is_metric_char(c, first);
}

/// Parses one sample line `name{l="v",...} value` (labels optional, values
/// unescaped); nullopt if the line does not have that shape.
std::optional<parsed_sample> parse_sample(std::string_view line) {
  parsed_sample result;
  size_t i = 0;
  while (i < line.size() && is_metric_char(line[i], i == 0))
    result.name += line[i++];
  if (result.name.empty())
    return std::nullopt;
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      if (!result.labels.empty()) {
        if (line[i] != ',')
          return std::nullopt;
        ++i;
      }
      std::string name;
      while (i < line.size() && is_label_char(line[i], name.empty()))
        name += line[i++];
      if (name.empty() || line.substr(i, 2) != "=\"")
        return std::nullopt;
      i += 2;
      std::string value;
      for (;;) {
        if (i >= line.size())
          return std::nullopt;
        char c = line[i++];
        if (c == '"')
          break;
        if (c != '\\') {
          value += c;
          continue;
        }
        if (i >= line.size())
          return std::nullopt;
        char e = line[i++];
        if (e == '\\')
          value += '\\';
        else if (e == '"')
          value += '"';
        else if (e == 'n')
          value += '\n';
        else
          return std::nullopt;
      }
      result.labels.emplace_back(std::move(name), std::move(value));
    }
    if (i >= line.size())
      return std::nullopt;
    ++i; // '}'
  }
  if (i >= line.size() || line[i] != ' ')
    return std::nullopt;
  result.value = std::string{line.substr(i + 1)};
  if (result.value.empty()
      || result.value.find_first_of(" \t") != std::string::npos)
    return std::nullopt;
  if (result.value != "+Inf" && result.value != "-Inf"
      && result.value != "NaN") {
    char* end = nullptr;
    std::strtod(result.value.c_str(), &end);
    if (end != result.value.c_str() + result.value.size())
      return std::nullopt;
  }
  return result;
}

/// Reads a sample value back as a double.
double parse_value(const std::string& text) {
  if (text == "+Inf")
    return infinity;
  if (text == "-Inf")
    return -infinity;
  if (text == "NaN")
    return not_a_number;
  return std::strtod(text.c_str(), nullptr);
}

/// Undoes HELP escaping; nullopt on an unknown escape.
std::optional<std::string> unescape_help(std::string_view text) {
  std::string result;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      result += text[i];
      continue;
    }
    if (++i == text.size())
      return std::nullopt;
    if (text[i] == '\\')
      result += '\\';
    else if (text[i] == 'n')
      result += '\n';
    else
      return std::nullopt;
  }
  return result;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> result;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    REQUIRE(end != std::string::npos); // every line ends with '\n'
    result.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return result;
}

bool same_double(double a, double b) {
  if (std::isnan(a) || std::isnan(b))
    return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

} // namespace

// -- numbers and names --------------------------------------------------------

TEST_CASE("prometheus: content type is text format 0.0.4", "[prometheus]") {
  CHECK(content_type() == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("prometheus: integral values print as plain integers",
          "[prometheus]") {
  CHECK(format_value(0) == "0");
  CHECK(format_value(-0.0) == "0");
  CHECK(format_value(1) == "1");
  CHECK(format_value(-1) == "-1");
  CHECK(format_value(1000) == "1000");
  CHECK(format_value(1e15) == "1000000000000000");
  CHECK(format_value(9007199254740991.0) == "9007199254740991");
  CHECK(format_value(-9007199254740991.0) == "-9007199254740991");
}

TEST_CASE("prometheus: other values print as shortest round trip",
          "[prometheus]") {
  // 2^53 and beyond take the shortest representation, which for 2^53 is
  // still the plain digits.
  CHECK(format_value(9007199254740992.0) == "9007199254740992");
  CHECK(format_value(-9007199254740992.0) == "-9007199254740992");
  CHECK(format_value(1e21) == "1e+21");
  CHECK(format_value(0.1) == "0.1");
  CHECK(format_value(-0.1) == "-0.1");
  CHECK(format_value(1.5) == "1.5");
  CHECK(format_value(0.30000000000000004) == "0.30000000000000004");
  CHECK(format_value(1e-7) == "1e-07");
  CHECK(format_value(1e300) == "1e+300");
  CHECK(format_value(-1e300) == "-1e+300");
  CHECK(format_value(123456.789) == "123456.789");
}

TEST_CASE("prometheus: infinities and NaN", "[prometheus]") {
  CHECK(format_value(infinity) == "+Inf");
  CHECK(format_value(-infinity) == "-Inf");
  CHECK(format_value(not_a_number) == "NaN");
  CHECK(format_value(-not_a_number) == "NaN");
}

TEST_CASE("prometheus: append_value appends", "[prometheus]") {
  std::string out = "x ";
  append_value(out, 2.5);
  append_value(out, 3);
  CHECK(out == "x 2.53");
}

TEST_CASE("prometheus: formatted values read back as the same double",
          "[prometheus]") {
  std::vector<double> values = {
    std::numeric_limits<double>::max(),
    std::numeric_limits<double>::lowest(),
    std::numeric_limits<double>::min(),
    std::numeric_limits<double>::denorm_min(),
    std::numeric_limits<double>::epsilon(),
    0.00005,
    1.0 / 3,
    9007199254740993.0,
  };
  std::mt19937_64 rng{20240611};
  for (int i = 0; i < 2000; ++i) {
    uint64_t bits = rng();
    double x;
    std::memcpy(&x, &bits, sizeof(x));
    values.push_back(x);
    values.push_back(std::ldexp(static_cast<double>(rng() % 1000000),
                                static_cast<int>(rng() % 80) - 40));
  }
  for (double x : values) {
    auto text = format_value(x);
    INFO(text);
    double back = parse_value(text);
    if (x == 0)
      CHECK(back == 0); // -0.0 prints as "0"
    else
      CHECK(same_double(back, x));
    CHECK(text.find_first_of(" \n") == std::string::npos);
  }
}

TEST_CASE("prometheus: metric name validation", "[prometheus]") {
  CHECK(is_valid_metric_name("a"));
  CHECK(is_valid_metric_name("_"));
  CHECK(is_valid_metric_name(":"));
  CHECK(is_valid_metric_name("conclave_requests_total"));
  CHECK(is_valid_metric_name("job:rate5m:sum"));
  CHECK(is_valid_metric_name("__internal"));
  CHECK(is_valid_metric_name("A9_:z"));
  CHECK_FALSE(is_valid_metric_name(""));
  CHECK_FALSE(is_valid_metric_name("9lives"));
  CHECK_FALSE(is_valid_metric_name("a-b"));
  CHECK_FALSE(is_valid_metric_name("a b"));
  CHECK_FALSE(is_valid_metric_name("a.b"));
  CHECK_FALSE(is_valid_metric_name("caf\xc3\xa9"));
}

TEST_CASE("prometheus: label name validation", "[prometheus]") {
  CHECK(is_valid_label_name("a"));
  CHECK(is_valid_label_name("_"));
  CHECK(is_valid_label_name("_a"));
  CHECK(is_valid_label_name("op"));
  CHECK(is_valid_label_name("Z9_x"));
  CHECK(is_valid_label_name("le"));
  CHECK_FALSE(is_valid_label_name(""));
  CHECK_FALSE(is_valid_label_name("__"));
  CHECK_FALSE(is_valid_label_name("__name__"));
  CHECK_FALSE(is_valid_label_name("a:b"));
  CHECK_FALSE(is_valid_label_name(":a"));
  CHECK_FALSE(is_valid_label_name("1a"));
  CHECK_FALSE(is_valid_label_name("a-b"));
}

// -- histogram ----------------------------------------------------------------

TEST_CASE("prometheus: histogram buckets have inclusive upper bounds",
          "[prometheus]") {
  histogram h{{1, 2, 5}};
  CHECK(h.upper_bounds() == std::vector<double>{1, 2, 5});
  CHECK(h.bucket_counts() == std::vector<uint64_t>{0, 0, 0, 0});
  CHECK(h.count() == 0);
  CHECK(h.sum() == 0);
  h.observe(0.5);
  h.observe(1);   // on the bound: first bucket
  h.observe(1.5); // (1, 2]
  h.observe(2);   // (1, 2]
  h.observe(5);   // (2, 5]
  h.observe(5.000001);
  h.observe(100);
  CHECK(h.bucket_counts() == std::vector<uint64_t>{2, 2, 1, 2});
  CHECK(h.count() == 7);
  CHECK(h.sum() == Approx(115.000001));
}

TEST_CASE("prometheus: histogram puts negatives first and ignores NaN",
          "[prometheus]") {
  histogram h{{0.5, 1}};
  h.observe(-3);
  h.observe(-0.0);
  h.observe(-infinity);
  h.observe(not_a_number);
  CHECK(h.bucket_counts() == std::vector<uint64_t>{3, 0, 0});
  CHECK(h.count() == 3);
  CHECK(h.sum() == -infinity);
  histogram g{{0.5, 1}};
  g.observe(not_a_number);
  CHECK(g.count() == 0);
  CHECK(g.sum() == 0);
  CHECK(g == histogram{{0.5, 1}});
  g.observe(infinity);
  CHECK(g.bucket_counts() == std::vector<uint64_t>{0, 0, 1});
  CHECK(g.sum() == infinity);
}

TEST_CASE("prometheus: histogram merge adds counts and sums", "[prometheus]") {
  histogram a{{1, 10}};
  histogram b{{1, 10}};
  a.observe(0.5);
  a.observe(20);
  b.observe(3);
  b.observe(4);
  b.observe(0.25);
  a.merge(b);
  CHECK(a.bucket_counts() == std::vector<uint64_t>{2, 2, 1});
  CHECK(a.count() == 5);
  CHECK(a.sum() == 27.75);
  CHECK(b.count() == 3); // unchanged

  a.merge(histogram{{1, 10}});
  CHECK(a.count() == 5);

  a.merge(a); // doubles
  CHECK(a.bucket_counts() == std::vector<uint64_t>{4, 4, 2});
  CHECK(a.count() == 10);
  CHECK(a.sum() == 55.5);
}

TEST_CASE("prometheus: merging equals observing everything in one",
          "[prometheus]") {
  std::mt19937_64 rng{7};
  std::uniform_real_distribution<double> dist{-0.001, 12};
  auto all = histogram::latency_seconds();
  auto merged = histogram::latency_seconds();
  for (int part = 0; part < 4; ++part) {
    auto h = histogram::latency_seconds();
    for (int i = 0; i < 500; ++i) {
      // Multiples of 2^-10: exact sums in any order.
      double v = std::round(dist(rng) * 1024) / 1024;
      h.observe(v);
      all.observe(v);
    }
    merged.merge(h);
  }
  CHECK(merged == all);
  CHECK(merged.count() == 2000);
}

TEST_CASE("prometheus: latency_seconds spans 50 microseconds to 10 seconds",
          "[prometheus]") {
  auto h = histogram::latency_seconds();
  CHECK(h.upper_bounds()
        == std::vector<double>{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                               0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                               5, 10});
  CHECK(h.bucket_counts().size() == 18);
  h.observe(0.00004); // 40 µs
  h.observe(0.0003);  // 300 µs
  h.observe(0.002);   // 2 ms
  h.observe(11);      // over 10 s
  CHECK(h.bucket_counts()[0] == 1);
  CHECK(h.bucket_counts()[3] == 1);
  CHECK(h.bucket_counts()[5] == 1);
  CHECK(h.bucket_counts()[17] == 1);
  CHECK(h.count() == 4);
}

TEST_CASE("prometheus: one bound histograms work", "[prometheus]") {
  histogram h{{-1}};
  h.observe(-2);
  h.observe(0);
  CHECK(h.bucket_counts() == std::vector<uint64_t>{1, 1});
}

// -- text_writer --------------------------------------------------------------

TEST_CASE("prometheus: counter and gauge without labels", "[prometheus]") {
  text_writer w;
  w.counter("conclave_requests_total", "Requests served.", {}, 42);
  w.gauge("conclave_znodes", "Znodes in the tree.", {}, 7.5);
  CHECK(w.text()
        == "# HELP conclave_requests_total Requests served.\n"
           "# TYPE conclave_requests_total counter\n"
           "conclave_requests_total 42\n"
           "# HELP conclave_znodes Znodes in the tree.\n"
           "# TYPE conclave_znodes gauge\n"
           "conclave_znodes 7.5\n");
}

TEST_CASE("prometheus: counter and gauge with labels", "[prometheus]") {
  text_writer w;
  w.counter("conclave_ops_total", "Operations.", {{"op", "create"}}, 3);
  w.gauge("conclave_raft_term", "Current term.",
          {{"node", "n1"}, {"role", "leader"}}, 12);
  w.gauge("conclave_ratio", "A ratio.", {{"z", "1"}, {"a", "2"}}, 0.1);
  CHECK(w.text()
        == "# HELP conclave_ops_total Operations.\n"
           "# TYPE conclave_ops_total counter\n"
           "conclave_ops_total{op=\"create\"} 3\n"
           "# HELP conclave_raft_term Current term.\n"
           "# TYPE conclave_raft_term gauge\n"
           "conclave_raft_term{node=\"n1\",role=\"leader\"} 12\n"
           "# HELP conclave_ratio A ratio.\n"
           "# TYPE conclave_ratio gauge\n"
           "conclave_ratio{z=\"1\",a=\"2\"} 0.1\n"); // order kept
}

TEST_CASE("prometheus: special values in samples", "[prometheus]") {
  text_writer w;
  w.gauge("g", "", {{"k", "inf"}}, infinity);
  w.gauge("g", "", {{"k", "-inf"}}, -infinity);
  w.gauge("g", "", {{"k", "nan"}}, not_a_number);
  w.gauge("g", "", {{"k", "big"}}, 1e300);
  w.gauge("g", "", {{"k", "small"}}, 1e-7);
  w.gauge("g", "", {{"k", "2^53"}}, 9007199254740992.0);
  w.gauge("g", "", {{"k", ""}}, -1);
  CHECK(w.text()
        == "# TYPE g gauge\n"
           "g{k=\"inf\"} +Inf\n"
           "g{k=\"-inf\"} -Inf\n"
           "g{k=\"nan\"} NaN\n"
           "g{k=\"big\"} 1e+300\n"
           "g{k=\"small\"} 1e-07\n"
           "g{k=\"2^53\"} 9007199254740992\n"
           "g{k=\"\"} -1\n");
}

TEST_CASE("prometheus: label values and help text are escaped",
          "[prometheus]") {
  text_writer w;
  w.gauge("conclave_escape", "A \"quoted\" back\\slash\nand a new line.",
          {{"path", "/a\\b\"c\nd"}, {"plain", "caf\xc3\xa9 {x=1,y}"}}, 1);
  CHECK(w.text()
        == "# HELP conclave_escape A \"quoted\" back\\\\slash\\nand a new "
           "line.\n"
           "# TYPE conclave_escape gauge\n"
           "conclave_escape{path=\"/a\\\\b\\\"c\\nd\",plain=\"caf\xc3\xa9 "
           "{x=1,y}\"} 1\n");
}

TEST_CASE("prometheus: HELP and TYPE once per family", "[prometheus]") {
  text_writer w;
  w.counter("conclave_ops_total", "Operations.", {{"op", "create"}}, 1);
  w.counter("conclave_ops_total", "ignored", {{"op", "delete"}}, 2);
  w.counter("conclave_ops_total", "", {{"op", "set_data"}}, 3);
  w.counter("conclave_ops_total", "Operations.", {}, 6);
  w.gauge("conclave_sessions", "Open sessions.", {{"node", "a"}}, 4);
  w.gauge("conclave_sessions", "Open sessions.", {{"node", "b"}}, 5);
  // Same label names and values as a previous set, but another value: a
  // different series.
  w.gauge("conclave_sessions", "Open sessions.", {{"node", "b "}}, 6);
  CHECK(w.text()
        == "# HELP conclave_ops_total Operations.\n"
           "# TYPE conclave_ops_total counter\n"
           "conclave_ops_total{op=\"create\"} 1\n"
           "conclave_ops_total{op=\"delete\"} 2\n"
           "conclave_ops_total{op=\"set_data\"} 3\n"
           "conclave_ops_total 6\n"
           "# HELP conclave_sessions Open sessions.\n"
           "# TYPE conclave_sessions gauge\n"
           "conclave_sessions{node=\"a\"} 4\n"
           "conclave_sessions{node=\"b\"} 5\n"
           "conclave_sessions{node=\"b \"} 6\n");
}

TEST_CASE("prometheus: empty help omits the HELP line", "[prometheus]") {
  text_writer w;
  w.counter("c", "", {}, 0);
  CHECK(w.text() == "# TYPE c counter\nc 0\n");
}

TEST_CASE("prometheus: histogram exposition", "[prometheus]") {
  histogram h{{0.001, 0.01, 0.1}};
  h.observe(0.0005);
  h.observe(0.001);
  h.observe(0.05);
  h.observe(0.5);
  h.observe(2);
  text_writer w;
  w.histogram("conclave_request_seconds", "Request latency.", {}, h);
  CHECK(w.text()
        == "# HELP conclave_request_seconds Request latency.\n"
           "# TYPE conclave_request_seconds histogram\n"
           "conclave_request_seconds_bucket{le=\"0.001\"} 2\n"
           "conclave_request_seconds_bucket{le=\"0.01\"} 2\n"
           "conclave_request_seconds_bucket{le=\"0.1\"} 3\n"
           "conclave_request_seconds_bucket{le=\"+Inf\"} 5\n"
           "conclave_request_seconds_sum 2.5515\n"
           "conclave_request_seconds_count 5\n");
}

TEST_CASE("prometheus: histogram exposition with labels and merged parts",
          "[prometheus]") {
  histogram reads{{1, 2.5, 10}};
  histogram part{{1, 2.5, 10}};
  reads.observe(1);
  part.observe(2);
  part.observe(3);
  reads.merge(part);
  histogram writes{{1, 2.5, 10}};
  text_writer w;
  w.histogram("lat", "Latency.", {{"op", "read"}, {"node", "n\"1"}}, reads);
  w.histogram("lat", "Latency.", {{"op", "write"}, {"node", "n\"1"}}, writes);
  CHECK(w.text()
        == "# HELP lat Latency.\n"
           "# TYPE lat histogram\n"
           "lat_bucket{op=\"read\",node=\"n\\\"1\",le=\"1\"} 1\n"
           "lat_bucket{op=\"read\",node=\"n\\\"1\",le=\"2.5\"} 2\n"
           "lat_bucket{op=\"read\",node=\"n\\\"1\",le=\"10\"} 3\n"
           "lat_bucket{op=\"read\",node=\"n\\\"1\",le=\"+Inf\"} 3\n"
           "lat_sum{op=\"read\",node=\"n\\\"1\"} 6\n"
           "lat_count{op=\"read\",node=\"n\\\"1\"} 3\n"
           "lat_bucket{op=\"write\",node=\"n\\\"1\",le=\"1\"} 0\n"
           "lat_bucket{op=\"write\",node=\"n\\\"1\",le=\"2.5\"} 0\n"
           "lat_bucket{op=\"write\",node=\"n\\\"1\",le=\"10\"} 0\n"
           "lat_bucket{op=\"write\",node=\"n\\\"1\",le=\"+Inf\"} 0\n"
           "lat_sum{op=\"write\",node=\"n\\\"1\"} 0\n"
           "lat_count{op=\"write\",node=\"n\\\"1\"} 0\n");
}

TEST_CASE("prometheus: latency histogram le bounds use value formatting",
          "[prometheus]") {
  auto h = histogram::latency_seconds();
  h.observe(0.0002);
  h.observe(infinity);
  text_writer w;
  w.histogram("conclave_latency_seconds", "", {}, h);
  std::vector<std::string> les;
  std::vector<std::string> values;
  for (const auto& line : lines_of(w.text())) {
    auto s = parse_sample(line);
    if (!s || s->name != "conclave_latency_seconds_bucket")
      continue;
    REQUIRE(s->labels.size() == 1);
    CHECK(s->labels[0].first == "le");
    les.push_back(s->labels[0].second);
    values.push_back(s->value);
  }
  // Shortest round trip: the exponent form when it is shorter ("5e-04" has
  // 5 characters, "0.0005" 6), the fixed one on a tie ("0.001", "1e-03").
  CHECK(les
        == std::vector<std::string>{"5e-05", "1e-04", "0.00025", "5e-04",
                                    "0.001", "0.0025", "0.005", "0.01", "0.025",
                                    "0.05", "0.1", "0.25", "0.5", "1", "2.5",
                                    "5", "10", "+Inf"});
  for (size_t i = 0; i + 1 < les.size(); ++i)
    CHECK(les[i] == format_value(h.upper_bounds()[i]));
  CHECK(values
        == std::vector<std::string>{"0", "0", "1", "1", "1", "1", "1", "1", "1",
                                    "1", "1", "1", "1", "1", "1", "1", "1",
                                    "2"});
  auto tail = w.text().substr(w.text().find("conclave_latency_seconds_sum"));
  CHECK(tail
        == "conclave_latency_seconds_sum +Inf\n"
           "conclave_latency_seconds_count 2\n");
}

TEST_CASE("prometheus: families of all types in one exposition",
          "[prometheus]") {
  histogram h{{1}};
  h.observe(0.5);
  text_writer w;
  w.gauge("up", "Up.", {}, 1);
  w.histogram("h", "H.", {}, h);
  w.counter("c_total", "C.", {{"k", "v"}}, 2);
  CHECK(w.text()
        == "# HELP up Up.\n"
           "# TYPE up gauge\n"
           "up 1\n"
           "# HELP h H.\n"
           "# TYPE h histogram\n"
           "h_bucket{le=\"1\"} 1\n"
           "h_bucket{le=\"+Inf\"} 1\n"
           "h_sum 0.5\n"
           "h_count 1\n"
           "# HELP c_total C.\n"
           "# TYPE c_total counter\n"
           "c_total{k=\"v\"} 2\n");
}

TEST_CASE("prometheus: release hands the text over and resets",
          "[prometheus]") {
  text_writer w;
  w.counter("c", "C.", {}, 1);
  auto first = w.release();
  CHECK(first == "# HELP c C.\n# TYPE c counter\nc 1\n");
  CHECK(w.text().empty());
  // A fresh exposition: the family is new again.
  w.counter("c", "C.", {}, 2);
  CHECK(w.text() == "# HELP c C.\n# TYPE c counter\nc 2\n");
}

TEST_CASE("prometheus: randomized label values round trip through a parser",
          "[prometheus]") {
  const std::string alphabet = std::string{"aZ0 _\"\\\n{}=,#\t\r\xc3\xa9"};
  std::mt19937_64 rng{12345};
  auto random_text = [&](size_t max_len) {
    std::string s;
    auto len = rng() % (max_len + 1);
    for (size_t i = 0; i < len; ++i)
      s += alphabet[rng() % alphabet.size()];
    return s;
  };
  auto random_value = [&]() {
    switch (rng() % 6) {
      case 0:
        return infinity;
      case 1:
        return -infinity;
      case 2:
        return static_cast<double>(static_cast<int64_t>(rng() % 2000) - 1000);
      default: {
        uint64_t bits = rng();
        double x;
        std::memcpy(&x, &bits, sizeof(x));
        return x;
      }
    }
  };

  for (int round = 0; round < 50; ++round) {
    text_writer w;
    std::string help = random_text(20);
    std::vector<label_set> sets;
    std::vector<double> values;
    for (int i = 0; i < 20; ++i) {
      sets.push_back({{"path", random_text(12)},
                      {"id", std::to_string(i)},
                      {"op", random_text(4)}});
      values.push_back(random_value());
      w.gauge("conclave_random", help, sets.back(), values.back());
    }
    histogram h{{0.5, 1}};
    h.observe(0.25);
    label_set hist_labels = {{"who", random_text(12)}};
    w.histogram("conclave_random_seconds", "", hist_labels, h);

    auto lines = lines_of(w.text());
    REQUIRE(lines.size() == 2 + 20 + 1 + 5 - (help.empty() ? 1 : 0));
    size_t at = 0;
    if (!help.empty()) {
      std::string prefix = "# HELP conclave_random ";
      REQUIRE(lines[at].compare(0, prefix.size(), prefix) == 0);
      auto back = unescape_help(lines[at].substr(prefix.size()));
      REQUIRE(back);
      CHECK(*back == help);
      ++at;
    }
    CHECK(lines[at++] == "# TYPE conclave_random gauge");
    for (size_t i = 0; i < sets.size(); ++i, ++at) {
      INFO(lines[at]);
      auto s = parse_sample(lines[at]);
      REQUIRE(s);
      CHECK(s->name == "conclave_random");
      REQUIRE(s->labels.size() == 3);
      for (size_t j = 0; j < 3; ++j) {
        CHECK(s->labels[j].first == sets[i][j].name);
        CHECK(s->labels[j].second == sets[i][j].value);
      }
      CHECK(
        same_double(parse_value(s->value), values[i] == 0 ? 0.0 : values[i]));
    }
    CHECK(lines[at++] == "# TYPE conclave_random_seconds histogram");
    for (; at < lines.size(); ++at) {
      INFO(lines[at]);
      auto s = parse_sample(lines[at]);
      REQUIRE(s);
      REQUIRE(!s->labels.empty());
      CHECK(s->labels[0].first == "who");
      CHECK(s->labels[0].second == hist_labels[0].value);
    }
  }
}

// -- broken invariants --------------------------------------------------------

TEST_CASE("prometheus: caller bugs are broken invariants", "[prometheus]") {
  using conclave::test::aborts;
  // Bucket bounds.
  CHECK(aborts([] { histogram h{std::vector<double>{}}; }));
  CHECK(aborts([] { histogram h{{1, 1}}; }));
  CHECK(aborts([] { histogram h{{2, 1}}; }));
  CHECK(aborts([] { histogram h{{1, infinity}}; }));
  CHECK(aborts([] { histogram h{{not_a_number}}; }));
  CHECK(aborts([] {
    histogram a{{1, 2}};
    a.merge(histogram{{1, 3}});
  }));
  // Names.
  CHECK(aborts([] { text_writer{}.counter("1a", "", {}, 1); }));
  CHECK(aborts([] { text_writer{}.counter("a", "", {{"__x", "v"}}, 1); }));
  CHECK(aborts([] { text_writer{}.counter("a", "", {{"a:b", "v"}}, 1); }));
  CHECK(aborts([] {
    text_writer{}.gauge("a", "", {{"k", "1"}, {"k", "2"}}, 1);
  }));
  CHECK(aborts([] {
    text_writer{}.histogram("a", "", {{"le", "1"}}, histogram{{1}});
  }));
  // Families.
  CHECK(aborts([] {
    text_writer w;
    w.counter("a", "", {{"k", "1"}}, 1);
    w.counter("b", "", {}, 1);
    w.counter("a", "", {{"k", "2"}}, 1);
  }));
  CHECK(aborts([] {
    text_writer w;
    w.counter("a", "", {{"k", "1"}}, 1);
    w.gauge("a", "", {{"k", "2"}}, 1);
  }));
  CHECK(aborts([] {
    text_writer w;
    w.gauge("a", "", {{"k", "1"}, {"j", "2"}}, 1);
    w.gauge("a", "", {{"j", "2"}, {"k", "1"}}, 2);
  }));
  // And their legal neighbours.
  CHECK_FALSE(aborts([] { histogram h{{-1, 0, 1e300}}; }));
  CHECK_FALSE(aborts([] { text_writer{}.gauge("a", "", {{"le", "1"}}, 1); }));
  CHECK_FALSE(aborts([] {
    text_writer w;
    w.gauge("a", "", {{"k", "1"}}, 1);
    w.gauge("a", "", {{"k", "1"}, {"j", "1"}}, 1);
    w.gauge("a", "", {}, 1);
  }));
}

TEST_CASE("prometheus: a histogram restored from reported counts",
          "[prometheus]") {
  using conclave::prometheus::histogram;
  histogram h{{1, 2}};
  h.observe(0.5);
  h.observe(1.5);
  h.observe(7);
  auto restored
    = histogram::from_counts(h.upper_bounds(), h.bucket_counts(), h.sum());
  REQUIRE(restored);
  CHECK(*restored == h);
  // Reported figures come from elsewhere: malformed ones are refused.
  CHECK_FALSE(histogram::from_counts({1, 2}, {1, 1}, 0));
  CHECK_FALSE(histogram::from_counts({2, 1}, {0, 0, 0}, 0));
  CHECK_FALSE(histogram::from_counts({}, {0}, 0));
}
