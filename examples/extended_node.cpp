// extended_node: conclave-node plus the example custom actors, built the
// way a user builds a node with actors of their own (see
// actors/node_main.hpp). Run it like conclave-node, e.g.
//
//   extended-node --config-file=configs/examples/extended.conf
#include "actors/node_main.hpp"
#include "examples/example_actors.hpp"

int main(int argc, char** argv) {
  conclave::actor_registry types;
  conclave::register_example_actors(types);
  return conclave::run_node(argc, argv, types);
}
