#include "tests/support/child_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <stdexcept>

namespace conclave::test {

namespace {

using clock_type = std::chrono::steady_clock;

int exit_code_of(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

/// Reads whatever is available on `fd` into `buf`; false on EOF.
bool drain(int& fd, std::string& buf) {
  char chunk[4096];
  for (;;) {
    auto n = ::read(fd, chunk, sizeof(chunk));
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      ::close(fd);
      fd = -1;
      return false;
    }
    return errno == EAGAIN || errno == EINTR;
  }
}

} // namespace

child_process::child_process(const std::vector<std::string>& argv) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe(out_pipe) != 0 || ::pipe(err_pipe) != 0)
    throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
}

child_process::~child_process() {
  if (!exited_ && stop(SIGTERM, std::chrono::seconds(10)) < 0)
    stop(SIGKILL, std::chrono::seconds(10));
  if (out_fd_ >= 0)
    ::close(out_fd_);
  if (err_fd_ >= 0)
    ::close(err_fd_);
}

bool child_process::pump(std::chrono::milliseconds timeout) {
  pollfd fds[2];
  nfds_t n = 0;
  if (out_fd_ >= 0)
    fds[n++] = pollfd{out_fd_, POLLIN, 0};
  if (err_fd_ >= 0)
    fds[n++] = pollfd{err_fd_, POLLIN, 0};
  if (n == 0)
    return false;
  ::poll(fds, n, static_cast<int>(timeout.count()));
  if (out_fd_ >= 0)
    drain(out_fd_, out_);
  if (err_fd_ >= 0)
    drain(err_fd_, err_);
  return out_fd_ >= 0 || err_fd_ >= 0;
}

std::optional<std::string>
child_process::wait_for_line(const std::string& needle,
                             std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    for (;;) {
      auto eol = out_.find('\n', scanned_);
      if (eol == std::string::npos)
        break;
      auto line = out_.substr(scanned_, eol - scanned_);
      scanned_ = eol + 1;
      if (line.find(needle) != std::string::npos)
        return line;
    }
    auto now = clock_type::now();
    if (now >= deadline)
      return std::nullopt;
    auto left
      = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (!pump(std::min(left, std::chrono::milliseconds(100)))
        && out_.find('\n', scanned_) == std::string::npos)
      return std::nullopt;
  }
}

int child_process::stop(int sig, std::chrono::milliseconds timeout) {
  if (exited_)
    return exit_code_;
  ::kill(pid_, sig);
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    int status = 0;
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      exit_code_ = exit_code_of(status);
      while (pump(std::chrono::milliseconds(0))) {
      }
      return exit_code_;
    }
    pump(std::chrono::milliseconds(20));
  }
  return -1;
}

run_result run(const std::vector<std::string>& argv,
               std::chrono::milliseconds timeout) {
  child_process child{argv};
  // Waits for the child to close its output, then collects the exit code.
  child.wait_for_line("\x01never\x01", timeout);
  run_result result;
  result.exit_code = child.stop(0, std::chrono::seconds(5));
  if (result.exit_code < 0)
    result.exit_code = child.stop(SIGKILL, std::chrono::seconds(5));
  result.out = child.out();
  result.err = child.err();
  return result;
}

namespace {

/// Claims `port` for this process across every test process on the
/// machine: an exclusive flock on /tmp/conclave-test-ports/<port>, held
/// until this process exits (the descriptor is never closed; O_CLOEXEC, so
/// the nodes it starts do not inherit it). Without it, a port whose node is
/// down for a restart looks free to a test running in parallel, which may
/// start a node of its own on it. True if claimed, or if claims cannot be
/// made here at all (no writable /tmp: binding still checks).
bool claim(uint16_t port) {
  static const std::string dir = "/tmp/conclave-test-ports";
  ::mkdir(dir.c_str(), 01777);
  auto path = dir + "/" + std::to_string(port);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0)
    return true;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false; // another test process holds it
  }
  return true;
}

} // namespace

uint16_t free_port() {
  // Ports below Linux's ephemeral range (32768..60999 by default): a port
  // the kernel hands out for an outgoing connection cannot then be taken by
  // a node that is about to listen on it. Random, so that test processes
  // running in parallel rarely try the same ones; claimed for the whole
  // life of this process (claim(): also while its node restarts); never
  // the same twice in one process; checked by binding.
  static std::mt19937 rng{
    static_cast<uint32_t>(::getpid())
    ^ static_cast<uint32_t>(
      std::chrono::steady_clock::now().time_since_epoch().count())};
  static std::set<uint16_t> given;
  std::uniform_int_distribution<int> pick{15000, 32000};
  for (;;) {
    auto port = static_cast<uint16_t>(pick(rng));
    if (given.count(port) != 0)
      continue;
    given.insert(port); // claimed or not, never tried again here
    if (!claim(port))
      continue;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    auto ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (ok)
      return port;
  }
}

} // namespace conclave::test
