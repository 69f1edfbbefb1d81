#include <catch2/catch.hpp>

#include "runtime/command_codec.hpp"

using namespace conclave;

TEST_CASE("command_codec: every command body survives a round trip",
          "[codec]") {
  auth_info alice{{{"digest", digest_of("alice:pw")}}, "10.0.0.1"};
  std::vector<acl_entry> acl{{acl_perms::read, {"world", "anyone"}},
                             {acl_perms::all, {"auth", ""}}};
  std::vector<command> commands = {
    {session_id{7}, create_op{"/a", "data", create_mode::ephemeral, 0}},
    {session_id{7}, create_op{"/a", "", create_mode::persistent, 0, acl},
     alice},
    {session_id{0},
     create_op{"/t", "", create_mode::persistent_sequential_with_ttl, 5000}},
    {session_id{1}, delete_op{"/a", 3}},
    {session_id{1}, set_data_op{"/a", std::string("\0\1\2", 3), any_version}},
    {session_id{1}, check_op{"/a", 9}},
    {session_id{2},
     multi_op{{create_op{"/m", "x", create_mode::container, 0, acl},
               check_op{"/m", 0}, set_data_op{"/m", "y", 0},
               delete_op{"/m", 1}}}},
    {session_id{3}, close_session_op{}},
    {session_id{4}, set_acl_op{"/a", acl, 3}, alice},
    {session_id{0}, delete_container_op{"/c"}, auth_info{{}, {}, true}},
  };
  for (const auto& cmd : commands) {
    auto encoded = encode(cmd);
    CHECK(encoded.format_version() == command_format_version);
    // Through the bytes, as the log stores it.
    pb::Command parsed;
    REQUIRE(parsed.ParseFromString(encoded.SerializeAsString()));
    auto decoded = decode(parsed);
    REQUIRE(decoded);
    CHECK(decoded->session == cmd.session);
    CHECK(decoded->body.index() == cmd.body.index());
    CHECK(decoded->auth == cmd.auth);
    CHECK(encode(*decoded).SerializeAsString() == encoded.SerializeAsString());
  }
}

TEST_CASE("command_codec: refuses unknown format versions and empty bodies",
          "[codec]") {
  auto cmd = encode(command{session_id{1}, delete_op{"/a", -1}});
  cmd.set_format_version(command_format_version + 1);
  CHECK(decode(cmd).error() == error_code::data_inconsistency);
  cmd.set_format_version(0);
  CHECK(decode(cmd).error() == error_code::data_inconsistency);
  pb::Command empty;
  empty.set_format_version(command_format_version);
  CHECK(decode(empty).error() == error_code::bad_arguments);
  auto bad_mode = encode(command{session_id{1}, create_op{"/a", "", {}, 0}});
  bad_mode.mutable_create()->set_mode(static_cast<pb::CreateMode>(42));
  CHECK(decode(bad_mode).error() == error_code::bad_arguments);
}

TEST_CASE("command_codec: ACLs and identities survive exactly", "[codec]") {
  std::vector<acl_entry> acl{{acl_perms::all, {"digest", "u:h"}},
                             {acl_perms::read, {"ip", "10.0.0.0/8"}}};
  auth_info who{{{"digest", "u:h"}, {"digest", "v:k"}}, "127.0.0.1"};
  auto decoded
    = decode(encode(command{session_id{1}, set_acl_op{"/a", acl, 2}, who}));
  REQUIRE(decoded);
  CHECK(decoded->auth == who);
  const auto& op = std::get<set_acl_op>(decoded->body);
  CHECK(op.path == "/a");
  CHECK(op.acl == acl);
  CHECK(op.version == 2);
}

TEST_CASE("command_codec: version-1 commands decode with nobody's auth",
          "[codec]") {
  // A version-1 command has no auth field: it applies as world, with no
  // address, which is all a version-1 node ever checked (nothing).
  auto cmd = encode(command{session_id{1}, delete_op{"/a", -1}});
  cmd.set_format_version(1);
  auto decoded = decode(cmd);
  REQUIRE(decoded);
  CHECK(decoded->auth == auth_info{});
}

TEST_CASE("command_codec: requests classify into reads and writes", "[codec]") {
  pb::Request req;
  req.mutable_get_data()->set_path("/a");
  CHECK_FALSE(is_write(req));
  CHECK(write_of(req).error() == error_code::bad_arguments);
  req.mutable_set_data()->set_path("/a");
  CHECK(is_write(req));
  auto body = write_of(req);
  REQUIRE(body);
  CHECK(std::get<set_data_op>(*body).path == "/a");
}

TEST_CASE("command_codec: responses carry results, errors and zxids",
          "[codec]") {
  data_tree tree;
  command create{session_id{0}, create_op{"/a", "x", {}, 0}};
  auto res = tree.apply(create, zxid{1}, 1000);
  auto resp = to_response(create, res, zxid{1});
  CHECK(resp.error() == 0);
  CHECK(resp.zxid() == 1);
  CHECK(resp.op().path() == "/a");
  CHECK(decode(resp.op().stat()) == tree.exists("/a").value());

  command again = create;
  auto dup = tree.apply(again, zxid{2}, 1001);
  auto dup_resp = to_response(again, dup, zxid{2});
  CHECK(dup_resp.error() == static_cast<int>(error_code::node_exists));
  CHECK_THAT(dup_resp.message(),
             Catch::Contains("already exists") && Catch::Contains("/a"));

  command multi{session_id{0},
                multi_op{{create_op{"/b", "", {}, 0}, delete_op{"/zz", -1},
                          create_op{"/c", "", {}, 0}}}};
  auto mres = tree.apply(multi, zxid{3}, 1002);
  auto mresp = to_response(multi, mres, zxid{3});
  CHECK(mresp.error() == static_cast<int>(error_code::no_node));
  REQUIRE(mresp.multi().results_size() == 3);
  CHECK(mresp.multi().results(0).error() == 0);
  CHECK(mresp.multi().results(1).error()
        == static_cast<int>(error_code::no_node));
  CHECK(mresp.multi().results(2).error()
        == static_cast<int>(error_code::runtime_inconsistency));
  CHECK_THAT(mresp.message(),
             Catch::Contains("op 2") && Catch::Contains("/zz"));
}
