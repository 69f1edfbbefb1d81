// file_wait: waits until a condition about the files of a directory holds
// (a file appeared, a file grew) without polling on a timer: inotify wakes
// the waiter whenever something in the directory changes, and a deadline
// bounds the wait. Header-only and libc-only, for test programs too.
#pragma once

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace conclave::test {

/// Waits until pred() is true, re-checking it whenever a file in `dir` is
/// created, written, closed or renamed into it; false if `timeout` passes
/// first (or inotify is unavailable and pred() is still false).
template <class Pred>
bool wait_in_dir(const std::string& dir, std::chrono::milliseconds timeout,
                 Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (fd < 0)
    return pred();
  // Watch first, then test: a change between the two still wakes us.
  if (::inotify_add_watch(fd, dir.c_str(),
                          IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO)
      < 0) {
    ::close(fd);
    return pred();
  }
  bool done = pred();
  while (!done) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) > 0) {
      alignas(inotify_event) char buf[4096];
      while (::read(fd, buf, sizeof(buf)) > 0) {
        // Drained: the events only mean "look again".
      }
    }
    done = pred();
  }
  ::close(fd);
  return done;
}

} // namespace conclave::test
