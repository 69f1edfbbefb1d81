#include "runtime/http_request.hpp"

#include <algorithm>
#include <cctype>

namespace conclave {

namespace {

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0
         || std::string_view{"!#$%&'*+-.^_`|~"}.find(c)
              != std::string_view::npos;
}

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
  });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x))
                     == std::tolower(static_cast<unsigned char>(y));
            });
}

} // namespace

http_parse_status parse_http_head(std::string_view buffer,
                                  size_t max_head_bytes, http_request& out,
                                  size_t& head_bytes) {
  auto end = buffer.find("\r\n\r\n");
  if (end == std::string_view::npos)
    return buffer.size() >= max_head_bytes ? http_parse_status::too_large
                                           : http_parse_status::incomplete;
  head_bytes = end + 4;
  if (head_bytes > max_head_bytes)
    return http_parse_status::too_large;
  auto head = buffer.substr(0, end);
  auto line_end = std::min(head.find("\r\n"), head.size());
  auto line = head.substr(0, line_end);
  // METHOD SP target SP version, nothing else.
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != line.npos)
    return http_parse_status::bad_request;
  auto method = line.substr(0, sp1);
  auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = line.substr(sp2 + 1);
  if (method.empty()
      || !std::all_of(method.begin(), method.end(), is_token_char)
      || target.empty() || target.front() != '/' || has_control_chars(target)
      || (version != "HTTP/1.0" && version != "HTTP/1.1"))
    return http_parse_status::bad_request;
  bool body = false;
  for (auto pos = line_end; pos < head.size();) {
    pos += 2; // the "\r\n" before the header line
    auto next = std::min(head.find("\r\n", pos), head.size());
    auto header = head.substr(pos, next - pos);
    auto colon = header.find(':');
    if (colon == std::string_view::npos || colon == 0
        || has_control_chars(header))
      return http_parse_status::bad_request;
    auto name = header.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char))
      return http_parse_status::bad_request;
    if (iequals(name, "content-length")) {
      auto value = header.substr(colon + 1);
      body = body || value.find_first_not_of(" \t0") != value.npos;
    } else if (iequals(name, "transfer-encoding")) {
      body = true;
    }
    pos = next;
  }
  out.method = std::string{method};
  out.path = std::string{target.substr(0, target.find('?'))};
  out.version = std::string{version};
  out.has_body = body;
  return http_parse_status::ok;
}

std::string http_response(int status, std::string_view reason,
                          std::string_view content_type, std::string_view body,
                          bool with_body) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " ";
  out += reason;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size());
  out += "\r\nConnection: close\r\n\r\n";
  if (with_body)
    out += body;
  return out;
}

} // namespace conclave
