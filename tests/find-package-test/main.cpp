// A tiny consumer of pytheus-cpp: counts, serves /metrics, scrapes itself.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

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

int main() {
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
  std::cout << "pytheus " << pytheus::kVersion << ": scraped " << exposer.url() << "\n";
}
