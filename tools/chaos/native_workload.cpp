// conclave-chaos-native: the chaos harness's workload through the native
// C++ client (runtime/blocking_client.hpp). It drives a cluster until SIGTERM
// or SIGINT and appends every operation to a history file in the format of
// tools/chaos/history.proto, which conclave-check judges.
//
//   conclave-chaos-native --servers HOST:PORT[,...] --history FILE
//                         --workload registers|watches --seed N
//                         --process-base N [--clients N] [--keys N]
//                         [--session-timeout-ms MS] [--op-timeout-ms MS]
//                         [--final-timeout-s S]
//
// Recording rules (as tests/chaos_run_test.cpp, and Jepsen):
// - The file is opened O_APPEND and every record is ONE write(2) of a JSON
//   line, so that other workloads (kazoo, other instances) can append to the
//   same file concurrently; records carry no `index`. An invoke is written
//   before the request is sent, its completion after the reply arrived:
//   line order is real-time order. time_ns is CLOCK_MONOTONIC.
// - A logical process has one operation in flight. Outcomes: ok; fail only
//   for definite errors (BadVersion, NoNode, NodeExists, ...); info for
//   anything in doubt (ConnectionLoss, OperationTimeout, SessionExpired,
//   SystemError, ...), after which the process continues under a fresh id
//   (process-base + a counter). Reads, syncs and watch registrations change
//   nothing, so they never end `info`: their errors are `fail`. A process
//   also takes a fresh id with a fresh client (session), since a new session
//   has not seen what the old one saw.
// - Every operation is bounded by --op-timeout-ms: the client's request
//   timeout is derived from it so that blocking_client's own bound (twice
//   the request timeout plus one second) equals it (with at least 100 ms of
//   request timeout).
//
// Workloads:
// - registers: keys /native/r0.. (--keys). Setup (process-base + 0): each
//   key created, or set if it exists, recorded as one `write`. Then each of
//   --clients threads loops over linearizable reads, plain reads (one
//   client, toggling set_linearizable), writes (setData version -1) and
//   compare-and-sets (setData with the version, and the value, this process
//   last saw for the key). Final phase: a linearizable read of every key
//   with a fresh client, retried until it succeeds or --final-timeout-s.
// - watches: --clients watcher threads each hold a persistent recursive
//   watch on /native/w (`watch`, with the zxid the node registered it at),
//   record every notification (`watch_event`), record `disconnect` (with the
//   last zxid they saw) when the connection drops and register again once
//   connected, and `sync` every second or so. --clients writer threads
//   create, set and delete /native/w/k0.. (--keys): `create`, `write` and
//   `delete` records with key = path = the node and the zxid of the change.
//   (No `cas`: the nodes are deleted and re-created, which the register
//   model of the linearizability check cannot follow; writes record no
//   version for the same reason.) Final phase: writers stop; each watcher
//   syncs and waits until it has received the events of every change its
//   own writers made up to the sync's zxid (or --final-timeout-s), then
//   records the sync.
//
// On SIGTERM / SIGINT: no new operations, in-flight ones finish, the final
// phase runs, one JSON summary line goes to stdout
// ({"workload":...,"ops":N,"ok":N,"fail":N,"info":N}) and the exit code is
// 0. Exit codes: 0 done (cluster errors never change it), 1 the history
// file could not be written, 2 usage error.
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"
#include "runtime/blocking_client.hpp"
#include "tools/chaos/history.hpp"

namespace {

using namespace conclave;
using namespace std::chrono_literals;
using chaos::Record;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int exit_ok = 0;
constexpr int exit_history = 1;
constexpr int exit_usage = 2;

constexpr const char* usage_text = R"(usage: conclave-chaos-native OPTIONS

  --servers HOST:PORT[,HOST:PORT...]  native client ports of the cluster
  --history FILE                      JSON-lines history to append to
  --workload registers|watches
  --seed N                            random seed
  --process-base N                    first process id of this instance
  --clients N                         client threads (default 3)
  --keys N                            registers / watched nodes (default 5)
  --session-timeout-ms MS             (default 10000)
  --op-timeout-ms MS                  bound of one operation (default 5000)
  --final-timeout-s S                 bound of the final phase (default 60)

Runs until SIGTERM or SIGINT, then finishes in-flight operations, runs the
final phase and prints {"workload":...,"ops":N,"ok":N,"fail":N,"info":N}.
Exit codes: 0 done, 1 history not writable, 2 usage error.
)";

constexpr const char* registers_root = "/native/r";
constexpr const char* watched_path = "/native/w";

// -- stop flag -----------------------------------------------------------------

static_assert(std::atomic<bool>::is_always_lock_free);
/// Set by SIGTERM / SIGINT (the handler does nothing else).
std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) {
  stop_requested.store(true);
}

void install_signal_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool stopping() {
  return stop_requested.load();
}

// -- options -------------------------------------------------------------------

struct options {
  std::vector<server_address> servers;
  std::string history;
  std::string workload;
  uint64_t seed = 0;
  int64_t process_base = 0;
  int64_t clients = 3;
  int64_t keys = 5;
  int64_t session_timeout_ms = 10000;
  int64_t op_timeout_ms = 5000;
  int64_t final_timeout_s = 60;
};

struct usage_error {
  std::string message;
};

template <class T>
T parse_number(std::string_view flag, std::string_view text, T min, T max) {
  T value{};
  auto [end, ec]
    = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min
      || value > max)
    throw usage_error{"bad " + std::string{flag} + " '" + std::string{text}
                      + "' (expected an integer in " + std::to_string(min)
                      + ".." + std::to_string(max) + ")"};
  return value;
}

options parse_options(int argc, char** argv) {
  options opts;
  std::set<std::string> seen;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (arg.rfind("--", 0) != 0)
      throw usage_error{"unexpected argument '" + arg + "'"};
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else {
      if (i + 1 == argc)
        throw usage_error{arg + " needs a value"};
      value = argv[++i];
    }
    if (!seen.insert(arg).second)
      throw usage_error{arg + " given twice"};
    constexpr auto max64 = std::numeric_limits<int64_t>::max();
    if (arg == "--servers") {
      opts.servers = parse_server_list(value);
      if (opts.servers.empty())
        throw usage_error{"bad --servers '" + value
                          + "' (expected HOST:PORT[,HOST:PORT...])"};
    } else if (arg == "--history") {
      if (value.empty())
        throw usage_error{"empty --history"};
      opts.history = value;
    } else if (arg == "--workload") {
      if (value != "registers" && value != "watches")
        throw usage_error{"bad --workload '" + value
                          + "' (expected registers or watches)"};
      opts.workload = value;
    } else if (arg == "--seed") {
      opts.seed = parse_number<uint64_t>(arg, value, 0,
                                         std::numeric_limits<uint64_t>::max());
    } else if (arg == "--process-base") {
      opts.process_base = parse_number<int64_t>(arg, value, 0, max64 / 2);
    } else if (arg == "--clients") {
      opts.clients = parse_number<int64_t>(arg, value, 1, 1000);
    } else if (arg == "--keys") {
      opts.keys = parse_number<int64_t>(arg, value, 1, 100000);
    } else if (arg == "--session-timeout-ms") {
      opts.session_timeout_ms = parse_number<int64_t>(arg, value, 1, 3600000);
    } else if (arg == "--op-timeout-ms") {
      opts.op_timeout_ms = parse_number<int64_t>(arg, value, 100, 3600000);
    } else if (arg == "--final-timeout-s") {
      opts.final_timeout_s = parse_number<int64_t>(arg, value, 0, 86400);
    } else {
      throw usage_error{"unknown option " + arg};
    }
  }
  for (auto required :
       {"--servers", "--history", "--workload", "--seed", "--process-base"})
    if (seen.count(required) == 0)
      throw usage_error{std::string{required} + " is required"};
  return opts;
}

// -- the history file ------------------------------------------------------------

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// The shared JSON-lines file: one write(2) per record, O_APPEND, so that
/// concurrent writers in other processes never split a line.
class history_file {
public:
  history_file() = default;
  history_file(const history_file&) = delete;
  history_file& operator=(const history_file&) = delete;

  ~history_file() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  bool open(const std::string& path, std::string& error) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      error = path + ": " + std::strerror(errno);
      return false;
    }
    path_ = path;
    return true;
  }

  /// Stamps `rec` with the time and appends it. The lock keeps time_ns in
  /// line order within this process.
  void append(Record& rec) {
    std::lock_guard<std::mutex> guard{mtx_};
    rec.set_time_ns(monotonic_ns());
    auto line = chaos::to_json_line(rec);
    line += '\n';
    const char* data = line.data();
    auto left = line.size();
    while (left > 0) {
      auto n = ::write(fd_, data, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        if (!failed_.exchange(true))
          std::cerr << "conclave-chaos-native: cannot write " << path_ << ": "
                    << std::strerror(errno) << "; stopping" << std::endl;
        stop_requested.store(true);
        return;
      }
      // A short write to a regular file means the disk is full; the rest
      // still goes out (the line may then interleave with another writer's).
      data += n;
      left -= static_cast<size_t>(n);
    }
  }

  bool failed() const noexcept { return failed_.load(); }

private:
  std::mutex mtx_;
  int fd_ = -1;
  std::string path_;
  std::atomic<bool> failed_{false};
};

// -- recording -------------------------------------------------------------------

Record make_record(int64_t process, Record::Type type, std::string_view f,
                   const std::string& key) {
  Record rec;
  rec.set_process(process);
  rec.set_type(type);
  rec.set_f(std::string{f});
  rec.set_key(key);
  return rec;
}

/// Errors that say the request definitely did not take effect. Everything
/// else (ConnectionLoss, OperationTimeout, SessionExpired, SystemError,
/// ...) leaves the outcome unknown.
bool definite(error_code err) {
  switch (err) {
    case error_code::no_node:
    case error_code::bad_version:
    case error_code::node_exists:
    case error_code::not_empty:
    case error_code::no_children_for_ephemerals:
    case error_code::bad_arguments:
    case error_code::no_auth:
    case error_code::invalid_acl:
    case error_code::auth_failed:
    case error_code::quota_exceeded:
    // Refused before anything was proposed: the client's queue is full, or
    // the node has max-pending-requests writes in flight.
    case error_code::throttled_op:
      return true;
    default:
      return false;
  }
}

/// What every thread shares: options, the actor system, the history, the
/// process-id counter and the figures of the summary.
class workload {
public:
  workload(const options& opts, caf::actor_system& sys, history_file& hist)
      : opts_(opts), sys_(sys), history_(hist),
        next_process_(opts.process_base) {
    copts_.servers = opts.servers;
    // blocking_client waits 2 x request_timeout + 1 s for the client actor:
    // make that the op timeout.
    auto rt = std::max<int64_t>(100, (opts.op_timeout_ms - 1000) / 2);
    copts_.request_timeout = milliseconds{rt};
    copts_.session_timeout = milliseconds{opts.session_timeout_ms};
  }

  const options& opts() const noexcept { return opts_; }

  /// A process id nobody used yet.
  int64_t fresh_process() { return next_process_++; }

  /// A new client (its session opens with the first request).
  std::unique_ptr<blocking_client> client() {
    return std::make_unique<blocking_client>(sys_, copts_);
  }

  void invoke(Record rec) {
    ++ops_;
    history_.append(rec);
  }

  void complete(Record rec) {
    switch (rec.type()) {
      case Record::ok:
        ++ok_;
        break;
      case Record::fail:
        ++fail_;
        break;
      default:
        ++info_;
        break;
    }
    history_.append(rec);
  }

  void event(Record rec) {
    ++events_;
    history_.append(rec);
  }

  /// Stamps a completion with the error's outcome: fail if definite, else
  /// info. Returns the type.
  static Record::Type classify(Record& done, error_code err) {
    done.set_type(definite(err) ? Record::fail : Record::info);
    done.set_error(std::string{to_string(err)});
    return done.type();
  }

  bool history_failed() const noexcept { return history_.failed(); }

  std::string summary() const {
    return "{\"workload\":\"" + opts_.workload
           + "\",\"ops\":" + std::to_string(ops_.load())
           + ",\"ok\":" + std::to_string(ok_.load())
           + ",\"fail\":" + std::to_string(fail_.load())
           + ",\"info\":" + std::to_string(info_.load()) + "}";
  }

  int64_t events() const noexcept { return events_.load(); }

  int64_t last_process() const noexcept { return next_process_.load() - 1; }

private:
  const options& opts_;
  caf::actor_system& sys_;
  history_file& history_;
  client_options copts_;
  std::atomic<int64_t> next_process_;
  std::atomic<int64_t> ops_{0};
  std::atomic<int64_t> ok_{0};
  std::atomic<int64_t> fail_{0};
  std::atomic<int64_t> info_{0};
  std::atomic<int64_t> events_{0};
};

/// Waits a little longer after each consecutive cluster error (50 ms
/// doubling to 1 s), so that an unreachable cluster is not hammered.
class backoff {
public:
  void failed() {
    delay_ = delay_ == 0ms ? 50ms : std::min<milliseconds>(delay_ * 2, 1000ms);
    std::this_thread::sleep_for(delay_);
  }
  void succeeded() { delay_ = 0ms; }

private:
  milliseconds delay_{0};
};

/// Whether the client's session is over (expired or closed): then it is of
/// no more use and the caller needs a new client. Asked after every
/// doubtful error, because a client actor whose session ended stops
/// answering requests altogether (its request handler makes a response
/// promise before submit(), and CAF 0.17 then drops the SessionExpired that
/// submit() returns): blocking_client reports that as ConnectionLoss after
/// its timeout, never as SessionExpired. watch_state() is answered directly.
bool session_over(blocking_client& c) {
  auto state = c.watch_state();
  // It also subscribes this thread to state events: drop them.
  while (c.next_event(0ms)) {
    // nop
  }
  return state == connection_state::expired
         || state == connection_state::closed;
}

/// After an operation ended with `err`: whether its client must be replaced.
bool needs_new_client(error_code err, blocking_client& c) {
  if (err == error_code::ok || definite(err))
    return false;
  return err == error_code::session_expired || session_over(c);
}

/// Creates `path` if it is missing (not recorded: scaffolding, not an
/// operation under test). Retries until it exists, `give_up()` or the
/// deadline.
template <class GiveUp>
bool ensure_node(workload& w, std::unique_ptr<blocking_client>& c,
                 const std::string& path, GiveUp give_up) {
  backoff wait;
  while (!give_up()) {
    auto r = c->create(path, "");
    if (r || r.error == error_code::node_exists)
      return true;
    if (needs_new_client(r.error, *c))
      c = w.client();
    wait.failed();
  }
  return false;
}

// -- registers -------------------------------------------------------------------

std::vector<std::string> register_keys(const options& opts) {
  std::vector<std::string> keys;
  for (int64_t i = 0; i < opts.keys; ++i)
    keys.push_back(registers_root + std::to_string(i));
  return keys;
}

/// Removes `path` if it exists (not recorded). Retries until it is gone or
/// the stop signal.
bool ensure_missing(workload& w, std::unique_ptr<blocking_client>& c,
                    const std::string& path) {
  backoff wait;
  while (!stopping()) {
    auto r = c->remove(path);
    if (r || r.error == error_code::no_node)
      return true;
    if (needs_new_client(r.error, *c))
      c = w.client();
    wait.failed();
  }
  return false;
}

/// Gives every register a value: one `write` per key (a create, or a set if
/// the node exists), by process-base + 0 (and fresh ids after `info`).
/// A register left over from an earlier run on the same cluster is removed
/// first, unrecorded: the checker's model starts every register missing,
/// and nothing in this history has touched it yet. False if stopped first.
bool setup_registers(workload& w, const std::vector<std::string>& keys) {
  auto process = w.fresh_process();
  auto c = w.client();
  if (!ensure_node(w, c, "/native", stopping))
    return false;
  for (const auto& key : keys) {
    if (!ensure_missing(w, c, key))
      return false;
    backoff wait;
    for (int attempt = 0;; ++attempt) {
      if (stopping())
        return false;
      auto value = std::to_string(process) + "-init-" + std::to_string(attempt);
      auto inv = make_record(process, Record::invoke, "write", key);
      inv.set_value(value);
      w.invoke(inv);
      auto done = make_record(process, Record::ok, "write", key);
      auto made = c->create(key, value);
      error_code err = made.error;
      if (made) {
        done.set_version(0);
        done.set_zxid(made.zxid);
      } else if (made.error == error_code::node_exists) {
        // An earlier attempt of ours that ended `info` created it (or
        // someone else did meanwhile): the write is a set instead.
        auto set = c->set(key, value);
        err = set.error;
        if (set) {
          done.set_version(set.value.version);
          done.set_zxid(set.value.mzxid);
        }
      }
      if (err == error_code::ok) {
        w.complete(done);
        break;
      }
      auto outcome = workload::classify(done, err);
      w.complete(done);
      if (needs_new_client(err, *c)) {
        c = w.client();
        process = w.fresh_process();
      } else if (outcome == Record::info) {
        process = w.fresh_process();
      }
      wait.failed();
    }
  }
  return true;
}

/// One client thread of the registers workload until the stop signal.
void run_register_client(workload& w, int64_t process, uint64_t seed,
                         const std::vector<std::string>& keys) {
  std::mt19937_64 rng{seed};
  auto c = w.client();
  // What this process last saw of each key: version and value.
  std::map<std::string, std::pair<int32_t, std::string>> known;
  backoff wait;
  for (int64_t n = 0; !stopping(); ++n) {
    const auto& key = keys[rng() % keys.size()];
    auto dice = rng() % 100;
    error_code err = error_code::ok;
    Record::Type outcome = Record::ok;
    auto cas = dice >= 75 && known.count(key) > 0;
    if (dice < 50 || (dice >= 75 && !cas)) {
      // Linearizable read (also the way to learn a version for a cas), or
      // a plain one.
      bool plain = dice >= 30 && dice < 50;
      c->set_linearizable(!plain);
      auto inv = make_record(process, Record::invoke, "read", key);
      inv.set_plain(plain);
      w.invoke(inv);
      auto r = c->get(key);
      auto done = make_record(process, Record::ok, "read", key);
      if (r) {
        done.set_value(r.value.data);
        done.set_version(r.value.stat.version);
        done.set_zxid(r.value.stat.mzxid);
        known[key] = {r.value.stat.version, r.value.data};
      } else if (r.error == error_code::no_node) {
        known.erase(key); // ok: the node does not exist (value unset)
      } else {
        // A read changes nothing: a failed one is `fail`, whatever the
        // reason.
        err = r.error;
        outcome = Record::fail;
        done.set_type(Record::fail);
        done.set_error(std::string{to_string(err)});
      }
      w.complete(done);
    } else {
      auto f = cas ? "cas" : "write";
      auto value = std::to_string(process) + "-" + std::to_string(n);
      auto inv = make_record(process, Record::invoke, f, key);
      inv.set_value(value);
      int32_t version = any_version;
      if (cas) {
        const auto& [v, expected] = known[key];
        version = v;
        inv.set_version(version);
        inv.set_expected(expected);
      }
      w.invoke(inv);
      auto r = c->set(key, value, version);
      auto done = make_record(process, Record::ok, f, key);
      if (r) {
        // A cas's version is the one it required (the completion would
        // overwrite it): only a write reports the version after it.
        if (!cas)
          done.set_version(r.value.version);
        done.set_zxid(r.value.mzxid);
        known[key] = {r.value.version, value};
      } else {
        err = r.error;
        outcome = workload::classify(done, err);
        known.erase(key);
      }
      w.complete(done);
    }
    auto replace = needs_new_client(err, *c);
    if (outcome == Record::info || replace) {
      // In doubt, or a new session: carry on as a new process that has
      // seen nothing.
      process = w.fresh_process();
      known.clear();
    }
    if (replace)
      c = w.client();
    if (err == error_code::ok || definite(err))
      wait.succeeded();
    else
      wait.failed();
  }
}

/// Reads every register once more (linearizably), with a fresh client per
/// attempt, until each read succeeds or the deadline.
void final_register_reads(workload& w, const std::vector<std::string>& keys,
                          clock_type::time_point deadline) {
  auto process = w.fresh_process();
  auto c = w.client();
  c->set_linearizable(true);
  for (const auto& key : keys) {
    backoff wait;
    while (clock_type::now() < deadline) {
      w.invoke(make_record(process, Record::invoke, "read", key));
      auto r = c->get(key);
      auto done = make_record(process, Record::ok, "read", key);
      if (r) {
        done.set_value(r.value.data);
        done.set_version(r.value.stat.version);
        done.set_zxid(r.value.stat.mzxid);
      } else if (r.error != error_code::no_node) {
        done.set_type(Record::fail);
        done.set_error(std::string{to_string(r.error)});
      }
      w.complete(done);
      if (done.type() == Record::ok)
        break;
      wait.failed();
      c = w.client();
      c->set_linearizable(true);
      process = w.fresh_process();
    }
  }
}

void run_registers(workload& w) {
  const auto& opts = w.opts();
  auto keys = register_keys(opts);
  // Ids: setup = base + 0, clients next, fresh ones after those.
  auto setup_done = setup_registers(w, keys);
  if (setup_done) {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < opts.clients; ++i)
      ids.push_back(w.fresh_process());
    std::vector<std::thread> threads;
    for (int64_t i = 0; i < opts.clients; ++i) {
      auto seed = opts.seed * 1000003u + static_cast<uint64_t>(i) + 1;
      threads.emplace_back([&w, &keys, id = ids[i], seed] {
        run_register_client(w, id, seed, keys);
      });
    }
    for (auto& t : threads)
      t.join();
  }
  if (w.history_failed())
    return;
  auto deadline
    = clock_type::now() + std::chrono::seconds(opts.final_timeout_s);
  final_register_reads(w, keys, deadline);
}

// -- watches ---------------------------------------------------------------------

/// The changes the writers made (ok, with a zxid): what a watcher waits for
/// in the final phase.
class change_log {
public:
  void add(int64_t zxid, const std::string& path) {
    std::lock_guard<std::mutex> guard{mtx_};
    changes_.emplace_back(zxid, path);
  }

  /// The changes with a zxid in (from, to].
  std::vector<std::pair<int64_t, std::string>> between(int64_t from,
                                                       int64_t to) const {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<std::pair<int64_t, std::string>> out;
    for (const auto& c : changes_)
      if (c.first > from && c.first <= to)
        out.push_back(c);
    return out;
  }

private:
  mutable std::mutex mtx_;
  std::vector<std::pair<int64_t, std::string>> changes_;
};

std::string_view event_type_name(int32_t type) {
  switch (type) {
    case 1:
      return "created";
    case 2:
      return "deleted";
    case 3:
      return "data_changed";
    case 4:
      return "children_changed";
    default:
      return {};
  }
}

/// The watches workload's shared state.
struct watch_run {
  change_log changes;
  /// Writers have stopped: watchers run their final phase.
  std::atomic<bool> final_phase{false};
  clock_type::time_point final_deadline;
  /// Watchers that made their first registration attempt.
  std::atomic<int64_t> ready{0};
};

/// One watcher: a client with a persistent recursive watch on /native/w.
class watcher {
public:
  watcher(workload& w, watch_run& run, int64_t process, uint64_t seed)
      : w_(w), run_(run), process_(process), rng_(seed) {
    // nop
  }

  void run() {
    new_client(false);
    register_watch();
    ++run_.ready;
    auto next_sync = clock_type::now() + sync_interval();
    while (!run_.final_phase.load()) {
      if (expired_)
        new_client(true);
      auto now = clock_type::now();
      if (!registered_ && now >= next_register_) {
        register_watch();
        continue;
      }
      if (registered_ && now >= next_sync) {
        sync();
        next_sync = clock_type::now() + sync_interval();
        continue;
      }
      auto wait = std::min<clock_type::duration>(next_sync - now, 200ms);
      if (auto ev = client_->next_event(
            std::chrono::duration_cast<milliseconds>(wait) + 1ms))
        on_event(*ev);
    }
    final_sync();
  }

private:
  std::chrono::milliseconds sync_interval() {
    return milliseconds{500 + static_cast<int64_t>(rng_() % 1000)};
  }

  /// A fresh client; a new session is a new process (it has not seen what
  /// the old one saw, so its events may repeat or precede the old ones').
  void new_client(bool replace) {
    client_ = w_.client();
    client_->watch_state(); // connection-state events come too
    expired_ = false;
    registered_ = false;
    if (replace) {
      process_ = w_.fresh_process();
      last_seen_ = 0;
      received_.clear();
    }
  }

  /// Records a disconnect if a registration is open: changes after the
  /// last zxid this process saw need not be delivered any more.
  void disconnected() {
    if (!registered_)
      return;
    registered_ = false;
    auto rec = make_record(process_, Record::event, "disconnect", watched_path);
    rec.set_zxid(last_seen_);
    w_.event(rec);
  }

  void on_event(const pb::WatchEvent& ev) {
    if (ev.type() == -1) {
      switch (static_cast<connection_state>(ev.state())) {
        case connection_state::disconnected:
          disconnected();
          break;
        case connection_state::expired:
          disconnected();
          expired_ = true;
          break;
        default:
          // Connected: the loop registers again if needed. Closed: only
          // after we close.
          break;
      }
      return;
    }
    auto type = event_type_name(ev.type());
    if (type.empty())
      return; // *WatchRemoved: no tree change
    auto rec
      = make_record(process_, Record::event, "watch_event", watched_path);
    rec.set_path(ev.path());
    rec.set_event_type(std::string{type});
    rec.set_zxid(ev.zxid());
    w_.event(rec);
    last_seen_ = std::max(last_seen_, ev.zxid());
    received_.emplace(ev.zxid(), ev.path());
  }

  /// Handles every event already delivered.
  void drain() {
    while (auto ev = client_->next_event(0ms))
      on_event(*ev);
  }

  void register_watch() {
    auto inv = make_record(process_, Record::invoke, "watch", watched_path);
    inv.set_recursive(true);
    w_.invoke(inv);
    auto r = client_->add_watch(watched_path, true);
    auto done = make_record(process_, Record::ok, "watch", watched_path);
    if (r) {
      // Recorded at once: a state event still queued (from before the
      // reply, or after it) is handled next and, if it is a disconnect,
      // closes this registration: conservative either way.
      done.set_zxid(r.zxid);
      w_.complete(done);
      registered_ = true;
      reg_zxid_ = r.zxid;
      last_seen_ = std::max(last_seen_, r.zxid);
      return;
    }
    // A registration changes no data; the client keeps no watch it was
    // not told succeeded, so a failed one is `fail`.
    done.set_type(Record::fail);
    done.set_error(std::string{to_string(r.error)});
    w_.complete(done);
    if (r.error == error_code::session_expired)
      expired_ = true;
    drain(); // an expiry shows as a state event (see session_over())
    next_register_ = clock_type::now() + 100ms;
  }

  /// Syncs, then handles every event delivered meanwhile (the node sends
  /// the events of changes up to the sync's zxid before its reply, and a
  /// disconnect must be recorded before a sync that followed it). On
  /// success returns the sync's zxid and leaves the ok completion in `done`
  /// for the caller to record (the final sync records it after waiting);
  /// a failure is recorded here and gives nullopt.
  std::optional<int64_t> sync_once(Record& done) {
    w_.invoke(make_record(process_, Record::invoke, "sync", watched_path));
    auto r = client_->sync(watched_path);
    drain();
    done = make_record(process_, Record::ok, "sync", watched_path);
    if (!r) {
      done.set_type(Record::fail);
      done.set_error(std::string{to_string(r.error)});
      w_.complete(done);
      if (r.error == error_code::session_expired)
        expired_ = true;
      return std::nullopt;
    }
    done.set_zxid(r.zxid);
    last_seen_ = std::max(last_seen_, r.zxid);
    return r.zxid;
  }

  void sync() {
    Record done;
    if (sync_once(done))
      w_.complete(done);
  }

  /// The final sync: after it succeeds, waits (until the final deadline)
  /// for the events of every change the writers made between the current
  /// registration and the sync's zxid, then records the sync.
  void final_sync() {
    backoff wait;
    while (clock_type::now() < run_.final_deadline) {
      if (expired_)
        new_client(true);
      if (!registered_) {
        register_watch();
        drain();
        if (!registered_) {
          wait.failed();
          continue;
        }
      }
      Record done;
      auto zxid = sync_once(done);
      if (!zxid) {
        wait.failed();
        continue;
      }
      if (registered_) {
        auto due = run_.changes.between(reg_zxid_, *zxid);
        auto missing = [&] {
          return std::any_of(due.begin(), due.end(), [&](const auto& c) {
            return received_.count(c) == 0;
          });
        };
        while (registered_ && missing()
               && clock_type::now() < run_.final_deadline)
          if (auto ev = client_->next_event(100ms))
            on_event(*ev);
      }
      w_.complete(done);
      if (registered_ || clock_type::now() >= run_.final_deadline)
        return;
      // Disconnected meanwhile: register again and sync once more.
    }
  }

  workload& w_;
  watch_run& run_;
  int64_t process_;
  std::mt19937_64 rng_;
  std::unique_ptr<blocking_client> client_;
  bool registered_ = false;
  bool expired_ = false;
  int64_t reg_zxid_ = 0;
  /// The highest zxid this process saw (events, registrations, syncs).
  int64_t last_seen_ = 0;
  clock_type::time_point next_register_{};
  /// (zxid, path) of every change notification this process received.
  std::set<std::pair<int64_t, std::string>> received_;
};

/// One writer thread: creates, sets and deletes /native/w/k.. until the stop
/// signal.
void run_watch_writer(workload& w, watch_run& run, int64_t process,
                      uint64_t seed) {
  std::mt19937_64 rng{seed};
  auto c = w.client();
  backoff wait;
  // Whether each node existed when this writer last looked (other writers
  // change them too): creates go mostly to missing nodes, sets and deletes
  // to existing ones, so that most operations change something.
  std::map<std::string, bool> exists;
  for (int64_t n = 0; !stopping(); ++n) {
    auto path = std::string{watched_path} + "/k"
                + std::to_string(rng() % static_cast<uint64_t>(w.opts().keys));
    auto dice = rng() % 100;
    auto value = std::to_string(process) + "-" + std::to_string(n);
    std::string_view f;
    if (auto i = exists.find(path); i == exists.end() || dice < 10)
      f = dice % 3 == 0 ? "create" : dice % 3 == 1 ? "write" : "delete";
    else if (!i->second)
      f = "create";
    else
      f = dice < 70 ? "write" : "delete";
    auto inv = make_record(process, Record::invoke, f, path);
    inv.set_path(path);
    if (f != "delete")
      inv.set_value(value);
    w.invoke(inv);
    auto done = make_record(process, Record::ok, f, path);
    error_code err = error_code::ok;
    int64_t zxid = 0;
    if (f == "create") {
      auto r = c->create(path, value);
      err = r.error;
      zxid = r.zxid;
    } else if (f == "write") {
      auto r = c->set(path, value);
      err = r.error;
      zxid = r.value.mzxid;
    } else {
      auto r = c->remove(path);
      err = r.error;
      zxid = r.zxid;
    }
    if (err == error_code::ok || err == error_code::node_exists)
      exists[path] = f != "delete";
    else if (err == error_code::no_node)
      exists[path] = false;
    else
      exists.erase(path);
    if (err == error_code::ok) {
      done.set_zxid(zxid);
      run.changes.add(zxid, path);
      w.complete(done);
      wait.succeeded();
      continue;
    }
    auto outcome = workload::classify(done, err);
    w.complete(done);
    auto replace = needs_new_client(err, *c);
    if (outcome == Record::info || replace)
      process = w.fresh_process();
    if (replace)
      c = w.client();
    if (definite(err))
      wait.succeeded();
    else
      wait.failed();
  }
}

void run_watches(workload& w) {
  const auto& opts = w.opts();
  // Ids: base + 0 (unused: the setup records nothing), watchers base + 1 ..,
  // writers after them, fresh ones after those.
  w.fresh_process();
  {
    auto c = w.client();
    if (!ensure_node(w, c, "/native", stopping)
        || !ensure_node(w, c, watched_path, stopping))
      return;
  }
  watch_run run;
  std::vector<std::unique_ptr<watcher>> watchers;
  for (int64_t i = 0; i < opts.clients; ++i)
    watchers.push_back(std::make_unique<watcher>(
      w, run, w.fresh_process(), opts.seed * 1000003u + 2 * i + 1));
  std::vector<int64_t> writer_ids;
  for (int64_t i = 0; i < opts.clients; ++i)
    writer_ids.push_back(w.fresh_process());
  std::vector<std::thread> watcher_threads;
  for (auto& wt : watchers)
    watcher_threads.emplace_back([&wt] { wt->run(); });
  // Let the watchers register before the writers begin (a bounded wait:
  // each first attempt takes at most the op timeout).
  auto ready_deadline
    = clock_type::now() + milliseconds{2 * opts.op_timeout_ms};
  while (run.ready.load() < opts.clients && clock_type::now() < ready_deadline
         && !stopping())
    std::this_thread::sleep_for(10ms);
  std::vector<std::thread> writers;
  for (int64_t i = 0; i < opts.clients; ++i) {
    auto seed = opts.seed * 1000003u + 2 * static_cast<uint64_t>(i) + 2;
    writers.emplace_back([&w, &run, id = writer_ids[i], seed] {
      run_watch_writer(w, run, id, seed);
    });
  }
  for (auto& t : writers)
    t.join();
  run.final_deadline
    = clock_type::now() + std::chrono::seconds(opts.final_timeout_s);
  run.final_phase.store(true);
  for (auto& t : watcher_threads)
    t.join();
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
    std::cerr << "conclave-chaos-native: " << err.message << "\n\n"
              << usage_text;
    return exit_usage;
  }
  history_file history;
  std::string error;
  if (!history.open(opts.history, error)) {
    std::cerr << "conclave-chaos-native: cannot open the history: " << error
              << std::endl;
    return exit_usage;
  }
  install_signal_handlers();
  std::string summary;
  int64_t events = 0;
  int64_t last_process = 0;
  {
    caf::actor_system_config cfg;
    announce_message_types(cfg);
    cfg.load<caf::io::middleman>();
    caf::actor_system sys{cfg};
    workload w{opts, sys, history};
    std::cerr << "conclave-chaos-native: " << opts.workload
              << " workload, process ids from " << opts.process_base
              << std::endl;
    if (opts.workload == "registers")
      run_registers(w);
    else
      run_watches(w);
    summary = w.summary();
    events = w.events();
    last_process = w.last_process();
    // Print before the actor system shuts down: the summary is what the
    // harness waits for.
    std::cout << summary << std::endl;
  }
  std::cerr << "conclave-chaos-native: done (" << events
            << " events, process ids " << opts.process_base << ".."
            << last_process << ")" << std::endl;
  return history.failed() ? exit_history : exit_ok;
}
