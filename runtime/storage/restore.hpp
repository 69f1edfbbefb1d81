// restore: seeds an empty data directory from a backup snapshot file, as the
// data directory of a node of a NEW cluster (`conclavectl snapshot restore`,
// docs/operations.md "Backup and restore").
//
// A backup is one snapshot file as the node writes it (format in
// snapshot_store.hpp), e.g. from `conclavectl snapshot save`. restore_snapshot()
// verifies it completely and then writes, into `data_dir`:
//
//   snapshots/snapshot-<index>-<term>.snap
//       the backup's payload byte for byte, under a new SnapshotMeta with the
//       same index and term and the configuration replaced by `config` (the
//       new cluster's members, with their peer addresses): the old cluster's
//       membership must not come back. Written with snapshot_store::begin /
//       write / commit (temporary file, fsync, rename, directory fsync).
//   raft-state
//       the hard state: term = the snapshot's term, no vote, commit = the
//       snapshot's index (hard_state_file::save, atomic).
//   log/
//       empty: the log continues after the snapshot (index + 1).
//
// That is exactly what open_storage() of a node that installed the snapshot
// from a leader and then restarted would find; the result is checked by
// opening it with open_storage() before restore_snapshot() returns. The
// node then starts as a member of `config` (conclave.peers should list the
// same members, and conclave.initial-cluster-state stays "new"); it loads
// the tree at the snapshot's index and elects a leader among `config`'s
// voters in a term above the snapshot's.
//
// Restore the same file with the same `config` into every voter's
// directory, or restore a single-node `config` and add the other nodes
// later (conclavectl members add; they receive the snapshot from the
// leader). Never start empty "new" nodes next to one restored node of a
// multi-node `config`: a majority of empty nodes could elect a leader with
// an empty log that conflicts with the restored snapshot.
//
// Refused, with nothing written: a damaged or truncated backup (the
// storage_error names the file and the byte offset), a `data_dir` that
// exists and is not an empty directory (restoring over a node's state would
// mix two histories), an invalid `config` (no voter, duplicate or zero ids).
// If writing fails half-way, what was written is removed again and
// `data_dir` is left empty (or absent, if restore created it).
//
// No CAF, no logging: the caller reports the result.
#pragma once

#include <cstdint>
#include <string>

#include "runtime/raft/configuration.hpp"
#include "runtime/storage/log_store.hpp"
#include "runtime/storage/snapshot_store.hpp"
#include "runtime/storage/storage_error.hpp"

namespace conclave::storage {

/// What restore_snapshot() did.
struct restore_result {
  /// The backup file as verified (meta as recorded in the backup).
  snapshot_info source;
  /// The snapshot file written into the data directory (new meta).
  snapshot_info installed;
  /// The hard state written.
  raft::hard_state state;
};

/// Seeds `data_dir` from the backup `snapshot_path` with the membership
/// `config` (see the header comment). `config` must be non-empty, valid
/// (raft::configuration::validate) and hold at least one voter.
/// `opts` are used to verify the backup and to open the result.
storage_result<restore_result>
restore_snapshot(const std::string& snapshot_path, const std::string& data_dir,
                 const raft::configuration& config,
                 const storage_options& opts = {});

} // namespace conclave::storage
