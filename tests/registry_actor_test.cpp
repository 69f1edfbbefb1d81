// Deterministic tests of a node's session and registry actors under CAF's
// test_coordinator: no threads, no sleeping, time is a variable. A scripted
// log actor commits every proposal at once (Raft itself is tested in the
// raft_* and cluster tests).
#include <catch2/catch.hpp>

#include <memory>

#include <caf/scheduler/test_coordinator.hpp>

#include "actors/registry_actor.hpp"
#include "actors/session_actor.hpp"
#include "runtime/command_codec.hpp"
#include "runtime/raft/codec.hpp"
#include "runtime/zk/dynamic_config.hpp"

using namespace conclave;

namespace {

/// What a probe client saw.
struct probe_log {
  std::vector<pb::Response> responses;
  std::vector<int64_t> sessions;
  std::vector<pb::WatchEvent> events;
};

/// A log actor that commits each proposal immediately, stamping the time.
/// While `*quorum` is false it cannot confirm leadership (ReadIndex fails),
/// like a leader cut off from its followers.
log_actor::behavior_type instant_log(log_actor::pointer self,
                                     registry_actor registry,
                                     std::function<int64_t()> clock,
                                     std::shared_ptr<bool> quorum) {
  auto last = std::make_shared<uint64_t>(0);
  return {
    [=](propose_atom, pb::Proposal& p) -> uint64_t {
      pb::LogBatch batch;
      auto e = batch.add_entries();
      e->set_index(++*last);
      e->set_term(1);
      e->set_time_ms(clock());
      e->set_origin_node(p.origin_node());
      e->set_request_id(p.request_id());
      *e->mutable_command() = p.command();
      self->send(registry, apply_atom::value, std::move(batch));
      return *last;
    },
    [=](raft_atom, pb::RaftMessage&) {},
    [=](chunk_atom, pb::SnapshotChunk&) -> uint64_t { return 0; },
    [=](read_index_atom) -> caf::result<uint64_t> {
      if (!*quorum)
        return caf::make_error(caf::sec::runtime_error, "no quorum");
      return *last;
    },
    [=](transfer_atom, uint64_t t, bool) -> uint64_t { return t; },
    [=](reconfig_atom, pb::ReconfigRequest&, bool) {
      pb::MembershipResult r;
      r.set_error(static_cast<int32_t>(error_code::unimplemented));
      return r;
    },
    [=](snapshot_atom) -> caf::result<pb::SnapshotMeta> {
      return caf::make_error(caf::sec::runtime_error, "no snapshots here");
    },
    [=](tick_atom) {},
    [=](flush_atom) {},
    [=](status_atom) {
      pb::NodeStatus s;
      s.set_role("leader");
      s.set_commit_index(*last);
      return s;
    },
    [=](connect_atom, leadership_listener) {},
    [=](touch_atom, pb::SessionTouches&) {},
    [=](connect_atom, session_actor) {},
    [](fault_atom, const std::string&) {},
  };
}

/// Tells a session actor that node 1 (itself) leads term 1.
/// (From an actor of this node: the session actor ignores internal
/// messages from anyone else.)
void make_leader(caf::actor_system& sys, const session_actor& session) {
  pb::Leadership l;
  l.set_term(1);
  l.set_leader_id(1);
  l.set_role("leader");
  caf::scoped_actor local{sys};
  local->send(session, leader_atom::value, l);
}

election_actor::behavior_type idle_election() {
  return {
    [](leader_atom, const pb::Leadership&) {},
    [](tick_atom) {},
    [](policy_atom) {},
    [](connect_atom, session_actor) {},
    [](transfer_atom, uint64_t t) -> uint64_t { return t; },
    [](fault_atom, const std::string&) {},
  };
}

struct node_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  int64_t now_ms = 1'700'000'000'000;
  registry_actor registry;
  log_actor log;
  election_actor election;
  session_actor session;
  std::shared_ptr<bool> quorum = std::make_shared<bool>(true);

  static caf::actor_system_config& prepare(caf::actor_system_config& cfg) {
    announce_message_types(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    return cfg;
  }

  explicit node_fixture(
    session_limits limits = {},
    std::function<void(registry_options&)> tune = [](registry_options&) {})
      : sys(prepare(cfg)),
        sched(
          dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    registry_options ropts;
    ropts.limits.max_data_bytes = limits.max_data_bytes;
    tune(ropts);
    registry = sys.spawn(conclave::registry, node_id{1}, ropts);
    log
      = sys.spawn(instant_log, registry,
                  std::function<int64_t()>{[this] { return now_ms; }}, quorum);
    election = sys.spawn(idle_election);
    session = sys.spawn(session_manager, node_id{1}, limits, registry, log,
                        election, clock_fn{[this] { return now_ms; }});
    // From an actor of this process (the registry ignores anonymous ones).
    caf::scoped_actor {
      sys
      } -> send(registry, connect_atom::value, session);
    make_leader(sys, session);
    sched.run();
  }

  ~node_fixture() {
    for (auto hdl : {caf::actor_cast<caf::actor>(session),
                     caf::actor_cast<caf::actor>(election),
                     caf::actor_cast<caf::actor>(log),
                     caf::actor_cast<caf::actor>(registry)})
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// Lets `ms` pass in steps of a quarter second, running every timer
  /// that falls due (the liveness rounds see a steady clock, as in a node
  /// that does not stall).
  void advance(int64_t ms) {
    for (; ms > 0; ms -= 250) {
      now_ms += std::min<int64_t>(ms, 250);
      sched.trigger_timeouts();
      sched.run();
    }
  }

  /// A client actor that relays test requests to the session actor and
  /// records what comes back.
  caf::actor spawn_probe(std::shared_ptr<probe_log> seen) {
    auto target = session;
    auto probe = sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
      return {
        [=](hello_atom) {
          self->request(target, caf::infinite, hello_atom::value, pb::Connect{})
            .then([=](const pb::Hello& h) {
              seen->sessions.push_back(h.session_id());
            });
        },
        [=](event_atom, const pb::WatchEvent& ev) {
          seen->events.push_back(ev);
        },
        [=](request_atom, pb::Request& req) {
          self
            ->request(target, caf::infinite, request_atom::value,
                      std::move(req))
            .then([=](pb::Response& r) { seen->responses.push_back(r); });
        },
      };
    });
    caf::anon_send(probe, hello_atom::value);
    sched.run();
    return probe;
  }

  pb::Response ask(const caf::actor& probe,
                   const std::shared_ptr<probe_log>& seen, pb::Request req) {
    auto before = seen->responses.size();
    caf::anon_send(probe, request_atom::value, std::move(req));
    sched.run();
    REQUIRE(seen->responses.size() == before + 1);
    return seen->responses.back();
  }
};

pb::Request create_req(const std::string& path, const std::string& data,
                       create_mode mode = create_mode::persistent) {
  pb::Request req;
  auto op = req.mutable_create();
  op->set_path(path);
  op->set_data(data);
  op->set_mode(static_cast<pb::CreateMode>(mode));
  return req;
}

pb::Request get_req(const std::string& path) {
  pb::Request req;
  req.mutable_get_data()->set_path(path);
  return req;
}

pb::Request set_req(const std::string& path, const std::string& data) {
  pb::Request req;
  req.mutable_set_data()->set_path(path);
  req.mutable_set_data()->set_data(data);
  req.mutable_set_data()->set_version(-1);
  return req;
}

pb::Request ping_req() {
  pb::Request req;
  req.mutable_ping();
  return req;
}

pb::Request status_req() {
  pb::Request req;
  req.mutable_status();
  return req;
}

int code(error_code e) {
  return static_cast<int>(e);
}

} // namespace

TEST_CASE("node actors: a write goes through the log and is read back",
          "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  REQUIRE(seen->sessions.size() == 1);
  CHECK((static_cast<uint64_t>(seen->sessions[0]) >> 56) == 1u);

  f.now_ms += 42;
  auto created = f.ask(probe, seen, create_req("/app", "v1"));
  CHECK(created.error() == 0);
  CHECK(created.op().path() == "/app");
  CHECK(created.zxid() == 2); // zxid 1 opened the session
  // The timestamp is the log's (leader's) clock, carried in the entry.
  CHECK(created.op().stat().ctime_ms() == f.now_ms);

  auto got = f.ask(probe, seen, get_req("/app"));
  CHECK(got.error() == 0);
  CHECK(got.data().data() == "v1");
  CHECK(got.zxid() == 2);

  auto status = f.ask(probe, seen, status_req());
  CHECK(status.status().applied_index() == 2);
  CHECK(status.status().commit_index() == 2);
  CHECK(status.status().znode_count() >= 2);
  CHECK(status.status().session_count() == 1);
}

TEST_CASE("node actors: expected failures come back as typed errors",
          "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  auto missing_parent = f.ask(probe, seen, create_req("/a/b", ""));
  CHECK(missing_parent.error() == code(error_code::no_node));
  CHECK_THAT(missing_parent.message(), Catch::Contains("/a/b"));
  auto bad_path = f.ask(probe, seen, get_req("a//b"));
  CHECK(bad_path.error() == code(error_code::bad_arguments));
  auto no_node = f.ask(probe, seen, get_req("/nope"));
  CHECK(no_node.error() == code(error_code::no_node));
}

TEST_CASE("node actors: ephemerals outlive the connection until the leader "
          "expires the silent session",
          "[actors]") {
  node_fixture f; // sessions: 4000 ms minimum timeout
  auto seen = std::make_shared<probe_log>();
  auto owner = f.spawn_probe(seen);
  auto other_seen = std::make_shared<probe_log>();
  auto other = f.spawn_probe(other_seen);
  REQUIRE(f.ask(owner, seen, create_req("/svc", "")).error() == 0);
  REQUIRE(f.ask(owner, seen, create_req("/svc/i1", "e", create_mode::ephemeral))
            .error()
          == 0);
  REQUIRE(f.ask(other, other_seen, get_req("/svc/i1")).error() == 0);
  // A liveness round takes note of both sessions' activity.
  f.sched.trigger_timeouts();
  f.sched.run();
  // The owner's connection drops: its session (and node) live on.
  caf::anon_send_exit(owner, caf::exit_reason::kill);
  f.sched.run();
  CHECK(f.ask(other, other_seen, get_req("/svc/i1")).error() == 0);
  // 3 s later the other client is heard from; the owner stays silent.
  f.advance(3000);
  REQUIRE(f.ask(other, other_seen, ping_req()).error() == 0);
  f.advance(250);
  CHECK(f.ask(other, other_seen, get_req("/svc/i1")).error() == 0);
  // 4001 ms after the owner was last heard from, its session expires.
  f.advance(751);
  CHECK(f.ask(other, other_seen, get_req("/svc/i1")).error()
        == code(error_code::no_node));
  // The persistent parent stays, and the other session is alive.
  CHECK(f.ask(other, other_seen, get_req("/svc")).error() == 0);
  CHECK(f.ask(other, other_seen, status_req()).status().session_count() == 1);
}

TEST_CASE("node actors: a leader that cannot confirm its quorum expires "
          "nothing, and then gives every session a fresh timeout",
          "[actors]") {
  node_fixture f; // sessions: 4000 ms minimum timeout
  auto seen = std::make_shared<probe_log>();
  auto owner = f.spawn_probe(seen);
  auto reader_seen = std::make_shared<probe_log>();
  auto reader = f.spawn_probe(reader_seen);
  REQUIRE(
    f.ask(owner, seen, create_req("/e", "", create_mode::ephemeral)).error()
    == 0);
  f.sched.trigger_timeouts();
  f.sched.run();
  caf::anon_send_exit(owner, caf::exit_reason::kill); // silent from now on
  f.sched.run();
  // Cut off: 10 s pass, far beyond the timeout; nothing expires.
  *f.quorum = false;
  f.advance(10000);
  CHECK(f.ask(reader, reader_seen, get_req("/e")).error() == 0);
  // Back in touch: every session starts a fresh timeout now.
  *f.quorum = true;
  f.advance(250);
  f.advance(3000);
  REQUIRE(f.ask(reader, reader_seen, ping_req()).error() == 0);
  f.advance(250);
  CHECK(f.ask(reader, reader_seen, get_req("/e")).error() == 0);
  // Over 4000 ms after the quorum came back the silent owner expires; the
  // reader, heard from meanwhile, does not.
  f.advance(1000);
  CHECK(f.ask(reader, reader_seen, get_req("/e")).error()
        == code(error_code::no_node));
  CHECK(f.ask(reader, reader_seen, status_req()).status().session_count() == 1);
}

TEST_CASE("node actors: a leader that stalled gives every session a fresh "
          "timeout instead of expiring them",
          "[actors]") {
  node_fixture f; // sessions: 4000 ms; stall grace 2000 ms
  auto seen = std::make_shared<probe_log>();
  auto owner = f.spawn_probe(seen);
  REQUIRE(
    f.ask(owner, seen, create_req("/e", "", create_mode::ephemeral)).error()
    == 0);
  f.advance(250);
  // The process freezes for 6 s (its timers run late, all at once).
  f.now_ms += 6000;
  f.sched.trigger_timeouts();
  f.sched.run();
  CHECK(f.ask(owner, seen, get_req("/e")).error() == 0);
  // Not heard from for a full timeout after the stall: it expires.
  caf::anon_send_exit(owner, caf::exit_reason::kill);
  f.sched.run();
  auto reader_seen = std::make_shared<probe_log>();
  auto reader = f.spawn_probe(reader_seen);
  // (Its last request, just after the stall, counted at the next round.)
  f.advance(3750);
  CHECK(f.ask(reader, reader_seen, get_req("/e")).error() == 0);
  f.advance(1000);
  CHECK(f.ask(reader, reader_seen, get_req("/e")).error()
        == code(error_code::no_node));
}

TEST_CASE("node actors: internal messages from outside the node are "
          "ignored",
          "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  REQUIRE(
    f.ask(probe, seen, create_req("/e", "", create_mode::ephemeral)).error()
    == 0);
  // Anonymous messages (what a remote client can send without a sender)
  // that would stop the tracker or end sessions if obeyed.
  pb::Leadership none;
  caf::anon_send(f.session, leader_atom::value, none);
  pb::SessionChanges forged;
  auto c = forged.add_changes();
  c->set_session_id(0); // not a valid id: would abort the tracker
  c->set_timeout_ms(0);
  c->set_opened(true);
  caf::anon_send(f.session, sessions_atom::value, forged);
  forged.set_reset(true);
  caf::anon_send(f.session, sessions_atom::value, forged);
  f.sched.run();
  // Still led, still connected, the session still tracked and alive.
  CHECK(f.ask(probe, seen, ping_req()).error() == 0);
  CHECK(f.ask(probe, seen, get_req("/e")).error() == 0);
  f.advance(3000);
  CHECK(f.ask(probe, seen, ping_req()).error() == 0);
  f.advance(3000);
  CHECK(f.ask(probe, seen, get_req("/e")).error() == 0);
}

TEST_CASE("node actors: a watch fires once, before the read of the change",
          "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto watcher = f.spawn_probe(seen);
  auto writer_seen = std::make_shared<probe_log>();
  auto writer = f.spawn_probe(writer_seen);
  REQUIRE(f.ask(writer, writer_seen, create_req("/w", "1")).error() == 0);
  auto req = get_req("/w");
  req.mutable_get_data()->set_watch(true);
  REQUIRE(f.ask(watcher, seen, req).error() == 0);
  auto exists = pb::Request{};
  exists.mutable_exists()->set_path("/later");
  exists.mutable_exists()->set_watch(true);
  CHECK(f.ask(watcher, seen, exists).error() == code(error_code::no_node));
  REQUIRE(f.ask(writer, writer_seen, set_req("/w", "2")).error() == 0);
  REQUIRE(f.ask(writer, writer_seen, set_req("/w", "3")).error() == 0);
  REQUIRE(f.ask(writer, writer_seen, create_req("/later", "")).error() == 0);
  // One data-changed event (one-shot) and one created event, in zxid order.
  REQUIRE(seen->events.size() == 2);
  CHECK(seen->events[0].type() == 3);
  CHECK(seen->events[0].path() == "/w");
  CHECK(seen->events[1].type() == 1);
  CHECK(seen->events[1].path() == "/later");
  CHECK(seen->events[0].zxid() < seen->events[1].zxid());
  CHECK(writer_seen->events.empty());
  // A persistent recursive watch sees every change below it.
  pb::Request add;
  add.mutable_add_watch()->set_path("/");
  add.mutable_add_watch()->set_mode(1);
  REQUIRE(f.ask(watcher, seen, add).error() == 0);
  REQUIRE(f.ask(writer, writer_seen, set_req("/later", "x")).error() == 0);
  REQUIRE(f.ask(writer, writer_seen, set_req("/later", "y")).error() == 0);
  REQUIRE(seen->events.size() == 4);
  CHECK(seen->events[3].path() == "/later");
}

TEST_CASE("node actors: set_watches fires what changed after the client's "
          "zxid",
          "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  REQUIRE(f.ask(probe, seen, create_req("/a", "")).error() == 0);
  auto seen_zxid = f.ask(probe, seen, create_req("/b", "")).zxid();
  REQUIRE(f.ask(probe, seen, set_req("/a", "new")).error() == 0);
  pb::Request req;
  auto sw = req.mutable_set_watches();
  sw->set_relative_zxid(seen_zxid);
  sw->add_data("/a");     // changed after seen_zxid: fires now
  sw->add_data("/b");     // unchanged: registered
  sw->add_exist("/c");    // missing: registered
  sw->add_child("/gone"); // missing: fires NodeDeleted now
  auto before = seen->events.size();
  REQUIRE(f.ask(probe, seen, req).error() == 0);
  REQUIRE(seen->events.size() == before + 2);
  CHECK(seen->events[before].path() == "/a");
  CHECK(seen->events[before].type() == 3);
  CHECK(seen->events[before + 1].path() == "/gone");
  CHECK(seen->events[before + 1].type() == 2);
  REQUIRE(f.ask(probe, seen, create_req("/c", "")).error() == 0);
  REQUIRE(seen->events.size() == before + 3);
  CHECK(seen->events.back().type() == 1);
}

TEST_CASE("node actors: watch limits answer quota_exceeded", "[actors]") {
  node_fixture f{session_limits{}, [](registry_options& o) {
                   o.watches.max_watches_per_session = 2;
                 }};
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  for (auto path : {"/x1", "/x2", "/x3"}) {
    pb::Request req;
    req.mutable_exists()->set_path(path);
    req.mutable_exists()->set_watch(true);
    auto resp = f.ask(probe, seen, req);
    if (std::string{path} == "/x3") {
      CHECK(resp.error() == code(error_code::quota_exceeded));
      CHECK_THAT(resp.message(), Catch::Contains("max-watches-per-session"));
    } else {
      CHECK(resp.error() == code(error_code::no_node));
    }
  }
}

TEST_CASE("node actors: oversized writes are refused before the log",
          "[actors]") {
  session_limits limits;
  limits.max_data_bytes = 8;
  limits.max_multi_ops = 2;
  node_fixture f{limits};
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  auto big = f.ask(probe, seen, create_req("/big", std::string(9, 'x')));
  CHECK(big.error() == code(error_code::bad_arguments));
  CHECK_THAT(big.message(), Catch::Contains("max-data-bytes"));
  pb::Request multi;
  for (int i = 0; i < 3; ++i)
    multi.mutable_multi()->add_ops()->mutable_check()->set_path("/");
  auto many = f.ask(probe, seen, multi);
  CHECK(many.error() == code(error_code::bad_arguments));
  CHECK_THAT(many.message(), Catch::Contains("max-multi-ops"));
  // Nothing entered the log but the session's open.
  CHECK(f.ask(probe, seen, status_req()).status().commit_index() == 1);
}

TEST_CASE("node actors: writes beyond max-pending-requests are throttled",
          "[actors]") {
  session_limits limits;
  limits.max_pending_requests = 1;
  node_fixture f{limits};
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  // Both requests reach the session actor before the log answers the first.
  caf::anon_send(probe, request_atom::value, create_req("/one", ""));
  caf::anon_send(probe, request_atom::value, create_req("/two", ""));
  f.sched.run();
  REQUIRE(seen->responses.size() == 2);
  std::vector<int> codes{seen->responses[0].error(),
                         seen->responses[1].error()};
  std::sort(codes.begin(), codes.end());
  CHECK(codes == std::vector<int>{code(error_code::throttled_op), 0});
}

TEST_CASE("node actors: requests without a session are refused", "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto target = f.session;
  auto stranger = f.sys.spawn([=](caf::event_based_actor* self) {
    self->request(target, caf::infinite, request_atom::value, get_req("/"))
      .then([=](pb::Response& r) { seen->responses.push_back(r); });
  });
  f.sched.run();
  REQUIRE(seen->responses.size() == 1);
  CHECK(seen->responses[0].error() == code(error_code::connection_loss));
}

TEST_CASE("node actors: a read waits until the node applied the client's "
          "zxid",
          "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  auto req = get_req("/late");
  req.set_min_zxid(3);
  caf::anon_send(probe, request_atom::value, req);
  f.sched.run();
  CHECK(seen->responses.empty()); // parked: the node is at zxid 1
  REQUIRE(f.ask(probe, seen, create_req("/other", "")).error() == 0);
  CHECK(seen->responses.size() == 1); // zxid 2: still waiting
  caf::anon_send(probe, request_atom::value, create_req("/late", "v"));
  f.sched.run();
  // The create and the parked read both answered: the read once zxid 2 was
  // applied, reflecting that state.
  REQUIRE(seen->responses.size() == 3);
  auto& late = seen->responses[1].error() == 0 && seen->responses[1].has_data()
                 ? seen->responses[1]
                 : seen->responses[2];
  CHECK(late.data().data() == "v");
  CHECK(late.zxid() == 3);
}

TEST_CASE("node actors: a write that is never applied times out", "[actors]") {
  session_limits limits;
  limits.request_timeout_ms = 5000;
  node_fixture f{limits};
  // Replace the log's answers: this one accepts proposals but never commits.
  auto real_log = f.log;
  auto black_hole = f.sys.spawn(
    [real_log](log_actor::pointer self) -> log_actor::behavior_type {
      return {
        [=](propose_atom, pb::Proposal& p) -> caf::result<uint64_t> {
          // Sessions open; nothing else ever commits.
          if (p.command().has_open_session())
            return self->delegate(real_log, propose_atom::value, std::move(p));
          return uint64_t{1};
        },
        [](raft_atom, pb::RaftMessage&) {},
        [](chunk_atom, pb::SnapshotChunk&) -> uint64_t { return 0; },
        [](read_index_atom) -> uint64_t { return 0; },
        [](transfer_atom, uint64_t t, bool) -> uint64_t { return t; },
        [](reconfig_atom, pb::ReconfigRequest&, bool) {
          return pb::MembershipResult{};
        },
        [](snapshot_atom) { return pb::SnapshotMeta{}; },
        [](tick_atom) {},
        [](flush_atom) {},
        [](status_atom) { return pb::NodeStatus{}; },
        [](connect_atom, leadership_listener) {},
        [](touch_atom, pb::SessionTouches&) {},
        [](connect_atom, session_actor) {},
        [](fault_atom, const std::string&) {},
      };
    });
  auto session
    = f.sys.spawn(session_manager, node_id{1}, limits, f.registry, black_hole,
                  f.election, clock_fn{[&f] { return f.now_ms; }});
  make_leader(f.sys, session);
  // The registry reports applied results to it from now on.
  caf::scoped_actor {
    f.sys
    } -> send(f.registry, connect_atom::value, session);
  auto stuck = std::make_shared<probe_log>();
  auto client = f.sys.spawn([=](caf::event_based_actor* self) {
    self->request(session, caf::infinite, hello_atom::value, pb::Connect{})
      .then([=](const pb::Hello&) {
        self
          ->request(session, caf::infinite, request_atom::value,
                    create_req("/never", ""))
          .then([=](pb::Response& r) { stuck->responses.push_back(r); });
      });
  });
  f.sched.run();
  CHECK(stuck->responses.empty());
  f.now_ms += 5001;
  f.sched.trigger_timeouts();
  f.sched.run();
  REQUIRE(stuck->responses.size() == 1);
  INFO(stuck->responses[0].message());
  CHECK(stuck->responses[0].error() == code(error_code::operation_timeout));
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(session, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(black_hole, caf::exit_reason::user_shutdown);
  f.sched.run();
}

TEST_CASE("node actors: a read parked for a zxid the node never reaches "
          "times out",
          "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  auto req = get_req("/");
  req.set_min_zxid(1000);
  caf::anon_send(probe, request_atom::value, req);
  f.sched.run();
  CHECK(seen->responses.empty());
  // Ten one-second sweeps (registry_options::parked_read_timeout).
  for (int i = 0; i < 10 && seen->responses.empty(); ++i) {
    f.sched.advance_time(std::chrono::seconds(1));
    f.sched.run();
  }
  REQUIRE(seen->responses.size() == 1);
  CHECK(seen->responses[0].error() == code(error_code::operation_timeout));
  CHECK_THAT(seen->responses[0].message(), Catch::Contains("zxid 1000"));
}

namespace {

raft::configuration two_members() {
  return raft::configuration{
    {raft::member{node_id{1}, raft::member_role::voter, "127.0.0.1:7001",
                  "127.0.0.1:2181"},
     raft::member{node_id{2}, raft::member_role::learner, "127.0.0.1:7002",
                  ""}}};
}

} // namespace

TEST_CASE("node actors: /zookeeper/config shows the configuration a node "
          "starts from",
          "[actors]") {
  node_fixture f{session_limits{}, [](registry_options& o) {
                   raft::encode(two_members(), &o.config);
                 }};
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  auto resp = f.ask(probe, seen, get_req("/zookeeper/config"));
  REQUIRE(resp.error() == 0);
  CHECK(resp.data().data()
        == "server.1=127.0.0.1:7001:7001:participant;127.0.0.1:2181\n"
           "server.2=127.0.0.1:7002:7002:observer\n"
           "version=0");
  // Shown, not written: no zxid, no version.
  CHECK(resp.data().stat().version() == 0);
  CHECK(resp.data().stat().mzxid() == 0);
}

TEST_CASE("node actors: a configuration entry sets /zookeeper/config and "
          "fires its data watch",
          "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto probe = f.spawn_probe(seen);
  // getConfig with a watch is getData of /zookeeper/config.
  auto req = get_req("/zookeeper/config");
  req.mutable_get_data()->set_watch(true);
  auto before = f.ask(probe, seen, req);
  REQUIRE(before.error() == 0);
  // The next index after what the scripted log committed.
  auto index = static_cast<uint64_t>(before.zxid()) + 1;
  pb::LogBatch batch;
  auto e = batch.add_entries();
  e->set_index(index);
  e->set_term(1);
  auto config = two_members();
  raft::encode(config, e->mutable_config());
  caf::anon_send(f.registry, apply_atom::value, batch);
  f.sched.run();
  REQUIRE(seen->events.size() == 1);
  CHECK(seen->events[0].type() == 3); // NodeDataChanged
  CHECK(seen->events[0].path() == "/zookeeper/config");
  CHECK(seen->events[0].zxid() == static_cast<int64_t>(index));
  auto after = f.ask(probe, seen, get_req("/zookeeper/config"));
  REQUIRE(after.error() == 0);
  CHECK(after.data().data() == zk::render_dynamic_config(config, index));
  CHECK(after.data().stat().version() == before.data().stat().version() + 1);
  CHECK(after.data().stat().mzxid() == static_cast<int64_t>(index));
  // The mtime is not a clock reading: the entry carried none.
  CHECK(after.data().stat().mtime_ms() == before.data().stat().mtime_ms());
  // (No write after this: the scripted log does not know the index.)
}
