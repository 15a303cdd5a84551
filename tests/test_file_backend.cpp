// MultiProcessFileBackend in one process: the file format and its reader, corrupt and
// truncated files, configuration errors, file modes, every metric type, gauge modes,
// remove()/clear(), cardinality limits, restart on a used directory.
#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

#include "file_test_helpers.hpp"
#include "format.hpp"

namespace pytheus_test {
namespace {

using pytheus::BackendError;
using pytheus::CollectError;
using pytheus::CollectorRegistry;
namespace ff = pytheus::detail::file;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// An index image with `n` records, as the writer lays it out.
std::string index_image(int n) {
  const std::size_t begin = ff::records_begin_for(4);
  std::string img(begin, '\0');
  auto* h = reinterpret_cast<ff::IndexHeader*>(img.data());
  std::memcpy(h->magic, ff::kIndexMagic, 8);
  h->version = ff::kFormatVersion;
  h->max_processes = 4;
  h->records_begin = begin;
  std::uint64_t cells = 0;
  for (int i = 0; i < n; ++i) {
    const std::vector<double> bounds =
        i % 2 ? std::vector<double>{0.5, 1, INFINITY} : std::vector<double>{};
    const auto type = i % 2 ? pytheus::MetricType::histogram : pytheus::MetricType::counter;
    const auto count = ff::cells_for(type, bounds.size());
    std::string rec =
        ff::encode_record(type, pytheus::GaugeMode::shared, "m" + std::to_string(i),
                          {{"a", "x"}, {"b", std::to_string(i)}}, bounds, cells, count);
    const auto len = static_cast<std::uint32_t>(rec.size());
    std::memcpy(rec.data(), &len, 4);
    img += rec;
    cells += count;
  }
  h = reinterpret_cast<ff::IndexHeader*>(img.data());
  h->records_end.store(img.size());
  h->cells_used.store(cells);
  return img;
}

TEST(FileFormat, WriterAndReaderAgree) {
  const std::string img = index_image(3);
  std::vector<ff::RecordView> records;
  const auto* data = reinterpret_cast<const unsigned char*>(img.data());
  EXPECT_EQ(ff::read_records(data, img.size(), "index.db", 0, records), img.size());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].name, "m1");
  EXPECT_EQ(records[1].type, pytheus::MetricType::histogram);
  EXPECT_EQ(records[1].bounds.size(), 3u);
  EXPECT_EQ(records[1].cell_count, 4u);
  EXPECT_EQ(records[1].first_cell, 1u);
  ASSERT_EQ(records[2].labels.size(), 2u);
  EXPECT_EQ(records[2].labels[1].second, "2");
}

TEST(FileFormat, TruncatedOrFlippedImagesThrowNamingTheFile) {
  const std::string img = index_image(4);
  for (std::size_t cut : {std::size_t(0), std::size_t(100), img.size() - 9}) {
    std::string t = img.substr(0, cut);
    std::vector<ff::RecordView> records;
    const std::string err = error_of([&] {
      ff::read_records(reinterpret_cast<const unsigned char*>(t.data()), t.size(), "x/index.db", 0,
                       records);
    });
    EXPECT_NE(err.find("x/index.db"), std::string::npos) << cut << ": " << err;
  }
  // Random corruption: never a crash or an out-of-bounds read (ASan checks the latter).
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string t = img;
    for (int k = 0; k < 4; ++k) {
      t[ff::kPage + rng() % (t.size() - ff::kPage)] = static_cast<char>(rng());
    }
    std::vector<ff::RecordView> records;
    try {
      ff::read_records(reinterpret_cast<const unsigned char*>(t.data()), t.size(), "index.db", 0,
                       records);
    } catch (const ff::FileFormatError& e) {
      EXPECT_NE(std::string(e.what()).find("index.db"), std::string::npos);
    }
  }
}

TEST_F(FileBackendTest, EveryMetricTypeAndItsExposition) {
  CollectorRegistry reg;
  pytheus::Counter c("jobs", "Jobs.", {"queue"}, {}, &reg);
  pytheus::Gauge g("depth", "Depth.", {}, {}, &reg);
  pytheus::Histogram h("lat", "Latency.", {}, {}, &reg, pytheus::Buckets{1, 2});
  pytheus::Summary s("size", "Sizes.", {}, {}, &reg);
  c.labels({{"queue", "a"}}).inc(2);
  c.labels({{"queue", "b"}}).inc();
  g.set(5);
  g.dec(2);
  h.observe(0.5);
  h.observe(1.5);
  h.observe(7);
  s.observe(3);
  s.observe(4);
  const auto f = pytheus::collect(reg);
  EXPECT_EQ(sample(f, "jobs", {{"queue", "a"}}), 2);
  EXPECT_EQ(sample(f, "jobs", {{"queue", "b"}}), 1);
  EXPECT_EQ(sample(f, "depth"), 3);
  EXPECT_EQ(sample(f, "lat_bucket", {{"le", "1"}}), 1);
  EXPECT_EQ(sample(f, "lat_bucket", {{"le", "2"}}), 2);
  EXPECT_EQ(sample(f, "lat_bucket", {{"le", "+Inf"}}), 3);
  EXPECT_EQ(sample(f, "lat_count"), 3);
  EXPECT_EQ(sample(f, "lat_sum"), 9);
  EXPECT_EQ(sample(f, "size_count"), 2);
  EXPECT_EQ(sample(f, "size_sum"), 7);
  EXPECT_EQ(c.labels({{"queue", "a"}}).get(), 2);
  EXPECT_EQ(h.snapshot().count, 3);
  EXPECT_NE(pytheus::generate_metrics(reg).find("jobs{queue=\"a\"} 2"), std::string::npos);
}

// Metrics whose exposed names differ (registry prefixes) never share a series.
TEST_F(FileBackendTest, SameNameInTwoPrefixedRegistriesStaysApart) {
  CollectorRegistry a("svc_a");
  CollectorRegistry b("svc_b");
  pytheus::Counter ca("jobs", "Jobs.", {}, {}, &a);
  pytheus::Counter cb("jobs", "Jobs.", {}, {}, &b);
  ca.inc(2);
  cb.inc(5);
  EXPECT_EQ(ca.get(), 2);
  EXPECT_EQ(cb.get(), 5);
  EXPECT_EQ(sample(pytheus::collect(a), "jobs"), 2);
  EXPECT_EQ(sample(pytheus::collect(b), "jobs"), 5);
}

TEST_F(FileBackendTest, FilesAreOwnerOnlyByDefault) {
  CollectorRegistry reg;
  pytheus::Counter c("c", "C.", {}, {}, &reg);
  c.inc();
  for (const char* name : {"index.db", "totals.db", "slot-0.db", "pytheus.lock"}) {
    struct stat st {};
    ASSERT_EQ(stat(path(name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << name;
  }
}

TEST(FileBackendConfig, FileModeIsConfigurable) {
  TempDir dir("pytheus-file");
  const mode_t old_umask = umask(077);  // the mode is exact, whatever the umask
  pytheus::load_backend("MultiProcessFileBackend",
                        {{"directory", dir.path().string()}, {"file_mode", "0640"}});
  struct stat st {};
  ASSERT_EQ(stat((dir / "index.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  umask(old_umask);
  pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
}

TEST(FileBackendConfig, ErrorsNameWhatIsWrong) {
  TempDir dir("pytheus-file");
  auto load = [](nlohmann::json config) {
    return error_of([&] { pytheus::load_backend("MultiProcessFileBackend", config); });
  };
  EXPECT_NE(load(nlohmann::json::object()).find("\"directory\" is required"), std::string::npos);
  EXPECT_NE(
      load({{"directory", (dir / "missing").string()}}).find(dir.path().string() + "/missing"),
      std::string::npos);
  write_file((dir / "plain").string(), "x");
  EXPECT_NE(load({{"directory", (dir / "plain").string()}}).find("is not a directory"),
            std::string::npos);
  EXPECT_NE(
      load({{"directory", dir.path().string()}, {"gauge_mode", "average"}}).find("gauge_mode"),
      std::string::npos);
  EXPECT_NE(load({{"directory", dir.path().string()}, {"colour", 1}}).find("\"colour\""),
            std::string::npos);
  EXPECT_NE(load({{"directory", dir.path().string()}, {"file_mode", 0444}}).find("file_mode"),
            std::string::npos);
  // The previous backend stays loaded after each failure.
  EXPECT_EQ(pytheus::loaded_backend(), "SingleProcessBackend");
  if (geteuid() != 0) {
    const auto ro = dir / "readonly";
    mkdir(ro.c_str(), 0500);
    EXPECT_NE(load({{"directory", ro.string()}}).find("not writable"), std::string::npos);
  }
}

TEST(FileBackendConfig, TwoServicesOnOneDirectoryAreRefused) {
  TempDir dir("pytheus-file");
  pytheus::load_backend("MultiProcessFileBackend",
                        {{"directory", dir.path().string()}, {"service", "billing"}});
  // Another process of another service (a child here, so that it opens the files afresh).
  TempDir other("pytheus-file");
  const pid_t pid = spawn([&] {
    const std::string err = error_of([&] {
      pytheus::load_backend("MultiProcessFileBackend",
                            {{"directory", dir.path().string()}, {"service", "search"}});
    });
    if (err.find("\"billing\"") == std::string::npos) throw std::runtime_error("no error: " + err);
  });
  EXPECT_EQ(wait_child(pid), 0);
  const std::string err = error_of([&] {
    pytheus::load_backend("MultiProcessFileBackend",
                          {{"directory", dir.path().string()}, {"service", "search"}});
  });
  EXPECT_NE(err.find("billing"), std::string::npos) << err;
  pytheus::load_backend("SingleProcessBackend", pytheus::BackendConfig::object());
}

TEST(FileBackendConfig, CorruptOrTruncatedFilesNameTheFile) {
  TempDir dir("pytheus-file");
  const nlohmann::json config{{"directory", dir.path().string()}};
  write_file((dir / "index.db").string(), std::string(5000, 'x'));
  const pid_t a = spawn([&] {
    const std::string err =
        error_of([&] { pytheus::load_backend("MultiProcessFileBackend", config); });
    if (err.find("index.db") == std::string::npos) throw std::runtime_error("got: " + err);
  });
  EXPECT_EQ(wait_child(a), 0);
  // A valid directory, then its index cut short.
  TempDir dir2("pytheus-file");
  const nlohmann::json config2{{"directory", dir2.path().string()}};
  const pid_t b = spawn([&] {
    pytheus::load_backend("MultiProcessFileBackend", config2);
    CollectorRegistry reg;
    pytheus::Counter c("c", "C.", {"k"}, {}, &reg);
    for (int i = 0; i < 50; ++i) c.labels({{"k", std::to_string(i)}}).inc();
  });
  ASSERT_EQ(wait_child(b), 0);
  const std::string img = read_file((dir2 / "index.db").string());
  auto* h = reinterpret_cast<const ff::IndexHeader*>(img.data());
  write_file((dir2 / "index.db").string(), img.substr(0, h->records_end.load() - 40));
  const pid_t c = spawn([&] {
    const std::string err =
        error_of([&] { pytheus::load_backend("MultiProcessFileBackend", config2); });
    if (err.find("index.db") == std::string::npos) throw std::runtime_error("got: " + err);
  });
  EXPECT_EQ(wait_child(c), 0);
}

TEST_F(FileBackendTest, CorruptSlotFileIsACollectErrorNamingIt) {
  CollectorRegistry reg;
  pytheus::Counter c("c", "C.", {}, {}, &reg);
  c.inc();
  const pid_t pid = spawn([&] { c.inc(); });  // takes slot-1
  ASSERT_EQ(wait_child(pid), 0);
  const pid_t keep = spawn([&] {
    c.inc();
    pause();
  });  // alive on some slot
  ASSERT_TRUE(wait_until([&] { return c.get() == 3; }, std::chrono::seconds(10)));
  // The dead child's slot 1 was folded and taken by `keep`: slot-1.db is live.
  std::fstream f(path("slot-1.db"), std::ios::in | std::ios::out | std::ios::binary);
  f.write("garbage!", 8);
  f.close();
  const std::string err = error_of([&] { pytheus::collect(reg); });
  kill(keep, SIGKILL);
  wait_child(keep);
  EXPECT_NE(err.find("slot-1.db"), std::string::npos) << err;
  EXPECT_TRUE(err.find("corrupt") != std::string::npos) << err;
}

TEST_F(FileBackendTest, GaugeModesInOneProcess) {
  CollectorRegistry reg;
  for (auto mode : {pytheus::GaugeMode::shared, pytheus::GaugeMode::sum, pytheus::GaugeMode::max,
                    pytheus::GaugeMode::min, pytheus::GaugeMode::mostrecent,
                    pytheus::GaugeMode::livesum, pytheus::GaugeMode::livemostrecent}) {
    const std::string name = "g_" + std::string(pytheus::to_string(mode));
    pytheus::Gauge g(name, "G.", {}, {}, &reg, mode);
    g.set(4);
    g.inc(2);
    EXPECT_EQ(sample(pytheus::collect(reg), name), 6) << name;
    EXPECT_EQ(g.get(), 6) << name;
  }
  pytheus::Gauge all("g_all", "G.", {}, {}, &reg, pytheus::GaugeMode::all);
  all.set(3);
  EXPECT_EQ(sample(pytheus::collect(reg), "g_all", {{"pid", std::to_string(getpid())}}), 3);
}

TEST_F(FileBackendTest, DefaultGaugeModeComesFromTheConfig) {
  load({{"gauge_mode", "livemax"}});
  CollectorRegistry reg;
  pytheus::Gauge g("g", "G.", {}, {}, &reg);
  g.set(2);
  const pid_t pid = spawn([&] {
    g.set(9);
    pause();
  });
  ASSERT_TRUE(wait_until([&] { return sample(pytheus::collect(reg), "g") == 9; },
                         std::chrono::seconds(10)));
  kill(pid, SIGKILL);
  wait_child(pid);
  EXPECT_EQ(sample(pytheus::collect(reg), "g"), 2);  // livemax: the dead process left
}

TEST_F(FileBackendTest, RemoveAndClearReachEveryProcess) {
  CollectorRegistry reg;
  pytheus::Counter c("c", "C.", {"k"}, {}, &reg);
  c.labels({{"k", "a"}}).inc();
  c.labels({{"k", "b"}}).inc();
  const pid_t pid = spawn([&] { c.labels({{"k", "c"}}).inc(5); });  // a series only a child has
  ASSERT_EQ(wait_child(pid), 0);
  EXPECT_EQ(sample(pytheus::collect(reg), "c", {{"k", "c"}}), 5);
  EXPECT_TRUE(c.remove({{"k", "a"}}));
  auto f = pytheus::collect(reg);
  EXPECT_TRUE(std::isnan(sample(f, "c", {{"k", "a"}})));
  EXPECT_EQ(sample(f, "c", {{"k", "b"}}), 1);
  // Used again: starts from 0.
  c.labels({{"k", "a"}}).inc(2);
  EXPECT_EQ(sample(pytheus::collect(reg), "c", {{"k", "a"}}), 2);
  c.clear();
  // clear() removes this process's series; the child's series is removed through its own
  // handle in the child (remove() acts on the series a process has).
  f = pytheus::collect(reg);
  EXPECT_TRUE(std::isnan(sample(f, "c", {{"k", "a"}})));
  EXPECT_TRUE(std::isnan(sample(f, "c", {{"k", "b"}})));
  const pid_t remover = spawn([&] {
    c.labels({{"k", "c"}});
    if (!c.remove({{"k", "c"}})) throw std::runtime_error("remove failed");
  });
  ASSERT_EQ(wait_child(remover), 0);
  EXPECT_TRUE(std::isnan(sample(pytheus::collect(reg), "c", {{"k", "c"}})));
}

TEST_F(FileBackendTest, CardinalityLimitHolds) {
  CollectorRegistry reg;
  pytheus::MetricOptions o;
  o.name = "limited";
  o.description = "L.";
  o.required_labels = {"k"};
  o.registry = &reg;
  o.max_series = 2;
  pytheus::Counter c(o);
  c.labels({{"k", "1"}}).inc();
  c.labels({{"k", "2"}}).inc();
  EXPECT_THROW(c.labels({{"k", "3"}}).inc(), pytheus::CardinalityError);
  EXPECT_EQ(samples(pytheus::collect(reg), "limited", {{"k", "1"}}).size(), 1u);
}

TEST_F(FileBackendTest, CustomCollectorsAreScrapedBesideTheFiles) {
  struct Fixed : pytheus::Collector {
    std::vector<pytheus::MetricFamily> collect() const override {
      pytheus::MetricFamily f;
      f.name = "custom";
      f.help = "Custom.";
      f.type = pytheus::MetricType::gauge;
      f.samples.push_back({"", {}, 42});
      return {f};
    }
  };
  CollectorRegistry reg;
  pytheus::Counter c("c", "C.", {}, {}, &reg);
  c.inc();
  reg.register_collector(std::make_shared<Fixed>());
  const auto f = pytheus::collect(reg);
  EXPECT_EQ(sample(f, "custom"), 42);
  EXPECT_EQ(sample(f, "c"), 1);
}

TEST_F(FileBackendTest, CountersContinueAfterARestart) {
  CollectorRegistry reg;
  pytheus::Counter c("c", "C.", {}, {}, &reg);
  // A first run: two processes count, then all of them are gone.
  for (int run = 0; run < 2; ++run) {
    const pid_t pid = spawn([&] { c.inc(10); });
    ASSERT_EQ(wait_child(pid), 0);
  }
  // The next run starts on the same directory: values continue (documented), dead processes
  // are folded as new ones take their slots.
  const pid_t next = spawn([&] {
    c.inc();
    if (c.get() != 21) throw std::runtime_error("restart: " + std::to_string(c.get()));
  });
  EXPECT_EQ(wait_child(next), 0);
  EXPECT_EQ(c.get(), 21);
}

}  // namespace
}  // namespace pytheus_test
