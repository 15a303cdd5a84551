// Mounting /metrics in a server the service already runs: here cpp-httplib's httplib::Server
// (public API only), with pytheus::http::ScrapeHandler answering the scrapes.
//
//   mount_handler [PORT] [--once]
//     PORT    port on 127.0.0.1 (default 8000; 0 picks a free one)
//     --once  scrape itself once over HTTP, print the exposition and exit (0 on a 200)
#include <httplib.h>
#include <pytheus/http/scrape_handler.hpp>
#include <pytheus/pytheus.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

pytheus::Counter hellos("hellos_total", "Greetings served.");

// Copies the parts of an httplib request the handler reads, and sends its answer back.
void serve_metrics(pytheus::http::ScrapeHandler& metrics, const httplib::Request& req,
                   httplib::Response& res) {
  pytheus::http::ScrapeRequest request{req.method, req.path, {}};
  for (const auto& [name, value] : req.headers) request.headers.emplace_back(name, value);
  pytheus::http::ScrapeResponse response = metrics.handle(request);

  res.status = response.status;
  std::string content_type;
  for (const auto& [name, value] : response.headers) {
    if (name == "Content-Type") {
      content_type = value;
    } else {
      res.set_header(name.c_str(), value);
    }
  }
  // A content provider of known length: httplib sends the body as it is. With set_content()
  // it would compress text/plain once more for a client that accepts gzip or brotli.
  auto body = std::make_shared<const std::string>(std::move(response.body));
  res.set_content_provider(body->size(), content_type.c_str(),
                           [body](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                             return sink.write(body->data() + offset, length);
                           });
}

int main(int argc, char** argv) try {
  int port = 8000;
  bool once = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--once") {
      once = true;
    } else {
      port = std::stoi(arg);
    }
  }
  if (once) port = 0;

  pytheus::http::ScrapeHandler metrics;  // serves the default registry on /metrics
  metrics.add_default_if_empty();

  httplib::Server server;
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    hellos.inc();
    res.set_content("hello\n", "text/plain");
  });
  // Every method, so that the handler answers 405 itself; HEAD goes to the GET handler.
  auto mounted = [&metrics](const httplib::Request& req, httplib::Response& res) {
    serve_metrics(metrics, req, res);
  };
  server.Get("/metrics", mounted);
  server.Post("/metrics", mounted);
  server.Put("/metrics", mounted);
  server.Delete("/metrics", mounted);

  if (port == 0) {
    port = server.bind_to_any_port("127.0.0.1");
  } else if (!server.bind_to_port("127.0.0.1", port)) {
    port = -1;
  }
  if (port < 0) throw std::runtime_error("cannot listen on 127.0.0.1");
  if (!once) {
    std::cout << "curl http://127.0.0.1:" << port << "/metrics\n";
    server.listen_after_bind();
    return 0;
  }

  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  httplib::Client client("127.0.0.1", port);
  client.Get("/");
  auto res = client.Get("/metrics", {{"Accept-Encoding", "gzip"}});  // decompressed by httplib
  server.stop();
  serving.join();
  if (!res) throw std::runtime_error("scrape failed: " + httplib::to_string(res.error()));
  std::cout << res->body;
  return res->status == 200 ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "mount_handler: " << e.what() << "\nusage: mount_handler [PORT] [--once]\n";
  return 2;
}
