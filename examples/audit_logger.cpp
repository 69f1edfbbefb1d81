#include "examples/audit_logger.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>

#include "actors/client_actor.hpp"
#include "runtime/logging.hpp"
#include "runtime/path.hpp"

namespace conclave {

namespace {

// -- settings -----------------------------------------------------------------

struct logger_config {
  std::string path = "/";
  std::string file;
};

/// Longest watched path accepted (conclave.max-path-bytes' default).
constexpr size_t max_path_bytes = 4096;

/// Reads and validates the settings; what is wrong, or nothing.
std::optional<std::string> parse(const caf::settings& settings,
                                 logger_config& cfg) {
  for (const auto& kvp : settings)
    if (kvp.first != "path" && kvp.first != "file")
      return kvp.first + ": expected one of path, file, got an unknown key";
  if (auto i = settings.find("path"); i != settings.end()) {
    auto str = caf::get_if<std::string>(&i->second);
    if (!str || str->empty() || str->front() != '/'
        || path::validate(*str, max_path_bytes) != error_code::ok)
      return "path: expected an absolute znode path such as \"/services\", "
             "got "
             + caf::to_string(i->second);
    cfg.path = *str;
  }
  auto i = settings.find("file");
  if (i == settings.end())
    return std::string{"file: expected a file name such as \"audit.log\", got "
                       "nothing (file is required)"};
  auto str = caf::get_if<std::string>(&i->second);
  if (!str || str->empty())
    return "file: expected a file name such as \"audit.log\", got "
           + caf::to_string(i->second);
  cfg.file = *str;
  return std::nullopt;
}

// -- the actor ----------------------------------------------------------------

/// How long the logger waits for the client to leave its watch.
constexpr auto request_timeout = std::chrono::seconds(30);

/// Backoff between attempts to leave the watch.
constexpr auto first_retry = std::chrono::milliseconds(100);
constexpr auto max_retry = std::chrono::milliseconds(5000);

struct file_closer {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

struct audit_logger_state {
  static inline const char* name = "audit-logger";

  /// The instance's name in the config: the log component.
  std::string instance;
  client_actor client;
  logger_config cfg;
  /// The file as opened (data-dir applied).
  std::string file_name;
  std::unique_ptr<std::FILE, file_closer> file;
  uint32_t attempts = 0;
};

using self_ptr = audit_logger_actor::stateful_pointer<audit_logger_state>;

bool transient(int32_t code) {
  switch (static_cast<error_code>(code)) {
    case error_code::connection_loss:
    case error_code::operation_timeout:
    case error_code::request_timeout:
    case error_code::throttled_op:
      return true;
    default:
      return false;
  }
}

void retry_later(self_ptr self, const std::string& why) {
  auto& st = self->state;
  auto delay = std::min<std::chrono::milliseconds>(
    first_retry * (1u << std::min(st.attempts, 6u)), max_retry);
  ++st.attempts;
  CONCLAVE_LOG(st.instance, debug)
    << "cannot watch " << st.cfg.path << " yet (" << why << "); retrying in "
    << delay.count() << " ms";
  self->delayed_send(self, delay, retry_atom::value);
}

/// Leaves the persistent recursive watch, with this actor as its listener.
void leave_watch(self_ptr self) {
  auto& st = self->state;
  pb::Request req;
  req.mutable_add_watch()->set_path(st.cfg.path);
  req.mutable_add_watch()->set_mode(1); // persistent recursive
  auto me = caf::actor_cast<watch_listener>(self);
  self
    ->request(st.client, request_timeout, watch_atom::value, std::move(req), me)
    .then(
      [=](const pb::Response& resp) {
        auto& st = self->state;
        if (resp.error() == 0) {
          st.attempts = 0;
          CONCLAVE_LOG(st.instance, info)
            << "auditing " << st.cfg.path << " into " << st.file_name;
          return;
        }
        if (transient(resp.error())) {
          retry_later(self, resp.message());
          return;
        }
        if (resp.error() == static_cast<int32_t>(error_code::session_expired))
          return; // the state event (expired or closed) decides
        CONCLAVE_LOG(st.instance, error)
          << "cannot watch " << st.cfg.path << ": " << resp.message();
        self->quit(
          caf::make_error(caf::sec::runtime_error, "cannot watch " + st.cfg.path
                                                     + ": " + resp.message()));
      },
      [=](const caf::error& err) {
        retry_later(self, self->system().render(err));
      });
}

/// A connection-state event (or the state at subscription).
void on_state(self_ptr self, int32_t state) {
  if (state == static_cast<int32_t>(connection_state::expired)) {
    CONCLAVE_LOG(self->state.instance, warning)
      << "the client's session expired: stopping";
    self->quit(
      caf::make_error(caf::sec::runtime_error, "the client's session expired"));
  } else if (state == static_cast<int32_t>(connection_state::closed)) {
    self->quit();
  }
}

void on_event(self_ptr self, const pb::WatchEvent& ev) {
  auto& st = self->state;
  if (st.file) {
    auto line = audit_line(ev, std::chrono::system_clock::now());
    line += '\n';
    auto f = st.file.get();
    if (std::fwrite(line.data(), 1, line.size(), f) != line.size()
        || std::fflush(f) != 0) {
      auto why = std::string{std::strerror(errno)};
      CONCLAVE_LOG(st.instance, error)
        << "cannot write " << st.file_name << ": " << why;
      st.file.reset();
      self->quit(caf::make_error(caf::sec::runtime_error,
                                 "cannot write " + st.file_name + ": " + why));
      return;
    }
  }
  if (ev.type() == -1)
    on_state(self, ev.state());
}

audit_logger_actor::behavior_type
audit_logger(self_ptr self, std::string instance, client_actor client,
             caf::settings settings, std::string data_dir) {
  auto& st = self->state;
  st.instance = std::move(instance);
  st.client = std::move(client);
  auto ignore_all = audit_logger_actor::behavior_type{
    [](event_atom, const pb::WatchEvent&) {}, [](retry_atom) {}};
  if (auto err = parse(settings, st.cfg)) {
    // check() refuses such settings before the node starts.
    self->quit(caf::make_error(caf::sec::invalid_argument, *err));
    return ignore_all;
  }
  std::filesystem::path file{st.cfg.file};
  if (file.is_relative() && !data_dir.empty())
    file = std::filesystem::path{data_dir} / file;
  st.file_name = file.string();
  st.file.reset(std::fopen(st.file_name.c_str(), "a"));
  if (!st.file) {
    auto why = std::string{std::strerror(errno)};
    CONCLAVE_LOG(st.instance, error)
      << "cannot open " << st.file_name << ": " << why;
    self->quit(caf::make_error(caf::sec::runtime_error,
                               "cannot open " + st.file_name + ": " + why));
    return ignore_all;
  }
  auto me = caf::actor_cast<watch_listener>(self);
  self->request(st.client, request_timeout, state_atom::value, me)
    .then([=](int32_t state) { on_state(self, state); },
          [](const caf::error&) {});
  leave_watch(self);
  return {
    [=](event_atom, const pb::WatchEvent& ev) { on_event(self, ev); },
    [=](retry_atom) { leave_watch(self); },
  };
}

std::string event_name(int32_t type) {
  switch (type) {
    case 1:
      return "created";
    case 2:
      return "deleted";
    case 3:
      return "changed";
    case 4:
      return "children";
    case 5:
      return "data-watch-removed";
    case 6:
      return "child-watch-removed";
    case 7:
      return "watch-removed";
    default:
      return "type-" + std::to_string(type);
  }
}

std::string state_name(int32_t state) {
  switch (static_cast<connection_state>(state)) {
    case connection_state::connected:
      return "connected";
    case connection_state::disconnected:
      return "disconnected";
    case connection_state::expired:
      return "expired";
    case connection_state::closed:
      return "closed";
  }
  return std::to_string(state);
}

/// The path with control characters as \xNN: one event, one line.
std::string printable(const std::string& path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

} // namespace

std::string audit_line(const pb::WatchEvent& ev,
                       std::chrono::system_clock::time_point at) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(at.time_since_epoch()).count();
  auto secs = ms / 1000;
  auto milli = ms % 1000;
  if (milli < 0) { // before 1970: floor, not truncate
    milli += 1000;
    secs -= 1;
  }
  auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(milli));
  std::string out = stamp;
  out += " zxid=" + std::to_string(ev.zxid()) + " ";
  if (ev.type() == -1)
    out += "state " + state_name(ev.state());
  else
    out += event_name(ev.type()) + " " + printable(ev.path());
  return out;
}

actor_type audit_logger_type() {
  actor_type type;
  type.check = [](const caf::settings& settings) {
    logger_config cfg;
    return parse(settings, cfg);
  };
  type.spawn = [](caf::actor_system& sys, const node_context& ctx) {
    auto logger = sys.spawn<caf::detached>(audit_logger, ctx.name, ctx.client,
                                           ctx.settings, ctx.data_dir);
    return caf::actor_cast<caf::actor>(logger);
  };
  return type;
}

} // namespace conclave
