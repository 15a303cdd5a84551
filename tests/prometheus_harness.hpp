// PrometheusServer: a real Prometheus server (Debian package prometheus) for end-to-end tests.
//
// It runs with a generated configuration that scrapes the given targets, on a free loopback
// port, with its storage in a temporary directory; the constructor returns once /-/ready
// answers, and the destructor stops it and removes the directory, also when a test fails.
// Queries go through the HTTP API (/api/v1/query, /api/v1/targets).
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "child_process.hpp"

namespace pytheus_test {

// Returns a TCP port on 127.0.0.1 that was free a moment ago.
inline std::uint16_t free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("no free loopback port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// PrometheusOptions say what a PrometheusServer scrapes and how.
struct PrometheusOptions {
  std::string binary = "prometheus";  // a path, or a name looked up in PATH
  std::vector<std::string> targets;   // "127.0.0.1:PORT"
  std::string metrics_path = "/metrics";
  std::string scrape_interval = "1s";
  bool honor_labels = false;  // keep the targets' job/instance labels (a Pushgateway's)
  std::chrono::milliseconds ready_timeout{10000};  // per start attempt
  // More command-line flags ("--enable-feature=native-histograms", say).
  std::vector<std::string> extra_args;
};

class PrometheusServer {
 public:
  explicit PrometheusServer(PrometheusOptions options)
      : options_(std::move(options)), dir_("pytheus-prometheus") {
    write_config();
    // The port is free when chosen but may be taken before Prometheus binds it: retry.
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_loopback_port();
      std::vector<std::string> args{resolve(options_.binary),
                                    "--config.file=" + (dir_ / "prometheus.yml").string(),
                                    "--storage.tsdb.path=" + (dir_ / "data").string(),
                                    "--web.listen-address=127.0.0.1:" + std::to_string(port_)};
      args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
      process_ = std::make_unique<ChildProcess>(std::move(args), dir_ / "prometheus.log");
      if (wait_until([&] { return ready() || !process_->running(); }, options_.ready_timeout) &&
          ready()) {
        return;
      }
      const std::string log = process_->output();
      process_->stop();
      if (log.find("address already in use") == std::string::npos) {
        throw std::runtime_error("Prometheus was not ready within " +
                                 std::to_string(options_.ready_timeout.count()) + " ms:\n" +
                                 tail(log));
      }
    }
    throw std::runtime_error("Prometheus found no free port in 3 attempts");
  }
  ~PrometheusServer() {
    if (process_) process_->stop();
  }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  std::uint16_t port() const { return port_; }

  // Returns the "data" of an API answer; throws when the request or the API fails.
  nlohmann::json api(const std::string& path, const httplib::Params& params = {}) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(10));
    auto res = client.Get(path.c_str(), params, httplib::Headers{});
    if (!res) throw std::runtime_error("GET " + path + ": " + httplib::to_string(res.error()));
    nlohmann::json body = nlohmann::json::parse(res->body, nullptr, false);
    if (res->status != 200 || body.is_discarded() || body.value("status", "") != "success") {
      throw std::runtime_error("GET " + path + ": HTTP " + std::to_string(res->status) + ": " +
                               res->body);
    }
    return body["data"];
  }

  // Returns the result vector of the instant query `promql`.
  nlohmann::json query(const std::string& promql) const {
    return api("/api/v1/query", {{"query", promql}})["result"];
  }

  // Returns the value of the only sample `promql` yields, or nullopt when it yields none.
  std::optional<double> query_value(const std::string& promql) const {
    nlohmann::json result = query(promql);
    if (result.empty()) return std::nullopt;
    if (result.size() != 1) {
      throw std::runtime_error("query " + promql + " yields " + std::to_string(result.size()) +
                               " samples: " + result.dump());
    }
    return std::stod(result[0]["value"][1].get<std::string>());
  }

  // Returns the active targets (with "health", "lastError", "scrapeUrl", ...).
  nlohmann::json targets() const { return api("/api/v1/targets")["activeTargets"]; }

  // Returns the last lines of Prometheus's log, for failure messages.
  std::string log() const { return tail(process_->output()); }

 private:
  static std::string resolve(const std::string& binary) {
    if (binary.find('/') != std::string::npos) return binary;
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
      const std::string candidate = dir + "/" + binary;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    throw std::runtime_error(binary + " not found in PATH: install the Debian package prometheus");
  }

  static std::string tail(const std::string& log, std::size_t lines = 30) {
    std::size_t pos = log.size();
    for (std::size_t n = 0; n <= lines && pos != std::string::npos && pos > 0; ++n) {
      pos = log.rfind('\n', pos - 1);
    }
    return pos == std::string::npos ? log : log.substr(pos + 1);
  }

  void write_config() const {
    std::ofstream yml(dir_ / "prometheus.yml");
    yml << "global:\n"
        << "  scrape_interval: " << options_.scrape_interval << "\n"
        << "  scrape_timeout: " << options_.scrape_interval << "\n"
        << "scrape_configs:\n"
        << "  - job_name: pytheus\n"
        << "    metrics_path: " << options_.metrics_path << "\n"
        << "    honor_labels: " << (options_.honor_labels ? "true" : "false") << "\n"
        << "    static_configs:\n"
        << "      - targets: [";
    for (std::size_t i = 0; i < options_.targets.size(); ++i) {
      yml << (i ? ", " : "") << "'" << options_.targets[i] << "'";
    }
    yml << "]\n";
  }

  bool ready() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(std::chrono::milliseconds(200));
    auto res = client.Get("/-/ready");
    return res && res->status == 200;
  }

  PrometheusOptions options_;
  TempDir dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

// An exemplar Prometheus holds (/api/v1/query_exemplars, with exemplar storage enabled): its
// trace_id label, its value, and the `le` of the series it belongs to (empty but for buckets).
struct StoredExemplar {
  std::string trace_id;
  double value = 0;
  std::string le;
};

// The exemplars Prometheus holds for `selector` from an hour ago to an hour ahead.
inline std::vector<StoredExemplar> query_exemplars(const PrometheusServer& p,
                                                   const std::string& selector) {
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const nlohmann::json data =
      p.api("/api/v1/query_exemplars", {{"query", selector},
                                        {"start", std::to_string(now - 3600)},
                                        {"end", std::to_string(now + 3600)}});
  std::vector<StoredExemplar> out;
  for (const auto& series : data) {
    const std::string le = series["seriesLabels"].value("le", "");
    for (const auto& e : series["exemplars"]) {
      out.push_back(
          {e["labels"].value("trace_id", ""), std::stod(e["value"].get<std::string>()), le});
    }
  }
  return out;
}

}  // namespace pytheus_test
