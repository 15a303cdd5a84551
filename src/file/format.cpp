// The reader of index.db: every offset, length and count comes from a file another process
// (or a disk error) may have corrupted, so each is checked against the bytes actually mapped
// before it is used. This is the code fuzz/fuzz_file_reader.cpp runs on arbitrary bytes.
#include "format.hpp"

#include <cstring>

#include "native_region.hpp"

namespace pytheus::detail::file {
namespace {

[[noreturn]] void corrupt(const std::string& file, const std::string& what) {
  throw FileFormatError("metrics file " + file + " is corrupt or truncated: " + what +
                        "; stop the service and delete the directory's files to start afresh");
}

std::uint32_t load_u32(const unsigned char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void put(std::string& out, const void* p, std::size_t n) {
  out.append(static_cast<const char*>(p), n);
}

}  // namespace

std::uint32_t cells_for(MetricType type, std::size_t bounds) {
  switch (type) {
    case MetricType::gauge:
      return 2;
    case MetricType::histogram:
      return static_cast<std::uint32_t>(bounds) + 1;
    case MetricType::summary:
      return 2;
    default:
      return 1;
  }
}

const IndexHeader& read_index_header(const unsigned char* data, std::size_t size,
                                     const std::string& file) {
  if (size < kPage) corrupt(file, "shorter than its header (" + std::to_string(size) + " bytes)");
  const auto& h = *reinterpret_cast<const IndexHeader*>(data);
  if (std::memcmp(h.magic, kIndexMagic, 8) != 0) corrupt(file, "not a pytheus index file");
  if (h.version != kFormatVersion) {
    throw FileFormatError("metrics file " + file + " has format version " +
                          std::to_string(h.version) + ", this library reads version " +
                          std::to_string(kFormatVersion));
  }
  if (h.max_processes == 0 || h.max_processes > (1u << 20)) corrupt(file, "bad process table size");
  if (h.records_begin != records_begin_for(h.max_processes)) corrupt(file, "bad records offset");
  const std::uint64_t end = h.records_end.load(std::memory_order_acquire);
  if (end < h.records_begin || end > size || end % 8 != 0) corrupt(file, "bad records end");
  if (h.slots_used.load(std::memory_order_relaxed) > h.max_processes) {
    corrupt(file, "more slots used than the process table holds");
  }
  if (h.cells_used.load(std::memory_order_relaxed) > (std::uint64_t(1) << 40)) {
    corrupt(file, "bad cell count");
  }
  if (std::memchr(h.service, 0, kServiceMax) == nullptr) corrupt(file, "bad service name");
  return h;
}

std::uint64_t read_records(const unsigned char* data, std::size_t size, const std::string& file,
                           std::uint64_t from, std::vector<RecordView>& out) {
  const IndexHeader& h = read_index_header(data, size, file);
  const std::uint64_t end = h.records_end.load(std::memory_order_acquire);
  const std::uint64_t cells = h.cells_used.load(std::memory_order_acquire);
  if (from < h.records_begin) from = h.records_begin;
  std::uint64_t pos = from;
  while (pos < end) {
    const std::string where = " (record at offset " + std::to_string(pos) + ")";
    if (end - pos < sizeof(RecordHeader)) corrupt(file, "truncated record" + where);
    const auto& r = *reinterpret_cast<const RecordHeader*>(data + pos);
    const std::uint64_t length = r.length.load(std::memory_order_acquire);
    if (length < sizeof(RecordHeader) || length % 8 != 0 || length > end - pos) {
      corrupt(file, "bad record length" + where);
    }
    RecordView v;
    v.offset = pos;
    if (r.type > static_cast<std::uint8_t>(MetricType::untyped)) corrupt(file, "bad type" + where);
    v.type = static_cast<MetricType>(r.type);
    if (r.gauge_mode < static_cast<std::uint8_t>(GaugeMode::shared) ||
        r.gauge_mode > static_cast<std::uint8_t>(GaugeMode::livemostrecent)) {
      if (v.type == MetricType::gauge || r.gauge_mode != 0) corrupt(file, "bad gauge mode" + where);
    } else {
      v.gauge_mode = static_cast<GaugeMode>(r.gauge_mode);
    }
    const unsigned char* p = data + pos + sizeof(RecordHeader);
    const unsigned char* stop = data + pos + length;
    if (r.bound_count > std::size_t(stop - p) / 8) corrupt(file, "bad bucket count" + where);
    v.bounds.resize(r.bound_count);
    if (r.bound_count) std::memcpy(v.bounds.data(), p, 8 * std::size_t(r.bound_count));
    p += 8 * std::size_t(r.bound_count);
    if (r.name_length == 0 || r.name_length > std::size_t(stop - p)) {
      corrupt(file, "bad name length" + where);
    }
    v.name = std::string_view(reinterpret_cast<const char*>(p), r.name_length);
    p += r.name_length;
    v.labels.reserve(r.label_count);
    for (std::uint32_t i = 0; i < r.label_count; ++i) {
      if (stop - p < 8) corrupt(file, "truncated labels" + where);
      const std::uint32_t nl = load_u32(p), vl = load_u32(p + 4);
      p += 8;
      if (nl > std::size_t(stop - p) || vl > std::size_t(stop - p) - nl) {
        corrupt(file, "bad label length" + where);
      }
      v.labels.emplace_back(std::string_view(reinterpret_cast<const char*>(p), nl),
                            std::string_view(reinterpret_cast<const char*>(p + nl), vl));
      p += nl + vl;
    }
    v.first_cell = r.first_cell;
    v.cell_count = r.cell_count;
    if (v.type != MetricType::histogram && r.bound_count != 0) corrupt(file, "bad bounds" + where);
    const std::uint32_t classic = cells_for(v.type, r.bound_count);
    if (v.type == MetricType::histogram && v.cell_count > classic) {
      v.native_cells = v.cell_count - classic;
      if (native_region::window_of(v.native_cells) == 0) corrupt(file, "bad native region" + where);
    } else if (v.cell_count != classic) {
      corrupt(file, "bad cell count" + where);
    }
    if (v.first_cell > cells || cells - v.first_cell < v.cell_count) {
      corrupt(file, "cells out of range" + where);
    }
    out.push_back(std::move(v));
    pos += length;
  }
  return pos;
}

std::string encode_record(MetricType type, GaugeMode mode, std::string_view name,
                          const std::vector<std::pair<std::string, std::string>>& labels,
                          const std::vector<double>& bounds, std::uint64_t first_cell,
                          std::uint32_t cell_count) {
  std::string out(sizeof(RecordHeader), '\0');
  put(out, bounds.data(), 8 * bounds.size());
  out.append(name);
  for (const auto& [n, v] : labels) {
    const auto nl = static_cast<std::uint32_t>(n.size()), vl = static_cast<std::uint32_t>(v.size());
    put(out, &nl, 4);
    put(out, &vl, 4);
    out += n;
    out += v;
  }
  out.resize((out.size() + 7) / 8 * 8, '\0');
  RecordHeader h{};
  // Written into a plain buffer: the atomics are not yet shared.
  h.type = static_cast<std::uint8_t>(type);
  h.gauge_mode = type == MetricType::gauge ? static_cast<std::uint8_t>(mode) : 0;
  h.label_count = static_cast<std::uint16_t>(labels.size());
  h.bound_count = static_cast<std::uint32_t>(bounds.size());
  h.first_cell = first_cell;
  h.cell_count = cell_count;
  h.name_length = static_cast<std::uint32_t>(name.size());
  std::memcpy(out.data(), &h, sizeof h);
  return out;
}

std::string stored_name(std::string_view name, std::string_view registry_prefix) {
  if (registry_prefix.empty()) return std::string(name);
  std::string out(registry_prefix);
  out += '_';
  out += name;
  return out;
}

std::string series_key(std::string_view name, MetricType type, GaugeMode mode,
                       const std::vector<double>& bounds,
                       const std::vector<std::pair<std::string_view, std::string_view>>& labels,
                       bool native) {
  std::string k;
  k.reserve(name.size() + 16 + 8 * bounds.size());
  k += name;
  k += '\0';
  k += static_cast<char>(type);
  k += static_cast<char>(type == MetricType::gauge ? static_cast<int>(mode) : 0);
  put(k, bounds.data(), 8 * bounds.size());
  for (const auto& [n, v] : labels) {
    const auto nl = static_cast<std::uint32_t>(n.size()), vl = static_cast<std::uint32_t>(v.size());
    put(k, &nl, 4);
    put(k, &vl, 4);
    k += n;
    k += v;
  }
  if (native) {
    k += '\0';
    k += "native";
  }
  return k;
}

}  // namespace pytheus::detail::file
