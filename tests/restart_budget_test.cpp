#include "runtime/restart_budget.hpp"

#include <catch2/catch.hpp>

using conclave::restart_budget;

TEST_CASE("restart budget: allows max restarts in a window and refuses the "
          "next one",
          "[supervision]") {
  restart_budget budget{3, 1000};
  CHECK(budget.spend(0));
  CHECK(budget.spend(10));
  CHECK(budget.spend(20));
  CHECK(budget.used(20) == 3);
  CHECK_FALSE(budget.spend(999));
}

TEST_CASE("restart budget: restarts older than the window no longer count",
          "[supervision]") {
  restart_budget budget{2, 1000};
  CHECK(budget.spend(0));
  CHECK(budget.spend(500));
  // The restart at 0 leaves the window at exactly 1000.
  CHECK(budget.used(999) == 2);
  CHECK(budget.used(1000) == 1);
  CHECK(budget.spend(1000));
  CHECK_FALSE(budget.spend(1499));
  // Slow, steady failures never exhaust it.
  restart_budget slow{1, 1000};
  for (int64_t t = 0; t < 100000; t += 1000)
    REQUIRE(slow.spend(t));
}

TEST_CASE("restart budget: zero restarts allowed refuses the first",
          "[supervision]") {
  restart_budget budget{0, 1000};
  CHECK_FALSE(budget.spend(5));
}
