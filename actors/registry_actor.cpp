#include "actors/registry_actor.hpp"

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>

#include "actors/snapshot_files.hpp"
#include "runtime/command_codec.hpp"
#include "runtime/logging.hpp"

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

/// Applies one committed entry; returns the response for its proposer.
void apply_entry(self_ptr self, const pb::LogEntry& entry) {
  auto& st = self->state;
  if (entry.index() != st.applied_index + 1)
    fatal("broken invariant: expected log index "
          + std::to_string(st.applied_index + 1) + ", got "
          + std::to_string(entry.index()));
  st.applied_index = entry.index();
  st.applied_term = entry.term();
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
  auto res = st.tree.apply(*cmd, id, entry.time_ms());
  if (entry.origin_node() == st.self_id.value() && st.sessions)
    self->send(st.sessions, applied_atom::value, entry.request_id(),
               to_response(*cmd, res, id));
}

/// Serves the parked reads the tree has caught up with.
void serve_parked(self_ptr self) {
  auto& st = self->state;
  auto applied = static_cast<int64_t>(st.applied_index);
  for (auto i = st.parked.begin(); i != st.parked.end();) {
    if (i->request.min_zxid() <= applied) {
      i->promise.deliver(serve_read(st.tree, i->request, applied));
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
  for (auto v : st.options.voters)
    meta.add_voters(v);
  std::string error;
  auto pid = fork_snapshot_writer(st.tree, meta, st.options.snapshots, error);
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
                   uint64_t term) {
  auto& st = self->state;
  std::string error;
  auto tree
    = load_tree_snapshot(st.options.snapshots, path, st.options.limits, error);
  if (!tree)
    fatal("cannot load snapshot " + path + ": " + error);
  st.tree = std::move(tree).value();
  st.applied_index = index;
  st.applied_term = term;
  st.snapshot_index = index;
  CONCLAVE_LOG("registry", info) << "loaded snapshot at index " << index << " ("
                                 << st.tree.node_count() << " znodes)";
}

} // namespace

pb::Response serve_read(const data_tree& tree, const pb::Request& req,
                        int64_t applied) {
  switch (req.op_case()) {
    case pb::Request::kGetData: {
      const auto& path = req.get_data().path();
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
      auto res = tree.count_descendants(path);
      if (!res)
        return failed(res.error(), path, applied);
      auto resp = ok_response(applied);
      resp.set_count(*res);
      return resp;
    }
    case pb::Request::kSync:
      return ok_response(applied);
    default:
      return error_response(error_code::unimplemented, "not a read request",
                            zxid{applied});
  }
}

registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self, node_id id,
         registry_options options) {
  auto& st = self->state;
  st.self_id = id;
  st.options = std::move(options);
  st.tree = data_tree{st.options.limits};
  if (!st.options.initial_snapshot.empty())
    load_snapshot(self, st.options.initial_snapshot,
                  st.options.initial_snapshot_index,
                  st.options.initial_snapshot_term);
  self->delayed_send(self, sweep_interval, sweep_atom::value);
  self->attach_functor([=] {
    // Never leave a snapshot child behind.
    if (self->state.snapshot_child > 0) {
      ::kill(self->state.snapshot_child, SIGKILL);
      ::waitpid(self->state.snapshot_child, nullptr, 0);
    }
  });
  return {
    [=](apply_atom, const pb::LogBatch& batch) {
      for (const auto& entry : batch.entries())
        apply_entry(self, entry);
      if (!self->state.parked.empty())
        serve_parked(self);
    },
    [=](read_atom, pb::Request& req) -> caf::result<pb::Response> {
      auto& st = self->state;
      auto applied = static_cast<int64_t>(st.applied_index);
      if (req.min_zxid() <= applied)
        return serve_read(st.tree, req, applied);
      if (st.parked.size() >= st.options.max_parked_reads)
        return error_response(error_code::throttled_op,
                              "too many reads waiting for this node to "
                              "catch up",
                              zxid{applied});
      auto rp = self->make_response_promise<pb::Response>();
      st.parked.push_back(parked_read{std::move(req), rp});
      return rp;
    },
    [=](connect_atom, session_actor sessions) {
      self->state.sessions = std::move(sessions);
    },
    [=](status_atom) {
      const auto& st = self->state;
      pb::NodeStatus status;
      status.set_node_id(st.self_id.value());
      status.set_applied_index(st.applied_index);
      status.set_snapshot_index(st.snapshot_index);
      status.set_znode_count(st.tree.node_count());
      status.set_ephemeral_count(st.tree.ephemeral_count());
      status.set_approximate_data_bytes(st.tree.approximate_data_bytes());
      status.set_digest(st.tree.digest());
      return status;
    },
    [=](snapshot_atom) { return start_snapshot(self); },
    [=](load_atom, const std::string& path, const pb::SnapshotMeta& meta) {
      load_snapshot(self, path, meta.index(), meta.term());
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
        i->promise.deliver(error_response(
          error_code::operation_timeout,
          "this node has not reached zxid "
            + std::to_string(i->request.min_zxid()) + " (it is at "
            + std::to_string(applied) + "); try another node",
          zxid{applied}));
        i = st.parked.erase(i);
      }
      self->delayed_send(self, sweep_interval, sweep_atom::value);
    },
  };
}

} // namespace conclave
