// http_request: the little HTTP/1.x a node's admin port needs, as a pure
// core: find and parse a request head, render a response.
//
// The admin port (actors/admin_server) serves GET /metrics and GET /status
// to scrapers and operators. Everything that arrives is untrusted: a head
// larger than the limit, a malformed request line or a header without a
// colon is an error value, never a crash; nothing is allocated beyond the
// bytes given. Bodies are not supported (a request with a body gets 400 at
// the caller's discretion: only GET and HEAD are served). No I/O here.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace conclave {

struct http_request {
  std::string method;
  /// The target's path, without the query string ("/metrics").
  std::string path;
  /// "HTTP/1.0" or "HTTP/1.1".
  std::string version;
  /// Content-Length or Transfer-Encoding was sent: the request has a body.
  bool has_body = false;
};

enum class http_parse_status {
  /// No complete head yet ("\r\n\r\n" not seen) and still under the limit.
  incomplete,
  ok,
  /// Malformed: a bad request line, a header line without ':', a version
  /// other than HTTP/1.0 or HTTP/1.1, control characters.
  bad_request,
  /// The head is longer than the limit (or no end within it).
  too_large,
};

/// Parses the request head at the start of `buffer` (bytes as received).
/// `max_head_bytes` bounds the head, terminator included. On ok, fills
/// `out` and sets `head_bytes` to the head's length.
http_parse_status parse_http_head(std::string_view buffer,
                                  size_t max_head_bytes, http_request& out,
                                  size_t& head_bytes);

/// A complete HTTP/1.1 response with Content-Type, Content-Length and
/// "Connection: close"; `with_body` false (HEAD) leaves the body out but
/// keeps its length.
std::string http_response(int status, std::string_view reason,
                          std::string_view content_type, std::string_view body,
                          bool with_body = true);

} // namespace conclave
