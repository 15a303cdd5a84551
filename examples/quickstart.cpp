// Quickstart: every metric type on a small simulated workload, then the exposition.
#include <pytheus/pytheus.hpp>

#include <iostream>
#include <random>
#include <stdexcept>

int main() {
  pytheus::load_backend();  // SingleProcessBackend, unless PYTHEUS_BACKEND_CLASS says otherwise

  pytheus::Counter requests("http_requests_total", "Requests served.", {"method", "code"});
  pytheus::Counter errors("handler_errors_total", "Handlers that threw.");
  pytheus::Gauge in_flight("in_flight_requests", "Requests being served.");
  pytheus::Histogram latency("request_seconds", "Request latency.", {"route"}, {{"route", "/"}});
  pytheus::Summary sizes("response_bytes", "Response sizes.");

  std::mt19937 rng(42);
  std::exponential_distribution<double> seconds(20.0);
  std::uniform_int_distribution<int> bytes(200, 4000);
  auto get = requests.labels({{"method", "GET"}});  // partial handle, cached

  for (int i = 0; i < 1000; ++i) {
    auto tracked = in_flight.track_inprogress();
    const bool api = i % 3 == 0;
    (api ? latency.labels({{"route", "/api"}}) : latency).observe(seconds(rng));
    try {
      errors.count_exceptions([&] {
        if (i % 97 == 0) throw std::runtime_error("simulated failure");
      });
      get.labels({{"code", "200"}}).inc();
      sizes.observe(bytes(rng));
    } catch (const std::runtime_error&) {
      get.labels({{"code", "500"}}).inc();
    }
  }
  requests.labels({{"method", "POST"}, {"code", "201"}}).inc(12);

  std::cout << pytheus::generate_metrics();
}
