#include "actors/election_actor.hpp"

#include "actors/fault_injection.hpp"
#include "actors/local_sender.hpp"

#include <string>

#include "runtime/logging.hpp"

namespace conclave {

namespace {

using self_ptr = election_actor::stateful_pointer<election_state>;

/// Hands leadership to `target` (0: the most up-to-date reachable
/// follower) and backs off.
void hand_over(self_ptr self, uint64_t target, const std::string& why) {
  auto& st = self->state;
  CONCLAVE_LOG("election", warning)
    << "handing leadership over"
    << (target == 0 ? std::string{} : " to node " + std::to_string(target))
    << ": " << why;
  st.backoff_checks = 10;
  self->request(st.log, st.policy.interval, transfer_atom::value, target, false)
    .then([](uint64_t) {},
          [=](const caf::error& err) {
            CONCLAVE_LOG("election", warning)
              << "cannot hand leadership over: " << self->system().render(err);
          });
}

/// The policy, on a leader's status (see the top of election_actor.hpp).
void apply_policy(self_ptr self, const pb::NodeStatus& status) {
  auto& st = self->state;
  const auto& policy = st.policy;
  if (status.role() != "leader")
    return;
  bool healthy_follower = false;
  for (const auto& p : status.peers())
    healthy_follower = healthy_follower || p.reachable();
  auto lag = status.commit_index() > status.applied_index()
               ? status.commit_index() - status.applied_index()
               : 0;
  st.lag_strikes = policy.max_apply_lag > 0 && status.applied_index() > 0
                       && lag > policy.max_apply_lag
                     ? st.lag_strikes + 1
                     : 0;
  if (healthy_follower && policy.max_persist_ms > 0
      && status.persist_count() > 0
      && status.persist_ewma_ms() > policy.max_persist_ms) {
    hand_over(self, 0,
              "durable writes take " + std::to_string(status.persist_ewma_ms())
                + " ms on average (conclave.leader-max-persist-ms = "
                + std::to_string(policy.max_persist_ms) + ")");
    return;
  }
  if (healthy_follower && st.lag_strikes >= 2) {
    hand_over(self, 0,
              "the tree trails the commit index by " + std::to_string(lag)
                + " entries (conclave.leader-max-apply-lag = "
                + std::to_string(policy.max_apply_lag) + ")");
    return;
  }
  auto preferred = policy.preferred_leader;
  if (preferred.value() == 0 || preferred == st.self_id)
    return;
  for (const auto& p : status.peers())
    if (p.node_id() == preferred.value() && p.reachable()
        && p.match_index() >= status.last_log_index())
      hand_over(self, preferred.value(), "it is the preferred leader");
}

void policy_check(self_ptr self) {
  auto& st = self->state;
  if (st.backoff_checks > 0) {
    --st.backoff_checks;
    return;
  }
  if (st.current.role() != "leader") {
    st.lag_strikes = 0;
    return;
  }
  auto failed = [](const caf::error&) {
    // The next check asks again.
  };
  if (st.sessions) // the merged status: Raft and the tree's applied index
    self->request(st.sessions, st.policy.interval, status_atom::value)
      .then([=](const pb::NodeStatus& s) { apply_policy(self, s); }, failed);
  else
    self->request(st.log, st.policy.interval, status_atom::value)
      .then([=](const pb::NodeStatus& s) { apply_policy(self, s); }, failed);
}

} // namespace

election_actor::behavior_type
election(election_actor::stateful_pointer<election_state> self, node_id id,
         std::chrono::milliseconds tick_interval, log_actor log,
         election_policy policy) {
  auto& st = self->state;
  st.self_id = id;
  st.log = std::move(log);
  st.tick_interval = tick_interval;
  st.policy = policy;
  self->send(self, tick_atom::value);
  self->delayed_send(self, policy.interval, policy_atom::value);
  return {
    [=](fault_atom, const std::string& kind) { inject_fault(self, kind); },
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
      policy_check(self);
      self->delayed_send(self, self->state.policy.interval, policy_atom::value);
    },
    [=](connect_atom, session_actor sessions) {
      if (!from_this_process(self))
        return;
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
