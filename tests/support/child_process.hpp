// child_process: runs a program for multi-process tests.
//
// Starts a program with its stdout and stderr captured, waits for a line on
// stdout with a deadline (never a fixed sleep), and always stops the child:
// the destructor sends SIGTERM, then SIGKILL if it does not exit in time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace conclave::test {

/// Result of running a program to completion.
struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `argv` to completion (killing it after `timeout`).
run_result run(const std::vector<std::string>& argv,
               std::chrono::milliseconds timeout = std::chrono::seconds(30));

class child_process {
public:
  explicit child_process(const std::vector<std::string>& argv);
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Waits until a stdout line contains `needle`; returns that line, or
  /// nullopt if the child exits or the deadline passes first.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);

  /// Sends `sig` and waits for the exit; returns the exit code (128 + signal
  /// number if killed by a signal), or -1 on timeout.
  int stop(int sig, std::chrono::milliseconds timeout);

  /// Reads whatever the child has written so far, without waiting.
  void read_available() { pump(std::chrono::milliseconds(0)); }

  /// Everything read from stdout / stderr so far.
  const std::string& out() const noexcept { return out_; }
  const std::string& err() const noexcept { return err_; }

  pid_t pid() const noexcept { return pid_; }

private:
  /// Reads what is available; false once both pipes are closed.
  bool pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  size_t scanned_ = 0;
  bool exited_ = false;
  int exit_code_ = -1;
};

/// A loopback port that was free a moment ago, below the ephemeral range
/// (see child_process.cpp).
uint16_t free_port();

} // namespace conclave::test
