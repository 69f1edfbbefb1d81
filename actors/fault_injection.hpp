// fault_injection: what an actor does when its supervisor injects a fault
// (see runtime/fault_spec.hpp). Every supervised actor has a
// (fault_atom, std::string) handler that calls inject_fault; the supervisor
// only sends one when the node runs with conclave.fault-injection = "on".
#pragma once

#include <stdexcept>
#include <string>
#include <thread>

#include <caf/error.hpp>
#include <caf/sec.hpp>

#include "actors/local_sender.hpp"
#include "runtime/fault_spec.hpp"
#include "runtime/logging.hpp"

namespace conclave {

/// Throws, quits with an error, or blocks the calling actor, as `text`
/// says; ignores (and logs) a malformed spec, and a fault that does not
/// come from this process (the supervisor).
template <class Self>
void inject_fault(Self* self, const std::string& text) {
  if (!from_this_process(self)) {
    CONCLAVE_LOG("supervisor", warning)
      << "ignoring a fault message from outside this node";
    return;
  }
  auto spec = parse_fault(text);
  if (!spec) {
    CONCLAVE_LOG("supervisor", warning)
      << "ignoring a malformed fault '" << text << "'";
    return;
  }
  CONCLAVE_LOG("supervisor", warning)
    << "injected fault in " << self->name() << ": " << text;
  switch (spec->what) {
    case fault_spec::kind::throw_exception:
      throw std::runtime_error("injected fault (throw)");
    case fault_spec::kind::exit:
      self->quit(
        caf::make_error(caf::sec::runtime_error, "injected fault (exit)"));
      return;
    case fault_spec::kind::block:
      // Blocks this actor's thread, as a hung disk or a livelock would.
      std::this_thread::sleep_for(spec->block_for);
      return;
  }
}

} // namespace conclave
