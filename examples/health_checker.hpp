// health_checker: a custom actor (actors/custom_actor.hpp) that adds
// Consul-style health checks to the service registry, which ZooKeeper
// lacks.
//
// Every interval it lists the registered instances (of every service under
// /services, or of the configured ones), probes each instance's endpoint
// "host:port" with a TCP connect bounded by the timeout, and records the
// outcome in the registration itself, as metadata key "health":
// "critical" after `failures-before-critical` failed probes in a row,
// "passing" after one successful probe. It writes only when the stored
// value differs, with the version it read (compare-and-set), so it never
// overwrites an instance's own update and several checkers (one per node)
// agree without coordination. Subscribers (service_watcher) see the change
// as service_changed.
//
//   actors {
//     web-health {
//       type = "health-checker"
//       interval-ms = 2000               # 50..3600000
//       timeout-ms = 1000                # 10..60000, less than interval-ms
//       services = ["web"]               # absent or []: every service
//       failures-before-critical = 2     # 1..100
//     }
//   }
//
// Probing blocks, so the actor runs detached (a thread of its own); it
// never blocks the client actor or a scheduler thread.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "actors/custom_actor.hpp"

namespace conclave {

/// A health checker's interface.
using health_checker_actor = caf::typed_actor<
  // Self-sent every interval: starts a round (list, read, probe, write).
  caf::reacts_to<tick_atom>,
  // Self-sent: probes the next batch of the round's instances (one batch
  // per message, so that an exit never waits for a whole round).
  caf::reacts_to<sweep_atom>,
  // Connection-state events from the client (expired: the checker stops
  // with an error; closed: it stops).
  caf::reacts_to<event_atom, pb::WatchEvent>>;

/// The "health-checker" type: check() validates interval-ms, timeout-ms,
/// services and failures-before-critical (and rejects any other key);
/// spawn() starts a detached checker.
actor_type health_checker_type();

/// True if a TCP connection to `host_port` ("host:port", "[v6]:port")
/// opens within `timeout` (non-blocking connect, bounded by poll()). False
/// for a malformed endpoint, an unknown host, a refused or timed-out
/// connect. Name resolution (getaddrinfo) is not bounded by `timeout`.
bool probe_tcp(const std::string& host_port, std::chrono::milliseconds timeout);

/// probe_tcp() for many endpoints at once: all connects run concurrently
/// under one deadline, so the call takes at most about `timeout`. One
/// result per endpoint, in order.
std::vector<bool> probe_tcp_all(const std::vector<std::string>& host_ports,
                                std::chrono::milliseconds timeout);

} // namespace conclave
