// conclave-lossyfs-writer: runs a scripted sequence of file operations given
// on its command line, for tests/lossyfs_test.py, which runs it under
// LD_PRELOAD=libconclave-lossyfs.so and checks what survives a SIGKILL plus
// lossyfs.restore. Operations (SLOT is 0..15, a descriptor table entry):
//
//   open SLOT PATH         open(O_RDWR | O_CREAT, 0644)
//   opendir SLOT PATH      open(O_RDONLY | O_DIRECTORY)
//   write SLOT TEXT        write(2) at the descriptor's position
//   pwrite SLOT OFF TEXT   pwrite(2)
//   truncate SLOT SIZE     ftruncate(2)
//   fsync SLOT             fsync(2)
//   fdatasync SLOT         fdatasync(2)
//   close SLOT             close(2)
//   syncdir PATH           open the directory, fsync it, close it
//   rename FROM TO         rename(2)
//   unlink PATH            unlink(2)
//   mkdir PATH             mkdir(2)
//   timed OP ...           runs OP, then prints "elapsed_ms N" (monotonic)
//   echo TEXT              prints TEXT
//   waitfile PATH          waits (up to 60 s) until PATH exists
//   threads N ROUNDS DIR   N threads; thread i creates DIR/t<i> (then one
//                          directory fsync of DIR), then appends the line
//                          "t<i> r<j>" and fdatasyncs, ROUNDS times; joined
//   fork ... join          the operations in between run in a fork()ed child
//                          (which then _exit(0)s); the parent waits for it
//                          and fails unless it exited with 0
//   spawn ... join         the same, but the parent does not wait; it prints
//                          "child PID" (the child's output goes to /dev/null)
//   kill                   raise(SIGKILL)
//
// Exits with 0 at the end of the script, with 1 (and a message on stderr) if
// an operation fails.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/file_wait.hpp"

namespace {

int fds[16];

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "lossyfs-writer: %s: %s\n", what.c_str(),
               std::strerror(errno));
  std::exit(1);
}

void check(bool ok, const std::string& what) {
  if (!ok)
    fail(what);
}

int slot(const std::string& s) {
  int i = std::atoi(s.c_str());
  if (i < 0 || i >= 16) {
    errno = EINVAL;
    fail("bad slot " + s);
  }
  return i;
}

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    check(n > 0, "write");
    done += static_cast<size_t>(n);
  }
}

void thread_body(int i, int rounds, std::string dir) {
  auto path = dir + "/t" + std::to_string(i);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  check(fd >= 0, "open " + path);
  for (int j = 0; j < rounds; ++j) {
    write_all(fd, "t" + std::to_string(i) + " r" + std::to_string(j) + "\n");
    check(::fdatasync(fd) == 0, "fdatasync " + path);
  }
  ::close(fd);
}

void sync_dir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY);
  check(fd >= 0, "open " + path);
  check(::fsync(fd) == 0, "fsync " + path);
  ::close(fd);
}

/// Index just past the "join" matching the fork/spawn at `i`.
size_t find_join(const std::vector<std::string>& ops, size_t i) {
  int depth = 0;
  for (size_t k = i; k < ops.size(); ++k) {
    if (ops[k] == "fork" || ops[k] == "spawn")
      ++depth;
    else if (ops[k] == "join" && --depth == 0)
      return k + 1;
  }
  errno = EINVAL;
  fail("fork/spawn without join");
}

void run(const std::vector<std::string>& ops, size_t begin, size_t end);

/// Runs the operation at `i`; returns the index of the next one.
size_t step(const std::vector<std::string>& ops, size_t i, size_t end) {
  auto arg = [&](size_t k) -> const std::string& {
    if (i + k >= end) {
      errno = EINVAL;
      fail("missing argument of " + ops[i]);
    }
    return ops[i + k];
  };
  const auto& op = ops[i];
  if (op == "open") {
    int fd = ::open(arg(2).c_str(), O_RDWR | O_CREAT, 0644);
    check(fd >= 0, "open " + arg(2));
    fds[slot(arg(1))] = fd;
    return i + 3;
  }
  if (op == "opendir") {
    int fd = ::open(arg(2).c_str(), O_RDONLY | O_DIRECTORY);
    check(fd >= 0, "open " + arg(2));
    fds[slot(arg(1))] = fd;
    return i + 3;
  }
  if (op == "write") {
    write_all(fds[slot(arg(1))], arg(2));
    return i + 3;
  }
  if (op == "pwrite") {
    const auto& text = arg(3);
    auto n = ::pwrite(fds[slot(arg(1))], text.data(), text.size(),
                      std::atol(arg(2).c_str()));
    check(n == static_cast<ssize_t>(text.size()), "pwrite");
    return i + 4;
  }
  if (op == "truncate") {
    check(::ftruncate(fds[slot(arg(1))], std::atol(arg(2).c_str())) == 0,
          "ftruncate");
    return i + 3;
  }
  if (op == "fsync") {
    check(::fsync(fds[slot(arg(1))]) == 0, "fsync");
    return i + 2;
  }
  if (op == "fdatasync") {
    check(::fdatasync(fds[slot(arg(1))]) == 0, "fdatasync");
    return i + 2;
  }
  if (op == "close") {
    check(::close(fds[slot(arg(1))]) == 0, "close");
    return i + 2;
  }
  if (op == "syncdir") {
    sync_dir(arg(1));
    return i + 2;
  }
  if (op == "rename") {
    check(::rename(arg(1).c_str(), arg(2).c_str()) == 0,
          "rename " + arg(1) + " " + arg(2));
    return i + 3;
  }
  if (op == "unlink") {
    check(::unlink(arg(1).c_str()) == 0, "unlink " + arg(1));
    return i + 2;
  }
  if (op == "mkdir") {
    check(::mkdir(arg(1).c_str(), 0755) == 0, "mkdir " + arg(1));
    return i + 2;
  }
  if (op == "timed") {
    auto start = std::chrono::steady_clock::now();
    auto next = step(ops, i + 1, end);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
    std::printf("elapsed_ms %lld\n", static_cast<long long>(ms));
    std::fflush(stdout);
    return next;
  }
  if (op == "echo") {
    std::printf("%s\n", arg(1).c_str());
    std::fflush(stdout);
    return i + 2;
  }
  if (op == "waitfile") {
    const auto& file = arg(1);
    auto dir = std::filesystem::path{file}.parent_path().string();
    check(conclave::test::wait_in_dir(
            dir, std::chrono::seconds(60),
            [&] { return ::access(file.c_str(), F_OK) == 0; }),
          "waitfile " + file);
    return i + 2;
  }
  if (op == "threads") {
    int n = std::atoi(arg(1).c_str());
    int rounds = std::atoi(arg(2).c_str());
    const auto& dir = arg(3);
    for (int t = 0; t < n; ++t) {
      auto path = dir + "/t" + std::to_string(t);
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
      check(fd >= 0, "open " + path);
      ::close(fd);
    }
    sync_dir(dir);
    std::vector<std::thread> threads;
    for (int t = 0; t < n; ++t)
      threads.emplace_back(thread_body, t, rounds, dir);
    for (auto& t : threads)
      t.join();
    return i + 4;
  }
  if (op == "fork" || op == "spawn") {
    auto next = find_join(ops, i);
    std::fflush(stdout);
    pid_t pid = ::fork();
    check(pid >= 0, "fork");
    if (pid == 0) {
      if (op == "spawn") {
        // Outlives the parent: must not keep its output pipes open.
        int null = ::open("/dev/null", O_RDWR);
        check(null >= 0, "open /dev/null");
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::close(null);
      }
      run(ops, i + 1, next - 1);
      std::fflush(stdout);
      ::_exit(0);
    }
    if (op == "spawn") {
      std::printf("child %ld\n", static_cast<long>(pid));
      std::fflush(stdout);
      return next;
    }
    int status = 0;
    check(::waitpid(pid, &status, 0) == pid, "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      errno = ECHILD;
      fail("the forked child failed");
    }
    return next;
  }
  if (op == "kill") {
    std::fflush(stdout);
    ::raise(SIGKILL);
    return i + 1;
  }
  errno = EINVAL;
  fail("unknown operation " + op);
}

void run(const std::vector<std::string>& ops, size_t begin, size_t end) {
  for (size_t i = begin; i < end;)
    i = step(ops, i, end);
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> ops(argv + 1, argv + argc);
  run(ops, 0, ops.size());
  return 0;
}
