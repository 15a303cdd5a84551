// Native histograms on MultiProcessFileBackend: one process (buckets, snapshots, the window
// and max_buckets, remove), forked processes at different schemas merged exactly (live, and
// folded once dead), a process killed with SIGKILL mid-load, a folder killed mid-fold, scrapes
// concurrent with writers (never a count without its bucket), and directories of the
// previous format version refused.
#include <fcntl.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>

#include "file_test_helpers.hpp"
#include "native_region.hpp"
#include "native_test_helpers.hpp"
#include "pytheus/detail/native.hpp"
#include "store.hpp"

namespace pytheus_test {
namespace {

using namespace pytheus;
using pytheus_test::expected_at;
using pytheus_test::NativeRecorder;
using pytheus_test::small_limit;
namespace native = pytheus::detail::native;

constexpr int kN = kSanitized ? 2000 : 20000;

// Worker w's observations: multiples of 2^-6 (exact sums). Worker 0 spreads 96 values over
// 12 octaves and must reduce its resolution itself; the others stay within a few octaves at
// schema 3, worker 3 with negatives, and zeros now and then.
double value_of(int w, int i) {
  if (w == 0) return std::ldexp(1.0 + ((i / 12) % 8) / 8.0, (i % 12) - 3);
  const double v = 1 + (i % 16) / 8.0;
  return (w == 3 && i % 5 == 0) ? -v : (i % 97 == 0 ? 0 : v);
}

std::vector<double> workers_values(int workers, int n) {
  std::vector<double> out;
  for (int w = 0; w < workers; ++w) {
    for (int i = 0; i < n; ++i) out.push_back(value_of(w, i));
  }
  return out;
}

struct Scrape {
  NativeBuckets native;
  double count = 0;
  double sum = 0;
  bool found = false;
};
Scrape scrape(CollectorRegistry& reg, const std::string& key = "") {
  NativeRecorder rec;
  collect(reg, rec);
  Scrape s;
  auto it = rec.natives.find(key);
  if (it == rec.natives.end()) return s;
  s.found = true;
  s.native = it->second;
  s.count = rec.counts[key];
  s.sum = rec.sums[key];
  return s;
}

TEST_F(FileBackendTest, NativeBucketsInOneProcess) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, NativeHistogramOptions{});
  for (double v : {1.0, -2.0, 0.0, 1.0, 3.5}) h.observe(v);
  const HistogramSnapshot s = h.snapshot();
  ASSERT_TRUE(s.native);
  EXPECT_EQ(s.count, 5);
  EXPECT_EQ(s.sum, 3.5);
  EXPECT_EQ(s.native->schema, 3);
  EXPECT_EQ(s.native->zero_count, 1u);
  EXPECT_EQ(s.native->positive, (native::BucketList{{0, 2}, {native::bucket_index(3.5, 3), 1}}));
  EXPECT_EQ(s.native->negative, (native::BucketList{{8, 1}}));
  const Scrape got = scrape(reg);
  ASSERT_TRUE(got.found);
  EXPECT_EQ(got.native, *s.native);
  EXPECT_EQ(got.count, 5);
  // Text shows the classic samples.
  const std::string text = generate_metrics(reg);
  EXPECT_NE(text.find("rpc_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos) << text;
}

TEST_F(FileBackendTest, NativeSeriesWithoutObservationsShowTheConfiguredSchema) {
  CollectorRegistry reg;
  NativeHistogramOptions o;
  o.schema = 5;
  Histogram h("rpc_seconds", "x", {"k"}, {}, &reg, {}, o);
  h.labels({{"k", "a"}});
  const Scrape got = scrape(reg, "a;");
  ASSERT_TRUE(got.found);
  EXPECT_EQ(got.native.schema, 5);
  EXPECT_EQ(native::total_count(got.native), 0u);
}

TEST_F(FileBackendTest, MaxBucketsHalvesTheResolutionExactly) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, small_limit());
  std::vector<double> values;
  for (int i = 0; i < 500; ++i) values.push_back(value_of(0, i));
  for (double v : values) h.observe(v);
  const Scrape got = scrape(reg);
  EXPECT_LT(got.native.schema, 3);
  EXPECT_LE(got.native.positive.size() + got.native.negative.size(), 24u);
  EXPECT_EQ(got.native, expected_at(values, got.native.schema, got.native.zero_threshold));
  EXPECT_EQ(got.count, 500);
}

TEST_F(FileBackendTest, FarApartValuesStayWithinTheWindow) {
  // 1e-35 and 1e300 are about 1100 octaves apart: 160 buckets span them from schema -3 on.
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, NativeHistogramOptions{});
  const std::vector<double> values = {1e-35, 1, 1e300, -1e-35, -1e300, 2, 3};
  for (double v : values) h.observe(v);
  const Scrape got = scrape(reg);
  EXPECT_EQ(got.native.schema, -3);
  EXPECT_EQ(got.native, expected_at(values, -3, got.native.zero_threshold));
}

TEST_F(FileBackendTest, MaxZeroThresholdWidensTheZeroBucket) {
  CollectorRegistry reg;
  NativeHistogramOptions o = small_limit();
  o.max_zero_threshold = 0.5;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, o);
  std::vector<double> values;
  for (int i = 0; i < 30; ++i) values.push_back(std::ldexp(1.0, -i % 10) * (1 + (i % 3) / 4.0));
  for (double v : values) h.observe(v);
  const Scrape got = scrape(reg);
  EXPECT_GT(got.native.zero_threshold, o.zero_threshold);
  EXPECT_LE(got.native.zero_threshold, 0.5);
  EXPECT_EQ(native::total_count(got.native), 30u);
  EXPECT_EQ(got.native, expected_at(values, got.native.schema, got.native.zero_threshold));
}

TEST_F(FileBackendTest, RemoveAndClearDeleteNativeBuckets) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {"k"}, {}, &reg, {}, small_limit());
  const pid_t pid = spawn([&] {
    for (int i = 0; i < 200; ++i) h.labels({{"k", "a"}}).observe(value_of(0, i));
    h.labels({{"k", "b"}}).observe(1);
  });
  ASSERT_EQ(wait_child(pid), 0);
  for (int i = 0; i < 50; ++i) h.labels({{"k", "a"}}).observe(value_of(3, i));
  EXPECT_EQ(scrape(reg, "a;").count, 250);
  EXPECT_TRUE(h.remove({{"k", "a"}}));
  EXPECT_FALSE(scrape(reg, "a;").found);
  // Created again: one observation, at the configured schema, not the child's old buckets.
  h.labels({{"k", "a"}}).observe(1);
  const Scrape again = scrape(reg, "a;");
  EXPECT_EQ(again.count, 1);
  EXPECT_EQ(again.native.schema, 3);
  EXPECT_EQ(again.native.positive, (native::BucketList{{0, 1}}));
  EXPECT_EQ(scrape(reg, "b;").count, 1);
  h.labels({{"k", "b"}});  // clear() deletes the series this process has
  h.clear();
  EXPECT_FALSE(scrape(reg, "a;").found);
  EXPECT_FALSE(scrape(reg, "b;").found);
}

// 4 processes whose series reduced their resolution differently: a scrape merges them
// exactly while they live, and after a new process folded the dead ones into the totals.
TEST_F(FileBackendTest, FourProcessesAtDifferentSchemasMergeExactly) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {"svc"}, {}, &reg, {}, small_limit());
  std::vector<pid_t> pids;
  for (int w = 0; w < 4; ++w) {
    pids.push_back(spawn([&, w] {
      auto child = h.labels({{"svc", "a"}});
      for (int i = 0; i < kN; ++i) child.observe(value_of(w, i));
      if (w == 0 && child.snapshot().native->schema >= 3) {
        throw std::runtime_error("worker 0 did not halve its resolution");
      }
    }));
  }
  for (pid_t pid : pids) ASSERT_EQ(wait_child(pid), 0);
  const std::vector<double> values = workers_values(4, kN);
  double sum = 0;
  for (double v : values) sum += v;
  for (int round = 0; round < 2; ++round) {
    const Scrape got = scrape(reg, "a;");
    ASSERT_TRUE(got.found);
    EXPECT_EQ(got.count, 4.0 * kN) << round;
    EXPECT_EQ(got.sum, sum) << round;
    EXPECT_EQ(native::total_count(got.native), std::uint64_t{4} * kN) << round;
    EXPECT_LT(got.native.schema, 3);
    EXPECT_LE(got.native.positive.size() + got.native.negative.size(), 24u);
    EXPECT_EQ(got.native, expected_at(values, got.native.schema, got.native.zero_threshold))
        << round;
    // A new process takes a slot: it folds the 4 dead ones into totals.db.
    const pid_t next = spawn([&] { h.labels({{"svc", "b"}}).observe(1); });
    ASSERT_EQ(wait_child(next), 0);
  }
}

// A writer killed with SIGKILL in the middle of its observations: every observation that
// returned is in the count and the buckets, the one in flight in both or in neither.
TEST_F(FileBackendTest, NativeKillNineLosesNothingThatReturned) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, small_limit());
  auto* progress = shared_block<std::atomic<std::int64_t>>();
  const pid_t other = spawn([&] {
    for (int i = 0; i < kN; ++i) h.observe(value_of(3, i));
  });
  const pid_t victim = spawn([&] {
    for (std::int64_t i = 0;; ++i) {
      h.observe(value_of(i % 2 == 0 ? 0 : 1, static_cast<int>(i % 10007)));
      progress->store(i + 1, std::memory_order_release);
    }
  });
  ASSERT_TRUE(wait_until([&] { return progress->load() > kN; }, std::chrono::seconds(60)));
  kill(victim, SIGKILL);
  EXPECT_EQ(wait_child(victim), 128 + SIGKILL);
  ASSERT_EQ(wait_child(other), 0);
  const auto returned = static_cast<double>(progress->load());
  for (int round = 0; round < 2; ++round) {
    const Scrape got = scrape(reg);
    // The victim's, the other writer's, and one 0 per earlier round.
    EXPECT_GE(got.count, kN + returned + round) << round;
    EXPECT_LE(got.count, kN + returned + round + 1) << round;
    EXPECT_EQ(static_cast<double>(native::total_count(got.native)), got.count) << round;
    // A new process folds the dead one; nothing moves.
    const pid_t next = spawn([&] { h.observe(0); });
    ASSERT_EQ(wait_child(next), 0);
    const Scrape after = scrape(reg);
    EXPECT_EQ(after.count, got.count + 1) << round;
    EXPECT_EQ(static_cast<double>(native::total_count(after.native)), after.count) << round;
    EXPECT_EQ(after.native.zero_count, got.native.zero_count + 1) << round;
  }
}

// Scrapes while two processes observe: every scrape's native buckets add up to its count.
TEST_F(FileBackendTest, NativeBucketsMatchTheCountUnderConcurrentScrapes) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, small_limit());
  auto* stop = shared_block<std::atomic<int>>();
  std::vector<pid_t> pids;
  for (int p = 0; p < 2; ++p) {
    pids.push_back(spawn([&, p] {
      int i = 0;
      while (stop->load(std::memory_order_relaxed) == 0) h.observe(value_of(p * 3, i++ % 5000));
    }));
  }
  ASSERT_TRUE(wait_until([&] { return h.snapshot().count > 1000; }, std::chrono::seconds(60)));
  int inconsistent = 0;
  double last = 0;
  for (int i = 0; i < 1000; ++i) {
    const Scrape s = scrape(reg);
    if (static_cast<double>(native::total_count(s.native)) != s.count || s.count < last) {
      ++inconsistent;
    }
    last = s.count;
  }
  stop->store(1);
  for (pid_t pid : pids) ASSERT_EQ(wait_child(pid), 0);
  EXPECT_EQ(inconsistent, 0);
  EXPECT_GT(last, 0);
}

// A writer that dies inside an observation, after its native count and before its classic
// one (in the window, and through a rebuilt window): a scrape and the fold take the native
// count back, so the series stays consistent.
void die_in_observe(bool) {
  _exit(43);
}

TEST_F(FileBackendTest, AWriterDyingMidObservationLeavesAConsistentSeries) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, NativeHistogramOptions{});
  std::vector<double> values;
  for (double last : {1.5, 1e200}) {  // in the window; far outside it
    const pid_t pid = spawn([&] {
      for (int i = 0; i < 10; ++i) h.observe(1 + i / 8.0);
      pytheus::detail::file::native_region::observe_hook = &die_in_observe;
      h.observe(last);
    });
    ASSERT_EQ(wait_child(pid), 43);
    for (int i = 0; i < 10; ++i) values.push_back(1 + i / 8.0);
    for (int round = 0; round < 2; ++round) {
      const Scrape got = scrape(reg);
      EXPECT_EQ(got.count, static_cast<double>(values.size())) << last << " " << round;
      EXPECT_EQ(got.native, expected_at(values, got.native.schema, got.native.zero_threshold))
          << last << " " << round;
      // A new process folds the dead one (its region's lock still held).
      const pid_t next = spawn([&] { h.observe(0); });
      ASSERT_EQ(wait_child(next), 0);
      values.push_back(0);
    }
  }
}

// Processes with different max_buckets share the series: the region is its creator's.
TEST_F(FileBackendTest, ProcessesWithDifferentMaxBucketsShareTheSeries) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, NativeHistogramOptions{});
  h.observe(1);
  const pid_t pid = spawn([&] {
    CollectorRegistry other;
    Histogram small("rpc_seconds", "x", {}, {}, &other, {}, small_limit());
    for (int i = 0; i < 200; ++i) small.observe(value_of(0, i));
    if (small.snapshot().count != 201) throw std::runtime_error("not one series");
  });
  ASSERT_EQ(wait_child(pid), 0);
  std::vector<double> values = {1};
  for (int i = 0; i < 200; ++i) values.push_back(value_of(0, i));
  const Scrape got = scrape(reg);
  EXPECT_EQ(got.count, 201);
  EXPECT_EQ(got.native, expected_at(values, got.native.schema, got.native.zero_threshold));
}

// A process that died holding a region's lock (a reader or an eraser): the owner's next
// observation finds it dead and goes on.
TEST_F(FileBackendTest, ALockHolderThatDiedIsReplaced) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, NativeHistogramOptions{});
  h.observe(1);  // this process: slot 0; the series: bucket +Inf at cell 0, sum, then region
  const std::string slot = path("slot-0.db");
  const pid_t holder = spawn([&] {
    const int fd = open(slot.c_str(), O_RDWR);
    void* p = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap");
    auto* lock = reinterpret_cast<std::atomic<std::uint64_t>*>(static_cast<char*>(p) + 4096 + 16);
    std::uint64_t free = 0;
    if (!lock->compare_exchange_strong(free, static_cast<std::uint64_t>(getpid()))) {
      throw std::runtime_error("the lock was not free");
    }
    _exit(0);  // dies holding it
  });
  ASSERT_EQ(wait_child(holder), 0);
  h.observe(2);
  const Scrape got = scrape(reg);
  EXPECT_EQ(got.count, 2);
  EXPECT_EQ(native::total_count(got.native), 2u);
}

int g_die_at_unit = -1;
int g_die_at_phase = 0;
int g_units_seen = 0;
void die_mid_fold(std::uint64_t, int phase) {
  if (phase == g_die_at_phase && g_units_seen++ == g_die_at_unit) _exit(42);
}

// A folder killed at each step of folding a dead process's native histogram (its bucket
// counts, sum and native region): the next reader finishes, and everything counts once.
TEST_F(FileBackendTest, AFolderDyingMidNativeFoldCountsEverythingOnce) {
  CollectorRegistry reg;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, {}, small_limit());
  std::vector<double> values;
  // Units of the series: its +Inf bucket, its sum, its native region.
  for (int unit = 0; unit < 3; ++unit) {
    for (int phase = 0; phase < 2; ++phase) {
      const int base = static_cast<int>(values.size());
      const pid_t worker = spawn([&] {
        for (int i = 0; i < 100; ++i) h.observe(value_of(0, base + i));
      });
      ASSERT_EQ(wait_child(worker), 0);
      for (int i = 0; i < 100; ++i) values.push_back(value_of(0, base + i));
      const pid_t folder = spawn([&] {
        pytheus::detail::file::fold_unit_hook = &die_mid_fold;
        g_die_at_unit = unit;
        g_die_at_phase = phase;
        h.observe(0.0 * 0);  // never returns: takes a slot, folds the worker, dies
      });
      EXPECT_EQ(wait_child(folder), 42) << "unit " << unit << " phase " << phase;
      const Scrape got = scrape(reg);  // finishes the fold
      EXPECT_EQ(got.count, static_cast<double>(values.size())) << unit << " " << phase;
      EXPECT_EQ(got.native, expected_at(values, got.native.schema, got.native.zero_threshold))
          << unit << " " << phase;
    }
  }
}

// An index image with one histogram record of `cell_count` cells (bounds {1, +Inf}).
std::string native_image(std::uint32_t cell_count) {
  namespace ff = pytheus::detail::file;
  const std::size_t begin = ff::records_begin_for(1);
  std::string img(begin, '\0');
  std::string rec = ff::encode_record(MetricType::histogram, GaugeMode::shared, "rpc_seconds", {},
                                      {1, INFINITY}, 0, cell_count);
  const auto len = static_cast<std::uint32_t>(rec.size());
  std::memcpy(rec.data(), &len, 4);
  img += rec;
  auto* h = reinterpret_cast<ff::IndexHeader*>(img.data());
  std::memcpy(h->magic, ff::kIndexMagic, 8);
  h->version = ff::kFormatVersion;
  h->max_processes = 1;
  h->records_begin = begin;
  h->records_end.store(img.size());
  h->cells_used.store(cell_count);
  return img;
}

TEST(FileBackendFormat, NativeRegionsAreReadAndCheckedFromTheRecord) {
  namespace ff = pytheus::detail::file;
  namespace nr = pytheus::detail::file::native_region;
  const auto region = static_cast<std::uint32_t>(nr::region_cells(nr::window_for(160)));
  std::string img = native_image(3 + region);
  std::vector<ff::RecordView> out;
  ff::read_records(reinterpret_cast<const unsigned char*>(img.data()), img.size(), "x/index.db", 0,
                   out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].native_cells, region);
  EXPECT_EQ(nr::window_of(out[0].native_cells), 160u);
  // A region of no size the writer makes is a corrupt record.
  img = native_image(3 + region + 1);
  out.clear();
  try {
    ff::read_records(reinterpret_cast<const unsigned char*>(img.data()), img.size(), "x/index.db",
                     0, out);
    ADD_FAILURE() << "read a bad native region";
  } catch (const ff::FileFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("x/index.db is corrupt or truncated: bad native region"),
              std::string::npos)
        << e.what();
  }
}

// Exemplars of a native histogram are those of its classic buckets, as on every backend.
TEST_F(FileBackendTest, ExemplarsOfANativeHistogram) {
  CollectorRegistry reg;
  NativeHistogramOptions o;
  o.classic_buckets = true;
  Histogram h("rpc_seconds", "x", {}, {}, &reg, Buckets{1}, o);
  h.observe(0.5, {{"trace_id", "abc"}});
  h.observe(2);
  const std::string text = generate_metrics(reg, Format::openmetrics);
  EXPECT_NE(text.find("rpc_seconds_bucket{le=\"1.0\"} 1 # {trace_id=\"abc\"} 0.5"),
            std::string::npos)
      << text;
  const HistogramSnapshot s = h.snapshot();
  ASSERT_TRUE(s.native);
  EXPECT_EQ(native::total_count(*s.native), 2u);
  EXPECT_EQ(s.buckets, (std::vector<double>{1, 2}));
}

TEST(FileBackendFormat, DirectoriesOfVersion2AreRefused) {
  TempDir made("pytheus-file-v3");
  load_backend("MultiProcessFileBackend", nlohmann::json{{"directory", made.path().string()}});
  {
    CollectorRegistry reg;
    Counter c("c", "C.", {}, {}, &reg);
    c.inc();
  }
  load_backend("SingleProcessBackend", BackendConfig::object());
  // The same files as a library that wrote version 2 left them, in a directory this process
  // has not opened yet (a store is opened once per process and directory).
  TempDir old("pytheus-file-v2");
  for (const char* name : {"index.db", "totals.db"}) {
    std::ifstream in((made.path() / name).string(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (std::string(name) == "index.db") {
      const std::uint32_t two = 2;
      std::memcpy(&bytes[8], &two, 4);
    }
    std::ofstream((old.path() / name).string(), std::ios::binary) << bytes;
  }
  try {
    load_backend("MultiProcessFileBackend", nlohmann::json{{"directory", old.path().string()}});
    ADD_FAILURE() << "loaded a version 2 directory";
  } catch (const BackendError& e) {
    EXPECT_NE(
        std::string(e.what()).find("index.db has format version 2, this library reads version 3"),
        std::string::npos)
        << e.what();
  }
  load_backend("SingleProcessBackend", BackendConfig::object());
}

}  // namespace
}  // namespace pytheus_test
