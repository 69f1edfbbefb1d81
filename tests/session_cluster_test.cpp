// Multi-process tests of sessions, ephemeral registrations and watches
// against real conclave-node processes (tests/support/local_cluster): what a
// service registry's users rely on when processes and nodes die.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/child_process.hpp"
#include "tests/support/local_cluster.hpp"

using namespace conclave;
using namespace conclave::test;
using namespace std::chrono_literals;

namespace {

const std::string bin_dir = CONCLAVE_BIN_DIR;

using steady = std::chrono::steady_clock;

/// Collects what a service subscriber receives, for the test thread.
struct service_log {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::pair<std::string, std::string>> events; // (kind, id)
  std::map<std::string, steady::time_point> down_at;

  void add(std::string kind, const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    if (kind == "down")
      down_at.emplace(id, steady::now());
    events.emplace_back(std::move(kind), id);
    cv.notify_all();
  }

  /// Waits until (kind, id) arrived or the deadline passed.
  bool wait(const std::string& kind, const std::string& id,
            std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, timeout, [&] {
      for (const auto& e : events)
        if (e.first == kind && e.second == id)
          return true;
      return false;
    });
  }

  size_t count(const std::string& kind, const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    size_t n = 0;
    for (const auto& e : events)
      n += e.first == kind && e.second == id ? 1 : 0;
    return n;
  }
};

service_listener::behavior_type recorder(std::shared_ptr<service_log> log) {
  return {
    [=](const service_up& x) { log->add("up", x.instance.id()); },
    [=](const service_down& x) { log->add("down", x.instance.id()); },
    [=](const service_changed& x) { log->add("changed", x.instance.id()); },
  };
}

/// A registered service instance in its own process.
std::unique_ptr<child_process> start_instance(const std::string& servers,
                                              const std::string& service,
                                              const std::string& id,
                                              int session_timeout_ms) {
  auto proc = std::make_unique<child_process>(std::vector<std::string>{
    bin_dir + "/service_subscriber", "--servers=" + servers,
    "--service=" + service, "--instance=" + id,
    "--session-timeout-ms=" + std::to_string(session_timeout_ms)});
  REQUIRE(proc->wait_for_line("registered", 30s));
  return proc;
}

/// Calls `op` until it answers something other than ConnectionLoss (what a
/// request in flight when its node died gets: ZooKeeper's contract, the
/// application retries) or `timeout` passes.
template <class Op>
auto retrying(Op op, std::chrono::milliseconds timeout = 20s) {
  auto deadline = steady::now() + timeout;
  auto r = op();
  while (r.error == error_code::connection_loss && steady::now() < deadline)
    r = op();
  return r;
}

} // namespace

TEST_CASE("sessions: a killed instance's registration vanishes within its "
          "timeout and a subscriber on another node hears service_down",
          "[sessions][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  constexpr int timeout_ms = 800;
  // The instance talks to node 0 only; the subscriber to node 1 only.
  auto instance = start_instance(cluster.server(0), "api", "i1", timeout_ms);
  auto subscriber_client = cluster.client(1);
  auto log = std::make_shared<service_log>();
  auto sub = cluster.system().spawn(recorder, log);
  auto watcher = subscriber_client->subscribe("api", sub);
  REQUIRE(log->wait("up", "i1", 10s));
  auto killed_at = steady::now();
  instance->stop(SIGKILL, 5s);
  // Expiry needs the full timeout without pings, then one liveness round
  // and one commit; 2 s more is generous slack for a loaded CI machine.
  REQUIRE(log->wait("down", "i1", std::chrono::milliseconds(timeout_ms) + 2s));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
    log->down_at["i1"] - killed_at);
  INFO("registration vanished " << took.count() << " ms after the kill");
  // Never before the session could have expired (minus one ping period).
  CHECK(took.count() >= timeout_ms * 2 / 3);
  CHECK(log->count("up", "i1") == 1);
  CHECK(log->count("down", "i1") == 1);
  auto found = subscriber_client->discover("api");
  REQUIRE(found.ok());
  CHECK(found.value.empty());
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
}

TEST_CASE("sessions: a client whose node dies moves to another node and "
          "keeps its session and its ephemeral nodes",
          "[sessions][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  // The client lists node 0 first, so that is where it connects.
  auto c = cluster.client_all(1500ms);
  auto session = c->connect();
  REQUIRE(session.ok());
  REQUIRE(c->register_service("db", "primary", "10.0.0.1:5432").ok());
  auto observer = cluster.client(2);
  REQUIRE(observer->exists("/services/db/primary").ok());
  cluster.stop(0, SIGKILL);
  // The client notices (connection down), resumes its session on node 1 or
  // 2, and goes on; the registration never vanished.
  auto mine = retrying([&] { return c->ephemerals("/services"); });
  INFO(mine.message);
  REQUIRE(mine.ok());
  CHECK(mine.value == std::vector<std::string>{"/services/db/primary"});
  auto again = c->connect();
  REQUIRE(again.ok());
  CHECK(again.value == session.value);
  // Well past the session timeout, it is still registered: the client keeps
  // its session alive from the new node.
  auto until = steady::now() + 3s;
  while (steady::now() < until) {
    REQUIRE(observer->exists("/services/db/primary").ok());
    observer->sync("/");
  }
  CHECK(c->create("/after-failover", "").ok());
}

TEST_CASE("sessions: killing the leader expires no healthy session",
          "[sessions][cluster]") {
  local_cluster cluster{3};
  auto leader = cluster.wait_for_leader(20s);
  REQUIRE(leader >= 0);
  // Six short sessions spread over all nodes, each holding an ephemeral.
  std::vector<std::unique_ptr<blocking_client>> clients;
  for (size_t i = 0; i < 6; ++i)
    clients.push_back(cluster.client_all(700ms));
  REQUIRE(clients[0]->create("/alive", "").ok());
  for (size_t i = 0; i < clients.size(); ++i)
    REQUIRE(
      clients[i]
        ->create("/alive/c" + std::to_string(i), "", create_mode::ephemeral)
        .ok());
  auto observer = cluster.client((static_cast<size_t>(leader) + 1) % 3);
  auto before = cluster.status((static_cast<size_t>(leader) + 1) % 3);
  REQUIRE(before);
  cluster.stop(static_cast<size_t>(leader), SIGKILL);
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  // Several session timeouts after the failover, every ephemeral is there
  // and no session ended.
  auto until = steady::now() + 3s;
  while (steady::now() < until) {
    auto kids = observer->children("/alive");
    if (kids.ok())
      REQUIRE(kids.value.names.size() == clients.size());
  }
  for (auto& c : clients)
    CHECK(c->sync("/").ok());
  auto kids = observer->children("/alive");
  REQUIRE(kids.ok());
  CHECK(kids.value.names.size() == clients.size());
}

TEST_CASE("watches: fire exactly once, in order, and none is lost across a "
          "failover",
          "[watches][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto writer = cluster.client_all();
  auto watcher = cluster.client_all(); // connected to node 0
  REQUIRE(writer->create("/w", "0").ok());
  REQUIRE(writer->create("/w/x", "0").ok());
  // A persistent recursive watch sees every change below /w, in order.
  REQUIRE(watcher->add_watch("/w", true).ok());
  for (int i = 1; i <= 30; ++i)
    REQUIRE(writer->set("/w/x", std::to_string(i)).ok());
  std::vector<int64_t> zxids;
  while (zxids.size() < 30) {
    auto ev = watcher->next_event(10s);
    REQUIRE(ev);
    CHECK(ev->type() == 3);
    CHECK(ev->path() == "/w/x");
    zxids.push_back(ev->zxid());
  }
  for (size_t i = 1; i < zxids.size(); ++i)
    CHECK(zxids[i] > zxids[i - 1]);
  // Nothing more: each change fired exactly once.
  CHECK_FALSE(watcher->next_event(200ms));
  // A one-shot data watch fires once, however many changes follow.
  REQUIRE(
    watcher->remove_watches("/w", watcher_type::persistent_recursive).ok());
  REQUIRE(watcher->get("/w/x", true).ok());
  REQUIRE(writer->set("/w/x", "a").ok());
  REQUIRE(writer->set("/w/x", "b").ok());
  auto once = watcher->next_event(10s);
  REQUIRE(once);
  CHECK(once->type() == 3);
  CHECK_FALSE(watcher->next_event(200ms));
  // The notification comes before any read that reflects the change: once
  // a read shows the new data, the event is already there (no waiting).
  REQUIRE(watcher->get("/w/x", true).ok());
  REQUIRE(writer->set("/w/x", "seen").ok());
  REQUIRE(watcher->sync("/").ok());
  auto fresh = watcher->get("/w/x");
  REQUIRE(fresh.ok());
  CHECK(fresh.value.data == "seen");
  auto already = watcher->next_event(0ms);
  REQUIRE(already);
  CHECK(already->type() == 3);
  // Across a failover: the watch is set through node 0, node 0 dies, the
  // node changes while the watcher is away, and the watcher still hears
  // of it once it resumed its session elsewhere (SetWatches).
  REQUIRE(watcher->get("/w/x", true).ok());
  REQUIRE(watcher->exists("/w/new", true).error == error_code::no_node);
  cluster.stop(0, SIGKILL);
  // (The writer may have been connected to node 0 too: set is idempotent
  // here, and a create that did happen answers node_exists.)
  REQUIRE(retrying([&] { return writer->set("/w/x", "while-away"); }).ok());
  auto made = retrying([&] { return writer->create("/w/new", ""); });
  REQUIRE((made.ok() || made.error == error_code::node_exists));
  std::set<std::pair<int32_t, std::string>> got;
  while (got.size() < 2) {
    auto ev = watcher->next_event(20s);
    REQUIRE(ev);
    got.emplace(ev->type(), ev->path());
  }
  CHECK(got.count({3, "/w/x"}) == 1);
  CHECK(got.count({1, "/w/new"}) == 1);
  CHECK_FALSE(watcher->next_event(200ms));
}

TEST_CASE("examples: service_subscriber sees instances start and get killed",
          "[sessions][cluster][examples]") {
  local_cluster cluster{1};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto r
    = run({bin_dir + "/service_subscriber", "--servers=" + cluster.servers(),
           "--service=demo", "--demo", "--session-timeout-ms=600"},
          60s);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  for (auto id : {"alpha", "beta", "gamma"})
    CHECK_THAT(r.out, Catch::Contains(std::string{"up      "} + id));
  CHECK_THAT(r.out, Catch::Contains("down    beta"));
}

TEST_CASE("sessions: a client whose node loses the quorum is told it is "
          "disconnected, and resumes its session once a quorum is back",
          "[sessions][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto c = cluster.client_all(1500ms); // connects to node 0
  REQUIRE(c->create("/p", "", create_mode::ephemeral).ok());
  auto session = c->connect();
  REQUIRE(session.ok());
  REQUIRE(c->watch_state() == connection_state::connected);
  // Freeze the other two nodes: node 0 hears from nobody (as if cut off).
  ::kill(cluster.pid(1), SIGSTOP);
  ::kill(cluster.pid(2), SIGSTOP);
  auto wait_state = [&](int32_t state) {
    auto deadline = steady::now() + 20s;
    while (steady::now() < deadline)
      if (auto ev = c->next_event(1s);
          ev && ev->type() == -1 && ev->state() == state)
        return true;
    return false;
  };
  CHECK(wait_state(0)); // disconnected
  ::kill(cluster.pid(1), SIGCONT);
  ::kill(cluster.pid(2), SIGCONT);
  CHECK(wait_state(3)); // connected again
  // Same session, its ephemeral node intact (a frozen leader that wakes up
  // and a new leader both give sessions a fresh timeout).
  auto again = c->connect();
  REQUIRE(again.ok());
  CHECK(again.value == session.value);
  auto mine = retrying([&] { return c->ephemerals("/"); });
  REQUIRE(mine.ok());
  CHECK(mine.value == std::vector<std::string>{"/p"});
}

TEST_CASE("sessions: a client whose node stops answering moves to another "
          "node within its session timeout",
          "[sessions][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto c = cluster.client_all(3000ms); // connects to node 0
  REQUIRE(c->create("/q", "", create_mode::ephemeral).ok());
  auto session = c->connect();
  REQUIRE(session.ok());
  REQUIRE(c->watch_state() == connection_state::connected);
  // Node 0 freezes: it neither answers nor closes the connection. The
  // client's pings go unanswered; it gives up on node 0 after a third of
  // its timeout and resumes on node 1 or 2.
  ::kill(cluster.pid(0), SIGSTOP);
  std::vector<int32_t> states;
  auto deadline = steady::now() + 20s;
  while (steady::now() < deadline && (states.empty() || states.back() != 3))
    if (auto ev = c->next_event(1s); ev && ev->type() == -1)
      states.push_back(ev->state());
  CHECK(states == std::vector<int32_t>{0, 3});
  auto again = c->connect();
  REQUIRE(again.ok());
  CHECK(again.value == session.value);
  auto mine = retrying([&] { return c->ephemerals("/"); });
  REQUIRE(mine.ok());
  CHECK(mine.value == std::vector<std::string>{"/q"});
  ::kill(cluster.pid(0), SIGCONT);
}

namespace {

/// A TCP port that accepts connections (the kernel completes them) and
/// never answers: a hung or half-started server.
struct black_hole {
  black_hole() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }
  ~black_hole() { ::close(fd); }
  int fd = -1;
  uint16_t port = 0;
};

} // namespace

TEST_CASE("sessions: a server that accepts connections but never answers "
          "does not cost a moving client its session",
          "[sessions][cluster]") {
  local_cluster cluster{3};
  auto leader = cluster.wait_for_leader(20s);
  REQUIRE(leader >= 0);
  // Node 0 must not lead: the leader that expires sessions stays up.
  if (leader == 0) {
    REQUIRE(cluster.client(0)->transfer_leader(2).ok());
    REQUIRE(cluster.wait_for_leader(20s) == 1);
  }
  black_hole hole;
  // The client tries node 0, then the black hole, then nodes 1 and 2. Its
  // request timeout (5 s) is nearly its session timeout (6 s): one attempt
  // that waited a request timeout would let the session expire.
  client_options opts;
  opts.servers = parse_server_list(
    cluster.server(0) + ",127.0.0.1:" + std::to_string(hole.port) + ","
    + cluster.server(1) + "," + cluster.server(2));
  opts.request_timeout = 5s;
  opts.session_timeout = 6s;
  blocking_client c{cluster.system(), opts};
  REQUIRE(c.create("/held", "", create_mode::ephemeral).ok());
  auto session = c.connect();
  REQUIRE(session.ok());
  REQUIRE(c.watch_state() == connection_state::connected);
  ::kill(cluster.pid(0), SIGSTOP);
  std::vector<int32_t> states;
  auto deadline = steady::now() + 30s;
  while (steady::now() < deadline && (states.empty() || states.back() != 3))
    if (auto ev = c.next_event(1s); ev && ev->type() == -1)
      states.push_back(ev->state());
  ::kill(cluster.pid(0), SIGCONT);
  // Disconnected, then connected again: never expired.
  CHECK(states == std::vector<int32_t>{0, 3});
  auto again = c.connect();
  REQUIRE(again.ok());
  CHECK(again.value == session.value);
  auto held = cluster.client(1)->exists("/held");
  REQUIRE(held.ok());
  CHECK(held.value.ephemeral_owner == session.value);
}

TEST_CASE("services: a subscriber misses nothing while its client moves to "
          "another node",
          "[sessions][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto a = start_instance(cluster.server(1), "web", "a", 5000);
  // Connects to node 0.
  auto subscriber_client = cluster.client_all(3000ms);
  auto log = std::make_shared<service_log>();
  auto sub = cluster.system().spawn(recorder, log);
  auto watcher = subscriber_client->subscribe("web", sub);
  REQUIRE(log->wait("up", "a", 10s));
  // Node 0 freezes: its notifications stop, and the subscriber's client
  // needs a ping timeout to notice. Meanwhile "a" leaves (its process exits,
  // closing its session) and "b" arrives: the watch on node 0 never reports
  // them, and a persistent watch re-registered elsewhere does not replay
  // them; the subscriber's listing after the reconnect must.
  ::kill(cluster.pid(0), SIGSTOP);
  CHECK(a->stop(SIGTERM, 10s) == 0);
  auto other = cluster.client(2);
  REQUIRE(retrying([&] {
            return other->register_service("web", "b", "10.0.0.2:80");
          }).ok());
  CHECK(log->wait("down", "a", 20s));
  CHECK(log->wait("up", "b", 20s));
  // Each change reported once.
  CHECK(log->count("up", "a") == 1);
  CHECK(log->count("down", "a") == 1);
  CHECK(log->count("up", "b") == 1);
  ::kill(cluster.pid(0), SIGCONT);
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
}

TEST_CASE("services: a subscriber hears an instance change and leave",
          "[sessions][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto instance = cluster.client(0);
  auto subscriber_client = cluster.client(2);
  auto log = std::make_shared<service_log>();
  auto sub = cluster.system().spawn(recorder, log);
  auto watcher = subscriber_client->subscribe("cache", sub);
  REQUIRE(instance->register_service("cache", "c1", "10.0.0.1:11211").ok());
  REQUIRE(log->wait("up", "c1", 10s));
  // Registering the same id again updates it: service_changed.
  REQUIRE(
    instance->register_service("cache", "c1", "10.0.0.9:11211", {{"zone", "b"}})
      .ok());
  REQUIRE(log->wait("changed", "c1", 10s));
  auto found = subscriber_client->discover("cache");
  REQUIRE(found.ok());
  REQUIRE(found.value.size() == 1);
  CHECK(found.value[0].endpoint() == "10.0.0.9:11211");
  CHECK(found.value[0].metadata().at("zone") == "b");
  // Another session cannot take the id over.
  auto intruder = cluster.client(1);
  CHECK(intruder->register_service("cache", "c1", "6.6.6.6:1").error
        == error_code::node_exists);
  REQUIRE(instance->deregister_service("cache", "c1").ok());
  REQUIRE(log->wait("down", "c1", 10s));
  CHECK(log->count("up", "c1") == 1);
  CHECK(log->count("changed", "c1") == 1);
  CHECK(log->count("down", "c1") == 1);
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sub, caf::exit_reason::user_shutdown);
}

TEST_CASE("acl: a native client keeps its identity when it moves to another "
          "node",
          "[acl][cluster]") {
  local_cluster cluster{3};
  REQUIRE(cluster.wait_for_leader(20s) >= 0);
  auto alice = cluster.client_all(1500ms); // connects to node 0 first
  REQUIRE(alice->connect().ok());
  REQUIRE(alice->add_auth("digest", "alice:pw").ok());
  CHECK(alice->add_auth("kerberos", "x").error == error_code::auth_failed);
  auto who = alice->who_am_i();
  REQUIRE(who.ok());
  CHECK(who.value == std::vector<acl_id>{{"digest", digest_of("alice:pw")}});
  std::vector<acl_entry> acl{{acl_perms::all, {"auth", ""}},
                             {acl_perms::read, {"world", "anyone"}}};
  REQUIRE(
    alice->create("/private", "secret", create_mode::persistent, 0, acl).ok());

  auto other = cluster.client(2);
  CHECK(other->get("/private").ok()); // world may read
  CHECK(other->set("/private", "mine").error == error_code::no_auth);
  auto seen = other->get_acl("/private");
  REQUIRE(seen.ok());
  REQUIRE(seen.value.acl.size() == 2);
  CHECK(seen.value.acl[0].id == acl_id{"digest", "alice:x"}); // no ADMIN

  cluster.stop(0, SIGKILL);
  // On its new node the client proves its identity again by itself.
  auto set = retrying([&] { return alice->set("/private", "still mine"); });
  INFO(set.message);
  CHECK(set.ok());
  auto full = alice->get_acl("/private");
  REQUIRE(full.ok());
  CHECK(full.value.acl[0].id == acl_id{"digest", digest_of("alice:pw")});
  auto locked = alice->set_acl("/private", {{acl_perms::all, {"auth", ""}}},
                               full.value.stat.aversion);
  REQUIRE(locked.ok());
  CHECK(locked.value.aversion == full.value.stat.aversion + 1);
  CHECK(other->get("/private").error == error_code::no_auth);
}

TEST_CASE("sessions: a client whose session expired says so on every later "
          "request",
          "[sessions][cluster]") {
  local_cluster cluster{3};
  auto leader = cluster.wait_for_leader(20s);
  REQUIRE(leader >= 0);
  auto follower = static_cast<size_t>((leader + 1) % 3);
  auto c = cluster.client(follower, 1500ms);
  REQUIRE(c->create("/gone", "", create_mode::ephemeral).ok());
  // The client's only node freezes; the leader expires the session.
  ::kill(cluster.pid(follower), SIGSTOP);
  auto other = cluster.client(static_cast<size_t>(leader));
  auto deadline = steady::now() + 30s;
  bool expired = false;
  while (!expired && steady::now() < deadline)
    expired = other->exists("/gone").error == error_code::no_node;
  ::kill(cluster.pid(follower), SIGCONT);
  REQUIRE(expired);
  // The first request after the node wakes up learns of the expiry; every
  // later one must say so too, at once (not time out as a lost connection).
  auto first = retrying([&] { return c->get("/"); });
  CHECK(first.error == error_code::session_expired);
  for (int i = 0; i < 3; ++i) {
    auto again = c->get("/");
    CHECK(again.error == error_code::session_expired);
  }
}
