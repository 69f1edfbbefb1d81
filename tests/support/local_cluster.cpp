#include "tests/support/local_cluster.hpp"

#include <signal.h>

#include <stdexcept>

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"

namespace conclave::test {

namespace {

const std::string bin_dir = CONCLAVE_BIN_DIR;
const std::string source_dir = CONCLAVE_SOURCE_DIR;

using clock_type = std::chrono::steady_clock;

} // namespace

local_cluster::local_cluster(size_t n, std::vector<std::string> extra)
    : local_cluster(n, std::move(extra), true) {}

local_cluster::local_cluster(size_t n, std::vector<std::string> extra,
                             bool start_nodes)
    : extra_(std::move(extra)) {
  if (n == 0 || n > 3)
    throw std::invalid_argument("local_cluster: 1..3 nodes");
  for (size_t i = 0; i < n; ++i) {
    client_ports_.push_back(free_port());
    peer_ports_.push_back(free_port());
    zk_ports_.push_back(free_port());
  }
  procs_.resize(n);
  old_output_.resize(n);
  status_clients_.resize(n);
  cfg_ = std::make_unique<caf::actor_system_config>();
  announce_message_types(*cfg_);
  cfg_->load<caf::io::middleman>();
  sys_ = std::make_unique<caf::actor_system>(*cfg_);
  if (start_nodes)
    for (size_t i = 0; i < n; ++i)
      start(i);
}

size_t local_cluster::add_node(const std::vector<std::string>& more) {
  client_ports_.push_back(free_port());
  peer_ports_.push_back(free_port());
  zk_ports_.push_back(free_port());
  procs_.emplace_back();
  old_output_.emplace_back();
  status_clients_.emplace_back();
  auto i = size() - 1;
  start(i, more);
  return i;
}

std::string local_cluster::data_dir(size_t i) const {
  return dir_.path + "/node" + std::to_string(i + 1);
}

std::string local_cluster::peer(size_t i) const {
  return std::to_string(i + 1) + "@127.0.0.1:" + std::to_string(peer_ports_[i]);
}

std::string local_cluster::peers() const {
  std::string out;
  for (size_t i = 0; i < size(); ++i)
    out += (i ? "," : "") + peer(i);
  return out;
}

local_cluster::~local_cluster() {
  for (auto& c : status_clients_)
    c.reset();
  for (size_t i = 0; i < procs_.size(); ++i)
    if (procs_[i])
      stop(i, SIGKILL);
}

void local_cluster::start(size_t i, const std::vector<std::string>& more) {
  std::string peers = "[";
  for (size_t j = 0; j < peer_ports_.size(); ++j)
    peers += (j ? "," : "") + std::string{"\""} + peer(j) + "\"";
  peers += "]";
  auto id = std::to_string(i + 1);
  // configs/local holds node1..3.conf; later nodes start from node1.conf.
  auto conf = i < 3 ? id : std::string{"1"};
  std::vector<std::string> argv{
    bin_dir + "/conclave-node",
    "--config-file=" + source_dir + "/configs/local/node" + conf + ".conf",
    "--conclave.id=" + id,
    "--conclave.client-port=" + std::to_string(client_ports_[i]),
    "--conclave.zk-port=" + std::to_string(zk_ports_[i]),
    "--conclave.admin-port=0",
    "--conclave.peer-port=" + std::to_string(peer_ports_[i]),
    "--conclave.peers=" + peers,
    "--conclave.data-dir=" + data_dir(i),
    // Short timeouts keep the tests quick; the protocol is the same.
    "--conclave.tick-ms=20",
    "--conclave.election-timeout-ms=300",
    "--conclave.heartbeat-interval-ms=40",
    // Sessions as short as half a second, so expiry tests stay quick.
    "--conclave.min-session-timeout-ms=500",
  };
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  argv.insert(argv.end(), more.begin(), more.end());
  procs_[i] = std::make_unique<child_process>(argv);
  if (!procs_[i]->wait_for_line("conclave-node ready",
                                std::chrono::seconds(30)))
    throw std::runtime_error("node " + id + " did not start:\n"
                             + procs_[i]->err());
}

int local_cluster::stop(size_t i, int sig) {
  status_clients_[i].reset();
  auto code = procs_[i]->stop(sig, std::chrono::seconds(20));
  old_output_[i] += procs_[i]->err();
  procs_[i].reset();
  return code;
}

std::string local_cluster::server(size_t i) const {
  return "127.0.0.1:" + std::to_string(client_ports_[i]);
}

std::string local_cluster::servers() const {
  std::string out;
  for (size_t i = 0; i < size(); ++i)
    out += (i ? "," : "") + server(i);
  return out;
}

std::string local_cluster::zk_server(size_t i) const {
  return "127.0.0.1:" + std::to_string(zk_ports_[i]);
}

std::string local_cluster::zk_servers() const {
  std::string out;
  for (size_t i = 0; i < size(); ++i)
    out += (i ? "," : "") + zk_server(i);
  return out;
}

std::unique_ptr<blocking_client>
local_cluster::client(size_t i, std::chrono::milliseconds session_timeout) {
  client_options opts;
  opts.servers = parse_server_list(server(i));
  opts.request_timeout = std::chrono::seconds(5);
  opts.session_timeout = session_timeout;
  return std::make_unique<blocking_client>(*sys_, opts);
}

std::unique_ptr<blocking_client>
local_cluster::client_all(std::chrono::milliseconds session_timeout) {
  client_options opts;
  opts.servers = parse_server_list(servers());
  opts.request_timeout = std::chrono::seconds(5);
  opts.session_timeout = session_timeout;
  return std::make_unique<blocking_client>(*sys_, opts);
}

std::optional<pb::NodeStatus> local_cluster::status(size_t i) {
  if (!procs_[i])
    return std::nullopt;
  if (!status_clients_[i])
    status_clients_[i] = client(i);
  auto r = status_clients_[i]->status();
  if (!r)
    return std::nullopt;
  return r.value;
}

int local_cluster::wait_for_leader(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    uint64_t leader = 0;
    bool agreed = true;
    for (size_t i = 0; i < size() && agreed; ++i) {
      if (!procs_[i])
        continue;
      auto s = status(i);
      if (!s || s->leader_id() == 0
          || (leader != 0 && s->leader_id() != leader))
        agreed = false;
      else
        leader = s->leader_id();
    }
    if (agreed && leader != 0 && procs_[leader - 1]) {
      auto s = status(leader - 1);
      if (s && s->role() == "leader")
        return static_cast<int>(leader - 1);
    }
  }
  return -1;
}

bool local_cluster::wait_applied(uint64_t index,
                                 std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    bool all = true;
    for (size_t i = 0; i < size() && all; ++i) {
      if (!procs_[i])
        continue;
      auto s = status(i);
      all = s && s->applied_index() >= index;
    }
    if (all)
      return true;
  }
  return false;
}

std::string local_cluster::output(size_t i) {
  if (!procs_[i])
    return old_output_[i];
  procs_[i]->read_available();
  return old_output_[i] + procs_[i]->err();
}

} // namespace conclave::test
