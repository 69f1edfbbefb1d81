#include "runtime/data_tree.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>

#include <boost/crc.hpp>

#include "runtime/path.hpp"

// Semantics follow ZooKeeper (DataTree.java, PrepRequestProcessor.java):
//
// Sequential names: the suffix is the number of child creates the parent has
// seen before this one (node::child_seq), formatted "%010d". cversion counts
// child creates *and* deletes. Both were measured against Apache ZooKeeper
// 3.8 (Debian's zookeeper package, via kazoo): create /q/a, create /q/b,
// delete /q/a gives cversion 3, and the next sequential create under /q is
// /q/s-0000000002. Sequence numbers therefore never repeat under a parent,
// and deletes do not advance them.
//
// Protected built-in nodes, as ZooKeeper 3.8 answers: deleting "/",
// "/zookeeper", "/zookeeper/quota" or "/zookeeper/config" is bad_arguments;
// setting "/zookeeper/config" is no_auth (ZooKeeper protects it by ACL).
// Everything else below "/zookeeper" is an ordinary node.
//
// Check order per op (first failure wins): request shape (path syntax, data
// size, mode/TTL/session, reserved "/zookeeper" subtree: bad_arguments), then
// tree state in ZooKeeper's order. ZooKeeper's client library rejects bad
// paths before sending; here the tree does it, with bad_arguments.

namespace conclave {

namespace {

[[noreturn]] void invariant_failure(const char* what) {
  std::fprintf(stderr, "data_tree: broken invariant: %s\n", what);
  std::abort();
}

/// What ephemeralOwner says a node is (ZooKeeper's EphemeralType).
enum class node_kind : uint8_t { persistent, ephemeral, container, ttl };

node_kind kind_of(int64_t owner) noexcept {
  if (owner == 0)
    return node_kind::persistent;
  if (is_container_owner(owner))
    return node_kind::container;
  if (is_ttl_owner(owner))
    return node_kind::ttl;
  return node_kind::ephemeral;
}

int64_t ttl_of(int64_t owner) noexcept {
  return static_cast<int64_t>(static_cast<uint64_t>(owner)
                              & 0x000000FFFFFFFFFFULL);
}

bool valid_mode(create_mode mode) noexcept {
  auto m = static_cast<int32_t>(mode);
  return m >= 0
         && m <= static_cast<int32_t>(
              create_mode::persistent_sequential_with_ttl);
}

int64_t owner_for(const create_op& op, int64_t session) noexcept {
  if (op.mode == create_mode::container)
    return container_ephemeral_owner;
  if (is_ttl(op.mode))
    return ttl_ephemeral_owner(op.ttl_ms);
  return is_ephemeral(op.mode) ? session : 0;
}

/// Java int arithmetic: wraps instead of overflowing.
int32_t wrapping_inc(int32_t x) noexcept {
  return static_cast<int32_t>(static_cast<uint32_t>(x) + 1u);
}

/// PrepRequestProcessor.checkAndIncVersion: the successor skips -1, which
/// clients use as "any version".
int32_t next_version(int32_t v) noexcept {
  auto next = wrapping_inc(v);
  return next == any_version ? 0 : next;
}

bool version_matches(int32_t expected, int32_t actual) noexcept {
  return expected == any_version || expected == actual;
}

op_result failed(error_code err) {
  op_result r;
  r.error = err;
  return r;
}

/// FNV-1a over the name, seeded with the parent index, then MurmurHash3's
/// finalizer. Well defined on every platform, unlike std::hash.
uint64_t child_hash(uint32_t parent, std::string_view name) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL ^ (parent * 0x9E3779B97F4A7C15ULL);
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

/// CRC-64/XZ.
using crc64
  = boost::crc_optimal<64, 0x42F0E1EBA9EA3693ULL, 0xFFFFFFFFFFFFFFFFULL,
                       0xFFFFFFFFFFFFFFFFULL, true, true>;

void put_u64(crc64& crc, uint64_t x) {
  unsigned char buf[8];
  for (int i = 0; i < 8; ++i)
    buf[i] = static_cast<unsigned char>(x >> (8 * i));
  crc.process_bytes(buf, sizeof(buf));
}

void put_bytes(crc64& crc, std::string_view s) {
  put_u64(crc, s.size());
  crc.process_bytes(s.data(), s.size());
}

void put_stat(crc64& crc, const stat& s) {
  for (int64_t x :
       {s.czxid, s.mzxid, s.ctime_ms, s.mtime_ms, int64_t{s.version},
        int64_t{s.cversion}, int64_t{s.aversion}, s.ephemeral_owner,
        int64_t{s.data_length}, int64_t{s.num_children}, s.pzxid})
    put_u64(crc, static_cast<uint64_t>(x));
}

} // namespace

// -- construction -------------------------------------------------------------

data_tree::data_tree(data_tree_limits limits) : limits_(limits) {
  bool recycled;
  allocate_node(recycled); // the root: node 0, all-zero stat
  node_count_ = 1;
  data_bytes_ = path::root.size();
  auto zk = add_builtin(root_index, path::reserved_root.substr(1));
  add_builtin(zk, "quota");
  add_builtin(zk, "config");
}

uint32_t data_tree::add_builtin(uint32_t parent, std::string_view name) {
  bool recycled;
  auto index = allocate_node(recycled);
  nodes_[index].name = std::string{name};
  nodes_[index].parent = parent;
  link(index, nil);
  return index;
}

// -- writes -------------------------------------------------------------------

apply_result data_tree::apply(const command& cmd, zxid id, int64_t time_ms) {
  if (id <= last_zxid_)
    invariant_failure("apply: zxid not greater than last_zxid()");
  last_zxid_ = id;
  std::vector<tree_event> events;
  txn t{cmd.session.value(), cmd.auth, id.value(), time_ms, events, nullptr};
  return std::visit(
    [&](const auto& body) -> apply_result {
      using body_type = std::decay_t<decltype(body)>;
      if constexpr (std::is_same_v<body_type, multi_op>) {
        return run_multi(body, t);
      } else if constexpr (std::is_same_v<body_type, close_session_op>) {
        return run_close_session(t);
      } else if constexpr (std::is_same_v<body_type, open_session_op>) {
        // The session table records the session; the tree only moves its
        // last zxid.
        apply_result out;
        out.results.emplace_back();
        return out;
      } else {
        apply_result out;
        out.results.push_back(run(body, t));
        out.error = out.results.back().error;
        out.events = std::move(events);
        return out;
      }
    },
    cmd.body);
}

apply_result data_tree::set_config(std::string data, zxid id, int64_t time_ms) {
  if (id <= last_zxid_)
    invariant_failure("set_config: zxid not greater than last_zxid()");
  last_zxid_ = id;
  apply_result out;
  auto index = find(path::config_node);
  if (index == nil)
    invariant_failure("set_config: /zookeeper/config is missing");
  if (data.size() > limits_.max_data_bytes) {
    out.error = error_code::bad_arguments;
    out.results.push_back(op_result{out.error, {}, {}});
    return out;
  }
  auto& n = nodes_[index];
  data_bytes_ = data_bytes_ - n.data.size() + data.size();
  n.data = std::move(data);
  n.stat.version = next_version(n.stat.version);
  n.stat.mzxid = id.value();
  if (time_ms != 0)
    n.stat.mtime_ms = time_ms;
  n.stat.data_length = static_cast<int32_t>(n.data.size());
  out.results.push_back(op_result{error_code::ok, {}, n.stat});
  out.events.push_back(
    {event_type::node_data_changed, std::string{path::config_node}});
  return out;
}

void data_tree::reset_config(std::string data) {
  auto index = find(path::config_node);
  if (index == nil)
    invariant_failure("reset_config: /zookeeper/config is missing");
  if (data.size() > limits_.max_data_bytes)
    return;
  auto& n = nodes_[index];
  data_bytes_ = data_bytes_ - n.data.size() + data.size();
  n.data = std::move(data);
  n.stat.data_length = static_cast<int32_t>(n.data.size());
}

error_code data_tree::check_create(const create_op& op, int64_t session) const {
  auto seq = is_sequential(op.mode);
  auto bad = error_code::bad_arguments;
  if (path::validate_for_create(op.path, seq, limits_.max_path_bytes)
      != error_code::ok)
    return bad;
  if (op.data.size() > limits_.max_data_bytes || !valid_mode(op.mode))
    return bad;
  if (is_ttl(op.mode) ? (op.ttl_ms <= 0 || op.ttl_ms > max_ttl_ms)
                      : op.ttl_ms != 0)
    return bad;
  // The owner must read back as a session, not as a container/TTL marker.
  if (is_ephemeral(op.mode) && kind_of(session) != node_kind::ephemeral)
    return bad;
  return error_code::ok;
}

bool data_tree::may(uint32_t index, int32_t perm, const auth_info& who) const {
  return allowed(acls_.get(nodes_[index].acl), perm, who);
}

// ZooKeeper's order (PrepRequestProcessor.pRequest2TxnCreate): the ACL is
// fixed up (InvalidACL) before the parent is looked up (NoNode) and checked
// (NoAuth), then the name is taken (NodeExists).
op_result data_tree::run(const create_op& op, txn& t) {
  if (auto err = check_create(op, t.session); err != error_code::ok)
    return failed(err);
  auto acl = open_acl_unsafe();
  if (!op.acl.empty()) {
    auto fixed = fixup_acl(op.acl, t.who);
    if (!fixed)
      return failed(fixed.error());
    acl = std::move(fixed).value();
  }
  auto parent = find(path::parent(op.path));
  if (parent == nil)
    return failed(error_code::no_node);
  if (!may(parent, acl_perms::create, t.who))
    return failed(error_code::no_auth);
  auto full = op.path;
  if (is_sequential(op.mode))
    full += path::sequence_suffix(nodes_[parent].child_seq);
  if (full.size() > limits_.max_path_bytes) // only a negative counter
    return failed(error_code::bad_arguments);
  if (full == path::root || find_child(parent, path::basename(full)) != nil)
    return failed(error_code::node_exists);
  if (kind_of(nodes_[parent].stat.ephemeral_owner) == node_kind::ephemeral)
    return failed(error_code::no_children_for_ephemerals);
  return insert(parent, std::move(full), op, acls_.intern(acl), t);
}

op_result data_tree::insert(uint32_t parent, std::string path,
                            const create_op& op, uint32_t acl, txn& t) {
  auto old_parent_stat = nodes_[parent].stat;
  auto old_parent_seq = nodes_[parent].child_seq;
  bool recycled;
  auto index = allocate_node(recycled);
  auto& n = nodes_[index];
  n.name = std::string{path::basename(path)};
  n.data = op.data;
  n.parent = parent;
  n.acl = acl;
  n.stat.czxid = n.stat.mzxid = n.stat.pzxid = t.zxid;
  n.stat.ctime_ms = n.stat.mtime_ms = t.time_ms;
  n.stat.ephemeral_owner = owner_for(op, t.session);
  n.stat.data_length = static_cast<int32_t>(op.data.size());
  link(index, nil);
  auto& ps = nodes_[parent].stat;
  ps.cversion = wrapping_inc(ps.cversion);
  ps.pzxid = t.zxid;
  nodes_[parent].child_seq = wrapping_inc(old_parent_seq);
  if (t.undo != nullptr)
    t.undo->push_back({undo_entry::action::remove_created,
                       index,
                       nil,
                       recycled,
                       old_parent_stat,
                       {},
                       old_parent_seq});
  t.events.push_back({event_type::node_created, path});
  t.events.push_back(
    {event_type::node_children_changed, std::string{path::parent(path)}});
  return op_result{error_code::ok, std::move(path), nodes_[index].stat};
}

// The parent's DELETE permission is checked before the node is looked up,
// as ZooKeeper does: without it, deleting a missing child is NoAuth too.
op_result data_tree::run(const delete_op& op, txn& t) {
  if (path::validate(op.path, limits_.max_path_bytes) != error_code::ok
      || op.path == path::root || path::is_protected(op.path))
    return failed(error_code::bad_arguments);
  auto parent = find(path::parent(op.path));
  if (parent == nil)
    return failed(error_code::no_node);
  if (!may(parent, acl_perms::del, t.who))
    return failed(error_code::no_auth);
  auto index = find(op.path);
  if (index == nil)
    return failed(error_code::no_node);
  if (!version_matches(op.version, nodes_[index].stat.version))
    return failed(error_code::bad_version);
  if (nodes_[index].first_child != nil)
    return failed(error_code::not_empty);
  remove(index, op.path, t);
  return op_result{};
}

void data_tree::remove(uint32_t index, std::string_view path, txn& t) {
  auto parent = nodes_[index].parent;
  if (t.undo != nullptr)
    t.undo->push_back({undo_entry::action::restore_deleted,
                       index,
                       nodes_[index].prev_sibling,
                       false,
                       nodes_[parent].stat,
                       {},
                       0});
  unlink(index);
  // cversion counts deletes too, child_seq does not (see top of file).
  auto& ps = nodes_[parent].stat;
  ps.cversion = wrapping_inc(ps.cversion);
  ps.pzxid = t.zxid;
  t.events.push_back({event_type::node_deleted, std::string{path}});
  t.events.push_back(
    {event_type::node_children_changed, std::string{path::parent(path)}});
  if (t.undo == nullptr)
    release_node(index); // inside a multi: on commit
}

op_result data_tree::run(const set_data_op& op, txn& t) {
  if (path::validate(op.path, limits_.max_path_bytes) != error_code::ok
      || op.data.size() > limits_.max_data_bytes)
    return failed(error_code::bad_arguments);
  if (op.path == path::config_node)
    return failed(error_code::no_auth);
  auto index = find(op.path);
  if (index == nil)
    return failed(error_code::no_node);
  if (!may(index, acl_perms::write, t.who))
    return failed(error_code::no_auth);
  auto& n = nodes_[index];
  if (!version_matches(op.version, n.stat.version))
    return failed(error_code::bad_version);
  data_bytes_ = data_bytes_ - n.data.size() + op.data.size();
  if (t.undo != nullptr)
    t.undo->push_back({undo_entry::action::restore_data, index, nil, false,
                       n.stat, std::move(n.data), 0});
  n.data = op.data;
  n.stat.version = next_version(n.stat.version);
  n.stat.mzxid = t.zxid;
  n.stat.mtime_ms = t.time_ms;
  n.stat.data_length = static_cast<int32_t>(n.data.size());
  t.events.push_back({event_type::node_data_changed, op.path});
  return op_result{error_code::ok, {}, n.stat};
}

op_result data_tree::run(const check_op& op, txn& t) {
  auto index = resolve(op.path);
  if (!index)
    return failed(index.error());
  if (!may(*index, acl_perms::read, t.who))
    return failed(error_code::no_auth);
  if (!version_matches(op.version, nodes_[*index].stat.version))
    return failed(error_code::bad_version);
  return op_result{};
}

// ZooKeeper's order: InvalidACL, NoNode, NoAuth, BadVersion. The new ACL
// bumps aversion only: no data change, no watch event.
op_result data_tree::run(const set_acl_op& op, txn& t) {
  if (path::validate(op.path, limits_.max_path_bytes) != error_code::ok)
    return failed(error_code::bad_arguments);
  auto fixed = fixup_acl(op.acl, t.who);
  if (!fixed)
    return failed(fixed.error());
  auto index = find(op.path);
  if (index == nil)
    return failed(error_code::no_node);
  if (!may(index, acl_perms::admin, t.who))
    return failed(error_code::no_auth);
  auto& n = nodes_[index];
  if (!version_matches(op.version, n.stat.aversion))
    return failed(error_code::bad_version);
  auto acl = acls_.intern(*fixed); // before the release: the list may be
  if (!acls_.release(n.acl))       // the same one
    invariant_failure("setACL: node refers to a free ACL");
  n.acl = acl;
  n.stat.aversion = next_version(n.stat.aversion);
  return op_result{error_code::ok, {}, n.stat};
}

bool data_tree::due_for_cleanup(uint32_t index, int64_t now_ms) const noexcept {
  const auto& s = nodes_[index].stat;
  if (s.num_children != 0)
    return false;
  switch (kind_of(s.ephemeral_owner)) {
    case node_kind::container:
      return s.cversion > 0;
    case node_kind::ttl: {
      auto ttl = ttl_of(s.ephemeral_owner);
      // mtime + ttl < now, without overflowing.
      return s.mtime_ms <= INT64_MAX - ttl && s.mtime_ms + ttl < now_ms;
    }
    default:
      return false;
  }
}

// The leader's cleanup. The command runs with the node's authority; the
// parent's DELETE check stays for any command without it.
op_result data_tree::run(const delete_container_op& op, txn& t) {
  if (path::validate(op.path, limits_.max_path_bytes) != error_code::ok
      || op.path == path::root || path::is_protected(op.path))
    return failed(error_code::bad_arguments);
  auto index = find(op.path);
  if (index == nil)
    return failed(error_code::no_node);
  if (!may(nodes_[index].parent, acl_perms::del, t.who))
    return failed(error_code::no_auth);
  if (nodes_[index].first_child != nil)
    return failed(error_code::not_empty);
  auto kind = kind_of(nodes_[index].stat.ephemeral_owner);
  if (kind != node_kind::container && kind != node_kind::ttl)
    return failed(error_code::bad_arguments);
  // The cleanup raced with a change (a child came and went, the TTL node
  // was written): the node is no longer due.
  if (!due_for_cleanup(index, t.time_ms))
    return failed(error_code::bad_version);
  remove(index, op.path, t);
  return op_result{};
}

// Multi: ops apply one by one (so each sees the effects of the earlier ones)
// while an undo log records how to take each change back. This is simpler
// and cheaper than validating against a simulated overlay of the tree: the
// common case (success) does the work once, and the rare failure replays the
// log backwards, restoring stats, data, links and slot allocation exactly.
apply_result data_tree::run_multi(const multi_op& op, txn& t) {
  std::vector<undo_entry> log;
  t.undo = &log;
  apply_result out;
  for (size_t i = 0; i < op.ops.size(); ++i) {
    auto r
      = std::visit([&](const auto& sub) { return run(sub, t); }, op.ops[i]);
    if (r.error != error_code::ok) {
      rollback(log);
      out.error = r.error;
      out.results.assign(op.ops.size(), op_result{});
      out.results[i].error = r.error;
      for (size_t j = i + 1; j < op.ops.size(); ++j)
        out.results[j].error = error_code::runtime_inconsistency;
      return out;
    }
    out.results.push_back(std::move(r));
  }
  commit(log);
  out.events = std::move(t.events);
  return out;
}

void data_tree::rollback(std::vector<undo_entry>& log) {
  for (auto i = log.rbegin(); i != log.rend(); ++i)
    undo(*i);
}

void data_tree::undo(undo_entry& entry) {
  auto index = entry.index;
  auto parent = nodes_[index].parent;
  switch (entry.what) {
    case undo_entry::action::remove_created:
      unlink(index);
      unallocate_node(index, entry.recycled);
      nodes_[parent].stat = entry.stat;
      nodes_[parent].child_seq = entry.parent_child_seq;
      break;
    case undo_entry::action::restore_deleted:
      link(index, entry.prev_sibling);
      nodes_[parent].stat = entry.stat;
      break;
    case undo_entry::action::restore_data: {
      auto& n = nodes_[index];
      data_bytes_ = data_bytes_ - n.data.size() + entry.data.size();
      n.data = std::move(entry.data);
      n.stat = entry.stat;
      break;
    }
  }
}

void data_tree::commit(const std::vector<undo_entry>& log) {
  for (const auto& entry : log)
    if (entry.what == undo_entry::action::restore_deleted)
      release_node(entry.index);
}

// Reports one ok result, like any single write, even if nothing was owned.
apply_result data_tree::run_close_session(txn& t) {
  // Ephemerals have no children, so any order works; sorted paths make the
  // events deterministic.
  for (const auto& p : get_ephemerals(session_id{t.session}))
    remove(find(p), p, t);
  apply_result out;
  out.results.emplace_back();
  out.events = std::move(t.events);
  return out;
}

// -- node slots, links and indexes --------------------------------------------

uint32_t data_tree::allocate_node(bool& recycled) {
  recycled = free_head_ != nil;
  if (recycled) {
    auto index = free_head_;
    free_head_ = nodes_[index].next_sibling;
    nodes_[index].next_sibling = nil;
    return index;
  }
  if (nodes_.size() >= nil)
    invariant_failure("node index space exhausted");
  nodes_.emplace_back();
  return static_cast<uint32_t>(nodes_.size() - 1);
}

void data_tree::release_node(uint32_t index) {
  if (!acls_.release(nodes_[index].acl))
    invariant_failure("released node refers to a free ACL");
  nodes_[index] = node{}; // frees name and data storage
  nodes_[index].next_sibling = free_head_;
  free_head_ = index;
}

void data_tree::unallocate_node(uint32_t index, bool recycled) {
  if (recycled)
    return release_node(index);
  if (index + size_t{1} != nodes_.size())
    invariant_failure("undo of an appended node that is not the last");
  if (!acls_.release(nodes_[index].acl))
    invariant_failure("undone node refers to a free ACL");
  nodes_.pop_back();
}

void data_tree::link(uint32_t index, uint32_t prev_sibling) {
  auto& n = nodes_[index];
  auto& p = nodes_[n.parent];
  auto next
    = prev_sibling == nil ? p.first_child : nodes_[prev_sibling].next_sibling;
  n.prev_sibling = prev_sibling;
  n.next_sibling = next;
  if (prev_sibling == nil)
    p.first_child = index;
  else
    nodes_[prev_sibling].next_sibling = index;
  if (next != nil)
    nodes_[next].prev_sibling = index;
  ++p.stat.num_children;
  index_child(index);
  track(index);
  ++node_count_;
  data_bytes_ += path_length(index) + n.data.size();
}

void data_tree::unlink(uint32_t index) {
  auto& n = nodes_[index];
  auto& p = nodes_[n.parent];
  if (n.prev_sibling == nil)
    p.first_child = n.next_sibling;
  else
    nodes_[n.prev_sibling].next_sibling = n.next_sibling;
  if (n.next_sibling != nil)
    nodes_[n.next_sibling].prev_sibling = n.prev_sibling;
  --p.stat.num_children;
  unindex_child(index);
  untrack(index);
  --node_count_;
  data_bytes_ -= path_length(index) + n.data.size();
}

void data_tree::track(uint32_t index) {
  auto owner = nodes_[index].stat.ephemeral_owner;
  switch (kind_of(owner)) {
    case node_kind::persistent:
      break;
    case node_kind::ephemeral:
      ephemerals_[owner].insert(index);
      ++ephemeral_count_;
      break;
    case node_kind::container:
    case node_kind::ttl:
      expirables_.insert(index);
      break;
  }
}

void data_tree::untrack(uint32_t index) {
  auto owner = nodes_[index].stat.ephemeral_owner;
  switch (kind_of(owner)) {
    case node_kind::persistent:
      break;
    case node_kind::ephemeral: {
      auto i = ephemerals_.find(owner);
      if (i == ephemerals_.end() || i->second.erase(index) != 1)
        invariant_failure("ephemeral node missing from its session index");
      if (i->second.empty())
        ephemerals_.erase(i);
      --ephemeral_count_;
      break;
    }
    case node_kind::container:
    case node_kind::ttl:
      expirables_.erase(index);
      break;
  }
}

// -- child hash table ---------------------------------------------------------

size_t data_tree::home_slot(uint32_t index) const noexcept {
  const auto& n = nodes_[index];
  return child_hash(n.parent, n.name) & (slots_.size() - 1);
}

uint32_t data_tree::find_child(uint32_t parent,
                               std::string_view name) const noexcept {
  if (slots_.empty())
    return nil;
  auto mask = slots_.size() - 1;
  for (auto s = child_hash(parent, name) & mask;; s = (s + 1) & mask) {
    auto index = slots_[s];
    if (index == nil
        || (nodes_[index].parent == parent && nodes_[index].name == name))
      return index;
  }
}

void data_tree::index_child(uint32_t index) {
  if ((slots_used_ + 1) * 10 > slots_.size() * 7) // max load factor 0.7
    grow_slots();
  place_in_slots(index);
  ++slots_used_;
}

void data_tree::place_in_slots(uint32_t index) noexcept {
  auto mask = slots_.size() - 1;
  auto s = home_slot(index);
  while (slots_[s] != nil)
    s = (s + 1) & mask;
  slots_[s] = index;
}

void data_tree::grow_slots() {
  std::vector<uint32_t> old(std::max<size_t>(16, slots_.size() * 2), nil);
  old.swap(slots_);
  for (auto index : old)
    if (index != nil)
      place_in_slots(index);
}

// Backward-shift deletion: entries after the hole move into it when the hole
// lies between their home slot and their current slot, so no tombstones.
void data_tree::unindex_child(uint32_t index) {
  auto mask = slots_.size() - 1;
  auto hole = home_slot(index);
  for (; slots_[hole] != index; hole = (hole + 1) & mask)
    if (slots_[hole] == nil)
      invariant_failure("linked node missing from the child hash table");
  for (auto s = (hole + 1) & mask; slots_[s] != nil; s = (s + 1) & mask) {
    auto from_home = (s - home_slot(slots_[s])) & mask;
    if (from_home >= ((s - hole) & mask)) {
      slots_[hole] = slots_[s];
      hole = s;
    }
  }
  slots_[hole] = nil;
  --slots_used_;
}

// -- paths --------------------------------------------------------------------

uint32_t data_tree::find(std::string_view path) const noexcept {
  auto index = root_index;
  for (size_t start = 1; start < path.size() && index != nil;) {
    auto end = std::min(path.find('/', start), path.size());
    index = find_child(index, path.substr(start, end - start));
    start = end + 1;
  }
  return index;
}

result<uint32_t> data_tree::resolve(std::string_view path) const {
  if (path::validate(path, limits_.max_path_bytes) != error_code::ok)
    return error_code::bad_arguments;
  auto index = find(path);
  if (index == nil)
    return error_code::no_node;
  return index;
}

std::string data_tree::path_of(uint32_t index) const {
  if (index == root_index)
    return std::string{path::root};
  std::string result(path_length(index), '/');
  auto end = result.size();
  for (; index != root_index; index = nodes_[index].parent) {
    const auto& name = nodes_[index].name;
    end -= name.size();
    result.replace(end, name.size(), name);
    --end; // the '/' before the name is already there
  }
  return result;
}

size_t data_tree::path_length(uint32_t index) const noexcept {
  if (index == root_index)
    return path::root.size();
  size_t length = 0;
  for (; index != root_index; index = nodes_[index].parent)
    length += 1 + nodes_[index].name.size();
  return length;
}

std::vector<uint32_t> data_tree::sorted_children(uint32_t index) const {
  std::vector<uint32_t> result;
  result.reserve(static_cast<size_t>(nodes_[index].stat.num_children));
  for (auto c = nodes_[index].first_child; c != nil; c = nodes_[c].next_sibling)
    result.push_back(c);
  std::sort(result.begin(), result.end(), [this](uint32_t a, uint32_t b) {
    return nodes_[a].name < nodes_[b].name;
  });
  return result;
}

// -- reads --------------------------------------------------------------------

result<node_data> data_tree::get_data(std::string_view path) const {
  auto index = resolve(path);
  if (!index)
    return index.error();
  const auto& n = nodes_[*index];
  return node_data{n.data, n.stat};
}

result<conclave::stat> data_tree::exists(std::string_view path) const {
  auto index = resolve(path);
  if (!index)
    return index.error();
  return nodes_[*index].stat;
}

result<node_children> data_tree::get_children(std::string_view path) const {
  auto index = resolve(path);
  if (!index)
    return index.error();
  node_children out;
  out.stat = nodes_[*index].stat;
  for (auto c : sorted_children(*index))
    out.names.push_back(nodes_[c].name);
  return out;
}

std::vector<std::string>
data_tree::get_ephemerals(session_id owner, std::string_view prefix) const {
  std::vector<std::string> out;
  auto i = ephemerals_.find(owner.value());
  if (i == ephemerals_.end())
    return out;
  auto all = prefix.empty() || prefix == path::root;
  for (auto index : i->second) {
    auto p = path_of(index);
    if (all || p.compare(0, prefix.size(), prefix) == 0)
      out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end());
  return out;
}

result<int64_t> data_tree::count_descendants(std::string_view path) const {
  auto index = resolve(path);
  if (!index)
    return index.error();
  if (*index == root_index) // as ZooKeeper's getAllChildrenNumber("/")
    return static_cast<int64_t>(node_count_ - 1);
  int64_t count = 0;
  std::vector<uint32_t> pending{*index};
  while (!pending.empty()) {
    auto i = pending.back();
    pending.pop_back();
    for (auto c = nodes_[i].first_child; c != nil; c = nodes_[c].next_sibling) {
      ++count;
      pending.push_back(c);
    }
  }
  return count;
}

result<node_acl> data_tree::get_acl(std::string_view path) const {
  auto index = resolve(path);
  if (!index)
    return index.error();
  const auto& n = nodes_[*index];
  return node_acl{acls_.get(n.acl), n.stat};
}

error_code data_tree::authorize(std::string_view path, int32_t perm,
                                const auth_info& who) const {
  auto index = resolve(path);
  if (!index)
    return index.error();
  return may(*index, perm, who) ? error_code::ok : error_code::no_auth;
}

std::vector<std::string> data_tree::cleanup_candidates(int64_t now_ms) const {
  std::vector<std::string> out;
  for (auto index : expirables_)
    if (due_for_cleanup(index, now_ms))
      out.push_back(path_of(index));
  std::sort(out.begin(), out.end());
  return out;
}

// -- figures ------------------------------------------------------------------

size_t data_tree::node_count() const noexcept {
  return node_count_;
}

size_t data_tree::ephemeral_count() const noexcept {
  return ephemeral_count_;
}

size_t data_tree::approximate_data_bytes() const noexcept {
  return data_bytes_;
}

zxid data_tree::last_zxid() const noexcept {
  return last_zxid_;
}

// Pre-order walk, children in byte order of their names; per node: path,
// data, all eleven stat fields and the sequence counter (child_seq),
// each fixed-width little-endian or length-prefixed.
uint64_t data_tree::digest() const {
  crc64 crc;
  struct frame {
    uint32_t index;
    size_t parent_path_size;
  };
  std::vector<frame> pending{{root_index, 0}};
  std::string path;
  while (!pending.empty()) {
    auto [index, parent_size] = pending.back();
    pending.pop_back();
    const auto& n = nodes_[index];
    path.resize(parent_size);
    if (path.size() != 1) // the root's children share its '/'
      path += '/';
    path += n.name;
    put_bytes(crc, path);
    put_bytes(crc, n.data);
    put_stat(crc, n.stat);
    put_u64(crc, static_cast<uint64_t>(n.child_seq));
    // The ACL's entries, not its index: indices depend on history.
    const auto& acl = acls_.get(n.acl);
    put_u64(crc, acl.size());
    for (const auto& e : acl) {
      put_u64(crc, static_cast<uint64_t>(static_cast<int64_t>(e.perms)));
      put_bytes(crc, e.id.scheme);
      put_bytes(crc, e.id.id);
    }
    auto children = sorted_children(index);
    for (auto c = children.rbegin(); c != children.rend(); ++c)
      pending.push_back({*c, path.size()});
  }
  return crc.checksum();
}

} // namespace conclave
