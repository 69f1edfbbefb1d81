#include <string>

#include <catch2/catch.hpp>

#include "runtime/storage/crc32c.hpp"

using conclave::storage::crc32c;

TEST_CASE("crc32c: known vectors", "[storage]") {
  // The standard check value of CRC-32C (Castagnoli).
  CHECK(crc32c::of("123456789") == 0xE3069283u);
  CHECK(crc32c::of("") == 0u);
  CHECK(crc32c::of("a") == 0xC1D04330u);
  // RFC 3720 (iSCSI), appendix B.4.
  CHECK(crc32c::of(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(crc32c::of(std::string(32, '\xFF')) == 0x62A8AB43u);
  std::string up;
  std::string down;
  for (int i = 0; i < 32; ++i) {
    up.push_back(static_cast<char>(i));
    down.push_back(static_cast<char>(31 - i));
  }
  CHECK(crc32c::of(up) == 0x46DD794Eu);
  CHECK(crc32c::of(down) == 0x113FDB5Cu);
}

TEST_CASE("crc32c: incremental updates equal one pass", "[storage]") {
  std::string data;
  for (int i = 0; i < 1000; ++i)
    data.push_back(static_cast<char>(i * 7 + 3));
  auto whole = crc32c::of(data);
  for (size_t split : {size_t{0}, size_t{1}, size_t{7}, size_t{500},
                       size_t{999}, size_t{1000}}) {
    crc32c c;
    c.update(data.data(), split);
    c.update(std::string_view{data}.substr(split));
    CHECK(c.value() == whole);
  }
  // A single flipped bit changes the checksum.
  data[123] ^= 0x10;
  CHECK(crc32c::of(data) != whole);
}
