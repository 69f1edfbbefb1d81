// data_tree: ZooKeeper's hierarchical namespace of znodes, as a pure,
// deterministic state machine.
//
// The tree changes only through apply(), which takes a command together with
// the zxid the log assigned and the proposer's (leader's) timestamp. apply()
// never reads a clock and does nothing random, so two replicas fed the same
// command stream hold byte-identical trees (tests check this via digest()).
// Every applied command reports the watch events it fires. Reads are served
// directly from the tree.
//
// Memory layout (chosen for millions of znodes):
// - Nodes live in one contiguous std::vector<node>, addressed by 32-bit
//   indices; freed slots go on a LIFO free list (deterministic reuse).
// - A node stores only its own name segment, not its full path. Paths are
//   resolved by one open-addressing hash table (linear probing,
//   backward-shift deletion) keyed by (parent index, child name), whose slots
//   are bare 32-bit node indices: about 6 bytes per znode at the 0.7 maximum
//   load factor, instead of a heap-allocated map entry per znode.
// - Children form an intrusive doubly linked sibling list (first_child,
//   next/prev sibling indices), so adding or removing a child is O(1) and no
//   per-parent container is allocated. get_children() sorts names on read.
// - Ephemeral nodes are indexed per owning session (a hash set of node
//   indices per session) for session cleanup; container and TTL nodes are
//   indexed likewise for cleanup_candidates().
// Layout per znode: name and data strings (SSO keeps short names inline),
// the stat fields, four link indices and the sequence counter: about 152
// bytes (LP64, libstdc++) plus name/data heap storage, versus ~400+ bytes per
// znode in ZooKeeper's JVM DataTree. The sequence counter (child_seq) counts
// child creates only, while stat.cversion also counts deletes, as measured
// against ZooKeeper 3.8 (see data_tree.cpp).
//
// ACLs (ZooKeeper's, checked as PrepRequestProcessor and
// FinalRequestProcessor do): each node holds an index into one acl_table,
// which stores every distinct list once. Writes are checked when applied,
// against the command's auth (so every replica decides alike): create needs
// CREATE on the parent, delete and deleteContainer DELETE on the parent,
// setData WRITE, check READ, setACL ADMIN. Reads are checked by the caller
// with authorize() (getData, getChildren, getAllChildrenNumber: READ;
// getACL: READ or ADMIN); exists, like ZooKeeper's, is not checked.
//
// A multi applies its ops one by one and keeps an undo log; if an op fails,
// the log is replayed backwards, restoring the tree exactly (stats, data,
// links, free list). Slots of nodes deleted inside a multi are only freed
// when the multi commits, so an undo can relink them in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/acl.hpp"
#include "runtime/error_code.hpp"
#include "runtime/ops.hpp"
#include "runtime/result.hpp"
#include "runtime/stat.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// ZooKeeper's watch EventType values for the events a change fires.
enum class event_type : int32_t {
  node_created = 1,
  node_deleted = 2,
  node_data_changed = 3,
  node_children_changed = 4,
};

/// One watch-relevant change, reported by apply().
struct tree_event {
  event_type type;
  std::string path;

  friend bool operator==(const tree_event& a, const tree_event& b) {
    return a.type == b.type && a.path == b.path;
  }
};

/// Outcome of one operation (a single write, or one op of a multi).
struct op_result {
  error_code error = error_code::ok;
  /// create: the created path (with the sequential suffix, if any).
  std::string path;
  /// create, set_data: the node's stat after the change.
  conclave::stat stat;
};

/// Outcome of applying one command.
struct apply_result {
  /// ok, or the error of the single op / the first failing op of a multi.
  error_code error = error_code::ok;
  /// One entry per op (a single write has exactly one). In a failed multi the
  /// ops before the failing one report ok (ZooKeeper clients show them as
  /// "rolled back"), the failing one its error, the ones after it
  /// runtime_inconsistency.
  std::vector<op_result> results;
  /// Watch events fired by the change, in order; empty if nothing changed.
  std::vector<tree_event> events;
};

/// A znode's data and stat, as get_data() returns them.
struct node_data {
  std::string data;
  conclave::stat stat;
};

/// A znode's ACL and its stat, as get_acl() returns them.
struct node_acl {
  std::vector<acl_entry> acl;
  conclave::stat stat;
};

/// A znode's children (names only, sorted) and its stat.
struct node_children {
  std::vector<std::string> names;
  conclave::stat stat;
};

/// Limits the tree enforces deterministically on every apply.
struct data_tree_limits {
  /// Largest data payload of one znode (ZooKeeper's jute.maxbuffer default).
  size_t max_data_bytes = 1024 * 1024;
  /// Longest accepted path, in bytes.
  size_t max_path_bytes = 4096;
};

/// Largest TTL of a TTL node: ZooKeeper's EphemeralType.TTL.maxValue(), the
/// 40 low bits of ephemeralOwner.
constexpr int64_t max_ttl_ms = 0xFFFFFFFFFF;

class data_tree {
public:
  explicit data_tree(data_tree_limits limits = {});

  data_tree(const data_tree&) = delete;
  data_tree& operator=(const data_tree&) = delete;
  data_tree(data_tree&&) noexcept = default;
  data_tree& operator=(data_tree&&) noexcept = default;

  // -- writes ----------------------------------------------------------------

  /// Applies `cmd` at `id` with the proposer's timestamp `time_ms`.
  /// Precondition: `id` is greater than every zxid applied before (aborts
  /// otherwise). A failed command (any error) leaves the tree unchanged, but
  /// still advances last_zxid().
  apply_result apply(const command& cmd, zxid id, int64_t time_ms);

  /// Sets the data of /zookeeper/config (ZooKeeper's dynamic configuration
  /// text, zk/dynamic_config.hpp) for a configuration entry applied at
  /// `id`: version + 1, mzxid = id, mtime = `time_ms`, or the previous mtime
  /// if `time_ms` is 0 (configuration entries carry no leader time, and
  /// applying never reads a clock); fires NodeDataChanged like setData.
  /// Clients still cannot set the node (set_data answers no_auth). Same
  /// zxid precondition as apply(); data over max_data_bytes is
  /// bad_arguments (the tree is unchanged, the zxid still advances).
  apply_result set_config(std::string data, zxid id, int64_t time_ms);

  /// Replaces /zookeeper/config's data outside the log, when a node starts
  /// or loads a snapshot and shows the configuration it starts from: only
  /// the data and dataLength change (no zxid, version or time, no event),
  /// so every replica that starts from the same snapshot (or none) and
  /// configuration holds the same tree. No-op for data over max_data_bytes.
  void reset_config(std::string data);

  // -- reads -----------------------------------------------------------------

  /// get data: no_node, bad_arguments (invalid path).
  result<node_data> get_data(std::string_view path) const;

  /// exists: the stat, or no_node / bad_arguments.
  result<conclave::stat> exists(std::string_view path) const;

  /// get children (sorted names) with the parent's stat.
  result<node_children> get_children(std::string_view path) const;

  /// Paths of the ephemeral nodes owned by `owner` whose path starts with
  /// `prefix` ("/" or empty for all), sorted.
  std::vector<std::string> get_ephemerals(session_id owner,
                                          std::string_view prefix = "/") const;

  /// Number of all descendants of `path` (not counting the node itself).
  result<int64_t> count_descendants(std::string_view path) const;

  /// The node's ACL (as stored: fixed up, "auth" entries expanded) and its
  /// stat; no_node / bad_arguments.
  result<node_acl> get_acl(std::string_view path) const;

  /// Whether `who` may perform `perm` (acl_perms bits; any one of them
  /// suffices) on the node at `path`: ok, no_auth, or no_node /
  /// bad_arguments.
  error_code authorize(std::string_view path, int32_t perm,
                       const auth_info& who) const;

  /// Paths the leader should propose to delete at `now_ms`, sorted
  /// (ZooKeeper's ContainerManager): containers without children that have
  /// had at least one (cversion > 0), and TTL nodes without children whose
  /// mtime + ttl < now_ms. Pure: the caller supplies the clock.
  std::vector<std::string> cleanup_candidates(int64_t now_ms) const;

  // -- figures ---------------------------------------------------------------

  /// Number of znodes, including "/" and the reserved "/zookeeper" nodes.
  size_t node_count() const noexcept;
  /// Number of ephemeral znodes.
  size_t ephemeral_count() const noexcept;
  /// Number of distinct ACLs stored (world:anyone/all is not counted).
  size_t acl_count() const noexcept { return acls_.size(); }
  /// Sum of path and data bytes (ZooKeeper's approximate data size).
  size_t approximate_data_bytes() const noexcept;
  /// Highest zxid applied so far (0 for an empty tree).
  zxid last_zxid() const noexcept;
  /// Canonical 64-bit digest of the whole tree (paths, data, stat, sequence
  /// counters, ACLs). Two trees with equal digests hold the same data.
  uint64_t digest() const;

  const data_tree_limits& limits() const noexcept { return limits_; }

  // -- snapshots (data_tree_snapshot.cpp) ------------------------------------
  //
  // The payload format is documented in messages/snapshot.proto: a header
  // record, one record per znode in pre-order (children in name order) with
  // its path, data, stat and sequence counter, and a trailer with the record
  // count and a CRC-32C of everything before it. It holds everything digest()
  // covers plus last_zxid(); the ephemeral and container/TTL indexes are
  // rebuilt from the stats on load.

  /// Largest chunk save() hands to its sink.
  static constexpr size_t snapshot_chunk_bytes = 64 * 1024;

  /// Streams the tree's snapshot payload to `sink` in chunks of 1 to
  /// snapshot_chunk_bytes bytes; the concatenation of the chunks is the
  /// payload. Each chunk's bytes are valid only during the call. The sink
  /// returns false to fail (e.g. a write error): save() then stops at once,
  /// never calls it again and returns false. Returns true when the whole
  /// payload was accepted. Deterministic: trees with equal digest() and
  /// last_zxid() give byte-identical payloads.
  ///
  /// Fork-safe: meant to run in a fork()ed child of the multi-threaded node
  /// (copy-on-write snapshots: the child saves and _exit()s), where any lock
  /// another thread held at fork time stays locked forever. So this path
  /// takes no locks, logs nothing, reads no clock, uses no function-local or
  /// lazily initialized statics (its CRC tables are constant-initialized) and
  /// no protobuf reflection or descriptors (only generated serialization
  /// code, whose defaults are initialized at program start). It allocates,
  /// modestly: glibc's malloc is fork-safe. Memory beyond the tree: one
  /// chunk buffer, one encoded record (about the largest znode), the
  /// pre-order stack (16 bytes per node still to visit: the unvisited
  /// children of the current node's ancestors) and the child list of the
  /// node being visited. Allocation failure throws std::bad_alloc, as
  /// anywhere else.
  [[nodiscard]] bool
  save(const std::function<bool(std::string_view)>& sink) const;

  /// Rebuilds a tree from a payload save() produced. `source(buffer, size)`
  /// copies up to `size` bytes of the payload into `buffer` and returns how
  /// many; 0 means the end (a source that fails should return 0 too). The
  /// source must deliver exactly one payload: bytes after the trailer are an
  /// error. `limits` become the tree's limits and bound what is read: a
  /// record larger than a znode within `limits` can be, or a path or data
  /// beyond them, is rejected before it is buffered.
  ///
  /// Any malformed, truncated, corrupt or inconsistent payload yields
  /// data_inconsistency; it never crashes or hangs, and memory stays
  /// proportional to the bytes actually read. On success the tree's
  /// digest(), last_zxid(), reads, get_ephemerals() and cleanup_candidates()
  /// equal those of the saved tree, and it applies later commands exactly as
  /// the saved tree would.
  static result<data_tree>
  load(const std::function<size_t(char*, size_t)>& source,
       data_tree_limits limits);

private:
  class snapshot_writer; ///< save() (data_tree_snapshot.cpp)
  class snapshot_loader; ///< load() (data_tree_snapshot.cpp)
  struct no_nodes {};
  /// A tree without any node, not even "/": load() fills it. Every member
  /// keeps its default (empty) value. Defined in data_tree_snapshot.cpp.
  data_tree(data_tree_limits limits, no_nodes);

  /// "No node" in links and hash slots.
  static constexpr uint32_t nil = UINT32_MAX;
  /// The root is always node 0.
  static constexpr uint32_t root_index = 0;

  /// One znode. Its full path is the chain of parent names.
  struct node {
    std::string name; ///< own path segment, "" for the root
    std::string data;
    conclave::stat stat; ///< num_children kept exact by link()/unlink()
    uint32_t parent = nil;
    uint32_t first_child = nil;
    uint32_t next_sibling = nil; ///< next free slot while on the free list
    uint32_t prev_sibling = nil;
    /// Sequence counter for sequential children: counts child creates only
    /// (cversion also counts deletes), as ZooKeeper numbers them.
    int32_t child_seq = 0;
    /// Index of the node's ACL in acls_ (0: world:anyone, all permissions);
    /// the node holds one reference to it while its slot is allocated.
    uint32_t acl = 0;
  };

  /// One step a failed multi must take back (see rollback()).
  struct undo_entry {
    enum class action : uint8_t {
      remove_created,
      restore_deleted,
      restore_data
    };
    action what;
    uint32_t index;
    /// restore_deleted: the sibling it followed (nil: it was the first child).
    uint32_t prev_sibling = nil;
    /// remove_created: the slot came off the free list (else: appended).
    bool recycled = false;
    /// The parent's stat (create, delete) or the node's own (set_data).
    conclave::stat stat;
    /// restore_data: the previous data.
    std::string data;
    /// remove_created: the parent's sequence counter before the create.
    int32_t parent_child_seq = 0;
  };

  /// Context of one apply().
  struct txn {
    int64_t session;
    const auth_info& who;
    int64_t zxid;
    int64_t time_ms;
    std::vector<tree_event>& events;
    std::vector<undo_entry>* undo; ///< non-null inside a multi
  };

  // -- commands --------------------------------------------------------------

  op_result run(const create_op& op, txn& t);
  op_result run(const delete_op& op, txn& t);
  op_result run(const set_data_op& op, txn& t);
  op_result run(const check_op& op, txn& t);
  op_result run(const set_acl_op& op, txn& t);
  op_result run(const delete_container_op& op, txn& t);
  apply_result run_multi(const multi_op& op, txn& t);
  apply_result run_close_session(txn& t);

  error_code check_create(const create_op& op, int64_t session) const;
  bool may(uint32_t index, int32_t perm, const auth_info& who) const;
  bool due_for_cleanup(uint32_t index, int64_t now_ms) const noexcept;
  op_result insert(uint32_t parent, std::string path, const create_op& op,
                   uint32_t acl, txn& t);
  void remove(uint32_t index, std::string_view path, txn& t);
  void rollback(std::vector<undo_entry>& log);
  void undo(undo_entry& entry);
  void commit(const std::vector<undo_entry>& log);

  // -- node slots, links and indexes -----------------------------------------

  uint32_t allocate_node(bool& recycled);
  void release_node(uint32_t index);
  void unallocate_node(uint32_t index, bool recycled);
  void link(uint32_t index, uint32_t prev_sibling);
  void unlink(uint32_t index);
  void track(uint32_t index);
  void untrack(uint32_t index);
  uint32_t add_builtin(uint32_t parent, std::string_view name);

  // -- child hash table ------------------------------------------------------

  size_t home_slot(uint32_t index) const noexcept;
  uint32_t find_child(uint32_t parent, std::string_view name) const noexcept;
  void index_child(uint32_t index);
  void unindex_child(uint32_t index);
  void place_in_slots(uint32_t index) noexcept;
  void grow_slots();

  // -- paths -----------------------------------------------------------------

  /// Node at a valid path, or nil.
  uint32_t find(std::string_view path) const noexcept;
  /// Node at `path`: bad_arguments for an invalid path, no_node if absent.
  result<uint32_t> resolve(std::string_view path) const;
  std::string path_of(uint32_t index) const;
  size_t path_length(uint32_t index) const noexcept;
  std::vector<uint32_t> sorted_children(uint32_t index) const;

  data_tree_limits limits_;
  std::vector<node> nodes_;
  uint32_t free_head_ = nil;
  /// Open addressing, linear probing; slot = node index or nil. Power of 2.
  std::vector<uint32_t> slots_;
  size_t slots_used_ = 0;
  /// Owning session -> its ephemeral nodes.
  std::unordered_map<int64_t, std::unordered_set<uint32_t>> ephemerals_;
  /// Container and TTL nodes.
  std::unordered_set<uint32_t> expirables_;
  /// The distinct ACLs, referenced by node::acl.
  acl_table acls_;
  size_t node_count_ = 0;
  size_t ephemeral_count_ = 0;
  size_t data_bytes_ = 0;
  zxid last_zxid_;
};

} // namespace conclave
