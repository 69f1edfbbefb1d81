#include "runtime/storage/restore.hpp"

#include <fcntl.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "runtime/storage/file.hpp"
#include "runtime/storage/hard_state_file.hpp"

namespace conclave::storage {

namespace {

namespace fs = std::filesystem;

constexpr size_t copy_chunk_bytes = 1024 * 1024;

storage_error refused(const std::string& path, std::string message,
                      std::string suggestion = {}) {
  storage_error e;
  e.code = storage_errc::invalid_argument;
  e.file = path;
  e.message = std::move(message);
  e.suggestion = std::move(suggestion);
  return e;
}

/// Removes what restore wrote if it fails half-way; disarmed on success.
struct cleanup {
  std::string dir;
  bool created = false;
  bool armed = true;

  ~cleanup() {
    if (!armed)
      return;
    std::error_code ec;
    if (created) {
      fs::remove_all(dir, ec);
      return;
    }
    for (fs::directory_iterator i{dir, ec}, end; !ec && i != end;
         i.increment(ec))
      fs::remove_all(i->path(), ec);
  }
};

/// Makes sure `dir` is an empty directory (creating it and its parents if
/// missing); `created` says whether it had to be created.
storage_result<void> prepare_directory(const std::string& dir, bool& created) {
  auto exists = path_exists(dir);
  if (!exists)
    return std::move(exists).error();
  if (!*exists) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
      return os_error(dir, "mkdir", ec.value());
    created = true;
    auto parent = fs::path{dir}.lexically_normal().parent_path().string();
    return sync_directory(parent.empty() ? "." : parent);
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return refused(dir, "exists and is not a directory",
                   "restore into a new or empty directory");
  auto names = list_directory(dir);
  if (!names)
    return std::move(names).error();
  if (!names->empty()) {
    std::string what = "is not empty (holds " + std::to_string(names->size())
                       + (names->size() == 1 ? " entry" : " entries")
                       + ", e.g. \"" + names->front() + "\")";
    return refused(dir, std::move(what),
                   "restore only into an empty directory: move the node's "
                   "old data directory aside first (restoring over a node's "
                   "state would mix two histories)");
  }
  return {};
}

/// Copies the backup's payload into `w`.
storage_result<void> copy_payload(const snapshot_store& store,
                                  const snapshot_info& source,
                                  snapshot_writer& w) {
  uint64_t copied = 0;
  for (;;) {
    auto chunk = store.read_payload(source.path, copied, copy_chunk_bytes);
    if (!chunk)
      return std::move(chunk).error();
    if (chunk->empty())
      break;
    copied += chunk->size();
    if (auto r = w.write(*chunk); !r)
      return r;
  }
  if (copied != source.payload_bytes) {
    storage_error e;
    e.code = storage_errc::corruption;
    e.file = source.path;
    e.message = "the payload changed while being copied ("
                + std::to_string(copied) + " bytes read, "
                + std::to_string(source.payload_bytes) + " verified)";
    e.suggestion = "do not modify the backup file while restoring it";
    return e;
  }
  return {};
}

storage_error check_failed(const std::string& dir, const std::string& what) {
  storage_error e;
  e.code = storage_errc::corruption;
  e.file = dir;
  e.message = "the restored data directory does not open as expected: " + what;
  e.suggestion = "report this as a bug; do not start a node on this directory";
  return e;
}

} // namespace

storage_result<restore_result>
restore_snapshot(const std::string& snapshot_path, const std::string& data_dir,
                 const raft::configuration& config,
                 const storage_options& opts) {
  if (config.empty())
    return refused(data_dir, "the new cluster's configuration is empty",
                   "name every member of the new cluster (--peers)");
  if (auto why = config.validate(); !why.empty())
    return refused(data_dir,
                   "invalid configuration for the new cluster: " + why);
  if (data_dir.empty())
    return refused(data_dir, "no data directory given");

  // 1. The backup, verified completely before anything is written.
  restore_result out;
  auto source = verify_snapshot_file(snapshot_path, opts.snapshots);
  if (!source)
    return std::move(source).error();
  out.source = std::move(*source);

  // 2. An empty data directory.
  cleanup undo{data_dir};
  if (auto r = prepare_directory(data_dir, undo.created); !r) {
    if (!undo.created)
      undo.armed = false; // never touch what was there before
    return std::move(r).error();
  }

  // 3. The snapshot, same payload, same index and term, new membership.
  raft::snapshot_meta meta;
  meta.index = out.source.meta.index;
  meta.term = out.source.meta.term;
  meta.config = config;
  {
    auto store = snapshot_store::open(data_dir, opts.snapshots);
    if (!store)
      return std::move(store).error();
    auto w = store->store.begin(meta);
    if (!w)
      return std::move(w).error();
    if (auto r = copy_payload(store->store, out.source, *w); !r)
      return std::move(r).error();
    if (auto r = w->commit(); !r)
      return std::move(r).error();
  }

  // 4. The hard state: the snapshot's term, no vote, committed up to it.
  out.state.term = meta.term;
  out.state.vote = node_id{};
  out.state.commit = meta.index;
  {
    auto hs = hard_state_file::open(data_dir);
    if (!hs)
      return std::move(hs).error();
    if (auto r = hs->file.save(out.state); !r)
      return std::move(r).error();
  }

  // 5. An empty log after the snapshot (creates and fsyncs log/).
  {
    auto log = log_store::open(data_dir, opts.log, meta.index, meta.term);
    if (!log)
      return std::move(log).error();
    if (!log->entries.empty() || log->log.last_index() != meta.index)
      return check_failed(data_dir, "the new log is not empty");
  }

  // 6. Open it as a node would and check what it sees.
  auto opened = open_storage(data_dir, opts);
  if (!opened)
    return std::move(opened).error();
  if (!opened->repairs.empty())
    return check_failed(data_dir, "start-up would repair "
                                    + opened->repairs.front().to_string());
  if (!opened->snapshot)
    return check_failed(data_dir, "no snapshot found");
  const auto& st = opened->state;
  if (st.snapshot.index != meta.index || st.snapshot.term != meta.term
      || st.snapshot.config != config)
    return check_failed(data_dir, "the snapshot's meta differs");
  if (st.state != out.state)
    return check_failed(data_dir, "the hard state differs");
  if (!st.entries.empty())
    return check_failed(data_dir, "the log holds entries");
  if (opened->snapshot->payload_bytes != out.source.payload_bytes)
    return check_failed(data_dir, "the payload size differs");
  out.installed = *opened->snapshot;
  undo.armed = false;
  return out;
}

} // namespace conclave::storage
