#include "actors/election_actor.hpp"

#include "runtime/logging.hpp"

namespace conclave {

namespace {

using self_ptr = election_actor::stateful_pointer<election_state>;

/// A leader hands over to the preferred node once that one is reachable
/// and has every entry the leader has.
void check_preferred_leader(self_ptr self) {
  auto& st = self->state;
  if (st.backoff_checks > 0) {
    --st.backoff_checks;
    return;
  }
  auto preferred = st.preferred_leader;
  if (preferred.value() == 0 || preferred == st.self_id
      || st.current.role() != "leader")
    return;
  self->request(st.log, st.policy_interval, status_atom::value)
    .then(
      [=](const pb::NodeStatus& status) {
        auto& st = self->state;
        if (status.role() != "leader")
          return;
        for (const auto& p : status.peers()) {
          if (p.node_id() != preferred.value())
            continue;
          if (!p.reachable() || p.match_index() < status.last_log_index())
            return; // not healthy or not caught up: stay
          CONCLAVE_LOG("election", info)
            << "handing leadership to the preferred leader, node " << preferred;
          // If it does not lead by the next checks, wait ten intervals.
          st.backoff_checks = 10;
          self
            ->request(st.log, st.policy_interval, transfer_atom::value,
                      preferred.value(), false)
            .then([](uint64_t) {},
                  [=](const caf::error& err) {
                    CONCLAVE_LOG("election", warning)
                      << "cannot hand leadership to node " << preferred << ": "
                      << self->system().render(err);
                  });
        }
      },
      [](const caf::error&) {
        // The next check asks again.
      });
}

} // namespace

election_actor::behavior_type
election(election_actor::stateful_pointer<election_state> self, node_id id,
         std::chrono::milliseconds tick_interval, log_actor log,
         node_id preferred_leader, std::chrono::milliseconds policy_interval) {
  auto& st = self->state;
  st.self_id = id;
  st.log = std::move(log);
  st.tick_interval = tick_interval;
  st.preferred_leader = preferred_leader;
  st.policy_interval = policy_interval;
  self->send(self, tick_atom::value);
  if (preferred_leader.value() != 0 && preferred_leader != id)
    self->delayed_send(self, policy_interval, policy_atom::value);
  return {
    [=](leader_atom, const pb::Leadership& leadership) {
      auto& st = self->state;
      auto leader_changed = leadership.leader_id() != st.current.leader_id()
                            || leadership.term() != st.current.term();
      if (leader_changed || leadership.role() != st.current.role()) {
        ++st.changes;
        if (leadership.leader_id() == 0)
          CONCLAVE_LOG("election", info)
            << "term " << leadership.term() << ": no leader known, role "
            << leadership.role();
        else
          CONCLAVE_LOG("election", info)
            << "term " << leadership.term() << ": leader is node "
            << leadership.leader_id() << ", role " << leadership.role();
      }
      st.current = leadership;
      if (st.sessions)
        self->send(st.sessions, leader_atom::value, leadership);
    },
    [=](tick_atom) {
      self->send(self->state.log, tick_atom::value);
      self->delayed_send(self, self->state.tick_interval, tick_atom::value);
    },
    [=](policy_atom) {
      if (self->current_sender().get() != self->ctrl())
        return;
      check_preferred_leader(self);
      self->delayed_send(self, self->state.policy_interval, policy_atom::value);
    },
    [=](connect_atom, session_actor sessions) {
      self->state.sessions = std::move(sessions);
      self->send(self->state.sessions, leader_atom::value, self->state.current);
    },
    [=](transfer_atom, uint64_t target) {
      // The log actor knows the followers' progress (and forwards the
      // request to the leader when this node is not it); it picks the most
      // up-to-date follower for target 0.
      return self->delegate(self->state.log, transfer_atom::value, target,
                            false);
    },
  };
}

} // namespace conclave
