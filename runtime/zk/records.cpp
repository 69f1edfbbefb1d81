#include "runtime/zk/records.hpp"

#include <algorithm>
#include <type_traits>

namespace conclave::zk {

// -- constants ----------------------------------------------------------------

std::string_view op_name(int32_t type) noexcept {
  switch (static_cast<op_code>(type)) {
    case op_code::notification:
      return "notification";
    case op_code::create:
      return "create";
    case op_code::remove:
      return "delete";
    case op_code::exists:
      return "exists";
    case op_code::get_data:
      return "getData";
    case op_code::set_data:
      return "setData";
    case op_code::get_acl:
      return "getACL";
    case op_code::set_acl:
      return "setACL";
    case op_code::get_children:
      return "getChildren";
    case op_code::sync:
      return "sync";
    case op_code::ping:
      return "ping";
    case op_code::get_children2:
      return "getChildren2";
    case op_code::check:
      return "check";
    case op_code::multi:
      return "multi";
    case op_code::create2:
      return "create2";
    case op_code::reconfig:
      return "reconfig";
    case op_code::check_watches:
      return "checkWatches";
    case op_code::remove_watches:
      return "removeWatches";
    case op_code::create_container:
      return "createContainer";
    case op_code::delete_container:
      return "deleteContainer";
    case op_code::create_ttl:
      return "createTTL";
    case op_code::multi_read:
      return "multiRead";
    case op_code::auth:
      return "auth";
    case op_code::set_watches:
      return "setWatches";
    case op_code::sasl:
      return "sasl";
    case op_code::get_ephemerals:
      return "getEphemerals";
    case op_code::get_all_children_number:
      return "getAllChildrenNumber";
    case op_code::set_watches2:
      return "setWatches2";
    case op_code::add_watch:
      return "addWatch";
    case op_code::who_am_i:
      return "whoAmI";
    case op_code::create_session:
      return "createSession";
    case op_code::close_session:
      return "closeSession";
    case op_code::error:
      return "error";
  }
  return "unknown";
}

bool is_known_op(int32_t type) noexcept {
  return op_name(type) != "unknown";
}

bool operator==(const id& a, const id& b) noexcept {
  return a.scheme == b.scheme && a.id == b.id;
}

bool operator==(const acl& a, const acl& b) noexcept {
  return a.perms == b.perms && a.id == b.id;
}

bool operator==(const stat& a, const stat& b) noexcept {
  return a.czxid == b.czxid && a.mzxid == b.mzxid && a.ctime == b.ctime
         && a.mtime == b.mtime && a.version == b.version
         && a.cversion == b.cversion && a.aversion == b.aversion
         && a.ephemeral_owner == b.ephemeral_owner
         && a.data_length == b.data_length && a.num_children == b.num_children
         && a.pzxid == b.pzxid;
}

bool operator==(const client_info& a, const client_info& b) noexcept {
  return a.auth_scheme == b.auth_scheme && a.user == b.user;
}

std::vector<acl> open_acl_unsafe() {
  return {acl{perm_all, id{"world", "anyone"}}};
}

multi_result multi_error(int32_t err) {
  multi_result r;
  r.type = static_cast<int32_t>(op_code::error);
  r.err = err;
  r.response = error_response{err};
  return r;
}

namespace {

// Elements reserved up front at most: a count is already bounded by the
// bytes left, but an element in memory is larger than its smallest wire
// form, so larger vectors grow as their elements actually arrive.
constexpr size_t max_reserve = 1024;

// Smallest encodings, for vector counts: an empty ustring is its 4-byte
// length; an ACL is an int and two ustrings; a ClientInfo two ustrings.
constexpr size_t min_ustring_bytes = 4;
constexpr size_t min_acl_bytes = 12;
constexpr size_t min_client_info_bytes = 8;

// -- readers: fill `x` field by field; the reader's error is sticky ----------

void read(jute_reader& in, std::vector<std::string>& xs) {
  auto n = in.read_count(min_ustring_bytes);
  xs.clear();
  xs.reserve(std::min(n, max_reserve));
  for (size_t i = 0; i < n && in.ok(); ++i)
    xs.push_back(in.read_ustring());
}

void read(jute_reader& in, id& x) {
  x.scheme = in.read_ustring();
  x.id = in.read_ustring();
}

void read(jute_reader& in, acl& x) {
  x.perms = in.read_int();
  read(in, x.id);
}

void read(jute_reader& in, std::vector<acl>& xs) {
  auto n = in.read_count(min_acl_bytes);
  xs.clear();
  xs.reserve(std::min(n, max_reserve));
  for (size_t i = 0; i < n && in.ok(); ++i)
    read(in, xs.emplace_back());
}

void read(jute_reader& in, stat& x) {
  x.czxid = in.read_long();
  x.mzxid = in.read_long();
  x.ctime = in.read_long();
  x.mtime = in.read_long();
  x.version = in.read_int();
  x.cversion = in.read_int();
  x.aversion = in.read_int();
  x.ephemeral_owner = in.read_long();
  x.data_length = in.read_int();
  x.num_children = in.read_int();
  x.pzxid = in.read_long();
}

void read(jute_reader& in, client_info& x) {
  x.auth_scheme = in.read_ustring();
  x.user = in.read_ustring();
}

void read(jute_reader& in, connect_request& x) {
  x.protocol_version = in.read_int();
  x.last_zxid_seen = in.read_long();
  x.time_out = in.read_int();
  x.session_id = in.read_long();
  x.passwd = in.read_buffer();
  x.has_read_only = in.ok() && !in.at_end();
  x.read_only = x.has_read_only ? in.read_bool() : false;
}

void read(jute_reader& in, connect_response& x) {
  x.protocol_version = in.read_int();
  x.time_out = in.read_int();
  x.session_id = in.read_long();
  x.passwd = in.read_buffer();
  x.has_read_only = in.ok() && !in.at_end();
  x.read_only = x.has_read_only ? in.read_bool() : false;
}

void read(jute_reader& in, request_header& x) {
  x.xid = in.read_int();
  x.type = in.read_int();
}

void read(jute_reader& in, reply_header& x) {
  x.xid = in.read_int();
  x.zxid = in.read_long();
  x.err = in.read_int();
}

void read(jute_reader& in, multi_header& x) {
  x.type = in.read_int();
  x.done = in.read_bool();
  x.err = in.read_int();
}

void read(jute_reader& in, auth_packet& x) {
  x.type = in.read_int();
  x.scheme = in.read_ustring();
  x.auth = in.read_buffer();
}

void read(jute_reader& in, set_watches& x) {
  x.relative_zxid = in.read_long();
  read(in, x.data_watches);
  read(in, x.exist_watches);
  read(in, x.child_watches);
}

void read(jute_reader& in, set_watches2& x) {
  x.relative_zxid = in.read_long();
  read(in, x.data_watches);
  read(in, x.exist_watches);
  read(in, x.child_watches);
  read(in, x.persistent_watches);
  read(in, x.persistent_recursive_watches);
}

void read(jute_reader& in, watcher_event& x) {
  x.type = in.read_int();
  x.state = in.read_int();
  x.path = in.read_ustring();
}

void read(jute_reader& in, error_response& x) {
  x.err = in.read_int();
}

void read(jute_reader& in, create_request& x) {
  x.path = in.read_ustring();
  x.data = in.read_buffer();
  read(in, x.acl);
  x.flags = in.read_int();
}

void read(jute_reader& in, create_ttl_request& x) {
  x.path = in.read_ustring();
  x.data = in.read_buffer();
  read(in, x.acl);
  x.flags = in.read_int();
  x.ttl = in.read_long();
}

void read(jute_reader& in, create_response& x) {
  x.path = in.read_ustring();
}

void read(jute_reader& in, create2_response& x) {
  x.path = in.read_ustring();
  read(in, x.stat);
}

void read(jute_reader& in, delete_request& x) {
  x.path = in.read_ustring();
  x.version = in.read_int();
}

void read(jute_reader& in, delete_container_request& x) {
  x.path = in.read_rest();
}

void read(jute_reader& in, exists_request& x) {
  x.path = in.read_ustring();
  x.watch = in.read_bool();
}

void read(jute_reader& in, exists_response& x) {
  read(in, x.stat);
}

void read(jute_reader& in, get_data_request& x) {
  x.path = in.read_ustring();
  x.watch = in.read_bool();
}

void read(jute_reader& in, get_data_response& x) {
  x.data = in.read_buffer();
  read(in, x.stat);
}

void read(jute_reader& in, set_data_request& x) {
  x.path = in.read_ustring();
  x.data = in.read_buffer();
  x.version = in.read_int();
}

void read(jute_reader& in, set_data_response& x) {
  read(in, x.stat);
}

void read(jute_reader& in, get_acl_request& x) {
  x.path = in.read_ustring();
}

void read(jute_reader& in, get_acl_response& x) {
  read(in, x.acl);
  read(in, x.stat);
}

void read(jute_reader& in, set_acl_request& x) {
  x.path = in.read_ustring();
  read(in, x.acl);
  x.version = in.read_int();
}

void read(jute_reader& in, set_acl_response& x) {
  read(in, x.stat);
}

void read(jute_reader& in, get_children_request& x) {
  x.path = in.read_ustring();
  x.watch = in.read_bool();
}

void read(jute_reader& in, get_children_response& x) {
  read(in, x.children);
}

void read(jute_reader& in, get_children2_request& x) {
  x.path = in.read_ustring();
  x.watch = in.read_bool();
}

void read(jute_reader& in, get_children2_response& x) {
  read(in, x.children);
  read(in, x.stat);
}

void read(jute_reader& in, sync_request& x) {
  x.path = in.read_ustring();
}

void read(jute_reader& in, sync_response& x) {
  x.path = in.read_ustring();
}

void read(jute_reader& in, check_version_request& x) {
  x.path = in.read_ustring();
  x.version = in.read_int();
}

void read(jute_reader& in, get_ephemerals_request& x) {
  x.prefix_path = in.read_ustring();
}

void read(jute_reader& in, get_ephemerals_response& x) {
  read(in, x.ephemerals);
}

void read(jute_reader& in, get_all_children_number_request& x) {
  x.path = in.read_ustring();
}

void read(jute_reader& in, get_all_children_number_response& x) {
  x.total_number = in.read_int();
}

void read(jute_reader& in, add_watch_request& x) {
  x.path = in.read_ustring();
  x.mode = in.read_int();
}

void read(jute_reader& in, check_watches_request& x) {
  x.path = in.read_ustring();
  x.type = in.read_int();
}

void read(jute_reader& in, remove_watches_request& x) {
  x.path = in.read_ustring();
  x.type = in.read_int();
}

void read(jute_reader& in, who_am_i_response& x) {
  auto n = in.read_count(min_client_info_bytes);
  x.client_info.clear();
  x.client_info.reserve(std::min(n, max_reserve));
  for (size_t i = 0; i < n && in.ok(); ++i)
    read(in, x.client_info.emplace_back());
}

void read(jute_reader& in, reconfig_request& x) {
  x.joining_servers = in.read_ustring();
  x.leaving_servers = in.read_ustring();
  x.new_members = in.read_ustring();
  x.cur_config_id = in.read_long();
}

void read(jute_reader& in, get_sasl_request& x) {
  x.token = in.read_buffer();
}

void read(jute_reader& in, set_sasl_response& x) {
  x.token = in.read_buffer();
}

template <class Record, class Variant>
void read_into(jute_reader& in, Variant& v) {
  Record rec;
  read(in, rec);
  v = std::move(rec);
}

void read(jute_reader& in, multi_request& x) {
  x.ops.clear();
  // Every op takes at least its 9-byte header, so the loop ends within
  // remaining()/9 iterations even on hostile input.
  for (;;) {
    auto header_at = in.offset();
    multi_header h;
    read(in, h);
    if (!in.ok() || h.done)
      return;
    multi_op op;
    op.type = h.type;
    switch (static_cast<op_code>(h.type)) {
      case op_code::create:
      case op_code::create2:
      case op_code::create_container:
        read_into<create_request>(in, op.request);
        break;
      case op_code::create_ttl:
        read_into<create_ttl_request>(in, op.request);
        break;
      case op_code::remove:
        read_into<delete_request>(in, op.request);
        break;
      case op_code::set_data:
        read_into<set_data_request>(in, op.request);
        break;
      case op_code::check:
        read_into<check_version_request>(in, op.request);
        break;
      case op_code::get_children:
        read_into<get_children_request>(in, op.request);
        break;
      case op_code::get_data:
        read_into<get_data_request>(in, op.request);
        break;
      default:
        in.fail(jute_error_code::bad_multi_op, header_at);
        return;
    }
    if (!in.ok())
      return;
    x.ops.push_back(std::move(op));
  }
}

void read(jute_reader& in, multi_response& x) {
  x.results.clear();
  for (;;) {
    auto header_at = in.offset();
    multi_header h;
    read(in, h);
    if (!in.ok() || h.done)
      return;
    multi_result r;
    r.type = h.type;
    r.err = h.err;
    switch (static_cast<op_code>(h.type)) {
      case op_code::create:
        read_into<create_response>(in, r.response);
        break;
      case op_code::create2:
        read_into<create2_response>(in, r.response);
        break;
      case op_code::remove:
      case op_code::check:
        r.response = multi_empty{};
        break;
      case op_code::set_data:
        read_into<set_data_response>(in, r.response);
        break;
      case op_code::get_children:
        read_into<get_children_response>(in, r.response);
        break;
      case op_code::get_data:
        read_into<get_data_response>(in, r.response);
        break;
      case op_code::error:
        read_into<error_response>(in, r.response);
        break;
      default:
        in.fail(jute_error_code::bad_multi_op, header_at);
        return;
    }
    if (!in.ok())
      return;
    x.results.push_back(std::move(r));
  }
}

// -- writers ------------------------------------------------------------------

void write(jute_writer& out, const std::vector<std::string>& xs) {
  out.write_count(xs.size());
  for (auto& x : xs)
    out.write_ustring(x);
}

} // namespace

void encode(jute_writer& out, const id& x) {
  out.write_ustring(x.scheme);
  out.write_ustring(x.id);
}

void encode(jute_writer& out, const acl& x) {
  out.write_int(x.perms);
  encode(out, x.id);
}

namespace {

void write(jute_writer& out, const std::vector<acl>& xs) {
  out.write_count(xs.size());
  for (auto& x : xs)
    encode(out, x);
}

} // namespace

void encode(jute_writer& out, const stat& x) {
  out.write_long(x.czxid);
  out.write_long(x.mzxid);
  out.write_long(x.ctime);
  out.write_long(x.mtime);
  out.write_int(x.version);
  out.write_int(x.cversion);
  out.write_int(x.aversion);
  out.write_long(x.ephemeral_owner);
  out.write_int(x.data_length);
  out.write_int(x.num_children);
  out.write_long(x.pzxid);
}

void encode(jute_writer& out, const client_info& x) {
  out.write_ustring(x.auth_scheme);
  out.write_ustring(x.user);
}

void encode(jute_writer& out, const connect_request& x) {
  out.write_int(x.protocol_version);
  out.write_long(x.last_zxid_seen);
  out.write_int(x.time_out);
  out.write_long(x.session_id);
  out.write_buffer(x.passwd);
  if (x.has_read_only)
    out.write_bool(x.read_only);
}

void encode(jute_writer& out, const connect_response& x) {
  out.write_int(x.protocol_version);
  out.write_int(x.time_out);
  out.write_long(x.session_id);
  out.write_buffer(x.passwd);
  if (x.has_read_only)
    out.write_bool(x.read_only);
}

void encode(jute_writer& out, const request_header& x) {
  out.write_int(x.xid);
  out.write_int(x.type);
}

void encode(jute_writer& out, const reply_header& x) {
  out.write_int(x.xid);
  out.write_long(x.zxid);
  out.write_int(x.err);
}

void encode(jute_writer& out, const multi_header& x) {
  out.write_int(x.type);
  out.write_bool(x.done);
  out.write_int(x.err);
}

void encode(jute_writer& out, const auth_packet& x) {
  out.write_int(x.type);
  out.write_ustring(x.scheme);
  out.write_buffer(x.auth);
}

void encode(jute_writer& out, const set_watches& x) {
  out.write_long(x.relative_zxid);
  write(out, x.data_watches);
  write(out, x.exist_watches);
  write(out, x.child_watches);
}

void encode(jute_writer& out, const set_watches2& x) {
  out.write_long(x.relative_zxid);
  write(out, x.data_watches);
  write(out, x.exist_watches);
  write(out, x.child_watches);
  write(out, x.persistent_watches);
  write(out, x.persistent_recursive_watches);
}

void encode(jute_writer& out, const watcher_event& x) {
  out.write_int(x.type);
  out.write_int(x.state);
  out.write_ustring(x.path);
}

void encode(jute_writer& out, const error_response& x) {
  out.write_int(x.err);
}

void encode(jute_writer& out, const create_request& x) {
  out.write_ustring(x.path);
  out.write_buffer(x.data);
  write(out, x.acl);
  out.write_int(x.flags);
}

void encode(jute_writer& out, const create_ttl_request& x) {
  out.write_ustring(x.path);
  out.write_buffer(x.data);
  write(out, x.acl);
  out.write_int(x.flags);
  out.write_long(x.ttl);
}

void encode(jute_writer& out, const create_response& x) {
  out.write_ustring(x.path);
}

void encode(jute_writer& out, const create2_response& x) {
  out.write_ustring(x.path);
  encode(out, x.stat);
}

void encode(jute_writer& out, const delete_request& x) {
  out.write_ustring(x.path);
  out.write_int(x.version);
}

void encode(jute_writer& out, const delete_container_request& x) {
  out.write_raw(x.path);
}

void encode(jute_writer& out, const exists_request& x) {
  out.write_ustring(x.path);
  out.write_bool(x.watch);
}

void encode(jute_writer& out, const exists_response& x) {
  encode(out, x.stat);
}

void encode(jute_writer& out, const get_data_request& x) {
  out.write_ustring(x.path);
  out.write_bool(x.watch);
}

void encode(jute_writer& out, const get_data_response& x) {
  out.write_buffer(x.data);
  encode(out, x.stat);
}

void encode(jute_writer& out, const set_data_request& x) {
  out.write_ustring(x.path);
  out.write_buffer(x.data);
  out.write_int(x.version);
}

void encode(jute_writer& out, const set_data_response& x) {
  encode(out, x.stat);
}

void encode(jute_writer& out, const get_acl_request& x) {
  out.write_ustring(x.path);
}

void encode(jute_writer& out, const get_acl_response& x) {
  write(out, x.acl);
  encode(out, x.stat);
}

void encode(jute_writer& out, const set_acl_request& x) {
  out.write_ustring(x.path);
  write(out, x.acl);
  out.write_int(x.version);
}

void encode(jute_writer& out, const set_acl_response& x) {
  encode(out, x.stat);
}

void encode(jute_writer& out, const get_children_request& x) {
  out.write_ustring(x.path);
  out.write_bool(x.watch);
}

void encode(jute_writer& out, const get_children_response& x) {
  write(out, x.children);
}

void encode(jute_writer& out, const get_children2_request& x) {
  out.write_ustring(x.path);
  out.write_bool(x.watch);
}

void encode(jute_writer& out, const get_children2_response& x) {
  write(out, x.children);
  encode(out, x.stat);
}

void encode(jute_writer& out, const sync_request& x) {
  out.write_ustring(x.path);
}

void encode(jute_writer& out, const sync_response& x) {
  out.write_ustring(x.path);
}

void encode(jute_writer& out, const check_version_request& x) {
  out.write_ustring(x.path);
  out.write_int(x.version);
}

void encode(jute_writer& out, const get_ephemerals_request& x) {
  out.write_ustring(x.prefix_path);
}

void encode(jute_writer& out, const get_ephemerals_response& x) {
  write(out, x.ephemerals);
}

void encode(jute_writer& out, const get_all_children_number_request& x) {
  out.write_ustring(x.path);
}

void encode(jute_writer& out, const get_all_children_number_response& x) {
  out.write_int(x.total_number);
}

void encode(jute_writer& out, const add_watch_request& x) {
  out.write_ustring(x.path);
  out.write_int(x.mode);
}

void encode(jute_writer& out, const check_watches_request& x) {
  out.write_ustring(x.path);
  out.write_int(x.type);
}

void encode(jute_writer& out, const remove_watches_request& x) {
  out.write_ustring(x.path);
  out.write_int(x.type);
}

void encode(jute_writer& out, const who_am_i_response& x) {
  out.write_count(x.client_info.size());
  for (auto& ci : x.client_info)
    encode(out, ci);
}

void encode(jute_writer& out, const reconfig_request& x) {
  out.write_ustring(x.joining_servers);
  out.write_ustring(x.leaving_servers);
  out.write_ustring(x.new_members);
  out.write_long(x.cur_config_id);
}

void encode(jute_writer& out, const get_sasl_request& x) {
  out.write_buffer(x.token);
}

void encode(jute_writer& out, const set_sasl_response& x) {
  out.write_buffer(x.token);
}

void encode(jute_writer& out, const multi_request& x) {
  for (auto& op : x.ops) {
    encode(out, multi_header{op.type, false, -1});
    std::visit([&](const auto& rec) { encode(out, rec); }, op.request);
  }
  encode(out, multi_header{-1, true, -1});
}

void encode(jute_writer& out, const multi_response& x) {
  for (auto& r : x.results) {
    encode(out, multi_header{r.type, false, r.err});
    std::visit(
      [&](const auto& rec) {
        if constexpr (!std::is_same_v<std::decay_t<decltype(rec)>, multi_empty>)
          encode(out, rec);
      },
      r.response);
  }
  encode(out, multi_header{-1, true, -1});
}

// -- decode<T> ----------------------------------------------------------------

template <class T>
jute_result<T> decode(jute_reader& in) {
  T value{};
  read(in, value);
  if (!in.ok())
    return in.error();
  return value;
}

template jute_result<id> decode<id>(jute_reader&);
template jute_result<acl> decode<acl>(jute_reader&);
template jute_result<stat> decode<stat>(jute_reader&);
template jute_result<client_info> decode<client_info>(jute_reader&);
template jute_result<connect_request> decode<connect_request>(jute_reader&);
template jute_result<connect_response> decode<connect_response>(jute_reader&);
template jute_result<request_header> decode<request_header>(jute_reader&);
template jute_result<reply_header> decode<reply_header>(jute_reader&);
template jute_result<multi_header> decode<multi_header>(jute_reader&);
template jute_result<auth_packet> decode<auth_packet>(jute_reader&);
template jute_result<set_watches> decode<set_watches>(jute_reader&);
template jute_result<set_watches2> decode<set_watches2>(jute_reader&);
template jute_result<watcher_event> decode<watcher_event>(jute_reader&);
template jute_result<error_response> decode<error_response>(jute_reader&);
template jute_result<create_request> decode<create_request>(jute_reader&);
template jute_result<create_ttl_request>
decode<create_ttl_request>(jute_reader&);
template jute_result<create_response> decode<create_response>(jute_reader&);
template jute_result<create2_response> decode<create2_response>(jute_reader&);
template jute_result<delete_request> decode<delete_request>(jute_reader&);
template jute_result<delete_container_request>
decode<delete_container_request>(jute_reader&);
template jute_result<exists_request> decode<exists_request>(jute_reader&);
template jute_result<exists_response> decode<exists_response>(jute_reader&);
template jute_result<get_data_request> decode<get_data_request>(jute_reader&);
template jute_result<get_data_response> decode<get_data_response>(jute_reader&);
template jute_result<set_data_request> decode<set_data_request>(jute_reader&);
template jute_result<set_data_response> decode<set_data_response>(jute_reader&);
template jute_result<get_acl_request> decode<get_acl_request>(jute_reader&);
template jute_result<get_acl_response> decode<get_acl_response>(jute_reader&);
template jute_result<set_acl_request> decode<set_acl_request>(jute_reader&);
template jute_result<set_acl_response> decode<set_acl_response>(jute_reader&);
template jute_result<get_children_request>
decode<get_children_request>(jute_reader&);
template jute_result<get_children_response>
decode<get_children_response>(jute_reader&);
template jute_result<get_children2_request>
decode<get_children2_request>(jute_reader&);
template jute_result<get_children2_response>
decode<get_children2_response>(jute_reader&);
template jute_result<sync_request> decode<sync_request>(jute_reader&);
template jute_result<sync_response> decode<sync_response>(jute_reader&);
template jute_result<check_version_request>
decode<check_version_request>(jute_reader&);
template jute_result<get_ephemerals_request>
decode<get_ephemerals_request>(jute_reader&);
template jute_result<get_ephemerals_response>
decode<get_ephemerals_response>(jute_reader&);
template jute_result<get_all_children_number_request>
decode<get_all_children_number_request>(jute_reader&);
template jute_result<get_all_children_number_response>
decode<get_all_children_number_response>(jute_reader&);
template jute_result<add_watch_request> decode<add_watch_request>(jute_reader&);
template jute_result<check_watches_request>
decode<check_watches_request>(jute_reader&);
template jute_result<remove_watches_request>
decode<remove_watches_request>(jute_reader&);
template jute_result<who_am_i_response> decode<who_am_i_response>(jute_reader&);
template jute_result<reconfig_request> decode<reconfig_request>(jute_reader&);
template jute_result<get_sasl_request> decode<get_sasl_request>(jute_reader&);
template jute_result<set_sasl_response> decode<set_sasl_response>(jute_reader&);
template jute_result<multi_request> decode<multi_request>(jute_reader&);
template jute_result<multi_response> decode<multi_response>(jute_reader&);

} // namespace conclave::zk
