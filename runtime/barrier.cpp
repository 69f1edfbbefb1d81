#include "runtime/barrier.hpp"

#include <algorithm>
#include <vector>

namespace conclave {

using recipe_detail::clock_type;
using recipe_detail::outcome_unknown;
using recipe_detail::wait_result;

barrier::barrier(blocking_client& client, std::string path, size_t count,
                 std::string name)
    : client_(client), path_(std::move(path)), count_(count),
      name_(std::move(name)), node_(path_ + "/" + name_),
      ready_(path_ + "/" + ready_name) {}

barrier::~barrier() {
  if (joined_)
    client_.remove(node_);
}

bool barrier::fail(error_code why) {
  last_error_ = why;
  if (why == error_code::session_expired)
    joined_ = false; // the cluster removed the node with the session
  return false;
}

bool barrier::join(clock_type::time_point deadline) {
  for (;;) {
    auto made = client_.create(node_, "", create_mode::ephemeral);
    if (made) {
      joined_ = true;
      return true;
    }
    if (made.error == error_code::node_exists) {
      // Ours (enter() again, or a create whose reply was lost), or taken.
      auto st = client_.exists(node_);
      auto session = client_.connect();
      if (st && session && st.value.ephemeral_owner == session.value) {
        joined_ = true;
        return true;
      }
      if (st || st.error != error_code::no_node)
        return fail(st ? error_code::node_exists : st.error);
      continue; // gone meanwhile: create it again
    }
    if (!outcome_unknown(made.error) || clock_type::now() >= deadline)
      return fail(made.error);
  }
}

bool barrier::enter(std::chrono::milliseconds timeout,
                    const cancel_check& cancelled) {
  last_error_ = error_code::ok;
  if (count_ == 0 || name_.empty() || name_ == ready_name
      || name_.find('/') != std::string::npos)
    return fail(error_code::bad_arguments);
  auto deadline = clock_type::now() + timeout;
  auto made = recipe_detail::ensure_path(client_, path_, deadline);
  if (made != error_code::ok)
    return fail(made);
  if (!join(deadline))
    return false;
  for (;;) {
    if ((cancelled && cancelled()) || clock_type::now() >= deadline) {
      // Give up: leave again, so that we are not counted.
      client_.remove(node_);
      joined_ = false;
      return fail(error_code::operation_timeout);
    }
    // The watch first: a ready node created after this read fires it.
    auto ready = client_.exists(ready_, true);
    if (ready)
      return true;
    if (ready.error != error_code::no_node) {
      if (outcome_unknown(ready.error))
        continue;
      return fail(ready.error);
    }
    auto kids = client_.children(path_);
    if (!kids) {
      if (outcome_unknown(kids.error))
        continue;
      return fail(kids.error);
    }
    auto present
      = std::count_if(kids.value.names.begin(), kids.value.names.end(),
                      [](const std::string& n) { return n != ready_name; });
    if (static_cast<size_t>(present) >= count_) {
      // We complete the count: release everybody.
      auto r = client_.create(ready_, "");
      if (r || r.error == error_code::node_exists)
        return true;
      if (outcome_unknown(r.error))
        continue;
      return fail(r.error);
    }
    auto waited
      = recipe_detail::wait_for_event(client_, ready_, deadline, cancelled);
    if (waited == wait_result::expired)
      return fail(error_code::session_expired);
  }
}

bool barrier::leave(std::chrono::milliseconds timeout,
                    const cancel_check& cancelled) {
  last_error_ = error_code::ok;
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if ((cancelled && cancelled()) || clock_type::now() >= deadline)
      return fail(error_code::operation_timeout);
    auto kids = client_.children(path_);
    if (!kids) {
      if (kids.error == error_code::no_node) {
        joined_ = false;
        return true; // no barrier, nobody in it
      }
      if (outcome_unknown(kids.error))
        continue;
      return fail(kids.error);
    }
    std::vector<std::string> names;
    for (auto& n : kids.value.names)
      if (n != ready_name)
        names.push_back(std::move(n));
    std::sort(names.begin(), names.end());
    if (names.empty()) {
      joined_ = false;
      return true;
    }
    bool mine = std::find(names.begin(), names.end(), name_) != names.end();
    if (mine && names.size() == 1) {
      // The last one out: leave, and take the ready node along.
      auto r = client_.remove(node_);
      if (!r && r.error != error_code::no_node) {
        if (outcome_unknown(r.error))
          continue;
        return fail(r.error);
      }
      joined_ = false;
      client_.remove(ready_);
      return true;
    }
    std::string awaited;
    if (mine && names.front() == name_) {
      // The lowest leaves last: wait for the highest to go.
      awaited = path_ + "/" + names.back();
    } else {
      if (mine) {
        auto r = client_.remove(node_);
        if (!r && r.error != error_code::no_node) {
          if (outcome_unknown(r.error))
            continue;
          return fail(r.error);
        }
        joined_ = false;
      }
      awaited = path_ + "/" + names.front();
    }
    // getData leaves a watch only on an existing node (it fires on delete).
    auto got = client_.get(awaited, true);
    if (!got) {
      if (got.error == error_code::no_node || outcome_unknown(got.error))
        continue;
      return fail(got.error);
    }
    auto waited
      = recipe_detail::wait_for_event(client_, awaited, deadline, cancelled);
    if (waited == wait_result::expired)
      return fail(error_code::session_expired);
  }
}

} // namespace conclave
