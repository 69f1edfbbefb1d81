// blocking_client: a synchronous wrapper around client_actor for simple
// programs and tools (conclavectl, examples).
//
// Each call sends one request to the client actor and blocks until the
// response (or the request timeout) arrives. Expected failures come back as
// values: reply<T>::error is a ZooKeeper error code, reply<T>::message says
// what went wrong. connection_loss means no server answered. Use one
// blocking_client from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/client_actor.hpp"
#include "actors/service_watcher.hpp"
#include "runtime/data_tree.hpp"
#include "runtime/ops.hpp"
#include "runtime/watch_manager.hpp"

namespace conclave {

struct none_t {};

template <class T>
struct reply {
  error_code error = error_code::ok;
  std::string message;
  /// zxid at which the node served the request.
  int64_t zxid = 0;
  T value{};

  bool ok() const noexcept { return error == error_code::ok; }
  explicit operator bool() const noexcept { return ok(); }
};

class blocking_client {
public:
  blocking_client(caf::actor_system& sys, client_options opts);
  /// Closes the session (its ephemeral nodes go away) and stops the actor.
  ~blocking_client();

  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  /// Connects and opens a session; returns its id.
  reply<int64_t> connect();

  /// Creates a znode; returns the created path (with sequence suffix). An
  /// empty `acl` is world:anyone with all permissions.
  reply<std::string> create(std::string_view path, std::string_view data,
                            create_mode mode = create_mode::persistent,
                            int64_t ttl_ms = 0,
                            const std::vector<acl_entry>& acl = {});
  reply<conclave::stat> set(std::string_view path, std::string_view data,
                            int32_t version = any_version);
  reply<none_t> remove(std::string_view path, int32_t version = any_version);
  /// With `watch`, each of these also leaves a one-shot watch whose event
  /// next_event() returns (get/children only if the node exists; exists
  /// always, so that it fires when the node is created).
  reply<node_data> get(std::string_view path, bool watch = false);
  /// The stat, or no_node.
  reply<conclave::stat> exists(std::string_view path, bool watch = false);
  reply<node_children> children(std::string_view path, bool watch = false);

  // -- watches ---------------------------------------------------------------

  /// ZooKeeper 3.6's addWatch: a persistent watch on `path` (recursive:
  /// on every node below it too), until remove_watches().
  reply<none_t> add_watch(std::string_view path, bool recursive);
  /// Removes this client's watches of `type` on `path`.
  reply<none_t> remove_watches(std::string_view path, watcher_type type);
  /// The next watch notification or connection-state event (type -1, see
  /// connection_state), waiting at most `timeout`; nullopt if none came.
  std::optional<pb::WatchEvent> next_event(std::chrono::milliseconds timeout);
  /// Also deliver connection-state changes to next_event(); returns the
  /// current state.
  connection_state watch_state();
  /// Atomic multi; value holds one result per op (also when it failed).
  reply<std::vector<op_result>> multi(const std::vector<txn_op>& ops);
  /// Ephemeral nodes of this client's session under `prefix`.
  reply<std::vector<std::string>> ephemerals(std::string_view prefix = "/");
  reply<int64_t> count_descendants(std::string_view path);
  reply<pb::NodeStatus> status();
  /// Waits until the connected node has applied every write the leader had
  /// committed when sync was called (ZooKeeper's sync).
  reply<none_t> sync(std::string_view path = "/");
  /// Hands leadership to `target` (0: the most up-to-date follower);
  /// returns the node that is taking over.
  reply<uint64_t> transfer_leader(uint64_t target = 0);
  /// The cluster's membership as the leader sees it (configuration, its
  /// index, each member's progress).
  reply<pb::MembershipResult> members();
  /// Applies membership changes one at a time at the leader (see
  /// pb::ReconfigRequest); the value holds the membership afterwards (also
  /// on failure, with `applied` saying how many changes took effect). Needs
  /// a request timeout longer than a learner's catch-up. If the answer is
  /// lost (ConnectionLoss, OperationTimeout: e.g. the leader removed itself
  /// and stepped down), the committed membership decides: ok if it shows
  /// every change's end state (membership_target.hpp).
  reply<pb::MembershipResult> reconfig(const pb::ReconfigRequest& req);
  /// Backups: index 0 at offset 0 makes the connected node take a snapshot
  /// and returns its first chunk; then read on with the chunk's index.
  reply<pb::SnapshotChunk> snapshot_chunk(uint64_t index, uint64_t offset);
  /// Makes the connected node's actor fail as `kind` says (throw, exit,
  /// block:MS); bad_arguments unless the node runs with
  /// conclave.fault-injection = "on" (see runtime/fault_spec.hpp).
  reply<none_t> inject_fault(std::string_view actor, std::string_view kind);

  // -- ACLs --------------------------------------------------------------------

  /// Proves an identity for this client (ZooKeeper's addauth): scheme
  /// "digest" with "user:password". The client proves it again whenever it
  /// connects to another node.
  reply<none_t> add_auth(std::string_view scheme, std::string_view credentials);
  /// The node's ACL and stat (digest ids redacted without ADMIN).
  reply<node_acl> get_acl(std::string_view path);
  /// Replaces the node's ACL if its aversion is `version` (-1: any);
  /// returns the new stat.
  reply<conclave::stat> set_acl(std::string_view path,
                                const std::vector<acl_entry>& acl,
                                int32_t version = any_version);
  /// The identities the connected node knows this client by.
  reply<std::vector<acl_id>> who_am_i();

  /// Makes every later read linearizable (ReadIndex on the leader first)
  /// instead of sequentially consistent.
  void set_linearizable(bool value) noexcept { linearizable_ = value; }

  // -- service registry (see runtime/services.hpp) ----------------------------

  /// Registers this process as instance `instance_id` of service `name`:
  /// an ephemeral /services/NAME/ID owned by this client's session, so it
  /// vanishes when the session ends. Registering an id this session already
  /// holds updates its registration; an id held by another session is
  /// node_exists. Returns the instance's path.
  reply<std::string>
  register_service(std::string_view name, std::string_view instance_id,
                   std::string_view endpoint,
                   const std::map<std::string, std::string>& metadata = {});
  /// Removes this session's registration of the instance.
  reply<none_t> deregister_service(std::string_view name,
                                   std::string_view instance_id);
  /// The live instances of a service, in id order (none: an empty list).
  reply<std::vector<pb::ServiceInstance>> discover(std::string_view name);
  /// The names of all services with at least one znode under /services.
  reply<std::vector<std::string>> services();
  /// Subscribes `listener` to the service's instances: it receives
  /// service_up for each live one, then service_up / service_down /
  /// service_changed as they change (see actors/service_watcher.hpp).
  /// The subscription ends when the listener or the returned watcher
  /// goes down.
  service_watcher_actor subscribe(std::string_view name,
                                  service_listener listener);

  /// Sends a raw request.
  reply<pb::Response> call(pb::Request req);
  /// Sends a raw request that leaves or removes a watch for next_event().
  reply<pb::Response> call_watch(pb::Request req);

  /// Closes the session now.
  reply<none_t> close();

  const client_actor& handle() const noexcept { return client_; }

private:
  /// Replaces a lost answer to `change` by what the committed membership
  /// shows, if that is the change's end state.
  void settle(const pb::ReconfigRequest& change,
              reply<pb::MembershipResult>& out);

  caf::actor_system& sys_;
  client_actor client_;
  caf::scoped_actor self_;
  std::chrono::milliseconds timeout_;
  bool closed_ = false;
  bool linearizable_ = false;
};

} // namespace conclave
