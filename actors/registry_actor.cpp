#include "actors/registry_actor.hpp"

#include "actors/fault_injection.hpp"
#include "actors/local_sender.hpp"

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>

#include "actors/snapshot_files.hpp"
#include "runtime/command_codec.hpp"
#include "runtime/logging.hpp"
#include "runtime/path.hpp"
#include "runtime/zk/dynamic_config.hpp"

namespace conclave {

namespace {

using self_ptr = registry_actor::stateful_pointer<registry_state>;

constexpr auto reap_interval = std::chrono::milliseconds(20);
constexpr auto sweep_interval = std::chrono::seconds(1);

pb::Response ok_response(int64_t applied) {
  pb::Response resp;
  resp.set_zxid(applied);
  return resp;
}

pb::Response failed(error_code code, std::string_view path, int64_t applied) {
  return error_response(code, describe_failure(code, path), zxid{applied});
}

[[noreturn]] void fatal(const std::string& what) {
  CONCLAVE_LOG("registry", error) << what;
  std::abort();
}

pb::WatchEvent to_event(const notification& n) {
  pb::WatchEvent ev;
  ev.set_type(static_cast<int32_t>(n.type));
  ev.set_state(3); // SyncConnected
  ev.set_path(n.path);
  ev.set_zxid(n.zxid);
  return ev;
}

/// Sends notifications to their sessions' listeners, in order.
void deliver(self_ptr self, const std::vector<notification>& notes) {
  auto& st = self->state;
  for (const auto& n : notes)
    if (auto i = st.listeners.find(n.session.value()); i != st.listeners.end())
      self->send(i->second, event_atom::value, to_event(n));
}

/// Forgets the watches and the listener of a session.
void drop_watches(self_ptr self, int64_t session) {
  auto& st = self->state;
  st.watches.remove_session(session_id{session});
  st.listeners.erase(session);
}

/// Shows the configuration a node starts from (start-up, a snapshot
/// loaded) in /zookeeper/config, without a log entry. Deterministic: a
/// function of the tree and the configuration only. The version line keeps
/// the node's mzxid (the index of the configuration entry that last set
/// it, 0 if none did), so a tree that applied that entry, and a snapshot of
/// it, already hold exactly this text and stay as they are; a restored
/// snapshot or a new cluster shows its own membership. A configuration
/// without addresses (a single node without conclave.peers, a snapshot of
/// the first format) cannot be rendered: the tree keeps what it holds.
void show_config(registry_state& st, const raft::configuration& config) {
  if (config.empty())
    return;
  for (const auto& m : config.members)
    if (m.address.empty())
      return;
  auto node = st.machine.tree().get_data(path::config_node);
  auto version = node ? static_cast<uint64_t>(node->stat.mzxid) : 0;
  auto text = zk::render_dynamic_config(config, version);
  if (node && node->data == text)
    return;
  st.machine.reset_config(std::move(text));
}

/// Applies a configuration entry: /zookeeper/config shows it (its version
/// is the entry's index) and watches on it fire.
void apply_config_entry(self_ptr self, const pb::LogEntry& entry) {
  auto& st = self->state;
  auto config = raft::decode(entry.config());
  if (!config)
    fatal("committed configuration entry " + std::to_string(entry.index())
          + " is malformed; refusing to continue");
  st.config = std::move(*config);
  auto id = zxid{static_cast<int64_t>(entry.index())};
  // Configuration entries carry no leader time (time_ms 0): the node keeps
  // its mtime, on every replica alike.
  auto res = st.machine.apply_config(
    zk::render_dynamic_config(st.config, entry.index()), id, entry.time_ms());
  if (res.result.error != error_code::ok)
    CONCLAVE_LOG("registry", error)
      << "configuration entry " << entry.index()
      << " does not fit /zookeeper/config (max-data-bytes)";
  if (!res.result.events.empty())
    deliver(self, st.watches.on_events(res.result.events, id.value()));
}

/// Applies one committed entry; session changes go to `changes`.
void apply_entry(self_ptr self, const pb::LogEntry& entry,
                 pb::SessionChanges& changes) {
  auto& st = self->state;
  if (entry.index() != st.applied_index + 1)
    fatal("broken invariant: expected log index "
          + std::to_string(st.applied_index + 1) + ", got "
          + std::to_string(entry.index()));
  st.applied_index = entry.index();
  st.applied_term = entry.term();
  if (entry.has_config()) {
    apply_config_entry(self, entry);
    return;
  }
  if (!entry.has_command())
    return; // a leader's no-op
  auto id = zxid{static_cast<int64_t>(entry.index())};
  auto cmd = decode(entry.command());
  if (!cmd)
    // A committed entry this build cannot decode must never be skipped:
    // replicas would diverge.
    fatal("cannot decode committed entry " + std::to_string(entry.index())
          + ": " + std::string{to_string(cmd.error())}
          + "; refusing to continue");
  auto res = st.machine.apply(*cmd, id, entry.time_ms());
  if (!res.result.events.empty())
    deliver(self, st.watches.on_events(res.result.events, id.value()));
  if (res.session) {
    auto change = changes.add_changes();
    change->set_session_id(res.session->id.value());
    change->set_timeout_ms(res.session->timeout_ms);
    change->set_opened(res.session->opened);
    if (!res.session->opened) {
      CONCLAVE_LOG("registry", debug)
        << "session " << hex(res.session->id.value())
        << (res.session->expired ? " expired" : " closed");
      drop_watches(self, res.session->id.value());
    }
  }
  if (entry.origin_node() != st.self_id.value() || !st.sessions)
    return;
  pb::Response resp;
  if (res.result.error == error_code::session_expired) {
    resp = error_response(error_code::session_expired,
                          "session " + hex(cmd->session.value())
                            + " is not open (it expired or was closed)",
                          id);
  } else if (std::holds_alternative<open_session_op>(cmd->body)) {
    resp = to_response(*cmd, res.result, id);
    if (res.session) {
      auto info = resp.mutable_session();
      info->set_session_id(res.session->id.value());
      info->set_timeout_ms(res.session->timeout_ms);
    }
  } else {
    resp = to_response(*cmd, res.result, id);
  }
  self->send(st.sessions, applied_atom::value, entry.request_id(),
             std::move(resp));
}

/// Registers a watch, enforcing the node-wide limit too.
error_code add_watch(registry_state& st, int64_t session, std::string_view path,
                     watch_kind kind) {
  auto sid = session_id{session};
  if (!st.watches.has_watch(sid, path, kind)
      && st.watches.watch_count() >= st.options.max_watches)
    return error_code::quota_exceeded;
  return st.watches.add_watch(sid, path, kind);
}

pb::Response quota_error(const registry_state& st, int64_t applied) {
  return error_response(
    error_code::quota_exceeded,
    "watch limit reached (max-watches-per-session "
      + std::to_string(st.options.watches.max_watches_per_session)
      + ", max-watches " + std::to_string(st.options.max_watches)
      + " on this node); remove watches or let them fire",
    zxid{applied});
}

/// Serves a read, registering or removing the watches it asks for.
pb::Response serve(self_ptr self, const pb::Request& req) {
  auto& st = self->state;
  const auto& tree = st.machine.tree();
  auto applied = static_cast<int64_t>(st.applied_index);
  auto sid = req.session_id();
  auto max_path = st.options.limits.max_path_bytes;
  auto with_watch
    = [&](const std::string& path, watch_kind kind, bool only_if_ok) {
        auto resp = serve_read(tree, req, applied);
        if (only_if_ok && resp.error() != 0)
          return resp;
        if (path::validate(path, max_path) != error_code::ok)
          return resp;
        if (add_watch(st, sid, path, kind) != error_code::ok)
          return quota_error(st, applied);
        return resp;
      };
  switch (req.op_case()) {
    case pb::Request::kGetData:
      if (req.get_data().watch() && sid != 0)
        return with_watch(req.get_data().path(), watch_kind::data, true);
      break;
    case pb::Request::kExists:
      if (req.exists().watch() && sid != 0)
        return with_watch(req.exists().path(), watch_kind::data, false);
      break;
    case pb::Request::kGetChildren:
      if (req.get_children().watch() && sid != 0)
        return with_watch(req.get_children().path(), watch_kind::child, true);
      break;
    case pb::Request::kAddWatch: {
      const auto& msg = req.add_watch();
      auto kind = watch_kind_from_add_mode(msg.mode());
      if (!kind || sid == 0)
        return error_response(error_code::bad_arguments,
                              "addWatch mode must be 0 (persistent) or 1 "
                              "(persistent recursive)",
                              zxid{applied});
      if (path::validate(msg.path(), max_path) != error_code::ok)
        return failed(error_code::bad_arguments, msg.path(), applied);
      if (add_watch(st, sid, msg.path(), *kind) != error_code::ok)
        return quota_error(st, applied);
      return ok_response(applied);
    }
    case pb::Request::kRemoveWatches: {
      const auto& msg = req.remove_watches();
      auto type = watcher_type_from_int(msg.type());
      if (!type)
        return error_response(
          error_code::bad_arguments,
          "unknown watcher type " + std::to_string(msg.type()), zxid{applied});
      auto removed
        = st.watches.remove_watches(session_id{sid}, msg.path(), *type);
      if (!removed)
        return error_response(removed.error(), "no such watch on " + msg.path(),
                              zxid{applied});
      return ok_response(applied);
    }
    case pb::Request::kCheckWatches: {
      const auto& msg = req.check_watches();
      auto type = watcher_type_from_int(msg.type());
      if (!type)
        return error_response(
          error_code::bad_arguments,
          "unknown watcher type " + std::to_string(msg.type()), zxid{applied});
      auto found = st.watches.check_watches(session_id{sid}, msg.path(), *type);
      if (found != error_code::ok)
        return error_response(found, "no such watch on " + msg.path(),
                              zxid{applied});
      return ok_response(applied);
    }
    case pb::Request::kMultiRead: {
      // All at one zxid: nothing applies between them.
      auto resp = ok_response(applied);
      auto out = resp.mutable_multi_read();
      for (const auto& op : req.multi_read().ops()) {
        pb::Request one;
        *one.mutable_auth() = req.auth();
        if (op.has_get_data())
          *one.mutable_get_data() = op.get_data();
        else if (op.has_get_children())
          *one.mutable_get_children() = op.get_children();
        *out->add_results() = serve_read(tree, one, applied);
      }
      return resp;
    }
    case pb::Request::kSetWatches: {
      const auto& msg = req.set_watches();
      auto list = [](const auto& field) {
        return std::vector<std::string>(field.begin(), field.end());
      };
      auto wanted = static_cast<size_t>(
        msg.data_size() + msg.exist_size() + msg.child_size()
        + msg.persistent_size() + msg.recursive_size());
      if (st.watches.watch_count() + wanted > st.options.max_watches)
        return quota_error(st, applied);
      auto fired = st.watches.set_watches(
        session_id{sid}, msg.relative_zxid(), list(msg.data()),
        list(msg.exist()), list(msg.child()), list(msg.persistent()),
        list(msg.recursive()), tree);
      if (!fired)
        return quota_error(st, applied);
      deliver(self, *fired);
      return ok_response(applied);
    }
    default:
      break;
  }
  return serve_read(tree, req, applied);
}

/// Judges a reconnecting session against the applied session table.
pb::Response check_session(const registry_state& st,
                           const pb::SessionCheck& check) {
  auto applied = zxid{static_cast<int64_t>(st.applied_index)};
  auto sid = session_id{check.session_id()};
  const auto& table = st.machine.sessions();
  if (!table.check_password(sid, check.password()))
    return error_response(error_code::session_expired,
                          "session " + hex(check.session_id())
                            + " has expired or is unknown",
                          applied);
  pb::Response resp;
  resp.set_zxid(applied.value());
  auto info = resp.mutable_session();
  info->set_session_id(check.session_id());
  info->set_timeout_ms(table.find(sid)->timeout_ms);
  return resp;
}

/// The whole session table as one message.
pb::SessionChanges all_sessions(const registry_state& st) {
  pb::SessionChanges out;
  out.set_reset(true);
  for (const auto& [id, info] : st.machine.sessions().sessions()) {
    auto change = out.add_changes();
    change->set_session_id(id.value());
    change->set_timeout_ms(info.timeout_ms);
    change->set_opened(true);
  }
  return out;
}

/// Serves `req` and counts its latency since `arrived`.
pb::Response served(self_ptr self, const pb::Request& req,
                    std::chrono::steady_clock::time_point arrived) {
  auto resp = serve(self, req);
  std::chrono::duration<double> took
    = std::chrono::steady_clock::now() - arrived;
  observe_latency(self->state.read_seconds, native_op_name(req), took.count());
  return resp;
}

/// Serves the parked reads the tree has caught up with.
void serve_parked(self_ptr self) {
  auto& st = self->state;
  auto applied = static_cast<int64_t>(st.applied_index);
  for (auto i = st.parked.begin(); i != st.parked.end();) {
    auto min = i->check ? i->check->min_zxid() : i->request.min_zxid();
    if (min <= applied) {
      if (i->check)
        i->promise.deliver(check_session(st, *i->check));
      else
        i->promise.deliver(served(self, i->request, i->arrived));
      i = st.parked.erase(i);
    } else {
      ++i;
    }
  }
}

caf::result<pb::SnapshotMeta> start_snapshot(self_ptr self) {
  auto& st = self->state;
  if (st.snapshot_child > 0)
    return caf::make_error(caf::sec::runtime_error,
                           "a snapshot is already being taken");
  if (st.applied_index == 0 || st.applied_index == st.snapshot_index)
    return caf::make_error(caf::sec::runtime_error, "nothing new to snapshot");
  pb::SnapshotMeta meta;
  meta.set_index(st.applied_index);
  meta.set_term(st.applied_term);
  // The configuration at the snapshot's index (and its voters, for
  // readers of the first format).
  raft::encode(st.config, meta.mutable_config());
  for (auto v : st.config.voters())
    meta.add_voters(v.value());
  std::string error;
  auto pid
    = fork_snapshot_writer(st.machine, meta, st.options.snapshots, error);
  if (pid < 0)
    return caf::make_error(caf::sec::runtime_error, error);
  CONCLAVE_LOG("registry", info)
    << "taking snapshot at index " << meta.index() << " (child " << pid << ")";
  st.snapshot_child = pid;
  st.snapshot_meta = meta;
  st.snapshot_promise = self->make_response_promise<pb::SnapshotMeta>();
  self->delayed_send(self, reap_interval, reap_atom::value);
  return st.snapshot_promise;
}

void reap(self_ptr self) {
  auto& st = self->state;
  if (st.snapshot_child <= 0)
    return;
  int status = 0;
  auto r = ::waitpid(st.snapshot_child, &status, WNOHANG);
  if (r == 0) {
    self->delayed_send(self, reap_interval, reap_atom::value);
    return;
  }
  st.snapshot_child = -1;
  if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    CONCLAVE_LOG("registry", error)
      << "snapshot child failed (status " << status << ")";
    st.snapshot_promise.deliver(
      caf::make_error(caf::sec::runtime_error, "snapshot child failed"));
    return;
  }
  st.snapshot_index = st.snapshot_meta.index();
  CONCLAVE_LOG("registry", info)
    << "snapshot at index " << st.snapshot_index << " is durable";
  st.snapshot_promise.deliver(st.snapshot_meta);
}

void load_snapshot(self_ptr self, const std::string& path, uint64_t index,
                   uint64_t term, const raft::configuration& config) {
  auto& st = self->state;
  std::string error;
  auto machine = load_state_snapshot(
    st.options.snapshots, path, st.options.limits, st.options.sessions, error);
  if (!machine)
    fatal("cannot load snapshot " + path + ": " + error);
  st.machine = std::move(machine).value();
  if (!config.empty())
    st.config = config;
  show_config(st, st.config);
  // The tree jumped over changes no watch saw: every client connected here
  // reconnects and re-registers its watches (SetWatches fires what changed).
  pb::WatchEvent gone;
  gone.set_type(-1);
  gone.set_state(0); // Disconnected
  gone.set_zxid(no_zxid);
  for (const auto& [sid, listener] : st.listeners)
    self->send(listener, event_atom::value, gone);
  st.listeners.clear();
  st.watches = watch_manager{st.options.watches};
  if (st.sessions)
    self->send(st.sessions, sessions_atom::value, all_sessions(st));
  st.applied_index = index;
  st.applied_term = term;
  st.snapshot_index = index;
  CONCLAVE_LOG("registry", info)
    << "loaded snapshot at index " << index << " ("
    << st.machine.tree().node_count() << " znodes, "
    << st.machine.sessions().size() << " sessions)";
}

} // namespace

namespace {

/// ZooKeeper's checkACL for a read: ok, or why not (no_node first).
error_code authorize(const data_tree& tree, const std::string& path,
                     int32_t perm, const pb::Request& req) {
  return tree.authorize(path, perm, decode(req.auth()));
}

/// getACL for a caller without ADMIN: digest ids show the user only
/// ("alice:x"), as ZooKeeper answers (ZOOKEEPER-1392).
void redact_digests(std::vector<acl_entry>& acl) {
  for (auto& e : acl)
    if (e.id.scheme == "digest")
      e.id.id = e.id.id.substr(0, e.id.id.find(':')) + ":x";
}

} // namespace

pb::Response serve_read(const data_tree& tree, const pb::Request& req,
                        int64_t applied) {
  switch (req.op_case()) {
    case pb::Request::kGetData: {
      const auto& path = req.get_data().path();
      if (auto err = authorize(tree, path, acl_perms::read, req);
          err != error_code::ok)
        return failed(err, path, applied);
      auto res = tree.get_data(path);
      if (!res)
        return failed(res.error(), path, applied);
      auto resp = ok_response(applied);
      auto out = resp.mutable_data();
      out->set_data(res->data);
      encode(res->stat, out->mutable_stat());
      return resp;
    }
    case pb::Request::kExists: {
      const auto& path = req.exists().path();
      auto res = tree.exists(path);
      if (!res)
        return failed(res.error(), path, applied);
      auto resp = ok_response(applied);
      encode(*res, resp.mutable_stat());
      return resp;
    }
    case pb::Request::kGetChildren: {
      const auto& path = req.get_children().path();
      if (auto err = authorize(tree, path, acl_perms::read, req);
          err != error_code::ok)
        return failed(err, path, applied);
      auto res = tree.get_children(path);
      if (!res)
        return failed(res.error(), path, applied);
      auto resp = ok_response(applied);
      auto out = resp.mutable_children();
      for (const auto& name : res->names)
        out->add_names(name);
      encode(res->stat, out->mutable_stat());
      return resp;
    }
    case pb::Request::kGetEphemerals: {
      const auto& msg = req.get_ephemerals();
      auto prefix = msg.prefix().empty() ? std::string{"/"} : msg.prefix();
      auto paths = tree.get_ephemerals(session_id{msg.session_id()}, prefix);
      auto resp = ok_response(applied);
      auto out = resp.mutable_paths();
      for (auto& path : paths)
        out->add_paths(std::move(path));
      return resp;
    }
    case pb::Request::kCountDescendants: {
      const auto& path = req.count_descendants().path();
      if (auto err = authorize(tree, path, acl_perms::read, req);
          err != error_code::ok)
        return failed(err, path, applied);
      auto res = tree.count_descendants(path);
      if (!res)
        return failed(res.error(), path, applied);
      auto resp = ok_response(applied);
      resp.set_count(*res);
      return resp;
    }
    case pb::Request::kGetAcl: {
      const auto& path = req.get_acl().path();
      if (auto err
          = authorize(tree, path, acl_perms::read | acl_perms::admin, req);
          err != error_code::ok)
        return failed(err, path, applied);
      auto res = tree.get_acl(path);
      if (!res)
        return failed(res.error(), path, applied);
      auto acl = res->acl;
      if (authorize(tree, path, acl_perms::admin, req) != error_code::ok)
        redact_digests(acl);
      auto resp = ok_response(applied);
      auto out = resp.mutable_acl();
      encode(acl, out->mutable_acl());
      encode(res->stat, out->mutable_stat());
      return resp;
    }
    case pb::Request::kSync:
      return ok_response(applied);
    default:
      return error_response(error_code::unimplemented, "not a read request",
                            zxid{applied});
  }
}

registry_state::~registry_state() {
  if (snapshot_child > 0) {
    ::kill(snapshot_child, SIGKILL);
    ::waitpid(snapshot_child, nullptr, 0);
  }
}

registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self, node_id id,
         registry_options options) {
  auto& st = self->state;
  st.self_id = id;
  st.options = std::move(options);
  st.machine = state_machine{st.options.limits, st.options.sessions};
  st.watches = watch_manager{st.options.watches};
  auto initial = raft::decode(st.options.config);
  if (!initial)
    fatal("the initial configuration is malformed");
  st.config = std::move(*initial);
  if (!st.options.initial_snapshot.empty())
    load_snapshot(self, st.options.initial_snapshot,
                  st.options.initial_snapshot_index,
                  st.options.initial_snapshot_term, st.config);
  else
    show_config(st, st.config);
  self->delayed_send(self, sweep_interval, sweep_atom::value);
  return {
    [=](fault_atom, const std::string& kind) { inject_fault(self, kind); },
    [=](apply_atom, const pb::LogBatch& batch) {
      pb::SessionChanges changes;
      for (const auto& entry : batch.entries())
        apply_entry(self, entry, changes);
      if (changes.changes_size() > 0 && self->state.sessions)
        self->send(self->state.sessions, sessions_atom::value,
                   std::move(changes));
      if (!self->state.parked.empty())
        serve_parked(self);
    },
    [=](read_atom, pb::Request& req) -> caf::result<pb::Response> {
      auto& st = self->state;
      auto arrived = std::chrono::steady_clock::now();
      auto applied = static_cast<int64_t>(st.applied_index);
      auto wanted = std::max(
        req.min_zxid(),
        req.has_set_watches() ? req.set_watches().relative_zxid() : int64_t{0});
      req.set_min_zxid(wanted);
      if (wanted <= applied)
        return served(self, req, arrived);
      if (st.parked.size() >= st.options.max_parked_reads)
        return error_response(error_code::throttled_op,
                              "too many reads waiting for this node to "
                              "catch up",
                              zxid{applied});
      auto rp = self->make_response_promise<pb::Response>();
      st.parked.push_back(
        parked_read{std::move(req), std::nullopt, rp, 0, arrived});
      return rp;
    },
    [=](watch_atom, int64_t session, watch_listener listener) {
      // A session that ended meanwhile gets no listener (it would never be
      // removed).
      if (self->state.machine.sessions().find(session_id{session}) != nullptr)
        self->state.listeners[session] = std::move(listener);
    },
    [=](watch_atom, int64_t session) { drop_watches(self, session); },
    [=](check_atom, pb::SessionCheck& check) -> caf::result<pb::Response> {
      auto& st = self->state;
      auto applied = static_cast<int64_t>(st.applied_index);
      if (check.min_zxid() <= applied)
        return check_session(st, check);
      if (st.parked.size() >= st.options.max_parked_reads)
        return error_response(error_code::throttled_op,
                              "too many requests waiting for this node to "
                              "catch up",
                              zxid{applied});
      auto rp = self->make_response_promise<pb::Response>();
      st.parked.push_back(parked_read{
        {}, std::move(check), rp, 0, std::chrono::steady_clock::now()});
      return rp;
    },
    [=](sessions_atom) { return all_sessions(self->state); },
    [=](connect_atom, session_actor sessions) {
      if (!from_this_process(self))
        return;
      self->state.sessions = std::move(sessions);
    },
    [=](cleanup_atom, int64_t now_ms, uint64_t max) {
      auto due = self->state.machine.tree().cleanup_candidates(now_ms);
      if (due.size() > max)
        due.resize(max);
      pb::PathList out;
      for (auto& p : due)
        out.add_paths(std::move(p));
      return out;
    },
    [=](status_atom) {
      const auto& st = self->state;
      pb::NodeStatus status;
      status.set_node_id(st.self_id.value());
      status.set_applied_index(st.applied_index);
      status.set_snapshot_index(st.snapshot_index);
      const auto& tree = st.machine.tree();
      status.set_znode_count(tree.node_count());
      status.set_ephemeral_count(tree.ephemeral_count());
      status.set_approximate_data_bytes(tree.approximate_data_bytes());
      status.set_digest(tree.digest());
      status.set_session_count(st.machine.sessions().size());
      status.set_watch_count(st.watches.watch_count());
      add_latency(st.read_seconds, status);
      return status;
    },
    [=](snapshot_atom) { return start_snapshot(self); },
    [=](load_atom, const std::string& path, const pb::SnapshotMeta& meta) {
      load_snapshot(self, path, meta.index(), meta.term(),
                    raft::decode(meta).config);
      serve_parked(self);
    },
    [=](reap_atom) { reap(self); },
    [=](sweep_atom) {
      auto& st = self->state;
      auto limit = st.options.parked_read_timeout / sweep_interval;
      auto applied = static_cast<int64_t>(st.applied_index);
      for (auto i = st.parked.begin(); i != st.parked.end();) {
        if (++i->sweeps < limit) {
          ++i;
          continue;
        }
        auto min = i->check ? i->check->min_zxid() : i->request.min_zxid();
        i->promise.deliver(error_response(
          error_code::operation_timeout,
          "this node has not reached zxid " + std::to_string(min)
            + " (it is at " + std::to_string(applied) + "); try another node",
          zxid{applied}));
        i = st.parked.erase(i);
      }
      self->delayed_send(self, sweep_interval, sweep_atom::value);
    },
  };
}

} // namespace conclave
