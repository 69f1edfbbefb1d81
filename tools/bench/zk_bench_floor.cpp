// `conclave-bench floor`: see zk_bench_floor.hpp.
#include "tools/bench/zk_bench_floor.hpp"

#include "tools/bench/latency_histogram.hpp"
#include "tools/bench/zk_bench_result.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace conclave::bench {

namespace {

using clock_type = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

uint64_t elapsed_ns(clock_type::time_point t0) {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0)
      .count());
}

double us(uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

// Closes a descriptor when it goes out of scope.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

void write_all(int fd, const char* data, size_t len, const char* what) {
  while (len > 0) {
    ssize_t n = ::write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail(what);
    data += n;
    len -= static_cast<size_t>(n);
  }
}

void read_all(int fd, char* data, size_t len, const char* what) {
  while (len > 0) {
    ssize_t n = ::read(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0) {
      errno = ECONNRESET;
      fail(what);
    }
    if (n < 0)
      fail(what);
    data += n;
    len -= static_cast<size_t>(n);
  }
}

latency_histogram measure_fdatasync(const std::string& dir, int samples) {
  std::string path
    = dir + "/conclave-bench-floor." + std::to_string(::getpid()) + ".tmp";
  fd_guard f;
  f.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (f.fd < 0)
    fail("open " + path);
  std::vector<char> block(4096, 'f');
  latency_histogram h;
  try {
    for (int i = 0; i < samples; ++i) {
      auto t0 = clock_type::now();
      write_all(f.fd, block.data(), block.size(), "write");
      if (::fdatasync(f.fd) != 0)
        fail("fdatasync " + path);
      h.record(elapsed_ns(t0));
    }
  } catch (...) {
    ::unlink(path.c_str());
    throw;
  }
  ::unlink(path.c_str());
  return h;
}

latency_histogram measure_rtt(int samples) {
  fd_guard listener;
  listener.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener.fd < 0)
    fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listener.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
      != 0)
    fail("bind 127.0.0.1:0");
  if (::listen(listener.fd, 1) != 0)
    fail("listen");
  socklen_t len = sizeof(addr);
  if (::getsockname(listener.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    fail("getsockname");
  constexpr size_t msg = 64;
  const int warmup = 100;
  const int rounds = warmup + samples;
  // The echo side: accepts one connection, echoes `rounds` messages.
  std::string echo_error;
  std::thread echo([&] {
    try {
      fd_guard conn;
      conn.fd = ::accept(listener.fd, nullptr, nullptr);
      if (conn.fd < 0)
        fail("accept");
      int one = 1;
      ::setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      char buf[msg];
      for (int i = 0; i < rounds; ++i) {
        read_all(conn.fd, buf, msg, "echo read");
        write_all(conn.fd, buf, msg, "echo write");
      }
    } catch (const std::exception& e) {
      echo_error = e.what();
    }
  });
  latency_histogram h;
  std::string error;
  try {
    fd_guard client;
    client.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (client.fd < 0)
      fail("socket");
    if (::connect(client.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
        != 0)
      fail("connect 127.0.0.1");
    int one = 1;
    ::setsockopt(client.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char out[msg], in[msg];
    std::memset(out, 'p', msg);
    for (int i = 0; i < rounds; ++i) {
      auto t0 = clock_type::now();
      write_all(client.fd, out, msg, "ping write");
      read_all(client.fd, in, msg, "ping read");
      if (i >= warmup)
        h.record(elapsed_ns(t0));
    }
  } catch (const std::exception& e) {
    error = e.what();
    // Unblocks a pending accept.
    ::shutdown(listener.fd, SHUT_RDWR);
  }
  echo.join();
  if (!error.empty())
    throw std::runtime_error(error);
  if (!echo_error.empty())
    throw std::runtime_error(echo_error);
  return h;
}

} // namespace

floor_result measure_floor(const std::string& dir, int samples) {
  floor_result r;
  r.dir = dir;
  r.samples = samples;
  auto fs = measure_fdatasync(dir, samples);
  auto rtt = measure_rtt(samples);
  r.fdatasync_p50_us = us(fs.percentile(50));
  r.fdatasync_p99_us = us(fs.percentile(99));
  r.fdatasync_max_us = us(fs.max());
  r.rtt_p50_us = us(rtt.percentile(50));
  r.rtt_p99_us = us(rtt.percentile(99));
  r.rtt_max_us = us(rtt.max());
  r.best_write_us = r.fdatasync_p50_us + 2 * r.rtt_p50_us;
  return r;
}

std::string floor_json(const floor_result& r) {
  char buf[1024];
  std::snprintf(buf, sizeof(buf),
                "{\"workload\": \"floor\", \"dir\": %s, \"samples\": %d, "
                "\"fdatasync_p50_us\": %.1f, \"fdatasync_p99_us\": %.1f, "
                "\"fdatasync_max_us\": %.1f, \"rtt_p50_us\": %.1f, "
                "\"rtt_p99_us\": %.1f, \"rtt_max_us\": %.1f, "
                "\"best_write_us\": %.1f}\n",
                json_string(r.dir).c_str(), r.samples, r.fdatasync_p50_us,
                r.fdatasync_p99_us, r.fdatasync_max_us, r.rtt_p50_us,
                r.rtt_p99_us, r.rtt_max_us, r.best_write_us);
  return buf;
}

std::string floor_table(const floor_result& r) {
  char buf[1024];
  std::snprintf(buf, sizeof(buf),
                "floor (%d samples, %s):\n"
                "  fdatasync 4 KiB append  p50 %9.1f us  p99 %9.1f us  max "
                "%9.1f us\n"
                "  loopback TCP 64 B RTT   p50 %9.1f us  p99 %9.1f us  max "
                "%9.1f us\n"
                "  best_write_us = fdatasync_p50 + 2 x rtt_p50 = %.1f us\n",
                r.samples, r.dir.c_str(), r.fdatasync_p50_us,
                r.fdatasync_p99_us, r.fdatasync_max_us, r.rtt_p50_us,
                r.rtt_p99_us, r.rtt_max_us, r.best_write_us);
  return buf;
}

} // namespace conclave::bench
