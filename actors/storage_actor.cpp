#include "actors/storage_actor.hpp"

#include "actors/fault_injection.hpp"

#include <thread>

#include "runtime/logging.hpp"
#include "runtime/raft/codec.hpp"

namespace conclave {

namespace {

using self_ptr = storage_actor::stateful_pointer<storage_state>;

caf::error to_caf(const storage::storage_error& err) {
  return caf::make_error(caf::sec::runtime_error, err.to_string());
}

/// Makes an installed snapshot current for the log: keeps the entries after
/// it only if the log holds the snapshot's last entry (§5.3).
storage::storage_result<void> cut_log_to(storage_state& st,
                                         const raft::snapshot_meta& meta) {
  auto term = st.log.term_at(meta.index);
  if (term && *term == meta.term) {
    auto removed = st.log.compact(meta.index);
    if (!removed)
      return removed.error();
    return {};
  }
  return st.log.reset(meta.index, meta.term);
}

caf::result<uint64_t, uint64_t> persist(self_ptr self, persist_batch& b) {
  auto& st = self->state;
  if (st.fault_delay.count() > 0) // a detached actor: blocking is its job
    std::this_thread::sleep_for(st.fault_delay);
  // Hard state first: a vote must be durable before anything that relies
  // on it, and open_storage() expects it never to trail the log.
  // A change of the commit index alone is not worth three fsyncs: the
  // commit index on disk only lets a restarted node apply sooner, and
  // open_storage() tolerates it lagging.
  if (b.state
      && (b.state->term != st.saved_state.term
          || b.state->vote != st.saved_state.vote)) {
    if (auto r = st.hard_state.save(*b.state); !r)
      return to_caf(r.error());
    st.saved_state = *b.state;
  }
  auto wrote = false;
  if (!b.pre_entries.empty()) {
    if (auto r = st.log.append(b.pre_entries); !r)
      return to_caf(r.error());
    wrote = true;
  }
  if (b.snapshot) {
    if (auto r = cut_log_to(st, *b.snapshot); !r)
      return to_caf(r.error());
    wrote = true;
  }
  if (!b.entries.empty()) {
    if (auto r = st.log.append(b.entries); !r)
      return to_caf(r.error());
    wrote = true;
  }
  if (wrote) {
    auto pos = st.log.sync();
    if (!pos)
      return to_caf(pos.error());
    return caf::make_result(pos->index.value(), pos->term.value());
  }
  auto pos = st.log.durable();
  return caf::make_result(pos.index.value(), pos.term.value());
}

caf::result<uint64_t> compact(self_ptr self, uint64_t upto) {
  auto& st = self->state;
  auto removed = st.log.compact(log_index{upto});
  if (!removed)
    return to_caf(removed.error());
  uint64_t total = *removed;
  // retain() also removes temporary files: not while a snapshot from the
  // leader is arriving.
  if (!st.receiving) {
    auto old = st.snapshots.retain(st.snapshot_keep);
    if (!old)
      return to_caf(old.error());
    total += *old;
  }
  return total;
}

/// Follower side of a snapshot transfer.
caf::result<uint64_t, std::string> receive(self_ptr self,
                                           pb::SnapshotChunk& chunk) {
  auto& st = self->state;
  if (chunk.offset() == 0) {
    if (st.receiving)
      st.receiving->abandon();
    st.receiving.reset();
    auto r
      = st.snapshots.receive(raft::decode(chunk.meta()), chunk.total_bytes());
    if (!r)
      return to_caf(r.error());
    st.receiving.emplace(std::move(*r));
    st.receiving_meta = chunk.meta();
  } else if (!st.receiving || chunk.meta().index() != st.receiving_meta.index()
             || chunk.meta().term() != st.receiving_meta.term()) {
    return caf::make_error(caf::sec::runtime_error,
                           "snapshot chunk out of order");
  }
  if (auto r = st.receiving->write(chunk.offset(), chunk.data()); !r) {
    st.receiving->abandon();
    st.receiving.reset();
    return to_caf(r.error());
  }
  auto next = st.receiving->received();
  if (next < st.receiving->total_bytes())
    return caf::make_result(next, std::string{});
  // Durable and verified. The log stays as it is until the core decides to
  // install the snapshot (persist_batch::snapshot cuts it then).
  auto info = st.receiving->commit();
  st.receiving.reset();
  if (!info)
    return to_caf(info.error());
  CONCLAVE_LOG("storage", info)
    << "received snapshot at index " << info->meta.index << " from the leader";
  return caf::make_result(next, info->path);
}

/// Leader side: reads the snapshot file `index` (0: the newest) from
/// `offset`.
caf::result<pb::SnapshotChunk> fetch(self_ptr self, uint64_t index,
                                     uint64_t offset, uint64_t max_bytes) {
  auto& st = self->state;
  auto known = st.sending.find(index);
  if (index == 0 || known == st.sending.end()) {
    auto latest = st.snapshots.latest();
    if (!latest)
      return to_caf(latest.error());
    if (!*latest)
      return caf::make_error(caf::sec::runtime_error, "no snapshot to send");
    auto info = **latest;
    if (index != 0 && info.meta.index.value() != index)
      return caf::make_error(caf::sec::runtime_error,
                             "snapshot " + std::to_string(index)
                               + " is gone; start again with the newest");
    known = st.sending.insert_or_assign(info.meta.index.value(), info).first;
    while (st.sending.size() > 2)
      st.sending.erase(st.sending.begin());
  }
  const auto& info = known->second;
  auto bytes = st.snapshots.read_chunk(info.path, offset,
                                       static_cast<size_t>(max_bytes));
  if (!bytes)
    return to_caf(bytes.error());
  pb::SnapshotChunk chunk;
  raft::encode(info.meta, chunk.mutable_meta());
  chunk.set_offset(offset);
  chunk.set_total_bytes(info.file_bytes);
  chunk.set_done(offset + bytes->size() >= info.file_bytes);
  chunk.set_data(std::move(*bytes));
  return chunk;
}

} // namespace

storage_actor::behavior_type
storage_worker(storage_actor::stateful_pointer<storage_state> self,
               std::shared_ptr<storage::node_storage> stores,
               size_t snapshot_keep, std::chrono::milliseconds fault_delay) {
  auto& st = self->state;
  st.fault_delay = fault_delay;
  st.log = std::move(stores->log);
  st.hard_state = std::move(stores->hard_state);
  st.saved_state = stores->state.state;
  st.snapshots = std::move(stores->snapshots);
  st.snapshot_keep = snapshot_keep;
  return {
    [=](fault_atom, const std::string& kind) { inject_fault(self, kind); },
    [=](persist_atom, persist_batch& batch) { return persist(self, batch); },
    [=](compact_atom, uint64_t upto) { return compact(self, upto); },
    [=](chunk_atom, pb::SnapshotChunk& chunk) { return receive(self, chunk); },
    [=](fetch_atom, uint64_t index, uint64_t offset, uint64_t max_bytes) {
      return fetch(self, index, offset, max_bytes);
    },
  };
}

} // namespace conclave
