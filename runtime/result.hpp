// result: a value or an error_code, for the pure cores' read and write APIs.
//
// Expected failures are values, not exceptions. Accessing the value of a
// failed result is a programming error and aborts.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "runtime/error_code.hpp"

namespace conclave {

template <class T>
class result {
public:
  result(T value) : error_(error_code::ok), value_(std::move(value)) {}
  result(error_code err) : error_(err), value_() {
    if (err == error_code::ok) {
      std::fprintf(stderr, "result: constructed from error_code::ok\n");
      std::abort();
    }
  }

  bool ok() const noexcept { return error_ == error_code::ok; }
  explicit operator bool() const noexcept { return ok(); }
  error_code error() const noexcept { return error_; }

  const T& value() const& {
    check();
    return value_;
  }
  T& value() & {
    check();
    return value_;
  }
  T&& value() && {
    check();
    return std::move(value_);
  }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }

private:
  void check() const {
    if (!ok()) {
      std::fprintf(stderr, "result: value() of a failed result (%d)\n",
                   static_cast<int>(error_));
      std::abort();
    }
  }

  error_code error_;
  T value_;
};

} // namespace conclave
