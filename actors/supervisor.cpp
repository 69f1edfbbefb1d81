#include "actors/supervisor.hpp"

#include <caf/stateful_actor.hpp>

#include "actors/clock.hpp"
#include "actors/node.hpp"
#include "runtime/fault_spec.hpp"
#include "runtime/logging.hpp"

namespace conclave {

namespace {

using self_ptr = supervisor_actor::stateful_pointer<supervisor_state>;

void watch(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto& c = st.by_name[name];
  c.handle = st.children->handle(name);
  c.probing = false;
  c.answered = false;
  if (c.handle) {
    self->monitor(c.handle);
    st.by_address[c.handle.address()] = name;
  }
}

void unwatch(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto& c = st.by_name[name];
  if (c.handle) {
    self->demonitor(c.handle);
    st.by_address.erase(c.handle.address());
    c.handle = nullptr;
  }
}

pb::NodeStatus restart_counts(const supervisor_state& st) {
  pb::NodeStatus out;
  for (const auto& spec : st.plan.children()) {
    auto i = st.by_name.find(spec.name);
    auto entry = out.add_restarts();
    entry->set_actor(spec.name);
    if (i != st.by_name.end()) {
      entry->set_restarts(i->second.restarts);
      entry->set_last_reason(i->second.last_reason);
    }
  }
  return out;
}

/// Children that must be gone before their replacement starts (the others
/// are harmless if an old instance wakes up late: it exits first thing).
bool must_be_gone(const std::string& name) {
  return name == "registry" || name == "storage" || name == "log"
         || name == "session";
}

/// Stops every child, last started first, and exits with `reason`.
void shut_down(self_ptr self, const caf::error& reason) {
  auto& st = self->state;
  auto& specs = st.plan.children();
  for (auto i = specs.rbegin(); i != specs.rend(); ++i) {
    unwatch(self, i->name);
    st.children->stop(i->name, st.hang_timeout);
  }
  self->quit(reason);
}

void give_up(self_ptr self, const std::string& why) {
  CONCLAVE_LOG("supervisor", error)
    << "node " << self->state.children->config().id << " shuts down: " << why;
  shut_down(self, caf::make_error(caf::sec::runtime_error, why));
}

/// Restarts `failed` and what its plan ties to it.
/// A custom actor that keeps failing (or cannot be started again) is
/// switched off; the node serves on without it.
void disable_custom(self_ptr self, const std::string& name,
                    const std::string& why) {
  auto& st = self->state;
  unwatch(self, name);
  st.children->stop(name, st.hang_timeout);
  st.by_name[name].last_reason = "disabled: " + why;
  CONCLAVE_LOG("supervisor", error)
    << "custom actor '" << name << "' is disabled: " << why;
  st.children->set_restarts(restart_counts(st));
}

void restart(self_ptr self, const std::string& failed, const std::string& why) {
  auto& st = self->state;
  auto set = st.plan.restart_set(failed);
  auto& c = st.by_name[failed];
  c.last_reason = why;
  // Custom actors spend budgets of their own, and one that cannot go on is
  // disabled: a user's actor must not take the coordination service down
  // with it. The node's own actors share the node's budget; when they
  // cannot go on, neither can the node.
  bool custom = st.custom.count(failed) > 0;
  auto& budget = custom ? st.custom_budgets
                            .try_emplace(failed, st.budget->max_restarts(),
                                         st.budget->window_ms())
                            .first->second
                        : *st.budget;
  auto cannot_go_on = [&](const std::string& what) {
    if (custom)
      disable_custom(self, failed, what);
    else
      give_up(self, what);
  };
  if (!budget.spend(steady_clock_ms())) {
    cannot_go_on("actor '" + failed + "' failed (" + why + ") and "
                 + std::to_string(budget.max_restarts()) + " restarts within "
                 + std::to_string(budget.window_ms())
                 + " ms already used its restart budget "
                   "(supervisor-max-restarts)");
    return;
  }
  std::string others;
  for (const auto& name : set)
    if (name != failed)
      others += (others.empty() ? "" : ", ") + name;
  CONCLAVE_LOG("supervisor", warning)
    << "actor '" << failed << "' failed (" << why << "); restart "
    << c.restarts + 1 << ", " << st.plan.policy_of(failed)
    << (others.empty() ? std::string{} : " with " + others);
  if (failed == "registry") {
    // The log actor still runs: if it leads, it hands leadership over
    // first, so that the cluster does not wait out an election timeout
    // while this node restarts its core (as a graceful stop does). A failed
    // storage worker takes the log actor with it, and a failed log actor
    // cannot hand anything over.
    auto log = caf::actor_cast<log_actor>(st.children->handle("log"));
    auto timeout = std::chrono::milliseconds(
      2 * st.children->config().election_timeout_ms);
    if (log) {
      auto handed = hand_over_leadership(self->system(), log, timeout);
      if (handed.new_leader != 0)
        CONCLAVE_LOG("supervisor", info)
          << "handed leadership to node " << handed.new_leader
          << " before restarting the core";
    }
  }
  for (auto i = set.rbegin(); i != set.rend(); ++i) {
    unwatch(self, *i);
    auto gone = st.children->stop(*i, st.hang_timeout);
    if (!gone && must_be_gone(*i)) {
      // A second live instance could act on stale state: a storage worker
      // writing files reopened meanwhile, a log actor peers keep talking
      // to, a session actor expiring sessions it stopped hearing about.
      give_up(self, "actor '" + *i + "' does not stop (hung for more than "
                      + std::to_string(st.hang_timeout.count())
                      + " ms after being told to); refusing to start a second "
                        "one");
      return;
    }
  }
  for (const auto& name : set) {
    if (auto err = st.children->start(name)) {
      cannot_go_on("cannot restart actor '" + name + "': " + err->message);
      return;
    }
    watch(self, name);
    auto& restarted = st.by_name[name];
    ++restarted.restarts;
    if (name != failed)
      restarted.last_reason = "restarted with " + failed;
  }
  CONCLAVE_LOG("supervisor", info)
    << "actor '" << failed << "' restarted (" << c.restarts << " restart"
    << (c.restarts == 1 ? "" : "s") << " so far)";
  st.children->set_restarts(restart_counts(st));
}

void probe(self_ptr self) {
  auto& st = self->state;
  for (auto& [name, c] : st.by_name) {
    if (!c.handle || c.probing)
      continue;
    c.probing = true;
    auto probed = c.handle.address();
    self
      ->request(c.handle, st.hang_timeout, caf::sys_atom::value,
                caf::get_atom::value, std::string{"info"})
      .then(
        [=, name = name](caf::ok_atom, const std::string&,
                         const caf::strong_actor_ptr&, const std::string&) {
          auto i = self->state.by_name.find(name);
          if (i != self->state.by_name.end()
              && i->second.handle.address() == probed) {
            i->second.probing = false;
            i->second.answered = true;
          }
        },
        [=, name = name](const caf::error& err) {
          auto& st = self->state;
          auto i = st.by_name.find(name);
          if (i == st.by_name.end() || i->second.handle.address() != probed)
            return; // restarted meanwhile
          i->second.probing = false;
          if (err == caf::sec::request_timeout && i->second.answered)
            restart(self, name,
                    "hung: no answer to a liveness probe within "
                      + std::to_string(st.hang_timeout.count()) + " ms");
          // Any other error means it is gone; its down message follows.
        });
  }
}

} // namespace

supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           std::shared_ptr<node_actors> children) {
  auto& st = self->state;
  const auto& cfg = children->config();
  st.children = std::move(children);
  std::vector<std::string> custom;
  for (const auto& actor : cfg.actors) {
    custom.push_back(actor.name);
    st.custom.insert(actor.name);
  }
  st.plan = supervision_plan::for_node(cfg.admin_server == "on", custom);
  st.budget.emplace(cfg.supervisor_max_restarts,
                    static_cast<int64_t>(cfg.supervisor_restart_window_ms));
  st.probe_interval
    = std::chrono::milliseconds(cfg.supervisor_probe_interval_ms);
  st.hang_timeout = std::chrono::milliseconds(cfg.supervisor_hang_timeout_ms);
  st.fault_injection = cfg.fault_injection == "on";
  if (st.fault_injection)
    CONCLAVE_LOG("supervisor", warning)
      << "fault injection is on (conclave.fault-injection): any client may "
         "make this node's actors fail";
  for (const auto& spec : st.plan.children())
    watch(self, spec.name);
  st.children->set_supervisor(self);
  st.children->set_restarts(restart_counts(st));
  self->set_down_handler([=](const caf::down_msg& msg) {
    auto& st = self->state;
    auto i = st.by_address.find(msg.source);
    if (i == st.by_address.end())
      return;
    auto name = i->second;
    st.by_address.erase(i);
    st.by_name[name].handle = nullptr;
    if (st.custom.count(name) > 0 && msg.reason == caf::exit_reason::normal) {
      CONCLAVE_LOG("supervisor", info)
        << "actor '" << name << "' finished; not restarting it";
      st.children->stop(name, st.hang_timeout); // and its client
      return;
    }
    restart(self, name,
            msg.reason ? self->system().render(msg.reason)
                       : std::string{"exited"});
  });
  // A stop request: every child goes, in reverse start order.
  self->set_exit_handler(
    [=](const caf::exit_msg& msg) { shut_down(self, msg.reason); });
  self->delayed_send(self, st.probe_interval, probe_atom::value);
  return {
    [=](caf::get_atom, const std::string& name) -> caf::strong_actor_ptr {
      return caf::actor_cast<caf::strong_actor_ptr>(
        self->state.children->handle(name));
    },
    [=](status_atom) { return restart_counts(self->state); },
    [=](fault_atom, const std::string& name,
        const std::string& kind) -> caf::result<bool> {
      auto& st = self->state;
      if (!st.fault_injection)
        return caf::make_error(caf::sec::runtime_error,
                               "fault injection is off "
                               "(conclave.fault-injection)");
      if (!parse_fault(kind))
        return caf::make_error(caf::sec::invalid_argument,
                               "expected a fault of throw, exit or block:MS, "
                               "got '"
                                 + kind + "'");
      auto hdl = st.children->handle(name);
      if (!hdl)
        return caf::make_error(caf::sec::invalid_argument,
                               "no running actor '" + name + "'");
      if (st.custom.count(name) > 0) {
        // A custom actor has no fault handler of ours: it is made to fail
        // from outside, with an error exit.
        if (parse_fault(kind)->what == fault_spec::kind::block)
          return caf::make_error(caf::sec::invalid_argument,
                                 "a custom actor takes throw or exit only");
        CONCLAVE_LOG("supervisor", warning)
          << "injected fault in " << name << ": " << kind;
        send_exit(hdl, caf::make_error(caf::sec::runtime_error,
                                       "injected fault (" + kind + ")"));
        return true;
      }
      // With the supervisor as sender: the actors take faults only from
      // this process (a typed actor cannot send() to an untyped handle,
      // which is what the listeners have).
      hdl->enqueue(caf::make_mailbox_element(self->ctrl(),
                                             caf::make_message_id(), {},
                                             fault_atom::value, kind),
                   self->context());
      return true;
    },
    [=](probe_atom) {
      probe(self);
      self->delayed_send(self, self->state.probe_interval, probe_atom::value);
    },
  };
}

} // namespace conclave
