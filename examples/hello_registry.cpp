// hello_registry: register a service instance with Conclave and list it.
//
//   hello_registry [HOST:PORT[,HOST:PORT...]]      (default 127.0.0.1:4181)
//
// The instance is an ephemeral znode under /services/hello: it exists as
// long as this program's session does, and vanishes when the program exits.
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"
#include "runtime/blocking_client.hpp"

using namespace conclave;

namespace {

/// Creates a persistent znode unless it is already there.
bool ensure(blocking_client& client, const char* path) {
  auto r = client.create(path, "");
  if (r || r.error == error_code::node_exists)
    return true;
  std::cerr << "cannot create " << path << ": " << r.message << '\n';
  return false;
}

} // namespace

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
  if (!ensure(client, "/services") || !ensure(client, "/services/hello"))
    return 1;
  // Register this process: an ephemeral-sequential node holding its endpoint.
  auto me = client.create("/services/hello/instance-",
                          R"({"endpoint":"127.0.0.1:8080"})",
                          create_mode::ephemeral_sequential);
  if (!me) {
    std::cerr << "cannot register: " << me.message << '\n';
    return 1;
  }
  std::cout << "registered " << me.value << '\n';
  auto instances = client.children("/services/hello");
  if (!instances) {
    std::cerr << "cannot list: " << instances.message << '\n';
    return 1;
  }
  std::cout << "instances of hello:\n";
  for (const auto& name : instances.value.names) {
    auto data = client.get("/services/hello/" + name);
    std::cout << "  " << name << ' ' << (data ? data.value.data : "?") << '\n';
  }
  return 0;
}
