// pytheus_tu.cpp written against prometheus-cpp (Debian: prometheus-cpp-dev): a registry, a
// labelled counter family and a histogram family with the same default buckets, updated in
// one function.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

prometheus::Registry registry;
prometheus::Family<prometheus::Counter>& requests =
    prometheus::BuildCounter().Name("http_requests_total").Help("Requests.").Register(registry);
prometheus::Family<prometheus::Histogram>& latency = prometheus::BuildHistogram()
                                                         .Name("request_seconds")
                                                         .Help("Request latency.")
                                                         .Register(registry);

void handle_request() {
  requests.Add({{"method", "GET"}, {"code", "200"}}).Increment();
  latency
      .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                       2.5, 5, 10})
      .Observe(0.3);
}
