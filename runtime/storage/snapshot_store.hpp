// snapshot_store: state-machine snapshot files in `<dir>/snapshots/`.
//
// File name: `snapshot-<index>-<term>.snap`, both as 20 zero-padded decimal
// digits, e.g. `snapshot-00000000000000001234-00000000000000000005.snap`.
// Files being written end in `.tmp` (`<name>.tmp` for local snapshots,
// `<name>.recv.tmp` for snapshots received from the leader).
//
// On-disk format (version 1), all integers little-endian:
//
//   offset      size  field
//        0         8  magic "CNCLVSNP" (ASCII)
//        8         4  u32 format version = 1
//       12         4  u32 meta length m (1..max_meta_bytes)
//       16         m  pb::SnapshotMeta (index, term, voters)
//     16+m         p  payload: the state machine's snapshot, opaque here
//        T         8  u64 total file length (= T + 16), T = 16 + m + p
//      T+8         4  u32 CRC-32C of bytes [0, T+8): everything before it,
//                     the total length included
//     T+12         4  end magic "CEND" (ASCII)
//
// A file is valid only if all of this checks out, the meta parses, and its
// index/term equal the ones in its name.
//
// Writing (begin → write... → commit): the writer streams the header and
// payload chunks into `<name>.tmp`, computing the CRC as it goes; commit()
// appends the trailer, fsyncs the file, closes it, renames it to `<name>`
// and fsyncs the directory. A writer destroyed (or abandon()ed) before
// commit() removes its temporary file.
//
// FORK SAFETY. snapshot_writer is designed to run in a fork()ed child of the
// multi-threaded node (copy-on-write snapshots, as Redis does): the child
// serializes its frozen copy of the state machine while the parent keeps
// serving. Only the calling thread exists in such a child; any lock held by
// another thread at fork() time stays locked forever. Therefore write(),
// commit() and abandon() use only plain system calls (write, fsync, close,
// rename, open of the directory, unlink) plus memcpy and the CRC
// computation: no locks, no iostreams, no logging, no std::filesystem, and
// no heap allocation unless a call fails (building the storage_error; its
// OS message comes from strerrordesc_np, which takes no locale lock). The
// CRC-32C table (Boost.CRC, a lazily built function-local static) is built
// during static initialization of snapshot_store.cpp, before main() and any
// thread, so the child never runs its one-time initialization.
// begin() allocates (paths, a 256 KiB write buffer, the header), which glibc
// supports in a fork()ed child (its fork() resets malloc's locks); it encodes
// the SnapshotMeta by hand (byte-identical to protobuf's encoding) so that
// no protobuf code runs in the child. Two ways to use it:
//
//   (a) begin() in the child:   pid = fork(); if (pid == 0) { auto w =
//       store.begin(meta); ...write...; _exit(w->commit() ? 0 : 1); }
//   (b) begin() in the parent (no allocation at all in the child): w =
//       store.begin(meta); pid = fork(); the child writes, commits and
//       _exit()s; the parent calls w->release() at once (closing its copy of
//       the descriptor WITHOUT removing the temporary file the child is
//       writing) and waits for the child.
//
// The child must leave with _exit(), never exit() (no atexit handlers, no
// stdio flushing, no destructors of the parent's objects). The parent learns
// the outcome from the exit status and then calls latest().
//
// Reading: latest() returns the newest snapshot (by index, then term) after
// verifying its whole file. If the newest file is damaged, latest() returns
// a corruption error naming it; it does NOT fall back to an older snapshot
// on its own (the log may already be compacted past the older one, and
// starting from older state than the node acknowledged is a safety bug).
// Older snapshots are kept by retain(keep_n) for the operator: moving the
// damaged file aside makes the next start use the previous one, and start-up
// (open_storage) refuses if the log no longer covers everything after it.
//
// Receiving (InstallSnapshot): receive(meta, total_bytes) returns a writer
// fed the exact bytes of the leader's file in order; commit() verifies the
// whole file (format, CRC, meta equal to the expected one) before the rename.
//
// retain() and open() remove every `*.tmp` file: call them only while no
// writer or receiver is active (the log actor owns the store and knows).
// Not thread-safe; the reading functions may be called concurrently with a
// writer in a child process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/raft/messages.hpp"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/file.hpp"
#include "runtime/storage/storage_error.hpp"

namespace conclave::storage {

inline constexpr const char* snapshot_dir_name = "snapshots";
inline constexpr size_t snapshot_header_bytes = 16;
inline constexpr size_t snapshot_trailer_bytes = 16;

struct snapshot_options {
  /// Largest SnapshotMeta accepted in a header (the voters list); a larger
  /// length field is corruption.
  uint32_t max_meta_bytes = 1024 * 1024;
};

/// A verified snapshot file.
struct snapshot_info {
  raft::snapshot_meta meta;
  std::string path;
  uint64_t file_bytes = 0;
  /// Where the state machine's payload starts in the file, and its size.
  uint64_t payload_offset = 0;
  uint64_t payload_bytes = 0;
  /// The CRC-32C in the trailer (over everything before it), verified.
  uint32_t checksum = 0;
};

/// A snapshot file found by name (not verified).
struct snapshot_file {
  log_index index;
  term_t term;
  std::string path;
};

/// `snapshot-<index>-<term>.snap`.
std::string snapshot_file_name(log_index index, term_t term);

/// Parses a name made by snapshot_file_name (exactly; `.tmp` names and
/// anything else return false).
bool parse_snapshot_file_name(std::string_view name, log_index& index,
                              term_t& term) noexcept;

/// pb::SnapshotMeta's wire encoding of `meta`, produced without protobuf
/// (byte-identical to SerializeAsString; used by begin()).
std::string encode_snapshot_meta(const raft::snapshot_meta& meta);

/// Verifies a snapshot file completely (reading it once, in 1 MiB chunks).
/// Never throws or crashes on arbitrary contents.
storage_result<snapshot_info> verify_snapshot_file(const std::string& path,
                                                   const snapshot_options& opts
                                                   = {});

/// Streams a new local snapshot into `<name>.tmp`. Move-only. See the header
/// comment for fork safety.
class snapshot_writer {
public:
  snapshot_writer() = default;
  snapshot_writer(snapshot_writer&& other) noexcept;
  snapshot_writer& operator=(snapshot_writer&& other) noexcept;
  snapshot_writer(const snapshot_writer&) = delete;
  snapshot_writer& operator=(const snapshot_writer&) = delete;
  /// abandon()s unless committed or released.
  ~snapshot_writer();

  /// Appends payload bytes (buffered; one write(2) per 256 KiB).
  storage_result<void> write(const void* data, size_t size);
  storage_result<void> write(std::string_view bytes) {
    return write(bytes.data(), bytes.size());
  }

  /// Writes the trailer, fsyncs, closes, renames to the final name, fsyncs
  /// the directory. After an error the writer is finished: the temporary
  /// file is removed by the destructor (or by retain()/open() later).
  storage_result<void> commit();

  /// Closes and removes the temporary file (no-op after commit).
  void abandon() noexcept;

  /// Closes this copy of the descriptor and forgets the temporary file
  /// without removing it: for the parent after fork() when the child
  /// writes (use (b) in the header comment).
  void release() noexcept;

  /// Final path (`<dir>/snapshots/<name>`) and temporary path.
  const std::string& path() const noexcept { return path_; }
  const std::string& tmp_path() const noexcept { return tmp_path_; }
  /// Payload bytes written so far.
  uint64_t payload_bytes() const noexcept { return payload_bytes_; }
  bool committed() const noexcept { return committed_; }

private:
  friend class snapshot_store;

  storage_result<void> append(const void* data, size_t size);
  storage_result<void> flush();
  storage_error finished_error() const;

  file file_;
  std::string dir_;
  std::string path_;
  std::string tmp_path_;
  std::unique_ptr<char[]> buf_;
  size_t buf_used_ = 0;
  uint64_t file_bytes_ = 0; ///< bytes passed to write(2) or buffered
  uint64_t payload_bytes_ = 0;
  crc32c crc_;
  /// The temporary file is ours to remove (cleared by commit, release,
  /// abandon and moves).
  bool active_ = false;
  bool committed_ = false;
  bool failed_ = false;
};

/// Receives the exact bytes of a snapshot file streamed by the leader into
/// `<name>.recv.tmp`; verified by commit() before the rename. Move-only.
class snapshot_receiver {
public:
  snapshot_receiver() = default;
  snapshot_receiver(snapshot_receiver&& other) noexcept;
  snapshot_receiver& operator=(snapshot_receiver&& other) noexcept;
  snapshot_receiver(const snapshot_receiver&) = delete;
  snapshot_receiver& operator=(const snapshot_receiver&) = delete;
  ~snapshot_receiver();

  /// Writes the chunk at `offset`, which must equal received() (chunks
  /// arrive in order); bytes beyond total_bytes are refused.
  storage_result<void> write(uint64_t offset, std::string_view bytes);

  /// Requires all total_bytes received. fsyncs, verifies the whole file
  /// (format, checksum, meta equal to the expected one, name), renames it
  /// into place and fsyncs the directory. A file failing verification is
  /// removed and reported as corruption (the leader should resend).
  storage_result<snapshot_info> commit();

  void abandon() noexcept;

  uint64_t received() const noexcept { return received_; }
  uint64_t total_bytes() const noexcept { return total_; }
  const std::string& path() const noexcept { return path_; }
  const std::string& tmp_path() const noexcept { return tmp_path_; }

private:
  friend class snapshot_store;

  file file_;
  raft::snapshot_meta expected_;
  snapshot_options opts_;
  std::string dir_;
  std::string path_;
  std::string tmp_path_;
  uint64_t received_ = 0;
  uint64_t total_ = 0;
  bool done_ = false;
};

class snapshot_store {
public:
  struct opened;

  snapshot_store() = default;

  /// Creates `<dir>/snapshots` if needed, removes leftover `*.tmp` files
  /// (reported as repairs) and fsyncs the directory (so that a rename done
  /// just before a crash of the process is durable before the node acts on
  /// it). `dir` must exist.
  static storage_result<opened> open(const std::string& dir,
                                     const snapshot_options& opts = {});

  /// Starts a local snapshot. meta.index and meta.term must be >= 1.
  storage_result<snapshot_writer> begin(const raft::snapshot_meta& meta) const;

  /// Starts receiving the leader's snapshot file for `meta`, `total_bytes`
  /// long (from SnapshotChunk.total_bytes).
  storage_result<snapshot_receiver> receive(const raft::snapshot_meta& meta,
                                            uint64_t total_bytes) const;

  /// The newest snapshot, verified; nullopt if there is none. A damaged
  /// newest snapshot is an error (see the header comment).
  storage_result<std::optional<snapshot_info>> latest() const;

  /// All snapshot files by name, oldest first (not verified; `.tmp` files
  /// and unrelated names are not listed).
  storage_result<std::vector<snapshot_file>> list() const;

  /// Up to `max_bytes` of the payload of the snapshot at `path`, starting at
  /// payload offset `offset`; empty at the end. For loading the state
  /// machine. Checks the header's framing, not the checksum (latest() and
  /// verify_snapshot_file() do that).
  storage_result<std::string> read_payload(const std::string& path,
                                           uint64_t offset,
                                           size_t max_bytes) const;

  /// Up to `max_bytes` raw bytes of the file at `path` from `offset`; empty
  /// at the end. For streaming the file to a follower (snapshot_receiver).
  storage_result<std::string>
  read_chunk(const std::string& path, uint64_t offset, size_t max_bytes) const;

  /// Keeps the newest `keep_n` (>= 1) snapshots, removes older ones and all
  /// `*.tmp` files, fsyncs the directory if it removed anything. Returns the
  /// number of files removed.
  storage_result<size_t> retain(size_t keep_n) const;

  /// `<dir>/snapshots`.
  const std::string& directory() const noexcept { return dir_; }

private:
  std::string dir_;
  snapshot_options opts_;
};

struct snapshot_store::opened {
  snapshot_store store;
  std::vector<repair> repairs;
};

} // namespace conclave::storage
