#include "runtime/storage/file.hpp"

#include <atomic>

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace conclave::storage {

namespace {

// strerrordesc_np (glibc >= 2.32): the untranslated message from a static
// table; unlike strerror/strerror_r it takes no locale lock, so it is safe in
// a fork()ed child (see file.hpp).
std::string errno_message(int err) {
  const char* msg = ::strerrordesc_np(err);
  return msg != nullptr ? msg : "unknown error";
}

std::string suggestion_for(int err, const std::string& path) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return "free space on the file system holding " + path
             + " (or raise the quota), then restart the node";
    case EIO:
      return "the device reported an I/O error: check the disk (kernel log, "
             "SMART); if it is failing, replace it, and "
             + std::string{suggest_rejoin};
    case EROFS:
      return "the file system holding " + path
             + " is read-only (file systems are often remounted read-only "
               "after errors): check the disk and the mount, then restart "
               "the node";
    case EACCES:
    case EPERM:
      return "check the owner and permissions of " + path
             + " and its directory";
    case EMFILE:
    case ENFILE:
      return "raise the open-file limit (ulimit -n) of the node";
    default:
      return "check the file system holding " + path
             + ", then restart the node";
  }
}

} // namespace

storage_error os_error(std::string path, const char* what, int err,
                       uint64_t offset) {
  storage_error e;
  e.code = storage_errc::io;
  e.suggestion = suggestion_for(err, path);
  e.file = std::move(path);
  e.offset = offset;
  e.message = std::string{what} + " failed: " + errno_message(err) + " (errno "
              + std::to_string(err) + ")";
  e.os_error = err;
  return e;
}

// -- file
// ----------------------------------------------------------------------

file::file(int fd, std::string path) noexcept
    : fd_(fd), path_(std::move(path)) {}

file::file(file&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

file& file::operator=(file&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

file::~file() {
  if (fd_ >= 0)
    ::close(fd_);
}

storage_result<file> file::open(std::string path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return os_error(std::move(path), "open", errno);
  return file{fd, std::move(path)};
}

storage_result<file> file::open_directory(std::string path) {
  return open(std::move(path), O_RDONLY | O_DIRECTORY);
}

storage_result<void> file::pwrite_all(const void* data, size_t size,
                                      uint64_t offset) {
  auto ptr = static_cast<const char*>(data);
  while (size > 0) {
    auto n = ::pwrite(fd_, ptr, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return os_error(path_, "pwrite", errno, offset);
    }
    if (n == 0)
      return os_error(path_, "pwrite", EIO, offset);
    ptr += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

storage_result<void> file::write_all(const void* data, size_t size) {
  auto ptr = static_cast<const char*>(data);
  while (size > 0) {
    auto n = ::write(fd_, ptr, size);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return os_error(path_, "write", errno);
    }
    if (n == 0)
      return os_error(path_, "write", EIO);
    ptr += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

storage_result<size_t> file::pread_full(void* buf, size_t size,
                                        uint64_t offset) const {
  auto ptr = static_cast<char*>(buf);
  size_t done = 0;
  while (done < size) {
    auto n = ::pread(fd_, ptr + done, size - done,
                     static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return os_error(path_, "pread", errno, offset + done);
    }
    if (n == 0)
      break;
    done += static_cast<size_t>(n);
  }
  return done;
}

storage_result<std::string> file::read_all(uint64_t max_bytes) const {
  auto sz = size();
  if (!sz)
    return std::move(sz).error();
  if (*sz > max_bytes) {
    storage_error e;
    e.code = storage_errc::corruption;
    e.file = path_;
    e.message = "file is " + std::to_string(*sz)
                + " bytes, more than the limit of " + std::to_string(max_bytes);
    e.suggestion = suggest_rejoin;
    return e;
  }
  std::string buf(static_cast<size_t>(*sz), '\0');
  auto n = pread_full(buf.data(), buf.size(), 0);
  if (!n)
    return std::move(n).error();
  buf.resize(*n); // the file may have shrunk meanwhile
  return buf;
}

storage_result<uint64_t> file::size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0)
    return os_error(path_, "fstat", errno);
  return static_cast<uint64_t>(st.st_size);
}

storage_result<void> file::truncate(uint64_t size) {
  int rc;
  do {
    rc = ::ftruncate(fd_, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0)
    return os_error(path_, "ftruncate", errno, size);
  return {};
}

namespace {

std::atomic<uint64_t> syncs{0};

} // namespace

uint64_t sync_calls() noexcept {
  return syncs.load(std::memory_order_relaxed);
}

storage_result<void> file::datasync() {
  int rc;
  do {
    rc = ::fdatasync(fd_);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0)
    return os_error(path_, "fdatasync", errno);
  syncs.fetch_add(1, std::memory_order_relaxed);
  return {};
}

storage_result<void> file::sync() {
  int rc;
  do {
    rc = ::fsync(fd_);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0)
    return os_error(path_, "fsync", errno);
  syncs.fetch_add(1, std::memory_order_relaxed);
  return {};
}

storage_result<void> file::close() {
  if (fd_ < 0)
    return {};
  int fd = fd_;
  fd_ = -1;
  // No retry on EINTR: on Linux the descriptor is released either way.
  if (::close(fd) != 0 && errno != EINTR)
    return os_error(path_, "close", errno);
  return {};
}

// -- directories
// ---------------------------------------------------------------

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty())
    return name;
  if (dir.back() == '/')
    return dir + name;
  return dir + "/" + name;
}

storage_result<void> sync_directory(const std::string& dir) {
  auto f = file::open_directory(dir);
  if (!f)
    return std::move(f).error();
  if (auto r = f->sync(); !r)
    return r;
  return f->close();
}

storage_result<void> rename_durably(const std::string& from,
                                    const std::string& to,
                                    const std::string& dir) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    auto e = os_error(from, "rename", errno);
    e.message += " (renaming to " + to + ")";
    return e;
  }
  return sync_directory(dir);
}

storage_result<bool> remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT)
      return false;
    return os_error(path, "unlink", errno);
  }
  return true;
}

storage_result<bool> ensure_directory(const std::string& path,
                                      const std::string& parent) {
  if (::mkdir(path.c_str(), 0755) == 0) {
    if (auto r = sync_directory(parent); !r)
      return std::move(r).error();
    return true;
  }
  int err = errno;
  if (err != EEXIST)
    return os_error(path, "mkdir", err);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return os_error(path, "stat", errno);
  if (!S_ISDIR(st.st_mode))
    return os_error(path, "mkdir", ENOTDIR);
  return false;
}

storage_result<std::vector<std::string>>
list_directory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return os_error(dir, "opendir", errno);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    auto* ent = ::readdir(d);
    if (ent == nullptr) {
      int err = errno;
      ::closedir(d);
      if (err != 0)
        return os_error(dir, "readdir", err);
      return names;
    }
    std::string name = ent->d_name;
    if (name != "." && name != "..")
      names.push_back(std::move(name));
  }
}

storage_result<bool> path_exists(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0)
    return true;
  if (errno == ENOENT)
    return false;
  return os_error(path, "stat", errno);
}

// -- formatting
// ----------------------------------------------------------------

std::string hex32(uint32_t x) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", static_cast<unsigned>(x));
  return buf;
}

std::string zero_pad20(uint64_t x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu",
                static_cast<unsigned long long>(x));
  return buf;
}

bool parse_pad20(std::string_view digits, uint64_t& out) noexcept {
  if (digits.size() != 20)
    return false;
  uint64_t x = 0;
  for (char c : digits) {
    if (c < '0' || c > '9')
      return false;
    auto d = static_cast<uint64_t>(c - '0');
    if (x > (~uint64_t{0} - d) / 10)
      return false;
    x = x * 10 + d;
  }
  out = x;
  return true;
}

} // namespace conclave::storage
