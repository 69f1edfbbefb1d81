// conclavectl: command-line client for Conclave.
//
//   conclavectl [--server HOST:PORT[,HOST:PORT...]] [--json] COMMAND ...
//
// Exit codes: 0 success; 1 a ZooKeeper-style error (the message names it);
// 2 a usage error or no server reachable.
#include <cstdio>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"
#include "runtime/blocking_client.hpp"
#include "runtime/logging.hpp"

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
  --timeout MS                       per-request timeout (default 10000)
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
