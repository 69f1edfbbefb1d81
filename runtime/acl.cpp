// acl: see acl.hpp.
//
// Notes on ZooKeeper fidelity:
// - fixupACL (3.8) does not check perms; a list with perms outside 0..31
//   would be stored and reported back by getACL. Conclave refuses them with
//   invalid_acl so that stored ACLs are always meaningful.
// - IPAuthenticationProvider parses groups with Integer.parseInt, which also
//   accepts signs ("+1", "-0"), and Java's split drops a trailing empty
//   group ("1.2.3.4." passes). Conclave accepts plain decimal digits only;
//   IPv6 ids (which ZooKeeper 3.8 accepts) are invalid_acl here.
// - save() must stay fork-safe like session_table::save: the CRC-32C uses a
//   constant-initialized table (runtime/le_fields.hpp, as session_table.cpp), not
//   storage::crc32c (Boost.CRC's table is a function-local static). Tests
//   cross-check both.

#include "runtime/acl.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include <boost/uuid/detail/sha1.hpp>

#include "runtime/le_fields.hpp"

namespace conclave {

namespace {

[[noreturn]] void invariant_failure(const char* what) {
  std::fprintf(stderr, "acl: broken invariant: %s\n", what);
  std::abort();
}

// -- SHA-1 and base64 ---------------------------------------------------------

// Boost 1.74's digest is five 32-bit words (h0..h4), emitted big-endian;
// newer Boost returns 20 bytes. Both give the same 20-byte SHA-1.
template <class Word, size_t N>
void append_digest(std::string& out, const Word (&digest)[N]) {
  if constexpr (sizeof(Word) == 1) {
    for (size_t k = 0; k < N; ++k)
      out.push_back(static_cast<char>(digest[k]));
  } else {
    for (size_t k = 0; k < N; ++k)
      for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>(
          (static_cast<uint32_t>(digest[k]) >> shift) & 0xFFu));
  }
}

std::string sha1_of(std::string_view bytes) {
  boost::uuids::detail::sha1 h;
  h.process_bytes(bytes.data(), bytes.size());
  boost::uuids::detail::sha1::digest_type digest;
  h.get_digest(digest);
  std::string out;
  append_digest(out, digest);
  return out;
}

constexpr char base64_alphabet[]
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_of(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t k = 0;
  for (; k + 3 <= bytes.size(); k += 3) {
    uint32_t v
      = static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])) << 16
        | static_cast<uint32_t>(static_cast<unsigned char>(bytes[k + 1])) << 8
        | static_cast<unsigned char>(bytes[k + 2]);
    out.push_back(base64_alphabet[(v >> 18) & 0x3F]);
    out.push_back(base64_alphabet[(v >> 12) & 0x3F]);
    out.push_back(base64_alphabet[(v >> 6) & 0x3F]);
    out.push_back(base64_alphabet[v & 0x3F]);
  }
  auto rest = bytes.size() - k;
  if (rest > 0) {
    uint32_t v = static_cast<uint32_t>(static_cast<unsigned char>(bytes[k]))
                 << 16;
    if (rest == 2)
      v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[k + 1])) << 8;
    out.push_back(base64_alphabet[(v >> 18) & 0x3F]);
    out.push_back(base64_alphabet[(v >> 12) & 0x3F]);
    out.push_back(rest == 2 ? base64_alphabet[(v >> 6) & 0x3F] : '=');
    out.push_back('=');
  }
  return out;
}

// -- IPv4 ---------------------------------------------------------------------

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

/// A decimal number of 1..max_digits digits, or nullopt.
std::optional<uint32_t> parse_decimal(std::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits)
    return std::nullopt;
  uint32_t x = 0;
  for (auto c : s) {
    if (!is_digit(c))
      return std::nullopt;
    x = x * 10 + static_cast<uint32_t>(c - '0');
  }
  return x;
}

/// A dotted IPv4 address as a big-endian u32, or nullopt.
std::optional<uint32_t> parse_ipv4(std::string_view s) {
  uint32_t addr = 0;
  for (int group = 0; group < 4; ++group) {
    auto dot = s.find('.');
    if ((group < 3) != (dot != std::string_view::npos))
      return std::nullopt;
    auto part = group < 3 ? s.substr(0, dot) : s;
    auto x = parse_decimal(part, 3);
    if (!x || *x > 255)
      return std::nullopt;
    addr = addr << 8 | *x;
    if (group < 3)
      s.remove_prefix(dot + 1);
  }
  return addr;
}

struct ip_range {
  uint32_t addr;
  uint32_t bits;
};

std::optional<ip_range> parse_ip_id(std::string_view id) {
  auto slash = id.find('/');
  auto addr = parse_ipv4(id.substr(0, slash));
  if (!addr)
    return std::nullopt;
  uint32_t bits = 32;
  if (slash != std::string_view::npos) {
    auto b = parse_decimal(id.substr(slash + 1), 2);
    if (!b || *b > 32)
      return std::nullopt;
    bits = *b;
  }
  return ip_range{*addr, bits};
}

uint32_t prefix_mask(uint32_t bits) noexcept {
  return bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
}

void put_string(std::string& out, const std::string& s) {
  if (s.size() > std::numeric_limits<uint32_t>::max())
    invariant_failure("save: string longer than 4 GiB");
  le::put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

/// Reads fields from the front of `rest_`; every read checks the size first.
class reader {
public:
  explicit reader(std::string_view bytes) : rest_(bytes) {}

  size_t remaining() const noexcept { return rest_.size(); }

  bool u32(uint32_t& x) {
    if (rest_.size() < 4)
      return false;
    x = le::get_u32(rest_.data());
    rest_.remove_prefix(4);
    return true;
  }

  bool u64(uint64_t& x) {
    if (rest_.size() < 8)
      return false;
    x = le::get_u64(rest_.data());
    rest_.remove_prefix(8);
    return true;
  }

  bool string(std::string& s) {
    uint32_t n = 0;
    if (!u32(n) || n > rest_.size())
      return false;
    s.assign(rest_.data(), n);
    rest_.remove_prefix(n);
    return true;
  }

private:
  std::string_view rest_;
};

constexpr char snapshot_magic[8] = {'C', 'N', 'C', 'L', 'A', 'C', 'L', 'S'};
constexpr uint32_t snapshot_format_version = 1;
constexpr size_t header_bytes = 20;
constexpr size_t trailer_bytes = 4;
constexpr size_t min_slot_bytes = 12;  // refcount + entry count
constexpr size_t min_entry_bytes = 12; // perms + two empty strings

} // namespace

// -- well-known lists ---------------------------------------------------------

std::vector<acl_entry> open_acl_unsafe() {
  return {acl_entry{acl_perms::all, acl_id{"world", "anyone"}}};
}

std::vector<acl_entry> creator_all_acl() {
  return {acl_entry{acl_perms::all, acl_id{"auth", ""}}};
}

std::vector<acl_entry> read_acl_unsafe() {
  return {acl_entry{acl_perms::read, acl_id{"world", "anyone"}}};
}

// -- authentication -----------------------------------------------------------

std::string digest_of(std::string_view user_colon_password) {
  auto user = user_colon_password.substr(0, user_colon_password.find(':'));
  std::string out{user};
  out.push_back(':');
  out += base64_of(sha1_of(user_colon_password));
  return out;
}

result<acl_id> authenticate(std::string_view scheme,
                            std::string_view auth_bytes) {
  if (scheme != "digest")
    return error_code::auth_failed;
  return acl_id{"digest", digest_of(auth_bytes)};
}

bool is_valid_ip_id(std::string_view id) {
  return parse_ip_id(id).has_value();
}

bool ip_matches(std::string_view client_ip, std::string_view acl_expr) {
  auto range = parse_ip_id(acl_expr);
  if (!range)
    return false;
  auto addr = parse_ipv4(client_ip);
  if (!addr)
    return false;
  auto mask = prefix_mask(range->bits);
  return (*addr & mask) == (range->addr & mask);
}

bool is_valid_digest_id(std::string_view id) {
  // Java's split(":") drops trailing empty parts.
  while (!id.empty() && id.back() == ':')
    id.remove_suffix(1);
  size_t colons = 0;
  for (auto c : id)
    colons += c == ':' ? 1 : 0;
  return colons == 1;
}

// -- fixupACL and checkACL ----------------------------------------------------

result<std::vector<acl_entry>> fixup_acl(const std::vector<acl_entry>& acl,
                                         const auth_info& who) {
  std::vector<acl_entry> unique;
  for (const auto& e : acl)
    if (std::find(unique.begin(), unique.end(), e) == unique.end())
      unique.push_back(e);
  if (unique.empty())
    return error_code::invalid_acl;
  std::vector<acl_entry> out;
  for (const auto& e : unique) {
    if (e.perms < 0 || e.perms > acl_perms::all)
      return error_code::invalid_acl;
    const auto& scheme = e.id.scheme;
    if (scheme == "world") {
      if (e.id.id != "anyone")
        return error_code::invalid_acl;
      out.push_back(e);
    } else if (scheme == "auth") {
      bool any = false;
      for (const auto& id : who.ids) {
        if (id.scheme == "ip" || id.scheme == "world")
          continue;
        out.push_back(acl_entry{e.perms, id});
        any = true;
      }
      if (!any)
        return error_code::invalid_acl;
    } else if (scheme == "digest") {
      if (!is_valid_digest_id(e.id.id))
        return error_code::invalid_acl;
      out.push_back(e);
    } else if (scheme == "ip") {
      if (!is_valid_ip_id(e.id.id))
        return error_code::invalid_acl;
      out.push_back(e);
    } else {
      return error_code::invalid_acl;
    }
  }
  return out;
}

bool allowed(const std::vector<acl_entry>& acl, int32_t perm,
             const auth_info& who, const std::vector<acl_id>& super_ids) {
  if (acl.empty() || who.super)
    return true;
  for (const auto& id : who.ids)
    if (std::find(super_ids.begin(), super_ids.end(), id) != super_ids.end())
      return true;
  for (const auto& e : acl) {
    if ((e.perms & perm) == 0)
      continue;
    const auto& scheme = e.id.scheme;
    if (scheme == "world") {
      if (e.id.id == "anyone")
        return true;
    } else if (scheme == "digest") {
      for (const auto& id : who.ids)
        if (id.scheme == "digest" && id.id == e.id.id)
          return true;
    } else if (scheme == "ip") {
      if (ip_matches(who.client_ip, e.id.id))
        return true;
      for (const auto& id : who.ids)
        if (id.scheme == "ip" && ip_matches(id.id, e.id.id))
          return true;
    }
  }
  return false;
}

// -- acl_table ----------------------------------------------------------------

uint32_t acl_table::intern(const std::vector<acl_entry>& acl) {
  if (acl == open_acl_unsafe())
    return 0;
  if (auto i = lists_.find(acl); i != lists_.end()) {
    ++slots_[i->second].refs;
    return i->second;
  }
  uint32_t index = 0;
  if (!free_.empty()) {
    index = *free_.begin();
    free_.erase(free_.begin());
  } else {
    if (slots_.size() >= std::numeric_limits<uint32_t>::max())
      invariant_failure("intern: more than 2^32 - 1 distinct ACLs");
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[index].acl = acl;
  slots_[index].refs = 1;
  lists_.emplace(acl, index);
  return index;
}

bool acl_table::add_ref(uint32_t index) {
  if (index == 0)
    return true;
  if (!contains(index))
    return false;
  ++slots_[index].refs;
  return true;
}

bool acl_table::release(uint32_t index) {
  if (index == 0)
    return true;
  if (!contains(index))
    return false;
  auto& s = slots_[index];
  if (--s.refs > 0)
    return true;
  lists_.erase(s.acl);
  s.acl.clear();
  s.acl.shrink_to_fit();
  free_.insert(index);
  // Drop trailing free slots, so that the table depends only on the lists
  // in use and their indices.
  while (slots_.size() > 1 && slots_.back().refs == 0) {
    free_.erase(static_cast<uint32_t>(slots_.size() - 1));
    slots_.pop_back();
  }
  return true;
}

bool acl_table::contains(uint32_t index) const noexcept {
  return index == 0 || (index < slots_.size() && slots_[index].refs > 0);
}

const std::vector<acl_entry>& acl_table::get(uint32_t index) const {
  static const std::vector<acl_entry> open = open_acl_unsafe();
  if (index == 0)
    return open;
  if (!contains(index))
    invariant_failure("get: free or out-of-range index");
  return slots_[index].acl;
}

uint64_t acl_table::ref_count(uint32_t index) const noexcept {
  return index != 0 && index < slots_.size() ? slots_[index].refs : 0;
}

std::string acl_table::save() const {
  std::string out;
  out.append(snapshot_magic, sizeof(snapshot_magic));
  le::put_u32(out, snapshot_format_version);
  le::put_u64(out, slots_.size() - 1);
  for (size_t k = 1; k < slots_.size(); ++k) {
    const auto& s = slots_[k];
    le::put_u64(out, s.refs);
    if (s.acl.size() > std::numeric_limits<uint32_t>::max())
      invariant_failure("save: ACL with more than 2^32 - 1 entries");
    le::put_u32(out, static_cast<uint32_t>(s.acl.size()));
    for (const auto& e : s.acl) {
      le::put_u32(out, static_cast<uint32_t>(e.perms));
      put_string(out, e.id.scheme);
      put_string(out, e.id.id);
    }
  }
  le::put_u32(out, le::crc32c(out));
  return out;
}

result<acl_table> acl_table::load(std::string_view bytes) {
  constexpr auto bad = error_code::data_inconsistency;
  if (bytes.size() < header_bytes + trailer_bytes)
    return bad;
  if (std::memcmp(bytes.data(), snapshot_magic, sizeof(snapshot_magic)) != 0)
    return bad;
  auto covered = bytes.substr(0, bytes.size() - trailer_bytes);
  reader trailer{bytes.substr(covered.size())};
  uint32_t crc = 0;
  if (!trailer.u32(crc) || crc != le::crc32c(covered))
    return bad;
  reader in{covered.substr(sizeof(snapshot_magic))};
  uint32_t version = 0;
  uint64_t n = 0;
  if (!in.u32(version) || version != snapshot_format_version || !in.u64(n))
    return bad;
  if (n > in.remaining() / min_slot_bytes
      || n >= std::numeric_limits<uint32_t>::max())
    return bad;
  acl_table table;
  table.slots_.resize(static_cast<size_t>(n) + 1);
  const auto open = open_acl_unsafe();
  for (uint64_t k = 1; k <= n; ++k) {
    auto& s = table.slots_[k];
    uint32_t m = 0;
    if (!in.u64(s.refs) || !in.u32(m))
      return bad;
    if (s.refs == 0) {
      if (m != 0 || k == n)
        return bad;
      table.free_.insert(static_cast<uint32_t>(k));
      continue;
    }
    if (m > in.remaining() / min_entry_bytes)
      return bad;
    s.acl.resize(m);
    for (auto& e : s.acl) {
      uint32_t perms = 0;
      if (!in.u32(perms) || !in.string(e.id.scheme) || !in.string(e.id.id))
        return bad;
      e.perms = static_cast<int32_t>(perms);
    }
    if (s.acl == open)
      return bad;
    if (!table.lists_.emplace(s.acl, static_cast<uint32_t>(k)).second)
      return bad;
  }
  if (in.remaining() != 0)
    return bad;
  return table;
}

} // namespace conclave
