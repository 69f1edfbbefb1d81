// The test runner: Catch2's main, with the node's logging set to warnings
// and above on the console so that test output stays readable.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "runtime/logging.hpp"

int main(int argc, char* argv[]) {
  conclave::logging_options opts;
  opts.node_id = "test";
  opts.min_severity = conclave::log_severity::warning;
  conclave::init_logging(opts);
  return Catch::Session().run(argc, argv);
}
