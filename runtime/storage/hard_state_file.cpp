#include "runtime/storage/hard_state_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>

#include "messages/raft.pb.h"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/file.hpp"

namespace conclave::storage {

namespace {

constexpr char magic[8] = {'C', 'N', 'C', 'L', 'V', 'H', 'S', 'T'};
constexpr uint32_t format_version = 1;

uint32_t checksum(std::string_view header16, std::string_view payload) {
  crc32c c;
  c.update(header16);
  c.update(payload);
  return c.value();
}

} // namespace

std::string encode_hard_state(const raft::hard_state& st) {
  pb::HardState msg;
  msg.set_term(st.term.value());
  msg.set_vote(st.vote.value());
  msg.set_commit(st.commit.value());
  std::string payload = msg.SerializeAsString();
  std::string out(hard_state_header_bytes, '\0');
  std::memcpy(out.data(), magic, 8);
  put_le32(out.data() + 8, format_version);
  put_le32(out.data() + 12, static_cast<uint32_t>(payload.size()));
  put_le32(out.data() + 16,
           checksum(std::string_view{out.data(), 16}, payload));
  out += payload;
  return out;
}

storage_result<raft::hard_state> decode_hard_state(std::string_view bytes,
                                                   const std::string& path) {
  if (bytes.size() < hard_state_header_bytes)
    return corruption_at(
      path, bytes.size(),
      "file is " + std::to_string(bytes.size()) + " bytes, shorter than its "
        + std::to_string(hard_state_header_bytes) + "-byte header");
  if (std::memcmp(bytes.data(), magic, 8) != 0)
    return corruption_at(path, 0, "bad magic (not a Conclave raft-state file)");
  auto version = get_le32(bytes.data() + 8);
  if (version != format_version) {
    return unsupported_version(path, version, format_version);
  }
  auto len = get_le32(bytes.data() + 12);
  if (len == 0 || len > max_hard_state_payload_bytes)
    return corruption_at(path, 12,
                         "payload length " + std::to_string(len)
                           + " is outside 1.."
                           + std::to_string(max_hard_state_payload_bytes));
  if (bytes.size() != hard_state_header_bytes + len)
    return corruption_at(path, hard_state_header_bytes,
                         "file is " + std::to_string(bytes.size())
                           + " bytes but its header announces "
                           + std::to_string(hard_state_header_bytes + len));
  auto payload = bytes.substr(hard_state_header_bytes);
  auto stored = get_le32(bytes.data() + 16);
  auto computed = checksum(bytes.substr(0, 16), payload);
  if (stored != computed)
    return corruption_at(path, 16,
                         "checksum mismatch (stored " + hex32(stored)
                           + ", computed " + hex32(computed) + ")");
  pb::HardState msg;
  if (!msg.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    return corruption_at(path, hard_state_header_bytes,
                         "checksum is valid but the payload is not a HardState "
                         "message");
  raft::hard_state st;
  st.term = term_t{msg.term()};
  st.vote = node_id{msg.vote()};
  st.commit = log_index{msg.commit()};
  return st;
}

storage_result<hard_state_file::loaded>
hard_state_file::open(const std::string& dir) {
  loaded out;
  out.file.dir_ = dir;
  out.file.path_ = join_path(dir, hard_state_file_name);
  out.file.tmp_path_ = out.file.path_ + ".tmp";
  const auto& path = out.file.path_;
  bool dir_dirty = false;

  auto tmp_exists = path_exists(out.file.tmp_path_);
  if (!tmp_exists)
    return std::move(tmp_exists).error();
  if (*tmp_exists) {
    auto f = file::open(out.file.tmp_path_, O_RDONLY);
    uint64_t size = 0;
    if (f) {
      if (auto sz = f->size())
        size = *sz;
    }
    auto removed = remove_file(out.file.tmp_path_);
    if (!removed)
      return std::move(removed).error();
    dir_dirty = true;
    repair r;
    r.file = out.file.tmp_path_;
    r.bytes_dropped = size;
    r.message = "removed a temporary file left by an interrupted save; " + path
                + " holds the last completed save";
    out.repairs.push_back(std::move(r));
  }

  auto f = file::open(path, O_RDONLY);
  if (!f) {
    if (f.error().os_error != ENOENT)
      return std::move(f).error();
    out.existed = false;
    out.state = raft::hard_state{};
  } else {
    auto bytes
      = f->read_all(hard_state_header_bytes + max_hard_state_payload_bytes);
    if (!bytes)
      return std::move(bytes).error();
    auto st = decode_hard_state(*bytes, path);
    if (!st)
      return std::move(st).error();
    out.existed = true;
    out.state = *st;
    // What we act on must be durable, even if the save that wrote it was
    // interrupted between rename and directory fsync.
    if (auto r = f->sync(); !r)
      return std::move(r).error();
    dir_dirty = true;
  }
  if (dir_dirty) {
    if (auto r = sync_directory(dir); !r)
      return std::move(r).error();
  }
  return out;
}

storage_result<void> hard_state_file::save(const raft::hard_state& st) {
  if (path_.empty()) {
    storage_error e;
    e.code = storage_errc::invalid_argument;
    e.message = "save() on a hard_state_file that was not opened";
    return e;
  }
  auto bytes = encode_hard_state(st);
  auto f = file::open(tmp_path_, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!f)
    return std::move(f).error();
  auto fail = [this](storage_error e) -> storage_result<void> {
    (void)remove_file(tmp_path_); // best effort; open() removes it anyway
    return e;
  };
  if (auto r = f->write_all(bytes); !r)
    return fail(std::move(r).error());
  if (auto r = f->sync(); !r)
    return fail(std::move(r).error());
  if (auto r = f->close(); !r)
    return fail(std::move(r).error());
  return rename_durably(tmp_path_, path_, dir_);
}

} // namespace conclave::storage
