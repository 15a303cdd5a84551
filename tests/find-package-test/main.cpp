// A tiny consumer of pytheus-cpp: counts, serves /metrics, scrapes itself; and finds the Redis
// backend it links (pytheus::redis) by name, through the environment, without its header.
// Built against an install (find_package, pkg-config) and from source (add_subdirectory,
// FetchContent: tests/add-subdirectory-test).
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <pytheus/http/exposer.hpp>
#include <pytheus/pytheus.hpp>
#include <string>

// Returns the raw response to `GET path` on 127.0.0.1:port (HTTP/1.0: one request).
std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
    send(fd, request.data(), request.size(), 0);
    char buffer[4096];
    for (ssize_t n; (n = recv(fd, buffer, sizeof buffer, 0)) > 0;) out.append(buffer, n);
  }
  close(fd);
  return out;
}

// MultiProcessRedisBackend is registered by linking pytheus::redis alone, and
// PYTHEUS_BACKEND_CLASS finds it: with no Redis server to reach, loading it fails with an
// error that names the server, not with "unknown backend class".
bool redis_backend_found_by_name() {
  const auto names = pytheus::registered_backends();
  if (std::find(names.begin(), names.end(), "MultiProcessRedisBackend") == names.end()) {
    std::cerr << "MultiProcessRedisBackend is not registered\n";
    return false;
  }
  const std::string socket_path = "/nonexistent-pytheus-consumer/redis.sock";
  char config_path[] = "/tmp/pytheus-consumer-XXXXXX";
  const int fd = mkstemp(config_path);
  if (fd < 0) return false;
  close(fd);
  std::ofstream(config_path) << R"({"unix_socket": ")" << socket_path
                             << R"(", "connect_timeout_ms": 200})";
  setenv(pytheus::kBackendClassEnv, "MultiProcessRedisBackend", 1);
  setenv(pytheus::kBackendConfigEnv, config_path, 1);
  bool named_the_server = false;
  try {
    pytheus::load_backend();
    std::cerr << "loading the Redis backend without a server succeeded\n";
  } catch (const pytheus::BackendError& e) {
    named_the_server = std::string(e.what()).find(socket_path) != std::string::npos;
    if (!named_the_server) std::cerr << "unexpected error: " << e.what() << "\n";
  }
  unlink(config_path);
  unsetenv(pytheus::kBackendClassEnv);
  unsetenv(pytheus::kBackendConfigEnv);
  return named_the_server && pytheus::loaded_backend() == "SingleProcessBackend";
}

int main() {
  if (!redis_backend_found_by_name()) return 1;
  pytheus::Counter jobs("consumer_jobs_total", "Jobs done.");
  jobs.inc(3);
  pytheus::http::Exposer exposer("127.0.0.1", 0);
  exposer.start();
  const std::string response = http_get(exposer.port(), "/metrics");
  if (response.find(" 200 OK\r\n") == std::string::npos ||
      response.find("\nconsumer_jobs_total 3\n") == std::string::npos ||
      response.find("\nprocess_cpu_seconds_total ") == std::string::npos) {
    std::cerr << "unexpected response:\n" << response << "\n";
    return 1;
  }
  std::cout << "pytheus " << pytheus::kVersion << ": scraped " << exposer.url()
            << "; MultiProcessRedisBackend found by name\n";
}
