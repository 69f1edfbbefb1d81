#include "actors/log_actor.hpp"

#include <chrono>

namespace conclave {

int64_t system_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

log_actor::behavior_type commit_log(log_actor::stateful_pointer<log_state> self,
                             node_id id, registry_actor registry,
                             clock_fn clock) {
  self->state.self_id = id;
  self->state.registry = std::move(registry);
  self->state.clock = std::move(clock);
  return {
    [=](propose_atom, pb::Command& cmd, uint64_t request_id) -> uint64_t {
      auto& st = self->state;
      pb::LogBatch batch;
      auto entry = batch.add_entries();
      entry->set_index(++st.last_index);
      entry->set_term(1);
      entry->set_time_ms(st.clock());
      entry->set_origin_node(st.self_id.value());
      entry->set_request_id(request_id);
      *entry->mutable_command() = std::move(cmd);
      self->send(st.registry, apply_atom::value, std::move(batch));
      return st.last_index;
    },
    [=](status_atom) {
      pb::NodeStatus st;
      st.set_node_id(self->state.self_id.value());
      st.set_role("standalone");
      st.set_term(1);
      st.set_leader_id(self->state.self_id.value());
      st.set_commit_index(self->state.last_index);
      st.set_last_log_index(self->state.last_index);
      return st;
    },
  };
}

} // namespace conclave
