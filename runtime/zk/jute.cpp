#include "runtime/zk/jute.hpp"

#include <limits>

namespace conclave::zk {

std::string_view to_string(jute_error_code code) noexcept {
  switch (code) {
    case jute_error_code::truncated:
      return "truncated";
    case jute_error_code::bad_length:
      return "bad_length";
    case jute_error_code::length_exceeds_input:
      return "length_exceeds_input";
    case jute_error_code::count_exceeds_input:
      return "count_exceeds_input";
    case jute_error_code::bad_multi_op:
      return "bad_multi_op";
  }
  return "unknown";
}

// -- reader -------------------------------------------------------------------

void jute_reader::fail(jute_error_code code, size_t offset) noexcept {
  if (failed_)
    return;
  failed_ = true;
  error_ = jute_error{code, offset};
}

bool jute_reader::need(size_t n) noexcept {
  if (failed_)
    return false;
  if (remaining() < n) {
    fail(jute_error_code::truncated);
    return false;
  }
  return true;
}

int32_t jute_reader::read_int() noexcept {
  if (!need(4))
    return 0;
  uint32_t x = 0;
  for (size_t i = 0; i < 4; ++i)
    x = (x << 8) | static_cast<uint8_t>(input_[pos_ + i]);
  pos_ += 4;
  return static_cast<int32_t>(x);
}

int64_t jute_reader::read_long() noexcept {
  if (!need(8))
    return 0;
  uint64_t x = 0;
  for (size_t i = 0; i < 8; ++i)
    x = (x << 8) | static_cast<uint8_t>(input_[pos_ + i]);
  pos_ += 8;
  return static_cast<int64_t>(x);
}

bool jute_reader::read_bool() noexcept {
  if (!need(1))
    return false;
  return input_[pos_++] != 0;
}

std::string jute_reader::read_buffer() {
  if (failed_)
    return {};
  auto at = pos_;
  auto len = read_int();
  if (failed_ || len == -1)
    return {};
  if (len < -1) {
    fail(jute_error_code::bad_length, at);
    return {};
  }
  if (static_cast<size_t>(len) > remaining()) {
    fail(jute_error_code::length_exceeds_input, at);
    return {};
  }
  std::string out(input_.substr(pos_, static_cast<size_t>(len)));
  pos_ += static_cast<size_t>(len);
  return out;
}

size_t jute_reader::read_count(size_t min_element_bytes) noexcept {
  if (failed_)
    return 0;
  if (min_element_bytes == 0)
    min_element_bytes = 1;
  auto at = pos_;
  auto count = read_int();
  if (failed_ || count == -1)
    return 0;
  if (count < -1) {
    fail(jute_error_code::bad_length, at);
    return 0;
  }
  if (static_cast<size_t>(count) > remaining() / min_element_bytes) {
    fail(jute_error_code::count_exceeds_input, at);
    return 0;
  }
  return static_cast<size_t>(count);
}

std::string jute_reader::read_rest() {
  if (failed_)
    return {};
  std::string out(input_.substr(pos_));
  pos_ = input_.size();
  return out;
}

// -- writer -------------------------------------------------------------------

namespace {

[[noreturn]] void too_long(size_t n) {
  std::fprintf(stderr, "jute_writer: %zu elements do not fit a jute length\n",
               n);
  std::abort();
}

int32_t checked_length(size_t n) {
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    too_long(n);
  return static_cast<int32_t>(n);
}

void put_be32(char* at, uint32_t x) {
  at[0] = static_cast<char>((x >> 24) & 0xFF);
  at[1] = static_cast<char>((x >> 16) & 0xFF);
  at[2] = static_cast<char>((x >> 8) & 0xFF);
  at[3] = static_cast<char>(x & 0xFF);
}

} // namespace

void jute_writer::write_int(int32_t value) {
  char bytes[4];
  put_be32(bytes, static_cast<uint32_t>(value));
  out_->append(bytes, 4);
}

void jute_writer::write_long(int64_t value) {
  auto x = static_cast<uint64_t>(value);
  char bytes[8];
  put_be32(bytes, static_cast<uint32_t>(x >> 32));
  put_be32(bytes + 4, static_cast<uint32_t>(x & 0xFFFFFFFFu));
  out_->append(bytes, 8);
}

void jute_writer::write_bool(bool value) {
  out_->push_back(value ? '\x01' : '\x00');
}

void jute_writer::write_buffer(std::string_view bytes) {
  write_int(checked_length(bytes.size()));
  out_->append(bytes.data(), bytes.size());
}

void jute_writer::write_count(size_t count) {
  write_int(checked_length(count));
}

void jute_writer::write_raw(std::string_view bytes) {
  out_->append(bytes.data(), bytes.size());
}

size_t jute_writer::begin_frame() {
  auto start = out_->size();
  out_->append(4, '\0');
  return start;
}

void jute_writer::end_frame(size_t start) {
  if (start > out_->size() || out_->size() - start < 4) {
    std::fprintf(stderr, "jute_writer: end_frame(%zu) without begin_frame\n",
                 start);
    std::abort();
  }
  auto len = checked_length(out_->size() - start - 4);
  put_be32(&(*out_)[start], static_cast<uint32_t>(len));
}

} // namespace conclave::zk
