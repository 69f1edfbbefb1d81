#include "runtime/storage/force_new_cluster.hpp"

#include <algorithm>
#include <sys/stat.h>

#include "runtime/raft/codec.hpp"

namespace conclave::storage {

storage_result<forced_cluster> force_new_cluster(const std::string& dir,
                                                 node_id self,
                                                 const std::string& address,
                                                 const storage_options& opts) {
  struct stat info;
  if (::stat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
    return invalid_argument(dir, "no such data directory");
  if (self == node_id{})
    return invalid_argument(dir, "node id 0 is not allowed");
  auto s = open_storage(dir, opts);
  if (!s)
    return std::move(s).error();
  auto& st = s->state;
  forced_cluster out;
  out.repairs = std::move(s->repairs);
  auto last = st.snapshot.index;
  auto last_term = st.snapshot.term;
  out.old_config = st.snapshot.config;
  for (const auto& e : st.entries) {
    last = e.index;
    last_term = e.term;
    if (e.type != raft::entry_type::config)
      continue;
    auto c = raft::decode_configuration(e.data);
    if (!c)
      return corruption_at(dir + "/log", 0,
                           "configuration entry "
                             + std::to_string(e.index.value())
                             + " does not parse");
    out.old_config = std::move(*c);
  }
  if (last == log_index{})
    return invalid_argument(dir, "the data directory holds no log and no "
                                 "snapshot: nothing to recover");
  raft::member me{self, raft::member_role::voter, address, {}};
  if (auto old = out.old_config.find(self)) {
    if (me.address.empty())
      me.address = old->address;
    me.client_address = old->client_address;
  }
  if (me.address.empty())
    return invalid_argument(dir, "the configuration records no address for "
                                 "node "
                                   + std::to_string(self.value())
                                   + "; give one");
  out.new_config.members.push_back(me);
  out.term = term_t{std::max(st.state.term, last_term).value() + 1};
  out.index = log_index{last.value() + 1};
  raft::entry e{out.term, out.index, raft::entry_type::config,
                raft::encode(out.new_config)};
  if (auto r = s->log.append({e}); !r)
    return std::move(r).error();
  if (auto r = s->log.sync(); !r)
    return std::move(r).error();
  auto hs = st.state;
  hs.term = out.term;
  hs.vote = node_id{};
  if (auto r = s->hard_state.save(hs); !r)
    return std::move(r).error();
  return out;
}

} // namespace conclave::storage
