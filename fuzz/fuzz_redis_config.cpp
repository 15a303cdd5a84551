// The Redis backend's configuration parser (src/redis/config.cpp) on its own, no server: any
// JSON text, parsed, either gives a Config whose every value is in its documented range or
// throws BackendError; never a crash or another exception. The message never depends on the
// value of the password or user name, whatever their type: two configurations that differ
// only there give the same message.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "pytheus/errors.hpp"
#include "redis/config.hpp"

namespace {

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "fuzz_redis_config: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// Another value of the same JSON type as `v`, made from `k`.
nlohmann::json variant(const nlohmann::json& v, int k) {
  switch (v.type()) {
    case nlohmann::json::value_t::string:
      return "secret-variant-" + std::to_string(k);
    case nlohmann::json::value_t::number_integer:
      return -1000 - k;
    case nlohmann::json::value_t::number_unsigned:
      return 1000u + static_cast<unsigned>(k);
    case nlohmann::json::value_t::number_float:
      return 0.5 + k;
    case nlohmann::json::value_t::array:
      return nlohmann::json::array({k});
    case nlohmann::json::value_t::object:
      return nlohmann::json{{"k", k}};
    default:
      return v;  // null, boolean, binary: no second value worth comparing
  }
}

void check_ranges(const pytheus::detail::redis::Config& c) {
  constexpr long long kMaxMs = 24LL * 3600 * 1000;
  if (c.port < 1 || c.port > 65535) fail("port out of range", std::to_string(c.port));
  if (c.db < 0 || c.db > (1LL << 31)) fail("db out of range", std::to_string(c.db));
  if (c.expire_key_time < 1) fail("expire_key_time out of range", "");
  for (long long ms :
       {static_cast<long long>(c.connect_timeout_ms), static_cast<long long>(c.command_timeout_ms),
        static_cast<long long>(c.flush_interval_ms)}) {
    if (ms < 1 || ms > kMaxMs) fail("a timeout out of range", std::to_string(ms));
  }
  if (c.host.empty()) fail("empty host", "");
  if (c.unix_socket && c.unix_socket->empty()) fail("empty unix_socket", "");
  if (c.username && !c.password) fail("username without password", *c.username);
}

// parse_config's message for `config` ("" when it is accepted), checking the Config.
std::string message_of(const nlohmann::json& config) {
  try {
    check_ranges(pytheus::detail::redis::parse_config(config));
  } catch (const pytheus::BackendError& e) {
    const std::string message = e.what();
    if (message.rfind("MultiProcessRedisBackend config: ", 0) != 0) {
      fail("message does not name the class", message);
    }
    return message;
  } catch (const std::exception& e) {
    fail("an exception other than BackendError", e.what());
  }
  return "";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json config = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (config.is_discarded()) return 0;
  message_of(config);
  if (!config.is_object()) return 0;
  for (const char* secret : {"password", "username"}) {
    auto it = config.find(secret);
    if (it == config.end()) continue;
    nlohmann::json a = config, b = config;
    a[secret] = variant(*it, 1);
    b[secret] = variant(*it, 2);
    const std::string ma = message_of(a), mb = message_of(b);
    if (ma != mb) fail("the message depends on a secret", ma + " / " + mb);
  }
  return 0;
}
