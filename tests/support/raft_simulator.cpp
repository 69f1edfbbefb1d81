#include "tests/support/raft_simulator.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <tuple>
#include <utility>
#include <vector>

#include "runtime/raft/codec.hpp"
#include "runtime/raft/core.hpp"

namespace conclave::raft::sim {

namespace {

/// A core ticks every `tick_units` time units.
constexpr uint64_t tick_units = 10;
constexpr int election_ticks = 10;
constexpr uint64_t never = ~uint64_t{0};

// -- failure reporting -------------------------------------------------------

/// Where we are, for the SIGABRT handler (a core's broken invariant aborts).
uint64_t abort_seed = 0;
size_t abort_step = 0;
size_t abort_nodes = 0;
bool abort_membership = false;
bool abort_active = false;

extern "C" void on_abort(int) {
  if (abort_active)
    std::fprintf(stderr,
                 "raft simulation aborted: seed %llu, step %zu (replay: "
                 "raft-sim --seeds 1 --first %llu --nodes %zu%s --trace)\n",
                 static_cast<unsigned long long>(abort_seed), abort_step,
                 static_cast<unsigned long long>(abort_seed), abort_nodes,
                 abort_membership ? " --membership" : "");
}

struct failure {
  std::string what;
};

template <class... Ts>
[[noreturn]] void fail(const Ts&... xs) {
  std::ostringstream out;
  (out << ... << xs);
  throw failure{out.str()};
}

// -- randomness and hashing --------------------------------------------------

class prng {
public:
  explicit prng(uint64_t seed) : state_(seed) {}

  uint64_t next() noexcept {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  /// Uniform in [0, n) (n > 0; the modulo bias is irrelevant here).
  uint64_t below(uint64_t n) noexcept { return next() % n; }

  bool chance(uint64_t per_mille) noexcept { return below(1000) < per_mille; }

private:
  uint64_t state_;
};

/// FNV-1a, 64 bits.
class hasher {
public:
  hasher& add(uint64_t x) noexcept {
    for (int k = 0; k < 8; ++k) {
      h_ ^= (x >> (8 * k)) & 0xff;
      h_ *= 0x100000001b3ULL;
    }
    return *this;
  }

  hasher& add(const std::string& s) noexcept {
    add(s.size());
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 0x100000001b3ULL;
    }
    return *this;
  }

  uint64_t value() const noexcept { return h_; }

private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

// -- simulated nodes ---------------------------------------------------------

struct snapshot_file {
  snapshot_meta meta;
  /// The state machine at meta.index (its hash chain value).
  uint64_t hash = 0;
};

/// What survives a crash.
struct disk_state {
  hard_state state;
  snapshot_file snap;
  /// Contiguous; may start before snap.meta.index + 1 (kept entries).
  std::vector<entry> log;
  /// Snapshot files made durable (received from a leader or taken here) but
  /// not (yet) current, by index.
  std::map<uint64_t, snapshot_file> files;
};

/// One output's writes, durable together after a delay, in FIFO order.
struct write_batch {
  uint64_t done_at = 0;
  /// A snapshot received from the leader (index 0: none). Not an optional:
  /// GCC 12 reports a false maybe-uninitialized for one under sanitizers.
  snapshot_meta install;
  std::vector<entry> entries;
  std::optional<hard_state> state;
  /// The hard state goes to disk before the entries (the contract allows
  /// either order; a torn write differs).
  bool state_first = false;
  /// A snapshot taken here: make it current and compact the log.
  std::optional<std::pair<snapshot_meta, size_t>> local;
  std::vector<message> after;

  size_t ops() const noexcept {
    return (install.index.value() > 0 ? 1 : 0) + entries.size()
           + (state ? 1 : 0) + (local ? 1 : 0);
  }
};

bool has(const snapshot_meta& meta) noexcept {
  return meta.index.value() > 0;
}

struct state_machine {
  log_index index;
  uint64_t hash = 0;
  /// The configuration at `index` (from the applied configuration entries,
  /// the loaded snapshot or the bootstrap).
  configuration config;
};

struct sim_node {
  node_id id;
  bool up = true;
  /// Not part of the simulation now: a spare id never started, or a
  /// removed node shut down for good (membership only).
  bool absent = false;
  /// Started with an empty bootstrap configuration (a node that joined).
  bool joining = false;
  /// Bumped for every fresh disk: messages of an older generation are
  /// dropped (the new machine has new connections).
  uint64_t generation = 0;
  uint64_t restart_at = 0;
  /// A crash scheduled while a write is in flight (durability windows).
  uint64_t crash_at = never;
  uint64_t incarnation = 0;
  uint64_t tick_phase = 0;
  std::optional<raft::core> core;
  disk_state disk;
  std::deque<write_batch> pending;
  state_machine sm;
  /// Highest commit index already compared with the global record.
  log_index checked_commit;
  /// Outstanding reads: id -> highest index committed when requested.
  std::map<uint64_t, log_index> reads;
};

struct packet {
  message msg;
  std::optional<snapshot_file> payload;
  uint64_t from_generation = 0;
  uint64_t to_generation = 0;
};

struct committed_entry {
  entry e;
  /// Term of the first node seen committing it (an upper bound of the term
  /// in which it was committed).
  term_t commit_term;
};

const char* body_name(const message_body& body) {
  constexpr const char* names[]
    = {"vote_req",  "vote_resp",   "append",   "append_resp", "snapshot",
       "snap_resp", "timeout_now", "read_req", "read_resp"};
  return names[body.index()];
}

uint64_t term_of(const message_body& body) {
  return std::visit([](const auto& b) { return b.term.value(); }, body);
}

// -- the simulation ----------------------------------------------------------

class simulation {
public:
  explicit simulation(const options& opts)
      : opts_(opts), rng_(opts.seed * 0x2545f4914f6cdd1dULL + 1) {
    // nop
  }

  result run() {
    result res;
    res.seed = opts_.seed;
    try {
      setup();
      for (step_ = 0; step_ < opts_.steps; ++step_)
        one_step();
      settle();
    } catch (const failure& f) {
      res.ok = false;
      res.failure = f.what;
      trace("FAILURE: ", f.what);
    }
    res.step = step_;
    res.transcript = transcript_.value();
    stats_.committed = max_commit_.value();
    res.counts = stats_;
    return res;
  }

private:
  // -- setup -----------------------------------------------------------------

  void setup() {
    std::vector<node_id> voters;
    for (uint64_t k = 1; k <= opts_.nodes; ++k)
      voters.push_back(node_id{k});
    base_.voters = voters;
    base_.election_timeout_ticks = election_ticks;
    base_.heartbeat_interval_ticks = 1 + static_cast<int>(rng_.below(2));
    base_.pre_vote = rng_.below(10) != 0;
    base_.check_quorum = rng_.below(3) != 0;
    base_.max_inflight_appends = 1 + rng_.below(8);
    base_.max_append_entries = 1 + rng_.below(32);
    base_.max_append_bytes = rng_.below(2) == 0 ? 64 : 1 << 20;
    base_.snapshot_retry_ticks = 20 + static_cast<int>(rng_.below(40));
    base_.max_uncommitted_entries = 200;
    base_.max_pending_reads = 64;
    // The fault profile varies per seed too.
    loss_per_mille_ = 10 + rng_.below(50);
    max_delay_ = tick_units * (1 + rng_.below(3));
    disk_delay_ = tick_units * (1 + rng_.below(8));
    crash_per_mille_ = 1 + rng_.below(4);
    group_commit_ = rng_.below(2) == 0;
    trace("config: pre_vote=", base_.pre_vote,
          " check_quorum=", base_.check_quorum,
          " heartbeat=", base_.heartbeat_interval_ticks,
          " inflight=", base_.max_inflight_appends,
          " append_entries=", base_.max_append_entries,
          " append_bytes=", base_.max_append_bytes);
    auto pool = opts_.nodes + (opts_.membership ? opts_.spare_nodes : 0);
    groups_.assign(pool, 0);
    for (uint64_t k = 1; k <= pool; ++k) {
      nodes_.emplace_back();
      auto& n = nodes_.back();
      n.id = node_id{k};
      n.tick_phase = rng_.below(tick_units);
      if (k > opts_.nodes) {
        n.absent = true;
        n.up = false;
        n.restart_at = never;
      }
    }
    committed_configs_[0] = configuration::of_voters(voters);
    stats_.max_voters = voters.size();
    for (auto& n : nodes_)
      if (!n.absent)
        start(n);
  }

  core_config config_for(const sim_node& n) {
    auto cfg = base_;
    cfg.self = n.id;
    if (n.joining)
      cfg.voters.clear();
    cfg.seed
      = hasher{}.add(opts_.seed).add(n.id.value()).add(n.incarnation).value();
    return cfg;
  }

  void start(sim_node& n) {
    persistent_state ps;
    ps.state = n.disk.state;
    ps.snapshot = n.disk.snap.meta;
    auto next = n.disk.snap.meta.index.value() + 1;
    for (const auto& e : n.disk.log) {
      if (e.index.value() < next)
        continue;
      if (e.index.value() != next)
        fail("node ", n.id, ": gap in the durable log at ", next);
      ps.entries.push_back(e);
      ++next;
    }
    n.up = true;
    n.core.emplace(config_for(n), std::move(ps));
    n.sm = state_machine{n.disk.snap.meta.index, n.disk.snap.hash,
                         has(n.disk.snap.meta) ? n.disk.snap.meta.config
                                               : config_for(n).initial()};
    n.checked_commit = n.disk.snap.meta.index;
    trace_node(n, "started (incarnation ", n.incarnation, ")");
    transcript_.add(1).add(n.id.value()).add(now_);
    handle_output(n);
  }

  // -- the step loop ---------------------------------------------------------

  void one_step() {
    now_ = step_;
    abort_step = step_;
    deliver_due();
    complete_writes();
    tick_due();
    if (!settling_) {
      client_actions();
      if (opts_.faults)
        faults();
    }
    restart_due();
  }

  void settle() {
    settling_ = true;
    trace("settling: healing everything");
    std::fill(groups_.begin(), groups_.end(), 0);
    for (auto& n : nodes_)
      if (!n.up && !n.absent) {
        ++n.incarnation;
        start(n);
      }
    // Liveness: the healed cluster must keep making progress (a slow
    // configuration may need many steps to catch up a long log) and finish
    // within a hard bound.
    auto end = opts_.steps + 10 * opts_.settle_steps;
    auto last_progress = step_;
    uint64_t last_sum = 0;
    for (; step_ < end && step_ - last_progress < opts_.settle_steps; ++step_) {
      one_step();
      if (settled())
        return;
      maybe_propose_final();
      uint64_t sum = max_commit_.value();
      for (const auto& n : nodes_)
        if (n.core)
          sum += n.sm.index.value() + n.core->last_index().value()
                 + n.core->commit_index().value();
      if (sum != last_sum) {
        last_sum = sum;
        last_progress = step_;
      }
    }
    std::ostringstream why;
    why << "liveness: not settled after " << step_ - opts_.steps
        << " steps (max commit " << max_commit_ << "; applied";
    for (const auto& n : nodes_)
      if (!n.absent)
        why << " n" << n.id << "=" << n.sm.index;
    why << ")";
    fail(why.str());
  }

  bool settled() {
    bool final_committed = false;
    for (auto index : finals_) {
      auto i = committed_.find(index.value());
      if (i != committed_.end() && i->second.e.data == "final")
        final_committed = true;
    }
    if (!final_committed)
      return false;
    // Every member of the leader's (committed) configuration applied
    // everything; removed nodes that never learned it are left behind.
    auto leader = current_leader();
    if (!leader || !leader->core->config_committed())
      return false;
    for (const auto& m : leader->core->config().members) {
      const auto& n = node(m.id);
      if (!n.up || n.sm.index != max_commit_
          || n.core->commit_index() != max_commit_)
        return false;
    }
    return true;
  }

  void maybe_propose_final() {
    if (now_ < last_final_at_ + 300 && !finals_.empty())
      return;
    if (auto leader = current_leader()) {
      auto index = leader->core->propose("final");
      if (index.ok()) {
        finals_.push_back(*index);
        last_final_at_ = now_;
        handle_output(*leader);
      }
    }
  }

  // -- network ---------------------------------------------------------------

  bool connected(node_id a, node_id b) const {
    return groups_[a.value() - 1] == groups_[b.value() - 1];
  }

  void send(sim_node& from, const message& m) {
    check_promise(from, m);
    packet p{m, std::nullopt, from.generation, node(m.to).generation};
    if (auto is = std::get_if<install_snapshot>(&m.body)) {
      p.payload = snapshot_bytes(from, is->meta.index);
      if (!p.payload)
        fail("node ", from.id, " sends a snapshot at ", is->meta.index,
             " that its disk does not hold");
    }
    bool lossy = opts_.faults && !settling_;
    if (lossy && rng_.chance(loss_per_mille_)) {
      ++stats_.dropped;
      return;
    }
    int copies = lossy && rng_.chance(20) ? 2 : 1;
    if (copies == 2)
      ++stats_.duplicated;
    for (int k = 0; k < copies; ++k) {
      uint64_t delay = 1 + rng_.below(max_delay_);
      if (p.payload)
        delay += rng_.below(4 * tick_units); // the bytes take longer
      network_.emplace(std::make_pair(now_ + delay, seq_++), p);
    }
  }

  /// A message that promises durability must find it on the sender's disk.
  void check_promise(sim_node& n, const message& m) {
    const auto& d = n.disk;
    if (auto req = std::get_if<vote_request>(&m.body); req && !req->pre_vote) {
      if (!durable_vote(d, req->term, n.id))
        fail("node ", n.id, " requests votes for term ", req->term,
             " before its own vote is durable");
      note_vote(n, req->term, n.id);
    } else if (auto resp = std::get_if<vote_response>(&m.body);
               resp && !resp->pre_vote && resp->granted) {
      if (!durable_vote(d, resp->term, m.to))
        fail("node ", n.id, " grants its vote in term ", resp->term,
             " before it is durable");
      note_vote(n, resp->term, m.to);
    } else if (auto ack = std::get_if<append_response>(&m.body);
               ack && ack->success) {
      // Unless a later term is durable: a leader of that term overwrote
      // the entries, which may then never have reached the disk (a merged
      // write), as if the acknowledgement had been overtaken.
      if (!durable_ack(d, ack->term, ack->match_index))
        fail("node ", n.id, " acknowledges index ", ack->match_index,
             " at term ", ack->term, " before it is durable");
    } else if (auto sack = std::get_if<install_snapshot_response>(&m.body);
               sack && sack->success) {
      if (!durable_ack(d, sack->term, sack->last_index))
        fail("node ", n.id, " acknowledges a snapshot up to ", sack->last_index,
             " before it is durable");
    }
  }

  /// The vote is on disk, or a later term (in which case the node can never
  /// vote in `term` again).
  static bool durable_vote(const disk_state& d, term_t term, node_id whom) {
    return d.state.term > term
           || (d.state.term == term && d.state.vote == whom);
  }

  static bool durable_ack(const disk_state& d, term_t term, log_index index) {
    return d.state.term > term || (d.state.term == term && durable(d, index));
  }

  static bool durable(const disk_state& d, log_index index) {
    if (index <= d.snap.meta.index)
      return true;
    return !d.log.empty() && d.log.front().index <= index
           && index <= d.log.back().index;
  }

  /// One vote per node and term, across crashes (§3.4).
  void note_vote(const sim_node& n, term_t term, node_id candidate) {
    auto [it, fresh] = votes_.emplace(
      std::make_tuple(n.id.value(), n.generation, term.value()), candidate);
    if (!fresh && it->second != candidate)
      fail("node ", n.id, " voted for ", it->second, " and for ", candidate,
           " in term ", term);
  }

  std::optional<snapshot_file> snapshot_bytes(const sim_node& n,
                                              log_index index) const {
    if (n.disk.snap.meta.index == index)
      return n.disk.snap;
    auto i = n.disk.files.find(index.value());
    if (i != n.disk.files.end())
      return i->second;
    return std::nullopt;
  }

  void deliver_due() {
    while (!network_.empty() && network_.begin()->first.first <= now_) {
      auto p = std::move(network_.begin()->second);
      network_.erase(network_.begin());
      auto& dst = node(p.msg.to);
      if (!dst.up || !connected(p.msg.from, p.msg.to)
          || p.from_generation != node(p.msg.from).generation
          || p.to_generation != dst.generation) {
        ++stats_.dropped;
        continue;
      }
      ++stats_.delivered;
      transcript_.add(2)
        .add(p.msg.from.value())
        .add(p.msg.to.value())
        .add(p.msg.body.index())
        .add(term_of(p.msg.body));
      if (auto is = std::get_if<install_snapshot>(&p.msg.body)) {
        // The shell made the bytes durable before stepping the message.
        dst.disk.files[is->meta.index.value()] = *p.payload;
      }
      dst.core->step(p.msg);
      handle_output(dst);
    }
  }

  // -- disk ------------------------------------------------------------------

  void queue_writes(sim_node& n, output& out) {
    write_batch b;
    if (out.snapshot)
      b.install = std::move(*out.snapshot);
    b.entries = std::move(out.entries);
    b.state = out.state;
    b.after = std::move(out.messages_after_persist);
    if (b.ops() == 0 && b.after.empty())
      return;
    // Now and then, crash before this write is durable: a vote, a term or
    // entries whose loss the protocol must survive.
    if (opts_.faults && !settling_ && b.ops() > 0 && n.crash_at == never
        && rng_.chance(4))
      n.crash_at = now_ + rng_.below(disk_delay_);
    // Group commit: while one write is in flight, later outputs merge into
    // the next one (the rules of core.hpp step 2).
    if (opts_.trace)
      trace_node(n, "write: ", describe_batch(b));
    if (group_commit_ && n.pending.size() == 2 && merge(n, b))
      return;
    enqueue(n, std::move(b));
  }

  static std::string describe_batch(const write_batch& b) {
    std::ostringstream out;
    if (has(b.install))
      out << "snapshot " << b.install.index << " ";
    if (!b.entries.empty())
      out << "entries " << b.entries.front().index << "-"
          << b.entries.back().index << " (t" << b.entries.back().term << ") ";
    if (b.state)
      out << "state t" << b.state->term << " ";
    for (const auto& m : b.after) {
      out << "; " << body_name(m.body) << " to " << m.to;
      if (auto a = std::get_if<append_response>(&m.body))
        out << (a->success ? " ok " : " no ") << a->match_index;
    }
    return out.str();
  }

  /// Merges `b` into the last pending write, which runs after the first.
  bool merge(sim_node& n, write_batch& b) {
    auto& tail = n.pending.back();
    if (tail.local || b.local || (has(tail.install) && has(b.install)))
      return false;
    if (has(b.install)) {
      const auto& meta = b.install;
      auto at
        = std::find_if(tail.entries.begin(), tail.entries.end(),
                       [&](const entry& e) { return e.index == meta.index; });
      bool keep = at != tail.entries.end() ? at->term == meta.term
                                           : stored_holds(n, meta);
      if (keep)
        tail.entries.erase(
          std::remove_if(tail.entries.begin(), tail.entries.end(),
                         [&](const entry& e) { return e.index <= meta.index; }),
          tail.entries.end());
      else
        tail.entries.clear();
      tail.install = meta;
    }
    if (!b.entries.empty()) {
      auto first = b.entries.front().index;
      while (!tail.entries.empty() && tail.entries.back().index >= first)
        tail.entries.pop_back();
      tail.entries.insert(tail.entries.end(), b.entries.begin(),
                          b.entries.end());
    }
    if (b.state)
      tail.state = b.state;
    tail.after.insert(tail.after.end(), b.after.begin(), b.after.end());
    return true;
  }

  /// Whether the log holds (meta.index, meta.term) once the write in flight
  /// is durable.
  static bool stored_holds(const sim_node& n, const snapshot_meta& meta) {
    auto view = n.disk;
    apply(n.id, view, n.pending.front(), n.pending.front().ops());
    return std::any_of(view.log.begin(), view.log.end(), [&](const entry& e) {
      return e.index == meta.index && e.term == meta.term;
    });
  }

  void enqueue(sim_node& n, write_batch b) {
    b.state_first = rng_.below(2) == 0;
    uint64_t delay = opts_.faults ? rng_.below(disk_delay_) : 0;
    b.done_at = now_ + delay;
    if (!n.pending.empty())
      b.done_at = std::max(b.done_at, n.pending.back().done_at);
    n.pending.push_back(std::move(b));
  }

  void complete_writes() {
    for (auto& n : nodes_) {
      while (n.up && !n.pending.empty() && n.pending.front().done_at <= now_) {
        auto b = std::move(n.pending.front());
        n.pending.pop_front();
        apply(n.id, n.disk, b, b.ops());
        // §3 of core.hpp: persisted(), then the after-persist messages.
        if (!b.entries.empty())
          n.core->persisted(b.entries.back().index, b.entries.back().term);
        else if (has(b.install))
          n.core->persisted(b.install.index, b.install.term);
        handle_output(n);
        for (const auto& m : b.after)
          send(n, m);
      }
    }
  }

  /// Applies the first `ops` operations of a batch to the durable state.
  static void apply(node_id id, disk_state& d, const write_batch& b,
                    size_t ops) {
    if (ops > 0 && has(b.install)) {
      install(id, d, b.install);
      --ops;
    }
    if (ops > 0 && b.state && b.state_first) {
      d.state = *b.state;
      --ops;
    }
    for (size_t k = 0; k < b.entries.size() && ops > 0; ++k, --ops)
      write_entry(id, d, b.entries[k]);
    if (ops > 0 && b.state && !b.state_first) {
      d.state = *b.state;
      --ops;
    }
    if (ops > 0 && b.local) {
      make_current(d, b.local->first, b.local->second);
      --ops;
    }
  }

  static void install(node_id id, disk_state& d, const snapshot_meta& meta) {
    // The rule of core.hpp "Receiving one" (§5.3).
    auto file = d.files.find(meta.index.value());
    if (file == d.files.end())
      fail("node ", id, ": installing snapshot ", meta.index,
           " whose bytes are not durable");
    if (meta.index <= d.snap.meta.index)
      fail("node ", id, ": installing snapshot ", meta.index,
           " older than the current one");
    bool keep = std::any_of(d.log.begin(), d.log.end(), [&](const entry& e) {
      return e.index == meta.index && e.term == meta.term;
    });
    d.snap = file->second;
    if (keep)
      d.log.erase(
        std::remove_if(d.log.begin(), d.log.end(),
                       [&](const entry& e) { return e.index <= meta.index; }),
        d.log.end());
    else
      d.log.clear();
    d.files.erase(d.files.begin(), d.files.upper_bound(meta.index.value()));
  }

  static void make_current(disk_state& d, const snapshot_meta& meta,
                           size_t keep) {
    if (meta.index <= d.snap.meta.index)
      return;
    d.snap = d.files.at(meta.index.value());
    d.files.erase(d.files.begin(), d.files.upper_bound(meta.index.value()));
    auto cut
      = meta.index.value() - std::min<uint64_t>(keep, meta.index.value());
    d.log.erase(
      std::remove_if(d.log.begin(), d.log.end(),
                     [&](const entry& e) { return e.index.value() <= cut; }),
      d.log.end());
  }

  static void write_entry(node_id id, disk_state& d, const entry& e) {
    auto& log = d.log;
    if (!log.empty() && e.index <= log.back().index) {
      if (e.index < log.front().index)
        fail("node ", id, ": overwriting ", e.index, " below the durable log");
      log.resize(e.index.value() - log.front().index.value());
    }
    if (!log.empty() && e.index.value() != log.back().index.value() + 1)
      fail("node ", id, ": gap in the durable log before ", e.index);
    if (log.empty() && e.index.value() > d.snap.meta.index.value() + 1)
      fail("node ", id, ": gap after the durable snapshot before ", e.index);
    log.push_back(e);
  }

  // -- time ------------------------------------------------------------------

  void tick_due() {
    for (auto& n : nodes_)
      if (n.up && (now_ + n.tick_phase) % tick_units == 0) {
        n.core->tick();
        handle_output(n);
      }
  }

  void restart_due() {
    for (auto& n : nodes_)
      if (!n.up && now_ >= n.restart_at) {
        ++n.incarnation;
        start(n);
      }
  }

  // -- clients ---------------------------------------------------------------

  void client_actions() {
    if (opts_.membership && rng_.chance(12))
      change_membership();
    if (rng_.chance(100))
      propose();
    if (rng_.chance(40))
      read();
    if (rng_.chance(2))
      transfer();
    if (rng_.chance(8))
      take_snapshot();
  }

  sim_node* current_leader() {
    sim_node* best = nullptr;
    for (auto& n : nodes_)
      if (n.up && n.core->role() == role::leader
          && (!best || n.core->term() > best->core->term()))
        best = &n;
    return best;
  }

  sim_node* random_up_node() {
    std::vector<sim_node*> up;
    for (auto& n : nodes_)
      if (n.up)
        up.push_back(&n);
    return up.empty() ? nullptr : up[rng_.below(up.size())];
  }

  void propose() {
    auto target = rng_.chance(800) ? current_leader() : random_up_node();
    if (!target)
      return;
    auto data = "p" + std::to_string(++proposal_seq_);
    if (rng_.chance(50))
      data.append(100 + rng_.below(200), 'x');
    auto index = target->core->propose(data);
    transcript_.add(3).add(target->id.value()).add(index.ok());
    if (index.ok()) {
      ++stats_.proposals;
      trace_node(*target, "proposed ", data.substr(0, 12), " at ", *index);
    }
    handle_output(*target);
  }

  void read() {
    auto target = random_up_node();
    if (!target)
      return;
    auto id = ++read_seq_;
    target->reads[id] = max_commit_;
    target->core->read_index(id);
    transcript_.add(4).add(target->id.value()).add(id);
    handle_output(*target);
  }

  void transfer() {
    auto leader = current_leader();
    if (!leader)
      return;
    auto to = node_id{1 + rng_.below(nodes_.size())};
    auto err = leader->core->transfer_leadership(to);
    transcript_.add(5).add(to.value()).add(static_cast<uint64_t>(err));
    if (err == error_code::ok) {
      ++stats_.transfers;
      trace_node(*leader, "transfers leadership to ", to);
    }
    handle_output(*leader);
  }

  void take_snapshot() {
    auto n = random_up_node();
    if (!n || n->sm.index <= n->core->snapshot_index())
      return;
    auto e = n->core->entry_at(n->sm.index);
    if (!e)
      return;
    // The state machine's configuration at its index goes with it.
    snapshot_meta meta{n->sm.index, e->term, n->sm.config};
    auto keep = static_cast<size_t>(rng_.below(8));
    // The file is durable first; making it current and compacting the log
    // go through the FIFO writer (after the writes already queued).
    n->disk.files[meta.index.value()] = snapshot_file{meta, n->sm.hash};
    n->core->snapshot_taken(meta, keep);
    if (n->core->latest_snapshot().config != meta.config)
      fail("node ", n->id, ": snapshot at ", meta.index,
           " has a configuration other than the state machine's");
    write_batch b;
    b.local = std::make_pair(meta, keep);
    enqueue(*n, std::move(b));
    ++stats_.snapshots_taken;
    transcript_.add(6).add(n->id.value()).add(meta.index.value());
    trace_node(*n, "took snapshot at ", meta.index, " keeping ", keep);
    handle_output(*n);
  }

  // -- membership (§4) -------------------------------------------------------

  void change_membership() {
    auto leader = current_leader();
    if (!leader)
      return;
    const auto& cfg = leader->core->config();
    membership_change ch;
    auto r = rng_.below(100);
    if (r < 30) {
      // A brand-new node (fresh disk, empty bootstrap) joins as a learner.
      std::vector<sim_node*> spare;
      for (auto& n : nodes_)
        if (n.absent && !cfg.contains(n.id))
          spare.push_back(&n);
      if (spare.empty())
        return;
      auto& n = *spare[rng_.below(spare.size())];
      join(n);
      ch.what = membership_change::kind::add_learner;
      ch.id = n.id;
    } else if (r < 55) {
      auto learners = cfg.learners();
      if (learners.empty())
        return;
      ch.what = membership_change::kind::promote;
      ch.id = learners[rng_.below(learners.size())];
    } else if (r < 85) {
      // Keep a few voters most of the time (a lone voter is fine too).
      const auto& ms = cfg.members;
      ch.what = membership_change::kind::remove;
      ch.id = ms[rng_.below(ms.size())].id;
      if (cfg.is_voter(ch.id) && cfg.voter_count() <= 2 && rng_.chance(700))
        return;
    } else if (r < 92) {
      const auto& ms = cfg.members;
      ch.what = membership_change::kind::readdress;
      ch.id = ms[rng_.below(ms.size())].id;
    } else {
      decommission();
      return;
    }
    if (ch.address.empty())
      ch.address = "n" + std::to_string(ch.id.value()) + "-"
                   + std::to_string(node(ch.id).generation) + "-"
                   + std::to_string(rng_.below(4));
    auto res = leader->core->change_membership(ch);
    bool ok = std::holds_alternative<log_index>(res);
    transcript_.add(12)
      .add(static_cast<uint64_t>(ch.what))
      .add(ch.id.value())
      .add(ok);
    if (ok) {
      ++stats_.config_changes;
      if (ch.what == membership_change::kind::remove && ch.id == leader->id)
        ++stats_.leader_removals;
      stats_.max_voters
        = std::max(stats_.max_voters, leader->core->config().voter_count());
      trace_node(*leader, "membership: ", to_string(ch.what), " ", ch.id,
                 " at ", std::get<log_index>(res));
    } else if (opts_.trace) {
      trace_node(*leader, "membership: ", to_string(ch.what), " ", ch.id,
                 " refused: ", std::get<membership_error>(res).text);
    }
    handle_output(*leader);
  }

  /// Starts `n` as a brand-new node: fresh disk, empty bootstrap.
  void join(sim_node& n) {
    n.disk = disk_state{};
    n.pending.clear();
    n.reads.clear();
    n.absent = false;
    n.joining = true;
    n.crash_at = never;
    ++n.generation;
    ++n.incarnation;
    ++stats_.joins;
    transcript_.add(13).add(n.id.value()).add(n.generation);
    trace_node(n, "joins as a new node (generation ", n.generation, ")");
    start(n);
  }

  /// Shuts down a node that no configuration refers to any more: not the
  /// latest committed one, nor any running node's.
  void decommission() {
    const auto& committed = committed_configs_.rbegin()->second;
    std::vector<sim_node*> removable;
    for (auto& n : nodes_) {
      if (n.absent || committed.contains(n.id))
        continue;
      bool referred
        = std::any_of(nodes_.begin(), nodes_.end(), [&](const sim_node& other) {
            return other.up && other.core->config().contains(n.id);
          });
      if (!referred)
        removable.push_back(&n);
    }
    if (removable.empty())
      return;
    auto& n = *removable[rng_.below(removable.size())];
    if (n.up)
      crash(&n);
    n.absent = true;
    n.restart_at = never;
    ++stats_.decommissions;
    transcript_.add(14).add(n.id.value());
    trace_node(n, "decommissioned");
  }

  /// Consecutive committed configurations differ by one single-server
  /// change (§4.1).
  static bool single_change(const configuration& a, const configuration& b) {
    size_t only_a = 0;
    size_t only_b = 0;
    size_t differ = 0;
    bool new_learner = true;
    bool promoted_or_readdressed = true;
    for (const auto& m : a.members)
      if (!b.contains(m.id))
        ++only_a;
    for (const auto& m : b.members) {
      auto old = a.find(m.id);
      if (!old) {
        ++only_b;
        new_learner = m.role == member_role::learner;
      } else if (*old != m) {
        ++differ;
        bool promoted = old->role == member_role::learner
                        && m.role == member_role::voter
                        && old->address == m.address;
        bool readdressed = old->role == m.role;
        promoted_or_readdressed = promoted || readdressed;
      }
    }
    if (only_a + only_b == 1 && differ == 0)
      return only_b == 0 || new_learner;
    // (A readdress to the same address changes nothing.)
    return only_a + only_b == 0 && differ <= 1 && promoted_or_readdressed;
  }

  void record_config(const entry& e) {
    auto c = decode_configuration(e.data);
    if (!c)
      fail("committed configuration entry ", e.index, " is malformed");
    auto index = e.index.value();
    auto next = committed_configs_.upper_bound(index);
    auto prev = std::prev(next);
    if (!single_change(prev->second, *c))
      fail("committed configuration at ", index,
           " is not one single-server change from the one at ", prev->first);
    if (next != committed_configs_.end() && !single_change(*c, next->second))
      fail("committed configuration at ", next->first,
           " is not one single-server change from the one at ", index);
    committed_configs_.emplace(index, std::move(*c));
    ++stats_.configs_committed;
  }

  /// The configuration in force is the latest one in the node's log (§4.1),
  /// else its snapshot's, else its bootstrap's; a leader holds at most one
  /// uncommitted configuration entry. Scans only the uncommitted suffix;
  /// the committed prefix is checked against the global record.
  void check_config(sim_node& n) {
    auto& c = *n.core;
    auto ci = c.config_index();
    if (auto e = c.entry_at(ci)) {
      auto decoded = decode_configuration(e->data);
      if (e->type != entry_type::config || !decoded || *decoded != c.config())
        fail("node ", n.id, ": configuration in force is not the entry at ",
             ci);
    } else {
      const auto& expected = c.snapshot_index().value() > 0
                               ? c.latest_snapshot().config
                               : config_for(n).initial();
      if (ci > c.compacted_index() || c.config() != expected)
        fail("node ", n.id, ": configuration in force is not its snapshot's ",
             "or bootstrap's");
    }
    size_t uncommitted = ci > c.commit_index() ? 1 : 0;
    for (auto k = std::max(ci, c.commit_index()).value() + 1;
         k <= c.last_index().value(); ++k)
      if (c.entry_at(log_index{k})->type == entry_type::config)
        fail("node ", n.id, ": configuration entry at ", k,
             " after the one in force at ", ci);
    if (c.role() == role::leader) {
      for (auto k = c.commit_index().value() + 1; k < ci.value(); ++k)
        if (c.entry_at(log_index{k})->type == entry_type::config)
          ++uncommitted;
      if (uncommitted > 1)
        fail("leader ", n.id, " holds ", uncommitted,
             " uncommitted configuration entries");
    }
    // No committed configuration after the one in force.
    auto latest = std::prev(committed_configs_.upper_bound(
      std::min(c.commit_index(), c.last_index()).value()));
    if (latest->first > ci.value()
        || (latest->first == ci.value() && ci.value() > 0
            && latest->second != c.config()))
      fail("node ", n.id, ": committed configuration at ", latest->first,
           " is not in force (", ci, " is)");
    if (c.config_committed() != (ci <= c.commit_index()))
      fail("node ", n.id, ": config_committed() is wrong");
  }

  // -- faults ----------------------------------------------------------------

  void faults() {
    if (rng_.chance(2))
      partition_random();
    if (rng_.chance(1))
      isolate_leader();
    if (rng_.chance(4)
        && !std::all_of(groups_.begin(), groups_.end(),
                        [](int g) { return g == 0; })) {
      std::fill(groups_.begin(), groups_.end(), 0);
      transcript_.add(7);
      trace("healed the network");
    }
    if (rng_.chance(crash_per_mille_))
      crash(random_up_node());
    for (auto& n : nodes_)
      if (n.up && n.crash_at <= now_)
        crash(&n);
  }

  void partition_random() {
    for (auto& g : groups_)
      g = static_cast<int>(rng_.below(2));
    ++stats_.partitions;
    std::ostringstream desc;
    for (auto g : groups_)
      desc << g;
    transcript_.add(8).add(desc.str());
    trace("partition ", desc.str());
  }

  void isolate_leader() {
    auto leader = current_leader();
    if (!leader)
      return;
    std::fill(groups_.begin(), groups_.end(), 0);
    groups_[leader->id.value() - 1] = 1;
    ++stats_.partitions;
    transcript_.add(9).add(leader->id.value());
    trace("isolated leader ", leader->id);
  }

  void crash(sim_node* n) {
    if (!n)
      return;
    n->crash_at = never;
    n->up = false;
    n->core.reset();
    // A torn write: a prefix of the oldest pending write made it to disk.
    if (!n->pending.empty() && rng_.chance(500)) {
      auto& b = n->pending.front();
      auto ops = static_cast<size_t>(rng_.below(b.ops() + 1));
      apply(n->id, n->disk, b, ops);
      ++stats_.torn_writes;
    }
    n->pending.clear();
    n->reads.clear();
    n->restart_at
      = now_ + 1
        + rng_.below(rng_.chance(300) ? 3 * tick_units : 40 * tick_units);
    ++stats_.crashes;
    transcript_.add(10).add(n->id.value());
    trace_node(*n, "crashed; restarts at ", n->restart_at);
  }

  // -- outputs and checks ----------------------------------------------------

  sim_node& node(node_id id) { return nodes_.at(id.value() - 1); }

  void handle_output(sim_node& n) {
    auto& c = *n.core;
    auto out = c.take_output();
    c.check_invariants();
    for (const auto& line : out.log)
      trace(line.text);
    transcript_.add(11)
      .add(n.id.value())
      .add(c.term().value())
      .add(static_cast<uint64_t>(c.role()))
      .add(c.commit_index().value())
      .add(c.last_index().value())
      .add(out.entries.size())
      .add(out.messages.size())
      .add(out.messages_after_persist.size());
    if (out.snapshot)
      load_snapshot(n, *out.snapshot);
    for (const auto& e : out.committed)
      apply_entry(n, e);
    for (const auto& r : out.reads)
      check_read(n, r);
    for (auto id : out.failed_reads) {
      n.reads.erase(id);
      ++stats_.reads_failed;
      trace_node(n, "read ", id, " failed (", to_string(c.role()), ", leader ",
                 c.leader(), ")");
    }
    for (auto peer : out.snapshot_for) {
      bool found = std::any_of(
        out.messages.begin(), out.messages.end(), [&](const message& m) {
          return m.to == peer
                 && std::holds_alternative<install_snapshot>(m.body);
        });
      if (!found)
        fail("node ", n.id, ": snapshot_for ", peer,
             " without an install_snapshot message");
    }
    for (const auto& m : out.messages) {
      if (opts_.trace)
        trace_node(n, "-> ", m.to, " ", body_name(m.body), " t",
                   term_of(m.body));
      send(n, m);
    }
    queue_writes(n, out);
    check_node(n);
  }

  void load_snapshot(sim_node& n, const snapshot_meta& meta) {
    auto file = snapshot_bytes(n, meta.index);
    if (!file)
      fail("node ", n.id, ": snapshot output without durable bytes");
    if (meta.index <= n.sm.index)
      fail("node ", n.id, ": snapshot ", meta.index,
           " does not advance the state machine at ", n.sm.index);
    n.sm = state_machine{meta.index, file->hash, meta.config};
    if (file->meta.config != meta.config)
      fail("node ", n.id, ": snapshot at ", meta.index,
           " installed with another configuration than its file's");
    auto [it, fresh] = hash_at_.emplace(meta.index.value(), file->hash);
    if (!fresh && it->second != file->hash)
      fail("node ", n.id, ": snapshot at ", meta.index,
           " differs from the applied state there");
    ++stats_.snapshots_installed;
    trace_node(n, "loaded snapshot at ", meta.index);
  }

  void apply_entry(sim_node& n, const entry& e) {
    if (e.index.value() != n.sm.index.value() + 1)
      fail("node ", n.id, ": applies ", e.index, " after ", n.sm.index);
    record(n, e);
    n.sm.hash = hasher{}
                  .add(n.sm.hash)
                  .add(e.index.value())
                  .add(e.term.value())
                  .add(static_cast<uint64_t>(e.type))
                  .add(e.data)
                  .value();
    n.sm.index = e.index;
    if (e.type == entry_type::config) {
      auto c = decode_configuration(e.data);
      if (!c)
        fail("node ", n.id, ": malformed configuration entry ", e.index);
      n.sm.config = std::move(*c);
    }
    auto [it, fresh] = hash_at_.emplace(e.index.value(), n.sm.hash);
    if (!fresh && it->second != n.sm.hash)
      fail("node ", n.id, ": state machine diverges at ", e.index);
  }

  /// State Machine Safety: one entry per committed index, ever.
  void record(sim_node& n, const entry& e) {
    auto [it, fresh]
      = committed_.emplace(e.index.value(), committed_entry{e, n.core->term()});
    if (!fresh && !(it->second.e == e))
      fail("node ", n.id, ": index ", e.index, " committed as term ",
           it->second.e.term, " '", it->second.e.data.substr(0, 12),
           "' and as term ", e.term, " '", e.data.substr(0, 12), "'");
    if (fresh) {
      // Committed means durable on a majority, whatever crashes next.
      // Majority of the voters the committing leader counted (§4.1).
      auto voters = n.core->config().voters();
      size_t copies = 0;
      for (auto v : voters) {
        const auto& d = node(v).disk;
        bool has = e.index <= d.snap.meta.index
                   || std::any_of(d.log.begin(), d.log.end(),
                                  [&](const entry& x) { return x == e; });
        copies += has ? 1 : 0;
      }
      if (copies < voters.size() / 2 + 1)
        fail("entry ", e.index, " committed while durable on only ", copies,
             " of ", voters.size(), " voters");
      if (e.type == entry_type::config)
        record_config(e);
    }
    if (e.index > max_commit_)
      max_commit_ = e.index;
  }

  void check_read(sim_node& n, const read_state& r) {
    auto i = n.reads.find(r.read_id);
    if (i == n.reads.end())
      fail("node ", n.id, ": answer to unknown read ", r.read_id);
    // Linearizability: the read sees everything committed before it began.
    if (r.index < i->second)
      fail("node ", n.id, ": read ", r.read_id, " at index ", r.index,
           " misses entries committed up to ", i->second);
    if (r.index > max_commit_)
      fail("node ", n.id, ": read index ", r.index, " is not committed");
    n.reads.erase(i);
    ++stats_.reads_ok;
    trace_node(n, "read ", r.read_id, " ok at ", r.index);
  }

  void check_node(sim_node& n) {
    auto& c = *n.core;
    stats_.max_term = std::max<size_t>(stats_.max_term, c.term().value());
    // Newly committed entries (those still in memory) join the record.
    for (auto k = n.checked_commit.value() + 1; k <= c.commit_index().value();
         ++k)
      if (auto e = c.entry_at(log_index{k}))
        record(n, *e);
    n.checked_commit = std::max(n.checked_commit, c.commit_index());
    check_config(n);
    if (c.role() != role::leader)
      return;
    // Election Safety: at most one leader per term.
    auto [it, fresh] = leaders_.emplace(c.term().value(), c.id());
    if (!fresh && it->second != c.id())
      fail("two leaders in term ", c.term(), ": ", it->second, " and ", c.id());
    if (!fresh)
      return;
    ++stats_.leaders;
    trace_node(n, "LEADER of term ", c.term());
    // Leader Completeness: entries committed in earlier terms are here.
    for (const auto& [index, rec] : committed_) {
      if (rec.commit_term >= c.term()
          || log_index{index} <= c.compacted_index())
        continue;
      auto e = c.entry_at(log_index{index});
      if (!e || !(*e == rec.e))
        fail("leader ", c.id(), " of term ", c.term(),
             " lacks committed entry ", index);
    }
  }

  // -- tracing ---------------------------------------------------------------

  template <class... Ts>
  void trace(const Ts&... xs) {
    if (!opts_.trace)
      return;
    *opts_.trace << "[" << now_ << "] ";
    (*opts_.trace << ... << xs);
    *opts_.trace << '\n';
  }

  template <class... Ts>
  void trace_node(const sim_node& n, const Ts&... xs) {
    trace("n", n.id, ": ", xs...);
  }

  // -- state -----------------------------------------------------------------

  options opts_;
  prng rng_;
  core_config base_;
  std::vector<sim_node> nodes_;
  std::vector<int> groups_;
  std::map<std::pair<uint64_t, uint64_t>, packet> network_;
  uint64_t seq_ = 0;
  uint64_t now_ = 0;
  size_t step_ = 0;
  bool settling_ = false;
  uint64_t loss_per_mille_ = 30;
  uint64_t max_delay_ = 2 * tick_units;
  uint64_t disk_delay_ = 3 * tick_units;
  uint64_t crash_per_mille_ = 2;
  bool group_commit_ = false;
  uint64_t proposal_seq_ = 0;
  uint64_t read_seq_ = 0;
  std::vector<log_index> finals_;
  uint64_t last_final_at_ = 0;

  std::map<uint64_t, committed_entry> committed_;
  std::map<uint64_t, uint64_t> hash_at_;
  std::map<uint64_t, node_id> leaders_;
  /// (node, generation, term) -> vote.
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, node_id> votes_;
  /// Committed configurations by index (0: the bootstrap one).
  std::map<uint64_t, configuration> committed_configs_;
  log_index max_commit_;

  hasher transcript_;
  stats stats_;
};

} // namespace

result run(const options& opts) {
  static bool installed = false;
  if (!installed) {
    std::signal(SIGABRT, on_abort);
    installed = true;
  }
  abort_seed = opts.seed;
  abort_nodes = opts.nodes;
  abort_membership = opts.membership;
  abort_active = true;
  auto res = simulation{opts}.run();
  abort_active = false;
  return res;
}

std::string describe(const result& res) {
  std::ostringstream out;
  out << "seed " << res.seed << ": "
      << (res.ok
            ? "ok"
            : "FAILED at step " + std::to_string(res.step) + ": " + res.failure)
      << " (leaders " << res.counts.leaders << ", max term "
      << res.counts.max_term << ", committed " << res.counts.committed
      << ", delivered " << res.counts.delivered << ", dropped "
      << res.counts.dropped << ", crashes " << res.counts.crashes << ", torn "
      << res.counts.torn_writes << ", snapshots " << res.counts.snapshots_taken
      << "/" << res.counts.snapshots_installed << ", reads "
      << res.counts.reads_ok << "/" << res.counts.reads_failed << ", transfers "
      << res.counts.transfers;
  if (res.counts.config_changes > 0 || res.counts.joins > 0)
    out << ", config changes " << res.counts.config_changes << "/"
        << res.counts.configs_committed << ", joins " << res.counts.joins
        << ", leader removals " << res.counts.leader_removals
        << ", decommissions " << res.counts.decommissions << ", max voters "
        << res.counts.max_voters;
  out << ")";
  return out.str();
}

} // namespace conclave::raft::sim
