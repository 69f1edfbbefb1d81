#include "runtime/zk/four_letter.hpp"

#include <cstdio>
#include <sstream>

#include "runtime/hex.hpp"

namespace conclave::zk {

namespace {

/// Java's way of printing a double for the average latency (at most four
/// decimals, at least one).
std::string decimal(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", value);
  std::string out = buf;
  while (out.size() > 1 && out.back() == '0' && out[out.size() - 2] != '.')
    out.pop_back();
  return out;
}

std::string connection_line(const connection_figures& c, bool with_sid) {
  std::ostringstream out;
  out << ' ' << c.remote << "[1](queued=" << c.queued
      << ",recved=" << c.received << ",sent=" << c.sent;
  if (with_sid)
    out << ",sid=" << hex(c.session_id);
  out << ")\n";
  return out.str();
}

/// The lines srvr and stat share, from the latency on.
std::string server_lines(const server_figures& f) {
  std::ostringstream out;
  out << "Latency min/avg/max: " << static_cast<int64_t>(f.min_latency_ms)
      << '/' << decimal(f.avg_latency_ms) << '/'
      << static_cast<int64_t>(f.max_latency_ms) << '\n'
      << "Received: " << f.packets_received << '\n'
      << "Sent: " << f.packets_sent << '\n'
      << "Connections: " << f.alive_connections << '\n'
      << "Outstanding: " << f.outstanding_requests << '\n'
      << "Zxid: " << hex(f.last_zxid) << '\n'
      << "Mode: " << f.mode << '\n'
      << "Node count: " << f.znode_count << '\n';
  return out.str();
}

std::string mntr(const server_figures& f) {
  std::ostringstream out;
  auto line = [&](std::string_view key, const auto& value) {
    out << key << '\t' << value << '\n';
  };
  line("zk_version", f.version);
  line("zk_server_state", f.mode);
  line("zk_avg_latency", decimal(f.avg_latency_ms));
  line("zk_max_latency", static_cast<int64_t>(f.max_latency_ms));
  line("zk_min_latency", static_cast<int64_t>(f.min_latency_ms));
  line("zk_packets_received", f.packets_received);
  line("zk_packets_sent", f.packets_sent);
  line("zk_num_alive_connections", f.alive_connections);
  line("zk_outstanding_requests", f.outstanding_requests);
  line("zk_znode_count", f.znode_count);
  line("zk_watch_count", f.watch_count);
  line("zk_ephemerals_count", f.ephemeral_count);
  line("zk_approximate_data_size", f.approximate_data_bytes);
  line("zk_open_file_descriptor_count", f.open_file_descriptors);
  line("zk_max_file_descriptor_count", f.max_file_descriptors);
  if (f.mode == "leader") {
    line("zk_followers", f.followers);
    line("zk_synced_followers", f.synced_followers);
  }
  line("conclave_node_id", f.node_id);
  line("conclave_raft_term", f.raft_term);
  line("conclave_raft_leader_id", f.leader_id);
  line("conclave_raft_commit_index", f.commit_index);
  line("conclave_raft_applied_index", f.applied_index);
  line("conclave_raft_last_log_index", f.last_log_index);
  line("conclave_raft_snapshot_index", f.snapshot_index);
  line("conclave_session_count", f.session_count);
  return out.str();
}

std::string
key_values(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string out;
  for (const auto& [k, v] : items)
    out += k + '=' + v + '\n';
  return out;
}

} // namespace

std::optional<std::string_view> four_letter_word(std::string_view first4) {
  for (auto word : four_letter_words)
    if (word == first4)
      return word;
  return std::nullopt;
}

four_letter_whitelist::four_letter_whitelist() : commands_{"srvr"} {
  // nop
}

std::optional<four_letter_whitelist>
four_letter_whitelist::parse(std::string_view text, std::string* bad) {
  four_letter_whitelist out;
  out.commands_.clear();
  std::string word;
  auto flush = [&]() -> bool {
    if (word.empty())
      return true;
    if (word == "*") {
      out.all_ = true;
    } else if (auto known = four_letter_word(word)) {
      out.commands_.emplace(*known);
    } else {
      if (bad)
        *bad = word;
      return false;
    }
    word.clear();
    return true;
  };
  for (auto c : text) {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!flush())
        return std::nullopt;
    } else {
      word += c;
    }
  }
  if (!flush())
    return std::nullopt;
  return out;
}

bool four_letter_whitelist::allows(std::string_view command) const {
  return all_ || commands_.count(command) != 0;
}

std::string four_letter_whitelist::to_string() const {
  if (all_)
    return "*";
  std::string out;
  for (auto word : four_letter_words)
    if (commands_.count(word) != 0)
      out += (out.empty() ? "" : ",") + std::string{word};
  return out;
}

std::string render_four_letter(std::string_view command,
                               const four_letter_whitelist& whitelist,
                               const server_figures& f) {
  if (!four_letter_word(command))
    return std::string{command} + " is not a known command.\n";
  if (!whitelist.allows(command))
    return std::string{command}
           + " is not executed because it is not in the whitelist.\n";
  if (command == "ruok")
    return "imok";
  if (command == "isro")
    return f.read_only ? "ro" : "rw";
  if (command == "srvr")
    return "Zookeeper version: " + f.version + '\n' + server_lines(f);
  if (command == "stat") {
    std::string out = "Zookeeper version: " + f.version + "\nClients:\n";
    for (const auto& c : f.connections)
      out += connection_line(c, false);
    return out + '\n' + server_lines(f);
  }
  if (command == "mntr")
    return mntr(f);
  if (command == "conf")
    return key_values(f.configuration);
  if (command == "envi")
    return "Environment:\n" + key_values(f.environment);
  if (command == "cons") {
    std::string out;
    for (const auto& c : f.connections)
      out += connection_line(c, true);
    return out + '\n';
  }
  if (command == "wchs")
    return std::to_string(f.watching_sessions) + " connections watching "
           + std::to_string(f.watched_paths)
           + " paths\nTotal watches:" + std::to_string(f.watch_count) + '\n';
  // dirs
  return "datadir_size: " + std::to_string(f.snapshot_bytes)
         + "\nlogdir_size: " + std::to_string(f.log_bytes) + '\n';
}

} // namespace conclave::zk
