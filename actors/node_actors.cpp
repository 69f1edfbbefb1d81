#include "actors/node_actors.hpp"

#include <algorithm>
#include <random>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/admin_server.hpp"
#include "actors/client_actor.hpp"
#include "actors/clock.hpp"
#include "actors/election_actor.hpp"
#include "actors/log_actor.hpp"
#include "actors/registry_actor.hpp"
#include "actors/session_actor.hpp"
#include "actors/storage_actor.hpp"
#include "runtime/logging.hpp"
#include "runtime/storage/log_store.hpp"

namespace conclave {

namespace {

int ticks(size_t ms, size_t tick_ms) {
  return static_cast<int>(std::max<size_t>(1, ms / tick_ms));
}

std::vector<node_id> voters_of(const node_config& cfg) {
  std::vector<node_id> voters;
  for (const auto& p : cfg.peers)
    voters.push_back(p.id);
  if (voters.empty())
    voters.push_back(cfg.id);
  return voters;
}

log_options log_options_of(const node_config& cfg) {
  log_options opts;
  auto& core = opts.core;
  core.self = cfg.id;
  if (cfg.initial_cluster_state == "new") {
    // The bootstrap configuration, used only while neither the log nor a
    // snapshot holds one.
    if (cfg.peers.empty())
      core.voters = voters_of(cfg);
    for (const auto& p : cfg.peers) {
      auto addr = to_string(p);
      core.bootstrap.members.push_back(raft::member{
        p.id, raft::member_role::voter, addr.substr(addr.find('@') + 1), {}});
    }
    std::sort(
      core.bootstrap.members.begin(), core.bootstrap.members.end(),
      [](const raft::member& a, const raft::member& b) { return a.id < b.id; });
  }
  core.election_timeout_ticks = ticks(cfg.election_timeout_ms, cfg.tick_ms);
  core.heartbeat_interval_ticks = ticks(cfg.heartbeat_interval_ms, cfg.tick_ms);
  // A failed snapshot transfer is retried soon; a running one is not
  // restarted (the log actor keeps it going).
  core.snapshot_retry_ticks = 2 * core.election_timeout_ticks;
  core.max_append_bytes = cfg.max_append_bytes;
  core.max_inflight_appends = cfg.max_inflight_appends;
  core.max_uncommitted_entries = cfg.max_pending_requests * 10;
  // Election timeouts must differ between nodes and between runs.
  core.seed = std::random_device{}() ^ (cfg.id.value() << 32);
  for (const auto& p : cfg.peers)
    if (p.id != cfg.id)
      opts.peers.push_back(p);
  opts.tick_ms = cfg.tick_ms;
  opts.reconfig_timeout_ms = cfg.reconfig_timeout_ms;
  opts.snapshot_entries = cfg.snapshot_entries;
  opts.snapshot_log_bytes = cfg.snapshot_log_bytes;
  opts.snapshot_keep_entries = std::min<size_t>(1000, cfg.snapshot_entries / 2);
  return opts;
}

session_limits session_limits_of(const node_config& cfg) {
  session_limits limits;
  limits.request_timeout_ms = static_cast<int64_t>(cfg.request_timeout_ms);
  limits.max_data_bytes = cfg.max_data_bytes;
  limits.max_request_bytes = cfg.max_request_bytes;
  limits.max_multi_ops = cfg.max_multi_ops;
  limits.max_pending_requests = cfg.max_pending_requests;
  limits.max_connections = cfg.max_connections;
  limits.max_auth_ids = cfg.max_auth_ids;
  limits.container_check_interval_ms
    = static_cast<int64_t>(cfg.container_check_interval_ms);
  limits.container_max_per_minute = cfg.container_max_per_minute;
  // Liveness reaches the leader several times per shortest timeout.
  limits.liveness_interval_ms = std::clamp<int64_t>(
    static_cast<int64_t>(cfg.min_session_timeout_ms) / 8, 10, 500);
  limits.stall_grace_ms
    = limits.liveness_interval_ms
      + static_cast<int64_t>(cfg.min_session_timeout_ms) / 2;
  return limits;
}

const char* bind_of(const node_config& cfg) {
  return cfg.bind_address.empty() ? nullptr : cfg.bind_address.c_str();
}

/// Where this node's own clients (custom actors) connect: its client port
/// on the bind address, or loopback when it binds to every interface.
std::string local_host(const node_config& cfg) {
  if (cfg.bind_address.empty() || cfg.bind_address == "0.0.0.0")
    return "127.0.0.1";
  if (cfg.bind_address == "::")
    return "::1";
  return cfg.bind_address;
}

start_error cannot_listen(const std::string& key, const std::string& address,
                          uint16_t port, const std::string& why) {
  return start_error{start_failure::config,
                     "conclave." + key + ": cannot listen on " + address + ":"
                       + std::to_string(port) + ": " + why};
}

} // namespace

template <class Dest, class... Ts>
void node_actors::tell(const Dest& dest, Ts&&... xs) {
  // From an actor of this process: the node's actors ignore rewiring
  // messages from anyone else (see actors/local_sender.hpp).
  caf::scoped_actor self{sys_};
  self->send(dest, std::forward<Ts>(xs)...);
}

void send_exit(const caf::actor& hdl, caf::error reason) {
  if (!hdl)
    return;
  hdl->enqueue(
    nullptr, caf::make_message_id(caf::message_priority::high),
    caf::make_message(caf::exit_msg{hdl.address(), std::move(reason)}),
    nullptr);
}

node_actors::node_actors(caf::actor_system& sys, node_config cfg,
                         const actor_registry& types)
    : sys_(sys), cfg_(std::move(cfg)), types_(types) {
  ports_.client = cfg_.client_port;
  ports_.peer = cfg_.peer_port;
  ports_.zk = cfg_.zk_port;
  ports_.admin = static_cast<uint16_t>(cfg_.admin_port);
}

node_actors::~node_actors() = default;

std::optional<start_error> node_actors::check_custom_actors() const {
  for (const auto& actor : cfg_.actors) {
    auto type = types_.find(actor.type);
    if (!type) {
      std::string known;
      for (const auto& name : types_.names())
        known += (known.empty() ? "" : ", ") + name;
      return start_error{start_failure::config,
                         "actors." + actor.name + ".type: unknown actor type '"
                           + actor.type + "' (this binary knows: "
                           + (known.empty() ? "none" : known) + ")"};
    }
    if (type->check)
      if (auto err = type->check(actor.settings))
        return start_error{start_failure::config,
                           "actors." + actor.name + "." + *err};
  }
  return std::nullopt;
}

std::optional<start_error> node_actors::start(const std::string& name) {
  if (name == "registry")
    return start_registry();
  if (name == "storage") {
    storage_ = sys_.spawn<caf::detached>(
      storage_worker, stores_, cfg_.snapshot_keep,
      std::chrono::milliseconds(cfg_.fault_fsync_delay_ms));
    return std::nullopt;
  }
  if (name == "log")
    return start_log();
  if (name == "election") {
    election_policy policy;
    policy.preferred_leader = cfg_.preferred_leader;
    policy.interval = std::chrono::milliseconds(cfg_.election_timeout_ms);
    policy.max_persist_ms = static_cast<double>(cfg_.leader_max_persist_ms);
    policy.max_apply_lag = cfg_.leader_max_apply_lag;
    election_ = sys_.spawn(
      election, cfg_.id, std::chrono::milliseconds(cfg_.tick_ms), log_, policy);
    // The log reports its role and term to the new election actor at once.
    tell(log_, connect_atom::value,
         caf::actor_cast<leadership_listener>(election_));
    if (session_)
      tell(election_, connect_atom::value, session_);
    return std::nullopt;
  }
  if (name == "session")
    return start_session();
  if (name == "zk")
    return start_zk();
  if (name == "admin")
    return start_admin();
  for (const auto& actor : cfg_.actors)
    if (actor.name == name)
      return start_custom(actor);
  return start_error{start_failure::config, "no such actor: " + name};
}

std::optional<start_error> node_actors::start_registry() {
  storage::storage_options sopts;
  sopts.log.segment_bytes = cfg_.log_segment_bytes;
  sopts.log.max_record_bytes = static_cast<uint32_t>(
    std::min<size_t>(cfg_.max_request_bytes + 64 * 1024, 1u << 30));
  auto opened = storage::open_storage(cfg_.data_dir, sopts);
  if (!opened)
    return start_error{start_failure::storage, opened.error().to_string()};
  stores_ = std::make_shared<storage::node_storage>(std::move(*opened));
  for (const auto& r : stores_->repairs)
    CONCLAVE_LOG("storage", warning) << "repaired: " << r.to_string();
  disk_ = std::move(stores_->state);
  stores_->state.state = disk_->state; // the worker starts from this
  registry_options ropts;
  ropts.limits.max_data_bytes = cfg_.max_data_bytes;
  ropts.limits.max_path_bytes = cfg_.max_path_bytes;
  ropts.sessions.min_timeout_ms
    = static_cast<int32_t>(cfg_.min_session_timeout_ms);
  ropts.sessions.max_timeout_ms
    = static_cast<int32_t>(cfg_.max_session_timeout_ms);
  ropts.sessions.max_sessions = cfg_.max_sessions;
  ropts.watches.max_watches_per_session = cfg_.max_watches_per_session;
  ropts.watches.max_watches_per_path = cfg_.max_watches;
  ropts.max_watches = cfg_.max_watches;
  ropts.snapshots = stores_->snapshots;
  if (stores_->snapshot) {
    ropts.initial_snapshot = stores_->snapshot->path;
    ropts.initial_snapshot_index = stores_->snapshot->meta.index.value();
    ropts.initial_snapshot_term = stores_->snapshot->meta.term.value();
  }
  // The configuration in force at start-up, as the Raft core takes it: the
  // snapshot's, else the bootstrap one.
  if (stores_->snapshot && !stores_->snapshot->meta.config.empty())
    raft::encode(stores_->snapshot->meta.config, &ropts.config);
  else
    raft::encode(log_options_of(cfg_).core.initial(), &ropts.config);
  registry_ = sys_.spawn(registry, cfg_.id, ropts);
  if (cfg_.fault_fsync_delay_ms > 0)
    CONCLAVE_LOG("node", warning)
      << "fault injection: every durable write waits "
      << cfg_.fault_fsync_delay_ms << " ms (conclave.fault-fsync-delay-ms)";
  return std::nullopt;
}

std::optional<start_error> node_actors::start_log() {
  log_ = sys_.spawn(replicated_log, cfg_.id, log_options_of(cfg_),
                    std::move(*disk_), registry_, storage_,
                    clock_fn{system_clock_ms});
  disk_.reset();
  auto& mm = sys_.middleman();
  // SO_REUSEADDR: a restarted node must get its ports back while old
  // connections linger in TIME_WAIT (a port with a live listener still
  // cannot be taken: Linux refuses that even with the option).
  auto port = mm.publish(log_, ports_.peer, bind_of(cfg_), true);
  if (!port) {
    caf::anon_send_exit(log_, caf::exit_reason::user_shutdown);
    log_ = nullptr;
    return cannot_listen("peer-port", cfg_.bind_address, ports_.peer,
                         sys_.render(port.error()));
  }
  ports_.peer = *port;
  return std::nullopt;
}

std::optional<start_error> node_actors::start_session() {
  session_ = sys_.spawn(session_manager, cfg_.id, session_limits_of(cfg_),
                        registry_, log_, election_, clock_fn{steady_clock_ms});
  tell(registry_, connect_atom::value, session_);
  tell(log_, connect_atom::value, session_);
  tell(election_, connect_atom::value, session_);
  if (supervisor_) {
    tell(session_, connect_atom::value, supervisor_);
    tell(session_, restarts_atom::value, restarts_);
  }
  auto port
    = sys_.middleman().publish(session_, ports_.client, bind_of(cfg_), true);
  if (!port) {
    caf::anon_send_exit(session_, caf::exit_reason::user_shutdown);
    session_ = nullptr;
    return cannot_listen("client-port", cfg_.bind_address, ports_.client,
                         sys_.render(port.error()));
  }
  ports_.client = *port;
  return std::nullopt;
}

std::optional<start_error> node_actors::start_zk() {
  zk_server_options zk_opts;
  zk_opts.bind_address = cfg_.bind_address;
  zk_opts.port = ports_.zk;
  zk_opts.max_frame_bytes = cfg_.max_request_bytes + 1024;
  zk_opts.max_connections_per_address = cfg_.zk_max_connections_per_address;
  zk_opts.four_letter_words
    = *zk::four_letter_whitelist::parse(cfg_.four_letter_words);
  zk_opts.request_timeout
    = std::chrono::milliseconds(cfg_.request_timeout_ms + 1000);
  zk_opts.configuration = {
    {"serverId", std::to_string(cfg_.id.value())},
    {"clientPort", std::to_string(cfg_.zk_port)},
    {"dataDir", cfg_.data_dir},
    {"tickTime", std::to_string(cfg_.tick_ms)},
    {"minSessionTimeout", std::to_string(cfg_.min_session_timeout_ms)},
    {"maxSessionTimeout", std::to_string(cfg_.max_session_timeout_ms)},
    {"maxClientCnxns", std::to_string(cfg_.zk_max_connections_per_address)},
    {"4lw.commands.whitelist", zk_opts.four_letter_words.to_string()},
  };
  auto zk
    = start_zk_server(sys_, std::move(zk_opts), session_, log_, registry_);
  if (auto err = std::get_if<std::string>(&zk))
    return cannot_listen("zk-port", cfg_.bind_address, ports_.zk, *err);
  auto& handle = std::get<zk_server_handle>(zk);
  zk_ = handle.listener;
  zk_figures_ = handle.figures;
  ports_.zk = handle.port;
  return std::nullopt;
}

std::optional<start_error> node_actors::start_admin() {
  admin_server_options opts;
  opts.bind_address = cfg_.admin_address;
  opts.port = ports_.admin;
  auto admin = start_admin_server(sys_, std::move(opts), session_, zk_figures_);
  if (auto err = std::get_if<std::string>(&admin))
    return cannot_listen("admin-port", cfg_.admin_address, ports_.admin, *err);
  admin_ = std::get<tcp_listener>(admin).broker;
  ports_.admin = std::get<tcp_listener>(admin).port;
  return std::nullopt;
}

std::optional<start_error>
node_actors::start_custom(const custom_actor_config& actor) {
  auto type = types_.find(actor.type);
  if (!type || !type->spawn)
    return start_error{start_failure::config, "actors." + actor.name
                                                + ".type: unknown actor type '"
                                                + actor.type + "'"};
  client_options opts;
  opts.servers.push_back(server_address{local_host(cfg_), ports_.client});
  auto client = sys_.spawn(conclave::client, std::move(opts));
  node_context ctx;
  ctx.name = actor.name;
  ctx.node = cfg_.id;
  ctx.client = client;
  ctx.settings = actor.settings;
  ctx.data_dir = cfg_.data_dir;
  caf::actor hdl;
  try {
    hdl = type->spawn(sys_, ctx);
  } catch (const std::exception& ex) {
    caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
    return start_error{start_failure::config,
                       "actors." + actor.name + ": " + ex.what()};
  }
  if (!hdl) {
    caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
    return start_error{start_failure::config,
                       "actors." + actor.name
                         + ": its factory spawned nothing"};
  }
  custom_[actor.name] = {hdl, client};
  return std::nullopt;
}

bool node_actors::stop(const std::string& name,
                       std::chrono::milliseconds wait) {
  auto hdl = handle(name);
  auto& mm = sys_.middleman();
  if (name == "log" && log_)
    mm.unpublish(log_, ports_.peer);
  else if (name == "session" && session_)
    mm.unpublish(session_, ports_.client);
  if (auto i = custom_.find(name); i != custom_.end()) {
    // Its session ends now (its ephemerals go), not at its timeout.
    auto client = i->second.second;
    custom_.erase(i);
    caf::scoped_actor self{sys_};
    self->request(client, wait, bye_atom::value)
      .receive([](const pb::Response&) {}, [](const caf::error&) {});
    caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  }
  if (name == "registry")
    registry_ = nullptr;
  else if (name == "storage")
    storage_ = nullptr;
  else if (name == "log")
    log_ = nullptr;
  else if (name == "election")
    election_ = nullptr;
  else if (name == "session")
    session_ = nullptr;
  else if (name == "zk")
    zk_ = nullptr;
  else if (name == "admin")
    admin_ = nullptr;
  if (name == "storage")
    stores_.reset();
  if (!hdl)
    return true;
  // Wait until it is gone: its files are closed and its port is free.
  caf::scoped_actor self{sys_};
  self->monitor(hdl);
  send_exit(hdl, caf::exit_reason::user_shutdown);
  bool gone = false;
  self->receive([&](const caf::down_msg&) { gone = true; },
                caf::after(wait) >> [] {});
  return gone;
}

caf::actor node_actors::handle(const std::string& name) const {
  if (name == "registry")
    return caf::actor_cast<caf::actor>(registry_);
  if (name == "storage")
    return caf::actor_cast<caf::actor>(storage_);
  if (name == "log")
    return caf::actor_cast<caf::actor>(log_);
  if (name == "election")
    return caf::actor_cast<caf::actor>(election_);
  if (name == "session")
    return caf::actor_cast<caf::actor>(session_);
  if (name == "zk")
    return zk_;
  if (name == "admin")
    return admin_;
  if (auto i = custom_.find(name); i != custom_.end())
    return i->second.first;
  return nullptr;
}

void node_actors::set_supervisor(supervisor_actor supervisor) {
  supervisor_ = std::move(supervisor);
  if (session_)
    tell(session_, connect_atom::value, supervisor_);
}

void node_actors::set_restarts(pb::NodeStatus restarts) {
  restarts_ = std::move(restarts);
  if (session_)
    tell(session_, restarts_atom::value, restarts_);
}

} // namespace conclave
