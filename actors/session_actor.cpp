#include "actors/session_actor.hpp"

#include "actors/fault_injection.hpp"
#include "actors/local_sender.hpp"
#include "messages/proposal_refused.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "runtime/command_codec.hpp"
#include "runtime/logging.hpp"
#include "runtime/path.hpp"
#include "runtime/session_table.hpp"

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
      if constexpr (names_a_path_v<op_type>)
        return check_op(op);
      else
        return {};
    },
    body);
}

bool has_leader(const session_state& st) {
  return st.leadership.leader_id() != 0;
}

/// Answers and forgets pending write `rid`, if it is still waiting.
void finish(self_ptr self, uint64_t rid, pb::Response resp) {
  auto i = self->state.pending.find(rid);
  if (i == self->state.pending.end())
    return;
  auto done = std::move(i->second.done);
  self->state.pending.erase(i);
  done(std::move(resp));
}

/// Proposes `cmd`; `done` (if set) receives the applied result. Only the
/// leader appends a proposal marked `leader_only`; a follower refuses it
/// instead of forwarding it. Returns the request id the result will carry.
uint64_t propose(self_ptr self, command cmd,
                 std::function<void(pb::Response&&)> done,
                 bool leader_only = false) {
  auto& st = self->state;
  auto rid = st.next_request_id++;
  if (done)
    st.pending.emplace(
      rid, pending_write{std::move(done),
                         st.clock() + st.limits.request_timeout_ms});
  pb::Proposal proposal;
  proposal.set_origin_node(st.self_id.value());
  proposal.set_request_id(rid);
  proposal.set_forwarded(leader_only);
  *proposal.mutable_command() = encode(cmd);
  self
    ->request(st.log, std::chrono::milliseconds(st.limits.request_timeout_ms),
              propose_atom::value, std::move(proposal))
    .then([](uint64_t) {},
          [=](const caf::error& err) {
            // Refused before it was appended (no leader, throttled): nothing
            // happened, and the client may send it again. Anything else (a
            // timeout, a leader lost after appending) leaves the write's
            // fate unknown: a retry could apply it twice, so the client
            // hears OperationTimeout (or ConnectionLoss) and must find out.
            auto refused = is_proposal_refused(err);
            auto code = !refused && err == caf::sec::request_timeout
                          ? error_code::operation_timeout
                          : error_code::connection_loss;
            auto resp = error_response(
              code, std::string{refused ? "write not accepted: "
                                        : "write outcome unknown: "}
                      + self->system().render(err));
            resp.set_retry(refused);
            finish(self, rid, std::move(resp));
          });
  return rid;
}

std::function<void(pb::Response&&)>
deliver_to(caf::typed_response_promise<pb::Response> rp) {
  if (!rp.pending())
    return {};
  return [rp](pb::Response&& resp) mutable { rp.deliver(std::move(resp)); };
}

/// Proposes closing session `sid` (again); the sweep retries it until the
/// registry reports it applied.
void propose_close(self_ptr self, int64_t sid,
                   std::function<void(pb::Response&&)> done) {
  auto& st = self->state;
  auto rid = propose(self, command{session_id{sid}, close_session_op{}},
                     std::move(done));
  st.closing[sid] = {rid, st.clock() + st.limits.request_timeout_ms};
}

/// Proposes the close of `sid` again; whoever waits for it gets the answer
/// of the new proposal (closing twice is harmless).
void repropose_close(self_ptr self, int64_t sid) {
  auto& st = self->state;
  std::function<void(pb::Response &&)> done;
  if (auto c = st.closing.find(sid); c != st.closing.end())
    if (auto i = st.pending.find(c->second.first); i != st.pending.end()) {
      done = std::move(i->second.done);
      st.pending.erase(i);
    }
  propose_close(self, sid, std::move(done));
}

/// A new leader is known: closes still waiting may have gone to the old
/// one (and would hang there until their timeout), so propose them again.
void repropose_closes(self_ptr self) {
  std::vector<int64_t> sids;
  for (const auto& [sid, what] : self->state.closing)
    sids.push_back(sid);
  for (auto sid : sids)
    repropose_close(self, sid);
}

/// Forgets the connection of `client` (the session lives on).
void detach(self_ptr self, const caf::actor_addr& client) {
  auto& st = self->state;
  st.leadership_subscribers.erase(client);
  auto i = st.connections.find(client);
  if (i == st.connections.end())
    return;
  auto sid = i->second.session;
  st.connections.erase(i);
  if (auto j = st.by_session.find(sid);
      j != st.by_session.end() && j->second == client) {
    st.by_session.erase(j);
    self->send(st.registry, watch_atom::value, sid);
  }
}

/// Records a client's connection to session `sid` here.
void attach(self_ptr self, const caf::strong_actor_ptr& sender, int64_t sid,
            int32_t timeout_ms, const std::string& client_ip) {
  auto& st = self->state;
  auto client = caf::actor_cast<caf::actor_addr>(sender);
  if (auto j = st.by_session.find(sid);
      j != st.by_session.end() && j->second != client) {
    // The session moved to a new connection (the client reconnected before
    // its old connection here was noticed gone).
    st.connections.erase(j->second);
    st.by_session.erase(j);
  }
  if (auto old = st.connections.find(client);
      old != st.connections.end() && old->second.session != sid) {
    // The client gave up on an earlier handshake and opened another
    // session; the earlier one (if it opened) expires on its own.
    if (auto j = st.by_session.find(old->second.session);
        j != st.by_session.end() && j->second == client)
      st.by_session.erase(j);
    self->send(st.registry, watch_atom::value, old->second.session);
  }
  auto listener = caf::actor_cast<watch_listener>(sender);
  auth_info auth;
  auth.client_ip = client_ip;
  st.connections[client]
    = client_connection{sid, timeout_ms, listener, std::move(auth)};
  st.by_session[sid] = client;
  self->monitor(sender);
  self->send(st.registry, watch_atom::value, sid, listener);
  st.touched.insert(sid);
}

/// Ends the session of `client` at once, removing its ephemerals.
void close_session(self_ptr self, const caf::actor_addr& client,
                   caf::typed_response_promise<pb::Response> rp) {
  auto i = self->state.connections.find(client);
  if (i == self->state.connections.end()) {
    if (rp.pending())
      rp.deliver(pb::Response{});
    return;
  }
  auto sid = i->second.session;
  detach(self, client);
  CONCLAVE_LOG("session", debug) << "closing session " << hex(sid);
  propose_close(self, sid, deliver_to(std::move(rp)));
}

pb::WatchEvent state_event(int32_t state) {
  pb::WatchEvent ev;
  ev.set_type(-1);
  ev.set_state(state);
  ev.set_zxid(-1);
  return ev;
}

constexpr int32_t state_disconnected = 0;
constexpr int32_t state_expired = -112;

/// This node cannot serve: every client is told so and let go.
void disconnect_all(self_ptr self) {
  auto& st = self->state;
  if (st.connections.empty())
    return;
  CONCLAVE_LOG("session", info)
    << "no leader: disconnecting " << st.connections.size() << " clients";
  auto ev = state_event(state_disconnected);
  std::vector<caf::actor_addr> clients;
  for (const auto& [addr, conn] : st.connections) {
    self->send(conn.listener, event_atom::value, ev);
    clients.push_back(addr);
  }
  for (const auto& addr : clients) {
    self->demonitor(addr);
    detach(self, addr);
  }
}

pb::Hello hello_error(const session_state& st, error_code code,
                      std::string message) {
  pb::Hello hello;
  hello.set_node_id(st.self_id.value());
  hello.set_version(CONCLAVE_VERSION);
  hello.set_error(static_cast<int32_t>(code));
  hello.set_message(std::move(message));
  return hello;
}

/// Draws a session password from the operating system's random source.
std::string draw_password() {
  std::random_device rd;
  std::string out(session_password_bytes, '\0');
  for (size_t i = 0; i < out.size(); i += 4) {
    auto word = rd();
    for (size_t k = 0; k < 4 && i + k < out.size(); ++k)
      out[i + k] = static_cast<char>((word >> (8 * k)) & 0xFF);
  }
  return out;
}

caf::result<pb::Hello> open_session(self_ptr self, const pb::Connect& req,
                                    const std::string& client_ip) {
  auto& st = self->state;
  auto sid = make_session_id(st.self_id, st.session_counter++,
                             st.session_time_base_ms);
  while (!is_valid_session_id(sid))
    sid = make_session_id(st.self_id, st.session_counter++,
                          st.session_time_base_ms);
  auto password = draw_password();
  // Before make_response_promise(), which takes the sender over.
  auto sender = self->current_sender();
  auto rp = self->make_response_promise<pb::Hello>();
  propose(self, command{sid, open_session_op{req.timeout_ms(), password}},
          [=](pb::Response&& resp) mutable {
            auto& st = self->state;
            if (resp.error() != 0) {
              auto code = static_cast<error_code>(resp.error());
              if (code == error_code::runtime_inconsistency)
                code = error_code::connection_loss; // id taken: try again
              rp.deliver(hello_error(st, code, resp.message()));
              return;
            }
            auto timeout = resp.session().timeout_ms();
            attach(self, sender, sid.value(), timeout, client_ip);
            CONCLAVE_LOG("session", debug)
              << "opened session " << hex(sid.value()) << " (timeout "
              << timeout << " ms)";
            pb::Hello hello;
            hello.set_node_id(st.self_id.value());
            hello.set_version(CONCLAVE_VERSION);
            hello.set_session_id(sid.value());
            hello.set_password(password);
            hello.set_timeout_ms(timeout);
            hello.set_zxid(resp.zxid());
            rp.deliver(std::move(hello));
          });
  return rp;
}

void check_and_resume(self_ptr self, const pb::Connect& req,
                      const std::string& client_ip,
                      const caf::strong_actor_ptr& sender, int64_t min_zxid,
                      caf::typed_response_promise<pb::Hello> rp);

// "Expired" is final, so it must not come from a node that merely lags: a
// session opened a moment ago through another node may not have reached
// this one yet (a client resuming with a fresh id has seen no zxid to wait
// for). So the check waits for the leader's commit index as of now
// (ReadIndex, as a linearizable read), as ZooKeeper's followers ask their
// leader to revalidate a session they do not know.
caf::result<pb::Hello> resume_session(self_ptr self, const pb::Connect& req,
                                      const std::string& client_ip) {
  // Before make_response_promise(), which takes the sender over.
  auto sender = self->current_sender();
  auto rp = self->make_response_promise<pb::Hello>();
  self->request(self->state.log, caf::infinite, read_index_atom::value)
    .then(
      [=](uint64_t index) mutable {
        check_and_resume(
          self, req, client_ip, sender,
          std::max<int64_t>(req.last_zxid(), static_cast<int64_t>(index)), rp);
      },
      [=](const caf::error& err) mutable {
        rp.deliver(hello_error(self->state, error_code::connection_loss,
                               "cannot confirm leadership: "
                                 + self->system().render(err)));
      });
  return rp;
}

void check_and_resume(self_ptr self, const pb::Connect& req,
                      const std::string& client_ip,
                      const caf::strong_actor_ptr& sender, int64_t min_zxid,
                      caf::typed_response_promise<pb::Hello> rp) {
  pb::SessionCheck check;
  check.set_session_id(req.session_id());
  check.set_password(req.password());
  check.set_min_zxid(min_zxid);
  self
    ->request(self->state.registry, caf::infinite, check_atom::value,
              std::move(check))
    .then(
      [=](pb::Response& resp) mutable {
        auto& st = self->state;
        if (resp.error() != 0) {
          rp.deliver(hello_error(st, static_cast<error_code>(resp.error()),
                                 resp.message()));
          return;
        }
        auto timeout = resp.session().timeout_ms();
        attach(self, sender, req.session_id(), timeout, client_ip);
        if (st.tracker)
          st.tracker->touch(session_id{req.session_id()}, st.clock());
        pb::Hello hello;
        hello.set_node_id(st.self_id.value());
        hello.set_version(CONCLAVE_VERSION);
        hello.set_session_id(req.session_id());
        hello.set_password(req.password());
        hello.set_timeout_ms(timeout);
        hello.set_zxid(resp.zxid());
        rp.deliver(std::move(hello));
      },
      [=](const caf::error& err) mutable {
        rp.deliver(hello_error(self->state, error_code::connection_loss,
                               self->system().render(err)));
      });
}

// -- containers and TTL nodes -------------------------------------------------

/// The leader proposes deleting the containers and TTL nodes that are due
/// (ZooKeeper's ContainerManager), at most container-max-per-minute's share
/// per round. Each delete is conditional: it applies only if the node is
/// still due at the entry's time, so a node that gained a child or was
/// rewritten since is kept. It runs with the node's own authority (no ACL
/// applies), on behalf of no session.
void cleanup_round(self_ptr self) {
  auto& st = self->state;
  if (!st.leading)
    return;
  auto budget = std::max<uint64_t>(
    1, st.limits.container_max_per_minute
         * static_cast<uint64_t>(st.limits.container_check_interval_ms)
         / 60000);
  self
    ->request(st.registry,
              std::chrono::milliseconds(st.limits.request_timeout_ms),
              cleanup_atom::value, system_clock_ms(), budget)
    .then(
      [=](const pb::PathList& due) {
        auth_info node_itself;
        node_itself.super = true;
        for (const auto& p : due.paths()) {
          CONCLAVE_LOG("session", debug)
            << "deleting " << p << ": empty container or expired TTL";
          propose(self,
                  command{session_id{0}, delete_container_op{p}, node_itself},
                  {});
        }
      },
      [](const caf::error&) {
        // The next round asks again.
      });
}

// -- liveness -----------------------------------------------------------------

/// Starts a fresh tracker (this node just became leader) from the session
/// table; until it arrives no session can expire.
void start_tracking(self_ptr self) {
  auto& st = self->state;
  st.tracker.emplace();
  st.tracker_ready = false;
  st.quorum_ok = true;
  self->request(st.registry, caf::infinite, sessions_atom::value)
    .then(
      [=](const pb::SessionChanges& all) {
        auto& st = self->state;
        if (!st.tracker)
          return;
        auto now = st.clock();
        *st.tracker = session_tracker{};
        for (const auto& c : all.changes())
          st.tracker->add(session_id{c.session_id()}, c.timeout_ms(), now);
        st.tracker_ready = true;
        CONCLAVE_LOG("session", info)
          << "tracking " << st.tracker->size()
          << " sessions, each with a fresh full timeout";
      },
      [=](const caf::error& err) {
        CONCLAVE_LOG("session", error)
          << "cannot read the session table: " << self->system().render(err);
      });
}

/// Leader: proposes expiries for silent sessions, right after confirming
/// that this node still leads a quorum.
void check_expiry(self_ptr self) {
  auto& st = self->state;
  if (!st.tracker || !st.tracker_ready || st.confirming)
    return;
  st.confirming = true;
  self
    ->request(st.log, std::chrono::milliseconds(st.limits.request_timeout_ms),
              read_index_atom::value)
    .then(
      [=](uint64_t) {
        auto& st = self->state;
        st.confirming = false;
        if (!st.tracker)
          return;
        auto now = st.clock();
        if (now - st.last_round_ms > st.limits.stall_grace_ms) {
          // This actor stalled after the round that asked (it hung, and
          // may be an instance the supervisor is replacing): what it knows
          // of liveness is old. Never expire on it.
          st.tracker->reset_all(now);
          st.last_round_ms = now;
          CONCLAVE_LOG("session", warning)
            << "the expiry check ran late (this actor stalled?): every "
               "session gets a fresh timeout";
          return;
        }
        if (!st.quorum_ok) {
          // We may have missed liveness while cut off: start over.
          st.quorum_ok = true;
          st.tracker->reset_all(now);
          CONCLAVE_LOG("session", info)
            << "quorum confirmed again: every session gets a fresh timeout";
          return;
        }
        for (auto sid : st.tracker->expired(now)) {
          st.tracker->mark_closing(sid);
          CONCLAVE_LOG("session", info)
            << "expiring session " << hex(sid.value())
            << ": not heard from within its timeout";
          // Refused (no longer leader) or not applied in time: the next
          // check, after a fresh quorum confirmation, decides again.
          auto retry_later = [=](pb::Response&& resp) {
            auto& st = self->state;
            if (resp.error() != 0 && st.tracker)
              st.tracker->unmark_closing(sid);
          };
          propose(self, command{sid, close_session_op{true}}, retry_later,
                  true);
        }
      },
      [=](const caf::error&) {
        auto& st = self->state;
        st.confirming = false;
        st.quorum_ok = false;
      });
}

/// Periodic: liveness to the leader (or into the tracker), expiry checks.
void liveness_round(self_ptr self) {
  auto& st = self->state;
  auto now = st.clock();
  auto late = st.last_round_ms != 0
              && now - st.last_round_ms > st.limits.stall_grace_ms;
  st.last_round_ms = now;
  if (late && st.tracker) {
    st.tracker->reset_all(now);
    CONCLAVE_LOG("session", warning)
      << "the liveness check ran late (this process stalled?): every "
         "session gets a fresh timeout";
  }
  if (st.leading) {
    if (st.tracker) {
      for (auto sid : st.touched)
        st.tracker->touch(session_id{sid}, now);
      st.touched.clear();
    }
    check_expiry(self);
  } else if (!st.touched.empty() && has_leader(st)) {
    pb::SessionTouches batch;
    batch.set_from_node(st.self_id.value());
    for (auto sid : st.touched)
      batch.add_session_ids(sid);
    st.touched.clear();
    self->send(st.log, touch_atom::value, std::move(batch));
  }
}

pb::Response system_error(self_ptr self, const caf::error& err) {
  return error_response(error_code::connection_loss,
                        self->system().render(err));
}

/// Merges the log's and the registry's figures into one status response.
/// The node's status: the log actor's Raft figures merged with the
/// registry's tree figures and this actor's connections. Calls `done` with
/// it, or `failed` with the error of either actor.
void gather_status(self_ptr self, std::function<void(pb::NodeStatus)> done,
                   std::function<void(const caf::error&)> failed) {
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
              *log_status.mutable_request_seconds() = reg.request_seconds();
              add_latency(self->state.request_seconds, log_status);
              log_status.set_session_count(reg.session_count());
              log_status.set_watch_count(reg.watch_count());
              log_status.set_connection_count(self->state.connections.size());
              log_status.set_version(CONCLAVE_VERSION);
              log_status.mutable_restarts()->CopyFrom(
                self->state.restarts.restarts());
              done(std::move(log_status));
            },
            failed);
      },
      failed);
}

caf::result<pb::Response> status(self_ptr self) {
  auto rp = self->make_response_promise<pb::Response>();
  gather_status(
    self,
    [=](pb::NodeStatus s) mutable {
      pb::Response resp;
      resp.set_zxid(static_cast<int64_t>(s.applied_index()));
      *resp.mutable_status() = std::move(s);
      rp.deliver(std::move(resp));
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
  auto op = native_op_name(req);
  auto arrived = std::chrono::steady_clock::now();
  self->request(self->state.log, caf::infinite, read_index_atom::value)
    .then(
      [=](uint64_t index) mutable {
        auto min
          = std::max<int64_t>(req.min_zxid(), static_cast<int64_t>(index));
        req.set_min_zxid(min);
        self
          ->request(self->state.registry, caf::infinite, read_atom::value,
                    std::move(req))
          .then(
            [=](pb::Response& resp) mutable {
              std::chrono::duration<double> took
                = std::chrono::steady_clock::now() - arrived;
              observe_latency(self->state.request_seconds, op, took.count());
              rp.deliver(resp);
            },
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

void ask_election(self_ptr self, election_actor election, uint64_t target,
                  caf::typed_response_promise<pb::Response> rp) {
  self->request(election, caf::infinite, transfer_atom::value, target)
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
}

/// Calls `found` with the node's current `name` actor from the supervisor's
/// directory (children restart: their handles are looked up, never kept);
/// answers `rp` with an error if it is restarting or cannot be asked.
template <class Handle, class F>
void with_child(self_ptr self, const char* name,
                caf::typed_response_promise<pb::Response> rp, F found) {
  self
    ->request(self->state.supervisor, std::chrono::seconds(5),
              caf::get_atom::value, std::string{name})
    .then(
      [=](const caf::strong_actor_ptr& ptr) mutable {
        if (!ptr) {
          rp.deliver(error_response(error_code::connection_loss,
                                    std::string{"the "} + name
                                      + " actor is restarting"));
          return;
        }
        found(caf::actor_cast<Handle>(ptr));
      },
      [=](const caf::error& err) mutable {
        rp.deliver(system_error(self, err));
      });
}

caf::result<pb::Response> transfer_leader(self_ptr self, uint64_t target) {
  auto rp = self->make_response_promise<pb::Response>();
  auto& st = self->state;
  if (!st.supervisor)
    ask_election(self, st.election, target, rp);
  else
    with_child<election_actor>(self, "election", rp,
                               [=](election_actor election) {
                                 ask_election(self, election, target, rp);
                               });
  return rp;
}

/// Membership (conclavectl members, ZooKeeper's reconfig): served by the
/// leader's log actor; the answer carries /zookeeper/config as this node
/// applied it, once the configuration is committed.
caf::result<pb::Response> reconfig(self_ptr self, const pb::Request& req) {
  auto rp = self->make_response_promise<pb::Response>();
  auto auth = req.auth();
  self
    ->request(self->state.log, caf::infinite, reconfig_atom::value,
              req.reconfig(), false)
    .then(
      [=](pb::MembershipResult& r) mutable {
        pb::Response resp;
        resp.set_error(r.error());
        resp.set_message(r.message());
        if (r.error() != 0 || !r.committed()) {
          *resp.mutable_members() = std::move(r);
          rp.deliver(std::move(resp));
          return;
        }
        pb::Request get;
        get.mutable_get_data()->set_path(std::string{path::config_node});
        get.set_min_zxid(static_cast<int64_t>(r.config_index()));
        *get.mutable_auth() = auth;
        self
          ->request(self->state.registry, caf::infinite, read_atom::value,
                    std::move(get))
          .then(
            [=](pb::Response& data) mutable {
              if (data.has_data())
                *r.mutable_zk_config() = std::move(*data.mutable_data());
              resp.set_zxid(data.zxid());
              *resp.mutable_members() = std::move(r);
              rp.deliver(std::move(resp));
            },
            [=](const caf::error& err) mutable {
              rp.deliver(system_error(self, err));
            });
      },
      [=](const caf::error& err) mutable {
        rp.deliver(error_response(error_code::connection_loss,
                                  "membership request failed: "
                                    + self->system().render(err)));
      });
  return rp;
}

/// Largest snapshot chunk answered to a client (below max-request-bytes'
/// default, so that every client can take it).
constexpr uint64_t snapshot_chunk_bytes = 512 * 1024;

void fetch_snapshot_chunk(self_ptr self, uint64_t index, uint64_t offset,
                          caf::typed_response_promise<pb::Response> rp) {
  if (!self->state.supervisor) {
    rp.deliver(error_response(error_code::unimplemented,
                              "snapshots need the node's storage actor"));
    return;
  }
  with_child<storage_actor>(
    self, "storage", rp, [=](storage_actor storage) mutable {
      self
        ->request(storage, std::chrono::seconds(30), fetch_atom::value, index,
                  offset, snapshot_chunk_bytes)
        .then(
          [=](pb::SnapshotChunk& chunk) mutable {
            pb::Response resp;
            *resp.mutable_snapshot_chunk() = std::move(chunk);
            rp.deliver(std::move(resp));
          },
          [=](const caf::error& err) mutable {
            rp.deliver(error_response(error_code::no_node,
                                      "cannot read the snapshot: "
                                        + self->system().render(err)));
          });
    });
}

/// Backups (conclavectl snapshot save): index 0 at offset 0 takes a new
/// snapshot of this node's applied state first; later requests read the
/// file of the index answered.
caf::result<pb::Response> snapshot(self_ptr self,
                                   const pb::SnapshotRequest& req) {
  auto rp = self->make_response_promise<pb::Response>();
  if (req.index() != 0) {
    fetch_snapshot_chunk(self, req.index(), req.offset(), rp);
    return rp;
  }
  if (req.offset() != 0)
    return error_response(error_code::bad_arguments,
                          "a snapshot read needs the index answered first");
  self->request(self->state.log, caf::infinite, snapshot_atom::value)
    .then(
      [=](const pb::SnapshotMeta& meta) mutable {
        fetch_snapshot_chunk(self, meta.index(), 0, rp);
      },
      [=](const caf::error& err) mutable {
        rp.deliver(
          error_response(error_code::system_error, self->system().render(err)));
      });
  return rp;
}

/// Forwards a fault request to the supervisor (which refuses it unless
/// fault injection is on).
caf::result<pb::Response> inject(self_ptr self, const pb::FaultRequest& req) {
  auto& st = self->state;
  if (!st.supervisor)
    return error_response(error_code::bad_arguments, "no supervisor");
  auto rp = self->make_response_promise<pb::Response>();
  self
    ->request(st.supervisor, std::chrono::seconds(5), fault_atom::value,
              req.actor(), req.kind())
    .then([=](bool) mutable { rp.deliver(pb::Response{}); },
          [=](const caf::error& err) mutable {
            rp.deliver(error_response(error_code::bad_arguments,
                                      self->system().render(err)));
          });
  return rp;
}

caf::result<pb::Response> handle_write(self_ptr self, int64_t sid,
                                       const auth_info& auth,
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
  propose(
    self, command{session_id{sid}, std::move(body).value(), auth},
    [self, deliver = deliver_to(rp), op = native_op_name(req),
     arrived = std::chrono::steady_clock::now()](pb::Response&& resp) mutable {
      std::chrono::duration<double> took
        = std::chrono::steady_clock::now() - arrived;
      observe_latency(self->state.request_seconds, op, took.count());
      deliver(std::move(resp));
    });
  return rp;
}

/// Whether a request asks for a watch (or removes or re-registers some):
/// served by the registry, where the watches live, never linearizable.
/// ZooKeeper's auth request: proves an identity for the rest of the
/// connection. "digest" adds the id it proves; "ip" succeeds and adds
/// nothing (the address is always known); any other scheme fails, and the
/// ZooKeeper front end then closes the connection, as ZooKeeper does.
pb::Response add_auth(const session_limits& limits, client_connection& conn,
                      const pb::AuthRequest& req) {
  if (req.scheme() == "ip")
    return pb::Response{};
  auto id = authenticate(req.scheme(), req.auth());
  if (!id)
    return error_response(id.error(), "unknown authentication scheme '"
                                        + req.scheme()
                                        + "' (supported: digest, ip)");
  auto& ids = conn.auth.ids;
  if (std::find(ids.begin(), ids.end(), *id) != ids.end())
    return pb::Response{};
  if (ids.size() >= limits.max_auth_ids)
    return error_response(error_code::auth_failed,
                          "connection already proved max-auth-ids ("
                            + std::to_string(limits.max_auth_ids)
                            + ") identities");
  ids.push_back(std::move(id).value());
  return pb::Response{};
}

/// ZooKeeper's whoAmI: the connection's address, then its proven ids.
pb::Response who_am_i(const client_connection& conn) {
  pb::Response resp;
  auto out = resp.mutable_identities();
  if (!conn.auth.client_ip.empty()) {
    auto ip = out->add_ids();
    ip->set_scheme("ip");
    ip->set_id(conn.auth.client_ip);
  }
  for (const auto& id : conn.auth.ids) {
    auto i = out->add_ids();
    i->set_scheme(id.scheme);
    i->set_id(id.id);
  }
  return resp;
}

bool touches_watches(const pb::Request& req) {
  switch (req.op_case()) {
    case pb::Request::kGetData:
      return req.get_data().watch();
    case pb::Request::kExists:
      return req.exists().watch();
    case pb::Request::kGetChildren:
      return req.get_children().watch();
    case pb::Request::kAddWatch:
    case pb::Request::kRemoveWatches:
    case pb::Request::kSetWatches:
    case pb::Request::kCheckWatches:
      return true;
    default:
      return false;
  }
}

} // namespace

namespace {

/// Whether the current message comes from an actor of this node. The
/// session actor is published on the client port with its whole interface:
/// the handlers meant for the node's own actors (applied results, session
/// changes, liveness, leadership, timers) ignore anyone else.
bool from_this_node(self_ptr self) {
  const auto& sender = self->current_sender();
  if (sender && sender->node() == self->node())
    return true;
  CONCLAVE_LOG("session", warning)
    << "ignoring an internal message from outside this node";
  return false;
}

/// Sessions opened or ended by applied entries (or the whole table after a
/// snapshot load).
void on_session_changes(self_ptr self, const pb::SessionChanges& changes) {
  auto& st = self->state;
  auto now = st.clock();
  auto track = [&](const pb::SessionChange& c) {
    // Entries are validated when applied; never let one abort the tracker.
    auto sid = session_id{c.session_id()};
    if (st.tracker && is_valid_session_id(sid) && c.timeout_ms() >= 1)
      st.tracker->add(sid, c.timeout_ms(), now);
  };
  if (changes.reset()) {
    // The registry loaded a snapshot: it dropped every watch and told every
    // client here it is disconnected. Forget the connections too, so that
    // each client resumes (or learns its session expired meanwhile) and
    // re-registers its watches.
    for (const auto& [addr, conn] : st.connections)
      self->demonitor(addr);
    st.connections.clear();
    st.by_session.clear();
    st.leadership_subscribers.clear();
    if (st.tracker) {
      *st.tracker = session_tracker{};
      for (const auto& c : changes.changes())
        track(c);
    }
    return;
  }
  for (const auto& c : changes.changes()) {
    if (c.opened()) {
      track(c);
      continue;
    }
    auto sid = c.session_id();
    if (st.tracker)
      st.tracker->remove(session_id{sid});
    // A client still connected here with this session learns it is gone.
    auto j = st.by_session.find(sid);
    if (j == st.by_session.end())
      continue;
    auto addr = j->second;
    st.by_session.erase(j);
    auto k = st.connections.find(addr);
    if (k == st.connections.end() || k->second.session != sid)
      continue;
    self->send(k->second.listener, event_atom::value,
               state_event(state_expired));
    st.connections.erase(k);
    st.leadership_subscribers.erase(addr);
    self->demonitor(addr);
  }
}

} // namespace

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
  st.session_time_base_ms = system_clock_ms();
  st.next_request_id = static_cast<uint64_t>(system_clock_ms()) << 20;
  self->set_down_handler([=](const caf::down_msg& msg) {
    // The connection dropped; the session lives on until the client
    // resumes it (here or elsewhere) or the leader expires it.
    detach(self, msg.source);
  });
  self->delayed_send(self, sweep_interval, sweep_atom::value);
  self->delayed_send(
    self, std::chrono::milliseconds(limits.container_check_interval_ms),
    cleanup_atom::value);
  self->delayed_send(self,
                     std::chrono::milliseconds(limits.liveness_interval_ms),
                     expire_atom::value);
  return {
    [=](fault_atom, const std::string& kind) { inject_fault(self, kind); },
    [=](connect_atom, supervisor_actor supervisor) {
      if (!from_this_process(self))
        return;
      self->state.supervisor = std::move(supervisor);
    },
    [=](restarts_atom, pb::NodeStatus& restarts) {
      if (!from_this_process(self))
        return;
      self->state.restarts = std::move(restarts);
    },
    [=](hello_atom, const pb::Connect& req) -> caf::result<pb::Hello> {
      auto& st = self->state;
      // No shortcut for a client already connected here: it says hello
      // again because it thought this node dead (frozen, cut off), and
      // meanwhile its session may have expired elsewhere. Every resume is
      // revalidated against the leader's commit index (resume_session).
      if (!has_leader(st))
        return hello_error(st, error_code::connection_loss,
                           "node " + std::to_string(st.self_id.value())
                             + " has no leader; try another node");
      if (st.connections.size() >= st.limits.max_connections) {
        CONCLAVE_LOG("session", warning)
          << "refusing client: max-connections (" << st.limits.max_connections
          << ") reached";
        return hello_error(st, error_code::throttled_op,
                           "node at max-connections ("
                             + std::to_string(st.limits.max_connections) + ")");
      }
      // Only the node's own ZooKeeper front end knows a client's address;
      // anyone else claiming one is ignored.
      std::string client_ip;
      if (const auto& sender = self->current_sender();
          sender && sender->node() == self->node())
        client_ip = req.client_ip();
      if (req.session_id() == 0)
        return open_session(self, req, client_ip);
      return resume_session(self, req, client_ip);
    },
    [=](request_atom, pb::Request& req) -> caf::result<pb::Response> {
      auto& st = self->state;
      auto client = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto i = st.connections.find(client);
      if (i == st.connections.end())
        return error_response(error_code::connection_loss,
                              "not connected to this node: say hello first");
      auto& conn = i->second;
      auto sid = conn.session;
      st.touched.insert(sid);
      if (req.ByteSizeLong() > st.limits.max_request_bytes)
        return error_response(error_code::bad_arguments,
                              "request of " + std::to_string(req.ByteSizeLong())
                                + " bytes exceeds max-request-bytes ("
                                + std::to_string(st.limits.max_request_bytes)
                                + ")");
      req.set_session_id(sid);
      // Whatever a client claims, reads are checked against what this
      // connection proved.
      req.clear_auth();
      encode(conn.auth, req.mutable_auth());
      switch (req.op_case()) {
        case pb::Request::kPing:
          if (!has_leader(st))
            return error_response(error_code::connection_loss,
                                  "node has no leader");
          return pb::Response{};
        case pb::Request::kStatus:
          return status(self);
        case pb::Request::kTransferLeader:
          return transfer_leader(self, req.transfer_leader().target());
        case pb::Request::kFault:
          return inject(self, req.fault());
        case pb::Request::kReconfig:
          return reconfig(self, req);
        case pb::Request::kSnapshot:
          return snapshot(self, req.snapshot());
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
          req.mutable_get_ephemerals()->set_session_id(sid);
          break;
        case pb::Request::kAuthRequest:
          return add_auth(st.limits, conn, req.auth_request());
        case pb::Request::kWhoAmI:
          return who_am_i(conn);
        case pb::Request::kMultiRead:
          if (static_cast<size_t>(req.multi_read().ops_size())
              > st.limits.max_multi_ops)
            return error_response(
              error_code::bad_arguments,
              "multiRead of " + std::to_string(req.multi_read().ops_size())
                + " ops exceeds max-multi-ops ("
                + std::to_string(st.limits.max_multi_ops) + ")");
          break;
        default:
          break;
      }
      if (is_write(req))
        return handle_write(self, sid, conn.auth, req);
      if (req.linearizable() && !touches_watches(req))
        return linearizable_read(self, std::move(req));
      return self->delegate(st.registry, read_atom::value, std::move(req));
    },
    [=](status_atom) -> caf::result<pb::NodeStatus> {
      auto rp = self->make_response_promise<pb::NodeStatus>();
      gather_status(
        self, [=](pb::NodeStatus s) mutable { rp.deliver(std::move(s)); },
        [=](const caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [=](bye_atom) -> caf::result<pb::Response> {
      auto client = caf::actor_cast<caf::actor_addr>(self->current_sender());
      auto rp = self->make_response_promise<pb::Response>();
      self->demonitor(client);
      close_session(self, client, rp);
      return rp;
    },
    [=](applied_atom, uint64_t request_id, pb::Response& resp) {
      if (!from_this_node(self))
        return;
      auto& closing = self->state.closing;
      for (auto i = closing.begin(); i != closing.end(); ++i)
        if (i->second.first == request_id) {
          closing.erase(i);
          break;
        }
      finish(self, request_id, std::move(resp));
    },
    [=](sessions_atom, const pb::SessionChanges& changes) {
      if (!from_this_node(self))
        return;
      on_session_changes(self, changes);
    },
    [=](touch_atom, const pb::SessionTouches& touches) {
      auto& st = self->state;
      if (!st.tracker || !from_this_node(self))
        return;
      auto now = st.clock();
      for (auto sid : touches.session_ids())
        st.tracker->touch(session_id{sid}, now);
    },
    [=](leader_atom, const pb::Leadership& leadership) {
      auto& st = self->state;
      if (!from_this_node(self))
        return;
      auto new_leader = leadership.leader_id() != 0
                        && leadership.leader_id() != st.leadership.leader_id();
      st.leadership = leadership;
      for (const auto& [addr, subscriber] : st.leadership_subscribers)
        self->send(subscriber, leader_atom::value, leadership);
      if (new_leader && !st.closing.empty())
        repropose_closes(self);
      auto leading = leadership.leader_id() == st.self_id.value();
      if (leading && !st.leading)
        start_tracking(self);
      else if (!leading && st.leading) {
        st.tracker.reset();
      }
      st.leading = leading;
      if (!has_leader(st))
        disconnect_all(self);
    },
    [=](expire_atom) {
      if (self->current_sender().get() != self->ctrl())
        return;
      liveness_round(self);
      self->delayed_send(
        self,
        std::chrono::milliseconds(self->state.limits.liveness_interval_ms),
        expire_atom::value);
    },
    [=](cleanup_atom) {
      if (self->current_sender().get() != self->ctrl())
        return;
      cleanup_round(self);
      self->delayed_send(self,
                         std::chrono::milliseconds(
                           self->state.limits.container_check_interval_ms),
                         cleanup_atom::value);
    },
    [=](sweep_atom) {
      if (self->current_sender().get() != self->ctrl())
        return;
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
        repropose_close(self, sid);
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
