// storage_error: what went wrong with a node's files, as a value.
//
// Every storage call returns a storage_result<T>: the value or a
// storage_error naming the file, the byte offset (when one applies), what is
// wrong and what the operator can do about it. Nothing in runtime/storage
// throws on bad disk contents or failing system calls, and nothing logs: the
// caller (the log actor at start-up, the node's shell later) logs the error
// and, for corruption and I/O errors, stops the node. See docs/storage.md.
//
// Repairs are the other kind of finding: damage that recovery rules allow
// to be fixed automatically (a torn record at the tail of the newest log
// segment, a leftover temporary file). They are fixed and returned as
// `repair` values for the caller to log; never dropped silently.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace conclave::storage {

enum class storage_errc : uint8_t {
  /// A system call failed (ENOSPC, EIO, EACCES, ...); `os_error` has errno.
  io,
  /// The contents of a file are damaged or inconsistent: the node must not
  /// start on them.
  corruption,
  /// A file is in a format version this build does not understand.
  unsupported_format,
  /// The caller broke the API's contract (non-contiguous append, bad
  /// options, a chunk at the wrong offset, use after a failure, ...).
  invalid_argument,
};

/// "io", "corruption", "unsupported_format", "invalid_argument".
inline const char* to_string(storage_errc x) noexcept {
  switch (x) {
    case storage_errc::io:
      return "io";
    case storage_errc::corruption:
      return "corruption";
    case storage_errc::unsupported_format:
      return "unsupported_format";
    case storage_errc::invalid_argument:
      return "invalid_argument";
  }
  return "unknown";
}

struct storage_error {
  /// `offset` when no byte offset applies.
  static constexpr uint64_t no_offset = ~uint64_t{0};

  storage_errc code = storage_errc::io;
  /// The file (or directory) concerned, as passed to the storage API.
  std::string file;
  /// Byte offset in `file` of the damaged record / failed write.
  uint64_t offset = no_offset;
  /// What is wrong, e.g. "record checksum mismatch (stored 0x..., computed
  /// 0x...) and valid records follow, so this is not a torn write".
  std::string message;
  /// What the operator can do, e.g. "remove this node's data directory and
  /// let it rejoin from the leader's snapshot, or restore it from a backup".
  std::string suggestion;
  /// errno of the failed system call (io only), else 0.
  int os_error = 0;

  /// One line: "<code>: <file>: at byte <offset>: <message>; suggestion:
  /// <suggestion>" (parts that do not apply are left out).
  std::string to_string() const {
    std::string out = storage::to_string(code);
    out += ": ";
    if (!file.empty()) {
      out += file;
      out += ": ";
    }
    if (offset != no_offset) {
      out += "at byte ";
      out += std::to_string(offset);
      out += ": ";
    }
    out += message;
    if (!suggestion.empty()) {
      out += "; suggestion: ";
      out += suggestion;
    }
    return out;
  }
};

/// Something recovery fixed by itself; the caller logs it (as a warning).
struct repair {
  std::string file;
  /// Where the dropped bytes started (storage_error::no_offset if the whole
  /// file was removed).
  uint64_t offset = storage_error::no_offset;
  /// Bytes removed from the file (the whole size if the file was removed).
  uint64_t bytes_dropped = 0;
  /// What was found and done, e.g. "torn record at the tail of the newest
  /// segment (incomplete payload: 10 of 38 bytes): truncated".
  std::string message;

  std::string to_string() const {
    std::string out = file;
    if (offset != storage_error::no_offset) {
      out += ": at byte ";
      out += std::to_string(offset);
    }
    out += ": ";
    out += message;
    out += " (";
    out += std::to_string(bytes_dropped);
    out += " bytes dropped)";
    return out;
  }
};

/// The recovery suggested for damaged files (corruption at start-up).
inline constexpr const char* suggest_rejoin
  = "move this node's data directory aside (keep it for analysis) and "
    "restart the node empty so that it rejoins the cluster and receives the "
    "leader's snapshot; if no healthy majority holds the data (single node, "
    "or several nodes damaged), restore the data directory from a backup "
    "instead (docs/storage.md, \"Backup and restore\")";

/// Damage in `path` at byte `offset`; suggests rejoining (suggest_rejoin).
inline storage_error corruption_at(const std::string& path, uint64_t offset,
                                   std::string message) {
  storage_error e;
  e.code = storage_errc::corruption;
  e.file = path;
  e.offset = offset;
  e.message = std::move(message);
  e.suggestion = suggest_rejoin;
  return e;
}

/// A caller's mistake concerning `path`.
inline storage_error invalid_argument(const std::string& path,
                                      std::string message) {
  storage_error e;
  e.code = storage_errc::invalid_argument;
  e.file = path;
  e.message = std::move(message);
  return e;
}

/// A file (or record) in a format this build cannot read.
inline storage_error unsupported_format_at(const std::string& path,
                                           uint64_t offset,
                                           std::string message) {
  storage_error e;
  e.code = storage_errc::unsupported_format;
  e.file = path;
  e.offset = offset;
  e.message = std::move(message);
  e.suggestion = "run a Conclave release that supports this format, or "
                 + std::string{suggest_rejoin};
  return e;
}

/// An unsupported header format version at byte 8 of `path`.
inline storage_error unsupported_version(const std::string& path,
                                         uint32_t found, uint32_t supported) {
  return unsupported_format_at(path, 8,
                               "format version " + std::to_string(found)
                                 + " is not supported (this build reads "
                                   "version "
                                 + std::to_string(supported) + ")");
}

namespace detail {
[[noreturn]] inline void bad_result_access(const char* what) {
  std::fprintf(stderr, "storage_result: %s\n", what);
  std::abort();
}
} // namespace detail

/// A T or a storage_error. Reading the value of a failed result (or the error
/// of a successful one) is a programming error and aborts.
template <class T>
class [[nodiscard]] storage_result {
public:
  storage_result(T value) : data_(std::in_place_index<0>, std::move(value)) {}
  storage_result(storage_error err)
      : data_(std::in_place_index<1>, std::move(err)) {}

  bool ok() const noexcept { return data_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    check_value();
    return *std::get_if<0>(&data_);
  }
  const T& value() const& {
    check_value();
    return *std::get_if<0>(&data_);
  }
  T&& value() && {
    check_value();
    return std::move(*std::get_if<0>(&data_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const storage_error& error() const& {
    if (ok())
      detail::bad_result_access("error() of a successful result");
    return *std::get_if<1>(&data_);
  }
  storage_error&& error() && {
    if (ok())
      detail::bad_result_access("error() of a successful result");
    return std::move(*std::get_if<1>(&data_));
  }

private:
  void check_value() const {
    if (!ok())
      detail::bad_result_access("value() of a failed result");
  }

  std::variant<T, storage_error> data_;
};

/// Success or a storage_error; default-constructed = success.
template <>
class [[nodiscard]] storage_result<void> {
public:
  storage_result() noexcept = default;
  storage_result(storage_error err) : ok_(false), error_(std::move(err)) {}

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }

  const storage_error& error() const& {
    if (ok_)
      detail::bad_result_access("error() of a successful result");
    return error_;
  }
  storage_error&& error() && {
    if (ok_)
      detail::bad_result_access("error() of a successful result");
    return std::move(error_);
  }

private:
  bool ok_ = true;
  storage_error error_;
};

} // namespace conclave::storage
