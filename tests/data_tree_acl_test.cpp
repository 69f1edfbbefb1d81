// data_tree's ACL checks, case by case, in ZooKeeper's order of checks
// (PrepRequestProcessor for writes, FinalRequestProcessor for reads). The
// random differential test (data_tree_random_test.cpp) covers the same rules
// in bulk; these pin the cases that matter to users.

#include <catch2/catch.hpp>

#include "runtime/data_tree.hpp"

#include "tests/support/printers.hpp"

using namespace conclave;

namespace {

const acl_id world{"world", "anyone"};

acl_id digest(const char* user_password) {
  return {"digest", digest_of(user_password)};
}

auth_info as(std::vector<acl_id> ids, std::string ip = "127.0.0.1") {
  return auth_info{std::move(ids), std::move(ip)};
}

const auth_info nobody = as({});
const auth_info alice = as({digest("alice:pw")});

struct harness {
  data_tree tree;
  int64_t z = 0;
  int64_t now = 100'000;

  apply_result run(command_body body, const auth_info& who = nobody,
                   int64_t session = 0) {
    ++z;
    now += 10;
    return tree.apply(command{session_id{session}, std::move(body), who},
                      zxid{z}, now);
  }
  error_code create_with(std::string path, std::vector<acl_entry> acl,
                         const auth_info& who = nobody,
                         create_mode mode = create_mode::persistent) {
    return run(create_op{std::move(path), "", mode, 0, std::move(acl)}, who)
      .error;
  }
  error_code create(std::string path, const auth_info& who = nobody) {
    return create_with(std::move(path), {}, who);
  }
};

} // namespace

TEST_CASE("data_tree acl: each write needs its permission", "[data_tree]") {
  harness h;
  // One node per permission, each granting world only that one.
  struct row {
    const char* path;
    int32_t perm;
  };
  for (auto r : {row{"/r", acl_perms::read}, row{"/w", acl_perms::write},
                 row{"/c", acl_perms::create}, row{"/d", acl_perms::del},
                 row{"/a", acl_perms::admin}})
    REQUIRE(h.create_with(r.path, {{r.perm, world}}) == error_code::ok);
  // Children to delete, created while the parent still allowed it.
  REQUIRE(h.create("/d/x") == error_code::no_auth); // no CREATE on /d
  REQUIRE(h.create("/c/x") == error_code::ok);
  REQUIRE(h.create("/c/y") == error_code::ok);

  auto set = [&](const char* p) {
    return h.run(set_data_op{p, "v", any_version}).error;
  };
  auto del = [&](const char* p) {
    return h.run(delete_op{p, any_version}).error;
  };
  auto check = [&](const char* p) {
    return h.run(check_op{p, any_version}).error;
  };
  auto set_acl = [&](const char* p) {
    return h.run(set_acl_op{p, open_acl_unsafe(), any_version}).error;
  };

  CHECK(set("/w") == error_code::ok);
  for (auto p : {"/r", "/c", "/d", "/a"})
    CHECK(set(p) == error_code::no_auth);
  CHECK(check("/r") == error_code::ok);
  for (auto p : {"/w", "/c", "/d", "/a"})
    CHECK(check(p) == error_code::no_auth);
  // DELETE is the parent's: /c/x cannot go (its parent grants CREATE only).
  CHECK(del("/c/x") == error_code::no_auth);
  for (auto p : {"/w", "/c", "/d", "/a"})
    CHECK(h.create(std::string{p} + "/n")
          == (p == std::string{"/c"} ? error_code::ok : error_code::no_auth));
  // setACL needs ADMIN on the node itself.
  for (auto p : {"/r", "/w", "/c", "/d"})
    CHECK(set_acl(p) == error_code::no_auth);
  CHECK(set_acl("/a") == error_code::ok);
  CHECK(h.tree.get_acl("/a")->acl == open_acl_unsafe());
}

TEST_CASE("data_tree acl: checks come in ZooKeeper's order", "[data_tree]") {
  harness h;
  REQUIRE(h.create_with("/p", {{acl_perms::read, world}}) == error_code::ok);
  // create: an invalid ACL before a missing parent, a missing parent before
  // the parent's permission, the permission before NodeExists.
  CHECK(h.create_with("/missing/x", {{acl_perms::all, {"world", "someone"}}})
        == error_code::invalid_acl);
  CHECK(h.create("/missing/x") == error_code::no_node);
  CHECK(h.create("/p/x") == error_code::no_auth);
  // delete: the parent's DELETE before the node's existence.
  CHECK(h.run(delete_op{"/p/absent", any_version}).error
        == error_code::no_auth);
  CHECK(h.run(delete_op{"/nowhere/absent", any_version}).error
        == error_code::no_node);
  // setData: existence before permission, permission before the version.
  CHECK(h.run(set_data_op{"/absent", "", 5}).error == error_code::no_node);
  CHECK(h.run(set_data_op{"/p", "", 5}).error == error_code::no_auth);
  // setACL: invalid ACL, then existence, then ADMIN, then the version.
  CHECK(h.run(set_acl_op{"/absent", {}, any_version}).error
        == error_code::invalid_acl);
  CHECK(h.run(set_acl_op{"/absent", open_acl_unsafe(), any_version}).error
        == error_code::no_node);
  CHECK(h.run(set_acl_op{"/p", open_acl_unsafe(), 7}).error
        == error_code::no_auth);
}

TEST_CASE("data_tree acl: digest, ip and auth identities", "[data_tree]") {
  harness h;
  REQUIRE(h.create_with("/alice", {{acl_perms::all, digest("alice:pw")}})
          == error_code::ok);
  CHECK(h.create("/alice/x") == error_code::no_auth);
  CHECK(h.create("/alice/x", as({digest("alice:wrong")}))
        == error_code::no_auth);
  CHECK(h.create("/alice/x", alice) == error_code::ok);
  CHECK(h.create("/alice/y", as({digest("bob:pw"), digest("alice:pw")}))
        == error_code::ok);

  REQUIRE(h.create_with("/net", {{acl_perms::all, {"ip", "10.0.0.0/8"}}})
          == error_code::ok);
  CHECK(h.create("/net/x", as({}, "127.0.0.1")) == error_code::no_auth);
  CHECK(h.create("/net/x", as({}, "10.200.3.4")) == error_code::ok);
  CHECK(h.create("/net/y", as({}, "")) == error_code::no_auth);

  // "auth" becomes the creator's proven ids (not its address).
  CHECK(h.create_with("/mine", {{acl_perms::all, {"auth", ""}}})
        == error_code::invalid_acl);
  auto both = as({digest("alice:pw"), digest("bob:pw")});
  REQUIRE(h.create_with(
            "/mine", {{acl_perms::read | acl_perms::write, {"auth", ""}}}, both)
          == error_code::ok);
  CHECK(h.tree.get_acl("/mine")->acl
        == std::vector<acl_entry>{
          {acl_perms::read | acl_perms::write, digest("alice:pw")},
          {acl_perms::read | acl_perms::write, digest("bob:pw")}});

  // The node's own commands pass everything.
  auth_info node_itself;
  node_itself.super = true;
  CHECK(h.create("/alice/z", node_itself) == error_code::ok);
}

TEST_CASE("data_tree acl: setACL bumps aversion only", "[data_tree]") {
  harness h;
  REQUIRE(h.create("/n") == error_code::ok);
  auto before = h.tree.exists("/n").value();
  auto restricted = std::vector<acl_entry>{{acl_perms::all, digest("a:b")}};
  auto r = h.run(set_acl_op{"/n", restricted, 1});
  CHECK(r.error == error_code::bad_version);
  r = h.run(set_acl_op{"/n", restricted, 0});
  REQUIRE(r.error == error_code::ok);
  CHECK(r.results.front().stat.aversion == 1);
  CHECK(r.events.empty()); // ZooKeeper fires no watch for an ACL change
  auto after = h.tree.exists("/n").value();
  CHECK(after.aversion == 1);
  after.aversion = before.aversion;
  CHECK(after == before); // no other stat field moves
  auto acl = h.tree.get_acl("/n");
  REQUIRE(acl.ok());
  CHECK(acl->acl == restricted);
  CHECK(acl->stat.aversion == 1);
  CHECK(h.tree.acl_count() == 1);
  // Back to the open list: the stored one is freed.
  REQUIRE(
    h.run(set_acl_op{"/n", open_acl_unsafe(), any_version}, as({digest("a:b")}))
      .error
    == error_code::ok);
  CHECK(h.tree.acl_count() == 0);
}

TEST_CASE("data_tree acl: lists are shared and freed with their nodes",
          "[data_tree]") {
  harness h;
  auto acl = std::vector<acl_entry>{{acl_perms::all, {"ip", "127.0.0.1"}}};
  REQUIRE(h.create_with("/a", acl) == error_code::ok);
  REQUIRE(h.create_with("/b", acl) == error_code::ok);
  CHECK(h.tree.acl_count() == 1);
  // A failed multi takes its create (and its ACL reference) back.
  auto other = std::vector<acl_entry>{{acl_perms::read, world}};
  auto r = h.run(multi_op{
    {create_op{"/c", "", {}, 0, other}, delete_op{"/missing", any_version}}});
  CHECK(r.error == error_code::no_node);
  CHECK(h.tree.acl_count() == 1);
  REQUIRE(h.run(delete_op{"/a", any_version}).error == error_code::ok);
  CHECK(h.tree.acl_count() == 1);
  // A committed multi that deletes the last node using a list frees it.
  REQUIRE(h.run(multi_op{{delete_op{"/b", any_version}}}).error
          == error_code::ok);
  CHECK(h.tree.acl_count() == 0);
}

TEST_CASE("data_tree acl: reads are authorized by the caller", "[data_tree]") {
  harness h;
  REQUIRE(h.create_with("/s", {{acl_perms::admin, world},
                               {acl_perms::all, digest("alice:pw")}})
          == error_code::ok);
  CHECK(h.tree.authorize("/s", acl_perms::read, nobody) == error_code::no_auth);
  CHECK(h.tree.authorize("/s", acl_perms::read, alice) == error_code::ok);
  // getACL asks for READ or ADMIN: either suffices.
  CHECK(h.tree.authorize("/s", acl_perms::read | acl_perms::admin, nobody)
        == error_code::ok);
  CHECK(h.tree.authorize("/absent", acl_perms::read, alice)
        == error_code::no_node);
  CHECK(h.tree.authorize("bad", acl_perms::read, alice)
        == error_code::bad_arguments);
}

TEST_CASE("data_tree acl: the cleanup deletes due containers and TTL nodes "
          "only",
          "[data_tree]") {
  harness h;
  REQUIRE(h.run(create_op{"/c", "", create_mode::container, 0}).error
          == error_code::ok);
  REQUIRE(
    h.run(create_op{"/t", "", create_mode::persistent_with_ttl, 100000}).error
    == error_code::ok);
  REQUIRE(h.create("/plain") == error_code::ok);
  auto reap = [&](const char* p) {
    auth_info node_itself;
    node_itself.super = true;
    return h.run(delete_container_op{p}, node_itself).error;
  };
  // The cleanup takes only what is due: a container that had a child, a
  // TTL node whose TTL has passed since its last change.
  CHECK(reap("/c") == error_code::bad_version);
  REQUIRE(h.create("/c/x") == error_code::ok);
  CHECK(reap("/c") == error_code::not_empty);
  REQUIRE(h.run(delete_op{"/c/x", any_version}).error == error_code::ok);
  CHECK(reap("/plain") == error_code::bad_arguments);
  CHECK(h.tree.cleanup_candidates(h.now + 200000)
        == std::vector<std::string>{"/c", "/t"});
  CHECK(reap("/c") == error_code::ok);
  CHECK(reap("/t") == error_code::bad_version); // 100 s not yet passed
  h.now += 100000;
  CHECK(reap("/t") == error_code::ok);
  CHECK(h.tree.exists("/t").error() == error_code::no_node);
  // Without the node's authority, the parent's DELETE is needed.
  REQUIRE(h.create_with("/locked", {{acl_perms::all - acl_perms::del, world}})
          == error_code::ok);
  REQUIRE(h.run(create_op{"/locked/c", "", create_mode::container, 0}).error
          == error_code::ok);
  REQUIRE(h.create("/locked/c/x") == error_code::ok);
  REQUIRE(h.run(delete_op{"/locked/c/x", any_version}).error == error_code::ok);
  CHECK(h.run(delete_container_op{"/locked/c"}).error == error_code::no_auth);
  CHECK(reap("/locked/c") == error_code::ok);
}
