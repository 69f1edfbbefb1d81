#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "runtime/http_request.hpp"

using namespace conclave;

namespace {

http_parse_status parse(std::string_view in, http_request& out,
                        size_t max = 8192) {
  size_t head = 0;
  return parse_http_head(in, max, out, head);
}

} // namespace

TEST_CASE("http_request: a GET head parses", "[http]") {
  http_request req;
  std::string in = "GET /metrics?x=1 HTTP/1.1\r\nHost: localhost:8080\r\n"
                   "Accept: */*\r\n\r\nleftover";
  size_t head = 0;
  REQUIRE(parse_http_head(in, 8192, req, head) == http_parse_status::ok);
  CHECK(req.method == "GET");
  CHECK(req.path == "/metrics");
  CHECK(req.version == "HTTP/1.1");
  CHECK_FALSE(req.has_body);
  CHECK(head == in.find("leftover"));
  // HTTP/1.0 without headers (what `printf 'GET / HTTP/1.0\r\n\r\n' | nc`
  // sends).
  REQUIRE(parse("GET /status HTTP/1.0\r\n\r\n", req) == http_parse_status::ok);
  CHECK(req.path == "/status");
}

TEST_CASE("http_request: incomplete heads wait and oversized ones fail",
          "[http]") {
  http_request req;
  CHECK(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", req)
        == http_parse_status::incomplete);
  CHECK(parse("", req) == http_parse_status::incomplete);
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a');
  CHECK(parse(big, req) == http_parse_status::too_large);
  CHECK(parse(big + "\r\n\r\n", req) == http_parse_status::too_large);
  // Exactly at the limit is fine.
  std::string fits = "GET / HTTP/1.1\r\n\r\n";
  CHECK(parse(fits, req, fits.size()) == http_parse_status::ok);
  CHECK(parse(fits, req, fits.size() - 1) == http_parse_status::too_large);
}

TEST_CASE("http_request: malformed heads are bad requests", "[http]") {
  http_request req;
  for (std::string line :
       {"GET /metrics\r\n\r\n", "GET  /metrics HTTP/1.1\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/2\r\n\r\n",
        "GET /metrics HTTP/1.1 extra\r\n\r\n", "G(T /metrics HTTP/1.1\r\n\r\n",
        "GET /me\x01trics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", "\r\n\r\n"}) {
    INFO(line);
    CHECK(parse(line, req) == http_parse_status::bad_request);
  }
}

TEST_CASE("http_request: a body is noticed", "[http]") {
  http_request req;
  REQUIRE(parse("POST /metrics HTTP/1.1\r\ncontent-length: 5\r\n\r\n", req)
          == http_parse_status::ok);
  CHECK(req.has_body);
  REQUIRE(parse("GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", req)
          == http_parse_status::ok);
  CHECK_FALSE(req.has_body);
  REQUIRE(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", req)
          == http_parse_status::ok);
  CHECK(req.has_body);
}

TEST_CASE("http_request: random bytes never crash the parser", "[http]") {
  std::mt19937_64 rng{7};
  const std::string alphabet
    = std::string{"GET /HTP1.0\r\n: abc"} + "\x01\x7f\xff";
  http_request req;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string in;
    for (auto n = rng() % 64; n > 0; --n)
      in += alphabet[rng() % alphabet.size()];
    size_t head = 0;
    auto status = parse_http_head(in, 48, req, head);
    if (status == http_parse_status::ok) {
      CHECK(head <= in.size());
      CHECK(head <= 48);
    }
  }
}

TEST_CASE("http_request: responses carry length and close", "[http]") {
  auto r = http_response(200, "OK", "text/plain", "hello");
  CHECK(r
        == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
           "Content-Length: 5\r\nConnection: close\r\n\r\nhello");
  // HEAD: the length of the body it would have sent, no body.
  auto h = http_response(200, "OK", "text/plain", "hello", false);
  CHECK(h.find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(h.substr(h.size() - 4) == "\r\n\r\n");
}
