// Tests of the hard state file (runtime/storage/hard_state_file.hpp).
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "tests/support/file_bytes.hpp"
#include "tests/support/temp_dir.hpp"

#include "runtime/storage/hard_state_file.hpp"

using namespace conclave;
using namespace conclave::storage;
namespace fs = std::filesystem;
using conclave::test::read_file;
using conclave::test::temp_dir;
using conclave::test::write_file;

namespace {

raft::hard_state hs(uint64_t term, uint64_t vote, uint64_t commit) {
  return {term_t{term}, node_id{vote}, log_index{commit}};
}

} // namespace

TEST_CASE("hard_state_file: a missing file is a fresh node", "[storage]") {
  temp_dir d;
  auto o = hard_state_file::open(d.path);
  REQUIRE(o);
  CHECK_FALSE(o->existed);
  CHECK(o->state == raft::hard_state{});
  CHECK(o->repairs.empty());
  CHECK(o->file.path() == d.path + "/raft-state");
  CHECK_FALSE(fs::exists(d.path + "/raft-state"));
}

TEST_CASE("hard_state_file: save and reload, atomic replace", "[storage]") {
  temp_dir d;
  auto o = hard_state_file::open(d.path);
  REQUIRE(o);
  REQUIRE(o->file.save(hs(1, 0, 0)));
  REQUIRE(o->file.save(hs(7, 3, 42)));
  REQUIRE(o->file.save(hs(~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0})));
  REQUIRE(o->file.save(hs(8, 2, 50)));
  // No temporary file left behind; exactly one state file.
  CHECK_FALSE(fs::exists(d.path + "/raft-state.tmp"));
  size_t files = 0;
  for (const auto& ent : fs::directory_iterator{d.path}) {
    (void)ent;
    ++files;
  }
  CHECK(files == 1);
  auto re = hard_state_file::open(d.path);
  REQUIRE(re);
  CHECK(re->existed);
  CHECK(re->state == hs(8, 2, 50));
  CHECK(re->repairs.empty());
  // The file is exactly header + payload.
  auto bytes = read_file(d.path + "/raft-state");
  CHECK(bytes.size() > hard_state_header_bytes);
  CHECK(bytes.substr(0, 8) == "CNCLVHST");
  CHECK(bytes == encode_hard_state(hs(8, 2, 50)));
}

TEST_CASE("hard_state_file: a crash during save keeps the old state",
          "[storage]") {
  temp_dir d;
  {
    auto o = hard_state_file::open(d.path);
    REQUIRE(o);
    REQUIRE(o->file.save(hs(4, 1, 10)));
  }
  // The crash left a partial temporary file (the rename never happened).
  auto partial = encode_hard_state(hs(5, 2, 11));
  partial.resize(partial.size() / 2);
  write_file(d.path + "/raft-state.tmp", partial);
  auto o = hard_state_file::open(d.path);
  REQUIRE(o);
  CHECK(o->state == hs(4, 1, 10));
  REQUIRE(o->repairs.size() == 1);
  CHECK(o->repairs[0].file == d.path + "/raft-state.tmp");
  CHECK(o->repairs[0].bytes_dropped == partial.size());
  CHECK_FALSE(fs::exists(d.path + "/raft-state.tmp"));
  // A leftover temporary file without any state file: still a fresh node.
  fs::remove(d.path + "/raft-state");
  write_file(d.path + "/raft-state.tmp", partial);
  auto o2 = hard_state_file::open(d.path);
  REQUIRE(o2);
  CHECK_FALSE(o2->existed);
  CHECK(o2->repairs.size() == 1);
}

TEST_CASE("hard_state_file: every bit flip is detected", "[storage]") {
  temp_dir d;
  {
    auto o = hard_state_file::open(d.path);
    REQUIRE(o);
    REQUIRE(o->file.save(hs(9, 2, 77)));
  }
  auto path = d.path + "/raft-state";
  auto pristine = read_file(path);
  for (size_t byte = 0; byte < pristine.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      CAPTURE(byte, bit);
      auto bytes = pristine;
      bytes[byte] = static_cast<char>(bytes[byte] ^ (1 << bit));
      write_file(path, bytes);
      auto o = hard_state_file::open(d.path);
      REQUIRE_FALSE(o);
      CHECK(o.error().file == path);
      CHECK(o.error().offset != storage_error::no_offset);
      if (byte >= 8 && byte < 12) {
        CHECK(o.error().code == storage_errc::unsupported_format);
        CHECK(o.error().offset == 8);
      } else {
        CHECK(o.error().code == storage_errc::corruption);
      }
      CHECK_FALSE(o.error().suggestion.empty());
      // Refusing does not touch the file (no silent reset).
      CHECK(read_file(path) == bytes);
    }
  }
}

TEST_CASE("hard_state_file: a truncated or extended file is corruption",
          "[storage]") {
  temp_dir d;
  {
    auto o = hard_state_file::open(d.path);
    REQUIRE(o);
    REQUIRE(o->file.save(hs(3, 1, 5)));
  }
  auto path = d.path + "/raft-state";
  auto pristine = read_file(path);
  for (size_t len = 0; len < pristine.size(); ++len) {
    CAPTURE(len);
    write_file(path, pristine.substr(0, len));
    auto o = hard_state_file::open(d.path);
    REQUIRE_FALSE(o);
    CHECK(o.error().code == storage_errc::corruption);
    CHECK(o.error().file == path);
  }
  write_file(path, pristine + "x");
  auto o = hard_state_file::open(d.path);
  REQUIRE_FALSE(o);
  CHECK(o.error().offset == hard_state_header_bytes);
  CHECK(o.error().to_string().find("raft-state: at byte 20")
        != std::string::npos);
}

TEST_CASE("hard_state_file: random garbage never crashes the reader",
          "[storage]") {
  std::mt19937_64 rng{5};
  auto valid = encode_hard_state(hs(2, 1, 3));
  for (int round = 0; round < 2000; ++round) {
    std::string bytes;
    if (round % 2 == 0) {
      bytes.resize(rng() % 64);
      for (auto& c : bytes)
        c = static_cast<char>(rng());
    } else {
      // A valid header with a random payload length and random payload.
      bytes = valid.substr(0, 12);
      std::string rest(8 + rng() % 40, '\0');
      for (auto& c : rest)
        c = static_cast<char>(rng());
      bytes += rest;
    }
    auto r = decode_hard_state(bytes, "raft-state");
    CHECK_FALSE(r);
  }
  auto r = decode_hard_state(valid, "raft-state");
  REQUIRE(r);
  CHECK(*r == hs(2, 1, 3));
}

TEST_CASE("hard_state_file: I/O errors are values", "[storage]") {
  temp_dir d;
  auto dir = d.path + "/node";
  fs::create_directory(dir);
  auto o = hard_state_file::open(dir);
  REQUIRE(o);
  fs::remove_all(dir);
  auto r = o->file.save(hs(1, 1, 1));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == storage_errc::io);
  CHECK(r.error().os_error == ENOENT);
  CHECK(r.error().file == dir + "/raft-state.tmp");
  CHECK(r.error().message.find("open failed") != std::string::npos);
  // A state path that is a directory cannot be read.
  fs::create_directories(dir + "/raft-state");
  auto o2 = hard_state_file::open(dir);
  REQUIRE_FALSE(o2);
  CHECK(o2.error().code == storage_errc::io);
}
