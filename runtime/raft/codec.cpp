#include "runtime/raft/codec.hpp"

#include <type_traits>

namespace conclave::raft {

namespace {

template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overload(Fs...) -> overload<Fs...>;

term_t term_of(uint64_t x) {
  return term_t{x};
}
log_index index_of(uint64_t x) {
  return log_index{x};
}

std::vector<entry>
decode_entries(google::protobuf::RepeatedPtrField<pb::RaftEntry>* xs) {
  std::vector<entry> out;
  out.reserve(static_cast<size_t>(xs->size()));
  for (auto& x : *xs)
    out.push_back(decode(std::move(x)));
  return out;
}

} // namespace

void encode(entry&& x, pb::RaftEntry* out) {
  out->set_term(x.term.value());
  out->set_index(x.index.value());
  out->set_type(static_cast<pb::EntryType>(x.type));
  out->set_data(std::move(x.data));
}

void encode(const entry& x, pb::RaftEntry* out) {
  out->set_term(x.term.value());
  out->set_index(x.index.value());
  out->set_type(static_cast<pb::EntryType>(x.type));
  out->set_data(x.data);
}

entry decode(pb::RaftEntry&& x) {
  entry out;
  out.term = term_of(x.term());
  out.index = index_of(x.index());
  switch (x.type()) {
    case pb::ENTRY_NOOP:
      out.type = entry_type::noop;
      break;
    case pb::ENTRY_CONFIG:
      out.type = entry_type::config;
      break;
    default:
      out.type = entry_type::normal;
  }
  out.data = std::move(*x.mutable_data());
  return out;
}

void encode(const configuration& x, pb::Configuration* out) {
  for (const auto& m : x.members) {
    auto pm = out->add_members();
    pm->set_id(m.id.value());
    pm->set_role(m.role == member_role::learner ? pb::MEMBER_LEARNER
                                                : pb::MEMBER_VOTER);
    pm->set_address(m.address);
    pm->set_client_address(m.client_address);
  }
}

std::string encode(const configuration& x) {
  pb::Configuration msg;
  encode(x, &msg);
  return msg.SerializeAsString();
}

std::optional<configuration> decode(const pb::Configuration& x) {
  configuration out;
  for (const auto& pm : x.members()) {
    if (!pb::MemberRole_IsValid(pm.role()))
      return std::nullopt;
    out.members.push_back(member{node_id{pm.id()},
                                 pm.role() == pb::MEMBER_LEARNER
                                   ? member_role::learner
                                   : member_role::voter,
                                 pm.address(), pm.client_address()});
  }
  if (!out.validate().empty())
    return std::nullopt;
  return out;
}

std::optional<configuration> decode_configuration(const std::string& bytes) {
  pb::Configuration msg;
  if (!msg.ParseFromString(bytes))
    return std::nullopt;
  return decode(msg);
}

void encode(const snapshot_meta& x, pb::SnapshotMeta* out) {
  out->set_index(x.index.value());
  out->set_term(x.term.value());
  for (auto id : x.config.voters())
    out->add_voters(id.value());
  if (!x.config.empty())
    encode(x.config, out->mutable_config());
}

snapshot_meta decode(const pb::SnapshotMeta& x) {
  snapshot_meta out;
  out.index = index_of(x.index());
  out.term = term_of(x.term());
  if (x.has_config()) {
    if (auto c = decode(x.config()))
      out.config = std::move(*c);
    return out;
  }
  std::vector<node_id> voters;
  for (auto id : x.voters())
    voters.push_back(node_id{id});
  out.config = configuration::of_voters(voters);
  return out;
}

pb::HardState encode(const hard_state& x) {
  pb::HardState out;
  out.set_term(x.term.value());
  out.set_vote(x.vote.value());
  out.set_commit(x.commit.value());
  return out;
}

hard_state decode(const pb::HardState& x) {
  return hard_state{term_of(x.term()), node_id{x.vote()}, index_of(x.commit())};
}

pb::RaftMessage encode(message&& msg) {
  pb::RaftMessage out;
  out.set_from(msg.from.value());
  out.set_to(msg.to.value());
  std::visit(overload{
               [&](vote_request& x) {
                 auto m = out.mutable_vote_request();
                 m->set_term(x.term.value());
                 m->set_last_log_index(x.last_log_index.value());
                 m->set_last_log_term(x.last_log_term.value());
                 m->set_pre_vote(x.pre_vote);
                 m->set_leadership_transfer(x.leadership_transfer);
               },
               [&](vote_response& x) {
                 auto m = out.mutable_vote_response();
                 m->set_term(x.term.value());
                 m->set_granted(x.granted);
                 m->set_pre_vote(x.pre_vote);
               },
               [&](append_request& x) {
                 auto m = out.mutable_append_request();
                 m->set_term(x.term.value());
                 m->set_prev_log_index(x.prev_log_index.value());
                 m->set_prev_log_term(x.prev_log_term.value());
                 m->mutable_entries()->Reserve(
                   static_cast<int>(x.entries.size()));
                 for (auto& e : x.entries)
                   encode(std::move(e), m->add_entries());
                 m->set_leader_commit(x.leader_commit.value());
                 m->set_read_context(x.read_context);
               },
               [&](append_response& x) {
                 auto m = out.mutable_append_response();
                 m->set_term(x.term.value());
                 m->set_success(x.success);
                 m->set_match_index(x.match_index.value());
                 m->set_conflict_term(x.conflict_term.value());
                 m->set_conflict_index(x.conflict_index.value());
                 m->set_read_context(x.read_context);
               },
               [&](install_snapshot& x) {
                 auto m = out.mutable_install_snapshot();
                 m->set_term(x.term.value());
                 encode(x.meta, m->mutable_meta());
               },
               [&](install_snapshot_response& x) {
                 auto m = out.mutable_install_snapshot_response();
                 m->set_term(x.term.value());
                 m->set_last_index(x.last_index.value());
                 m->set_success(x.success);
               },
               [&](timeout_now& x) {
                 out.mutable_timeout_now()->set_term(x.term.value());
               },
               [&](read_index_request& x) {
                 auto m = out.mutable_read_index_request();
                 m->set_term(x.term.value());
                 m->set_read_id(x.read_id);
               },
               [&](read_index_response& x) {
                 auto m = out.mutable_read_index_response();
                 m->set_term(x.term.value());
                 m->set_read_id(x.read_id);
                 m->set_index(x.index.value());
                 m->set_success(x.success);
               },
             },
             msg.body);
  return out;
}

result<message> decode(pb::RaftMessage&& msg) {
  message out;
  out.from = node_id{msg.from()};
  out.to = node_id{msg.to()};
  switch (msg.body_case()) {
    case pb::RaftMessage::kVoteRequest: {
      const auto& m = msg.vote_request();
      out.body = vote_request{term_of(m.term()), index_of(m.last_log_index()),
                              term_of(m.last_log_term()), m.pre_vote(),
                              m.leadership_transfer()};
      break;
    }
    case pb::RaftMessage::kVoteResponse: {
      const auto& m = msg.vote_response();
      out.body = vote_response{term_of(m.term()), m.granted(), m.pre_vote()};
      break;
    }
    case pb::RaftMessage::kAppendRequest: {
      auto m = msg.mutable_append_request();
      for (const auto& e : m->entries())
        if (!pb::EntryType_IsValid(e.type()))
          return error_code::bad_arguments;
      append_request x;
      x.term = term_of(m->term());
      x.prev_log_index = index_of(m->prev_log_index());
      x.prev_log_term = term_of(m->prev_log_term());
      x.entries = decode_entries(m->mutable_entries());
      x.leader_commit = index_of(m->leader_commit());
      x.read_context = m->read_context();
      out.body = std::move(x);
      break;
    }
    case pb::RaftMessage::kAppendResponse: {
      const auto& m = msg.append_response();
      append_response x;
      x.term = term_of(m.term());
      x.success = m.success();
      x.match_index = index_of(m.match_index());
      x.conflict_term = term_of(m.conflict_term());
      x.conflict_index = index_of(m.conflict_index());
      x.read_context = m.read_context();
      out.body = x;
      break;
    }
    case pb::RaftMessage::kInstallSnapshot: {
      const auto& m = msg.install_snapshot();
      out.body = install_snapshot{term_of(m.term()), decode(m.meta())};
      break;
    }
    case pb::RaftMessage::kInstallSnapshotResponse: {
      const auto& m = msg.install_snapshot_response();
      out.body = install_snapshot_response{
        term_of(m.term()), index_of(m.last_index()), m.success()};
      break;
    }
    case pb::RaftMessage::kTimeoutNow:
      out.body = timeout_now{term_of(msg.timeout_now().term())};
      break;
    case pb::RaftMessage::kReadIndexRequest: {
      const auto& m = msg.read_index_request();
      out.body = read_index_request{term_of(m.term()), m.read_id()};
      break;
    }
    case pb::RaftMessage::kReadIndexResponse: {
      const auto& m = msg.read_index_response();
      out.body = read_index_response{term_of(m.term()), m.read_id(),
                                     index_of(m.index()), m.success()};
      break;
    }
    default:
      return error_code::bad_arguments;
  }
  return out;
}

} // namespace conclave::raft
