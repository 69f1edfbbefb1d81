#include "actors/snapshot_files.hpp"

#include <unistd.h>

#include <cstring>

#include "runtime/raft/codec.hpp"

namespace conclave {

pid_t fork_snapshot_writer(const state_machine& machine,
                           const pb::SnapshotMeta& meta,
                           const storage::snapshot_store& store,
                           std::string& error) {
  // begin() allocates and opens the file here, in the parent; the child
  // then only writes, commits and _exit()s.
  auto writer = store.begin(raft::decode(meta));
  if (!writer) {
    error = writer.error().to_string();
    return -1;
  }
  auto pid = ::fork();
  if (pid < 0) {
    error = std::string{"fork failed: "} + std::strerror(errno);
    return -1;
  }
  if (pid == 0) {
    // The child must leave through _exit, whatever happens (an exception
    // must not unwind into the parent's code).
    try {
      auto& w = *writer;
      auto ok = machine.save(
        [&](std::string_view chunk) { return w.write(chunk).ok(); });
      ::_exit(ok && w.commit().ok() ? 0 : 1);
    } catch (...) {
      ::_exit(1);
    }
  }
  writer->release();
  return pid;
}

result<state_machine> load_state_snapshot(const storage::snapshot_store& store,
                                          const std::string& path,
                                          data_tree_limits tree_limits,
                                          session_limits_config session_limits,
                                          std::string& error) {
  uint64_t offset = 0;
  std::string chunk;
  size_t used = 0;
  auto source = [&](char* buf, size_t size) -> size_t {
    if (used == chunk.size()) {
      auto next = store.read_payload(path, offset, 1024 * 1024);
      if (!next) {
        error = next.error().to_string();
        return 0;
      }
      chunk = std::move(*next);
      used = 0;
      offset += chunk.size();
      if (chunk.empty())
        return 0;
    }
    auto n = std::min(size, chunk.size() - used);
    std::memcpy(buf, chunk.data() + used, n);
    used += n;
    return n;
  };
  auto machine = state_machine::load(source, tree_limits, session_limits);
  if (!machine && error.empty())
    error = path + ": the snapshot payload is not a valid state ("
            + std::string{to_string(machine.error())} + ")";
  return machine;
}

} // namespace conclave
