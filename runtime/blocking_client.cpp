#include "runtime/blocking_client.hpp"

#include <thread>

#include "runtime/command_codec.hpp"
#include "runtime/membership_target.hpp"
#include "runtime/services.hpp"

namespace conclave {

namespace {

template <class T>
reply<T> failure_of(const reply<pb::Response>& resp) {
  reply<T> out;
  out.error = resp.error;
  out.message = resp.message;
  out.zxid = resp.zxid;
  return out;
}

template <class T>
reply<T> success(const reply<pb::Response>& resp, T value) {
  reply<T> out;
  out.zxid = resp.zxid;
  out.value = std::move(value);
  return out;
}

} // namespace

blocking_client::blocking_client(caf::actor_system& sys, client_options opts)
    : sys_(sys), client_(sys.spawn(client, opts)), self_(sys),
      // Leave the client actor's own timeout room to answer first.
      timeout_(opts.request_timeout * 2 + std::chrono::seconds(1)) {}

blocking_client::~blocking_client() {
  close();
  caf::anon_send_exit(client_, caf::exit_reason::user_shutdown);
}

reply<int64_t> blocking_client::connect() {
  reply<int64_t> out;
  self_->request(client_, timeout_, hello_atom::value)
    .receive([&](const pb::Hello& hello) { out.value = hello.session_id(); },
             [&](const caf::error& err) {
               out.error = error_code::connection_loss;
               out.message = sys_.render(err);
             });
  return out;
}

namespace {

template <class Handle>
reply<pb::Response> await_response(caf::actor_system& sys, Handle&& handle) {
  reply<pb::Response> out;
  std::forward<Handle>(handle).receive(
    [&](pb::Response& resp) {
      auto code = error_code_from_int(resp.error());
      out.error = code ? *code : error_code::system_error;
      out.message = resp.message();
      out.zxid = resp.zxid();
      out.value = std::move(resp);
    },
    [&](const caf::error& err) {
      out.error = error_code::connection_loss;
      out.message = sys.render(err);
    });
  return out;
}

} // namespace

reply<pb::Response> blocking_client::call(pb::Request req) {
  if (linearizable_ && !is_write(req))
    req.set_linearizable(true);
  return await_response(
    sys_,
    self_->request(client_, timeout_, request_atom::value, std::move(req)));
}

reply<pb::Response> blocking_client::call_watch(pb::Request req) {
  auto listener = caf::actor_cast<watch_listener>(self_.ptr());
  return await_response(sys_,
                        self_->request(client_, timeout_, watch_atom::value,
                                       std::move(req), listener));
}

reply<none_t> blocking_client::add_watch(std::string_view path,
                                         bool recursive) {
  pb::Request req;
  req.mutable_add_watch()->set_path(std::string{path});
  req.mutable_add_watch()->set_mode(recursive ? 1 : 0);
  auto resp = call_watch(std::move(req));
  if (!resp)
    return failure_of<none_t>(resp);
  return success(resp, none_t{});
}

reply<none_t> blocking_client::remove_watches(std::string_view path,
                                              watcher_type type) {
  pb::Request req;
  req.mutable_remove_watches()->set_path(std::string{path});
  req.mutable_remove_watches()->set_type(static_cast<int32_t>(type));
  auto resp = call_watch(std::move(req));
  if (!resp)
    return failure_of<none_t>(resp);
  return success(resp, none_t{});
}

std::optional<pb::WatchEvent>
blocking_client::next_event(std::chrono::milliseconds timeout) {
  std::optional<pb::WatchEvent> out;
  self_->receive([&](event_atom, pb::WatchEvent& ev) { out = std::move(ev); },
                 caf::after(timeout) >> [] {});
  return out;
}

connection_state blocking_client::watch_state() {
  auto out = connection_state::disconnected;
  auto listener = caf::actor_cast<watch_listener>(self_.ptr());
  self_->request(client_, timeout_, state_atom::value, listener)
    .receive([&](int32_t state) { out = static_cast<connection_state>(state); },
             [](const caf::error&) {});
  return out;
}

reply<std::string> blocking_client::create(std::string_view path,
                                           std::string_view data,
                                           create_mode mode, int64_t ttl_ms,
                                           const std::vector<acl_entry>& acl) {
  pb::Request req;
  auto op = req.mutable_create();
  op->set_path(std::string{path});
  op->set_data(std::string{data});
  op->set_mode(static_cast<pb::CreateMode>(mode));
  op->set_ttl_ms(ttl_ms);
  encode(acl, op->mutable_acl());
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<std::string>(resp);
  return success(resp, resp.value.op().path());
}

reply<conclave::stat> blocking_client::set(std::string_view path,
                                           std::string_view data,
                                           int32_t version) {
  pb::Request req;
  auto op = req.mutable_set_data();
  op->set_path(std::string{path});
  op->set_data(std::string{data});
  op->set_version(version);
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<conclave::stat>(resp);
  return success(resp, decode(resp.value.stat()));
}

reply<none_t> blocking_client::add_auth(std::string_view scheme,
                                        std::string_view credentials) {
  pb::Request req;
  req.mutable_auth_request()->set_scheme(std::string{scheme});
  req.mutable_auth_request()->set_auth(std::string{credentials});
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<none_t>(resp);
  return success(resp, none_t{});
}

reply<node_acl> blocking_client::get_acl(std::string_view path) {
  pb::Request req;
  req.mutable_get_acl()->set_path(std::string{path});
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<node_acl>(resp);
  return success(resp, node_acl{decode_acl(resp.value.acl().acl()),
                                decode(resp.value.acl().stat())});
}

reply<conclave::stat>
blocking_client::set_acl(std::string_view path,
                         const std::vector<acl_entry>& acl, int32_t version) {
  pb::Request req;
  auto op = req.mutable_set_acl();
  op->set_path(std::string{path});
  encode(acl, op->mutable_acl());
  op->set_version(version);
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<conclave::stat>(resp);
  return success(resp, decode(resp.value.stat()));
}

reply<std::vector<acl_id>> blocking_client::who_am_i() {
  pb::Request req;
  req.mutable_who_am_i();
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<std::vector<acl_id>>(resp);
  std::vector<acl_id> ids;
  for (const auto& i : resp.value.identities().ids())
    ids.push_back(acl_id{i.scheme(), i.id()});
  return success(resp, std::move(ids));
}

reply<none_t> blocking_client::remove(std::string_view path, int32_t version) {
  pb::Request req;
  auto op = req.mutable_delete_();
  op->set_path(std::string{path});
  op->set_version(version);
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<none_t>(resp);
  return success(resp, none_t{});
}

reply<node_data> blocking_client::get(std::string_view path, bool watch) {
  pb::Request req;
  req.mutable_get_data()->set_path(std::string{path});
  auto resp = watch ? call_watch(std::move(req)) : call(std::move(req));
  if (!resp)
    return failure_of<node_data>(resp);
  const auto& d = resp.value.data();
  return success(resp, node_data{d.data(), decode(d.stat())});
}

reply<conclave::stat> blocking_client::exists(std::string_view path,
                                              bool watch) {
  pb::Request req;
  req.mutable_exists()->set_path(std::string{path});
  auto resp = watch ? call_watch(std::move(req)) : call(std::move(req));
  if (!resp)
    return failure_of<conclave::stat>(resp);
  return success(resp, decode(resp.value.stat()));
}

reply<node_children> blocking_client::children(std::string_view path,
                                               bool watch) {
  pb::Request req;
  req.mutable_get_children()->set_path(std::string{path});
  auto resp = watch ? call_watch(std::move(req)) : call(std::move(req));
  if (!resp)
    return failure_of<node_children>(resp);
  const auto& c = resp.value.children();
  node_children out{{c.names().begin(), c.names().end()}, decode(c.stat())};
  return success(resp, std::move(out));
}

reply<std::vector<op_result>>
blocking_client::multi(const std::vector<txn_op>& ops) {
  auto encoded = encode(command{session_id{0}, multi_op{ops}});
  pb::Request req;
  *req.mutable_multi() = encoded.multi();
  auto resp = call(std::move(req));
  std::vector<op_result> results;
  for (const auto& r : resp.value.multi().results()) {
    auto code = error_code_from_int(r.error());
    results.push_back(op_result{code ? *code : error_code::system_error,
                                r.path(), decode(r.stat())});
  }
  auto out = resp ? success(resp, std::vector<op_result>{})
                  : failure_of<std::vector<op_result>>(resp);
  out.value = std::move(results);
  return out;
}

reply<std::vector<std::string>>
blocking_client::ephemerals(std::string_view prefix) {
  pb::Request req;
  req.mutable_get_ephemerals()->set_prefix(std::string{prefix});
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<std::vector<std::string>>(resp);
  const auto& p = resp.value.paths().paths();
  return success(resp, std::vector<std::string>{p.begin(), p.end()});
}

reply<int64_t> blocking_client::count_descendants(std::string_view path) {
  pb::Request req;
  req.mutable_count_descendants()->set_path(std::string{path});
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<int64_t>(resp);
  return success(resp, static_cast<int64_t>(resp.value.count()));
}

reply<pb::NodeStatus> blocking_client::status() {
  pb::Request req;
  req.mutable_status();
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<pb::NodeStatus>(resp);
  return success(resp, resp.value.status());
}

reply<none_t> blocking_client::sync(std::string_view path) {
  pb::Request req;
  req.mutable_sync()->set_path(std::string{path});
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<none_t>(resp);
  return success(resp, none_t{});
}

reply<uint64_t> blocking_client::transfer_leader(uint64_t target) {
  pb::Request req;
  req.mutable_transfer_leader()->set_target(target);
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<uint64_t>(resp);
  return success(resp, resp.value.target());
}

reply<pb::MembershipResult> blocking_client::members() {
  return reconfig(pb::ReconfigRequest{});
}

reply<pb::MembershipResult>
blocking_client::reconfig(const pb::ReconfigRequest& change) {
  pb::Request req;
  *req.mutable_reconfig() = change;
  auto resp = call(std::move(req));
  auto out = resp ? success(resp, pb::MembershipResult{})
                  : failure_of<pb::MembershipResult>(resp);
  if (resp.value.has_members())
    out.value = std::move(*resp.value.mutable_members());
  if (change.changes_size() > 0
      && (out.error == error_code::connection_loss
          || out.error == error_code::operation_timeout))
    settle(change, out);
  return out;
}

void blocking_client::settle(const pb::ReconfigRequest& change,
                             reply<pb::MembershipResult>& out) {
  // The answer was lost, not the change: read the committed configuration
  // (from whichever leader there is now) until it says one way or the
  // other, within one more request timeout.
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (std::chrono::steady_clock::now() < deadline) {
    auto now = members();
    if (now.ok() && now.value.committed()) {
      if (!membership_target_reached(change, now.value.config()))
        return; // not (or not wholly) applied: the first answer stands
      now.value.set_applied(static_cast<uint32_t>(change.changes_size()));
      now.message = "applied (its answer was lost: " + out.message + ")";
      out = std::move(now);
      out.error = error_code::ok;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
}

reply<pb::SnapshotChunk> blocking_client::snapshot_chunk(uint64_t index,
                                                         uint64_t offset) {
  pb::Request req;
  req.mutable_snapshot()->set_index(index);
  req.mutable_snapshot()->set_offset(offset);
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<pb::SnapshotChunk>(resp);
  return success(resp, std::move(*resp.value.mutable_snapshot_chunk()));
}

reply<none_t> blocking_client::inject_fault(std::string_view actor,
                                            std::string_view kind) {
  pb::Request req;
  req.mutable_fault()->set_actor(std::string{actor});
  req.mutable_fault()->set_kind(std::string{kind});
  auto resp = call(std::move(req));
  if (!resp)
    return failure_of<none_t>(resp);
  return success(resp, none_t{});
}

reply<std::string> blocking_client::register_service(
  std::string_view name, std::string_view instance_id,
  std::string_view endpoint,
  const std::map<std::string, std::string>& metadata) {
  auto parent = service_path(name);
  auto path = instance_path(name, instance_id);
  if (!path) {
    reply<std::string> out;
    out.error = error_code::bad_arguments;
    out.message = "invalid service name or instance id (1..255 bytes, no "
                  "'/', not '.' or '..')";
    return out;
  }
  pb::ServiceInstance instance;
  instance.set_service(std::string{name});
  instance.set_id(std::string{instance_id});
  instance.set_endpoint(std::string{endpoint});
  for (const auto& [k, v] : metadata)
    (*instance.mutable_metadata())[k] = v;
  auto data = encode_instance(instance);
  for (const auto& p : {std::string{services_root}, *parent}) {
    auto made = create(p, "");
    if (!made && made.error != error_code::node_exists)
      return made;
  }
  auto made = create(*path, data, create_mode::ephemeral);
  if (made || made.error != error_code::node_exists)
    return made;
  // Taken: ours (a re-registration updates it) or another session's.
  auto owner = exists(*path);
  auto session = connect();
  if (owner && session && owner.value.ephemeral_owner == session.value) {
    auto updated = set(*path, data);
    reply<std::string> out;
    out.error = updated.error;
    out.message = updated.message;
    out.zxid = updated.zxid;
    if (updated)
      out.value = *path;
    return out;
  }
  made.message = "instance " + std::string{instance_id} + " of service "
                 + std::string{name} + " is registered by another session";
  return made;
}

reply<none_t>
blocking_client::deregister_service(std::string_view name,
                                    std::string_view instance_id) {
  auto path = instance_path(name, instance_id);
  if (!path) {
    reply<none_t> out;
    out.error = error_code::bad_arguments;
    out.message = "invalid service name or instance id";
    return out;
  }
  return remove(*path);
}

reply<std::vector<pb::ServiceInstance>>
blocking_client::discover(std::string_view name) {
  reply<std::vector<pb::ServiceInstance>> out;
  auto path = service_path(name);
  if (!path) {
    out.error = error_code::bad_arguments;
    out.message = "invalid service name";
    return out;
  }
  auto ids = children(*path);
  if (!ids) {
    if (ids.error == error_code::no_node)
      out.zxid = ids.zxid; // no instance ever registered: none live
    else
      out.error = ids.error, out.message = ids.message;
    return out;
  }
  out.zxid = ids.zxid;
  for (const auto& id : ids.value.names) {
    auto got = get(*path + "/" + id);
    if (!got) {
      if (got.error == error_code::no_node)
        continue; // gone meanwhile
      out.error = got.error;
      out.message = got.message;
      return out;
    }
    out.value.push_back(instance_of(
      name, id, got.value.data, got.value.stat.czxid, got.value.stat.mzxid));
    out.zxid = std::max(out.zxid, got.zxid);
  }
  return out;
}

reply<std::vector<std::string>> blocking_client::services() {
  reply<std::vector<std::string>> out;
  auto names = children(services_root);
  if (!names) {
    if (names.error != error_code::no_node)
      out.error = names.error, out.message = names.message;
    return out;
  }
  out.zxid = names.zxid;
  out.value = std::move(names.value.names);
  return out;
}

service_watcher_actor blocking_client::subscribe(std::string_view name,
                                                 service_listener listener) {
  return conclave::subscribe(sys_, client_, std::string{name},
                             std::move(listener));
}

reply<none_t> blocking_client::close() {
  reply<none_t> out;
  if (closed_)
    return out;
  closed_ = true;
  self_->request(client_, timeout_, bye_atom::value)
    .receive(
      [&](const pb::Response& resp) {
        auto code = error_code_from_int(resp.error());
        out.error = code ? *code : error_code::system_error;
        out.message = resp.message();
      },
      [&](const caf::error& err) {
        out.error = error_code::connection_loss;
        out.message = sys_.render(err);
      });
  return out;
}

} // namespace conclave
