// PushgatewayServer: a real Prometheus Pushgateway (Debian package prometheus-pushgateway) for
// integration tests, on a free loopback port, its persistence file and web config in a temporary
// directory. The constructor returns once /-/ready answers; the destructor stops it.
#pragma once

#include <httplib.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "prometheus_harness.hpp"

namespace pytheus_test {

class PushgatewayServer {
 public:
  // `basic_auth` (a user name and the bcrypt hash of its password) makes it require basic auth.
  explicit PushgatewayServer(std::string binary,
                             std::optional<std::pair<std::string, std::string>> basic_auth = {})
      : dir_("pytheus-pushgateway") {
    std::vector<std::string> args_base{
        std::move(binary), "--persistence.file=" + (dir_ / "pushgateway.data").string()};
    if (basic_auth) {
      std::ofstream(dir_ / "web.yml")
          << "basic_auth_users:\n  " << basic_auth->first << ": '" << basic_auth->second << "'\n";
      args_base.push_back("--web.config.file=" + (dir_ / "web.yml").string());
    }
    // The port is free when chosen but may be taken before the gateway binds it: retry.
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = free_loopback_port();
      std::vector<std::string> args = args_base;
      args.push_back("--web.listen-address=127.0.0.1:" + std::to_string(port_));
      process_ = std::make_unique<ChildProcess>(args, dir_ / "pushgateway.log");
      if (wait_until([&] { return ready() || !process_->running(); }, std::chrono::seconds(10)) &&
          ready()) {
        return;
      }
      const std::string log = process_->output();
      process_->stop();
      if (log.find("address already in use") == std::string::npos) {
        throw std::runtime_error("Pushgateway was not ready within 10 s:\n" + log);
      }
    }
    throw std::runtime_error("Pushgateway found no free port in 3 attempts");
  }
  PushgatewayServer(const PushgatewayServer&) = delete;
  PushgatewayServer& operator=(const PushgatewayServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + address(); }
  std::string log() const { return process_->output(); }

 private:
  bool ready() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(std::chrono::milliseconds(200));
    auto res = client.Get("/-/ready");
    // With basic auth on, an answer of 401 also means it is serving.
    return res && (res->status == 200 || res->status == 401);
  }

  TempDir dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace pytheus_test
