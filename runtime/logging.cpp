#include "runtime/logging.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>

#include <boost/core/null_deleter.hpp>
#include <boost/log/attributes/constant.hpp>
#include <boost/log/attributes/clock.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_file_backend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/support/date_time.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>

namespace conclave {

namespace logging = boost::log;
namespace expr = boost::log::expressions;
namespace sinks = boost::log::sinks;

BOOST_LOG_ATTRIBUTE_KEYWORD(severity_kw, "Severity", log_severity)
BOOST_LOG_ATTRIBUTE_KEYWORD(channel_kw, "Channel", std::string)
BOOST_LOG_ATTRIBUTE_KEYWORD(node_kw, "Node", std::string)
BOOST_LOG_ATTRIBUTE_KEYWORD(timestamp_kw, "TimeStamp", boost::posix_time::ptime)

const char* to_string(log_severity sev) noexcept {
  switch (sev) {
    case log_severity::trace:
      return "trace";
    case log_severity::debug:
      return "debug";
    case log_severity::info:
      return "info";
    case log_severity::warning:
      return "warning";
    case log_severity::error:
      return "error";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, log_severity sev) {
  return out << to_string(sev);
}

namespace {

auto line_format() {
  return expr::stream << expr::format_date_time(timestamp_kw,
                                                "%Y-%m-%d %H:%M:%S.%f")
                      << " node=" << node_kw << " [" << channel_kw << "] "
                      << severity_kw << ": " << expr::smessage;
}

// Rotates `conclave.log` -> `conclave.log.1` -> ... keeping `count` files.
// Boost's own rotation names files by counter or date; operators expect the
// logrotate-style scheme, so the backend's rotation is driven from here.
class rotating_file_backend : public sinks::basic_formatted_sink_backend<char> {
public:
  rotating_file_backend(std::filesystem::path file, size_t max_bytes,
                        size_t count)
      : file_(std::move(file)), max_bytes_(max_bytes), count_(count) {
    open();
  }

  void consume(const logging::record_view&, const std::string& line) {
    if (written_ + line.size() + 1 > max_bytes_ && written_ > 0)
      rotate();
    out_ << line << '\n';
    out_.flush();
    written_ += line.size() + 1;
  }

private:
  void open() {
    out_.open(file_, std::ios::app);
    std::error_code ec;
    auto size = std::filesystem::file_size(file_, ec);
    written_ = ec ? 0 : static_cast<size_t>(size);
  }

  void rotate() {
    out_.close();
    std::error_code ec;
    auto name = [&](size_t i) {
      return i == 0 ? file_
                    : std::filesystem::path{file_.string() + "."
                                            + std::to_string(i)};
    };
    std::filesystem::remove(name(count_ - 1), ec);
    for (size_t i = count_ - 1; i > 0; --i)
      std::filesystem::rename(name(i - 1), name(i), ec);
    open();
  }

  std::filesystem::path file_;
  size_t max_bytes_;
  size_t count_;
  std::ofstream out_;
  size_t written_ = 0;
};

} // namespace

void init_logging(const logging_options& opts) {
  auto core = logging::core::get();
  core->remove_all_sinks();
  core->add_global_attribute("TimeStamp", logging::attributes::local_clock());
  core->add_global_attribute(
    "Node", logging::attributes::constant<std::string>(opts.node_id));
  core->set_filter(severity_kw >= opts.min_severity);
  if (opts.console) {
    using console_sink = sinks::synchronous_sink<sinks::text_ostream_backend>;
    auto sink = boost::make_shared<console_sink>();
    sink->locked_backend()->add_stream(
      boost::shared_ptr<std::ostream>(&std::clog, boost::null_deleter()));
    sink->locked_backend()->auto_flush(true);
    sink->set_formatter(line_format());
    core->add_sink(sink);
  }
  if (!opts.directory.empty()) {
    using file_sink = sinks::synchronous_sink<rotating_file_backend>;
    auto backend = boost::make_shared<rotating_file_backend>(
      std::filesystem::path{opts.directory} / "conclave.log",
      opts.file_max_bytes, std::max<size_t>(opts.file_count, 1));
    auto sink = boost::make_shared<file_sink>(backend);
    sink->set_formatter(line_format());
    core->add_sink(sink);
  }
}

void stop_logging() {
  auto core = logging::core::get();
  core->flush();
  core->remove_all_sinks();
}

logger_type& global_logger() {
  static logger_type instance;
  return instance;
}

} // namespace conclave
