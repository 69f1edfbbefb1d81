// session_table: see session_table.hpp.
//
// save() must stay fork-safe (it may run in the snapshot child next to
// data_tree::save): the CRC-32C uses a constant-initialized table, not
// storage::crc32c (Boost.CRC's table is a function-local static). Tests
// cross-check both.

#include "runtime/session_table.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "runtime/le_fields.hpp"

namespace conclave {

namespace {

[[noreturn]] void invariant_failure(const char* what) {
  std::fprintf(stderr, "session_table: broken invariant: %s\n", what);
  std::abort();
}

constexpr char snapshot_magic[8] = {'C', 'N', 'C', 'L', 'S', 'E', 'S', 'S'};
constexpr uint32_t snapshot_format_version = 1;
constexpr size_t header_bytes = 20;
constexpr size_t record_bytes = 36;
constexpr size_t trailer_bytes = 4;
static_assert(session_table::snapshot_bytes(0) == header_bytes + trailer_bytes);
static_assert(session_table::snapshot_bytes(1)
                - session_table::snapshot_bytes(0)
              == record_bytes);
static_assert(record_bytes == 8 + 4 + 8 + session_password_bytes);

constexpr uint64_t low56_mask = (uint64_t{1} << 56) - 1;
constexpr uint64_t low40_mask = (uint64_t{1} << 40) - 1;

} // namespace

session_id make_session_id(node_id leader, uint64_t counter, int64_t time_ms) {
  if (!can_issue_session_ids(leader))
    invariant_failure("make_session_id: leader id outside 1..254");
  auto time_bits = (static_cast<uint64_t>(time_ms) & low40_mask) << 16;
  auto low = (time_bits + counter) & low56_mask;
  return session_id{static_cast<int64_t>(leader.value() << 56 | low)};
}

session_table::session_table(session_limits_config limits) : limits_(limits) {
  if (!limits_.valid())
    invariant_failure("invalid session_limits_config");
}

result<session_info> session_table::open(session_id id,
                                         int32_t requested_timeout_ms,
                                         std::string password, zxid at) {
  if (at.value() <= 0)
    invariant_failure("open at a zxid <= 0");
  if (!is_valid_session_id(id) || password.size() != session_password_bytes)
    return error_code::bad_arguments;
  if (sessions_.count(id) != 0)
    return error_code::runtime_inconsistency;
  if (sessions_.size() >= limits_.max_sessions)
    return error_code::throttled_op;
  session_info info{id, limits_.clamp_timeout(requested_timeout_ms),
                    std::move(password), at};
  auto [i, added] = sessions_.emplace(id, info);
  if (!added)
    invariant_failure("open: emplace failed");
  return i->second;
}

bool session_table::close(session_id id) {
  return sessions_.erase(id) != 0;
}

const session_info* session_table::find(session_id id) const {
  auto i = sessions_.find(id);
  return i == sessions_.end() ? nullptr : &i->second;
}

bool session_table::check_password(session_id id,
                                   std::string_view password) const {
  auto info = find(id);
  if (info == nullptr || password.size() != info->password.size())
    return false;
  // Accumulate differences over every byte: no early exit on a mismatch.
  unsigned diff = 0;
  for (size_t k = 0; k < password.size(); ++k)
    diff |= static_cast<unsigned char>(password[k])
            ^ static_cast<unsigned char>(info->password[k]);
  return diff == 0;
}

session_id session_table::next_free_id(node_id leader, uint64_t& counter,
                                       int64_t time_base_ms) const {
  // Among size() + 2 consecutive counters (distinct ids) at most one id is
  // reserved and at most size() are taken.
  auto tries = sessions_.size() + 2;
  for (size_t k = 0; k < tries; ++k) {
    auto id = make_session_id(leader, counter++, time_base_ms);
    if (is_valid_session_id(id) && sessions_.count(id) == 0)
      return id;
  }
  invariant_failure("next_free_id: no free id among size() + 2 candidates");
}

std::string session_table::save() const {
  std::string out;
  out.reserve(snapshot_bytes(sessions_.size()));
  out.append(snapshot_magic, sizeof(snapshot_magic));
  le::put_u32(out, snapshot_format_version);
  le::put_u64(out, sessions_.size());
  for (const auto& [id, info] : sessions_) {
    if (info.password.size() != session_password_bytes)
      invariant_failure("save: password of the wrong size");
    le::put_u64(out, static_cast<uint64_t>(id.value()));
    le::put_u32(out, static_cast<uint32_t>(info.timeout_ms));
    le::put_u64(out, static_cast<uint64_t>(info.created_zxid.value()));
    out.append(info.password);
  }
  le::put_u32(out, le::crc32c(out));
  return out;
}

result<session_table> session_table::load(std::string_view bytes,
                                          session_limits_config limits) {
  constexpr auto bad = error_code::data_inconsistency;
  if (!limits.valid())
    invariant_failure("load: invalid session_limits_config");
  if (bytes.size() < header_bytes + trailer_bytes)
    return bad;
  auto p = bytes.data();
  if (std::memcmp(p, snapshot_magic, sizeof(snapshot_magic)) != 0)
    return bad;
  if (le::get_u32(p + 8) != snapshot_format_version)
    return bad;
  // The count must match the size exactly; compare without multiplying.
  auto n = le::get_u64(p + 12);
  auto body = bytes.size() - header_bytes - trailer_bytes;
  if (body % record_bytes != 0 || n != body / record_bytes)
    return bad;
  auto covered = bytes.substr(0, bytes.size() - trailer_bytes);
  if (le::get_u32(covered.data() + covered.size()) != le::crc32c(covered))
    return bad;
  session_table table{limits};
  p += header_bytes;
  for (uint64_t k = 0; k < n; ++k, p += record_bytes) {
    session_info info;
    info.id = session_id{static_cast<int64_t>(le::get_u64(p))};
    info.timeout_ms = static_cast<int32_t>(le::get_u32(p + 8));
    info.created_zxid = zxid{static_cast<int64_t>(le::get_u64(p + 12))};
    info.password.assign(p + 20, session_password_bytes);
    if (!is_valid_session_id(info.id) || info.timeout_ms < 1
        || info.created_zxid.value() < 1)
      return bad;
    if (!table.sessions_.empty()
        && !(table.sessions_.rbegin()->first < info.id))
      return bad;
    auto id = info.id;
    // Ascending ids: each goes at the end (amortized constant time).
    table.sessions_.emplace_hint(table.sessions_.end(), id, std::move(info));
  }
  return table;
}

} // namespace conclave
