// jute_fuzz: a libFuzzer entry point for the ZooKeeper wire codec.
//
// Each input is used three ways:
//   1. as a connection's byte stream, fed to a frame_decoder in chunks
//      whose sizes come from the input's first byte, with four-letter words
//      on or off; every frame it yields goes through step 2;
//   2. as a request or reply payload: a RequestHeader / ReplyHeader, then
//      every record decoder on the rest;
//   3. raw, through every record decoder.
// Every successful decode is re-encoded and decoded again, and must give
// the same bytes. Any crash, sanitizer report, assertion or allocation
// beyond the fuzzer's -malloc_limit_mb is a bug.
//
// Not part of the build. With Debian's clang (one command line):
//   clang++ -std=c++17 -fsanitize=fuzzer,address -I. tests/fuzz/jute_fuzz.cpp
//     runtime/zk/jute.cpp runtime/zk/records.cpp runtime/zk/frame_decoder.cpp
//     -o /tmp/jute_fuzz
//   /tmp/jute_fuzz -max_total_time=60 -max_len=4096 -malloc_limit_mb=64
// Without libFuzzer, define JUTE_FUZZ_MAIN for a main() that runs the
// files named on its command line through the entry point.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "runtime/zk/frame_decoder.hpp"
#include "runtime/zk/jute.hpp"
#include "runtime/zk/records.hpp"

using namespace conclave::zk;

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "jute_fuzz: %s\n", what);
    std::abort();
  }
}

template <class T>
void exercise(std::string_view bytes) {
  jute_reader in{bytes};
  auto got = decode<T>(in);
  require(in.offset() <= bytes.size(), "reader ran past its input");
  if (!got.ok()) {
    require(got.error().offset <= bytes.size(), "error offset past input");
    return;
  }
  std::string once;
  jute_writer w{once};
  encode(w, *got);
  jute_reader again{once};
  auto back = decode<T>(again);
  require(back.ok(), "re-encoded record does not decode");
  require(again.at_end(), "re-encoded record has trailing bytes");
  std::string twice;
  jute_writer w2{twice};
  encode(w2, *back);
  require(once == twice, "re-encoding is not stable");
}

void every_record(std::string_view bytes) {
  exercise<id>(bytes);
  exercise<acl>(bytes);
  exercise<stat>(bytes);
  exercise<client_info>(bytes);
  exercise<connect_request>(bytes);
  exercise<connect_response>(bytes);
  exercise<request_header>(bytes);
  exercise<reply_header>(bytes);
  exercise<multi_header>(bytes);
  exercise<auth_packet>(bytes);
  exercise<set_watches>(bytes);
  exercise<set_watches2>(bytes);
  exercise<watcher_event>(bytes);
  exercise<error_response>(bytes);
  exercise<create_request>(bytes);
  exercise<create_ttl_request>(bytes);
  exercise<create_response>(bytes);
  exercise<create2_response>(bytes);
  exercise<delete_request>(bytes);
  exercise<delete_container_request>(bytes);
  exercise<exists_request>(bytes);
  exercise<exists_response>(bytes);
  exercise<get_data_request>(bytes);
  exercise<get_data_response>(bytes);
  exercise<set_data_request>(bytes);
  exercise<set_data_response>(bytes);
  exercise<get_acl_request>(bytes);
  exercise<get_acl_response>(bytes);
  exercise<set_acl_request>(bytes);
  exercise<set_acl_response>(bytes);
  exercise<get_children_request>(bytes);
  exercise<get_children_response>(bytes);
  exercise<get_children2_request>(bytes);
  exercise<get_children2_response>(bytes);
  exercise<sync_request>(bytes);
  exercise<sync_response>(bytes);
  exercise<check_version_request>(bytes);
  exercise<get_ephemerals_request>(bytes);
  exercise<get_ephemerals_response>(bytes);
  exercise<get_all_children_number_request>(bytes);
  exercise<get_all_children_number_response>(bytes);
  exercise<add_watch_request>(bytes);
  exercise<check_watches_request>(bytes);
  exercise<remove_watches_request>(bytes);
  exercise<who_am_i_response>(bytes);
  exercise<reconfig_request>(bytes);
  exercise<get_sasl_request>(bytes);
  exercise<set_sasl_response>(bytes);
  exercise<multi_request>(bytes);
  exercise<multi_response>(bytes);
}

/// A frame payload as a server (request) and a client (reply) would read
/// it: a header, then the records on what follows.
void payload(std::string_view frame) {
  jute_reader req{frame};
  if (decode<request_header>(req).ok())
    every_record(frame.substr(req.offset()));
  jute_reader rep{frame};
  if (decode<reply_header>(rep).ok())
    every_record(frame.substr(rep.offset()));
}

void stream(std::string_view bytes, size_t max_frame, bool words,
            unsigned chunk_seed) {
  frame_decoder d{max_frame, words};
  size_t frames = 0;
  size_t i = 0;
  while (!bytes.empty()) {
    // Chunk sizes from 1 to 64, in a pattern the input chooses.
    size_t n
      = 1 + ((chunk_seed * 31u + static_cast<unsigned>(i++) * 17u) % 64u);
    if (n > bytes.size())
      n = bytes.size();
    auto status = d.feed(
      bytes.substr(0, n),
      [&](std::string_view p) {
        ++frames;
        require(p.size() <= d.max_frame_bytes(), "frame over the maximum");
        payload(p);
      },
      [&](std::string_view w) {
        require(words && w.size() == 4 && d.frames() == 0,
                "four-letter word where none may be");
      });
    require(d.buffered_bytes() <= d.max_frame_bytes() + 4, "buffer too big");
    require(d.buffer_capacity() <= d.max_frame_bytes() + 32,
            "buffer capacity too big");
    bytes.remove_prefix(n);
    if (status == frame_status::error) {
      require(d.failed(), "error without failed()");
      break;
    }
  }
  require(d.frames() == frames, "frame count");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  unsigned seed = size > 0 ? data[0] : 0;
  stream(bytes, frame_decoder::default_max_frame_bytes, true, seed);
  stream(bytes, 64, (seed & 1) != 0, seed >> 1);
  every_record(bytes);
  return 0;
}

#ifdef JUTE_FUZZ_MAIN
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::FILE* f = std::fopen(argv[i], "rb");
    if (f == nullptr) {
      std::fprintf(stderr, "jute_fuzz: cannot open %s\n", argv[i]);
      return 2;
    }
    std::string input;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
      input.append(buf, n);
    std::fclose(f);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()),
                           input.size());
  }
  std::printf("jute_fuzz: %d input(s) ok\n", argc - 1);
  return 0;
}
#endif
