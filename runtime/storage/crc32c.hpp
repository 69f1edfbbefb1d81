// crc32c: the checksum of every record Conclave writes to disk.
//
// CRC-32C (Castagnoli), as used by iSCSI, ext4 and etcd's WAL, computed with
// Boost.CRC. Incremental: feed chunks with update(), read with value().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/crc.hpp>

namespace conclave::storage {

class crc32c {
public:
  void update(const void* data, size_t size) noexcept {
    impl_.process_bytes(data, size);
  }
  void update(std::string_view bytes) noexcept {
    update(bytes.data(), bytes.size());
  }
  uint32_t value() const noexcept { return impl_.checksum(); }

  static uint32_t of(std::string_view bytes) noexcept {
    crc32c c;
    c.update(bytes);
    return c.value();
  }

private:
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> impl_;
};

} // namespace conclave::storage
