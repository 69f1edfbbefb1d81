#include "runtime/zk/dynamic_config.hpp"

#include <algorithm>
#include <cctype>

#include "runtime/error_code.hpp"

namespace conclave::zk {

namespace {

constexpr auto err_bad_arguments
  = static_cast<int32_t>(error_code::bad_arguments);

/// Longest host name (DNS) or bracketed IPv6 literal accepted.
constexpr size_t max_host_bytes = 255;

/// At most this much of hostile input is quoted back in an error text.
std::string quoted(std::string_view s) {
  constexpr size_t max_quote = 80;
  std::string out = "\"";
  for (char c : s.substr(0, max_quote))
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  if (s.size() > max_quote)
    out += "...";
  return out + "\"";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    auto pos = s.find(sep);
    out.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos)
      return out;
    s.remove_prefix(pos + 1);
  }
}

/// A positive decimal number of at most `max`, digits only.
bool parse_number(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    auto digit = static_cast<uint64_t>(c - '0');
    if (v > (max - digit) / 10)
      return false;
    v = v * 10 + digit;
  }
  out = v;
  return v > 0;
}

bool parse_id(std::string_view s, node_id& out) {
  uint64_t v = 0;
  // ZooKeeper's ids are Java longs.
  if (!parse_number(trim(s), INT64_MAX, v))
    return false;
  out = node_id{v};
  return true;
}

bool valid_host(std::string_view host) {
  if (host.empty() || host.size() > max_host_bytes)
    return false;
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']')
      return false;
    return std::all_of(host.begin() + 1, host.end() - 1, [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':'
             || c == '.';
    });
  }
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'
           || c == '_';
  });
}

/// "host:p1[:p2[:...]]" -> host and the rest split at ':' (ZooKeeper's
/// splitWithLeadingHostname: a leading "[v6]" keeps its colons).
bool split_host(std::string_view s, std::string_view& host,
                std::vector<std::string_view>& rest) {
  if (!s.empty() && s.front() == '[') {
    auto close = s.find("]:");
    if (close == std::string_view::npos)
      return false;
    host = s.substr(0, close + 1);
    rest = split(s.substr(close + 2), ':');
    return true;
  }
  auto colon = s.find(':');
  if (colon == std::string_view::npos) {
    host = s;
    rest.clear();
    return true;
  }
  host = s.substr(0, colon);
  rest = split(s.substr(colon + 1), ':');
  return true;
}

bool parse_port(std::string_view s, uint64_t& port) {
  return parse_number(trim(s), 65535, port);
}

/// Splits "host:port" at its last ':' (the stored form of an address).
void host_and_port(const std::string& address, std::string& host,
                   std::string& port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos
      || (address.front() == '[' && colon > 0 && address[colon - 1] != ']')) {
    host = address;
    port = "0";
    return;
  }
  host = address.substr(0, colon);
  port = address.substr(colon + 1);
}

pb::MemberChange change(pb::MemberChange::Kind kind, const server_spec& s) {
  pb::MemberChange c;
  c.set_kind(kind);
  c.set_id(s.id.value());
  c.set_address(s.address);
  c.set_client_address(s.client_address);
  return c;
}

pb::MemberChange removal(node_id id) {
  pb::MemberChange c;
  c.set_kind(pb::MemberChange::REMOVE);
  c.set_id(id.value());
  return c;
}

reconfig_plan refuse(std::string message) {
  reconfig_plan p;
  p.error = err_bad_arguments;
  p.message = std::move(message);
  return p;
}

std::string server_name(node_id id) {
  return "server." + std::to_string(id.value());
}

/// Adds the changes `spec` needs against `current` to the right lists, or
/// says why it cannot be done.
std::string plan_one(const raft::configuration& current,
                     const server_spec& spec,
                     std::vector<pb::MemberChange>& additions,
                     std::vector<pb::MemberChange>& promotions) {
  auto existing = current.find(spec.id);
  bool participant = spec.role == raft::member_role::voter;
  if (existing == nullptr) {
    additions.push_back(change(participant ? pb::MemberChange::ADD_VOTER
                                           : pb::MemberChange::ADD_LEARNER,
                               spec));
    return {};
  }
  auto name = server_name(spec.id);
  if (existing->address != spec.address
      || (!spec.client_address.empty()
          && existing->client_address != spec.client_address))
    return "changing the address of " + name + " (" + existing->address
           + ") is not supported: remove it, then add it again";
  if (existing->role == spec.role)
    return {}; // as it is
  if (participant) {
    promotions.push_back(change(pb::MemberChange::PROMOTE, spec));
    return {};
  }
  return "making participant " + name
         + " an observer is not supported: remove it, then add it as an "
           "observer";
}

/// Removals: observers first, then participants, each in id order.
std::vector<pb::MemberChange> order_removals(const raft::configuration& current,
                                             std::vector<node_id> ids) {
  std::sort(ids.begin(), ids.end());
  std::stable_partition(ids.begin(), ids.end(),
                        [&](node_id id) { return current.is_learner(id); });
  std::vector<pb::MemberChange> out;
  for (auto id : ids)
    out.push_back(removal(id));
  return out;
}

/// Checks the whole sequence against `current` step by step, as the leader
/// will apply it.
std::string simulate(const raft::configuration& current,
                     const std::vector<pb::MemberChange>& changes) {
  auto config = current;
  for (const auto& c : changes) {
    raft::membership_change step;
    step.id = node_id{c.id()};
    step.address = c.address();
    step.client_address = c.client_address();
    std::vector<raft::membership_change::kind> kinds;
    switch (c.kind()) {
      case pb::MemberChange::ADD_VOTER:
        kinds = {raft::membership_change::kind::add_learner,
                 raft::membership_change::kind::promote};
        break;
      case pb::MemberChange::ADD_LEARNER:
        kinds = {raft::membership_change::kind::add_learner};
        break;
      case pb::MemberChange::PROMOTE:
        kinds = {raft::membership_change::kind::promote};
        break;
      default:
        kinds = {raft::membership_change::kind::remove};
        break;
    }
    for (auto k : kinds) {
      step.what = k;
      auto next = raft::apply_change(config, step);
      if (!next.config)
        return server_name(step.id) + ": " + next.error;
      config = std::move(*next.config);
    }
  }
  if (config.voter_count() == 0)
    return "the new configuration would have no participant";
  return {};
}

reconfig_plan finish(const raft::configuration& current,
                     std::vector<pb::MemberChange> additions,
                     std::vector<pb::MemberChange> promotions,
                     std::vector<pb::MemberChange> removals) {
  reconfig_plan plan;
  for (auto* list : {&additions, &promotions, &removals})
    for (auto& c : *list)
      plan.changes.push_back(std::move(c));
  if (auto err = simulate(current, plan.changes); !err.empty())
    return refuse(err);
  return plan;
}

} // namespace

std::string render_dynamic_config(const raft::configuration& config,
                                  uint64_t version) {
  std::string out;
  for (const auto& m : config.members) {
    std::string host, port;
    host_and_port(m.address, host, port);
    out += server_name(m.id) + "=" + host + ":" + port + ":" + port
           + (m.role == raft::member_role::learner ? ":observer"
                                                   : ":participant");
    if (!m.client_address.empty())
      out += ";" + m.client_address;
    out += "\n";
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  do {
    hex.insert(hex.begin(), digits[version & 0xF]);
    version >>= 4;
  } while (version != 0);
  return out + "version=" + hex;
}

bool parse_server_spec(std::string_view spec, server_spec& out,
                       std::string& error) {
  auto bad = [&](const std::string& why) {
    error = "bad server spec " + quoted(spec) + ": " + why;
    return false;
  };
  auto text = trim(spec);
  auto eq = text.find('=');
  if (eq == std::string_view::npos)
    return bad("expected server.ID=HOST:PORT[:PORT][:participant|observer]"
               "[;[CLIENTHOST:]CLIENTPORT]");
  auto key = trim(text.substr(0, eq));
  constexpr std::string_view prefix = "server.";
  if (key.substr(0, prefix.size()) != prefix)
    return bad("the key must be server.ID");
  server_spec s;
  if (!parse_id(key.substr(prefix.size()), s.id))
    return bad("the id must be a positive integer");
  auto value = trim(text.substr(eq + 1));
  auto parts = split(value, ';');
  if (parts.size() > 2)
    return bad("more than one ';'");
  auto server = trim(parts[0]);
  if (server.find('|') != std::string_view::npos)
    return bad("several addresses per server ('|') are not supported");
  std::string_view host;
  std::vector<std::string_view> rest;
  if (!split_host(server, host, rest) || !valid_host(host))
    return bad("invalid host");
  if (rest.empty())
    return bad("the peer port is missing");
  if (rest.size() > 3)
    return bad("too many ':' fields");
  uint64_t port = 0;
  if (!parse_port(rest[0], port))
    return bad("the peer port must be in 1..65535");
  size_t next = 1;
  uint64_t second = 0;
  if (next < rest.size() && parse_port(rest[next], second))
    ++next; // ZooKeeper's election port: Conclave has one peer port
  if (next < rest.size()) {
    std::string type{trim(rest[next])};
    std::transform(type.begin(), type.end(), type.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
    if (type == "participant")
      s.role = raft::member_role::voter;
    else if (type == "observer")
      s.role = raft::member_role::learner;
    else
      return bad("the role must be participant or observer");
    ++next;
  }
  if (next != rest.size())
    return bad("unexpected fields after the role");
  s.address = std::string{host} + ":" + std::to_string(port);
  if (parts.size() == 2) {
    auto client = trim(parts[1]);
    std::string_view chost;
    std::vector<std::string_view> crest;
    uint64_t cport = 0;
    if (!split_host(client, chost, crest))
      return bad("invalid client address");
    if (crest.empty()) { // a bare port
      if (!parse_port(chost, cport))
        return bad("the client port must be in 1..65535");
      chost = "0.0.0.0";
    } else if (crest.size() != 1 || !valid_host(chost)
               || !parse_port(crest[0], cport)) {
      return bad("the client part must be [HOST:]PORT");
    }
    s.client_address = std::string{chost} + ":" + std::to_string(cport);
  }
  out = std::move(s);
  return true;
}

namespace {

/// The framing both lists share: comma-separated items (empty ones
/// skipped), bounded in bytes and in entries, each parsed by `parse`, no id
/// twice (`name` says which one in the error).
template <class T, class Parse, class IdOf, class Name>
bool parse_list(std::string_view list, const char* what, const char* items,
                std::vector<T>& out, std::string& error, Parse parse,
                IdOf id_of, Name name) {
  out.clear();
  if (list.size() > max_reconfig_spec_bytes) {
    error = std::string{what} + " list of " + std::to_string(list.size())
            + " bytes is too long (at most "
            + std::to_string(max_reconfig_spec_bytes) + ")";
    return false;
  }
  for (auto item : split(list, ',')) {
    if (trim(item).empty())
      continue;
    if (out.size() >= raft::max_members) {
      error = "more than " + std::to_string(raft::max_members) + " " + items;
      return false;
    }
    T x;
    if (!parse(item, x, error))
      return false;
    for (const auto& o : out)
      if (id_of(o) == id_of(x)) {
        error = name(id_of(x)) + " is listed twice";
        return false;
      }
    out.push_back(std::move(x));
  }
  return true;
}

} // namespace

bool parse_server_list(std::string_view list, std::vector<server_spec>& out,
                       std::string& error) {
  return parse_list(
    list, "server", "servers", out, error,
    [](std::string_view item, server_spec& s, std::string& err) {
      return parse_server_spec(item, s, err);
    },
    [](const server_spec& s) { return s.id; }, server_name);
}

bool parse_id_list(std::string_view list, std::vector<node_id>& out,
                   std::string& error) {
  return parse_list(
    list, "id", "ids", out, error,
    [](std::string_view item, node_id& id, std::string& err) {
      if (parse_id(item, id))
        return true;
      err = "bad server id " + quoted(item) + ": expected a positive integer";
      return false;
    },
    [](node_id id) { return id; },
    [](node_id id) { return "server id " + std::to_string(id.value()); });
}

reconfig_plan plan_reconfig(const raft::configuration& current,
                            std::string_view joining, std::string_view leaving,
                            std::string_view new_members) {
  std::string error;
  std::vector<pb::MemberChange> additions, promotions;
  if (!trim(new_members).empty()) {
    if (!trim(joining).empty() || !trim(leaving).empty())
      return refuse("give either joining/leaving servers (incremental) or "
                    "new members (non-incremental), not both");
    std::vector<server_spec> wanted;
    if (!parse_server_list(new_members, wanted, error))
      return refuse(error);
    if (wanted.empty())
      return refuse("the new member list is empty");
    std::vector<node_id> leave;
    for (const auto& m : current.members)
      if (std::none_of(wanted.begin(), wanted.end(),
                       [&](const server_spec& s) { return s.id == m.id; }))
        leave.push_back(m.id);
    for (const auto& s : wanted)
      if (auto err = plan_one(current, s, additions, promotions); !err.empty())
        return refuse(err);
    return finish(current, std::move(additions), std::move(promotions),
                  order_removals(current, std::move(leave)));
  }
  std::vector<server_spec> join;
  std::vector<node_id> leave;
  if (!parse_server_list(joining, join, error)
      || !parse_id_list(leaving, leave, error))
    return refuse(error);
  if (join.empty() && leave.empty())
    return refuse("nothing to change: no joining, leaving or new members");
  for (const auto& s : join)
    if (std::find(leave.begin(), leave.end(), s.id) != leave.end())
      return refuse(server_name(s.id) + " is both joining and leaving");
  for (auto id : leave)
    if (!current.contains(id))
      return refuse(server_name(id) + " is not a member");
  for (const auto& s : join)
    if (auto err = plan_one(current, s, additions, promotions); !err.empty())
      return refuse(err);
  return finish(current, std::move(additions), std::move(promotions),
                order_removals(current, std::move(leave)));
}

} // namespace conclave::zk
