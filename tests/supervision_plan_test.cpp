#include "runtime/supervision_plan.hpp"

#include <catch2/catch.hpp>

using conclave::supervision_plan;
using names = std::vector<std::string>;

TEST_CASE("supervision plan: a core actor restarts the core and everything "
          "that holds its handles",
          "[supervision]") {
  auto plan = supervision_plan::for_node(true, {"checker"});
  names everything{"registry", "storage", "log",  "election",
                   "session",  "zk",      "admin"};
  CHECK(plan.restart_set("registry") == everything);
  CHECK(plan.restart_set("storage") == everything);
  CHECK(plan.restart_set("log") == everything);
  CHECK(plan.policy_of("storage") == "one-for-all (core)");
}

TEST_CASE("supervision plan: the session restarts its listeners, the others "
          "restart alone",
          "[supervision]") {
  auto plan = supervision_plan::for_node(true, {"checker", "audit"});
  CHECK(plan.restart_set("session") == names{"session", "zk", "admin"});
  CHECK(plan.policy_of("session") == "rest-for-one");
  CHECK(plan.restart_set("election") == names{"election"});
  CHECK(plan.restart_set("zk") == names{"zk", "admin"});
  CHECK(plan.restart_set("admin") == names{"admin"});
  CHECK(plan.restart_set("checker") == names{"checker"});
  CHECK(plan.policy_of("audit") == "one-for-one");
  CHECK(plan.restart_set("nobody").empty());
}

TEST_CASE("supervision plan: without an admin port the zk listener restarts "
          "alone",
          "[supervision]") {
  auto plan = supervision_plan::for_node(false, {});
  CHECK(plan.restart_set("zk") == names{"zk"});
  CHECK(plan.find("admin") == nullptr);
}

TEST_CASE("supervision plan: dependents are found transitively in start order",
          "[supervision]") {
  supervision_plan plan;
  REQUIRE(plan.add({"a", {}, {}}));
  REQUIRE(plan.add({"b", {"a"}, {}}));
  REQUIRE(plan.add({"c", {}, {}}));
  REQUIRE(plan.add({"d", {"b"}, {}}));
  CHECK(plan.restart_set("a") == names{"a", "b", "d"});
  CHECK(plan.restart_set("c") == names{"c"});
  // A dependency must exist before its dependent; names are unique.
  CHECK_FALSE(plan.add({"e", {"zzz"}, {}}));
  CHECK_FALSE(plan.add({"a", {}, {}}));
  CHECK(plan.children().size() == 4);
}
