// Tests of the segmented Raft log (runtime/storage/log_store.hpp) and of
// open_storage(), the node's start-up loader.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/file_bytes.hpp"
#include "tests/support/temp_dir.hpp"

#include "messages/raft.pb.h"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/log_store.hpp"

using namespace conclave;
using namespace conclave::storage;
namespace fs = std::filesystem;
using conclave::test::read_file;
using conclave::test::temp_dir;
using conclave::test::write_file;

namespace {

raft::entry make_entry(uint64_t index, uint64_t term, std::string data = {}) {
  raft::entry e;
  e.index = log_index{index};
  e.term = term_t{term};
  e.data = data.empty() ? "cmd-" + std::to_string(index) : std::move(data);
  e.type = index % 7 == 0 ? raft::entry_type::noop : raft::entry_type::normal;
  return e;
}

std::vector<raft::entry> make_entries(uint64_t first, uint64_t last,
                                      uint64_t term) {
  std::vector<raft::entry> out;
  for (auto i = first; i <= last; ++i)
    out.push_back(make_entry(i, term));
  return out;
}

log_options small_segments(uint64_t bytes = 200) {
  log_options opts;
  opts.segment_bytes = bytes;
  return opts;
}

std::string segment_path(const std::string& dir, uint64_t first) {
  return dir + "/log/" + segment_file_name(log_index{first});
}

/// Start offsets of the records in a segment file's bytes.
std::vector<uint64_t> record_offsets(const std::string& bytes) {
  std::vector<uint64_t> out;
  uint64_t pos = segment_header_bytes;
  while (pos + record_header_bytes <= bytes.size()) {
    out.push_back(pos);
    pos += record_header_bytes + get_le32(bytes.data() + pos);
  }
  return out;
}

/// A segment file built by hand: header plus records as given.
std::string make_segment(uint64_t first, const std::vector<raft::entry>& es) {
  std::string out(segment_header_bytes, '\0');
  std::memcpy(out.data(), "CNCLVLOG", 8);
  put_le32(out.data() + 8, 1);
  put_le64(out.data() + 16, first);
  put_le32(out.data() + 28, crc32c::of(std::string_view{out.data(), 28}));
  for (const auto& e : es) {
    pb::RaftEntry msg;
    msg.set_index(e.index.value());
    msg.set_term(e.term.value());
    msg.set_type(e.type == raft::entry_type::noop ? pb::ENTRY_NOOP
                                                  : pb::ENTRY_NORMAL);
    msg.set_data(e.data);
    auto payload = msg.SerializeAsString();
    char hdr[8];
    put_le32(hdr, static_cast<uint32_t>(payload.size()));
    put_le32(hdr + 4, crc32c::of(payload));
    out.append(hdr, 8);
    out += payload;
  }
  return out;
}

/// Opens, appends `entries` in batches of `batch`, syncing each batch.
void write_log(const std::string& dir, const log_options& opts,
               const std::vector<raft::entry>& entries, size_t batch = 5) {
  auto o = log_store::open(dir, opts);
  REQUIRE(o);
  for (size_t i = 0; i < entries.size(); i += batch) {
    std::vector<raft::entry> b(
      entries.begin() + static_cast<long>(i),
      entries.begin() + static_cast<long>(std::min(entries.size(), i + batch)));
    auto r = o->log.append(b);
    REQUIRE(r);
    auto d = o->log.sync();
    REQUIRE(d);
    CHECK(d->index == b.back().index);
  }
}

bool is_prefix(const std::vector<raft::entry>& a,
               const std::vector<raft::entry>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

std::vector<raft::entry> slice(const std::vector<raft::entry>& v, size_t from,
                               size_t to) {
  return {v.begin() + static_cast<long>(from),
          v.begin() + static_cast<long>(to)};
}

} // namespace

// -- basics -------------------------------------------------------------------

TEST_CASE("log_store: a fresh directory opens empty", "[storage]") {
  temp_dir d;
  auto o = log_store::open(d.path);
  REQUIRE(o);
  CHECK(o->entries.empty());
  CHECK(o->repairs.empty());
  CHECK(o->log.last_index() == log_index{0});
  CHECK(o->log.last_term() == term_t{0});
  CHECK(o->log.first_index() == log_index{1});
  CHECK(fs::is_directory(d.path + "/log"));
  CHECK(o->log.segment_paths().empty());
}

TEST_CASE("log_store: segment file names", "[storage]") {
  CHECK(segment_file_name(log_index{1}) == "00000000000000000001.log");
  CHECK(segment_file_name(log_index{18446744073709551615ull})
        == "18446744073709551615.log");
  log_index i;
  CHECK(parse_segment_file_name("00000000000000001234.log", i));
  CHECK(i == log_index{1234});
  CHECK_FALSE(parse_segment_file_name("0000000000000001234.log", i));
  CHECK_FALSE(parse_segment_file_name("00000000000000001234.lo", i));
  CHECK_FALSE(parse_segment_file_name("0000000000000000123x.log", i));
  CHECK_FALSE(parse_segment_file_name("99999999999999999999.log", i));
}

TEST_CASE("log_store: append, sync and reopen across segment rolls",
          "[storage]") {
  temp_dir d;
  auto opts = small_segments(300);
  std::mt19937_64 rng{42};
  std::vector<raft::entry> all;
  uint64_t term = 1;
  for (uint64_t i = 1; i <= 200; ++i) {
    if (rng() % 20 == 0)
      ++term;
    std::string data(rng() % 60, '\0');
    for (auto& c : data)
      c = static_cast<char>(rng());
    all.push_back(make_entry(i, term, data));
  }
  {
    auto o = log_store::open(d.path, opts);
    REQUIRE(o);
    size_t i = 0;
    while (i < all.size()) {
      auto n = std::min<size_t>(1 + rng() % 17, all.size() - i);
      REQUIRE(o->log.append(slice(all, i, i + n)));
      i += n;
      CHECK(o->log.last_index() == all[i - 1].index);
      CHECK(o->log.last_term() == all[i - 1].term);
      if (rng() % 3 == 0 || i == all.size()) {
        auto dur = o->log.sync();
        REQUIRE(dur);
        CHECK(dur->index == all[i - 1].index);
        CHECK(dur->term == all[i - 1].term);
        CHECK(o->log.durable() == *dur);
      }
    }
    CHECK(o->log.segment_paths().size() > 10);
  }
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  CHECK(o->repairs.empty());
  CHECK(o->entries == all);
  CHECK(o->log.last_index() == log_index{200});
  CHECK(o->log.last_term() == all.back().term);
  CHECK(o->log.durable().index == log_index{200});
  // Segments: named by their first index, none grown past the limit
  // (every record here is smaller than a segment).
  auto paths = o->log.segment_paths();
  uint64_t expect_first = 1;
  for (const auto& p : paths) {
    log_index first;
    REQUIRE(parse_segment_file_name(fs::path{p}.filename().string(), first));
    CHECK(first == log_index{expect_first});
    auto bytes = read_file(p);
    CHECK(bytes.size() <= opts.segment_bytes);
    expect_first += record_offsets(bytes).size();
  }
  CHECK(expect_first == 201);
  // And appending continues where it stopped.
  REQUIRE(o->log.append({make_entry(201, all.back().term.value())}));
  REQUIRE(o->log.sync());
  auto again = log_store::open(d.path, opts);
  REQUIRE(again);
  CHECK(again->entries.size() == 201);
}

TEST_CASE("log_store: a record larger than a segment gets a segment alone",
          "[storage]") {
  temp_dir d;
  auto opts = small_segments(100);
  std::vector<raft::entry> all{make_entry(1, 1), make_entry(2, 1),
                               make_entry(3, 1, std::string(500, 'x')),
                               make_entry(4, 1), make_entry(5, 1)};
  write_log(d.path, opts, all, 5);
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  CHECK(o->entries == all);
  auto paths = o->log.segment_paths();
  REQUIRE(paths.size() == 3);
  CHECK(paths[1] == segment_path(d.path, 3));
  CHECK(paths[2] == segment_path(d.path, 4));
  CHECK(record_offsets(read_file(paths[1])).size() == 1);
}

TEST_CASE("log_store: conflicting suffix is truncated, then reopen",
          "[storage]") {
  temp_dir d;
  auto opts = small_segments(200);
  auto all = make_entries(1, 60, 1);
  write_log(d.path, opts, all, 10);
  std::vector<raft::entry> expect = all;

  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  auto segs_before = o->log.segment_paths().size();
  REQUIRE(segs_before > 4);

  SECTION("inside the newest segment") {
    auto cut = o->log.last_index().value() - 1;
    auto repl = make_entries(cut, cut + 3, 2);
    REQUIRE(o->log.append(repl));
    expect.resize(cut - 1);
    expect.insert(expect.end(), repl.begin(), repl.end());
  }
  SECTION("in an older segment, removing the newer ones") {
    auto repl = make_entries(17, 20, 3);
    REQUIRE(o->log.append(repl));
    CHECK(o->log.segment_paths().size() < segs_before);
    expect.resize(16);
    expect.insert(expect.end(), repl.begin(), repl.end());
  }
  SECTION("at the first index of a segment") {
    // The second segment's first index.
    log_index second;
    REQUIRE(parse_segment_file_name(
      fs::path{o->log.segment_paths()[1]}.filename().string(), second));
    auto repl = make_entries(second.value(), second.value() + 2, 2);
    REQUIRE(o->log.append(repl));
    expect.resize(second.value() - 1);
    expect.insert(expect.end(), repl.begin(), repl.end());
  }
  SECTION("everything") {
    auto repl = make_entries(1, 3, 5);
    REQUIRE(o->log.append(repl));
    CHECK(o->log.segment_paths().size() == 1);
    expect = repl;
  }
  // The truncation is durable at once; the new entries after sync.
  CHECK(o->log.durable().index.value() < expect.back().index.value());
  CHECK(o->log.last_index() == expect.back().index);
  CHECK(o->log.last_term() == expect.back().term);
  auto dur = o->log.sync();
  REQUIRE(dur);
  CHECK(dur->index == expect.back().index);
  auto re = log_store::open(d.path, opts);
  REQUIRE(re);
  CHECK(re->repairs.empty());
  CHECK(re->entries == expect);
}

TEST_CASE("log_store: truncation without sync never mixes old and new",
          "[storage]") {
  // After a conflicting append the old suffix is durably gone even if the
  // new entries are lost: reopening without sync() sees no old entries
  // beyond the cut.
  temp_dir d;
  auto opts = small_segments(200);
  write_log(d.path, opts, make_entries(1, 40, 1), 40);
  {
    auto o = log_store::open(d.path, opts);
    REQUIRE(o);
    REQUIRE(o->log.append(make_entries(10, 12, 2)));
    CHECK(o->log.durable().index == log_index{9});
    // no sync
  }
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  REQUIRE(o->entries.size() >= 9);
  CHECK(slice(o->entries, 0, 9) == make_entries(1, 9, 1));
  for (size_t i = 9; i < o->entries.size(); ++i)
    CHECK(o->entries[i].term == term_t{2});
}

TEST_CASE("log_store: append contract violations are invalid_argument",
          "[storage]") {
  temp_dir d;
  log_options opts;
  opts.max_record_bytes = 1000;
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  REQUIRE(o->log.append(make_entries(1, 5, 2)));
  auto bad = [&](std::vector<raft::entry> es) {
    auto r = o->log.append(es);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == storage_errc::invalid_argument);
    CHECK_FALSE(r.error().message.empty());
  };
  bad(make_entries(7, 8, 2));                      // gap
  bad({make_entry(6, 2), make_entry(8, 2)});       // not contiguous
  bad({make_entry(6, 3), make_entry(7, 2)});       // term decreases
  bad({make_entry(6, 1)});                         // below previous term
  bad({make_entry(6, 0)});                         // term 0
  bad({make_entry(0, 2)});                         // index 0
  bad({make_entry(6, 2, std::string(2000, 'x'))}); // too large
  // Nothing was written by the refused calls.
  CHECK(o->log.last_index() == log_index{5});
  REQUIRE(o->log.append({}));
  REQUIRE(o->log.append(make_entries(6, 6, 2)));
  REQUIRE(o->log.sync());
  auto re = log_store::open(d.path, opts);
  REQUIRE(re);
  CHECK(re->entries == make_entries(1, 6, 2));
}

TEST_CASE("log_store: bad options are refused", "[storage]") {
  temp_dir d;
  log_options opts;
  opts.segment_bytes = 10;
  auto o = log_store::open(d.path, opts);
  REQUIRE_FALSE(o);
  CHECK(o.error().code == storage_errc::invalid_argument);
  auto o2 = log_store::open(d.path, {}, log_index{5}, term_t{0});
  REQUIRE_FALSE(o2);
  CHECK(o2.error().code == storage_errc::invalid_argument);
}

// -- compaction and snapshots
// ---------------------------------------------------

TEST_CASE("log_store: compaction removes only whole old segments",
          "[storage]") {
  temp_dir d;
  auto opts = small_segments(200);
  auto all = make_entries(1, 60, 1);
  write_log(d.path, opts, all, 60);
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  auto paths = o->log.segment_paths();
  REQUIRE(paths.size() >= 5);
  std::vector<log_index> firsts;
  for (const auto& p : paths) {
    log_index f;
    REQUIRE(parse_segment_file_name(fs::path{p}.filename().string(), f));
    firsts.push_back(f);
  }
  // upto just before the end of segment 2: only segment 1 goes.
  auto upto = log_index{firsts[2].value() - 2};
  auto n = o->log.compact(upto);
  REQUIRE(n);
  CHECK(*n == 1);
  CHECK_FALSE(fs::exists(paths[0]));
  CHECK(fs::exists(paths[1]));
  CHECK(o->log.first_index() == firsts[1]);
  // Exactly the end of segment 2: it goes too.
  n = o->log.compact(log_index{firsts[2].value() - 1});
  REQUIRE(n);
  CHECK(*n == 1);
  CHECK(o->log.first_index() == firsts[2]);
  // Beyond the end: never the newest segment.
  n = o->log.compact(log_index{1000});
  REQUIRE(n);
  CHECK(o->log.segment_paths().size() == 1);
  CHECK(o->log.segment_paths()[0] == paths.back());
  CHECK(o->log.last_index() == log_index{60});
  // Reopen against a snapshot covering the removed part.
  auto snap = log_index{firsts.back().value() + 1};
  auto re = log_store::open(d.path, opts, snap, term_t{1});
  REQUIRE(re);
  CHECK(re->repairs.empty());
  CHECK(re->entries == slice(all, snap.value(), 60));
  // Appends continue; a rewrite before the base is refused.
  REQUIRE(re->log.append(make_entries(61, 62, 1)));
  auto r = re->log.append(make_entries(1, 2, 9));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == storage_errc::invalid_argument);
}

TEST_CASE("log_store: reset after installing a snapshot", "[storage]") {
  temp_dir d;
  auto opts = small_segments(200);
  write_log(d.path, opts, make_entries(1, 30, 1), 30);
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  REQUIRE(o->log.reset(log_index{100}, term_t{4}));
  CHECK(o->log.segment_paths().empty());
  CHECK(fs::is_empty(d.path + "/log"));
  CHECK(o->log.last_index() == log_index{100});
  CHECK(o->log.last_term() == term_t{4});
  CHECK(o->log.durable() == log_position{log_index{100}, term_t{4}});
  auto r = o->log.append(make_entries(100, 100, 4));
  CHECK_FALSE(r);
  r = o->log.append(make_entries(101, 101, 3)); // below the snapshot's term
  CHECK_FALSE(r);
  REQUIRE(o->log.append(make_entries(101, 105, 4)));
  REQUIRE(o->log.sync());
  auto re = log_store::open(d.path, opts, log_index{100}, term_t{4});
  REQUIRE(re);
  CHECK(re->entries == make_entries(101, 105, 4));
  CHECK(re->repairs.empty());
}

TEST_CASE("log_store: open against a snapshot", "[storage]") {
  temp_dir d;
  auto opts = small_segments(200);
  std::vector<raft::entry> all = make_entries(1, 20, 1);
  auto t2 = make_entries(21, 40, 2);
  all.insert(all.end(), t2.begin(), t2.end());
  write_log(d.path, opts, all, 40);

  SECTION("matching term: entries after it") {
    auto o = log_store::open(d.path, opts, log_index{25}, term_t{2});
    REQUIRE(o);
    CHECK(o->entries == slice(all, 25, 40));
    CHECK(o->repairs.empty());
    CHECK(o->log.last_index() == log_index{40});
  }
  SECTION("snapshot at the last index") {
    auto o = log_store::open(d.path, opts, log_index{40}, term_t{2});
    REQUIRE(o);
    CHECK(o->entries.empty());
    CHECK(o->log.last_index() == log_index{40});
  }
  SECTION("log ends before the snapshot: stale, removed") {
    auto o = log_store::open(d.path, opts, log_index{50}, term_t{3});
    REQUIRE(o);
    CHECK(o->entries.empty());
    CHECK_FALSE(o->repairs.empty());
    CHECK(o->log.segment_paths().empty());
    CHECK(o->log.last_index() == log_index{50});
    REQUIRE(o->log.append(make_entries(51, 52, 3)));
    REQUIRE(o->log.sync());
    auto re = log_store::open(d.path, opts, log_index{50}, term_t{3});
    REQUIRE(re);
    CHECK(re->entries == make_entries(51, 52, 3));
  }
  SECTION("log conflicts with the snapshot's term: discarded (§5.3)") {
    auto o = log_store::open(d.path, opts, log_index{30}, term_t{3});
    REQUIRE(o);
    CHECK(o->entries.empty());
    REQUIRE_FALSE(o->repairs.empty());
    CHECK(o->repairs[0].message.find("conflicts") != std::string::npos);
    CHECK(o->log.last_index() == log_index{30});
    CHECK(o->log.last_term() == term_t{3});
    REQUIRE(o->log.append(make_entries(31, 33, 3)));
    REQUIRE(o->log.sync());
    auto re = log_store::open(d.path, opts, log_index{30}, term_t{3});
    REQUIRE(re);
    CHECK(re->entries == make_entries(31, 33, 3));
    CHECK(re->repairs.empty());
  }
}

TEST_CASE("log_store: a gap between snapshot and log is corruption",
          "[storage]") {
  temp_dir d;
  auto opts = small_segments(200);
  write_log(d.path, opts, make_entries(1, 40, 1), 40);
  {
    auto o = log_store::open(d.path, opts);
    REQUIRE(o);
    REQUIRE(o->log.compact(log_index{30}));
  }
  auto first = log_store::open(d.path, opts, log_index{30}, term_t{1});
  REQUIRE(first);
  auto f = first->log.first_index();
  REQUIRE(f.value() > 1);
  // An older snapshot no longer covers the log's start.
  auto o = log_store::open(d.path, opts, log_index{f.value() - 2}, term_t{1});
  REQUIRE_FALSE(o);
  CHECK(o.error().code == storage_errc::corruption);
  CHECK(o.error().file == segment_path(d.path, f.value()));
  CHECK(o.error().message.find("missing") != std::string::npos);
  // No snapshot at all: the same.
  auto o2 = log_store::open(d.path, opts);
  REQUIRE_FALSE(o2);
  CHECK(o2.error().code == storage_errc::corruption);
}

// -- torn tails
// -----------------------------------------------------------------

TEST_CASE("log_store: torn tail at every byte of the last record",
          "[storage]") {
  temp_dir d;
  log_options opts;
  auto all = make_entries(1, 6, 1);
  all[5].data = "a longer command in the last record";
  write_log(d.path, opts, all, 3);
  auto path = segment_path(d.path, 1);
  auto pristine = read_file(path);
  auto offs = record_offsets(pristine);
  REQUIRE(offs.size() == 6);
  auto last = offs.back();
  for (auto cut = last + 1; cut < pristine.size(); ++cut) {
    CAPTURE(cut);
    write_file(path, pristine.substr(0, cut));
    auto o = log_store::open(d.path, opts);
    REQUIRE(o);
    CHECK(o->entries == slice(all, 0, 5));
    REQUIRE(o->repairs.size() == 1);
    CHECK(o->repairs[0].file == path);
    CHECK(o->repairs[0].offset == last);
    CHECK(o->repairs[0].bytes_dropped == cut - last);
    CHECK(o->repairs[0].message.find("torn") != std::string::npos);
    CHECK(fs::file_size(path) == last);
    CHECK(o->log.last_index() == log_index{5});
  }
  // After the repair the log takes the entry again.
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  CHECK(o->repairs.empty());
  REQUIRE(o->log.append({all[5]}));
  REQUIRE(o->log.sync());
  auto re = log_store::open(d.path, opts);
  REQUIRE(re);
  CHECK(re->entries == all);
}

TEST_CASE("log_store: zeros or garbage to the end of file are a torn tail",
          "[storage]") {
  temp_dir d;
  log_options opts;
  auto all = make_entries(1, 5, 1);
  write_log(d.path, opts, all, 5);
  auto path = segment_path(d.path, 1);
  auto pristine = read_file(path);
  std::mt19937_64 rng{7};
  auto kind = GENERATE(0, 1, 2);
  std::string tail;
  if (kind == 0) {
    tail = std::string(4096, '\0'); // preallocated / unwritten blocks
  } else if (kind == 1) {
    tail.resize(3000);
    for (auto& c : tail)
      c = static_cast<char>(rng());
  } else {
    tail = std::string(5, '\0') + "\x7f\xff\xff\xff"; // huge length
  }
  CAPTURE(kind);
  write_file(path, pristine + tail);
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  CHECK(o->entries == all);
  REQUIRE(o->repairs.size() == 1);
  CHECK(o->repairs[0].offset == pristine.size());
  CHECK(o->repairs[0].bytes_dropped == tail.size());
  CHECK(fs::file_size(path) == pristine.size());
}

TEST_CASE("log_store: torn header of the newest segment", "[storage]") {
  temp_dir d;
  auto opts = small_segments(200);
  auto all = make_entries(1, 30, 1);
  write_log(d.path, opts, all, 30);
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  auto paths = o->log.segment_paths();
  REQUIRE(paths.size() >= 2);
  auto newest = paths.back();
  auto prev_count = 0u;
  for (size_t i = 0; i + 1 < paths.size(); ++i)
    prev_count
      += static_cast<unsigned>(record_offsets(read_file(paths[i])).size());
  o = storage_result<log_store::opened>{storage_error{}}; // close it
  auto pristine = read_file(newest);
  auto variant = GENERATE(0, 1, 2, 3);
  CAPTURE(variant);
  if (variant == 0) {
    write_file(newest, "");
  } else if (variant == 1) {
    write_file(newest, pristine.substr(0, 17));
  } else if (variant == 2) {
    write_file(newest, std::string(segment_header_bytes + 100, '\0'));
  } else {
    auto bytes = pristine.substr(0, segment_header_bytes);
    bytes[20] ^= 1; // bad header checksum, no records
    write_file(newest, bytes);
  }
  auto re = log_store::open(d.path, opts);
  REQUIRE(re);
  CHECK(re->entries == slice(all, 0, prev_count));
  REQUIRE(re->repairs.size() == 1);
  CHECK(re->repairs[0].file == newest);
  CHECK_FALSE(fs::exists(newest));
  // Appending recreates it.
  REQUIRE(re->log.append(slice(all, prev_count, all.size())));
  REQUIRE(re->log.sync());
  auto again = log_store::open(d.path, opts);
  REQUIRE(again);
  CHECK(again->entries == all);
}

// -- corruption
// -----------------------------------------------------------------

TEST_CASE("log_store: a bit flip in a middle record is refused", "[storage]") {
  temp_dir d;
  log_options opts;
  auto all = make_entries(1, 5, 1);
  write_log(d.path, opts, all, 5);
  auto path = segment_path(d.path, 1);
  auto pristine = read_file(path);
  auto offs = record_offsets(pristine);
  auto begin = offs[2];
  auto end = offs[3];
  for (auto byte = begin; byte < end; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      CAPTURE(byte, bit);
      auto bytes = pristine;
      bytes[byte] = static_cast<char>(bytes[byte] ^ (1 << bit));
      write_file(path, bytes);
      auto o = log_store::open(d.path, opts);
      REQUIRE_FALSE(o);
      CHECK(o.error().code == storage_errc::corruption);
      CHECK(o.error().file == path);
      CHECK(o.error().offset == begin);
      CHECK(o.error().suggestion.find("rejoin") != std::string::npos);
      CHECK(o.error().to_string().find(path) != std::string::npos);
    }
  }
  // Refusing leaves the file untouched.
  auto bytes = pristine;
  bytes[begin + 10] ^= 1;
  write_file(path, bytes);
  CHECK_FALSE(log_store::open(d.path, opts));
  CHECK(read_file(path) == bytes);
}

TEST_CASE("log_store: a bit flip in the last record is a torn-tail repair",
          "[storage]") {
  temp_dir d;
  log_options opts;
  auto all = make_entries(1, 5, 1);
  write_log(d.path, opts, all, 5);
  auto path = segment_path(d.path, 1);
  auto pristine = read_file(path);
  auto last = record_offsets(pristine).back();
  for (auto byte = last; byte < pristine.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      CAPTURE(byte, bit);
      auto bytes = pristine;
      bytes[byte] = static_cast<char>(bytes[byte] ^ (1 << bit));
      write_file(path, bytes);
      auto o = log_store::open(d.path, opts);
      REQUIRE(o);
      CHECK(o->entries == slice(all, 0, 4));
      REQUIRE(o->repairs.size() == 1);
      CHECK(o->repairs[0].offset == last);
    }
  }
}

TEST_CASE("log_store: damage in an older segment is refused even at its tail",
          "[storage]") {
  temp_dir d;
  auto opts = small_segments(200);
  write_log(d.path, opts, make_entries(1, 30, 1), 30);
  auto first = segment_path(d.path, 1);
  auto pristine = read_file(first);
  auto offs = record_offsets(pristine);
  SECTION("last record of the first segment") {
    auto bytes = pristine;
    bytes[bytes.size() - 1] ^= 0x40;
    write_file(first, bytes);
    auto o = log_store::open(d.path, opts);
    REQUIRE_FALSE(o);
    CHECK(o.error().code == storage_errc::corruption);
    CHECK(o.error().file == first);
    CHECK(o.error().offset == offs.back());
    CHECK(o.error().message.find("not the newest") != std::string::npos);
  }
  SECTION("truncated first segment") {
    write_file(first, pristine.substr(0, pristine.size() - 3));
    auto o = log_store::open(d.path, opts);
    REQUIRE_FALSE(o);
    CHECK(o.error().file == first);
    CHECK(o.error().offset == offs.back());
  }
  SECTION("header of the first segment") {
    auto bytes = pristine;
    bytes[3] ^= 1;
    write_file(first, bytes);
    auto o = log_store::open(d.path, opts);
    REQUIRE_FALSE(o);
    CHECK(o.error().file == first);
    CHECK(o.error().offset == 0);
  }
  SECTION("a missing middle segment") {
    auto o = log_store::open(d.path, opts);
    REQUIRE(o);
    auto paths = o->log.segment_paths();
    REQUIRE(paths.size() >= 3);
    fs::remove(paths[1]);
    auto re = log_store::open(d.path, opts);
    REQUIRE_FALSE(re);
    CHECK(re.error().code == storage_errc::corruption);
    CHECK(re.error().file == paths[2]);
    CHECK(re.error().offset == 16);
  }
}

TEST_CASE("log_store: header damage in the newest segment with records after "
          "it is refused",
          "[storage]") {
  temp_dir d;
  log_options opts;
  write_log(d.path, opts, make_entries(1, 5, 1), 5);
  auto path = segment_path(d.path, 1);
  auto bytes = read_file(path);
  bytes[9] ^= 0x20; // inside the header, covered by its checksum
  write_file(path, bytes);
  auto o = log_store::open(d.path, opts);
  REQUIRE_FALSE(o);
  CHECK(o.error().code == storage_errc::corruption);
  CHECK(o.error().file == path);
  CHECK(o.error().offset == 0);
}

TEST_CASE("log_store: non-contiguous indexes and decreasing terms are refused",
          "[storage]") {
  temp_dir d;
  fs::create_directories(d.path + "/log");
  auto path = segment_path(d.path, 1);
  SECTION("index gap inside a segment") {
    auto seg = make_segment(1, {make_entry(1, 1), make_entry(2, 1),
                                make_entry(4, 1), make_entry(5, 1)});
    write_file(path, seg);
    auto o = log_store::open(d.path);
    REQUIRE_FALSE(o);
    CHECK(o.error().code == storage_errc::corruption);
    CHECK(o.error().offset == record_offsets(seg)[2]);
    CHECK(o.error().message.find("contiguous") != std::string::npos);
  }
  SECTION("decreasing term") {
    auto seg = make_segment(1, {make_entry(1, 2), make_entry(2, 3),
                                make_entry(3, 2), make_entry(4, 3)});
    write_file(path, seg);
    auto o = log_store::open(d.path);
    REQUIRE_FALSE(o);
    CHECK(o.error().offset == record_offsets(seg)[2]);
    CHECK(o.error().message.find("term decreases") != std::string::npos);
  }
  SECTION("decreasing term across segments") {
    write_file(path, make_segment(1, {make_entry(1, 2), make_entry(2, 3)}));
    write_file(segment_path(d.path, 3),
               make_segment(3, {make_entry(3, 1), make_entry(4, 3)}));
    auto o = log_store::open(d.path);
    REQUIRE_FALSE(o);
    CHECK(o.error().file == segment_path(d.path, 3));
    CHECK(o.error().offset == segment_header_bytes);
  }
  SECTION("overlapping segments") {
    write_file(path, make_segment(1, make_entries(1, 4, 1)));
    write_file(segment_path(d.path, 3), make_segment(3, make_entries(3, 6, 1)));
    auto o = log_store::open(d.path);
    REQUIRE_FALSE(o);
    CHECK(o.error().file == segment_path(d.path, 3));
  }
  SECTION("header index differs from the name") {
    write_file(path, make_segment(2, make_entries(2, 4, 1)));
    auto o = log_store::open(d.path);
    REQUIRE_FALSE(o);
    CHECK(o.error().offset == 16);
  }
  SECTION("valid checksum around a payload that is not an entry") {
    std::string seg = make_segment(1, make_entries(1, 2, 1));
    std::string junk = "\xff\xff\xff";
    char hdr[8];
    put_le32(hdr, static_cast<uint32_t>(junk.size()));
    put_le32(hdr + 4, crc32c::of(junk));
    auto off = seg.size();
    seg.append(hdr, 8);
    seg += junk;
    write_file(path, seg);
    auto o = log_store::open(d.path);
    REQUIRE_FALSE(o);
    CHECK(o.error().offset == off);
  }
}

TEST_CASE("log_store: an oversized record length is corruption, not an "
          "allocation",
          "[storage]") {
  temp_dir d;
  log_options opts;
  opts.max_record_bytes = 1024;
  write_log(d.path, opts, make_entries(1, 5, 1), 5);
  auto path = segment_path(d.path, 1);
  auto bytes = read_file(path);
  auto offs = record_offsets(bytes);
  // A 4 GiB length in the middle, valid records after it.
  put_le32(bytes.data() + offs[1], 0xFFFFFFF0u);
  write_file(path, bytes);
  auto o = log_store::open(d.path, opts);
  REQUIRE_FALSE(o);
  CHECK(o.error().offset == offs[1]);
  CHECK(o.error().message.find("exceeds") != std::string::npos);
}

// -- crashes and garbage
// --------------------------------------------------------

TEST_CASE("log_store: crash between write and fsync leaves a valid prefix",
          "[storage]") {
  // Simulates power loss: whatever was synced survives; of the rest, the
  // newest segment keeps a random prefix (possibly followed by zeros or
  // garbage), and a segment created after the last sync may be missing.
  std::mt19937_64 rng{1234};
  for (int round = 0; round < 40; ++round) {
    CAPTURE(round);
    temp_dir d;
    auto opts = small_segments(100 + rng() % 400);
    std::vector<raft::entry> all;
    uint64_t term = 1;
    for (uint64_t i = 1; i <= 80; ++i) {
      if (rng() % 10 == 0)
        ++term;
      all.push_back(make_entry(i, term, std::string(rng() % 40 + 1, 'p')));
    }
    auto synced_count = 1 + rng() % 60;
    std::map<std::string, uint64_t> synced_size;
    {
      auto o = log_store::open(d.path, opts);
      REQUIRE(o);
      REQUIRE(o->log.append(slice(all, 0, synced_count)));
      REQUIRE(o->log.sync());
      for (const auto& p : o->log.segment_paths())
        synced_size[p] = fs::file_size(p);
      REQUIRE(o->log.append(slice(all, synced_count, all.size())));
      // the process dies here: no sync()
    }
    // The newest segment's unsynced tail is cut.
    std::vector<std::string> paths;
    for (const auto& ent : fs::directory_iterator{d.path + "/log"})
      paths.push_back(ent.path().string());
    std::sort(paths.begin(), paths.end());
    auto newest = paths.back();
    auto bytes = read_file(newest);
    uint64_t min_len = synced_size.count(newest) ? synced_size[newest] : 0;
    auto len = min_len + rng() % (bytes.size() - min_len + 1);
    bytes.resize(len);
    switch (rng() % 4) {
      case 0:
        break;
      case 1:
        bytes += std::string(rng() % 5000, '\0');
        break;
      case 2:
        for (auto n = rng() % 3000; n > 0; --n)
          bytes.push_back(static_cast<char>(rng()));
        break;
      case 3:
        if (!synced_size.count(newest)) {
          fs::remove(newest);
          bytes.clear();
        }
        break;
    }
    if (fs::exists(newest))
      write_file(newest, bytes);
    auto o = log_store::open(d.path, opts);
    REQUIRE(o);
    CHECK(o->entries.size() >= synced_count);
    CHECK(is_prefix(o->entries, all));
    CHECK(o->log.last_index().value() == o->entries.size());
    // And the recovered log is writable and reopens identically.
    auto n = o->entries.size();
    REQUIRE(o->log.append(slice(all, n, all.size())));
    REQUIRE(o->log.sync());
    auto re = log_store::open(d.path, opts);
    REQUIRE(re);
    CHECK(re->repairs.empty());
    CHECK(re->entries == all);
  }
}

TEST_CASE("log_store: random garbage never crashes the reader", "[storage]") {
  std::mt19937_64 rng{99};
  temp_dir d;
  fs::create_directories(d.path + "/log");
  log_options opts;
  opts.max_record_bytes = 1 << 20;
  auto path = segment_path(d.path, 1);
  auto valid = make_segment(1, make_entries(1, 20, 1));
  int ok = 0;
  int refused = 0;
  for (int round = 0; round < 300; ++round) {
    CAPTURE(round);
    std::string bytes;
    switch (round % 4) {
      case 0: // pure garbage
        bytes.resize(rng() % 2000);
        for (auto& c : bytes)
          c = static_cast<char>(rng());
        break;
      case 1: // a valid header, then garbage
        bytes = valid.substr(0, segment_header_bytes);
        for (auto n = rng() % 2000; n > 0; --n)
          bytes.push_back(static_cast<char>(rng()));
        break;
      default: { // a valid segment with random damage
        bytes = valid;
        for (auto n = 1 + rng() % 6; n > 0; --n) {
          auto pos = rng() % bytes.size();
          switch (rng() % 3) {
            case 0:
              bytes[pos] = static_cast<char>(rng());
              break;
            case 1:
              bytes.resize(pos);
              break;
            case 2:
              bytes.insert(
                pos, std::string(1 + rng() % 9, static_cast<char>(rng())));
              break;
          }
          if (bytes.empty())
            break;
        }
      }
    }
    // Fresh directory state each round.
    for (const auto& ent : fs::directory_iterator{d.path + "/log"})
      fs::remove(ent.path());
    write_file(path, bytes);
    auto o = log_store::open(d.path, opts);
    if (o) {
      ++ok;
      // Whatever survives is a prefix of the original entries.
      CHECK(is_prefix(o->entries, make_entries(1, 20, 1)));
    } else {
      ++refused;
      CHECK_FALSE(o.error().to_string().empty());
      CHECK(o.error().code != storage_errc::io);
    }
  }
  CHECK(ok > 0);
  CHECK(refused > 0);
}

TEST_CASE("log_store: I/O errors are values and stop further writes",
          "[storage]") {
  temp_dir d;
  auto opts = small_segments(100);
  auto o = log_store::open(d.path, opts);
  REQUIRE(o);
  REQUIRE(o->log.append(make_entries(1, 2, 1)));
  REQUIRE(o->log.sync());
  // The log directory disappears under the node: the next roll fails.
  fs::remove_all(d.path + "/log");
  auto r = o->log.append(make_entries(3, 20, 1));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == storage_errc::io);
  CHECK(r.error().os_error != 0);
  CHECK_FALSE(r.error().suggestion.empty());
  auto s = o->log.sync();
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("failed earlier") != std::string::npos);
}

// -- open_storage
// ---------------------------------------------------------------

TEST_CASE("open_storage: a fresh node", "[storage]") {
  temp_dir d;
  auto dir = d.path + "/node";
  auto s = open_storage(dir);
  REQUIRE(s);
  CHECK(s->state.state == raft::hard_state{});
  CHECK(s->state.snapshot.index == log_index{0});
  CHECK(s->state.entries.empty());
  CHECK_FALSE(s->snapshot);
  CHECK(s->repairs.empty());
  CHECK(fs::is_directory(dir + "/log"));
  CHECK(fs::is_directory(dir + "/snapshots"));
}

TEST_CASE("open_storage: snapshot, hard state and log together", "[storage]") {
  temp_dir d;
  storage_options opts;
  opts.log = small_segments(200);
  {
    auto s = open_storage(d.path, opts);
    REQUIRE(s);
    raft::hard_state hs{term_t{3}, node_id{2}, log_index{12}};
    REQUIRE(s->hard_state.save(hs));
    auto es = make_entries(1, 8, 1);
    auto t3 = make_entries(9, 15, 3);
    es.insert(es.end(), t3.begin(), t3.end());
    REQUIRE(s->log.append(es));
    REQUIRE(s->log.sync());
    raft::snapshot_meta meta{
      log_index{10}, term_t{3},
      raft::configuration::of_voters({node_id{1}, node_id{2}})};
    auto w = s->snapshots.begin(meta);
    REQUIRE(w);
    REQUIRE(w->write("state machine bytes"));
    REQUIRE(w->commit());
    REQUIRE(s->log.compact(log_index{10}));
  }
  auto s = open_storage(d.path, opts);
  REQUIRE(s);
  CHECK(s->repairs.empty());
  CHECK(s->state.state
        == raft::hard_state{term_t{3}, node_id{2}, log_index{12}});
  CHECK(s->state.snapshot.index == log_index{10});
  CHECK(s->state.snapshot.term == term_t{3});
  CHECK(s->state.snapshot.config.voters()
        == std::vector<node_id>{node_id{1}, node_id{2}});
  CHECK(s->state.entries == make_entries(11, 15, 3));
  REQUIRE(s->snapshot);
  CHECK(s->snapshot->path.find("snapshot-00000000000000000010-")
        != std::string::npos);
  auto payload = s->snapshots.read_payload(s->snapshot->path, 0, 1000);
  REQUIRE(payload);
  CHECK(*payload == "state machine bytes");
  CHECK(s->log.last_index() == log_index{15});
}

TEST_CASE("open_storage: hard state behind the log is raised and reported",
          "[storage]") {
  temp_dir d;
  {
    auto s = open_storage(d.path);
    REQUIRE(s);
    REQUIRE(s->hard_state.save({term_t{1}, node_id{3}, log_index{20}}));
    REQUIRE(s->log.append(make_entries(1, 5, 2)));
    REQUIRE(s->log.sync());
  }
  auto s = open_storage(d.path);
  REQUIRE(s);
  CHECK(s->state.state.term == term_t{2});
  CHECK(s->state.state.vote == node_id{0});
  CHECK(s->state.state.commit == log_index{5});
  CHECK(s->repairs.size() == 2);
  // Missing file with a non-empty log: the same, reported.
  fs::remove(d.path + "/raft-state");
  auto s2 = open_storage(d.path);
  REQUIRE(s2);
  CHECK(s2->state.state.term == term_t{2});
  REQUIRE(s2->repairs.size() == 1);
  CHECK(s2->repairs[0].message.find("missing") != std::string::npos);
}

TEST_CASE("open_storage: any damage refuses to start", "[storage]") {
  temp_dir d;
  {
    auto s = open_storage(d.path);
    REQUIRE(s);
    REQUIRE(s->hard_state.save({term_t{1}, node_id{1}, log_index{0}}));
    auto w = s->snapshots.begin(
      {log_index{3}, term_t{1}, raft::configuration::of_voters({node_id{1}})});
    REQUIRE(w);
    REQUIRE(w->write("abc"));
    REQUIRE(w->commit());
  }
  SECTION("damaged hard state") {
    auto bytes = read_file(d.path + "/raft-state");
    bytes.back() ^= 1;
    write_file(d.path + "/raft-state", bytes);
    auto s = open_storage(d.path);
    REQUIRE_FALSE(s);
    CHECK(s.error().file == d.path + "/raft-state");
  }
  SECTION("damaged snapshot") {
    auto path
      = d.path + "/snapshots/" + snapshot_file_name(log_index{3}, term_t{1});
    auto bytes = read_file(path);
    bytes[bytes.size() - 17] ^= 1;
    write_file(path, bytes);
    auto s = open_storage(d.path);
    REQUIRE_FALSE(s);
    CHECK(s.error().file == path);
    CHECK(s.error().code == storage_errc::corruption);
  }
}
