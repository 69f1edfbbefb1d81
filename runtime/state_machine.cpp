#include "runtime/state_machine.hpp"

#include <cstring>
#include <string>
#include <utility>

namespace conclave {

namespace {

constexpr std::string_view session_magic = "CNCLSESS";

/// Offset of the session count in session_table::save() output.
constexpr size_t session_count_offset = 12;

} // namespace

state_machine::state_machine(data_tree_limits tree_limits,
                             session_limits_config session_limits)
    : tree_(tree_limits), sessions_(session_limits) {
  // nop
}

state_machine::state_machine(data_tree tree, session_table sessions)
    : tree_(std::move(tree)), sessions_(std::move(sessions)) {
  // nop
}

machine_result state_machine::apply_config(std::string rendered, zxid id,
                                           int64_t time_ms) {
  machine_result out;
  out.result = tree_.set_config(std::move(rendered), id, time_ms);
  return out;
}

void state_machine::reset_config(std::string rendered) {
  tree_.reset_config(std::move(rendered));
}

machine_result state_machine::apply(const command& cmd, zxid id,
                                    int64_t time_ms) {
  machine_result out;
  if (auto open = std::get_if<open_session_op>(&cmd.body)) {
    out.result = tree_.apply(cmd, id, time_ms);
    auto opened
      = sessions_.open(cmd.session, open->timeout_ms, open->password, id);
    if (!opened) {
      out.result.error = opened.error();
      out.result.results.front().error = opened.error();
      return out;
    }
    out.session = session_change{cmd.session, opened->timeout_ms, true, false};
    return out;
  }
  if (auto close = std::get_if<close_session_op>(&cmd.body)) {
    if (sessions_.close(cmd.session))
      out.session = session_change{cmd.session, 0, false, close->expired};
    out.result = tree_.apply(cmd, id, time_ms);
    return out;
  }
  if (cmd.session.value() != 0 && sessions_.find(cmd.session) == nullptr) {
    // Not applied to the tree at all: the tree's last zxid simply skips
    // this one, like any index that carries no tree change.
    out.result.error = error_code::session_expired;
    return out;
  }
  out.result = tree_.apply(cmd, id, time_ms);
  return out;
}

bool state_machine::save(
  const std::function<bool(std::string_view)>& sink) const {
  auto table = sessions_.save();
  if (!sink(table))
    return false;
  return tree_.save(sink);
}

result<state_machine>
state_machine::load(const std::function<size_t(char*, size_t)>& source,
                    data_tree_limits tree_limits,
                    session_limits_config session_limits) {
  // Reads exactly `n` bytes into `buf` (fewer only at the end).
  auto read_exactly = [&](char* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      auto k = source(buf + got, n - got);
      if (k == 0)
        break;
      got += k;
    }
    return got;
  };
  std::string head(session_magic.size(), '\0');
  auto got = read_exactly(head.data(), head.size());
  head.resize(got);
  if (head != session_magic) {
    // A tree-only payload: hand the bytes read so far back to the tree.
    size_t used = 0;
    auto replay = [&](char* buf, size_t size) -> size_t {
      if (used < head.size()) {
        auto n = std::min(size, head.size() - used);
        std::memcpy(buf, head.data() + used, n);
        used += n;
        return n;
      }
      return source(buf, size);
    };
    auto tree = data_tree::load(replay, tree_limits);
    if (!tree)
      return tree.error();
    return state_machine{std::move(tree).value(),
                         session_table{session_limits}};
  }
  // The session table: its count tells how long it is.
  std::string table = head;
  table.resize(session_table::snapshot_bytes(0));
  if (read_exactly(table.data() + head.size(), table.size() - head.size())
      != table.size() - head.size())
    return error_code::data_inconsistency;
  uint64_t count = 0;
  for (size_t i = 0; i < 8; ++i)
    count
      |= uint64_t{static_cast<unsigned char>(table[session_count_offset + i])}
         << (8 * i);
  // Bound the allocation by what the limits could ever have admitted
  // (sessions beyond max_sessions are possible after a limit change, but
  // not beyond 2^24, a table of 600 MB).
  if (count > (uint64_t{1} << 24))
    return error_code::data_inconsistency;
  auto size = session_table::snapshot_bytes(count);
  auto have = table.size();
  table.resize(size);
  if (read_exactly(table.data() + have, size - have) != size - have)
    return error_code::data_inconsistency;
  auto sessions = session_table::load(table, session_limits);
  if (!sessions)
    return sessions.error();
  auto tree = data_tree::load(source, tree_limits);
  if (!tree)
    return tree.error();
  return state_machine{std::move(tree).value(), std::move(sessions).value()};
}

} // namespace conclave
