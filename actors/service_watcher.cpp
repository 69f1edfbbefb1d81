#include "actors/service_watcher.hpp"

#include <memory>

#include "actors/client_actor.hpp"
#include "runtime/path.hpp"
#include "runtime/watch_manager.hpp"
#include "runtime/services.hpp"

namespace conclave {

namespace {

using self_ptr = service_watcher_actor::stateful_pointer<service_watcher_state>;

/// How long the watcher waits for one of its reads.
constexpr auto read_timeout = std::chrono::seconds(30);

/// How long it waits before listing again after a failed read.
constexpr auto retry_delay = std::chrono::seconds(1);

/// A read failed (not because the instance is gone): list everything again
/// a little later, so that nothing the failed read would have shown is
/// missed.
void retry_later(self_ptr self) {
  auto& st = self->state;
  if (st.retry_scheduled)
    return;
  st.retry_scheduled = true;
  self->delayed_send(self, retry_delay, sweep_atom::value);
}

pb::ServiceInstance to_instance(const service_watcher_state& st,
                                const service_instance_state& s) {
  return instance_of(st.service, s.id, s.data, s.czxid, s.mzxid);
}

void emit(self_ptr self, const std::vector<service_change>& changes) {
  auto& st = self->state;
  for (const auto& c : changes) {
    auto instance = to_instance(st, c.instance);
    switch (c.kind) {
      case service_change_kind::up:
        self->send(st.listener, service_up{std::move(instance)});
        break;
      case service_change_kind::down:
        self->send(st.listener, service_down{std::move(instance)});
        break;
      case service_change_kind::changed:
        self->send(st.listener, service_changed{std::move(instance)});
        break;
    }
  }
}

pb::Request get_data(const std::string& path) {
  pb::Request req;
  req.mutable_get_data()->set_path(path);
  return req;
}

/// Reads one instance a notification named.
void read_instance(self_ptr self, const std::string& id) {
  auto& st = self->state;
  self
    ->request(st.client, read_timeout, request_atom::value,
              get_data(st.path + "/" + id))
    .then(
      [=](const pb::Response& resp) {
        if (resp.error() == static_cast<int32_t>(error_code::no_node)) {
          emit(self, self->state.view.on_deleted(id, resp.zxid()));
          return;
        }
        if (resp.error() != 0) {
          retry_later(self);
          return;
        }
        const auto& stat = resp.data().stat();
        emit(self, self->state.view.on_instance(service_instance_state{
                     id, resp.data().data(), stat.czxid(), stat.mzxid()}));
      },
      [=](const caf::error&) { retry_later(self); });
}

void list(self_ptr self);

/// A listing is complete: hand it to the view.
void listed(self_ptr self, std::vector<service_instance_state> found,
            int64_t at) {
  auto& st = self->state;
  emit(self, st.view.on_listing(found, at));
  st.listing = false;
  if (st.relist) {
    st.relist = false;
    list(self);
  }
}

/// Lists every instance: the children, then each one's data.
void list(self_ptr self) {
  auto& st = self->state;
  if (st.listing) {
    st.relist = true;
    return;
  }
  st.listing = true;
  pb::Request req;
  req.mutable_get_children()->set_path(st.path);
  self->request(st.client, read_timeout, request_atom::value, std::move(req))
    .then(
      [=](const pb::Response& resp) {
        auto at = resp.zxid();
        if (resp.error() == static_cast<int32_t>(error_code::no_node)) {
          listed(self, {}, at); // nobody registered yet
          return;
        }
        if (resp.error() != 0) {
          self->state.listing = false;
          retry_later(self);
          return;
        }
        const auto& names = resp.children().names();
        if (names.empty()) {
          listed(self, {}, at);
          return;
        }
        struct pending {
          std::vector<service_instance_state> found;
          size_t left;
          bool failed = false;
        };
        auto acc = std::make_shared<pending>(pending{{}, size_t(names.size())});
        for (const auto& name : names) {
          auto id = name;
          self
            ->request(self->state.client, read_timeout, request_atom::value,
                      get_data(self->state.path + "/" + id))
            .then(
              [=](const pb::Response& r) {
                if (r.error() == 0)
                  acc->found.push_back(service_instance_state{
                    id, r.data().data(), r.data().stat().czxid(),
                    r.data().stat().mzxid()});
                else if (r.error() != static_cast<int32_t>(error_code::no_node))
                  acc->failed = true;
                if (--acc->left == 0) {
                  if (!acc->failed) {
                    listed(self, std::move(acc->found), at);
                    return;
                  }
                  self->state.listing = false;
                  retry_later(self);
                }
              },
              [=](const caf::error&) {
                acc->failed = true;
                if (--acc->left == 0) {
                  self->state.listing = false;
                  retry_later(self);
                }
              });
        }
      },
      [=](const caf::error&) {
        self->state.listing = false;
        retry_later(self);
      });
}

/// A notification: which instance it names, if any.
void on_event(self_ptr self, const pb::WatchEvent& ev) {
  auto& st = self->state;
  if (ev.type() == -1) {
    if (ev.state() == static_cast<int32_t>(connection_state::connected))
      list(self); // reconnected: catch up with what we may have missed
    else if (ev.state() == static_cast<int32_t>(connection_state::expired))
      self->quit(caf::make_error(caf::sec::runtime_error,
                                 "the client's session expired"));
    return;
  }
  const auto& p = ev.path();
  if (p == st.path) {
    if (ev.type() == static_cast<int32_t>(watch_event::node_deleted)
        || ev.type() == static_cast<int32_t>(watch_event::node_created))
      list(self);
    return;
  }
  if (path::parent(p) != st.path)
    return; // deeper than an instance: not ours to interpret
  auto id = std::string{path::basename(p)};
  switch (static_cast<watch_event>(ev.type())) {
    case watch_event::node_created:
    case watch_event::node_data_changed:
      read_instance(self, id);
      break;
    case watch_event::node_deleted:
      emit(self, st.view.on_deleted(id, ev.zxid()));
      break;
    default:
      break;
  }
}

} // namespace

service_watcher_actor subscribe(caf::actor_system& sys, client_actor client,
                                std::string name, service_listener listener) {
  return sys.spawn(service_watcher, std::move(client), std::move(name),
                   std::move(listener));
}

service_watcher_actor::behavior_type service_watcher(
  service_watcher_actor::stateful_pointer<service_watcher_state> self,
  client_actor client, std::string name, service_listener listener) {
  auto& st = self->state;
  st.client = std::move(client);
  st.service = std::move(name);
  st.listener = std::move(listener);
  auto path = service_path(st.service);
  if (!path) {
    self->quit(caf::make_error(caf::sec::invalid_argument,
                               "invalid service name: " + st.service));
    return {[](event_atom, const pb::WatchEvent&) {}, [](sweep_atom) {}};
  }
  st.path = std::move(path).value();
  // The subscription lives as long as its subscriber.
  self->monitor(st.listener);
  self->set_down_handler([=](const caf::down_msg&) { self->quit(); });
  pb::Request watch;
  watch.mutable_add_watch()->set_path(st.path);
  watch.mutable_add_watch()->set_mode(1); // persistent recursive
  auto me = caf::actor_cast<watch_listener>(self);
  self
    ->request(st.client, read_timeout, watch_atom::value, std::move(watch), me)
    .then(
      [=](const pb::Response& resp) {
        if (resp.error() != 0) {
          self->quit(caf::make_error(caf::sec::runtime_error,
                                     "cannot watch " + self->state.path + ": "
                                       + resp.message()));
          return;
        }
        // The watch is in place: whatever changes from now on is reported,
        // and the listing reports what is there.
        list(self);
      },
      [=](const caf::error& err) { self->quit(err); });
  self->request(st.client, read_timeout, state_atom::value, me)
    .then([](int32_t) {}, [](const caf::error&) {});
  return {
    [=](event_atom, const pb::WatchEvent& ev) { on_event(self, ev); },
    [=](sweep_atom) {
      self->state.retry_scheduled = false;
      list(self);
    },
  };
}

} // namespace conclave
