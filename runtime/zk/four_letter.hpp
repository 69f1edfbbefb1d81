// four_letter: ZooKeeper's four-letter words ("ruok", "srvr", "mntr", ...),
// the text commands operators and monitoring send to the client port
// instead of a session handshake (`echo mntr | nc host 2181`).
//
// ZooKeeper reads the first four bytes of a connection as the frame length;
// when they spell a known command it answers with text and closes the
// connection. Which commands run is a whitelist (ZooKeeper's
// `4lw.commands.whitelist`; since 3.5.3 only "srvr" by default, "*" for
// all); a known command that is not on it is answered "<cmd> is not
// executed because it is not in the whitelist." as ZooKeeper does.
//
// This file is pure: it recognizes commands, parses the whitelist and
// renders the answers from a snapshot of the node's figures
// (server_figures) that the caller collects. The layouts follow ZooKeeper
// 3.8's (mntr: one "key<TAB>value" per line with ZooKeeper's key names, then
// Conclave's own figures under a "conclave_" prefix).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace conclave::zk {

/// The commands Conclave answers.
inline constexpr std::string_view four_letter_words[]
  = {"ruok", "srvr", "stat", "mntr", "conf",
     "cons", "wchs", "dirs", "isro", "envi"};

/// The command spelled by the first four bytes of a connection, if they
/// spell one Conclave knows (exactly, lower case).
std::optional<std::string_view> four_letter_word(std::string_view first4);

/// Which commands may run.
class four_letter_whitelist {
public:
  /// ZooKeeper's default since 3.5.3: "srvr" only.
  four_letter_whitelist();

  /// Parses "*" (everything) or a comma- or space-separated list of known
  /// commands ("stat, ruok, mntr"). nullopt names the first unknown word
  /// through `bad` (for a config error).
  static std::optional<four_letter_whitelist> parse(std::string_view text,
                                                    std::string* bad = nullptr);

  bool allows(std::string_view command) const;

  /// "*" or the commands, comma-separated, in a fixed order.
  std::string to_string() const;

private:
  bool all_ = false;
  std::set<std::string, std::less<>> commands_;
};

/// One client connection, for "cons" and "stat".
struct connection_figures {
  /// "/127.0.0.1:54321"
  std::string remote;
  int64_t session_id = 0;
  uint64_t queued = 0;
  uint64_t received = 0;
  uint64_t sent = 0;
};

/// What the answers report; the caller fills in what it knows.
struct server_figures {
  std::string version;
  /// "leader", "follower", "standalone" (a single-voter cluster), or
  /// anything else the node's role is (reported as it is).
  std::string mode;
  int64_t last_zxid = 0;
  uint64_t znode_count = 0;
  uint64_t watch_count = 0;
  uint64_t watched_paths = 0;
  uint64_t watching_sessions = 0;
  uint64_t ephemeral_count = 0;
  uint64_t approximate_data_bytes = 0;
  uint64_t outstanding_requests = 0;
  uint64_t packets_received = 0;
  uint64_t packets_sent = 0;
  uint64_t alive_connections = 0;
  /// Request latency in milliseconds (min, average, max) since start.
  double min_latency_ms = 0;
  double avg_latency_ms = 0;
  double max_latency_ms = 0;
  uint64_t open_file_descriptors = 0;
  uint64_t max_file_descriptors = 0;
  /// Leader only: followers, and how many are in sync.
  uint64_t followers = 0;
  uint64_t synced_followers = 0;
  /// Read-only mode ("isro"): Conclave never serves read-only.
  bool read_only = false;
  /// Conclave's own figures.
  uint64_t node_id = 0;
  uint64_t raft_term = 0;
  uint64_t leader_id = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t last_log_index = 0;
  uint64_t snapshot_index = 0;
  uint64_t session_count = 0;
  /// "key=value" lines for "conf" and "envi", in order.
  std::vector<std::pair<std::string, std::string>> configuration;
  std::vector<std::pair<std::string, std::string>> environment;
  /// Bytes of snapshots and of log in the data directory, for "dirs"
  /// (ZooKeeper's datadir_size and logdir_size).
  uint64_t snapshot_bytes = 0;
  uint64_t log_bytes = 0;
  std::vector<connection_figures> connections;
};

/// The text to send back for `command` (a word four_letter_word()
/// recognized), given the whitelist and the figures.
std::string render_four_letter(std::string_view command,
                               const four_letter_whitelist& whitelist,
                               const server_figures& figures);

} // namespace conclave::zk
