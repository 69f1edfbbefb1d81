// local_cluster: N real conclave-node processes on loopback, for
// multi-process tests. Ports are picked free, data lives in a temp dir, and
// every node is stopped when the cluster goes away. Nodes start from the
// shipped configs/local/nodeN.conf with overrides for ports, data and
// (short) timeouts.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "runtime/blocking_client.hpp"
#include "tests/support/child_process.hpp"

namespace conclave::test {

class local_cluster {
public:
  /// Starts `n` nodes (n <= 3: the shipped configs) with extra overrides
  /// for every node.
  explicit local_cluster(size_t n, std::vector<std::string> extra = {});
  /// The same, but starts the nodes only if `start_nodes`; otherwise call
  /// start(i) later (e.g. after seeding data_dir(i) from a backup).
  local_cluster(size_t n, std::vector<std::string> extra, bool start_nodes);
  ~local_cluster();

  /// Adds a node with the next id (size() + 1, ports picked free; configs
  /// beyond node3.conf start from node1.conf with conclave.id overridden)
  /// and starts it with `more` overrides. Its conclave.peers, like every
  /// node (re)started from now on, lists every node including the new one.
  /// Returns its index.
  size_t add_node(const std::vector<std::string>& more = {});

  /// Data directory of node i (it may not exist before the node starts).
  std::string data_dir(size_t i) const;
  /// "ID@127.0.0.1:PEER_PORT" of node i (a conclave.peers entry), and all of
  /// them comma-separated.
  std::string peer(size_t i) const;
  std::string peers() const;

  size_t size() const noexcept { return client_ports_.size(); }

  /// Starts node `i` (0-based), with `more` overrides for it alone; it must
  /// not be running.
  void start(size_t i, const std::vector<std::string>& more = {});
  /// Stops node `i` with `sig` (SIGKILL for a crash); returns its exit code.
  int stop(size_t i, int sig);
  bool running(size_t i) const { return procs_[i] != nullptr; }
  /// Process id of running node `i` (for SIGSTOP / SIGCONT).
  pid_t pid(size_t i) const { return procs_[i]->pid(); }

  /// "127.0.0.1:port" of node i's client port.
  std::string server(size_t i) const;
  /// All client ports, comma-separated (for a client that tries them all).
  std::string servers() const;

  /// "127.0.0.1:port" of node i's ZooKeeper port, and all of them
  /// comma-separated (a ZooKeeper connection string).
  std::string zk_server(size_t i) const;
  std::string zk_servers() const;

  /// A client of node i only, or of all nodes, asking for a session of
  /// `session_timeout` (the nodes allow 500 ms and up).
  std::unique_ptr<blocking_client>
  client(size_t i,
         std::chrono::milliseconds session_timeout = std::chrono::seconds(10));
  std::unique_ptr<blocking_client>
  client_all(std::chrono::milliseconds session_timeout
             = std::chrono::seconds(10));

  /// Waits until all running nodes agree on one leader; returns its index
  /// (0-based), or -1 at the deadline.
  int wait_for_leader(std::chrono::milliseconds timeout);

  /// Waits until every running node has applied at least `index`.
  bool wait_applied(uint64_t index, std::chrono::milliseconds timeout);

  /// Status of node i (nullopt if it does not answer).
  std::optional<pb::NodeStatus> status(size_t i);

  /// What node i printed so far (for diagnostics).
  std::string output(size_t i);

  caf::actor_system& system() { return *sys_; }

private:
  // The actor system outlives every client (members die in reverse order).
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  temp_dir dir_;
  std::vector<std::string> extra_;
  std::vector<uint16_t> client_ports_;
  std::vector<uint16_t> peer_ports_;
  std::vector<uint16_t> zk_ports_;
  std::vector<std::unique_ptr<child_process>> procs_;
  std::vector<std::string> old_output_;
  /// One status client per running node (polling opens no new sessions).
  std::vector<std::unique_ptr<blocking_client>> status_clients_;
};

} // namespace conclave::test
