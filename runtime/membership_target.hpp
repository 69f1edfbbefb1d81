// membership_target: has a membership change request taken effect?
//
// A change whose answer was lost (the node the client talks to lost its
// leader, or the leader removed itself and stepped down while answering)
// may or may not have been applied. Membership requests are declarative
// (node 4 is a voter at this address, node 3 is gone), so the client can
// settle the question by reading the committed configuration: if every
// change's end state holds there, the request is done, whoever did it.
//
// Pure value code: no I/O.
#pragma once

#include "messages/conclave.pb.h"

namespace conclave {

/// True if `config` is the end state every change of `req` asks for:
/// ADD_VOTER and PROMOTE: a voter (with the requested addresses, if given);
/// ADD_LEARNER: a learner (likewise); REMOVE: absent. When a request
/// changes one member several times, its last change counts. An empty
/// request is reached by any configuration.
bool membership_target_reached(const pb::ReconfigRequest& req,
                               const pb::Configuration& config);

} // namespace conclave
