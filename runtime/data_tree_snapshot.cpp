// data_tree snapshots: save() streams the tree as the payload described in
// messages/snapshot.proto, load() rebuilds a tree from it.
//
// save() must stay fork-safe (see data_tree.hpp): no locks, no logging, no
// lazily initialized statics. That is why the CRC-32C below uses its own
// constant-initialized tables instead of storage::crc32c, whose Boost.CRC
// table is a function-local static built on first use (a child forked while
// another thread was building it would wait forever). Both compute the same
// standard CRC-32C (tests cross-check them).
//
// load() trusts nothing it reads: every length is bounded before anything is
// buffered, counts in the header are never used to size allocations, and the
// structure is checked as it is rebuilt (pre-order, name order, child counts,
// data lengths, zxids, owner kinds), so that even a payload with a valid
// checksum cannot produce a tree that breaks data_tree's invariants.

#include "runtime/data_tree.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <limits>
#include <utility>

#include "messages/snapshot.pb.h"
#include "runtime/path.hpp"

namespace conclave {

namespace {

/// TreeSnapshotHeader.magic: "CNCLTREE" as a little-endian u64.
constexpr uint64_t snapshot_magic = 0x45455254'4C434E43ULL;
/// What save() writes; load() also reads version 1 (no ACLs).
constexpr uint32_t snapshot_format_version = 2;

/// Bounds on record lengths. A node record is its path and data plus at most
/// ~160 bytes of tags, lengths and fixed fields; 256 leaves slack.
constexpr size_t max_header_bytes = 256;
constexpr size_t max_trailer_bytes = 64;
constexpr size_t node_record_overhead = 256;
/// Protobuf's own limit on one message, and what int-sized APIs accept.
constexpr size_t max_record_bytes = INT_MAX;

/// The most znodes a snapshot may hold: num_children is an int32.
constexpr uint64_t max_snapshot_nodes = INT32_MAX;

// -- CRC-32C with compile-time tables (slicing-by-8) ---------------------------

using crc32c_tables = std::array<std::array<uint32_t, 256>, 8>;

/// tables[0] is the classic byte-at-a-time table of the reflected Castagnoli
/// polynomial; tables[k] advances a byte's contribution by k more bytes.
constexpr crc32c_tables make_crc32c_tables() {
  crc32c_tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit)
      c = (c & 1u) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[0][i] = c;
  }
  for (size_t k = 1; k < 8; ++k)
    for (size_t i = 0; i < 256; ++i)
      t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
  return t;
}

/// Constant-initialized: no first-use initialization, even in a forked child.
constexpr crc32c_tables crc32c_table = make_crc32c_tables();

uint32_t load_u32_le(const unsigned char* p) noexcept {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16
         | uint32_t{p[3]} << 24;
}

class crc32c {
public:
  void update(std::string_view bytes) noexcept {
    const auto& t = crc32c_table;
    auto p = reinterpret_cast<const unsigned char*>(bytes.data());
    auto n = bytes.size();
    auto c = state_;
    for (; n >= 8; p += 8, n -= 8) {
      auto lo = load_u32_le(p) ^ c;
      auto hi = load_u32_le(p + 4);
      c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu]
          ^ t[4][lo >> 24] ^ t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu]
          ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
    }
    for (; n > 0; ++p, --n)
      c = (c >> 8) ^ t[0][(c ^ *p) & 0xFFu];
    state_ = c;
  }
  uint32_t value() const noexcept { return ~state_; }

private:
  uint32_t state_ = 0xFFFFFFFFu;
};

// -- helpers ------------------------------------------------------------------

void put_u32_le(char* out, uint32_t x) noexcept {
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>(static_cast<unsigned char>(x >> (8 * i)));
}

uint32_t get_u32_le(std::string_view in) noexcept {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return x;
}

size_t saturating_add(size_t a, size_t b) noexcept {
  return a > std::numeric_limits<size_t>::max() - b
           ? std::numeric_limits<size_t>::max()
           : a + b;
}

/// A TTL owner as a create can produce: 0 < ttl <= max_ttl_ms, bits 40-55
/// clear.
bool valid_ttl_owner(int64_t owner) noexcept {
  auto low = static_cast<uint64_t>(owner) & 0x00FFFFFFFFFFFFFFULL;
  return low != 0 && low <= static_cast<uint64_t>(max_ttl_ms);
}

/// True if parsing met fields this reader does not know (see snapshot.proto:
/// they are rejected, not ignored). Reflection: load() only, never save().
bool has_unknown_fields(const google::protobuf::Message& message) {
  return !message.GetReflection()->GetUnknownFields(message).empty();
}

} // namespace

data_tree::data_tree(data_tree_limits limits, no_nodes) : limits_(limits) {}

// -- save ---------------------------------------------------------------------

class data_tree::snapshot_writer {
public:
  snapshot_writer(const data_tree& tree,
                  const std::function<bool(std::string_view)>& sink)
      : tree_(tree), sink_(sink) {}

  bool run() {
    chunk_.reserve(snapshot_chunk_bytes);

    pb::TreeSnapshotHeader header;
    header.set_magic(snapshot_magic);
    header.set_format_version(snapshot_format_version);
    header.set_last_zxid(tree_.last_zxid_.value());
    header.set_node_count(tree_.node_count_);
    header.set_ephemeral_count(tree_.ephemeral_count_);
    header.set_data_bytes(tree_.data_bytes_);
    if (!put_record(header, true))
      return false;

    pb::TreeSnapshotAcls acls;
    acls.set_table(tree_.acls_.save());
    if (!put_record(acls, true))
      return false;

    uint64_t records = 0;
    if (!put_nodes(records))
      return false;

    pb::TreeSnapshotTrailer trailer;
    trailer.set_record_count(records);
    trailer.set_crc32c(crc_.value());
    if (!put_record(trailer, false))
      return false;
    return flush();
  }

private:
  const data_tree& tree_;
  const std::function<bool(std::string_view)>& sink_;
  crc32c crc_;
  std::string chunk_;  ///< bytes not yet handed to the sink
  std::string record_; ///< the record being framed, reused
  bool failed_ = false;

  /// Pre-order, children in name order: the same walk as digest().
  bool put_nodes(uint64_t& records) {
    struct frame {
      uint32_t index;
      size_t parent_path_size;
    };
    std::vector<frame> pending{{root_index, 0}};
    std::vector<uint32_t> children;
    std::string path;
    pb::TreeSnapshotNode record;
    const auto& nodes = tree_.nodes_;
    while (!pending.empty()) {
      auto [index, parent_size] = pending.back();
      pending.pop_back();
      const auto& n = nodes[index];
      path.resize(parent_size);
      if (path.size() != 1) // the root's children share its '/'
        path += '/';
      path += n.name;
      // Keeps protobuf's 2 GiB message limit (which it would log about) far
      // away; data_length is an int32, so the tree never gets close.
      if (path.size() + n.data.size() > max_record_bytes - node_record_overhead)
        return false;
      record.set_path(path);
      record.set_data(n.data);
      const auto& s = n.stat;
      record.set_czxid(s.czxid);
      record.set_mzxid(s.mzxid);
      record.set_ctime_ms(s.ctime_ms);
      record.set_mtime_ms(s.mtime_ms);
      record.set_version(s.version);
      record.set_cversion(s.cversion);
      record.set_aversion(s.aversion);
      record.set_ephemeral_owner(s.ephemeral_owner);
      record.set_data_length(s.data_length);
      record.set_num_children(s.num_children);
      record.set_pzxid(s.pzxid);
      record.set_child_seq(n.child_seq);
      record.set_acl(n.acl);
      if (!put_record(record, true))
        return false;
      ++records;

      children.clear();
      for (auto c = n.first_child; c != nil; c = nodes[c].next_sibling)
        children.push_back(c);
      std::sort(children.begin(), children.end(),
                [&nodes](uint32_t a, uint32_t b) {
                  return nodes[a].name < nodes[b].name;
                });
      for (auto c = children.rbegin(); c != children.rend(); ++c)
        pending.push_back({*c, path.size()});
    }
    return true;
  }

  /// Frames `message` (u32 length + bytes) and queues it for the sink.
  bool put_record(const google::protobuf::MessageLite& message,
                  bool checksummed) {
    record_.assign(4, '\0');
    if (!message.AppendToString(&record_))
      return false;
    auto length = record_.size() - 4;
    if (length > max_record_bytes)
      return false;
    put_u32_le(record_.data(), static_cast<uint32_t>(length));
    if (checksummed)
      crc_.update(record_);
    return append(record_);
  }

  /// Copies `bytes` into the chunk buffer, handing full chunks to the sink.
  bool append(std::string_view bytes) {
    while (!bytes.empty()) {
      auto room = snapshot_chunk_bytes - chunk_.size();
      auto take = std::min(room, bytes.size());
      chunk_.append(bytes.data(), take);
      bytes.remove_prefix(take);
      if (chunk_.size() == snapshot_chunk_bytes && !flush())
        return false;
    }
    return true;
  }

  bool flush() {
    if (failed_)
      return false;
    if (chunk_.empty())
      return true;
    failed_ = !sink_(std::string_view{chunk_});
    chunk_.clear();
    return !failed_;
  }
};

bool data_tree::save(const std::function<bool(std::string_view)>& sink) const {
  return snapshot_writer{*this, sink}.run();
}

// -- load ---------------------------------------------------------------------

class data_tree::snapshot_loader {
public:
  snapshot_loader(const std::function<size_t(char*, size_t)>& source,
                  data_tree_limits limits)
      : source_(source), limits_(limits) {}

  result<data_tree> run() {
    data_tree tree{limits_, no_nodes{}};
    if (!load_into(tree))
      return error_code::data_inconsistency;
    return tree;
  }

private:
  /// A node whose children may still follow.
  struct frame {
    uint32_t index;
    size_t path_size; ///< its path is path_.substr(0, path_size)
    int32_t expected_children;
    uint32_t last_child; ///< the most recent child linked, or nil
  };

  static constexpr size_t buffer_bytes = 64 * 1024;

  const std::function<size_t(char*, size_t)>& source_;
  data_tree_limits limits_;
  std::vector<char> buffer_;
  size_t begin_ = 0; ///< unread bytes: buffer_[begin_, end_)
  size_t end_ = 0;
  std::string large_; ///< a record that does not fit in buffer_
  bool source_failed_ = false;
  crc32c crc_;

  std::vector<frame> stack_; ///< the ancestors of the next node
  std::string path_;         ///< path of stack_.back()
  int64_t last_zxid_ = 0;

  bool load_into(data_tree& tree) {
    buffer_.resize(buffer_bytes);

    pb::TreeSnapshotHeader header;
    std::string_view bytes;
    if (!read_record(max_header_bytes, true, bytes)
        || !header.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))
        || has_unknown_fields(header))
      return false;
    if (header.magic() != snapshot_magic
        || (header.format_version() != 1
            && header.format_version() != snapshot_format_version)
        || header.last_zxid() < 0 || header.node_count() < 1
        || header.node_count() > max_snapshot_nodes
        || header.ephemeral_count() >= header.node_count())
      return false;
    last_zxid_ = header.last_zxid();

    if (header.format_version() >= 2) {
      pb::TreeSnapshotAcls acls;
      if (!read_record(max_record_bytes, true, bytes)
          || !acls.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))
          || has_unknown_fields(acls))
        return false;
      auto table = acl_table::load(acls.table());
      if (!table)
        return false;
      tree.acls_ = std::move(table).value();
    }

    auto max_node_bytes = std::min(
      max_record_bytes, saturating_add(saturating_add(limits_.max_path_bytes,
                                                      limits_.max_data_bytes),
                                       node_record_overhead));
    pb::TreeSnapshotNode record;
    for (uint64_t i = 0; i < header.node_count(); ++i) {
      if (!read_record(max_node_bytes, true, bytes)
          || !record.ParseFromArray(bytes.data(),
                                    static_cast<int>(bytes.size()))
          || has_unknown_fields(record)
          || !(i == 0 ? add_root(tree, record) : add_node(tree, record)))
        return false;
    }
    while (!stack_.empty())
      if (!pop(tree))
        return false;
    if (!references_match(tree))
      return false;

    auto checksum = crc_.value();
    pb::TreeSnapshotTrailer trailer;
    if (!read_record(max_trailer_bytes, false, bytes)
        || !trailer.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))
        || has_unknown_fields(trailer) || !at_end())
      return false;
    if (trailer.crc32c() != checksum
        || trailer.record_count() != header.node_count())
      return false;

    // What the header promised, and what every tree has.
    if (tree.ephemeral_count_ != header.ephemeral_count()
        || tree.data_bytes_ != header.data_bytes())
      return false;
    for (auto p : {path::reserved_root, std::string_view{"/zookeeper/quota"},
                   path::config_node}) {
      auto index = tree.find(p);
      if (index == nil || tree.nodes_[index].stat.ephemeral_owner != 0)
        return false;
    }
    tree.last_zxid_ = zxid{last_zxid_};
    return true;
  }

  /// Every ACL's reference count equals the number of nodes naming it.
  static bool references_match(const data_tree& tree) {
    std::vector<uint64_t> refs(tree.acls_.index_limit(), 0);
    for (const auto& n : tree.nodes_)
      ++refs[n.acl]; // in range: checked by valid_node()
    for (uint32_t i = 1; i < refs.size(); ++i)
      if (refs[i] != tree.acls_.ref_count(i))
        return false;
    return true;
  }

  /// Checks what a record says about the node itself.
  bool valid_node(const data_tree& tree, const pb::TreeSnapshotNode& r) const {
    auto zxid_ok = [this](int64_t z) { return z >= 0 && z <= last_zxid_; };
    auto owner = r.ephemeral_owner();
    return r.data().size() <= limits_.max_data_bytes && r.data_length() >= 0
           && static_cast<size_t>(r.data_length()) == r.data().size()
           && r.num_children() >= 0 && zxid_ok(r.czxid()) && zxid_ok(r.mzxid())
           && zxid_ok(r.pzxid())
           && (!is_ttl_owner(owner) || valid_ttl_owner(owner))
           && tree.acls_.contains(r.acl());
  }

  static void fill(node& n, const pb::TreeSnapshotNode& r) {
    n.data = r.data();
    n.stat.czxid = r.czxid();
    n.stat.mzxid = r.mzxid();
    n.stat.ctime_ms = r.ctime_ms();
    n.stat.mtime_ms = r.mtime_ms();
    n.stat.version = r.version();
    n.stat.cversion = r.cversion();
    n.stat.aversion = r.aversion();
    n.stat.ephemeral_owner = r.ephemeral_owner();
    n.stat.data_length = r.data_length();
    n.stat.num_children = 0; // counted by link() as the children arrive
    n.stat.pzxid = r.pzxid();
    n.child_seq = r.child_seq();
    n.acl = r.acl();
  }

  bool add_root(data_tree& tree, const pb::TreeSnapshotNode& r) {
    if (r.path() != path::root || !valid_node(tree, r)
        || r.ephemeral_owner() != 0)
      return false;
    bool recycled;
    auto index = tree.allocate_node(recycled); // 0: the tree has no node yet
    fill(tree.nodes_[index], r);
    tree.node_count_ = 1;
    tree.data_bytes_ = path::root.size() + r.data().size();
    path_ = path::root;
    stack_.push_back({index, path_.size(), r.num_children(), nil});
    return true;
  }

  bool add_node(data_tree& tree, const pb::TreeSnapshotNode& r) {
    std::string_view p = r.path();
    if (p == path::root
        || path::validate(p, limits_.max_path_bytes) != error_code::ok
        || !valid_node(tree, r))
      return false;
    // Pre-order: the parent is the current node or one of its ancestors;
    // the ones that are not are complete.
    auto parent_path = path::parent(p);
    while (!stack_.empty()
           && std::string_view{path_}.substr(0, stack_.back().path_size)
                != parent_path)
      if (!pop(tree))
        return false;
    if (stack_.empty())
      return false;
    auto& parent = stack_.back();
    auto name = path::basename(p);
    const auto& nodes = tree.nodes_;
    if (is_session_owner(nodes[parent.index].stat.ephemeral_owner)
        || (parent.last_child != nil
            && !(nodes[parent.last_child].name < name)))
      return false;

    bool recycled;
    auto index = tree.allocate_node(recycled);
    auto& n = tree.nodes_[index];
    n.name = std::string{name};
    n.parent = parent.index;
    fill(n, r);
    tree.link(index, parent.last_child); // keeps siblings in name order
    parent.last_child = index;
    path_.assign(p);
    stack_.push_back({index, path_.size(), r.num_children(), nil});
    return true;
  }

  /// The top node is complete: its child count must match its record.
  bool pop(const data_tree& tree) {
    auto top = stack_.back();
    stack_.pop_back();
    return tree.nodes_[top.index].stat.num_children == top.expected_children;
  }

  /// Reads one record: its u32 length (at most `max_bytes`), then its bytes
  /// into `out` (valid until the next read).
  bool read_record(size_t max_bytes, bool checksummed, std::string_view& out) {
    std::string_view prefix;
    if (!read(4, prefix))
      return false;
    if (checksummed)
      crc_.update(prefix);
    auto length = get_u32_le(prefix);
    if (length > max_bytes || !read(length, out))
      return false;
    if (checksummed)
      crc_.update(out);
    return true;
  }

  /// The next `n` bytes, or false if the payload ends first.
  bool read(size_t n, std::string_view& out) {
    if (end_ - begin_ >= n) {
      out = {buffer_.data() + begin_, n};
      begin_ += n;
      return true;
    }
    if (n > buffer_.size()) {
      // A large record: assemble it in large_, which grows with the bytes
      // that actually arrive (never to a length merely claimed).
      large_.assign(buffer_.data() + begin_, end_ - begin_);
      begin_ = end_ = 0;
      while (large_.size() < n) {
        auto have = large_.size();
        auto want = std::min(n - have, std::max(have, buffer_.size()));
        large_.resize(have + want);
        auto got = pull(large_.data() + have, want);
        large_.resize(have + got);
        if (got == 0)
          return false;
      }
      out = large_;
      return true;
    }
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    while (end_ < n) {
      auto got = pull(buffer_.data() + end_, buffer_.size() - end_);
      if (got == 0)
        return false;
      end_ += got;
    }
    out = {buffer_.data(), n};
    begin_ = n;
    return true;
  }

  /// One call of the source; 0 at the end, or if the source misbehaves.
  size_t pull(char* into, size_t size) {
    if (source_failed_)
      return 0;
    auto got = source_(into, size);
    if (got > size) {
      source_failed_ = true;
      return 0;
    }
    return got;
  }

  /// True if the payload has no bytes left.
  bool at_end() {
    if (begin_ != end_)
      return false;
    char extra;
    return pull(&extra, 1) == 0 && !source_failed_;
  }
};

result<data_tree>
data_tree::load(const std::function<size_t(char*, size_t)>& source,
                data_tree_limits limits) {
  return snapshot_loader{source, limits}.run();
}

} // namespace conclave
