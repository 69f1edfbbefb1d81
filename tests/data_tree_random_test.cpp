// Randomized differential test: one seeded command stream goes to two
// data_trees and to a naive reference model (a std::map from full path to
// node, each with its full ACL; multis applied to a copy). Commands carry
// random identities, ACLs (valid and not) and setACL / deleteContainer, so
// permission checks, ACL fix-up and the trees' shared ACL table (reference
// counts through multi rollbacks, reuse of freed lists) are exercised. After
// every command the results, events, digests, reads and ACLs must agree;
// one tree is regularly replaced by a reload of its own snapshot.

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "runtime/data_tree.hpp"
#include "runtime/path.hpp"

#include "tests/support/printers.hpp"

using namespace conclave;

namespace {

// -- reference model
// ------------------------------------------------------------

struct model_node {
  std::string data;
  conclave::stat stat;
  int32_t child_creates = 0; ///< names sequential children
  std::vector<acl_entry> acl = open_acl_unsafe();
};

using model_map = std::map<std::string, model_node>;

std::string parent_of(const std::string& p) {
  auto last = p.rfind('/');
  return last == 0 ? "/" : p.substr(0, last);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

/// Built-in nodes that cannot be deleted (ZooKeeper 3.8's answers).
bool protected_node(const std::string& p) {
  return p == "/zookeeper" || p == "/zookeeper/quota"
         || p == "/zookeeper/config";
}

bool owned_by_session(int64_t owner) {
  return owner != 0 && owner != INT64_MIN
         && (static_cast<uint64_t>(owner) >> 56) != 0xFF;
}

error_code fail(op_result& r, error_code e) {
  r.error = e;
  return e;
}

/// ZooKeeper semantics, written the obvious way.
class model {
public:
  explicit model(data_tree_limits limits) : limits_(limits) {
    nodes["/"].stat.num_children = 1;
    nodes["/zookeeper"].stat.num_children = 2;
    nodes["/zookeeper/quota"];
    nodes["/zookeeper/config"];
  }

  model_map nodes;

  apply_result apply(const command& cmd, int64_t z, int64_t time) {
    ctx c{cmd.session.value(), z, time, &cmd.auth};
    apply_result out;
    if (auto* m = std::get_if<multi_op>(&cmd.body)) {
      apply_multi(*m, c, out);
    } else if (std::holds_alternative<close_session_op>(cmd.body)) {
      close_session(c, out);
    } else {
      std::vector<tree_event> events;
      auto r = std::visit(
        [&](const auto& op) -> op_result {
          using T = std::decay_t<decltype(op)>;
          if constexpr (names_a_path_v<T>)
            return run(nodes, op, c, events);
          else
            return {};
        },
        cmd.body);
      out.error = r.error;
      out.results.push_back(r);
      if (r.error == error_code::ok)
        out.events = std::move(events);
    }
    return out;
  }

  std::vector<std::string> children(const std::string& p) const {
    std::vector<std::string> out;
    auto prefix = p == "/" ? p : p + "/";
    for (auto i = nodes.lower_bound(prefix);
         i != nodes.end() && starts_with(i->first, prefix); ++i)
      if (i->first.size() > prefix.size()
          && i->first.find('/', prefix.size()) == std::string::npos)
        out.push_back(i->first.substr(prefix.size()));
    return out;
  }

  std::vector<std::string> ephemerals(int64_t session) const {
    std::vector<std::string> out;
    for (const auto& [p, n] : nodes)
      if (n.stat.ephemeral_owner == session && owned_by_session(session))
        out.push_back(p);
    return out;
  }

  size_t ephemeral_count() const {
    size_t count = 0;
    for (const auto& entry : nodes)
      count += owned_by_session(entry.second.stat.ephemeral_owner) ? 1 : 0;
    return count;
  }

  size_t data_bytes() const {
    size_t bytes = 0;
    for (const auto& [p, n] : nodes)
      bytes += p.size() + n.data.size();
    return bytes;
  }

  /// A container that had children and has none, or a TTL node without
  /// children whose TTL has passed since its last change.
  static bool due(const model_node& n, int64_t now) {
    const auto& s = n.stat;
    auto u = static_cast<uint64_t>(s.ephemeral_owner);
    if (s.num_children != 0)
      return false;
    if (s.ephemeral_owner == INT64_MIN)
      return s.cversion > 0;
    return (u >> 56) == 0xFF
           && s.mtime_ms + static_cast<int64_t>(u & 0xFFFFFFFFFFULL) < now;
  }

  std::vector<std::string> cleanup_candidates(int64_t now) const {
    std::vector<std::string> out;
    for (const auto& [p, n] : nodes)
      if (due(n, now))
        out.push_back(p);
    return out;
  }

private:
  struct ctx {
    int64_t session;
    int64_t zxid;
    int64_t time;
    const auth_info* who;
  };

  static bool may(const model_node& n, int32_t perm, const ctx& c) {
    return allowed(n.acl, perm, *c.who);
  }

  data_tree_limits limits_;

  void apply_multi(const multi_op& m, const ctx& c, apply_result& out) {
    auto copy = nodes;
    std::vector<tree_event> events;
    for (size_t i = 0; i < m.ops.size(); ++i) {
      auto r = std::visit(
        [&](const auto& op) { return run(copy, op, c, events); }, m.ops[i]);
      if (r.error != error_code::ok) {
        out.error = r.error;
        out.results.assign(m.ops.size(), op_result{});
        out.results[i].error = r.error;
        for (auto j = i + 1; j < m.ops.size(); ++j)
          out.results[j].error = error_code::runtime_inconsistency;
        return;
      }
      out.results.push_back(r);
    }
    nodes = std::move(copy);
    out.events = std::move(events);
  }

  void close_session(const ctx& c, apply_result& out) {
    for (const auto& p : ephemerals(c.session))
      erase(nodes, p, c, out.events);
    out.results.emplace_back();
  }

  static void erase(model_map& m, const std::string& p, const ctx& c,
                    std::vector<tree_event>& events) {
    m.erase(p);
    auto& parent = m.at(parent_of(p)).stat;
    parent.pzxid = c.zxid;
    parent.cversion += 1;
    parent.num_children -= 1;
    events.push_back({event_type::node_deleted, p});
    events.push_back({event_type::node_children_changed, parent_of(p)});
  }

  bool bad_create_request(const create_op& op, int64_t session) const {
    auto seq = is_sequential(op.mode);
    auto m = static_cast<int32_t>(op.mode);
    auto ttl_ok = is_ttl(op.mode) ? op.ttl_ms > 0 && op.ttl_ms <= 0xFFFFFFFFFFLL
                                  : op.ttl_ms == 0;
    return path::validate_for_create(op.path, seq, limits_.max_path_bytes)
             != error_code::ok
           || op.data.size() > limits_.max_data_bytes || m < 0 || m > 6
           || !ttl_ok || (is_ephemeral(op.mode) && !owned_by_session(session));
  }

  op_result run(model_map& m, const create_op& op, const ctx& c,
                std::vector<tree_event>& events) {
    op_result r;
    if (bad_create_request(op, c.session)) {
      fail(r, error_code::bad_arguments);
      return r;
    }
    auto acl = open_acl_unsafe();
    if (!op.acl.empty()) {
      auto fixed = fixup_acl(op.acl, *c.who);
      if (!fixed) {
        fail(r, fixed.error());
        return r;
      }
      acl = *fixed;
    }
    auto parent_path = parent_of(op.path);
    auto parent = m.find(parent_path);
    if (parent == m.end()) {
      fail(r, error_code::no_node);
      return r;
    }
    if (!may(parent->second, acl_perms::create, c)) {
      fail(r, error_code::no_auth);
      return r;
    }
    auto full = op.path;
    if (is_sequential(op.mode)) {
      char buf[16];
      std::snprintf(buf, sizeof(buf), "%010d", parent->second.child_creates);
      full += buf;
    }
    if (full.size() > limits_.max_path_bytes)
      fail(r, error_code::bad_arguments);
    else if (m.count(full) != 0)
      fail(r, error_code::node_exists);
    else if (owned_by_session(parent->second.stat.ephemeral_owner))
      fail(r, error_code::no_children_for_ephemerals);
    if (r.error != error_code::ok)
      return r;
    parent->second.child_creates += 1;
    auto& ps = parent->second.stat;
    ps.cversion += 1;
    ps.pzxid = c.zxid;
    ps.num_children += 1;
    model_node n;
    n.acl = acl;
    n.data = op.data;
    n.stat.czxid = n.stat.mzxid = n.stat.pzxid = c.zxid;
    n.stat.ctime_ms = n.stat.mtime_ms = c.time;
    n.stat.data_length = static_cast<int32_t>(op.data.size());
    if (op.mode == create_mode::container)
      n.stat.ephemeral_owner = INT64_MIN;
    else if (is_ttl(op.mode))
      n.stat.ephemeral_owner = static_cast<int64_t>(
        0xFF00000000000000ULL | static_cast<uint64_t>(op.ttl_ms));
    else if (is_ephemeral(op.mode))
      n.stat.ephemeral_owner = c.session;
    r.path = full;
    r.stat = n.stat;
    m[full] = std::move(n);
    events.push_back({event_type::node_created, full});
    events.push_back({event_type::node_children_changed, parent_path});
    return r;
  }

  op_result run(model_map& m, const delete_op& op, const ctx& c,
                std::vector<tree_event>& events) {
    op_result r;
    auto i = m.find(op.path);
    auto parent = m.end();
    if (path::validate(op.path, limits_.max_path_bytes) != error_code::ok
        || op.path == "/" || protected_node(op.path))
      fail(r, error_code::bad_arguments);
    else if ((parent = m.find(parent_of(op.path))) == m.end())
      fail(r, error_code::no_node);
    else if (!may(parent->second, acl_perms::del, c))
      fail(r, error_code::no_auth);
    else if (i == m.end())
      fail(r, error_code::no_node);
    else if (op.version != -1 && op.version != i->second.stat.version)
      fail(r, error_code::bad_version);
    else if (i->second.stat.num_children != 0)
      fail(r, error_code::not_empty);
    else
      erase(m, op.path, c, events);
    return r;
  }

  op_result run(model_map& m, const set_data_op& op, const ctx& c,
                std::vector<tree_event>& events) {
    op_result r;
    auto i = m.find(op.path);
    if (path::validate(op.path, limits_.max_path_bytes) != error_code::ok
        || op.data.size() > limits_.max_data_bytes)
      fail(r, error_code::bad_arguments);
    else if (op.path == "/zookeeper/config")
      fail(r, error_code::no_auth);
    else if (i == m.end())
      fail(r, error_code::no_node);
    else if (!may(i->second, acl_perms::write, c))
      fail(r, error_code::no_auth);
    else if (op.version != -1 && op.version != i->second.stat.version)
      fail(r, error_code::bad_version);
    if (r.error != error_code::ok)
      return r;
    auto& n = i->second;
    n.data = op.data;
    n.stat.version += 1;
    n.stat.mzxid = c.zxid;
    n.stat.mtime_ms = c.time;
    n.stat.data_length = static_cast<int32_t>(op.data.size());
    r.stat = n.stat;
    events.push_back({event_type::node_data_changed, op.path});
    return r;
  }

  op_result run(model_map& m, const check_op& op, const ctx& c,
                std::vector<tree_event>&) {
    op_result r;
    auto i = m.find(op.path);
    if (path::validate(op.path, limits_.max_path_bytes) != error_code::ok)
      fail(r, error_code::bad_arguments);
    else if (i == m.end())
      fail(r, error_code::no_node);
    else if (!may(i->second, acl_perms::read, c))
      fail(r, error_code::no_auth);
    else if (op.version != -1 && op.version != i->second.stat.version)
      fail(r, error_code::bad_version);
    return r;
  }

  op_result run(model_map& m, const set_acl_op& op, const ctx& c,
                std::vector<tree_event>&) {
    op_result r;
    if (path::validate(op.path, limits_.max_path_bytes) != error_code::ok) {
      fail(r, error_code::bad_arguments);
      return r;
    }
    auto fixed = fixup_acl(op.acl, *c.who);
    auto i = m.find(op.path);
    if (!fixed)
      fail(r, fixed.error());
    else if (i == m.end())
      fail(r, error_code::no_node);
    else if (!may(i->second, acl_perms::admin, c))
      fail(r, error_code::no_auth);
    else if (op.version != -1 && op.version != i->second.stat.aversion)
      fail(r, error_code::bad_version);
    if (r.error != error_code::ok)
      return r;
    i->second.acl = *fixed;
    i->second.stat.aversion += 1;
    r.stat = i->second.stat;
    return r;
  }

  op_result run(model_map& m, const delete_container_op& op, const ctx& c,
                std::vector<tree_event>& events) {
    op_result r;
    auto i = m.find(op.path);
    if (path::validate(op.path, limits_.max_path_bytes) != error_code::ok
        || op.path == "/" || protected_node(op.path)) {
      fail(r, error_code::bad_arguments);
      return r;
    }
    if (i == m.end()) {
      fail(r, error_code::no_node);
      return r;
    }
    auto owner = i->second.stat.ephemeral_owner;
    auto expirable
      = owner == INT64_MIN
        || (owner != 0 && (static_cast<uint64_t>(owner) >> 56) == 0xFF);
    if (!may(m.at(parent_of(op.path)), acl_perms::del, c))
      fail(r, error_code::no_auth);
    else if (i->second.stat.num_children != 0)
      fail(r, error_code::not_empty);
    else if (!expirable)
      fail(r, error_code::bad_arguments);
    else if (!due(i->second, c.time))
      fail(r, error_code::bad_version);
    else
      erase(m, op.path, c, events);
    return r;
  }
};

// -- comparisons: first difference, or ""
// -----------------------------------------

std::string describe(const conclave::stat& s) {
  std::ostringstream out;
  out << "{czxid " << s.czxid << " mzxid " << s.mzxid << " ctime " << s.ctime_ms
      << " mtime " << s.mtime_ms << " version " << s.version << " cversion "
      << s.cversion << " aversion " << s.aversion << " owner "
      << s.ephemeral_owner << " data_length " << s.data_length
      << " num_children " << s.num_children << " pzxid " << s.pzxid << "}";
  return out.str();
}

std::string diff(const apply_result& got, const apply_result& want) {
  std::ostringstream out;
  if (got.error != want.error)
    out << "error " << to_snake_name(got.error)
        << " != " << to_snake_name(want.error);
  else if (got.results.size() != want.results.size())
    out << "result count " << got.results.size()
        << " != " << want.results.size();
  else if (got.events != want.events)
    out << "events differ (" << got.events.size() << " vs "
        << want.events.size() << ")";
  for (size_t i = 0; out.tellp() == 0 && i < got.results.size(); ++i) {
    const auto& a = got.results[i];
    const auto& b = want.results[i];
    if (a.error != b.error || a.path != b.path || a.stat != b.stat)
      out << "result " << i << ": " << to_snake_name(a.error) << " '" << a.path
          << "' " << describe(a.stat) << " != " << to_snake_name(b.error)
          << " '" << b.path << "' " << describe(b.stat);
  }
  return out.str();
}

std::string diff(const data_tree& tree, const model& m,
                 const std::vector<std::string>& universe, int64_t now) {
  std::ostringstream out;
  for (const auto& [p, n] : m.nodes) {
    auto d = tree.get_data(p);
    auto c = tree.get_children(p);
    if (!d || !c)
      return "missing " + p;
    if (d->data != n.data || d->stat != n.stat)
      return p + ": " + describe(d->stat) + " '" + d->data
             + "' != " + describe(n.stat) + " '" + n.data + "'";
    if (c->names != m.children(p) || c->stat != n.stat)
      return "children of " + p + " differ";
    if (tree.exists(p).value() != n.stat)
      return "exists " + p;
    auto acl = tree.get_acl(p);
    if (!acl || acl->acl != n.acl || acl->stat != n.stat)
      return "ACL of " + p;
  }
  for (const auto& p : universe)
    if (m.nodes.count(p) == 0 && tree.exists(p).error() != error_code::no_node)
      return "unexpected " + p;
  if (tree.node_count() != m.nodes.size())
    return "node_count";
  if (tree.ephemeral_count() != m.ephemeral_count())
    return "ephemeral_count";
  if (tree.approximate_data_bytes() != m.data_bytes())
    return "approximate_data_bytes";
  if (tree.count_descendants("/").value()
      != static_cast<int64_t>(m.nodes.size() - 1))
    return "count_descendants";
  for (int64_t s = 0; s <= 3; ++s)
    if (tree.get_ephemerals(session_id{s}) != m.ephemerals(s))
      return "ephemerals of session " + std::to_string(s);
  for (auto later : {0, 500, 5000})
    if (tree.cleanup_candidates(now + later)
        != m.cleanup_candidates(now + later))
      return "cleanup_candidates at +" + std::to_string(later);
  return {};
}

// -- command generator
// ------------------------------------------------------------

class generator {
public:
  explicit generator(uint64_t seed) : rng_(seed) {}

  command next(const model& m) {
    command cmd;
    cmd.session = session_id{session()};
    auto dice = pick(100);
    if (dice < 35)
      cmd.body = create(m);
    else if (dice < 55)
      cmd.body = remove(m);
    else if (dice < 75)
      cmd.body = set(m);
    else if (dice < 80)
      cmd.body = check(m);
    else if (dice < 90)
      cmd.body = multi(m);
    else if (dice < 94)
      cmd.body = set_acl(m);
    else if (dice < 97)
      cmd.body = delete_container_op{target(m)};
    else
      cmd.body = close_session_op{};
    cmd.auth = auth();
    return cmd;
  }

  int64_t pick(int64_t n) {
    return std::uniform_int_distribution<int64_t>{0, n - 1}(rng_);
  }

  const std::vector<std::string> universe{
    "/a", "/b", "/c", "/a/x", "/a/y", "/b/x", "/a/x/q", "/b/x/q", "/c/z"};

private:
  std::mt19937_64 rng_;
  /// Inside multis most ops are well-formed, so that long multis succeed or
  /// fail late, after several applied ops.
  bool clean_ = false;

  const std::vector<std::string> sequential_bases_{"/a/s-", "/b/", "/", "/a/x/",
                                                   "/c/n"};
  const std::vector<std::string> odd_paths_{
    "/a/",        "//",           "",
    "/zookeeper", "/zookeeper/z", "/zookeeper/quota",
    "/a/./b",     "/zookeeper/"};

  static acl_id digest(const char* user_password) {
    return acl_id{"digest", digest_of(user_password)};
  }

  /// Who issues the command: nobody in particular, alice and/or bob (by
  /// digest), a client address, rarely the node itself.
  auth_info auth() {
    auth_info who;
    auto dice = pick(20);
    if (dice < 6)
      return who;
    if (dice < 10)
      who.ids.push_back(digest("alice:pw"));
    else if (dice < 13)
      who.ids.push_back(digest("bob:pw"));
    else if (dice < 15)
      who.ids = {digest("bob:pw"), digest("alice:pw")};
    who.client_ip = pick(2) == 0 ? "127.0.0.1" : "10.1.2.3";
    who.super = dice == 19;
    return who;
  }

  /// An ACL: empty (open) about half the time, else one of a few lists that
  /// grant some identities some permissions, or (outside multis, 1 in 8)
  /// an invalid one.
  std::vector<acl_entry> acl() {
    auto world = acl_id{"world", "anyone"};
    auto dice = pick(clean_ ? 16 : 24);
    switch (dice) {
      case 0:
        return {{acl_perms::read, world}};
      case 1:
        return {{acl_perms::all, digest("alice:pw")}};
      case 2:
        return {{acl_perms::read | acl_perms::write, digest("bob:pw")},
                {acl_perms::read, world}};
      case 3:
        return {{acl_perms::all, acl_id{"ip", "127.0.0.1"}}};
      case 4:
        return {
          {acl_perms::create | acl_perms::del, acl_id{"ip", "10.0.0.0/8"}},
          {acl_perms::read | acl_perms::admin, world}};
      case 5:
        return {{acl_perms::all, acl_id{"auth", ""}}};
      case 6:
        return {{acl_perms::all, world}, {acl_perms::all, world}};
      case 7:
        return {{acl_perms::admin, digest("bob:pw")},
                {acl_perms::create | acl_perms::read, world}};
      case 16:
        return {{acl_perms::read, acl_id{"world", "someone"}}};
      case 17:
        return {{acl_perms::read, acl_id{"ip", "300.1.1.1"}}};
      case 18:
        return {{acl_perms::all, acl_id{"x509", "cn"}}};
      default:
        return {};
    }
  }

  set_acl_op set_acl(const model& m) {
    auto p = target(m);
    auto list = acl();
    if (list.empty())
      list = pick(4) == 0 ? std::vector<acl_entry>{} : open_acl_unsafe();
    auto i = m.nodes.find(p);
    int32_t v = any_version;
    if (i != m.nodes.end() && pick(3) != 0)
      v = i->second.stat.aversion + static_cast<int32_t>(pick(5) == 0);
    return set_acl_op{p, list, v};
  }

  const std::string& any_of(const std::vector<std::string>& v) {
    return v[static_cast<size_t>(pick(static_cast<int64_t>(v.size())))];
  }

  int64_t session() {
    if (pick(50) == 0)
      return INT64_MIN; // a session id no ephemeral may use
    return pick(4);
  }

  std::string data() {
    if (!clean_ && pick(20) == 0)
      return std::string(13, 'X'); // over the 12-byte limit
    return std::string(static_cast<size_t>(pick(5)),
                       static_cast<char>('a' + pick(3)));
  }

  std::string existing(const model& m) {
    auto i = m.nodes.begin();
    std::advance(i, pick(static_cast<int64_t>(m.nodes.size())));
    return i->first;
  }

  std::string target(const model& m) {
    auto dice = pick(10);
    if (dice < 5 || (clean_ && dice < 8))
      return existing(m);
    return dice < 9 || clean_ ? any_of(universe) : any_of(odd_paths_);
  }

  /// A deletable node, if there is one.
  std::string leaf(const model& m) {
    std::vector<std::string> leaves;
    for (const auto& [p, n] : m.nodes)
      if (n.stat.num_children == 0 && !protected_node(p))
        leaves.push_back(p);
    return leaves.empty() ? any_of(universe) : any_of(leaves);
  }

  /// A universe path that's absent but whose parent exists, if any.
  std::string creatable(const model& m) {
    std::vector<std::string> paths;
    for (const auto& p : universe)
      if (m.nodes.count(p) == 0 && m.nodes.count(parent_of(p)) != 0)
        paths.push_back(p);
    return paths.empty() ? any_of(universe) : any_of(paths);
  }

  int32_t version(const model& m, const std::string& p) {
    auto dice = pick(20);
    auto i = m.nodes.find(p);
    if (clean_ && i != m.nodes.end())
      return dice < 10 ? any_version : i->second.stat.version;
    if (dice < 12 || i == m.nodes.end())
      return dice < 16 ? any_version : static_cast<int32_t>(pick(3));
    return dice < 18 ? i->second.stat.version : i->second.stat.version + 1;
  }

  create_op create(const model& m) {
    auto mode = static_cast<create_mode>(pick(50) == 0 ? 7 : pick(7));
    if (clean_)
      mode = static_cast<create_mode>(pick(7));
    auto seq = is_sequential(mode);
    auto dice = pick(20);
    auto path = dice < 2 && !clean_ ? any_of(odd_paths_)
                : seq && dice < 15  ? any_of(sequential_bases_)
                : clean_            ? creatable(m)
                                    : any_of(universe);
    int64_t ttl = 0;
    if (is_ttl(mode)) {
      int64_t odd[] = {0, -5, max_ttl_ms, max_ttl_ms + 1};
      ttl = pick(10) < 8 || clean_ ? 1 + pick(3000) : odd[pick(4)];
    } else if (!clean_ && pick(20) == 0) {
      ttl = 7;
    }
    return create_op{path, data(), mode, ttl, acl()};
  }

  delete_op remove(const model& m) {
    auto p = clean_ ? leaf(m) : target(m);
    return delete_op{p, version(m, p)};
  }

  set_data_op set(const model& m) {
    auto p = target(m);
    return set_data_op{p, data(), version(m, p)};
  }

  check_op check(const model& m) {
    auto p = target(m);
    return check_op{p, version(m, p)};
  }

  multi_op multi(const model& m) {
    multi_op out;
    auto n = pick(7);
    for (int64_t i = 0; i < n; ++i) {
      clean_ = pick(10) < 9;
      auto dice = pick(10);
      if (dice < 4)
        out.ops.emplace_back(create(m));
      else if (dice < 6)
        out.ops.emplace_back(remove(m));
      else if (dice < 9)
        out.ops.emplace_back(set(m));
      else
        out.ops.emplace_back(check(m));
    }
    clean_ = false;
    return out;
  }
};

} // namespace

TEST_CASE("data_tree: random command streams match a reference model",
          "[data_tree]") {
  auto seed = GENERATE(as<uint64_t>{}, 1, 2, 3, 42, 20240601);
  CAPTURE(seed);
  const data_tree_limits limits{12, 64};
  data_tree a{limits};
  data_tree b{limits};
  model m{limits};
  generator gen{seed};
  int64_t z = 0;
  int64_t now = 1'000'000;
  size_t failures = 0;
  size_t multis = 0;
  size_t no_auths = 0;
  size_t acls_stored = 0;
  for (int step = 0; step < 2000; ++step) {
    z += 1 + gen.pick(3);
    now += gen.pick(40);
    auto cmd = gen.next(m);
    auto got_a = a.apply(cmd, zxid{z}, now);
    auto got_b = b.apply(cmd, zxid{z}, now);
    auto want = m.apply(cmd, z, now);
    failures += want.error != error_code::ok ? 1 : 0;
    no_auths += want.error == error_code::no_auth ? 1 : 0;
    acls_stored = std::max(acls_stored, a.acl_count());
    multis += std::holds_alternative<multi_op>(cmd.body) ? 1 : 0;
    INFO("step " << step << ", zxid " << z << ", body index "
                 << cmd.body.index());
    auto problem = diff(got_a, want);
    if (problem.empty())
      problem = diff(got_b, got_a);
    if (problem.empty() && a.digest() != b.digest())
      problem = "digests differ";
    if (problem.empty() && a.last_zxid() != zxid{z})
      problem = "last_zxid";
    if (problem.empty())
      problem = diff(a, m, gen.universe, now);
    if (!problem.empty())
      FAIL(problem);
    if (step % 500 == 499) { // moves keep everything
      data_tree moved{std::move(b)};
      b = std::move(moved);
    }
    if (step % 300 == 150) { // so does a snapshot, ACL table included
      std::string bytes;
      REQUIRE(b.save([&](std::string_view chunk) {
        bytes.append(chunk);
        return true;
      }));
      size_t at = 0;
      auto loaded = data_tree::load(
        [&](char* out, size_t n) {
          auto k = std::min(n, bytes.size() - at);
          std::copy_n(bytes.data() + at, k, out);
          at += k;
          return k;
        },
        limits);
      REQUIRE(loaded.ok());
      REQUIRE(loaded->digest() == b.digest());
      b = std::move(loaded).value();
    }
  }
  // The stream must exercise both outcomes heavily.
  CHECK(failures > 300);
  CHECK(failures < 1700);
  CHECK(multis > 150);
  CHECK(no_auths > 50);
  CHECK(acls_stored > 0);
  CHECK(m.nodes.size() > 10);
}
