#include "tools/chaos/linearizability.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace conclave::chaos {

namespace {

// -- the model ----------------------------------------------------------------

constexpr int32_t missing = -1;

/// A znode: missing, or an interned value with its version and mzxid (0 =
/// set by a write whose zxid is unknown).
struct reg_state {
  int32_t value = missing;
  int64_t version = 0;
  int64_t mzxid = 0;

  friend bool operator==(const reg_state& x, const reg_state& y) {
    return x.value == y.value && x.version == y.version && x.mzxid == y.mzxid;
  }
};

enum class reg_kind { read, write, cas };

/// A register operation, ready for the search.
struct reg_op {
  /// Index into history::operations.
  size_t id = 0;
  /// Positions of the invoke and the completion (`never` for unknown).
  size_t call = 0;
  size_t ret = never;
  reg_kind kind = reg_kind::read;
  /// read: the value read (missing if none); write, cas: the new value.
  int32_t value = missing;
  /// cas: the value required (missing = any).
  int32_t expected = missing;
  std::optional<int64_t> version;
  int64_t zxid = 0;
};

/// Applies `op` to `st`: whether it can happen there, and the state after.
bool step(const reg_state& st, const reg_op& op, reg_state& next) {
  switch (op.kind) {
    case reg_kind::read:
      if (op.value == missing)
        return st.value == missing;
      if (st.value != op.value)
        return false;
      if (op.version && st.version != *op.version)
        return false;
      if (op.zxid != 0 && st.mzxid != 0 && st.mzxid != op.zxid)
        return false;
      next = st;
      return true;
    case reg_kind::write:
      next.value = op.value;
      next.version = st.value == missing ? 0 : st.version + 1;
      next.mzxid = op.zxid;
      return !op.version || next.version == *op.version;
    case reg_kind::cas:
      if (st.value == missing)
        return false;
      if (op.expected != missing && st.value != op.expected)
        return false;
      if (op.version && st.version != *op.version)
        return false;
      next.value = op.value;
      next.version = st.version + 1;
      next.mzxid = op.zxid;
      return true;
  }
  return false;
}

/// The version of `st`, -1 when missing: it never decreases.
int64_t version_of(const reg_state& st) {
  return st.value == missing ? -1 : st.version;
}

/// The highest version the node may have before `op` takes effect, for a
/// completed operation that reports or requires one.
std::optional<int64_t> version_bound(const reg_op& op) {
  if (op.ret == never || !op.version)
    return std::nullopt;
  return op.kind == reg_kind::write ? *op.version - 1 : *op.version;
}

/// Gives a read without a version the version of the value it read, when
/// exactly one write wrote that value and that write reported its version:
/// then the read can only have happened at that version, and the search
/// prunes every order that passes it (the usual case when reads record no
/// version but written values are unique).
void infer_read_versions(std::vector<reg_op>& ops) {
  std::unordered_map<int32_t, std::vector<size_t>> writes_of;
  for (size_t i = 0; i < ops.size(); ++i)
    if (ops[i].kind != reg_kind::read)
      writes_of[ops[i].value].push_back(i);
  for (auto& op : ops) {
    if (op.kind != reg_kind::read || op.version || op.value == missing)
      continue;
    auto w = writes_of.find(op.value);
    if (w == writes_of.end() || w->second.size() != 1)
      continue;
    const auto& src = ops[w->second.front()];
    if (src.ret == never || !src.version)
      continue;
    op.version = src.kind == reg_kind::write ? *src.version : *src.version + 1;
  }
}

// -- the search ---------------------------------------------------------------

struct memo_entry {
  std::vector<uint64_t> linearized;
  reg_state state;

  friend bool operator==(const memo_entry& x, const memo_entry& y) {
    return x.state == y.state && x.linearized == y.linearized;
  }
};

struct memo_hash {
  size_t operator()(const memo_entry& e) const noexcept {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](uint64_t x) {
      h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    };
    for (auto w : e.linearized)
      mix(w);
    mix(static_cast<uint64_t>(e.state.value));
    mix(static_cast<uint64_t>(e.state.version));
    mix(static_cast<uint64_t>(e.state.mzxid));
    return static_cast<size_t>(h);
  }
};

struct search_outcome {
  verdict result = verdict::ok;
  uint64_t steps = 0;
};

/// Lowe's just-in-time linearization with Porcupine's memo over `ops`.
search_outcome search(const std::vector<reg_op>& ops, uint64_t max_steps) {
  search_outcome out;
  auto n = ops.size();
  if (n == 0)
    return out;
  // Entries 2i (call of op i) and 2i+1 (return of op i), in a doubly linked
  // list sorted by position, between sentinels head and tail.
  std::vector<int> order(2 * n);
  for (size_t i = 0; i < 2 * n; ++i)
    order[i] = static_cast<int>(i);
  auto pos = [&](int e) {
    const auto& op = ops[static_cast<size_t>(e / 2)];
    return e % 2 == 0 ? op.call : op.ret;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](int x, int y) { return pos(x) < pos(y); });
  auto head = static_cast<int>(2 * n);
  auto tail = head + 1;
  std::vector<int> next(2 * n + 2);
  std::vector<int> prev(2 * n + 2);
  auto last = head;
  for (auto e : order) {
    next[static_cast<size_t>(last)] = e;
    prev[static_cast<size_t>(e)] = last;
    last = e;
  }
  next[static_cast<size_t>(last)] = tail;
  prev[static_cast<size_t>(tail)] = last;
  auto unlink = [&](int e) {
    next[static_cast<size_t>(prev[static_cast<size_t>(e)])]
      = next[static_cast<size_t>(e)];
    prev[static_cast<size_t>(next[static_cast<size_t>(e)])]
      = prev[static_cast<size_t>(e)];
  };
  auto relink = [&](int e) {
    next[static_cast<size_t>(prev[static_cast<size_t>(e)])] = e;
    prev[static_cast<size_t>(next[static_cast<size_t>(e)])] = e;
  };
  struct frame {
    size_t op;
    reg_state before;
  };
  std::vector<frame> stack;
  std::unordered_set<memo_entry, memo_hash> memo;
  // Versions never decrease, so a state newer than a completed operation
  // that is still to be linearized needs is a dead end: the bounds of the
  // operations not linearized yet.
  std::multiset<int64_t> bounds;
  for (const auto& op : ops)
    if (auto b = version_bound(op))
      bounds.insert(*b);
  auto drop_bound = [&](const reg_op& op) {
    if (auto b = version_bound(op))
      bounds.erase(bounds.find(*b));
  };
  auto keep_bound = [&](const reg_op& op) {
    if (auto b = version_bound(op))
      bounds.insert(*b);
  };
  memo_entry cur;
  cur.linearized.assign((n + 63) / 64, 0);
  // Candidates are the calls before the earliest pending completion. They
  // are tried in two passes: the completed operations first, then the
  // unknown ones, so that an unknown operation is made to happen only where
  // nothing else explains the history (trying them first, as a plain scan
  // does, explores every subset of them at every step). Any order is
  // complete; a backtracked frame resumes in the pass of its operation.
  auto unknown
    = [&](int e) { return ops[static_cast<size_t>(e / 2)].ret == never; };
  auto entry = next[static_cast<size_t>(head)];
  bool second_pass = false;
  while (next[static_cast<size_t>(head)] != tail) {
    auto i = static_cast<size_t>(entry / 2);
    if (entry % 2 == 0 && unknown(entry) != second_pass) {
      entry = next[static_cast<size_t>(entry)]; // the other pass's
      continue;
    }
    if (out.steps >= max_steps) {
      out.result = verdict::unknown;
      return out;
    }
    ++out.steps;
    if (entry % 2 == 0) { // a call: try to linearize it now
      reg_state after;
      drop_bound(ops[i]);
      if (step(cur.state, ops[i], after)
          && (bounds.empty() || version_of(after) <= *bounds.begin())) {
        auto before = cur.state;
        cur.linearized[i / 64] |= uint64_t{1} << (i % 64);
        cur.state = after;
        if (memo.insert(cur).second) {
          stack.push_back({i, before});
          unlink(entry);
          unlink(entry + 1);
          entry = next[static_cast<size_t>(head)];
          second_pass = false;
          continue;
        }
        cur.linearized[i / 64] &= ~(uint64_t{1} << (i % 64));
        cur.state = before;
      }
      keep_bound(ops[i]);
      entry = next[static_cast<size_t>(entry)];
    } else { // the earliest pending completion
      if (ops[i].ret == never)
        return out; // only unknown operations left: they need not happen
      if (!second_pass) {
        second_pass = true;
        entry = next[static_cast<size_t>(head)];
        continue;
      }
      if (stack.empty()) {
        out.result = verdict::violation;
        return out;
      }
      // Backtrack: undo the last linearization, try the next candidate.
      auto top = stack.back();
      stack.pop_back();
      auto call = static_cast<int>(2 * top.op);
      relink(call + 1);
      relink(call);
      cur.linearized[top.op / 64] &= ~(uint64_t{1} << (top.op % 64));
      cur.state = top.before;
      keep_bound(ops[top.op]);
      entry = next[static_cast<size_t>(call)];
      second_pass = unknown(call);
    }
  }
  return out;
}

/// The operations of the prefix that ends with the completion at `cut`:
/// those invoked before it, with the ones still pending made unknown (and
/// pending reads dropped).
std::vector<reg_op> prefix(const std::vector<reg_op>& ops, size_t cut) {
  std::vector<reg_op> out;
  for (const auto& op : ops) {
    if (op.call >= cut)
      continue;
    if (op.ret != never && op.ret > cut) {
      if (op.kind == reg_kind::read)
        continue;
      // An unfinished operation has no outputs: a write's version and
      // zxid, a cas's zxid (a cas's version is its input).
      auto unknown = op;
      unknown.ret = never;
      unknown.zxid = 0;
      if (unknown.kind == reg_kind::write)
        unknown.version.reset();
      out.push_back(unknown);
      continue;
    }
    out.push_back(op);
  }
  return out;
}

// -- violations found without searching ---------------------------------------

/// A few operations that no order can reconcile: indexes into the key's
/// operations, the one that completes last being the one at fault.
struct quick_finding {
  size_t failing = 0;
  std::vector<size_t> window;
  std::string why;
};

/// Sound shortcuts that need no search: a read of a value nobody wrote
/// before it completed, of a value every write of which was definitely
/// overwritten before it began, of a missing node after a write completed,
/// of a version whose write wrote something else; two writes that produced
/// the same version. They catch the usual anomalies in long histories where
/// a search would have to refute every order. `say` describes an operation.
template <class Describe>
std::optional<quick_finding> quick_check(const std::vector<reg_op>& ops,
                                         Describe say) {
  std::optional<quick_finding> best; // the one whose op completes first
  auto consider = [&](quick_finding f) {
    if (!best || ops[f.failing].ret < ops[best->failing].ret)
      best = std::move(f);
  };
  std::map<int64_t, size_t> produced; // version -> the write that made it
  std::unordered_map<int32_t, std::vector<size_t>> writes_of;
  std::vector<size_t> ok_writes;
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    if (op.kind == reg_kind::read)
      continue;
    writes_of[op.value].push_back(i);
    if (op.ret == never)
      continue;
    ok_writes.push_back(i);
    if (!op.version)
      continue;
    auto v = op.kind == reg_kind::write ? *op.version : *op.version + 1;
    auto [it, added] = produced.emplace(v, i);
    if (!added) {
      auto a = it->second;
      auto b = i;
      if (ops[a].ret > ops[b].ret)
        std::swap(a, b);
      consider({b,
                {a, b},
                say(a) + " and " + say(b) + " both produced version "
                  + std::to_string(v)});
    }
  }
  // Ok writes by invoke, with the earliest completion among each suffix.
  std::sort(ok_writes.begin(), ok_writes.end(),
            [&](size_t x, size_t y) { return ops[x].call < ops[y].call; });
  std::vector<size_t> first_done(ok_writes.size());
  for (size_t k = ok_writes.size(); k-- > 0;) {
    first_done[k] = ok_writes[k];
    if (k + 1 < ok_writes.size()
        && ops[first_done[k + 1]].ret < ops[ok_writes[k]].ret)
      first_done[k] = first_done[k + 1];
  }
  // An ok write of another value than `value`, invoked after `w` completed
  // and completed before `deadline`, or never.
  auto overwriter = [&](const reg_op& w, size_t deadline, int32_t value) {
    if (w.ret == never)
      return never;
    auto k = static_cast<size_t>(
      std::upper_bound(ok_writes.begin(), ok_writes.end(), w.ret,
                       [&](size_t pos, size_t x) { return pos < ops[x].call; })
      - ok_writes.begin());
    if (k == ok_writes.size() || ops[first_done[k]].ret >= deadline)
      return never;
    if (ops[first_done[k]].value != value)
      return first_done[k];
    for (; k < ok_writes.size(); ++k) // rare: values written twice
      if (ops[ok_writes[k]].ret < deadline && ops[ok_writes[k]].value != value)
        return ok_writes[k];
    return never;
  };
  // Versions never decrease: an operation that needs an older version than
  // one that completed before it began cannot be linearized.
  auto before_of = [&](const reg_op& op) -> std::optional<int64_t> {
    if (op.kind == reg_kind::read && op.value == missing)
      return -1;
    if (!op.version)
      return std::nullopt;
    return op.kind == reg_kind::write ? *op.version - 1 : *op.version;
  };
  auto after_of = [&](const reg_op& op) -> std::optional<int64_t> {
    if (op.kind == reg_kind::read && op.value == missing)
      return -1;
    if (!op.version)
      return std::nullopt;
    return op.kind == reg_kind::cas ? *op.version + 1 : *op.version;
  };
  std::vector<size_t> versioned;
  for (size_t i = 0; i < ops.size(); ++i)
    if (ops[i].ret != never && before_of(ops[i]))
      versioned.push_back(i);
  auto by_ret = versioned;
  std::sort(versioned.begin(), versioned.end(),
            [&](size_t x, size_t y) { return ops[x].call < ops[y].call; });
  std::sort(by_ret.begin(), by_ret.end(),
            [&](size_t x, size_t y) { return ops[x].ret < ops[y].ret; });
  size_t done = 0;
  size_t newest = never; // the highest version completed so far
  for (auto i : versioned) {
    while (done < by_ret.size() && ops[by_ret[done]].ret < ops[i].call) {
      auto j = by_ret[done++];
      if (newest == never || *after_of(ops[j]) > *after_of(ops[newest]))
        newest = j;
    }
    if (newest != never && *after_of(ops[newest]) > *before_of(ops[i]))
      consider({i,
                {newest, i},
                say(i) + " needs version " + std::to_string(*before_of(ops[i]))
                  + ", but " + say(newest)
                  + ", which completed before it began, left version "
                  + std::to_string(*after_of(ops[newest]))});
  }
  for (size_t r = 0; r < ops.size(); ++r) {
    const auto& read = ops[r];
    if (read.kind != reg_kind::read)
      continue;
    if (read.value == missing) {
      if (!ok_writes.empty() && ops[first_done[0]].ret < read.call)
        consider({r,
                  {first_done[0], r},
                  say(r) + " found the node missing after " + say(first_done[0])
                    + " had created it"});
      continue;
    }
    if (read.version) {
      auto p = produced.find(*read.version);
      if (p != produced.end() && ops[p->second].value != read.value)
        consider({r,
                  {p->second, r},
                  say(r) + " but version " + std::to_string(*read.version)
                    + " was written by " + say(p->second)});
    }
    std::vector<size_t> sources;
    auto w = writes_of.find(read.value);
    if (w != writes_of.end())
      for (auto i : w->second)
        if (ops[i].call < read.ret)
          sources.push_back(i);
    if (sources.empty()) {
      consider({r, {r}, say(r) + " but nobody wrote that value before"});
      continue;
    }
    size_t latest = never;
    size_t latest_over = never;
    bool stale = true;
    for (auto i : sources) {
      auto x = overwriter(ops[i], read.call, read.value);
      if (x == never) {
        stale = false;
        break;
      }
      if (latest == never || ops[i].call > ops[latest].call) {
        latest = i;
        latest_over = x;
      }
    }
    if (stale)
      consider({r,
                {latest, latest_over, r},
                say(r) + " but " + say(latest) + " was overwritten by "
                  + say(latest_over) + " before the read began"});
  }
  return best;
}

std::string shorten(const std::string& s) {
  if (s.size() <= 40)
    return s;
  return s.substr(0, 37) + "...";
}

std::string describe(const history& h, size_t id) {
  const auto& op = h.operations[id];
  const auto& r = op.op;
  std::string s = op.f() + "(";
  if (op.f() == "read") {
    if (op.outcome == Record::ok)
      s += r.has_value() ? "-> \"" + shorten(r.value()) + "\"" : "-> missing";
  } else {
    if (r.has_expected())
      s += "\"" + shorten(r.expected()) + "\" -> ";
    s += "\"" + shorten(r.value()) + "\"";
  }
  if (r.has_version())
    s += ", version " + std::to_string(r.version());
  if (r.zxid() != 0)
    s += ", zxid " + std::to_string(r.zxid());
  s += ") by process " + std::to_string(op.process()) + " ["
       + std::string{to_string(op.outcome)} + ", lines "
       + std::to_string(h.lines[op.invoke]) + "-"
       + (op.completed() ? std::to_string(h.lines[op.complete])
                         : std::string{"end"})
       + "]";
  return s;
}

} // namespace

std::string_view to_string(verdict v) {
  switch (v) {
    case verdict::ok:
      return "ok";
    case verdict::violation:
      return "violation";
    case verdict::unknown:
      return "unknown";
  }
  return "?";
}

verdict linearizability_result::overall() const {
  auto result = verdict::ok;
  for (const auto& k : keys) {
    if (k.result == verdict::violation)
      return verdict::violation;
    if (k.result == verdict::unknown)
      result = verdict::unknown;
  }
  return result;
}

bool is_register_op(const operation& op) {
  const auto& f = op.f();
  return (f == "read" && !op.op.plain()) || f == "write" || f == "cas";
}

key_result check_key(const history& h, const std::string& key,
                     const std::vector<size_t>& ids,
                     const linearizability_options& opts) {
  key_result res;
  res.key = key;
  // Intern values and build the search's operations.
  std::unordered_map<std::string, int32_t> interned;
  auto intern = [&](const std::string& v) {
    auto [i, added]
      = interned.emplace(v, static_cast<int32_t>(interned.size()));
    static_cast<void>(added);
    return i->second;
  };
  std::vector<reg_op> ops;
  for (auto id : ids) {
    const auto& op = h.operations[id];
    if (op.outcome == Record::fail)
      continue; // definitely did not happen
    reg_op x;
    x.id = id;
    x.call = op.invoke;
    x.ret = op.outcome == Record::ok ? op.complete : never;
    const auto& r = op.op;
    if (op.f() == "read") {
      if (op.outcome != Record::ok)
        continue; // an unknown read constrains nothing
      x.kind = reg_kind::read;
      x.value = r.has_value() ? intern(r.value()) : missing;
    } else {
      x.kind = op.f() == "write" ? reg_kind::write : reg_kind::cas;
      x.value = intern(r.value());
      if (x.kind == reg_kind::cas && r.has_expected())
        x.expected = intern(r.expected());
    }
    // An unknown write's version and zxid would be outputs: there are none.
    if (r.has_version() && (x.kind == reg_kind::cas || x.ret != never))
      x.version = r.version();
    if (x.ret != never)
      x.zxid = r.zxid();
    ops.push_back(x);
  }
  res.operations = ops.size();
  infer_read_versions(ops);
  auto say = [&](size_t i) { return describe(h, ops[i].id); };
  if (auto q = quick_check(ops, say)) {
    res.result = verdict::violation;
    res.failing_op = ops[q->failing].id;
    for (auto i : q->window)
      res.window.push_back(ops[i].id);
    std::sort(res.window.begin(), res.window.end());
    res.message = "key " + key + ": " + q->why;
    return res;
  }
  auto full = search(ops, opts.max_steps);
  res.steps = full.steps;
  res.result = full.result;
  if (full.result != verdict::violation)
    return res;
  // The shortest failing prefix: binary search over the completions (a
  // prefix that fails makes every longer one fail).
  std::vector<size_t> cuts;
  for (const auto& op : ops)
    if (op.ret != never)
      cuts.push_back(op.ret);
  std::sort(cuts.begin(), cuts.end());
  size_t lo = 0;
  size_t hi = cuts.size() - 1; // the whole history fails
  while (lo < hi) {
    auto mid = lo + (hi - lo) / 2;
    auto probe = search(prefix(ops, cuts[mid]), opts.max_steps);
    res.steps += probe.steps;
    if (probe.result == verdict::violation)
      hi = mid;
    else
      lo = mid + 1;
  }
  auto cut = cuts[lo];
  const reg_op* failing = nullptr;
  for (const auto& op : ops)
    if (op.ret == cut)
      failing = &op;
  res.failing_op = failing->id;
  // The latest write of the value the failing operation read or expected.
  auto wanted = failing->kind == reg_kind::read  ? failing->value
                : failing->kind == reg_kind::cas ? failing->expected
                                                 : missing;
  const reg_op* source = nullptr;
  if (wanted != missing)
    for (const auto& op : ops)
      if (op.kind != reg_kind::read && op.value == wanted && op.call < cut
          && (!source || op.call > source->call))
        source = &op;
  // The window starts at the earliest invoke among the failing operation,
  // the completed operations overlapping it and the source of its value. It
  // holds the completed operations that overlap it and the unknown ones
  // invoked in it (an unknown operation overlaps everything after its
  // invoke), the nearest max_window of them.
  auto start = failing->call;
  for (const auto& op : ops)
    if (op.ret != never && op.call < cut && op.ret > failing->call)
      start = std::min(start, op.call);
  if (source)
    start = std::min(start, source->call);
  std::vector<const reg_op*> window;
  for (const auto& op : ops)
    if (op.call < cut && (op.ret == never ? op.call >= start : op.ret > start))
      window.push_back(&op);
  constexpr size_t max_window = 64;
  if (window.size() > max_window) {
    std::sort(window.begin(), window.end(),
              [](auto x, auto y) { return x->call > y->call; });
    window.resize(max_window);
    start = failing->call;
    for (auto op : window)
      start = std::min(start, op->call);
  }
  // The last write completed before the window: the state it started from.
  const reg_op* before = nullptr;
  for (const auto& op : ops)
    if (op.kind != reg_kind::read && op.ret != never && op.ret <= start
        && (!before || op.ret > before->ret))
      before = &op;
  if (before)
    window.push_back(before);
  if (source)
    window.push_back(source);
  for (auto op : window)
    res.window.push_back(op->id);
  std::sort(res.window.begin(), res.window.end());
  res.window.erase(std::unique(res.window.begin(), res.window.end()),
                   res.window.end());
  res.message = "key " + key + ": " + describe(h, failing->id)
                + " cannot be linearized with the "
                + std::to_string(prefix(ops, cut).size())
                + " operations invoked before it completed";
  if (before)
    res.message += "; the last write completed before the window: "
                   + describe(h, before->id);
  if (failing->kind == reg_kind::read || failing->kind == reg_kind::cas) {
    if (source)
      res.message
        += "; the value it wants was written by " + describe(h, source->id);
    else if (wanted != missing)
      res.message += "; nobody wrote the value it wants";
  }
  return res;
}

linearizability_result
check_linearizability(const history& h, const linearizability_options& opts) {
  std::map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < h.operations.size(); ++i)
    if (is_register_op(h.operations[i]))
      by_key[h.operations[i].key()].push_back(i);
  linearizability_result out;
  for (const auto& [key, ids] : by_key)
    out.keys.push_back(check_key(h, key, ids, opts));
  return out;
}

} // namespace conclave::chaos
