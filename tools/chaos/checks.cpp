#include "tools/chaos/checks.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace conclave::chaos {

namespace {

/// Violations kept per check; the rest are counted in a note.
constexpr size_t max_violations = 100;
/// Elements, zxids or names listed in one message.
constexpr size_t max_listed = 10;

/// Collects a check's violations, up to max_violations.
class collector {
public:
  collector(check_result& res) : res_(res) {
    // nop
  }

  collector(const collector&) = delete;
  collector& operator=(const collector&) = delete;

  void add(std::string key, std::string message, std::vector<size_t> ops,
           std::vector<size_t> records = {}) {
    if (res_.violations.size() >= max_violations) {
      if (!truncated_)
        res_.notes.push_back("more than " + std::to_string(max_violations)
                             + " violations: only the first are listed");
      truncated_ = true;
      return;
    }
    std::sort(ops.begin(), ops.end());
    ops.erase(std::unique(ops.begin(), ops.end()), ops.end());
    res_.violations.push_back(violation{res_.name, std::move(key),
                                        std::move(message), std::move(ops),
                                        std::move(records)});
  }

private:
  check_result& res_;
  bool truncated_ = false;
};

/// "process P, line L" or "process P, lines A-B" for an operation.
std::string where(const history& h, size_t id) {
  const auto& op = h.operations[id];
  auto s = "process " + std::to_string(op.process()) + ", line"
           + (op.completed() ? "s " : " ") + std::to_string(h.lines[op.invoke]);
  if (op.completed())
    s += "-" + std::to_string(h.lines[op.complete]);
  return s;
}

std::string quoted(const std::string& s) {
  return "\"" + (s.size() <= 40 ? s : s.substr(0, 37) + "...") + "\"";
}

/// Up to max_listed of `items`, comma separated, with "and N more".
std::string listing(const std::vector<std::string>& items) {
  std::string s;
  for (size_t i = 0; i < items.size() && i < max_listed; ++i)
    s += (i > 0 ? ", " : "") + items[i];
  if (items.size() > max_listed)
    s += " and " + std::to_string(items.size() - max_listed) + " more";
  return s;
}

/// Counts operations a check must skip, for one note naming the first.
class skipped {
public:
  explicit skipped(std::string what) : what_(std::move(what)) {
    // nop
  }

  void add(const std::string& where) {
    if (count_++ == 0)
      first_ = where;
  }

  void note(check_result& res) const {
    if (count_ > 0)
      res.notes.push_back(std::to_string(count_) + " " + what_
                          + " (first: " + first_ + ")");
  }

private:
  std::string what_;
  size_t count_ = 0;
  std::string first_;
};

bool ok_op(const operation& op) {
  return op.outcome == Record::ok;
}

/// For each session, the ok operation invoked last: the session was alive at
/// every position before that invoke.
std::unordered_map<int64_t, size_t> last_proof_of_life(const history& h) {
  std::unordered_map<int64_t, size_t> out;
  for (size_t i = 0; i < h.operations.size(); ++i) {
    const auto& op = h.operations[i];
    if (!ok_op(op) || op.op.session() == 0)
      continue;
    auto [it, added] = out.emplace(op.op.session(), i);
    if (!added && h.operations[it->second].invoke < op.invoke)
      it->second = i;
  }
  return out;
}

/// Whether session `s` is proven alive after position `pos`: the op that
/// proves it, or never.
size_t alive_after(const history& h,
                   const std::unordered_map<int64_t, size_t>& proofs,
                   int64_t session, size_t pos) {
  if (session == 0)
    return never;
  auto i = proofs.find(session);
  if (i == proofs.end() || h.operations[i->second].invoke <= pos)
    return never;
  return i->second;
}

/// The number a sequential name ends with, if it ends with digits.
std::optional<int64_t> sequence_number(const std::string& name) {
  size_t i = name.size();
  while (i > 0 && name[i - 1] >= '0' && name[i - 1] <= '9')
    --i;
  if (i == name.size() || name.size() - i > 18)
    return std::nullopt;
  int64_t n = 0;
  for (; i < name.size(); ++i)
    n = n * 10 + (name[i] - '0');
  return n;
}

bool under(const std::string& path, const std::string& root, bool recursive) {
  if (path == root)
    return true;
  if (!recursive || path.size() <= root.size()
      || path.compare(0, root.size(), root) != 0)
    return false;
  return root == "/" || path[root.size()] == '/';
}

/// The watch event type a change causes at its own path.
std::string event_type_of(const std::string& f) {
  if (f == "delete")
    return "deleted";
  if (f == "write" || f == "cas")
    return "data_changed";
  return "created";
}

/// Operations ordered by a position (invoke or complete).
std::vector<size_t> sorted_by(const history& h, std::vector<size_t> ids,
                              bool by_complete) {
  std::sort(ids.begin(), ids.end(), [&](size_t x, size_t y) {
    const auto& a = h.operations[x];
    const auto& b = h.operations[y];
    return by_complete ? a.complete < b.complete : a.invoke < b.invoke;
  });
  return ids;
}

} // namespace

// -- plain reads ---------------------------------------------------------------

check_result check_plain_reads(const history& h) {
  check_result res;
  res.name = "plain-reads";
  collector out{res};
  std::map<std::pair<std::string, int64_t>, size_t> writes; // (key, zxid)
  for (size_t i = 0; i < h.operations.size(); ++i) {
    const auto& op = h.operations[i];
    if (ok_op(op) && (op.f() == "write" || op.f() == "cas") && op.op.zxid() > 0)
      writes.emplace(std::make_pair(op.key(), op.op.zxid()), i);
  }
  // Per (process, key): the highest mzxid seen and the op that showed it.
  std::map<std::pair<int64_t, std::string>, std::pair<int64_t, size_t>> seen;
  size_t unjudged = 0;
  for (size_t i = 0; i < h.operations.size(); ++i) {
    const auto& op = h.operations[i];
    if (!ok_op(op))
      continue;
    auto zxid = op.op.zxid();
    if (op.f() == "read") {
      if (zxid <= 0) {
        unjudged += op.op.plain() && op.op.has_value() ? 1 : 0;
        continue;
      }
      ++res.checked;
      auto& s = seen[{op.process(), op.key()}];
      if (zxid < s.first)
        out.add(op.key(),
                "read of " + op.key() + " (" + where(h, i)
                  + ") went back in time: mzxid " + std::to_string(zxid)
                  + " after the process saw mzxid " + std::to_string(s.first)
                  + " (" + where(h, s.second) + ")",
                {s.second, i});
      auto w = writes.find({op.key(), zxid});
      if (w != writes.end()) {
        const auto& wr = h.operations[w->second].op;
        if (!op.op.has_value() || op.op.value() != wr.value())
          out.add(op.key(),
                  "read of " + op.key() + " (" + where(h, i) + ") returned "
                    + (op.op.has_value() ? quoted(op.op.value())
                                         : std::string{"missing"})
                    + " with mzxid " + std::to_string(zxid)
                    + ", but the write with that zxid wrote "
                    + quoted(wr.value()) + " (" + where(h, w->second) + ")",
                  {w->second, i});
      }
      if (zxid > s.first)
        s = {zxid, i};
    } else if ((op.f() == "write" || op.f() == "cas") && zxid > 0) {
      auto& s = seen[{op.process(), op.key()}];
      if (zxid > s.first)
        s = {zxid, i};
    }
  }
  if (unjudged > 0)
    res.notes.push_back(std::to_string(unjudged)
                        + " plain reads without a zxid not checked");
  return res;
}

// -- set -----------------------------------------------------------------------

check_result check_set(const history& h) {
  check_result res;
  res.name = "set";
  collector out{res};
  std::map<std::string, std::vector<size_t>> adds;
  std::map<std::string, std::vector<size_t>> reads;
  for (size_t i = 0; i < h.operations.size(); ++i) {
    const auto& op = h.operations[i];
    if (op.f() == "add")
      adds[op.key()].push_back(i);
    else if (op.f() == "read_set" && ok_op(op))
      reads[op.key()].push_back(i);
  }
  for (const auto& [key, add_ids] : adds) {
    if (reads.find(key) == reads.end())
      res.notes.push_back("set " + key + ": " + std::to_string(add_ids.size())
                          + " adds but no ok read_set: not checked");
  }
  for (const auto& [key, read_ids_unsorted] : reads) {
    auto read_ids = sorted_by(h, read_ids_unsorted, true);
    const auto& add_ids = adds[key];
    // Each element's adds.
    std::map<std::string, std::vector<size_t>> adds_of;
    for (auto a : add_ids)
      adds_of[h.operations[a].op.value()].push_back(a);
    std::set<std::string> reported_lost;
    std::set<std::string> reported_vanished;
    auto final_read = read_ids.back();
    for (auto r : read_ids) {
      ++res.checked;
      const auto& read = h.operations[r];
      auto which
        = r == final_read ? std::string{"final read"} : std::string{"read"};
      std::map<std::string, size_t> count;
      for (const auto& v : read.op.values())
        ++count[v];
      std::vector<std::string> dups;
      std::vector<std::string> unexpected;
      std::vector<size_t> unexpected_ops{r};
      for (const auto& [v, n] : count) {
        if (n > 1)
          dups.push_back(quoted(v) + " x" + std::to_string(n));
        // Someone must have tried to add it, and not definitely failed.
        auto a = adds_of.find(v);
        bool attempted = false;
        bool failed = false;
        if (a != adds_of.end()) {
          for (auto id : a->second) {
            const auto& add = h.operations[id];
            if (add.invoke >= read.complete)
              continue;
            if (add.outcome == Record::fail) {
              failed = true;
              unexpected_ops.push_back(id);
            } else {
              attempted = true;
            }
          }
        }
        if (!attempted)
          unexpected.push_back(quoted(v) + (failed ? " (its add failed)" : ""));
      }
      if (!dups.empty())
        out.add(key,
                "set " + key + ": " + which + " (" + where(h, r)
                  + ") returned elements more than once: " + listing(dups),
                {r});
      if (!unexpected.empty())
        out.add(key,
                "set " + key + ": " + which + " (" + where(h, r)
                  + ") returned elements nobody added: " + listing(unexpected),
                unexpected_ops);
      // Acknowledged adds completed before this read was invoked.
      std::vector<std::string> lost;
      std::vector<size_t> lost_ops{r};
      for (auto a : add_ids) {
        const auto& add = h.operations[a];
        const auto& v = add.op.value();
        if (!ok_op(add) || add.complete >= read.invoke || count.count(v) > 0
            || reported_lost.count(v) > 0)
          continue;
        reported_lost.insert(v);
        lost.push_back(quoted(v));
        if (lost_ops.size() <= max_listed)
          lost_ops.push_back(a);
      }
      if (!lost.empty())
        out.add(key,
                "set " + key + ": " + std::to_string(lost.size())
                  + " acknowledged adds missing from the " + which + " ("
                  + where(h, r) + "): " + listing(lost),
                lost_ops);
      // Elements seen by a read that completed before this one began.
      std::vector<std::string> vanished;
      std::vector<size_t> vanished_ops{r};
      for (auto earlier : read_ids) {
        const auto& e = h.operations[earlier];
        if (e.complete >= read.invoke)
          break;
        for (const auto& v : e.op.values()) {
          if (count.count(v) > 0 || reported_vanished.count(v) > 0
              || reported_lost.count(v) > 0)
            continue;
          reported_vanished.insert(v);
          vanished.push_back(quoted(v));
          if (vanished_ops.size() <= max_listed)
            vanished_ops.push_back(earlier);
        }
      }
      if (!vanished.empty())
        out.add(key,
                "set " + key + ": elements an earlier read returned are "
                  + "missing from the " + which + " (" + where(h, r)
                  + "): " + listing(vanished),
                vanished_ops);
    }
  }
  return res;
}

// -- sequential ----------------------------------------------------------------

check_result check_sequential(const history& h) {
  check_result res;
  res.name = "sequential";
  collector out{res};
  std::map<std::string, std::vector<size_t>> creates;
  std::map<std::string, size_t> first_with_name;
  skipped unnamed{"ok create_seq without a name (value) not checked"};
  skipped unnumbered{"names without a sequence number not ordered"};
  for (size_t i = 0; i < h.operations.size(); ++i) {
    const auto& op = h.operations[i];
    if (op.f() != "create_seq" || !ok_op(op))
      continue;
    if (!op.op.has_value()) {
      unnamed.add(where(h, i));
      continue;
    }
    ++res.checked;
    const auto& name = op.op.value();
    auto [it, added] = first_with_name.emplace(name, i);
    if (!added)
      out.add(op.key(),
              "sequential name " + quoted(name) + " returned twice: "
                + where(h, it->second) + " and " + where(h, i),
              {it->second, i});
    else
      creates[op.key()].push_back(i);
  }
  for (const auto& [key, ids] : creates) {
    std::vector<std::pair<size_t, int64_t>> numbered; // op, sequence
    for (auto id : ids) {
      if (auto n = sequence_number(h.operations[id].op.value()))
        numbered.emplace_back(id, *n);
      else
        unnumbered.add(quoted(h.operations[id].op.value()));
    }
    // Sequence numbers grow with zxids.
    std::vector<std::pair<size_t, int64_t>> by_zxid;
    for (auto& x : numbered)
      if (h.operations[x.first].op.zxid() > 0)
        by_zxid.push_back(x);
    std::sort(by_zxid.begin(), by_zxid.end(), [&](auto& x, auto& y) {
      auto zx = h.operations[x.first].op.zxid();
      auto zy = h.operations[y.first].op.zxid();
      return std::tie(zx, x.second) < std::tie(zy, y.second);
    });
    // Indexes into by_zxid (never: none yet): the highest sequence of the
    // lower zxids, and of the current zxid.
    size_t prev_max = never;
    size_t group_max = never;
    int64_t group_zxid = -1;
    for (size_t i = 0; i < by_zxid.size(); ++i) {
      auto [id, seq] = by_zxid[i];
      auto z = h.operations[id].op.zxid();
      if (z != group_zxid) {
        if (group_max != never
            && (prev_max == never
                || by_zxid[group_max].second > by_zxid[prev_max].second))
          prev_max = group_max;
        group_max = never;
        group_zxid = z;
      }
      if (prev_max != never && seq <= by_zxid[prev_max].second) {
        auto prev_id = by_zxid[prev_max].first;
        const auto& p = h.operations[prev_id].op;
        out.add(key,
                "sequential " + quoted(h.operations[id].op.value())
                  + " created at zxid " + std::to_string(z) + " ("
                  + where(h, id) + ") does not follow " + quoted(p.value())
                  + " created at zxid " + std::to_string(p.zxid()) + " ("
                  + where(h, prev_id) + ")",
                {prev_id, id});
      }
      if (group_max == never || seq > by_zxid[group_max].second)
        group_max = i;
    }
    // ... and with real time.
    std::vector<size_t> plain_ids;
    std::map<size_t, int64_t> seq_of;
    for (auto& x : numbered) {
      plain_ids.push_back(x.first);
      seq_of[x.first] = x.second;
    }
    auto by_invoke = sorted_by(h, plain_ids, false);
    auto by_complete = sorted_by(h, plain_ids, true);
    size_t j = 0;
    size_t best = never; // highest sequence completed so far
    for (auto id : by_invoke) {
      const auto& op = h.operations[id];
      while (j < by_complete.size()
             && h.operations[by_complete[j]].complete < op.invoke) {
        if (best == never || seq_of[by_complete[j]] > seq_of[best])
          best = by_complete[j];
        ++j;
      }
      if (best != never && seq_of[id] <= seq_of[best])
        out.add(key,
                "sequential " + quoted(op.op.value()) + " (" + where(h, id)
                  + ") was created after "
                  + quoted(h.operations[best].op.value()) + " ("
                  + where(h, best)
                  + ") completed, but has a lower sequence number",
                {best, id});
    }
  }
  unnamed.note(res);
  unnumbered.note(res);
  return res;
}

// -- sessions ------------------------------------------------------------------

check_result check_sessions(const history& h, const check_options& opts) {
  check_result res;
  res.name = "sessions";
  collector out{res};
  std::map<std::string, std::vector<size_t>> ephemerals; // ok and info
  std::map<std::string, std::vector<size_t>> creates;    // of any kind
  std::map<std::string, std::vector<size_t>> deletes;    // any outcome
  std::vector<size_t> observations;
  size_t plain = 0;
  for (size_t i = 0; i < h.operations.size(); ++i) {
    const auto& op = h.operations[i];
    const auto& f = op.f();
    if (f == "create_ephemeral" && op.outcome != Record::fail)
      ephemerals[op.key()].push_back(i);
    if ((f == "create_ephemeral" || f == "create")
        && op.outcome != Record::fail)
      creates[op.key()].push_back(i);
    if (f == "delete")
      deletes[op.key()].push_back(i);
    if (f == "exists" && ok_op(op) && op.op.has_found()) {
      if (op.op.plain())
        ++plain;
      else
        observations.push_back(i);
    }
  }
  if (ephemerals.empty())
    return res;
  if (plain > 0)
    res.notes.push_back(std::to_string(plain)
                        + " plain exists not checked (they may lag)");
  std::vector<size_t> kills;
  for (auto pos : h.events)
    if (h.records[pos].f() == "kill")
      kills.push_back(pos);
  auto proofs = last_proof_of_life(h);
  std::set<size_t> unbounded_kills;
  for (auto o : observations) {
    const auto& obs = h.operations[o];
    const auto& path = obs.key();
    auto e = ephemerals.find(path);
    if (e == ephemerals.end())
      continue;
    ++res.checked;
    for (auto id : e->second) {
      const auto& eph = h.operations[id];
      auto session = eph.op.session();
      if (!obs.op.found()) {
        // Missing: wrong if created before, alive after, and not deleted.
        if (!ok_op(eph) || eph.complete >= obs.invoke)
          continue;
        auto proof = alive_after(h, proofs, session, obs.complete);
        if (proof == never)
          continue;
        bool may_be_deleted = false;
        for (auto d : deletes[path]) {
          const auto& del = h.operations[d];
          may_be_deleted
            = may_be_deleted
              || (del.invoke < obs.complete && del.complete > eph.invoke);
        }
        if (may_be_deleted)
          continue;
        out.add(path,
                "ephemeral " + path + " of session " + std::to_string(session)
                  + " (created " + where(h, id) + ") was not found ("
                  + where(h, o) + ") while the session was alive (ok operation "
                  + where(h, proof) + ") and nobody deleted it",
                {id, o, proof});
        continue;
      }
      // Found: wrong if its session was killed longer ago than the bound.
      for (auto k : kills) {
        const auto& kill = h.records[k];
        if (kill.session() != session || session == 0 || eph.invoke > k)
          continue;
        auto bound
          = kill.timeout_ns() > 0 ? kill.timeout_ns() : opts.session_bound_ns;
        if (bound <= 0) {
          if (unbounded_kills.insert(k).second)
            res.notes.push_back("kill of session " + std::to_string(session)
                                + " (line " + std::to_string(h.lines[k])
                                + ") has no bound: not checked");
          continue;
        }
        auto seen_at = h.records[obs.invoke].time_ns();
        if (kill.time_ns() <= 0 || seen_at <= 0 || obs.invoke < k
            || seen_at - kill.time_ns() <= bound)
          continue;
        // Someone else may have created the path again since.
        bool recreated = false;
        for (auto c : creates[path]) {
          const auto& cr = h.operations[c];
          recreated
            = recreated
              || (c != id && cr.invoke > eph.invoke && cr.invoke < obs.complete
                  && cr.op.session() != session);
        }
        if (recreated)
          continue;
        out.add(path,
                "ephemeral " + path + " of session " + std::to_string(session)
                  + " was still found (" + where(h, o) + ") "
                  + std::to_string((seen_at - kill.time_ns()) / 1000000)
                  + " ms after its client was killed (line "
                  + std::to_string(h.lines[k]) + "), bound "
                  + std::to_string(bound / 1000000) + " ms",
                {id, o}, {k});
      }
    }
  }
  return res;
}

// -- watches -------------------------------------------------------------------

check_result check_watches(const history& h) {
  check_result res;
  res.name = "watches";
  collector out{res};
  // Per process: the positions of its watch events, disconnects, syncs and
  // registrations, in order.
  struct item {
    size_t pos;
    enum { reg, disconnect, sync } kind;
    size_t id; // operation (reg, sync) or record (disconnect)
  };
  std::map<int64_t, std::vector<item>> timeline;
  std::map<std::pair<int64_t, std::string>, std::vector<size_t>> events;
  std::map<int64_t, std::vector<size_t>> events_of_process;
  for (auto pos : h.events) {
    const auto& rec = h.records[pos];
    if (rec.f() == "watch_event") {
      ++res.checked;
      events[{rec.process(), rec.key()}].push_back(pos);
      events_of_process[rec.process()].push_back(pos);
    } else if (rec.f() == "disconnect") {
      timeline[rec.process()].push_back({pos, item::disconnect, pos});
    }
  }
  std::set<std::pair<int64_t, std::string>> watchers;
  for (size_t i = 0; i < h.operations.size(); ++i) {
    const auto& op = h.operations[i];
    if (!ok_op(op))
      continue;
    if (op.f() == "watch") {
      ++res.checked;
      timeline[op.process()].push_back({op.complete, item::reg, i});
      watchers.insert({op.process(), op.key()});
    } else if (op.f() == "sync" && op.op.zxid() > 0) {
      timeline[op.process()].push_back({op.complete, item::sync, i});
    }
  }
  if (res.checked == 0)
    return res;
  for (auto& [p, items] : timeline)
    std::sort(items.begin(), items.end(),
              [](const item& x, const item& y) { return x.pos < y.pos; });
  // Order: per process, in zxid order.
  for (const auto& [process, list] : events_of_process) {
    size_t last = never;
    for (auto pos : list) {
      auto z = h.records[pos].zxid();
      if (z <= 0)
        continue;
      if (last != never && z < h.records[last].zxid())
        out.add(h.records[pos].key(),
                "process " + std::to_string(process) + " got the event of zxid "
                  + std::to_string(z) + " (line " + std::to_string(h.lines[pos])
                  + ") after that of zxid "
                  + std::to_string(h.records[last].zxid()) + " (line "
                  + std::to_string(h.lines[last]) + ")",
                {}, {last, pos});
      if (last == never || z > h.records[last].zxid())
        last = pos;
    }
  }
  // Exactly once, per watch.
  std::map<std::pair<int64_t, std::string>,
           std::map<std::pair<int64_t, std::string>, size_t>>
    delivered; // watcher -> (zxid, path) -> record
  for (const auto& [watcher, list] : events) {
    auto& seen = delivered[watcher];
    std::map<std::tuple<int64_t, std::string, std::string>, size_t> exact;
    for (auto pos : list) {
      const auto& rec = h.records[pos];
      auto [it, added] = exact.emplace(
        std::make_tuple(rec.zxid(), rec.path(), rec.event_type()), pos);
      if (!added && rec.zxid() > 0)
        out.add(watcher.second,
                "process " + std::to_string(watcher.first) + " got "
                  + rec.event_type() + " " + rec.path() + " at zxid "
                  + std::to_string(rec.zxid()) + " twice (lines "
                  + std::to_string(h.lines[it->second]) + " and "
                  + std::to_string(h.lines[pos]) + ")",
                {}, {it->second, pos});
      seen.emplace(std::make_pair(rec.zxid(), rec.path()), pos);
    }
  }
  // The changes everybody made.
  struct change {
    int64_t zxid;
    std::string path;
    size_t op;
  };
  std::vector<change> changes;
  for (size_t i = 0; i < h.operations.size(); ++i) {
    const auto& op = h.operations[i];
    if (ok_op(op) && is_mutation(op.f()) && op.op.zxid() > 0)
      changes.push_back({op.op.zxid(), changed_path(op.op), i});
  }
  // None missing, per watch, within the ranges it covered.
  for (const auto& watcher : watchers) {
    auto [process, key] = watcher;
    std::vector<std::pair<int64_t, int64_t>> ranges; // (from, to]
    bool open = false;
    bool recursive = false;
    int64_t start = 0;
    int64_t covered = 0;
    size_t last_reg = never;
    for (const auto& it : timeline[process]) {
      if (it.kind == item::reg) {
        const auto& op = h.operations[it.id];
        if (op.key() != key)
          continue;
        last_reg = it.id;
        if (open)
          continue; // still covered by the registration before
        if (op.op.zxid() <= 0) {
          res.notes.push_back("watch of " + key + " without a zxid ("
                              + where(h, it.id) + "): gaps not checked");
          continue;
        }
        open = true;
        recursive = op.op.recursive();
        start = covered = op.op.zxid();
      } else if (it.kind == item::sync) {
        if (open)
          covered = std::max(covered, h.operations[it.id].op.zxid());
      } else if (open) { // disconnect
        covered = std::max(covered, h.records[it.id].zxid());
        if (covered > start)
          ranges.emplace_back(start, covered);
        open = false;
      }
    }
    if (open && covered > start)
      ranges.emplace_back(start, covered);
    const auto& seen = delivered[watcher];
    std::vector<std::string> missing;
    std::vector<size_t> missing_ops;
    for (const auto& c : changes) {
      if (!under(c.path, key, recursive))
        continue;
      auto d = seen.find({c.zxid, c.path});
      if (d == seen.end()) {
        bool in_range = false;
        for (auto& [from, to] : ranges)
          in_range = in_range || (c.zxid > from && c.zxid <= to);
        if (!in_range)
          continue;
        missing.push_back(h.operations[c.op].f() + " " + c.path + " at zxid "
                          + std::to_string(c.zxid));
        if (missing_ops.size() < max_listed)
          missing_ops.push_back(c.op);
        continue;
      }
      const auto& ev = h.records[d->second];
      auto want = event_type_of(h.operations[c.op].f());
      if (!ev.event_type().empty() && ev.event_type() != want)
        out.add(key,
                "process " + std::to_string(process) + " got " + ev.event_type()
                  + " " + c.path + " at zxid " + std::to_string(c.zxid)
                  + " (line " + std::to_string(h.lines[d->second]) + ") for a "
                  + h.operations[c.op].f() + " (" + where(h, c.op) + ")",
                {c.op}, {d->second});
    }
    if (!missing.empty()) {
      if (last_reg != never)
        missing_ops.push_back(last_reg);
      out.add(key,
              "watch of " + key + " by process " + std::to_string(process)
                + " missed " + std::to_string(missing.size())
                + " changes it covered: " + listing(missing),
              missing_ops);
    }
  }
  return res;
}

// -- locks ---------------------------------------------------------------------

check_result check_locks(const history& h) {
  check_result res;
  res.name = "locks";
  collector out{res};
  std::map<std::string, std::vector<size_t>> grants;
  std::map<std::string, std::vector<size_t>> fenced;
  std::map<std::string, std::vector<size_t>> releases;
  skipped tokenless{"ok acquire without a token not checked"};
  for (size_t i = 0; i < h.operations.size(); ++i) {
    const auto& op = h.operations[i];
    if (op.f() == "acquire" && ok_op(op)) {
      if (op.op.has_token())
        grants[op.key()].push_back(i);
      else
        tokenless.add(where(h, i));
    } else if (op.f() == "fenced_write" && ok_op(op) && op.op.has_token()) {
      fenced[op.key()].push_back(i);
    } else if (op.f() == "release") {
      releases[op.key()].push_back(i);
    }
  }
  tokenless.note(res);
  auto proofs = last_proof_of_life(h);
  auto token = [&](size_t id) { return h.operations[id].op.token(); };
  for (const auto& [key, ids] : grants) {
    res.checked += ids.size();
    // No token granted twice.
    std::map<int64_t, size_t> first;
    for (auto id : ids) {
      auto [it, added] = first.emplace(token(id), id);
      if (!added)
        out.add(key,
                "lock " + key + ": token " + std::to_string(token(id))
                  + " granted twice: " + where(h, it->second) + " and "
                  + where(h, id),
                {it->second, id});
    }
    // Tokens increase with real time.
    auto by_invoke = sorted_by(h, ids, false);
    auto by_complete = sorted_by(h, ids, true);
    size_t j = 0;
    size_t best = never;
    for (auto id : by_invoke) {
      while (j < by_complete.size()
             && h.operations[by_complete[j]].complete
                  < h.operations[id].invoke) {
        if (best == never || token(by_complete[j]) > token(best))
          best = by_complete[j];
        ++j;
      }
      if (best != never && token(id) < token(best))
        out.add(key,
                "lock " + key + ": token " + std::to_string(token(id)) + " ("
                  + where(h, id) + ") granted after token "
                  + std::to_string(token(best)) + " (" + where(h, best) + ")",
                {best, id});
    }
    // No grant while an earlier holder, proven alive, has not released.
    for (auto a : ids) {
      const auto& hold = h.operations[a];
      auto release = never;
      for (auto r : releases[key]) {
        const auto& rel = h.operations[r];
        if (rel.process() == hold.process() && rel.invoke > hold.complete
            && (!rel.op.has_token() || rel.op.token() == hold.op.token()))
          release = std::min(release, rel.invoke);
      }
      for (auto b : ids) {
        const auto& other = h.operations[b];
        if (b == a || other.invoke < hold.complete || other.complete >= release)
          continue;
        auto proof = alive_after(h, proofs, hold.op.session(), other.complete);
        if (proof == never)
          continue;
        out.add(key,
                "lock " + key + ": two holders: token "
                  + std::to_string(token(b)) + " granted (" + where(h, b)
                  + ") while the holder of token " + std::to_string(token(a))
                  + " (" + where(h, a)
                  + ") had not released it and its session was alive ("
                  + where(h, proof) + ")",
                {a, b, proof});
      }
    }
  }
  // Fenced writes: none older than a token already granted or accepted.
  for (const auto& [key, ids] : fenced) {
    res.checked += ids.size();
    std::vector<size_t> evidence = ids;
    auto g = grants.find(key);
    if (g != grants.end())
      evidence.insert(evidence.end(), g->second.begin(), g->second.end());
    auto by_invoke = sorted_by(h, ids, false);
    auto by_complete = sorted_by(h, evidence, true);
    size_t j = 0;
    size_t best = never;
    for (auto id : by_invoke) {
      while (j < by_complete.size()
             && h.operations[by_complete[j]].complete
                  < h.operations[id].invoke) {
        if (best == never || token(by_complete[j]) > token(best))
          best = by_complete[j];
        ++j;
      }
      if (best != never && token(id) < token(best))
        out.add(
          key,
          "lock " + key + ": fenced write with token "
            + std::to_string(token(id)) + " (" + where(h, id)
            + ") succeeded after token " + std::to_string(token(best)) + " was "
            + (h.operations[best].f() == "acquire" ? "granted" : "accepted")
            + " (" + where(h, best) + ")",
          {best, id});
    }
  }
  return res;
}

std::vector<check_result> run_checks(const history& h,
                                     const check_options& opts) {
  return {check_plain_reads(h),    check_set(h),     check_sequential(h),
          check_sessions(h, opts), check_watches(h), check_locks(h)};
}

} // namespace conclave::chaos
