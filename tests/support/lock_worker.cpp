// conclave-lock-worker: one lock contender in its own process, for the
// recipe tests (tests/recipes_test.cpp), which SIGKILL it to see its session
// expire with the lock held.
//
//   conclave-lock-worker --servers HOST:PORT[,...] --path /LOCK
//       [--mode campaign|hold|elect] [--session-timeout-ms N]
//       [--log FILE] [--resource /ZNODE] [--data TEXT]
//
// Modes:
//   campaign  (default) loops until SIGTERM: acquire the lock, append
//             "acquire <token> <pid>" to --log, write the token to
//             --resource with multi(check(lock node), set(resource,
//             version)) and check that the value it replaced was a lower
//             token, append "release <token> <pid>", release. A hold found
//             lost (the check failed) appends "lost <token> <pid>" instead.
//             Every log line is one write() to a file opened with O_APPEND.
//   hold      acquires once, prints "acquired <token> <node>", holds until
//             SIGTERM (printing "lost" if it learns the lock was lost).
//   elect     campaigns with --data, prints "leading <term>", leads until
//             SIGTERM.
// Prints "ready pid=<pid> session=<id>" once connected. Exit codes: 0 after
// SIGTERM/SIGINT, 1 an unexpected error, 2 usage, 3 the resource held a
// token not lower than ours (fencing violated), 4 the resource changed while
// our lock node still existed (mutual exclusion violated).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"
#include "runtime/blocking_client.hpp"
#include "runtime/distributed_lock.hpp"
#include "runtime/leader_election.hpp"

using namespace conclave;
using namespace std::chrono_literals;

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) {
  stop_requested = 1;
}

bool stopping() {
  return stop_requested != 0;
}

constexpr int exit_error = 1;
constexpr int exit_usage = 2;
constexpr int exit_fencing = 3;
constexpr int exit_exclusion = 4;

struct worker_options {
  std::string servers;
  std::string path;
  std::string mode = "campaign";
  std::string log;
  std::string resource = "/resource";
  std::string data;
  std::chrono::milliseconds session_timeout{600};
};

bool parse(int argc, char** argv, worker_options& out) {
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    if (i + 1 >= argc)
      return false;
    std::string value = argv[++i];
    if (key == "--servers")
      out.servers = value;
    else if (key == "--path")
      out.path = value;
    else if (key == "--mode")
      out.mode = value;
    else if (key == "--log")
      out.log = value;
    else if (key == "--resource")
      out.resource = value;
    else if (key == "--data")
      out.data = value;
    else if (key == "--session-timeout-ms")
      out.session_timeout = std::chrono::milliseconds(std::stoll(value));
    else
      return false;
  }
  return !out.servers.empty() && !out.path.empty()
         && (out.mode == "campaign" || out.mode == "hold"
             || out.mode == "elect")
         && (out.mode != "campaign" || !out.log.empty());
}

/// Appends one line with one write() (O_APPEND: lines never interleave).
void append(int fd, const std::string& line) {
  auto text = line + "\n";
  if (::write(fd, text.data(), text.size())
      != static_cast<ssize_t>(text.size())) {
    std::cerr << "cannot append to the log: " << std::strerror(errno) << '\n';
    std::exit(exit_error);
  }
}

enum class outcome { written, lost, expired };

/// The critical section: writes `token` to the resource, fenced by the lock
/// node; exits the process if the resource shows a violation.
outcome write_resource(blocking_client& client, distributed_lock& lock,
                       const std::string& resource, int64_t token) {
  // Whether an earlier attempt may have been applied (its reply was lost).
  bool uncertain = false;
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (uncertain)
      client.sync(resource);
    auto got = client.get(resource);
    if (!got) {
      if (got.error == error_code::session_expired)
        return outcome::expired;
      continue;
    }
    auto previous = std::stoll(got.value.data);
    if (uncertain && previous == token)
      return outcome::written; // the earlier attempt went through
    auto r = client.multi(
      {check_op{lock.node_path(), any_version},
       set_data_op{resource, std::to_string(token), got.value.stat.version}});
    if (r) {
      if (previous >= token) {
        std::cerr << "FENCING VIOLATED: replaced token " << previous << " with "
                  << token << '\n';
        std::exit(exit_fencing);
      }
      return outcome::written;
    }
    if (r.error == error_code::session_expired)
      return outcome::expired;
    if (recipe_detail::outcome_unknown(r.error)) {
      uncertain = true;
      continue;
    }
    if (!r.value.empty() && r.value[0].error == error_code::no_node)
      return outcome::lost; // the lock node is gone: fenced out
    if (r.value.size() > 1 && r.value[0].error == error_code::ok
        && r.value[1].error == error_code::bad_version) {
      if (uncertain)
        continue; // perhaps our own earlier write: read again
      std::cerr << "EXCLUSION VIOLATED: " << resource
                << " changed while lock node " << lock.node_path()
                << " existed\n";
      std::exit(exit_exclusion);
    }
    std::cerr << "unexpected multi failure: " << to_string(r.error) << ": "
              << r.message << '\n';
    return outcome::lost;
  }
  return outcome::lost;
}

/// One round: acquire, log, write the resource, log, release. False if
/// the session must be replaced (it expired, or a release was not
/// confirmed and the node may still hold the lock).
bool take_lock_once(blocking_client& client, const worker_options& opts, int fd,
                    const std::string& pid) {
  distributed_lock lock{client, opts.path, pid};
  auto token = lock.acquire(5s, stopping);
  if (!token)
    return lock.last_error() != error_code::session_expired;
  append(fd, "acquire " + std::to_string(*token) + " " + pid);
  std::cout << "acquired " << *token << std::endl;
  auto done = write_resource(client, lock, opts.resource, *token);
  append(fd, (done == outcome::written ? "release " : "lost ")
               + std::to_string(*token) + " " + pid);
  auto released = lock.release();
  return released && done != outcome::expired
         && lock.last_error() != error_code::session_expired;
}

int run_campaign(caf::actor_system& sys, const client_options& copts,
                 const worker_options& opts) {
  int fd = ::open(opts.log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) {
    std::cerr << "cannot open " << opts.log << ": " << std::strerror(errno)
              << '\n';
    return exit_error;
  }
  auto pid = std::to_string(::getpid());
  std::unique_ptr<blocking_client> client;
  bool announced = false;
  while (!stopping()) {
    if (!client) {
      client = std::make_unique<blocking_client>(sys, copts);
      auto session = client->connect();
      if (!session) {
        client.reset();
        continue;
      }
      if (!announced) {
        std::cout << "ready pid=" << pid << " session=" << session.value
                  << std::endl;
        announced = true;
      }
    }
    // The lock goes before the client it uses.
    if (!take_lock_once(*client, opts, fd, pid))
      client.reset(); // expired, or a release that was not confirmed
  }
  ::close(fd);
  return 0;
}

/// Holds `what` (a lock or a candidacy) until SIGTERM, watching for its
/// loss.
template <class Recipe>
void hold(blocking_client& client, Recipe& what) {
  while (!stopping()) {
    auto ev = client.next_event(100ms);
    if (ev && what.on_event(*ev))
      std::cout << "lost" << std::endl;
  }
}

} // namespace

int main(int argc, char** argv) {
  worker_options opts;
  bool ok = false;
  try {
    ok = parse(argc, argv, opts);
  } catch (const std::exception&) {
    ok = false;
  }
  client_options copts;
  copts.servers = parse_server_list(opts.servers);
  if (!ok || copts.servers.empty()) {
    std::cerr << "usage: conclave-lock-worker --servers HOST:PORT[,...] "
                 "--path /LOCK [--mode campaign|hold|elect] "
                 "[--session-timeout-ms N] [--log FILE] [--resource /ZNODE] "
                 "[--data TEXT]\n";
    return exit_usage;
  }
  copts.session_timeout = opts.session_timeout;
  copts.request_timeout = 5s;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);

  caf::actor_system_config cfg;
  announce_message_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("scheduler.max-threads", size_t{2});
  caf::actor_system sys{cfg};
  if (opts.mode == "campaign")
    return run_campaign(sys, copts, opts);
  blocking_client client{sys, copts};
  auto session = client.connect();
  if (!session) {
    std::cerr << "cannot connect: " << session.message << '\n';
    return exit_error;
  }
  std::cout << "ready pid=" << ::getpid() << " session=" << session.value
            << std::endl;
  if (opts.mode == "hold") {
    distributed_lock lock{client, opts.path, opts.data};
    auto token = lock.acquire(60s, stopping);
    if (!token) {
      std::cerr << "no lock: " << to_string(lock.last_error()) << '\n';
      return stopping() ? 0 : exit_error;
    }
    std::cout << "acquired " << *token << ' ' << lock.node_path() << std::endl;
    hold(client, lock);
    return 0;
  }
  leader_election election{client, opts.path, opts.data};
  if (!election.campaign(60s, stopping)) {
    std::cerr << "not elected: " << to_string(election.last_error()) << '\n';
    return stopping() ? 0 : exit_error;
  }
  std::cout << "leading " << election.term() << std::endl;
  hold(client, election);
  return 0;
}
