// node_config: loading and validating a Conclave node's configuration.
//
// A node is configured by an optional config file in CAF's config syntax plus
// `--conclave.KEY=VALUE` command-line overrides (see docs/configuration.md).
// CAF's parser accepts any key and any value type, so everything it returns
// is checked here against a fixed schema: unknown keys and groups, values of
// the wrong type, out-of-range values and malformed peer lists are all
// reported as a `config_error` naming the file, the key, what was expected
// and what was given. None of these functions throws on bad input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/settings.hpp>

#include "runtime/strong_id.hpp"

namespace conclave {

/// Severity threshold of the node's log (`conclave.log-level`).
enum class log_level { trace, debug, info, warning, error };

/// Returns "trace", "debug", "info", "warning" or "error".
std::string to_string(log_level x);

/// Parses the names produced by `to_string(log_level)`.
std::optional<log_level> parse_log_level(std::string_view str);

/// One cluster member as listed in `conclave.peers` ("id@host:port").
struct peer_address {
  node_id id;
  /// Host name or IP address; an IPv6 address written as "[::1]" is stored
  /// without the brackets.
  std::string host;
  uint16_t port = 0;
};

bool operator==(const peer_address& a, const peer_address& b);
bool operator!=(const peer_address& a, const peer_address& b);

/// Renders `x` as "id@host:port" (IPv6 hosts in brackets).
std::string to_string(const peer_address& x);

/// Parses "id@host:port" (IPv6 hosts in brackets, ids 1..254); returns the
/// peer or a description of what is wrong with it.
std::variant<peer_address, std::string> parse_peer(std::string_view str);

/// One custom actor instance of a node (`actors.NAME` in the config file).
struct custom_actor_config {
  std::string name;
  /// The registered type (`actors.NAME.type`).
  std::string type;
  /// The rest of the group, for the actor's own check().
  caf::settings settings;
};

/// A validated node configuration. A default-constructed object holds the
/// documented defaults.
struct node_config {
  static constexpr size_t kib = 1024;
  static constexpr size_t mib = 1024 * kib;

  // -- identity and network ---------------------------------------------------

  /// `conclave.id`: this node's id, >= 1.
  node_id id{1};
  /// `conclave.data-dir`: directory for the node's persistent state and logs.
  std::string data_dir = "data";
  /// `conclave.bind-address`: host/IP the client port binds to.
  std::string bind_address = "0.0.0.0";
  /// `conclave.client-port`: native client protocol; 0 = pick a free port.
  uint16_t client_port = 4181;
  /// `conclave.zk-port`: ZooKeeper wire protocol; 0 = pick a free port.
  uint16_t zk_port = 2181;
  /// `conclave.peer-port`: replication traffic; 0 = pick a free port.
  uint16_t peer_port = 4281;
  /// `conclave.peers`: all cluster members including this node; empty or
  /// containing `id`, with unique ids. Only bootstraps a new cluster (and
  /// tells a joining node where to look): after that, the membership in
  /// the replicated log is the truth.
  std::vector<peer_address> peers;
  /// `conclave.initial-cluster-state`: "new" (bootstrap from `peers` when
  /// the data dir is empty) or "existing" (join a running cluster as the
  /// member it was added as; never bootstrap).
  std::string initial_cluster_state = "new";
  /// `conclave.reconfig-timeout-ms`: how long a membership change waits for
  /// a learner to catch up and for each step to commit.
  size_t reconfig_timeout_ms = 60000;

  // -- logging ----------------------------------------------------------------

  /// `conclave.log-level`.
  conclave::log_level log_level = conclave::log_level::info;
  /// `conclave.log-file-max-bytes`: rotate the file log at this size.
  size_t log_file_max_bytes = 10 * mib;
  /// `conclave.log-file-count`: rotated log files kept.
  size_t log_file_count = 5;

  // -- limits -----------------------------------------------------------------

  /// `conclave.max-data-bytes`: largest znode payload.
  size_t max_data_bytes = 1 * mib;
  /// `conclave.max-path-bytes`: longest znode path.
  size_t max_path_bytes = 4096;
  /// `conclave.max-request-bytes`: largest client request; > max_data_bytes.
  size_t max_request_bytes = 1 * mib + 64 * kib;
  /// `conclave.max-multi-ops`: most operations in one multi request.
  size_t max_multi_ops = 1000;
  /// `conclave.max-pending-requests`: requests queued at a node before it
  /// answers `throttled`.
  size_t max_pending_requests = 10000;
  /// `conclave.max-connections`: native client connections per node.
  size_t max_connections = 10000;
  /// `conclave.zk-max-connections-per-address`: ZooKeeper-protocol
  /// connections one client address may hold (ZooKeeper's maxClientCnxns).
  size_t zk_max_connections_per_address = 60;
  /// `conclave.four-letter-words`: the four-letter words answered on the
  /// ZooKeeper port ("*" for all; ZooKeeper's 4lw.commands.whitelist,
  /// default "srvr").
  std::string four_letter_words = "srvr";
  /// `conclave.admin-server`: "on" serves GET /metrics (Prometheus) and
  /// GET /status (JSON) on admin-address:admin-port; "off" does not listen.
  std::string admin_server = "on";
  /// `conclave.admin-address`: where the admin port listens (loopback by
  /// default, whatever bind-address says).
  std::string admin_address = "127.0.0.1";
  /// `conclave.admin-port`: the admin HTTP port (ZooKeeper's AdminServer
  /// uses 8080 too); 0 = pick a free port.
  size_t admin_port = 8080;
  /// `conclave.max-auth-ids`: identities one client connection may prove
  /// with auth requests (addauth).
  size_t max_auth_ids = 16;
  // -- supervision ------------------------------------------------------------

  /// `conclave.supervisor-max-restarts` within
  /// `conclave.supervisor-restart-window-ms`: one more restart shuts the
  /// node down (see runtime/restart_budget.hpp).
  size_t supervisor_max_restarts = 5;
  size_t supervisor_restart_window_ms = 60000;
  /// `conclave.supervisor-probe-interval-ms`: liveness probes of the
  /// node's actors; one unanswered for `conclave.supervisor-hang-timeout-ms`
  /// counts as hung and is restarted.
  size_t supervisor_probe_interval_ms = 1000;
  size_t supervisor_hang_timeout_ms = 10000;
  /// `conclave.fault-injection`: "on" lets clients inject faults into the
  /// node's actors (conclavectl fault); "off" in production.
  std::string fault_injection = "off";
  /// The `actors { NAME { type = "...", ... } }` group: custom actors to
  /// run (see actors/custom_actor.hpp), in name order.
  std::vector<custom_actor_config> actors;

  /// `conclave.container-check-interval-ms`: how often the leader looks for
  /// empty containers and expired TTL nodes to delete (ZooKeeper's
  /// znode.container.checkIntervalMs).
  size_t container_check_interval_ms = 60000;
  /// `conclave.container-max-per-minute`: most such deletes the leader
  /// proposes per minute (ZooKeeper's znode.container.maxPerMinute).
  size_t container_max_per_minute = 10000;

  // -- sessions and watches (identical on every node) ------------------------

  /// `conclave.min-session-timeout-ms`: requested session timeouts are
  /// raised to this (ZooKeeper's minSessionTimeout, 2 x its tickTime).
  size_t min_session_timeout_ms = 4000;
  /// `conclave.max-session-timeout-ms`: ... and lowered to this
  /// (ZooKeeper's maxSessionTimeout, 20 x its tickTime).
  size_t max_session_timeout_ms = 40000;
  /// `conclave.max-sessions`: sessions the cluster holds at once.
  size_t max_sessions = 100000;
  /// `conclave.max-watches-per-session`: watches one session may hold on
  /// the node it is connected to.
  size_t max_watches_per_session = 100000;
  /// `conclave.max-watches`: watches all sessions may hold on one node.
  size_t max_watches = 1000000;

  // -- replication ------------------------------------------------------------

  /// `conclave.tick-ms`: the Raft clock's period; timeouts are whole ticks.
  size_t tick_ms = 100;
  /// `conclave.preferred-leader`: the node that should lead whenever it is
  /// healthy and caught up (0: none); the leader hands over to it. The same
  /// on every node.
  node_id preferred_leader{0};
  /// `conclave.leader-max-persist-ms`: a leader whose durable writes take
  /// longer than this (recent mean) hands over to a healthy follower; 0 =
  /// never.
  size_t leader_max_persist_ms = 1000;
  /// `conclave.leader-max-apply-lag`: a leader whose tree trails its commit
  /// index by more entries than this at two checks in a row hands over; 0 =
  /// never.
  size_t leader_max_apply_lag = 10000;
  /// `conclave.fault-fsync-delay-ms`: fault injection for tests (0, the
  /// default, in production): every durable write waits this long first.
  size_t fault_fsync_delay_ms = 0;
  /// `conclave.election-timeout-ms`: a follower that hears no leader for a
  /// random time in [this, 2 x this) starts an election.
  size_t election_timeout_ms = 1000;
  /// `conclave.heartbeat-interval-ms`: leader heartbeats; < election timeout.
  size_t heartbeat_interval_ms = 100;
  /// `conclave.request-timeout-ms`: a write not applied within this time is
  /// answered with OperationTimeout (its outcome is then unknown).
  size_t request_timeout_ms = 10000;
  /// `conclave.snapshot-entries`: take a snapshot after this many entries.
  size_t snapshot_entries = 100000;
  /// `conclave.snapshot-log-bytes`: ... or after this many bytes of log.
  size_t snapshot_log_bytes = 256 * mib;
  /// `conclave.snapshot-keep`: snapshots kept on disk.
  size_t snapshot_keep = 2;
  /// `conclave.log-segment-bytes`: roll log segments at this size.
  size_t log_segment_bytes = 64 * mib;
  /// `conclave.max-append-bytes`: entry bytes in one AppendEntries.
  size_t max_append_bytes = 1 * mib;
  /// `conclave.max-inflight-appends`: unacknowledged appends per follower.
  size_t max_inflight_appends = 16;

  // -- CAF tuning -------------------------------------------------------------

  /// `caf.scheduler.policy`: "stealing" or "sharing"; empty = CAF default.
  std::string scheduler_policy;
  /// `caf.scheduler.max-threads`: 0 = CAF default (max(4, number of cores)).
  size_t scheduler_max_threads = 0;
  /// `caf.middleman.workers`: -1 = CAF default.
  int middleman_workers = -1;

  // -- provenance -------------------------------------------------------------

  /// The config file this was loaded from; empty if none.
  std::string source_file;
};

/// A configuration problem. `file` is the config file, or "<command line>"
/// for problems with command-line arguments; `key` is the full dotted key
/// ("conclave.client-port"), empty if the problem is not about one key;
/// `line`/`column` are set (>= 1) for syntax errors only.
struct config_error {
  std::string file;
  std::string key;
  std::string message;
  int line = 0;
  int column = 0;

  /// "FILE[:LINE:COLUMN]: [KEY: ]MESSAGE", e.g.
  /// `configs/x.conf: conclave.client-port: expected an integer in 0..65535,
  /// got "abc"`.
  std::string to_string() const;
};

/// File name used in errors about command-line arguments and overrides.
inline constexpr std::string_view command_line_origin = "<command line>";

/// Parses and validates `text` (CAF config syntax; '#' and ';' comments) and
/// then applies `overrides`, each "conclave.KEY=VALUE" or
/// "caf.GROUP.KEY=VALUE" (a leading "--" is allowed). `file_name` is used in
/// error messages and stored as `source_file`; pass an empty name (and empty
/// text) for "no config file". Does no I/O.
std::variant<node_config, config_error>
parse_node_config(std::string_view text, std::string file_name,
                  const std::vector<std::string>& overrides);

/// Reads the command line: `--config-file=FILE` (or `--config-file FILE`),
/// any number of `--conclave.KEY=VALUE` and `--caf.scheduler.policy=...`,
/// `--caf.scheduler.max-threads=...`, `--caf.middleman.workers=...`
/// overrides (later ones win, all beat the file). argv[0] is skipped. Any
/// other argument is an error; the caller handles `--help`/`-h` first.
std::variant<node_config, config_error>
load_node_config(int argc, const char* const* argv);

/// The `--help` text: usage, flags and every key with its default and range.
std::string node_config_help();

/// Creates `cfg.data_dir` (and parents) if missing and proves it writable by
/// creating and removing a probe file. On failure returns an error for key
/// `conclave.data-dir` that includes the OS error text.
std::optional<config_error> check_data_dir(const node_config& cfg);

/// Copies the `caf.*` settings that were given into `sys_cfg` under the key
/// names CAF 0.17 reads ("scheduler.policy", "scheduler.max-threads",
/// "middleman.workers" -- CAF 0.17 has no "caf." prefix). Call this after any
/// `sys_cfg.parse(...)` and before constructing the actor_system.
void apply_caf_options(const node_config& cfg,
                       caf::actor_system_config& sys_cfg);

} // namespace conclave
