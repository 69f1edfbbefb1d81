// hard_state_file: Raft's current term, vote and commit index (§3.8), kept in
// `<dir>/raft-state` and replaced atomically.
//
// On-disk format (version 1), all integers little-endian:
//
//   offset  size  field
//        0     8  magic "CNCLVHST" (ASCII)
//        8     4  u32 format version = 1
//       12     4  u32 payload length n (1..4096; in practice < 32)
//       16     4  u32 CRC-32C of bytes 0..15 followed by the n payload bytes
//       20     n  payload: pb::HardState (messages/raft.proto)
//
// The file is exactly 20 + n bytes; anything else is corruption.
//
// save() writes `raft-state.tmp` (O_TRUNC), fsyncs it, closes it, renames it
// over `raft-state` and fsyncs `<dir>`: after a crash the file holds either
// the old or the new state, never a mix. Three syncs per save: the shell
// should save on term/vote changes and may coalesce commit-only changes
// (persisting the commit index is an optimization, see raft/messages.hpp).
//
// open():
//   - a leftover `raft-state.tmp` (crash during save) is removed and
//     reported as a repair: `raft-state` still holds the last completed save;
//   - a missing `raft-state` is a fresh node: zero term, no vote, commit 0;
//   - a damaged `raft-state` is an error naming the file and byte offset;
//     never a silent reset (forgetting a vote could let the node vote twice
//     in one term);
//   - what was read is fsynced (file and directory), so a save renamed just
//     before a process crash is durable before the node acts on it.
//
// Not thread-safe; one owner (the log actor).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/raft/messages.hpp"
#include "runtime/storage/storage_error.hpp"

namespace conclave::storage {

inline constexpr const char* hard_state_file_name = "raft-state";
inline constexpr size_t hard_state_header_bytes = 20;
inline constexpr size_t max_hard_state_payload_bytes = 4096;

/// The bytes of a version-1 hard state file holding `st`.
std::string encode_hard_state(const raft::hard_state& st);

/// Parses and verifies the bytes of a hard state file; `path` only names the
/// file in errors. Never throws or crashes on arbitrary input.
storage_result<raft::hard_state> decode_hard_state(std::string_view bytes,
                                                   const std::string& path);

class hard_state_file {
public:
  struct loaded;

  hard_state_file() = default;

  /// Loads `<dir>/raft-state` (see the header comment). `dir` must exist.
  static storage_result<loaded> open(const std::string& dir);

  /// Replaces the file atomically with `st`; durable when this returns
  /// success. After an error the file holds the old or the new state; the
  /// caller must stop the node (a failed fsync cannot be retried safely).
  storage_result<void> save(const raft::hard_state& st);

  /// `<dir>/raft-state`.
  const std::string& path() const noexcept { return path_; }

private:
  std::string dir_;
  std::string path_;
  std::string tmp_path_;
};

struct hard_state_file::loaded {
  hard_state_file file;
  /// Zero state if the file did not exist.
  raft::hard_state state;
  bool existed = false;
  std::vector<repair> repairs;
};

} // namespace conclave::storage
