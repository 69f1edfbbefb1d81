#include "runtime/storage/snapshot_store.hpp"

#include "runtime/raft/codec.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <tuple>
#include <unistd.h>

#include "messages/raft.pb.h"

namespace conclave::storage {

namespace {

constexpr char magic[8] = {'C', 'N', 'C', 'L', 'V', 'S', 'N', 'P'};
constexpr char end_magic[4] = {'C', 'E', 'N', 'D'};
constexpr uint32_t format_version = 1;
constexpr size_t writer_buffer_bytes = 256 * 1024;
constexpr size_t verify_chunk_bytes = 1024 * 1024;
constexpr std::string_view name_prefix = "snapshot-";
constexpr std::string_view name_suffix = ".snap";
constexpr std::string_view tmp_suffix = ".tmp";

// Boost.CRC builds its table in a function-local static on first use,
// guarded by the C++ runtime. A child fork()ed while another thread of the
// parent was building it would wait on that guard forever. Building it here,
// during static initialization (single-threaded, before main), means the
// writer only ever reads a finished table (an acquire load of the guard).
// Any program that can call begin() links this file, so this always runs.
// (The volatile input keeps the compiler from folding the call away.)
uint32_t warm_up_crc_table() {
  volatile char seed = 'x';
  char byte = seed;
  return crc32c::of(std::string_view{&byte, 1});
}
[[maybe_unused]] const uint32_t crc_table_warmup = warm_up_crc_table();

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.substr(s.size() - suffix.size()) == suffix;
}

void put_varint(std::string& out, uint64_t x) {
  while (x >= 0x80) {
    out.push_back(static_cast<char>((x & 0x7F) | 0x80));
    x >>= 7;
  }
  out.push_back(static_cast<char>(x));
}

size_t varint_size(uint64_t x) {
  size_t n = 1;
  while (x >= 0x80) {
    x >>= 7;
    ++n;
  }
  return n;
}

// Reads and checks the fixed header; returns the meta length.
storage_result<uint32_t> read_header(const file& f, uint64_t size,
                                     const snapshot_options& opts) {
  const auto& path = f.path();
  if (size < snapshot_header_bytes + snapshot_trailer_bytes)
    return corruption_at(path, size,
                         "file is " + std::to_string(size)
                           + " bytes, shorter than a snapshot's header and "
                             "trailer (truncated?)");
  char hdr[snapshot_header_bytes];
  auto n = f.pread_full(hdr, sizeof(hdr), 0);
  if (!n)
    return std::move(n).error();
  if (*n != sizeof(hdr))
    return corruption_at(path, *n, "file shrank while being read");
  if (std::memcmp(hdr, magic, 8) != 0)
    return corruption_at(path, 0, "bad magic (not a Conclave snapshot file)");
  auto version = get_le32(hdr + 8);
  if (version != format_version) {
    return unsupported_version(path, version, format_version);
  }
  auto m = get_le32(hdr + 12);
  if (m == 0 || m > opts.max_meta_bytes)
    return corruption_at(path, 12,
                         "meta length " + std::to_string(m) + " is outside 1.."
                           + std::to_string(opts.max_meta_bytes));
  if (snapshot_header_bytes + uint64_t{m} + snapshot_trailer_bytes > size)
    return corruption_at(path, 12,
                         "meta length " + std::to_string(m)
                           + " does not fit in a file of "
                           + std::to_string(size) + " bytes");
  return m;
}

bool same_meta(const raft::snapshot_meta& a, const raft::snapshot_meta& b) {
  return a.index == b.index && a.term == b.term && a.config == b.config;
}

void put_bytes(std::string& out, char tag, std::string_view bytes) {
  out.push_back(tag);
  put_varint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

std::string describe(const raft::snapshot_meta& m) {
  return "index " + std::to_string(m.index.value()) + ", term "
         + std::to_string(m.term.value());
}

// fsyncs `dir` with plain system calls only (fork safety).
storage_result<void> sync_dir_raw(const std::string& dir) {
  int dfd;
  do {
    dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (dfd < 0 && errno == EINTR);
  if (dfd < 0)
    return os_error(dir, "open", errno);
  int rc;
  do {
    rc = ::fsync(dfd);
  } while (rc != 0 && errno == EINTR);
  int err = errno;
  ::close(dfd);
  if (rc != 0)
    return os_error(dir, "fsync", err);
  return {};
}

} // namespace

// -- names and encoding
// --------------------------------------------------------

std::string snapshot_file_name(log_index index, term_t term) {
  return std::string{name_prefix} + zero_pad20(index.value()) + "-"
         + zero_pad20(term.value()) + std::string{name_suffix};
}

bool parse_snapshot_file_name(std::string_view name, log_index& index,
                              term_t& term) noexcept {
  constexpr size_t len = 9 + 20 + 1 + 20 + 5;
  if (name.size() != len || name.substr(0, 9) != name_prefix || name[29] != '-'
      || name.substr(50) != name_suffix)
    return false;
  uint64_t i = 0;
  uint64_t t = 0;
  if (!parse_pad20(name.substr(9, 20), i)
      || !parse_pad20(name.substr(30, 20), t))
    return false;
  index = log_index{i};
  term = term_t{t};
  return true;
}

std::string encode_snapshot_meta(const raft::snapshot_meta& meta) {
  // Proto3 encoding of pb::SnapshotMeta: zero scalars are omitted, the
  // repeated uint64 is packed; fields in number order, as protobuf does.
  std::string out;
  if (meta.index.value() != 0) {
    out.push_back(0x08); // field 1, varint
    put_varint(out, meta.index.value());
  }
  if (meta.term.value() != 0) {
    out.push_back(0x10); // field 2, varint
    put_varint(out, meta.term.value());
  }
  auto voters = meta.config.voters();
  if (!voters.empty()) {
    size_t n = 0;
    for (auto v : voters)
      n += varint_size(v.value());
    out.push_back(0x1A); // field 3, length-delimited (packed)
    put_varint(out, n);
    for (auto v : voters)
      put_varint(out, v.value());
  }
  if (!meta.config.empty()) {
    // field 4: Configuration { repeated Member members = 1; }
    std::string config;
    for (const auto& m : meta.config.members) {
      std::string member;
      if (m.id.value() != 0) {
        member.push_back(0x08); // id
        put_varint(member, m.id.value());
      }
      if (m.role != raft::member_role::voter) {
        member.push_back(0x10); // role
        put_varint(member, static_cast<uint64_t>(m.role));
      }
      if (!m.address.empty())
        put_bytes(member, 0x1A, m.address);
      if (!m.client_address.empty())
        put_bytes(member, 0x22, m.client_address);
      put_bytes(config, 0x0A, member);
    }
    put_bytes(out, 0x22, config);
  }
  return out;
}

storage_result<snapshot_info>
verify_snapshot_file(const std::string& path, const snapshot_options& opts) {
  auto f = file::open(path, O_RDONLY);
  if (!f)
    return std::move(f).error();
  auto size = f->size();
  if (!size)
    return std::move(size).error();
  auto m = read_header(*f, *size, opts);
  if (!m)
    return std::move(m).error();
  char trailer[snapshot_trailer_bytes];
  auto t_off = *size - snapshot_trailer_bytes;
  auto n = f->pread_full(trailer, sizeof(trailer), t_off);
  if (!n)
    return std::move(n).error();
  if (*n != sizeof(trailer))
    return corruption_at(path, t_off + *n, "file shrank while being read");
  if (std::memcmp(trailer + 12, end_magic, 4) != 0)
    return corruption_at(path, t_off + 12,
                         "bad end magic: the file is truncated or its trailer "
                         "damaged");
  auto total = get_le64(trailer);
  if (total != *size)
    return corruption_at(path, t_off,
                         "trailer records a length of " + std::to_string(total)
                           + " bytes but the file is " + std::to_string(*size)
                           + " bytes");
  // Checksum over [0, size - 8).
  crc32c crc;
  std::string buf(std::min<uint64_t>(verify_chunk_bytes, *size), '\0');
  const uint64_t covered = *size - 8;
  std::string meta_bytes;
  for (uint64_t pos = 0; pos < covered;) {
    auto want
      = static_cast<size_t>(std::min<uint64_t>(buf.size(), covered - pos));
    auto got = f->pread_full(buf.data(), want, pos);
    if (!got)
      return std::move(got).error();
    if (*got != want)
      return corruption_at(path, pos + *got, "file shrank while being read");
    crc.update(buf.data(), want);
    // Keep the meta bytes (they may straddle a chunk boundary).
    uint64_t meta_begin = snapshot_header_bytes;
    uint64_t meta_end = snapshot_header_bytes + *m;
    uint64_t lo = std::max(pos, meta_begin);
    uint64_t hi = std::min(pos + want, meta_end);
    if (lo < hi)
      meta_bytes.append(buf.data() + (lo - pos), static_cast<size_t>(hi - lo));
    pos += want;
  }
  auto stored = get_le32(trailer + 8);
  auto computed = crc.value();
  if (stored != computed)
    return corruption_at(path, t_off + 8,
                         "checksum mismatch over bytes 0.."
                           + std::to_string(covered) + " (stored "
                           + hex32(stored) + ", computed " + hex32(computed)
                           + "): the file is damaged somewhere in that range");
  pb::SnapshotMeta msg;
  if (!msg.ParseFromArray(meta_bytes.data(),
                          static_cast<int>(meta_bytes.size())))
    return corruption_at(path, snapshot_header_bytes,
                         "checksum is valid but the meta is not a SnapshotMeta "
                         "message");
  if (msg.has_config() && !raft::decode(msg.config()))
    return corruption_at(path, snapshot_header_bytes,
                         "meta holds a malformed cluster configuration");
  snapshot_info info;
  info.checksum = stored;
  info.meta = raft::decode(msg);
  if (info.meta.index.value() == 0 || info.meta.term.value() == 0)
    return corruption_at(path, snapshot_header_bytes,
                         "meta has index or term 0 (" + describe(info.meta)
                           + ")");
  info.path = path;
  info.file_bytes = *size;
  info.payload_offset = snapshot_header_bytes + *m;
  info.payload_bytes = *size - snapshot_trailer_bytes - info.payload_offset;
  return info;
}

// -- writer
// --------------------------------------------------------------------

snapshot_writer::snapshot_writer(snapshot_writer&& other) noexcept
    : file_(std::move(other.file_)), dir_(std::move(other.dir_)),
      path_(std::move(other.path_)), tmp_path_(std::move(other.tmp_path_)),
      buf_(std::move(other.buf_)), buf_used_(other.buf_used_),
      file_bytes_(other.file_bytes_), payload_bytes_(other.payload_bytes_),
      crc_(other.crc_), active_(other.active_), committed_(other.committed_),
      failed_(other.failed_) {
  other.active_ = false;
  other.failed_ = true;
}

snapshot_writer& snapshot_writer::operator=(snapshot_writer&& other) noexcept {
  if (this != &other) {
    abandon();
    file_ = std::move(other.file_);
    dir_ = std::move(other.dir_);
    path_ = std::move(other.path_);
    tmp_path_ = std::move(other.tmp_path_);
    buf_ = std::move(other.buf_);
    buf_used_ = other.buf_used_;
    file_bytes_ = other.file_bytes_;
    payload_bytes_ = other.payload_bytes_;
    crc_ = other.crc_;
    active_ = other.active_;
    committed_ = other.committed_;
    failed_ = other.failed_;
    other.active_ = false;
    other.failed_ = true;
  }
  return *this;
}

snapshot_writer::~snapshot_writer() {
  abandon();
}

storage_error snapshot_writer::finished_error() const {
  return invalid_argument(tmp_path_,
                          committed_ ? "snapshot writer used after commit()"
                                     : "snapshot writer used after a failure, "
                                       "abandon() or release()");
}

storage_result<void> snapshot_writer::flush() {
  if (buf_used_ == 0)
    return {};
  auto r = file_.write_all(buf_.get(), buf_used_);
  buf_used_ = 0;
  if (!r)
    failed_ = true;
  return r;
}

storage_result<void> snapshot_writer::append(const void* data, size_t size) {
  crc_.update(data, size);
  file_bytes_ += size;
  if (buf_used_ + size > writer_buffer_bytes) {
    if (auto r = flush(); !r)
      return r;
  }
  if (size >= writer_buffer_bytes) {
    auto r = file_.write_all(data, size);
    if (!r)
      failed_ = true;
    return r;
  }
  std::memcpy(buf_.get() + buf_used_, data, size);
  buf_used_ += size;
  return {};
}

storage_result<void> snapshot_writer::write(const void* data, size_t size) {
  if (!active_ || failed_ || committed_)
    return finished_error();
  if (auto r = append(data, size); !r)
    return r;
  payload_bytes_ += size;
  return {};
}

storage_result<void> snapshot_writer::commit() {
  if (!active_ || failed_ || committed_)
    return finished_error();
  failed_ = true; // until proven otherwise
  char trailer[snapshot_trailer_bytes];
  put_le64(trailer, file_bytes_ + snapshot_trailer_bytes);
  crc_.update(trailer, 8);
  put_le32(trailer + 8, crc_.value());
  std::memcpy(trailer + 12, end_magic, 4);
  if (buf_used_ + sizeof(trailer) <= writer_buffer_bytes) {
    std::memcpy(buf_.get() + buf_used_, trailer, sizeof(trailer));
    buf_used_ += sizeof(trailer);
  } else {
    if (auto r = flush(); !r)
      return r;
    if (auto r = file_.write_all(trailer, sizeof(trailer)); !r)
      return r;
  }
  if (auto r = flush(); !r)
    return r;
  if (auto r = file_.sync(); !r)
    return r;
  if (auto r = file_.close(); !r)
    return r;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    return os_error(tmp_path_, "rename", errno);
  active_ = false; // the temporary file is gone
  if (auto r = sync_dir_raw(dir_); !r)
    return r;
  failed_ = false;
  committed_ = true;
  return {};
}

void snapshot_writer::abandon() noexcept {
  file_ = file{}; // closes quietly (no allocation)
  if (active_)
    ::unlink(tmp_path_.c_str());
  active_ = false;
  failed_ = true;
}

void snapshot_writer::release() noexcept {
  file_ = file{};
  active_ = false;
  failed_ = true;
}

// -- receiver
// ------------------------------------------------------------------

snapshot_receiver::snapshot_receiver(snapshot_receiver&& other) noexcept
    : file_(std::move(other.file_)), expected_(std::move(other.expected_)),
      opts_(other.opts_), dir_(std::move(other.dir_)),
      path_(std::move(other.path_)), tmp_path_(std::move(other.tmp_path_)),
      received_(other.received_), total_(other.total_), done_(other.done_) {
  other.done_ = true;
}

snapshot_receiver&
snapshot_receiver::operator=(snapshot_receiver&& other) noexcept {
  if (this != &other) {
    abandon();
    file_ = std::move(other.file_);
    expected_ = std::move(other.expected_);
    opts_ = other.opts_;
    dir_ = std::move(other.dir_);
    path_ = std::move(other.path_);
    tmp_path_ = std::move(other.tmp_path_);
    received_ = other.received_;
    total_ = other.total_;
    done_ = other.done_;
    other.done_ = true;
  }
  return *this;
}

snapshot_receiver::~snapshot_receiver() {
  abandon();
}

void snapshot_receiver::abandon() noexcept {
  file_ = file{};
  if (!done_)
    ::unlink(tmp_path_.c_str());
  done_ = true;
}

storage_result<void> snapshot_receiver::write(uint64_t offset,
                                              std::string_view bytes) {
  if (done_)
    return invalid_argument(tmp_path_,
                            "snapshot receiver used after commit(), a "
                            "failure or abandon()");
  if (offset != received_)
    return invalid_argument(
      tmp_path_, "chunk at offset " + std::to_string(offset)
                   + ", expected offset " + std::to_string(received_));
  if (bytes.size() > total_ - received_)
    return invalid_argument(tmp_path_,
                            "chunk of " + std::to_string(bytes.size())
                              + " bytes at offset " + std::to_string(offset)
                              + " goes beyond the announced size of "
                              + std::to_string(total_) + " bytes");
  if (auto r = file_.pwrite_all(bytes, offset); !r) {
    abandon();
    return r;
  }
  received_ += bytes.size();
  return {};
}

storage_result<snapshot_info> snapshot_receiver::commit() {
  if (done_)
    return invalid_argument(tmp_path_,
                            "snapshot receiver used after commit(), a "
                            "failure or abandon()");
  if (received_ != total_)
    return invalid_argument(tmp_path_, "commit() after "
                                         + std::to_string(received_) + " of "
                                         + std::to_string(total_) + " bytes");
  auto fail = [this](storage_error e) -> storage_result<snapshot_info> {
    abandon();
    return e;
  };
  if (auto r = file_.sync(); !r)
    return fail(std::move(r).error());
  if (auto r = file_.close(); !r)
    return fail(std::move(r).error());
  auto info = verify_snapshot_file(tmp_path_, opts_);
  auto rejected = [&](storage_error e) {
    e.message = "snapshot received from the leader failed verification "
                "(file removed): "
                + e.message;
    e.suggestion = "the transfer was damaged: let the leader send the "
                   "snapshot again; if this repeats, check the network and "
                   "both nodes' disks";
    return fail(std::move(e));
  };
  if (!info)
    return rejected(std::move(info).error());
  if (!same_meta(info->meta, expected_))
    return rejected(corruption_at(tmp_path_, snapshot_header_bytes,
                                  "its meta (" + describe(info->meta)
                                    + ") differs from the announced one ("
                                    + describe(expected_) + ")"));
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    return fail(os_error(tmp_path_, "rename", errno));
  done_ = true;
  if (auto r = sync_directory(dir_); !r)
    return std::move(r).error();
  info->path = path_;
  return std::move(info).value();
}

// -- store
// ---------------------------------------------------------------------

storage_result<snapshot_store::opened>
snapshot_store::open(const std::string& dir, const snapshot_options& opts) {
  opened out;
  out.store.dir_ = join_path(dir, snapshot_dir_name);
  out.store.opts_ = opts;
  const auto& sdir = out.store.dir_;
  if (auto r = ensure_directory(sdir, dir); !r)
    return std::move(r).error();
  auto names = list_directory(sdir);
  if (!names)
    return std::move(names).error();
  std::sort(names->begin(), names->end());
  for (const auto& name : *names) {
    if (!ends_with(name, tmp_suffix))
      continue;
    auto path = join_path(sdir, name);
    uint64_t size = 0;
    if (auto f = file::open(path, O_RDONLY)) {
      if (auto sz = f->size())
        size = *sz;
    }
    auto removed = remove_file(path);
    if (!removed)
      return std::move(removed).error();
    repair r;
    r.file = path;
    r.bytes_dropped = size;
    r.message = "removed an unfinished snapshot file (a snapshot being "
                "written or received when the node stopped)";
    out.repairs.push_back(std::move(r));
  }
  if (auto r = sync_directory(sdir); !r)
    return std::move(r).error();
  return out;
}

storage_result<snapshot_writer>
snapshot_store::begin(const raft::snapshot_meta& meta) const {
  if (dir_.empty())
    return invalid_argument("",
                            "begin() on a snapshot_store that was not opened");
  if (meta.index.value() == 0 || meta.term.value() == 0)
    return invalid_argument(dir_, "snapshot meta with index or term 0 ("
                                    + describe(meta) + ")");
  auto meta_bytes = encode_snapshot_meta(meta);
  if (meta_bytes.size() > opts_.max_meta_bytes)
    return invalid_argument(
      dir_, "snapshot meta of " + std::to_string(meta_bytes.size())
              + " bytes exceeds max_meta_bytes ("
              + std::to_string(opts_.max_meta_bytes) + ")");
  snapshot_writer w;
  w.dir_ = dir_;
  w.path_ = join_path(dir_, snapshot_file_name(meta.index, meta.term));
  w.tmp_path_ = w.path_ + std::string{tmp_suffix};
  w.buf_.reset(new char[writer_buffer_bytes]);
  auto f = file::open(w.tmp_path_, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!f)
    return std::move(f).error();
  w.file_ = std::move(*f);
  w.active_ = true;
  char hdr[snapshot_header_bytes];
  std::memcpy(hdr, magic, 8);
  put_le32(hdr + 8, format_version);
  put_le32(hdr + 12, static_cast<uint32_t>(meta_bytes.size()));
  if (auto r = w.append(hdr, sizeof(hdr)); !r)
    return std::move(r).error();
  if (auto r = w.append(meta_bytes.data(), meta_bytes.size()); !r)
    return std::move(r).error();
  return w;
}

storage_result<snapshot_receiver>
snapshot_store::receive(const raft::snapshot_meta& meta,
                        uint64_t total_bytes) const {
  if (dir_.empty())
    return invalid_argument(
      "", "receive() on a snapshot_store that was not opened");
  if (meta.index.value() == 0 || meta.term.value() == 0)
    return invalid_argument(dir_, "snapshot meta with index or term 0 ("
                                    + describe(meta) + ")");
  if (total_bytes < snapshot_header_bytes + snapshot_trailer_bytes)
    return invalid_argument(
      dir_, "announced snapshot size of " + std::to_string(total_bytes)
              + " bytes is too small for a snapshot file");
  snapshot_receiver rcv;
  rcv.expected_ = meta;
  rcv.opts_ = opts_;
  rcv.dir_ = dir_;
  rcv.path_ = join_path(dir_, snapshot_file_name(meta.index, meta.term));
  rcv.tmp_path_ = rcv.path_ + ".recv" + std::string{tmp_suffix};
  rcv.total_ = total_bytes;
  auto f = file::open(rcv.tmp_path_, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!f) {
    rcv.done_ = true;
    return std::move(f).error();
  }
  rcv.file_ = std::move(*f);
  return rcv;
}

storage_result<std::vector<snapshot_file>> snapshot_store::list() const {
  auto names = list_directory(dir_);
  if (!names)
    return std::move(names).error();
  std::vector<snapshot_file> out;
  for (const auto& name : *names) {
    snapshot_file sf;
    if (parse_snapshot_file_name(name, sf.index, sf.term)) {
      sf.path = join_path(dir_, name);
      out.push_back(std::move(sf));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.index, a.term) < std::tie(b.index, b.term);
  });
  return out;
}

storage_result<std::optional<snapshot_info>> snapshot_store::latest() const {
  auto files = list();
  if (!files)
    return std::move(files).error();
  if (files->empty())
    return std::optional<snapshot_info>{};
  const auto& newest = files->back();
  auto add_fallback = [&](storage_error e) {
    if (files->size() >= 2) {
      const auto& prev = (*files)[files->size() - 2];
      e.suggestion = "move " + newest.path
                     + " aside to start from the previous snapshot " + prev.path
                     + " (start-up refuses if the log no longer holds every "
                       "entry after index "
                     + std::to_string(prev.index.value()) + "), or "
                     + suggest_rejoin;
    }
    return e;
  };
  auto info = verify_snapshot_file(newest.path, opts_);
  if (!info) {
    if (info.error().code == storage_errc::io)
      return std::move(info).error();
    return add_fallback(std::move(info).error());
  }
  if (info->meta.index != newest.index || info->meta.term != newest.term)
    return add_fallback(corruption_at(newest.path, snapshot_header_bytes,
                                      "its meta (" + describe(info->meta)
                                        + ") does not match its file name"));
  return std::optional<snapshot_info>{std::move(info).value()};
}

storage_result<std::string>
snapshot_store::read_payload(const std::string& path, uint64_t offset,
                             size_t max_bytes) const {
  auto f = file::open(path, O_RDONLY);
  if (!f)
    return std::move(f).error();
  auto size = f->size();
  if (!size)
    return std::move(size).error();
  auto m = read_header(*f, *size, opts_);
  if (!m)
    return std::move(m).error();
  uint64_t start = snapshot_header_bytes + *m;
  uint64_t payload = *size - snapshot_trailer_bytes - start;
  if (offset > payload)
    return invalid_argument(path, "payload offset " + std::to_string(offset)
                                    + " is beyond the payload's "
                                    + std::to_string(payload) + " bytes");
  auto n = static_cast<size_t>(std::min<uint64_t>(max_bytes, payload - offset));
  std::string out(n, '\0');
  auto got = f->pread_full(out.data(), n, start + offset);
  if (!got)
    return std::move(got).error();
  if (*got != n)
    return corruption_at(path, start + offset + *got,
                         "file shrank while being read");
  return out;
}

storage_result<std::string> snapshot_store::read_chunk(const std::string& path,
                                                       uint64_t offset,
                                                       size_t max_bytes) const {
  auto f = file::open(path, O_RDONLY);
  if (!f)
    return std::move(f).error();
  auto size = f->size();
  if (!size)
    return std::move(size).error();
  if (offset > *size)
    return invalid_argument(path, "offset " + std::to_string(offset)
                                    + " is beyond the file's "
                                    + std::to_string(*size) + " bytes");
  auto n = static_cast<size_t>(std::min<uint64_t>(max_bytes, *size - offset));
  std::string out(n, '\0');
  auto got = f->pread_full(out.data(), n, offset);
  if (!got)
    return std::move(got).error();
  out.resize(*got);
  return out;
}

storage_result<size_t> snapshot_store::retain(size_t keep_n) const {
  if (keep_n == 0)
    return invalid_argument(dir_, "retain(0) would remove every snapshot");
  auto names = list_directory(dir_);
  if (!names)
    return std::move(names).error();
  size_t removed = 0;
  for (const auto& name : *names) {
    if (!ends_with(name, tmp_suffix))
      continue;
    auto r = remove_file(join_path(dir_, name));
    if (!r)
      return std::move(r).error();
    removed += *r ? 1 : 0;
  }
  auto files = list();
  if (!files)
    return std::move(files).error();
  if (files->size() > keep_n) {
    auto drop = files->size() - keep_n;
    for (size_t i = 0; i < drop; ++i) {
      auto r = remove_file((*files)[i].path);
      if (!r)
        return std::move(r).error();
      removed += *r ? 1 : 0;
    }
  }
  if (removed > 0) {
    if (auto r = sync_directory(dir_); !r)
      return std::move(r).error();
  }
  return removed;
}

} // namespace conclave::storage
