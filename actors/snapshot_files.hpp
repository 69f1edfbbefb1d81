// snapshot_files: the registry's bridge between the tree and the snapshot
// store: write a snapshot of the tree in a forked child, load one back.
#pragma once

#include <sys/types.h>

#include <string>

#include "messages/raft.pb.h"
#include "runtime/data_tree.hpp"
#include "runtime/result.hpp"
#include "runtime/storage/snapshot_store.hpp"

namespace conclave {

/// Forks; the child writes `tree` as snapshot `meta` into `store` and exits
/// with status 0 once the file is durable. The child runs only fork-safe
/// code (see snapshot_store.hpp and data_tree::save). Returns the child's
/// pid, or -1 (with `error` set) if the snapshot could not be started.
pid_t fork_snapshot_writer(const data_tree& tree, const pb::SnapshotMeta& meta,
                           const storage::snapshot_store& store,
                           std::string& error);

/// Loads the tree stored in the snapshot file at `path`; on failure `error`
/// says what is wrong (file, offset).
result<data_tree> load_tree_snapshot(const storage::snapshot_store& store,
                                     const std::string& path,
                                     data_tree_limits limits,
                                     std::string& error);

} // namespace conclave
