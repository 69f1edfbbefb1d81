#include "actors/election_actor.hpp"

#include "runtime/logging.hpp"

namespace conclave {

election_actor::behavior_type
election(election_actor::stateful_pointer<election_state> self, node_id id,
         std::chrono::milliseconds tick_interval, log_actor log) {
  auto& st = self->state;
  st.self_id = id;
  st.log = std::move(log);
  st.tick_interval = tick_interval;
  self->send(self, tick_atom::value);
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
