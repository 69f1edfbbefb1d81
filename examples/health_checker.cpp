#include "examples/health_checker.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "actors/client_actor.hpp"
#include "runtime/logging.hpp"
#include "runtime/services.hpp"

namespace conclave {

namespace {

// -- probing ------------------------------------------------------------------

enum class probe_result { down, up, unknown };

/// At most this many addresses of one endpoint are tried (in parallel).
constexpr size_t max_addresses = 3;

struct host_port {
  std::string host;
  std::string port;
};

/// "host:port" or "[v6-address]:port" with a port in 1..65535.
std::optional<host_port> split_endpoint(const std::string& text) {
  host_port out;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size()
        || text[close + 1] != ':')
      return std::nullopt;
    out.host = text.substr(1, close - 1);
    out.port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      return std::nullopt;
    out.host = text.substr(0, colon);
    out.port = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos)
      return std::nullopt; // an IPv6 address needs brackets
  }
  if (out.host.empty() || out.port.empty() || out.port.size() > 5
      || !std::all_of(out.port.begin(), out.port.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  auto port = std::stoi(out.port);
  if (port < 1 || port > 65535)
    return std::nullopt;
  return out;
}

/// Connects to every endpoint at once and waits for the outcomes under one
/// deadline. `unknown` means the probe could not be made for a local reason
/// (out of sockets, name service unavailable): it says nothing about the
/// endpoint.
std::vector<probe_result> probe_all(const std::vector<std::string>& endpoints,
                                    std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + timeout;
  std::vector<probe_result> out(endpoints.size(), probe_result::down);
  std::vector<pollfd> fds;
  std::vector<size_t> owner; // fds[k] probes endpoints[owner[k]]
  for (size_t i = 0; i < endpoints.size(); ++i) {
    auto parts = split_endpoint(endpoints[i]);
    if (!parts)
      continue;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    auto rc
      = ::getaddrinfo(parts->host.c_str(), parts->port.c_str(), &hints, &found);
    if (rc != 0) {
      if (rc == EAI_AGAIN || rc == EAI_MEMORY || rc == EAI_SYSTEM)
        out[i] = probe_result::unknown;
      continue;
    }
    size_t tried = 0;
    bool local_failure = false;
    for (auto ai = found;
         ai != nullptr && tried < max_addresses && out[i] != probe_result::up;
         ai = ai->ai_next, ++tried) {
      int fd = ::socket(ai->ai_family,
                        ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
      if (fd < 0) {
        local_failure = true;
        continue;
      }
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        out[i] = probe_result::up;
        ::close(fd);
      } else if (errno == EINPROGRESS) {
        fds.push_back(pollfd{fd, POLLOUT, 0});
        owner.push_back(i);
      } else {
        ::close(fd);
      }
    }
    ::freeaddrinfo(found);
    if (out[i] != probe_result::up && local_failure
        && std::find(owner.begin(), owner.end(), i) == owner.end())
      out[i] = probe_result::unknown;
  }
  auto close_at = [&](size_t k) {
    if (fds[k].fd >= 0) {
      ::close(fds[k].fd);
      fds[k].fd = -1; // poll() skips negative descriptors
    }
  };
  auto mark_up = [&](size_t endpoint) {
    out[endpoint] = probe_result::up;
    for (size_t k = 0; k < fds.size(); ++k)
      if (owner[k] == endpoint)
        close_at(k);
  };
  for (size_t k = 0; k < fds.size(); ++k)
    if (out[owner[k]] == probe_result::up)
      close_at(k);
  auto open = [&] {
    return std::any_of(fds.begin(), fds.end(),
                       [](const pollfd& p) { return p.fd >= 0; });
  };
  while (open()) {
    auto now = clock::now();
    if (now >= deadline)
      break;
    auto left
      = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    auto n = ::poll(fds.data(), fds.size(),
                    static_cast<int>(std::min<int64_t>(left, INT_MAX)));
    if (n < 0 && errno != EINTR)
      break;
    if (n <= 0)
      continue;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].fd < 0 || fds[k].revents == 0)
        continue;
      int err = 0;
      socklen_t len = sizeof(err);
      auto connected
        = ::getsockopt(fds[k].fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0
          && err == 0 && (fds[k].revents & POLLOUT) != 0;
      close_at(k);
      if (connected)
        mark_up(owner[k]);
    }
  }
  for (size_t k = 0; k < fds.size(); ++k)
    close_at(k);
  return out;
}

// -- settings -----------------------------------------------------------------

struct checker_config {
  std::chrono::milliseconds interval{2000};
  std::chrono::milliseconds timeout{1000};
  /// Empty: every service under /services.
  std::vector<std::string> services;
  int64_t failures_before_critical = 2;
};

constexpr const char* known_keys[]
  = {"interval-ms", "timeout-ms", "services", "failures-before-critical"};

std::optional<std::string> read_integer(const caf::settings& settings,
                                        const char* key, int64_t min,
                                        int64_t max, int64_t& out) {
  auto i = settings.find(key);
  if (i == settings.end())
    return std::nullopt;
  auto value = caf::get_if<caf::config_value::integer>(&i->second);
  if (!value || *value < min || *value > max)
    return std::string{key} + ": expected an integer in " + std::to_string(min)
           + ".." + std::to_string(max) + ", got " + caf::to_string(i->second);
  out = *value;
  return std::nullopt;
}

/// Reads and validates the settings; what is wrong, or nothing.
std::optional<std::string> parse(const caf::settings& settings,
                                 checker_config& cfg) {
  for (const auto& kvp : settings) {
    if (std::find_if(std::begin(known_keys), std::end(known_keys),
                     [&](const char* k) { return kvp.first == k; })
        == std::end(known_keys))
      return kvp.first
             + ": expected one of interval-ms, timeout-ms, services, "
               "failures-before-critical, got an unknown key";
  }
  int64_t interval = cfg.interval.count();
  int64_t timeout = cfg.timeout.count();
  if (auto err = read_integer(settings, "interval-ms", 50, 3600000, interval))
    return err;
  if (auto err = read_integer(settings, "timeout-ms", 10, 60000, timeout))
    return err;
  if (timeout >= interval)
    return "timeout-ms: expected less than interval-ms ("
           + std::to_string(interval) + "), got " + std::to_string(timeout);
  if (auto err = read_integer(settings, "failures-before-critical", 1, 100,
                              cfg.failures_before_critical))
    return err;
  cfg.interval = std::chrono::milliseconds{interval};
  cfg.timeout = std::chrono::milliseconds{timeout};
  cfg.services.clear();
  if (auto i = settings.find("services"); i != settings.end()) {
    auto expected = "services: expected a list of service names such as "
                    "[\"web\"], got ";
    auto list = caf::get_if<caf::config_value::list>(&i->second);
    if (!list)
      return expected + caf::to_string(i->second);
    for (const auto& x : *list) {
      auto name = caf::get_if<std::string>(&x);
      if (!name || !is_valid_service_name(*name))
        return expected + caf::to_string(i->second) + " (bad entry "
               + caf::to_string(x) + ")";
      if (std::find(cfg.services.begin(), cfg.services.end(), *name)
          == cfg.services.end())
        cfg.services.push_back(*name);
    }
  }
  return std::nullopt;
}

// -- the actor ----------------------------------------------------------------

/// How long the checker waits for one of its reads or writes.
constexpr auto request_timeout = std::chrono::seconds(30);

/// Instances probed at once (each uses up to max_addresses sockets).
constexpr size_t probe_batch = 64;

/// An instance read in the current round.
struct target {
  std::string service;
  std::string id;
  std::string path;
  /// The registration as stored (decoded JSON); written back with "health".
  pb::ServiceInstance registration;
  int32_t version = 0;
  int64_t czxid = 0;
};

/// What the checker remembers of an instance between rounds.
struct tracked {
  /// The registration it counts for: a new one starts from scratch.
  int64_t czxid = 0;
  int64_t failures = 0;
  /// The last write failure reported (0: none), so that a lasting one
  /// (an ACL, say) is logged once, not every round.
  int32_t write_error = 0;
};

struct health_checker_state {
  static inline const char* name = "health-checker";

  /// The instance's name in the config: the log component.
  std::string instance;
  client_actor client;
  checker_config cfg;
  /// By "SERVICE/ID".
  std::map<std::string, tracked> instances;

  // -- the current round --
  bool running = false;
  std::chrono::steady_clock::time_point started;
  /// Reads not answered yet (plus one while the round issues them).
  size_t pending = 0;
  std::vector<target> targets;
  size_t next_probe = 0;
  /// Services whose instances were all read; services that were found.
  std::set<std::string> listed;
  std::set<std::string> found;
  bool root_listed = false;
  /// Instances read ("SERVICE/ID").
  std::set<std::string> seen;
};

using self_ptr = health_checker_actor::stateful_pointer<health_checker_state>;

constexpr auto no_node = static_cast<int32_t>(error_code::no_node);
constexpr auto bad_version = static_cast<int32_t>(error_code::bad_version);
constexpr auto session_expired
  = static_cast<int32_t>(error_code::session_expired);

pb::Request get_children(const std::string& path) {
  pb::Request req;
  req.mutable_get_children()->set_path(path);
  return req;
}

pb::Request get_data(const std::string& path) {
  pb::Request req;
  req.mutable_get_data()->set_path(path);
  return req;
}

void gathered(self_ptr self);

/// One read of the round is done.
void done(self_ptr self) {
  if (--self->state.pending == 0)
    gathered(self);
}

/// Reads one instance's registration.
void read_instance(self_ptr self, std::string service, std::string id,
                   std::string path) {
  auto& st = self->state;
  ++st.pending;
  self->request(st.client, request_timeout, request_atom::value, get_data(path))
    .then(
      [=](const pb::Response& resp) {
        auto& st = self->state;
        if (resp.error() == 0) {
          st.seen.insert(service + "/" + id);
          auto decoded = decode_instance(resp.data().data());
          if (!decoded) {
            CONCLAVE_LOG(st.instance, debug)
              << "skipping " << path << ": not a registration";
          } else if (decoded->endpoint().empty()) {
            CONCLAVE_LOG(st.instance, debug)
              << "skipping " << path << ": no endpoint";
          } else {
            const auto& stat = resp.data().stat();
            st.targets.push_back(target{service, id, path,
                                        std::move(decoded).value(),
                                        stat.version(), stat.czxid()});
          }
        } else if (resp.error() != no_node) {
          st.listed.erase(service); // keep what we know of it
          if (resp.error() != session_expired)
            CONCLAVE_LOG(st.instance, debug)
              << "cannot read " << path << ": " << resp.message();
        }
        done(self);
      },
      [=](const caf::error& err) {
        self->state.listed.erase(service);
        CONCLAVE_LOG(self->state.instance, debug)
          << "cannot read " << path << ": " << self->system().render(err);
        done(self);
      });
}

/// Lists one service's instances and reads each.
void read_service(self_ptr self, std::string service) {
  auto& st = self->state;
  auto path = service_path(service);
  if (!path)
    return; // a znode under /services that is not a service name
  ++st.pending;
  self
    ->request(st.client, request_timeout, request_atom::value,
              get_children(*path))
    .then(
      [=, path = *path](const pb::Response& resp) {
        auto& st = self->state;
        if (resp.error() == 0) {
          st.listed.insert(service);
          for (const auto& id : resp.children().names())
            read_instance(self, service, id, path + "/" + id);
        } else if (resp.error() == no_node) {
          st.listed.insert(service); // no instance (yet)
        } else if (resp.error() != session_expired) {
          CONCLAVE_LOG(st.instance, debug)
            << "cannot list " << path << ": " << resp.message();
        }
        done(self);
      },
      [=](const caf::error& err) {
        CONCLAVE_LOG(self->state.instance, debug)
          << "cannot list " << service << ": " << self->system().render(err);
        done(self);
      });
}

void start_round(self_ptr self) {
  auto& st = self->state;
  if (st.running)
    return;
  st.running = true;
  st.started = std::chrono::steady_clock::now();
  st.targets.clear();
  st.next_probe = 0;
  st.listed.clear();
  st.found.clear();
  st.seen.clear();
  st.root_listed = false;
  st.pending = 1; // until every first read is out
  if (!st.cfg.services.empty()) {
    for (const auto& s : st.cfg.services)
      read_service(self, s);
  } else {
    ++st.pending;
    self
      ->request(st.client, request_timeout, request_atom::value,
                get_children(std::string{services_root}))
      .then(
        [=](const pb::Response& resp) {
          auto& st = self->state;
          if (resp.error() == 0 || resp.error() == no_node) {
            st.root_listed = true;
            for (const auto& s : resp.children().names()) {
              st.found.insert(s);
              read_service(self, s);
            }
          } else if (resp.error() != session_expired) {
            CONCLAVE_LOG(st.instance, debug)
              << "cannot list " << services_root << ": " << resp.message();
          }
          done(self);
        },
        [=](const caf::error& err) {
          CONCLAVE_LOG(self->state.instance, debug)
            << "cannot list " << services_root << ": "
            << self->system().render(err);
          done(self);
        });
  }
  done(self);
}

/// Every read of the round is in: forget instances that left, then probe.
void gathered(self_ptr self) {
  auto& st = self->state;
  for (auto i = st.instances.begin(); i != st.instances.end();) {
    auto service = i->first.substr(0, i->first.find('/'));
    auto gone = (st.listed.count(service) > 0 && st.seen.count(i->first) == 0)
                || (st.root_listed && st.found.count(service) == 0);
    i = gone ? st.instances.erase(i) : std::next(i);
  }
  self->send(self, sweep_atom::value);
}

/// Records `health` in the registration if it is still the version read.
void write_health(self_ptr self, const target& t, const std::string& health,
                  int64_t failures) {
  auto& st = self->state;
  auto updated = t.registration;
  (*updated.mutable_metadata())["health"] = health;
  pb::Request req;
  auto op = req.mutable_set_data();
  op->set_path(t.path);
  op->set_data(encode_instance(updated));
  op->set_version(t.version);
  auto key = t.service + "/" + t.id;
  auto endpoint = t.registration.endpoint();
  self->request(st.client, request_timeout, request_atom::value, std::move(req))
    .then(
      [=](const pb::Response& resp) {
        auto& st = self->state;
        auto i = st.instances.find(key);
        if (resp.error() == 0) {
          if (i != st.instances.end())
            i->second.write_error = 0;
          if (health == "critical")
            CONCLAVE_LOG(st.instance, warning)
              << "instance " << key << " at " << endpoint
              << " is now critical (" << failures << " failed probes)";
          else
            CONCLAVE_LOG(st.instance, info) << "instance " << key << " at "
                                            << endpoint << " is now " << health;
          return;
        }
        if (resp.error() == bad_version) {
          // Changed since we read it: decide again next round.
          CONCLAVE_LOG(st.instance, debug)
            << "instance " << key << " changed meanwhile";
          return;
        }
        if (resp.error() == no_node || resp.error() == session_expired)
          return; // it left; or our session ended (see the state events)
        if (i == st.instances.end() || i->second.write_error != resp.error()) {
          if (i != st.instances.end())
            i->second.write_error = resp.error();
          CONCLAVE_LOG(st.instance, warning)
            << "cannot record the health of instance " << key << ": "
            << resp.message();
        }
      },
      [=](const caf::error& err) {
        CONCLAVE_LOG(self->state.instance, debug)
          << "cannot record the health of instance " << key << ": "
          << self->system().render(err);
      });
}

/// Takes one probe's outcome into account.
void on_probe(self_ptr self, const target& t, probe_result result) {
  if (result == probe_result::unknown)
    return;
  auto& st = self->state;
  auto& tr = st.instances[t.service + "/" + t.id];
  if (tr.czxid != t.czxid)
    tr = tracked{t.czxid, 0, 0};
  std::string health;
  if (result == probe_result::up) {
    tr.failures = 0;
    health = "passing";
  } else {
    tr.failures = std::min<int64_t>(tr.failures + 1, INT_MAX);
    if (tr.failures < st.cfg.failures_before_critical)
      return; // not yet
    health = "critical";
  }
  const auto& meta = t.registration.metadata();
  if (auto i = meta.find("health"); i != meta.end() && i->second == health)
    return;
  write_health(self, t, health, tr.failures);
}

/// Probes the next batch; schedules the next round after the last one.
void probe_batch_of(self_ptr self) {
  auto& st = self->state;
  if (!st.running)
    return;
  auto first = st.next_probe;
  auto last = std::min(st.targets.size(), first + probe_batch);
  if (first < last) {
    std::vector<std::string> endpoints;
    for (auto i = first; i < last; ++i)
      endpoints.push_back(st.targets[i].registration.endpoint());
    // Blocks this (detached) actor's own thread for up to the timeout.
    auto results = probe_all(endpoints, st.cfg.timeout);
    for (auto i = first; i < last; ++i)
      on_probe(self, st.targets[i], results[i - first]);
    st.next_probe = last;
  }
  if (st.next_probe < st.targets.size()) {
    self->send(self, sweep_atom::value);
    return;
  }
  st.running = false;
  st.targets.clear();
  auto elapsed = std::chrono::steady_clock::now() - st.started;
  auto delay = std::max<std::chrono::steady_clock::duration>(
    st.cfg.interval - elapsed, std::chrono::steady_clock::duration::zero());
  self->delayed_send(self, delay, tick_atom::value);
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

health_checker_actor::behavior_type health_checker(self_ptr self,
                                                   std::string instance,
                                                   client_actor client,
                                                   caf::settings settings) {
  auto& st = self->state;
  st.instance = std::move(instance);
  st.client = std::move(client);
  if (auto err = parse(settings, st.cfg)) {
    // check() refuses such settings before the node starts.
    self->quit(caf::make_error(caf::sec::invalid_argument, *err));
    return {[](tick_atom) {}, [](sweep_atom) {},
            [](event_atom, const pb::WatchEvent&) {}};
  }
  auto me = caf::actor_cast<watch_listener>(self);
  self->request(st.client, request_timeout, state_atom::value, me)
    .then([=](int32_t state) { on_state(self, state); },
          [](const caf::error&) {});
  CONCLAVE_LOG(st.instance, info)
    << "checking "
    << (st.cfg.services.empty()
          ? std::string{"every service"}
          : std::to_string(st.cfg.services.size()) + " service(s)")
    << " every " << st.cfg.interval.count() << " ms";
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) { start_round(self); },
    [=](sweep_atom) { probe_batch_of(self); },
    [=](event_atom, const pb::WatchEvent& ev) {
      if (ev.type() == -1)
        on_state(self, ev.state());
    },
  };
}

} // namespace

bool probe_tcp(const std::string& host_port,
               std::chrono::milliseconds timeout) {
  return probe_all({host_port}, timeout).front() == probe_result::up;
}

std::vector<bool> probe_tcp_all(const std::vector<std::string>& host_ports,
                                std::chrono::milliseconds timeout) {
  auto results = probe_all(host_ports, timeout);
  std::vector<bool> out;
  out.reserve(results.size());
  for (auto r : results)
    out.push_back(r == probe_result::up);
  return out;
}

actor_type health_checker_type() {
  actor_type type;
  type.check = [](const caf::settings& settings) {
    checker_config cfg;
    return parse(settings, cfg);
  };
  type.spawn = [](caf::actor_system& sys, const node_context& ctx) {
    auto checker = sys.spawn<caf::detached>(health_checker, ctx.name,
                                            ctx.client, ctx.settings);
    return caf::actor_cast<caf::actor>(checker);
  };
  return type;
}

} // namespace conclave
