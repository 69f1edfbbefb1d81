#include "actors/admin_server.hpp"

#include "actors/fault_injection.hpp"

#include <memory>

#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>

#include "actors/tcp_listener.hpp"
#include "runtime/http_request.hpp"
#include "runtime/logging.hpp"

namespace conclave {

namespace {

using caf::io::connection_handle;

struct admin_shared {
  admin_server_options options;
  session_actor session;
  std::function<zk_figures()> zk;
};

struct admin_connection_state {
  std::string buffer;
  bool answered = false;
};

void answer(caf::io::broker* self, connection_handle hdl,
            const std::shared_ptr<admin_connection_state>& st,
            const std::string& response) {
  if (st->answered)
    return;
  st->answered = true;
  self->write(hdl, response.size(), response.data());
  self->flush(hdl);
  self->close(hdl);
  self->quit();
}

std::string plain(int status, std::string_view reason, std::string_view text,
                  bool with_body = true) {
  return http_response(status, reason, "text/plain; charset=utf-8",
                       std::string{text} + "\n", with_body);
}

void serve(caf::io::broker* self, connection_handle hdl,
           const std::shared_ptr<admin_connection_state>& st,
           const std::shared_ptr<admin_shared>& shared,
           const http_request& req) {
  auto head_only = req.method == "HEAD";
  if (req.method != "GET" && !head_only) {
    answer(self, hdl, st,
           plain(405, "Method Not Allowed", "only GET and HEAD are served"));
    return;
  }
  if (req.has_body) {
    answer(self, hdl, st, plain(400, "Bad Request", "unexpected body"));
    return;
  }
  if (req.path != "/metrics" && req.path != "/status") {
    answer(self, hdl, st,
           plain(404, "Not Found", "not found; try /metrics or /status",
                 !head_only));
    return;
  }
  auto path = req.path;
  self
    ->request(shared->session, shared->options.request_timeout,
              status_atom::value)
    .then(
      [=](const pb::NodeStatus& status) {
        if (path == "/metrics")
          answer(self, hdl, st,
                 http_response(200, "OK", prometheus::content_type(),
                               render_metrics(status, shared->zk()),
                               !head_only));
        else
          answer(self, hdl, st,
                 http_response(200, "OK", "application/json",
                               render_status_json(status), !head_only));
      },
      [=](const caf::error& err) {
        answer(self, hdl, st,
               plain(503, "Service Unavailable",
                     "node status unavailable: " + self->system().render(err),
                     !head_only));
      });
}

caf::behavior admin_connection(caf::io::broker* self, connection_handle hdl,
                               std::shared_ptr<admin_shared> shared) {
  auto st = std::make_shared<admin_connection_state>();
  self->configure_read(hdl, caf::io::receive_policy::at_most(4096));
  self->delayed_send(self, shared->options.request_timeout, sweep_atom::value);
  return {
    [=](const caf::io::new_data_msg& msg) {
      if (st->answered)
        return;
      st->buffer.append(msg.buf.begin(), msg.buf.end());
      http_request req;
      size_t head_bytes = 0;
      switch (parse_http_head(st->buffer, shared->options.max_head_bytes, req,
                              head_bytes)) {
        case http_parse_status::incomplete:
          return;
        case http_parse_status::too_large:
          answer(self, hdl, st,
                 plain(431, "Request Header Fields Too Large",
                       "request head over "
                         + std::to_string(shared->options.max_head_bytes)
                         + " bytes"));
          return;
        case http_parse_status::bad_request:
          answer(self, hdl, st, plain(400, "Bad Request", "malformed request"));
          return;
        case http_parse_status::ok:
          st->answered = false;
          serve(self, hdl, st, shared, req);
          // Nothing more is read: one request per connection.
          self->halt(hdl);
          return;
      }
    },
    [=](sweep_atom) {
      if (!st->answered && st->buffer.find("\r\n\r\n") == std::string::npos)
        answer(self, hdl, st,
               plain(408, "Request Timeout", "no request within the timeout"));
    },
    [=](const caf::io::connection_closed_msg&) { self->quit(); },
  };
}

caf::behavior admin_listener(caf::io::broker* self,
                             std::shared_ptr<admin_shared> shared) {
  return {
    [=](const caf::io::new_connection_msg& msg) {
      self->fork(admin_connection, msg.handle, shared);
    },
    [=](const caf::io::acceptor_closed_msg&) { self->quit(); },
    [=](fault_atom, const std::string& kind) { inject_fault(self, kind); },
  };
}

} // namespace

std::variant<tcp_listener, std::string>
start_admin_server(caf::actor_system& sys, admin_server_options options,
                   session_actor session, std::function<zk_figures()> zk) {
  auto shared = std::make_shared<admin_shared>();
  shared->options = std::move(options);
  shared->session = std::move(session);
  shared->zk = std::move(zk);
  const auto& opts = shared->options;
  auto listening = spawn_tcp_listener(
    sys, opts.bind_address, opts.port,
    [shared](caf::io::broker* self) { return admin_listener(self, shared); });
  if (auto listener = std::get_if<tcp_listener>(&listening))
    CONCLAVE_LOG("admin", info)
      << "admin port: http://" << opts.bind_address << ":" << listener->port
      << "/metrics and /status";
  return listening;
}

} // namespace conclave
