// actors: every typed actor interface of a Conclave node, in one place.
//
// A node is a small set of actors. Data flows like this (see
// docs/architecture.md):
//
//   client_actor --request--> session_actor --read------------> registry_actor
//                                   |                                ^
//                                   +--propose--> log_actor ---------+ apply
//                                   |              |  ^    |
//                                   |    storage <-+  |    +--raft--> peers'
//                                   |    (durable)    |               log actors
//                                   |           election_actor (ticks, policy)
//                                   +----------- applied (from the registry)
//
// Reads are served by the registry from the local tree. Writes become
// proposals that the leader's log actor appends to the Raft log; every node's
// registry applies committed entries in order, and the node that proposed an
// entry answers its client once it has applied it.
#pragma once

#include <cstdint>
#include <string>

#include <caf/typed_actor.hpp>

#include "messages/local_messages.hpp"
#include "messages/type_ids.hpp"

namespace conclave {

/// Anything that receives watch notifications and connection-state events
/// (ZooKeeper's WatchedEvent): a native client actor, an application actor
/// the client routes a watch to.
using watch_listener = caf::typed_actor<
  // A watch fired (type > 0) or the connection state changed (type -1).
  caf::reacts_to<event_atom, pb::WatchEvent>>;

/// A node's supervisor (actors/supervisor.hpp): starts, watches and restarts
/// the node's actors, and is the node's directory of their current handles.
using supervisor_actor = caf::typed_actor<
  // The current handle of a child by name ("log", "election", ...; null if
  // there is none). Handles change when children restart: look them up
  // again rather than keeping one that may be stale.
  caf::replies_to<caf::get_atom, std::string>::with<caf::strong_actor_ptr>,
  // Restart counts per child (NodeStatus.restarts only).
  caf::replies_to<status_atom>::with<pb::NodeStatus>,
  // Injects a fault (throw, exit, block:MS) into the named child; fails
  // unless the node runs with conclave.fault-injection = "on".
  caf::replies_to<fault_atom, std::string, std::string>::with<bool>,
  // Self-sent every probe interval: asks every child whether it is alive.
  caf::reacts_to<probe_atom>>;

/// The node's client-facing endpoint, published on the client port.
using session_actor = caf::typed_actor<
  // Opens a session for the sending client (Connect.session_id 0) or
  // resumes one (its id and password); the sender receives watch events.
  // SessionExpired if the session is unknown or the password is wrong;
  // ConnectionLoss (retry elsewhere) if the node has no leader.
  caf::replies_to<hello_atom, pb::Connect>::with<pb::Hello>,
  // Serves one client request: reads go to the registry, writes to the log.
  caf::replies_to<request_atom, pb::Request>::with<pb::Response>,
  // Closes the sender's session; replies once its ephemerals are gone.
  caf::replies_to<bye_atom>::with<pb::Response>,
  // The node's status (Raft, tree, sessions, connections): what
  // `conclavectl status` prints and the admin port serves.
  caf::replies_to<status_atom>::with<pb::NodeStatus>,
  // Result of an entry this node proposed (from the registry, after apply).
  caf::reacts_to<applied_atom, uint64_t, pb::Response>,
  // Sessions opened or ended by applied entries, or the whole table on
  // request (from the registry).
  caf::reacts_to<sessions_atom, pb::SessionChanges>,
  // Sessions heard from on another node (leader only; from the log actor).
  caf::reacts_to<touch_atom, pb::SessionTouches>,
  // Leadership changed (from the election actor).
  caf::reacts_to<leader_atom, pb::Leadership>,
  // Periodic: forwards liveness to the leader; the leader expires silent
  // sessions.
  caf::reacts_to<expire_atom>,
  // Periodic: fails writes that waited longer than the request timeout.
  caf::reacts_to<sweep_atom>,
  // Periodic: the leader proposes deleting empty containers and expired TTL
  // nodes.
  caf::reacts_to<cleanup_atom>,
  // The node's supervisor: where the current election actor is found, and
  // where fault requests go.
  caf::reacts_to<connect_atom, supervisor_actor>,
  // Restart counts of the node's actors, from the supervisor whenever they
  // change (shown in the status).
  caf::reacts_to<restarts_atom, pb::NodeStatus>,
  // Fault injection (from the supervisor).
  caf::reacts_to<fault_atom, std::string>>;

/// Hosts the znode tree: applies committed entries, serves reads, takes and
/// loads snapshots.
using registry_actor = caf::typed_actor<
  // Applies committed entries, in log order. Entries proposed by this node
  // produce an `applied` message to the subscribed session actor.
  caf::reacts_to<apply_atom, pb::LogBatch>,
  // Serves a read once the tree has applied Request.min_zxid; a read with
  // a watch flag, addWatch, removeWatches and setWatches also (un)register
  // watches of Request.session_id.
  caf::replies_to<read_atom, pb::Request>::with<pb::Response>,
  // Delivers the session's watch events to the listener from now on.
  caf::reacts_to<watch_atom, int64_t, watch_listener>,
  // The session's client left this node: drops its watches here.
  caf::reacts_to<watch_atom, int64_t>,
  // Checks a reconnecting session's password once the tree has applied the
  // client's last zxid; ok with the session's info, or SessionExpired.
  caf::replies_to<check_atom, pb::SessionCheck>::with<pb::Response>,
  // The whole session table (a new leader's session tracker starts from
  // it); later changes follow as (sessions_atom, changes) messages.
  caf::replies_to<sessions_atom>::with<pb::SessionChanges>,
  // Subscribes the node's session actor to results of local proposals.
  caf::reacts_to<connect_atom, session_actor>,
  // Reports the tree's figures (znodes, applied index, digest, ...).
  caf::replies_to<status_atom>::with<pb::NodeStatus>,
  // Paths of containers and TTL nodes due for deletion at the given leader
  // time (ms since the epoch), sorted, at most the given number.
  caf::replies_to<cleanup_atom, int64_t, uint64_t>::with<pb::PathList>,
  // Takes a snapshot of the applied state (in a forked child, so serving
  // goes on); replies with its metadata once it is durable.
  caf::replies_to<snapshot_atom>::with<pb::SnapshotMeta>,
  // Replaces the tree with the snapshot file at the path (a follower that
  // was sent the leader's snapshot).
  caf::reacts_to<load_atom, std::string, pb::SnapshotMeta>,
  // Periodic: collects a finished snapshot child process.
  caf::reacts_to<reap_atom>,
  // Periodic: answers reads parked longer than their timeout.
  caf::reacts_to<sweep_atom>,
  // Fault injection (from the supervisor).
  caf::reacts_to<fault_atom, std::string>>;

/// Makes the log durable (a detached actor: it blocks on fsync).
using storage_actor = caf::typed_actor<
  // Writes the hard state and entries and syncs once; replies with the last
  // durable index and its term.
  caf::replies_to<persist_atom, persist_batch>::with<uint64_t, uint64_t>,
  // Removes log segments wholly covered by the snapshot at the index and
  // old snapshots beyond the retention count; replies with the number of
  // files removed.
  caf::replies_to<compact_atom, uint64_t>::with<uint64_t>,
  // Stores one chunk of a snapshot streamed by the leader; replies with the
  // next expected offset, and with the file's path once the last chunk made
  // it durable and verified (empty path before that).
  caf::replies_to<chunk_atom, pb::SnapshotChunk>::with<uint64_t, std::string>,
  // Reads up to the given number of bytes from an offset of the snapshot
  // file with the given index (0: the newest), for streaming it to a
  // follower; each transfer keeps reading the file it started with.
  caf::replies_to<fetch_atom, uint64_t, uint64_t,
                  uint64_t>::with<pb::SnapshotChunk>,
  // Fault injection (from the supervisor).
  caf::reacts_to<fault_atom, std::string>>;

/// Anything that wants to hear about leadership changes (the election
/// actor's interface includes it).
using leadership_listener = caf::typed_actor<
  // Role, term or leader changed.
  caf::reacts_to<leader_atom, pb::Leadership>>;

/// Hosts the Raft core: orders proposals into the log, replicates it to the
/// peers' log actors, and streams committed entries to the registry.
using log_actor = caf::typed_actor<
  // Appends a proposal (the leader stamps its time); replies with the log
  // index. A follower forwards it to the leader; with no leader it fails.
  caf::replies_to<propose_atom, pb::Proposal>::with<uint64_t>,
  // A Raft message from a peer's log actor.
  caf::reacts_to<raft_atom, pb::RaftMessage>,
  // A chunk of the leader's snapshot (follower side); replies with the next
  // offset wanted.
  caf::replies_to<chunk_atom, pb::SnapshotChunk>::with<uint64_t>,
  // Confirms leadership and replies with a linearizable read index (§6.4).
  caf::replies_to<read_index_atom>::with<uint64_t>,
  // Hands leadership to the node (0: the most up-to-date follower); replies
  // with the chosen node. A follower forwards it to the leader once (the
  // flag marks a forwarded request, which a non-leader refuses).
  caf::replies_to<transfer_atom, uint64_t, bool>::with<uint64_t>,
  // Reports the cluster's membership (no changes) or applies the changes
  // one at a time, each committed before the next (Raft §4.1; adding a
  // voter = learner, catch up, promote). Served by the leader: a follower
  // forwards it once (the flag marks a forwarded request). Refusals travel
  // in MembershipResult.error.
  caf::replies_to<reconfig_atom, pb::ReconfigRequest,
                  bool>::with<pb::MembershipResult>,
  // Takes a snapshot of this node's applied state now (or waits for the
  // one being taken) and replies with its metadata once it is durable.
  caf::replies_to<snapshot_atom>::with<pb::SnapshotMeta>,
  // One tick of the Raft clock (from the election actor).
  caf::reacts_to<tick_atom>,
  // Drains the core's output (self-sent, so that a mailbox full of work is
  // handled as one batch: one disk write for many proposals).
  caf::reacts_to<flush_atom>,
  // Reports Raft figures (role, term, indexes, peers' match indexes).
  caf::replies_to<status_atom>::with<pb::NodeStatus>,
  // Subscribes the election actor to leadership changes.
  caf::reacts_to<connect_atom, leadership_listener>,
  // Sessions heard from: from the local session actor (a follower forwards
  // them to the leader's log actor) or from a follower (the leader hands
  // them to its session actor).
  caf::reacts_to<touch_atom, pb::SessionTouches>,
  // Subscribes the session actor to liveness forwarded by followers.
  caf::reacts_to<connect_atom, session_actor>,
  // Fault injection (from the supervisor).
  caf::reacts_to<fault_atom, std::string>>;

/// Leadership policy: drives the Raft clock and tells the node's actors when
/// leadership changes.
using election_actor = caf::typed_actor<
  // Role, term or leader changed (from the log actor).
  caf::reacts_to<leader_atom, pb::Leadership>,
  // Self-sent every tick-ms; forwards a tick to the log actor.
  caf::reacts_to<tick_atom>,
  // Self-sent every policy interval: a leader hands over to the preferred
  // leader once it is reachable and caught up.
  caf::reacts_to<policy_atom>,
  // Subscribes the node's session actor to leadership changes.
  caf::reacts_to<connect_atom, session_actor>,
  // Hands leadership to the node (0: the most up-to-date follower).
  caf::replies_to<transfer_atom, uint64_t>::with<uint64_t>,
  // Fault injection (from the supervisor).
  caf::reacts_to<fault_atom, std::string>>;

/// A subscriber to a service's instances (see service_watcher.hpp): any
/// actor of the application's with these handlers.
using service_listener = caf::typed_actor<
  // An instance is live (also each one live when the subscription starts).
  caf::reacts_to<service_up>,
  // An instance is gone.
  caf::reacts_to<service_down>,
  // An instance changed its registration.
  caf::reacts_to<service_changed>>;

/// A native client's connection to a cluster (see client_actor.hpp).
using client_actor = caf::typed_actor<
  // Sends a request to the connected node (connecting first if needed) and
  // relays its response; connection failures answer connection_loss.
  caf::replies_to<request_atom, pb::Request>::with<pb::Response>,
  // Returns the session handshake of the current connection (connects if
  // needed); fails with connection_loss if no server is reachable.
  caf::replies_to<hello_atom>::with<pb::Hello>,
  // Closes the session and the connection.
  caf::replies_to<bye_atom>::with<pb::Response>,
  // Self-sent: sends again a request the node answered with `retry` (no
  // leader yet), until the request's deadline.
  caf::reacts_to<retry_atom, uint64_t>,
  // Subscribes an application actor to leadership changes of the cluster:
  // it receives (leader_atom, pb::Leadership) messages; replies with the
  // current leadership.
  caf::replies_to<leader_atom, leadership_listener>::with<pb::Leadership>,
  // A leadership change reported by the connected node.
  caf::reacts_to<leader_atom, pb::Leadership>,
  // A watch notification or connection-state event from the connected
  // node; the client routes it to the listeners that asked for it.
  caf::reacts_to<event_atom, pb::WatchEvent>,
  // Sends a request that leaves a watch (a read with the watch flag, or
  // addWatch), or removes one (removeWatches); the listener receives the
  // watch's events. The client re-registers its watches when it moves to
  // another node, so none is lost across a failover.
  caf::replies_to<watch_atom, pb::Request, watch_listener>::with<pb::Response>,
  // Subscribes the listener to connection-state events (type -1: state 3
  // connected, 0 disconnected, -112 expired); replies with the current
  // state.
  caf::replies_to<state_atom, watch_listener>::with<int32_t>,
  // Self-sent every third of the session timeout: keeps the session alive
  // and moves to another node if this one stops answering.
  caf::reacts_to<ping_atom>,
  // Self-sent: tries the servers again after a round in which none could
  // serve (backing off).
  caf::reacts_to<connect_atom>>;

} // namespace conclave
