#include "actors/log_actor.hpp"

#include "actors/fault_injection.hpp"
#include "actors/local_sender.hpp"
#include "messages/proposal_refused.hpp"

#include <algorithm>
#include <chrono>

#include <caf/io/middleman.hpp>

#include "runtime/logging.hpp"
#include "runtime/raft/codec.hpp"
#include "runtime/storage/file.hpp"
#include "runtime/storage/snapshot_store.hpp"

namespace conclave {

namespace {

using self_ptr = log_actor::stateful_pointer<log_state>;

/// Longest wait between reconnection attempts, in ticks.
constexpr uint64_t max_backoff_ticks = 50;

/// A snapshot transfer that makes no progress for this many ticks is
/// abandoned (the core asks again).
constexpr uint64_t transfer_timeout_ticks = 300;

void drain(self_ptr self);
void advance_reconfig(self_ptr self);

void schedule_flush(self_ptr self) {
  auto& st = self->state;
  if (!st.flush_scheduled) {
    st.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

/// The storage worker is gone: stop this actor with the reason; the
/// supervisor restarts the core from what is on disk (or shuts the node
/// down when failures repeat). Nothing unpersisted was acknowledged.
void fail(self_ptr self, const std::string& what) {
  CONCLAVE_LOG("log", error) << what << "; stopping the log actor";
  self->quit(caf::make_error(caf::sec::runtime_error, what));
}

[[noreturn]] void fatal(const std::string& what) {
  CONCLAVE_LOG("log", error) << what << "; stopping the node";
  stop_logging();
  std::abort();
}

// -- peers --------------------------------------------------------------------

void connect_peer(self_ptr self, node_id id);

void peer_lost(self_ptr self, node_id id, const std::string& why) {
  auto& link = self->state.peers[id];
  link.handle = nullptr;
  link.connecting = false;
  ++link.failures;
  auto backoff = std::min<uint64_t>(max_backoff_ticks,
                                    uint64_t{1} << std::min(link.failures, 6u));
  link.retry_tick = self->state.ticks + backoff;
  if (!link.reported) {
    link.reported = true;
    CONCLAVE_LOG("log", warning)
      << "cannot reach peer " << id << " at " << to_string(link.address) << " ("
      << why << "); retrying with backoff";
  }
}

void peer_found(self_ptr self, node_id id, log_actor handle) {
  auto& link = self->state.peers[id];
  link.connecting = false;
  if (link.handle == handle)
    return;
  link.handle = std::move(handle);
  self->monitor(link.handle);
  if (link.reported)
    CONCLAVE_LOG("log", info) << "peer " << id << " is reachable again";
  link.reported = false;
  link.failures = 0;
}

void connect_peer(self_ptr self, node_id id) {
  auto& link = self->state.peers[id];
  if (link.handle || link.connecting)
    return;
  link.connecting = true;
  auto mm = self->system().middleman().actor_handle();
  self
    ->request(mm, std::chrono::seconds(5), connect_atom::value,
              link.address.host, link.address.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr ptr,
          const std::set<std::string>& ifs) {
        if (!ptr || ifs != self->system().message_types<log_actor>()) {
          peer_lost(self, id, "not a Conclave peer port");
          return;
        }
        peer_found(self, id, caf::actor_cast<log_actor>(ptr));
      },
      [=](const caf::error& err) {
        peer_lost(self, id, self->system().render(err));
      });
}

/// The peer address a configuration records ("host:port", IPv6 in
/// brackets), or the one conclave.peers names for a member recorded
/// without one.
std::optional<peer_address> address_of(const log_state& st,
                                       const raft::member& m) {
  if (m.address.empty()) {
    for (const auto& p : st.options.peers)
      if (p.id == m.id)
        return p;
    return std::nullopt;
  }
  auto parsed = parse_peer(std::to_string(m.id.value()) + "@" + m.address);
  if (auto p = std::get_if<peer_address>(&parsed))
    return *p;
  return std::nullopt;
}

/// Keeps one link per node the core may talk to (every member of the
/// configurations it holds), dialing the addresses the log records.
void sync_peers(self_ptr self) {
  auto& st = self->state;
  auto index = st.core->config_index().value();
  if (index == st.peers_config_index)
    return;
  st.peers_config_index = index;
  const auto& config = st.core->config();
  if (config.empty())
    CONCLAVE_LOG("log", info)
      << "joining: no configuration yet; waiting for the leader to send "
         "the log";
  else if (!config.contains(st.self_id))
    CONCLAVE_LOG("log", warning)
      << "this node is not a member of the configuration at index " << index
      << "; it receives no log and never campaigns (stop it, or add it "
         "with conclavectl members add)";
  auto members = st.core->known_members();
  if (members.empty())
    return; // joining: keep the seeds until the leader sends the log
  std::map<node_id, peer_link> links;
  for (const auto& m : members) {
    if (m.id == st.self_id)
      continue;
    auto addr = address_of(st, m);
    auto old = st.peers.find(m.id);
    if (old != st.peers.end() && (!addr || old->second.address == *addr)) {
      links.emplace(m.id, std::move(old->second));
      continue;
    }
    if (!addr) {
      CONCLAVE_LOG("log", warning)
        << "member " << m.id << " has no usable address ('" << m.address
        << "'); it can only be answered over connections it opens";
      links[m.id].address.id = m.id;
      continue;
    }
    CONCLAVE_LOG("log", info) << "peer " << m.id << " at " << to_string(*addr)
                              << " (" << raft::to_string(m.role) << ")";
    links[m.id].address = *addr;
  }
  // A node catching up may install a snapshot whose configuration predates
  // the leader that sends it (and itself): keep the route to the leader.
  auto leader = st.core->leader();
  if (auto i = st.peers.find(leader);
      leader != st.self_id && i != st.peers.end() && links.count(leader) == 0)
    links.emplace(leader, std::move(i->second));
  for (auto& [id, link] : st.peers)
    if (links.count(id) == 0) {
      CONCLAVE_LOG("log", info) << "peer " << id << " left the configuration";
      if (link.handle)
        self->demonitor(link.handle.address());
    }
  st.peers = std::move(links);
  for (auto& [id, link] : st.peers)
    if (!link.address.host.empty())
      connect_peer(self, id);
}

void send_raft(self_ptr self, raft::message msg) {
  auto to = msg.to;
  auto i = self->state.peers.find(to);
  if (i == self->state.peers.end())
    return;
  if (!i->second.handle) {
    // Raft tolerates lost messages; reconnect in the background.
    if (!i->second.connecting && i->second.retry_tick <= self->state.ticks)
      connect_peer(self, to);
    return;
  }
  self->send(i->second.handle, raft_atom::value, raft::encode(std::move(msg)));
}

void send_all(self_ptr self, std::vector<raft::message>& msgs) {
  for (auto& msg : msgs)
    send_raft(self, std::move(msg));
  msgs.clear();
}

// -- persistence pipeline --------------------------------------------------

void start_write(self_ptr self) {
  auto& st = self->state;
  if (st.write_in_flight || st.writes.empty())
    return;
  st.write_in_flight = true;
  auto batch = std::move(st.writes.front().batch);
  auto sent = std::chrono::steady_clock::now();
  self
    ->request(st.storage, caf::infinite, persist_atom::value, std::move(batch))
    .then(
      [=](uint64_t index, uint64_t term) {
        auto& st = self->state;
        auto ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - sent)
                    .count();
        st.persist_ewma_ms
          = st.persist_count == 0 ? ms : 0.8 * st.persist_ewma_ms + 0.2 * ms;
        ++st.persist_count;
        st.persist_seconds.observe(ms / 1000.0);
        auto done = std::move(st.writes.front());
        st.writes.pop_front();
        st.write_in_flight = false;
        if (done.reports)
          st.core->persisted(log_index{index}, term_t{term});
        send_all(self, done.after);
        start_write(self);
        schedule_flush(self);
      },
      [=](const caf::error& err) {
        if (err == caf::sec::request_receiver_down)
          // The storage worker failed: the supervisor restarts the core.
          fail(self, "cannot persist the log: the storage worker is gone");
        else
          // An I/O error: after a failed fsync the kernel's page cache may
          // no longer match the disk, so nothing read back can be trusted
          // (reopening would treat unwritten data as durable). Stop.
          fatal("cannot persist the log: " + self->system().render(err));
      });
}

/// The write later outputs may still merge into (not in flight).
queued_write& open_write(log_state& st) {
  if (st.writes.empty() || (st.write_in_flight && st.writes.size() == 1))
    st.writes.emplace_back();
  return st.writes.back();
}

/// Adds the output's durable part to the queued writes, keeping the
/// contract's order: entries of earlier outputs, then a received snapshot,
/// then later entries (the storage worker decides, as the core did, whether
/// the log continues the snapshot).
void queue_write(self_ptr self, raft::output& out) {
  auto& st = self->state;
  // A hard state that changes only the commit index is not written (the
  // storage worker skips it: the commit index on disk is a hint), so it
  // takes no place in the pipeline either: a round trip for nothing would
  // delay the next entries and the acknowledgements waiting for them.
  if (out.state && st.queued_state && out.state->term == st.queued_state->term
      && out.state->vote == st.queued_state->vote)
    out.state.reset();
  if (out.state)
    st.queued_state = out.state;
  auto has_write = out.snapshot || out.state || !out.entries.empty();
  if (!has_write) {
    // Nothing of its own to persist: its messages wait for the writes
    // before it, if any.
    if (st.writes.empty())
      send_all(self, out.messages_after_persist);
    else
      for (auto& m : out.messages_after_persist)
        st.writes.back().after.push_back(std::move(m));
    return;
  }
  auto* w = &open_write(st);
  if (out.snapshot) {
    if (w->batch.snapshot) {
      st.writes.emplace_back(); // two installs never share one write
      w = &st.writes.back();
    }
    auto& b = w->batch;
    for (auto& e : b.entries)
      b.pre_entries.push_back(std::move(e));
    b.entries.clear();
    b.snapshot = out.snapshot;
    w->reports = true;
  }
  auto& b = w->batch;
  if (out.state)
    b.state = out.state;
  if (!out.entries.empty()) {
    // A later output may overwrite a suffix this write has not stored yet
    // (entries in pre_entries are overwritten by the log store itself).
    auto first = out.entries.front().index;
    while (!b.entries.empty() && b.entries.back().index >= first)
      b.entries.pop_back();
    for (auto& e : out.entries)
      b.entries.push_back(std::move(e));
    w->reports = true;
  }
  for (auto& m : out.messages_after_persist)
    w->after.push_back(std::move(m));
}

// -- applying -----------------------------------------------------------------

pb::LogEntry config_entry(const raft::entry& e) {
  pb::LogEntry out;
  out.set_index(e.index.value());
  out.set_term(e.term.value());
  if (!out.mutable_config()->ParseFromString(e.data))
    fatal("committed entry " + std::to_string(e.index.value())
          + " is not a configuration");
  return out;
}

pb::LogEntry to_log_entry(raft::entry& e) {
  pb::LogEntry out;
  out.set_index(e.index.value());
  out.set_term(e.term.value());
  if (e.type == raft::entry_type::noop)
    return out;
  if (e.type == raft::entry_type::config)
    return config_entry(e);
  pb::Proposal proposal;
  if (!proposal.ParseFromString(e.data))
    fatal("committed entry " + std::to_string(e.index.value())
          + " is not a proposal");
  out.set_time_ms(proposal.time_ms());
  out.set_origin_node(proposal.origin_node());
  out.set_request_id(proposal.request_id());
  *out.mutable_command() = std::move(*proposal.mutable_command());
  return out;
}

void answer_snapshot_waiters(self_ptr self, const pb::SnapshotMeta* meta,
                             const std::string& error) {
  auto waiters = std::move(self->state.snapshot_waiters);
  self->state.snapshot_waiters.clear();
  for (auto& rp : waiters)
    if (meta)
      rp.deliver(*meta);
    else
      rp.deliver(caf::make_error(caf::sec::runtime_error, error));
}

void maybe_snapshot(self_ptr self) {
  auto& st = self->state;
  bool due = st.entries_since_snapshot >= st.options.snapshot_entries
             || st.bytes_since_snapshot >= st.options.snapshot_log_bytes;
  if (st.snapshot_running || !(due || st.snapshot_forced))
    return;
  st.snapshot_running = true;
  st.snapshot_forced = false;
  self->request(st.registry, caf::infinite, snapshot_atom::value)
    .then(
      [=](const pb::SnapshotMeta& meta) {
        auto& st = self->state;
        answer_snapshot_waiters(self, &meta, {});
        st.entries_since_snapshot = 0;
        st.bytes_since_snapshot = 0;
        st.core->snapshot_taken(raft::decode(meta),
                                st.options.snapshot_keep_entries);
        schedule_flush(self);
        // The next snapshot starts only after old files are gone (retain()
        // must not meet a snapshot still being written).
        self
          ->request(st.storage, caf::infinite, compact_atom::value,
                    meta.index())
          .then([=](uint64_t) { self->state.snapshot_running = false; },
                [=](const caf::error& err) {
                  if (err == caf::sec::request_receiver_down)
                    fail(self, "cannot compact the log: the storage worker "
                               "is gone");
                  else
                    fatal("cannot compact the log: "
                          + self->system().render(err));
                });
      },
      [=](const caf::error& err) {
        auto& st = self->state;
        st.snapshot_running = false;
        auto latest = st.core->latest_snapshot();
        if (!st.snapshot_waiters.empty() && latest.index.value() != 0
            && latest.index.value() == st.core->commit_index().value()) {
          // Nothing applied since the latest snapshot: that one is current.
          pb::SnapshotMeta meta;
          raft::encode(latest, &meta);
          answer_snapshot_waiters(self, &meta, {});
          return;
        }
        auto why = self->system().render(err);
        answer_snapshot_waiters(self, nullptr, "snapshot not taken: " + why);
        CONCLAVE_LOG("log", warning) << "snapshot not taken: " << why;
      });
}

void apply_committed(self_ptr self, std::vector<raft::entry>& committed) {
  auto& st = self->state;
  if (committed.empty())
    return;
  pb::LogBatch batch;
  batch.mutable_entries()->Reserve(static_cast<int>(committed.size()));
  for (auto& e : committed) {
    st.bytes_since_snapshot += e.data.size();
    *batch.add_entries() = to_log_entry(e);
  }
  st.entries_since_snapshot += committed.size();
  self->send(st.registry, apply_atom::value, std::move(batch));
  maybe_snapshot(self);
}

// -- snapshots to followers ---------------------------------------------------

void send_next_chunk(self_ptr self, node_id peer);

void transfer_failed(self_ptr self, node_id peer, const std::string& why) {
  self->state.transfers.erase(peer);
  CONCLAVE_LOG("log", warning)
    << "snapshot transfer to peer " << peer << " failed: " << why;
}

void send_next_chunk(self_ptr self, node_id peer) {
  auto& st = self->state;
  auto t = st.transfers.find(peer);
  if (t == st.transfers.end())
    return;
  auto offset = t->second.offset;
  self
    ->request(st.storage, caf::infinite, fetch_atom::value, t->second.index,
              offset, static_cast<uint64_t>(st.options.snapshot_chunk_bytes))
    .then(
      [=](pb::SnapshotChunk& chunk) {
        auto& st = self->state;
        auto link = st.peers.find(peer);
        if (link == st.peers.end() || !link->second.handle) {
          transfer_failed(self, peer, "peer unreachable");
          return;
        }
        auto t = st.transfers.find(peer);
        if (t == st.transfers.end())
          return; // leadership lost meanwhile
        t->second.index = chunk.meta().index();
        chunk.set_from(st.self_id.value());
        chunk.set_term(t->second.term);
        auto done = chunk.done();
        self
          ->request(link->second.handle, std::chrono::seconds(30),
                    chunk_atom::value, std::move(chunk))
          .then(
            [=](uint64_t next) {
              auto& st = self->state;
              auto t = st.transfers.find(peer);
              if (t == st.transfers.end())
                return;
              if (done) {
                CONCLAVE_LOG("log", info) << "sent snapshot to peer " << peer;
                st.transfers.erase(t);
                return;
              }
              t->second.offset = next;
              t->second.started_tick = st.ticks;
              send_next_chunk(self, peer);
            },
            [=](const caf::error& err) {
              transfer_failed(self, peer, self->system().render(err));
            });
      },
      [=](const caf::error& err) {
        transfer_failed(self, peer, self->system().render(err));
      });
}

void start_transfers(self_ptr self, const std::vector<node_id>& peers) {
  auto& st = self->state;
  for (auto peer : peers) {
    if (st.transfers.count(peer) != 0)
      continue;
    CONCLAVE_LOG("log", info)
      << "peer " << peer << " fell behind the log; sending it a snapshot";
    st.transfers.emplace(
      peer, snapshot_transfer{0, st.ticks, st.core->term().value(), 0});
    send_next_chunk(self, peer);
  }
}

// -- the output contract ------------------------------------------------------

void report_leadership(self_ptr self) {
  auto& st = self->state;
  pb::Leadership l;
  l.set_term(st.core->term().value());
  l.set_leader_id(st.core->leader().value());
  l.set_role(raft::to_string(st.core->role()));
  if (l.SerializeAsString() == st.reported.SerializeAsString())
    return;
  st.reported = l;
  ++st.leader_changes;
  if (st.election)
    self->send(st.election, leader_atom::value, l);
}

void log_core_lines(std::vector<raft::log_line>& lines) {
  for (auto& line : lines) {
    switch (line.severity) {
      case raft::log_line::level::debug:
        CONCLAVE_LOG("raft", debug) << line.text;
        break;
      case raft::log_line::level::info:
        CONCLAVE_LOG("raft", info) << line.text;
        break;
      case raft::log_line::level::warning:
        CONCLAVE_LOG("raft", warning) << line.text;
        break;
    }
  }
}

/// Handles one output of the core, in the contract's order.
void drain(self_ptr self) {
  auto& st = self->state;
  auto out = st.core->take_output();
  log_core_lines(out.log);
  // 1. What never waits for the disk: the leader's appends and heartbeats.
  //    The snapshot itself travels as chunks (snapshot_for), not as a
  //    message.
  for (auto& msg : out.messages)
    if (!std::holds_alternative<raft::install_snapshot>(msg.body))
      send_raft(self, std::move(msg));
  // 2./3. Persist, then send what waited for it.
  queue_write(self, out);
  start_write(self);
  // 4. Apply: a received snapshot first, then committed entries.
  if (out.snapshot) {
    pb::SnapshotMeta meta;
    raft::encode(*out.snapshot, &meta);
    // The file of exactly this snapshot (its name encodes index and term),
    // wherever the storage worker put the received one.
    const auto& received = st.installed_snapshot;
    auto dir = received.substr(0, received.rfind('/') + 1);
    auto path
      = dir
        + storage::snapshot_file_name(out.snapshot->index, out.snapshot->term);
    self->send(st.registry, load_atom::value, path, meta);
    st.entries_since_snapshot = 0;
    st.bytes_since_snapshot = 0;
  }
  apply_committed(self, out.committed);
  for (auto& r : out.reads) {
    auto i = st.reads.find(r.read_id);
    if (i != st.reads.end()) {
      i->second.deliver(r.index.value());
      st.reads.erase(i);
    }
  }
  for (auto id : out.failed_reads) {
    auto i = st.reads.find(id);
    if (i != st.reads.end()) {
      i->second.deliver(
        caf::make_error(caf::sec::runtime_error, "leadership not confirmed"));
      st.reads.erase(i);
    }
  }
  if (!out.snapshot_for.empty())
    start_transfers(self, out.snapshot_for);
  if (out.leadership_changed) {
    if (st.core->role() != raft::role::leader)
      st.transfers.clear(); // chunks must not outlive the term they serve
    report_leadership(self);
  }
  sync_peers(self);
  advance_reconfig(self);
}

// -- handlers -----------------------------------------------------------------

caf::result<uint64_t> propose(self_ptr self, pb::Proposal& proposal) {
  auto& st = self->state;
  if (st.core->role() == raft::role::leader) {
    proposal.set_time_ms(st.clock());
    proposal.set_forwarded(false);
    auto index = st.core->propose(proposal.SerializeAsString());
    schedule_flush(self);
    if (index)
      return index->value();
    if (index.error() == error_code::throttled_op)
      return make_error(proposal_refused::throttled,
                        "leader is throttling writes");
  }
  auto leader = st.core->leader();
  auto link = st.peers.find(leader);
  if (proposal.forwarded() || leader == node_id{0} || leader == st.self_id
      || link == st.peers.end() || !link->second.handle)
    return make_error(proposal_refused::no_leader,
                      "no leader known at node "
                        + std::to_string(st.self_id.value()));
  proposal.set_forwarded(true);
  return self->delegate(link->second.handle, propose_atom::value,
                        std::move(proposal));
}

caf::result<uint64_t> read_index(self_ptr self) {
  auto& st = self->state;
  if (st.reads.size() >= st.options.max_pending_reads)
    return caf::make_error(caf::sec::runtime_error,
                           "too many linearizable reads pending");
  auto id = st.next_read_id++;
  auto rp = self->make_response_promise<uint64_t>();
  st.reads.emplace(id, rp);
  st.core->read_index(id);
  schedule_flush(self);
  return rp;
}

caf::result<uint64_t> transfer(self_ptr self, uint64_t target, bool forwarded) {
  auto& st = self->state;
  if (st.core->role() != raft::role::leader) {
    auto link = st.peers.find(st.core->leader());
    if (forwarded || link == st.peers.end() || !link->second.handle)
      return caf::make_error(caf::sec::runtime_error, "no leader known");
    return self->delegate(link->second.handle, transfer_atom::value, target,
                          true);
  }
  auto chosen = node_id{target};
  if (target == 0) {
    // The most up-to-date follower this node can reach (one it cannot
    // reach would never get the TimeoutNow).
    log_index best{0};
    bool best_reachable = false;
    for (auto [peer, match] : st.core->match_indexes()) {
      if (peer == st.self_id)
        continue;
      auto link = st.peers.find(peer);
      bool reachable = link != st.peers.end() && link->second.handle;
      if (chosen == node_id{0} || (reachable && !best_reachable)
          || (reachable == best_reachable && match > best)) {
        chosen = peer;
        best = match;
        best_reachable = reachable;
      }
    }
    if (chosen == node_id{0})
      return caf::make_error(caf::sec::runtime_error,
                             "no follower to hand leadership to");
  }
  auto err = st.core->transfer_leadership(chosen);
  schedule_flush(self);
  if (err != error_code::ok)
    return caf::make_error(caf::sec::runtime_error,
                           "cannot transfer leadership to node "
                             + std::to_string(chosen.value()) + ": "
                             + std::string{to_string(err)});
  CONCLAVE_LOG("log", info) << "transferring leadership to node " << chosen;
  return chosen.value();
}

// -- membership (Raft §4) ----------------------------------------------------

pb::MembershipResult membership(self_ptr self, error_code code,
                                const std::string& message) {
  auto& st = self->state;
  const auto& core = *st.core;
  pb::MembershipResult r;
  r.set_error(static_cast<int32_t>(code));
  r.set_message(message);
  raft::encode(core.config(), r.mutable_config());
  r.set_config_index(core.config_index().value());
  r.set_committed(core.config_committed());
  r.set_leader_id(core.leader().value());
  r.set_commit_index(core.commit_index().value());
  if (st.reconfig)
    r.set_applied(static_cast<uint32_t>(st.reconfig->next));
  for (const auto& m : core.config().members) {
    auto p = r.add_progress();
    p->set_id(m.id.value());
    if (m.id == st.self_id) {
      p->set_match_index(core.persisted_index().value());
      p->set_reachable(true);
      continue;
    }
    if (auto pr = core.progress_of(m.id))
      p->set_match_index(pr->match().value());
    auto link = st.peers.find(m.id);
    p->set_reachable(link != st.peers.end() && link->second.handle);
  }
  return r;
}

void finish_reconfig(self_ptr self, error_code code,
                     const std::string& message) {
  auto& st = self->state;
  auto result = membership(self, code, message);
  auto job = std::move(*st.reconfig);
  st.reconfig.reset();
  if (code == error_code::ok)
    CONCLAVE_LOG("log", info)
      << "membership change done (" << job.next << " change(s))";
  else
    CONCLAVE_LOG("log", warning) << "membership change stopped after "
                                 << job.next << " change(s): " << message;
  job.promise.deliver(std::move(result));
}

uint64_t reconfig_timeout_ticks(const log_state& st,
                                const pb::ReconfigRequest& req) {
  auto ms = req.catch_up_timeout_ms() != 0 ? req.catch_up_timeout_ms()
                                           : st.options.reconfig_timeout_ms;
  return std::max<uint64_t>(1, ms / std::max<size_t>(1, st.options.tick_ms));
}

/// Moves the running membership job on: called after every drain and tick.
void advance_reconfig(self_ptr self) {
  auto& st = self->state;
  if (!st.reconfig)
    return;
  auto& job = *st.reconfig;
  auto& core = *st.core;
  const auto& changes = job.request.changes();
  if (job.index != 0) {
    if (core.commit_index().value() >= job.index
        && core.term().value() == job.term) {
      // Committed: the next step.
      job.index = 0;
      if (changes[job.next].kind() == pb::MemberChange::ADD_VOTER
          && !job.promoting) {
        job.promoting = true;
      } else {
        ++job.next;
        job.promoting = false;
      }
      job.deadline_tick = st.ticks + reconfig_timeout_ticks(st, job.request);
    } else if (core.role() != raft::role::leader
               || core.term().value() != job.term) {
      finish_reconfig(self, error_code::connection_loss,
                      "leadership moved before configuration entry "
                        + std::to_string(job.index)
                        + " committed; it may or may not take effect "
                          "(list the members to see)");
      return;
    } else if (st.ticks > job.deadline_tick) {
      finish_reconfig(self, error_code::operation_timeout,
                      "configuration entry " + std::to_string(job.index)
                        + " did not commit in time (is a majority of the "
                          "new configuration reachable?)");
      return;
    } else {
      return;
    }
  }
  if (core.role() != raft::role::leader || core.term().value() != job.term) {
    if (job.next == changes.size()) {
      finish_reconfig(self, error_code::ok, {});
      return;
    }
    finish_reconfig(self, error_code::connection_loss,
                    "leadership moved during the membership change");
    return;
  }
  while (job.next < changes.size()) {
    const auto& c = changes[job.next];
    raft::membership_change change;
    change.id = node_id{c.id()};
    change.address = c.address();
    change.client_address = c.client_address();
    switch (c.kind()) {
      case pb::MemberChange::ADD_VOTER:
        if (!job.promoting && core.config().is_learner(change.id))
          job.promoting = true; // added before: catch up and promote
        change.what = job.promoting
                        ? raft::membership_change::kind::promote
                        : raft::membership_change::kind::add_learner;
        break;
      case pb::MemberChange::ADD_LEARNER:
        change.what = raft::membership_change::kind::add_learner;
        break;
      case pb::MemberChange::PROMOTE:
        change.what = raft::membership_change::kind::promote;
        break;
      case pb::MemberChange::REMOVE:
        change.what = raft::membership_change::kind::remove;
        break;
      default:
        finish_reconfig(self, error_code::bad_arguments,
                        "unknown membership change kind");
        return;
    }
    auto res = core.change_membership(change);
    if (auto index = std::get_if<log_index>(&res)) {
      CONCLAVE_LOG("log", info)
        << "proposed membership change " << raft::to_string(change.what)
        << " of node " << change.id << " at index " << *index;
      job.index = index->value();
      schedule_flush(self);
      return;
    }
    const auto& err = std::get<raft::membership_error>(res);
    bool wait = err.code == error_code::reconfig_in_progress
                || err.code == error_code::new_config_no_quorum;
    if (wait && st.ticks <= job.deadline_tick)
      return; // try again next tick
    finish_reconfig(self, err.code, err.text);
    return;
  }
  finish_reconfig(self, error_code::ok, {});
}

caf::result<pb::MembershipResult>
reconfig(self_ptr self, pb::ReconfigRequest& req, bool forwarded) {
  auto& st = self->state;
  auto& core = *st.core;
  if (core.role() != raft::role::leader) {
    auto link = st.peers.find(core.leader());
    if (forwarded || core.leader() == node_id{0} || link == st.peers.end()
        || !link->second.handle)
      return membership(self, error_code::connection_loss,
                        "no leader known at node "
                          + std::to_string(st.self_id.value()));
    return self->delegate(link->second.handle, reconfig_atom::value,
                          std::move(req), true);
  }
  if (req.changes_size() == 0)
    return membership(self, error_code::ok, {});
  if (st.reconfig)
    return membership(self, error_code::reconfig_in_progress,
                      "another membership change is running");
  if (req.expected_config_id() >= 0
      && static_cast<uint64_t>(req.expected_config_id())
           != core.config_index().value())
    return membership(self, error_code::bad_version,
                      "the configuration in force is "
                        + std::to_string(core.config_index().value()) + ", not "
                        + std::to_string(req.expected_config_id()));
  auto rp = self->make_response_promise<pb::MembershipResult>();
  reconfig_job job;
  job.request = std::move(req);
  job.promise = rp;
  job.term = core.term().value();
  job.deadline_tick = st.ticks + reconfig_timeout_ticks(st, job.request);
  st.reconfig = std::move(job);
  advance_reconfig(self);
  return rp;
}

caf::result<uint64_t> receive_chunk(self_ptr self, pb::SnapshotChunk& chunk) {
  auto& st = self->state;
  if (chunk.term() < st.core->term().value())
    return caf::make_error(caf::sec::runtime_error, "stale snapshot chunk");
  auto rp = self->make_response_promise<uint64_t>();
  auto from = node_id{chunk.from()};
  auto term = term_t{chunk.term()};
  auto meta = raft::decode(chunk.meta());
  self->request(st.storage, caf::infinite, chunk_atom::value, std::move(chunk))
    .then(
      [=](uint64_t next, const std::string& path) mutable {
        if (!path.empty()) {
          // The bytes are durable and verified: now the core may install.
          auto& st = self->state;
          st.installed_snapshot = path;
          st.core->step(raft::message{from, st.self_id,
                                      raft::install_snapshot{term, meta}});
          schedule_flush(self);
        }
        rp.deliver(next);
      },
      [=](const caf::error& err) mutable { rp.deliver(err); });
  return rp;
}

pb::NodeStatus status(self_ptr self) {
  auto& st = self->state;
  const auto& core = *st.core;
  pb::NodeStatus s;
  s.set_node_id(st.self_id.value());
  s.set_role(raft::to_string(core.role()));
  s.set_term(core.term().value());
  s.set_leader_id(core.leader().value());
  s.set_commit_index(core.commit_index().value());
  s.set_last_log_index(core.last_index().value());
  s.set_snapshot_index(core.snapshot_index().value());
  s.set_log_bytes(st.bytes_since_snapshot);
  s.set_leader_changes(st.leader_changes);
  s.set_persist_count(st.persist_count);
  s.set_fsync_count(storage::sync_calls());
  s.set_persist_ewma_ms(st.persist_ewma_ms);
  auto h = s.mutable_persist_seconds();
  for (auto b : st.persist_seconds.upper_bounds())
    h->add_upper_bounds(b);
  for (auto n : st.persist_seconds.bucket_counts())
    h->add_counts(n);
  h->set_sum(st.persist_seconds.sum());
  if (core.role() == raft::role::leader) {
    for (auto [peer, match] : core.match_indexes()) {
      if (peer == st.self_id)
        continue;
      auto p = s.add_peers();
      p->set_node_id(peer.value());
      p->set_match_index(match.value());
      auto link = st.peers.find(peer);
      p->set_reachable(link != st.peers.end() && link->second.handle);
    }
  }
  return s;
}

} // namespace

log_actor::behavior_type
replicated_log(log_actor::stateful_pointer<log_state> self, node_id id,
               log_options options, raft::persistent_state disk,
               registry_actor registry, storage_actor storage, clock_fn clock) {
  auto& st = self->state;
  st.self_id = id;
  st.options = std::move(options);
  st.registry = std::move(registry);
  st.storage = std::move(storage);
  st.clock = std::move(clock);
  for (const auto& p : st.options.peers)
    if (p.id != id)
      st.peers[p.id].address = p;
  st.core.emplace(st.options.core, std::move(disk));
  sync_peers(self); // the log's configuration wins over the config file
  self->set_down_handler([=](const caf::down_msg& msg) {
    for (auto& [peer, link] : self->state.peers)
      if (link.handle && link.handle.address() == msg.source) {
        peer_lost(self, peer, "connection closed");
        return;
      }
  });
  for (auto& [peer, link] : st.peers)
    connect_peer(self, peer);
  schedule_flush(self);
  return {
    [=](fault_atom, const std::string& kind) { inject_fault(self, kind); },
    [=](propose_atom, pb::Proposal& proposal) {
      return propose(self, proposal);
    },
    [=](raft_atom, pb::RaftMessage& msg) {
      auto& st = self->state;
      auto decoded = raft::decode(std::move(msg));
      if (!decoded) {
        CONCLAVE_LOG("log", warning) << "dropping a malformed Raft message";
        return;
      }
      auto from = decoded->from;
      if (decoded->to != st.self_id || from == st.self_id)
        return;
      auto link = st.peers.find(from);
      if (link == st.peers.end()) {
        // A node joining the cluster hears first from a leader it may not
        // know, and so does one whose log (or installed snapshot) still
        // ends before its own addition; members talk only to members.
        if (st.core->config().contains(st.self_id) || from == node_id{0})
          return;
        link = st.peers.emplace(from, peer_link{}).first;
        link->second.address.id = from;
      }
      // Answer over the connection the peer opened, until ours is up.
      if (!link->second.handle)
        peer_found(self, from,
                   caf::actor_cast<log_actor>(self->current_sender()));
      // The snapshot's bytes come as chunks; its metadata message alone must
      // not reach the core (see receive_chunk).
      if (std::holds_alternative<raft::install_snapshot>(decoded->body))
        return;
      st.core->step(*decoded);
      schedule_flush(self);
    },
    [=](chunk_atom, pb::SnapshotChunk& chunk) {
      return receive_chunk(self, chunk);
    },
    [=](read_index_atom) { return read_index(self); },
    [=](transfer_atom, uint64_t target, bool forwarded) {
      return transfer(self, target, forwarded);
    },
    [=](reconfig_atom, pb::ReconfigRequest& req, bool forwarded) {
      return reconfig(self, req, forwarded);
    },
    [=](snapshot_atom) -> caf::result<pb::SnapshotMeta> {
      auto& st = self->state;
      auto rp = self->make_response_promise<pb::SnapshotMeta>();
      st.snapshot_waiters.push_back(rp);
      st.snapshot_forced = true;
      maybe_snapshot(self);
      return rp;
    },
    [=](tick_atom) {
      auto& st = self->state;
      ++st.ticks;
      st.core->tick();
      for (auto& [peer, link] : st.peers)
        if (!link.handle && !link.connecting && link.retry_tick <= st.ticks
            && !link.address.host.empty())
          connect_peer(self, peer);
      advance_reconfig(self);
      for (auto t = st.transfers.begin(); t != st.transfers.end();)
        t = st.ticks - t->second.started_tick > transfer_timeout_ticks
              ? st.transfers.erase(t)
              : std::next(t);
      schedule_flush(self);
    },
    [=](flush_atom) {
      self->state.flush_scheduled = false;
      drain(self);
    },
    [=](status_atom) { return status(self); },
    [=](connect_atom, leadership_listener listener) {
      if (!from_this_process(self))
        return;
      self->state.election = std::move(listener);
      self->state.reported = pb::Leadership{};
      report_leadership(self);
    },
    [=](touch_atom, pb::SessionTouches& touches) {
      auto& st = self->state;
      if (st.core->role() == raft::role::leader) {
        if (st.sessions)
          self->send(st.sessions, touch_atom::value, std::move(touches));
        return;
      }
      // Forward our own node's batch to the leader, once; a batch that
      // reaches a node that is no longer leader is dropped (the sessions
      // stay alive through their next batch to the new leader, which gives
      // every session a full timeout anyway).
      if (touches.from_node() != st.self_id.value())
        return;
      auto link = st.peers.find(st.core->leader());
      if (link == st.peers.end() || !link->second.handle)
        return;
      self->send(link->second.handle, touch_atom::value, std::move(touches));
    },
    [=](connect_atom, session_actor sessions) {
      if (!from_this_process(self))
        return;
      self->state.sessions = std::move(sessions);
    },
  };
}

} // namespace conclave
