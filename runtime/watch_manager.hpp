// watch_manager: ZooKeeper's server-side watches, as a pure, deterministic
// class (no CAF, clock, I/O or logging).
//
// What: sessions register watches on paths; the registry feeds the manager
// the tree_events of every applied command (with the command's zxid) and gets
// back the notifications to deliver. Watches live on the node a client is
// connected to and are not replicated: when the client's connection to this
// node goes away, the shell calls remove_session() (ZooKeeper's removeCnxn),
// and the client re-registers its watches with set_watches() on reconnect.
// The manager must see the events of every command the tree applies: if the
// tree jumps ahead without them (a snapshot installed from the leader), the
// shell drops the connections of this node's clients, which then reconnect
// and re-register (ZooKeeper's servers do the same on a snapshot sync).
//
// Why a class of its own: the rules (one-shot vs persistent, which event
// fires which watch, dedup, recursion) are subtle and must match ZooKeeper
// exactly; kept pure they are testable against a reference model.
//
// Semantics: current ZooKeeper (server/watch/WatchManager.java with
// WatchStats, server/DataTree.java), where one session may hold watches of
// different modes on one path (ZOOKEEPER-4466) and removes them individually
// (ZOOKEEPER-4471/4472, watcher types 4 and 5). Older servers (3.6-3.8) kept
// one mode per (session, path, table), so a getData watch set after an
// addWatch turned the persistent watch into a one-shot; that bug is not
// copied. ZooKeeper keeps two watch tables, "data" and "child"; here each
// (session, path) holds a set of watch_kinds instead:
//
//   kind                  ZooKeeper            registered by
//   data                  data table, STANDARD getData (node exists),
//                                              exists (whether or not the
//                                              node exists: an "exist watch")
//   child                 child table, STANDARD getChildren (node exists)
//   persistent            both tables, PERSISTENT           addWatch mode 0
//   persistent_recursive  data table, PERSISTENT_RECURSIVE  addWatch mode 1
//
// (Whether to register at all — getData/getChildren on a missing node
// register nothing, exists always does — is the caller's decision, as in
// ZooKeeper's DataTree.) An event at path p fires:
//
//   NodeCreated(p), NodeDataChanged(p): data, persistent and
//       persistent_recursive watches on p, and persistent_recursive watches
//       on every ancestor of p;
//   NodeDeleted(p): the same, plus child watches on p;
//   NodeChildrenChanged(p): child and persistent watches on p only
//       (recursive watches never see child events: ZooKeeper keeps them out
//       of its child table).
//
// A session is notified at most once per event, however many of its watches
// match (ZooKeeper collects watchers in a set per trigger, and for
// NodeDeleted suppresses in the child table those the data table notified).
// Firing removes the one-shot kinds (data, child) that matched; persistent
// kinds stay until removed. So a session with a data and a persistent watch
// on p gets one NodeDataChanged and keeps only the persistent watch.
//
// Ordering: on_events() returns notifications event by event, in the order
// of the events, and per event by ascending session id. Callers feed
// commands in zxid order (enforced: a zxid not above every earlier one
// aborts). The shell must deliver a session's notifications before any
// later read result to that session, so that a client sees the change
// notification before data that reflects a later state (ZooKeeper's
// ordering guarantee). Notifications of tree state carry non-decreasing
// zxids: on_events() the command's, set_watches() the tree's last_zxid()
// (ZooKeeper sends -1 there; a ZooKeeper-protocol front end may do the
// same). *WatchRemoved ones carry no_zxid: they reflect no tree change.
//
// Limits: max_watches_per_session and max_watches_per_path bound the
// registrations (each (session, path, kind) counts once; re-registering an
// existing watch is free and always succeeds). Registering past a limit
// returns error_code::quota_exceeded and changes nothing: not throttled_op,
// since retrying does not help until watches fire or are removed. ZooKeeper
// itself has no such limits.
//
// Cost: watches are indexed by path (hash map path -> entry with a vector of
// (session, kinds) sorted by session, plus a sorted vector of the sessions
// with a recursive watch there). An event costs one lookup for its path,
// plus, only while any recursive watch exists, one lookup per ancestor
// (ZooKeeper's PathParentIterator), plus the watches it fires: O(depth +
// watchers at the path and recursive watchers above it), sorting the
// notified sessions aside.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "runtime/data_tree.hpp"
#include "runtime/error_code.hpp"
#include "runtime/result.hpp"
#include "runtime/strong_id.hpp"

namespace conclave {

/// What a watch is (see the table at the top). Values are bit flags.
enum class watch_kind : uint8_t {
  data = 1,
  child = 2,
  persistent = 4,
  persistent_recursive = 8,
};

/// addWatch's mode on the wire (ZooDefs.AddWatchModes): 0 persistent,
/// 1 persistent_recursive; nullopt for anything else.
std::optional<watch_kind> watch_kind_from_add_mode(int32_t mode) noexcept;

/// ZooKeeper's Watcher.WatcherType, for checkWatches and removeWatches.
enum class watcher_type : int32_t {
  children = 1,
  data = 2,
  any = 3,
  persistent = 4,
  persistent_recursive = 5,
};

/// Maps a raw wire value to a watcher_type; nullopt for unknown values.
std::optional<watcher_type> watcher_type_from_int(int32_t value) noexcept;

/// ZooKeeper's Watcher.Event.EventType values a notification can carry.
enum class watch_event : int32_t {
  node_created = 1,
  node_deleted = 2,
  node_data_changed = 3,
  node_children_changed = 4,
  data_watch_removed = 5,
  child_watch_removed = 6,
  persistent_watch_removed = 7,
};

/// The watch_event of a tree event (same numeric value).
constexpr watch_event to_watch_event(event_type type) noexcept {
  return static_cast<watch_event>(static_cast<int32_t>(type));
}

/// zxid of notifications that reflect no tree change (ZooKeeper's
/// WatchedEvent.NO_ZXID): the *WatchRemoved ones.
constexpr int64_t no_zxid = -1;

/// One event to deliver to one session.
struct notification {
  session_id session;
  watch_event type;
  std::string path;
  /// on_events: the command's zxid; set_watches: the tree's last_zxid();
  /// remove_watches: no_zxid.
  int64_t zxid = no_zxid;

  friend bool operator==(const notification& a, const notification& b) {
    return a.session == b.session && a.type == b.type && a.path == b.path
           && a.zxid == b.zxid;
  }
  friend bool operator!=(const notification& a, const notification& b) {
    return !(a == b);
  }
};

/// One registration, as watches_of() and watchers_of() list them.
struct watch_info {
  session_id session;
  std::string path;
  watch_kind kind;

  friend bool operator==(const watch_info& a, const watch_info& b) {
    return a.session == b.session && a.path == b.path && a.kind == b.kind;
  }
};

struct watch_limits {
  /// Registrations one session may hold on this node.
  size_t max_watches_per_session = 100'000;
  /// Registrations (of all sessions) one path may carry.
  size_t max_watches_per_path = 100'000;
};

class watch_manager {
public:
  explicit watch_manager(watch_limits limits = {});

  watch_manager(const watch_manager&) = delete;
  watch_manager& operator=(const watch_manager&) = delete;
  watch_manager(watch_manager&&) noexcept = default;
  watch_manager& operator=(watch_manager&&) noexcept = default;

  // -- registration ----------------------------------------------------------

  /// Registers a watch. ok (also if `session` already holds it: watches are
  /// sets, as in ZooKeeper), quota_exceeded past a limit, bad_arguments for
  /// an invalid `kind`. `path` is taken as given: the caller validates it; a
  /// path no event names simply never fires.
  error_code add_watch(session_id session, std::string_view path,
                       watch_kind kind);

  /// ZooKeeper's checkWatches: ok if `session` holds a watch of `type` on
  /// `path` (children: child; data: data; persistent; persistent_recursive;
  /// any: any kind), else no_watcher. bad_arguments for an invalid `type`.
  error_code check_watches(session_id session, std::string_view path,
                           watcher_type type) const;

  /// ZooKeeper's removeWatches: removes the watches check_watches() would
  /// find (children: child; data: data; persistent: persistent;
  /// persistent_recursive: persistent_recursive; any: all kinds); no_watcher
  /// if there are none. Returns the *WatchRemoved notifications for the
  /// session, one per type, by ascending type: data_watch_removed if a data
  /// watch went, child_watch_removed if a child watch went,
  /// persistent_watch_removed if a persistent or recursive one went. Their
  /// zxid is no_zxid. (A ZooKeeper server sends none of these: its client
  /// library makes them after a successful removeWatches. A ZooKeeper-
  /// protocol front end must therefore not forward them; the native client
  /// receives them with the reply.)
  result<std::vector<notification>>
  remove_watches(session_id session, std::string_view path, watcher_type type);

  /// Drops every watch of `session` (its connection to this node went away).
  /// Returns how many registrations went.
  size_t remove_session(session_id session);

  /// ZooKeeper's SetWatches/SetWatches2, sent by a client on (re)connect
  /// with the watches it holds and `relative_zxid`, the highest zxid it has
  /// seen. Against `tree` (which must have applied at least relative_zxid,
  /// and whose events must all have been fed to on_events()):
  ///  - data path: node missing -> NodeDeleted now; node mzxid >
  ///    relative_zxid -> NodeDataChanged now; else register a data watch;
  ///  - exist path: node exists -> NodeCreated now; else register a data
  ///    watch (ZooKeeper files exist watches as data watches);
  ///  - child path: node missing -> NodeDeleted now; pzxid > relative_zxid
  ///    -> NodeChildrenChanged now; else register a child watch;
  ///  - persistent / recursive paths: register, nothing fires now.
  /// Returns the immediate notifications in ZooKeeper's order (all data
  /// paths in the given order, then exist, then child), with zxid =
  /// tree.last_zxid(), and no dedup (ZooKeeper sends each). An invalid path
  /// counts as a missing node. All or nothing: if the new registrations
  /// would exceed a limit, nothing is registered and the result is
  /// quota_exceeded. Aborts if tree.last_zxid() is below a zxid already fed
  /// to on_events() (the tree is behind the watches).
  result<std::vector<notification>>
  set_watches(session_id session, int64_t relative_zxid,
              const std::vector<std::string>& data_paths,
              const std::vector<std::string>& exist_paths,
              const std::vector<std::string>& child_paths,
              const std::vector<std::string>& persistent_paths,
              const std::vector<std::string>& recursive_paths,
              const data_tree& tree);

  // -- events ----------------------------------------------------------------

  /// Fires the watches for the events of the command applied at `zxid`,
  /// in order (see the top of this file). Aborts unless `zxid` is greater
  /// than every zxid passed before (here or as set_watches' tree state).
  std::vector<notification> on_events(const std::vector<tree_event>& events,
                                      int64_t zxid);

  // -- figures and listings --------------------------------------------------
  //
  // A registration is one (session, path, kind). ZooKeeper's figures (mntr's
  // zk_watch_count, wchs) count (session, path) pairs per table instead, so a
  // persistent watch counts twice there and a data + persistent pair on one
  // path once in its data table.

  /// All registrations.
  size_t watch_count() const noexcept { return watch_count_; }
  /// Registrations of one session.
  size_t watch_count(session_id session) const noexcept;
  /// Registrations on one path.
  size_t path_watch_count(std::string_view path) const noexcept;
  /// Paths with at least one watch.
  size_t path_count() const noexcept { return paths_.size(); }
  /// Sessions with at least one watch.
  size_t session_count() const noexcept { return sessions_.size(); }
  /// Persistent-recursive registrations (ZooKeeper's recursiveWatchQty).
  size_t recursive_watch_count() const noexcept { return recursive_count_; }

  /// True if `session` holds a watch of `kind` on `path`.
  bool has_watch(session_id session, std::string_view path,
                 watch_kind kind) const noexcept;

  /// The watches of `session`, sorted by path, then kind (wchc-style).
  std::vector<watch_info> watches_of(session_id session) const;
  /// The watches on `path`, sorted by session, then kind (wchp-style).
  std::vector<watch_info> watchers_of(std::string_view path) const;
  /// Sessions holding watches, ascending.
  std::vector<session_id> sessions() const;

  const watch_limits& limits() const noexcept { return limits_; }

private:
  /// One session's non-recursive kinds on a path (bits of watch_kind).
  struct watcher {
    session_id session;
    uint8_t kinds = 0;
  };

  /// Everything registered on one path.
  struct path_entry {
    std::string path;                  ///< paths_ keys view this string
    std::vector<watcher> watchers;     ///< sorted by session, kinds != 0
    std::vector<session_id> recursive; ///< sorted
    size_t watch_count = 0;            ///< registrations on this path
  };

  struct session_entry {
    /// Entries where this session holds at least one watch.
    std::unordered_set<path_entry*> entries;
    size_t watch_count = 0;
  };

  struct view_hash {
    size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  path_entry* find_entry(std::string_view path) const noexcept;
  path_entry& entry_for(std::string_view path);
  /// Kinds (all four bits) `session` holds on `e`.
  static uint8_t kinds_of(const path_entry& e, session_id session) noexcept;
  /// Adds the kinds in `add` (none already held) for `session` on `e`.
  void insert(path_entry& e, session_id session, uint8_t add);
  /// Removes the kinds in `mask` `session` holds on `e`; returns them.
  /// May erase `e`.
  uint8_t erase(path_entry& e, session_id session, uint8_t mask);
  /// Bookkeeping after `session` lost `count` registrations on `e`.
  void forget(path_entry& e, session_id session, size_t count,
              bool still_watching);
  /// Erases `e` from paths_ if nothing is registered on it any more.
  void drop_if_empty(path_entry& e);
  /// Fires the exact-path watches on `path`: collects the sessions with any
  /// kind in `match` and clears the kinds in `clear` (non-recursive only).
  void fire_exact(std::string_view path, uint8_t match, uint8_t clear,
                  bool recursive, std::vector<session_id>& hit);
  /// Collects recursive watchers on the strict ancestors of `path`.
  void fire_ancestors(std::string_view path, std::vector<session_id>& hit);

  watch_limits limits_;
  std::unordered_map<std::string_view, std::unique_ptr<path_entry>, view_hash>
    paths_;
  std::unordered_map<session_id, session_entry> sessions_;
  size_t watch_count_ = 0;
  size_t recursive_count_ = 0;
  /// Highest zxid fed so far (on_events, or set_watches' tree state).
  int64_t high_water_ = INT64_MIN;
};

} // namespace conclave
