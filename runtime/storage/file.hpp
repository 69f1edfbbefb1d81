// file: a small RAII wrapper around a POSIX file descriptor, plus the few
// directory operations durable storage needs (fsync of a directory, rename
// made durable, listing, removal).
//
// Every call is a plain system call (open, pread, pwrite, fdatasync, fsync,
// ftruncate, rename, unlink, close, ...) retried on EINTR and on short
// reads/writes; failures come back as storage_error values carrying the OS
// message and errno, never as exceptions. The wrapper takes no
// locks, does no logging and uses no iostreams, so it may be used in a
// fork()ed child of a multi-threaded process (see snapshot_store.hpp); the
// only heap allocation on its write path is building a storage_error when a
// call fails (glibc's fork() leaves malloc usable in the child).
//
// Also here: the little-endian integer helpers every on-disk format uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "runtime/storage/storage_error.hpp"

namespace conclave::storage {

/// Builds the storage_error for a failed system call: message "<what>
/// failed: <OS message> (errno <n>)" and a suggestion chosen by errno (free
/// space for ENOSPC, check the disk for EIO, ...). The OS message comes from
/// strerrordesc_np (English, no locale lookup, no lock).
storage_error os_error(std::string path, const char* what, int err,
                       uint64_t offset = storage_error::no_offset);

class file {
public:
  file() noexcept = default;
  /// Adopts `fd` (closed by the destructor).
  file(int fd, std::string path) noexcept;
  file(file&& other) noexcept;
  file& operator=(file&& other) noexcept;
  file(const file&) = delete;
  file& operator=(const file&) = delete;
  /// Closes the descriptor; a close error is ignored here (call close() to
  /// see it).
  ~file();

  /// open(2) with O_CLOEXEC added to `flags`.
  static storage_result<file> open(std::string path, int flags,
                                   mode_t mode = 0644);
  /// Opens a directory read-only, for sync().
  static storage_result<file> open_directory(std::string path);

  bool is_open() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  const std::string& path() const noexcept { return path_; }

  /// Writes all of `data` at `offset` (pwrite, looping on short writes).
  storage_result<void> pwrite_all(const void* data, size_t size,
                                  uint64_t offset);
  storage_result<void> pwrite_all(std::string_view data, uint64_t offset) {
    return pwrite_all(data.data(), data.size(), offset);
  }
  /// Writes all of `data` at the current file position (write(2)).
  storage_result<void> write_all(const void* data, size_t size);
  storage_result<void> write_all(std::string_view data) {
    return write_all(data.data(), data.size());
  }
  /// Reads up to `size` bytes at `offset`; fewer only at end of file.
  /// Returns the number of bytes read.
  storage_result<size_t> pread_full(void* buf, size_t size,
                                    uint64_t offset) const;
  /// Reads the whole file; an error (not an allocation) if it is larger
  /// than `max_bytes`.
  storage_result<std::string> read_all(uint64_t max_bytes) const;
  /// fstat(2) size.
  storage_result<uint64_t> size() const;
  storage_result<void> truncate(uint64_t size);
  /// fdatasync(2): the data and the metadata needed to read it (size).
  storage_result<void> datasync();
  /// fsync(2): data and all metadata (also used for directories).
  storage_result<void> sync();
  /// Closes the descriptor and reports a close(2) error.
  storage_result<void> close();

private:
  int fd_ = -1;
  std::string path_;
};

/// "<dir>/<name>" (no separator added if `dir` ends with '/').
std::string join_path(const std::string& dir, const std::string& name);

/// fdatasync(2) and fsync(2) calls that succeeded in this process (files
/// and directories), for the node's metrics: how many writes share one
/// sync is the batching factor. A lock-free atomic: fork-safe.
uint64_t sync_calls() noexcept;

/// fsync(2) of a directory: makes creations, renames and removals of its
/// entries durable.
storage_result<void> sync_directory(const std::string& dir);

/// rename(2) `from` -> `to`, then fsync `dir` (the directory holding both).
storage_result<void> rename_durably(const std::string& from,
                                    const std::string& to,
                                    const std::string& dir);

/// unlink(2); a missing file is not an error. Returns whether a file was
/// removed. Does not fsync the directory.
storage_result<bool> remove_file(const std::string& path);

/// Creates `path` (one level, mode 0755) if it does not exist and fsyncs
/// `parent` when it did. Returns whether it was created. An existing
/// non-directory is an error.
storage_result<bool> ensure_directory(const std::string& path,
                                      const std::string& parent);

/// Names in `dir` (without "." and ".."), unsorted.
storage_result<std::vector<std::string>> list_directory(const std::string& dir);

/// Whether `path` exists (lstat); errors other than ENOENT are errors.
storage_result<bool> path_exists(const std::string& path);

// -- little-endian integers --------------------------------------------------

inline void put_le32(char* out, uint32_t x) noexcept {
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>((x >> (8 * i)) & 0xFF);
}
inline void put_le64(char* out, uint64_t x) noexcept {
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((x >> (8 * i)) & 0xFF);
}
inline uint32_t get_le32(const char* in) noexcept {
  uint32_t x = 0;
  for (int i = 3; i >= 0; --i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}
inline uint64_t get_le64(const char* in) noexcept {
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}

/// "0x1234abcd", for checksums in error messages.
std::string hex32(uint32_t x);

/// `x` as 20 decimal digits with leading zeros (file names).
std::string zero_pad20(uint64_t x);

/// Parses exactly 20 decimal digits; false on anything else or overflow.
bool parse_pad20(std::string_view digits, uint64_t& out) noexcept;

} // namespace conclave::storage
