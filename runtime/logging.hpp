// logging: the node's Boost.Log setup and the macro actors log through.
//
// Every line carries the time, the node id, the component (actor name) and
// the severity, e.g.
//   2026-11-28 18:04:05.123 node=1 [registry] info: applied 12 entries
// Lines go to the console (stderr) and to a size-rotated file
// `<data-dir>/conclave.log` (`conclave.log.1` ... older). Pure cores never log
// through this: they return values the actor shells log.
#pragma once

#include <cstdint>
#include <string>

#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/sources/severity_channel_logger.hpp>

#include "runtime/hex.hpp" // hex() for log lines

namespace conclave {

enum class log_severity { trace, debug, info, warning, error };

const char* to_string(log_severity sev) noexcept;

struct logging_options {
  std::string node_id; ///< written on every line
  log_severity min_severity = log_severity::info;
  std::string directory; ///< empty: console only
  size_t file_max_bytes = 10 * 1024 * 1024;
  size_t file_count = 5; ///< rotated files kept, including the current
  bool console = true;
};

/// Sets up the sinks. Call once, before spawning actors.
void init_logging(const logging_options& opts);

/// Flushes and removes the sinks (at shutdown).
void stop_logging();

using logger_type
  = boost::log::sources::severity_channel_logger_mt<log_severity, std::string>;

/// The process-wide logger; the channel is the component name.
logger_type& global_logger();

} // namespace conclave

/// Logs one line: CONCLAVE_LOG("registry", info) << "applied " << n;
#define CONCLAVE_LOG(component, sev)                                           \
  BOOST_LOG_CHANNEL_SEV(::conclave::global_logger(), (component),              \
                        ::conclave::log_severity::sev)
