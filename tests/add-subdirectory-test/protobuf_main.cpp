// The protobuf component from source: enabled, it writes the default registry as delimited
// messages and is negotiated for Prometheus' native-histogram Accept header.
#include <iostream>
#include <pytheus/protobuf.hpp>
#include <pytheus/pytheus.hpp>

int main() {
  pytheus::protobuf::enable();
  pytheus::Counter c("consumer_total", "Consumer.");
  c.inc();
  const std::string body = pytheus::protobuf::generate_metrics();
  const bool negotiated = pytheus::negotiate_format(
                              "application/vnd.google.protobuf;"
                              "proto=io.prometheus.client.MetricFamily;encoding=delimited") ==
                          pytheus::Format::protobuf;
  if (body.find("consumer_total") == std::string::npos || !negotiated) {
    std::cerr << "protobuf exposition missing" << std::endl;
    return 1;
  }
  std::cout << "pytheus::protobuf from source: " << body.size() << " bytes" << std::endl;
}
