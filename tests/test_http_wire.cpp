// The server's request framing (src/http/wire.hpp): what parse_request makes of requests that
// check_request found complete.
#include <gtest/gtest.h>

#include "wire.hpp"

using namespace pytheus::http::wire;

namespace {

Request parse_complete(std::string_view in) {
  const RequestCheck check = check_request(in, 16384);
  EXPECT_EQ(check.status, RequestCheck::Status::complete) << in;
  return parse_request(in.substr(0, check.size));
}

}  // namespace

TEST(HttpWireTest, ParsesMethodTargetHeadersAndBody) {
  const Request r = parse_complete(
      "POST /metrics?x=1 HTTP/1.1\r\nHost: h\r\nAccept:  text/plain \r\nContent-Length: 3\r\n\r\n"
      "abcGET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/metrics?x=1");
  EXPECT_EQ(r.path(), "/metrics");
  EXPECT_EQ(r.version, "HTTP/1.1");
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[1].first, "Accept");
  EXPECT_EQ(r.headers[1].second, "text/plain");
  EXPECT_EQ(r.body, "abc");
}

TEST(HttpWireTest, KeepAliveFollowsVersionAndConnection) {
  EXPECT_TRUE(parse_complete("GET / HTTP/1.1\r\n\r\n").keep_alive());
  EXPECT_FALSE(parse_complete("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive());
  EXPECT_FALSE(parse_complete("GET / HTTP/1.1\r\nConnection: te, close\r\n\r\n").keep_alive());
  EXPECT_FALSE(parse_complete("GET / HTTP/1.0\r\n\r\n").keep_alive());
  EXPECT_TRUE(parse_complete("GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").keep_alive());
}

TEST(HttpWireTest, RefusesWhatCouldBeFramedTwoWays) {
  EXPECT_EQ(
      check_request("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 16384)
          .code,
      400);
  EXPECT_EQ(check_request("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 16384).code, 501);
  EXPECT_EQ(check_request("GET / HTTP/1.1\nHost: x\n\n", 16384).code, 400);
  EXPECT_EQ(check_request("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a'), 1024).code, 431);
  EXPECT_EQ(check_request("GET / HTTP/1.1\r\nHost: x", 16384).status,
            RequestCheck::Status::incomplete);
}
