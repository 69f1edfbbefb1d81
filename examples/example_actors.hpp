// example_actors: registers the example custom actors (health_checker.hpp,
// audit_logger.hpp) under their type names, for a node binary that offers
// them (examples/extended_node.cpp) and for tests.
#pragma once

#include "actors/custom_actor.hpp"

namespace conclave {

/// Adds "health-checker" and "audit-logger" to `types`.
void register_example_actors(actor_registry& types);

} // namespace conclave
