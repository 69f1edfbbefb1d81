#include "runtime/command_codec.hpp"

#include <type_traits>

namespace conclave {

namespace {

template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overload(Fs...) -> overload<Fs...>;

// -- ops -> protobuf ---------------------------------------------------------

void encode(const create_op& op, pb::CreateOp* out) {
  out->set_path(op.path);
  out->set_data(op.data);
  out->set_mode(static_cast<pb::CreateMode>(op.mode));
  out->set_ttl_ms(op.ttl_ms);
  encode(op.acl, out->mutable_acl());
}

void encode(const delete_op& op, pb::DeleteOp* out) {
  out->set_path(op.path);
  out->set_version(op.version);
}

void encode(const set_data_op& op, pb::SetDataOp* out) {
  out->set_path(op.path);
  out->set_data(op.data);
  out->set_version(op.version);
}

void encode(const check_op& op, pb::CheckOp* out) {
  out->set_path(op.path);
  out->set_version(op.version);
}

void encode(const txn_op& op, pb::TxnOp* out) {
  std::visit(
    overload{
      [&](const create_op& x) { encode(x, out->mutable_create()); },
      [&](const delete_op& x) { encode(x, out->mutable_delete_()); },
      [&](const set_data_op& x) { encode(x, out->mutable_set_data()); },
      [&](const check_op& x) { encode(x, out->mutable_check()); },
    },
    op);
}

// -- protobuf -> ops ---------------------------------------------------------

result<create_op> decode_op(const pb::CreateOp& msg) {
  if (!pb::CreateMode_IsValid(msg.mode()))
    return error_code::bad_arguments;
  return create_op{msg.path(), msg.data(), static_cast<create_mode>(msg.mode()),
                   msg.ttl_ms(), decode_acl(msg.acl())};
}

set_acl_op decode_op(const pb::SetAclOp& msg) {
  return set_acl_op{msg.path(), decode_acl(msg.acl()), msg.version()};
}

delete_container_op decode_op(const pb::DeleteContainerOp& msg) {
  return delete_container_op{msg.path()};
}

delete_op decode_op(const pb::DeleteOp& msg) {
  return delete_op{msg.path(), msg.version()};
}

set_data_op decode_op(const pb::SetDataOp& msg) {
  return set_data_op{msg.path(), msg.data(), msg.version()};
}

check_op decode_op(const pb::CheckOp& msg) {
  return check_op{msg.path(), msg.version()};
}

result<txn_op> decode_op(const pb::TxnOp& msg) {
  switch (msg.op_case()) {
    case pb::TxnOp::kCreate: {
      auto op = decode_op(msg.create());
      if (!op)
        return op.error();
      return txn_op{std::move(op).value()};
    }
    case pb::TxnOp::kDelete:
      return txn_op{decode_op(msg.delete_())};
    case pb::TxnOp::kSetData:
      return txn_op{decode_op(msg.set_data())};
    case pb::TxnOp::kCheck:
      return txn_op{decode_op(msg.check())};
    default:
      return error_code::bad_arguments;
  }
}

result<multi_op> decode_op(const pb::MultiOp& msg) {
  multi_op multi;
  multi.ops.reserve(static_cast<size_t>(msg.ops_size()));
  for (const auto& op : msg.ops()) {
    auto decoded = decode_op(op);
    if (!decoded)
      return decoded.error();
    multi.ops.push_back(std::move(decoded).value());
  }
  return multi;
}

template <class T>
result<command_body> lift(T&& x) {
  return command_body{std::forward<T>(x)};
}

template <class T>
result<command_body> lift(result<T>&& x) {
  if (!x)
    return x.error();
  return command_body{std::move(x).value()};
}

std::string_view path_of(const txn_op& op) {
  return std::visit([](const auto& x) -> std::string_view { return x.path; },
                    op);
}

bool is_create(const txn_op& op) {
  return std::holds_alternative<create_op>(op);
}

} // namespace

// -- commands ----------------------------------------------------------------

pb::Command encode(const command& cmd) {
  pb::Command msg;
  msg.set_format_version(command_format_version);
  msg.set_session_id(cmd.session.value());
  if (cmd.auth != auth_info{})
    encode(cmd.auth, msg.mutable_auth());
  std::visit(overload{
               [&](const create_op& x) { encode(x, msg.mutable_create()); },
               [&](const delete_op& x) { encode(x, msg.mutable_delete_()); },
               [&](const set_data_op& x) { encode(x, msg.mutable_set_data()); },
               [&](const check_op& x) { encode(x, msg.mutable_check()); },
               [&](const multi_op& x) {
                 auto out = msg.mutable_multi();
                 for (const auto& op : x.ops)
                   encode(op, out->add_ops());
               },
               [&](const close_session_op& x) {
                 msg.mutable_close_session()->set_expired(x.expired);
               },
               [&](const open_session_op& x) {
                 auto out = msg.mutable_open_session();
                 out->set_timeout_ms(x.timeout_ms);
                 out->set_password(x.password);
               },
               [&](const set_acl_op& x) {
                 auto out = msg.mutable_set_acl();
                 out->set_path(x.path);
                 encode(x.acl, out->mutable_acl());
                 out->set_version(x.version);
               },
               [&](const delete_container_op& x) {
                 auto out = msg.mutable_delete_container();
                 out->set_path(x.path);
               },
             },
             cmd.body);
  return msg;
}

result<command> decode(const pb::Command& msg) {
  if (msg.format_version() == 0
      || msg.format_version() > command_format_version)
    return error_code::data_inconsistency;
  result<command_body> body = error_code::bad_arguments;
  switch (msg.body_case()) {
    case pb::Command::kCreate:
      body = lift(decode_op(msg.create()));
      break;
    case pb::Command::kDelete:
      body = lift(decode_op(msg.delete_()));
      break;
    case pb::Command::kSetData:
      body = lift(decode_op(msg.set_data()));
      break;
    case pb::Command::kCheck:
      body = lift(decode_op(msg.check()));
      break;
    case pb::Command::kMulti:
      body = lift(decode_op(msg.multi()));
      break;
    case pb::Command::kCloseSession:
      body = command_body{close_session_op{msg.close_session().expired()}};
      break;
    case pb::Command::kOpenSession:
      body = command_body{open_session_op{msg.open_session().timeout_ms(),
                                          msg.open_session().password()}};
      break;
    case pb::Command::kSetAcl:
      body = lift(decode_op(msg.set_acl()));
      break;
    case pb::Command::kDeleteContainer:
      body = lift(decode_op(msg.delete_container()));
      break;
    default:
      break;
  }
  if (!body)
    return body.error();
  return command{session_id{msg.session_id()}, std::move(body).value(),
                 decode(msg.auth())};
}

bool is_write(const pb::Request& req) {
  switch (req.op_case()) {
    case pb::Request::kCreate:
    case pb::Request::kDelete:
    case pb::Request::kSetData:
    case pb::Request::kCheck:
    case pb::Request::kMulti:
    case pb::Request::kSetAcl:
      return true;
    default:
      return false;
  }
}

result<command_body> write_of(const pb::Request& req) {
  switch (req.op_case()) {
    case pb::Request::kCreate:
      return lift(decode_op(req.create()));
    case pb::Request::kDelete:
      return lift(decode_op(req.delete_()));
    case pb::Request::kSetData:
      return lift(decode_op(req.set_data()));
    case pb::Request::kCheck:
      return lift(decode_op(req.check()));
    case pb::Request::kMulti:
      return lift(decode_op(req.multi()));
    case pb::Request::kSetAcl:
      return lift(decode_op(req.set_acl()));
    default:
      return error_code::bad_arguments;
  }
}

// -- ACLs and auth -------------------------------------------------------------

void encode(const std::vector<acl_entry>& acl,
            google::protobuf::RepeatedPtrField<pb::Acl>* out) {
  out->Reserve(static_cast<int>(acl.size()));
  for (const auto& e : acl) {
    auto a = out->Add();
    a->set_perms(e.perms);
    a->mutable_id()->set_scheme(e.id.scheme);
    a->mutable_id()->set_id(e.id.id);
  }
}

std::vector<acl_entry>
decode_acl(const google::protobuf::RepeatedPtrField<pb::Acl>& msg) {
  std::vector<acl_entry> out;
  out.reserve(static_cast<size_t>(msg.size()));
  for (const auto& a : msg)
    out.push_back(acl_entry{a.perms(), acl_id{a.id().scheme(), a.id().id()}});
  return out;
}

void encode(const auth_info& auth, pb::Auth* out) {
  for (const auto& id : auth.ids) {
    auto i = out->add_ids();
    i->set_scheme(id.scheme);
    i->set_id(id.id);
  }
  out->set_client_ip(auth.client_ip);
  out->set_super(auth.super);
}

auth_info decode(const pb::Auth& msg) {
  auth_info out;
  for (const auto& i : msg.ids())
    out.ids.push_back(acl_id{i.scheme(), i.id()});
  out.client_ip = msg.client_ip();
  out.super = msg.super();
  return out;
}

// -- results -----------------------------------------------------------------

void encode(const conclave::stat& st, pb::Stat* out) {
  out->set_czxid(st.czxid);
  out->set_mzxid(st.mzxid);
  out->set_ctime_ms(st.ctime_ms);
  out->set_mtime_ms(st.mtime_ms);
  out->set_version(st.version);
  out->set_cversion(st.cversion);
  out->set_aversion(st.aversion);
  out->set_ephemeral_owner(st.ephemeral_owner);
  out->set_data_length(st.data_length);
  out->set_num_children(st.num_children);
  out->set_pzxid(st.pzxid);
}

conclave::stat decode(const pb::Stat& msg) {
  conclave::stat st;
  st.czxid = msg.czxid();
  st.mzxid = msg.mzxid();
  st.ctime_ms = msg.ctime_ms();
  st.mtime_ms = msg.mtime_ms();
  st.version = msg.version();
  st.cversion = msg.cversion();
  st.aversion = msg.aversion();
  st.ephemeral_owner = msg.ephemeral_owner();
  st.data_length = msg.data_length();
  st.num_children = msg.num_children();
  st.pzxid = msg.pzxid();
  return st;
}

std::string describe_failure(error_code code, std::string_view path,
                             bool is_create) {
  std::string p{path};
  switch (code) {
    case error_code::no_node:
      return is_create ? "parent of " + p + " does not exist"
                       : p + " does not exist";
    case error_code::node_exists:
      return p + " already exists";
    case error_code::bad_version:
      return p + " is not at the expected version";
    case error_code::not_empty:
      return p + " has children";
    case error_code::no_children_for_ephemerals:
      return "parent of " + p + " is ephemeral and cannot have children";
    case error_code::bad_arguments:
      return "invalid path or arguments: '" + p + "'";
    case error_code::no_auth:
      return "not authorized for " + p;
    case error_code::invalid_acl:
      return "invalid ACL for " + p;
    default:
      return std::string{to_string(code)} + " for " + p;
  }
}

pb::Response error_response(error_code code, std::string message, zxid id) {
  pb::Response resp;
  resp.set_error(static_cast<int32_t>(code));
  resp.set_message(std::move(message));
  resp.set_zxid(id.value());
  return resp;
}

pb::Response to_response(const command& cmd, const apply_result& res, zxid id) {
  pb::Response resp;
  resp.set_zxid(id.value());
  resp.set_error(static_cast<int32_t>(res.error));
  if (auto multi = std::get_if<multi_op>(&cmd.body)) {
    auto out = resp.mutable_multi();
    for (size_t i = 0; i < res.results.size(); ++i) {
      const auto& r = res.results[i];
      auto item = out->add_results();
      item->set_error(static_cast<int32_t>(r.error));
      item->set_path(r.path);
      encode(r.stat, item->mutable_stat());
      if (r.error != error_code::ok
          && r.error != error_code::runtime_inconsistency
          && resp.message().empty() && i < multi->ops.size())
        resp.set_message("multi op " + std::to_string(i + 1) + " failed: "
                         + describe_failure(r.error, path_of(multi->ops[i]),
                                            is_create(multi->ops[i])));
    }
    return resp;
  }
  if (res.error != error_code::ok) {
    std::string_view path;
    std::visit(
      [&](const auto& op) {
        if constexpr (names_a_path_v<std::decay_t<decltype(op)>>)
          path = op.path;
        else
          path = {};
      },
      cmd.body);
    resp.set_message(describe_failure(
      res.error, path, std::holds_alternative<create_op>(cmd.body)));
    return resp;
  }
  if (res.results.empty())
    return resp;
  const auto& first = res.results.front();
  if (std::holds_alternative<create_op>(cmd.body)) {
    auto op = resp.mutable_op();
    op->set_path(first.path);
    encode(first.stat, op->mutable_stat());
  } else if (std::holds_alternative<set_data_op>(cmd.body)
             || std::holds_alternative<set_acl_op>(cmd.body)) {
    encode(first.stat, resp.mutable_stat());
  }
  return resp;
}

} // namespace conclave
