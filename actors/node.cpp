#include "actors/node.hpp"

#include <caf/io/middleman.hpp>

#include "actors/log_actor.hpp"
#include "actors/registry_actor.hpp"
#include "actors/session_actor.hpp"
#include "runtime/logging.hpp"

namespace conclave {

caf::expected<node_handles> start_node(caf::actor_system& sys,
                                       const node_config& cfg) {
  node_handles node;
  data_tree_limits tree_limits;
  tree_limits.max_data_bytes = cfg.max_data_bytes;
  tree_limits.max_path_bytes = cfg.max_path_bytes;
  session_limits limits;
  limits.max_data_bytes = cfg.max_data_bytes;
  limits.max_request_bytes = cfg.max_request_bytes;
  limits.max_multi_ops = cfg.max_multi_ops;
  limits.max_pending_requests = cfg.max_pending_requests;
  limits.max_connections = cfg.max_connections;
  node.registry = sys.spawn(registry, cfg.id, tree_limits);
  node.log = sys.spawn(commit_log, cfg.id, node.registry,
                       clock_fn{system_clock_ms});
  node.session = sys.spawn(session_manager, cfg.id, limits, node.registry,
                           node.log, system_clock_ms());
  caf::anon_send(node.registry, connect_atom::value, node.session);
  auto bind = cfg.bind_address.empty() ? nullptr : cfg.bind_address.c_str();
  auto port = sys.middleman().publish(node.session, cfg.client_port, bind,
                                      false);
  if (!port) {
    stop_node(sys, node);
    return caf::make_error(
      caf::sec::cannot_open_port,
      "conclave.client-port: cannot listen on " + cfg.bind_address + ":"
        + std::to_string(cfg.client_port) + ": " + sys.render(port.error()));
  }
  node.client_port = *port;
  CONCLAVE_LOG("node", info)
    << "node " << cfg.id << " serving native clients on " << cfg.bind_address
    << ":" << node.client_port;
  return node;
}

void stop_node(caf::actor_system& sys, node_handles& node) {
  if (node.client_port != 0)
    sys.middleman().unpublish(node.session, node.client_port);
  for (auto hdl : {caf::actor_cast<caf::actor>(node.session),
                   caf::actor_cast<caf::actor>(node.log),
                   caf::actor_cast<caf::actor>(node.registry)})
    if (hdl)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  node = node_handles{};
}

} // namespace conclave
