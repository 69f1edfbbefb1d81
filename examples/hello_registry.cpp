// hello_registry: register a service instance with Conclave and list it.
//
//   hello_registry [HOST:PORT[,HOST:PORT...]]      (default 127.0.0.1:4181)
//
// The instance is the ephemeral znode /services/hello/<pid>: it exists as
// long as this program's session does, and vanishes when the program exits
// (or, if it is killed, when its session times out). See
// examples/service_subscriber.cpp for the other side: an actor that hears
// instances come and go.
#include <unistd.h>

#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"
#include "runtime/blocking_client.hpp"

using namespace conclave;

int main(int argc, char** argv) {
  client_options opts;
  opts.servers = parse_server_list(argc > 1 ? argv[1] : "127.0.0.1:4181");
  if (opts.servers.empty()) {
    std::cerr << "usage: hello_registry [HOST:PORT[,HOST:PORT...]]\n";
    return 2;
  }
  caf::actor_system_config cfg;
  announce_message_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  blocking_client client{sys, opts};
  auto me = client.register_service("hello", std::to_string(::getpid()),
                                    "127.0.0.1:8080", {{"version", "1.0"}});
  if (!me) {
    std::cerr << "cannot register: " << me.message << '\n';
    return 1;
  }
  std::cout << "registered " << me.value << '\n';
  auto instances = client.discover("hello");
  if (!instances) {
    std::cerr << "cannot list: " << instances.message << '\n';
    return 1;
  }
  std::cout << "instances of hello:\n";
  for (const auto& i : instances.value)
    std::cout << "  " << i.id() << " at " << i.endpoint() << " (version "
              << i.metadata().at("version") << ")\n";
  return 0;
}
