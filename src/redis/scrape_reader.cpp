// Hash fields are read leniently: any key order, non-string values (Python processes may
// write ints), and fields that denote the same label set are merged into one series. A field
// that is no label set of the metric is skipped and counted, never fatal: one bad writer must
// not break every scrape. A key of the wrong type, by contrast, is an error the scrape
// reports, because every value under it is unreadable.
#include "scrape_reader.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "connection.hpp"
#include "health.hpp"
#include "labels_json.hpp"
#include "pytheus/errors.hpp"

namespace pytheus::detail::redis {
namespace {

void invalid_field(const std::string& key, std::string_view field, const std::string& problem) {
  counters().invalid_fields.fetch_add(1, std::memory_order_relaxed);
  log_once("field", "skipping Redis hash field " + std::string(field.substr(0, 200)) +
                        " of key \"" + key + "\": " + problem +
                        " (further ones are only counted in pytheus_redis_invalid_fields_total)");
}

// One series of a metric as its keys' replies are added up.
struct SeriesAcc {
  std::vector<std::string> values;  // label_names order
  std::vector<double> v;            // one per key
};

// Accumulates the series of one metric from the replies of its keys.
class MetricReader {
 public:
  MetricReader(const std::string& name, const std::vector<std::string>& label_names,
               std::size_t nkeys)
      : name_(name), label_names_(label_names), nkeys_(nkeys), sorted_names_(label_names) {
    std::sort(sorted_names_.begin(), sorted_names_.end());
  }

  // Series this process created come first, in creation order, and read 0 if Redis lacks them.
  void add_local(const std::vector<std::string>& values) {
    std::string canonical = field_of(label_names_, values);
    if (by_field_.count(canonical)) return;
    by_field_.emplace(std::move(canonical), order_.size());
    order_.push_back({values, std::vector<double>(nkeys_, 0)});
    local_ = order_.size();
  }

  // Adds key number `index`'s reply (a string for unlabelled metrics, else a hash).
  void add_reply(std::size_t index, const std::string& key, const redisReply* r) {
    if (r->type == REDIS_REPLY_ERROR) {
      throw CollectError("Redis key \"" + key + "\" of metric \"" + name_ +
                         "\" holds the wrong type (" +
                         (label_names_.empty() ? "expected a string" : "expected a hash") +
                         " as pytheus writes them): " + reply_text(r));
    }
    if (label_names_.empty()) {
      add_string(index, key, r);
    } else {
      add_hash(index, key, r);
    }
  }

  // The series: local ones in creation order, then the others sorted by labels.
  std::vector<SeriesAcc> take() {
    std::sort(order_.begin() + static_cast<std::ptrdiff_t>(local_), order_.end(),
              [](const SeriesAcc& a, const SeriesAcc& b) { return a.values < b.values; });
    return std::move(order_);
  }

 private:
  void add_string(std::size_t index, const std::string& key, const redisReply* r) {
    if (order_.empty()) order_.push_back({{}, std::vector<double>(nkeys_, 0)});
    if (r->type == REDIS_REPLY_NIL) return;
    double v = 0;
    if (r->type != REDIS_REPLY_STRING || !parse_number(r->str, r->len, v)) {
      throw CollectError("Redis key \"" + key + "\" of metric \"" + name_ +
                         "\" holds no number: " + reply_text(r));
    }
    order_[0].v[index] += v;
  }

  void add_hash(std::size_t index, const std::string& key, const redisReply* r) {
    if (r->type != REDIS_REPLY_ARRAY) return;  // missing key: empty array
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
      const redisReply* f = r->element[i];
      const redisReply* val = r->element[i + 1];
      std::string_view field(f->str ? f->str : "", f->len);
      auto cached = cache_.find(std::string(field));
      if (cached == cache_.end()) {
        ParsedField p = parse_field(field, sorted_names_);
        if (!p.valid) invalid_field(key, field, "not a JSON object of the labels " + names());
        cached = cache_.emplace(std::string(field), std::move(p)).first;
      }
      const ParsedField& p = cached->second;
      if (!p.valid) continue;
      double v = 0;
      if (!parse_number(val->str ? val->str : "", val->len, v)) {
        invalid_field(key, field, "its value \"" + reply_text(val) + "\" is no number");
        continue;
      }
      auto it = by_field_.find(p.canonical);
      if (it == by_field_.end()) {
        std::vector<std::string> values(label_names_.size());
        for (std::size_t n = 0; n < label_names_.size(); ++n) {
          for (const auto& [label, value] : p.labels) {
            if (label == label_names_[n]) values[n] = value;
          }
        }
        it = by_field_.emplace(p.canonical, order_.size()).first;
        order_.push_back({std::move(values), std::vector<double>(nkeys_, 0)});
      }
      order_[it->second].v[index] += v;  // same label set in another key order: merged
    }
  }

  std::string names() const {
    std::string s = "(";
    for (const auto& n : sorted_names_) s += (s.size() > 1 ? ", " : "") + n;
    return s + ")";
  }

  const std::string& name_;
  const std::vector<std::string>& label_names_;
  const std::size_t nkeys_;
  std::vector<std::string> sorted_names_;
  std::unordered_map<std::string, ParsedField> cache_;
  std::unordered_map<std::string, std::size_t> by_field_;
  std::vector<SeriesAcc> order_;
  std::size_t local_ = 0;
};

// Flushes, reads `keys`, and checks that the transaction answered every read.
Reply read_checked(Instance& inst, const std::vector<KeyToRead>& keys, const char* what) {
  Reply exec = inst.flusher().flush_and_read(keys);
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 2 * keys.size()) {
    throw CollectError("Redis at " + inst.health().endpoint() + " refused " + what + ": " +
                       reply_text(exec.get()));
  }
  return exec;
}

SeriesRow to_row(SeriesAcc&& s, MetricType type, std::size_t buckets) {
  SeriesRow row;
  row.label_values = std::move(s.values);
  if (type == MetricType::histogram || type == MetricType::summary) {
    row.histogram.buckets.assign(s.v.begin(), s.v.begin() + static_cast<std::ptrdiff_t>(buckets));
    row.histogram.count = s.v[buckets];
    row.histogram.sum = s.v[buckets + 1];
  } else {
    row.value = s.v[0];
  }
  return row;
}

}  // namespace

std::vector<MetricRows> read_metrics(Instance& inst, const std::vector<MetricRequest>& metrics) {
  std::vector<std::vector<std::string>> keys_of(metrics.size());
  std::vector<KeyToRead> keys;
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const MetricRequest& r = metrics[m];
    keys_of[m] =
        metric_keys(inst.cfg.key_prefix, stored_name(r.registry_prefix, r.name), r.type, r.bounds);
  }
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    for (const std::string& k : keys_of[m]) keys.push_back({&k, !metrics[m].label_names.empty()});
  }
  std::vector<MetricRows> out(metrics.size());
  if (keys.empty()) return out;
  Reply exec = read_checked(inst, keys, "the scrape transaction");
  std::size_t at = 0;
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const MetricRequest& r = metrics[m];
    MetricReader reader(r.name, r.label_names, keys_of[m].size());
    for (const auto& values : r.local_series) reader.add_local(values);
    for (std::size_t i = 0; i < keys_of[m].size(); ++i, ++at) {
      reader.add_reply(i, keys_of[m][i], exec->element[2 * at]);
    }
    const std::size_t buckets = r.type == MetricType::histogram ? r.bounds.size() : 0;
    for (SeriesAcc& s : reader.take()) out[m].push_back(to_row(std::move(s), r.type, buckets));
  }
  return out;
}

std::vector<double> read_series(Instance& inst, const Keys& k, const MetricInfo& series) {
  std::vector<KeyToRead> keys;
  for (const std::string& key : k.keys) keys.push_back({&key, k.hash});
  Reply exec = read_checked(inst, keys, "a read");
  std::vector<std::string> names, values;
  for (const auto& [name, value] : series.labels) {
    names.push_back(name);
    values.push_back(value);
  }
  MetricReader reader(series.name, names, keys.size());
  if (k.hash) reader.add_local(values);
  for (std::size_t i = 0; i < keys.size(); ++i)
    reader.add_reply(i, *keys[i].key, exec->element[2 * i]);
  std::vector<SeriesAcc> rows = reader.take();
  return rows.empty() ? std::vector<double>(keys.size(), 0) : rows[0].v;
}

}  // namespace pytheus::detail::redis
