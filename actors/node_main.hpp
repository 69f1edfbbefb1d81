// node_main: the whole conclave-node program as a function, so that users
// who extend Conclave with their own actors (actors/custom_actor.hpp) build
// their own node binary in three lines:
//
//   int main(int argc, char** argv) {
//     conclave::actor_registry types;
//     types.add("my-actor", my_actor_type());
//     return conclave::run_node(argc, argv, types);
//   }
//
// run_node parses and checks the config (`--config-file=FILE` plus
// `--conclave.KEY=VALUE` overrides), starts the node under its supervisor,
// prints the ready line scripts wait for, and runs until SIGINT or SIGTERM
// (a leader hands over first) or until the supervisor gives up.
//
// Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for a bad config
// or an impossible setting (taken port, unwritable data directory, unknown
// custom actor type), 3 when the data directory holds damaged state (the
// message names file and offset), 4 when the supervisor shut the node down
// because its actors kept failing (the message names the actor and reason).
#pragma once

#include "actors/custom_actor.hpp"

namespace conclave {

int run_node(int argc, char** argv, const actor_registry& types);

} // namespace conclave
