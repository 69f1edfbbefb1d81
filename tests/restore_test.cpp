// Tests of restoring a data directory from a backup snapshot
// (runtime/storage/restore.hpp).
#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/file_bytes.hpp"
#include "tests/support/temp_dir.hpp"

#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/file.hpp"
#include "runtime/storage/log_store.hpp"
#include "runtime/storage/restore.hpp"

using namespace conclave;
using namespace conclave::storage;
namespace fs = std::filesystem;
using conclave::test::read_file;
using conclave::test::temp_dir;
using conclave::test::write_file;

namespace {

raft::member voter(uint64_t id, std::string address) {
  return raft::member{
    node_id{id}, raft::member_role::voter, std::move(address), {}};
}

/// The old cluster's membership: voters 1..3 without addresses (as the
/// registry records it) plus a learner.
raft::configuration old_config() {
  auto c = raft::configuration::of_voters({node_id{1}, node_id{2}, node_id{3}});
  c.members.push_back(raft::member{node_id{4}, raft::member_role::learner,
                                   "10.0.0.4:4281", "10.0.0.4:2181"});
  return c;
}

raft::configuration new_config() {
  raft::configuration c;
  c.members.push_back(voter(7, "127.0.0.1:5001"));
  c.members.push_back(voter(8, "127.0.0.1:5002"));
  return c;
}

/// A backup: a snapshot file at (index, term) with `payload`, written the
/// way a node writes one, copied out of its store to `dir`/backup.snap.
std::string make_backup(const std::string& dir, uint64_t index, uint64_t term,
                        const std::string& payload) {
  auto node_dir = dir + "/old-node";
  fs::create_directories(node_dir);
  auto opened = snapshot_store::open(node_dir);
  REQUIRE(opened);
  raft::snapshot_meta meta{log_index{index}, term_t{term}, old_config()};
  auto w = opened->store.begin(meta);
  REQUIRE(w);
  for (size_t i = 0; i < payload.size(); i += 7000)
    REQUIRE(w->write(std::string_view{payload}.substr(i, 7000)));
  REQUIRE(w->commit());
  auto backup = dir + "/backup.snap";
  fs::copy_file(w->path(), backup);
  return backup;
}

std::string random_payload(size_t n, uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng());
  return s;
}

std::string payload_of(const snapshot_info& info) {
  snapshot_store store; // read_payload needs no directory
  std::string out;
  for (;;) {
    auto r = store.read_payload(info.path, out.size(), 4096);
    REQUIRE(r);
    if (r->empty())
      return out;
    out += *r;
  }
}

size_t entries_in(const std::string& dir) {
  if (!fs::exists(dir))
    return 0;
  return static_cast<size_t>(
    std::distance(fs::directory_iterator{dir}, fs::directory_iterator{}));
}

} // namespace

TEST_CASE("restore: a backup seeds a data directory that open_storage loads",
          "[storage]") {
  temp_dir tmp;
  auto payload = random_payload(300 * 1024 + 17, 42);
  auto backup = make_backup(tmp.path, 1234, 7, payload);
  auto dir = tmp.path + "/new/node7"; // parents created too

  auto r = restore_snapshot(backup, dir, new_config());
  REQUIRE(r);
  CHECK(r->source.meta.index == log_index{1234});
  CHECK(r->source.meta.term == term_t{7});
  CHECK(r->source.meta.config == old_config());
  CHECK(r->installed.meta.index == log_index{1234});
  CHECK(r->installed.meta.term == term_t{7});
  CHECK(r->installed.meta.config == new_config());
  CHECK(r->state.term == term_t{7});
  CHECK(r->state.vote == node_id{});
  CHECK(r->state.commit == log_index{1234});
  // The checksums are the trailers' CRC-32C of everything before them.
  auto src_bytes = read_file(backup);
  CHECK(
    r->source.checksum
    == crc32c::of(std::string_view{src_bytes}.substr(0, src_bytes.size() - 8)));
  auto new_bytes = read_file(r->installed.path);
  CHECK(
    r->installed.checksum
    == crc32c::of(std::string_view{new_bytes}.substr(0, new_bytes.size() - 8)));
  CHECK(r->installed.checksum != r->source.checksum); // the meta changed

  // What a node sees at start-up.
  auto opened = open_storage(dir);
  REQUIRE(opened);
  CHECK(opened->repairs.empty());
  REQUIRE(opened->snapshot);
  CHECK(opened->snapshot->path
        == dir + "/snapshots/"
             + snapshot_file_name(log_index{1234}, term_t{7}));
  CHECK(opened->state.snapshot.index == log_index{1234});
  CHECK(opened->state.snapshot.term == term_t{7});
  CHECK(opened->state.snapshot.config == new_config());
  CHECK(opened->state.state.term == term_t{7});
  CHECK(opened->state.state.vote == node_id{});
  CHECK(opened->state.state.commit == log_index{1234});
  CHECK(opened->state.entries.empty());
  CHECK(opened->log.last_index() == log_index{1234});
  CHECK(opened->log.last_term() == term_t{7});
  CHECK(opened->log.segment_paths().empty());
  CHECK(payload_of(*opened->snapshot) == payload);
  // Exactly the three things a node keeps.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator{dir})
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"log", "raft-state", "snapshots"});
  CHECK(entries_in(dir + "/snapshots") == 1);

  // The log continues after the snapshot.
  raft::entry next;
  next.term = term_t{8};
  next.index = log_index{1235};
  next.type = raft::entry_type::normal;
  REQUIRE(opened->log.append({next}));
  auto synced = opened->log.sync();
  REQUIRE(synced);
  CHECK(synced->index == log_index{1235});
}

TEST_CASE("restore: an empty existing directory is used", "[storage]") {
  temp_dir tmp;
  auto backup = make_backup(tmp.path, 5, 2, "tree");
  auto dir = tmp.path + "/empty";
  fs::create_directories(dir);
  auto r = restore_snapshot(backup, dir, new_config());
  REQUIRE(r);
  auto opened = open_storage(dir);
  REQUIRE(opened);
  CHECK(opened->state.snapshot.index == log_index{5});
  CHECK(payload_of(*opened->snapshot) == "tree");
}

TEST_CASE("restore: a damaged backup is refused with its file and offset",
          "[storage]") {
  temp_dir tmp;
  auto payload = random_payload(64 * 1024, 7);
  auto backup = make_backup(tmp.path, 99, 3, payload);
  auto good = read_file(backup);

  SECTION("a flipped payload byte") {
    auto bad = good;
    bad[good.size() / 2] ^= 0x10;
    write_file(backup, bad);
  }
  SECTION("truncated") {
    write_file(backup, good.substr(0, good.size() - 5));
  }
  SECTION("not a snapshot at all") {
    write_file(backup, std::string(100, 'x'));
  }
  auto dir = tmp.path + "/restored";
  auto r = restore_snapshot(backup, dir, new_config());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == storage_errc::corruption);
  CHECK(r.error().file == backup);
  CHECK(r.error().offset != storage_error::no_offset);
  auto text = r.error().to_string();
  CHECK(text.find(backup) != std::string::npos);
  CHECK(text.find("at byte ") != std::string::npos);
  CHECK_FALSE(fs::exists(dir)); // nothing written
}

TEST_CASE("restore: a non-empty data directory is refused and left alone",
          "[storage]") {
  temp_dir tmp;
  auto backup = make_backup(tmp.path, 10, 1, "payload");
  auto dir = tmp.path + "/node";
  fs::create_directories(dir);
  write_file(dir + "/raft-state", "old state");
  auto r = restore_snapshot(backup, dir, new_config());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == storage_errc::invalid_argument);
  CHECK(r.error().file == dir);
  CHECK(r.error().to_string().find("not empty") != std::string::npos);
  CHECK(entries_in(dir) == 1);
  CHECK(read_file(dir + "/raft-state") == "old state");

  SECTION("a file in place of the directory") {
    auto path = tmp.path + "/plain-file";
    write_file(path, "x");
    auto r2 = restore_snapshot(backup, path, new_config());
    REQUIRE_FALSE(r2);
    CHECK(read_file(path) == "x");
  }
}

TEST_CASE("restore: an invalid configuration is refused", "[storage]") {
  temp_dir tmp;
  auto backup = make_backup(tmp.path, 10, 1, "payload");
  auto dir = tmp.path + "/node";
  raft::configuration learners_only;
  learners_only.members.push_back(
    raft::member{node_id{1}, raft::member_role::learner, "h:1", {}});
  raft::configuration unsorted;
  unsorted.members.push_back(voter(2, "h:2"));
  unsorted.members.push_back(voter(1, "h:1"));
  for (const auto& c : {raft::configuration{}, learners_only, unsorted}) {
    auto r = restore_snapshot(backup, dir, c);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == storage_errc::invalid_argument);
    CHECK_FALSE(fs::exists(dir));
  }
}

TEST_CASE("restore: a verified snapshot reports its trailer's checksum",
          "[storage]") {
  temp_dir tmp;
  auto backup = make_backup(tmp.path, 3, 1, "abc");
  auto bytes = read_file(backup);
  auto info = verify_snapshot_file(backup);
  REQUIRE(info);
  auto crc = info->checksum;
  CHECK(crc == get_le32(bytes.data() + bytes.size() - 8));
  CHECK(crc == crc32c::of(std::string_view{bytes}.substr(0, bytes.size() - 8)));
  write_file(backup, "short");
  CHECK_FALSE(verify_snapshot_file(backup));
}
