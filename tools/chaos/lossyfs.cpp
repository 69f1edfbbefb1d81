// lossyfs: an LD_PRELOAD fault-injection layer for a Conclave node's disk,
// used by the chaos harness (tools/chaos/). Built as libconclave-lossyfs.so
// (tools/chaos/lossyfs.cmake); its Python half is tools/chaos/lossyfs.py and
// its tests are tests/lossyfs_test.py.
//
// WHAT IT MODELS
//
// 1. A slow disk. Every fsync(2)/fdatasync(2) of a file or directory under
//    the data directory (of any file when CONCLAVE_LOSSYFS_DATA is unset)
//    first sleeps for the number of milliseconds written in the control file
//    CONCLAVE_LOSSYFS_CTL. The file is re-read (open/read/close) on every
//    call, so the harness turns the delay on and off at run time by
//    rewriting it (lossyfs.write_control). Missing, empty or garbage = 0.
//
// 2. Power loss: what survives a crash of the whole machine, not just of the
//    process. A process crash (SIGKILL) loses nothing that was written: the
//    page cache keeps it. A power loss keeps only what was made durable:
//      - the content of a regular file as of its last fsync/fdatasync (of
//        any descriptor of it, from any thread or process);
//      - the set of names in a directory as of its last fsync (which name
//        refers to which file: creates, unlinks and renames become durable
//        only then);
//      - directories themselves once they exist (mkdir is not tracked; a
//        directory is never removed by a restore).
//    The library keeps that durable image in the state directory as the
//    node runs; after the node is killed, lossyfs.restore(state, data)
//    rewrites the data directory to exactly that image (and deletes the
//    state), and the next start begins fresh. So "SIGKILL + restore" is a
//    power loss at the moment of the kill.
//
//    Consequences the model reproduces: bytes appended after the last
//    fdatasync vanish; a truncation not followed by a sync is undone; a file
//    fsynced but whose name was never made durable by a directory fsync
//    vanishes (its directory entry was lost); a name made durable whose
//    content never was comes back as an empty file; a rename not followed
//    by a directory fsync is undone (the target keeps its old content, the
//    source name comes back if it was durable); an unlink not followed by a
//    directory fsync is undone.
//
// ENVIRONMENT (read once, when the library is loaded)
//
//   CONCLAVE_LOSSYFS_DATA   the node's data directory. Only files and
//                           directories under it are tracked (and delayed).
//                           Unset: nothing is tracked; every fsync is
//                           delayed.
//   CONCLAVE_LOSSYFS_STATE  the state directory holding the durable image;
//                           must be outside the data directory. Unset: no
//                           loss tracking (the delay still works). It is
//                           wiped at load (it must be empty, missing or a
//                           previous state directory: anything else is
//                           refused, so a wrong path cannot delete data).
//   CONCLAVE_LOSSYFS_CTL    the control file (fsync delay in milliseconds).
//   CONCLAVE_LOSSYFS_IGNORE ':'-separated fnmatch(3) patterns of entry names
//                           (any directory level) that are not tracked and
//                           that restore leaves alone. Default
//                           "conclave.log:conclave.log.*": the node's text
//                           log is not storage and is never fsynced, and it
//                           is the harness's evidence. Use only '*' and '?'
//                           (Python's fnmatch must agree).
//
// At load the whole current tree under the data directory counts as durable
// (a restarted node sees what survived): the library wipes the state
// directory and records the tree there, then sets
// CONCLAVE_LOSSYFS_INITIALIZED=<state dir> in its environment, so that a
// program the node exec()s (or the node itself, when started through
// `ip netns exec`, which loads the library and then execs) joins the same
// state instead of wiping it again.
//
// STATE DIRECTORY FORMAT (version 1; tools/chaos/lossyfs.py reads it)
//
//   format             "conclave-lossyfs 1\n", "data <data dir>\n", then
//                      "ignore <pattern>\n" per pattern. Written last at load
//                      (tmp + rename): a state without it is incomplete and
//                      restore leaves the data directory as it is.
//   files/<key>        durable content of the regular file <key> (a copy of
//                      its whole content at its last fsync/fdatasync).
//   dirs/d<hash>       durable listing of one directory: a first line
//                      "dir <relative path>" ("." for the data directory
//                      itself), then one line per entry:
//                        "f <key> <name>"  a regular file
//                        "d - <name>"      a subdirectory
//                      Other entry types (symlinks, sockets, ...) are not
//                      recorded. <hash> is a 128-bit hash of the relative
//                      path (only a file name; the path is the first line).
//   locks/<name>       flock(2) files, one per files/ and dirs/ entry.
//   tmp/<name>         copies being written (renamed into files/ or dirs/).
//   procs/<pid>        "<pid> <start time>\n" for the process that loaded
//                      the library and every fork()ed child: restore SIGKILLs
//                      any of them still running (a snapshot writer child
//                      survives its parent's SIGKILL), as a power loss would.
//   Paths, names and patterns are percent-encoded (bytes other than
//   [A-Za-z0-9._-] as %XX).
//
//   <key> is the inode identity "i<dev>-<ino>-<birth time>" (hex; birth time
//   as sec.nsec from statx) or, on a file system without birth times,
//   "i<dev>-<ino>-g<generation>" (FS_IOC_GETVERSION). Contents are keyed by
//   inode, not by name, because names change by rename; the birth time or
//   generation tells a reused inode number apart. A file system with
//   neither is refused at load.
//
// HOW
//
// Only fsync and fdatasync are interposed (dlsym(RTLD_NEXT)): the real call
// runs first; if it succeeded, the library reopens the descriptor through
// /proc/self/fd/N and records: a regular file's whole content (copy_file_range,
// falling back to sendfile, then read/write) into tmp/ then renamed to
// files/<key>; a directory's listing (getdents64 on its own descriptor)
// likewise into dirs/. Each record is made under an exclusive flock of its
// own lock file, taken and released (LOCK_UN, then close) within the call,
// so concurrent syncs from threads and from fork()ed children serialize per
// file and the later sync's copy always wins. No lock is held between
// calls, so fork() never inherits a held lock, and there is no global mutex.
// The sync path uses only system calls, fixed-size stack buffers (under
// 48 KiB of stack) and snprintf: no heap, no locale, no C++ runtime (the
// library links only libc), so it also runs in the fork()ed snapshot writer
// (a pthread_atfork child handler registers the child in procs/). Only the
// load (realpath, nftw, dlsym) allocates. The state is not fsynced: it has to
// survive a SIGKILL of the node, not a real power loss.
//
// The delay is applied before the real call, per call: concurrent syncs
// from several threads sleep at the same time (it models a slow device's
// latency, not its queue).
//
// The application sees the real call's result and errno, delayed by the
// slow-disk knob and by the copy. If the library cannot record (disk full,
// a missing /proc, ...) it prints one line to stderr and abort()s: a
// silently wrong durable image would make the chaos results lie.
//
// LIMITS
//
// - Cost: every sync copies the whole file, so a log segment costs O(size)
//   per fdatasync; keep conclave.log-segment-bytes small in chaos runs. Old
//   copies are never collected (their files may have been renamed into a
//   directory not yet fsynced): the state grows by the final size of every
//   file fsynced during the run.
// - Not modelled (Conclave does not use them): sync(), syncfs(),
//   sync_file_range(), msync(), O_SYNC/O_DSYNC writes, O_TMPFILE + linkat,
//   directory renames and rmdir (directory listings are keyed by path),
//   hard links across directories beyond what the keys give, bind mounts
//   (paths come from /proc/self/fd), file modes and times (restore writes
//   files with the default mode), partial (torn) writes and reordering
//   inside a file: durability is all-or-nothing per sync, at the last sync.
// - The durable image starts from the tree as it was at load, even if that
//   tree was never fsynced (the page cache of a previous run).
// - fsync of a new file does not make its name durable (POSIX; ext4 often
//   does in practice): the model is the strict one, which finds more bugs.
// - The harness must restore only while no process of the node runs; restore
//   kills those still registered in procs/ (checked by pid and start time).
//   A plain kill -9 without restore is a process crash: the next start
//   records the tree as it is then, which is exactly what the page cache
//   keeps.
// - Calls made through syscall(2) directly, or by a statically linked
//   program, bypass the library.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

using sync_fn = int (*)(int);

constexpr size_t max_ignore = 16;
constexpr size_t key_cap = 96;
constexpr int max_depth = 64;
constexpr uint64_t max_delay_ms = 24ull * 3600 * 1000;
constexpr const char* marker_env = "CONCLAVE_LOSSYFS_INITIALIZED";
constexpr const char* format_magic = "conclave-lossyfs 1";

struct config {
  sync_fn real_fsync = nullptr;
  sync_fn real_fdatasync = nullptr;
  bool ready = false;    ///< the constructor finished
  bool has_data = false; ///< CONCLAVE_LOSSYFS_DATA set
  bool track = false;    ///< ... and CONCLAVE_LOSSYFS_STATE set
  bool has_ctl = false;
  bool use_btime = false; ///< else the inode generation
  char data[PATH_MAX] = {};
  size_t data_len = 0;
  char state[PATH_MAX] = {};
  char ctl[PATH_MAX] = {};
  char ignore[max_ignore][NAME_MAX + 1] = {};
  size_t n_ignore = 0;
};

config cfg;

// -- errors ------------------------------------------------------------------

[[noreturn]] void die(const char* what, const char* path, int err) {
  char line[PATH_MAX + 512];
  const char* reason = err != 0 ? ::strerrordesc_np(err) : nullptr;
  int n = std::snprintf(
    line, sizeof(line),
    "conclave-lossyfs: %s%s%s%s%s; aborting (the durable image would be "
    "wrong)\n",
    what, path != nullptr ? " " : "", path != nullptr ? path : "",
    reason != nullptr ? ": " : "", reason != nullptr ? reason : "");
  if (n > 0) {
    auto len = static_cast<size_t>(n) < sizeof(line) ? static_cast<size_t>(n)
                                                     : sizeof(line) - 1;
    ssize_t rc = ::write(2, line, len);
    (void)rc;
  }
  std::abort();
}

// -- fixed-capacity strings ----------------------------------------------------

struct text {
  char s[PATH_MAX + 1024];
  size_t n = 0;

  text() { s[0] = '\0'; }
  explicit text(const char* p) {
    s[0] = '\0';
    add(p);
  }
  text& add(const char* p, size_t len) {
    if (n + len >= sizeof(s)) {
      s[n] = '\0';
      die("path too long:", s, 0);
    }
    std::memcpy(s + n, p, len);
    n += len;
    s[n] = '\0';
    return *this;
  }
  text& add(const char* p) { return add(p, std::strlen(p)); }
  text& add(char c) { return add(&c, 1); }
  /// Bytes outside [A-Za-z0-9._-] as %XX.
  text& add_pct(const char* p) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *p != '\0'; ++p) {
      auto c = static_cast<unsigned char>(*p);
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
          || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-') {
        add(static_cast<char>(c));
      } else {
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        add(esc, 3);
      }
    }
    return *this;
  }
  void truncate(size_t len) {
    n = len;
    s[n] = '\0';
  }
  const char* c_str() const { return s; }
};

/// state/<sub>/<name>
text state_path(const char* sub, const char* name) {
  text t{cfg.state};
  t.add('/').add(sub);
  if (name != nullptr)
    t.add('/').add(name);
  return t;
}

// -- small system-call helpers -------------------------------------------------

int open_retry(const char* path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

int openat_retry(int dirfd, const char* name, int flags) {
  int fd;
  do {
    fd = ::openat(dirfd, name, flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

void write_all(int fd, const char* p, size_t len, const char* path) {
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("cannot write", path, errno);
    }
    if (n == 0)
      die("cannot write", path, EIO);
    p += n;
    len -= static_cast<size_t>(n);
  }
}

void close_or_die(int fd, const char* path) {
  if (::close(fd) != 0 && errno != EINTR)
    die("cannot close", path, errno);
}

void rename_or_die(const text& from, const text& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    die("cannot rename", from.c_str(), errno);
}

void mkdir_p(const char* path) {
  text t;
  for (const char* p = path; *p != '\0'; ++p) {
    if (*p == '/' && t.n > 0) {
      if (::mkdir(t.c_str(), 0755) != 0 && errno != EEXIST)
        die("cannot create directory", t.c_str(), errno);
    }
    t.add(*p);
  }
  if (::mkdir(t.c_str(), 0755) != 0 && errno != EEXIST)
    die("cannot create directory", t.c_str(), errno);
}

/// Buffered writer of one state file.
struct out_file {
  int fd;
  const char* path;
  char buf[8192];
  size_t used = 0;

  out_file(int fd_, const char* path_) : fd(fd_), path(path_) {}
  void put(const char* p, size_t len) {
    if (used + len > sizeof(buf)) {
      write_all(fd, buf, used, path);
      used = 0;
    }
    if (len > sizeof(buf)) {
      write_all(fd, p, len, path);
      return;
    }
    std::memcpy(buf + used, p, len);
    used += len;
  }
  void put(const text& t) { put(t.s, t.n); }
  void finish() {
    write_all(fd, buf, used, path);
    used = 0;
    close_or_die(fd, path);
  }
};

/// Exclusive flock of state/locks/<name>; unlock() releases it explicitly
/// (LOCK_UN acts on the open file description, so a copy of the descriptor
/// inherited by a fork()ed child does not keep it locked).
struct state_lock {
  int fd;
  explicit state_lock(const char* name) {
    auto path = state_path("locks", name);
    fd = open_retry(path.c_str(), O_RDWR | O_CREAT, 0600);
    if (fd < 0)
      die("cannot open lock file", path.c_str(), errno);
    while (::flock(fd, LOCK_EX) != 0)
      if (errno != EINTR)
        die("cannot lock", path.c_str(), errno);
  }
  state_lock(const state_lock&) = delete;
  state_lock& operator=(const state_lock&) = delete;
  ~state_lock() {
    ::flock(fd, LOCK_UN);
    ::close(fd);
  }
};

// -- configuration -------------------------------------------------------------

/// realpath() of the longest existing prefix of `in`, followed by the
/// components that do not exist yet (which must not be "." or "..").
void canonical(const char* in, char* out, const char* what) {
  text prefix{in};
  text rest;
  for (;;) {
    while (prefix.n > 1 && prefix.s[prefix.n - 1] == '/')
      prefix.truncate(prefix.n - 1);
    char real[PATH_MAX];
    if (::realpath(prefix.c_str(), real) != nullptr) {
      text full{real};
      if (full.n == 1 && rest.n > 0)
        full.truncate(0); // "/" + "/name"
      full.add(rest.c_str(), rest.n);
      if (full.n >= PATH_MAX)
        die(what, in, ENAMETOOLONG);
      std::memcpy(out, full.s, full.n + 1);
      return;
    }
    if (errno != ENOENT)
      die(what, in, errno);
    const char* slash = std::strrchr(prefix.s, '/');
    const char* name = slash != nullptr ? slash + 1 : prefix.s;
    if (*name == '\0' || std::strcmp(name, ".") == 0
        || std::strcmp(name, "..") == 0)
      die(what, in, EINVAL);
    text next{"/"};
    next.add(name).add(rest.c_str(), rest.n);
    rest = next;
    if (slash == nullptr)
      prefix = text{"."};
    else
      prefix.truncate(
        slash == prefix.s ? 1 : static_cast<size_t>(slash - prefix.s));
  }
}

bool inside(const char* path, const char* dir) {
  size_t n = std::strlen(dir);
  return std::strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

void parse_ignore(const char* spec) {
  cfg.n_ignore = 0;
  const char* p = spec;
  while (*p != '\0') {
    const char* end = std::strchr(p, ':');
    size_t len = end != nullptr ? static_cast<size_t>(end - p) : std::strlen(p);
    if (len > 0) {
      if (cfg.n_ignore == max_ignore || len > NAME_MAX)
        die("CONCLAVE_LOSSYFS_IGNORE has too many or too long patterns:", spec,
            0);
      std::memcpy(cfg.ignore[cfg.n_ignore], p, len);
      cfg.ignore[cfg.n_ignore][len] = '\0';
      ++cfg.n_ignore;
    }
    p += len;
    if (*p == ':')
      ++p;
  }
}

bool ignored_name(const char* name) {
  for (size_t i = 0; i < cfg.n_ignore; ++i)
    if (::fnmatch(cfg.ignore[i], name, 0) == 0)
      return true;
  return false;
}

/// Some component of a path relative to the data directory is ignored.
bool ignored_rel(const char* rel) {
  char comp[NAME_MAX + 1];
  while (*rel != '\0') {
    const char* end = std::strchr(rel, '/');
    size_t len
      = end != nullptr ? static_cast<size_t>(end - rel) : std::strlen(rel);
    if (len > 0 && len <= NAME_MAX) {
      std::memcpy(comp, rel, len);
      comp[len] = '\0';
      if (ignored_name(comp))
        return true;
    }
    rel += len;
    if (*rel == '/')
      ++rel;
  }
  return false;
}

// -- inode keys ----------------------------------------------------------------

constexpr unsigned statx_mask
  = STATX_TYPE | STATX_MODE | STATX_INO | STATX_NLINK | STATX_BTIME;

/// Fills `key` for the inode `sx` describes; `fd` (an open descriptor of it,
/// or -1 to open `name` in `dirfd`) is needed only for the generation.
/// Returns false if the file vanished meanwhile.
bool make_key(const struct statx& sx, int fd, int dirfd, const char* name,
              char (&key)[key_cap]) {
  auto dev = static_cast<unsigned long long>(
    makedev(sx.stx_dev_major, sx.stx_dev_minor));
  auto ino = static_cast<unsigned long long>(sx.stx_ino);
  if (cfg.use_btime) {
    if ((sx.stx_mask & STATX_BTIME) == 0)
      die("no birth time (statx) for a file named", name, 0);
    std::snprintf(key, key_cap, "i%llx-%llx-%llx.%x", dev, ino,
                  static_cast<unsigned long long>(sx.stx_btime.tv_sec),
                  static_cast<unsigned>(sx.stx_btime.tv_nsec));
    return true;
  }
  int own = -1;
  if (fd < 0) {
    own = openat_retry(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (own < 0) {
      if (errno == ENOENT)
        return false;
      die("cannot open", name, errno);
    }
    fd = own;
  }
  int gen = 0;
  if (::ioctl(fd, FS_IOC_GETVERSION, &gen) != 0)
    die("no inode generation (FS_IOC_GETVERSION) for a file named", name,
        errno);
  if (own >= 0)
    ::close(own);
  std::snprintf(key, key_cap, "i%llx-%llx-g%x", dev, ino,
                static_cast<unsigned>(gen));
  return true;
}

// -- recording -----------------------------------------------------------------

void copy_all(int src, int dst, const char* path) {
  loff_t in = 0;
  loff_t out = 0;
  bool fallback = false;
  for (;;) {
    ssize_t n = ::copy_file_range(src, &in, dst, &out, size_t{1} << 30, 0);
    if (n > 0)
      continue;
    if (n == 0)
      return;
    if (errno == EINTR)
      continue;
    if (in == 0
        && (errno == EXDEV || errno == EINVAL || errno == ENOSYS
            || errno == EOPNOTSUPP)) {
      fallback = true;
      break;
    }
    die("cannot copy (copy_file_range) into", path, errno);
  }
  if (!fallback)
    return;
  off_t off = 0;
  for (;;) {
    ssize_t n = ::sendfile(dst, src, &off, size_t{1} << 30);
    if (n > 0)
      continue;
    if (n == 0)
      return;
    if (errno == EINTR)
      continue;
    if (off == 0 && (errno == EINVAL || errno == ENOSYS))
      break;
    die("cannot copy (sendfile) into", path, errno);
  }
  char buf[16384];
  for (;;) {
    ssize_t n = ::pread(src, buf, sizeof(buf), off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("cannot read the file being copied into", path, errno);
    }
    if (n == 0)
      return;
    write_all(dst, buf, static_cast<size_t>(n), path);
    off += n;
  }
}

/// Copies the whole content of `src` (a readable descriptor of the file) to
/// files/<key>.
void record_file(int src, const char* key) {
  state_lock lock{key};
  auto tmp = state_path("tmp", key);
  auto dst = state_path("files", key);
  int out = open_retry(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (out < 0)
    die("cannot create", tmp.c_str(), errno);
  copy_all(src, out, tmp.c_str());
  close_or_die(out, tmp.c_str());
  rename_or_die(tmp, dst);
}

/// 128 bits of FNV-1a (two offset bases) of `rel`, as "d" + 32 hex digits.
void dir_key(const char* rel, char (&key)[key_cap]) {
  uint64_t a = 14695981039346656037ull;
  uint64_t b = 0x6c62272e07bb0142ull;
  for (const char* p = rel; *p != '\0'; ++p) {
    a = (a ^ static_cast<unsigned char>(*p)) * 1099511628211ull;
    b = (b ^ static_cast<unsigned char>(*p)) * 1099511628211ull;
    b ^= b >> 29;
  }
  std::snprintf(key, key_cap, "d%016llx%016llx",
                static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
}

/// Calls f(name) for each entry of the directory `dfd` but "." and "..",
/// in getdents64 order.
template <class F>
void for_each_entry(int dfd, const char* path, F&& f) {
  if (::lseek(dfd, 0, SEEK_SET) != 0)
    die("cannot rewind directory", path, errno);
  alignas(8) char buf[8192];
  for (;;) {
    ssize_t n = ::getdents64(dfd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("cannot read directory", path, errno);
    }
    if (n == 0)
      return;
    for (ssize_t off = 0; off < n;) {
      auto* ent = reinterpret_cast<struct dirent64*>(buf + off);
      off += ent->d_reclen;
      const char* name = ent->d_name;
      if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0)
        continue;
      f(name);
    }
  }
}

/// Calls f(name, statx) for each entry of `dfd` that is not ignored and
/// still exists when it is looked at (the node may remove files meanwhile).
template <class F>
void for_each_tracked_entry(int dfd, const char* path, F&& f) {
  for_each_entry(dfd, path, [&](const char* name) {
    if (ignored_name(name))
      return;
    struct statx sx;
    if (::statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, statx_mask,
                &sx)
        != 0) {
      if (errno == ENOENT)
        return; // removed meanwhile
      die("cannot stat an entry of", path, errno);
    }
    f(name, sx);
  });
}

/// Records the listing of the directory `dfd` (our own descriptor of it),
/// at `rel` below the data directory, into dirs/.
void record_dir(int dfd, const char* rel, const char* path) {
  char key[key_cap];
  dir_key(rel, key);
  state_lock lock{key};
  auto tmp = state_path("tmp", key);
  auto dst = state_path("dirs", key);
  int fd = open_retry(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    die("cannot create", tmp.c_str(), errno);
  out_file out{fd, tmp.c_str()};
  text head{"dir "};
  if (*rel == '\0')
    head.add('.');
  else
    head.add_pct(rel);
  head.add('\n');
  out.put(head);
  for_each_tracked_entry(dfd, path,
                         [&](const char* name, const struct statx& sx) {
                           text line;
                           if (S_ISREG(sx.stx_mode)) {
                             char fkey[key_cap];
                             if (!make_key(sx, -1, dfd, name, fkey))
                               return;
                             line.add("f ").add(fkey).add(' ');
                           } else if (S_ISDIR(sx.stx_mode)) {
                             line.add("d - ");
                           } else {
                             return;
                           }
                           line.add_pct(name).add('\n');
                           out.put(line);
                         });
  out.finish();
  rename_or_die(tmp, dst);
}

/// Load time: records the directory `dfd` at `rel` and everything below it.
void scan(int dfd, text& rel, text& path, int depth) {
  if (depth > max_depth)
    die("directories nested too deeply at", path.c_str(), 0);
  record_dir(dfd, rel.c_str(), path.c_str());
  for_each_tracked_entry(
    dfd, path.c_str(), [&](const char* name, const struct statx& sx) {
      size_t rel_n = rel.n;
      size_t path_n = path.n;
      if (rel.n > 0)
        rel.add('/');
      rel.add(name);
      path.add('/').add(name);
      if (S_ISREG(sx.stx_mode)) {
        int fd = openat_retry(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0 && errno != ENOENT)
          die("cannot open", path.c_str(), errno);
        if (fd < 0) {
          rel.truncate(rel_n);
          path.truncate(path_n);
          return;
        }
        char key[key_cap];
        make_key(sx, fd, dfd, name, key);
        record_file(fd, key);
        ::close(fd);
      } else if (S_ISDIR(sx.stx_mode)) {
        int fd = openat_retry(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        if (fd < 0 && errno != ENOENT)
          die("cannot open", path.c_str(), errno);
        if (fd >= 0) {
          scan(fd, rel, path, depth + 1);
          ::close(fd);
        }
      }
      rel.truncate(rel_n);
      path.truncate(path_n);
    });
}

unsigned long long process_start_time() {
  int fd = open_retry("/proc/self/stat", O_RDONLY);
  if (fd < 0)
    die("cannot open", "/proc/self/stat", errno);
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0)
    die("cannot read", "/proc/self/stat", n < 0 ? errno : EIO);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr)
    die("cannot parse", "/proc/self/stat", 0);
  ++p;
  // Field 22 (starttime); the state is field 3, the first after ')'.
  for (int field = 3; field < 22; ++field) {
    while (*p == ' ')
      ++p;
    while (*p != ' ' && *p != '\0')
      ++p;
  }
  while (*p == ' ')
    ++p;
  return std::strtoull(p, nullptr, 10);
}

/// procs/<pid>: lets restore kill a process of the node still running.
void register_process() {
  auto pid = static_cast<long>(::getpid());
  char name[64];
  char tmp_name[64];
  std::snprintf(name, sizeof(name), "%ld", pid);
  std::snprintf(tmp_name, sizeof(tmp_name), ".tmp-%ld", pid);
  auto path = state_path("procs", name);
  auto tmp = state_path("procs", tmp_name);
  int fd = open_retry(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    die("cannot create", tmp.c_str(), errno);
  char line[64];
  int n = std::snprintf(line, sizeof(line), "%ld %llu\n", pid,
                        process_start_time());
  write_all(fd, line, static_cast<size_t>(n), tmp.c_str());
  close_or_die(fd, tmp.c_str());
  rename_or_die(tmp, path);
}

void after_fork_in_child() {
  if (cfg.ready && cfg.track)
    register_process();
}

// -- the sync path ---------------------------------------------------------------

/// The path of `fd` if it is under the data directory (then `rel` points to
/// the part below it, "" for the data directory itself).
bool fd_under_data(int fd, char (&path)[PATH_MAX], const char*& rel) {
  char link[64];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = ::readlink(link, path, sizeof(path) - 1);
  if (n < 0) {
    if (::fcntl(fd, F_GETFD) < 0)
      return false; // not a descriptor: the real call reports EBADF
    die("cannot read", link, errno);
  }
  if (static_cast<size_t>(n) >= sizeof(path) - 1)
    die("path too long:", link, 0);
  path[n] = '\0';
  if (!inside(path, cfg.data))
    return false;
  rel = path + cfg.data_len;
  if (*rel == '/')
    ++rel;
  return true;
}

uint64_t read_delay_ms() {
  int fd = open_retry(cfg.ctl, O_RDONLY);
  if (fd < 0)
    return 0;
  char buf[32];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  const char* p = buf;
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    ++p;
  if (*p < '0' || *p > '9')
    return 0;
  uint64_t ms = 0;
  while (*p >= '0' && *p <= '9') {
    ms = ms * 10 + static_cast<uint64_t>(*p - '0');
    if (ms > max_delay_ms)
      ms = max_delay_ms;
    ++p;
  }
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    ++p;
  return *p == '\0' ? ms : 0;
}

void sleep_ms(uint64_t ms) {
  struct timespec until;
  ::clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += static_cast<time_t>(ms / 1000);
  until.tv_nsec += static_cast<long>(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec += 1;
    until.tv_nsec -= 1000000000L;
  }
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr)
         == EINTR) {
  }
}

/// After a successful sync of `fd` (at `rel`): record it.
void record_synced(int fd, const char* path, const char* rel) {
  if (ignored_rel(rel))
    return;
  char link[64];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  struct statx sx;
  if (::statx(fd, "", AT_EMPTY_PATH, statx_mask, &sx) != 0)
    die("cannot stat", path, errno);
  if (S_ISREG(sx.stx_mode)) {
    int src = open_retry(link, O_RDONLY | O_NOCTTY);
    if (src < 0)
      die("cannot reopen for copying", path, errno);
    char key[key_cap];
    make_key(sx, src, -1, path, key);
    record_file(src, key);
    ::close(src);
  } else if (S_ISDIR(sx.stx_mode)) {
    // An unlinked directory ("... (deleted)") has no listing to keep.
    if (sx.stx_nlink == 0)
      return;
    int dfd = open_retry(link, O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
      die("cannot reopen directory", path, errno);
    record_dir(dfd, rel, path);
    ::close(dfd);
  }
}

sync_fn resolve(const char* name) {
  auto fn = reinterpret_cast<sync_fn>(::dlsym(RTLD_NEXT, name));
  if (fn == nullptr)
    die("cannot find the real", name, 0);
  return fn;
}

int wrapped_sync(int fd, sync_fn real) {
  if (!cfg.ready)
    return real(fd);
  char path[PATH_MAX];
  const char* rel = "";
  bool under = cfg.has_data ? fd_under_data(fd, path, rel) : true;
  if (under && cfg.has_ctl) {
    auto ms = read_delay_ms();
    if (ms > 0)
      sleep_ms(ms);
  }
  int rc = real(fd);
  int err = errno;
  if (rc == 0 && under && cfg.track)
    record_synced(fd, path, rel);
  errno = err;
  return rc;
}

// -- load ------------------------------------------------------------------------

int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
  int rc = type == FTW_DP ? ::rmdir(path) : ::unlink(path);
  if (rc != 0 && errno != ENOENT)
    die("cannot remove", path, errno);
  return 0;
}

/// Empties the state directory, refusing one that is not a state directory.
void wipe_state() {
  static const char* const ours[]
    = {"format", "files", "dirs", "locks", "tmp", "procs", "format.tmp"};
  int dfd = open_retry(cfg.state, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) {
    if (errno == ENOENT)
      return;
    die("cannot open the state directory", cfg.state, errno);
  }
  for_each_entry(dfd, cfg.state, [&](const char* name) {
    for (const char* our : ours)
      if (std::strcmp(name, our) == 0)
        return;
    die("refusing to wipe CONCLAVE_LOSSYFS_STATE: it holds files lossyfs "
        "did not make, e.g.",
        name, 0);
  });
  ::close(dfd);
  for (const char* our : ours) {
    auto path = state_path(our, nullptr);
    if (::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0
        && errno != ENOENT)
      die("cannot remove", path.c_str(), errno);
  }
}

/// Birth times, else inode generations; else no way to tell a reused inode
/// number from the old file.
void probe_identity() {
  text dir{cfg.data};
  struct statx sx;
  while (::statx(AT_FDCWD, dir.c_str(), 0, statx_mask, &sx) != 0) {
    if (errno != ENOENT)
      die("cannot stat", dir.c_str(), errno);
    const char* slash = std::strrchr(dir.s, '/');
    dir.truncate(slash == nullptr || slash == dir.s
                   ? 1
                   : static_cast<size_t>(slash - dir.s));
  }
  if ((sx.stx_mask & STATX_BTIME) != 0) {
    cfg.use_btime = true;
    return;
  }
  int fd = open_retry(dir.c_str(), O_RDONLY | O_DIRECTORY);
  int gen = 0;
  if (fd < 0 || ::ioctl(fd, FS_IOC_GETVERSION, &gen) != 0)
    die("the file system has neither birth times nor inode generations, so "
        "reused inode numbers cannot be told apart:",
        dir.c_str(), 0);
  ::close(fd);
  cfg.use_btime = false;
}

void write_format() {
  auto tmp = state_path("format.tmp", nullptr);
  auto path = state_path("format", nullptr);
  int fd = open_retry(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    die("cannot create", tmp.c_str(), errno);
  out_file out{fd, tmp.c_str()};
  text t{format_magic};
  t.add("\ndata ").add_pct(cfg.data).add('\n');
  out.put(t);
  for (size_t i = 0; i < cfg.n_ignore; ++i) {
    text line{"ignore "};
    line.add_pct(cfg.ignore[i]).add('\n');
    out.put(line);
  }
  out.finish();
  rename_or_die(tmp, path);
}

void init_tracking() {
  probe_identity();
  // /proc/self/fd must work, or fsyncs could not be attributed.
  {
    int fd = open_retry(cfg.state, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
      die("cannot open the state directory", cfg.state, errno);
    char path[PATH_MAX];
    char link[64];
    std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    if (::readlink(link, path, sizeof(path)) < 0)
      die("cannot read", link, errno);
    ::close(fd);
  }
  const char* marker = std::getenv(marker_env);
  auto format = state_path("format", nullptr);
  if (marker != nullptr && std::strcmp(marker, cfg.state) == 0
      && ::access(format.c_str(), F_OK) == 0) {
    // A process exec()ed by a tracked one: join its state.
    register_process();
    return;
  }
  wipe_state();
  mkdir_p(cfg.state);
  static const char* const subs[] = {"files", "dirs", "locks", "tmp", "procs"};
  for (const char* sub : subs) {
    auto path = state_path(sub, nullptr);
    if (::mkdir(path.c_str(), 0755) != 0)
      die("cannot create directory", path.c_str(), errno);
  }
  register_process();
  int dfd = open_retry(cfg.data, O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    text rel;
    text path{cfg.data};
    scan(dfd, rel, path, 0);
    ::close(dfd);
  } else if (errno != ENOENT) {
    die("cannot open the data directory", cfg.data, errno);
  }
  write_format();
  if (::setenv(marker_env, cfg.state, 1) != 0)
    die("cannot set", marker_env, errno);
}

__attribute__((constructor)) void lossyfs_init() {
  if (cfg.real_fsync == nullptr)
    cfg.real_fsync = resolve("fsync");
  if (cfg.real_fdatasync == nullptr)
    cfg.real_fdatasync = resolve("fdatasync");
  const char* ctl = std::getenv("CONCLAVE_LOSSYFS_CTL");
  if (ctl != nullptr && *ctl != '\0') {
    if (std::strlen(ctl) >= sizeof(cfg.ctl))
      die("path too long:", ctl, 0);
    std::strcpy(cfg.ctl, ctl);
    cfg.has_ctl = true;
  }
  const char* data = std::getenv("CONCLAVE_LOSSYFS_DATA");
  if (data != nullptr && *data != '\0') {
    canonical(data, cfg.data, "bad CONCLAVE_LOSSYFS_DATA");
    if (std::strcmp(cfg.data, "/") == 0)
      die("CONCLAVE_LOSSYFS_DATA must not be", "/", 0);
    cfg.data_len = std::strlen(cfg.data);
    cfg.has_data = true;
  }
  const char* state = std::getenv("CONCLAVE_LOSSYFS_STATE");
  if (cfg.has_data && state != nullptr && *state != '\0') {
    canonical(state, cfg.state, "bad CONCLAVE_LOSSYFS_STATE");
    if (inside(cfg.state, cfg.data) || inside(cfg.data, cfg.state))
      die("CONCLAVE_LOSSYFS_STATE and CONCLAVE_LOSSYFS_DATA must not "
          "contain each other:",
          cfg.state, 0);
    mkdir_p(cfg.state);
    const char* ignore = std::getenv("CONCLAVE_LOSSYFS_IGNORE");
    parse_ignore(ignore != nullptr ? ignore : "conclave.log:conclave.log.*");
    cfg.track = true;
    init_tracking();
    if (::pthread_atfork(nullptr, nullptr, after_fork_in_child) != 0)
      die("pthread_atfork failed", nullptr, 0);
  }
  cfg.ready = true;
}

} // namespace

extern "C" {

__attribute__((visibility("default"))) int fsync(int fd) {
  if (cfg.real_fsync == nullptr)
    cfg.real_fsync = resolve("fsync");
  return wrapped_sync(fd, cfg.real_fsync);
}

__attribute__((visibility("default"))) int fdatasync(int fd) {
  if (cfg.real_fdatasync == nullptr)
    cfg.real_fdatasync = resolve("fdatasync");
  return wrapped_sync(fd, cfg.real_fdatasync);
}

} // extern "C"
