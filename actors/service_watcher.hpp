// service_watcher: turns a service's znodes into service_up / service_down /
// service_changed messages for an application actor.
//
// subscribe() spawns one per subscription. It leaves a persistent recursive
// watch on /services/NAME through the client actor, lists the instances
// (each one live is reported as service_up), and from then on reads each
// instance a notification names and feeds what it learns into a
// runtime/service_view, which emits every real change exactly once, in zxid
// order per instance. After every reconnect (the client moved to another
// node, or the node lost its leader for a while) it lists the instances
// again: the view reports whatever changed meanwhile, so there are no gaps
// across reconnects.
//
// The subscription ends when the subscriber actor goes down, or when the
// watcher is sent an exit. If the client's session expires, the watcher
// stops without reporting anything (the registrations it saw may all still
// be live); the application learns of the expiry from the client.
#pragma once

#include <string>
#include <vector>

#include "actors/actors.hpp"
#include "runtime/service_view.hpp"

namespace conclave {

/// A service watcher's interface.
using service_watcher_actor = caf::typed_actor<
  // A notification or connection-state event, from the client actor.
  caf::reacts_to<event_atom, pb::WatchEvent>,
  // Self-sent: lists the instances again after a read failed.
  caf::reacts_to<sweep_atom>>;

struct service_watcher_state {
  static inline const char* name = "service_watcher";

  client_actor client;
  std::string service;
  /// /services/NAME
  std::string path;
  service_listener listener;
  service_view view;
  /// A listing is being read; another is due once it is done.
  bool listing = false;
  bool relist = false;
  /// A listing is scheduled after a failed read.
  bool retry_scheduled = false;
};

/// Subscribes `listener` to the instances of service `name` through
/// `client`. An invalid name (see is_valid_service_name) yields a watcher
/// that exits at once with an error.
service_watcher_actor subscribe(caf::actor_system& sys, client_actor client,
                                std::string name, service_listener listener);

service_watcher_actor::behavior_type service_watcher(
  service_watcher_actor::stateful_pointer<service_watcher_state> self,
  client_actor client, std::string name, service_listener listener);

} // namespace conclave
