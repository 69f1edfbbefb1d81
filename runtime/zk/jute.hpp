// jute: ZooKeeper's binary serialization (org.apache.jute's
// BinaryInputArchive / BinaryOutputArchive), as a pure codec (no CAF,
// sockets, clock or logging).
//
// What: a bounds-checked reader over a byte span and a writer that appends
// to a std::string. The wire types are jute's:
//
//   int      4 bytes, big-endian, two's complement
//   long     8 bytes, big-endian, two's complement
//   boolean  1 byte; the writer writes 0 or 1, the reader takes any non-zero
//            byte as true (Java's DataInput.readBoolean)
//   buffer   int length + that many bytes; length -1 = null
//   ustring  the same layout as buffer (UTF-8 bytes; not validated here)
//   vector   int count + count items; count -1 = null
//
// Why a reader of its own: every byte it reads comes from an untrusted
// client. The reader never reads past the end of its input and never
// allocates more than the bytes that remain could hold: a length prefix or
// vector count larger than what is left is an error value, not an
// allocation (so a 2 GB length in a 10-byte frame costs nothing). Record
// decoders reserve at most 1024 vector elements up front and grow as
// elements actually decode, so their memory is proportional to the bytes
// they consumed (a std::string element costs more than its 4-byte minimum
// on the wire, by a constant factor).
//
// Errors are values. The reader's error is sticky: the first failure is
// recorded with its byte offset, and every later read returns a zero/empty
// value without touching the input. Record decoders (records.hpp) read all
// their fields and then check ok() once.
//
// Nulls: a null buffer, string or vector (length/count -1) reads as empty;
// the writer always writes non-null values (write_null() exists for the rare
// caller that must send -1). ZooKeeper's servers treat a null and an empty
// path/ACL list/children list alike for every record used here.
//
// A buffer/string length below -1 is an error, as in Java. Differences from
// Java's BinaryInputArchive, both stricter:
// - a vector count below -1 is an error (Java reads it as an empty vector);
// - lengths are bounded by the bytes left in the input rather than by
//   jute.maxbuffer + extrasize: the frame decoder (frame_decoder.hpp) already
//   bounds the whole frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace conclave::zk {

// -- errors -------------------------------------------------------------------

enum class jute_error_code : uint8_t {
  /// A fixed-size field (int, long, boolean) runs past the end of the input.
  truncated = 1,
  /// A buffer/string length or vector count below -1.
  bad_length,
  /// A buffer/string length larger than the bytes that remain.
  length_exceeds_input,
  /// A vector count whose smallest possible encoding exceeds the bytes that
  /// remain.
  count_exceeds_input,
  /// A multi header names an op type that cannot appear there.
  bad_multi_op,
};

/// "truncated", "bad_length", ...
std::string_view to_string(jute_error_code code) noexcept;

/// A decoding failure: what went wrong, and the byte offset (from the start
/// of the reader's input) of the field that could not be read.
struct jute_error {
  jute_error_code code = jute_error_code::truncated;
  size_t offset = 0;

  friend bool operator==(const jute_error& a, const jute_error& b) noexcept {
    return a.code == b.code && a.offset == b.offset;
  }
  friend bool operator!=(const jute_error& a, const jute_error& b) noexcept {
    return !(a == b);
  }
};

/// A decoded value or the jute_error that prevented it. Accessing the value
/// of a failed result is a programming error and aborts (as result<T> does).
template <class T>
class jute_result {
public:
  jute_result(T value) : value_(std::in_place_index<0>, std::move(value)) {}
  jute_result(jute_error err) : value_(std::in_place_index<1>, err) {}

  bool ok() const noexcept { return value_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The error; only meaningful when !ok() (a default jute_error otherwise).
  jute_error error() const noexcept {
    if (auto* err = std::get_if<1>(&value_))
      return *err;
    return jute_error{};
  }

  const T& value() const& {
    check();
    return *std::get_if<0>(&value_);
  }
  T& value() & {
    check();
    return *std::get_if<0>(&value_);
  }
  T&& value() && {
    check();
    return std::move(*std::get_if<0>(&value_));
  }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

private:
  void check() const {
    if (!ok()) {
      std::fprintf(stderr, "jute_result: value() of a failed result (%d)\n",
                   static_cast<int>(std::get_if<1>(&value_)->code));
      std::abort();
    }
  }

  std::variant<T, jute_error> value_;
};

// -- reader -------------------------------------------------------------------

/// Reads jute values from a byte span it does not own (the span must outlive
/// the reader). Never reads past the end; errors are sticky (see above).
class jute_reader {
public:
  explicit jute_reader(std::string_view input) noexcept : input_(input) {}

  int32_t read_int() noexcept;
  int64_t read_long() noexcept;
  bool read_bool() noexcept;

  /// A buffer: int length, then the bytes. Null (-1) reads as empty.
  std::string read_buffer();

  /// A ustring: the same layout as a buffer.
  std::string read_ustring() { return read_buffer(); }

  /// A vector's count, checked against the bytes that remain: each element
  /// takes at least `min_element_bytes` (≥ 1) on the wire, so a count that
  /// cannot fit fails with count_exceeds_input before the caller reserves
  /// anything. Null (-1) reads as 0.
  size_t read_count(size_t min_element_bytes) noexcept;

  /// Every byte that remains, as is (for deleteContainer's raw path).
  std::string read_rest();

  /// Records a failure at the current offset (for record-level errors such
  /// as an unknown multi op). Keeps an earlier failure if there is one.
  void fail(jute_error_code code) noexcept { fail(code, pos_); }
  /// The same, reporting `offset` (e.g. where the offending header began).
  void fail(jute_error_code code, size_t offset) noexcept;

  bool ok() const noexcept { return !failed_; }
  /// The first failure; only meaningful when !ok().
  jute_error error() const noexcept { return error_; }

  /// Bytes read so far (the offset of the next read).
  size_t offset() const noexcept { return pos_; }
  size_t remaining() const noexcept { return input_.size() - pos_; }
  bool at_end() const noexcept { return pos_ == input_.size(); }

private:
  /// Whether `n` more bytes exist; records `truncated` if not.
  bool need(size_t n) noexcept;

  std::string_view input_;
  size_t pos_ = 0;
  bool failed_ = false;
  jute_error error_;
};

// -- writer -------------------------------------------------------------------

/// Appends jute values to a std::string it does not own (the string must
/// outlive the writer). Cannot fail, except that a buffer or vector of 2^31
/// elements or more is a programming error and aborts: jute cannot encode
/// its length.
class jute_writer {
public:
  explicit jute_writer(std::string& out) noexcept : out_(&out) {}

  void write_int(int32_t value);
  void write_long(int64_t value);
  void write_bool(bool value);
  void write_buffer(std::string_view bytes);
  void write_ustring(std::string_view text) { write_buffer(text); }
  /// A null buffer, string or vector: the length/count -1.
  void write_null() { write_int(-1); }
  void write_count(size_t count);
  /// Bytes as is, without a length (for deleteContainer's raw path).
  void write_raw(std::string_view bytes);

  /// Starts a frame: appends a 4-byte length placeholder and returns its
  /// position, to pass to end_frame() once the payload is written.
  size_t begin_frame();
  /// Patches the placeholder at `start` with the payload's length (every
  /// byte appended since begin_frame()).
  void end_frame(size_t start);

  /// Bytes in the output string (including what was there before).
  size_t size() const noexcept { return out_->size(); }
  std::string& output() noexcept { return *out_; }

private:
  std::string* out_;
};

} // namespace conclave::zk
