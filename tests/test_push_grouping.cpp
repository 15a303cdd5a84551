// The Pushgateway group's path and the gateway URL, without a server: the encodings the
// Pushgateway README prescribes, and the names it refuses.
#include <gtest/gtest.h>

#include <string>

#include "curl_request.hpp"
#include "grouping_key.hpp"
#include "pytheus/push/pushgateway.hpp"

using pytheus::InvalidNameError;
using pytheus::push::PushError;
using pytheus::push::Pushgateway;
using pytheus::push::PushgatewayOptions;
namespace detail = pytheus::push::detail;

TEST(PushGroupingKey, Base64UrlIsRfc4648Section5WithPadding) {
  EXPECT_EQ(detail::base64url(""), "");
  EXPECT_EQ(detail::base64url("f"), "Zg==");
  EXPECT_EQ(detail::base64url("fo"), "Zm8=");
  EXPECT_EQ(detail::base64url("foo"), "Zm9v");
  EXPECT_EQ(detail::base64url("/var/tmp"), "L3Zhci90bXA=");
  // The URL-safe alphabet: '-' and '_' where standard base64 has '+' and '/'.
  EXPECT_EQ(detail::base64url("\xfb\xff\xbf"), "-_-_");
}

TEST(PushGroupingKey, PlainJobAndLabels) {
  EXPECT_EQ(detail::grouping_path("backup", {}), "/metrics/job/backup");
  // Labels in name order, whatever order they were given in.
  EXPECT_EQ(detail::grouping_path("backup", {{"zone", "eu"}, {"instance", "db1"}}),
            "/metrics/job/backup/instance/db1/zone/eu");
}

TEST(PushGroupingKey, SlashUsesBase64) {
  EXPECT_EQ(detail::grouping_path("directory_cleaner", {{"path", "/var/tmp"}}),
            "/metrics/job/directory_cleaner/path@base64/L3Zhci90bXA=");
  EXPECT_EQ(detail::grouping_path("a/b", {}), "/metrics/job@base64/YS9i");
}

TEST(PushGroupingKey, EmptyValueIsASingleEquals) {
  EXPECT_EQ(detail::grouping_path("job1", {{"instance", ""}}),
            "/metrics/job/job1/instance@base64/=");
}

TEST(PushGroupingKey, OtherBytesArePercentEncoded) {
  EXPECT_EQ(detail::grouping_path("my job", {{"v", "a+b%c?d#e"}}),
            "/metrics/job/my%20job/v/a%2Bb%25c%3Fd%23e");
  EXPECT_EQ(detail::grouping_path("j", {{"city", "Z\xc3\xbcrich"}}),
            "/metrics/job/j/city/Z%C3%BCrich");
  EXPECT_EQ(detail::percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(detail::percent_encode(std::string("\0@", 2)), "%00%40");
}

TEST(PushGroupingKey, InvalidNamesAreRefusedWithTheName) {
  EXPECT_THROW(detail::grouping_path("", {}), InvalidNameError);
  try {
    detail::grouping_path("j", {{"bad-name", "x"}});
    FAIL() << "no exception";
  } catch (const InvalidNameError& e) {
    EXPECT_NE(std::string(e.what()).find("bad-name"), std::string::npos) << e.what();
  }
  EXPECT_THROW(detail::grouping_path("j", {{"", "x"}}), InvalidNameError);
  EXPECT_THROW(detail::grouping_path("j", {{"__reserved", "x"}}), InvalidNameError);
  EXPECT_THROW(detail::grouping_path("j", {{"job", "x"}}), InvalidNameError);
  EXPECT_THROW(detail::grouping_path("j", {{"1abc", "x"}}), InvalidNameError);
  EXPECT_NO_THROW(detail::grouping_path("j", {{"_ok_1", "x"}}));
}

TEST(PushGatewayUrl, SchemeDefaultsToHttpAndTrailingSlashGoes) {
  EXPECT_EQ(detail::parse_gateway_url("127.0.0.1:9091").base, "http://127.0.0.1:9091");
  EXPECT_EQ(detail::parse_gateway_url("localhost:9091").base, "http://localhost:9091");
  EXPECT_EQ(detail::parse_gateway_url("http://gw.example:9091/").base, "http://gw.example:9091");
  EXPECT_EQ(detail::parse_gateway_url("https://gw.example/prefix/").base,
            "https://gw.example/prefix");
}

TEST(PushGatewayUrl, CredentialsInTheUrlMoveOutOfIt) {
  const detail::GatewayUrl url = detail::parse_gateway_url("http://user:s%40cret@gw:9091");
  EXPECT_EQ(url.base, "http://gw:9091");
  ASSERT_TRUE(url.credentials);
  EXPECT_EQ(url.credentials->username, "user");
  EXPECT_EQ(url.credentials->password, "s@cret");

  Pushgateway gateway("http://user:hunter2@127.0.0.1:9091", "j", {});
  EXPECT_EQ(gateway.group_url(), "http://127.0.0.1:9091/metrics/job/j");
}

TEST(PushGatewayUrl, BadUrlsAreRefusedWithoutEchoingThem) {
  EXPECT_THROW(detail::parse_gateway_url("ftp://gw:21"), PushError);
  EXPECT_THROW(detail::parse_gateway_url("http://gw:9091/?x=1"), PushError);
  try {
    detail::parse_gateway_url("http://user:hunter2@gw:99999999");
    FAIL() << "no exception";
  } catch (const PushError& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(PushGateway, GroupUrlJoinsGatewayAndGroupingKey) {
  PushgatewayOptions options;
  options.grouping = {{"instance", "db1"}, {"path", "/srv"}};
  Pushgateway gateway("http://127.0.0.1:9091", "backup", options);
  EXPECT_EQ(gateway.group_url(),
            "http://127.0.0.1:9091/metrics/job/backup/instance/db1/path@base64/L3Nydg==");
  EXPECT_EQ(gateway.job(), "backup");
  EXPECT_THROW(Pushgateway("http://127.0.0.1:9091", ""), InvalidNameError);
  PushgatewayOptions zero;
  zero.request_timeout = std::chrono::milliseconds(0);
  EXPECT_THROW(Pushgateway("http://127.0.0.1:9091", "j", zero), PushError);
}
