// acl: digests match ZooKeeper's DigestAuthenticationProvider, fixup_acl and
// allowed follow PrepRequestProcessor's fixupACL and checkACL, and acl_table
// interns lists deterministically, saves to a pinned layout and refuses every
// damaged snapshot.

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "runtime/acl.hpp"
#include "runtime/storage/crc32c.hpp"

#include "tests/support/aborts.hpp"
#include "tests/support/printers.hpp"

using namespace conclave;

namespace {

acl_entry entry(int32_t perms, std::string scheme, std::string id) {
  return acl_entry{perms, acl_id{std::move(scheme), std::move(id)}};
}

acl_entry world(int32_t perms) {
  return entry(perms, "world", "anyone");
}

acl_entry ip(int32_t perms, std::string id) {
  return entry(perms, "ip", std::move(id));
}

acl_entry digest(int32_t perms, std::string_view user_password) {
  return entry(perms, "digest", digest_of(user_password));
}

acl_id digest_id(std::string_view user_password) {
  return acl_id{"digest", digest_of(user_password)};
}

auth_info client(std::vector<acl_id> ids, std::string address = "10.1.2.3") {
  return auth_info{std::move(ids), std::move(address)};
}

constexpr int32_t each_perm[]
  = {acl_perms::read, acl_perms::write, acl_perms::create, acl_perms::del,
     acl_perms::admin};

// A few distinct lists for the table tests.
std::vector<acl_entry> list(int k) {
  return {entry(acl_perms::all, "digest", "u" + std::to_string(k) + ":h"),
          world(acl_perms::read)};
}

void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFFu));
}

void put_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFFu));
}

/// A hand-made snapshot: header for `n` slots, `body`, then the CRC-32C
/// computed with storage::crc32c (Boost.CRC).
std::string sealed(uint64_t n, const std::string& body, uint32_t version = 1) {
  std::string out = "CNCLACLS";
  put_u32(out, version);
  put_u64(out, n);
  out += body;
  put_u32(out, storage::crc32c::of(out));
  return out;
}

std::string slot_bytes(uint64_t refs, const std::vector<acl_entry>& acl) {
  std::string out;
  put_u64(out, refs);
  put_u32(out, static_cast<uint32_t>(acl.size()));
  for (const auto& e : acl) {
    put_u32(out, static_cast<uint32_t>(e.perms));
    put_u32(out, static_cast<uint32_t>(e.id.scheme.size()));
    out += e.id.scheme;
    put_u32(out, static_cast<uint32_t>(e.id.id.size()));
    out += e.id.id;
  }
  return out;
}

acl_table sample_table() {
  acl_table t;
  auto a = t.intern(list(1));
  t.intern(list(2));
  t.intern(list(3));
  t.add_ref(a);
  t.intern(list(2));
  t.intern(open_acl_unsafe());
  t.intern({entry(acl_perms::read, "ip", "10.0.0.0/8")});
  t.release(2); // list(2) has two references: still used
  t.release(3); // frees index 3, a hole in the middle
  return t;
}

} // namespace

// -- well-known lists and digests ---------------------------------------------

TEST_CASE("acl: permission bits and well-known lists are ZooDefs'", "[acl]") {
  CHECK(acl_perms::read == 1);
  CHECK(acl_perms::write == 2);
  CHECK(acl_perms::create == 4);
  CHECK(acl_perms::del == 8);
  CHECK(acl_perms::admin == 16);
  CHECK(acl_perms::all == 31);
  CHECK(open_acl_unsafe() == std::vector<acl_entry>{world(31)});
  CHECK(read_acl_unsafe() == std::vector<acl_entry>{world(1)});
  CHECK(creator_all_acl() == std::vector<acl_entry>{entry(31, "auth", "")});
}

TEST_CASE("acl: digest_of matches DigestAuthenticationProvider", "[acl]") {
  // Expected values computed independently with
  //   python3 -c "import hashlib,base64; s=b'super:secret';
  //     print(s.split(b':',1)[0].decode() + ':'
  //           + base64.b64encode(hashlib.sha1(s).digest()).decode())"
  CHECK(digest_of("super:secret") == "super:lK75jTNcA+U9vtVEw5vB51mj/w4=");
  CHECK(digest_of("user:password") == "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY=");
  // The user is the text before the first ':'; the hash covers everything.
  CHECK(digest_of("a:b:c") == "a:cLzgnoJ6mP5qz3w+mwvPE2vDgu0=");
  CHECK(digest_of("alice:") == "alice:VvKt9/iw7kxS1milYay2cPWBnRo=");
  CHECK(digest_of(":") == ":BaefBs8/Z/cm2uaNGKIpD2yaUMk=");
  // Without a ':' the whole text is the user (generateDigest's split).
  CHECK(digest_of("nocolon") == "nocolon:Ra+cHr2ZoHvBjtNArFGNGlVie4g=");
  CHECK(digest_of("") == ":2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
  // Every digest is 20 bytes: 28 base64 characters ending in one '='.
  for (int n = 0; n < 100; ++n) {
    auto d = digest_of("u:" + std::string(static_cast<size_t>(n), 'x'));
    REQUIRE(d.size() == 2 + 28);
    CHECK(d.back() == '=');
  }
}

TEST_CASE("acl: digest_of hashes raw bytes", "[acl]") {
  // python3 -c "import hashlib,base64;
  //   print(base64.b64encode(hashlib.sha1(b'u:\x00\xff').digest()).decode())"
  // gives the value below (a NUL and a high byte in the password).
  std::string s{"u:\0\xff", 4};
  auto d = digest_of(s);
  CHECK(d == "u:9DHaMARGNtw7fd5BVf3aiClV3bA=");
}

TEST_CASE("acl: authenticate accepts digest and refuses other schemes",
          "[acl]") {
  auto id = authenticate("digest", "super:secret");
  REQUIRE(id.ok());
  CHECK(id->scheme == "digest");
  CHECK(id->id == "super:lK75jTNcA+U9vtVEw5vB51mj/w4=");
  // ZooKeeper accepts any bytes as digest auth data.
  CHECK(authenticate("digest", "nocolon").ok());
  CHECK(authenticate("digest", "").ok());
  for (auto scheme : {"ip", "world", "auth", "sasl", "super", "", "Digest"})
    CHECK(authenticate(scheme, "user:password").error()
          == error_code::auth_failed);
}

// -- id validation ------------------------------------------------------------

TEST_CASE("acl: ip ids are IPv4 addresses with an optional prefix", "[acl]") {
  for (auto ok : {"10.0.0.1", "0.0.0.0", "255.255.255.255", "10.0.0.0/8",
                  "10.1.2.3/0", "10.1.2.3/32", "192.168.001.010", "1.2.3.4/08"})
    CHECK(is_valid_ip_id(ok));
  for (auto bad :
       {"",           "10",         "10.0.0",     "10.0.0.0.0", "256.0.0.1",
        "1.2.3.4/33", "1.2.3.4/",   "1.2.3.4/-1", "1.2.3.4/x",  "1.2.3.4/100",
        "1.2.3.4.",   ".1.2.3",     "1..2.3",     "a.b.c.d",    "1.2.3.4 ",
        " 1.2.3.4",   "+1.2.3.4",   "1.2.3.-4",   "1000.2.3.4", "1.2.3.4/8/8",
        "::1",        "fe80::1/64", "localhost"})
    CHECK_FALSE(is_valid_ip_id(bad));
}

TEST_CASE("acl: digest ids follow Java's split on colons", "[acl]") {
  for (auto ok : {"u:hash", ":hash",
                  "u:hash:", "u:hash::", "super:lK75jTNcA+U9vtVEw5vB51mj/w4="})
    CHECK(is_valid_digest_id(ok));
  for (auto bad : {"", "u", "u:", ":", "::", "a:b:c", "::b", "a::b"})
    CHECK_FALSE(is_valid_digest_id(bad));
}

// -- fixup_acl ----------------------------------------------------------------

TEST_CASE("acl: fixup_acl keeps valid world digest and ip entries", "[acl]") {
  auto who = client({});
  std::vector<acl_entry> acl{world(acl_perms::read), digest(31, "u:p"),
                             ip(acl_perms::write, "10.0.0.0/8"),
                             ip(0, "1.2.3.4")};
  auto fixed = fixup_acl(acl, who);
  REQUIRE(fixed.ok());
  CHECK(*fixed == acl);
  CHECK(fixup_acl(open_acl_unsafe(), who).value() == open_acl_unsafe());
  CHECK(fixup_acl(read_acl_unsafe(), who).value() == read_acl_unsafe());
}

TEST_CASE("acl: fixup_acl refuses an empty list", "[acl]") {
  CHECK(fixup_acl({}, client({digest_id("u:p")})).error()
        == error_code::invalid_acl);
}

TEST_CASE("acl: fixup_acl allows world only with anyone", "[acl]") {
  for (auto id : {"", "Anyone", "someone", "anyone "})
    CHECK(fixup_acl({entry(31, "world", id)}, client({})).error()
          == error_code::invalid_acl);
}

TEST_CASE("acl: fixup_acl expands auth to the client's ids", "[acl]") {
  auto alice = digest_id("alice:pw");
  auto bob = digest_id("bob:pw");
  auto who
    = client({acl_id{"ip", "10.1.2.3"}, alice, acl_id{"world", "anyone"}, bob});
  auto fixed = fixup_acl(creator_all_acl(), who);
  REQUIRE(fixed.ok());
  CHECK(*fixed
        == std::vector<acl_entry>{acl_entry{31, alice}, acl_entry{31, bob}});
  // The perms are the auth entry's, the id text is ignored, and the
  // expansion stays at the auth entry's place.
  auto mixed = fixup_acl({world(acl_perms::read),
                          entry(acl_perms::write, "auth", "whatever"),
                          ip(acl_perms::admin, "10.0.0.0/8")},
                         who);
  REQUIRE(mixed.ok());
  CHECK(*mixed
        == std::vector<acl_entry>{world(acl_perms::read),
                                  acl_entry{acl_perms::write, alice},
                                  acl_entry{acl_perms::write, bob},
                                  ip(acl_perms::admin, "10.0.0.0/8")});
}

TEST_CASE("acl: fixup_acl refuses auth without authenticated ids", "[acl]") {
  CHECK(fixup_acl(creator_all_acl(), client({})).error()
        == error_code::invalid_acl);
  // ip and world ids are not authenticated ones.
  auto only_ip = client({acl_id{"ip", "10.1.2.3"}, acl_id{"world", "anyone"}});
  CHECK(fixup_acl(creator_all_acl(), only_ip).error()
        == error_code::invalid_acl);
  CHECK(fixup_acl({world(31), entry(31, "auth", "")}, client({})).error()
        == error_code::invalid_acl);
}

TEST_CASE("acl: fixup_acl validates digest and ip ids", "[acl]") {
  auto who = client({});
  CHECK(fixup_acl({entry(31, "digest", "nocolon")}, who).error()
        == error_code::invalid_acl);
  CHECK(fixup_acl({entry(31, "digest", "a:b:c")}, who).error()
        == error_code::invalid_acl);
  CHECK(fixup_acl({entry(31, "digest", "")}, who).error()
        == error_code::invalid_acl);
  CHECK(fixup_acl({entry(31, "ip", "10.0.0.0/33")}, who).error()
        == error_code::invalid_acl);
  CHECK(fixup_acl({entry(31, "ip", "300.0.0.1")}, who).error()
        == error_code::invalid_acl);
  CHECK(fixup_acl({entry(31, "ip", "")}, who).error()
        == error_code::invalid_acl);
  // One bad entry spoils the whole list.
  CHECK(fixup_acl({world(31), entry(31, "ip", "x")}, who).error()
        == error_code::invalid_acl);
}

TEST_CASE("acl: fixup_acl refuses unknown schemes", "[acl]") {
  for (auto scheme : {"super", "sasl", "x509", "", "World", "DIGEST"})
    CHECK(fixup_acl({entry(31, scheme, "anyone")}, client({})).error()
          == error_code::invalid_acl);
}

TEST_CASE("acl: fixup_acl refuses perms outside 0 to 31", "[acl]") {
  for (int32_t perms : {-1, 32, 33, 64, INT32_MIN, INT32_MAX})
    CHECK(fixup_acl({world(perms)}, client({})).error()
          == error_code::invalid_acl);
  for (int32_t perms = 0; perms <= 31; ++perms)
    CHECK(fixup_acl({world(perms)}, client({})).ok());
}

TEST_CASE("acl: fixup_acl removes duplicates keeping the first", "[acl]") {
  auto d = digest(31, "u:p");
  auto fixed = fixup_acl({d, world(1), d, world(1), world(2), d}, client({}));
  REQUIRE(fixed.ok());
  CHECK(*fixed == std::vector<acl_entry>{d, world(1), world(2)});
  // Same id with other perms is not a duplicate.
  CHECK(fixup_acl({world(1), world(3)}, client({})).value().size() == 2);
  // Duplicate auth entries expand once.
  auto alice = digest_id("alice:pw");
  auto twice = fixup_acl({entry(31, "auth", ""), entry(31, "auth", "")},
                         client({alice}));
  REQUIRE(twice.ok());
  CHECK(*twice == std::vector<acl_entry>{acl_entry{31, alice}});
}

// -- allowed ------------------------------------------------------------------

TEST_CASE("acl: allowed with an empty acl allows everything", "[acl]") {
  for (auto perm : each_perm)
    CHECK(allowed({}, perm, client({}, "")));
}

TEST_CASE("acl: allowed for world anyone", "[acl]") {
  auto nobody = client({}, "");
  for (auto perm : each_perm) {
    CHECK(allowed(open_acl_unsafe(), perm, nobody));
    CHECK(allowed(read_acl_unsafe(), perm, nobody)
          == (perm == acl_perms::read));
  }
}

TEST_CASE("acl: allowed checks each permission bit", "[acl]") {
  auto nobody = client({}, "");
  for (int32_t perms = 0; perms <= 31; ++perms)
    for (auto perm : each_perm)
      CHECK(allowed({world(perms)}, perm, nobody) == ((perms & perm) != 0));
  // A request for no permission matches no entry.
  CHECK_FALSE(allowed(open_acl_unsafe(), 0, nobody));
  // Permissions from different entries do not add up per request, but any
  // entry that grants the bit suffices.
  std::vector<acl_entry> split{world(acl_perms::read), world(acl_perms::write)};
  CHECK(allowed(split, acl_perms::read, nobody));
  CHECK(allowed(split, acl_perms::write, nobody));
  CHECK_FALSE(allowed(split, acl_perms::del, nobody));
}

TEST_CASE("acl: allowed for digest ids", "[acl]") {
  std::vector<acl_entry> acl{
    digest(acl_perms::read | acl_perms::write, "alice:pw")};
  auto alice = client({digest_id("alice:pw")});
  CHECK(allowed(acl, acl_perms::read, alice));
  CHECK(allowed(acl, acl_perms::write, alice));
  CHECK_FALSE(allowed(acl, acl_perms::del, alice));
  CHECK_FALSE(allowed(acl, acl_perms::read, client({})));
  CHECK_FALSE(allowed(acl, acl_perms::read, client({digest_id("alice:x")})));
  CHECK_FALSE(allowed(acl, acl_perms::read, client({digest_id("bob:pw")})));
  // The scheme must match too.
  CHECK_FALSE(allowed(acl, acl_perms::read,
                      client({acl_id{"sasl", digest_of("alice:pw")}})));
  // Any of the client's ids will do.
  CHECK(allowed(acl, acl_perms::read,
                client({digest_id("bob:pw"), digest_id("alice:pw")})));
}

TEST_CASE("acl: allowed for ip ranges", "[acl]") {
  auto at = [](std::string address) { return client({}, std::move(address)); };
  auto r = acl_perms::read;
  CHECK(allowed({ip(r, "10.1.2.3")}, r, at("10.1.2.3")));
  CHECK_FALSE(allowed({ip(r, "10.1.2.3")}, r, at("10.1.2.4")));
  CHECK(allowed({ip(r, "10.1.2.3/32")}, r, at("10.1.2.3")));
  CHECK_FALSE(allowed({ip(r, "10.1.2.3/32")}, r, at("10.1.2.2")));
  CHECK(allowed({ip(r, "10.1.2.0/24")}, r, at("10.1.2.255")));
  CHECK(allowed({ip(r, "10.1.2.77/24")}, r, at("10.1.2.1")));
  CHECK_FALSE(allowed({ip(r, "10.1.2.0/24")}, r, at("10.1.3.0")));
  CHECK(allowed({ip(r, "10.0.0.0/8")}, r, at("10.200.0.1")));
  CHECK_FALSE(allowed({ip(r, "10.0.0.0/8")}, r, at("11.0.0.1")));
  CHECK(allowed({ip(r, "128.0.0.0/1")}, r, at("200.0.0.1")));
  CHECK_FALSE(allowed({ip(r, "128.0.0.0/1")}, r, at("127.255.255.255")));
  CHECK(allowed({ip(r, "0.0.0.0/0")}, r, at("1.2.3.4")));
  CHECK(allowed({ip(r, "9.9.9.9/0")}, r, at("255.255.255.255")));
  // No or unparsable address matches nothing, not even /0.
  CHECK_FALSE(allowed({ip(r, "0.0.0.0/0")}, r, at("")));
  CHECK_FALSE(allowed({ip(r, "0.0.0.0/0")}, r, at("::1")));
  CHECK_FALSE(allowed({ip(r, "0.0.0.0/0")}, r, at("1.2.3.4:2181")));
  // An invalid stored expression matches nothing.
  CHECK_FALSE(allowed({ip(r, "10.0.0.0/40")}, r, at("10.0.0.1")));
  // The ip entry needs the bit too.
  CHECK_FALSE(allowed({ip(r, "10.1.2.3")}, acl_perms::write, at("10.1.2.3")));
  // An "ip" id among the client's ids counts like the address.
  CHECK(
    allowed({ip(r, "10.0.0.0/8")}, r, client({acl_id{"ip", "10.9.9.9"}}, "")));
}

TEST_CASE("acl: ip_matches masks both sides", "[acl]") {
  CHECK(ip_matches("192.168.1.130", "192.168.1.128/25"));
  CHECK_FALSE(ip_matches("192.168.1.127", "192.168.1.128/25"));
  CHECK(ip_matches("192.168.1.1", "192.168.1.127/25"));
  CHECK_FALSE(ip_matches("bogus", "0.0.0.0/0"));
  CHECK_FALSE(ip_matches("1.2.3.4", "bogus"));
}

TEST_CASE("acl: super ids allow everything", "[acl]") {
  std::vector<acl_id> supers{digest_id("super:secret")};
  std::vector<acl_entry> locked{digest(31, "alice:pw")};
  auto super_user = client({digest_id("super:secret")}, "");
  for (auto perm : each_perm) {
    CHECK(allowed(locked, perm, super_user, supers));
    CHECK(allowed({world(0)}, perm, super_user, supers));
    CHECK_FALSE(allowed(locked, perm, super_user));
    CHECK_FALSE(
      allowed(locked, perm, client({digest_id("super:wrong")}, ""), supers));
  }
  // The super id must be one of the client's ids, not its address.
  CHECK_FALSE(allowed(locked, acl_perms::read, client({}, "10.0.0.1"),
                      {acl_id{"ip", "10.0.0.1"}}));
}

TEST_CASE("acl: the node's own authority allows everything", "[acl]") {
  std::vector<acl_entry> locked{digest(31, "alice:pw")};
  auto node_itself = client({}, "");
  node_itself.super = true;
  for (auto perm : each_perm) {
    CHECK(allowed(locked, perm, node_itself));
    CHECK(allowed({world(0)}, perm, node_itself));
    CHECK_FALSE(allowed(locked, perm, client({}, "")));
  }
}

TEST_CASE("acl: entries of other schemes never match", "[acl]") {
  auto who = client({acl_id{"sasl", "alice"}, acl_id{"auth", ""}}, "1.2.3.4");
  CHECK_FALSE(allowed({entry(31, "sasl", "alice")}, acl_perms::read, who));
  CHECK_FALSE(allowed({entry(31, "auth", "")}, acl_perms::read, who));
  CHECK_FALSE(allowed({entry(31, "world", "someone")}, acl_perms::read, who));
}

// -- acl_table ----------------------------------------------------------------

TEST_CASE("acl_table: index 0 is open_acl_unsafe and costs nothing", "[acl]") {
  acl_table t;
  CHECK(t.size() == 0);
  CHECK(t.index_limit() == 1);
  CHECK(t.contains(0));
  CHECK(t.get(0) == open_acl_unsafe());
  CHECK(t.intern(open_acl_unsafe()) == 0);
  CHECK(t.intern(open_acl_unsafe()) == 0);
  CHECK(t.size() == 0);
  CHECK(t.ref_count(0) == 0);
  CHECK(t.add_ref(0));
  CHECK(t.release(0));
  CHECK(t.release(0));
  CHECK(t.contains(0));
  CHECK(t.save() == acl_table{}.save());
  CHECK(t.save().size() == 24);
}

TEST_CASE("acl_table: equal lists share an index", "[acl]") {
  acl_table t;
  auto a = t.intern(list(1));
  auto b = t.intern(list(2));
  CHECK(a == 1);
  CHECK(b == 2);
  CHECK(t.intern(list(1)) == a);
  CHECK(t.intern(list(2)) == b);
  CHECK(t.size() == 2);
  CHECK(t.ref_count(a) == 2);
  CHECK(t.get(a) == list(1));
  CHECK(t.get(b) == list(2));
  // Order matters: a permutation is another list.
  auto reversed = list(1);
  std::swap(reversed[0], reversed[1]);
  CHECK(t.intern(reversed) == 3);
  // So do the perms.
  auto more = list(1);
  more[1].perms = acl_perms::all;
  CHECK(t.intern(more) == 4);
  // read_acl_unsafe and the empty list are ordinary lists.
  CHECK(t.intern(read_acl_unsafe()) == 5);
  CHECK(t.intern({}) == 6);
  CHECK(t.get(6).empty());
  CHECK(t.size() == 6);
}

TEST_CASE("acl_table: a million references store one list", "[acl]") {
  acl_table t;
  auto a = t.intern(list(7));
  for (int k = 1; k < 1000000; ++k)
    REQUIRE(t.intern(list(7)) == a);
  CHECK(t.size() == 1);
  CHECK(t.ref_count(a) == 1000000);
  for (int k = 1; k < 1000000; ++k)
    t.release(a);
  CHECK(t.contains(a));
  CHECK(t.release(a));
  CHECK_FALSE(t.contains(a));
  CHECK(t.size() == 0);
}

TEST_CASE("acl_table: refcounts free unused lists", "[acl]") {
  acl_table t;
  auto a = t.intern(list(1));
  CHECK(t.add_ref(a));
  CHECK(t.ref_count(a) == 2);
  CHECK(t.release(a));
  CHECK(t.contains(a));
  CHECK(t.release(a));
  CHECK_FALSE(t.contains(a));
  CHECK(t.ref_count(a) == 0);
  CHECK(t.size() == 0);
  CHECK(t.index_limit() == 1);
  // Free or unknown indices are refused without change.
  CHECK_FALSE(t.release(a));
  CHECK_FALSE(t.add_ref(a));
  CHECK_FALSE(t.add_ref(12345));
  CHECK_FALSE(t.release(UINT32_MAX));
  CHECK(t.save() == acl_table{}.save());
  // A freed list interned again is new (refcount 1).
  CHECK(t.intern(list(1)) == 1);
  CHECK(t.ref_count(1) == 1);
}

TEST_CASE("acl_table: free slots are reused lowest first", "[acl]") {
  acl_table t;
  for (int k = 1; k <= 5; ++k)
    REQUIRE(t.intern(list(k)) == static_cast<uint32_t>(k));
  t.release(4);
  t.release(2);
  CHECK(t.index_limit() == 6);
  CHECK(t.size() == 3);
  CHECK(t.intern(list(10)) == 2);
  CHECK(t.intern(list(11)) == 4);
  CHECK(t.intern(list(12)) == 6);
  // Trailing free slots are dropped.
  t.release(6);
  t.release(5);
  CHECK(t.index_limit() == 5);
  t.release(4);
  t.release(2);
  CHECK(t.index_limit() == 4);
  CHECK(t.intern(list(13)) == 2);
  CHECK(t.intern(list(14)) == 4);
  CHECK(t.get(1) == list(1));
  CHECK(t.get(3) == list(3));
}

TEST_CASE("acl_table: get of a free index is a broken invariant", "[acl]") {
  using conclave::test::aborts;
  CHECK(aborts([] {
    acl_table t;
    t.get(1);
  }));
  CHECK(aborts([] {
    acl_table t;
    auto a = t.intern(list(1));
    t.intern(list(2));
    t.release(a);
    t.get(a);
  }));
  CHECK_FALSE(aborts([] {
    acl_table t;
    t.get(0);
  }));
}

TEST_CASE("acl_table: save/load round trip", "[acl]") {
  auto t = sample_table();
  auto bytes = t.save();
  auto back = acl_table::load(bytes);
  REQUIRE(back.ok());
  CHECK(*back == t);
  CHECK(back->save() == bytes);
  CHECK(back->size() == t.size());
  for (uint32_t k = 0; k < t.index_limit() + 2; ++k) {
    CHECK(back->contains(k) == t.contains(k));
    CHECK(back->ref_count(k) == t.ref_count(k));
    if (t.contains(k))
      CHECK(back->get(k) == t.get(k));
  }
  // The loaded table applies like the original.
  auto t2 = t;
  auto b2 = back.value();
  CHECK(t2.intern(list(9)) == b2.intern(list(9)));
  CHECK(t2.intern(list(1)) == b2.intern(list(1)));
  CHECK(t2.save() == b2.save());
  // The empty table too.
  auto empty = acl_table::load(acl_table{}.save());
  REQUIRE(empty.ok());
  CHECK(*empty == acl_table{});
}

TEST_CASE("acl_table: the snapshot layout is pinned", "[acl]") {
  acl_table t;
  t.intern({entry(5, "ip", "1.2.3.4")});
  t.add_ref(1);
  auto bytes = t.save();
  std::string expected = "CNCLACLS";
  expected += std::string{"\x01\x00\x00\x00", 4};                 // version
  expected += std::string{"\x01\x00\x00\x00\x00\x00\x00\x00", 8}; // n
  expected += std::string{"\x02\x00\x00\x00\x00\x00\x00\x00", 8}; // refs
  expected += std::string{"\x01\x00\x00\x00", 4};                 // entries
  expected += std::string{"\x05\x00\x00\x00", 4};                 // perms
  expected += std::string{"\x02\x00\x00\x00", 4} + "ip";
  expected += std::string{"\x07\x00\x00\x00", 4} + "1.2.3.4";
  put_u32(expected, storage::crc32c::of(expected));
  CHECK(bytes == expected);
  // The empty table: header and CRC only.
  std::string empty = "CNCLACLS";
  put_u32(empty, 1);
  put_u64(empty, 0);
  put_u32(empty, storage::crc32c::of(empty));
  CHECK(acl_table{}.save() == empty);
}

TEST_CASE("acl_table: the same operations give the same bytes", "[acl]") {
  auto a = sample_table();
  auto b = sample_table();
  CHECK(a.save() == b.save());
  CHECK(a == b);
  // A different history with the same outcome also gives the same bytes:
  // the table depends on the lists in use, their indices and counts.
  acl_table c;
  c.intern(list(1));
  c.intern(list(5));
  c.release(2);
  acl_table d;
  d.intern(list(1));
  CHECK(c.save() == d.save());
}

TEST_CASE("acl_table: every truncation is data_inconsistency", "[acl]") {
  auto bytes = sample_table().save();
  for (size_t n = 0; n < bytes.size(); ++n)
    CHECK(acl_table::load(std::string_view{bytes}.substr(0, n)).error()
          == error_code::data_inconsistency);
  auto longer = bytes + '\0';
  CHECK(acl_table::load(longer).error() == error_code::data_inconsistency);
}

TEST_CASE("acl_table: every bit flip is data_inconsistency", "[acl]") {
  auto bytes = sample_table().save();
  for (size_t k = 0; k < bytes.size(); ++k)
    for (int bit = 0; bit < 8; ++bit) {
      auto damaged = bytes;
      damaged[k] = static_cast<char>(damaged[k] ^ (1 << bit));
      CHECK(acl_table::load(damaged).error() == error_code::data_inconsistency);
    }
}

TEST_CASE("acl_table: random damage never crashes", "[acl]") {
  auto bytes = sample_table().save();
  std::mt19937_64 rng{20240607};
  for (int round = 0; round < 2000; ++round) {
    auto damaged = bytes;
    auto edits = 1 + rng() % 8;
    for (uint64_t e = 0; e < edits; ++e)
      damaged[rng() % damaged.size()] = static_cast<char>(rng() & 0xFF);
    if (rng() % 2 == 0)
      damaged.resize(rng() % (damaged.size() + 1));
    auto loaded = acl_table::load(damaged);
    if (damaged == bytes)
      CHECK(loaded.ok());
    else
      CHECK(loaded.error() == error_code::data_inconsistency);
  }
}

TEST_CASE("acl_table: well-sealed but invalid snapshots are refused", "[acl]") {
  auto bad = error_code::data_inconsistency;
  auto one = slot_bytes(1, list(1));
  auto two = slot_bytes(1, list(2));
  auto free_slot = slot_bytes(0, {});
  // The helpers reproduce save() output.
  REQUIRE(acl_table::load(sealed(2, one + two)).ok());
  REQUIRE(acl_table::load(sealed(3, one + free_slot + two)).ok());
  CHECK(acl_table::load(sealed(0, "")).ok());
  // Wrong version or magic.
  CHECK(acl_table::load(sealed(1, one, 2)).error() == bad);
  auto wrong_magic = sealed(1, one);
  wrong_magic[7] = 'X';
  CHECK(acl_table::load(wrong_magic).error() == bad);
  // Counts that do not match the body.
  CHECK(acl_table::load(sealed(1, one + two)).error() == bad);
  CHECK(acl_table::load(sealed(3, one + two)).error() == bad);
  CHECK(acl_table::load(sealed(UINT64_MAX, one)).error() == bad);
  CHECK(acl_table::load(sealed(uint64_t{1} << 40, one)).error() == bad);
  // A huge entry count or string length.
  std::string huge_entries;
  put_u64(huge_entries, 1);
  put_u32(huge_entries, UINT32_MAX);
  CHECK(acl_table::load(sealed(1, huge_entries)).error() == bad);
  std::string huge_string;
  put_u64(huge_string, 1);
  put_u32(huge_string, 1);
  put_u32(huge_string, 31);
  put_u32(huge_string, UINT32_MAX);
  CHECK(acl_table::load(sealed(1, huge_string)).error() == bad);
  // A free slot with entries, a trailing free slot.
  CHECK(acl_table::load(sealed(2, slot_bytes(0, list(3)) + two)).error()
        == bad);
  CHECK(acl_table::load(sealed(2, one + free_slot)).error() == bad);
  CHECK(acl_table::load(sealed(1, free_slot)).error() == bad);
  // Duplicate lists, or index 0's list stored.
  CHECK(acl_table::load(sealed(2, one + one)).error() == bad);
  CHECK(acl_table::load(sealed(1, slot_bytes(1, open_acl_unsafe()))).error()
        == bad);
  // A used empty list is fine (it is a list like any other).
  CHECK(acl_table::load(sealed(1, slot_bytes(3, {}))).ok());
}

TEST_CASE("acl_table: matches a reference model over random operations",
          "[acl]") {
  // The model: index -> (list, refcount), lowest free index reused, trailing
  // free indices dropped.
  struct model_slot {
    std::vector<acl_entry> acl;
    uint64_t refs = 0;
  };
  std::vector<model_slot> model(1);
  auto model_intern = [&](const std::vector<acl_entry>& acl) -> uint32_t {
    if (acl == open_acl_unsafe())
      return 0;
    for (size_t k = 1; k < model.size(); ++k)
      if (model[k].refs > 0 && model[k].acl == acl) {
        ++model[k].refs;
        return static_cast<uint32_t>(k);
      }
    size_t k = 1;
    while (k < model.size() && model[k].refs > 0)
      ++k;
    if (k == model.size())
      model.emplace_back();
    model[k] = model_slot{acl, 1};
    return static_cast<uint32_t>(k);
  };
  auto model_used = [&](uint32_t k) {
    return k == 0 || (k < model.size() && model[k].refs > 0);
  };

  std::mt19937_64 rng{42};
  acl_table t;
  acl_table replica;
  for (int step = 0; step < 5000; ++step) {
    auto op = rng() % 3;
    auto index = static_cast<uint32_t>(rng() % (model.size() + 2));
    if (op == 0) {
      auto k = static_cast<int>(rng() % 12);
      auto acl = k == 11 ? open_acl_unsafe() : list(k);
      auto expected = model_intern(acl);
      REQUIRE(t.intern(acl) == expected);
      replica.intern(acl);
    } else if (op == 1) {
      auto expected = model_used(index);
      if (expected && index != 0)
        ++model[index].refs;
      REQUIRE(t.add_ref(index) == expected);
      replica.add_ref(index);
    } else {
      auto expected = model_used(index);
      if (expected && index != 0) {
        --model[index].refs;
        if (model[index].refs == 0)
          model[index].acl.clear();
        while (model.size() > 1 && model.back().refs == 0)
          model.pop_back();
      }
      REQUIRE(t.release(index) == expected);
      replica.release(index);
    }
    // Compare the whole table with the model.
    REQUIRE(t.index_limit() == model.size());
    size_t used = 0;
    for (uint32_t k = 0; k < model.size() + 1; ++k) {
      REQUIRE(t.contains(k) == model_used(k));
      if (k == 0)
        continue;
      REQUIRE(t.ref_count(k) == (k < model.size() ? model[k].refs : 0));
      if (model_used(k)) {
        REQUIRE(t.get(k) == model[k].acl);
        ++used;
      }
    }
    REQUIRE(t.size() == used);
    if (step % 250 == 0) {
      auto bytes = t.save();
      REQUIRE(bytes == replica.save());
      auto back = acl_table::load(bytes);
      REQUIRE(back.ok());
      REQUIRE(*back == t);
    }
  }
}
