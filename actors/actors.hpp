// actors: every typed actor interface of a Conclave node, in one place.
//
// A node is a small set of actors. Data flows like this (see
// docs/architecture.md):
//
//   client_actor --request--> session_actor --read-----> registry_actor
//                                   |                          ^
//                                   +--propose--> log_actor ---+ apply
//                                   ^                          |
//                                   +---------- applied -------+
//
// Reads are served by the registry from the local tree. Writes become
// commands that the log orders and stamps with the leader's time; the
// registry applies committed entries in order and hands results of entries
// this node proposed back to its session actor, which answers the client.
#pragma once

#include <cstdint>

#include <caf/typed_actor.hpp>

#include "messages/type_ids.hpp"

namespace conclave {

/// The node's client-facing endpoint, published on the client port.
using session_actor = caf::typed_actor<
  // Opens a session for the sending client; one session per client actor,
  // closed (its ephemerals removed) when the client goes down or says bye.
  caf::replies_to<hello_atom>::with<pb::Hello>,
  // Serves one client request: reads go to the registry, writes to the log.
  caf::replies_to<request_atom, pb::Request>::with<pb::Response>,
  // Closes the sender's session; replies once its ephemerals are gone.
  caf::replies_to<bye_atom>::with<pb::Response>,
  // Result of an entry this node proposed (from the registry, after apply).
  caf::reacts_to<applied_atom, uint64_t, pb::Response>>;

/// Hosts the znode tree: applies committed entries, serves reads.
using registry_actor = caf::typed_actor<
  // Applies committed entries, in log order. Entries proposed by this node
  // produce an `applied` message to the subscribed session actor.
  caf::reacts_to<apply_atom, pb::LogBatch>,
  // Serves a read (get, exists, children, ephemerals, count) from the tree.
  caf::replies_to<read_atom, pb::Request>::with<pb::Response>,
  // Subscribes the node's session actor to results of local proposals.
  caf::reacts_to<connect_atom, session_actor>,
  // Reports the tree's figures (znodes, applied index, digest, ...).
  caf::replies_to<status_atom>::with<pb::NodeStatus>>;

/// Orders commands into the log and streams committed entries to the
/// registry. (Single node: in memory; the replication issue puts Raft here.)
using log_actor = caf::typed_actor<
  // Appends a command for the session actor's request `request_id`;
  // replies with the log index it was assigned.
  caf::replies_to<propose_atom, pb::Command, uint64_t>::with<uint64_t>,
  // Reports the log's figures (role, term, commit and last index, ...).
  caf::replies_to<status_atom>::with<pb::NodeStatus>>;

/// A native client's connection to a cluster (see client_actor.hpp).
using client_actor = caf::typed_actor<
  // Sends a request to the connected node (connecting first if needed) and
  // relays its response; connection failures answer connection_loss.
  caf::replies_to<request_atom, pb::Request>::with<pb::Response>,
  // Returns the session handshake of the current connection (connects if
  // needed); fails with connection_loss if no server is reachable.
  caf::replies_to<hello_atom>::with<pb::Hello>,
  // Closes the session and the connection.
  caf::replies_to<bye_atom>::with<pb::Response>>;

} // namespace conclave
