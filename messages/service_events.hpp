// service_events: what a service subscriber receives (see
// actors/service_watcher.hpp): an instance came up, went down, or changed its
// registration. Each carries the instance as registered.
#pragma once

#include "messages/conclave.pb.h"

namespace conclave {

/// An instance registered (or was there when the subscription started).
struct service_up {
  pb::ServiceInstance instance;
};

/// An instance's registration vanished (it deregistered, or its session
/// ended: the process died or lost contact for longer than its timeout).
/// Carries the last registration seen.
struct service_down {
  pb::ServiceInstance instance;
};

/// An instance updated its registration (endpoint or metadata).
struct service_changed {
  pb::ServiceInstance instance;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, service_up& x) {
  return f(caf::meta::type_name("service_up"), x.instance);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, service_down& x) {
  return f(caf::meta::type_name("service_down"), x.instance);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, service_changed& x) {
  return f(caf::meta::type_name("service_changed"), x.instance);
}

} // namespace conclave
