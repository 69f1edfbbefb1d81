// log_store: the durable, segmented Raft log in `<dir>/log/`, and
// open_storage(), which loads a node's whole durable state at start-up.
//
// Segments are files named by the index of their first entry as 20
// zero-padded decimal digits, e.g. `00000000000000000001.log`. A segment is
// rolled (a new file started) when the next record would push it past
// `segment_bytes`; a record larger than that goes alone into its segment.
//
// On-disk format (version 1), all integers little-endian:
//
//   segment header, 32 bytes:
//     offset  size  field
//          0     8  magic "CNCLVLOG" (ASCII)
//          8     4  u32 format version = 1
//         12     4  u32 reserved, 0
//         16     8  u64 first index (equals the file name)
//         24     4  u32 reserved, 0
//         28     4  u32 CRC-32C of bytes 0..27
//   then records back to back until end of file:
//          0     4  u32 payload length n (1..max_record_bytes)
//          4     4  u32 CRC-32C of the payload
//          8     n  payload: pb::RaftEntry (messages/raft.proto)
//
// Record k of a segment holds index first + k; terms never decrease; the
// first record of a segment follows the last record of the previous one.
//
// Durability and group commit:
//   - append() writes a batch with one pwrite per segment touched (plus the
//     header of a new segment) into the page cache; nothing is durable yet.
//   - sync() makes everything appended durable with ONE fdatasync of the
//     newest segment, plus one fsync of `log/` if segments were created or
//     removed since the last sync; it returns the durable (index, term) the
//     shell reports to raft::core::persisted(). Batch many appends per sync.
//   - Rolling fdatasyncs the full segment before creating the next one, so
//     every segment but the newest is complete and durable: damage there is
//     never a torn write.
//   - A conflicting suffix (append() of an index <= last_index()) is removed
//     durably before the new records are written (segments removed newest
//     first, then the directory fsynced, the cut segment ftruncated and
//     fdatasynced): after a crash the log is never a mix of old and new
//     records. This only happens after leader changes.
//   - compact() and reset() remove segment files oldest / newest first and
//     fsync the directory once.
//   - open() fdatasyncs the newest segment and fsyncs `log/`, so that what a
//     crashed process left in the page cache is durable before the node
//     acknowledges it.
//
// Recovery at open() (see docs/storage.md):
//   - the newest segment may end in a torn record: an incomplete header or
//     payload, a zero or over-limit length, or a checksum mismatch, with no
//     valid record anywhere after it (zeros or garbage to the end of file).
//     The file is truncated before it and a `repair` is returned (file,
//     offset, bytes dropped). A newest segment whose header itself is torn
//     (short, zeros, bad checksum) with no valid record after it is removed.
//   - everything else is corruption and open() fails with the file and byte
//     offset: a bad record followed by a valid one, any bad record in an
//     older segment, a valid checksum around an unparsable payload,
//     non-contiguous indexes, a decreasing term, a segment whose header
//     does not match its name, a gap between the snapshot and the log.
//   - against the snapshot (index S, term T): entries <= S are not returned;
//     if the log holds S with a term other than T, or ends before S, the log
//     is stale (a crash between installing a snapshot and reset()) and is
//     removed, as Raft's InstallSnapshot rule prescribes (§5.3); reported
//     as repairs.
//
// Errors are values. After an I/O error in append(), sync(), compact(),
// truncation or reset() the store refuses further writes (a failed fsync
// cannot be retried safely); the node must stop. Not thread-safe; one owner
// (the log actor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/raft/core.hpp"
#include "runtime/raft/messages.hpp"
#include "runtime/storage/file.hpp"
#include "runtime/storage/hard_state_file.hpp"
#include "runtime/storage/snapshot_store.hpp"
#include "runtime/storage/storage_error.hpp"
#include "runtime/strong_id.hpp"

namespace conclave::storage {

inline constexpr const char* log_dir_name = "log";
inline constexpr size_t segment_header_bytes = 32;
inline constexpr size_t record_header_bytes = 8;

struct log_options {
  /// Roll to a new segment when the next record would grow the current one
  /// beyond this. At least 64.
  uint64_t segment_bytes = 64ull * 1024 * 1024;
  /// Largest record payload (serialized entry). append() refuses larger
  /// entries; a larger length field on disk is damage, never an allocation.
  /// Must exceed the node's largest possible entry (max request size plus
  /// a little). 16 .. 1 GiB.
  uint32_t max_record_bytes = 64u * 1024 * 1024;

  /// Empty if valid, else what is wrong.
  std::string validate() const;
};

/// A log position: an index and the term of the entry there.
struct log_position {
  log_index index;
  term_t term;

  friend bool operator==(const log_position& a, const log_position& b) {
    return a.index == b.index && a.term == b.term;
  }
};

/// `<20 digits>.log`.
std::string segment_file_name(log_index first);

/// Parses a name made by segment_file_name; false on anything else.
bool parse_segment_file_name(std::string_view name, log_index& first) noexcept;

class log_store {
public:
  struct opened;

  log_store() = default;
  log_store(log_store&&) noexcept = default;
  log_store& operator=(log_store&&) noexcept = default;
  log_store(const log_store&) = delete;
  log_store& operator=(const log_store&) = delete;

  /// Opens (creating `<dir>/log` if needed) and scans every segment; applies
  /// the recovery rules above. Returns the entries after `snapshot_index`
  /// (whose term is `snapshot_term`; both 0 = no snapshot: all entries).
  static storage_result<opened> open(const std::string& dir,
                                     const log_options& opts = {},
                                     log_index snapshot_index = log_index{},
                                     term_t snapshot_term = term_t{});

  /// Writes `entries` (contiguous indexes, terms >= 1 and non-decreasing)
  /// after the log; if the first index is <= last_index(), the log is first
  /// truncated from there (Raft's conflicting suffix, durable at once). The
  /// first index must be in first_index() .. last_index() + 1, or exactly
  /// last_index() + 1 when the log holds no entries. Not durable until
  /// sync().
  storage_result<void> append(const std::vector<raft::entry>& entries);

  /// Makes every appended entry durable (group commit, see above) and
  /// returns the durable position (= last_index(), last_term()).
  storage_result<log_position> sync();

  /// Removes whole segments whose entries are all <= `upto` (never the
  /// newest segment). Call only with `upto` <= the index of a durable
  /// snapshot. Returns the number of segments removed.
  storage_result<size_t> compact(log_index upto);

  /// Removes every segment: the log now ends at (index, term), the snapshot
  /// just installed, and the next append() must be index + 1. Call after
  /// the snapshot is durable, when the log does not match it.
  storage_result<void> reset(log_index index, term_t term);

  /// First index held on disk (last_index() + 1 if none).
  log_index first_index() const noexcept;
  log_index last_index() const noexcept { return last_.index; }
  term_t last_term() const noexcept { return last_.term; }
  /// Position of the last entry known durable (and not truncated since).
  log_position durable() const noexcept { return durable_; }
  /// Term of the entry at `index` if it is held on disk (or is the base:
  /// the snapshot position the log continues from).
  std::optional<term_t> term_at(log_index index) const noexcept;

  /// `<dir>/log`.
  const std::string& directory() const noexcept { return dir_; }
  /// Paths of the segment files, oldest first.
  std::vector<std::string> segment_paths() const;

private:
  struct segment {
    log_index first;
    std::string path;
    uint64_t size = 0;             ///< bytes of valid content
    std::vector<uint64_t> offsets; ///< record start offsets
    std::vector<term_t> terms;     ///< term of each record
    uint64_t count() const noexcept { return offsets.size(); }
  };

  storage_result<void> check_usable() const;
  storage_result<void> fail(storage_error err);
  storage_result<void> truncate_suffix(log_index from);
  storage_result<void> open_active();
  storage_result<void> roll(log_index first);
  storage_result<void> remove_all_segments();

  std::string dir_;
  log_options opts_;
  std::vector<segment> segments_;
  /// Write descriptor of segments_.back() (closed when there is none).
  file active_;
  /// The entry before the first one held (compaction or snapshot base);
  /// term 0 when unknown.
  log_position base_;
  log_position last_;
  log_position durable_;
  bool data_dirty_ = false;
  bool dir_dirty_ = false;
  std::optional<storage_error> failed_;
};

struct log_store::opened {
  log_store log;
  /// The entries after the snapshot index, in order.
  std::vector<raft::entry> entries;
  /// Automatic repairs (torn tail truncated, stale log removed, ...) for
  /// the caller to log.
  std::vector<repair> repairs;
};

// -- node start-up
// ---------------------------------------------------------------

struct storage_options {
  log_options log;
  snapshot_options snapshots;
};

/// A node's durable state, loaded, with the stores open for writing.
struct node_storage {
  /// For raft::core's constructor: hard state, snapshot meta (index 0 =
  /// none), entries after the snapshot.
  raft::persistent_state state;
  /// The snapshot the state machine must load first (nullopt = none).
  std::optional<snapshot_info> snapshot;
  /// Every automatic repair and adjustment, for the caller to log.
  std::vector<repair> repairs;
  log_store log;
  hard_state_file hard_state;
  snapshot_store snapshots;
};

/// Start-up: opens the snapshot store (newest snapshot, verified), the hard
/// state and the log after the snapshot, in that order, creating `dir` and
/// its subdirectories if needed. Cross-checks them: a hard-state term
/// older than the log's or snapshot's last term (the state save was lost or
/// never made, e.g. missing file) is raised to it with no vote; a commit
/// index beyond the log is lowered to the last index (both reported as
/// repairs); a commit index below the snapshot is raised to it (normal after
/// installing a snapshot, not reported). Any storage_error means the node
/// must not start.
storage_result<node_storage> open_storage(const std::string& dir,
                                          const storage_options& opts = {});

} // namespace conclave::storage
