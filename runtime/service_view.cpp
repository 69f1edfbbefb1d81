// service_view: see service_view.hpp.

#include "runtime/service_view.hpp"

#include <algorithm>
#include <utility>

namespace conclave {

namespace {

/// Whether `x` is a newer observation than `y` of the same id: a later
/// incarnation, or a later version of the same one.
bool newer(const service_instance_state& x, const service_instance_state& y) {
  return x.czxid != y.czxid ? x.czxid > y.czxid : x.mzxid > y.mzxid;
}

} // namespace

const char* to_string(service_change_kind kind) noexcept {
  switch (kind) {
    case service_change_kind::up:
      return "up";
    case service_change_kind::down:
      return "down";
    case service_change_kind::changed:
      return "changed";
  }
  return "?";
}

// -- observations -------------------------------------------------------------

std::vector<service_change>
service_view::on_listing(const std::vector<service_instance_state>& instances,
                         int64_t at) {
  // The listing by id; of duplicates, the newest counts.
  std::map<std::string, const service_instance_state*> listed;
  for (const auto& state : instances) {
    auto [i, added] = listed.emplace(state.id, &state);
    if (!added && newer(state, *i->second))
      i->second = &state;
  }
  std::vector<service_change> out;
  // Merge the listing with the live instances, in id order.
  auto li = listed.begin();
  auto vi = live_.begin();
  while (li != listed.end() || vi != live_.end()) {
    if (vi == live_.end() || (li != listed.end() && li->first < vi->first)) {
      // Listed, not live: up unless older than what the view knows of its
      // deletion. A listing at or above that zxid is a current picture.
      const auto& state = *li->second;
      auto gone = gone_through(state.id);
      if (at >= gone || state.czxid > gone)
        bring_up(state, out);
      ++li;
    } else if (li == listed.end() || vi->first < li->first) {
      // Live, not listed: down unless the view knows it from after `at`.
      auto next = std::next(vi);
      if (vi->second.mzxid <= at && vi->second.czxid <= at)
        take_down(vi, out);
      vi = next;
    } else {
      // Both: compare. (update_live may replace, never erase, the entry.)
      update_live(vi, *li->second, out);
      ++li;
      ++vi;
    }
  }
  if (at > watermark_) {
    watermark_ = at;
    for (auto i = tombstones_.begin(); i != tombstones_.end();) {
      if (i->second <= at)
        i = tombstones_.erase(i);
      else
        ++i;
    }
  }
  return out;
}

std::vector<service_change>
service_view::on_instance(const service_instance_state& state) {
  std::vector<service_change> out;
  if (auto i = live_.find(state.id); i != live_.end())
    update_live(i, state, out);
  else if (state.czxid > gone_through(state.id))
    bring_up(state, out);
  return out;
}

std::vector<service_change> service_view::on_deleted(std::string_view id,
                                                     int64_t at) {
  std::vector<service_change> out;
  std::string key{id};
  if (auto i = live_.find(key); i != live_.end()) {
    // A deletion older than the live incarnation is stale: that one came
    // later, and a tombstone at `at` would add nothing.
    if (i->second.czxid > at)
      return out;
    take_down(i, out);
  }
  remember_deletion(key, at);
  return out;
}

std::vector<service_change> service_view::clear() {
  std::vector<service_change> out;
  out.reserve(live_.size());
  for (auto& [id, state] : live_)
    out.push_back({service_change_kind::down, std::move(state)});
  live_.clear();
  tombstones_.clear();
  watermark_ = no_listing;
  return out;
}

// -- queries ------------------------------------------------------------------

const service_instance_state* service_view::find(std::string_view id) const {
  auto i = live_.find(std::string{id});
  return i != live_.end() ? &i->second : nullptr;
}

// -- helpers ------------------------------------------------------------------

int64_t service_view::gone_through(const std::string& id) const {
  auto i = tombstones_.find(id);
  return i != tombstones_.end() ? std::max(i->second, watermark_) : watermark_;
}

void service_view::bring_up(const service_instance_state& state,
                            std::vector<service_change>& out) {
  tombstones_.erase(state.id);
  live_.insert_or_assign(state.id, state);
  out.push_back({service_change_kind::up, state});
}

void service_view::take_down(
  std::map<std::string, service_instance_state>::iterator it,
  std::vector<service_change>& out) {
  out.push_back({service_change_kind::down, std::move(it->second)});
  live_.erase(it);
}

void service_view::update_live(
  std::map<std::string, service_instance_state>::iterator it,
  const service_instance_state& state, std::vector<service_change>& out) {
  auto& known = it->second;
  if (state.czxid > known.czxid) {
    // Re-registered: the old incarnation is gone, a new one is up.
    out.push_back({service_change_kind::down, known});
    known = state;
    out.push_back({service_change_kind::up, state});
  } else if (state.czxid == known.czxid && state.mzxid > known.mzxid) {
    known = state;
    out.push_back({service_change_kind::changed, state});
  }
}

void service_view::remember_deletion(const std::string& id, int64_t at) {
  if (at <= watermark_)
    return;
  auto [i, added] = tombstones_.emplace(id, at);
  if (!added)
    i->second = std::max(i->second, at);
}

} // namespace conclave
