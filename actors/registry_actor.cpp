#include "actors/registry_actor.hpp"

#include <cstdlib>

#include "runtime/command_codec.hpp"
#include "runtime/logging.hpp"

namespace conclave {

namespace {

pb::Response ok_response(const data_tree& tree) {
  pb::Response resp;
  resp.set_zxid(tree.last_zxid().value());
  return resp;
}

pb::Response failed(const data_tree& tree, error_code code,
                    std::string_view path) {
  return error_response(code, describe_failure(code, path),
                        tree.last_zxid());
}

[[noreturn]] void abort_out_of_order(uint64_t expected, uint64_t got) {
  CONCLAVE_LOG("registry", error)
    << "broken invariant: expected log index " << expected << ", got " << got;
  std::abort();
}

} // namespace

pb::Response serve_read(const data_tree& tree, const pb::Request& req) {
  switch (req.op_case()) {
    case pb::Request::kGetData: {
      const auto& path = req.get_data().path();
      auto res = tree.get_data(path);
      if (!res)
        return failed(tree, res.error(), path);
      auto resp = ok_response(tree);
      auto out = resp.mutable_data();
      out->set_data(res->data);
      encode(res->stat, out->mutable_stat());
      return resp;
    }
    case pb::Request::kExists: {
      const auto& path = req.exists().path();
      auto res = tree.exists(path);
      if (!res)
        return failed(tree, res.error(), path);
      auto resp = ok_response(tree);
      encode(*res, resp.mutable_stat());
      return resp;
    }
    case pb::Request::kGetChildren: {
      const auto& path = req.get_children().path();
      auto res = tree.get_children(path);
      if (!res)
        return failed(tree, res.error(), path);
      auto resp = ok_response(tree);
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
      auto resp = ok_response(tree);
      auto out = resp.mutable_paths();
      for (auto& path : paths)
        out->add_paths(std::move(path));
      return resp;
    }
    case pb::Request::kCountDescendants: {
      const auto& path = req.count_descendants().path();
      auto res = tree.count_descendants(path);
      if (!res)
        return failed(tree, res.error(), path);
      auto resp = ok_response(tree);
      resp.set_count(*res);
      return resp;
    }
    default:
      return error_response(error_code::unimplemented,
                            "not a read request", tree.last_zxid());
  }
}

registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self, node_id id,
         data_tree_limits limits) {
  self->state.self_id = id;
  self->state.tree = data_tree{limits};
  return {
    [=](apply_atom, const pb::LogBatch& batch) {
      auto& st = self->state;
      for (const auto& entry : batch.entries()) {
        if (entry.index() != st.applied_index + 1)
          abort_out_of_order(st.applied_index + 1, entry.index());
        st.applied_index = entry.index();
        auto id = zxid{static_cast<int64_t>(entry.index())};
        auto cmd = decode(entry.command());
        if (!cmd) {
          // A committed entry this build cannot decode must never be
          // skipped: replicas would diverge. Stop loudly.
          CONCLAVE_LOG("registry", error)
            << "cannot decode committed entry " << entry.index() << ": "
            << to_string(cmd.error()) << "; refusing to continue";
          std::abort();
        }
        auto res = st.tree.apply(*cmd, id, entry.time_ms());
        if (entry.origin_node() == st.self_id.value() && st.sessions)
          self->send(st.sessions, applied_atom::value, entry.request_id(),
                     to_response(*cmd, res, id));
      }
    },
    [=](read_atom, const pb::Request& req) {
      return serve_read(self->state.tree, req);
    },
    [=](connect_atom, session_actor sessions) {
      self->state.sessions = std::move(sessions);
    },
    [=](status_atom) {
      const auto& tree = self->state.tree;
      pb::NodeStatus st;
      st.set_node_id(self->state.self_id.value());
      st.set_applied_index(self->state.applied_index);
      st.set_znode_count(tree.node_count());
      st.set_ephemeral_count(tree.ephemeral_count());
      st.set_approximate_data_bytes(tree.approximate_data_bytes());
      st.set_digest(tree.digest());
      return st;
    },
  };
}

} // namespace conclave
