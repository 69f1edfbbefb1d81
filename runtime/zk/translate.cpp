#include "runtime/zk/translate.hpp"

#include <type_traits>

#include "runtime/error_code.hpp"
#include "runtime/raft/codec.hpp"
#include "runtime/stat.hpp"
#include "runtime/zk/dynamic_config.hpp"

namespace conclave::zk {

namespace {

constexpr int32_t err_ok = 0;
constexpr auto err_marshalling
  = static_cast<int32_t>(error_code::marshalling_error);
constexpr auto err_unimplemented
  = static_cast<int32_t>(error_code::unimplemented);
constexpr auto err_bad_arguments
  = static_cast<int32_t>(error_code::bad_arguments);
constexpr auto err_invalid_acl = static_cast<int32_t>(error_code::invalid_acl);

template <class T>
std::string encoded(const T& x) {
  std::string out;
  jute_writer w{out};
  encode(w, x);
  return out;
}

/// Decodes the whole body as T (trailing bytes are ignored, as ZooKeeper
/// does).
template <class T>
jute_result<T> decode_body(std::string_view body) {
  jute_reader in{body};
  return decode<T>(in);
}

local_reply error(int32_t err) {
  return local_reply{err, {}};
}

void to_pb(const std::vector<acl>& from,
           google::protobuf::RepeatedPtrField<pb::Acl>* to) {
  for (const auto& a : from) {
    auto out = to->Add();
    out->set_perms(a.perms);
    out->mutable_id()->set_scheme(a.id.scheme);
    out->mutable_id()->set_id(a.id.id);
  }
}

bool valid_mode(int32_t flags) {
  return flags >= 0 && flags <= 6;
}

/// Fills a CreateOp; false if the create mode or the ACL is not acceptable
/// (with the error code in `err`).
template <class Request>
bool fill_create(const Request& x, int32_t type, pb::CreateOp* op,
                 int32_t& err) {
  if (!valid_mode(x.flags)) {
    err = err_bad_arguments;
    return false;
  }
  if (x.acl.empty()) {
    err = err_invalid_acl; // ZooKeeper refuses a create without an ACL
    return false;
  }
  auto mode = static_cast<create_mode>(x.flags);
  auto ttl_mode = mode == create_mode::persistent_with_ttl
                  || mode == create_mode::persistent_sequential_with_ttl;
  // The op code makes a container, not the flags (ZooKeeper logs a plain
  // CreateTxn for create/create2 with the container flag).
  if (type == static_cast<int32_t>(op_code::create_container))
    mode = create_mode::container;
  else if (mode == create_mode::container)
    mode = create_mode::persistent;
  else if (ttl_mode != (type == static_cast<int32_t>(op_code::create_ttl))) {
    err = err_bad_arguments; // TTL modes only through createTTL, and back
    return false;
  }
  op->set_path(x.path);
  op->set_data(x.data);
  op->set_mode(static_cast<pb::CreateMode>(mode));
  to_pb(x.acl, op->mutable_acl());
  if constexpr (std::is_same_v<Request, create_ttl_request>)
    op->set_ttl_ms(x.ttl);
  return true;
}

translated translate_multi(std::string_view body) {
  auto decoded = decode_body<multi_request>(body);
  if (!decoded)
    return error(err_marshalling);
  to_node out;
  auto multi = out.request.mutable_multi();
  // An op refused here fails the whole multi the way ZooKeeper reports it:
  // every op gets an error result (0 before the failing one, its error,
  // RuntimeInconsistency after it), with err 0 in the header.
  auto refuse = [&](size_t failing, int32_t err) -> translated {
    multi_response m;
    for (size_t j = 0; j < decoded->ops.size(); ++j)
      m.results.push_back(multi_error(
        j < failing ? 0
                    : (j == failing ? err
                                    : static_cast<int32_t>(
                                      error_code::runtime_inconsistency))));
    return local_reply{err_ok, encoded(m)};
  };
  for (const auto& op : decoded->ops) {
    out.op_types.push_back(op.type);
    auto txn = multi->add_ops();
    int32_t err = err_ok;
    bool ok = std::visit(
      [&](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (
          std::is_same_v<
            T, create_request> || std::is_same_v<T, create_ttl_request>) {
          return fill_create(x, op.type, txn->mutable_create(), err);
        } else if constexpr (std::is_same_v<T, delete_request>) {
          txn->mutable_delete_()->set_path(x.path);
          txn->mutable_delete_()->set_version(x.version);
          return true;
        } else if constexpr (std::is_same_v<T, set_data_request>) {
          auto s = txn->mutable_set_data();
          s->set_path(x.path);
          s->set_data(x.data);
          s->set_version(x.version);
          return true;
        } else if constexpr (std::is_same_v<T, check_version_request>) {
          txn->mutable_check()->set_path(x.path);
          txn->mutable_check()->set_version(x.version);
          return true;
        } else {
          err = err_bad_arguments; // reads belong in multiRead
          return false;
        }
      },
      op.request);
    if (!ok)
      return refuse(out.op_types.size() - 1, err);
  }
  return out;
}

/// The record type of a multi result for an op of `type`.
multi_result multi_ok(int32_t type, const pb::OpResult& r) {
  multi_result out;
  out.type = type;
  switch (static_cast<op_code>(type)) {
    case op_code::create:
      out.response = create_response{r.path()};
      break;
    case op_code::create2:
    case op_code::create_ttl:
    case op_code::create_container:
      out.type = static_cast<int32_t>(op_code::create2);
      out.response = create2_response{r.path(), to_zk(r.stat())};
      break;
    case op_code::set_data:
      out.response = set_data_response{to_zk(r.stat())};
      break;
    default: // delete, check
      out.response = multi_empty{};
      break;
  }
  return out;
}

} // namespace

/// DataNode.getClientEphemeralOwner: clients see a session's id for
/// ephemeral nodes and 0 for every other kind (containers and TTL nodes
/// carry internal markers).
int64_t client_ephemeral_owner(int64_t owner) {
  return is_session_owner(owner) ? owner : 0;
}

zk::stat to_zk(const pb::Stat& st) {
  zk::stat out;
  out.czxid = st.czxid();
  out.mzxid = st.mzxid();
  out.ctime = st.ctime_ms();
  out.mtime = st.mtime_ms();
  out.version = st.version();
  out.cversion = st.cversion();
  out.aversion = st.aversion();
  out.ephemeral_owner = client_ephemeral_owner(st.ephemeral_owner());
  out.data_length = st.data_length();
  out.num_children = st.num_children();
  out.pzxid = st.pzxid();
  return out;
}

namespace {

/// Decodes the body as a `Record` and lets `fill(record, out)` build the
/// request; `fill` returns 0 or the error to answer instead.
template <class Record, class Fill>
translated via(std::string_view body, Fill fill) {
  auto x = decode_body<Record>(body);
  if (!x)
    return error(err_marshalling);
  to_node out;
  if (auto err = fill(*x, out); err != err_ok)
    return error(err);
  return out;
}

/// SetWatches and SetWatches2 (which adds the persistent lists).
template <class Record>
int32_t fill_set_watches(const Record& x, to_node& out) {
  auto sw = out.request.mutable_set_watches();
  sw->set_relative_zxid(x.relative_zxid);
  auto copy = [](const std::vector<std::string>& from, auto* to) {
    for (const auto& p : from)
      *to->Add() = p;
  };
  copy(x.data_watches, sw->mutable_data());
  copy(x.exist_watches, sw->mutable_exist());
  copy(x.child_watches, sw->mutable_child());
  if constexpr (std::is_same_v<Record, set_watches2>) {
    copy(x.persistent_watches, sw->mutable_persistent());
    copy(x.persistent_recursive_watches, sw->mutable_recursive());
  }
  return err_ok;
}

translated translate_multi_read(std::string_view body) {
  auto decoded = decode_body<multi_request>(body);
  if (!decoded)
    return error(err_marshalling);
  to_node out;
  auto reads = out.request.mutable_multi_read();
  for (const auto& op : decoded->ops) {
    out.op_types.push_back(op.type);
    auto read = reads->add_ops();
    if (auto d = std::get_if<get_data_request>(&op.request))
      read->mutable_get_data()->set_path(d->path);
    else if (auto c = std::get_if<get_children_request>(&op.request))
      read->mutable_get_children()->set_path(c->path);
    else
      return error(err_bad_arguments); // writes belong in multi
  }
  return out;
}

} // namespace

translated translate(int32_t type, std::string_view body) {
  auto create = [type](const auto& x, to_node& out) {
    int32_t err = err_ok;
    fill_create(x, type, out.request.mutable_create(), err);
    return err;
  };
  switch (static_cast<op_code>(type)) {
    case op_code::create:
    case op_code::create2:
    case op_code::create_container:
      return via<create_request>(body, create);
    case op_code::create_ttl:
      return via<create_ttl_request>(body, create);
    case op_code::remove:
      return via<delete_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_delete_()->set_path(x.path);
        out.request.mutable_delete_()->set_version(x.version);
        return err_ok;
      });
    case op_code::exists:
      return via<exists_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_exists()->set_path(x.path);
        out.request.mutable_exists()->set_watch(x.watch);
        return err_ok;
      });
    case op_code::get_data:
      return via<get_data_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_get_data()->set_path(x.path);
        out.request.mutable_get_data()->set_watch(x.watch);
        return err_ok;
      });
    case op_code::set_data:
      return via<set_data_request>(body, [](const auto& x, to_node& out) {
        auto s = out.request.mutable_set_data();
        s->set_path(x.path);
        s->set_data(x.data);
        s->set_version(x.version);
        return err_ok;
      });
    case op_code::get_acl:
      return via<get_acl_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_get_acl()->set_path(x.path);
        return err_ok;
      });
    case op_code::set_acl:
      return via<set_acl_request>(body, [](const auto& x, to_node& out) {
        auto s = out.request.mutable_set_acl();
        s->set_path(x.path);
        to_pb(x.acl, s->mutable_acl());
        s->set_version(x.version);
        return err_ok;
      });
    case op_code::delete_container:
      // Internal to ZooKeeper (its ContainerManager's): ZooKeeper 3.8
      // answers a client BadArguments; Conclave's leader deletes containers
      // and TTL nodes by itself.
      return error(err_bad_arguments);
    case op_code::get_children:
    case op_code::get_children2:
      return via<get_children_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_get_children()->set_path(x.path);
        out.request.mutable_get_children()->set_watch(x.watch);
        return err_ok;
      });
    case op_code::sync:
      return via<sync_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_sync()->set_path(x.path);
        return err_ok;
      });
    case op_code::ping: {
      to_node out;
      out.request.mutable_ping();
      return out;
    }
    case op_code::check:
      return via<check_version_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_check()->set_path(x.path);
        out.request.mutable_check()->set_version(x.version);
        return err_ok;
      });
    case op_code::multi:
      return translate_multi(body);
    case op_code::multi_read:
      return translate_multi_read(body);
    case op_code::get_ephemerals:
      return via<get_ephemerals_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_get_ephemerals()->set_prefix(x.prefix_path);
        return err_ok;
      });
    case op_code::get_all_children_number:
      return via<get_all_children_number_request>(
        body, [](const auto& x, to_node& out) {
          out.request.mutable_count_descendants()->set_path(x.path);
          return err_ok;
        });
    case op_code::add_watch:
      return via<add_watch_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_add_watch()->set_path(x.path);
        out.request.mutable_add_watch()->set_mode(x.mode);
        return err_ok;
      });
    case op_code::remove_watches:
      return via<remove_watches_request>(body, [](const auto& x, to_node& out) {
        auto r = out.request.mutable_remove_watches();
        r->set_path(x.path);
        r->set_type(x.type);
        return err_ok;
      });
    case op_code::check_watches:
      return via<check_watches_request>(body, [](const auto& x, to_node& out) {
        out.request.mutable_check_watches()->set_path(x.path);
        out.request.mutable_check_watches()->set_type(x.type);
        return err_ok;
      });
    case op_code::set_watches:
      return via<zk::set_watches>(body, fill_set_watches<zk::set_watches>);
    case op_code::set_watches2:
      return via<set_watches2>(body, fill_set_watches<set_watches2>);
    case op_code::auth:
      return via<auth_packet>(body, [](const auto& x, to_node& out) {
        out.request.mutable_auth_request()->set_scheme(x.scheme);
        out.request.mutable_auth_request()->set_auth(x.auth);
        return err_ok;
      });
    case op_code::who_am_i: {
      to_node out;
      out.request.mutable_who_am_i();
      return out;
    }
    case op_code::reconfig: {
      auto x = decode_body<reconfig_request>(body);
      if (!x)
        return error(err_marshalling);
      to_node out;
      out.request.mutable_reconfig()->set_expected_config_id(-1);
      out.reconfig = std::move(*x);
      return out;
    }
    case op_code::close_session:
      return close_session_request{};
    default:
      // sasl, createSession and anything unknown.
      return error(err_unimplemented);
  }
}

reply encode_reply(int32_t type, const to_node& sent,
                   const pb::Response& resp) {
  reply out;
  out.err = resp.error();
  out.zxid = resp.zxid();
  if (static_cast<op_code>(type) == op_code::multi) {
    const auto& results = resp.multi().results();
    if (out.err != 0 && results.empty())
      return out; // refused as a whole (e.g. the session expired)
    multi_response m;
    for (int i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      auto op_type = static_cast<size_t>(i) < sent.op_types.size()
                       ? sent.op_types[static_cast<size_t>(i)]
                       : 0;
      m.results.push_back(out.err != 0 ? multi_error(r.error())
                                       : multi_ok(op_type, r));
    }
    // A failed multi is answered with err 0 in the header and the errors
    // in its results (ZooKeeper's FinalRequestProcessor).
    out.err = 0;
    out.body = encoded(m);
    return out;
  }
  if (static_cast<op_code>(type) == op_code::multi_read && out.err == 0) {
    // Each read answers on its own: a result or an error.
    multi_response m;
    const auto& results = resp.multi_read().results();
    for (int i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      auto op_type = static_cast<size_t>(i) < sent.op_types.size()
                       ? sent.op_types[static_cast<size_t>(i)]
                       : 0;
      if (r.error() != 0) {
        m.results.push_back(multi_error(r.error()));
      } else if (op_type == static_cast<int32_t>(op_code::get_data)) {
        multi_result res;
        res.type = op_type;
        res.response
          = get_data_response{r.data().data(), to_zk(r.data().stat())};
        m.results.push_back(std::move(res));
      } else {
        multi_result res;
        res.type = static_cast<int32_t>(op_code::get_children);
        get_children_response kids;
        for (const auto& n : r.children().names())
          kids.children.push_back(n);
        res.response = std::move(kids);
        m.results.push_back(std::move(res));
      }
    }
    out.body = encoded(m);
    return out;
  }
  if (static_cast<op_code>(type) == op_code::reconfig
      && out.err == static_cast<int32_t>(error_code::bad_version)
      && sent.reconfig && sent.reconfig->cur_config_id == -1)
    // The client asked for no particular version: the configuration it was
    // planned against changed meanwhile, another change got in first.
    out.err = static_cast<int32_t>(error_code::reconfig_in_progress);
  if (out.err != 0)
    return out;
  switch (static_cast<op_code>(type)) {
    case op_code::create:
      out.body = encoded(create_response{resp.op().path()});
      break;
    case op_code::create2:
    case op_code::create_container:
    case op_code::create_ttl:
      out.body
        = encoded(create2_response{resp.op().path(), to_zk(resp.op().stat())});
      break;
    case op_code::exists:
      out.body = encoded(exists_response{to_zk(resp.stat())});
      break;
    case op_code::get_data:
      out.body = encoded(
        get_data_response{resp.data().data(), to_zk(resp.data().stat())});
      break;
    case op_code::set_data:
      out.body = encoded(set_data_response{to_zk(resp.stat())});
      break;
    case op_code::get_acl: {
      get_acl_response r;
      for (const auto& a : resp.acl().acl())
        r.acl.push_back(acl{a.perms(), id{a.id().scheme(), a.id().id()}});
      r.stat = to_zk(resp.acl().stat());
      out.body = encoded(r);
      break;
    }
    case op_code::set_acl:
      out.body = encoded(set_acl_response{to_zk(resp.stat())});
      break;
    case op_code::who_am_i: {
      // ZooKeeper names the user only: the digest id's text before ':'.
      who_am_i_response r;
      for (const auto& i : resp.identities().ids())
        r.client_info.push_back(
          client_info{i.scheme(), i.scheme() == "digest"
                                    ? i.id().substr(0, i.id().find(':'))
                                    : i.id()});
      out.body = encoded(r);
      break;
    }
    case op_code::get_children: {
      get_children_response r;
      for (const auto& n : resp.children().names())
        r.children.push_back(n);
      out.body = encoded(r);
      break;
    }
    case op_code::get_children2: {
      get_children2_response r;
      for (const auto& n : resp.children().names())
        r.children.push_back(n);
      r.stat = to_zk(resp.children().stat());
      out.body = encoded(r);
      break;
    }
    case op_code::sync:
      out.body = encoded(sync_response{sent.request.sync().path()});
      break;
    case op_code::reconfig: {
      const auto& m = resp.members();
      if (!m.has_zk_config()) {
        // Applied, but this node could not read /zookeeper/config back.
        out.err = static_cast<int32_t>(error_code::system_error);
        break;
      }
      out.body = encoded(
        get_data_response{m.zk_config().data(), to_zk(m.zk_config().stat())});
      break;
    }
    case op_code::get_ephemerals: {
      get_ephemerals_response r;
      for (const auto& p : resp.paths().paths())
        r.ephemerals.push_back(p);
      out.body = encoded(r);
      break;
    }
    case op_code::get_all_children_number:
      out.body = encoded(
        get_all_children_number_response{static_cast<int32_t>(resp.count())});
      break;
    default: // delete, deleteContainer, check, ping, auth, addWatch,
             // removeWatches, setWatches
      break;
  }
  return out;
}

std::variant<to_node, reply>
plan_reconfig_request(const reconfig_request& record,
                      const pb::Response& listed,
                      uint64_t catch_up_timeout_ms) {
  reply now;
  now.zxid = listed.zxid();
  if (listed.error() != 0) {
    now.err = listed.error();
    return now;
  }
  const auto& m = listed.members();
  auto current = raft::decode(m.config());
  if (!current) {
    now.err = static_cast<int32_t>(error_code::system_error);
    return now;
  }
  auto plan = plan_reconfig(*current, record.joining_servers,
                            record.leaving_servers, record.new_members);
  if (plan.error != 0) {
    now.err = plan.error;
    return now;
  }
  if (record.cur_config_id != -1
      && (record.cur_config_id < 0
          || static_cast<uint64_t>(record.cur_config_id) != m.config_index())) {
    now.err = static_cast<int32_t>(error_code::bad_version);
    return now;
  }
  if (!m.committed()) {
    now.err = static_cast<int32_t>(error_code::reconfig_in_progress);
    return now;
  }
  to_node out;
  out.reconfig = record;
  if (plan.changes.empty()) {
    // Nothing to change: the configuration in force, as a listing shows it.
    to_node listing;
    listing.reconfig = record;
    return encode_reply(static_cast<int32_t>(op_code::reconfig), listing,
                        listed);
  }
  auto r = out.request.mutable_reconfig();
  for (auto& c : plan.changes)
    *r->add_changes() = std::move(c);
  // Planned against this configuration: refused (BadVersion) if another
  // change got in between.
  r->set_expected_config_id(static_cast<int64_t>(m.config_index()));
  r->set_catch_up_timeout_ms(catch_up_timeout_ms);
  return out;
}

std::string frame_reply(int32_t xid, const reply& r) {
  std::string out;
  jute_writer w{out};
  auto start = w.begin_frame();
  encode(w, reply_header{xid, r.zxid, r.err});
  if (r.err == 0)
    w.write_raw(r.body);
  w.end_frame(start);
  return out;
}

std::string frame_notification(const pb::WatchEvent& ev) {
  // Only tree events reach ZooKeeper clients; 5..7 (watch removed) are made
  // by their own client library, -1 (state) by the front end.
  if (ev.type() < 1 || ev.type() > 4)
    return {};
  std::string out;
  jute_writer w{out};
  auto start = w.begin_frame();
  encode(w, reply_header{notification_xid, ev.zxid(), 0});
  encode(w, watcher_event{ev.type(), 3, ev.path()});
  w.end_frame(start);
  return out;
}

} // namespace conclave::zk
