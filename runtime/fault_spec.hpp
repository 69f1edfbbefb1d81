// fault_spec: a fault to inject into one of a node's actors, for tests and
// chaos runs (`conclavectl fault ACTOR KIND`, only honoured when the node
// runs with conclave.fault-injection = "on").
//
//   throw     the actor's handler throws: the actor dies with an exception
//   exit      the actor quits with an error, as if an invariant broke
//   block:MS  the actor's handler blocks for MS milliseconds (1..600000):
//             the supervisor's liveness probe finds it unresponsive
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace conclave {

struct fault_spec {
  enum class kind { throw_exception, exit, block };
  kind what = kind::throw_exception;
  /// For block.
  std::chrono::milliseconds block_for{0};
};

/// Parses "throw", "exit" or "block:MS"; nullopt for anything else.
std::optional<fault_spec> parse_fault(std::string_view text);

std::string to_string(const fault_spec& x);

} // namespace conclave
