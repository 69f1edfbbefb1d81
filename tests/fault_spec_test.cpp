#include "runtime/fault_spec.hpp"

#include <catch2/catch.hpp>

using conclave::fault_spec;
using conclave::parse_fault;

TEST_CASE("fault spec: parses throw exit and block with a duration",
          "[supervision]") {
  CHECK(parse_fault("throw")->what == fault_spec::kind::throw_exception);
  CHECK(parse_fault("exit")->what == fault_spec::kind::exit);
  auto block = parse_fault("block:2500");
  REQUIRE(block);
  CHECK(block->what == fault_spec::kind::block);
  CHECK(block->block_for == std::chrono::milliseconds(2500));
  CHECK(to_string(*block) == "block:2500");
}

TEST_CASE("fault spec: rejects anything else", "[supervision]") {
  for (auto bad : {"", "Throw", "block", "block:", "block:0", "block:-5",
                   "block:600001", "block:12x", "exit ", "kill"})
    CHECK_FALSE(parse_fault(bad));
}
