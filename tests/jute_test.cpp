// jute: ZooKeeper's client records encode to the exact bytes ZooKeeper's
// own serializers produce (hand-computed vectors), decode back to the same
// values, and every malformed input (truncated, huge lengths, random bytes,
// mutated frames) yields an error value: no crash, no read past the end, no
// allocation larger than the input. The frame decoder splits any chunking
// of a stream into the same frames, refuses bad lengths, recognizes a
// four-letter word only at the start of a connection, and never buffers
// more than one frame.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <new>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "runtime/zk/frame_decoder.hpp"
#include "runtime/zk/jute.hpp"
#include "runtime/zk/records.hpp"

using namespace conclave::zk;

namespace {

// -- helpers ------------------------------------------------------------------

/// Bytes from hex pairs; spaces and '|' are ignored.
std::string hex(std::string_view text) {
  std::string out;
  int nibbles = 0;
  unsigned acc = 0;
  for (char c : text) {
    unsigned v;
    if (c >= '0' && c <= '9')
      v = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f')
      v = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v = static_cast<unsigned>(c - 'A' + 10);
    else
      continue;
    acc = (acc << 4) | v;
    if (++nibbles == 2) {
      out.push_back(static_cast<char>(acc));
      nibbles = 0;
      acc = 0;
    }
  }
  REQUIRE(nibbles == 0);
  return out;
}

/// Hex text of bytes, for failure messages.
std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    auto b = static_cast<uint8_t>(c);
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
    out.push_back(' ');
  }
  return out;
}

template <class T>
std::string enc(const T& x) {
  std::string out;
  jute_writer w{out};
  encode(w, x);
  return out;
}

template <class T>
jute_result<T> dec(std::string_view bytes) {
  jute_reader r{bytes};
  return decode<T>(r);
}

/// Encodes x, decodes the bytes (consuming all of them), re-encodes the
/// result: the same bytes. Returns the decoded value.
template <class T>
T round_trip(const T& x) {
  auto bytes = enc(x);
  jute_reader r{bytes};
  auto got = decode<T>(r);
  INFO(to_hex(bytes));
  REQUIRE(got.ok());
  CHECK(r.at_end());
  CHECK(enc(*got) == bytes);
  return std::move(got).value();
}

/// Every strict prefix of `bytes` fails to decode as T, except the lengths
/// in `valid_prefixes`; the error's offset lies within the prefix.
template <class T>
void check_truncations(std::string_view bytes,
                       std::vector<size_t> valid_prefixes = {}) {
  for (size_t k = 0; k < bytes.size(); ++k) {
    INFO("prefix of " << k << " bytes");
    jute_reader r{bytes.substr(0, k)};
    auto got = decode<T>(r);
    if (std::find(valid_prefixes.begin(), valid_prefixes.end(), k)
        != valid_prefixes.end()) {
      CHECK(got.ok());
      continue;
    }
    REQUIRE_FALSE(got.ok());
    CHECK(got.error().offset <= k);
    auto code = got.error().code;
    CHECK((code == jute_error_code::truncated
           || code == jute_error_code::length_exceeds_input
           || code == jute_error_code::count_exceeds_input));
  }
}

stat sample_stat() {
  stat s;
  s.czxid = 0x0000000100000001;
  s.mzxid = 0x0000000100000002;
  s.ctime = 1700000000000; // 0x0000018bcfe56800
  s.mtime = 1700000001000; // 0x0000018bcfe56be8
  s.version = 3;
  s.cversion = 5;
  s.aversion = 1;
  s.ephemeral_owner = 0x0123456789abcdef;
  s.data_length = 11;
  s.num_children = 2;
  s.pzxid = 0x0000000100000003;
  return s;
}

const char* sample_stat_hex = "00 00 00 01 00 00 00 01 " // czxid
                              "00 00 00 01 00 00 00 02 " // mzxid
                              "00 00 01 8b cf e5 68 00 " // ctime
                              "00 00 01 8b cf e5 6b e8 " // mtime
                              "00 00 00 03 "             // version
                              "00 00 00 05 "             // cversion
                              "00 00 00 01 "             // aversion
                              "01 23 45 67 89 ab cd ef " // ephemeralOwner
                              "00 00 00 0b "             // dataLength
                              "00 00 00 02 "             // numChildren
                              "00 00 00 01 00 00 00 03"; // pzxid

std::string passwd_0_to_15() {
  std::string p;
  for (int i = 0; i < 16; ++i)
    p.push_back(static_cast<char>(i));
  return p;
}

// "world" and "anyone" as jute ustrings, the OPEN_ACL_UNSAFE vector.
const char* open_acl_hex = "00 00 00 01 "                    // 1 ACL
                           "00 00 00 1f "                    // perms 31
                           "00 00 00 05 77 6f 72 6c 64 "     // "world"
                           "00 00 00 06 61 6e 79 6f 6e 65 "; // "anyone"

multi_request sample_multi() {
  multi_request m;
  create_request c;
  c.path = "/m";
  c.acl = open_acl_unsafe();
  m.ops.push_back({static_cast<int32_t>(op_code::create), c});
  m.ops.push_back(
    {static_cast<int32_t>(op_code::set_data), set_data_request{"/m", "x", 0}});
  m.ops.push_back(
    {static_cast<int32_t>(op_code::check), check_version_request{"/m", 1}});
  m.ops.push_back(
    {static_cast<int32_t>(op_code::remove), delete_request{"/m", -1}});
  return m;
}

const char* sample_multi_hex =
  // create /m "" OPEN_ACL_UNSAFE persistent
  "00 00 00 01 00 ff ff ff ff "
  "00 00 00 02 2f 6d | 00 00 00 00 | "
  "00 00 00 01 00 00 00 1f 00 00 00 05 77 6f 72 6c 64 "
  "00 00 00 06 61 6e 79 6f 6e 65 | 00 00 00 00 "
  // setData /m "x" version 0
  "00 00 00 05 00 ff ff ff ff "
  "00 00 00 02 2f 6d | 00 00 00 01 78 | 00 00 00 00 "
  // check /m version 1
  "00 00 00 0d 00 ff ff ff ff "
  "00 00 00 02 2f 6d | 00 00 00 01 "
  // delete /m version -1
  "00 00 00 02 00 ff ff ff ff "
  "00 00 00 02 2f 6d | ff ff ff ff "
  // end
  "ff ff ff ff 01 ff ff ff ff";

/// The answer to sample_multi() when its check fails with BadVersion.
multi_response sample_failed_multi_response() {
  multi_response r;
  r.results.push_back(multi_error(0));
  r.results.push_back(multi_error(0));
  r.results.push_back(multi_error(-103));
  r.results.push_back(multi_error(-2));
  return r;
}

const char* sample_failed_multi_response_hex
  = "ff ff ff ff 00 00 00 00 00 | 00 00 00 00 " // create: rolled back
    "ff ff ff ff 00 00 00 00 00 | 00 00 00 00 " // setData: rolled back
    "ff ff ff ff 00 ff ff ff 99 | ff ff ff 99 " // check: BadVersion
    "ff ff ff ff 00 ff ff ff fe | ff ff ff fe " // delete: RuntimeInconsistency
    "ff ff ff ff 01 ff ff ff ff";

// -- every record, for the generic tests --------------------------------------

/// A decoder run over arbitrary bytes: decodes, and when that succeeds,
/// checks that re-encoding is stable (encode(decode(encode(decode(b)))) ==
/// encode(decode(b))) and that the reader stayed within the input.
struct record_kind {
  const char* name;
  std::function<bool(std::string_view)> check;
  std::function<std::string()> sample;
};

template <class T>
record_kind kind(const char* name, T sample) {
  record_kind k;
  k.name = name;
  k.check = [](std::string_view bytes) {
    jute_reader r{bytes};
    auto got = decode<T>(r);
    if (r.offset() > bytes.size())
      return false;
    if (!got.ok())
      return got.error().offset <= bytes.size();
    auto once = enc(*got);
    auto again = dec<T>(once);
    return again.ok() && enc(*again) == once;
  };
  k.sample = [sample] { return enc(sample); };
  return k;
}

std::vector<record_kind> all_kinds() {
  auto st = sample_stat();
  std::vector<record_kind> ks;
  ks.push_back(kind("id", id{"digest", "bob:x"}));
  ks.push_back(kind("acl", acl{perm_read, id{"ip", "10.0.0.1"}}));
  ks.push_back(kind("stat", st));
  ks.push_back(kind("client_info", client_info{"ip", "127.0.0.1"}));
  ks.push_back(
    kind("connect_request",
         connect_request{0, 5, 30000, 7, passwd_0_to_15(), true, false}));
  ks.push_back(
    kind("connect_response",
         connect_response{0, 30000, 7, passwd_0_to_15(), false, false}));
  ks.push_back(kind("request_header", request_header{3, 4}));
  ks.push_back(kind("reply_header", reply_header{3, 99, 0}));
  ks.push_back(kind("multi_header", multi_header{1, false, -1}));
  ks.push_back(kind("auth_packet", auth_packet{0, "digest", "bob:secret"}));
  ks.push_back(kind("set_watches", set_watches{9, {"/a"}, {"/b"}, {"/c"}}));
  ks.push_back(kind("set_watches2",
                    set_watches2{9, {"/a"}, {"/b"}, {"/c"}, {"/d"}, {"/e"}}));
  ks.push_back(kind("watcher_event", watcher_event{1, 3, "/x"}));
  ks.push_back(kind("error_response", error_response{-101}));
  ks.push_back(
    kind("create_request", create_request{"/a", "d", open_acl_unsafe(), 3}));
  ks.push_back(kind("create_ttl_request",
                    create_ttl_request{"/t", "d", open_acl_unsafe(), 5, 1000}));
  ks.push_back(kind("create_response", create_response{"/a0000000001"}));
  ks.push_back(kind("create2_response", create2_response{"/a", st}));
  ks.push_back(kind("delete_request", delete_request{"/a", 2}));
  ks.push_back(
    kind("delete_container_request", delete_container_request{"/c"}));
  ks.push_back(kind("exists_request", exists_request{"/a", true}));
  ks.push_back(kind("exists_response", exists_response{st}));
  ks.push_back(kind("get_data_request", get_data_request{"/a", true}));
  ks.push_back(kind("get_data_response", get_data_response{"data", st}));
  ks.push_back(kind("set_data_request", set_data_request{"/a", "v", 4}));
  ks.push_back(kind("set_data_response", set_data_response{st}));
  ks.push_back(kind("get_acl_request", get_acl_request{"/a"}));
  ks.push_back(
    kind("get_acl_response", get_acl_response{open_acl_unsafe(), st}));
  ks.push_back(
    kind("set_acl_request", set_acl_request{"/a", open_acl_unsafe(), 0}));
  ks.push_back(kind("set_acl_response", set_acl_response{st}));
  ks.push_back(kind("get_children_request", get_children_request{"/", true}));
  ks.push_back(
    kind("get_children_response", get_children_response{{"a", "b"}}));
  ks.push_back(kind("get_children2_request", get_children2_request{"/", 0}));
  ks.push_back(kind("get_children2_response",
                    get_children2_response{{"a", "b", "c"}, st}));
  ks.push_back(kind("sync_request", sync_request{"/a"}));
  ks.push_back(kind("sync_response", sync_response{"/a"}));
  ks.push_back(kind("check_version_request", check_version_request{"/a", 7}));
  ks.push_back(kind("get_ephemerals_request", get_ephemerals_request{"/svc"}));
  ks.push_back(kind("get_ephemerals_response",
                    get_ephemerals_response{{"/svc/1", "/svc/2"}}));
  ks.push_back(kind("get_all_children_number_request",
                    get_all_children_number_request{"/a"}));
  ks.push_back(kind("get_all_children_number_response",
                    get_all_children_number_response{42}));
  ks.push_back(kind("add_watch_request", add_watch_request{"/a", 1}));
  ks.push_back(kind("check_watches_request", check_watches_request{"/a", 3}));
  ks.push_back(kind("remove_watches_request", remove_watches_request{"/a", 2}));
  ks.push_back(kind("who_am_i_response",
                    who_am_i_response{{{"ip", "127.0.0.1"}, {"digest", "b"}}}));
  ks.push_back(
    kind("reconfig_request", reconfig_request{"server.4=h:1:2", "3", "", -1}));
  ks.push_back(kind("get_sasl_request", get_sasl_request{"tok"}));
  ks.push_back(kind("set_sasl_response", set_sasl_response{"tok"}));
  ks.push_back(kind("multi_request", sample_multi()));
  ks.push_back(kind("multi_response", sample_failed_multi_response()));
  return ks;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool address_sanitized = true;
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
constexpr bool address_sanitized = true;
#  else
constexpr bool address_sanitized = false;
#  endif
#else
constexpr bool address_sanitized = false;
#endif

// -- memory-limited child -------------------------------------------------------

size_t current_vm_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr)
    return 0;
  unsigned long pages = 0;
  if (std::fscanf(f, "%lu", &pages) != 1)
    pages = 0;
  std::fclose(f);
  return static_cast<size_t>(pages)
         * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

/// Runs `f` in a child process whose address space may grow by at most
/// `headroom` bytes. Returns 0 if f returned true, 1 if false, 3 if an
/// allocation failed (std::bad_alloc), -1 if the child died otherwise.
template <class F>
int run_with_memory_headroom(size_t headroom, F f) {
  std::fflush(nullptr);
  auto pid = fork();
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);
    auto limit = static_cast<rlim_t>(current_vm_bytes() + headroom);
    rlimit lim{limit, limit};
    if (setrlimit(RLIMIT_AS, &lim) != 0)
      _exit(4);
    try {
      _exit(f() ? 0 : 1);
    } catch (const std::bad_alloc&) {
      _exit(3);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// -- frame helpers ----------------------------------------------------------------

std::string framed(std::string_view payload) {
  std::string out;
  jute_writer w{out};
  auto at = w.begin_frame();
  w.write_raw(payload);
  w.end_frame(at);
  return out;
}

/// Feeds `stream` in chunks of the given sizes (cycled); collects frames.
/// Returns the final status.
frame_status feed_chunks(frame_decoder& d, std::string_view stream,
                         const std::vector<size_t>& sizes,
                         std::vector<std::string>& frames,
                         std::string* word = nullptr) {
  size_t i = 0;
  auto status = frame_status::need_more;
  while (!stream.empty()) {
    auto n
      = std::min(stream.size(), std::max<size_t>(1, sizes[i++ % sizes.size()]));
    status = d.feed(
      stream.substr(0, n), [&](std::string_view p) { frames.emplace_back(p); },
      [&](std::string_view w) {
        if (word != nullptr)
          *word = std::string(w);
      });
    stream.remove_prefix(n);
    if (status != frame_status::need_more)
      break;
  }
  return status;
}

} // namespace

// -- primitives -------------------------------------------------------------------

TEST_CASE("jute ints and longs are big-endian two's complement", "[jute]") {
  std::string out;
  jute_writer w{out};
  w.write_int(0x01020304);
  w.write_int(-2);
  w.write_long(0x0102030405060708);
  w.write_long(std::numeric_limits<int64_t>::min());
  w.write_bool(true);
  w.write_bool(false);
  CHECK(out
        == hex("01 02 03 04 ff ff ff fe 01 02 03 04 05 06 07 08 "
               "80 00 00 00 00 00 00 00 01 00"));
  jute_reader r{out};
  CHECK(r.read_int() == 0x01020304);
  CHECK(r.read_int() == -2);
  CHECK(r.read_long() == 0x0102030405060708);
  CHECK(r.read_long() == std::numeric_limits<int64_t>::min());
  CHECK(r.read_bool());
  CHECK_FALSE(r.read_bool());
  CHECK(r.at_end());
  CHECK(r.ok());
}

TEST_CASE("jute booleans read any non-zero byte as true", "[jute]") {
  auto bytes = hex("02 ff 00");
  jute_reader r{bytes};
  CHECK(r.read_bool());
  CHECK(r.read_bool());
  CHECK_FALSE(r.read_bool());
  CHECK(r.ok());
}

TEST_CASE("jute buffers and strings carry an int length, -1 is null",
          "[jute]") {
  std::string out;
  jute_writer w{out};
  w.write_buffer("ab");
  w.write_ustring("");
  w.write_null();
  w.write_count(2);
  CHECK(out == hex("00 00 00 02 61 62 00 00 00 00 ff ff ff ff 00 00 00 02"));
  jute_reader r{out};
  CHECK(r.read_buffer() == "ab");
  CHECK(r.read_ustring().empty());
  CHECK(r.read_buffer().empty()); // null reads as empty
  CHECK(r.ok());
  CHECK(r.remaining() == 4);
}

TEST_CASE("jute reader errors carry the offset and are sticky", "[jute]") {
  SECTION("a length below -1") {
    auto bytes = hex("00 00 00 01 ff ff ff fe 61");
    jute_reader r{bytes};
    CHECK(r.read_int() == 1);
    CHECK(r.read_buffer().empty());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error() == jute_error{jute_error_code::bad_length, 4});
    // Sticky: later reads return zero values and keep the first error.
    CHECK(r.read_int() == 0);
    CHECK(r.read_long() == 0);
    CHECK_FALSE(r.read_bool());
    CHECK(r.read_count(1) == 0);
    CHECK(r.read_rest().empty());
    CHECK(r.error() == jute_error{jute_error_code::bad_length, 4});
  }
  SECTION("a length past the end") {
    auto bytes = hex("00 00 00 05 61 62");
    jute_reader r{bytes};
    CHECK(r.read_buffer().empty());
    CHECK(r.error() == jute_error{jute_error_code::length_exceeds_input, 0});
  }
  SECTION("a count that cannot fit") {
    auto bytes = hex("00 00 00 03 00 00 00 00 00 00 00 00");
    jute_reader r{bytes};
    // Three strings need at least 12 bytes; 8 remain.
    CHECK(r.read_count(4) == 0);
    CHECK(r.error() == jute_error{jute_error_code::count_exceeds_input, 0});
    jute_reader r2{bytes};
    CHECK(r2.read_count(1) == 3); // three 1-byte elements would fit
    CHECK(r2.ok());
  }
  SECTION("a count below -1") {
    auto bytes = hex("ff ff ff f0");
    jute_reader r{bytes};
    CHECK(r.read_count(4) == 0);
    CHECK(r.error() == jute_error{jute_error_code::bad_length, 0});
  }
  SECTION("a null count is an empty vector") {
    auto bytes = hex("ff ff ff ff");
    jute_reader r{bytes};
    CHECK(r.read_count(4) == 0);
    CHECK(r.ok());
  }
  SECTION("fixed-size fields past the end") {
    auto bytes = hex("00 00 00");
    jute_reader r{bytes};
    CHECK(r.read_int() == 0);
    CHECK(r.error() == jute_error{jute_error_code::truncated, 0});
    CHECK(r.offset() == 0);
    jute_reader r2{std::string_view{}};
    CHECK_FALSE(r2.read_bool());
    CHECK(r2.error().code == jute_error_code::truncated);
  }
  CHECK(to_string(jute_error_code::count_exceeds_input)
        == "count_exceeds_input");
}

TEST_CASE("jute writer frames patch the length prefix", "[jute]") {
  std::string out = "xy"; // the writer appends after what is there
  jute_writer w{out};
  auto at = w.begin_frame();
  encode(w, request_header{1, 11});
  w.end_frame(at);
  CHECK(out == "xy" + hex("00 00 00 08 00 00 00 01 00 00 00 0b"));
  auto empty = w.begin_frame();
  w.end_frame(empty);
  CHECK(out.substr(14) == hex("00 00 00 00"));
  CHECK(w.size() == 18);
}

TEST_CASE("a 2 GB length prefix in a 10-byte input is an error, not an "
          "allocation",
          "[jute]") {
  auto bytes = hex("7f ff ff ff 00 00 00 00 00 00"); // 2^31-1, then 6 bytes
  REQUIRE(bytes.size() == 10);
  {
    jute_reader r{bytes};
    CHECK(r.read_buffer().empty());
    CHECK(r.error() == jute_error{jute_error_code::length_exceeds_input, 0});
  }
  {
    jute_reader r{bytes};
    CHECK(r.read_count(1) == 0);
    CHECK(r.error() == jute_error{jute_error_code::count_exceeds_input, 0});
  }
  CHECK(dec<get_data_response>(bytes).error().code
        == jute_error_code::length_exceeds_input);
  CHECK(dec<get_children_response>(bytes).error().code
        == jute_error_code::count_exceeds_input);
  CHECK(dec<create_request>(bytes).error().code
        == jute_error_code::length_exceeds_input);
  CHECK(dec<who_am_i_response>(bytes).error().code
        == jute_error_code::count_exceeds_input);

  // The same in a child that cannot grow by 256 MiB: the harness itself
  // fails a 2 GB allocation there, and every decoder returns its error.
  // (AddressSanitizer reserves its own address space and dies on a failed
  // allocation instead of throwing; it reports huge allocations itself.)
  if (address_sanitized)
    return;
  constexpr size_t headroom = 256 * 1024 * 1024;
  auto harness = run_with_memory_headroom(headroom, [] {
    std::string big(size_t{1} << 31, 'x');
    return big.size() == 1;
  });
  CHECK(harness == 3);
  auto decoders = run_with_memory_headroom(headroom, [&] {
    bool all_ok = true;
    auto kinds = all_kinds();
    for (uint32_t len : {0x7fffffffu, 0x80000000u, 0xfffffffeu}) {
      std::string b = bytes;
      b[0] = static_cast<char>(len >> 24);
      b[1] = static_cast<char>(len >> 16);
      b[2] = static_cast<char>(len >> 8);
      b[3] = static_cast<char>(len);
      for (auto& k : kinds)
        all_ok = k.check(b) && all_ok;
      frame_decoder d;
      all_ok = d.decode(b).status == frame_status::error && all_ok;
    }
    return all_ok;
  });
  CHECK(decoders == 0);
}

// -- constants ----------------------------------------------------------------------

TEST_CASE("jute op codes and special xids are ZooKeeper's", "[jute]") {
  struct row {
    int32_t code;
    const char* name;
  };
  const row rows[] = {
    {0, "notification"},
    {1, "create"},
    {2, "delete"},
    {3, "exists"},
    {4, "getData"},
    {5, "setData"},
    {6, "getACL"},
    {7, "setACL"},
    {8, "getChildren"},
    {9, "sync"},
    {11, "ping"},
    {12, "getChildren2"},
    {13, "check"},
    {14, "multi"},
    {15, "create2"},
    {16, "reconfig"},
    {17, "checkWatches"},
    {18, "removeWatches"},
    {19, "createContainer"},
    {20, "deleteContainer"},
    {21, "createTTL"},
    {22, "multiRead"},
    {100, "auth"},
    {101, "setWatches"},
    {102, "sasl"},
    {103, "getEphemerals"},
    {104, "getAllChildrenNumber"},
    {105, "setWatches2"},
    {106, "addWatch"},
    {107, "whoAmI"},
    {-10, "createSession"},
    {-11, "closeSession"},
    {-1, "error"},
  };
  for (auto& r : rows) {
    INFO(r.code);
    CHECK(op_name(r.code) == r.name);
    CHECK(is_known_op(r.code));
  }
  for (int32_t unknown : {10, 23, 99, 108, -2, -12, 1000}) {
    CHECK(op_name(unknown) == "unknown");
    CHECK_FALSE(is_known_op(unknown));
  }
  CHECK(static_cast<int32_t>(op_code::who_am_i) == 107);
  CHECK(static_cast<int32_t>(op_code::remove) == 2);
  CHECK(notification_xid == -1);
  CHECK(ping_xid == -2);
  CHECK(auth_xid == -4);
  CHECK(set_watches_xid == -8);
  CHECK(perm_all
        == (perm_read | perm_write | perm_create | perm_delete | perm_admin));
  CHECK(static_cast<int32_t>(keeper_state::expired) == -112);
  CHECK(static_cast<int32_t>(event_type::persistent_watch_removed) == 7);
  CHECK(static_cast<int32_t>(create_mode::persistent_sequential_with_ttl) == 6);
  CHECK(static_cast<int32_t>(watcher_type::persistent_recursive) == 5);
  CHECK(static_cast<int32_t>(add_watch_mode::persistent_recursive) == 1);
}

// -- byte-exact records ---------------------------------------------------------------

TEST_CASE("jute ConnectRequest with and without the readOnly byte", "[jute]") {
  const auto body44 = hex("00 00 00 00 "             // protocolVersion 0
                          "00 00 00 02 00 00 00 0a " // lastZxidSeen
                          "00 00 27 10 "             // timeOut 10000
                          "01 23 45 67 89 ab cd ef " // sessionId
                          "00 00 00 10 "             // passwd: 16 bytes
                          "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f");
  REQUIRE(body44.size() == 44);
  const auto body45 = body44 + hex("01"); // readOnly true

  connect_request req;
  req.protocol_version = 0;
  req.last_zxid_seen = 0x000000020000000a;
  req.time_out = 10000;
  req.session_id = 0x0123456789abcdef;
  req.passwd = passwd_0_to_15();

  SECTION("an old client's 44 bytes") {
    req.has_read_only = false;
    CHECK(enc(req) == body44);
    auto got = dec<connect_request>(body44);
    REQUIRE(got.ok());
    CHECK_FALSE(got->has_read_only);
    CHECK_FALSE(got->read_only);
    CHECK(got->last_zxid_seen == 0x000000020000000a);
    CHECK(got->time_out == 10000);
    CHECK(got->session_id == 0x0123456789abcdef);
    CHECK(got->passwd == passwd_0_to_15());
    round_trip(req);
    check_truncations<connect_request>(body44);
  }
  SECTION("a current client's 45 bytes") {
    req.has_read_only = true;
    req.read_only = true;
    CHECK(enc(req) == body45);
    auto got = dec<connect_request>(body45);
    REQUIRE(got.ok());
    CHECK(got->has_read_only);
    CHECK(got->read_only);
    round_trip(req);
    // Cut after the password, it is an old client's request.
    check_truncations<connect_request>(body45, {44});
  }
  SECTION("framed, as the first frame of a connection") {
    auto frame = framed(body45);
    CHECK(frame.substr(0, 4) == hex("00 00 00 2d"));
    frame_decoder d;
    auto step = d.decode(frame);
    REQUIRE(step.status == frame_status::frame);
    CHECK(step.bytes == body45);
  }
  SECTION("a new session: id 0 and an all-zero password") {
    connect_request fresh;
    fresh.time_out = 30000;
    fresh.passwd = std::string(16, '\0');
    CHECK(enc(fresh)
          == hex("00 00 00 00 | 00 00 00 00 00 00 00 00 | 00 00 75 30 | "
                 "00 00 00 00 00 00 00 00 | 00 00 00 10 | "
                 "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 | 00"));
  }
}

TEST_CASE("jute ConnectResponse bytes", "[jute]") {
  connect_response rsp;
  rsp.time_out = 4000;
  rsp.session_id = 0x0123456789abcdef;
  rsp.passwd = std::string(16, '\xff');
  rsp.has_read_only = true;
  const auto bytes = hex("00 00 00 00 "             // protocolVersion
                         "00 00 0f a0 "             // timeOut 4000
                         "01 23 45 67 89 ab cd ef " // sessionId
                         "00 00 00 10 "             // passwd
                         "ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff ff "
                         "00"); // readOnly false
  REQUIRE(bytes.size() == 37);
  CHECK(enc(rsp) == bytes);
  auto got = dec<connect_response>(bytes);
  REQUIRE(got.ok());
  CHECK(got->time_out == 4000);
  CHECK(got->session_id == 0x0123456789abcdef);
  CHECK(got->passwd == std::string(16, '\xff'));
  CHECK(got->has_read_only);
  CHECK_FALSE(got->read_only);
  check_truncations<connect_response>(bytes, {36});

  // To an old client: no readOnly byte. Expired: 0, 0, 16 zero bytes.
  connect_response expired;
  expired.passwd = std::string(16, '\0');
  expired.has_read_only = false;
  CHECK(enc(expired)
        == hex("00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
               "00 00 00 10 00 00 00 00 00 00 00 00 00 00 00 00 "
               "00 00 00 00"));
  round_trip(expired);
}

TEST_CASE("jute RequestHeader and ReplyHeader bytes", "[jute]") {
  CHECK(enc(request_header{-2, 11}) == hex("ff ff ff fe 00 00 00 0b"));
  reply_header h{7, 0x0000000100000005, -101};
  const auto bytes = hex("00 00 00 07 00 00 00 01 00 00 00 05 ff ff ff 9b");
  CHECK(enc(h) == bytes);
  auto got = dec<reply_header>(bytes);
  REQUIRE(got.ok());
  CHECK(got->xid == 7);
  CHECK(got->zxid == 0x0000000100000005);
  CHECK(got->err == -101);
  check_truncations<reply_header>(bytes);
  check_truncations<request_header>(hex("ff ff ff fe 00 00 00 0b"));
}

TEST_CASE("jute Stat is 68 bytes in ZooKeeper's field order", "[jute]") {
  const auto bytes = hex(sample_stat_hex);
  REQUIRE(bytes.size() == stat_bytes);
  CHECK(enc(sample_stat()) == bytes);
  auto got = dec<stat>(bytes);
  REQUIRE(got.ok());
  CHECK(*got == sample_stat());
  CHECK(got->ctime == 1700000000000);
  CHECK(got->ephemeral_owner == 0x0123456789abcdef);
  CHECK(got->pzxid == 0x0000000100000003);
  check_truncations<stat>(bytes);

  // Inside responses it follows the other fields directly.
  CHECK(enc(exists_response{sample_stat()}) == bytes);
  CHECK(enc(get_data_response{"hi", sample_stat()})
        == hex("00 00 00 02 68 69") + bytes);
  check_truncations<get_data_response>(hex("00 00 00 02 68 69") + bytes);
}

TEST_CASE("jute WatcherEvent and a notification frame", "[jute]") {
  watcher_event ev{static_cast<int32_t>(event_type::node_data_changed),
                   static_cast<int32_t>(keeper_state::sync_connected), "/a/b"};
  const auto bytes = hex("00 00 00 03 00 00 00 03 00 00 00 04 2f 61 2f 62");
  CHECK(enc(ev) == bytes);
  auto got = dec<watcher_event>(bytes);
  REQUIRE(got.ok());
  CHECK(got->type == 3);
  CHECK(got->state == 3);
  CHECK(got->path == "/a/b");
  check_truncations<watcher_event>(bytes);

  std::string frame;
  jute_writer w{frame};
  auto at = w.begin_frame();
  encode(w, reply_header{notification_xid, -1, 0});
  encode(w, ev);
  w.end_frame(at);
  CHECK(frame
        == hex("00 00 00 20 | ff ff ff ff | ff ff ff ff ff ff ff ff | "
               "00 00 00 00")
             + bytes);
}

TEST_CASE("jute create request with OPEN_ACL_UNSAFE", "[jute]") {
  create_request c;
  c.path = "/app";
  c.data = "hi";
  c.acl = open_acl_unsafe();
  c.flags = static_cast<int32_t>(create_mode::persistent);
  const auto body = hex("00 00 00 04 2f 61 70 70 "            // "/app"
                        "00 00 00 02 68 69 ")                 // "hi"
                    + hex(open_acl_hex) + hex("00 00 00 00"); // flags 0
  CHECK(enc(c) == body);
  auto got = dec<create_request>(body);
  REQUIRE(got.ok());
  CHECK(got->path == "/app");
  CHECK(got->data == "hi");
  REQUIRE(got->acl.size() == 1);
  CHECK(got->acl[0] == acl{31, id{"world", "anyone"}});
  CHECK(got->flags == 0);
  check_truncations<create_request>(body);

  // The whole frame a client sends for create (xid 1, type 1).
  std::string frame;
  jute_writer w{frame};
  auto at = w.begin_frame();
  encode(w, request_header{1, static_cast<int32_t>(op_code::create)});
  encode(w, c);
  w.end_frame(at);
  CHECK(frame == hex("00 00 00 35 00 00 00 01 00 00 00 01") + body);

  // createTTL appends the TTL.
  create_ttl_request t{"/app", "hi", open_acl_unsafe(), 5, 60000};
  CHECK(enc(t)
        == hex("00 00 00 04 2f 61 70 70 00 00 00 02 68 69 ") + hex(open_acl_hex)
             + hex("00 00 00 05 00 00 00 00 00 00 ea 60"));
}

TEST_CASE("jute multi request with create, setData, check and delete",
          "[jute]") {
  const auto bytes = hex(sample_multi_hex);
  CHECK(enc(sample_multi()) == bytes);
  auto got = dec<multi_request>(bytes);
  REQUIRE(got.ok());
  REQUIRE(got->ops.size() == 4);
  CHECK(got->ops[0].type == 1);
  auto* c = std::get_if<create_request>(&got->ops[0].request);
  REQUIRE(c != nullptr);
  CHECK(c->path == "/m");
  CHECK(c->acl == open_acl_unsafe());
  CHECK(got->ops[1].type == 5);
  auto* s = std::get_if<set_data_request>(&got->ops[1].request);
  REQUIRE(s != nullptr);
  CHECK(s->data == "x");
  CHECK(s->version == 0);
  CHECK(got->ops[2].type == 13);
  auto* k = std::get_if<check_version_request>(&got->ops[2].request);
  REQUIRE(k != nullptr);
  CHECK(k->version == 1);
  CHECK(got->ops[3].type == 2);
  auto* d = std::get_if<delete_request>(&got->ops[3].request);
  REQUIRE(d != nullptr);
  CHECK(d->version == -1);
  check_truncations<multi_request>(bytes);

  SECTION("an empty multi is just the terminator") {
    CHECK(enc(multi_request{}) == hex("ff ff ff ff 01 ff ff ff ff"));
    auto empty = dec<multi_request>(hex("ff ff ff ff 01 ff ff ff ff"));
    REQUIRE(empty.ok());
    CHECK(empty->ops.empty());
  }
  SECTION("the decoder stops at done whatever the terminator's type") {
    auto other = dec<multi_request>(hex("00 00 00 01 01 00 00 00 00"));
    REQUIRE(other.ok());
    CHECK(other->ops.empty());
  }
  SECTION("an op that cannot be in a multi is an error at its header") {
    auto bad = hex("00 00 00 05 00 ff ff ff ff 00 00 00 02 2f 6d 00 00 00 00 "
                   "00 00 00 00 "
                   "00 00 00 63 00 ff ff ff ff "
                   "ff ff ff ff 01 ff ff ff ff");
    auto got2 = dec<multi_request>(bad);
    REQUIRE_FALSE(got2.ok());
    CHECK(got2.error() == jute_error{jute_error_code::bad_multi_op, 23});
    // deleteContainer (20) is not a multi op either.
    auto dc = dec<multi_request>(hex("00 00 00 14 00 ff ff ff ff"));
    CHECK(dc.error() == jute_error{jute_error_code::bad_multi_op, 0});
  }
  SECTION("create2, createContainer and createTTL ops") {
    multi_request m;
    m.ops.push_back({15, create_request{"/a", "", open_acl_unsafe(), 0}});
    m.ops.push_back({19, create_request{"/b", "", open_acl_unsafe(), 4}});
    m.ops.push_back(
      {21, create_ttl_request{"/c", "", open_acl_unsafe(), 5, 10}});
    auto back = round_trip(m);
    REQUIRE(back.ops.size() == 3);
    CHECK(std::get<create_ttl_request>(back.ops[2].request).ttl == 10);
  }
}

TEST_CASE("jute multi response with one failed op", "[jute]") {
  const auto bytes = hex(sample_failed_multi_response_hex);
  CHECK(enc(sample_failed_multi_response()) == bytes);
  auto got = dec<multi_response>(bytes);
  REQUIRE(got.ok());
  REQUIRE(got->results.size() == 4);
  const int32_t errs[] = {0, 0, -103, -2};
  for (size_t i = 0; i < 4; ++i) {
    INFO(i);
    CHECK(got->results[i].type == -1);
    CHECK(got->results[i].err == errs[i]);
    auto* e = std::get_if<error_response>(&got->results[i].response);
    REQUIRE(e != nullptr);
    CHECK(e->err == errs[i]);
  }
  check_truncations<multi_response>(bytes);

  SECTION("a successful multi answers each op with its own record") {
    multi_response ok;
    ok.results.push_back({1, 0, create_response{"/m"}});
    ok.results.push_back({15, 0, create2_response{"/n", sample_stat()}});
    ok.results.push_back({5, 0, set_data_response{sample_stat()}});
    ok.results.push_back({13, 0, multi_empty{}});
    ok.results.push_back({2, 0, multi_empty{}});
    auto b = enc(ok);
    CHECK(b.substr(0, 9 + 6)
          == hex("00 00 00 01 00 00 00 00 00 00 00 00 02 2f 6d"));
    auto back = round_trip(ok);
    REQUIRE(back.results.size() == 5);
    CHECK(std::get<create2_response>(back.results[1].response).stat
          == sample_stat());
    CHECK(std::holds_alternative<multi_empty>(back.results[3].response));
    check_truncations<multi_response>(b);
  }
  SECTION("multiRead mixes results and errors") {
    multi_response rd;
    rd.results.push_back({4, 0, get_data_response{"v", sample_stat()}});
    rd.results.push_back(multi_error(-101));
    rd.results.push_back({8, 0, get_children_response{{"a", "b"}}});
    auto back = round_trip(rd);
    REQUIRE(back.results.size() == 3);
    CHECK(std::get<get_data_response>(back.results[0].response).data == "v");
    CHECK(back.results[1].err == -101);
    CHECK(std::get<get_children_response>(back.results[2].response).children
          == std::vector<std::string>{"a", "b"});

    multi_request q;
    q.ops.push_back({4, get_data_request{"/a", false}});
    q.ops.push_back({8, get_children_request{"/", false}});
    auto qb = round_trip(q);
    CHECK(std::get<get_children_request>(qb.ops[1].request).path == "/");
  }
  SECTION("an unknown result type is an error") {
    auto bad = dec<multi_response>(hex("00 00 00 07 00 00 00 00 00"));
    CHECK(bad.error() == jute_error{jute_error_code::bad_multi_op, 0});
  }
}

// -- every record round-trips -----------------------------------------------------

TEST_CASE("jute every record round-trips", "[jute]") {
  auto st = sample_stat();
  CHECK(round_trip(id{"digest", "bob:hash"}) == id{"digest", "bob:hash"});
  CHECK(round_trip(acl{perm_read | perm_admin, id{"ip", "10.0.0.0/8"}})
        == acl{17, id{"ip", "10.0.0.0/8"}});
  CHECK(round_trip(st) == st);
  CHECK(round_trip(client_info{"ip", "127.0.0.1"})
        == client_info{"ip", "127.0.0.1"});

  auto cr = round_trip(
    connect_request{0, 123, 30000, 456, passwd_0_to_15(), true, true});
  CHECK(cr.last_zxid_seen == 123);
  CHECK(cr.session_id == 456);
  CHECK(cr.read_only);
  auto cs = round_trip(
    connect_response{0, 20000, 456, passwd_0_to_15(), true, false});
  CHECK(cs.time_out == 20000);

  auto rq = round_trip(request_header{42, 4});
  CHECK((rq.xid == 42 && rq.type == 4));
  auto rp = round_trip(reply_header{42, 1LL << 40, -110});
  CHECK((rp.zxid == (1LL << 40) && rp.err == -110));
  auto mh = round_trip(multi_header{-1, true, -1});
  CHECK((mh.type == -1 && mh.done && mh.err == -1));

  auto ap = round_trip(auth_packet{0, "digest", "bob:secret"});
  CHECK((ap.scheme == "digest" && ap.auth == "bob:secret"));
  CHECK(enc(ap)
        == hex("00 00 00 00 00 00 00 06 64 69 67 65 73 74 "
               "00 00 00 0a 62 6f 62 3a 73 65 63 72 65 74"));

  auto sw = round_trip(set_watches{77, {"/d1", "/d2"}, {"/e"}, {}});
  CHECK(sw.relative_zxid == 77);
  CHECK(sw.data_watches == std::vector<std::string>{"/d1", "/d2"});
  CHECK(sw.exist_watches == std::vector<std::string>{"/e"});
  CHECK(sw.child_watches.empty());
  CHECK(enc(set_watches{1, {}, {"/e"}, {}})
        == hex("00 00 00 00 00 00 00 01 00 00 00 00 "
               "00 00 00 01 00 00 00 02 2f 65 00 00 00 00"));
  auto sw2 = round_trip(
    set_watches2{78, {"/d"}, {"/e"}, {"/c"}, {"/p"}, {"/r", "/s"}});
  CHECK(sw2.persistent_watches == std::vector<std::string>{"/p"});
  CHECK(sw2.persistent_recursive_watches
        == std::vector<std::string>{"/r", "/s"});

  CHECK(round_trip(watcher_event{-1, -112, ""}).state == -112);
  CHECK(round_trip(error_response{-103}).err == -103);

  auto c = round_trip(
    create_request{"/a",
                   std::string("\0\1\2", 3),
                   {acl{31, id{"auth", ""}}, acl{1, id{"world", "anyone"}}},
                   3});
  CHECK(c.data == std::string("\0\1\2", 3));
  CHECK(c.acl.size() == 2);
  CHECK(c.flags == 3);
  auto ct = round_trip(create_ttl_request{"/t", "", open_acl_unsafe(), 6, 99});
  CHECK((ct.flags == 6 && ct.ttl == 99));
  CHECK(round_trip(create_response{"/a0000000007"}).path == "/a0000000007");
  auto c2 = round_trip(create2_response{"/a", st});
  CHECK((c2.path == "/a" && c2.stat == st));
  auto dr = round_trip(delete_request{"/a", 5});
  CHECK((dr.path == "/a" && dr.version == 5));
  CHECK(enc(delete_container_request{"/c"}) == "/c");
  CHECK(round_trip(delete_container_request{"/c"}).path == "/c");
  auto ex = round_trip(exists_request{"/a", true});
  CHECK((ex.path == "/a" && ex.watch));
  CHECK(round_trip(exists_response{st}).stat == st);
  auto gd = round_trip(get_data_request{"/a", false});
  CHECK((gd.path == "/a" && !gd.watch));
  auto gdr = round_trip(get_data_response{std::string(1000, 'z'), st});
  CHECK((gdr.data.size() == 1000 && gdr.stat == st));
  auto sd = round_trip(set_data_request{"/a", "new", -1});
  CHECK((sd.data == "new" && sd.version == -1));
  CHECK(round_trip(set_data_response{st}).stat == st);
  CHECK(round_trip(get_acl_request{"/a"}).path == "/a");
  auto ga = round_trip(get_acl_response{open_acl_unsafe(), st});
  CHECK((ga.acl == open_acl_unsafe() && ga.stat == st));
  auto sa = round_trip(set_acl_request{"/a", {acl{1, id{"ip", "1.2.3.4"}}}, 2});
  CHECK((sa.acl.size() == 1 && sa.version == 2));
  CHECK(round_trip(set_acl_response{st}).stat == st);
  auto gc = round_trip(get_children_request{"/", true});
  CHECK((gc.path == "/" && gc.watch));
  CHECK(round_trip(get_children_response{{"x", "y", "z"}}).children.size()
        == 3);
  auto gc2 = round_trip(get_children2_request{"/q", false});
  CHECK(gc2.path == "/q");
  auto gc2r = round_trip(get_children2_response{{}, st});
  CHECK((gc2r.children.empty() && gc2r.stat == st));
  CHECK(round_trip(sync_request{"/s"}).path == "/s");
  CHECK(round_trip(sync_response{"/s"}).path == "/s");
  auto cv = round_trip(check_version_request{"/a", 9});
  CHECK(cv.version == 9);
  CHECK(round_trip(get_ephemerals_request{"/svc"}).prefix_path == "/svc");
  CHECK(round_trip(get_ephemerals_response{{"/svc/a"}}).ephemerals
        == std::vector<std::string>{"/svc/a"});
  CHECK(round_trip(get_all_children_number_request{"/r"}).path == "/r");
  CHECK(round_trip(get_all_children_number_response{12345}).total_number
        == 12345);
  auto aw = round_trip(add_watch_request{"/w", 1});
  CHECK((aw.path == "/w" && aw.mode == 1));
  auto cw = round_trip(check_watches_request{"/w", 3});
  CHECK((cw.path == "/w" && cw.type == 3));
  auto rw = round_trip(remove_watches_request{"/w", 5});
  CHECK((rw.path == "/w" && rw.type == 5));
  auto who = round_trip(who_am_i_response{
    {client_info{"ip", "127.0.0.1"}, client_info{"digest", "bob"}}});
  REQUIRE(who.client_info.size() == 2);
  CHECK(who.client_info[1] == client_info{"digest", "bob"});
  CHECK(enc(who_am_i_response{{client_info{"ip", "h"}}})
        == hex("00 00 00 01 00 00 00 02 69 70 00 00 00 01 68"));
  auto rc = round_trip(
    reconfig_request{"server.5=h:1:2:participant", "2", "", 0x100000000});
  CHECK((rc.leaving_servers == "2" && rc.cur_config_id == 0x100000000));
  CHECK(round_trip(get_sasl_request{"abc"}).token == "abc");
  CHECK(round_trip(set_sasl_response{"def"}).token == "def");
  CHECK(round_trip(sample_multi()).ops.size() == 4);
  CHECK(round_trip(sample_failed_multi_response()).results.size() == 4);

  // The generic table covers the same records; its samples round-trip too.
  for (auto& k : all_kinds()) {
    INFO(k.name);
    CHECK(k.check(k.sample()));
  }
}

TEST_CASE("jute nulls decode as empty values", "[jute]") {
  // GetDataResponse with null data; GetChildrenResponse with a null list.
  auto gd = dec<get_data_response>(hex("ff ff ff ff") + hex(sample_stat_hex));
  REQUIRE(gd.ok());
  CHECK(gd->data.empty());
  auto gc = dec<get_children_response>(hex("ff ff ff ff"));
  REQUIRE(gc.ok());
  CHECK(gc->children.empty());
  auto cr = dec<create_request>(
    hex("ff ff ff ff ff ff ff ff ff ff ff ff 00 00 00 00"));
  REQUIRE(cr.ok());
  CHECK((cr->path.empty() && cr->data.empty() && cr->acl.empty()));
}

TEST_CASE("jute truncation at every byte offset yields an error", "[jute]") {
  auto st = sample_stat();
  check_truncations<create_request>(enc(create_request{
    "/a/b",
    "payload",
    {acl{31, id{"digest", "u:p"}}, acl{1, id{"world", "anyone"}}},
    1}));
  check_truncations<create_ttl_request>(
    enc(create_ttl_request{"/t", "d", open_acl_unsafe(), 5, 1}));
  check_truncations<create2_response>(enc(create2_response{"/a", st}));
  check_truncations<get_children2_response>(
    enc(get_children2_response{{"a", "bb", "ccc"}, st}));
  check_truncations<get_acl_response>(
    enc(get_acl_response{open_acl_unsafe(), st}));
  check_truncations<set_acl_request>(
    enc(set_acl_request{"/a", open_acl_unsafe(), 3}));
  check_truncations<set_watches>(enc(set_watches{1, {"/a"}, {"/b"}, {"/c"}}));
  check_truncations<set_watches2>(
    enc(set_watches2{1, {"/a"}, {"/b"}, {"/c"}, {"/d"}, {"/e"}}));
  check_truncations<who_am_i_response>(
    enc(who_am_i_response{{client_info{"ip", "127.0.0.1"}}}));
  check_truncations<auth_packet>(enc(auth_packet{0, "digest", "u:p"}));
  check_truncations<set_data_request>(enc(set_data_request{"/a", "b", 1}));
  check_truncations<get_data_request>(enc(get_data_request{"/a", true}));
  check_truncations<reconfig_request>(enc(reconfig_request{"a", "b", "c", 1}));
  check_truncations<multi_response>(
    enc(multi_response{{{15, 0, create2_response{"/x", st}},
                        {4, 0, get_data_response{"d", st}}}}));
}

// -- randomized -----------------------------------------------------------------------

TEST_CASE("jute decoders survive random bytes and mutated records", "[jute]") {
  std::mt19937 rng{20240917};
  auto kinds = all_kinds();
  auto byte = [&] { return static_cast<char>(rng() & 0xFF); };
  auto below = [&](size_t n) { return n == 0 ? 0 : rng() % n; };

  SECTION("random bytes") {
    for (int round = 0; round < 3000; ++round) {
      std::string input(below(96), '\0');
      for (auto& c : input)
        c = byte();
      // Bias towards the interesting values of length prefixes.
      if (input.size() >= 4 && below(3) == 0) {
        static const char* prefixes[]
          = {"\xff\xff\xff\xff", "\x7f\xff\xff\xff", "\x80\x00\x00\x00",
             "\x00\x00\x00\x01", "\xff\xff\xff\xfe"};
        std::copy_n(prefixes[below(5)], 4, input.begin());
      }
      for (auto& k : kinds) {
        INFO(k.name << ": " << to_hex(input));
        REQUIRE(k.check(input));
      }
    }
  }
  SECTION("mutated valid records") {
    for (int round = 0; round < 300; ++round) {
      for (auto& k : kinds) {
        auto input = k.sample();
        auto mutations = 1 + below(4);
        for (size_t m = 0; m < mutations; ++m) {
          switch (below(6)) {
            case 0: // flip a byte
              if (!input.empty())
                input[below(input.size())] ^= static_cast<char>(1 + below(255));
              break;
            case 1: // an extreme byte
              if (!input.empty())
                input[below(input.size())] = below(2) ? '\xff' : '\x7f';
              break;
            case 2: // insert a byte
              input.insert(input.begin()
                             + static_cast<long>(below(input.size() + 1)),
                           byte());
              break;
            case 3: // erase a byte
              if (!input.empty())
                input.erase(input.begin()
                            + static_cast<long>(below(input.size())));
              break;
            case 4: // truncate
              input.resize(below(input.size() + 1));
              break;
            default: // duplicate a slice
              if (!input.empty()) {
                auto from = below(input.size());
                auto len = below(input.size() - from + 1);
                input.insert(below(input.size() + 1), input.substr(from, len));
              }
              break;
          }
        }
        // Every decoder sees every mutant, not only the matching one.
        for (auto& other : kinds) {
          INFO(k.name << " mutant into " << other.name << ": "
                      << to_hex(input));
          REQUIRE(other.check(input));
        }
      }
    }
  }
}

// -- frame decoder --------------------------------------------------------------------

TEST_CASE("frame decoder yields whole frames without copying", "[jute]") {
  frame_decoder d;
  auto stream = framed("hello") + framed("") + framed("world!");
  auto step = d.decode(stream);
  REQUIRE(step.status == frame_status::frame);
  CHECK(step.consumed == 9);
  CHECK(step.bytes == "hello");
  CHECK(step.bytes.data() == stream.data() + 4); // a view into the input
  std::string_view rest = stream;
  rest.remove_prefix(step.consumed);
  step = d.decode(rest);
  REQUIRE(step.status == frame_status::frame);
  CHECK(step.consumed == 4);
  CHECK(step.bytes.empty());
  rest.remove_prefix(step.consumed);
  step = d.decode(rest);
  REQUIRE(step.status == frame_status::frame);
  CHECK(step.bytes == "world!");
  rest.remove_prefix(step.consumed);
  CHECK(rest.empty());
  step = d.decode(rest);
  CHECK(step.status == frame_status::need_more);
  CHECK(step.consumed == 0);
  CHECK(d.frames() == 3);
  CHECK(d.stream_offset() == stream.size());
  CHECK(d.buffered_bytes() == 0);
}

TEST_CASE("frame decoder splits any chunking into the same frames", "[jute]") {
  std::vector<std::string> payloads
    = {enc(connect_request{0, 0, 30000, 0, std::string(16, '\0'), true, false}),
       "",
       "x",
       std::string(300, 'a'),
       std::string(70000, 'b'),
       "tail"};
  std::string stream;
  for (auto& p : payloads)
    stream += framed(p);
  std::mt19937 rng{7};
  for (int round = 0; round < 60; ++round) {
    std::vector<size_t> sizes;
    for (int i = 0; i < 16; ++i)
      sizes.push_back(round == 0 ? 1 : 1 + rng() % (round < 30 ? 8 : 5000));
    frame_decoder d;
    std::vector<std::string> frames;
    auto status = feed_chunks(d, stream, sizes, frames);
    CHECK(status == frame_status::need_more);
    REQUIRE(frames == payloads);
    CHECK(d.buffered_bytes() == 0);
    CHECK(d.buffer_capacity() <= 70000);
  }
}

TEST_CASE("frame decoder refuses negative and oversized lengths", "[jute]") {
  SECTION("negative") {
    frame_decoder d;
    auto bytes = hex("ff ff ff ff 00 00");
    auto step = d.decode(bytes);
    CHECK(step.status == frame_status::error);
    CHECK(step.consumed == 4);
    CHECK(d.failed());
    CHECK(d.error().code == frame_error_code::negative_length);
    CHECK(d.error().declared_length == -1);
    CHECK(d.error().stream_offset == 0);
    // Stays failed, consumes nothing more.
    step = d.decode(bytes);
    CHECK(step.status == frame_status::error);
    CHECK(step.consumed == 0);
  }
  SECTION("over the maximum, after a good frame") {
    frame_decoder d{1000};
    auto stream = framed("ok") + hex("00 00 03 e9") + std::string(20, 'x');
    std::vector<std::string> frames;
    auto status = d.feed(
      stream, [&](std::string_view p) { frames.emplace_back(p); },
      [](std::string_view) { FAIL("no word expected"); });
    CHECK(status == frame_status::error);
    CHECK(frames == std::vector<std::string>{"ok"});
    CHECK(d.error().code == frame_error_code::frame_too_large);
    CHECK(d.error().declared_length == 1001);
    CHECK(d.error().stream_offset == 6);
    CHECK(to_string(d.error().code) == "frame_too_large");
  }
  SECTION("exactly the maximum is fine") {
    frame_decoder d{1000};
    std::vector<std::string> frames;
    CHECK(feed_chunks(d, framed(std::string(1000, 'm')), {3, 500}, frames)
          == frame_status::need_more);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].size() == 1000);
  }
  SECTION("a 2 GB length in a 10-byte input") {
    frame_decoder d;
    auto bytes = hex("7f ff ff ff 00 00 00 00 00 00");
    auto step = d.decode(bytes);
    CHECK(step.status == frame_status::error);
    CHECK(d.error().declared_length == 0x7fffffff);
    CHECK(d.buffer_capacity() < 64);
  }
  SECTION("the maximum is clamped") {
    CHECK(frame_decoder{0}.max_frame_bytes() == 1);
    CHECK(frame_decoder{std::numeric_limits<size_t>::max()}.max_frame_bytes()
          == frame_decoder::max_frame_limit);
    CHECK(frame_decoder{}.max_frame_bytes() == 1024 * 1024 + 64 * 1024);
  }
}

TEST_CASE("frame decoder buffers only what arrived, up to one frame",
          "[jute]") {
  frame_decoder d; // 1 MiB + 64 KiB
  const size_t len = 1024 * 1024;
  auto header = hex("00 10 00 00");
  auto step = d.decode(header + std::string(10, 'p'));
  CHECK(step.status == frame_status::need_more);
  CHECK(d.buffered_bytes() == 10);
  CHECK(d.buffer_capacity() < 1024); // nothing reserved for the declared 1 MiB
  std::string chunk(4096, 'q');
  size_t sent = 10;
  size_t max_capacity = 0;
  while (sent + chunk.size() < len) {
    step = d.decode(chunk);
    REQUIRE(step.status == frame_status::need_more);
    sent += chunk.size();
    max_capacity = std::max(max_capacity, d.buffer_capacity());
  }
  step = d.decode(std::string(len - sent, 'r') + "next");
  REQUIRE(step.status == frame_status::frame);
  CHECK(step.bytes.size() == len);
  CHECK(step.consumed == len - sent);
  CHECK(max_capacity <= len);
  CHECK(d.buffer_capacity() <= len);
  // The big buffer is released once the next call starts.
  step = d.decode("");
  CHECK(step.status == frame_status::need_more);
  CHECK(d.buffer_capacity() <= frame_decoder::retained_buffer_bytes);
}

TEST_CASE("frame decoder recognizes a four-letter word only first", "[jute]") {
  SECTION("ruok with a newline") {
    frame_decoder d;
    std::string word;
    std::vector<std::string> frames;
    auto status = d.feed(
      "ruok\n", [&](std::string_view p) { frames.emplace_back(p); },
      [&](std::string_view w) { word = std::string(w); });
    CHECK(status == frame_status::four_letter_word);
    CHECK(word == "ruok");
    CHECK(frames.empty());
    CHECK(d.saw_four_letter_word());
    // Whatever follows is swallowed.
    auto step = d.decode(framed("ignored"));
    CHECK(step.status == frame_status::need_more);
    CHECK(step.consumed == 11);
  }
  SECTION("every word of the issue, split across chunks") {
    for (auto w : {"ruok", "srvr", "stat", "mntr", "conf", "cons", "wchs",
                   "dirs", "isro", "envi", "RUOK"}) {
      frame_decoder d;
      std::vector<std::string> frames;
      std::string word;
      CHECK(feed_chunks(d, w, {1, 2}, frames, &word)
            == frame_status::four_letter_word);
      CHECK(word == w);
    }
  }
  SECTION("not after the first frame") {
    frame_decoder d;
    std::vector<std::string> frames;
    std::string word;
    auto status
      = feed_chunks(d, framed("connect") + "ruok", {100}, frames, &word);
    CHECK(status == frame_status::error);
    CHECK(word.empty());
    CHECK(frames.size() == 1);
    CHECK(d.error().code == frame_error_code::frame_too_large);
    CHECK(d.error().declared_length == 0x72756f6b);
  }
  SECTION("not with a non-letter") {
    frame_decoder d;
    CHECK(d.decode("ru0k").status == frame_status::error);
    CHECK(d.error().code == frame_error_code::frame_too_large);
  }
  SECTION("not when words are off") {
    frame_decoder d{frame_decoder::default_max_frame_bytes, false};
    CHECK(d.decode("ruok").status == frame_status::error);
  }
  SECTION("a real first frame is never a word") {
    frame_decoder d;
    auto frame = framed(
      enc(connect_request{0, 0, 30000, 0, std::string(16, '\0'), true, false}));
    auto step = d.decode(frame);
    CHECK(step.status == frame_status::frame);
  }
}

TEST_CASE("frame decoder survives random streams with bounded memory",
          "[jute]") {
  std::mt19937 rng{1234567};
  auto kinds = all_kinds();
  const size_t max = 4096;
  for (int round = 0; round < 400; ++round) {
    // A stream of valid frames (record samples), then mutations.
    std::string stream;
    auto frames_in = 1 + rng() % 6;
    for (size_t i = 0; i < frames_in; ++i)
      stream += framed(kinds[rng() % kinds.size()].sample());
    if (round % 4 == 0) {
      stream.assign(rng() % 200, '\0');
      for (auto& c : stream)
        c = static_cast<char>(rng() & 0xFF);
    } else {
      auto mutations = rng() % 4;
      for (size_t m = 0; m < mutations && !stream.empty(); ++m)
        stream[rng() % stream.size()] = static_cast<char>(rng() & 0xFF);
    }
    frame_decoder d{max, round % 2 == 0};
    std::string_view rest = stream;
    size_t frames = 0;
    size_t guard = 0;
    while (!rest.empty() && ++guard < 100000) {
      auto n = std::min<size_t>(rest.size(), 1 + rng() % 64);
      auto step = d.decode(rest.substr(0, n));
      REQUIRE(step.consumed <= n);
      REQUIRE(d.buffered_bytes() <= max + 4);
      REQUIRE(d.buffer_capacity() <= max);
      if (step.status == frame_status::error)
        break;
      if (step.status == frame_status::frame) {
        ++frames;
        REQUIRE(step.bytes.size() <= max);
        // Whatever a frame holds, every decoder copes with it.
        for (auto& k : kinds)
          REQUIRE(k.check(step.bytes));
      }
      if (step.status == frame_status::four_letter_word)
        REQUIRE(step.bytes.size() == 4);
      rest.remove_prefix(step.consumed);
    }
    REQUIRE(guard < 100000);
    CHECK(d.frames() == frames);
  }
}
