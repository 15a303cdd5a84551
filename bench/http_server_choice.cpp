// The measurement behind the exposer's server (docs/http.md "Why the server is our own"): the
// same ScrapeHandler behind the project's server (the Exposer) and behind libmicrohttpd
// 0.9.75 configured as the issue proposed (internal epoll thread(s), connection limit, timeout
// and memory limit set to ExposerOptions' defaults). bench/http_server_choice.sh drives both
// with wrk and raw sockets.
//
//   http_server_choice own|mhd PORT [MHD_THREADS]
// serves /metrics (200 counter series) and /slow (the same, after a 1 s collect) until killed.
#include <microhttpd.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "pytheus/http/exposer.hpp"
#include "pytheus/pytheus.hpp"

namespace {

struct SlowCollector : pytheus::Collector {
  std::vector<pytheus::MetricFamily> collect() const override {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return {};
  }
};

int collect_header(void* cls, enum MHD_ValueKind, const char* key, const char* value) {
  static_cast<pytheus::http::Headers*>(cls)->emplace_back(key, value ? value : "");
  return MHD_YES;
}

enum MHD_Result answer(void* cls, struct MHD_Connection* connection, const char* url,
                       const char* method, const char*, const char*, size_t* upload_size,
                       void** state) {
  if (*state == nullptr) {  // the first call: headers are in, the body may follow
    *state = connection;
    return MHD_YES;
  }
  if (*upload_size != 0) {  // a body is ignored
    *upload_size = 0;
    return MHD_YES;
  }
  auto& handler = *static_cast<pytheus::http::ScrapeHandler*>(cls);
  pytheus::http::ScrapeRequest request{method, url, {}};
  MHD_get_connection_values(connection, MHD_HEADER_KIND,
                            reinterpret_cast<MHD_KeyValueIterator>(&collect_header),
                            &request.headers);
  pytheus::http::ScrapeResponse r = handler.handle(request);
  struct MHD_Response* response =
      MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
  for (const auto& [name, value] : r.headers) {
    MHD_add_response_header(response, name.c_str(), value.c_str());
  }
  const enum MHD_Result ok =
      MHD_queue_response(connection, static_cast<unsigned>(r.status), response);
  MHD_destroy_response(response);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: http_server_choice own|mhd PORT [MHD_THREADS]\n";
    return 2;
  }
  const std::string which = argv[1];
  const auto port = static_cast<std::uint16_t>(std::stoi(argv[2]));
  const unsigned threads = argc > 3 ? static_cast<unsigned>(std::stoi(argv[3])) : 1;

  pytheus::CollectorRegistry registry;
  pytheus::Counter requests("requests_total", "Requests.", {"route", "code"}, {}, &registry);
  for (int i = 0; i < 200; ++i) {
    requests.labels({{"route", "/api/v1/item/" + std::to_string(i)}, {"code", "200"}}).inc(i);
  }
  pytheus::CollectorRegistry slow;
  slow.register_collector(std::make_shared<SlowCollector>());
  pytheus::http::ExposerOptions options;
  options.process_collector = false;

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  int sig = 0;

  if (which == "own") {
    pytheus::http::Exposer exposer("127.0.0.1", port, options);
    exposer.add("/metrics", registry);
    exposer.add("/slow", slow);
    exposer.start();
    std::cout << "serving " << exposer.url() << std::endl;
    sigwait(&stop, &sig);
    return 0;
  }
  pytheus::http::ScrapeHandlerOptions handler_options;
  handler_options.process_collector = false;
  pytheus::http::ScrapeHandler handler(handler_options);
  handler.add("/metrics", registry);
  handler.add("/slow", slow);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct MHD_Daemon* daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, port, nullptr, nullptr,
      &answer, &handler, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_CONNECTION_LIMIT, 256u,
      MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      static_cast<size_t>(16384), MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_END);
  if (daemon == nullptr) {
    std::cerr << "MHD_start_daemon failed\n";
    return 1;
  }
  std::cout << "serving http://127.0.0.1:" << port << "/metrics" << std::endl;
  sigwait(&stop, &sig);
  MHD_stop_daemon(daemon);
  return 0;
}
