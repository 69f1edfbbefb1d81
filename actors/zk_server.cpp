#include "actors/zk_server.hpp"

#include "actors/fault_injection.hpp"

#include <sys/resource.h>

#include <atomic>
#include <deque>
#include <functional>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/tcp_listener.hpp"
#include "runtime/command_codec.hpp"
#include "runtime/logging.hpp"
#include "runtime/zk/frame_decoder.hpp"
#include "runtime/zk/records.hpp"
#include "runtime/zk/translate.hpp"

namespace conclave {

namespace {

using caf::io::connection_handle;

/// One connection's figures for "cons" and "stat", updated by the
/// connection without locking.
struct connection_counters {
  std::string remote;
  std::atomic<int64_t> session_id{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> sent{0};
};

/// What every connection of one node shares. Brokers run in the
/// middleman's one I/O thread; the mutex guards the counts anyway.
struct zk_shared {
  std::mutex mtx;
  zk_server_options options;
  session_actor session;
  log_actor log;
  registry_actor registry;
  /// Open connections per client address.
  std::map<std::string, size_t> per_address;
  /// What the four-letter words report (ZooKeeper's ServerStats); counted
  /// on every frame, so atomics rather than the mutex.
  std::atomic<uint64_t> packets_received{0};
  std::atomic<uint64_t> packets_sent{0};
  std::atomic<uint64_t> outstanding{0};
  uint64_t latency_count = 0;
  double latency_total_ms = 0;
  double latency_min_ms = 0;
  double latency_max_ms = 0;
  /// Latency per op code (seconds), for the admin port's /metrics.
  std::map<int32_t, prometheus::histogram> latency_by_op;
  /// Live connections by an id of their own (for "cons" and "stat").
  std::map<uint64_t, std::shared_ptr<connection_counters>> connections;
  uint64_t next_connection_id = 1;

  void record_latency(int32_t type, double ms) {
    std::lock_guard<std::mutex> guard{mtx};
    latency_by_op.try_emplace(type, prometheus::histogram::latency_seconds())
      .first->second.observe(ms / 1000.0);
    latency_min_ms = latency_count == 0 ? ms : std::min(latency_min_ms, ms);
    latency_max_ms = std::max(latency_max_ms, ms);
    latency_total_ms += ms;
    ++latency_count;
  }
};

/// One answer, in request order; `frame` is set once it is finished.
struct queued_reply {
  uint64_t seq = 0;
  std::optional<std::string> frame;
  /// Close the connection once this answer is written.
  bool close_after = false;
};

struct zk_connection_state {
  std::shared_ptr<zk_shared> shared;
  uint64_t id = 0;
  std::shared_ptr<connection_counters> counters;
  connection_handle hdl;
  std::string peer;
  zk::frame_decoder decoder;
  bool established = false;
  bool closing = false;
  /// Frames that came before the handshake was answered.
  std::deque<std::string> early;
  bool handshake_pending = false;
  std::deque<queued_reply> replies;
  uint64_t next_seq = 0;
  /// Reading is halted: too many answers outstanding.
  bool halted = false;
  /// Requests to the node held back until this connection's writes before
  /// them are answered (ZooKeeper answers a read after the session's earlier
  /// writes: it must see them).
  std::deque<std::function<void()>> deferred;
  std::deque<bool> deferred_is_read;
  size_t writes_in_flight = 0;
  int64_t last_zxid = 0;
  /// Bytes written to the socket's buffer and not yet sent (CAF reports
  /// what remains after each transfer).
  uint64_t unsent = 0;
};

/// Write-side flow control: a client that does not read its answers stops
/// being read, and its requests stop being sent to the node, once this
/// much waits to be sent; both resume below the low mark. A connection
/// whose unsent bytes pass the hard cap (possible only when notifications
/// pile up for a client that never reads) is closed.
constexpr uint64_t unsent_high_bytes = 4 * 1024 * 1024;
constexpr uint64_t unsent_low_bytes = 1024 * 1024;

/// At most every outstanding answer at the largest frame, plus room for
/// notifications.
uint64_t unsent_cap(const zk_server_options& opts) {
  return opts.max_outstanding_per_connection * opts.max_frame_bytes
         + 64 * 1024 * 1024;
}

void shut(caf::io::broker* self,
          const std::shared_ptr<zk_connection_state>& st);

using state_ptr = std::shared_ptr<zk_connection_state>;

/// Open file descriptors of this process (ZooKeeper's
/// zk_open_file_descriptor_count).
uint64_t open_file_descriptors() {
  std::error_code ec;
  uint64_t n = 0;
  for (std::filesystem::directory_iterator i{"/proc/self/fd", ec}, end;
       !ec && i != end; i.increment(ec))
    ++n;
  return n;
}

std::string frame_of(const std::string& payload) {
  std::string out;
  zk::jute_writer w{out};
  auto start = w.begin_frame();
  w.write_raw(payload);
  w.end_frame(start);
  return out;
}

void write(caf::io::broker* self, const state_ptr& st, const std::string& b) {
  if (b.empty() || st->closing)
    return;
  self->write(st->hdl, b.size(), b.data());
  self->flush(st->hdl);
  st->unsent += b.size();
  if (st->unsent > unsent_cap(st->shared->options)) {
    CONCLAVE_LOG("zk", warning) << "closing " << st->peer << ": " << st->unsent
                                << " bytes of answers unread";
    shut(self, st);
  }
  ++st->shared->packets_sent;
  ++st->counters->sent;
}

void shut(caf::io::broker* self, const state_ptr& st) {
  if (st->closing)
    return;
  st->closing = true;
  self->close(st->hdl);
  self->quit();
}

/// Stops reading while too many answers are outstanding; resumes once half
/// of them are written.
void apply_backpressure(caf::io::broker* self, const state_ptr& st) {
  auto limit = st->shared->options.max_outstanding_per_connection;
  if (!st->halted
      && (st->replies.size() >= limit || st->unsent >= unsent_high_bytes)) {
    st->halted = true;
    self->halt(st->hdl);
  } else if (st->halted && st->replies.size() <= limit / 2
             && st->unsent <= unsent_low_bytes) {
    st->halted = false;
    self->trigger(st->hdl);
  }
}

/// Writes every finished answer at the head of the queue.
void drain(caf::io::broker* self, const state_ptr& st) {
  while (!st->replies.empty() && st->replies.front().frame) {
    auto r = std::move(st->replies.front());
    st->replies.pop_front();
    --st->shared->outstanding;
    write(self, st, *r.frame);
    if (r.close_after) {
      shut(self, st);
      return;
    }
  }
  apply_backpressure(self, st);
}

/// Sends held-back requests in order: writes at once (the log keeps their
/// order), reads only when no earlier write is still unanswered.
void dispatch(const state_ptr& st) {
  while (!st->deferred.empty() && !st->closing
         && st->unsent < unsent_high_bytes) {
    if (st->deferred_is_read.front() && st->writes_in_flight > 0)
      return;
    auto next = std::move(st->deferred.front());
    st->deferred.pop_front();
    st->deferred_is_read.pop_front();
    next();
  }
}

void write_done(caf::io::broker*, const state_ptr& st) {
  if (st->writes_in_flight > 0)
    --st->writes_in_flight;
  dispatch(st);
}

void handle_request(caf::io::broker* self, const state_ptr& st,
                    std::string_view frame) {
  zk::jute_reader in{frame};
  auto header = zk::decode<zk::request_header>(in);
  if (!header) {
    CONCLAVE_LOG("zk", info)
      << "closing " << st->peer << ": malformed request header";
    shut(self, st);
    return;
  }
  auto body = frame.substr(in.offset());
  auto xid = header->xid;
  auto type = header->type;
  auto seq = st->next_seq++;
  st->replies.push_back(queued_reply{seq, std::nullopt, false});
  ++st->shared->packets_received;
  ++st->shared->outstanding;
  ++st->counters->received;
  apply_backpressure(self, st);
  auto started = std::chrono::steady_clock::now();
  auto slot = std::prev(st->replies.end());
  auto what = zk::translate(type, body);
  if (auto local = std::get_if<zk::local_reply>(&what)) {
    auto bad
      = local->err == static_cast<int32_t>(error_code::marshalling_error);
    slot->frame = zk::frame_reply(
      xid, zk::reply{local->err, st->last_zxid, std::move(local->body)});
    slot->close_after = bad; // ZooKeeper drops a connection it cannot parse
    if (bad)
      CONCLAVE_LOG("zk", info) << "closing " << st->peer << ": malformed "
                               << zk::op_name(type) << " request";
    drain(self, st);
    return;
  }
  auto finish = [=](zk::reply r, bool close_after) {
    // The slot is still queued (answers leave only from the front, once
    // finished): sequence numbers increase along the queue.
    auto& q = st->replies;
    if (q.empty() || st->closing)
      return;
    auto index = seq - q.front().seq;
    if (index >= q.size())
      return;
    st->last_zxid = std::max(st->last_zxid, r.zxid);
    st->shared->record_latency(type,
                               std::chrono::duration<double, std::milli>(
                                 std::chrono::steady_clock::now() - started)
                                 .count());
    q[index].frame = zk::frame_reply(xid, r);
    q[index].close_after = close_after;
    drain(self, st);
  };
  if (std::holds_alternative<zk::close_session_request>(what)) {
    // After everything sent before it has been answered or sent.
    st->deferred.emplace_back([=] {
      auto& shared = *st->shared;
      self
        ->request(shared.session, shared.options.request_timeout,
                  bye_atom::value)
        .then(
          [=](const pb::Response& resp) {
            finish(zk::reply{0, resp.zxid(), {}}, true);
          },
          [=](const caf::error&) {
            finish(zk::reply{0, 0, {}}, true);
          });
    });
    st->deferred_is_read.push_back(true);
    dispatch(st);
    return;
  }
  auto sent = std::get<zk::to_node>(std::move(what));
  // A reconfig changes the configuration entry's zxid the connection's later
  // reads must see: ordered like a write.
  auto write = is_write(sent.request) || sent.reconfig.has_value();
  auto answered = [=](const zk::to_node& asked, const pb::Response& resp) {
    auto r = zk::encode_reply(type, asked, resp);
    // The node cannot serve this connection (no leader, or it no longer
    // knows the connection): a ZooKeeper server closes it, and the client
    // moves to another server. A failed auth closes it too (the session
    // lives on), as ZooKeeper does.
    auto lost
      = resp.error() == static_cast<int32_t>(error_code::connection_loss)
        || (type == static_cast<int32_t>(zk::op_code::auth)
            && resp.error() == static_cast<int32_t>(error_code::auth_failed));
    finish(std::move(r), lost);
    if (write)
      write_done(self, st);
  };
  auto timed_out = [=] {
    // No answer in time: the outcome is unknown, as ZooKeeper's
    // OperationTimeout says; the connection stays.
    finish(zk::reply{static_cast<int32_t>(error_code::operation_timeout),
                     st->last_zxid,
                     {}},
           false);
    if (write)
      write_done(self, st);
  };
  auto send = [=]() mutable {
    // Sent only once every earlier write of this connection is answered,
    // so last_zxid covers them.
    sent.request.set_min_zxid(st->last_zxid);
    auto req = sent.request;
    auto timeout = st->shared->options.request_timeout;
    if (sent.reconfig) {
      // First the membership, then the changes planned against it.
      self
        ->request(st->shared->session, timeout, request_atom::value,
                  std::move(req))
        .then(
          [=](const pb::Response& listed) {
            auto next = zk::plan_reconfig_request(
              *sent.reconfig, listed, static_cast<uint64_t>(timeout.count()));
            if (auto now = std::get_if<zk::reply>(&next)) {
              auto lost
                = now->err == static_cast<int32_t>(error_code::connection_loss);
              finish(std::move(*now), lost);
              if (write)
                write_done(self, st);
              return;
            }
            auto planned = std::get<zk::to_node>(std::move(next));
            planned.request.set_min_zxid(st->last_zxid);
            // Each change may wait `timeout` to catch up and to commit.
            auto steps = 1 + 2 * planned.request.reconfig().changes_size();
            auto preq = planned.request;
            self
              ->request(st->shared->session, timeout * steps,
                        request_atom::value, std::move(preq))
              .then([=](const pb::Response& resp) { answered(planned, resp); },
                    [=](const caf::error&) { timed_out(); });
          },
          [=](const caf::error&) { timed_out(); });
      return;
    }
    self
      ->request(st->shared->session, timeout, request_atom::value,
                std::move(req))
      .then([=](const pb::Response& resp) { answered(sent, resp); },
            [=](const caf::error&) { timed_out(); });
  };
  st->deferred.emplace_back([=]() mutable {
    if (write)
      ++st->writes_in_flight;
    send();
  });
  st->deferred_is_read.push_back(!write);
  dispatch(st);
}

void open_session(caf::io::broker* self, const state_ptr& st,
                  const zk::connect_request& req);

void handle_handshake(caf::io::broker* self, const state_ptr& st,
                      std::string_view frame) {
  zk::jute_reader in{frame};
  auto req = zk::decode<zk::connect_request>(in);
  if (!req) {
    CONCLAVE_LOG("zk", info)
      << "closing " << st->peer << ": malformed connect request";
    shut(self, st);
    return;
  }
  st->handshake_pending = true;
  auto last_seen = req->last_zxid_seen;
  // ZooKeeper refuses a client that has seen more than this server has
  // applied (ZooKeeperServer.processConnectRequest): it closes the
  // connection and the client tries another server.
  self
    ->request(st->shared->registry, st->shared->options.request_timeout,
              status_atom::value)
    .then(
      [=](const pb::NodeStatus& status) {
        auto applied = static_cast<int64_t>(status.applied_index());
        if (last_seen > applied) {
          CONCLAVE_LOG("zk", info)
            << "refusing " << st->peer << ": it has seen zxid "
            << hex(last_seen) << ", this node is at " << hex(applied);
          shut(self, st);
          return;
        }
        open_session(self, st, *req);
      },
      [=](const caf::error&) { shut(self, st); });
}

void open_session(caf::io::broker* self, const state_ptr& st,
                  const zk::connect_request& req) {
  pb::Connect connect;
  connect.set_session_id(req.session_id);
  connect.set_password(req.passwd);
  connect.set_timeout_ms(req.time_out);
  connect.set_last_zxid(req.last_zxid_seen);
  // For ip-scheme ACLs: the dotted IPv4 address (IPv4-mapped IPv6 unwrapped).
  std::string_view ip = st->peer;
  if (ip.substr(0, 7) == "::ffff:")
    ip.remove_prefix(7);
  connect.set_client_ip(std::string{ip});
  auto has_read_only = req.has_read_only;
  auto& shared = *st->shared;
  self
    ->request(shared.session, shared.options.request_timeout, hello_atom::value,
              std::move(connect))
    .then(
      [=](const pb::Hello& hello) {
        st->handshake_pending = false;
        zk::connect_response resp;
        resp.has_read_only = has_read_only;
        if (hello.error()
            == static_cast<int32_t>(error_code::session_expired)) {
          // ZooKeeper's answer to an expired or unknown session: timeout 0,
          // session 0, a zero password, then the connection closes.
          resp.passwd.assign(zk::session_passwd_bytes, '\0');
          std::string payload;
          zk::jute_writer w{payload};
          encode(w, resp);
          write(self, st, frame_of(payload));
          shut(self, st);
          return;
        }
        if (hello.error() != 0) {
          // No leader here, or too many connections: the client tries the
          // next server.
          shut(self, st);
          return;
        }
        resp.time_out = hello.timeout_ms();
        resp.session_id = hello.session_id();
        resp.passwd = hello.password();
        st->last_zxid = std::max(st->last_zxid, hello.zxid());
        std::string payload;
        zk::jute_writer w{payload};
        encode(w, resp);
        write(self, st, frame_of(payload));
        st->established = true;
        st->counters->session_id = hello.session_id();
        auto early = std::move(st->early);
        st->early.clear();
        for (const auto& f : early)
          if (!st->closing)
            handle_request(self, st, f);
      },
      [=](const caf::error&) { shut(self, st); });
}

/// Collects the figures the four-letter words report.
void answer_four_letter_word(caf::io::broker* self, const state_ptr& st,
                             std::string word) {
  auto& shared = *st->shared;
  if (!shared.options.four_letter_words.allows(word)) {
    write(self, st,
          zk::render_four_letter(word, shared.options.four_letter_words, {}));
    shut(self, st);
    return;
  }
  auto reg = shared.registry;
  auto timeout = shared.options.request_timeout;
  self->request(shared.log, timeout, status_atom::value)
    .then(
      [=](const pb::NodeStatus& raft) {
        self->request(reg, timeout, status_atom::value)
          .then(
            [=](const pb::NodeStatus& tree) {
              zk::server_figures f;
              f.version = std::string{"3.8.0-conclave-"} + CONCLAVE_VERSION;
              // A cluster of one is what ZooKeeper calls standalone.
              f.mode = raft.role() == "leader" && raft.peers_size() == 0
                         ? std::string{"standalone"}
                         : raft.role();
              f.open_file_descriptors = open_file_descriptors();
              rlimit files{};
              if (::getrlimit(RLIMIT_NOFILE, &files) == 0)
                f.max_file_descriptors = files.rlim_cur;
              f.last_zxid = static_cast<int64_t>(tree.applied_index());
              f.znode_count = tree.znode_count();
              f.watch_count = tree.watch_count();
              f.ephemeral_count = tree.ephemeral_count();
              f.approximate_data_bytes = tree.approximate_data_bytes();
              f.node_id = raft.node_id();
              f.raft_term = raft.term();
              f.leader_id = raft.leader_id();
              f.commit_index = raft.commit_index();
              f.applied_index = tree.applied_index();
              f.last_log_index = raft.last_log_index();
              f.snapshot_index = tree.snapshot_index();
              f.session_count = tree.session_count();
              f.log_bytes = raft.log_bytes();
              for (const auto& p : raft.peers()) {
                ++f.followers;
                if (p.match_index() == raft.last_log_index())
                  ++f.synced_followers;
              }
              f.configuration = st->shared->options.configuration;
              {
                auto& sh = *st->shared;
                std::lock_guard<std::mutex> guard{sh.mtx};
                f.packets_received = sh.packets_received;
                f.packets_sent = sh.packets_sent;
                f.outstanding_requests = sh.outstanding;
                f.min_latency_ms = sh.latency_min_ms;
                f.max_latency_ms = sh.latency_max_ms;
                f.avg_latency_ms
                  = sh.latency_count == 0
                      ? 0.0
                      : sh.latency_total_ms
                          / static_cast<double>(sh.latency_count);
                for (const auto& [id, c] : sh.connections)
                  if (id != st->id) // not the four-letter connection
                    f.connections.push_back(zk::connection_figures{
                      c->remote, c->session_id.load(), 0, c->received.load(),
                      c->sent.load()});
                f.alive_connections = f.connections.size();
              }
              write(self, st,
                    zk::render_four_letter(
                      word, st->shared->options.four_letter_words, f));
              shut(self, st);
            },
            [=](const caf::error&) { shut(self, st); });
      },
      [=](const caf::error&) { shut(self, st); });
}

caf::behavior zk_connection(caf::io::broker* self, connection_handle hdl,
                            std::shared_ptr<zk_shared> shared) {
  auto st = std::make_shared<zk_connection_state>();
  st->shared = shared;
  st->hdl = hdl;
  st->peer = self->remote_addr(hdl);
  st->decoder = zk::frame_decoder{shared->options.max_frame_bytes};
  self->configure_read(hdl, caf::io::receive_policy::at_most(64 * 1024));
  self->ack_writes(hdl, true);
  self->delayed_send(self, shared->options.request_timeout, sweep_atom::value);
  // The session actor watches this actor like any client: when the
  // connection goes, the session is detached (it lives on until it expires
  // or the client resumes it elsewhere).
  {
    std::lock_guard<std::mutex> guard{shared->mtx};
    st->id = shared->next_connection_id++;
    st->counters = std::make_shared<connection_counters>();
    st->counters->remote
      = "/" + st->peer + ":" + std::to_string(self->remote_port(hdl));
    shared->connections.emplace(st->id, st->counters);
  }
  // A restarted session actor means new listeners and a new session actor:
  // the client reconnects (to this node or another) and resumes its session
  // there, rather than talking to a dead actor.
  self->monitor(shared->session);
  self->set_down_handler([=](const caf::down_msg& msg) {
    if (msg.source == shared->session.address()) {
      CONCLAVE_LOG("zk", info)
        << "closing " << st->peer << ": the session actor went down";
      shut(self, st);
    }
  });
  self->attach_functor([shared, st] {
    auto& peer = st->peer;
    std::lock_guard<std::mutex> guard{shared->mtx};
    shared->connections.erase(st->id);
    // Each queued answer was counted once and is uncounted when written.
    shared->outstanding -= st->replies.size();
    if (auto i = shared->per_address.find(peer);
        i != shared->per_address.end() && --i->second == 0)
      shared->per_address.erase(i);
  });
  return {
    [=](const caf::io::new_data_msg& msg) {
      if (st->closing)
        return;
      std::string_view chunk{msg.buf.data(), msg.buf.size()};
      auto status = st->decoder.feed(
        chunk,
        [&](std::string_view frame) {
          if (st->closing)
            return;
          if (!st->established && !st->handshake_pending)
            handle_handshake(self, st, frame);
          else if (!st->established) {
            // Requests pipelined behind the handshake wait for it, up to
            // the outstanding limit (a client that floods before it is
            // even connected is cut off).
            if (st->early.size()
                >= st->shared->options.max_outstanding_per_connection) {
              CONCLAVE_LOG("zk", info)
                << "closing " << st->peer
                << ": too many requests before the handshake finished";
              shut(self, st);
              return;
            }
            st->early.emplace_back(frame);
          } else
            handle_request(self, st, frame);
        },
        [&](std::string_view word) {
          answer_four_letter_word(self, st, std::string{word});
        });
      if (status == zk::frame_status::error) {
        const auto& err = st->decoder.error();
        CONCLAVE_LOG("zk", info)
          << "closing " << st->peer << ": " << zk::to_string(err.code)
          << " (declared length " << err.declared_length << ")";
        shut(self, st);
      }
    },
    [=](event_atom, const pb::WatchEvent& ev) {
      if (st->closing)
        return;
      if (ev.type() == -1) {
        // The node lost its leader, or the session expired: a ZooKeeper
        // server closes the connection; the client reconnects elsewhere
        // (and learns of an expiry there).
        shut(self, st);
        return;
      }
      st->last_zxid = std::max(st->last_zxid, ev.zxid());
      auto frame = zk::frame_notification(ev);
      if (frame.empty())
        return;
      if (st->replies.empty()) {
        write(self, st, frame);
        return;
      }
      // After the replies already queued (some may be finished reads of the
      // watched node): a client registers a watch when its read's reply
      // arrives, so the event must not overtake that reply.
      ++st->shared->outstanding;
      st->replies.push_back(
        queued_reply{st->next_seq++, std::move(frame), false});
      drain(self, st);
    },
    [=](sweep_atom) {
      // A connection that has not even started its handshake in time holds
      // a slot for nothing (ZooKeeper closes those too).
      if (!st->established && !st->handshake_pending
          && !st->decoder.saw_four_letter_word()) {
        CONCLAVE_LOG("zk", info)
          << "closing " << st->peer << ": no handshake within "
          << st->shared->options.request_timeout.count() << " ms";
        shut(self, st);
      }
    },
    [=](const caf::io::data_transferred_msg& msg) {
      if (st->closing)
        return;
      st->unsent = msg.remaining;
      if (st->unsent <= unsent_low_bytes) {
        apply_backpressure(self, st);
        dispatch(st);
      }
    },
    [=](const caf::io::connection_closed_msg&) {
      st->closing = true;
      self->quit();
    },
  };
}

caf::behavior zk_listener(caf::io::broker* self,
                          std::shared_ptr<zk_shared> shared) {
  return {
    [=](const caf::io::new_connection_msg& msg) {
      auto peer = self->remote_addr(msg.handle);
      std::unique_lock<std::mutex> guard{shared->mtx};
      auto& count = shared->per_address[peer];
      if (count >= shared->options.max_connections_per_address) {
        guard.unlock();
        CONCLAVE_LOG("zk", warning)
          << "refusing a connection from " << peer << ": it has "
          << shared->options.max_connections_per_address
          << " already (zk-max-connections-per-address)";
        self->close(msg.handle);
        return;
      }
      ++count;
      guard.unlock();
      self->fork(zk_connection, msg.handle, shared);
    },
    [=](const caf::io::acceptor_closed_msg&) { self->quit(); },
    [=](fault_atom, const std::string& kind) { inject_fault(self, kind); },
  };
}

} // namespace

std::variant<zk_server_handle, std::string>
start_zk_server(caf::actor_system& sys, zk_server_options options,
                session_actor session, log_actor log, registry_actor registry) {
  auto shared = std::make_shared<zk_shared>();
  shared->options = std::move(options);
  shared->session = std::move(session);
  shared->log = std::move(log);
  shared->registry = std::move(registry);
  auto listening = spawn_tcp_listener(
    sys, shared->options.bind_address, shared->options.port,
    [shared](caf::io::broker* self) { return zk_listener(self, shared); });
  if (auto err = std::get_if<std::string>(&listening))
    return *err;
  auto& listener = std::get<tcp_listener>(listening);
  zk_server_handle out;
  out.listener = listener.broker;
  out.port = listener.port;
  out.figures = [shared] {
    zk_figures f;
    f.packets_received = shared->packets_received;
    f.packets_sent = shared->packets_sent;
    f.outstanding_requests = shared->outstanding;
    std::lock_guard<std::mutex> guard{shared->mtx};
    f.connections = shared->connections.size();
    for (const auto& [type, h] : shared->latency_by_op)
      f.latency.emplace_back(zk::op_name(type), h);
    return f;
  };
  return out;
}

} // namespace conclave
