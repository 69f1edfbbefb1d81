// acl: ZooKeeper's access control lists, as a pure and deterministic core.
//
// ZooKeeper guards every znode with a list of (permissions, scheme:id)
// entries. A client proves identities with the auth request (scheme
// "digest", "user:password") and always has its connection's address
// (scheme "ip"). This module holds the pieces every replica must compute
// identically:
// - digest_of() and authenticate(): DigestAuthenticationProvider's
//   "user:" + base64(SHA-1("user:password"));
// - fixup_acl(): PrepRequestProcessor.fixupACL, the validation and "auth"
//   expansion applied to the ACL of a create or setACL before it is logged;
// - allowed(): PrepRequestProcessor.checkACL, the permission check;
// - acl_table: ReferenceCountedACLCache, which stores each distinct ACL once
//   (a million znodes with the same ACL cost one list and a u32 each), with
//   a pinned snapshot layout.
//
// No clock, no I/O, no logging. Anything a client or a log entry can carry
// yields an error value (invalid_acl, auth_failed, data_inconsistency),
// never an abort; aborts are reserved for the caller's own bugs (get() of a
// free index).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "runtime/error_code.hpp"
#include "runtime/result.hpp"

namespace conclave {

// -- permissions (ZooDefs.Perms) ----------------------------------------------

namespace acl_perms {
constexpr int32_t read = 1;
constexpr int32_t write = 2;
constexpr int32_t create = 4;
constexpr int32_t del = 8; // "delete" is a C++ keyword
constexpr int32_t admin = 16;
constexpr int32_t all = 31;
} // namespace acl_perms

// -- ids and entries (org.apache.zookeeper.data.Id / ACL) ---------------------

/// An identity: "world:anyone", "digest:user:base64", "ip:10.0.0.0/8", or
/// "auth:" (a placeholder that fixup_acl() replaces by the client's ids).
struct acl_id {
  std::string scheme;
  std::string id;

  friend bool operator==(const acl_id& a, const acl_id& b) {
    return a.scheme == b.scheme && a.id == b.id;
  }
  friend bool operator!=(const acl_id& a, const acl_id& b) { return !(a == b); }
  friend bool operator<(const acl_id& a, const acl_id& b) {
    return std::tie(a.scheme, a.id) < std::tie(b.scheme, b.id);
  }
};

struct acl_entry {
  int32_t perms = 0;
  acl_id id;

  friend bool operator==(const acl_entry& a, const acl_entry& b) {
    return a.perms == b.perms && a.id == b.id;
  }
  friend bool operator!=(const acl_entry& a, const acl_entry& b) {
    return !(a == b);
  }
  friend bool operator<(const acl_entry& a, const acl_entry& b) {
    return std::tie(a.perms, a.id) < std::tie(b.perms, b.id);
  }
};

/// ZooDefs.Ids.OPEN_ACL_UNSAFE: world:anyone with all permissions.
std::vector<acl_entry> open_acl_unsafe();

/// ZooDefs.Ids.CREATOR_ALL_ACL: auth:"" with all permissions (expanded by
/// fixup_acl() to the creator's authenticated ids).
std::vector<acl_entry> creator_all_acl();

/// ZooDefs.Ids.READ_ACL_UNSAFE: world:anyone, read only.
std::vector<acl_entry> read_acl_unsafe();

// -- authentication -----------------------------------------------------------

/// What a connection has proven: the ids added by auth requests, in order,
/// and the address it connects from ("ip" scheme, implicit; dotted IPv4,
/// without a port; empty or unparsable matches no ip entry).
struct auth_info {
  std::vector<acl_id> ids;
  std::string client_ip;
  /// Passes every check: the node's own commands (container and TTL
  /// cleanup).
  bool super = false;

  friend bool operator==(const auth_info& a, const auth_info& b) {
    return a.ids == b.ids && a.client_ip == b.client_ip && a.super == b.super;
  }
  friend bool operator!=(const auth_info& a, const auth_info& b) {
    return !(a == b);
  }
};

/// DigestAuthenticationProvider.generateDigest: the text before the first
/// ':' (all of it if there is none), ':', then the base64 (with padding) of
/// the SHA-1 of all the bytes. digest_of("super:secret") ==
/// "super:lK75jTNcA+U9vtVEw5vB51mj/w4=".
std::string digest_of(std::string_view user_colon_password);

/// The id an auth request (opcode 100) proves. Scheme "digest" accepts any
/// bytes (ZooKeeper does not check them either) and yields
/// {"digest", digest_of(auth_bytes)}. Any other scheme is auth_failed
/// (ZooKeeper answers AuthFailed and closes the connection); "ip" is never
/// requested, it comes from the connection.
result<acl_id> authenticate(std::string_view scheme,
                            std::string_view auth_bytes);

/// Whether `id` is a valid ip-scheme id: a dotted IPv4 address (four
/// decimal groups of 1 to 3 digits, each at most 255) with an optional
/// "/bits" suffix, 0 ≤ bits ≤ 32 (1 or 2 digits).
bool is_valid_ip_id(std::string_view id);

/// IPAuthenticationProvider.matches: whether `client_ip` (a dotted IPv4
/// address) lies in `acl_expr` ("a.b.c.d" or "a.b.c.d/bits"). False when
/// either does not parse.
bool ip_matches(std::string_view client_ip, std::string_view acl_expr);

/// DigestAuthenticationProvider.isValid: Java's id.split(":") yields exactly
/// two parts, i.e. after dropping trailing ':' characters the text contains
/// exactly one ':' ("u:h", ":h", "u:h:" are valid; "u:", "u", "a:b:c" not).
bool is_valid_digest_id(std::string_view id);

// -- fixupACL and checkACL ----------------------------------------------------

/// PrepRequestProcessor.fixupACL: the ACL to store for a create or setACL
/// by client `who`. In order:
/// - duplicate entries (same perms and id) are removed, keeping the first;
/// - an empty list is invalid_acl;
/// - perms outside 0..31 are invalid_acl (a Conclave addition, see .cpp);
/// - world: only "anyone" (any other id is invalid_acl);
/// - auth: replaced, with the entry's perms, by each of who.ids whose scheme
///   is not "ip" or "world" (the entry's own id text is ignored); invalid_acl
///   if there is none;
/// - digest: is_valid_digest_id(); ip: is_valid_ip_id();
/// - any other scheme is invalid_acl.
/// Like ZooKeeper, duplicates are removed before the auth expansion, so an
/// expansion may repeat an explicit entry.
result<std::vector<acl_entry>> fixup_acl(const std::vector<acl_entry>& acl,
                                         const auth_info& who);

/// PrepRequestProcessor.checkACL: whether `who` may perform `perm` (one of
/// acl_perms; ZooKeeper tests perms & perm != 0) on a znode with `acl`.
/// True when `acl` is empty, when who.super is set, when one of who.ids is
/// in `super_ids` (e.g.
/// {"digest", digest_of("super:<password>")}), or when an entry with
/// (perms & perm) != 0 names world:anyone, a digest id equal to one of
/// who.ids, or an ip range holding who.client_ip (or an "ip" id in who.ids).
/// Entries of other schemes never match.
bool allowed(const std::vector<acl_entry>& acl, int32_t perm,
             const auth_info& who, const std::vector<acl_id>& super_ids = {});

// -- acl_table ----------------------------------------------------------------

/// Interned ACL lists with reference counts (ReferenceCountedACLCache).
/// Index 0 is open_acl_unsafe(): always present, never counted or freed,
/// not stored. Equal lists (same entries in the same order) share an index.
/// A freed index is reused lowest first, and trailing free slots are
/// dropped, so the table depends only on the sequence of operations applied:
/// replicas applying the same ones hold byte-identical save() output.
class acl_table {
public:
  acl_table() : slots_(1) {}

  /// The index of `acl`, adding one reference (none for index 0). A new list
  /// takes the lowest free index, or the next one. The list is stored as
  /// given (fixup_acl() it first).
  uint32_t intern(const std::vector<acl_entry>& acl);

  /// One more reference to `index`. False (and no change) if the index is
  /// free or out of range; index 0 is a no-op returning true.
  bool add_ref(uint32_t index);

  /// One reference less; the last one frees the index. False (and no
  /// change) if the index is free or out of range; index 0 is a no-op
  /// returning true.
  bool release(uint32_t index);

  /// Whether `index` holds a list (always true for 0).
  bool contains(uint32_t index) const noexcept;

  /// The list at `index`. Precondition: contains(index) (aborts otherwise).
  /// Valid until the next non-const call.
  const std::vector<acl_entry>& get(uint32_t index) const;

  /// References to `index`; 0 if free or out of range, and for index 0
  /// (which is not counted).
  uint64_t ref_count(uint32_t index) const noexcept;

  /// Number of stored lists, index 0 excluded.
  size_t size() const noexcept { return lists_.size(); }

  /// One past the highest index in use (1 when only index 0 is).
  uint32_t index_limit() const noexcept {
    return static_cast<uint32_t>(slots_.size());
  }

  // -- snapshots --------------------------------------------------------------
  //
  // Little-endian layout:
  //
  //   size  field
  //   8     magic "CNCLACLS"
  //   4     u32 format version (1)
  //   8     u64 n = index_limit() - 1, the number of slot records
  //   ...   n slot records, for indices 1..n in order:
  //           8  u64 refcount (0 for a free slot)
  //           4  u32 m, the number of entries (0 for a free slot)
  //           m entries: i32 perms, u32 scheme length, scheme bytes,
  //                      u32 id length, id bytes
  //   4     u32 CRC-32C (Castagnoli) of all bytes before it
  //
  // An empty table (only index 0) is 24 bytes.

  /// The table as bytes; deterministic (see above). Fork-safe: no locks, no
  /// lazily initialized statics; it allocates the result only.
  std::string save() const;

  /// Rebuilds a table from save() output. Any malformed input (wrong magic,
  /// version or checksum; counts or lengths beyond the input, checked before
  /// anything is allocated; trailing bytes; a slot with refcount 0 but
  /// entries; the last slot free; a list equal to open_acl_unsafe() or to
  /// another slot's) yields
  /// data_inconsistency; it never crashes.
  static result<acl_table> load(std::string_view bytes);

  friend bool operator==(const acl_table& a, const acl_table& b) {
    return a.slots_ == b.slots_;
  }
  friend bool operator!=(const acl_table& a, const acl_table& b) {
    return !(a == b);
  }

private:
  struct slot {
    std::vector<acl_entry> acl;
    /// 0: free (index 0 too, which is never free).
    uint64_t refs = 0;

    friend bool operator==(const slot& a, const slot& b) {
      return a.refs == b.refs && a.acl == b.acl;
    }
  };

  /// slots_[0] is index 0's placeholder (no entries, refs 0: get(0)
  /// answers open_acl_unsafe()); free slots have refs 0 and no entries; the
  /// last slot, if not slot 0, is used.
  std::vector<slot> slots_;
  /// The used lists (index 0 excluded) and their indices.
  std::map<std::vector<acl_entry>, uint32_t> lists_;
  /// Free indices below slots_.size() (lowest is reused first).
  std::set<uint32_t> free_;
};

} // namespace conclave
