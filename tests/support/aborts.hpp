// aborts: runs code that must hit a broken-invariant abort, in a child
// process, so that the test runner survives to check it.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace conclave::test {

/// Runs `f` in a child process; true if it died of SIGABRT.
template <class F>
bool aborts(F f) {
  std::fflush(nullptr);
  auto pid = fork();
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL); // bypass Catch's fatal-signal reporter
    if (std::freopen("/dev/null", "w", stderr) == nullptr)
      _exit(2);
    f();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

} // namespace conclave::test
