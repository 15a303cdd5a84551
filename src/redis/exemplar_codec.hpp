// An exemplar as the Redis backend stores it in a NAME:exemplars hash field's value:
// "<timestamp> <value> <labels>", the numbers as shortest round-trip text (seconds), the
// labels in ExemplarData's own length-prefixed encoding (binary-safe, no escaping). The
// leading timestamp is what the most-recent-wins script compares. Pure functions, no hiredis.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "pytheus/exemplar.hpp"

namespace pytheus::detail::redis {

// Room for two numbers, two spaces and the labels.
inline constexpr std::size_t kExemplarValueMax = 2 * 32 + 2 + ExemplarData::kMaxBytes;

// Writes `e` into `out` (at least kExemplarValueMax bytes); returns the length.
std::size_t encode_exemplar_value(const ExemplarData& e, char* out);

// Reads a value any writer left; nullopt when it is not one (bad numbers, labels that are
// not valid names or UTF-8, a set over 128 characters, truncated).
std::optional<Exemplar> decode_exemplar_value(std::string_view v);

}  // namespace pytheus::detail::redis
