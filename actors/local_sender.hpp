// local_sender: whether the message an actor handles comes from an actor of
// this process.
//
// The log and session actors are published on the network (peer-port,
// client-port), so anyone who reaches those ports can send them any message
// of their interface. Messages that rewire a node (connect_atom with a new
// handle, restart counts) or break it on purpose (fault_atom) must come
// from the node's own actors: a remote or anonymous sender is ignored.
#pragma once

namespace conclave {

template <class Self>
bool from_this_process(Self* self) {
  const auto& sender = self->current_sender();
  return sender && sender->node() == self->system().node();
}

} // namespace conclave
