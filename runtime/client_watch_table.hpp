// client_watch_table: the client library's table of watches (ZooKeeper's
// client-side ZKWatchManager), as a pure, deterministic class (no CAF,
// clock, I/O or logging).
//
// What: the server (watch_manager) sends one notification per event per
// session, however many watches of the session match. The client library
// must turn it into calls to the application listeners that asked for it,
// forget the one-shot registrations that fired, and on reconnect tell the
// server which watches to re-register (SetWatches). Listeners are opaque
// uint64_t ids; the client actor maps them to whatever it delivers to.
//
// Why a class of its own: which registration a notification reaches must
// mirror the server's rules exactly (a listener that is not notified waits
// forever, one notified twice sees a spurious change), and the reconnect
// lists must say precisely what is still wanted; kept pure, both are
// testable against a reference model.
//
// Registrations: a (path, kind, listener) triple, held as a set member
// (adding one twice holds it once). The kinds are ZooKeeper's five client
// tables:
//
//   kind                  registered by              server-side kind
//   data                  getData (node exists),     data
//                         exists (node exists)
//   exist                 exists (node missing)      data
//   child                 getChildren (node exists)  child
//   persistent            addWatch mode 0            persistent
//   persistent_recursive  addWatch mode 1            persistent_recursive
//
// The caller picks the kind from the reply, as ZooKeeper's
// WatchRegistration classes do: exists() files its watch as `data` when the
// node exists and as `exist` on NoNode (on reconnect the server answers an
// exist path whose node exists with NodeCreated at once, so an exists()
// watch on an existing node must go in the data list); getData and
// getChildren register nothing on NoNode. The table itself takes any path
// as given: a path no notification names simply never fires.
//
// Routing (ZKWatchManager.materialize): a notification of type t at path p
// reaches, deduplicated and in ascending listener order,
//
//   NodeCreated(p), NodeDataChanged(p): data and exist on p (one-shot,
//       removed), persistent on p, persistent_recursive on p and on every
//       ancestor of p ("/a/b" has the ancestors "/a" and "/");
//   NodeDeleted(p): data, exist and child on p (one-shot, removed),
//       persistent on p, persistent_recursive on p and its ancestors;
//   NodeChildrenChanged(p): child on p (removed) and persistent on p;
//       recursive watches never see child events;
//   the *WatchRemoved types: nobody (the caller makes those itself when it
//       removes watches, see remove()).
//
// Persistent kinds are only removed by remove(), remove_listener() and
// clear(). State events (ZooKeeper's EventType None: Disconnected,
// SyncConnected, Expired) go to every listener with a registration, see
// listeners(); on expiry the caller then clear()s the table.
//
// Cost: registrations are indexed by path in an ordered map (each path
// entry holds one sorted listener vector per kind; empty entries are
// erased, so memory is proportional to the registrations). A notification
// costs one lookup for its path plus, only while any recursive watch
// exists, one lookup per ancestor. remove_listener() and listeners() scan
// every path. No limits: the server bounds how many watches a session may
// hold.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/watch_manager.hpp"

namespace conclave {

/// A client-side registration kind (see the table at the top).
enum class client_watch_kind : uint8_t {
  data = 0,
  exist = 1,
  child = 2,
  persistent = 3,
  persistent_recursive = 4,
};

class client_watch_table {
public:
  /// The paths to re-register on reconnect, per kind, each sorted and
  /// unique: SetWatches' dataWatches, existWatches, childWatches,
  /// persistentWatches and persistentRecursiveWatches.
  struct watch_lists {
    std::vector<std::string> data;
    std::vector<std::string> exist;
    std::vector<std::string> child;
    std::vector<std::string> persistent;
    std::vector<std::string> recursive;

    friend bool operator==(const watch_lists& a, const watch_lists& b) {
      return a.data == b.data && a.exist == b.exist && a.child == b.child
             && a.persistent == b.persistent && a.recursive == b.recursive;
    }
    friend bool operator!=(const watch_lists& a, const watch_lists& b) {
      return !(a == b);
    }
  };

  client_watch_table() = default;

  // -- registration ----------------------------------------------------------

  /// Registers `listener` for `kind` on `path`. Returns true if the
  /// registration is new, false if it was already held. Aborts on a `kind`
  /// outside the enum.
  bool add(std::string path, client_watch_kind kind, uint64_t listener);

  /// ZooKeeper's client-side removeWatches: removes the registrations on
  /// `path` of the kinds `type` selects (children: child; data: data and
  /// exist; persistent: persistent; persistent_recursive:
  /// persistent_recursive; any: every kind), only `listener`'s if given.
  /// Returns how many registrations went (0: ZooKeeper's NoWatcher). An
  /// invalid `type` selects nothing.
  size_t remove(std::string_view path, watcher_type type,
                std::optional<uint64_t> listener = std::nullopt);

  /// Whether any registration on `path` still maps to a server-side watch
  /// that `type` selects (children: child; data: data or exist;
  /// persistent: persistent; persistent_recursive: persistent_recursive;
  /// any: every kind). After removing one listener's registrations locally,
  /// the caller asks the server to remove the watch only if this is false:
  /// the server keeps one watch per session for all listeners.
  bool server_still_needs(std::string_view path, watcher_type type) const;

  /// Drops every registration of `listener` (its application actor went
  /// away). Returns how many went.
  size_t remove_listener(uint64_t listener);

  /// Drops everything (the session expired or was closed).
  void clear() noexcept;

  // -- notifications ---------------------------------------------------------

  /// The listeners a notification of `type` at `path` reaches, ascending and
  /// without duplicates; removes the one-shot registrations that fired (see
  /// the top of this file). Returns nothing for the *WatchRemoved types and
  /// for values outside the enum.
  std::vector<uint64_t> on_event(watch_event type, std::string_view path);

  // -- queries ---------------------------------------------------------------

  /// What SetWatches sends on reconnect.
  watch_lists lists() const;

  /// Listeners with at least one registration, ascending: the ones a state
  /// event (Disconnected, SyncConnected, Expired) reaches.
  std::vector<uint64_t> listeners() const;

  /// Whether `listener` holds `kind` on `path`.
  bool contains(std::string_view path, client_watch_kind kind,
                uint64_t listener) const;

  /// Registrations ((path, kind, listener) triples).
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  /// Paths with at least one registration.
  size_t path_count() const noexcept { return paths_.size(); }

private:
  static constexpr size_t kind_count = 5;

  /// Everything registered on one path: per kind (indexed by the enum's
  /// value), the listeners, sorted and unique. At least one is non-empty.
  struct path_entry {
    std::array<std::vector<uint64_t>, kind_count> listeners;
  };

  using path_map = std::map<std::string, path_entry, std::less<>>;

  /// Adds the listeners of `kind` on `path` to `hit`; removes them if
  /// `one_shot`. May erase the entry.
  void collect(std::string_view path, client_watch_kind kind, bool one_shot,
               std::vector<uint64_t>& hit);
  /// Removes the registrations of the kinds in `mask` (bit 1 << kind) on
  /// the entry at `i`, only `listener`'s if given; erases the entry if it
  /// ends up empty. Returns how many went.
  size_t erase(path_map::iterator i, uint8_t mask,
               std::optional<uint64_t> listener);

  path_map paths_;
  /// Registrations in total.
  size_t size_ = 0;
  /// persistent_recursive registrations (ancestors are only walked if > 0).
  size_t recursive_count_ = 0;
};

} // namespace conclave
