// The result of one conclave-bench run: see zk_bench_result.hpp.
#include "tools/bench/zk_bench_result.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace conclave::bench {

error_counts::error_counts() {
  for (auto& c : by_negated_code_)
    c.store(0, std::memory_order_relaxed);
}

void error_counts::add(int rc) {
  // ZooKeeper's codes are 0..-127; anything else lands in the last slot.
  int i = std::clamp(-rc, 0, static_cast<int>(by_negated_code_.size()) - 1);
  by_negated_code_[static_cast<size_t>(i)].fetch_add(1,
                                                     std::memory_order_relaxed);
}

std::map<int, uint64_t> error_counts::snapshot() const {
  std::map<int, uint64_t> out;
  for (size_t i = 0; i < by_negated_code_.size(); ++i)
    if (auto n = by_negated_code_[i].load(std::memory_order_relaxed))
      out[-static_cast<int>(i)] = n;
  return out;
}

double run_result::ops_per_s() const {
  return duration_s > 0 ? static_cast<double>(ops()) / duration_s : 0.0;
}

uint64_t run_result::error_total() const {
  uint64_t n = 0;
  for (auto& [code, count] : errors)
    n += count;
  return n;
}

long read_rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      long kb = -1;
      if (std::sscanf(line.c_str() + 6, "%ld", &kb) == 1)
        return kb;
      return -1;
    }
  }
  return -1;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

} // namespace

std::string to_json(const run_result& r) {
  std::ostringstream o;
  const auto& h = r.latency;
  o << "{";
  o << "\"workload\": " << json_string(r.workload);
  o << ", \"label\": " << json_string(r.label);
  o << ", \"servers\": " << json_string(r.servers);
  o << ", \"clients\": " << r.clients;
  o << ", \"outstanding\": " << r.outstanding;
  o << ", \"value_bytes\": " << r.value_bytes;
  o << ", \"znodes\": " << r.znodes;
  o << ", \"duration_s\": " << fixed(r.duration_s, 3);
  o << ", \"warmup_s\": " << fixed(r.warmup_s, 3);
  o << ", \"ops\": " << r.ops();
  o << ", \"ops_per_s\": " << fixed(r.ops_per_s(), 1);
  o << ", \"errors\": " << r.error_total();
  o << ", \"errors_by_code\": {";
  bool first = true;
  for (auto& [code, count] : r.errors) {
    o << (first ? "" : ", ") << "\"" << code << "\": " << count;
    first = false;
  }
  o << "}";
  o << ", \"p50_us\": " << h.percentile(50);
  o << ", \"p90_us\": " << h.percentile(90);
  o << ", \"p99_us\": " << h.percentile(99);
  o << ", \"p999_us\": " << h.percentile(99.9);
  o << ", \"max_us\": " << h.max();
  o << ", \"min_us\": " << h.min();
  o << ", \"mean_us\": " << number(h.mean());
  o << ", \"server_rss_kb\": [";
  for (size_t i = 0; i < r.server_rss_kb.size(); ++i) {
    o << (i ? ", " : "");
    if (r.server_rss_kb[i] < 0)
      o << "null";
    else
      o << r.server_rss_kb[i];
  }
  o << "]";
  o << ", \"seed\": " << r.seed;
  o << ", \"run_path\": " << json_string(r.run_path);
  o << ", \"setup_s\": " << fixed(r.setup_s, 3);
  o << ", \"cleanup_s\": " << fixed(r.cleanup_s, 3);
  o << ", \"cleaned\": " << (r.cleaned ? "true" : "false");
  if (r.workload == "multi")
    o << ", \"multi_ops\": " << r.multi_ops;
  if (r.workload == "mixed")
    o << ", \"read_percent\": " << r.read_percent;
  if (r.workload == "watch") {
    o << ", \"watchers\": " << r.watchers;
    o << ", \"notifications\": " << r.notifications;
  }
  if (r.workload == "delete") {
    o << ", \"pool_per_client\": " << r.pool_per_client;
    o << ", \"pool_exhausted\": " << (r.pool_exhausted ? "true" : "false");
  }
  o << "}\n";
  return o.str();
}

std::string table_header() {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "%-9s %7s %5s %10s %10s %8s %8s %8s %8s %7s  %s", "workload",
                "clients", "outst", "ops", "ops/s", "p50ms", "p99ms", "p999ms",
                "maxms", "errors", "server_rss_kb");
  return buf;
}

std::string table_row(const run_result& r) {
  auto ms = [](uint64_t us) { return static_cast<double>(us) / 1000.0; };
  std::string rss;
  for (size_t i = 0; i < r.server_rss_kb.size(); ++i)
    rss += (i ? "," : "")
           + (r.server_rss_kb[i] < 0 ? std::string("?")
                                     : std::to_string(r.server_rss_kb[i]));
  if (rss.empty())
    rss = "-";
  char buf[512];
  const auto& h = r.latency;
  std::snprintf(buf, sizeof(buf),
                "%-9s %7d %5d %10llu %10.1f %8.3f %8.3f %8.3f %8.3f %7llu  %s",
                r.workload.c_str(), r.clients, r.outstanding,
                static_cast<unsigned long long>(r.ops()), r.ops_per_s(),
                ms(h.percentile(50)), ms(h.percentile(99)),
                ms(h.percentile(99.9)), ms(h.max()),
                static_cast<unsigned long long>(r.error_total()), rss.c_str());
  return buf;
}

} // namespace conclave::bench
