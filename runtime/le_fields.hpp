// le_fields: the little-endian fields and the CRC-32C that the state
// machine's own snapshot sections use (session_table, acl_table).
//
// Fork-safe on purpose: snapshots are written in a fork()ed child (see
// docs/storage.md), so nothing here locks, allocates lazily or reads
// function-local statics; the CRC table is built at compile time. The
// storage layer's checksums use Boost.CRC (runtime/storage/crc32c.hpp); both
// compute CRC-32C (Castagnoli), and the tests check that they agree.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace conclave::le {

namespace detail {

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit)
      c = (c & 1u) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}

inline constexpr std::array<uint32_t, 256> crc32c_table = make_crc32c_table();

} // namespace detail

/// CRC-32C (Castagnoli) of `bytes`.
inline uint32_t crc32c(std::string_view bytes) noexcept {
  uint32_t c = 0xFFFFFFFFu;
  for (auto ch : bytes)
    c = (c >> 8)
        ^ detail::crc32c_table[(c ^ static_cast<unsigned char>(ch)) & 0xFFu];
  return ~c;
}

inline void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFFu));
}

inline void put_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFFu));
}

/// Reads 4 (8) bytes at `p`; the caller checked that they are there.
inline uint32_t get_u32(const char* p) noexcept {
  uint32_t x = 0;
  for (int i = 3; i >= 0; --i)
    x = (x << 8) | static_cast<unsigned char>(p[i]);
  return x;
}

inline uint64_t get_u64(const char* p) noexcept {
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i)
    x = (x << 8) | static_cast<unsigned char>(p[i]);
  return x;
}

} // namespace conclave::le
