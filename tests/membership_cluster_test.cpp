// Multi-process tests of runtime membership changes (Raft §4): nodes join
// as learners, are promoted, and leave, while the cluster keeps serving.
#include <catch2/catch.hpp>

#include <chrono>
#include <atomic>
#include <csignal>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/local_cluster.hpp"

using namespace conclave;
using namespace conclave::test;
using namespace std::chrono_literals;

namespace {

pb::MemberChange change(pb::MemberChange::Kind kind, uint64_t id,
                        std::string address = {}) {
  pb::MemberChange c;
  c.set_kind(kind);
  c.set_id(id);
  c.set_address(std::move(address));
  return c;
}

pb::ReconfigRequest request(std::initializer_list<pb::MemberChange> cs) {
  pb::ReconfigRequest req;
  req.set_expected_config_id(-1);
  for (const auto& c : cs)
    *req.add_changes() = c;
  return req;
}

const pb::Member* member_of(const pb::MembershipResult& r, uint64_t id) {
  for (const auto& m : r.config().members())
    if (m.id() == id)
      return &m;
  return nullptr;
}

} // namespace

TEST_CASE("membership: a fourth node joins as a learner is promoted and "
          "leaves again",
          "[cluster][membership]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto client = cluster.client_all();
  REQUIRE(client->create("/before", "x").ok());
  auto n4 = cluster.add_node({"--conclave.initial-cluster-state=existing"});
  auto addr4 = cluster.peer(n4).substr(cluster.peer(n4).find('@') + 1);
  auto r = client->reconfig(
    request({change(pb::MemberChange::ADD_LEARNER, 4, addr4)}));
  INFO(r.message);
  REQUIRE(r.ok());
  REQUIRE(member_of(r.value, 4));
  CHECK(member_of(r.value, 4)->role() == pb::MEMBER_LEARNER);
  REQUIRE(client->create("/after-learner", "y").ok());
  auto learner = cluster.client(n4);
  REQUIRE(learner->sync("/").ok());
  CHECK(learner->get("/before").ok());
  CHECK(learner->get("/after-learner").ok());
  r = client->reconfig(request({change(pb::MemberChange::PROMOTE, 4)}));
  INFO(r.message);
  REQUIRE(r.ok());
  CHECK(member_of(r.value, 4)->role() == pb::MEMBER_VOTER);
  CHECK(r.value.committed());
  REQUIRE(client->create("/after-promote", "z").ok());
  r = client->reconfig(request({change(pb::MemberChange::REMOVE, 4)}));
  INFO(r.message);
  REQUIRE(r.ok());
  CHECK_FALSE(member_of(r.value, 4));
  cluster.stop(n4, SIGTERM);
  REQUIRE(client->create("/after-remove", "w").ok());
}

TEST_CASE("membership: removing the leader through a follower answers ok "
          "although the leader steps down while answering",
          "[cluster][membership]") {
  local_cluster cluster{3};
  auto leader = cluster.wait_for_leader(20s);
  REQUIRE(leader >= 0);
  // Node 3 leads; the client talks to node 1 only, which forwards.
  if (leader != 2) {
    auto t = cluster.client(static_cast<size_t>(leader))->transfer_leader(3);
    INFO(t.message);
    REQUIRE(t.ok());
    REQUIRE(cluster.wait_for_leader(20s) == 2);
  }
  auto client = cluster.client(0);
  REQUIRE(client->create("/before", "x").ok());
  auto r = client->reconfig(request({change(pb::MemberChange::REMOVE, 3)}));
  INFO(r.message);
  REQUIRE(r.ok());
  CHECK_FALSE(member_of(r.value, 3));
  CHECK(r.value.committed());
  CHECK(r.value.applied() == 1);
  cluster.stop(2, SIGTERM);
  REQUIRE(client->create("/after", "y").ok());
  auto members = client->members();
  REQUIRE(members.ok());
  CHECK(members.value.config().members_size() == 2);
}

namespace {

/// Creates /load/w-<n> for n = 1, 2, ... until stopped, each until
/// acknowledged (a retry that meets node_exists was acknowledged before);
/// counts acknowledgements and records any session expiry.
struct write_load {
  explicit write_load(std::unique_ptr<blocking_client> c)
      : client(std::move(c)) {
    REQUIRE(client->create("/load", "").ok());
    thread = std::thread{[this] { run(); }};
  }

  ~write_load() { finish(); }

  void finish() {
    stop = true;
    if (thread.joinable())
      thread.join();
  }

  void run() {
    uint64_t n = 1;
    while (!stop) {
      auto r = client->create("/load/w-" + std::to_string(n), "v");
      if (r.ok() || r.error == error_code::node_exists) {
        acked = n++;
        continue;
      }
      if (r.error == error_code::session_expired)
        expired = true;
      std::lock_guard<std::mutex> guard{mutex};
      last_error = r.message;
    }
  }

  std::string why() {
    std::lock_guard<std::mutex> guard{mutex};
    return "acknowledged " + std::to_string(acked.load()) + ", expired "
           + (expired ? "yes" : "no") + ", last error: " + last_error;
  }

  /// Waits until `more` writes past the current count are acknowledged.
  bool progresses(uint64_t more, std::chrono::seconds timeout = 60s) {
    auto target = acked.load() + more;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (acked.load() < target)
      if (std::chrono::steady_clock::now() > deadline) {
        UNSCOPED_INFO("write load: " << why());
        return false;
      } else {
        std::this_thread::yield();
      }
    return true;
  }

  std::unique_ptr<blocking_client> client;
  std::atomic<uint64_t> acked{0};
  std::atomic<bool> expired{false};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::string last_error;
  std::thread thread;
};

std::string address_of(local_cluster& cluster, size_t i) {
  auto p = cluster.peer(i);
  return p.substr(p.find('@') + 1);
}

/// Starts a new node that joins the running cluster, and adds it.
size_t join(local_cluster& cluster, blocking_client& admin,
            pb::MemberChange::Kind kind) {
  auto i = cluster.add_node({"--conclave.initial-cluster-state=existing"});
  auto r
    = admin.reconfig(request({change(kind, i + 1, address_of(cluster, i))}));
  INFO("adding node " << i + 1 << ": " << r.message);
  REQUIRE(r.ok());
  return i;
}

void leave(local_cluster& cluster, blocking_client& admin, size_t i) {
  auto r = admin.reconfig(request({change(pb::MemberChange::REMOVE, i + 1)}));
  INFO("removing node " << i + 1 << ": " << r.message);
  REQUIRE(r.ok());
  REQUIRE_FALSE(member_of(r.value, i + 1));
  cluster.stop(i, SIGTERM);
}

std::set<uint64_t> voters_of(const pb::MembershipResult& r) {
  std::set<uint64_t> out;
  for (const auto& m : r.config().members())
    if (m.role() == pb::MEMBER_VOTER)
      out.insert(m.id());
  return out;
}

} // namespace

TEST_CASE("membership: under a steady write load the cluster grows to five "
          "replaces a node shrinks to three and adds and removes a learner",
          "[cluster][membership]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  // Requests go to whichever of nodes 1 and 2 answers (node 3 is replaced).
  auto admin = cluster.client_all();
  // A session that must survive every change: its ephemeral stays.
  auto holder = cluster.client_all(5s);
  REQUIRE(holder->create("/held", "", create_mode::ephemeral).ok());
  write_load load{cluster.client_all(5s)};
  REQUIRE(load.progresses(20));
  // Grow 3 -> 5.
  auto n4 = join(cluster, *admin, pb::MemberChange::ADD_VOTER);
  REQUIRE(load.progresses(20));
  auto n5 = join(cluster, *admin, pb::MemberChange::ADD_VOTER);
  REQUIRE(load.progresses(20));
  auto members = admin->members();
  REQUIRE(members.ok());
  CHECK(voters_of(members.value) == std::set<uint64_t>{1, 2, 3, 4, 5});
  // Replace node 3 by node 6.
  leave(cluster, *admin, 2);
  auto n6 = join(cluster, *admin, pb::MemberChange::ADD_VOTER);
  REQUIRE(load.progresses(20));
  // Shrink 5 -> 3 (one of them may lead: it hands over).
  leave(cluster, *admin, n4);
  REQUIRE(load.progresses(20));
  leave(cluster, *admin, n5);
  REQUIRE(load.progresses(20));
  members = admin->members();
  REQUIRE(members.ok());
  CHECK(voters_of(members.value) == std::set<uint64_t>{1, 2, n6 + 1});
  // A learner serves reads of everything, then leaves.
  auto n7 = join(cluster, *admin, pb::MemberChange::ADD_LEARNER);
  REQUIRE(load.progresses(20));
  auto reader = cluster.client(n7);
  reader->set_linearizable(true);
  auto seen = load.acked.load();
  auto got = reader->get("/load/w-" + std::to_string(seen));
  INFO(got.message);
  CHECK(got.ok());
  leave(cluster, *admin, n7);
  REQUIRE(load.progresses(20));
  // A node restarted with a stale config file (its peers name nodes 1..7)
  // follows the membership in its log.
  REQUIRE(cluster.stop(0, SIGTERM) == 0);
  cluster.start(0);
  REQUIRE(load.progresses(20));
  members = admin->members();
  REQUIRE(members.ok());
  CHECK(voters_of(members.value) == std::set<uint64_t>{1, 2, n6 + 1});
  load.finish();
  CHECK_FALSE(load.expired);
  // Every acknowledged write is there, on every remaining member.
  auto acked = load.acked.load();
  for (size_t i : {size_t{0}, size_t{1}, n6}) {
    auto c = cluster.client(i);
    REQUIRE(c->sync("/").ok());
    auto kids = c->children("/load");
    REQUIRE(kids.ok());
    std::set<std::string> names{kids.value.names.begin(),
                                kids.value.names.end()};
    uint64_t missing = 0;
    for (uint64_t n = 1; n <= acked; ++n)
      missing += names.count("w-" + std::to_string(n)) == 0 ? 1 : 0;
    INFO("node " << i + 1 << ": " << acked << " acknowledged writes");
    CHECK(missing == 0);
  }
  // The held session never expired.
  auto held = holder->exists("/held");
  CHECK(held.ok());
  CHECK(held.value.ephemeral_owner != 0);
}
