// conclave-bench's command line: the options of a run and of `floor`, and
// their parser. The comparison script (scripts/bench-vs-zookeeper.sh)
// depends on these names; keep them stable.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace conclave::bench {

// A usage error: conclave-bench prints it with the usage and exits with 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class workload {
  create,
  set,
  get,
  exists,
  children,
  del, // "delete"
  multi,
  churn,
  watch,
  mixed,
};

const char* workload_name(workload w);

struct options {
  // -- a run --
  std::string servers; // "HOST:PORT,HOST:PORT", as the C client takes it
  workload load = workload::set;
  int clients = 1;
  int outstanding = 1;
  int value_bytes = 100;
  int znodes = 1000;
  double duration_s = 10;
  double warmup_s = 1;
  int multi_ops = 4;
  int watchers = 100;
  int read_percent = 90;
  std::string root = "/conclave-bench";
  std::string label;
  std::string json; // write the result here ("" = do not)
  std::vector<int> server_pids;
  uint64_t seed = 0;
  bool seed_given = false;
  bool verbose = false;
  bool keep = false; // leave the run's subtree on the server
  int session_timeout_ms = 20000;
  // -- floor --
  bool floor = false;
  std::string dir;
  int samples = 2000;
  // -- --help --
  bool help = false;
};

// Parses argv (argv[0] is the program). Throws usage_error.
options parse_options(int argc, const char* const* argv);

// The usage text.
const char* usage_text();

} // namespace conclave::bench
