// temp_dir: a fresh, empty directory under /tmp for one test, removed with
// everything in it when the test is done.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace conclave::test {

struct temp_dir {
  std::string path;

  temp_dir() {
    // mkdtemp() replaces the six trailing 'X's with a unique suffix.
    auto pattern = "/tmp/conclave-test-" + std::string(6, 'X');
    auto p = ::mkdtemp(pattern.data());
    if (p == nullptr)
      throw std::runtime_error("mkdtemp failed");
    path = p;
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

} // namespace conclave::test
