// conclave-bench's command line: see zk_bench_options.hpp.
#include "tools/bench/zk_bench_options.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>

namespace conclave::bench {

namespace {

struct workload_entry {
  const char* name;
  workload value;
};

constexpr workload_entry workloads[] = {
  {"create", workload::create},     {"set", workload::set},
  {"get", workload::get},           {"exists", workload::exists},
  {"children", workload::children}, {"delete", workload::del},
  {"multi", workload::multi},       {"churn", workload::churn},
  {"watch", workload::watch},       {"mixed", workload::mixed},
};

long long parse_int(const std::string& flag, const std::string& text,
                    long long lo, long long hi) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || errno != 0 || v < lo
      || v > hi)
    throw usage_error(flag + ": expected an integer in [" + std::to_string(lo)
                      + ", " + std::to_string(hi) + "], got '" + text + "'");
  return v;
}

double parse_seconds(const std::string& flag, const std::string& text,
                     double lo) {
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end == nullptr || *end != '\0' || errno != 0
      || !std::isfinite(v) || v < lo || v > 86400)
    throw usage_error(flag + ": expected seconds (>= " + std::to_string(lo)
                      + "), got '" + text + "'");
  return v;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = text.find(sep, start);
    out.push_back(text.substr(start, pos - start));
    if (pos == std::string::npos)
      return out;
    start = pos + 1;
  }
}

void check_servers(const std::string& text) {
  if (text.empty())
    throw usage_error("--servers: empty");
  for (auto& hp : split(text, ',')) {
    auto colon = hp.rfind(':');
    if (colon == std::string::npos || colon == 0)
      throw usage_error("--servers: expected HOST:PORT, got '" + hp + "'");
    parse_int("--servers (port of '" + hp + "')", hp.substr(colon + 1), 1,
              65535);
  }
}

void check_root(const std::string& root) {
  if (root.size() < 2 || root[0] != '/' || root.back() == '/'
      || root.find("//") != std::string::npos)
    throw usage_error("--root: expected an absolute znode path like "
                      "/conclave-bench, got '"
                      + root + "'");
}

} // namespace

const char* workload_name(workload w) {
  for (auto& e : workloads)
    if (e.value == w)
      return e.name;
  return "?";
}

const char* usage_text() {
  return R"(usage:
  conclave-bench --servers HOST:PORT[,HOST:PORT...] --workload NAME
      [--clients N=1] [--outstanding K=1] [--value-bytes B=100] [--znodes Z=1000]
      [--duration-s S=10] [--warmup-s W=1] [--multi-ops M=4] [--watchers N=100]
      [--read-percent P=90] [--root /conclave-bench] [--label TEXT]
      [--json FILE] [--server-pids PID[,PID...]] [--seed N]
      [--session-timeout-ms T=20000] [--keep] [--verbose]
  conclave-bench floor --dir DIR [--samples N=2000] [--json FILE]

Drives any ZooKeeper-protocol server (Apache ZooKeeper, Conclave's zk-port)
through the official ZooKeeper C client. Each client is its own session
keeping K asynchronous requests outstanding for the duration.

workloads:
  create    create new persistent znodes of B bytes under a per-client parent
  set       setData (B bytes) on a random one of Z pre-created znodes
  get       getData of a random one of Z znodes
  exists    exists of a random one of Z znodes
  children  getChildren of a random parent of 10 children (Z children total)
  delete    delete pre-created znodes (a per-client pool sized from a
            calibration, see zk_bench.cpp)
  multi     multi of M setData ops on distinct random znodes of Z
  churn     open a session, create an EPHEMERAL znode, close the session
            (latency: open -> closed; --outstanding is ignored)
  watch     N watcher sessions watch one znode, one writer sets it; latency:
            the set's send -> the last watcher's notification
            (--clients and --outstanding are ignored)
  mixed     P% getData, the rest setData, of random znodes of Z

--keep leaves the run's subtree (ROOT/LABEL-<8 hex digits>) on the server.
exit codes: 0 ok, 1 the run failed (connect, setup, zero ops), 2 usage.
)";
}

options parse_options(int argc, const char* const* argv) {
  options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  size_t i = 0;
  if (!args.empty() && args[0] == "floor") {
    o.floor = true;
    i = 1;
  }
  bool have_servers = false, have_workload = false;
  // Flags taking a value; `--flag value` and `--flag=value` both work.
  std::map<std::string, std::function<void(const std::string&)>> run_flags = {
    {"--servers",
     [&](const std::string& v) {
       check_servers(v);
       o.servers = v;
       have_servers = true;
     }},
    {"--workload",
     [&](const std::string& v) {
       for (auto& e : workloads)
         if (v == e.name) {
           o.load = e.value;
           have_workload = true;
           return;
         }
       throw usage_error("--workload: unknown workload '" + v
                         + "' (create, set, get, exists, children, delete, "
                           "multi, churn, watch, mixed)");
     }},
    {"--clients",
     [&](const std::string& v) {
       o.clients = static_cast<int>(parse_int("--clients", v, 1, 10000));
     }},
    {"--outstanding",
     [&](const std::string& v) {
       o.outstanding
         = static_cast<int>(parse_int("--outstanding", v, 1, 100000));
     }},
    {"--value-bytes",
     [&](const std::string& v) {
       o.value_bytes
         = static_cast<int>(parse_int("--value-bytes", v, 0, 1 << 20));
     }},
    {"--znodes",
     [&](const std::string& v) {
       o.znodes = static_cast<int>(parse_int("--znodes", v, 1, 10000000));
     }},
    {"--duration-s",
     [&](const std::string& v) {
       o.duration_s = parse_seconds("--duration-s", v, 0.01);
     }},
    {"--warmup-s",
     [&](const std::string& v) {
       o.warmup_s = parse_seconds("--warmup-s", v, 0);
     }},
    {"--multi-ops",
     [&](const std::string& v) {
       o.multi_ops = static_cast<int>(parse_int("--multi-ops", v, 1, 1000));
     }},
    {"--watchers",
     [&](const std::string& v) {
       o.watchers = static_cast<int>(parse_int("--watchers", v, 1, 100000));
     }},
    {"--read-percent",
     [&](const std::string& v) {
       o.read_percent
         = static_cast<int>(parse_int("--read-percent", v, 0, 100));
     }},
    {"--root",
     [&](const std::string& v) {
       check_root(v);
       o.root = v;
     }},
    {"--label",
     [&](const std::string& v) {
       if (v.empty() || v.find('/') != std::string::npos)
         throw usage_error("--label: must be non-empty and contain no '/'");
       o.label = v;
     }},
    {"--json",
     [&](const std::string& v) {
       if (v.empty())
         throw usage_error("--json: empty file name");
       o.json = v;
     }},
    {"--server-pids",
     [&](const std::string& v) {
       for (auto& p : split(v, ','))
         o.server_pids.push_back(
           static_cast<int>(parse_int("--server-pids", p, 1, 1 << 30)));
     }},
    {"--seed",
     [&](const std::string& v) {
       o.seed = static_cast<uint64_t>(
         parse_int("--seed", v, 0, std::numeric_limits<long long>::max()));
       o.seed_given = true;
     }},
    {"--session-timeout-ms",
     [&](const std::string& v) {
       o.session_timeout_ms
         = static_cast<int>(parse_int("--session-timeout-ms", v, 1000, 600000));
     }},
  };
  std::map<std::string, std::function<void(const std::string&)>> floor_flags = {
    {"--dir",
     [&](const std::string& v) {
       if (v.empty())
         throw usage_error("--dir: empty");
       o.dir = v;
     }},
    {"--samples",
     [&](const std::string& v) {
       o.samples = static_cast<int>(parse_int("--samples", v, 1, 10000000));
     }},
    {"--json", run_flags["--json"]},
  };
  auto& flags = o.floor ? floor_flags : run_flags;
  for (; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--help" || a == "-h") {
      o.help = true;
      return o;
    }
    if (!o.floor && a == "--verbose") {
      o.verbose = true;
      continue;
    }
    if (!o.floor && a == "--keep") {
      o.keep = true;
      continue;
    }
    std::string value;
    bool inline_value = false;
    if (auto eq = a.find('=');
        eq != std::string::npos && a.rfind("--", 0) == 0) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      inline_value = true;
    }
    auto it = flags.find(a);
    if (it == flags.end())
      throw usage_error("unknown argument '" + a + "'"
                        + (o.floor ? " (floor)" : ""));
    if (!inline_value) {
      if (i + 1 >= args.size())
        throw usage_error(a + ": missing value");
      value = args[++i];
    }
    it->second(value);
  }
  if (o.floor) {
    if (o.dir.empty())
      throw usage_error("floor: --dir is required");
    return o;
  }
  if (!have_servers)
    throw usage_error("--servers is required");
  if (!have_workload)
    throw usage_error("--workload is required");
  if (o.load == workload::multi && o.multi_ops > o.znodes)
    throw usage_error("--multi-ops must not exceed --znodes (distinct znodes)");
  return o;
}

} // namespace conclave::bench
