// The reader of MultiProcessFileBackend's index file (src/file/format.cpp). Arbitrary bytes
// as an index file give records or a FileFormatError naming the file, never a crash or a read
// outside the image; every record read lies inside the image and inside the cells allocated.
//
// Input: byte 0 bit 0 set: the bytes are a whole index image. Otherwise bytes 1-4 are the
// records' length (records_end - records_begin), 5-12 the cells allocated, and the rest the
// records, placed after a valid header so that the fuzzer spends its time on records.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "format.hpp"

namespace ff = pytheus::detail::file;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::vector<unsigned char> image;
  if (data[0] & 1) {
    image.assign(data + 1, data + size);
  } else {
    if (size < 13) return 0;
    std::uint32_t length;
    std::uint64_t cells;
    std::memcpy(&length, data + 1, 4);
    std::memcpy(&cells, data + 5, 8);
    const std::size_t begin = ff::records_begin_for(1);
    image.assign(begin, 0);
    image.insert(image.end(), data + 13, data + size);
    auto* h = reinterpret_cast<ff::IndexHeader*>(image.data());
    std::memcpy(h->magic, ff::kIndexMagic, 8);
    h->version = ff::kFormatVersion;
    h->max_processes = 1;
    h->records_begin = begin;
    h->records_end.store(begin + length);
    h->cells_used.store(cells);
  }
  std::vector<ff::RecordView> records;
  try {
    ff::read_records(image.data(), image.size(), "fuzz/index.db", 0, records);
  } catch (const ff::FileFormatError& e) {
    if (std::string(e.what()).find("fuzz/index.db") == std::string::npos) std::abort();
    return 0;
  }
  const auto* h = reinterpret_cast<const ff::IndexHeader*>(image.data());
  for (const ff::RecordView& r : records) {
    const auto* lo = reinterpret_cast<const char*>(image.data());
    const auto* hi = lo + image.size();
    if (r.name.data() < lo || r.name.data() + r.name.size() > hi) std::abort();
    for (const auto& [n, v] : r.labels) {
      if (n.data() < lo || n.data() + n.size() > hi || v.data() < lo || v.data() + v.size() > hi) {
        std::abort();
      }
    }
    if (r.first_cell + r.cell_count > h->cells_used.load()) std::abort();
  }
  return 0;
}
