// conclave-check: judges a chaos run's history (tools/chaos/history.proto).
//
//   conclave-check HISTORY.jsonl [--report DIR] [--max-steps N]
//                  [--session-bound-ms MS]
//
// Runs register linearizability per key and every other check whose
// operations appear in the history, prints the text report, and with
// --report writes DIR/report.txt and DIR/report.html (timelines of the
// failing windows). Exit codes: 0 all ok, 1 a violation, 2 usage or parse
// error (or nothing to check), 3 unknown (a search ran out of steps and
// nothing was violated).
#include <charconv>
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>

#include "tools/chaos/checks.hpp"
#include "tools/chaos/history.hpp"
#include "tools/chaos/linearizability.hpp"
#include "tools/chaos/report.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_violation = 1;
constexpr int exit_usage = 2;
constexpr int exit_unknown = 3;

void usage(std::ostream& out) {
  out << "usage: conclave-check HISTORY.jsonl [--report DIR] [--max-steps N]"
         " [--session-bound-ms MS]\n"
         "  --report DIR          write DIR/report.txt and DIR/report.html\n"
         "  --max-steps N         linearizability search steps per key "
         "(default 1000000)\n"
         "  --session-bound-ms MS bound for kill events without timeout_ns\n"
         "exit: 0 ok, 1 violation, 2 usage or parse error, 3 unknown\n";
}

bool parse_number(std::string_view s, uint64_t& out) {
  auto end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc{} && ptr == end && !s.empty();
}

} // namespace

int main(int argc, char** argv) {
  using namespace conclave::chaos;
  std::string input;
  std::string report_dir;
  linearizability_options lin_opts;
  check_options check_opts;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    auto value = [&](std::string_view name) -> const char* {
      if (i + 1 >= argc) {
        std::cerr << "conclave-check: " << name << " needs a value\n";
        return nullptr;
      }
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      return exit_ok;
    } else if (arg == "--report") {
      auto v = value(arg);
      if (!v)
        return exit_usage;
      report_dir = v;
    } else if (arg == "--max-steps" || arg == "--session-bound-ms") {
      auto v = value(arg);
      uint64_t n = 0;
      if (!v || !parse_number(v, n) || n == 0) {
        if (v)
          std::cerr << "conclave-check: " << arg
                    << " needs a positive number, got '" << v << "'\n";
        return exit_usage;
      }
      if (arg == "--max-steps")
        lin_opts.max_steps = n;
      else
        check_opts.session_bound_ns = static_cast<int64_t>(n) * 1000000;
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "conclave-check: unknown option " << arg << "\n";
      usage(std::cerr);
      return exit_usage;
    } else if (input.empty()) {
      input = std::string{arg};
    } else {
      std::cerr << "conclave-check: more than one history given\n";
      usage(std::cerr);
      return exit_usage;
    }
  }
  if (input.empty()) {
    usage(std::cerr);
    return exit_usage;
  }
  std::string error;
  auto h = read_history_file(input, error);
  if (!h) {
    std::cerr << "conclave-check: " << error << "\n";
    return exit_usage;
  }
  findings found;
  found.source = input;
  found.linearizability = check_linearizability(*h, lin_opts);
  found.checks = run_checks(*h, check_opts);
  bool anything = !found.linearizability.keys.empty();
  for (const auto& c : found.checks)
    anything = anything || c.applies();
  if (!anything) {
    std::cerr << "conclave-check: " << input << ": nothing to check ("
              << h->operations.size() << " operations, " << h->events.size()
              << " events, none that a check could judge)\n";
    for (const auto& c : found.checks)
      for (const auto& n : c.notes)
        std::cerr << "  " << c.name << ": " << n << "\n";
    return exit_usage;
  }
  std::cout << text_report(*h, found);
  if (!report_dir.empty()) {
    if (!write_report(report_dir, *h, found, error)) {
      std::cerr << "conclave-check: " << error << "\n";
      return exit_usage;
    }
    std::cout << "\nreport: " << report_dir << "/report.txt, " << report_dir
              << "/report.html\n";
  }
  switch (found.overall()) {
    case verdict::ok:
      return exit_ok;
    case verdict::violation:
      return exit_violation;
    case verdict::unknown:
      return exit_unknown;
  }
  return exit_usage;
}
