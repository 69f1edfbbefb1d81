// service_view: the client library's view of ONE service's live instances,
// turning znode observations into gap-free up / down / changed events, as a
// pure, deterministic class (no CAF, clock, I/O or logging).
//
// What: services register as ephemeral znodes /services/<name>/<instance_id>
// whose data describes the instance. A subscriber watches /services/<name>
// with a persistent recursive watch and re-lists all instances after every
// (re)connect. It feeds this view what it learns:
//
//   on_listing(instances, at)  a full listing: every instance present at
//                              zxid `at` (the zxid the read was served at);
//   on_instance(state)         one instance read (after NodeCreated or
//                              NodeDataChanged, say);
//   on_deleted(id, at)         one instance seen gone at zxid `at` (a
//                              NodeDeleted event with its zxid, or a read
//                              answering NoNode at `at`);
//
// and gets back the events to hand to the subscriber. Observations may
// arrive late (reads served before a later event was processed), out of
// order or twice; the view emits every real change exactly once and never
// goes backwards.
//
// Why a class of its own: the ordering rules are subtle and the bugs they
// prevent (a stale listing resurrecting a deleted instance, a late read
// reverting data, a re-registration reported as a mere change) are silent;
// kept pure, the rules are testable against a simulated history.
//
// Knowledge: an instance's incarnation is named by its czxid (a deleted and
// re-created znode has a new, larger czxid) and its version within the
// incarnation by its mzxid. For a live instance (c0, m0), an observation
// (c, m) is
//   - newer data if c == c0 and m > m0: `changed` (never for m <= m0, even
//     if the data differ);
//   - a re-registration if c > c0: `down` of the old state, then `up` of the
//     new one;
//   - stale otherwise, and ignored.
// An instance absent from a listing at `at` is down if the view's knowledge
// of it is no newer than `at` (m0 <= at); if m0 > at (or c0 > at: created
// after the read) the listing is older than what the view knows and it
// stays up. on_deleted(id, at) downs a live instance iff c0 <= at.
//
// Deletions are remembered, so a stale observation cannot resurrect an
// instance: for an id that is not live, an observation of incarnation c is
// accepted (`up`) only if c is newer than both
//   - the id's tombstone: the largest zxid at which it was seen deleted
//     (on_deleted), and
//   - the watermark: the largest `at` of any listing applied. An id absent
//     from (or downed after) the listing at the watermark W, whose
//     incarnation c <= W existed at c, must have been deleted by W (or it
//     would be in that listing, and live, or have a tombstone > W).
// A listing served at `at` >= the id's tombstone and watermark is accepted
// whatever the czxid: it is a complete, current picture. (So a delete and
// re-create of the same path in one multi, sharing a zxid, is put right by
// the next listing.)
//
// Tombstones are bounded: a tombstone at zxid t <= W is redundant with the
// watermark, so each applied listing drops the tombstones whose zxid is <=
// its `at`, and on_deleted() stores none at or below W. Tombstones held are
// thus at most the distinct ids seen deleted since the newest listing,
// which the subscriber re-reads on every reconnect.
//
// Ordering: events are emitted in a deterministic order: by id within a
// listing (and in clear()), and down before up for a re-registration. A
// down carries the last known state of the instance.
//
// A listing is assumed to be a consistent picture at `at`: every instance
// present at `at`, in the state it had at `at` or later (a caller that lists
// children at `at` and then reads each child's data meets this; children
// that answer NoNode are simply left out). Duplicate ids in a listing are
// tolerated: the newest (czxid, then mzxid) counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace conclave {

/// One instance of a service: its znode's name, data and zxids.
struct service_instance_state {
  /// The instance id: the znode's last path component.
  std::string id;
  /// The znode's data, as registered by the instance.
  std::string data;
  /// The zxid of the znode's creation: names the incarnation.
  int64_t czxid = 0;
  /// The zxid of the znode's last modification (czxid if never modified).
  int64_t mzxid = 0;

  friend bool operator==(const service_instance_state& x,
                         const service_instance_state& y) {
    return x.id == y.id && x.data == y.data && x.czxid == y.czxid
           && x.mzxid == y.mzxid;
  }
  friend bool operator!=(const service_instance_state& x,
                         const service_instance_state& y) {
    return !(x == y);
  }
};

enum class service_change_kind {
  /// A new instance (or a new incarnation of a re-registered one).
  up,
  /// An instance went away; carries its last known state.
  down,
  /// A live instance's data changed (strictly newer mzxid).
  changed,
};

/// Returns "up", "down" or "changed".
const char* to_string(service_change_kind kind) noexcept;

/// One event for the subscriber.
struct service_change {
  service_change_kind kind;
  /// up, changed: the new state; down: the last known state.
  service_instance_state instance;

  friend bool operator==(const service_change& x, const service_change& y) {
    return x.kind == y.kind && x.instance == y.instance;
  }
  friend bool operator!=(const service_change& x, const service_change& y) {
    return !(x == y);
  }
};

class service_view {
public:
  service_view() = default;

  // -- observations -----------------------------------------------------------

  /// A full listing served at zxid `at`: every instance present then. Known
  /// instances absent from it go down (unless the view knows them from
  /// after `at`), new ones come up, re-registered ones go down and up,
  /// newer data is changed; older information is ignored. Events by id.
  /// Then raises the watermark to `at` and drops tombstones <= `at`.
  std::vector<service_change>
  on_listing(const std::vector<service_instance_state>& instances, int64_t at);

  /// One instance observed: up if not live (and newer than its tombstone
  /// and the watermark), down + up if its czxid is newer than the live
  /// one's, changed if same czxid and newer mzxid, nothing otherwise.
  std::vector<service_change> on_instance(const service_instance_state& state);

  /// `id` observed gone at zxid `at`: down if live with czxid <= at, else
  /// nothing. Remembers the deletion (a tombstone) if `at` is above the
  /// watermark, whether or not the id was live.
  std::vector<service_change> on_deleted(std::string_view id, int64_t at);

  /// Everything live goes down, in id order, and the view starts over as if
  /// new: no instances, no tombstones, no watermark. Call when the
  /// subscription ends or the session expired and the caller chooses to
  /// report it; then re-list to resume.
  std::vector<service_change> clear();

  // -- queries ----------------------------------------------------------------

  /// Live instances by id.
  const std::map<std::string, service_instance_state>& instances() const {
    return live_;
  }

  size_t size() const noexcept { return live_.size(); }

  /// The live instance `id`, or nullptr.
  const service_instance_state* find(std::string_view id) const;

  /// The largest `at` of any listing applied since construction or clear(),
  /// or no_listing.
  int64_t watermark() const noexcept { return watermark_; }

  /// Deletions remembered (ids seen deleted above the watermark).
  size_t tombstone_count() const noexcept { return tombstones_.size(); }

  /// watermark() before any listing: below every zxid.
  static constexpr int64_t no_listing = std::numeric_limits<int64_t>::min();

private:
  /// The zxid below or at which an incarnation of the non-live `id` is
  /// known to be gone: max(its tombstone, watermark_).
  int64_t gone_through(const std::string& id) const;

  /// `state` comes up: inserts it and drops its tombstone.
  void bring_up(const service_instance_state& state,
                std::vector<service_change>& out);

  /// The live instance at `it` goes down (no tombstone: the caller
  /// records the deletion if it needs to).
  void take_down(std::map<std::string, service_instance_state>::iterator it,
                 std::vector<service_change>& out);

  /// Compares an observation of the live instance at `it` with it:
  /// changed, down + up, or nothing.
  void update_live(std::map<std::string, service_instance_state>::iterator it,
                   const service_instance_state& state,
                   std::vector<service_change>& out);

  /// Records that `id` was seen gone at `at`, if above the watermark.
  void remember_deletion(const std::string& id, int64_t at);

  /// Live instances by id.
  std::map<std::string, service_instance_state> live_;
  /// Ids seen deleted, not live, with the largest zxid at which they were
  /// seen gone; every value is > watermark_.
  std::map<std::string, int64_t> tombstones_;
  /// The largest `at` of any listing applied.
  int64_t watermark_ = no_listing;
};

} // namespace conclave
