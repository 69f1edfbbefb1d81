// Deterministic tests of a node's actors (session, log, registry) under
// CAF's test_coordinator: no threads, no sleeping, time is a variable.
#include <catch2/catch.hpp>

#include <memory>

#include <caf/scheduler/test_coordinator.hpp>

#include "actors/log_actor.hpp"
#include "actors/registry_actor.hpp"
#include "actors/session_actor.hpp"
#include "runtime/command_codec.hpp"

using namespace conclave;

namespace {

/// What a probe client saw.
struct probe_log {
  std::vector<pb::Response> responses;
  std::vector<int64_t> sessions;
};

struct node_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  int64_t now_ms = 1'700'000'000'000;
  registry_actor registry;
  log_actor log;
  session_actor session;

  static caf::actor_system_config& prepare(caf::actor_system_config& cfg) {
    announce_message_types(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    return cfg;
  }

  explicit node_fixture(session_limits limits = {})
    : sys(prepare(cfg)),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    data_tree_limits tree_limits;
    tree_limits.max_data_bytes = limits.max_data_bytes;
    registry = sys.spawn(conclave::registry, node_id{1}, tree_limits);
    log = sys.spawn(commit_log, node_id{1}, registry,
                    clock_fn{[this] { return now_ms; }});
    session = sys.spawn(session_manager, node_id{1}, limits, registry, log,
                        now_ms);
    caf::anon_send(registry, connect_atom::value, session);
    sched.run();
  }

  ~node_fixture() {
    for (auto hdl : {caf::actor_cast<caf::actor>(session),
                     caf::actor_cast<caf::actor>(log),
                     caf::actor_cast<caf::actor>(registry)})
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    sched.run();
  }

  /// A client actor that relays test requests to the session actor and
  /// records what comes back.
  caf::actor spawn_probe(std::shared_ptr<probe_log> seen) {
    auto target = session;
    auto probe = sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
      return {
        [=](hello_atom) {
          self->request(target, caf::infinite, hello_atom::value)
            .then([=](const pb::Hello& h) {
              seen->sessions.push_back(h.session_id());
            });
        },
        [=](request_atom, pb::Request& req) {
          self->request(target, caf::infinite, request_atom::value,
                        std::move(req))
            .then([=](pb::Response& r) { seen->responses.push_back(r); });
        },
      };
    });
    caf::anon_send(probe, hello_atom::value);
    sched.run();
    return probe;
  }

  pb::Response ask(const caf::actor& probe, const std::shared_ptr<probe_log>& seen,
                   pb::Request req) {
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

pb::Request status_req() {
  pb::Request req;
  req.mutable_status();
  return req;
}

int code(error_code e) { return static_cast<int>(e); }

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
  CHECK(created.zxid() == 1);
  // The timestamp is the log's (leader's) clock, carried in the entry.
  CHECK(created.op().stat().ctime_ms() == f.now_ms);

  auto got = f.ask(probe, seen, get_req("/app"));
  CHECK(got.error() == 0);
  CHECK(got.data().data() == "v1");
  CHECK(got.zxid() == 1);

  auto status = f.ask(probe, seen, status_req());
  CHECK(status.status().applied_index() == 1);
  CHECK(status.status().commit_index() == 1);
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

TEST_CASE("node actors: a client's ephemerals vanish when it goes down",
          "[actors]") {
  node_fixture f;
  auto seen = std::make_shared<probe_log>();
  auto owner = f.spawn_probe(seen);
  auto other_seen = std::make_shared<probe_log>();
  auto other = f.spawn_probe(other_seen);
  REQUIRE(f.ask(owner, seen, create_req("/svc", "")).error() == 0);
  REQUIRE(f.ask(owner, seen, create_req("/svc/i1", "e", create_mode::ephemeral))
            .error()
          == 0);
  REQUIRE(f.ask(other, other_seen, get_req("/svc/i1")).error() == 0);
  caf::anon_send_exit(owner, caf::exit_reason::kill);
  f.sched.run();
  CHECK(f.ask(other, other_seen, get_req("/svc/i1")).error()
        == code(error_code::no_node));
  // The persistent parent stays.
  CHECK(f.ask(other, other_seen, get_req("/svc")).error() == 0);
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
  // Nothing entered the log.
  CHECK(f.ask(probe, seen, status_req()).status().commit_index() == 0);
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
  CHECK(seen->responses[0].error() == code(error_code::session_expired));
}
