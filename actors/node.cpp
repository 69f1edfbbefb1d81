#include "actors/node.hpp"

#include <optional>
#include <thread>

#include <caf/scoped_actor.hpp>

#include "actors/supervisor.hpp"
#include "runtime/logging.hpp"
#include "runtime/supervision_plan.hpp"

namespace conclave {

std::variant<node_handles, start_error>
start_node(caf::actor_system& sys, const node_config& cfg,
           const actor_registry& types) {
  auto children = std::make_shared<node_actors>(sys, cfg, types);
  if (auto err = children->check_custom_actors())
    return *err;
  std::vector<std::string> custom;
  for (const auto& actor : cfg.actors)
    custom.push_back(actor.name);
  auto plan = supervision_plan::for_node(cfg.admin_server == "on", custom);
  const auto& specs = plan.children();
  for (size_t i = 0; i < specs.size(); ++i) {
    if (auto err = children->start(specs[i].name)) {
      for (size_t j = i; j-- > 0;)
        children->stop(specs[j].name, std::chrono::seconds(10));
      return *err;
    }
  }
  node_handles node;
  node.ports = children->ports();
  node.supervisor = sys.spawn<caf::detached>(supervisor, children);
  CONCLAVE_LOG("node", info)
    << "node " << cfg.id << " serving native clients on " << cfg.bind_address
    << ":" << node.ports.client << ", ZooKeeper clients on port "
    << node.ports.zk << ", peers on port " << node.ports.peer;
  return node;
}

hand_over_result hand_over_leadership(caf::actor_system& sys,
                                      const node_handles& node,
                                      std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  log_actor log;
  self
    ->request(node.supervisor, timeout, caf::get_atom::value,
              std::string{"log"})
    .receive(
      [&](const caf::strong_actor_ptr& ptr) {
        log = caf::actor_cast<log_actor>(ptr);
      },
      [](const caf::error&) {});
  if (!log)
    return hand_over_result{};
  return hand_over_leadership(sys, log, timeout);
}

hand_over_result hand_over_leadership(caf::actor_system& sys,
                                      const log_actor& log,
                                      std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  hand_over_result out;
  auto started = clock::now();
  auto deadline = started + timeout;
  caf::scoped_actor self{sys};
  auto status = [&]() -> std::optional<pb::NodeStatus> {
    std::optional<pb::NodeStatus> result;
    self->request(log, timeout, status_atom::value)
      .receive([&](const pb::NodeStatus& s) { result = s; },
               [](const caf::error&) {});
    return result;
  };
  auto before = status();
  if (!before || before->role() != "leader" || before->peers_size() == 0)
    return out;
  out.was_leader = true;
  auto self_id = before->node_id();
  std::string why;
  self->request(log, timeout, transfer_atom::value, uint64_t{0}, false)
    .receive(
      [&](uint64_t target) {
        CONCLAVE_LOG("node", info) << "handing leadership to node " << target;
      },
      [&](const caf::error& err) { why = sys.render(err); });
  if (!why.empty()) {
    CONCLAVE_LOG("node", warning) << "not handing over leadership: " << why;
    return out;
  }
  // The old leader learns of the new one from its first heartbeat.
  while (clock::now() < deadline) {
    auto now = status();
    if (now && now->leader_id() != 0 && now->leader_id() != self_id) {
      out.new_leader = now->leader_id();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now()
                                                                   - started);
  if (out.new_leader != 0)
    CONCLAVE_LOG("node", info) << "node " << out.new_leader << " leads after "
                               << out.took.count() << " ms";
  else
    CONCLAVE_LOG("node", warning)
      << "no other node took over within " << timeout.count() << " ms";
  return out;
}

bool stop_node(caf::actor_system& sys, node_handles& node,
               std::chrono::milliseconds timeout) {
  if (!node.supervisor)
    return true;
  caf::scoped_actor self{sys};
  self->monitor(node.supervisor);
  caf::anon_send_exit(node.supervisor, caf::exit_reason::user_shutdown);
  bool stopped = false;
  self->receive([&](const caf::down_msg&) { stopped = true; },
                caf::after(timeout) >> [] {});
  node = node_handles{};
  return stopped;
}

} // namespace conclave
