// conclavectl: command-line client for Conclave.
//
//   conclavectl [--server HOST:PORT[,HOST:PORT...]] [--json] COMMAND ...
//
// Exit codes: 0 success; 1 a ZooKeeper-style error (the message names it);
// 2 a usage error or no server reachable.
#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"
#include "runtime/blocking_client.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"
#include "runtime/raft/configuration.hpp"
#include "runtime/storage/file.hpp"
#include "runtime/storage/force_new_cluster.hpp"
#include "runtime/storage/restore.hpp"
#include "runtime/storage/snapshot_store.hpp"

namespace {

using namespace conclave;

constexpr int exit_ok = 0;
constexpr int exit_zk_error = 1;
constexpr int exit_usage = 2;

constexpr const char* usage_text
  = R"(usage: conclavectl [OPTIONS] COMMAND [ARGS]

Options:
  --server HOST:PORT[,HOST:PORT...]  nodes to try in turn (default 127.0.0.1:4181)
  --json                             machine-readable output
  --timeout MS                       per-request timeout (default 10000;
                                     members add/promote/remove: 60000)
  --linearizable                     reads confirm leadership first (ReadIndex)
  -h, --help                         this text

Commands:
  create [-e] [-s] PATH [DATA]   create a znode (-e ephemeral, -s sequential)
  get PATH                       print a znode's data
  set PATH DATA [-v VERSION]     replace a znode's data (if at VERSION)
  delete PATH [-v VERSION]       delete a znode (if at VERSION)
  ls PATH                        list a znode's children
  stat PATH                      print a znode's stat
  tree [PATH]                    print the subtree below PATH (default /)
  watch PATH [-r] [-n COUNT]     print changes of PATH as they happen (-r: of
                                 every node below it too) until interrupted
                                 (or after COUNT events)
  services [NAME]                list registered services and their live
                                 instances (or NAME's instances)
  status                         print the status of every node in --server
  transfer-leader [NODE]         hand leadership to NODE (default: the most
                                 up-to-date follower)
  fault ACTOR KIND               make one of the node's actors fail (KIND:
                                 throw, exit or block:MS); only on nodes
                                 running with conclave.fault-injection = "on"

Membership (served by the leader; see docs/operations.md):
  members list                   every member: id, role (voter/learner),
                                 peer and client address, match index,
                                 reachable, leader (*); config index and
                                 whether it is committed
  members add ID@HOST:PORT [--learner] [--client HOST:PORT]
                                 add a node (HOST:PORT: its peer port): as a
                                 learner that catches up and is then promoted
                                 to voter, or only as a learner (--learner);
                                 waits until done (--timeout, default 60000
                                 for add), prints the new membership
  members promote ID             make a caught-up learner a voter
  members remove ID              remove a voter or learner (the leader too:
                                 it hands over first)

Backup and restore:
  snapshot save FILE             make the --server node take a snapshot now
                                 and write it to FILE (via FILE.tmp, fsync,
                                 verified, renamed); prints index, term,
                                 bytes, CRC-32C and the recorded membership
  snapshot restore FILE --data-dir DIR --id N --peers ID@HOST:PORT[,...]
                                 offline: verify FILE and seed the empty DIR
                                 as node N's data dir of a NEW cluster whose
                                 voters are --peers (no server is contacted)
  recover force-new-cluster --data-dir DIR --id N [--address HOST:PORT] --yes
                                 offline, DANGEROUS: after losing a majority
                                 for good, make stopped node N the only voter
                                 (see docs/operations.md)

An ephemeral znode lives as long as the session that created it: with
conclavectl, until the command exits.
Exit codes: 0 ok, 1 ZooKeeper-style error, 2 usage or connection error.
)";

// -- JSON output -------------------------------------------------------------

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string json_stat(const conclave::stat& st) {
  std::ostringstream out;
  out << "{\"czxid\":" << st.czxid << ",\"mzxid\":" << st.mzxid
      << ",\"ctime\":" << st.ctime_ms << ",\"mtime\":" << st.mtime_ms
      << ",\"version\":" << st.version << ",\"cversion\":" << st.cversion
      << ",\"aversion\":" << st.aversion
      << ",\"ephemeralOwner\":" << st.ephemeral_owner
      << ",\"dataLength\":" << st.data_length
      << ",\"numChildren\":" << st.num_children << ",\"pzxid\":" << st.pzxid
      << "}";
  return out.str();
}

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i)
    out += (i ? "," : "") + json_string(items[i]);
  return out + "]";
}

// -- human output ------------------------------------------------------------

std::string time_text(int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  std::ostringstream out;
  out << buf << '.' << std::setw(3) << std::setfill('0') << (ms % 1000)
      << " UTC";
  return out.str();
}

void print_stat(const conclave::stat& st) {
  std::cout << "cZxid = " << hex(st.czxid) << '\n'
            << "ctime = " << time_text(st.ctime_ms) << '\n'
            << "mZxid = " << hex(st.mzxid) << '\n'
            << "mtime = " << time_text(st.mtime_ms) << '\n'
            << "pZxid = " << hex(st.pzxid) << '\n'
            << "cversion = " << st.cversion << '\n'
            << "dataVersion = " << st.version << '\n'
            << "aclVersion = " << st.aversion << '\n'
            << "ephemeralOwner = " << hex(st.ephemeral_owner) << '\n'
            << "dataLength = " << st.data_length << '\n'
            << "numChildren = " << st.num_children << '\n';
}

// -- command plumbing --------------------------------------------------------

struct options {
  std::string servers = "127.0.0.1:4181";
  bool json = false;
  bool linearizable = false;
  long timeout_ms = 10000;
  /// --timeout was given (members add then waits exactly that long).
  bool timeout_given = false;
  std::string command;
  std::vector<std::string> args;
};

struct usage_error {
  std::string message;
};

int usage(const std::string& message) {
  std::cerr << "conclavectl: " << message << "\n"
            << "Try 'conclavectl --help'.\n";
  return exit_usage;
}

/// Reports a failed reply; returns the exit code.
template <class T>
int fail(const options& opts, const reply<T>& r) {
  if (opts.json)
    std::cout << "{\"ok\":false,\"error\":"
              << json_string(to_snake_name(r.error))
              << ",\"code\":" << static_cast<int>(r.error)
              << ",\"message\":" << json_string(r.message) << "}\n";
  std::cerr << "conclavectl: " << to_string(r.error) << ": " << r.message
            << '\n';
  return r.error == error_code::connection_loss ? exit_usage : exit_zk_error;
}

/// Removes `-v VERSION` from args; throws usage_error when malformed.
int32_t take_version(std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "-v")
      continue;
    if (i + 1 >= args.size())
      throw usage_error{"-v needs a VERSION"};
    char* end = nullptr;
    auto value = std::strtol(args[i + 1].c_str(), &end, 10);
    if (*end != '\0' || args[i + 1].empty() || value < -1 || value > INT32_MAX)
      throw usage_error{"bad version '" + args[i + 1] + "'"};
    args.erase(args.begin() + static_cast<long>(i),
               args.begin() + static_cast<long>(i) + 2);
    return static_cast<int32_t>(value);
  }
  return any_version;
}

void expect_args(const std::vector<std::string>& args, size_t min, size_t max,
                 const char* synopsis) {
  if (args.size() < min || args.size() > max)
    throw usage_error{std::string{"usage: conclavectl "} + synopsis};
}

/// What a command works with: the actor system and clients on demand.
struct context {
  caf::actor_system& sys;
  client_options options;
  bool linearizable = false;
  std::unique_ptr<blocking_client> main;
  std::vector<std::unique_ptr<blocking_client>> extra;

  /// A client that tries every --server in turn.
  blocking_client& client() {
    if (!main) {
      main = std::make_unique<blocking_client>(sys, options);
      main->set_linearizable(linearizable);
    }
    return *main;
  }

  /// A client of exactly these servers.
  blocking_client* client_for(std::vector<server_address> servers) {
    auto opts = options;
    opts.servers = std::move(servers);
    extra.push_back(std::make_unique<blocking_client>(sys, opts));
    return extra.back().get();
  }
};

int cmd_create(context& ctx, const options& opts,
               std::vector<std::string> args) {
  bool ephemeral = false;
  bool sequential = false;
  std::vector<std::string> rest;
  for (auto& a : args) {
    if (a == "-e")
      ephemeral = true;
    else if (a == "-s")
      sequential = true;
    else if (a == "-es" || a == "-se")
      ephemeral = sequential = true;
    else
      rest.push_back(a);
  }
  expect_args(rest, 1, 2, "create [-e] [-s] PATH [DATA]");
  auto mode = ephemeral ? (sequential ? create_mode::ephemeral_sequential
                                      : create_mode::ephemeral)
                        : (sequential ? create_mode::persistent_sequential
                                      : create_mode::persistent);
  auto r = ctx.client().create(rest[0], rest.size() > 1 ? rest[1] : "", mode);
  if (!r)
    return fail(opts, r);
  if (opts.json)
    std::cout << "{\"ok\":true,\"path\":" << json_string(r.value)
              << ",\"zxid\":" << r.zxid << "}\n";
  else
    std::cout << "Created " << r.value << '\n';
  return exit_ok;
}

int cmd_get(context& ctx, const options& opts, std::vector<std::string> args) {
  expect_args(args, 1, 1, "get PATH");
  auto r = ctx.client().get(args[0]);
  if (!r)
    return fail(opts, r);
  if (opts.json)
    std::cout << "{\"ok\":true,\"path\":" << json_string(args[0])
              << ",\"data\":" << json_string(r.value.data)
              << ",\"stat\":" << json_stat(r.value.stat) << "}\n";
  else
    std::cout << r.value.data << '\n';
  return exit_ok;
}

int cmd_set(context& ctx, const options& opts, std::vector<std::string> args) {
  auto version = take_version(args);
  expect_args(args, 2, 2, "set PATH DATA [-v VERSION]");
  auto r = ctx.client().set(args[0], args[1], version);
  if (!r)
    return fail(opts, r);
  if (opts.json)
    std::cout << "{\"ok\":true,\"path\":" << json_string(args[0])
              << ",\"stat\":" << json_stat(r.value) << "}\n";
  else
    std::cout << "Set " << args[0] << " (version " << r.value.version << ")\n";
  return exit_ok;
}

int cmd_delete(context& ctx, const options& opts,
               std::vector<std::string> args) {
  auto version = take_version(args);
  expect_args(args, 1, 1, "delete PATH [-v VERSION]");
  auto r = ctx.client().remove(args[0], version);
  if (!r)
    return fail(opts, r);
  if (opts.json)
    std::cout << "{\"ok\":true,\"path\":" << json_string(args[0]) << "}\n";
  else
    std::cout << "Deleted " << args[0] << '\n';
  return exit_ok;
}

int cmd_ls(context& ctx, const options& opts, std::vector<std::string> args) {
  expect_args(args, 1, 1, "ls PATH");
  auto r = ctx.client().children(args[0]);
  if (!r)
    return fail(opts, r);
  if (opts.json) {
    std::cout << "{\"ok\":true,\"path\":" << json_string(args[0])
              << ",\"children\":" << json_list(r.value.names) << "}\n";
  } else {
    for (const auto& name : r.value.names)
      std::cout << name << '\n';
  }
  return exit_ok;
}

int cmd_stat(context& ctx, const options& opts, std::vector<std::string> args) {
  expect_args(args, 1, 1, "stat PATH");
  auto r = ctx.client().exists(args[0]);
  if (!r)
    return fail(opts, r);
  if (opts.json)
    std::cout << "{\"ok\":true,\"path\":" << json_string(args[0])
              << ",\"stat\":" << json_stat(r.value) << "}\n";
  else
    print_stat(r.value);
  return exit_ok;
}

std::string join(const std::string& parent, const std::string& child) {
  return parent == "/" ? "/" + child : parent + "/" + child;
}

/// Walks the subtree depth-first, in sorted order; nodes that vanish while
/// walking are skipped.
int walk(blocking_client& c, const options& opts, const std::string& path,
         int depth, std::vector<std::string>& paths) {
  auto r = c.children(path);
  if (!r) {
    if (r.error == error_code::no_node && depth > 0)
      return exit_ok;
    return fail(opts, r);
  }
  paths.push_back(path);
  if (!opts.json) {
    auto name = depth == 0 ? path : path.substr(path.rfind('/') + 1);
    std::cout << std::string(static_cast<size_t>(depth) * 2, ' ') << name
              << '\n';
  }
  for (const auto& child : r.value.names)
    if (auto rc = walk(c, opts, join(path, child), depth + 1, paths);
        rc != exit_ok)
      return rc;
  return exit_ok;
}

int cmd_tree(context& ctx, const options& opts, std::vector<std::string> args) {
  expect_args(args, 0, 1, "tree [PATH]");
  std::vector<std::string> paths;
  auto rc = walk(ctx.client(), opts, args.empty() ? "/" : args[0], 0, paths);
  if (rc == exit_ok && opts.json)
    std::cout << "{\"ok\":true,\"paths\":" << json_list(paths) << "}\n";
  return rc;
}

/// One row of `status`: what one node reports.
std::vector<std::pair<std::string, std::string>>
status_rows(const pb::NodeStatus& s) {
  std::string peers;
  for (const auto& p : s.peers()) {
    if (!peers.empty())
      peers += ",";
    peers += std::to_string(p.node_id()) + ":" + std::to_string(p.match_index())
             + (p.reachable() ? "" : "(unreachable)");
  }
  // Actors the supervisor restarted, and how often.
  std::string restarts;
  for (const auto& r : s.restarts())
    if (r.restarts() > 0)
      restarts += (restarts.empty() ? "" : ",") + r.actor() + ":"
                  + std::to_string(r.restarts());
  // Recent mean latency of durable writes (what a leader hands over on).
  char persist_ms[32];
  std::snprintf(persist_ms, sizeof(persist_ms), "%.2f", s.persist_ewma_ms());
  return {
    {"id", std::to_string(s.node_id())},
    {"role", s.role()},
    {"term", std::to_string(s.term())},
    {"leader", std::to_string(s.leader_id())},
    {"commit", std::to_string(s.commit_index())},
    {"applied", std::to_string(s.applied_index())},
    {"last_index", std::to_string(s.last_log_index())},
    {"snapshot", std::to_string(s.snapshot_index())},
    {"znodes", std::to_string(s.znode_count())},
    {"sessions", std::to_string(s.session_count())},
    {"leader_changes", std::to_string(s.leader_changes())},
    {"persist_ms", persist_ms},
    {"peers_match", peers.empty() ? "-" : peers},
    {"restarts", restarts.empty() ? "-" : restarts},
  };
}

int cmd_status(context& ctx, const options& opts,
               std::vector<std::string> args) {
  expect_args(args, 0, 0, "status");
  std::vector<std::string> json_rows;
  std::vector<std::vector<std::pair<std::string, std::string>>> rows;
  std::vector<std::string> servers;
  int answered = 0;
  for (const auto& server : ctx.options.servers) {
    auto c = ctx.client_for({server});
    auto r = c->status();
    servers.push_back(server.to_string());
    if (!r) {
      rows.push_back({{"error", r.message}});
      continue;
    }
    ++answered;
    rows.push_back(status_rows(r.value));
  }
  if (opts.json) {
    std::cout << "{\"ok\":" << (answered > 0 ? "true" : "false")
              << ",\"nodes\":[";
    for (size_t i = 0; i < rows.size(); ++i) {
      std::cout << (i ? "," : "") << "{\"server\":" << json_string(servers[i]);
      for (const auto& [key, value] : rows[i]) {
        bool text = key == "role" || key == "peers_match" || key == "error"
                    || key == "restarts";
        std::cout << ",\"" << key
                  << "\":" << (text ? json_string(value) : value);
      }
      std::cout << "}";
    }
    std::cout << "]}\n";
  } else {
    for (size_t i = 0; i < rows.size(); ++i) {
      std::cout << std::left << std::setw(22) << servers[i];
      for (const auto& [key, value] : rows[i])
        std::cout << ' ' << key << '=' << value;
      std::cout << '\n';
    }
  }
  return answered > 0 ? exit_ok : exit_usage;
}

int cmd_transfer_leader(context& ctx, const options& opts,
                        std::vector<std::string> args) {
  expect_args(args, 0, 1, "transfer-leader [NODE]");
  uint64_t target = 0;
  if (!args.empty()) {
    char* end = nullptr;
    auto value = std::strtoull(args[0].c_str(), &end, 10);
    if (args[0].empty() || *end != '\0' || value == 0)
      throw usage_error{"bad node id '" + args[0] + "'"};
    target = value;
  }
  auto r = ctx.client().transfer_leader(target);
  if (!r)
    return fail(opts, r);
  if (opts.json)
    std::cout << "{\"ok\":true,\"target\":" << r.value << "}\n";
  else
    std::cout << "Leadership moving to node " << r.value << '\n';
  return exit_ok;
}

int cmd_fault(context& ctx, const options& opts,
              std::vector<std::string> args) {
  expect_args(args, 2, 2, "fault ACTOR KIND");
  auto r = ctx.client().inject_fault(args[0], args[1]);
  if (!r)
    return fail(opts, r);
  if (opts.json)
    std::cout << "{\"ok\":true}\n";
  else
    std::cout << "Injected " << args[1] << " into " << args[0] << '\n';
  return exit_ok;
}

const char* event_name(int32_t type) {
  switch (type) {
    case 1:
      return "NodeCreated";
    case 2:
      return "NodeDeleted";
    case 3:
      return "NodeDataChanged";
    case 4:
      return "NodeChildrenChanged";
    default:
      return "None";
  }
}

const char* state_name(int32_t state) {
  switch (state) {
    case 3:
      return "SyncConnected";
    case 0:
      return "Disconnected";
    case -112:
      return "Expired";
    default:
      return "Unknown";
  }
}

std::atomic<bool> interrupted{false};

int cmd_watch(context& ctx, const options& opts,
              std::vector<std::string> args) {
  bool recursive = false;
  long count = -1;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-r") {
      recursive = true;
    } else if (args[i] == "-n") {
      if (i + 1 == args.size())
        throw usage_error{"-n needs a COUNT"};
      char* end = nullptr;
      count = std::strtol(args[i + 1].c_str(), &end, 10);
      if (*end != '\0' || count < 1)
        throw usage_error{"bad count '" + args[i + 1] + "'"};
      ++i;
    } else {
      rest.push_back(args[i]);
    }
  }
  expect_args(rest, 1, 1, "watch PATH [-r] [-n COUNT]");
  auto& client = ctx.client();
  auto r = client.add_watch(rest[0], recursive);
  if (!r)
    return fail(opts, r);
  client.watch_state();
  if (opts.json)
    std::cout << "{\"ok\":true,\"watching\":" << json_string(rest[0])
              << ",\"recursive\":" << (recursive ? "true" : "false") << "}"
              << std::endl;
  else
    std::cout << "watching " << rest[0] << (recursive ? " and below" : "")
              << std::endl;
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });
  long seen = 0;
  while (!interrupted && (count < 0 || seen < count)) {
    auto ev = client.next_event(std::chrono::milliseconds(200));
    if (!ev)
      continue;
    if (ev->type() == -1) {
      if (opts.json)
        std::cout << "{\"state\":\"" << state_name(ev->state()) << "\"}"
                  << std::endl;
      else
        std::cout << "state " << state_name(ev->state()) << std::endl;
      if (ev->state() == -112)
        return exit_zk_error;
      continue;
    }
    ++seen;
    if (opts.json)
      std::cout << "{\"type\":\"" << event_name(ev->type())
                << "\",\"path\":" << json_string(ev->path())
                << ",\"zxid\":" << ev->zxid() << "}" << std::endl;
    else
      std::cout << event_name(ev->type()) << ' ' << ev->path() << " zxid "
                << hex(ev->zxid()) << std::endl;
  }
  return exit_ok;
}

std::string json_instance(const pb::ServiceInstance& i) {
  std::ostringstream out;
  out << "{\"id\":" << json_string(i.id())
      << ",\"endpoint\":" << json_string(i.endpoint()) << ",\"metadata\":{";
  std::map<std::string, std::string> sorted(i.metadata().begin(),
                                            i.metadata().end());
  bool first = true;
  for (const auto& [k, v] : sorted) {
    out << (first ? "" : ",") << json_string(k) << ':' << json_string(v);
    first = false;
  }
  out << "},\"czxid\":" << i.czxid() << "}";
  return out.str();
}

int cmd_services(context& ctx, const options& opts,
                 std::vector<std::string> args) {
  expect_args(args, 0, 1, "services [NAME]");
  auto& client = ctx.client();
  std::vector<std::string> names;
  if (args.empty()) {
    auto r = client.services();
    if (!r)
      return fail(opts, r);
    names = std::move(r.value);
  } else {
    names.push_back(args[0]);
  }
  std::vector<std::pair<std::string, std::vector<pb::ServiceInstance>>> found;
  for (const auto& name : names) {
    auto r = client.discover(name);
    if (!r)
      return fail(opts, r);
    found.emplace_back(name, std::move(r.value));
  }
  if (opts.json) {
    std::cout << "{\"ok\":true,\"services\":[";
    for (size_t i = 0; i < found.size(); ++i) {
      std::cout << (i ? "," : "") << "{\"name\":" << json_string(found[i].first)
                << ",\"instances\":[";
      for (size_t k = 0; k < found[i].second.size(); ++k)
        std::cout << (k ? "," : "") << json_instance(found[i].second[k]);
      std::cout << "]}";
    }
    std::cout << "]}\n";
    return exit_ok;
  }
  for (const auto& [name, instances] : found) {
    std::cout << name << " (" << instances.size()
              << (instances.size() == 1 ? " instance)" : " instances)") << '\n';
    for (const auto& i : instances) {
      std::cout << "  " << i.id() << "  " << i.endpoint();
      std::map<std::string, std::string> sorted(i.metadata().begin(),
                                                i.metadata().end());
      for (const auto& [k, v] : sorted)
        std::cout << "  " << k << '=' << v;
      std::cout << '\n';
    }
  }
  return exit_ok;
}

// -- membership --------------------------------------------------------------

/// A node id on the command line: 1..254.
uint64_t parse_node_id(const std::string& text) {
  char* end = nullptr;
  auto value = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 1 || value > 254)
    throw usage_error{"bad node id '" + text + "' (expected 1..254)"};
  return value;
}

/// "ID@HOST:PORT" as node_config parses conclave.peers.
peer_address parse_peer_arg(const std::string& text) {
  auto parsed = parse_peer(text);
  if (auto why = std::get_if<std::string>(&parsed))
    throw usage_error{"bad member '" + text + "': " + *why
                      + " (expected ID@HOST:PORT)"};
  return std::get<peer_address>(parsed);
}

/// "host:port" of a peer (IPv6 hosts in brackets).
std::string address_of(const peer_address& p) {
  auto text = to_string(p);
  return text.substr(text.find('@') + 1);
}

const char* role_name(int role) {
  return role == pb::MEMBER_LEARNER ? "learner" : "voter";
}

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string json_membership(const pb::MembershipResult& m) {
  std::map<uint64_t, const pb::MemberProgress*> progress;
  for (const auto& p : m.progress())
    progress[p.id()] = &p;
  std::ostringstream out;
  out << "\"config_index\":" << m.config_index()
      << ",\"committed\":" << (m.committed() ? "true" : "false")
      << ",\"leader\":" << m.leader_id()
      << ",\"commit_index\":" << m.commit_index() << ",\"members\":[";
  bool first = true;
  for (const auto& member : m.config().members()) {
    auto p = progress.find(member.id());
    out << (first ? "" : ",") << "{\"id\":" << member.id() << ",\"role\":\""
        << role_name(member.role())
        << "\",\"address\":" << json_string(member.address())
        << ",\"client_address\":" << json_string(member.client_address())
        << ",\"match_index\":"
        << (p != progress.end() ? p->second->match_index() : 0)
        << ",\"reachable\":"
        << (p != progress.end() && p->second->reachable() ? "true" : "false")
        << ",\"leader\":" << (member.id() == m.leader_id() ? "true" : "false")
        << "}";
    first = false;
  }
  out << "]";
  return out.str();
}

void print_membership(const pb::MembershipResult& m,
                      std::ostream& out = std::cout) {
  std::map<uint64_t, const pb::MemberProgress*> progress;
  for (const auto& p : m.progress())
    progress[p.id()] = &p;
  std::vector<std::vector<std::string>> rows{{"ID", "ROLE", "ADDRESS",
                                              "CLIENT ADDRESS", "MATCH",
                                              "REACHABLE", "LEADER"}};
  for (const auto& member : m.config().members()) {
    auto p = progress.find(member.id());
    bool known = p != progress.end();
    rows.push_back({std::to_string(member.id()), role_name(member.role()),
                    or_dash(member.address()), or_dash(member.client_address()),
                    known ? std::to_string(p->second->match_index()) : "-",
                    known ? (p->second->reachable() ? "yes" : "no") : "-",
                    member.id() == m.leader_id() ? "*" : ""});
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    out << line << '\n';
  }
  out << "config index " << m.config_index() << " ("
      << (m.committed() ? "committed" : "not committed yet") << "), leader "
      << m.leader_id() << ", commit index " << m.commit_index() << '\n';
}

/// Prints the membership after a successful list or change.
int print_members_result(const options& opts,
                         const reply<pb::MembershipResult>& r,
                         const std::string& done) {
  if (!r) {
    int code = fail(opts, r);
    if (!opts.json && r.value.config().members_size() > 0) {
      std::cerr << "conclavectl: " << r.value.applied()
                << " change(s) took effect; the membership now:\n";
      print_membership(r.value, std::cerr);
    }
    return code;
  }
  if (opts.json) {
    std::cout << "{\"ok\":true," << json_membership(r.value) << "}\n";
    return exit_ok;
  }
  if (!done.empty())
    std::cout << done << '\n';
  print_membership(r.value);
  return exit_ok;
}

constexpr long default_add_timeout_ms = 60000;

/// Sends one membership change and waits for it to finish.
int members_change(context& ctx, const options& opts, pb::MemberChange change,
                   const std::string& done) {
  // Adding a voter waits for the learner to catch up (and both steps to
  // commit): a generous default unless --timeout says otherwise.
  long wait_ms = opts.timeout_given
                   ? opts.timeout_ms
                   : std::max(opts.timeout_ms, default_add_timeout_ms);
  pb::ReconfigRequest req;
  req.set_expected_config_id(-1); // proto3's default 0 would be a check
  req.set_catch_up_timeout_ms(static_cast<uint64_t>(wait_ms));
  *req.add_changes() = std::move(change);
  // The leader may spend the catch-up time on each of the two steps of an
  // ADD_VOTER; the client must not give up before the leader answers.
  ctx.options.request_timeout = std::chrono::milliseconds{2 * wait_ms + 10000};
  auto r = ctx.client().reconfig(req);
  return print_members_result(opts, r, done);
}

int cmd_members(context& ctx, const options& opts,
                std::vector<std::string> args) {
  constexpr const char* synopsis
    = "members list | add ID@HOST:PORT [--learner] [--client HOST:PORT] | "
      "promote ID | remove ID";
  if (args.empty())
    throw usage_error{std::string{"usage: conclavectl "} + synopsis};
  auto sub = args[0];
  args.erase(args.begin());
  if (sub == "list") {
    expect_args(args, 0, 0, "members list");
    return print_members_result(opts, ctx.client().members(), {});
  }
  if (sub == "add") {
    bool learner = false;
    std::string client_address;
    std::vector<std::string> rest;
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--learner") {
        learner = true;
      } else if (args[i] == "--client" || args[i].rfind("--client=", 0) == 0) {
        if (args[i] == "--client") {
          if (i + 1 == args.size())
            throw usage_error{"--client needs HOST:PORT"};
          client_address = args[++i];
        } else {
          client_address = args[i].substr(9);
        }
        // Checked like a peer address (host and port 1..65535).
        auto parsed = parse_peer("1@" + client_address);
        if (auto why = std::get_if<std::string>(&parsed))
          throw usage_error{"bad --client '" + client_address + "': " + *why};
      } else if (args[i].rfind("--", 0) == 0) {
        throw usage_error{"unknown option '" + args[i] + "'"};
      } else {
        rest.push_back(args[i]);
      }
    }
    expect_args(rest, 1, 1,
                "members add ID@HOST:PORT [--learner] [--client HOST:PORT]");
    auto peer = parse_peer_arg(rest[0]);
    pb::MemberChange change;
    change.set_kind(learner ? pb::MemberChange::ADD_LEARNER
                            : pb::MemberChange::ADD_VOTER);
    change.set_id(peer.id.value());
    change.set_address(address_of(peer));
    change.set_client_address(client_address);
    return members_change(ctx, opts, std::move(change),
                          "Added node " + std::to_string(peer.id.value())
                            + (learner ? " as a learner" : " as a voter"));
  }
  if (sub == "promote" || sub == "remove") {
    expect_args(args, 1, 1,
                sub == "promote" ? "members promote ID" : "members remove ID");
    auto id = parse_node_id(args[0]);
    pb::MemberChange change;
    change.set_kind(sub == "promote" ? pb::MemberChange::PROMOTE
                                     : pb::MemberChange::REMOVE);
    change.set_id(id);
    return members_change(
      ctx, opts, std::move(change),
      (sub == "promote" ? "Promoted node " : "Removed node ")
        + std::to_string(id));
  }
  throw usage_error{"unknown members command '" + sub + "' (" + synopsis + ")"};
}

// -- backup and restore ------------------------------------------------------

/// One line per member of a snapshot's recorded configuration.
std::string config_text(const raft::configuration& c) {
  if (c.empty())
    return "  (none recorded)\n";
  std::string out;
  for (const auto& m : c.members)
    out += "  " + std::to_string(m.id.value()) + "  " + raft::to_string(m.role)
           + "  " + or_dash(m.address) + "  " + or_dash(m.client_address)
           + "\n";
  return out;
}

std::string json_config(const raft::configuration& c) {
  std::string out = "[";
  for (size_t i = 0; i < c.members.size(); ++i) {
    const auto& m = c.members[i];
    out += std::string{i ? "," : ""} + "{\"id\":" + std::to_string(m.id.value())
           + ",\"role\":\"" + raft::to_string(m.role)
           + "\",\"address\":" + json_string(m.address)
           + ",\"client_address\":" + json_string(m.client_address) + "}";
  }
  return out + "]";
}

/// A local failure of snapshot save/restore (a file, not the server).
int storage_failure(const options& opts, const std::string& message) {
  if (opts.json)
    std::cout << "{\"ok\":false,\"error\":\"storage\",\"message\":"
              << json_string(message) << "}\n";
  std::cerr << "conclavectl: " << message << '\n';
  return exit_zk_error;
}

/// Outcome of one attempt to download a snapshot.
struct download {
  enum { ok, failed, retry } outcome = ok;
  int exit_code = exit_ok;
  std::string why;
};

/// Reads the node's snapshot chunk by chunk into `tmp` (created or
/// truncated), fsyncs it and closes it.
download fetch_snapshot(blocking_client& client, const options& opts,
                        const std::string& tmp) {
  download d;
  auto first = client.snapshot_chunk(0, 0);
  if (!first) {
    d.outcome = download::failed;
    d.exit_code = fail(opts, first);
    return d;
  }
  const auto meta = first.value.meta();
  const auto total = first.value.total_bytes();
  auto f = storage::file::open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!f) {
    d.outcome = download::failed;
    d.exit_code = storage_failure(opts, f.error().to_string());
    return d;
  }
  auto chunk = std::move(first.value);
  uint64_t offset = 0;
  for (;;) {
    if (chunk.offset() != offset || chunk.meta().index() != meta.index()
        || chunk.meta().term() != meta.term() || chunk.total_bytes() != total
        || offset + chunk.data().size() > total) {
      d.outcome = download::retry;
      d.why = "the node answered a chunk of another snapshot (index "
              + std::to_string(chunk.meta().index()) + " at offset "
              + std::to_string(chunk.offset()) + ")";
      return d;
    }
    if (auto w = f->pwrite_all(chunk.data(), offset); !w) {
      d.outcome = download::failed;
      d.exit_code = storage_failure(opts, w.error().to_string());
      return d;
    }
    offset += chunk.data().size();
    if (chunk.done() || offset >= total)
      break;
    if (chunk.data().empty()) {
      d.outcome = download::retry;
      d.why = "the node answered an empty chunk at offset "
              + std::to_string(offset) + " of " + std::to_string(total);
      return d;
    }
    auto next = client.snapshot_chunk(meta.index(), offset);
    if (!next) {
      if (next.error == error_code::connection_loss) {
        d.outcome = download::failed;
        d.exit_code = fail(opts, next);
        return d;
      }
      // The snapshot was replaced by a newer one meanwhile: start again.
      d.outcome = download::retry;
      d.why = next.message;
      return d;
    }
    chunk = std::move(next.value);
  }
  if (offset != total) {
    d.outcome = download::retry;
    d.why = "received " + std::to_string(offset) + " of "
            + std::to_string(total) + " bytes";
    return d;
  }
  if (auto r = f->sync(); !r) {
    d.outcome = download::failed;
    d.exit_code = storage_failure(opts, r.error().to_string());
    return d;
  }
  if (auto r = f->close(); !r) {
    d.outcome = download::failed;
    d.exit_code = storage_failure(opts, r.error().to_string());
    return d;
  }
  return d;
}

int cmd_snapshot_save(context& ctx, const options& opts,
                      std::vector<std::string> args) {
  expect_args(args, 1, 1, "snapshot save FILE");
  const auto& path = args[0];
  const auto tmp = path + ".tmp";
  auto dir = std::filesystem::path{path}.parent_path().string();
  if (dir.empty())
    dir = ".";
  // A snapshot kept while the node takes a newer one may be removed under
  // our feet (conclave.snapshot-keep): start again, a few times.
  constexpr int attempts = 3;
  std::string why;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto d = fetch_snapshot(ctx.client(), opts, tmp);
    if (d.outcome == download::failed) {
      (void)storage::remove_file(tmp);
      return d.exit_code;
    }
    if (d.outcome == download::retry) {
      why = d.why;
      continue;
    }
    auto info = storage::verify_snapshot_file(tmp);
    if (!info) {
      why = info.error().to_string();
      continue;
    }
    if (auto r = storage::rename_durably(tmp, path, dir); !r) {
      (void)storage::remove_file(tmp);
      return storage_failure(opts, r.error().to_string());
    }
    const auto& meta = info->meta;
    if (opts.json) {
      std::cout << "{\"ok\":true,\"file\":" << json_string(path)
                << ",\"index\":" << meta.index.value()
                << ",\"term\":" << meta.term.value()
                << ",\"bytes\":" << info->file_bytes
                << ",\"payload_bytes\":" << info->payload_bytes
                << ",\"checksum\":\"" << storage::hex32(info->checksum)
                << "\",\"members\":" << json_config(meta.config) << "}\n";
    } else {
      std::cout << "Saved snapshot to " << path << '\n'
                << "index     " << meta.index.value() << '\n'
                << "term      " << meta.term.value() << '\n'
                << "bytes     " << info->file_bytes << '\n'
                << "checksum  " << storage::hex32(info->checksum)
                << " (CRC-32C)\n"
                << "members (as recorded in the snapshot):\n"
                << config_text(meta.config);
    }
    return exit_ok;
  }
  (void)storage::remove_file(tmp);
  return storage_failure(opts, "snapshot save failed after "
                                 + std::to_string(attempts)
                                 + " attempts: " + why);
}

/// `FLAG VALUE` or `FLAG=VALUE` at args[i] (advancing i past a separate
/// value): stores the value and returns true; false if args[i] is not FLAG.
bool take_flag(const std::vector<std::string>& args, size_t& i,
               const std::string& flag, std::string& into) {
  if (args[i] == flag) {
    if (i + 1 == args.size())
      throw usage_error{flag + " needs a value"};
    into = args[++i];
    return true;
  }
  if (args[i].rfind(flag + "=", 0) == 0) {
    into = args[i].substr(flag.size() + 1);
    return true;
  }
  return false;
}

int cmd_snapshot_restore(const options& opts, std::vector<std::string> args) {
  constexpr const char* synopsis
    = "snapshot restore FILE --data-dir DIR --id N --peers "
      "ID@HOST:PORT[,ID@HOST:PORT...]";
  std::string data_dir, id_text, peers_text;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    auto take = [&](const char* flag, std::string& into) {
      return take_flag(args, i, flag, into);
    };
    if (take("--data-dir", data_dir) || take("--id", id_text)
        || take("--peers", peers_text))
      continue;
    if (args[i].rfind("--", 0) == 0)
      throw usage_error{"unknown option '" + args[i] + "'"};
    rest.push_back(args[i]);
  }
  expect_args(rest, 1, 1, synopsis);
  if (data_dir.empty() || id_text.empty() || peers_text.empty())
    throw usage_error{std::string{"usage: conclavectl "} + synopsis};
  auto id = parse_node_id(id_text);
  raft::configuration config;
  std::string peers_conf; // for the hint
  for (size_t start = 0; start <= peers_text.size();) {
    auto comma = peers_text.find(',', start);
    auto item = peers_text.substr(
      start, comma == std::string::npos ? std::string::npos : comma - start);
    auto peer = parse_peer_arg(item);
    if (config.contains(peer.id))
      throw usage_error{"--peers names node " + std::to_string(peer.id.value())
                        + " twice"};
    config.members.push_back(
      raft::member{peer.id, raft::member_role::voter, address_of(peer), {}});
    peers_conf += std::string{peers_conf.empty() ? "" : ", "} + "\""
                  + to_string(peer) + "\"";
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  std::sort(
    config.members.begin(), config.members.end(),
    [](const raft::member& a, const raft::member& b) { return a.id < b.id; });
  if (!config.contains(node_id{id}))
    throw usage_error{"--peers must include this node's id " + id_text};
  auto r = storage::restore_snapshot(rest[0], data_dir, config);
  if (!r)
    return storage_failure(opts, "snapshot restore: " + r.error().to_string());
  const auto& src = r->source.meta;
  if (opts.json) {
    std::cout << "{\"ok\":true,\"file\":" << json_string(rest[0])
              << ",\"data_dir\":" << json_string(data_dir) << ",\"id\":" << id
              << ",\"index\":" << src.index.value()
              << ",\"term\":" << src.term.value()
              << ",\"bytes\":" << r->source.file_bytes << ",\"checksum\":\""
              << storage::hex32(r->source.checksum)
              << "\",\"snapshot\":" << json_string(r->installed.path)
              << ",\"members\":" << json_config(r->installed.meta.config)
              << ",\"recorded_members\":" << json_config(src.config) << "}\n";
    return exit_ok;
  }
  std::cout << "Restored " << rest[0] << " into " << data_dir << '\n'
            << "index     " << src.index.value() << '\n'
            << "term      " << src.term.value() << '\n'
            << "bytes     " << r->source.file_bytes << '\n'
            << "checksum  " << storage::hex32(r->source.checksum)
            << " (CRC-32C)\n"
            << "snapshot  " << r->installed.path << '\n'
            << "members of the new cluster:\n"
            << config_text(r->installed.meta.config) << "Start node " << id
            << " with conclave.data-dir = \"" << data_dir
            << "\" and conclave.peers = [" << peers_conf << "]\n";
  return exit_ok;
}

int cmd_snapshot(context& ctx, const options& opts,
                 std::vector<std::string> args) {
  if (args.empty() || (args[0] != "save" && args[0] != "restore"))
    throw usage_error{"usage: conclavectl snapshot save FILE | snapshot "
                      "restore FILE --data-dir DIR --id N --peers "
                      "ID@HOST:PORT[,...]"};
  auto sub = args[0];
  args.erase(args.begin());
  if (sub == "save")
    return cmd_snapshot_save(ctx, opts, std::move(args));
  return cmd_snapshot_restore(opts, std::move(args));
}

/// Majority-loss recovery (docs/operations.md): offline, on one stopped
/// survivor, and only with --yes.
int cmd_recover(context&, const options& opts, std::vector<std::string> args) {
  constexpr const char* synopsis
    = "recover force-new-cluster --data-dir DIR --id N [--address HOST:PORT] "
      "--yes";
  if (args.empty() || args[0] != "force-new-cluster")
    throw usage_error{std::string{"usage: conclavectl "} + synopsis};
  std::string data_dir, id_text, address;
  bool yes = false;
  for (size_t i = 1; i < args.size(); ++i) {
    auto take = [&](const char* flag, std::string& into) {
      return take_flag(args, i, flag, into);
    };
    if (take("--data-dir", data_dir) || take("--id", id_text)
        || take("--address", address))
      continue;
    if (args[i] == "--yes") {
      yes = true;
      continue;
    }
    throw usage_error{"unexpected argument '" + args[i] + "'"};
  }
  if (data_dir.empty() || id_text.empty())
    throw usage_error{std::string{"usage: conclavectl "} + synopsis};
  auto id = parse_node_id(id_text);
  if (!address.empty())
    address = address_of(parse_peer_arg(id_text + "@" + address));
  if (!yes) {
    std::cerr << "conclavectl: recover force-new-cluster makes node " << id
              << " the only voter of a new configuration. Entries only the "
                 "lost nodes had are gone, entries never committed become "
                 "committed. Stop every node first; never restart the other "
                 "members with their old data. Add --yes to go ahead "
                 "(docs/operations.md).\n";
    return exit_usage;
  }
  auto r = storage::force_new_cluster(data_dir, node_id{id}, address);
  if (!r)
    return storage_failure(opts, "recover: " + r.error().to_string());
  if (opts.json) {
    std::cout << "{\"ok\":true,\"data_dir\":" << json_string(data_dir)
              << ",\"id\":" << id << ",\"index\":" << r->index.value()
              << ",\"term\":" << r->term.value()
              << ",\"old_members\":" << json_config(r->old_config)
              << ",\"members\":" << json_config(r->new_config) << "}\n";
    return exit_ok;
  }
  std::cout << "Node " << id << " in " << data_dir
            << " is now the only voter (configuration entry "
            << r->index.value() << ", term " << r->term.value()
            << ").\nOld members:\n"
            << config_text(r->old_config)
            << "Start it, then add new members one by one (conclavectl members "
               "add); wipe the other old members' data first.\n";
  return exit_ok;
}

using command_fn
  = std::function<int(context&, const options&, std::vector<std::string>)>;

const std::map<std::string, command_fn>& commands() {
  static const std::map<std::string, command_fn> table = {
    {"create", cmd_create},
    {"get", cmd_get},
    {"set", cmd_set},
    {"delete", cmd_delete},
    {"ls", cmd_ls},
    {"stat", cmd_stat},
    {"tree", cmd_tree},
    {"watch", cmd_watch},
    {"services", cmd_services},
    {"status", cmd_status},
    {"transfer-leader", cmd_transfer_leader},
    {"fault", cmd_fault},
    {"members", cmd_members},
    {"snapshot", cmd_snapshot},
    {"recover", cmd_recover},
  };
  return table;
}

/// Parses global options; the command and its arguments follow.
options parse_options(int argc, char** argv) {
  options opts;
  int i = 1;
  auto value_of = [&](std::string_view arg, std::string_view flag) {
    if (arg.size() > flag.size() && arg[flag.size()] == '=')
      return std::string{arg.substr(flag.size() + 1)};
    if (i + 1 >= argc)
      throw usage_error{std::string{flag} + " needs a value"};
    return std::string{argv[++i]};
  };
  for (; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg.rfind("--server", 0) == 0) {
      opts.servers = value_of(arg, "--server");
    } else if (arg.rfind("--timeout", 0) == 0) {
      auto text = value_of(arg, "--timeout");
      char* end = nullptr;
      opts.timeout_ms = std::strtol(text.c_str(), &end, 10);
      opts.timeout_given = true;
      if (text.empty() || *end != '\0' || opts.timeout_ms <= 0)
        throw usage_error{"bad --timeout '" + text + "'"};
    } else if (arg == "--json") {
      opts.json = true;
    } else if (arg == "--linearizable") {
      opts.linearizable = true;
    } else if (arg.rfind("--", 0) == 0) {
      throw usage_error{"unknown option '" + std::string{arg} + "'"};
    } else {
      break;
    }
  }
  if (i >= argc)
    throw usage_error{"no command given"};
  opts.command = argv[i++];
  for (; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == "--json")
      opts.json = true;
    else if (arg == "--linearizable")
      opts.linearizable = true;
    else
      opts.args.emplace_back(arg);
  }
  return opts;
}

} // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == "-h" || arg == "--help") {
      std::cout << usage_text;
      return exit_ok;
    }
  }
  options opts;
  try {
    opts = parse_options(argc, argv);
  } catch (const usage_error& err) {
    return usage(err.message);
  }
  auto cmd = commands().find(opts.command);
  if (cmd == commands().end())
    return usage("unknown command '" + opts.command + "'");
  client_options copts;
  copts.servers = parse_server_list(opts.servers);
  if (copts.servers.empty())
    return usage("bad --server '" + opts.servers
                 + "' (expected HOST:PORT[,HOST:PORT...])");
  copts.request_timeout = std::chrono::milliseconds{opts.timeout_ms};
  caf::actor_system_config cfg;
  announce_message_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", size_t{1});
  caf::actor_system sys{cfg};
  context ctx{sys, copts, opts.linearizable, nullptr, {}};
  try {
    return cmd->second(ctx, opts, opts.args);
  } catch (const usage_error& err) {
    return usage(err.message);
  }
}
