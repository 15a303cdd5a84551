// Quickstart: a service with every metric type, serving /metrics on 127.0.0.1 while a
// simulated workload runs, until Ctrl-C (SIGINT) or SIGTERM.
//
//   quickstart [PORT] [--requests N] [--once]
//     PORT          port on 127.0.0.1 (default 8000; 0 picks a free one)
//     --requests N  stop the workload after N requests, keep serving
//     --once        run 1000 requests, print the exposition and exit
#include <pytheus/http/exposer.hpp>
#include <pytheus/pytheus.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

pytheus::Counter requests("http_requests_total", "Requests served.", {"method", "code"});
pytheus::Counter errors("handler_errors_total", "Handlers that threw.");
pytheus::Gauge in_flight("in_flight_requests", "Requests being served.");
pytheus::Histogram latency("request_seconds", "Request latency.", {"route"}, {{"route", "/"}});
pytheus::Summary sizes("response_bytes", "Response sizes.");

// Serves simulated request number `i`.
void handle(long i, std::mt19937& rng) {
  auto tracked = in_flight.track_inprogress();
  const char* method = i % 5 == 0 ? "POST" : "GET";
  (i % 3 == 0 ? latency.labels({{"route", "/api"}}) : latency)
      .observe(std::exponential_distribution<double>(20.0)(rng));
  try {
    errors.count_exceptions([&] {
      if (i % 97 == 0) throw std::runtime_error("simulated failure");
    });
    requests.labels({{"method", method}, {"code", "200"}}).inc();
    sizes.observe(std::uniform_int_distribution<int>(200, 4000)(rng));
  } catch (const std::runtime_error&) {
    requests.labels({{"method", method}, {"code", "500"}}).inc();
  }
}

int main(int argc, char** argv) try {
  int port = 8000;
  long limit = -1;
  bool once = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--once") {
      once = true;
    } else if (arg == "--requests" && i + 1 < argc) {
      limit = std::stol(argv[++i]);
    } else {
      port = std::stoi(arg);
    }
  }
  pytheus::load_backend();  // SingleProcessBackend, unless PYTHEUS_BACKEND_CLASS says otherwise
  std::mt19937 rng(42);
  if (once) {
    for (long i = 0; i < 1000; ++i) handle(i, rng);
    std::cout << pytheus::generate_metrics();
    return 0;
  }

  // Block the stop signals before any thread starts; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  pytheus::http::Exposer exposer("127.0.0.1", static_cast<std::uint16_t>(port));
  exposer.start();
  std::cout << "Serving " << exposer.url() << " (try: curl " << exposer.url() << ")" << std::endl;

  std::atomic<bool> stopping{false};
  std::thread workload([&] {
    for (long i = 0; !stopping && (limit < 0 || i < limit); ++i) {
      handle(i, rng);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  int signal = 0;
  sigwait(&stop_signals, &signal);
  stopping = true;
  workload.join();
  exposer.stop();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "quickstart: " << e.what() << "\nusage: quickstart [PORT] [--requests N] [--once]\n";
  return 1;
}
