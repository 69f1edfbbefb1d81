#include "runtime/storage/log_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>

#include "messages/raft.pb.h"
#include "runtime/storage/crc32c.hpp"

namespace conclave::storage {

namespace {

constexpr char magic[8] = {'C', 'N', 'C', 'L', 'V', 'L', 'O', 'G'};
constexpr uint32_t format_version = 1;
constexpr std::string_view segment_suffix = ".log";
/// No segment this code writes is larger than segment_bytes plus one record;
/// earlier runs may have used a larger segment_bytes, so allow at least this
/// much before calling a segment's size damage (it is read into memory).
constexpr uint64_t min_segment_read_limit = 1ull << 30;
/// Smallest payload of a real entry: 0x08 <term> 0x10 <index>.
constexpr uint32_t min_payload_bytes = 4;

std::string idx(log_index i) {
  return std::to_string(i.value());
}

std::string encode_header(log_index first) {
  std::string h(segment_header_bytes, '\0');
  std::memcpy(h.data(), magic, 8);
  put_le32(h.data() + 8, format_version);
  put_le64(h.data() + 16, first.value());
  put_le32(h.data() + 28, crc32c::of(std::string_view{h.data(), 28}));
  return h;
}

void append_record(std::string& out, const raft::entry& e) {
  pb::RaftEntry msg;
  msg.set_term(e.term.value());
  msg.set_index(e.index.value());
  msg.set_type(static_cast<pb::EntryType>(e.type));
  msg.set_data(e.data);
  auto pos = out.size();
  out.resize(pos + record_header_bytes);
  msg.AppendToString(&out);
  auto n = out.size() - pos - record_header_bytes;
  put_le32(out.data() + pos, static_cast<uint32_t>(n));
  put_le32(out.data() + pos + 4, crc32c::of(std::string_view{
                                   out.data() + pos + record_header_bytes, n}));
}

size_t record_size(const raft::entry& e) {
  pb::RaftEntry msg;
  msg.set_term(e.term.value());
  msg.set_index(e.index.value());
  msg.set_type(static_cast<pb::EntryType>(e.type));
  msg.set_data(e.data);
  return msg.ByteSizeLong();
}

// Decodes a varint at `p` (< end); false if it is malformed or runs past end.
bool get_varint(const char*& p, const char* end, uint64_t& out) {
  uint64_t x = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    auto b = static_cast<uint8_t>(*p++);
    x |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      out = x;
      return true;
    }
  }
  return false;
}

/// Looks for a complete, valid record starting at or after `from` that could
/// belong to this log (index >= `min_index`, term >= `min_term`). Cheap
/// filters (length, the payload's leading term and index fields) run before
/// the checksum, so this is linear in practice even on garbage. Returns the
/// offset found, or nullopt.
std::optional<uint64_t> find_valid_record(std::string_view bytes, uint64_t from,
                                          log_index min_index, term_t min_term,
                                          uint32_t max_record) {
  const uint64_t size = bytes.size();
  const uint64_t max_records = size / (record_header_bytes + min_payload_bytes);
  for (uint64_t p = from; p + record_header_bytes + min_payload_bytes <= size;
       ++p) {
    const char* h = bytes.data() + p;
    uint32_t len = get_le32(h);
    if (len < min_payload_bytes || len > max_record
        || len > size - p - record_header_bytes)
      continue;
    const char* payload = h + record_header_bytes;
    const char* end = payload + len;
    const char* q = payload;
    if (static_cast<uint8_t>(*q++) != 0x08)
      continue;
    uint64_t term = 0;
    if (!get_varint(q, end, term)
        || term < std::max<uint64_t>(1, min_term.value()))
      continue;
    if (q >= end || static_cast<uint8_t>(*q++) != 0x10)
      continue;
    uint64_t index = 0;
    if (!get_varint(q, end, index) || index < min_index.value()
        || index - min_index.value() > max_records)
      continue;
    if (crc32c::of(std::string_view{payload, len}) != get_le32(h + 4))
      continue;
    pb::RaftEntry msg;
    if (!msg.ParseFromArray(payload, static_cast<int>(len)))
      continue;
    return p;
  }
  return std::nullopt;
}

} // namespace

// -- options and names
// -----------------------------------------------------------

std::string log_options::validate() const {
  if (segment_bytes < 64)
    return "segment_bytes must be at least 64, got "
           + std::to_string(segment_bytes);
  if (max_record_bytes < 16 || max_record_bytes > (1u << 30))
    return "max_record_bytes must be in 16..1073741824, got "
           + std::to_string(max_record_bytes);
  return {};
}

std::string segment_file_name(log_index first) {
  return zero_pad20(first.value()) + std::string{segment_suffix};
}

bool parse_segment_file_name(std::string_view name, log_index& first) noexcept {
  if (name.size() != 24 || name.substr(20) != segment_suffix)
    return false;
  uint64_t x = 0;
  if (!parse_pad20(name.substr(0, 20), x))
    return false;
  first = log_index{x};
  return true;
}

// -- open
// ----------------------------------------------------------------------

namespace {

/// Scan state carried from one segment to the next.
struct scan_state {
  log_index next;   ///< index the next record must hold (0: any)
  term_t last_term; ///< term of the last valid record (0: none yet)
  log_index snapshot_index;
  std::vector<raft::entry>* entries;
};

struct scan_result {
  uint64_t valid_size = 0;
  std::vector<uint64_t> offsets;
  std::vector<term_t> terms;
  /// Set when the tail (or the whole file, if remove_file) must go.
  std::optional<repair> torn;
  bool remove_file = false;
};

storage_result<scan_result> scan_segment(std::string_view bytes,
                                         const std::string& path,
                                         log_index name_first, bool newest,
                                         const log_options& opts,
                                         scan_state& st) {
  scan_result out;
  const uint64_t size = bytes.size();
  const char* data = bytes.data();
  const auto not_torn_older = " in a segment that is not the newest (a "
                              "segment is fsynced before the next one is "
                              "created, so this is not a torn write)";
  // -- header
  bool header_ok
    = size >= segment_header_bytes && std::memcmp(data, magic, 8) == 0
      && get_le32(data + 28) == crc32c::of(std::string_view{data, 28});
  if (!header_ok) {
    std::string what
      = size < segment_header_bytes
          ? "segment is " + std::to_string(size) + " bytes, shorter than its "
              + std::to_string(segment_header_bytes) + "-byte header"
        : std::memcmp(data, magic, 8) != 0
          ? std::string{"bad segment magic"}
          : "segment header checksum mismatch (stored "
              + hex32(get_le32(data + 28)) + ", computed "
              + hex32(crc32c::of(std::string_view{data, 28})) + ")";
    if (!newest)
      return corruption_at(path, 0, what + not_torn_older);
    auto after = find_valid_record(bytes, segment_header_bytes, name_first,
                                   st.last_term, opts.max_record_bytes);
    if (after)
      return corruption_at(path, 0,
                           what + ", and a valid record follows at byte "
                             + std::to_string(*after)
                             + ", so this is not a torn write");
    repair r;
    r.file = path;
    r.bytes_dropped = size;
    r.message = "torn header of the newest segment (" + what
                + ") and no valid record in it: the segment was being "
                  "created when the node stopped; removed";
    out.torn = std::move(r);
    out.remove_file = true;
    return out;
  }
  auto version = get_le32(data + 8);
  if (version != format_version) {
    return unsupported_version(path, version, format_version);
  }
  if (get_le32(data + 12) != 0 || get_le32(data + 24) != 0)
    return corruption_at(path, 12, "reserved header fields are not zero");
  log_index first{get_le64(data + 16)};
  if (first != name_first)
    return corruption_at(path, 16,
                         "segment header says its first index is " + idx(first)
                           + " but its name says " + idx(name_first));
  if (first.value() == 0)
    return corruption_at(path, 16, "segment first index is 0");
  if (st.next.value() != 0 && first != st.next)
    return corruption_at(path, 16,
                         "segment starts at index " + idx(first)
                           + " but the previous segment ends at index "
                           + std::to_string(st.next.value() - 1)
                           + " (a segment is missing or left over)");
  st.next = first;
  // -- records
  uint64_t pos = segment_header_bytes;
  while (pos < size) {
    const uint64_t rem = size - pos;
    std::string problem;
    uint32_t len = 0;
    if (rem < record_header_bytes) {
      problem = "incomplete record header (" + std::to_string(rem) + " of "
                + std::to_string(record_header_bytes) + " bytes)";
    } else {
      len = get_le32(data + pos);
      auto stored = get_le32(data + pos + 4);
      if (len == 0) {
        problem = "record length 0";
      } else if (len > opts.max_record_bytes) {
        problem = "record length " + std::to_string(len)
                  + " exceeds the limit of "
                  + std::to_string(opts.max_record_bytes);
      } else if (len > rem - record_header_bytes) {
        problem = "incomplete record (payload of " + std::to_string(len)
                  + " bytes, " + std::to_string(rem - record_header_bytes)
                  + " present)";
      } else {
        auto computed
          = crc32c::of(std::string_view{data + pos + record_header_bytes, len});
        if (computed != stored)
          problem = "record checksum mismatch (stored " + hex32(stored)
                    + ", computed " + hex32(computed) + ")";
      }
    }
    if (!problem.empty()) {
      if (!newest)
        return corruption_at(path, pos, problem + not_torn_older);
      auto after = find_valid_record(bytes, pos + 1, st.next, st.last_term,
                                     opts.max_record_bytes);
      if (after)
        return corruption_at(path, pos,
                             problem + ", and a valid record follows at byte "
                               + std::to_string(*after)
                               + ", so this is not a torn write");
      repair r;
      r.file = path;
      r.offset = pos;
      r.bytes_dropped = rem;
      r.message = "torn record at the tail of the newest segment (" + problem
                  + "), nothing valid after it: truncated (these entries "
                    "were never acknowledged as durable)";
      out.torn = std::move(r);
      break;
    }
    const char* payload = data + pos + record_header_bytes;
    pb::RaftEntry msg;
    if (!msg.ParseFromArray(payload, static_cast<int>(len)))
      return corruption_at(path, pos,
                           "record checksum is valid but its payload is not a "
                           "RaftEntry message");
    log_index index{msg.index()};
    term_t term{msg.term()};
    if (index != st.next)
      return corruption_at(path, pos,
                           "record holds index " + idx(index) + ", expected "
                             + idx(st.next) + " (indexes must be contiguous)");
    if (term.value() == 0)
      return corruption_at(path, pos,
                           "record for index " + idx(index) + " has term 0");
    if (term < st.last_term)
      return corruption_at(
        path, pos,
        "term decreases from " + std::to_string(st.last_term.value()) + " to "
          + std::to_string(term.value()) + " at index " + idx(index));
    raft::entry_type type;
    if (msg.type() == pb::ENTRY_NORMAL) {
      type = raft::entry_type::normal;
    } else if (msg.type() == pb::ENTRY_NOOP) {
      type = raft::entry_type::noop;
    } else if (msg.type() == pb::ENTRY_CONFIG) {
      type = raft::entry_type::config;
    } else {
      return unsupported_format_at(
        path, pos,
        "entry " + idx(index) + " has unknown type "
          + std::to_string(static_cast<int>(msg.type())));
    }
    out.offsets.push_back(pos);
    out.terms.push_back(term);
    if (index > st.snapshot_index) {
      raft::entry e;
      e.term = term;
      e.index = index;
      e.type = type;
      e.data = std::move(*msg.mutable_data());
      st.entries->push_back(std::move(e));
    }
    st.last_term = term;
    st.next = log_index{index.value() + 1};
    pos += record_header_bytes + len;
  }
  out.valid_size = out.torn ? pos : size;
  return out;
}

} // namespace

storage_result<log_store::opened> log_store::open(const std::string& dir,
                                                  const log_options& opts,
                                                  log_index snapshot_index,
                                                  term_t snapshot_term) {
  if (auto err = opts.validate(); !err.empty())
    return invalid_argument(dir, "bad log options: " + err);
  if ((snapshot_index.value() == 0) != (snapshot_term.value() == 0))
    return invalid_argument(dir,
                            "snapshot index and term must both be 0 or both be "
                            "positive (got index "
                              + idx(snapshot_index) + ", term "
                              + std::to_string(snapshot_term.value()) + ")");
  opened out;
  auto& log = out.log;
  log.dir_ = join_path(dir, log_dir_name);
  log.opts_ = opts;
  if (auto r = ensure_directory(log.dir_, dir); !r)
    return std::move(r).error();
  auto names = list_directory(log.dir_);
  if (!names)
    return std::move(names).error();
  std::vector<std::pair<log_index, std::string>> found;
  for (const auto& name : *names) {
    log_index first;
    if (parse_segment_file_name(name, first))
      found.emplace_back(first, join_path(log.dir_, name));
  }
  std::sort(found.begin(), found.end());

  scan_state st;
  st.snapshot_index = snapshot_index;
  st.entries = &out.entries;
  for (size_t k = 0; k < found.size(); ++k) {
    const auto& [name_first, path] = found[k];
    bool newest = k + 1 == found.size();
    auto f = file::open(path, O_RDONLY);
    if (!f)
      return std::move(f).error();
    auto bytes
      = f->read_all(std::max(opts.segment_bytes, min_segment_read_limit)
                    + opts.max_record_bytes + segment_header_bytes);
    if (!bytes)
      return std::move(bytes).error();
    f = file{};
    auto scanned = scan_segment(*bytes, path, name_first, newest, opts, st);
    if (!scanned)
      return std::move(scanned).error();
    if (scanned->remove_file) {
      if (auto r = remove_file(path); !r)
        return std::move(r).error();
      out.repairs.push_back(std::move(*scanned->torn));
      continue;
    }
    if (scanned->torn) {
      auto w = file::open(path, O_WRONLY);
      if (!w)
        return std::move(w).error();
      if (auto r = w->truncate(scanned->valid_size); !r)
        return std::move(r).error();
      if (auto r = w->datasync(); !r)
        return std::move(r).error();
      if (auto r = w->close(); !r)
        return std::move(r).error();
      out.repairs.push_back(std::move(*scanned->torn));
    }
    segment seg;
    seg.first = name_first;
    seg.path = path;
    seg.size = scanned->valid_size;
    seg.offsets = std::move(scanned->offsets);
    seg.terms = std::move(scanned->terms);
    log.segments_.push_back(std::move(seg));
  }

  // -- the log against the snapshot
  const log_position snap{snapshot_index, snapshot_term};
  auto discard_all = [&](const std::string& why) -> storage_result<void> {
    for (auto i = log.segments_.size(); i-- > 0;) {
      const auto& seg = log.segments_[i];
      if (auto r = remove_file(seg.path); !r)
        return std::move(r).error();
      repair rep;
      rep.file = seg.path;
      rep.bytes_dropped = seg.size;
      rep.message = why + ": segment removed";
      out.repairs.push_back(std::move(rep));
    }
    log.segments_.clear();
    out.entries.clear();
    return {};
  };
  bool any_record = false;
  for (const auto& seg : log.segments_)
    any_record = any_record || seg.count() > 0;
  if (!any_record) {
    if (auto r = discard_all("the log holds no entries (its newest record "
                             "was lost when the node stopped)");
        !r)
      return std::move(r).error();
  } else {
    const auto& front = log.segments_.front();
    log_index first = front.first;
    log_index last{st.next.value() - 1};
    if (first.value() > snapshot_index.value() + 1) {
      return corruption_at(
        front.path, segment_header_bytes,
        "the log starts at index " + idx(first)
          + (snapshot_index.value() == 0
               ? std::string{" but there is no snapshot"}
               : " but the snapshot ends at index " + idx(snapshot_index))
          + ": entries " + std::to_string(snapshot_index.value() + 1) + ".."
          + std::to_string(first.value() - 1) + " are missing");
    }
    if (last < snapshot_index) {
      if (auto r = discard_all("the log ends at index " + idx(last)
                               + ", before the snapshot at index "
                               + idx(snapshot_index)
                               + " (a snapshot was installed just before "
                                 "the node stopped)");
          !r)
        return std::move(r).error();
    } else if (first <= snapshot_index) {
      // Locate the snapshot's index and compare terms (§5.3).
      term_t t;
      for (const auto& seg : log.segments_) {
        if (snapshot_index.value() >= seg.first.value()
            && snapshot_index.value() - seg.first.value() < seg.count())
          t = seg.terms[snapshot_index.value() - seg.first.value()];
      }
      if (t != snapshot_term) {
        if (auto r = discard_all(
              "the log holds index " + idx(snapshot_index) + " with term "
              + std::to_string(t.value()) + " but the snapshot has term "
              + std::to_string(snapshot_term.value())
              + ": the log conflicts with the installed snapshot and is "
                "discarded (Raft's InstallSnapshot rule)");
            !r)
          return std::move(r).error();
      }
    } else if (!out.entries.empty()
               && out.entries.front().term < snapshot_term) {
      // first == snapshot_index + 1
      return corruption_at(front.path, segment_header_bytes,
                           "the first entry after the snapshot (index "
                             + idx(first) + ") has term "
                             + std::to_string(out.entries.front().term.value())
                             + ", lower than the snapshot's term "
                             + std::to_string(snapshot_term.value()));
    }
  }

  // -- in-memory state
  if (log.segments_.empty()) {
    log.base_ = snap;
    log.last_ = snap;
  } else {
    const auto& front = log.segments_.front();
    const auto& back = log.segments_.back();
    log.base_.index = log_index{front.first.value() - 1};
    log.base_.term
      = log.base_.index == snapshot_index ? snapshot_term : term_t{};
    log.last_.index = log_index{back.first.value() + back.count() - 1};
    log.last_.term = back.count() > 0 ? back.terms.back() : log.base_.term;
    if (back.count() == 0) {
      // An empty newest segment after non-empty ones.
      for (const auto& seg : log.segments_)
        if (seg.count() > 0)
          log.last_.term = seg.terms.back();
    }
    // Make what we read durable: the newest segment may hold data a crashed
    // process left in the page cache (older ones were synced when rolled).
    if (auto r = log.open_active(); !r)
      return std::move(r).error();
    if (auto r = log.active_.datasync(); !r)
      return std::move(r).error();
  }
  // Also makes removals above and renames by a crashed process durable.
  if (auto r = sync_directory(log.dir_); !r)
    return std::move(r).error();
  log.durable_ = log.last_;
  return out;
}

// -- writing
// ---------------------------------------------------------------------

storage_result<void> log_store::check_usable() const {
  if (failed_) {
    auto e = *failed_;
    e.message
      = "the log store failed earlier and accepts no more writes: " + e.message;
    return e;
  }
  if (dir_.empty())
    return invalid_argument("", "log_store used without open()");
  return {};
}

storage_result<void> log_store::fail(storage_error err) {
  if (err.code == storage_errc::io)
    failed_ = err;
  return err;
}

storage_result<void> log_store::open_active() {
  active_ = file{};
  if (segments_.empty())
    return {};
  auto f = file::open(segments_.back().path, O_WRONLY);
  if (!f)
    return std::move(f).error();
  active_ = std::move(*f);
  return {};
}

storage_result<void> log_store::roll(log_index first) {
  if (active_.is_open()) {
    if (auto r = active_.datasync(); !r)
      return r;
    if (auto r = active_.close(); !r)
      return r;
  }
  segment seg;
  seg.first = first;
  seg.path = join_path(dir_, segment_file_name(first));
  auto f = file::open(seg.path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (!f)
    return std::move(f).error();
  auto header = encode_header(first);
  if (auto r = f->pwrite_all(header, 0); !r)
    return r;
  seg.size = header.size();
  active_ = std::move(*f);
  segments_.push_back(std::move(seg));
  dir_dirty_ = true;
  data_dirty_ = true;
  return {};
}

log_index log_store::first_index() const noexcept {
  return log_index{base_.index.value() + 1};
}

std::optional<term_t> log_store::term_at(log_index index) const noexcept {
  if (index == base_.index && base_.term.value() != 0)
    return base_.term;
  for (const auto& seg : segments_) {
    if (index >= seg.first && index.value() - seg.first.value() < seg.count())
      return seg.terms[index.value() - seg.first.value()];
  }
  return std::nullopt;
}

std::vector<std::string> log_store::segment_paths() const {
  std::vector<std::string> out;
  for (const auto& seg : segments_)
    out.push_back(seg.path);
  return out;
}

storage_result<void> log_store::truncate_suffix(log_index from) {
  // Newest first, so that a crash leaves a prefix of the old log.
  active_ = file{};
  bool removed = false;
  while (!segments_.empty() && segments_.back().first >= from) {
    if (auto r = remove_file(segments_.back().path); !r)
      return std::move(r).error();
    segments_.pop_back();
    removed = true;
  }
  if (removed) {
    if (auto r = sync_directory(dir_); !r)
      return r;
  }
  if (!segments_.empty()) {
    auto& seg = segments_.back();
    auto keep = from.value() - seg.first.value();
    if (auto r = open_active(); !r)
      return r;
    if (keep < seg.count()) {
      auto new_size = seg.offsets[keep];
      if (auto r = active_.truncate(new_size); !r)
        return r;
      if (auto r = active_.datasync(); !r)
        return r;
      seg.offsets.resize(keep);
      seg.terms.resize(keep);
      seg.size = new_size;
    }
  }
  log_index prev{from.value() - 1};
  last_.index = prev;
  last_.term = term_at(prev).value_or(term_t{});
  if (durable_.index > prev)
    durable_ = last_;
  return {};
}

storage_result<void>
log_store::append(const std::vector<raft::entry>& entries) {
  if (auto r = check_usable(); !r)
    return r;
  if (entries.empty())
    return {};
  // -- validate the whole batch before touching the disk
  const auto first = entries.front().index;
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    if (e.index.value() == 0 || e.term.value() == 0)
      return invalid_argument(
        dir_, "entry with index " + idx(e.index) + " and term "
                + std::to_string(e.term.value()) + ": both must be >= 1");
    if (i > 0 && e.index.value() != entries[i - 1].index.value() + 1)
      return invalid_argument(dir_, "batch indexes are not contiguous: "
                                      + idx(entries[i - 1].index) + " then "
                                      + idx(e.index));
    if (i > 0 && e.term < entries[i - 1].term)
      return invalid_argument(dir_,
                              "batch terms decrease at index " + idx(e.index));
    if (auto n = record_size(e); n > opts_.max_record_bytes)
      return invalid_argument(
        dir_, "entry " + idx(e.index) + " serializes to " + std::to_string(n)
                + " bytes, more than max_record_bytes ("
                + std::to_string(opts_.max_record_bytes) + ")");
  }
  if (first.value() > last_.index.value() + 1)
    return invalid_argument(dir_, "append at index " + idx(first)
                                    + " leaves a gap after the last index "
                                    + idx(last_.index));
  if (first.value() <= base_.index.value())
    return invalid_argument(
      dir_, "append at index " + idx(first)
              + " rewrites entries at or before index " + idx(base_.index)
              + ", which are no longer in the log (compacted "
                "or covered by a snapshot); use reset()");
  log_index prev{first.value() - 1};
  if (auto t = (prev == last_.index && last_.term.value() != 0)
                 ? std::optional<term_t>{last_.term}
                 : term_at(prev);
      t && entries.front().term < *t)
    return invalid_argument(
      dir_, "entry " + idx(first) + " has term "
              + std::to_string(entries.front().term.value())
              + ", lower than the term " + std::to_string(t->value())
              + " of the entry before it");
  // -- conflicting suffix
  if (first <= last_.index) {
    if (auto r = truncate_suffix(first); !r)
      return fail(std::move(r).error());
  }
  // -- write, rolling segments as needed
  if (segments_.empty()) {
    if (auto r = roll(first); !r)
      return fail(std::move(r).error());
  } else if (!active_.is_open()) {
    if (auto r = open_active(); !r)
      return fail(std::move(r).error());
  }
  std::string batch;
  std::vector<uint64_t> offsets;
  std::vector<term_t> terms;
  auto flush = [&]() -> storage_result<void> {
    if (batch.empty())
      return {};
    auto& seg = segments_.back();
    if (auto r = active_.pwrite_all(batch, seg.size); !r)
      return r;
    seg.size += batch.size();
    seg.offsets.insert(seg.offsets.end(), offsets.begin(), offsets.end());
    seg.terms.insert(seg.terms.end(), terms.begin(), terms.end());
    batch.clear();
    offsets.clear();
    terms.clear();
    data_dirty_ = true;
    return {};
  };
  for (const auto& e : entries) {
    auto& seg = segments_.back();
    auto before = batch.size();
    append_record(batch, e);
    bool has_records = seg.count() > 0 || before > 0;
    if (has_records && seg.size + batch.size() > opts_.segment_bytes) {
      // Doesn't fit: write what precedes it, then start a new segment.
      std::string record = batch.substr(before);
      batch.resize(before);
      if (auto r = flush(); !r)
        return fail(std::move(r).error());
      if (auto r = roll(e.index); !r)
        return fail(std::move(r).error());
      batch = std::move(record);
      offsets.push_back(segments_.back().size);
    } else {
      offsets.push_back(seg.size + before);
    }
    terms.push_back(e.term);
  }
  if (auto r = flush(); !r)
    return fail(std::move(r).error());
  last_.index = entries.back().index;
  last_.term = entries.back().term;
  return {};
}

storage_result<log_position> log_store::sync() {
  if (auto r = check_usable(); !r)
    return std::move(r).error();
  if (data_dirty_ && active_.is_open()) {
    if (auto r = active_.datasync(); !r)
      return std::move(fail(std::move(r).error())).error();
  }
  if (dir_dirty_) {
    if (auto r = sync_directory(dir_); !r)
      return std::move(fail(std::move(r).error())).error();
  }
  data_dirty_ = false;
  dir_dirty_ = false;
  durable_ = last_;
  return durable_;
}

storage_result<size_t> log_store::compact(log_index upto) {
  if (auto r = check_usable(); !r)
    return std::move(r).error();
  size_t removed = 0;
  while (segments_.size() > 1
         && segments_[1].first.value() - 1 <= upto.value()) {
    const auto& seg = segments_.front();
    if (auto r = remove_file(seg.path); !r)
      return std::move(fail(std::move(r).error())).error();
    base_.index = log_index{segments_[1].first.value() - 1};
    if (seg.count() > 0)
      base_.term = seg.terms.back();
    segments_.erase(segments_.begin());
    ++removed;
  }
  if (removed > 0) {
    if (auto r = sync_directory(dir_); !r)
      return std::move(fail(std::move(r).error())).error();
  }
  return removed;
}

storage_result<void> log_store::remove_all_segments() {
  active_ = file{};
  bool removed = false;
  while (!segments_.empty()) {
    if (auto r = remove_file(segments_.back().path); !r)
      return std::move(r).error();
    segments_.pop_back();
    removed = true;
  }
  if (removed)
    return sync_directory(dir_);
  return {};
}

storage_result<void> log_store::reset(log_index index, term_t term) {
  if (auto r = check_usable(); !r)
    return r;
  if (auto r = remove_all_segments(); !r)
    return fail(std::move(r).error());
  base_ = log_position{index, term};
  last_ = base_;
  durable_ = base_;
  data_dirty_ = false;
  dir_dirty_ = false;
  return {};
}

// -- node start-up
// ---------------------------------------------------------------

storage_result<node_storage> open_storage(const std::string& dir,
                                          const storage_options& opts) {
  node_storage out;
  {
    auto parent = std::filesystem::path{dir}.parent_path().string();
    if (parent.empty())
      parent = ".";
    if (auto r = ensure_directory(dir, parent); !r)
      return std::move(r).error();
  }
  // 1. snapshot
  auto snaps = snapshot_store::open(dir, opts.snapshots);
  if (!snaps)
    return std::move(snaps).error();
  out.snapshots = std::move(snaps->store);
  for (auto& r : snaps->repairs)
    out.repairs.push_back(std::move(r));
  auto latest = out.snapshots.latest();
  if (!latest)
    return std::move(latest).error();
  out.snapshot = std::move(*latest);
  if (out.snapshot)
    out.state.snapshot = out.snapshot->meta;
  const auto snap_index = out.state.snapshot.index;
  const auto snap_term = out.state.snapshot.term;
  // 2. hard state
  auto hs = hard_state_file::open(dir);
  if (!hs)
    return std::move(hs).error();
  out.hard_state = std::move(hs->file);
  out.state.state = hs->state;
  for (auto& r : hs->repairs)
    out.repairs.push_back(std::move(r));
  // 3. log after the snapshot
  auto log = log_store::open(dir, opts.log, snap_index, snap_term);
  if (!log)
    return std::move(log).error();
  out.log = std::move(log->log);
  out.state.entries = std::move(log->entries);
  for (auto& r : log->repairs)
    out.repairs.push_back(std::move(r));
  // 4. cross-checks
  auto& st = out.state.state;
  const auto hs_path = out.hard_state.path();
  term_t newest_term = std::max(out.log.last_term(), snap_term);
  if (st.term < newest_term) {
    repair r;
    r.file = hs_path;
    r.message
      = (hs->existed
           ? "term " + std::to_string(st.term.value()) + " is older than"
           : std::string{"file is missing although"})
        + " the log/snapshot hold term " + std::to_string(newest_term.value())
        + " (the hard state save was interrupted or never made): "
          "using term "
        + std::to_string(newest_term.value()) + " with no vote";
    out.repairs.push_back(std::move(r));
    st.term = newest_term;
    st.vote = node_id{};
  }
  if (st.commit > out.log.last_index()) {
    repair r;
    r.file = hs_path;
    r.message = "commit index " + std::to_string(st.commit.value())
                + " is beyond the log's last index "
                + std::to_string(out.log.last_index().value())
                + " (entries were lost after the state was saved): using "
                + std::to_string(out.log.last_index().value());
    out.repairs.push_back(std::move(r));
    st.commit = out.log.last_index();
  }
  if (st.commit < snap_index)
    st.commit = snap_index;
  return out;
}

} // namespace conclave::storage
