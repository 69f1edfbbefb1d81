#include "actors/log_actor.hpp"

#include "actors/fault_injection.hpp"
#include "actors/local_sender.hpp"
#include "messages/proposal_refused.hpp"

#include <algorithm>
#include <chrono>

#include <caf/io/middleman.hpp>

#include "runtime/logging.hpp"
#include "runtime/raft/codec.hpp"
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

pb::LogEntry to_log_entry(raft::entry& e) {
  pb::LogEntry out;
  out.set_index(e.index.value());
  out.set_term(e.term.value());
  if (e.type == raft::entry_type::noop)
    return out;
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

void maybe_snapshot(self_ptr self) {
  auto& st = self->state;
  if (st.snapshot_running
      || (st.entries_since_snapshot < st.options.snapshot_entries
          && st.bytes_since_snapshot < st.options.snapshot_log_bytes))
    return;
  st.snapshot_running = true;
  self->request(st.registry, caf::infinite, snapshot_atom::value)
    .then(
      [=](const pb::SnapshotMeta& meta) {
        auto& st = self->state;
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
        self->state.snapshot_running = false;
        CONCLAVE_LOG("log", warning)
          << "snapshot not taken: " << self->system().render(err);
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
      auto link = st.peers.find(from);
      if (link == st.peers.end() || decoded->to != st.self_id)
        return; // not a member, or not for us: the core would ignore it too
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
    [=](tick_atom) {
      auto& st = self->state;
      ++st.ticks;
      st.core->tick();
      for (auto& [peer, link] : st.peers)
        if (!link.handle && !link.connecting && link.retry_tick <= st.ticks)
          connect_peer(self, peer);
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
