#include "runtime/distributed_lock.hpp"

#include <algorithm>
#include <random>

namespace conclave {

// -- helpers shared by the recipes -------------------------------------------

namespace recipe_detail {

namespace {

constexpr size_t tag_digits = 16;
constexpr size_t sequence_digits = 10;

bool all_of_digits(std::string_view s, bool hex) {
  return std::all_of(s.begin(), s.end(), [hex](char c) {
    return (c >= '0' && c <= '9') || (hex && c >= 'a' && c <= 'f');
  });
}

} // namespace

std::vector<queue_entry> sorted_queue(const std::vector<std::string>& names,
                                      std::string_view prefix) {
  std::vector<queue_entry> out;
  for (const auto& name : names) {
    std::string_view n{name};
    if (n.size() != prefix.size() + tag_digits + 1 + sequence_digits
        || n.substr(0, prefix.size()) != prefix)
      continue;
    auto tag = n.substr(prefix.size(), tag_digits);
    auto dash = n[prefix.size() + tag_digits];
    auto seq = n.substr(n.size() - sequence_digits);
    if (!all_of_digits(tag, true) || dash != '-' || !all_of_digits(seq, false))
      continue;
    out.push_back(queue_entry{std::stoll(std::string{seq}), name});
  }
  std::sort(out.begin(), out.end(),
            [](const queue_entry& a, const queue_entry& b) {
              return a.sequence < b.sequence;
            });
  return out;
}

std::string random_tag() {
  std::random_device rd;
  uint64_t bits = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(tag_digits, '0');
  for (size_t i = 0; i < tag_digits; ++i)
    out[i] = hex[(bits >> (4 * (tag_digits - 1 - i))) & 0xF];
  return out;
}

error_code ensure_path(blocking_client& client, std::string_view path,
                       clock_type::time_point deadline) {
  auto there = client.exists(path);
  if (there || there.error == error_code::session_expired)
    return there.error;
  // Create every ancestor, then the node itself; existing ones are fine.
  size_t pos = 0;
  while (pos != std::string_view::npos) {
    pos = path.find('/', pos + 1);
    auto prefix = path.substr(0, pos);
    for (;;) {
      auto made = client.create(prefix, "");
      if (made || made.error == error_code::node_exists)
        break;
      if (!outcome_unknown(made.error) || clock_type::now() >= deadline)
        return made.error;
    }
  }
  return error_code::ok;
}

wait_result wait_for_event(blocking_client& client, std::string_view path,
                           clock_type::time_point deadline,
                           const cancel_check& cancelled) {
  using std::chrono::milliseconds;
  for (;;) {
    if (cancelled && cancelled())
      return wait_result::cancelled;
    auto now = clock_type::now();
    if (now >= deadline)
      return wait_result::timed_out;
    auto left = std::chrono::ceil<milliseconds>(deadline - now);
    if (cancelled)
      left = std::min(left, milliseconds(50));
    auto ev = client.next_event(left);
    if (!ev)
      continue;
    if (ev->type() == -1) {
      if (ev->state() == static_cast<int32_t>(connection_state::expired))
        return wait_result::expired;
      continue; // disconnected / connected: the client resumes the session
    }
    if (ev->path() == path)
      return wait_result::fired;
    // Someone else's event, or a stale one of an earlier wait: dropped.
  }
}

} // namespace recipe_detail

// -- distributed_lock --------------------------------------------------------

using recipe_detail::clock_type;
using recipe_detail::outcome_unknown;

distributed_lock::distributed_lock(blocking_client& client,
                                   std::string lock_path, std::string data,
                                   std::string prefix)
    : client_(client), path_(std::move(lock_path)), data_(std::move(data)),
      own_prefix_(prefix + recipe_detail::random_tag() + "-"),
      prefix_(std::move(prefix)) {}

distributed_lock::~distributed_lock() {
  if (!node_.empty())
    remove_node(1);
}

void distributed_lock::lost(error_code why) {
  held_ = false;
  node_.clear();
  token_ = 0;
  created_zxid_ = 0;
  last_error_ = why;
}

bool distributed_lock::remove_node(int tries) {
  held_ = false;
  token_ = 0;
  for (int i = 0; i < tries && !node_.empty(); ++i) {
    auto r = client_.remove(node_);
    if (r || r.error == error_code::no_node) {
      node_.clear();
      return true;
    }
    if (r.error == error_code::session_expired) {
      lost(error_code::session_expired);
      return true; // the cluster removed it with the session
    }
    last_error_ = r.error;
    if (!outcome_unknown(r.error))
      break;
  }
  // Not confirmed: keep node_ so that release() can try again. The next
  // acquire() deletes it too (it carries our tag), the session's end at the
  // latest.
  return false;
}

void distributed_lock::abandon() {
  auto why = last_error_;
  remove_node(3);
  if (last_error_ != error_code::session_expired)
    last_error_ = why;
}

std::string
distributed_lock::find_own(const std::vector<std::string>& names) const {
  for (const auto& e : recipe_detail::sorted_queue(names, prefix_))
    if (e.name.compare(0, own_prefix_.size(), own_prefix_) == 0)
      return e.name;
  return {};
}

bool distributed_lock::create_node(clock_type::time_point deadline) {
  node_.clear();
  created_zxid_ = 0;
  for (;;) {
    auto made = client_.create(path_ + "/" + own_prefix_, data_,
                               create_mode::ephemeral_sequential);
    if (made) {
      node_ = made.value;
      // A create's reply zxid is the zxid that created the node: its czxid.
      created_zxid_ = made.zxid;
      return true;
    }
    if (made.error == error_code::session_expired) {
      lost(made.error);
      return false;
    }
    if (made.error == error_code::no_node) {
      // The lock node was deleted meanwhile: make it again.
      auto again = recipe_detail::ensure_path(client_, path_, deadline);
      if (again != error_code::ok) {
        last_error_ = again;
        return false;
      }
      continue;
    }
    if (!outcome_unknown(made.error)) {
      last_error_ = made.error;
      return false;
    }
    // The create may have happened: look for our tag. sync() first, so
    // that the node we read from has applied what the leader committed.
    client_.sync(path_);
    auto kids = client_.children(path_);
    if (kids) {
      auto own = find_own(kids.value.names);
      if (!own.empty()) {
        node_ = path_ + "/" + own;
        return true;
      }
    } else if (kids.error == error_code::session_expired) {
      lost(kids.error);
      return false;
    }
    if (clock_type::now() >= deadline) {
      last_error_ = made.error;
      return false;
    }
  }
}

std::optional<int64_t>
distributed_lock::acquire(std::chrono::milliseconds timeout,
                          const cancel_check& cancelled) {
  last_error_ = error_code::ok;
  if (held_)
    return token_;
  auto deadline = clock_type::now() + timeout;
  auto made = recipe_detail::ensure_path(client_, path_, deadline);
  if (made != error_code::ok) {
    if (made == error_code::session_expired)
      lost(made);
    else
      last_error_ = made;
    return std::nullopt;
  }
  if (!create_node(deadline))
    return std::nullopt;
  auto own_name = node_.substr(path_.size() + 1);
  for (;;) {
    if ((cancelled && cancelled()) || clock_type::now() >= deadline) {
      last_error_ = error_code::operation_timeout;
      abandon();
      return std::nullopt;
    }
    auto kids = client_.children(path_);
    ++queue_reads_;
    if (!kids) {
      if (kids.error == error_code::session_expired) {
        lost(kids.error);
        return std::nullopt;
      }
      if (outcome_unknown(kids.error))
        continue;
      last_error_ = kids.error;
      abandon();
      return std::nullopt;
    }
    // The queue without our stray nodes (duplicates from a create with a
    // lost reply, or leftovers of an earlier timed-out acquire).
    std::vector<recipe_detail::queue_entry> queue;
    bool stray_left = false;
    for (auto& e : recipe_detail::sorted_queue(kids.value.names, prefix_)) {
      if (e.name != own_name
          && e.name.compare(0, own_prefix_.size(), own_prefix_) == 0) {
        auto r = client_.remove(path_ + "/" + e.name);
        if (r || r.error == error_code::no_node)
          continue;
        stray_left = true;
      }
      queue.push_back(std::move(e));
    }
    if (stray_left)
      continue;
    auto mine = std::find_if(queue.begin(), queue.end(),
                             [&](const auto& e) { return e.name == own_name; });
    if (mine == queue.end()) {
      // Deleted behind our back (an operator, or the session ended).
      lost(error_code::no_node);
      return std::nullopt;
    }
    if (mine == queue.begin()) {
      if (created_zxid_ == 0) {
        auto st = client_.exists(node_);
        if (!st) {
          if (st.error == error_code::session_expired
              || st.error == error_code::no_node) {
            lost(st.error);
            return std::nullopt;
          }
          continue;
        }
        created_zxid_ = st.value.czxid;
      }
      token_ = created_zxid_;
      held_ = true;
      return token_;
    }
    // Watch only the predecessor: a release wakes exactly one waiter.
    // getData leaves a watch only if the node exists (exists() would leave
    // one on a missing node that never fires: sequential names are never
    // reused).
    auto predecessor = path_ + "/" + std::prev(mine)->name;
    auto got = client_.get(predecessor, true);
    if (!got) {
      if (got.error == error_code::session_expired) {
        lost(got.error);
        return std::nullopt;
      }
      continue; // gone already (no_node), or connection loss: look again
    }
    using recipe_detail::wait_result;
    auto waited = recipe_detail::wait_for_event(client_, predecessor, deadline,
                                                cancelled);
    if (waited == wait_result::expired) {
      lost(error_code::session_expired);
      return std::nullopt;
    }
    // fired: look again; timed out / cancelled: the loop gives up.
  }
}

bool distributed_lock::release() {
  last_error_ = error_code::ok;
  if (node_.empty()) {
    held_ = false;
    return true;
  }
  return remove_node(3);
}

bool distributed_lock::verify() {
  if (!held_)
    return false;
  auto r = client_.exists(node_);
  if (r)
    return true;
  if (r.error == error_code::no_node || r.error == error_code::session_expired)
    lost(r.error);
  else
    last_error_ = r.error;
  return false;
}

bool distributed_lock::on_event(const pb::WatchEvent& ev) {
  if (node_.empty())
    return false;
  if (ev.type() == -1
      && ev.state() == static_cast<int32_t>(connection_state::expired)) {
    lost(error_code::session_expired);
    return true;
  }
  if (ev.type() == static_cast<int32_t>(event_type::node_deleted)
      && ev.path() == node_) {
    lost(error_code::no_node);
    return true;
  }
  return false;
}

} // namespace conclave
