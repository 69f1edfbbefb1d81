// Tests of the snapshot files (runtime/storage/snapshot_store.hpp).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/file_bytes.hpp"
#include "tests/support/temp_dir.hpp"

#include "messages/raft.pb.h"
#include "runtime/raft/codec.hpp"
#include "runtime/storage/snapshot_store.hpp"

using namespace conclave;
using namespace conclave::storage;
namespace fs = std::filesystem;
using conclave::test::read_file;
using conclave::test::temp_dir;
using conclave::test::write_file;

namespace {

raft::snapshot_meta meta(uint64_t index, uint64_t term,
                         std::vector<uint64_t> voters = {1, 2, 3}) {
  raft::snapshot_meta m;
  m.index = log_index{index};
  m.term = term_t{term};
  std::vector<node_id> ids;
  for (auto v : voters)
    ids.push_back(node_id{v});
  m.config = raft::configuration::of_voters(ids);
  return m;
}

bool same(const raft::snapshot_meta& a, const raft::snapshot_meta& b) {
  return a.index == b.index && a.term == b.term && a.config == b.config;
}

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng());
  return s;
}

snapshot_store open_store(const std::string& dir) {
  auto o = snapshot_store::open(dir);
  REQUIRE(o);
  return std::move(o->store);
}

/// Writes a snapshot with `payload` in chunks of `chunk` bytes.
std::string write_snapshot(const snapshot_store& store,
                           const raft::snapshot_meta& m,
                           const std::string& payload, size_t chunk = 1000) {
  auto w = store.begin(m);
  REQUIRE(w);
  for (size_t i = 0; i < payload.size(); i += chunk)
    REQUIRE(w->write(std::string_view{payload}.substr(i, chunk)));
  CHECK(w->payload_bytes() == payload.size());
  REQUIRE(w->commit());
  CHECK(w->committed());
  return w->path();
}

std::string read_all_payload(const snapshot_store& store,
                             const std::string& path, size_t chunk) {
  std::string out;
  for (;;) {
    auto r = store.read_payload(path, out.size(), chunk);
    REQUIRE(r);
    if (r->empty())
      return out;
    out += *r;
  }
}

std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& ent : fs::directory_iterator{dir})
    out.push_back(ent.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

TEST_CASE("snapshot_store: file names", "[storage]") {
  CHECK(snapshot_file_name(log_index{1234}, term_t{5})
        == "snapshot-00000000000000001234-00000000000000000005.snap");
  log_index i;
  term_t t;
  CHECK(parse_snapshot_file_name(
    "snapshot-00000000000000001234-00000000000000000005.snap", i, t));
  CHECK(i == log_index{1234});
  CHECK(t == term_t{5});
  CHECK_FALSE(parse_snapshot_file_name(
    "snapshot-00000000000000001234-00000000000000000005.snap.tmp", i, t));
  CHECK_FALSE(parse_snapshot_file_name(
    "snapshot-0000000000000000123x-00000000000000000005.snap", i, t));
  CHECK_FALSE(parse_snapshot_file_name("snapshot-1-2.snap", i, t));
}

TEST_CASE("snapshot_store: meta encoding equals protobuf's", "[storage]") {
  std::vector<raft::snapshot_meta> metas{
    meta(1, 1, {}),
    meta(1234, 5),
    meta(~uint64_t{0}, ~uint64_t{0}, {0, 127, 128, 300, ~uint64_t{0}}),
    meta(0, 0, {}),
    [] {
      auto m = meta(77, 3, {1, 2});
      m.config.members.push_back(
        raft::member{node_id{300}, raft::member_role::learner, "10.0.0.3:4281",
                     "10.0.0.3:2181"});
      m.config.members[0].address = "[::1]:4281";
      return m;
    }(),
  };
  for (const auto& m : metas) {
    pb::SnapshotMeta msg;
    raft::encode(m, &msg);
    CHECK(encode_snapshot_meta(m) == msg.SerializeAsString());
  }
}

TEST_CASE("snapshot_store: write, commit, latest, read back", "[storage]") {
  temp_dir d;
  auto store = open_store(d.path);
  CHECK(fs::is_directory(d.path + "/snapshots"));
  auto none = store.latest();
  REQUIRE(none);
  CHECK_FALSE(*none);
  std::mt19937_64 rng{3};
  // Larger than the writer's 256 KiB buffer, written in odd chunk sizes,
  // one chunk larger than the buffer.
  auto payload = random_bytes(rng, 700 * 1000 + 17);
  auto w = store.begin(meta(100, 2));
  REQUIRE(w);
  CHECK(fs::exists(w->tmp_path()));
  REQUIRE(w->write(std::string_view{payload}.substr(0, 10)));
  REQUIRE(w->write(std::string_view{payload}.substr(10, 300000)));
  for (size_t i = 300010; i < payload.size(); i += 4099)
    REQUIRE(w->write(std::string_view{payload}.substr(i, 4099)));
  REQUIRE(w->commit());
  CHECK_FALSE(fs::exists(w->tmp_path()));
  CHECK(w->path()
        == d.path
             + "/snapshots/"
               "snapshot-00000000000000000100-00000000000000000002.snap");
  // A finished writer refuses more.
  auto again = w->write("x");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == storage_errc::invalid_argument);
  CHECK_FALSE(w->commit());

  auto latest = store.latest();
  REQUIRE(latest);
  REQUIRE(*latest);
  const auto& info = **latest;
  CHECK(same(info.meta, meta(100, 2)));
  CHECK(info.path == w->path());
  CHECK(info.payload_bytes == payload.size());
  CHECK(info.file_bytes == fs::file_size(info.path));
  CHECK(read_all_payload(store, info.path, 65536) == payload);
  CHECK(read_all_payload(store, info.path, 7).size() == payload.size());
  // Raw chunks reassemble the file.
  std::string raw;
  for (;;) {
    auto c = store.read_chunk(info.path, raw.size(), 100000);
    REQUIRE(c);
    if (c->empty())
      break;
    raw += *c;
  }
  CHECK(raw == read_file(info.path));
  // The on-disk layout.
  CHECK(raw.substr(0, 8) == "CNCLVSNP");
  CHECK(raw.substr(raw.size() - 4) == "CEND");
  CHECK(get_le64(raw.data() + raw.size() - 16) == raw.size());
  CHECK(get_le32(raw.data() + raw.size() - 8)
        == crc32c::of(std::string_view{raw}.substr(0, raw.size() - 8)));
  // Reading out of range is an error, not a crash.
  CHECK_FALSE(store.read_payload(info.path, payload.size() + 1, 10));
  CHECK_FALSE(store.read_chunk(info.path, raw.size() + 1, 10));
  auto end = store.read_payload(info.path, payload.size(), 10);
  REQUIRE(end);
  CHECK(end->empty());
}

TEST_CASE("snapshot_store: latest is the newest by index", "[storage]") {
  temp_dir d;
  auto store = open_store(d.path);
  write_snapshot(store, meta(50, 1), "fifty");
  write_snapshot(store, meta(200, 3), "two hundred");
  write_snapshot(store, meta(120, 2), "one twenty");
  write_snapshot(store, meta(9, 1), "");
  auto latest = store.latest();
  REQUIRE(latest);
  REQUIRE(*latest);
  CHECK((*latest)->meta.index == log_index{200});
  CHECK(read_all_payload(store, (*latest)->path, 3) == "two hundred");
  auto list = store.list();
  REQUIRE(list);
  REQUIRE(list->size() == 4);
  CHECK((*list)[0].index == log_index{9});
  CHECK((*list)[3].index == log_index{200});
  // An empty payload is fine.
  auto nine = verify_snapshot_file((*list)[0].path);
  REQUIRE(nine);
  CHECK(nine->payload_bytes == 0);
}

TEST_CASE("snapshot_store: an abandoned writer leaves nothing behind",
          "[storage]") {
  temp_dir d;
  auto store = open_store(d.path);
  {
    auto w = store.begin(meta(10, 1));
    REQUIRE(w);
    REQUIRE(w->write(std::string(300000, 'a')));
    CHECK_FALSE(dir_names(store.directory()).empty());
  } // destroyed without commit
  CHECK(dir_names(store.directory()).empty());
  {
    auto w = store.begin(meta(11, 1));
    REQUIRE(w);
    REQUIRE(w->write("abc"));
    w->abandon();
    CHECK(dir_names(store.directory()).empty());
    CHECK_FALSE(w->commit());
    // Moving a writer moves the responsibility.
    auto w2 = store.begin(meta(12, 1));
    REQUIRE(w2);
    snapshot_writer moved = std::move(*w2);
    CHECK(dir_names(store.directory()).size() == 1);
    REQUIRE(moved.write("x"));
    REQUIRE(moved.commit());
  }
  CHECK(
    dir_names(store.directory())
    == std::vector<std::string>{snapshot_file_name(log_index{12}, term_t{1})});
  auto bad = store.begin(meta(0, 1));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == storage_errc::invalid_argument);
}

TEST_CASE("snapshot_store: a corrupt snapshot is refused", "[storage]") {
  temp_dir d;
  auto store = open_store(d.path);
  std::mt19937_64 rng{11};
  auto older = write_snapshot(store, meta(10, 1), random_bytes(rng, 5000));
  auto path = write_snapshot(store, meta(20, 1), random_bytes(rng, 5000));
  auto pristine = read_file(path);
  auto check_refused = [&](const std::string& bytes) {
    write_file(path, bytes);
    auto latest = store.latest();
    REQUIRE_FALSE(latest);
    CHECK(latest.error().file == path);
    CHECK(latest.error().offset != storage_error::no_offset);
    // The previous snapshot is named as a way out; nothing is skipped.
    CHECK(latest.error().suggestion.find(older) != std::string::npos);
    CHECK(fs::exists(path));
  };
  SECTION("a bit flip anywhere") {
    for (int i = 0; i < 200; ++i) {
      auto bytes = pristine;
      auto pos = rng() % bytes.size();
      bytes[pos] = static_cast<char>(bytes[pos] ^ (1 << (rng() % 8)));
      CAPTURE(pos);
      check_refused(bytes);
    }
  }
  SECTION("truncated at any length") {
    for (size_t len :
         {size_t{0}, size_t{5}, size_t{16}, size_t{40}, pristine.size() / 2,
          pristine.size() - 16, pristine.size() - 1})
      check_refused(pristine.substr(0, len));
  }
  SECTION("extra bytes") {
    check_refused(pristine + std::string(10, '\0'));
  }
  SECTION("a valid file under another snapshot's name") {
    fs::remove(path);
    auto other = write_snapshot(store, meta(15, 1), "fifteen");
    fs::rename(other, path);
    check_refused(read_file(path));
  }
}

TEST_CASE("snapshot_store: retain keeps the newest and removes .tmp files",
          "[storage]") {
  temp_dir d;
  auto store = open_store(d.path);
  for (uint64_t i = 1; i <= 5; ++i)
    write_snapshot(store, meta(i * 10, 1), "s" + std::to_string(i));
  write_file(store.directory() + "/"
               + snapshot_file_name(log_index{60}, term_t{1}) + ".tmp",
             "partial");
  write_file(store.directory() + "/README", "not a snapshot");
  auto removed = store.retain(2);
  REQUIRE(removed);
  CHECK(*removed == 4);
  CHECK(dir_names(store.directory())
        == std::vector<std::string>{
          "README", snapshot_file_name(log_index{40}, term_t{1}),
          snapshot_file_name(log_index{50}, term_t{1})});
  auto none = store.retain(2);
  REQUIRE(none);
  CHECK(*none == 0);
  auto zero = store.retain(0);
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == storage_errc::invalid_argument);
}

TEST_CASE("snapshot_store: open removes unfinished files and reports them",
          "[storage]") {
  temp_dir d;
  {
    auto store = open_store(d.path);
    write_snapshot(store, meta(5, 1), "five");
    auto w = store.begin(meta(6, 1));
    REQUIRE(w);
    REQUIRE(w->write("six"));
    w->release(); // as the parent after fork(): the file stays
  }
  auto tmp = d.path + "/snapshots/"
             + snapshot_file_name(log_index{6}, term_t{1}) + ".tmp";
  CHECK(fs::exists(tmp));
  auto o = snapshot_store::open(d.path);
  REQUIRE(o);
  REQUIRE(o->repairs.size() == 1);
  CHECK(o->repairs[0].file == tmp);
  CHECK_FALSE(fs::exists(tmp));
  auto latest = o->store.latest();
  REQUIRE(latest);
  REQUIRE(*latest);
  CHECK((*latest)->meta.index == log_index{5});
}

TEST_CASE("snapshot_store: installing a snapshot received in chunks",
          "[storage]") {
  temp_dir leader_dir;
  temp_dir follower_dir;
  auto leader = open_store(leader_dir.path);
  auto follower = open_store(follower_dir.path);
  std::mt19937_64 rng{21};
  auto payload = random_bytes(rng, 123457);
  auto m = meta(500, 7, {1, 4, 5});
  auto path = write_snapshot(leader, m, payload);
  auto total = fs::file_size(path);
  auto stream = [&](snapshot_receiver& rcv, size_t chunk, bool damage) {
    for (uint64_t off = 0;;) {
      auto c = leader.read_chunk(path, off, chunk);
      REQUIRE(c);
      if (c->empty())
        break;
      if (damage && off == 0)
        (*c)[c->size() / 2] ^= 0x01;
      REQUIRE(rcv.write(off, *c));
      off += c->size();
    }
  };

  SECTION("verified and renamed into place") {
    auto rcv = follower.receive(m, total);
    REQUIRE(rcv);
    stream(*rcv, 4096, false);
    CHECK(rcv->received() == total);
    auto info = rcv->commit();
    REQUIRE(info);
    CHECK(same(info->meta, m));
    CHECK(info->path
          == follower.directory() + "/" + snapshot_file_name(m.index, m.term));
    auto latest = follower.latest();
    REQUIRE(latest);
    REQUIRE(*latest);
    CHECK(same((*latest)->meta, m));
    CHECK(read_all_payload(follower, info->path, 10000) == payload);
    CHECK(read_file(info->path) == read_file(path));
    CHECK(dir_names(follower.directory()).size() == 1);
  }
  SECTION("a damaged transfer is refused and removed") {
    auto rcv = follower.receive(m, total);
    REQUIRE(rcv);
    stream(*rcv, 1000, true);
    auto info = rcv->commit();
    REQUIRE_FALSE(info);
    CHECK(info.error().code == storage_errc::corruption);
    CHECK(info.error().message.find("received") != std::string::npos);
    CHECK(dir_names(follower.directory()).empty());
    auto latest = follower.latest();
    REQUIRE(latest);
    CHECK_FALSE(*latest);
  }
  SECTION("a file for another snapshot is refused") {
    auto rcv = follower.receive(meta(500, 8, {1, 4, 5}), total);
    REQUIRE(rcv);
    stream(*rcv, 50000, false);
    auto info = rcv->commit();
    REQUIRE_FALSE(info);
    CHECK(info.error().code == storage_errc::corruption);
    CHECK(dir_names(follower.directory()).empty());
  }
  SECTION("out-of-order, oversized and incomplete transfers") {
    auto rcv = follower.receive(m, total);
    REQUIRE(rcv);
    auto c = leader.read_chunk(path, 0, 100);
    REQUIRE(c);
    auto skip = rcv->write(100, *c);
    REQUIRE_FALSE(skip);
    CHECK(skip.error().code == storage_errc::invalid_argument);
    REQUIRE(rcv->write(0, *c));
    auto early = rcv->commit();
    REQUIRE_FALSE(early);
    CHECK(early.error().code == storage_errc::invalid_argument);
    auto too_much = rcv->write(100, std::string(total, 'x'));
    REQUIRE_FALSE(too_much);
    CHECK(too_much.error().code == storage_errc::invalid_argument);
    rcv->abandon();
    CHECK(dir_names(follower.directory()).empty());
    CHECK_FALSE(follower.receive(m, 3));
  }
  SECTION("dropping an unfinished receiver removes its file") {
    {
      auto rcv = follower.receive(m, total);
      REQUIRE(rcv);
      REQUIRE(rcv->write(0, "CNCL"));
      CHECK(dir_names(follower.directory()).size() == 1);
    }
    CHECK(dir_names(follower.directory()).empty());
  }
}

TEST_CASE("snapshot_store: a writer works in a fork()ed child", "[storage]") {
  temp_dir d;
  auto store = open_store(d.path);
  std::string payload;
  for (int i = 0; i < 50000; ++i)
    payload += "node-" + std::to_string(i) + ";";
  auto m = meta(777, 4);

  SECTION("begin() in the child") {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Child: no Catch macros, leave with _exit().
      auto w = store.begin(m);
      if (!w)
        ::_exit(2);
      for (size_t i = 0; i < payload.size(); i += 10000)
        if (!w->write(std::string_view{payload}.substr(i, 10000)))
          ::_exit(3);
      ::_exit(w->commit() ? 0 : 4);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }
  SECTION("begin() in the parent, release() after fork()") {
    auto w = store.begin(m);
    REQUIRE(w);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (!w->write(payload))
        ::_exit(3);
      ::_exit(w->commit() ? 0 : 4);
    }
    w->release();
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }
  auto latest = store.latest();
  REQUIRE(latest);
  REQUIRE(*latest);
  CHECK(same((*latest)->meta, m));
  CHECK(read_all_payload(store, (*latest)->path, 1 << 20) == payload);
  CHECK(dir_names(store.directory()).size() == 1);
}

TEST_CASE("snapshot_store: random garbage never crashes the readers",
          "[storage]") {
  temp_dir d;
  auto store = open_store(d.path);
  std::mt19937_64 rng{77};
  auto good = write_snapshot(store, meta(5, 1), random_bytes(rng, 3000));
  auto pristine = read_file(good);
  auto path
    = store.directory() + "/" + snapshot_file_name(log_index{9}, term_t{1});
  for (int round = 0; round < 300; ++round) {
    CAPTURE(round);
    std::string bytes;
    if (round % 3 == 0) {
      bytes = random_bytes(rng, rng() % 3000);
    } else if (round % 3 == 1) {
      // A plausible header with a random meta length, then garbage.
      bytes = pristine.substr(0, 12) + random_bytes(rng, 4 + rng() % 200);
    } else {
      bytes = pristine;
      for (auto n = 1 + rng() % 4; n > 0 && !bytes.empty(); --n) {
        auto pos = rng() % bytes.size();
        if (rng() % 2)
          bytes[pos] = static_cast<char>(rng());
        else
          bytes.resize(pos);
      }
    }
    write_file(path, bytes);
    auto latest = store.latest();
    REQUIRE_FALSE(latest); // the garbage is the newest and never valid
    CHECK(latest.error().file == path);
    (void)store.read_payload(path, rng() % 100, 1000);
    (void)store.read_chunk(path, 0, 1000);
    CHECK_FALSE(verify_snapshot_file(path));
  }
}
