// Hash fields are read leniently: any key order, non-string values (Python processes may
// write ints), and fields that denote the same label set are merged into one series. A field
// that is no label set of the metric is skipped and counted, never fatal: one bad writer must
// not break every scrape. A key of the wrong type, by contrast, is an error the scrape
// reports, because every value under it is unreadable.
#include "scrape_reader.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "connection.hpp"
#include "exemplar_codec.hpp"
#include "health.hpp"
#include "labels_json.hpp"
#include "native.hpp"
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
  double created = 0;               // the earliest creation time, 0 when unknown
  // A counter's latest exemplar ([0]), or a histogram's per bucket.
  std::vector<std::optional<Exemplar>> exemplars{};
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
    order_.push_back({values, std::vector<double>(nkeys_, 0), 0, {}});
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

  // Adds the reply of the metric's created key (Keys::created_key): dates the series read so
  // far, never adds one (a time without values is a series being removed). Lenient, as
  // values are: a field or value that is not understood is skipped and counted.
  void add_created(const std::string& key, const redisReply* r) {
    if (r->type == REDIS_REPLY_ERROR) {
      throw CollectError("Redis key \"" + key + "\" of metric \"" + name_ +
                         "\" holds the wrong type (" +
                         (label_names_.empty() ? "expected a string" : "expected a hash") +
                         " of creation times): " + reply_text(r));
    }
    if (label_names_.empty()) {
      double v = 0;
      if (r->type == REDIS_REPLY_STRING && parse_number(r->str, r->len, v) && !order_.empty()) {
        date(order_[0], v);
      }
      return;
    }
    if (r->type != REDIS_REPLY_ARRAY) return;
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
      const redisReply* f = r->element[i];
      const redisReply* val = r->element[i + 1];
      std::string_view field(f->str ? f->str : "", f->len);
      auto cached = cache_.find(std::string(field));
      if (cached == cache_.end()) {
        cached = cache_.emplace(std::string(field), parse_field(field, sorted_names_)).first;
      }
      if (!cached->second.valid) continue;  // counted with the values, if they have it
      auto it = by_field_.find(cached->second.canonical);
      if (it == by_field_.end()) continue;
      double v = 0;
      if (!parse_number(val->str ? val->str : "", val->len, v)) {
        invalid_field(key, field, "its value \"" + reply_text(val) + "\" is no time");
        continue;
      }
      date(order_[it->second], v);
    }
  }

  // Adds the NAME:exemplars hash: a field per counter series (its labels field) or per
  // histogram bucket ("<index>|<labels field>"). An exemplar of a series no key has is
  // dropped (being deleted), as is one outside its bucket (buckets changed since).
  void add_exemplars(const std::string& key, const redisReply* r,
                     const std::vector<double>& bounds) {
    if (r->type == REDIS_REPLY_ERROR) {
      throw CollectError("Redis key \"" + key + "\" of metric \"" + name_ +
                         "\" holds the wrong type (expected a hash): " + reply_text(r));
    }
    if (r->type != REDIS_REPLY_ARRAY) return;
    const bool histogram = !bounds.empty();
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
      const redisReply* f = r->element[i];
      const redisReply* val = r->element[i + 1];
      std::string_view field(f->str ? f->str : "", f->len);
      std::size_t bucket = 0;
      if (histogram) {
        const std::size_t bar = field.find('|');
        auto [end, ec] = std::from_chars(field.data(), field.data() + bar, bucket);
        if (bar == std::string_view::npos || ec != std::errc() || end != field.data() + bar ||
            bucket >= bounds.size()) {
          invalid_field(key, field, "not \"<bucket index>|<labels JSON>\"");
          continue;
        }
        field.remove_prefix(bar + 1);
      }
      std::optional<Exemplar> e =
          decode_exemplar_value(std::string_view(val->str ? val->str : "", val->len));
      if (!e) {
        invalid_field(key, field, "its value is no exemplar");
        continue;
      }
      if (histogram &&
          (e->value > bounds[bucket] || (bucket > 0 && e->value <= bounds[bucket - 1]))) {
        continue;
      }
      SeriesAcc* s = nullptr;
      if (label_names_.empty()) {
        if (!field.empty() || order_.empty()) continue;
        s = &order_[0];
      } else {
        ParsedField p = parse_field(field, sorted_names_);
        auto it = p.valid ? by_field_.find(p.canonical) : by_field_.end();
        if (it == by_field_.end()) continue;
        s = &order_[it->second];
      }
      s->exemplars.resize(histogram ? bounds.size() : 1);
      s->exemplars[bucket] = std::move(e);
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
    if (order_.empty()) order_.push_back({{}, std::vector<double>(nkeys_, 0), 0, {}});
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
        order_.push_back({std::move(values), std::vector<double>(nkeys_, 0), 0, {}});
      }
      order_[it->second].v[index] += v;  // same label set in another key order: merged
    }
  }

  // Keys in another label order may date the same series: the earliest wins.
  static void date(SeriesAcc& s, double when) {
    if (when > 0 && (s.created == 0 || when < s.created)) s.created = when;
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

// The per-process values of one gauge (NAME:proc, and NAME:proc_ts in mostrecent modes),
// grouped by label set, then aggregated by its mode.
class ProcessReader {
 public:
  ProcessReader(const std::string& name, const std::vector<std::string>& label_names,
                GaugeMode mode, std::string own)
      : name_(name),
        label_names_(label_names),
        mode_(mode),
        own_(std::move(own)),
        sorted_names_(label_names) {
    std::sort(sorted_names_.begin(), sorted_names_.end());
  }

  void add_local(const std::vector<std::string>& values) {
    std::string canonical = label_names_.empty() ? "" : field_of(label_names_, values);
    if (by_labels_.count(canonical)) return;
    by_labels_.emplace(std::move(canonical), series_.size());
    series_.push_back({values, {}});
    local_ = series_.size();
  }

  // `stamps`: the reply is NAME:proc_ts (set() times), else NAME:proc (values).
  void add_reply(bool stamps, const std::string& key, const redisReply* r) {
    if (r->type == REDIS_REPLY_ERROR) {
      throw CollectError("Redis key \"" + key + "\" of gauge \"" + name_ +
                         "\" holds the wrong type (expected a hash): " + reply_text(r));
    }
    if (r->type != REDIS_REPLY_ARRAY) return;
    for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
      const redisReply* f = r->element[i];
      const redisReply* val = r->element[i + 1];
      std::string_view field(f->str ? f->str : "", f->len), proc, labels;
      double v = 0;
      if (!split_process_field(field, proc, labels)) {
        invalid_field(key, field, "not \"<process>|<labels JSON>\"");
        continue;
      }
      if (!parse_number(val->str ? val->str : "", val->len, v)) {
        invalid_field(key, field, "its value \"" + reply_text(val) + "\" is no number");
        continue;
      }
      std::size_t at = 0;
      if (!series_of(key, field, labels, at)) continue;
      Proc& p = series_[at].procs[std::string(proc)];
      (stamps ? p.stamp : p.value) = v;
      if (!stamps) p.has_value = true;
    }
  }

  // Every process id this gauge has values of.
  void ids(std::vector<std::string>& out) const {
    for (const Series& s : series_) {
      for (const auto& [id, p] : s.procs) out.push_back(id);
    }
  }

  // The rows: `alive` says whether a process counts (live modes).
  MetricRows rows(const std::unordered_map<std::string, bool>& alive) {
    std::sort(series_.begin() + static_cast<std::ptrdiff_t>(local_), series_.end(),
              [](const Series& a, const Series& b) { return a.values < b.values; });
    MetricRows out;
    for (std::size_t i = 0; i < series_.size(); ++i) {
      Series& s = series_[i];
      // A series this process has but no process has written reads 0, as in one process;
      // once any process has written it, only written values count (a process that merely
      // defines a gauge, a pre-fork master say, never drags min or max to 0).
      if (i < local_ && std::none_of(s.procs.begin(), s.procs.end(),
                                     [](const auto& p) { return p.second.has_value; })) {
        s.procs[own_].has_value = true;
      }
      std::vector<std::pair<const std::string*, const Proc*>> procs;
      for (const auto& [id, p] : s.procs) {
        if (!p.has_value) continue;  // a time without a value: a field being deleted
        if (is_live(mode_) && id != own_) {
          auto it = alive.find(id);
          if (it == alive.end() || !it->second) continue;
        }
        procs.emplace_back(&id, &p);
      }
      if (is_per_process_series(mode_)) {
        for (const auto& [id, p] : procs) {
          SeriesRow row;
          row.label_values = s.values;
          row.value = p->value;
          row.process = *id;
          out.push_back(std::move(row));
        }
        continue;
      }
      if (procs.empty()) continue;
      SeriesRow row;
      row.label_values = s.values;
      row.value = procs[0].second->value;
      double stamp = procs[0].second->stamp;
      for (std::size_t k = 1; k < procs.size(); ++k) {
        const Proc& p = *procs[k].second;
        switch (mode_) {
          case GaugeMode::sum:
          case GaugeMode::livesum:
            row.value += p.value;
            break;
          case GaugeMode::max:
          case GaugeMode::livemax:
            row.value = std::max(row.value, p.value);
            break;
          case GaugeMode::min:
          case GaugeMode::livemin:
            row.value = std::min(row.value, p.value);
            break;
          default:  // mostrecent: the latest set(); a value never set counts as time 0
            if (p.stamp > stamp) {
              stamp = p.stamp;
              row.value = p.value;
            }
        }
      }
      out.push_back(std::move(row));
    }
    return out;
  }

 private:
  struct Proc {
    double value = 0;
    double stamp = 0;
    bool has_value = false;
  };
  struct Series {
    std::vector<std::string> values;
    std::map<std::string, Proc> procs;  // sorted by process id
  };

  bool series_of(const std::string& key, std::string_view field, std::string_view labels,
                 std::size_t& at) {
    std::string canonical;
    std::vector<std::string> values(label_names_.size());
    if (label_names_.empty()) {
      if (!labels.empty()) {
        invalid_field(key, field, "labels on a gauge without labels");
        return false;
      }
    } else {
      ParsedField p = parse_field(labels, sorted_names_);
      if (!p.valid) {
        invalid_field(key, field, "not a process and a JSON object of the gauge's labels");
        return false;
      }
      for (std::size_t n = 0; n < label_names_.size(); ++n) {
        for (const auto& [label, value] : p.labels) {
          if (label == label_names_[n]) values[n] = value;
        }
      }
      canonical = std::move(p.canonical);
    }
    auto it = by_labels_.find(canonical);
    if (it == by_labels_.end()) {
      it = by_labels_.emplace(std::move(canonical), series_.size()).first;
      series_.push_back({std::move(values), {}});
    }
    at = it->second;
    return true;
  }

  const std::string& name_;
  const std::vector<std::string>& label_names_;
  const GaugeMode mode_;
  const std::string own_;
  std::vector<std::string> sorted_names_;
  std::unordered_map<std::string, std::size_t> by_labels_;
  std::vector<Series> series_;
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

// Native buckets per series (by canonical labels field, "" without labels), parsed from the
// reply of a NAME:native hash.
using NativeBySeries = std::unordered_map<std::string, NativeBuckets>;

void read_native(const std::string& key, const redisReply* r, const NativeHistogramOptions& options,
                 const std::vector<std::string>& label_names, NativeBySeries& out) {
  if (r->type == REDIS_REPLY_ERROR) {
    throw CollectError(
        "Redis key \"" + key +
        "\" holds the wrong type (expected a hash of native buckets): " + reply_text(r));
  }
  if (r->type != REDIS_REPLY_ARRAY) return;
  std::vector<std::string> sorted_names(label_names);
  std::sort(sorted_names.begin(), sorted_names.end());
  NativeReader reader(options);
  std::unordered_map<std::string, std::string> canonical_of;  // labels part -> canonical
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    const redisReply* f = r->element[i];
    const redisReply* val = r->element[i + 1];
    const std::string_view field(f->str ? f->str : "", f->len);
    double v = 0;
    if (!parse_number(val->str ? val->str : "", val->len, v)) {
      invalid_field(key, field, "its value \"" + reply_text(val) + "\" is no number");
      continue;
    }
    const std::size_t bar = field.find('|');
    const std::string labels(bar == std::string_view::npos ? "" : field.substr(bar + 1));
    auto c = canonical_of.find(labels);
    if (c == canonical_of.end()) {
      std::string canonical;
      if (!label_names.empty()) {
        ParsedField p = parse_field(labels, sorted_names);
        if (!p.valid) {
          invalid_field(key, field, "not a native bucket and a JSON object of the labels");
          continue;
        }
        canonical = std::move(p.canonical);
      } else if (!labels.empty()) {
        invalid_field(key, field, "labels on a histogram without labels");
        continue;
      }
      c = canonical_of.emplace(labels, std::move(canonical)).first;
    }
    auto it = out.try_emplace(c->second, reader.empty()).first;
    std::string_view ignored;
    if (!reader.add(field, v, ignored, it->second)) {
      invalid_field(key, field,
                    "not \"p<schema>_<index>\", \"n<schema>_<index>\" or "
                    "\"z<threshold>\", then \"|\" and the labels");
    }
  }
  for (auto& [canonical, b] : out) reader.limit(b);
}

// The native buckets of the series with label `values`: what Redis holds, or none yet.
NativeBuckets native_of(const NativeBySeries& by_series, const NativeHistogramOptions& options,
                        const std::vector<std::string>& label_names,
                        const std::vector<std::string>& values) {
  auto it = by_series.find(label_names.empty() ? std::string() : field_of(label_names, values));
  return it != by_series.end() ? it->second : NativeReader(options).empty();
}

SeriesRow to_row(SeriesAcc&& s, MetricType type, std::size_t buckets) {
  SeriesRow row;
  row.label_values = std::move(s.values);
  if (type == MetricType::histogram || type == MetricType::summary) {
    row.histogram.buckets.assign(s.v.begin(), s.v.begin() + static_cast<std::ptrdiff_t>(buckets));
    row.histogram.count = s.v[buckets];
    row.histogram.sum = s.v[buckets + 1];
    if (type == MetricType::histogram) row.histogram.exemplars = std::move(s.exemplars);
  } else {
    row.value = s.v[0];
    if (type == MetricType::counter && !s.exemplars.empty())
      row.exemplar = std::move(s.exemplars[0]);
  }
  if (s.created > 0) row.created = s.created;
  return row;
}

}  // namespace

std::vector<MetricRows> read_metrics(Instance& inst, const std::vector<MetricRequest>& metrics) {
  std::vector<std::vector<std::string>> keys_of(metrics.size());
  // Whether the last of keys_of[m] is the metric's created key.
  std::vector<bool> dated(metrics.size(), false);
  std::vector<GaugeMode> mode(metrics.size(), GaugeMode::shared);
  std::vector<KeyToRead> keys;
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const MetricRequest& r = metrics[m];
    const std::string name = stored_name(r.registry_prefix, r.name);
    if (r.type == MetricType::gauge) mode[m] = inst.resolve(r.gauge_mode);
    keys_of[m] = is_per_process(mode[m])
                     ? per_process_metric_keys(key_space(inst.cfg), name, mode[m])
                     : metric_keys(key_space(inst.cfg), name, r.type, r.bounds);
    if (keeps_created(r.type)) {
      keys_of[m].push_back(created_key(key_space(inst.cfg), name));
      dated[m] = true;
    }
  }
  // Counters and histograms: their exemplars hash, read last in the same transaction.
  std::vector<std::string> exemplar_keys(metrics.size());
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const MetricRequest& r = metrics[m];
    if (r.type == MetricType::counter || (r.type == MetricType::histogram && !r.bounds.empty())) {
      exemplar_keys[m] = exemplar_key(key_space(inst.cfg), stored_name(r.registry_prefix, r.name));
    }
  }
  // A histogram with native buckets reads its NAME:native hash last, in the same transaction.
  std::vector<std::string> native_keys(metrics.size());
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const bool hash = !metrics[m].label_names.empty() || is_per_process(mode[m]);
    for (const std::string& k : keys_of[m]) keys.push_back({&k, hash});
    if (metrics[m].native && metrics[m].type == MetricType::histogram) {
      native_keys[m] =
          native_key(key_space(inst.cfg), stored_name(metrics[m].registry_prefix, metrics[m].name));
      keys.push_back({&native_keys[m], true});
    }
  }
  std::vector<std::size_t> exemplar_reply(metrics.size(), 0);
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    if (exemplar_keys[m].empty()) continue;
    exemplar_reply[m] = keys.size();
    keys.push_back({&exemplar_keys[m], true});
  }
  std::vector<MetricRows> out(metrics.size());
  if (keys.empty()) return out;
  Reply exec = read_checked(inst, keys, "the scrape transaction");
  std::size_t at = 0;
  // Per-process gauges: read first, aggregated once the live processes are known.
  const std::string own = inst.liveness().id();
  std::vector<std::unique_ptr<ProcessReader>> procs(metrics.size());
  std::vector<std::string> live_ids;
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const MetricRequest& r = metrics[m];
    if (!is_per_process(mode[m])) {
      at += keys_of[m].size() + (native_keys[m].empty() ? 0 : 1);
      continue;
    }
    procs[m] = std::make_unique<ProcessReader>(r.name, r.label_names, mode[m], own);
    for (const auto& values : r.local_series) procs[m]->add_local(values);
    for (std::size_t i = 0; i < keys_of[m].size(); ++i, ++at) {
      procs[m]->add_reply(i == 1, keys_of[m][i], exec->element[2 * at]);
    }
    if (is_live(mode[m])) procs[m]->ids(live_ids);
  }
  std::unordered_map<std::string, bool> alive;
  std::sort(live_ids.begin(), live_ids.end());
  live_ids.erase(std::unique(live_ids.begin(), live_ids.end()), live_ids.end());
  if (!live_ids.empty()) {
    std::vector<std::string> mget = {"MGET"};
    for (const std::string& id : live_ids) mget.push_back(heartbeat_key(key_space(inst.cfg), id));
    Reply hb = inst.flusher().run(mget);
    for (std::size_t i = 0; i < live_ids.size(); ++i) {
      alive[live_ids[i]] = hb->type == REDIS_REPLY_ARRAY && i < hb->elements &&
                           hb->element[i]->type != REDIS_REPLY_NIL;
    }
  }
  at = 0;
  for (std::size_t m = 0; m < metrics.size(); ++m) {
    const MetricRequest& r = metrics[m];
    if (procs[m]) {
      out[m] = procs[m]->rows(alive);
      at += keys_of[m].size();
      continue;
    }
    const std::size_t nvalues = keys_of[m].size() - (dated[m] ? 1 : 0);
    MetricReader reader(r.name, r.label_names, nvalues);
    for (const auto& values : r.local_series) reader.add_local(values);
    for (std::size_t i = 0; i < keys_of[m].size(); ++i, ++at) {
      if (i == nvalues) {
        reader.add_created(keys_of[m][i], exec->element[2 * at]);
      } else {
        reader.add_reply(i, keys_of[m][i], exec->element[2 * at]);
      }
    }
    if (!exemplar_keys[m].empty()) {
      reader.add_exemplars(exemplar_keys[m], exec->element[2 * exemplar_reply[m]],
                           r.type == MetricType::histogram ? r.bounds : std::vector<double>{});
    }
    const std::size_t buckets = r.type == MetricType::histogram ? r.bounds.size() : 0;
    NativeBySeries native;
    if (!native_keys[m].empty()) {
      read_native(native_keys[m], exec->element[2 * at], *r.native, r.label_names, native);
      ++at;
    }
    for (SeriesAcc& s : reader.take()) {
      out[m].push_back(to_row(std::move(s), r.type, buckets));
      SeriesRow& row = out[m].back();
      if (!native_keys[m].empty()) {
        row.histogram.native = native_of(native, *r.native, r.label_names, row.label_values);
      }
    }
  }
  return out;
}

std::vector<double> read_series(Instance& inst, const Keys& k, const MetricInfo& series,
                                NativeBuckets* native) {
  if (k.per_process) {  // this process's own value
    const std::vector<KeyToRead> one = {{&k.keys[0], true}};
    Reply exec = read_checked(inst, one, "a read");
    const redisReply* h = exec->element[0];
    for (std::size_t i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
      if (reply_text(h->element[i]) != k.field) continue;
      double v = 0;
      const redisReply* val = h->element[i + 1];
      if (parse_number(val->str ? val->str : "", val->len, v)) return {v};
    }
    return {0};
  }
  std::vector<KeyToRead> keys;
  for (const std::string& key : k.keys) keys.push_back({&key, k.hash});
  const bool with_native = native != nullptr && series.native && !k.native_key.empty();
  if (with_native) keys.push_back({&k.native_key, true});
  Reply exec = read_checked(inst, keys, "a read");
  std::vector<std::string> names, values;
  for (const auto& [name, value] : series.labels) {
    names.push_back(name);
    values.push_back(value);
  }
  const std::size_t n = k.keys.size();
  MetricReader reader(series.name, names, n);
  if (k.hash) reader.add_local(values);
  for (std::size_t i = 0; i < n; ++i) reader.add_reply(i, *keys[i].key, exec->element[2 * i]);
  if (with_native) {
    NativeBySeries by_series;
    read_native(k.native_key, exec->element[2 * n], *series.native, names, by_series);
    *native = native_of(by_series, *series.native, names, values);
  }
  std::vector<SeriesAcc> rows = reader.take();
  return rows.empty() ? std::vector<double>(n, 0) : rows[0].v;
}

}  // namespace pytheus::detail::redis
