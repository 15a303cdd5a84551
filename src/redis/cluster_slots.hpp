// Redis Cluster key slots: which of the 16384 hash slots a key is in, as Redis computes it
// (CRC16/XMODEM of the key, or of its hash tag, modulo 16384). Pure; no hiredis.
#pragma once

#include <cstdint>
#include <string_view>

namespace pytheus::detail::redis {

inline constexpr int kClusterSlots = 16384;

// CRC16/XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
std::uint16_t crc16(std::string_view data);

// The part of `key` that is hashed: the text between the first "{" and the first "}" after
// it when that is not empty, else the whole key (the Redis Cluster specification's rule).
std::string_view hash_tag(std::string_view key);

// The slot of `key` (what CLUSTER KEYSLOT answers).
int key_slot(std::string_view key);

}  // namespace pytheus::detail::redis
