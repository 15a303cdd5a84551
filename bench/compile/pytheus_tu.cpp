// What a service file that defines metrics costs to compile with pytheus-cpp: a labelled
// counter and a histogram, updated in one function. bench/compile_cost.sh compiles this TU
// and prometheus_cpp_tu.cpp, its equivalent, with the same flags.
#include <pytheus/pytheus.hpp>

pytheus::Counter requests("http_requests_total", "Requests.", {"method", "code"});
pytheus::Histogram latency("request_seconds", "Request latency.");

void handle_request() {
  requests.labels({{"method", "GET"}, {"code", "200"}}).inc();
  latency.observe(0.3);
}
