#include "actors/tcp_listener.hpp"

#include <caf/io/middleman.hpp>

namespace conclave {

std::variant<tcp_listener, std::string>
spawn_tcp_listener(caf::actor_system& sys, const std::string& bind_address,
                   uint16_t port,
                   std::function<caf::behavior(caf::io::broker*)> behavior) {
  auto doorman = sys.middleman().backend().new_tcp_doorman(
    port, bind_address.empty() ? nullptr : bind_address.c_str(), true);
  if (!doorman)
    return sys.render(doorman.error());
  tcp_listener out;
  out.port = (*doorman)->port();
  out.broker = caf::actor_cast<caf::actor>(sys.middleman().spawn_broker(
    [dm = std::move(*doorman),
     behavior = std::move(behavior)](caf::io::broker* self) mutable {
      self->add_doorman(std::move(dm));
      return behavior(self);
    }));
  return out;
}

} // namespace conclave
