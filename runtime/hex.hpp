// hex: "0x..." for ids in messages and reports (session ids, zxids), the way
// ZooKeeper prints them.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace conclave {

inline std::string hex(int64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx",
                static_cast<unsigned long long>(value));
  return buf;
}

} // namespace conclave
