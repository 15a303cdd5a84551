// Batch job: does its work, counts it, pushes the counts to a Prometheus Pushgateway and exits,
// so the numbers outlive the process (Prometheus scrapes the gateway).
//
//   batch_job [GATEWAY_URL] [--items N] [--instance NAME]
//     GATEWAY_URL      the gateway (default: $PUSHGATEWAY_URL, else http://127.0.0.1:9091)
//     --items N        items to process (default 100)
//     --instance NAME  grouping label instance (default "local")
//
// Exits 0 after a successful push, 1 with the reason on stderr when the push failed.
#include <pytheus/push/pushgateway.hpp>
#include <pytheus/pytheus.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  const char* env_url = std::getenv("PUSHGATEWAY_URL");
  std::string url = env_url && *env_url ? env_url : "http://127.0.0.1:9091";
  long items = 100;
  std::string instance = "local";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--items" && i + 1 < argc) {
      items = std::stol(argv[++i]);
    } else if (arg == "--instance" && i + 1 < argc) {
      instance = argv[++i];
    } else if (!arg.empty() && arg[0] != '-') {
      url = arg;
    } else {
      std::cerr << "usage: batch_job [GATEWAY_URL] [--items N] [--instance NAME]\n";
      return 2;
    }
  }

  // A registry of its own: the job pushes exactly its metrics, nothing else in the process.
  pytheus::CollectorRegistry registry;
  pytheus::Counter processed("batch_items_processed_total", "Items the job processed.", {"outcome"},
                             {}, &registry);
  pytheus::Gauge duration("batch_duration_seconds", "How long the last run took.", {}, {},
                          &registry);
  pytheus::Gauge last_success("batch_last_success_timestamp_seconds",
                              "When the job last succeeded (Unix time).", {}, {}, &registry);

  const auto start = std::chrono::steady_clock::now();
  auto ok = processed.labels({{"outcome", "ok"}});
  auto skipped = processed.labels({{"outcome", "skipped"}});
  for (long i = 0; i < items; ++i) {  // the job's work
    (i % 10 == 9 ? skipped : ok).inc();
  }
  duration.set(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  last_success.set_to_current_time();

  try {
    pytheus::push::PushgatewayOptions options;
    options.grouping = {{"instance", instance}};
    pytheus::push::Pushgateway gateway(url, "batch_job", options);
    gateway.push(registry);  // replaces this job's group: the numbers of this run only
    std::cout << "pushed " << items << " items to " << gateway.group_url() << std::endl;
  } catch (const pytheus::Error& e) {
    std::cerr << "batch_job: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
