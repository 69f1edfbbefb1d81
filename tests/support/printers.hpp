// printers: how Catch2 shows Conclave values in failed assertions.
#pragma once

#include <string>

#include <catch2/catch.hpp>

#include "runtime/error_code.hpp"

namespace Catch {

template <>
struct StringMaker<conclave::error_code> {
  static std::string convert(conclave::error_code code) {
    return std::string{conclave::to_snake_name(code)};
  }
};

} // namespace Catch
