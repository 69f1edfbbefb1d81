#include "examples/example_actors.hpp"

#include "examples/audit_logger.hpp"
#include "examples/health_checker.hpp"

namespace conclave {

void register_example_actors(actor_registry& types) {
  types.add("health-checker", health_checker_type());
  types.add("audit-logger", audit_logger_type());
}

} // namespace conclave
