// conclave-node: runs one Conclave node.
//
//   conclave-node --config-file=FILE [--conclave.KEY=VALUE ...]
//
// On SIGINT or SIGTERM a leader first hands leadership to its most
// up-to-date follower and waits until that one leads (at most twice the
// election timeout), so clients see no election timeout; then it stops.
//
// Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 for a bad config
// or an impossible setting (taken port, unwritable data directory), 3 when
// the data directory holds damaged state (the message names file and offset).
#include <csignal>
#include <cstring>
#include <iostream>
#include <string_view>
#include <variant>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>

#include "actors/node.hpp"
#include "messages/type_ids.hpp"
#include "runtime/logging.hpp"
#include "runtime/node_config.hpp"

namespace {

constexpr int exit_config_error = 2;
constexpr int exit_storage_error = 3;

void print_usage() {
  std::cout << "usage: conclave-node --config-file=FILE "
               "[--conclave.KEY=VALUE ...]\n\n"
            << conclave::node_config_help();
}

conclave::log_severity severity_of(const conclave::node_config& cfg) {
  auto name = conclave::to_string(cfg.log_level);
  for (auto sev :
       {conclave::log_severity::trace, conclave::log_severity::debug,
        conclave::log_severity::info, conclave::log_severity::warning,
        conclave::log_severity::error})
    if (name == conclave::to_string(sev))
      return sev;
  return conclave::log_severity::info;
}

void apply_caf_settings(const conclave::node_config& node,
                        caf::actor_system_config& cfg) {
  conclave::announce_message_types(cfg);
  cfg.load<caf::io::middleman>();
  conclave::apply_caf_options(node, cfg);
}

/// Blocks SIGINT and SIGTERM in this thread and (by inheritance) in every
/// thread CAF starts, so that main can sigwait() for them.
sigset_t block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

} // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == "--help" || arg == "-h") {
      print_usage();
      return 0;
    }
  }
  auto loaded = conclave::load_node_config(argc, argv);
  if (auto err = std::get_if<conclave::config_error>(&loaded)) {
    std::cerr << "conclave-node: " << err->to_string() << '\n';
    return exit_config_error;
  }
  auto& node_cfg = std::get<conclave::node_config>(loaded);
  if (auto err = conclave::check_data_dir(node_cfg)) {
    std::cerr << "conclave-node: " << err->to_string() << '\n';
    return exit_config_error;
  }
  auto signals = block_shutdown_signals();
  conclave::logging_options log_opts;
  log_opts.node_id = std::to_string(node_cfg.id.value());
  log_opts.min_severity = severity_of(node_cfg);
  log_opts.directory = node_cfg.data_dir;
  log_opts.file_max_bytes = node_cfg.log_file_max_bytes;
  log_opts.file_count = node_cfg.log_file_count;
  conclave::init_logging(log_opts);
  int exit_code = 0;
  {
    caf::actor_system_config caf_cfg;
    apply_caf_settings(node_cfg, caf_cfg);
    caf::actor_system sys{caf_cfg};
    auto started = conclave::start_node(sys, node_cfg);
    if (auto err = std::get_if<conclave::start_error>(&started)) {
      CONCLAVE_LOG("node", error) << err->message;
      auto file = node_cfg.source_file.empty() ? std::string{"<defaults>"}
                                               : node_cfg.source_file;
      if (err->kind == conclave::start_failure::config) {
        std::cerr << "conclave-node: " << file << ": " << err->message << '\n';
        exit_code = exit_config_error;
      } else {
        std::cerr << "conclave-node: refusing to start: " << err->message
                  << '\n';
        exit_code = exit_storage_error;
      }
    } else {
      auto node = &std::get<conclave::node_handles>(started);
      // Scripts and tests wait for this line (and read the port from it).
      std::cout << "conclave-node ready: id=" << node_cfg.id
                << " client-port=" << node->client_port
                << " peer-port=" << node->peer_port
                << " zk-port=" << node->zk_port
                << " admin-port=" << node->admin_port << std::endl;
      int sig = 0;
      sigwait(&signals, &sig);
      CONCLAVE_LOG("node", info)
        << "received " << strsignal(sig) << ", shutting down";
      // A leader hands over first (the transfer aborts after an election
      // timeout; twice that is the longest a shutdown waits for it).
      conclave::hand_over_leadership(
        sys, *node,
        std::chrono::milliseconds(2 * node_cfg.election_timeout_ms));
      conclave::stop_node(sys, *node);
    }
  }
  CONCLAVE_LOG("node", info) << "stopped";
  conclave::stop_logging();
  return exit_code;
}
