#include "actors/client_actor.hpp"

#include <algorithm>

#include <caf/io/middleman.hpp>

#include "runtime/command_codec.hpp"

namespace conclave {

namespace {

using self_ptr = client_actor::stateful_pointer<client_state>;
using clock_type = std::chrono::steady_clock;

void connect_next(self_ptr self, size_t attempts_left);
void ensure_connecting(self_ptr self);

/// Delay before retry `attempt` (1, 2, ...): 20 ms doubling up to 500 ms.
std::chrono::milliseconds retry_delay(uint32_t attempt) {
  auto ms = 20u << std::min(attempt, 5u);
  return std::chrono::milliseconds(std::min(ms, 500u));
}

bool session_over(const client_state& st) {
  return st.state == connection_state::expired
         || st.state == connection_state::closed;
}

pb::WatchEvent state_event(connection_state state) {
  pb::WatchEvent ev;
  ev.set_type(-1);
  ev.set_state(static_cast<int32_t>(state));
  ev.set_zxid(-1);
  return ev;
}

/// Moves to `state` and tells the state listeners (if it is news).
void set_state(self_ptr self, connection_state state) {
  auto& st = self->state;
  if (st.state == state)
    return;
  st.state = state;
  auto ev = state_event(state);
  for (const auto& l : st.state_listeners)
    self->send(l, event_atom::value, ev);
}

/// Takes request `id` out of the in-flight set; false if it was already
/// answered (its server went down meanwhile).
bool settle(self_ptr self, uint64_t id) {
  return self->state.inflight.erase(id) > 0;
}

void forward(self_ptr self, client_state::queued q) {
  auto& st = self->state;
  auto& req = q.request;
  req.set_min_zxid(std::max(req.min_zxid(), st.last_zxid));
  auto copy = req;
  auto id = st.next_inflight_id++;
  st.inflight.emplace(id, q.promise);
  self
    ->request(st.server, st.options.request_timeout, request_atom::value,
              std::move(copy))
    .then(
      [=](pb::Response& resp) mutable {
        if (!settle(self, id))
          return;
        auto& st = self->state;
        st.last_zxid = std::max(st.last_zxid, resp.zxid());
        auto delay = retry_delay(q.attempt + 1);
        if (resp.retry() && clock_type::now() + delay < q.deadline) {
          // Nothing was done (no leader yet): try again shortly.
          ++q.attempt;
          auto rid = st.next_retry_id++;
          st.retries.emplace(rid, std::move(q));
          self->delayed_send(self, delay, retry_atom::value, rid);
          return;
        }
        if (q.on_response)
          q.on_response(resp);
        q.promise.deliver(std::move(resp));
      },
      [=](const caf::error& err) mutable {
        if (!settle(self, id))
          return;
        q.promise.deliver(
          error_response(error_code::connection_loss,
                         "request failed: " + self->system().render(err)));
      });
}

/// Sends `q` now if connected, else queues it until a connection exists.
caf::result<pb::Response> submit(self_ptr self, client_state::queued q) {
  auto& st = self->state;
  auto rp = q.promise;
  // The caller took the request over (make_response_promise): an answer
  // must go through the promise, a returned value would be dropped.
  auto refuse = [&](error_code code, const char* why) {
    rp.deliver(error_response(code, why));
    return rp;
  };
  if (st.options.servers.empty())
    return refuse(error_code::connection_loss, "no servers configured");
  if (st.state == connection_state::expired)
    return refuse(error_code::session_expired, "the session has expired");
  if (st.state == connection_state::closed)
    return refuse(error_code::session_expired, "the session was closed");
  if (st.server) {
    forward(self, std::move(q));
    return rp;
  }
  if (st.queue.size() >= st.options.max_queued_requests)
    return refuse(error_code::throttled_op,
                  "too many requests waiting for a connection");
  st.queue.push_back(std::move(q));
  ensure_connecting(self);
  return rp;
}

/// Fails requests and handshakes waiting for a connection: all of them, or
/// only those past their deadline.
void fail_waiting(self_ptr self, const std::string& why, error_code code,
                  bool only_late) {
  auto& st = self->state;
  auto now = clock_type::now();
  for (auto i = st.queue.begin(); i != st.queue.end();) {
    if (only_late && i->deadline > now) {
      ++i;
      continue;
    }
    i->promise.deliver(error_response(code, why));
    i = st.queue.erase(i);
  }
  if (!only_late) {
    // Requests waiting to be sent again are waiting too.
    for (auto& [id, q] : st.retries)
      q.promise.deliver(error_response(code, why));
    st.retries.clear();
  }
  for (auto i = st.hello_waiters.begin(); i != st.hello_waiters.end();) {
    if (only_late && i->deadline > now) {
      ++i;
      continue;
    }
    i->promise.deliver(caf::make_error(caf::sec::cannot_connect_to_node, why));
    i = st.hello_waiters.erase(i);
  }
}

/// The connection is gone (server down, silent, or without a leader): what
/// it had not answered fails now (its outcome is unknown, as with
/// ZooKeeper's ConnectionLoss); a live session reconnects elsewhere.
void server_lost(self_ptr self, const std::string& why) {
  auto& st = self->state;
  if (st.server)
    self->demonitor(st.server.address());
  st.server = nullptr;
  st.ping_outstanding = false;
  auto lost = std::move(st.inflight);
  st.inflight.clear();
  for (auto& [id, promise] : lost)
    promise.deliver(error_response(error_code::connection_loss,
                                   "connection to the server lost: " + why));
  if (session_over(st))
    return;
  set_state(self, connection_state::disconnected);
  if (st.session_id != 0)
    ensure_connecting(self);
}

/// The cluster says the session is gone: final.
void on_expired(self_ptr self) {
  auto& st = self->state;
  if (st.server)
    self->demonitor(st.server.address());
  st.server = nullptr;
  auto lost = std::move(st.inflight);
  st.inflight.clear();
  for (auto& [id, promise] : lost)
    promise.deliver(
      error_response(error_code::session_expired, "the session has expired"));
  fail_waiting(self, "the session has expired", error_code::session_expired,
               false);
  // Every watcher hears it, as in ZooKeeper (once: state listeners hear it
  // from set_state).
  auto ev = state_event(connection_state::expired);
  for (const auto& [id, l] : st.listeners)
    if (std::find(st.state_listeners.begin(), st.state_listeners.end(), l)
        == st.state_listeners.end())
      self->send(l, event_atom::value, ev);
  st.watches.clear();
  set_state(self, connection_state::expired);
}

/// Tells every subscriber about `l` (if it is news).
void publish_leadership(self_ptr self, const pb::Leadership& l) {
  auto& st = self->state;
  if (l.SerializeAsString() == st.leadership.SerializeAsString())
    return;
  st.leadership = l;
  for (const auto& sub : st.leadership_subscribers)
    self->send(sub, leader_atom::value, l);
}

/// Asks the connected node to report leadership changes to this actor.
void subscribe_leadership(self_ptr self) {
  auto& st = self->state;
  if (!st.server || st.leadership_subscribers.empty())
    return;
  pb::Request req;
  req.mutable_subscribe_leadership();
  self
    ->request(st.server, st.options.request_timeout, request_atom::value,
              std::move(req))
    .then(
      [=](const pb::Response& resp) {
        if (resp.has_leadership())
          publish_leadership(self, resp.leadership());
      },
      [](const caf::error&) {
        // The connection is gone; on_connected subscribes again.
      });
}

std::chrono::milliseconds ping_interval(const client_state& st) {
  return std::chrono::milliseconds(std::max(st.hello.timeout_ms() / 3, 10));
}

/// Re-registers every watch on a new connection; those whose node changed
/// after the last zxid this client saw fire at once.
void restore_watches(self_ptr self, int64_t seen_zxid) {
  auto& st = self->state;
  if (st.watches.empty())
    return;
  auto lists = st.watches.lists();
  pb::Request req;
  auto out = req.mutable_set_watches();
  out->set_relative_zxid(seen_zxid);
  for (auto& p : lists.data)
    out->add_data(std::move(p));
  for (auto& p : lists.exist)
    out->add_exist(std::move(p));
  for (auto& p : lists.child)
    out->add_child(std::move(p));
  for (auto& p : lists.persistent)
    out->add_persistent(std::move(p));
  for (auto& p : lists.recursive)
    out->add_recursive(std::move(p));
  req.set_min_zxid(seen_zxid);
  auto server = st.server;
  self
    ->request(st.server, st.options.request_timeout, request_atom::value,
              std::move(req))
    .then(
      [=](const pb::Response& resp) {
        // Watches that could not be restored (e.g. past a watch limit)
        // would leave the application waiting forever: start over on the
        // next node instead.
        if (resp.error() != 0 && self->state.server == server)
          server_lost(self, "cannot restore watches: " + resp.message());
      },
      [](const caf::error&) {
        // The connection is gone; the next one restores them.
      });
}

/// Proves the connection's identities again on a new connection, before
/// any other request reaches it (one mailbox: they arrive in order).
void restore_auth(self_ptr self) {
  auto& st = self->state;
  for (const auto& a : st.auth) {
    pb::Request req;
    *req.mutable_auth_request() = a;
    self
      ->request(st.server, st.options.request_timeout, request_atom::value,
                std::move(req))
      .then([](const pb::Response&) {},
            [](const caf::error&) {
              // The connection is gone; the next one proves them again.
            });
  }
}

void on_connected(self_ptr self, session_actor server, pb::Hello hello) {
  auto& st = self->state;
  auto resumed = st.session_id != 0;
  // What this client saw, not what the node has applied: watches fire for
  // every change after it.
  auto seen = st.last_zxid;
  st.server = std::move(server);
  st.hello = std::move(hello);
  st.session_id = st.hello.session_id();
  st.password = st.hello.password();
  st.last_zxid = std::max(st.last_zxid, st.hello.zxid());
  st.connecting = false;
  st.failed_rounds = 0;
  st.last_heard = clock_type::now();
  self->monitor(st.server);
  restore_auth(self);
  if (resumed)
    restore_watches(self, seen);
  set_state(self, connection_state::connected);
  for (auto& w : st.hello_waiters)
    w.promise.deliver(st.hello);
  st.hello_waiters.clear();
  auto queue = std::move(st.queue);
  st.queue.clear();
  for (auto& q : queue)
    forward(self, std::move(q));
  subscribe_leadership(self);
  if (!st.pinging) {
    st.pinging = true;
    self->delayed_send(self, ping_interval(st), ping_atom::value);
  }
}

/// No server could serve in this round.
void round_failed(self_ptr self, const std::string& why) {
  auto& st = self->state;
  st.connecting = false;
  std::string servers;
  for (const auto& s : st.options.servers)
    servers += (servers.empty() ? "" : ",") + s.to_string();
  auto message
    = "cannot reach any server of " + servers + " (last: " + why + ")";
  if (st.session_id == 0 && !st.worth_retrying) {
    // Nothing answered at all and there is no session to keep: fail fast.
    fail_waiting(self, message, error_code::connection_loss, false);
    return;
  }
  fail_waiting(self, message, error_code::connection_loss, true);
  if (st.session_id == 0 && st.queue.empty() && st.hello_waiters.empty())
    return;
  ++st.failed_rounds;
  if (!st.reconnect_scheduled) {
    st.reconnect_scheduled = true;
    self->delayed_send(self, retry_delay(st.failed_rounds),
                       connect_atom::value);
  }
}

void try_next(self_ptr self, size_t attempts_left, const std::string& why) {
  if (attempts_left > 1) {
    connect_next(self, attempts_left - 1);
    return;
  }
  round_failed(self, why);
}

/// How long one connection attempt (connect and handshake) may take. A new
/// session can wait a request timeout. A live session must be resumed
/// before the cluster expires it, about a session timeout after its node
/// last answered: each server left in the round gets an equal share of the
/// time that remains (as ZooKeeper's client splits its session timeout),
/// so a server that accepts connections but never answers cannot use it
/// all up.
std::chrono::milliseconds attempt_timeout(const client_state& st,
                                          size_t attempts_left) {
  using std::chrono::milliseconds;
  auto limit = st.options.request_timeout;
  if (st.session_id == 0)
    return limit;
  auto expires = st.last_heard + milliseconds(st.hello.timeout_ms());
  auto left
    = std::chrono::duration_cast<milliseconds>(expires - clock_type::now());
  auto share = left / static_cast<int64_t>(std::max<size_t>(1, attempts_left));
  return std::min(std::max(share, milliseconds(250)), limit);
}

void connect_next(self_ptr self, size_t attempts_left) {
  auto& st = self->state;
  st.connecting = true;
  if (attempts_left == st.options.servers.size())
    st.worth_retrying = false;
  const auto& target = st.options.servers[st.next_server];
  st.next_server = (st.next_server + 1) % st.options.servers.size();
  auto mm = self->system().middleman().actor_handle();
  auto timeout = attempt_timeout(st, attempts_left);
  auto until = clock_type::now() + timeout;
  auto label = target.to_string();
  self
    ->request(mm, timeout, connect_atom::value, target.host,
              static_cast<uint16_t>(target.port))
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr ptr,
          const std::set<std::string>& ifs) {
        auto expected = self->system().message_types<session_actor>();
        if (!ptr || ifs != expected) {
          try_next(self, attempts_left, label + " is not a Conclave node");
          return;
        }
        auto server = caf::actor_cast<session_actor>(ptr);
        auto& st = self->state;
        pb::Connect req;
        req.set_session_id(st.session_id);
        req.set_password(st.password);
        req.set_timeout_ms(
          static_cast<int32_t>(st.options.session_timeout.count()));
        req.set_last_zxid(st.last_zxid);
        // The handshake gets what the connect left of the attempt's time.
        auto left
          = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                       until - clock_type::now()),
                     std::chrono::milliseconds(10));
        self->request(server, left, hello_atom::value, std::move(req))
          .then(
            [=](pb::Hello& hello) {
              auto code = static_cast<error_code>(hello.error());
              if (session_over(self->state)) {
                // Closed (or expired) meanwhile: never revive it; a session
                // this handshake opened is closed at once.
                self->state.connecting = false;
                if (code == error_code::ok && self->state.session_id == 0)
                  self->request(server, timeout, bye_atom::value)
                    .then([](const pb::Response&) {}, [](const caf::error&) {});
                return;
              }
              if (code == error_code::ok) {
                on_connected(self, server, std::move(hello));
              } else if (code == error_code::session_expired
                         && self->state.session_id != 0) {
                self->state.connecting = false;
                on_expired(self);
              } else {
                self->state.worth_retrying = true;
                try_next(self, attempts_left, label + ": " + hello.message());
              }
            },
            [=](const caf::error& err) {
              try_next(self, attempts_left,
                       label + ": " + self->system().render(err));
            });
      },
      [=](const caf::error& err) {
        try_next(self, attempts_left,
                 label + ": " + self->system().render(err));
      });
}

void ensure_connecting(self_ptr self) {
  auto& st = self->state;
  if (!st.server && !st.connecting && !st.reconnect_scheduled
      && !session_over(st))
    connect_next(self, st.options.servers.size());
}

/// The id of an application listener (monitored, so that its watches go
/// when it does).
uint64_t listener_id(self_ptr self, const watch_listener& listener) {
  auto& st = self->state;
  auto addr = listener.address();
  if (auto i = st.listener_ids.find(addr); i != st.listener_ids.end())
    return i->second;
  auto id = st.next_listener_id++;
  st.listener_ids.emplace(addr, id);
  st.listeners.emplace(id, listener);
  self->monitor(listener);
  return id;
}

/// Sends a request that leaves (or removes) a watch for `listener`.
caf::result<pb::Response> watch_request(self_ptr self, pb::Request req,
                                        const watch_listener& listener) {
  auto& st = self->state;
  auto id = listener_id(self, listener);
  std::function<void(const pb::Response&)> on_response;
  auto ok = [](const pb::Response& r) { return r.error() == 0; };
  switch (req.op_case()) {
    case pb::Request::kGetData: {
      req.mutable_get_data()->set_watch(true);
      auto path = req.get_data().path();
      on_response = [=](const pb::Response& r) {
        if (ok(r))
          self->state.watches.add(path, client_watch_kind::data, id);
      };
      break;
    }
    case pb::Request::kExists: {
      req.mutable_exists()->set_watch(true);
      auto path = req.exists().path();
      on_response = [=](const pb::Response& r) {
        // ZooKeeper files an exists watch on an existing node as a data
        // watch, and as an exist watch only while the node is missing.
        if (ok(r))
          self->state.watches.add(path, client_watch_kind::data, id);
        else if (r.error() == static_cast<int32_t>(error_code::no_node))
          self->state.watches.add(path, client_watch_kind::exist, id);
      };
      break;
    }
    case pb::Request::kGetChildren: {
      req.mutable_get_children()->set_watch(true);
      auto path = req.get_children().path();
      on_response = [=](const pb::Response& r) {
        if (ok(r))
          self->state.watches.add(path, client_watch_kind::child, id);
      };
      break;
    }
    case pb::Request::kAddWatch: {
      auto path = req.add_watch().path();
      auto kind = req.add_watch().mode() == 1
                    ? client_watch_kind::persistent_recursive
                    : client_watch_kind::persistent;
      on_response = [=](const pb::Response& r) {
        if (ok(r))
          self->state.watches.add(path, kind, id);
      };
      break;
    }
    case pb::Request::kRemoveWatches: {
      const auto& msg = req.remove_watches();
      auto type = watcher_type_from_int(msg.type());
      if (!type)
        return error_response(error_code::bad_arguments,
                              "unknown watcher type");
      auto removed = st.watches.remove(msg.path(), *type, id);
      if (removed == 0)
        return error_response(error_code::no_watcher,
                              "no such watch on " + msg.path());
      if (st.watches.server_still_needs(msg.path(), *type))
        return pb::Response{};
      break; // the last local watch of that type: remove it on the node
    }
    default:
      return error_response(error_code::bad_arguments,
                            "not a request that leaves a watch");
  }
  req.set_linearizable(false);
  auto rp = self->make_response_promise<pb::Response>();
  return submit(
    self, client_state::queued{std::move(req), rp,
                               clock_type::now() + st.options.request_timeout,
                               0, std::move(on_response)});
}

/// A notification or state event from the node.
void on_event(self_ptr self, const pb::WatchEvent& ev) {
  auto& st = self->state;
  // Only the node we are connected to speaks for our session (a node we
  // left may still be sending).
  auto sender = self->current_sender();
  if (!st.server || !sender || sender->node() != st.server->node())
    return;
  if (ev.type() == -1) {
    if (ev.state() == static_cast<int32_t>(connection_state::expired))
      on_expired(self);
    else if (ev.state() == static_cast<int32_t>(connection_state::disconnected))
      server_lost(self, "the node lost its leader");
    return;
  }
  st.last_zxid = std::max(st.last_zxid, ev.zxid());
  auto type = static_cast<watch_event>(ev.type());
  for (auto id : st.watches.on_event(type, ev.path()))
    if (auto i = st.listeners.find(id); i != st.listeners.end())
      self->send(i->second, event_atom::value, ev);
}

} // namespace

std::string server_address::to_string() const {
  return host + ":" + std::to_string(port);
}

std::vector<server_address> parse_server_list(std::string_view text) {
  std::vector<server_address> result;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{}
                                           : text.substr(comma + 1);
    auto colon = item.rfind(':');
    if (colon == std::string_view::npos || colon == 0
        || colon + 1 == item.size())
      return {};
    auto port_text = item.substr(colon + 1);
    uint32_t port = 0;
    for (auto c : port_text) {
      if (c < '0' || c > '9' || port > 65535)
        return {};
      port = port * 10 + static_cast<uint32_t>(c - '0');
    }
    if (port == 0 || port > 65535)
      return {};
    result.push_back(server_address{std::string{item.substr(0, colon)},
                                    static_cast<uint16_t>(port)});
  }
  return result;
}

client_actor::behavior_type
client(client_actor::stateful_pointer<client_state> self,
       client_options options) {
  self->state.options = std::move(options);
  self->set_down_handler([=](const caf::down_msg& msg) {
    auto& st = self->state;
    if (st.server && msg.source == st.server.address()) {
      server_lost(self, "the node went down");
      return;
    }
    if (auto i = st.listener_ids.find(msg.source); i != st.listener_ids.end()) {
      st.watches.remove_listener(i->second);
      st.listeners.erase(i->second);
      st.listener_ids.erase(i);
    }
    auto& sl = st.state_listeners;
    sl.erase(std::remove_if(sl.begin(), sl.end(),
                            [&](const watch_listener& l) {
                              return l.address() == msg.source;
                            }),
             sl.end());
  });
  return {
    [=](request_atom, pb::Request& req) -> caf::result<pb::Response> {
      auto& st = self->state;
      auto rp = self->make_response_promise<pb::Response>();
      std::function<void(const pb::Response&)> remember;
      if (req.has_auth_request())
        remember = [=, auth = req.auth_request()](const pb::Response& resp) {
          auto& ids = self->state.auth;
          auto same = [&](const pb::AuthRequest& a) {
            return a.scheme() == auth.scheme() && a.auth() == auth.auth();
          };
          if (resp.error() == 0 && std::none_of(ids.begin(), ids.end(), same))
            ids.push_back(auth);
        };
      return submit(self, client_state::queued{std::move(req), rp,
                                               clock_type::now()
                                                 + st.options.request_timeout,
                                               0, std::move(remember)});
    },
    [=](watch_atom, pb::Request& req,
        const watch_listener& listener) -> caf::result<pb::Response> {
      return watch_request(self, std::move(req), listener);
    },
    [=](state_atom, const watch_listener& listener) -> int32_t {
      auto& st = self->state;
      auto known = std::find(st.state_listeners.begin(),
                             st.state_listeners.end(), listener);
      if (known == st.state_listeners.end()) {
        st.state_listeners.push_back(listener);
        self->monitor(listener);
      }
      if (st.session_id == 0 && !session_over(st))
        ensure_connecting(self);
      return static_cast<int32_t>(st.state);
    },
    [=](event_atom, const pb::WatchEvent& ev) { on_event(self, ev); },
    [=](leader_atom, leadership_listener subscriber) -> pb::Leadership {
      auto& st = self->state;
      st.leadership_subscribers.push_back(std::move(subscriber));
      if (st.leadership_subscribers.size() == 1) {
        if (st.server)
          subscribe_leadership(self);
        else
          ensure_connecting(self);
      }
      return st.leadership;
    },
    [=](leader_atom, const pb::Leadership& leadership) {
      publish_leadership(self, leadership);
    },
    [=](retry_atom, uint64_t id) {
      auto& st = self->state;
      auto i = st.retries.find(id);
      if (i == st.retries.end())
        return;
      auto q = std::move(i->second);
      st.retries.erase(i);
      if (session_over(st)) {
        q.promise.deliver(
          error_response(error_code::session_expired, "the session has ended"));
        return;
      }
      if (st.server) {
        forward(self, std::move(q));
        return;
      }
      st.queue.push_back(std::move(q));
      ensure_connecting(self);
    },
    [=](ping_atom) {
      auto& st = self->state;
      if (session_over(st)) {
        st.pinging = false;
        return;
      }
      self->delayed_send(self, ping_interval(st), ping_atom::value);
      if (!st.server || st.ping_outstanding)
        return;
      st.ping_outstanding = true;
      auto server = st.server;
      pb::Request req;
      req.mutable_ping();
      // A node that does not answer within a third of the timeout is
      // treated as gone: there is still time to resume elsewhere.
      self->request(server, ping_interval(st), request_atom::value, req)
        .then(
          [=](const pb::Response& resp) {
            auto& st = self->state;
            if (st.server != server)
              return;
            st.ping_outstanding = false;
            if (resp.error() != 0)
              server_lost(self, resp.message());
            else
              st.last_heard = clock_type::now();
          },
          [=](const caf::error& err) {
            auto& st = self->state;
            if (st.server != server)
              return;
            st.ping_outstanding = false;
            server_lost(self, "ping failed: " + self->system().render(err));
          });
    },
    [=](connect_atom) {
      self->state.reconnect_scheduled = false;
      ensure_connecting(self);
    },
    [=](hello_atom) -> caf::result<pb::Hello> {
      auto& st = self->state;
      if (st.options.servers.empty())
        return caf::make_error(caf::sec::cannot_connect_to_node,
                               "no servers configured");
      if (session_over(st))
        return caf::make_error(caf::sec::cannot_connect_to_node,
                               "the session has expired or was closed");
      if (st.server)
        return st.hello;
      auto rp = self->make_response_promise<pb::Hello>();
      st.hello_waiters.push_back(client_state::hello_waiter{
        rp, clock_type::now() + st.options.request_timeout});
      ensure_connecting(self);
      return rp;
    },
    [=](bye_atom) -> caf::result<pb::Response> {
      auto& st = self->state;
      if (session_over(st))
        return pb::Response{};
      set_state(self, connection_state::closed);
      fail_waiting(self, "the session was closed", error_code::session_expired,
                   false);
      if (!st.server)
        return pb::Response{};
      auto rp = self->make_response_promise<pb::Response>();
      auto server = st.server;
      self->demonitor(server.address());
      st.server = nullptr;
      self->request(server, st.options.request_timeout, bye_atom::value)
        .then([=](pb::Response& resp) mutable { rp.deliver(std::move(resp)); },
              [=](const caf::error& err) mutable {
                rp.deliver(error_response(error_code::connection_loss,
                                          self->system().render(err)));
              });
      return rp;
    },
  };
}

} // namespace conclave
