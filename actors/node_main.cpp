#include "actors/node_main.hpp"

#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <string_view>
#include <thread>
#include <variant>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/node.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"

namespace conclave {

namespace {

constexpr int exit_config_error = 2;
constexpr int exit_storage_error = 3;
constexpr int exit_supervisor_gave_up = 4;

void print_usage() {
  std::cout << "usage: conclave-node --config-file=FILE "
               "[--conclave.KEY=VALUE ...]\n\n"
            << node_config_help();
}

log_severity severity_of(const node_config& cfg) {
  auto name = to_string(cfg.log_level);
  for (auto sev : {log_severity::trace, log_severity::debug, log_severity::info,
                   log_severity::warning, log_severity::error})
    if (name == to_string(sev))
      return sev;
  return log_severity::info;
}

/// Blocks SIGINT and SIGTERM in this thread and (by inheritance) in every
/// thread CAF starts, so that one thread can sigwait() for them.
sigset_t block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

/// Runs the started node until a signal arrives (returns 0 once it is
/// stopped) or the supervisor gives up (exits the process with 4).
int serve(caf::actor_system& sys, const node_config& cfg, node_handles& node,
          const sigset_t& signals) {
  caf::scoped_actor self{sys};
  self->monitor(node.supervisor);
  caf::actor main_actor = caf::actor_cast<caf::actor>(self);
  std::thread waiter([&signals, main_actor] {
    int sig = 0;
    sigwait(&signals, &sig);
    caf::anon_send(main_actor, static_cast<int32_t>(sig));
  });
  bool signalled = false;
  self->receive(
    [&](int32_t sig) {
      signalled = true;
      CONCLAVE_LOG("node", info)
        << "received " << strsignal(sig) << ", shutting down";
    },
    [&](const caf::down_msg& msg) {
      auto why = sys.render(msg.reason);
      std::cerr << "conclave-node: shut down by its supervisor: " << why
                << std::endl;
      CONCLAVE_LOG("node", error) << "stopped by its supervisor: " << why;
      stop_logging();
      // Whatever made it give up may still hold a thread (a storage worker
      // hung in fsync): the actor system would wait for it forever, and
      // nobody would restart the node. Leave now.
      ::_exit(exit_supervisor_gave_up);
    });
  if (signalled) {
    // A leader hands over first (the transfer aborts after an election
    // timeout; twice that is the longest a shutdown waits for it).
    hand_over_leadership(
      sys, node, std::chrono::milliseconds(2 * cfg.election_timeout_ms));
    if (!stop_node(sys, node, std::chrono::seconds(60))) {
      CONCLAVE_LOG("node", error)
        << "the node's actors did not stop within 60 s; leaving anyway";
      stop_logging();
      ::_exit(exit_supervisor_gave_up);
    }
  }
  waiter.join();
  return 0;
}

} // namespace

int run_node(int argc, char** argv, const actor_registry& types) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == "--help" || arg == "-h") {
      print_usage();
      return 0;
    }
  }
  auto loaded = load_node_config(argc, argv);
  if (auto err = std::get_if<config_error>(&loaded)) {
    std::cerr << "conclave-node: " << err->to_string() << '\n';
    return exit_config_error;
  }
  auto& node_cfg = std::get<node_config>(loaded);
  if (auto err = check_data_dir(node_cfg)) {
    std::cerr << "conclave-node: " << err->to_string() << '\n';
    return exit_config_error;
  }
  auto signals = block_shutdown_signals();
  logging_options log_opts;
  log_opts.node_id = std::to_string(node_cfg.id.value());
  log_opts.min_severity = severity_of(node_cfg);
  log_opts.directory = node_cfg.data_dir;
  log_opts.file_max_bytes = node_cfg.log_file_max_bytes;
  log_opts.file_count = node_cfg.log_file_count;
  init_logging(log_opts);
  int exit_code = 0;
  {
    caf::actor_system_config caf_cfg;
    announce_message_types(caf_cfg);
    caf_cfg.load<caf::io::middleman>();
    apply_caf_options(node_cfg, caf_cfg);
    caf::actor_system sys{caf_cfg};
    auto started = start_node(sys, node_cfg, types);
    if (auto err = std::get_if<start_error>(&started)) {
      CONCLAVE_LOG("node", error) << err->message;
      auto file = node_cfg.source_file.empty() ? std::string{"<defaults>"}
                                               : node_cfg.source_file;
      if (err->kind == start_failure::config) {
        std::cerr << "conclave-node: " << file << ": " << err->message << '\n';
        exit_code = exit_config_error;
      } else {
        std::cerr << "conclave-node: refusing to start: " << err->message
                  << '\n';
        exit_code = exit_storage_error;
      }
    } else {
      auto& node = std::get<node_handles>(started);
      // Scripts and tests wait for this line (and read the ports from it).
      std::cout << "conclave-node ready: id=" << node_cfg.id
                << " client-port=" << node.ports.client
                << " peer-port=" << node.ports.peer
                << " zk-port=" << node.ports.zk
                << " admin-port=" << node.ports.admin << std::endl;
      exit_code = serve(sys, node_cfg, node, signals);
    }
  }
  CONCLAVE_LOG("node", info) << "stopped";
  stop_logging();
  return exit_code;
}

} // namespace conclave
