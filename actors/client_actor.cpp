#include "actors/client_actor.hpp"

#include <caf/io/middleman.hpp>

#include "runtime/command_codec.hpp"

namespace conclave {

namespace {

using self_ptr = client_actor::stateful_pointer<client_state>;

void connect_next(self_ptr self, size_t attempts_left);

/// Delay before retry `attempt` (1, 2, ...): 20 ms doubling up to 500 ms.
std::chrono::milliseconds retry_delay(uint32_t attempt) {
  auto ms = 20u << std::min(attempt, 5u);
  return std::chrono::milliseconds(std::min(ms, 500u));
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
        if (resp.retry()
            && std::chrono::steady_clock::now() + delay < q.deadline) {
          // Nothing was done (no leader yet): try again shortly.
          ++q.attempt;
          auto rid = st.next_retry_id++;
          st.retries.emplace(rid, std::move(q));
          self->delayed_send(self, delay, retry_atom::value, rid);
          return;
        }
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

/// The server went down: what it had not answered fails now (its outcome
/// is unknown, as with ZooKeeper's ConnectionLoss); the next request
/// connects to another server.
void server_lost(self_ptr self) {
  auto& st = self->state;
  st.server = nullptr;
  auto lost = std::move(st.inflight);
  st.inflight.clear();
  for (auto& [id, promise] : lost)
    promise.deliver(error_response(error_code::connection_loss,
                                   "connection to the server lost"));
}

/// Fails everything waiting for a connection.
void fail_waiting(self_ptr self, const std::string& why) {
  auto& st = self->state;
  for (auto& q : st.queue)
    q.promise.deliver(error_response(error_code::connection_loss, why));
  st.queue.clear();
  for (auto& w : st.hello_waiters)
    w.deliver(caf::make_error(caf::sec::cannot_connect_to_node, why));
  st.hello_waiters.clear();
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

void on_connected(self_ptr self, session_actor server, pb::Hello hello) {
  auto& st = self->state;
  st.server = std::move(server);
  st.hello = std::move(hello);
  st.connecting = false;
  self->monitor(st.server);
  for (auto& w : st.hello_waiters)
    w.deliver(st.hello);
  st.hello_waiters.clear();
  auto queue = std::move(st.queue);
  st.queue.clear();
  for (auto& q : queue)
    forward(self, std::move(q));
  subscribe_leadership(self);
}

void try_next(self_ptr self, size_t attempts_left, const std::string& why) {
  if (attempts_left > 1) {
    connect_next(self, attempts_left - 1);
    return;
  }
  self->state.connecting = false;
  std::string servers;
  for (const auto& s : self->state.options.servers)
    servers += (servers.empty() ? "" : ",") + s.to_string();
  fail_waiting(self, "cannot reach any server of " + servers + " (last: " + why
                       + ")");
}

void connect_next(self_ptr self, size_t attempts_left) {
  auto& st = self->state;
  st.connecting = true;
  const auto& target = st.options.servers[st.next_server];
  st.next_server = (st.next_server + 1) % st.options.servers.size();
  auto mm = self->system().middleman().actor_handle();
  auto timeout = st.options.request_timeout;
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
        self->request(server, timeout, hello_atom::value)
          .then(
            [=](pb::Hello& hello) {
              on_connected(self, server, std::move(hello));
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
  if (!st.server && !st.connecting)
    connect_next(self, st.options.servers.size());
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
    if (msg.source == self->state.server.address())
      server_lost(self);
  });
  return {
    [=](request_atom, pb::Request& req) -> caf::result<pb::Response> {
      auto& st = self->state;
      if (st.options.servers.empty())
        return error_response(error_code::connection_loss,
                              "no servers configured");
      auto rp = self->make_response_promise<pb::Response>();
      client_state::queued q{
        std::move(req), rp,
        std::chrono::steady_clock::now() + st.options.request_timeout, 0};
      if (st.server) {
        forward(self, std::move(q));
        return rp;
      }
      if (st.queue.size() >= st.options.max_queued_requests)
        return error_response(error_code::throttled_op,
                              "too many requests waiting for a connection");
      st.queue.push_back(std::move(q));
      ensure_connecting(self);
      return rp;
    },
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
      if (st.server) {
        forward(self, std::move(q));
        return;
      }
      st.queue.push_back(std::move(q));
      ensure_connecting(self);
    },
    [=](hello_atom) -> caf::result<pb::Hello> {
      auto& st = self->state;
      if (st.options.servers.empty())
        return caf::make_error(caf::sec::cannot_connect_to_node,
                               "no servers configured");
      if (st.server)
        return st.hello;
      auto rp = self->make_response_promise<pb::Hello>();
      st.hello_waiters.push_back(rp);
      ensure_connecting(self);
      return rp;
    },
    [=](bye_atom) -> caf::result<pb::Response> {
      auto& st = self->state;
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
