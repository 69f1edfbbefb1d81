// Multi-process tests of backups and membership changes, driven by the real
// conclavectl binary against real conclave-node processes on loopback (free
// ports, always stopped): `snapshot save` from a running three-node cluster
// and `snapshot restore` into a new single-node cluster that must serve the
// same tree; `members list/add/promote/remove` with a fourth node that
// joins the running cluster while a client keeps writing.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/acl.hpp"
#include "runtime/storage/file.hpp"
#include "runtime/storage/restore.hpp"
#include "runtime/storage/snapshot_store.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/file_bytes.hpp"
#include "tests/support/local_cluster.hpp"
#include "tests/support/temp_dir.hpp"

using namespace conclave;
using namespace conclave::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string bin_dir = CONCLAVE_BIN_DIR;

using clock_type = std::chrono::steady_clock;

run_result ctl(const std::string& server, std::vector<std::string> args,
               std::chrono::milliseconds timeout = 60s) {
  std::vector<std::string> argv{bin_dir + "/conclavectl", "--server", server};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, timeout);
}

/// Retries `f` (a reply-returning call) while it fails with connection
/// loss, until the deadline.
template <class F>
auto retrying(F f, std::chrono::milliseconds within = 20s) {
  auto deadline = clock_type::now() + within;
  auto r = f();
  while (!r && r.error == error_code::connection_loss
         && clock_type::now() < deadline)
    r = f();
  return r;
}

/// What must survive a backup: data, stat and ACL of one znode.
struct znode {
  std::string data;
  conclave::stat stat;
  std::vector<acl_entry> acl;
};

/// Every znode below `root` (included), depth-first; /zookeeper is left out
/// (it describes the cluster, not the application's data).
void collect(blocking_client& c, const std::string& path,
             std::map<std::string, znode>& out) {
  if (path == "/zookeeper")
    return;
  auto d = c.get(path);
  REQUIRE(d);
  auto a = c.get_acl(path);
  REQUIRE(a);
  out[path] = znode{d.value.data, d.value.stat, a.value.acl};
  auto kids = c.children(path);
  REQUIRE(kids);
  for (const auto& k : kids.value.names)
    collect(c, path == "/" ? "/" + k : path + "/" + k, out);
}

std::string seq_name(const std::string& prefix, int32_t n) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%010d", n);
  return prefix + buf;
}

/// The line of the `members list` table for node `id` ("" if none).
std::string member_row(const std::string& table, uint64_t id) {
  auto prefix = std::to_string(id) + " ";
  size_t pos = 0;
  while (pos < table.size()) {
    auto end = table.find('\n', pos);
    auto line = table.substr(pos, end == std::string::npos ? std::string::npos
                                                           : end - pos);
    if (line.rfind(prefix, 0) == 0)
      return line;
    if (end == std::string::npos)
      break;
    pos = end + 1;
  }
  return {};
}

const pb::Member* find_member(const pb::MembershipResult& m, uint64_t id) {
  for (const auto& member : m.config().members())
    if (member.id() == id)
      return &member;
  return nullptr;
}

} // namespace

TEST_CASE("backup: snapshot save of a running cluster restores into a new "
          "single-node cluster with every znode stat and ACL",
          "[cluster][backup]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto c = cluster.client_all();
  REQUIRE(retrying([&] { return c->add_auth("digest", "alice:pw"); }));

  // A tree with data, versions, ACLs, sequential children, nesting, a multi.
  REQUIRE(retrying([&] { return c->create("/app", "root"); }));
  REQUIRE(c->create("/app/config", "cfg-v1"));
  REQUIRE(c->set("/app/config", "cfg-v2"));
  REQUIRE(c->set_acl("/app/config",
                     {acl_entry{acl_perms::all, acl_id{"world", "anyone"}}}));
  REQUIRE(c->create("/app/secret", "s3cret", create_mode::persistent, 0,
                    {acl_entry{acl_perms::all, acl_id{"auth", ""}}}));
  REQUIRE(c->create(
    "/app/shared", "for bob", create_mode::persistent, 0,
    {acl_entry{acl_perms::read, acl_id{"digest", digest_of("bob:pw2")}},
     acl_entry{acl_perms::all, acl_id{"digest", digest_of("alice:pw")}}}));
  REQUIRE(c->create("/app/jobs", ""));
  std::vector<std::string> jobs;
  for (int i = 0; i < 3; ++i) {
    auto r = c->create("/app/jobs/job-", "job " + std::to_string(i),
                       create_mode::persistent_sequential);
    REQUIRE(r);
    jobs.push_back(r.value);
  }
  REQUIRE(c->remove(jobs[1]));
  REQUIRE(c->create("/app/a", "A"));
  REQUIRE(c->create("/app/a/b", "B"));
  REQUIRE(c->create("/app/a/b/c", "C"));
  REQUIRE(c->create("/app/a/b/c/d", std::string(3000, 'd')));
  auto m = c->multi({create_op{"/app/m1", "one"}, create_op{"/app/m2", "two"},
                     set_data_op{"/app/config", "cfg-v3", 1}});
  REQUIRE(m);
  // Everything applied everywhere before the backup.
  auto leader = cluster.wait_for_leader(20s);
  REQUIRE(leader >= 0);
  auto ls = cluster.status(static_cast<size_t>(leader));
  REQUIRE(ls);
  REQUIRE(cluster.wait_applied(ls->commit_index(), 20s));

  std::map<std::string, znode> before;
  collect(*c, "/", before);
  REQUIRE(before.count("/app/secret") == 1);
  REQUIRE(before.at("/app/jobs").stat.cversion == 4); // 3 creates, 1 delete
  REQUIRE(before.at("/app/config").stat.version == 2);
  REQUIRE(before.at("/app/config").stat.aversion == 1);
  REQUIRE(before.at("/app/secret").acl.size() == 1);
  CHECK(before.at("/app/secret").acl[0].id.scheme == "digest");

  // conclavectl snapshot save, from a follower (any node works).
  temp_dir backup_dir;
  auto file = backup_dir.path + "/backup.snap";
  auto follower = static_cast<size_t>((leader + 1) % 3);
  auto saved = ctl(cluster.server(follower), {"snapshot", "save", file});
  INFO("save stdout: " << saved.out << "\nsave stderr: " << saved.err);
  REQUIRE(saved.exit_code == 0);
  CHECK_FALSE(fs::exists(file + ".tmp"));
  auto info = storage::verify_snapshot_file(file);
  REQUIRE(info);
  CHECK(info->meta.index.value() >= ls->commit_index());
  CHECK(saved.out.find("index     " + std::to_string(info->meta.index.value()))
        != std::string::npos);
  CHECK(saved.out.find("term      " + std::to_string(info->meta.term.value()))
        != std::string::npos);
  CHECK(saved.out.find("bytes     " + std::to_string(info->file_bytes))
        != std::string::npos);
  CHECK(saved.out.find("checksum  " + storage::hex32(info->checksum))
        != std::string::npos);
  // --json names the same file.
  auto saved_json = ctl(cluster.server(follower),
                        {"--json", "snapshot", "save", file + ".2"});
  REQUIRE(saved_json.exit_code == 0);
  CHECK(saved_json.out.find("\"ok\":true") != std::string::npos);
  CHECK(saved_json.out.find("\"checksum\":\"0x") != std::string::npos);
  CHECK(storage::verify_snapshot_file(file + ".2"));

  // The old cluster goes away; a new single-node cluster starts from the
  // backup.
  int64_t max_old_zxid = 0;
  for (const auto& [path, z] : before)
    max_old_zxid
      = std::max({max_old_zxid, z.stat.mzxid, z.stat.czxid, z.stat.pzxid});
  c.reset();
  for (size_t i = 0; i < 3; ++i)
    cluster.stop(i, SIGTERM);

  local_cluster fresh{1, {}, false};
  auto restored
    = run({bin_dir + "/conclavectl", "snapshot", "restore", file, "--data-dir",
           fresh.data_dir(0), "--id", "1", "--peers", fresh.peer(0)});
  INFO("restore stdout: " << restored.out
                          << "\nrestore stderr: " << restored.err);
  REQUIRE(restored.exit_code == 0);
  CHECK(restored.out.find("checksum  " + storage::hex32(info->checksum))
        != std::string::npos);
  // Refused: a non-empty directory, a damaged file (named, with an offset).
  auto again
    = run({bin_dir + "/conclavectl", "snapshot", "restore", file, "--data-dir",
           fresh.data_dir(0), "--id", "1", "--peers", fresh.peer(0)});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("not empty") != std::string::npos);
  {
    auto bytes = read_file(file);
    bytes[bytes.size() / 2] ^= 0x01;
    write_file(file + ".bad", bytes);
    temp_dir scratch;
    auto bad = run({bin_dir + "/conclavectl", "snapshot", "restore",
                    file + ".bad", "--data-dir", scratch.path + "/d", "--id",
                    "1", "--peers", "1@127.0.0.1:1"});
    CHECK(bad.exit_code == 1);
    CHECK(bad.err.find(file + ".bad") != std::string::npos);
    CHECK(bad.err.find("at byte ") != std::string::npos);
    CHECK_FALSE(fs::exists(scratch.path + "/d"));
    auto usage = run({bin_dir + "/conclavectl", "snapshot", "restore", file,
                      "--data-dir", scratch.path + "/d", "--id", "2", "--peers",
                      "1@127.0.0.1:1"});
    CHECK(usage.exit_code == 2); // --id not among --peers
  }

  fresh.start(0);
  REQUIRE(fresh.wait_for_leader(20s) == 0);
  auto r = fresh.client_all();
  REQUIRE(retrying([&] { return r->add_auth("digest", "alice:pw"); }));
  std::map<std::string, znode> after;
  collect(*r, "/", after);
  REQUIRE(after.size() == before.size());
  for (const auto& [path, z] : before) {
    INFO("znode " << path);
    REQUIRE(after.count(path) == 1);
    const auto& y = after.at(path);
    CHECK(y.data == z.data);
    CHECK(y.stat.czxid == z.stat.czxid);
    CHECK(y.stat.mzxid == z.stat.mzxid);
    CHECK(y.stat.pzxid == z.stat.pzxid);
    CHECK(y.stat.version == z.stat.version);
    CHECK(y.stat.cversion == z.stat.cversion);
    CHECK(y.stat.aversion == z.stat.aversion);
    CHECK(y.stat.ctime_ms == z.stat.ctime_ms);
    CHECK(y.stat.mtime_ms == z.stat.mtime_ms);
    CHECK(y.stat.num_children == z.stat.num_children);
    CHECK(y.stat.data_length == z.stat.data_length);
    CHECK(y.stat.ephemeral_owner == 0);
    CHECK(y.acl == z.acl);
  }

  // ACLs are enforced as before: without alice's identity, no access.
  {
    auto anon = fresh.client_all();
    auto denied = retrying([&] { return anon->get("/app/secret"); });
    CHECK(denied.error == error_code::no_auth);
    auto open = anon->get("/app/config");
    REQUIRE(open);
    CHECK(open.value.data == "cfg-v3");
  }

  // The parent's sequence counter (creates seen, deletes not counted, as
  // in ZooKeeper: data_tree.cpp) continues where it was, and new writes
  // get zxids above every restored one.
  auto next = retrying([&] {
    return r->create("/app/jobs/job-", "job 3",
                     create_mode::persistent_sequential);
  });
  REQUIRE(next);
  CHECK(next.value == seq_name("/app/jobs/job-", 3));
  CHECK(next.value > jobs.back());
  auto st = r->exists(next.value);
  REQUIRE(st);
  CHECK(st.value.czxid > max_old_zxid);
  auto set = r->set("/app/a/b", "B2", 0);
  REQUIRE(set);
  CHECK(set.value.version == 1);
}

TEST_CASE("members: a node joins a running cluster as a learner then is "
          "promoted and listed and removed while writes go on",
          "[cluster][members]") {
  local_cluster cluster{3};
  auto leader = cluster.wait_for_leader(20s);
  REQUIRE(leader >= 0);
  auto servers = cluster.servers();

  // A client writes back to back the whole time.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> unexpected{0};
  std::mutex mutex; // guards acked and first_error
  std::condition_variable progress;
  int64_t acked = 0;
  std::string first_error;
  auto writer_client = cluster.client_all();
  std::thread writer{[&] {
    for (int64_t i = 0; !stop; ++i) {
      auto path = "/load-" + std::to_string(i);
      for (;;) {
        auto w = writer_client->create(path, "x");
        if (w || w.error == error_code::node_exists) {
          {
            std::lock_guard<std::mutex> guard{mutex};
            ++acked;
          }
          progress.notify_all();
          break;
        }
        if (w.error != error_code::connection_loss
            && w.error != error_code::operation_timeout) {
          std::lock_guard<std::mutex> guard{mutex};
          if (first_error.empty())
            first_error = std::string{to_string(w.error)} + ": " + w.message;
          ++unexpected;
          break;
        }
        if (stop)
          return;
      }
    }
  }};
  struct joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~joiner() {
      stop = true;
      if (t.joinable())
        t.join();
    }
  } join_writer{stop, writer};
  /// Waits until the writer has acknowledged `n` more writes.
  auto writes_go_on = [&](int64_t n) {
    std::unique_lock<std::mutex> lock{mutex};
    auto target = acked + n;
    return progress.wait_for(lock, 30s, [&] { return acked >= target; });
  };
  REQUIRE(writes_go_on(5));

  // The list: three voters, one leader.
  auto list = ctl(servers, {"members", "list"});
  INFO("list: " << list.out << list.err);
  REQUIRE(list.exit_code == 0);
  for (uint64_t id = 1; id <= 3; ++id) {
    auto row = member_row(list.out, id);
    INFO("row " << id << ": " << row);
    CHECK(row.find("voter") != std::string::npos);
    CHECK(row.find(cluster.peer(id - 1).substr(2)) != std::string::npos);
  }
  {
    auto row = member_row(list.out, static_cast<uint64_t>(leader) + 1);
    CHECK((!row.empty() && row.back() == '*'));
  }
  CHECK(list.out.find("config index ") != std::string::npos);
  CHECK(member_row(list.out, 4).empty());

  // Node 4 starts empty and waits for the cluster to add it.
  auto four = cluster.add_node({"--conclave.initial-cluster-state=existing"});
  REQUIRE(four == 3);
  auto add = ctl(servers, {"members", "add", cluster.peer(3), "--learner",
                           "--client", cluster.zk_server(3)});
  INFO("add: " << add.out << add.err);
  REQUIRE(add.exit_code == 0);
  CHECK(add.out.find("Added node 4 as a learner") != std::string::npos);
  {
    auto row = member_row(add.out, 4);
    INFO("row: " << row);
    CHECK(row.find("learner") != std::string::npos);
    CHECK(row.find(cluster.zk_server(3)) != std::string::npos);
  }
  // It catches up with the leader's log.
  auto admin = cluster.client_all();
  auto caught_up = [&] {
    auto deadline = clock_type::now() + 30s;
    while (clock_type::now() < deadline) {
      auto mem = admin->members();
      auto s4 = cluster.status(3);
      if (mem && s4 && s4->applied_index() + 5 >= mem.value.commit_index()
          && s4->applied_index() > 0)
        return true;
    }
    return false;
  };
  REQUIRE(caught_up());
  REQUIRE(writes_go_on(5));
  // A learner serves reads of what was written before it joined.
  {
    auto c4 = cluster.client(3);
    auto r = retrying([&] { return c4->get("/load-0"); });
    REQUIRE(r);
    CHECK(r.value.data == "x");
  }
  auto json = ctl(servers, {"--json", "members", "list"});
  REQUIRE(json.exit_code == 0);
  CHECK(json.out.find("{\"id\":4,\"role\":\"learner\"") != std::string::npos);
  CHECK(json.out.find("\"committed\":true") != std::string::npos);

  // Promoted: a voter now.
  auto promote = ctl(servers, {"members", "promote", "4"});
  INFO("promote: " << promote.out << promote.err);
  REQUIRE(promote.exit_code == 0);
  CHECK(member_row(promote.out, 4).find("voter") != std::string::npos);
  {
    auto mem = admin->members();
    REQUIRE(mem);
    auto m4 = find_member(mem.value, 4);
    REQUIRE(m4);
    CHECK(m4->role() == pb::MEMBER_VOTER);
    CHECK(m4->address() == cluster.peer(3).substr(2));
    CHECK(mem.value.config().members_size() == 4);
  }
  list = ctl(servers, {"members", "list"});
  REQUIRE(list.exit_code == 0);
  CHECK(member_row(list.out, 4).find("voter") != std::string::npos);
  REQUIRE(writes_go_on(5));

  // Errors: ZooKeeper-style exit code 1, usage errors 2.
  auto unknown = ctl(servers, {"members", "promote", "9"});
  CHECK(unknown.exit_code == 1);
  CHECK(ctl(servers, {"members", "add", "4-127.0.0.1:1"}).exit_code == 2);
  CHECK(ctl(servers, {"members", "frobnicate"}).exit_code == 2);

  // Removed: three voters again, and the cluster keeps taking writes.
  auto remove = ctl(servers, {"members", "remove", "4"});
  INFO("remove: " << remove.out << remove.err);
  REQUIRE(remove.exit_code == 0);
  CHECK(member_row(remove.out, 4).empty());
  {
    auto mem = admin->members();
    REQUIRE(mem);
    CHECK(find_member(mem.value, 4) == nullptr);
    CHECK(mem.value.config().members_size() == 3);
    CHECK(mem.value.committed());
  }
  REQUIRE(writes_go_on(5));
  cluster.stop(3, SIGTERM);
  REQUIRE(writes_go_on(5));
  stop = true;
  writer.join();
  std::lock_guard<std::mutex> guard{mutex};
  INFO("first unexpected write error: " << first_error);
  CHECK(unexpected.load() == 0);
}
