// Redis credentials never show: the backend runs as an ACL user with only the commands
// docs/security.md lists, and every failure path it can be driven into (wrong password, wrong
// user, malformed config file, server down, user deleted, a refused command) leaves neither
// the username nor the password in stderr, exception messages or the exposition.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "redis_test_helpers.hpp"

using namespace pytheus;
using pytheus_test::RawRedis;
using pytheus_test::RedisReply;
using pytheus_test::RedisServer;
using pytheus_test::RedisTest;

namespace {

// Sends everything written to fd 2 into a file until stop().
class StderrCapture {
 public:
  StderrCapture() {
    char tmpl[] = "/tmp/pytheus-stderr-XXXXXX";
    fd_ = mkstemp(tmpl);
    path_ = tmpl;
    std::fflush(stderr);
    saved_ = dup(2);
    dup2(fd_, 2);
  }
  ~StderrCapture() {
    stop();
    std::remove(path_.c_str());
  }
  std::string stop() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      dup2(saved_, 2);
      close(saved_);
      close(fd_);
      saved_ = -1;
    }
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  int fd_ = -1;
  int saved_ = -1;
  std::string path_;
};

// The commands docs/security.md gives the backend's ACL user.
const std::vector<std::string> kAclCommands = {
    "+get",    "+set",   "+incrbyfloat", "+hgetall", "+hset", "+hincrbyfloat",
    "+hdel",   "+del",   "+expire",      "+multi",   "+exec", "+ping",
    "+select", "+setnx", "+hsetnx",      "+eval",    "+hget"};

void create_user(RawRedis& admin, const std::string& user, const std::string& password) {
  std::vector<std::string> args = {"ACL", "SETUSER",      user,     "reset",
                                   "on",  ">" + password, "~svc-*", "-@all"};
  args.insert(args.end(), kAclCommands.begin(), kAclCommands.end());
  RedisReply r = admin.run(args);
  ASSERT_EQ(r->type, REDIS_REPLY_STATUS) << (r->str ? r->str : "");
}

}  // namespace

TEST_F(RedisTest, CredentialsNeverLeak) {
  const std::string admin_pw = "admin-pw-4d1c9";
  const std::string user = "metrics-user-8b2e";
  const std::string password = "metrics-pw-77f0a";
  RedisServer::Options o;
  o.password = admin_pw;
  RedisServer server(o);
  RawRedis admin(server.port(), admin_pw);
  create_user(admin, user, password);
  const nlohmann::json good = {{"host", "127.0.0.1"},       {"port", server.port()},
                               {"username", user},          {"password", password},
                               {"key_prefix", "svc"},       {"command_timeout_ms", 200},
                               {"connect_timeout_ms", 200}, {"flush_interval_ms", 50}};
  std::vector<std::string> texts;  // exception messages and expositions
  auto expect_backend_error = [&](const nlohmann::json& config) {
    try {
      load_backend("MultiProcessRedisBackend", config);
      ADD_FAILURE() << "loaded with a bad config";
    } catch (const BackendError& e) {
      texts.push_back(e.what());
    }
  };

  StderrCapture capture;
  // Wrong password, wrong user, secrets of the wrong type, no password at all.
  nlohmann::json bad = good;
  bad["password"] = password + "-wrong";
  expect_backend_error(bad);
  bad = good;
  bad["username"] = user + "-wrong";
  expect_backend_error(bad);
  bad = good;
  bad["password"] = 424242;
  bad["username"] = 515151;
  expect_backend_error(bad);
  bad = good;
  bad.erase("password");
  expect_backend_error(bad);
  bad.erase("username");
  expect_backend_error(bad);
  // A malformed config file, broken right after the password.
  {
    char tmpl[] = "/tmp/pytheus-config-XXXXXX";
    const int fd = mkstemp(tmpl);
    const std::string text =
        "{\"username\": \"" + user + "\", \"password\": \"" + password + "\" \"port\": 1}";
    ASSERT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
    close(fd);
    setenv(kBackendConfigEnv, tmpl, 1);
    setenv(kBackendClassEnv, "MultiProcessRedisBackend", 1);
    try {
      load_backend();
      ADD_FAILURE() << "loaded a malformed file";
    } catch (const BackendError& e) {
      texts.push_back(e.what());
    }
    unsetenv(kBackendConfigEnv);
    unsetenv(kBackendClassEnv);
    std::remove(tmpl);
  }

  // The right credentials: the listed commands are all the backend needs.
  load_backend("MultiProcessRedisBackend", good);
  const auto errors = MultiProcessRedisBackend::stats().errors;
  CollectorRegistry reg;
  Counter c("jobs_total", "Jobs.", {"k"}, {}, &reg);
  Gauge g("level", "Level.", {}, {}, &reg);
  Histogram h("wait_seconds", "Wait.", {}, {}, &reg, {1});
  Summary s("size_bytes", "Sizes.", {"k"}, {}, &reg);
  Histogram nh("rpc_seconds", "RPC.", {"k"}, {}, &reg, {}, NativeHistogramOptions{});
  auto work = [&] {
    c.labels({{"k", "a"}}).inc();
    c.labels({{"k", "b"}}).inc();
    g.set(3);
    g.inc();
    h.observe(0.5);
    s.labels({{"k", "a"}}).observe(2);
    // Exemplars: a compare-and-set script (EVAL, with HGET and HSET inside).
    c.labels({{"k", "b"}}).inc(1, {{"trace_id", "t"}});
    h.observe(0.5, {{"trace_id", "t"}});
    nh.labels({{"k", "a"}}).observe(2);
  };
  // Runs f; a CollectError it throws joins the texts to search.
  auto keep_collect_error = [&](const auto& f) {
    try {
      f();
    } catch (const CollectError& e) {
      texts.push_back(e.what());
    }
  };
  work();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  c.remove({{"k", "b"}});
  s.clear();
  nh.remove({{"k", "a"}});  // native fields: EVAL, with HGETALL and HDEL inside
  EXPECT_EQ(c.labels({{"k", "a"}}).get(), 1);
  texts.push_back(generate_metrics(reg));
  texts.push_back(generate_metrics(reg, Format::openmetrics));
  EXPECT_EQ(MultiProcessRedisBackend::stats().errors, errors)
      << "the ACL command list of docs/security.md is not enough";

  // A command the user may not run (a key of the wrong type under the prefix): refused, logged.
  admin.run({"RPUSH", "svc-hits_total", "x"});
  Counter hits("hits_total", "Hits.", {}, {}, &reg);
  hits.inc();
  ASSERT_TRUE(MultiProcessRedisBackend::flush());
  keep_collect_error([&] { collect(reg); });
  admin.run({"DEL", "svc-hits_total"});

  // The user deleted (its connections go with it): authentication fails until it is back.
  admin.run({"ACL", "DELUSER", user});
  work();
  MultiProcessRedisBackend::flush();
  keep_collect_error([&] { collect(reg); });
  create_user(admin, user, password);
  pytheus_test::flush_within(10);
  texts.push_back(generate_metrics(reg));

  // Server down: outage logs, scrape and get() errors, the self-metrics.
  server.kill();
  work();
  MultiProcessRedisBackend::flush();
  keep_collect_error([&] { collect(reg); });
  keep_collect_error([&] { g.get(); });
  texts.push_back(generate_metrics());
  server.restart();
  {
    RawRedis admin2(server.port(), admin_pw);
    create_user(admin2, user, password);
  }
  pytheus_test::flush_within(10);
  texts.push_back(generate_metrics(reg));
  texts.push_back(generate_metrics());
  const std::string err = capture.stop();

  // The failures were seen and reported...
  // (One line per outage, with its first failure: the user's deletion shows as a reset or
  // as the authentication failure, whichever came first.)
  EXPECT_NE(err.find("unreachable (cannot connect"), std::string::npos) << err;
  EXPECT_NE(err.find("is reachable again"), std::string::npos) << err;
  EXPECT_NE(err.find("refused a metric update"), std::string::npos) << err;
  bool auth_error_thrown = false;
  for (const auto& t : texts)
    auth_error_thrown |= t.find("authentication failed") != std::string::npos;
  EXPECT_TRUE(auth_error_thrown);
  // ...without the secrets.
  for (const std::string& secret : {user, password, admin_pw, std::string("424242"),
                                    std::string("515151"), std::string("metrics-pw")}) {
    EXPECT_EQ(err.find(secret), std::string::npos) << secret << " in stderr:\n" << err;
    for (const auto& t : texts) {
      EXPECT_EQ(t.find(secret), std::string::npos) << secret << " in:\n" << t;
    }
  }
}
