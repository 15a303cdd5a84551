// Grouping-key paths of the Pushgateway; grouping_key.hpp says which rule each encoding follows.
#include "grouping_key.hpp"

#include <cstdint>

namespace pytheus::push::detail {

std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16 |
                            std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8 |
                            std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += kAlphabet[n >> 6 & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) n |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += rest == 2 ? kAlphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::string percent_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    const bool unreserved = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
                            (b >= '0' && b <= '9') || b == '-' || b == '.' || b == '_' || b == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

void append_grouping_pair(std::string& path, std::string_view name, std::string_view value) {
  path += '/';
  path += name;
  if (value.empty()) {
    path += "@base64/=";
  } else if (value.find('/') != std::string_view::npos) {
    path += "@base64/";
    path += base64url(value);
  } else {
    path += '/';
    path += percent_encode(value);
  }
}

void validate_grouping_key(std::string_view job, const Labels& grouping) {
  if (job.empty()) throw InvalidNameError("Pushgateway: the job name must not be empty");
  for (const auto& [name, value] : grouping) {
    if (!is_valid_label_name(name)) {
      throw InvalidNameError("Pushgateway: invalid grouping label name " +
                             pytheus::detail::quote_name(name) +
                             " (must match [a-zA-Z_][a-zA-Z0-9_]* without a leading __)");
    }
    if (name == "job") {
      throw InvalidNameError(
          "Pushgateway: \"job\" cannot be a grouping label; it is the job name argument");
    }
  }
}

std::string grouping_path(std::string_view job, const Labels& grouping) {
  validate_grouping_key(job, grouping);
  std::string path = "/metrics";
  append_grouping_pair(path, "job", job);
  for (const auto& [name, value] : grouping) append_grouping_pair(path, name, value);
  return path;
}

}  // namespace pytheus::push::detail
