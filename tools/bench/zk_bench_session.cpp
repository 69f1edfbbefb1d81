// One ZooKeeper session of conclave-bench: see zk_bench_session.hpp.
#include "tools/bench/zk_bench_session.hpp"

#include <cstdio>
#include <stdexcept>

namespace conclave::bench {

void set_client_logging(bool verbose) {
  if (verbose) {
    zoo_set_log_stream(stderr);
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    return;
  }
  // Kept open for the life of the process: the C client writes to it from
  // its own threads.
  static FILE* null_stream = std::fopen("/dev/null", "w");
  if (null_stream != nullptr)
    zoo_set_log_stream(null_stream);
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
}

zk_session::zk_session(const std::string& servers, int session_timeout_ms) {
  // The handle's context is this object: on_event finds it there.
  zh_ = zookeeper_init(servers.c_str(), &zk_session::on_event,
                       session_timeout_ms, nullptr, this, 0);
  if (zh_ == nullptr)
    failed_ = true;
}

zk_session::~zk_session() {
  close();
}

int zk_session::close() {
  if (zh_ == nullptr)
    return ZOK;
  int rc = zookeeper_close(zh_); // joins the handle's threads
  zh_ = nullptr;
  return rc;
}

void zk_session::on_event(zhandle_t* zh, int type, int state, const char*,
                          void*) {
  if (type != ZOO_SESSION_EVENT)
    return;
  auto* self = static_cast<zk_session*>(const_cast<void*>(zoo_get_context(zh)));
  if (self == nullptr)
    return;
  std::lock_guard<std::mutex> guard(self->mutex_);
  self->state_ = state;
  if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
    self->failed_ = true;
  self->cv_.notify_all();
}

bool zk_session::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] {
    return failed_ || state_ == ZOO_CONNECTED_STATE;
  }) && !failed_;
}

std::vector<std::unique_ptr<zk_session>>
zk_session::open_many(const std::string& servers, int count,
                      int session_timeout_ms,
                      std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<zk_session>> out;
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i)
    out.push_back(std::make_unique<zk_session>(servers, session_timeout_ms));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int connected = 0;
  for (auto& s : out) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (s->wait_connected(std::max(left, std::chrono::milliseconds(1))))
      ++connected;
  }
  if (connected != count)
    throw std::runtime_error(
      "could not connect to " + servers + ": " + std::to_string(connected)
      + " of " + std::to_string(count) + " sessions connected within "
      + std::to_string(timeout.count()) + " ms (server down, or its "
      + "per-address connection limit, maxClientCnxns / "
      + "conclave.zk-max-connections-per-address, too low?)");
  return out;
}

} // namespace conclave::bench
