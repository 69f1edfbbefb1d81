// service_subscriber: a CAF actor of the application's subscribes to a
// service and prints every instance that comes up, changes or goes down.
//
//   service_subscriber [--servers=HOST:PORT[,...]] [--service=NAME] [--demo]
//   service_subscriber [--servers=...] [--service=NAME] --instance=ID
//                      [--session-timeout-ms=N]
//
// Without --demo it watches until interrupted (Ctrl-C). With --demo it also
// starts three instances of the service (copies of itself, run with
// --instance), kills one with SIGKILL, changes nothing else, and exits once
// it has seen all three come up and the killed one go down: the killed
// instance's registration vanishes when its session expires (its timeout,
// 2 s here, plus the leader's liveness check).
//
// --instance=ID registers this process as instance ID (endpoint
// "127.0.0.1:<9000+n>") and stays registered until it is killed.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "messages/type_ids.hpp"
#include "runtime/blocking_client.hpp"

extern char** environ;

using namespace conclave;

namespace {

struct args {
  std::string servers = "127.0.0.1:4181";
  std::string service = "demo";
  std::string instance;
  bool demo = false;
  /// Session timeout the instances ask for.
  int session_timeout_ms = 2000;
};

bool parse(int argc, char** argv, args& out) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (a.rfind(flag, 0) == 0)
        return a.substr(flag.size());
      return std::nullopt;
    };
    if (auto v = value("--servers="))
      out.servers = *v;
    else if (auto v = value("--service="))
      out.service = *v;
    else if (auto v = value("--instance="))
      out.instance = *v;
    else if (auto v = value("--session-timeout-ms="))
      out.session_timeout_ms = std::atoi(v->c_str());
    else if (a == "--demo")
      out.demo = true;
    else
      return false;
  }
  return true;
}

/// What the subscriber saw, for the demo's bookkeeping.
struct seen_log {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::string> up, down;
};

/// The application's subscriber: a plain CAF actor with three handlers.
service_listener::behavior_type printer(std::shared_ptr<seen_log> seen) {
  auto note
    = [seen](std::vector<std::string> seen_log::*list, const std::string& id) {
        std::lock_guard<std::mutex> guard{seen->mtx};
        ((*seen).*list).push_back(id);
        seen->cv.notify_all();
      };
  return {
    [=](const service_up& x) {
      std::cout << "up      " << x.instance.id() << " at "
                << x.instance.endpoint() << " (zxid " << x.instance.czxid()
                << ")" << std::endl;
      note(&seen_log::up, x.instance.id());
    },
    [=](const service_down& x) {
      std::cout << "down    " << x.instance.id() << std::endl;
      note(&seen_log::down, x.instance.id());
    },
    [=](const service_changed& x) {
      std::cout << "changed " << x.instance.id() << " now at "
                << x.instance.endpoint() << std::endl;
    },
  };
}

pid_t start_instance(const args& a, const std::string& id) {
  std::vector<std::string> argv_s{
    "service_subscriber", "--servers=" + a.servers, "--service=" + a.service,
    "--instance=" + id,
    "--session-timeout-ms=" + std::to_string(a.session_timeout_ms)};
  std::vector<char*> argv;
  for (auto& s : argv_s)
    argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(),
                    environ)
      != 0)
    return -1;
  return pid;
}

std::atomic<bool> stop_requested{false};

int run_instance(caf::actor_system& sys, const args& a) {
  client_options opts;
  opts.servers = parse_server_list(a.servers);
  opts.session_timeout = std::chrono::milliseconds(a.session_timeout_ms);
  blocking_client client{sys, opts};
  auto port
    = 9000 + static_cast<int>(std::hash<std::string>{}(a.instance) % 1000);
  auto r = client.register_service(a.service, a.instance,
                                   "127.0.0.1:" + std::to_string(port),
                                   {{"pid", std::to_string(::getpid())}});
  if (!r) {
    std::cerr << "instance " << a.instance << ": " << r.message << std::endl;
    return 1;
  }
  std::cout << "registered " << r.value << std::endl;
  // Registered until killed (or asked to stop: then deregistered at once).
  while (!stop_requested)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return 0;
}

bool wait_for(seen_log& seen, std::vector<std::string> seen_log::*list,
              size_t count) {
  std::unique_lock<std::mutex> guard{seen.mtx};
  return seen.cv.wait_for(guard, std::chrono::seconds(30),
                          [&] { return (seen.*list).size() >= count; });
}

} // namespace

int main(int argc, char** argv) {
  args a;
  if (!parse(argc, argv, a) || parse_server_list(a.servers).empty()) {
    std::cerr << "usage: service_subscriber [--servers=HOST:PORT[,...]] "
                 "[--service=NAME] [--demo | --instance=ID]\n";
    return 2;
  }
  std::signal(SIGINT, [](int) { stop_requested = true; });
  std::signal(SIGTERM, [](int) { stop_requested = true; });
  caf::actor_system_config cfg;
  announce_message_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  if (!a.instance.empty())
    return run_instance(sys, a);
  client_options opts;
  opts.servers = parse_server_list(a.servers);
  blocking_client client{sys, opts};
  auto seen = std::make_shared<seen_log>();
  auto subscriber = sys.spawn(printer, seen);
  auto watcher = client.subscribe(a.service, subscriber);
  std::cout << "watching service " << a.service << std::endl;
  int rc = 0;
  if (a.demo) {
    std::vector<pid_t> pids;
    for (auto id : {"alpha", "beta", "gamma"})
      pids.push_back(start_instance(a, id));
    if (!wait_for(*seen, &seen_log::up, 3)) {
      std::cerr << "the three instances did not all come up\n";
      rc = 1;
    } else {
      std::cout << "killing beta (pid " << pids[1] << ") with SIGKILL"
                << std::endl;
      ::kill(pids[1], SIGKILL);
      if (!wait_for(*seen, &seen_log::down, 1)) {
        std::cerr << "beta's registration did not vanish\n";
        rc = 1;
      }
    }
    for (auto pid : pids) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } else {
    while (!stop_requested)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
  return rc;
}
