// file_bytes: read and write whole files as bytes, for tests that damage
// what the storage layer wrote.
#pragma once

#include <fstream>
#include <iterator>
#include <string>

namespace conclave::test {

inline std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

} // namespace conclave::test
