// The exposer under abuse, over raw loopback sockets: malformed and smuggling-style requests,
// oversized headers, hundreds of idle connections, slowloris clients, clients that never read.
// In every case the abusive connection is refused or cut off, a normal scrape made during or
// after the abuse succeeds within a bounded time (generous margins: machines are noisy), and
// the process's threads and file descriptors stay bounded. Also: the basic-auth comparison
// looks at every byte wherever a guess differs, and wrong credentials never show anywhere.
#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "basic_auth.hpp"
#include "child_process.hpp"
#include "pytheus/http/exposer.hpp"
#include "pytheus/testutil.hpp"
#include "test_helpers.hpp"

using namespace pytheus;
using namespace std::chrono_literals;
using pytheus::http::BasicAuth;
using pytheus::http::Exposer;
using pytheus::http::ExposerOptions;
using Clock = std::chrono::steady_clock;

namespace {

// A raw TCP connection to 127.0.0.1:port.
class RawClient {
 public:
  // `receive_buffer`: SO_RCVBUF, set before connecting so that it bounds the window.
  explicit RawClient(std::uint16_t port, int receive_buffer = 0) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer > 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  // Sends everything (blocking); false when the server closed or reset the connection.
  bool send_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads until the server ends the connection or `timeout` passes; closed() says which.
  std::string read_until_closed(std::chrono::milliseconds timeout) {
    std::string out;
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return out;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[65536];
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        closed_ = true;
        return out;
      }
      out.append(buffer, static_cast<std::size_t>(n));
    }
  }

  // Whether the server has closed the connection (without waiting).
  bool closed_by_server() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    char buffer[65536];
    ssize_t n;
    while ((n = recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT)) > 0) {
    }
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
};

// The number from a "Name:   value" line of /proc/self/status (Threads, VmRSS in kB).
long proc_status(const std::string& name) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) return std::stol(line.substr(name.size() + 1));
  }
  return -1;
}

long open_fds() {
  long n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n - 2;  // . and ..
}

// A bound on the growth of this process's RSS during a test, in kB: sanitizers keep freed
// memory in quarantine, so their builds get more room.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr long kRssGrowthKb = 1024 * 1024;
#else
constexpr long kRssGrowthKb = 256 * 1024;
#endif

// Counts the responses in what a connection received.
int responses_in(const std::string& received) {
  int n = 0;
  for (std::size_t at = 0; (at = received.find("HTTP/1.1 ", at)) != std::string::npos; ++at) ++n;
  return n;
}

std::string base64(const std::string& in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    for (int k = 18; k >= 0; k -= 6) out += table[(v >> k) & 63];
  }
  if (i < in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    if (i + 1 < in.size()) v |= (unsigned char)in[i + 1] << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < in.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

int status_of(const std::string& received) {
  return received.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(received.c_str() + 9) : 0;
}

}  // namespace

class HttpAbuseTest : public pytheus_test::CoreTest {
 protected:
  CollectorRegistry registry_;
  Counter jobs_{"abuse_jobs_total", "Jobs.", {}, {}, &registry_};
  std::unique_ptr<Exposer> exposer_;

  void SetUp() override {
    CoreTest::SetUp();
    jobs_.inc(7);
    // Both ends of every test connection are in this process.
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 4096 && limit.rlim_max > limit.rlim_cur) {
      limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4096);
      setrlimit(RLIMIT_NOFILE, &limit);
    }
  }

  void start(ExposerOptions options = {}) {
    options.process_collector = false;
    exposer_ = std::make_unique<Exposer>("127.0.0.1", 0, options);
    exposer_->add("/metrics", registry_);
    exposer_->start();
  }

  std::uint16_t port() const { return exposer_->port(); }

  // A normal scrape, as Prometheus makes it, answered in full within `limit`.
  ::testing::AssertionResult scrapes_within(std::chrono::seconds limit,
                                            const std::string& path = "/metrics") {
    const auto start = Clock::now();
    httplib::Client c("127.0.0.1", port());
    c.set_connection_timeout(limit);
    c.set_read_timeout(limit);
    auto res = c.Get(path.c_str());
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (!res) {
      return ::testing::AssertionFailure() << "scrape failed after " << took.count()
                                           << " ms: " << httplib::to_string(res.error());
    }
    if (res->status != 200 || res->body.find("\nabuse_jobs_total 7\n") == std::string::npos) {
      return ::testing::AssertionFailure() << "status " << res->status << ":\n" << res->body;
    }
    if (took > limit) return ::testing::AssertionFailure() << "took " << took.count() << " ms";
    return ::testing::AssertionSuccess() << "took " << took.count() << " ms";
  }

  // About 5 MB of exposition: more than the kernel buffers for one connection.
  static std::shared_ptr<CollectorRegistry> big_registry() {
    auto big = std::make_shared<CollectorRegistry>();
    Gauge series("big_series", "Series with long label values.", {"id"}, {}, big.get());
    for (int i = 0; i < 2500; ++i) {
      series.labels({{"id", std::to_string(i) + std::string(2000, 'x')}}).set(i);
    }
    return big;
  }

  double big_scrapes() {
    return testutil::get_sample_value(
               exposer_->self_registry(), "pytheus_http_scrapes_total",
               {{"path", "/big"}, {"format", "prometheus"}, {"status", "200"}})
        .value_or(0);
  }

  double dropped(const std::string& reason) {
    return testutil::get_sample_value(exposer_->self_registry(),
                                      "pytheus_http_dropped_connections_total",
                                      {{"reason", reason}})
        .value_or(0);
  }
};

// Each malformed request gets its error status and a closed connection, quickly; nothing else
// is answered on that connection, and the service goes on.
TEST_F(HttpAbuseTest, MalformedRequestsAreRefusedAndTheConnectionClosed) {
  start();
  struct Case {
    const char* name;
    std::string bytes;
    int status;
  };
  const std::vector<Case> cases = {
      {"TLS handshake", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400},
      {"NUL bytes", std::string(64, '\0'), 400},
      {"garbage line", "\x7f\x45LF garbage\r\n\r\n", 400},
      {"double space in request line", "GET  /metrics HTTP/1.1\r\n\r\n", 400},
      {"HTTP/0.9 request", "GET /metrics\r\n", 400},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      {"unknown version", "GET /metrics HTTP/3.0\r\nHost: x\r\n\r\n", 505},
      {"header without colon", "GET /metrics HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", 400},
      {"space before colon", "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400},
      {"folded header", "GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400},
      {"bare LF line ends", "GET /metrics HTTP/1.1\nHost: x\n\n", 400},
      {"NUL in a header", std::string("GET /metrics HTTP/1.1\r\nX: a\0b\r\n\r\n", 32), 400},
      {"huge Content-Length, no body",
       "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n", 413},
      {"Content-Length over 18 digits",
       "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789012\r\n\r\n", 413},
      {"negative Content-Length", "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
       400},
      {"two Content-Length fields",
       "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc",
       400},
      {"Transfer-Encoding and Content-Length",
       "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400},
      {"chunked body",
       "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
      {"obfuscated Transfer-Encoding",
       "POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
      {"request line over 8 KiB", "GET /" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", 414},
  };
  double malformed = 0, too_large = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RawClient client(port());
    ASSERT_TRUE(client.connected());
    client.send_all(c.bytes);
    const auto start = Clock::now();
    const std::string received = client.read_until_closed(5s);
    EXPECT_EQ(status_of(received), c.status) << received;
    EXPECT_EQ(responses_in(received), 1) << received;
    EXPECT_TRUE(client.closed()) << "the connection stayed open";
    EXPECT_LT(Clock::now() - start, 4s);
    (c.status == 413 || c.status == 414 ? too_large : malformed) += 1;
  }
  EXPECT_EQ(dropped("malformed"), malformed);
  EXPECT_EQ(dropped("too_large"), too_large);
  EXPECT_TRUE(scrapes_within(5s));
}

// A GET whose body holds another request: the body is the first request's, never a second
// request (as it would be for a server that ignores a GET's Content-Length).
TEST_F(HttpAbuseTest, RequestHiddenInABodyIsNotAnswered) {
  start();
  const std::string hidden = "GET /secret HTTP/1.1\r\nHost: x\r\n\r\n";
  RawClient client(port());
  ASSERT_TRUE(client.connected());
  client.send_all(
      "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(hidden.size()) +
      "\r\n\r\n" + hidden + "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string received = client.read_until_closed(5s);
  EXPECT_EQ(responses_in(received), 2) << received;
  EXPECT_EQ(received.find("HTTP/1.1 404"), std::string::npos) << received;
  EXPECT_EQ(status_of(received), 200);
  EXPECT_TRUE(client.closed());
}

// Pipelined requests on one connection are answered in order, each once.
TEST_F(HttpAbuseTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  RawClient client(port());
  ASSERT_TRUE(client.connected());
  client.send_all(
      "\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string received = client.read_until_closed(5s);
  ASSERT_EQ(responses_in(received), 3) << received;
  const std::size_t second = received.find("HTTP/1.1 ", 1);
  EXPECT_EQ(status_of(received), 200);
  EXPECT_EQ(status_of(received.substr(second)), 404);
  EXPECT_EQ(status_of(received.substr(received.find("HTTP/1.1 ", second + 1))), 200);
}

// A 1 MiB header line, 10,000 headers, and headers that never end: each is refused with 431
// once max_request_bytes is reached, without the server reading (or keeping) the rest.
TEST_F(HttpAbuseTest, OversizedHeadersAreRefusedWithoutReadingThem) {
  start();
  const long rss_before = proc_status("VmRSS");
  {
    SCOPED_TRACE("1 MiB header line");
    RawClient client(port());
    std::thread sender([&] {
      client.send_all("GET /metrics HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n");
    });
    const std::string received = client.read_until_closed(5s);
    sender.join();
    EXPECT_EQ(status_of(received), 431) << received.substr(0, 200);
    EXPECT_TRUE(client.closed());
  }
  {
    SCOPED_TRACE("10,000 headers");
    std::string request = "GET /metrics HTTP/1.1\r\n";
    for (int i = 0; i < 10000; ++i) request += "X-Header-" + std::to_string(i) + ": v\r\n";
    RawClient client(port());
    std::thread sender([&] { client.send_all(request + "\r\n"); });
    const std::string received = client.read_until_closed(5s);
    sender.join();
    EXPECT_EQ(status_of(received), 431) << received.substr(0, 200);
    EXPECT_TRUE(client.closed());
  }
  {
    SCOPED_TRACE("headers that never end");
    RawClient client(port());
    client.send_all("GET /metrics HTTP/1.1\r\n");
    const std::string line = "X-Again: " + std::string(100, 'b') + "\r\n";
    std::string chunk;
    for (int i = 0; i < 100; ++i) chunk += line;
    const auto start = Clock::now();
    std::size_t sent = 0;
    while (Clock::now() - start < 10s && client.send_all(chunk)) sent += chunk.size();
    // Cut off: what was sent is the limit plus what the kernel buffers, not 10 s of headers.
    EXPECT_LT(Clock::now() - start, 8s) << sent << " bytes sent";
    EXPECT_LT(sent, 64u << 20);
  }
  EXPECT_EQ(dropped("too_large"), 3);
  EXPECT_LT(proc_status("VmRSS") - rss_before, kRssGrowthKb) << "kB of RSS growth";
  EXPECT_TRUE(scrapes_within(5s));
}

// 500 connections that send nothing hold no thread each; scrapes go on while they are open,
// and beyond max_connections the oldest idle ones are closed.
TEST_F(HttpAbuseTest, HundredsOfIdleConnectionsDoNotStarveScrapes) {
  ExposerOptions options;
  options.max_connections = 256;
  start(options);
  ASSERT_TRUE(scrapes_within(5s));  // the exposer's threads are all started
  const long threads_before = proc_status("Threads");
  const long fds_before = open_fds();
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 500; ++i) {
    idle.push_back(std::make_unique<RawClient>(port()));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(scrapes_within(5s));
  EXPECT_EQ(proc_status("Threads"), threads_before);
  // 500 client sockets, and at most max_connections server sockets.
  EXPECT_TRUE(
      pytheus_test::wait_until([&] { return open_fds() <= fds_before + 500 + 256 + 8; }, 5s))
      << open_fds() - fds_before << " more fds";
  EXPECT_TRUE(pytheus_test::wait_until([&] { return dropped("limit") >= 500 - 256; }, 5s));
  int evicted = 0;
  for (auto& c : idle) evicted += c->closed_by_server();
  EXPECT_GE(evicted, 500 - 256);
}

// Slowloris: 20 clients each sending one byte of a request every 100 ms. Scrapes are served
// meanwhile, and each slow client is cut off (408) once request_timeout has passed.
TEST_F(HttpAbuseTest, SlowClientsAreCutOffAndScrapesGoOn) {
  ExposerOptions options;
  options.request_timeout = 2s;
  start(options);
  constexpr int kSlow = 20;
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < kSlow; ++i) slow.push_back(std::make_unique<RawClient>(port()));
  const std::string request =
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(500, 's');
  std::atomic<bool> stop{false};
  std::atomic<int> cut_off{0};
  std::vector<Clock::duration> held(kSlow, Clock::duration::zero());
  const auto start_time = Clock::now();
  std::thread dripper([&] {
    std::vector<bool> open(kSlow, true);
    for (std::size_t byte = 0; byte < request.size() && !stop; ++byte) {
      for (int i = 0; i < kSlow; ++i) {
        if (open[i] &&
            (!slow[i]->send_all(request.substr(byte, 1)) || slow[i]->closed_by_server())) {
          open[i] = false;
          held[i] = Clock::now() - start_time;
          ++cut_off;
        }
      }
      std::this_thread::sleep_for(100ms);
    }
  });
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(scrapes_within(5s));
  EXPECT_TRUE(pytheus_test::wait_until([&] { return cut_off == kSlow; }, 15s)) << cut_off;
  stop = true;
  dripper.join();
  EXPECT_GE(dropped("timeout"), kSlow);
  for (int i = 0; i < kSlow; ++i) {
    EXPECT_GT(held[i], Clock::duration::zero()) << "slow client " << i << " was never cut off";
    EXPECT_LT(held[i], 8s) << "slow client " << i;
  }
  EXPECT_TRUE(scrapes_within(5s));
}

// Clients that ask for a large exposition and never read it: once it is generated, each
// holds a response buffer, no thread; scrapes go on, and each is dropped after
// request_timeout.
TEST_F(HttpAbuseTest, ClientsThatNeverReadDoNotBlockScrapes) {
  auto big = big_registry();
  constexpr int kClients = 12;
  ExposerOptions options;
  options.request_timeout = 2s;
  options.gzip = false;
  options.max_concurrent_scrapes = kClients;  // every deaf request is answered, none refused
  start(options);
  exposer_->add("/big", big);
  ASSERT_TRUE(scrapes_within(5s));
  const long rss_before = proc_status("VmRSS");
  const long threads_before = proc_status("Threads");
  std::vector<std::unique_ptr<RawClient>> deaf;
  for (int i = 0; i < kClients; ++i) {
    deaf.push_back(std::make_unique<RawClient>(port(), 4096));  // a small receive window
    deaf.back()->send_all("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  EXPECT_TRUE(pytheus_test::wait_until([&] { return big_scrapes() >= kClients; }, 10s))
      << big_scrapes();
  // Every deaf client has its response waiting for it; none of them is being read.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(scrapes_within(5s));
  EXPECT_EQ(proc_status("Threads"), threads_before);
  EXPECT_TRUE(pytheus_test::wait_until([&] { return dropped("timeout") >= kClients; }, 10s))
      << dropped("timeout");
  EXPECT_LT(proc_status("VmRSS") - rss_before, kRssGrowthKb) << "kB of RSS growth";
  EXPECT_TRUE(scrapes_within(5s));
}

// stop() does not wait for a client that does not read its response: it gives responses
// already made a short grace, then closes.
TEST_F(HttpAbuseTest, StopDoesNotWaitForClientsThatNeverRead) {
  ExposerOptions options;
  options.request_timeout = 30s;
  options.gzip = false;
  start(options);
  exposer_->add("/big", big_registry());
  RawClient deaf(port(), 4096);
  deaf.send_all("GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(pytheus_test::wait_until([&] { return big_scrapes() >= 1; }, 10s));
  const auto before = Clock::now();
  exposer_->stop();
  EXPECT_LT(Clock::now() - before, 6s);
}

// Connections opened and dropped at once, many at a time, while scraping.
TEST_F(HttpAbuseTest, ConnectionChurnWhileScraping) {
  start();
  std::atomic<bool> stop{false};
  std::vector<std::thread> churners;
  for (int t = 0; t < 4; ++t) {
    churners.emplace_back([&] {
      for (int i = 0; i < 250 && !stop; ++i) {
        RawClient c(port());
        if (i % 3 == 0) c.send_all("GET /metr");  // cut in the middle of a request
        if (i % 3 == 1) {
          linger reset{1, 0};  // close with a reset
          setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        }
      }
    });
  }
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(scrapes_within(5s));
  stop = true;
  for (auto& t : churners) t.join();
  EXPECT_TRUE(scrapes_within(5s));
}

// --- basic auth ----------------------------------------------------------------------------

namespace {

// Bytes that count how often each of them is read.
struct CountingBytes {
  std::string bytes;
  mutable std::vector<int> reads;
  explicit CountingBytes(std::string b) : bytes(std::move(b)), reads(bytes.size(), 0) {}
  std::size_t size() const { return bytes.size(); }
  char operator[](std::size_t i) const {
    ++reads.at(i);
    return bytes[i];
  }
  int total() const {
    int n = 0;
    for (int r : reads) n += r;
    return n;
  }
};

}  // namespace

// Wherever a guess differs from the secret (first byte, middle, last, length), the comparison
// reads every byte of the secret and the same number of bytes in all: it never stops early.
TEST(HttpAuthTest, ComparisonReadsEveryByteWhereverTheGuessDiffers) {
  const std::string secret = "correct horse battery staple";
  std::vector<std::string> guesses = {secret,
                                      "Xorrect horse battery staple",
                                      "correct horse Xattery staple",
                                      "correct horse battery staplX",
                                      "correct",
                                      secret + " and more",
                                      ""};
  for (const std::string& guess : guesses) {
    SCOPED_TRACE("guess \"" + guess + "\"");
    CountingBytes given(guess), expected(secret);
    const bool equal = http::auth::constant_time_equals(given, expected);
    EXPECT_EQ(equal, guess == secret);
    const std::size_t n = std::max(guess.size(), secret.size());
    for (std::size_t i = 0; i < secret.size(); ++i) EXPECT_GE(expected.reads[i], 1) << "byte " << i;
    EXPECT_EQ(expected.total(), static_cast<int>(n));
    if (!guess.empty()) {
      EXPECT_EQ(given.total(), static_cast<int>(n));
    }
  }
  EXPECT_TRUE(http::auth::constant_time_equals(std::string_view(""), std::string_view("")));
  EXPECT_FALSE(http::auth::constant_time_equals(std::string_view(""), std::string_view("x")));
}

// Wrong credentials (and anything sent with them) appear in no response, no self-metric, and
// nothing written to stderr.
TEST_F(HttpAbuseTest, WrongCredentialsNeverShowInResponsesOrLogs) {
  ExposerOptions options;
  options.basic_auth = BasicAuth{"prometheus", "Right-s3cret"};
  start(options);
  const std::string wrong = "Wr0ngGuess-XYZ";
  const std::string wrong_b64 = base64("prometheus:" + wrong);
  const std::vector<std::string> requests = {
      "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + wrong_b64 + "\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " +
          base64(wrong + ":Right-s3cret") + "\r\n\r\n",
      "GET /metrics?password=" + wrong + " HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /" + wrong + " HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + wrong_b64 + "\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!" + wrong + "\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + wrong + "\r\n\r\n",
  };
  ::testing::internal::CaptureStderr();
  for (const std::string& request : requests) {
    RawClient client(port());
    client.send_all(request + "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string received = client.read_until_closed(5s);
    EXPECT_EQ(status_of(received), 401) << received;
    EXPECT_EQ(received.find(wrong), std::string::npos) << received;
    EXPECT_EQ(received.find(wrong_b64), std::string::npos) << received;
    EXPECT_EQ(received.find("Right-s3cret"), std::string::npos) << received;
  }
  httplib::Client c("127.0.0.1", port());
  c.set_basic_auth("prometheus", "Right-s3cret");
  auto res = c.Get("/metrics");
  const std::string logged = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body.find(wrong), std::string::npos);
  EXPECT_EQ(res->body.find("Right-s3cret"), std::string::npos);
  EXPECT_NE(res->body.find("status=\"401\""), std::string::npos) << res->body;
  EXPECT_EQ(logged.find(wrong), std::string::npos) << logged;
  EXPECT_EQ(logged.find(wrong_b64), std::string::npos) << logged;
}
