// snapshot_files: the registry's bridge between its state machine (tree and
// session table) and the snapshot store: write a snapshot in a forked child,
// load one back.
#pragma once

#include <sys/types.h>

#include <string>

#include "messages/raft.pb.h"
#include "runtime/state_machine.hpp"
#include "runtime/result.hpp"
#include "runtime/storage/snapshot_store.hpp"

namespace conclave {

/// Forks; the child writes `machine` as snapshot `meta` into `store` and
/// exits with status 0 once the file is durable. The child runs only
/// fork-safe code (see snapshot_store.hpp and data_tree::save). Returns the
/// child's pid, or -1 (with `error` set) if the snapshot could not be
/// started.
pid_t fork_snapshot_writer(const state_machine& machine,
                           const pb::SnapshotMeta& meta,
                           const storage::snapshot_store& store,
                           std::string& error);

/// Loads the state stored in the snapshot file at `path`; on failure
/// `error` says what is wrong (file, offset).
result<state_machine> load_state_snapshot(const storage::snapshot_store& store,
                                          const std::string& path,
                                          data_tree_limits tree_limits,
                                          session_limits_config session_limits,
                                          std::string& error);

} // namespace conclave
