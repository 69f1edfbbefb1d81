#include "actors/session_actor.hpp"

#include <chrono>
#include <string>

#include "runtime/command_codec.hpp"
#include "runtime/logging.hpp"

namespace conclave {

namespace {

using self_ptr = session_actor::stateful_pointer<session_state>;

constexpr auto sweep_interval = std::chrono::seconds(1);

/// Checks a write against the limits; an empty string means it passes.
std::string check_limits(const session_limits& limits,
                         const command_body& body) {
  auto check_data = [&](const std::string& data) -> std::string {
    if (data.size() <= limits.max_data_bytes)
      return {};
    return "data of " + std::to_string(data.size())
           + " bytes exceeds max-data-bytes ("
           + std::to_string(limits.max_data_bytes) + ")";
  };
  auto check_op = [&](const auto& op) -> std::string {
    using op_type = std::decay_t<decltype(op)>;
    if constexpr (std::is_same_v<
                    op_type, create_op> || std::is_same_v<op_type, set_data_op>)
      return check_data(op.data);
    else
      return {};
  };
  if (auto multi = std::get_if<multi_op>(&body)) {
    if (multi->ops.size() > limits.max_multi_ops)
      return "multi of " + std::to_string(multi->ops.size())
             + " ops exceeds max-multi-ops ("
             + std::to_string(limits.max_multi_ops) + ")";
    for (const auto& op : multi->ops)
      if (auto err = std::visit(check_op, op); !err.empty())
        return err;
    return {};
  }
  return std::visit(
    [&](const auto& op) -> std::string {
      using op_type = std::decay_t<decltype(op)>;
      if constexpr (std::is_same_v<
                      op_type,
                      multi_op> || std::is_same_v<op_type, close_session_op>)
        return {};
      else
        return check_op(op);
    },
    body);
}

/// Answers and forgets pending write `rid`, if it is still waiting.
void finish(self_ptr self, uint64_t rid, pb::Response resp) {
  auto i = self->state.pending.find(rid);
  if (i == self->state.pending.end())
    return;
  i->second.promise.deliver(std::move(resp));
  self->state.pending.erase(i);
}

/// Proposes `cmd`; `rp` (if valid) receives the applied result. Returns the
/// request id the result will carry.
uint64_t propose(self_ptr self, command cmd,
                 caf::typed_response_promise<pb::Response> rp) {
  auto& st = self->state;
  auto rid = st.next_request_id++;
  if (rp.pending())
    st.pending.emplace(
      rid, pending_write{rp, st.clock() + st.limits.request_timeout_ms});
  pb::Proposal proposal;
  proposal.set_origin_node(st.self_id.value());
  proposal.set_request_id(rid);
  *proposal.mutable_command() = encode(cmd);
  self
    ->request(st.log, std::chrono::milliseconds(st.limits.request_timeout_ms),
              propose_atom::value, std::move(proposal))
    .then([](uint64_t) {},
          [=](const caf::error& err) {
            // Not (or no longer) at a leader: nothing was appended.
            auto resp = error_response(error_code::connection_loss,
                                       "write not accepted: "
                                         + self->system().render(err));
            resp.set_retry(true);
            finish(self, rid, std::move(resp));
          });
  return rid;
}

/// Proposes closing session `sid` (again); the sweep retries it until the
/// registry reports it applied.
void propose_close(self_ptr self, int64_t sid,
                   caf::typed_response_promise<pb::Response> rp) {
  auto& st = self->state;
  auto rid = propose(self, command{session_id{sid}, close_session_op{}},
                     std::move(rp));
  st.closing[sid] = {rid, st.clock() + st.limits.request_timeout_ms};
}

/// Ends the session of `client`, removing its ephemerals.
void close_session(self_ptr self, const caf::actor_addr& client,
                   caf::typed_response_promise<pb::Response> rp) {
  auto i = self->state.sessions.find(client);
  if (i == self->state.sessions.end()) {
    if (rp.pending())
      rp.deliver(pb::Response{});
    return;
  }
  auto sid = i->second;
  self->state.sessions.erase(i);
  self->state.leadership_subscribers.erase(client);
  CONCLAVE_LOG("session", debug) << "closing session 0x" << std::hex << sid;
  propose_close(self, sid, std::move(rp));
}

pb::Response system_error(self_ptr self, const caf::error& err) {
  return error_response(error_code::connection_loss,
                        self->system().render(err));
}

/// Merges the log's and the registry's figures into one status response.
caf::result<pb::Response> status(self_ptr self) {
  auto rp = self->make_response_promise<pb::Response>();
  self->request(self->state.log, caf::infinite, status_atom::value)
    .then(
      [=](pb::NodeStatus& log_status) mutable {
        self->request(self->state.registry, caf::infinite, status_atom::value)
          .then(
            [=](const pb::NodeStatus& reg) mutable {
              log_status.set_applied_index(reg.applied_index());
              log_status.set_znode_count(reg.znode_count());
              log_status.set_ephemeral_count(reg.ephemeral_count());
              log_status.set_approximate_data_bytes(
                reg.approximate_data_bytes());
              log_status.set_digest(reg.digest());
              log_status.set_session_count(self->state.sessions.size());
              log_status.set_version(CONCLAVE_VERSION);
              pb::Response resp;
              resp.set_zxid(static_cast<int64_t>(reg.applied_index()));
              *resp.mutable_status() = std::move(log_status);
              rp.deliver(std::move(resp));
            },
            [=](const caf::error& err) mutable {
              rp.deliver(system_error(self, err));
            });
      },
      [=](const caf::error& err) mutable {
        rp.deliver(system_error(self, err));
      });
  return rp;
}

/// A linearizable read (or sync): confirm leadership via ReadIndex, then
/// read once this node has applied that index.
caf::result<pb::Response> linearizable_read(self_ptr self, pb::Request req) {
  auto rp = self->make_response_promise<pb::Response>();
  self->request(self->state.log, caf::infinite, read_index_atom::value)
    .then(
      [=](uint64_t index) mutable {
        auto min
          = std::max<int64_t>(req.min_zxid(), static_cast<int64_t>(index));
        req.set_min_zxid(min);
        self
          ->request(self->state.registry, caf::infinite, read_atom::value,
                    std::move(req))
          .then([=](pb::Response& resp) mutable { rp.deliver(resp); },
                [=](const caf::error& err) mutable {
                  rp.deliver(system_error(self, err));
                });
      },
      [=](const caf::error& err) mutable {
        auto resp = error_response(error_code::connection_loss,
                                   "cannot confirm leadership: "
                                     + self->system().render(err));
        resp.set_retry(true);
        rp.deliver(std::move(resp));
      });
  return rp;
}

caf::result<pb::Response> transfer_leader(self_ptr self, uint64_t target) {
  auto rp = self->make_response_promise<pb::Response>();
  self
    ->request(self->state.election, caf::infinite, transfer_atom::value, target)
    .then(
      [=](uint64_t chosen) mutable {
        pb::Response resp;
        resp.set_target(chosen);
        rp.deliver(std::move(resp));
      },
      [=](const caf::error& err) mutable {
        rp.deliver(
          error_response(error_code::system_error,
                         "transfer failed: " + self->system().render(err)));
      });
  return rp;
}

caf::result<pb::Response> handle_write(self_ptr self, int64_t sid,
                                       const pb::Request& req) {
  auto& st = self->state;
  auto body = write_of(req);
  if (!body)
    return error_response(body.error(), "malformed write request");
  if (auto err = check_limits(st.limits, *body); !err.empty())
    return error_response(error_code::bad_arguments, std::move(err));
  if (st.pending.size() >= st.limits.max_pending_requests)
    return error_response(error_code::throttled_op,
                          "node has max-pending-requests ("
                            + std::to_string(st.limits.max_pending_requests)
                            + ") writes in flight");
  auto rp = self->make_response_promise<pb::Response>();
  propose(self, command{session_id{sid}, std::move(body).value()}, rp);
  return rp;
}

} // namespace

int64_t initial_session_id(node_id id, int64_t start_ms) {
  auto time_bits = static_cast<uint64_t>(start_ms) << 24 >> 8;
  return static_cast<int64_t>(time_bits | (id.value() << 56));
}

session_actor::behavior_type
session_manager(session_actor::stateful_pointer<session_state> self, node_id id,
                session_limits limits, registry_actor registry, log_actor log,
                election_actor election, clock_fn clock) {
  auto& st = self->state;
  st.self_id = id;
  st.limits = limits;
  st.registry = std::move(registry);
  st.log = std::move(log);
  st.election = std::move(election);
  st.clock = std::move(clock);
  st.next_session_id = initial_session_id(id, st.clock());
  st.next_request_id = static_cast<uint64_t>(st.clock()) << 20;
  self->set_down_handler(
    [=](const caf::down_msg& msg) { close_session(self, msg.source, {}); });
  self->delayed_send(self, sweep_interval, sweep_atom::value);
  return {
    [=](hello_atom) -> caf::result<pb::Hello> {
      auto& st = self->state;
      auto client = caf::actor_cast<caf::actor_addr>(self->current_sender());
      pb::Hello hello;
      hello.set_node_id(st.self_id.value());
      hello.set_version(CONCLAVE_VERSION);
      if (auto i = st.sessions.find(client); i != st.sessions.end()) {
        hello.set_session_id(i->second);
        return hello;
      }
      if (st.sessions.size() >= st.limits.max_connections) {
        CONCLAVE_LOG("session", warning)
          << "refusing client: max-connections (" << st.limits.max_connections
          << ") reached";
        return caf::make_error(caf::sec::runtime_error,
                               "node at max-connections");
      }
      auto sid = st.next_session_id++;
      st.sessions.emplace(client, sid);
      self->monitor(self->current_sender());
      hello.set_session_id(sid);
      return hello;
    },
    [=](request_atom, pb::Request& req) -> caf::result<pb::Response> {
      auto& st = self->state;
      auto client = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto i = st.sessions.find(client);
      if (i == st.sessions.end())
        return error_response(error_code::session_expired,
                              "no session: say hello first");
      if (req.ByteSizeLong() > st.limits.max_request_bytes)
        return error_response(error_code::bad_arguments,
                              "request of " + std::to_string(req.ByteSizeLong())
                                + " bytes exceeds max-request-bytes ("
                                + std::to_string(st.limits.max_request_bytes)
                                + ")");
      switch (req.op_case()) {
        case pb::Request::kStatus:
          return status(self);
        case pb::Request::kTransferLeader:
          return transfer_leader(self, req.transfer_leader().target());
        case pb::Request::kSync:
          return linearizable_read(self, std::move(req));
        case pb::Request::kSubscribeLeadership: {
          st.leadership_subscribers[client]
            = caf::actor_cast<client_actor>(self->current_sender());
          pb::Response resp;
          *resp.mutable_leadership() = st.leadership;
          return resp;
        }
        case pb::Request::kGetEphemerals:
          req.mutable_get_ephemerals()->set_session_id(i->second);
          break;
        default:
          break;
      }
      if (is_write(req))
        return handle_write(self, i->second, req);
      if (req.linearizable())
        return linearizable_read(self, std::move(req));
      return self->delegate(st.registry, read_atom::value, std::move(req));
    },
    [=](bye_atom) -> caf::result<pb::Response> {
      auto client = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto rp = self->make_response_promise<pb::Response>();
      self->demonitor(client);
      close_session(self, client, rp);
      return rp;
    },
    [=](applied_atom, uint64_t request_id, pb::Response& resp) {
      auto& closing = self->state.closing;
      for (auto i = closing.begin(); i != closing.end(); ++i)
        if (i->second.first == request_id) {
          closing.erase(i);
          break;
        }
      finish(self, request_id, std::move(resp));
    },
    [=](leader_atom, const pb::Leadership& leadership) {
      self->state.leadership = leadership;
      for (const auto& [addr, subscriber] : self->state.leadership_subscribers)
        self->send(subscriber, leader_atom::value, leadership);
    },
    [=](sweep_atom) {
      auto& st = self->state;
      auto now = st.clock();
      std::vector<uint64_t> expired;
      for (const auto& [rid, w] : st.pending)
        if (w.deadline_ms <= now)
          expired.push_back(rid);
      // Closes that were refused (no leader) or lost in a leader change.
      std::vector<int64_t> retry;
      for (const auto& [sid, what] : st.closing)
        if (what.second <= now)
          retry.push_back(sid);
      for (auto sid : retry)
        propose_close(self, sid, {});
      for (auto rid : expired)
        finish(self, rid,
               error_response(error_code::operation_timeout,
                              "write not applied within request-timeout-ms ("
                                + std::to_string(st.limits.request_timeout_ms)
                                + "); its outcome is unknown"));
      self->delayed_send(self, sweep_interval, sweep_atom::value);
    },
  };
}

} // namespace conclave
