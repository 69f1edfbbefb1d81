// One ZooKeeper session of conclave-bench: a zhandle_t of the official C
// client (multi-threaded library: each handle has its own I/O and
// completion threads), opened and waited for until it is connected, closed
// (closeSession acknowledged by the server) when destroyed.
//
// Also the C client's logging switch: silent unless --verbose.
#pragma once

#include "tools/bench/zk_bench_zookeeper.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace conclave::bench {

// Errors only, to /dev/null (silent) unless verbose (warnings, stderr).
void set_client_logging(bool verbose);

class zk_session {
public:
  // Starts connecting (returns at once); wait_connected() waits.
  zk_session(const std::string& servers, int session_timeout_ms);
  ~zk_session();
  zk_session(const zk_session&) = delete;
  zk_session& operator=(const zk_session&) = delete;

  // True once connected, false when `timeout` passed first or the session
  // failed for good (expired, auth failed, handle not created).
  bool wait_connected(std::chrono::milliseconds timeout);

  zhandle_t* handle() const { return zh_; }

  // zookeeper_close (sends closeSession, waits for the answer); returns its
  // code. Idempotent; the destructor calls it too.
  int close();

  // Opens `count` sessions at once and waits for all of them; throws
  // std::runtime_error naming how many connected when some did not.
  static std::vector<std::unique_ptr<zk_session>>
  open_many(const std::string& servers, int count, int session_timeout_ms,
            std::chrono::milliseconds timeout);

private:
  static void on_event(zhandle_t* zh, int type, int state, const char* path,
                       void* ctx);
  zhandle_t* zh_ = nullptr;
  std::mutex mutex_;
  std::condition_variable cv_;
  int state_ = 0;
  bool failed_ = false;
};

} // namespace conclave::bench
