// stat: ZooKeeper's per-znode metadata, field for field.
//
// Clients (native and ZooKeeper-protocol) see exactly these eleven fields;
// their update rules live in data_tree.cpp.
#pragma once

#include <cstdint>

namespace conclave {

struct stat {
  int64_t czxid = 0;           ///< zxid of the create
  int64_t mzxid = 0;           ///< zxid of the last data change
  int64_t ctime_ms = 0;        ///< leader time of the create (epoch ms)
  int64_t mtime_ms = 0;        ///< leader time of the last data change
  int32_t version = 0;         ///< number of data changes
  int32_t cversion = 0;        ///< number of child creates and deletes
  int32_t aversion = 0;        ///< number of ACL changes
  int64_t ephemeral_owner = 0; ///< owning session, or container/TTL marker
  int32_t data_length = 0;     ///< bytes of data
  int32_t num_children = 0;    ///< direct children
  int64_t pzxid = 0;           ///< zxid of the last child create/delete

  friend bool operator==(const stat& a, const stat& b) noexcept {
    return a.czxid == b.czxid && a.mzxid == b.mzxid && a.ctime_ms == b.ctime_ms
           && a.mtime_ms == b.mtime_ms && a.version == b.version
           && a.cversion == b.cversion && a.aversion == b.aversion
           && a.ephemeral_owner == b.ephemeral_owner
           && a.data_length == b.data_length && a.num_children == b.num_children
           && a.pzxid == b.pzxid;
  }
  friend bool operator!=(const stat& a, const stat& b) noexcept {
    return !(a == b);
  }
};

/// ephemeralOwner marker of container nodes (Long.MIN_VALUE in ZooKeeper).
constexpr int64_t container_ephemeral_owner = INT64_MIN;

/// ephemeralOwner classes (ZooKeeper's EphemeralType): 0 is a persistent
/// node, the container marker a container, a high byte of 0xFF a TTL node,
/// anything else the owning session of an ephemeral node.
constexpr bool is_container_owner(int64_t owner) noexcept {
  return owner == container_ephemeral_owner;
}

constexpr bool is_ttl_owner(int64_t owner) noexcept {
  return !is_container_owner(owner)
         && (static_cast<uint64_t>(owner) >> 56) == 0xFF;
}

constexpr bool is_session_owner(int64_t owner) noexcept {
  return owner != 0 && !is_container_owner(owner) && !is_ttl_owner(owner);
}

/// ephemeralOwner of a TTL node: high byte 0xFF, the TTL in the low 56 bits.
constexpr int64_t ttl_ephemeral_owner(int64_t ttl_ms) noexcept {
  return static_cast<int64_t>(
    0xFF00000000000000ULL
    | (static_cast<uint64_t>(ttl_ms) & 0x00FFFFFFFFFFFFFFULL));
}

} // namespace conclave
