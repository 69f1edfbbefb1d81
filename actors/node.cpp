#include "actors/node.hpp"

#include <algorithm>
#include <optional>
#include <thread>

#include <random>

#include <caf/io/middleman.hpp>

#include "actors/clock.hpp"
#include "actors/election_actor.hpp"
#include "actors/log_actor.hpp"
#include "actors/registry_actor.hpp"
#include "actors/session_actor.hpp"
#include "actors/admin_server.hpp"
#include "actors/zk_server.hpp"
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
  core.voters = voters_of(cfg);
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

} // namespace

std::variant<node_handles, start_error> start_node(caf::actor_system& sys,
                                                   const node_config& cfg) {
  storage::storage_options sopts;
  sopts.log.segment_bytes = cfg.log_segment_bytes;
  sopts.log.max_record_bytes = static_cast<uint32_t>(
    std::min<size_t>(cfg.max_request_bytes + 64 * 1024, 1u << 30));
  auto opened = storage::open_storage(cfg.data_dir, sopts);
  if (!opened)
    return start_error{start_failure::storage, opened.error().to_string()};
  auto stores = std::make_shared<storage::node_storage>(std::move(*opened));
  for (const auto& r : stores->repairs)
    CONCLAVE_LOG("storage", warning) << "repaired: " << r.to_string();
  auto disk = std::move(stores->state);
  stores->state.state = disk.state; // the worker starts from this hard state
  registry_options ropts;
  ropts.limits.max_data_bytes = cfg.max_data_bytes;
  ropts.limits.max_path_bytes = cfg.max_path_bytes;
  ropts.sessions.min_timeout_ms
    = static_cast<int32_t>(cfg.min_session_timeout_ms);
  ropts.sessions.max_timeout_ms
    = static_cast<int32_t>(cfg.max_session_timeout_ms);
  ropts.sessions.max_sessions = cfg.max_sessions;
  ropts.watches.max_watches_per_session = cfg.max_watches_per_session;
  ropts.watches.max_watches_per_path = cfg.max_watches;
  ropts.max_watches = cfg.max_watches;
  ropts.snapshots = stores->snapshots;
  if (stores->snapshot) {
    ropts.initial_snapshot = stores->snapshot->path;
    ropts.initial_snapshot_index = stores->snapshot->meta.index.value();
    ropts.initial_snapshot_term = stores->snapshot->meta.term.value();
  }
  for (auto v : voters_of(cfg))
    ropts.voters.push_back(v.value());
  node_handles node;
  node.registry = sys.spawn(registry, cfg.id, ropts);
  if (cfg.fault_fsync_delay_ms > 0)
    CONCLAVE_LOG("node", warning)
      << "fault injection: every durable write waits "
      << cfg.fault_fsync_delay_ms << " ms (conclave.fault-fsync-delay-ms)";
  node.storage = sys.spawn<caf::detached>(
    storage_worker, stores, cfg.snapshot_keep,
    std::chrono::milliseconds(cfg.fault_fsync_delay_ms));
  node.log
    = sys.spawn(replicated_log, cfg.id, log_options_of(cfg), std::move(disk),
                node.registry, node.storage, clock_fn{system_clock_ms});
  election_policy policy;
  policy.preferred_leader = cfg.preferred_leader;
  policy.interval = std::chrono::milliseconds(cfg.election_timeout_ms);
  policy.max_persist_ms = static_cast<double>(cfg.leader_max_persist_ms);
  policy.max_apply_lag = cfg.leader_max_apply_lag;
  node.election = sys.spawn(
    election, cfg.id, std::chrono::milliseconds(cfg.tick_ms), node.log, policy);
  node.session
    = sys.spawn(session_manager, cfg.id, session_limits_of(cfg), node.registry,
                node.log, node.election, clock_fn{steady_clock_ms});
  caf::anon_send(node.log, connect_atom::value,
                 caf::actor_cast<leadership_listener>(node.election));
  caf::anon_send(node.registry, connect_atom::value, node.session);
  caf::anon_send(node.log, connect_atom::value, node.session);
  caf::anon_send(node.election, connect_atom::value, node.session);
  auto& mm = sys.middleman();
  // SO_REUSEADDR: a restarted node must get its ports back while old
  // connections linger in TIME_WAIT (a port with a live listener still
  // cannot be taken: Linux refuses that even with the option).
  auto peer_port = mm.publish(node.log, cfg.peer_port, bind_of(cfg), true);
  if (!peer_port) {
    stop_node(sys, node);
    return start_error{
      start_failure::config,
      "conclave.peer-port: cannot listen on " + cfg.bind_address + ":"
        + std::to_string(cfg.peer_port) + ": " + sys.render(peer_port.error())};
  }
  node.peer_port = *peer_port;
  auto client_port
    = mm.publish(node.session, cfg.client_port, bind_of(cfg), true);
  if (!client_port) {
    stop_node(sys, node);
    return start_error{start_failure::config,
                       "conclave.client-port: cannot listen on "
                         + cfg.bind_address + ":"
                         + std::to_string(cfg.client_port) + ": "
                         + sys.render(client_port.error())};
  }
  node.client_port = *client_port;
  zk_server_options zk_opts;
  zk_opts.bind_address = cfg.bind_address;
  zk_opts.port = cfg.zk_port;
  zk_opts.max_frame_bytes = cfg.max_request_bytes + 1024;
  zk_opts.max_connections_per_address = cfg.zk_max_connections_per_address;
  zk_opts.four_letter_words
    = *zk::four_letter_whitelist::parse(cfg.four_letter_words);
  zk_opts.request_timeout
    = std::chrono::milliseconds(cfg.request_timeout_ms + 1000);
  zk_opts.configuration = {
    {"serverId", std::to_string(cfg.id.value())},
    {"clientPort", std::to_string(cfg.zk_port)},
    {"dataDir", cfg.data_dir},
    {"tickTime", std::to_string(cfg.tick_ms)},
    {"minSessionTimeout", std::to_string(cfg.min_session_timeout_ms)},
    {"maxSessionTimeout", std::to_string(cfg.max_session_timeout_ms)},
    {"maxClientCnxns", std::to_string(cfg.zk_max_connections_per_address)},
    {"4lw.commands.whitelist", zk_opts.four_letter_words.to_string()},
  };
  auto zk = start_zk_server(sys, std::move(zk_opts), node.session, node.log,
                            node.registry);
  if (auto err = std::get_if<std::string>(&zk)) {
    stop_node(sys, node);
    return start_error{start_failure::config,
                       "conclave.zk-port: cannot listen on " + cfg.bind_address
                         + ":" + std::to_string(cfg.zk_port) + ": " + *err};
  }
  auto& zk_handle = std::get<zk_server_handle>(zk);
  node.zk_listener = zk_handle.listener;
  node.zk_port = zk_handle.port;
  if (cfg.admin_server == "on") {
    admin_server_options admin_opts;
    admin_opts.bind_address = cfg.admin_address;
    admin_opts.port = static_cast<uint16_t>(cfg.admin_port);
    auto admin = start_admin_server(sys, std::move(admin_opts), node.session,
                                    zk_handle.figures);
    if (auto err = std::get_if<std::string>(&admin)) {
      stop_node(sys, node);
      return start_error{start_failure::config,
                         "conclave.admin-port: cannot listen on "
                           + cfg.admin_address + ":"
                           + std::to_string(cfg.admin_port) + ": " + *err};
    }
    node.admin_listener = std::get<tcp_listener>(admin).broker;
    node.admin_port = std::get<tcp_listener>(admin).port;
  }
  CONCLAVE_LOG("node", info)
    << "node " << cfg.id << " serving native clients on " << cfg.bind_address
    << ":" << node.client_port << ", ZooKeeper clients on port " << node.zk_port
    << ", peers on port " << node.peer_port;
  return node;
}

hand_over_result hand_over_leadership(caf::actor_system& sys,
                                      const node_handles& node,
                                      std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  hand_over_result out;
  auto started = clock::now();
  auto deadline = started + timeout;
  caf::scoped_actor self{sys};
  auto status = [&]() -> std::optional<pb::NodeStatus> {
    std::optional<pb::NodeStatus> result;
    self->request(node.log, timeout, status_atom::value)
      .receive([&](const pb::NodeStatus& s) { result = s; },
               [](const caf::error&) {});
    return result;
  };
  auto before = status();
  if (!before || before->role() != "leader" || before->peers_size() == 0)
    return out;
  out.was_leader = true;
  auto self_id = before->node_id();
  std::string why;
  self->request(node.log, timeout, transfer_atom::value, uint64_t{0}, false)
    .receive(
      [&](uint64_t target) {
        CONCLAVE_LOG("node", info)
          << "shutting down: handing leadership to node " << target;
      },
      [&](const caf::error& err) { why = sys.render(err); });
  if (!why.empty()) {
    CONCLAVE_LOG("node", warning)
      << "shutting down without handing over leadership: " << why;
    return out;
  }
  // The old leader learns of the new one from its first heartbeat.
  while (clock::now() < deadline) {
    auto now = status();
    if (now && now->leader_id() != 0 && now->leader_id() != self_id) {
      out.new_leader = now->leader_id();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now()
                                                                   - started);
  if (out.new_leader != 0)
    CONCLAVE_LOG("node", info) << "node " << out.new_leader << " leads after "
                               << out.took.count() << " ms";
  else
    CONCLAVE_LOG("node", warning)
      << "no other node took over within " << timeout.count()
      << " ms; shutting down anyway";
  return out;
}

void stop_node(caf::actor_system& sys, node_handles& node) {
  auto& mm = sys.middleman();
  if (node.zk_listener)
    caf::anon_send_exit(node.zk_listener, caf::exit_reason::user_shutdown);
  if (node.admin_listener)
    caf::anon_send_exit(node.admin_listener, caf::exit_reason::user_shutdown);
  if (node.client_port != 0)
    mm.unpublish(node.session, node.client_port);
  if (node.peer_port != 0)
    mm.unpublish(node.log, node.peer_port);
  for (auto hdl : {caf::actor_cast<caf::actor>(node.session),
                   caf::actor_cast<caf::actor>(node.election),
                   caf::actor_cast<caf::actor>(node.log),
                   caf::actor_cast<caf::actor>(node.storage),
                   caf::actor_cast<caf::actor>(node.registry)})
    if (hdl)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  node = node_handles{};
}

} // namespace conclave
