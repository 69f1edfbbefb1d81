// conclave-node: runs one Conclave node.
//
//   conclave-node --config-file=FILE [--conclave.KEY=VALUE ...]
//
// On SIGINT or SIGTERM a leader first hands leadership to its most
// up-to-date follower and waits until that one leads (at most twice the
// election timeout), so clients see no election timeout; then it stops.
// This binary knows no custom actor types; a node with custom actors is
// built the same way with its own registry (see actors/node_main.hpp,
// examples/extended_node.cpp and docs/extending.md).
//
// Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for a bad config
// or an impossible setting (taken port, unwritable data directory), 3 when
// the data directory holds damaged state (the message names file and
// offset), 4 when the supervisor shut the node down (its actors kept
// failing; the message names the actor and the reason).
#include "actors/node_main.hpp"

int main(int argc, char** argv) {
  return conclave::run_node(argc, argv, conclave::actor_registry{});
}
