// tcp: raw loopback conversations for tests that speak a protocol by hand
// (four-letter words, HTTP on the admin port, malformed frames).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

namespace conclave::test {

/// A TCP connection to 127.0.0.1:port (-1 if refused).
inline int dial(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

/// Sends `bytes`, then reads until the server closes the connection (or 10
/// s pass); returns what came back and whether the server closed it.
inline std::pair<std::string, bool> converse(uint16_t port,
                                             const std::string& bytes) {
  int fd = dial(port);
  if (fd < 0)
    return {"", false};
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[65536];
  bool closed = false;
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) {
      closed = true;
      break;
    }
    if (n < 0)
      break; // timeout
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return {out, closed};
}

} // namespace conclave::test
