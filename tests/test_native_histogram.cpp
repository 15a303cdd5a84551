// Native histograms in process memory: the bucket math against client_golang's documented
// behaviour (boundaries, zero bucket, negative values, the bucket-limit strategies), merging
// of schemas, options validation, and what the exposition receives.
#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include "pytheus/detail/native.hpp"
#include "test_helpers.hpp"

namespace {

using pytheus::NativeBuckets;
using pytheus::NativeHistogramOptions;
namespace native = pytheus::detail::native;
using Buckets = native::BucketList;

NativeHistogramOptions with_factor(double factor) {
  NativeHistogramOptions o;
  o.bucket_factor = factor;
  return o;
}

// Records the native buckets and the samples a collect writes, in order.
class RecordingWriter : public pytheus::MetricWriter {
 public:
  void family(std::string_view, std::string_view, pytheus::MetricType, std::string_view) override {}
  void sample(std::string_view suffix, const pytheus::LabelView* labels, std::size_t n,
              double value) override {
    std::string line(suffix);
    for (std::size_t i = 0; i < n; ++i) {
      line += " " + std::string(labels[i].name) + "=" + std::string(labels[i].value);
    }
    events.push_back(line + " " + std::to_string(value));
  }
  void native_histogram(const pytheus::LabelView* labels, std::size_t n,
                        const NativeBuckets& b) override {
    std::string line = "native";
    for (std::size_t i = 0; i < n; ++i) {
      line += " " + std::string(labels[i].name) + "=" + std::string(labels[i].value);
    }
    events.push_back(line);
    natives.push_back(b);
  }
  std::vector<std::string> events;
  std::vector<NativeBuckets> natives;
};

class NativeHistogramTest : public pytheus_test::CoreTest {};

// Observes `values` into a fresh histogram with `options` and returns its snapshot.
template <class B = pytheus::LoadedBackend>
pytheus::HistogramSnapshot observe_all(const NativeHistogramOptions& options,
                                       std::initializer_list<double> values) {
  pytheus::MetricOptions o;
  o.name = "h";
  o.description = "x";
  o.registry = nullptr;
  o.native = options;
  pytheus::BasicHistogram<B> h(std::move(o));
  for (double v : values) h.observe(v);
  return h.snapshot();
}

}  // namespace

TEST(NativeMath, FractionTableMatchesClientGolang) {
  // Spot checks of client_golang's nativeHistogramBounds table. Ours is 2^(j/2^s - 1) from
  // exp2, which is more exact than client_golang's chain of products: its schema-8 entries
  // drift by up to 3 units in the last place. That matters only for an observation equal to
  // one of those doubles.
  auto ulps = [](double a, double b) { return std::fabs(a - b) / (std::nextafter(b, 2.0) - b); };
  EXPECT_EQ(native::fraction_bounds(0)[0], 0.5);
  EXPECT_LE(ulps(native::fraction_bounds(1)[1], 0.7071067811865475), 1);
  EXPECT_LE(ulps(native::fraction_bounds(3)[1], 0.5452538663326288), 1);
  EXPECT_LE(ulps(native::fraction_bounds(3)[7], 0.9170040432046711), 1);
  EXPECT_LE(ulps(native::fraction_bounds(8)[1], 0.5013556375251013), 1);
  EXPECT_LE(ulps(native::fraction_bounds(8)[255], 0.9972960560854698), 3);
  // Every bound of schema s - 1 is the same double in schema s (exact reduction).
  for (std::int32_t s = 1; s <= native::kMaxSchema; ++s) {
    for (std::int32_t j = 0; j < (1 << (s - 1)); ++j) {
      EXPECT_EQ(native::fraction_bounds(s)[2 * j], native::fraction_bounds(s - 1)[j]);
    }
  }
}

TEST(NativeMath, BoundariesBelongToTheBucketBelow) {
  // Upper bounds are inclusive: a power of two is the top of its bucket at every schema.
  for (std::int32_t schema = native::kMinSchema; schema <= native::kMaxSchema; ++schema) {
    SCOPED_TRACE(schema);
    EXPECT_EQ(native::bucket_index(1, schema), 0);
    const std::int32_t per_octave = schema >= 0 ? (1 << schema) : 1;
    if (schema >= 0) {
      EXPECT_EQ(native::bucket_index(2, schema), per_octave);
      EXPECT_EQ(native::bucket_index(0.5, schema), -per_octave);
      EXPECT_EQ(native::bucket_index(std::nextafter(2.0, 3.0), schema), per_octave + 1);
      EXPECT_EQ(native::bucket_index(std::nextafter(1.0, 0.0), schema), 0);
      EXPECT_EQ(native::bucket_index(std::nextafter(1.0, 2.0), schema), 1);
    }
    // Every upper bound maps to its own bucket, and the next double up to the next bucket.
    for (std::int32_t i = -40; i <= 40; ++i) {
      const double ub = native::upper_bound(i, schema);
      EXPECT_EQ(native::bucket_index(ub, schema), i) << "index " << i;
      EXPECT_EQ(native::bucket_index(std::nextafter(ub, 1e300), schema), i + 1) << "index " << i;
    }
  }
  // Schema -1: base 4, so 2 and 4 share bucket 1; schema -2: base 16.
  EXPECT_EQ(native::bucket_index(2, -1), 1);
  EXPECT_EQ(native::bucket_index(4, -1), 1);
  EXPECT_EQ(native::bucket_index(4.5, -1), 2);
  EXPECT_EQ(native::bucket_index(0.25, -1), -1);
  EXPECT_EQ(native::bucket_index(16, -2), 1);
  EXPECT_EQ(native::bucket_index(17, -2), 2);
  // Schema 3: 3 is in (2^(12/8), 2^(13/8)].
  EXPECT_EQ(native::bucket_index(3, 3), 13);
  EXPECT_EQ(native::upper_bound(1024 * 16, 4), std::numeric_limits<double>::max());
}

TEST(NativeMath, SchemaFromBucketFactor) {
  EXPECT_EQ(native::schema_for_factor(1.1), 3);
  EXPECT_EQ(native::schema_for_factor(1.2), 2);
  EXPECT_EQ(native::schema_for_factor(2), 0);
  EXPECT_EQ(native::schema_for_factor(4), -1);
  EXPECT_EQ(native::schema_for_factor(1.0001), 8);
  EXPECT_EQ(native::schema_for_factor(1e300), -4);
}

TEST(NativeMath, ReductionMergesPairsExactly) {
  // Index i of schema s becomes ceil(i / 2) at s - 1: (−1, 0] stays apart from (0, 1].
  Buckets b = {{-3, 1}, {-2, 1}, {-1, 1}, {0, 1}, {1, 1}, {2, 1}, {3, 1}, {4, 1}};
  native::reduce(b, 2, 1);
  EXPECT_EQ(b, (Buckets{{-1, 2}, {0, 2}, {1, 2}, {2, 2}}));
  // Reducing by several steps at once equals reducing one step at a time.
  Buckets c = {{-9, 1}, {-1, 2}, {5, 3}, {17, 4}};
  Buckets d = c;
  native::reduce(c, 8, 5);
  native::reduce(d, 8, 7);
  native::reduce(d, 7, 6);
  native::reduce(d, 6, 5);
  EXPECT_EQ(c, d);
}

TEST(NativeMath, MergingDifferentSchemasEqualsObservingAtTheLowest) {
  // Two processes observe the same kind of values; one had to reduce to schema 1.
  const double values_a[] = {0.001, 0.3, 1, 1.7, 2, 5.5, 100, -3, 0};
  const double values_b[] = {0.002, 0.31, 1.1, 3, 9, 77.7, -0.5, -3};
  auto fill = [](NativeBuckets& nb, const double* v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (v[i] == 0) {
        ++nb.zero_count;
        continue;
      }
      Buckets& side = v[i] > 0 ? nb.positive : nb.negative;
      Buckets one = {{native::bucket_index(std::fabs(v[i]), nb.schema), 1}};
      native::add(side, one);
    }
  };
  NativeBuckets a;
  a.schema = 3;
  fill(a, values_a, std::size(values_a));
  NativeBuckets b;
  b.schema = 1;
  fill(b, values_b, std::size(values_b));
  NativeBuckets expected;
  expected.schema = 1;
  fill(expected, values_a, std::size(values_a));
  fill(expected, values_b, std::size(values_b));
  native::merge(a, b);
  EXPECT_EQ(a, expected);
  EXPECT_EQ(native::total_count(a), std::size(values_a) + std::size(values_b));
}

TEST(NativeMath, MergingWiderZeroBucketFoldsStraddlingBuckets) {
  NativeBuckets a;
  a.schema = 0;
  a.zero_threshold = 0;
  a.positive = {{-1, 1}, {0, 2}, {3, 1}};  // (0.25, 0.5], (0.5, 1], (4, 8]
  NativeBuckets b;
  b.schema = 0;
  b.zero_threshold = 0.7;  // inside (0.5, 1]: that bucket joins the zero bucket
  b.zero_count = 5;
  native::merge(a, b);
  EXPECT_EQ(a.zero_threshold, 1);
  EXPECT_EQ(a.zero_count, 8u);
  EXPECT_EQ(a.positive, (Buckets{{3, 1}}));
}

// The cases below are client_golang's TestNativeHistogram cases, observed through our API.

TEST_F(NativeHistogramTest, FactorOnePointOneIsSchemaThree) {
  auto s = observe_all(with_factor(1.1), {0, 1, 2, 3});
  ASSERT_TRUE(s.native);
  EXPECT_EQ(s.native->schema, 3);
  EXPECT_EQ(s.native->zero_count, 1u);
  EXPECT_EQ(s.native->positive, (Buckets{{0, 1}, {8, 1}, {13, 1}}));
  EXPECT_EQ(s.count, 4);
  EXPECT_EQ(s.sum, 6);
}

TEST_F(NativeHistogramTest, FactorOnePointTwoIsSchemaTwo) {
  auto s = observe_all(with_factor(1.2), {0, 1, 1.2, 1.4, 1.8, 2});
  EXPECT_EQ(s.native->schema, 2);
  EXPECT_EQ(s.native->zero_count, 1u);
  EXPECT_EQ(s.native->positive, (Buckets{{0, 1}, {2, 2}, {4, 2}}));
  EXPECT_TRUE(s.native->negative.empty());
}

TEST_F(NativeHistogramTest, NegativeObservations) {
  auto s = observe_all(with_factor(1.2), {0, -1, -1.2, -1.4, -1.8, -2});
  EXPECT_EQ(s.native->zero_count, 1u);
  EXPECT_EQ(s.native->negative, (Buckets{{0, 1}, {2, 2}, {4, 2}}));
  EXPECT_TRUE(s.native->positive.empty());
  EXPECT_EQ(s.sum, -7.4);
}

TEST_F(NativeHistogramTest, WideZeroBucket) {
  NativeHistogramOptions o = with_factor(1.2);
  o.zero_threshold = 1.4;
  auto s = observe_all(o, {0, 1, 1.2, 1.4, 1.8, 2});
  EXPECT_EQ(s.native->zero_threshold, 1.4);
  EXPECT_EQ(s.native->zero_count, 4u);  // 1.4 itself is in the zero bucket
  EXPECT_EQ(s.native->positive, (Buckets{{4, 2}}));
}

TEST_F(NativeHistogramTest, ZeroThresholdZeroTakesOnlyZero) {
  NativeHistogramOptions o;
  o.zero_threshold = 0;
  auto s = observe_all(o, {0, 0, 1e-300, -1e-300});
  EXPECT_EQ(s.native->zero_count, 2u);
  EXPECT_EQ(s.native->positive.size(), 1u);
  EXPECT_EQ(s.native->negative.size(), 1u);
}

TEST_F(NativeHistogramTest, LimitHalvesResolution) {
  NativeHistogramOptions o = with_factor(1.2);
  o.max_buckets = 4;
  auto s = observe_all(o, {0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3});
  EXPECT_EQ(s.native->schema, 1);
  EXPECT_EQ(s.native->zero_count, 1u);
  EXPECT_EQ(s.native->positive, (Buckets{{0, 1}, {1, 3}, {2, 2}, {4, 1}}));
  EXPECT_EQ(s.count, 8);
}

TEST_F(NativeHistogramTest, LimitWidensZeroBucket) {
  NativeHistogramOptions o = with_factor(1.2);
  o.max_buckets = 4;
  o.max_zero_threshold = 1.2;
  auto s = observe_all(o, {0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3});
  EXPECT_EQ(s.native->schema, 2);
  EXPECT_EQ(s.native->zero_threshold, 1);
  EXPECT_EQ(s.native->zero_count, 2u);
  EXPECT_EQ(s.native->positive, (Buckets{{1, 1}, {2, 2}, {4, 2}, {7, 1}}));
  // Once more: the zero bucket takes the next bucket up, 2^(1/4).
  s = observe_all(o, {0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3, 4});
  EXPECT_EQ(s.native->zero_threshold, 1.189207115002721);
  EXPECT_EQ(s.native->zero_count, 3u);
  EXPECT_EQ(s.native->positive, (Buckets{{2, 2}, {4, 2}, {7, 1}, {8, 1}}));
}

TEST_F(NativeHistogramTest, LimitResetsAfterMinimumInterval) {
  // The smallest positive interval: any time passed since creation is enough.
  NativeHistogramOptions o = with_factor(1.2);
  o.max_buckets = 4;
  o.min_reset_seconds = std::numeric_limits<double>::denorm_min();
  auto s = observe_all(o, {0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3, 4});
  // 3 went over the limit: everything reset, then 3 and 4 were counted.
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.sum, 7);
  EXPECT_EQ(s.native->schema, 2);
  EXPECT_EQ(s.native->zero_count, 0u);
  EXPECT_EQ(s.native->positive, (Buckets{{7, 1}, {8, 1}}));
  EXPECT_EQ(s.buckets.back(), 2);
}

TEST_F(NativeHistogramTest, FarApartValuesStayBounded) {
  // Two values 400 octaves apart: the window would span 3200 buckets at schema 3, more than
  // 8 * max_buckets, so the resolution goes down instead (to -3: 50 buckets).
  NativeHistogramOptions o;
  o.max_buckets = 10;
  auto s = observe_all(o, {1e-30, 1e90});
  EXPECT_EQ(s.native->schema, -3);
  EXPECT_EQ(native::total_count(*s.native), 2u);
}

TEST(NativeState, RepeatedHalvingKeepsTheWindowsBounded) {
  // 2000 latencies spread over 12 powers of two: about 100 buckets at schema 3, so a limit
  // of 60 halves once; each halving rebuilds the windows.
  NativeHistogramOptions o;
  o.max_buckets = 60;
  native::NativeState s(o);
  for (int i = 0; i < 2000; ++i) {
    s.observe(0.001 * std::pow(1.0043, static_cast<double>((i * 7) % 2000)));
    ASSERT_LE(s.window_size(), 2u * 8 * o.max_buckets) << "observation " << i;
  }
  EXPECT_EQ(s.schema(), 2);
  EXPECT_LE(s.populated(), 60u);
  NativeBuckets b;
  s.snapshot(b);
  EXPECT_EQ(native::total_count(b), 2000u);
  // Merging (a backend change carrying values over) stays bounded too.
  s.merge(b);
  EXPECT_LE(s.window_size(), 2u * 8 * o.max_buckets);
  s.snapshot(b);
  EXPECT_EQ(native::total_count(b), 4000u);
}

TEST_F(NativeHistogramTest, EveryInMemoryBackend) {
  NativeHistogramOptions o = with_factor(1.2);
  o.max_buckets = 4;
  const auto want = observe_all(o, {0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3});
  EXPECT_EQ(observe_all<pytheus::SingleProcessBackend>(o, {0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3}).native,
            want.native);
  EXPECT_EQ(observe_all<pytheus::AtomicBackend>(o, {0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3}).native,
            want.native);
  EXPECT_EQ(observe_all<pytheus::ShardedBackend>(o, {0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3}).native,
            want.native);
  pytheus::load_backend("AtomicBackend");
  EXPECT_EQ(observe_all(o, {0, 1, 1.1, 1.2, 1.4, 1.8, 2, 3}).native, want.native);
}

TEST_F(NativeHistogramTest, SnapshotsAreConsistentUnderConcurrentObservations) {
  for (const char* backend : {"SingleProcessBackend", "AtomicBackend"}) {
    pytheus::load_backend(backend);
    NativeHistogramOptions o;
    o.max_buckets = 20;  // reductions happen while snapshots are taken
    o.classic_buckets = true;
    pytheus::MetricOptions mo;
    mo.name = "h";
    mo.description = "x";
    mo.registry = nullptr;
    mo.native = o;
    pytheus::Histogram h(std::move(mo));
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20000; ++i) h.observe((t - 1) * 0.001 * (i % 977));
      });
    }
    std::thread reader([&] {
      while (!stop.load()) {
        const auto s = h.snapshot();
        ASSERT_TRUE(s.native);
        ASSERT_EQ(static_cast<double>(native::total_count(*s.native)), s.count);
        ASSERT_EQ(s.buckets.back(), s.count);
      }
    });
    for (auto& t : threads) t.join();
    stop = true;
    reader.join();
    const auto s = h.snapshot();
    EXPECT_EQ(s.count, 60000);
    EXPECT_EQ(native::total_count(*s.native), 60000u);
    EXPECT_LE(s.native->positive.size() + s.native->negative.size(), 20u);
  }
}

TEST_F(NativeHistogramTest, ExpositionGetsNativeBucketsBeforeClassicSamples) {
  pytheus::CollectorRegistry registry("");
  pytheus::Histogram h("rpc_seconds", "RPC latency.", {"route"}, {}, &registry, {},
                       NativeHistogramOptions{});
  h.labels({{"route", "/a"}}).observe(0.25);
  h.labels({{"route", "/a"}}).observe(-1);
  RecordingWriter w;
  pytheus::collect(registry, w);
  ASSERT_EQ(w.natives.size(), 1u);
  EXPECT_EQ(w.natives[0].schema, 3);
  EXPECT_EQ(w.natives[0].positive, (Buckets{{-16, 1}}));
  EXPECT_EQ(w.natives[0].negative, (Buckets{{0, 1}}));
  ASSERT_GE(w.events.size(), 4u);
  EXPECT_EQ(w.events[0], "native route=/a");
  // Native only: the text formats show +Inf, count and sum, as client_golang does.
  EXPECT_EQ(w.events[1], "_bucket route=/a le=+Inf 2.000000");
  EXPECT_EQ(w.events[2], "_count route=/a 2.000000");
  EXPECT_EQ(w.events[3], "_sum route=/a -0.750000");
  const std::string text = pytheus::generate_metrics(registry);
  EXPECT_NE(text.find("rpc_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2\n"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("le=\"0.005\""), std::string::npos) << text;
}

TEST_F(NativeHistogramTest, ClassicBucketsAlongside) {
  pytheus::CollectorRegistry registry("");
  NativeHistogramOptions o;
  o.classic_buckets = true;
  pytheus::Histogram h("rpc_seconds", "RPC latency.", {}, {}, &registry, {1, 2}, o);
  h.observe(1.5);
  const auto s = h.snapshot();
  EXPECT_EQ(s.buckets, (std::vector<double>{0, 1, 1}));
  EXPECT_EQ(s.native->positive.size(), 1u);
}

TEST_F(NativeHistogramTest, OptionsAreValidated) {
  auto make = [](NativeHistogramOptions o, pytheus::Buckets b = {}) {
    pytheus::MetricOptions mo;
    mo.name = "h";
    mo.description = "x";
    mo.registry = nullptr;
    mo.native = o;
    mo.buckets = std::move(b);
    pytheus::Histogram h(std::move(mo));
  };
  auto message = [&](NativeHistogramOptions o, pytheus::Buckets b = {}) -> std::string {
    try {
      make(o, std::move(b));
    } catch (const pytheus::BucketError& e) {
      return e.what();
    }
    return "no error";
  };
  NativeHistogramOptions o;
  o.schema = 9;
  EXPECT_NE(message(o).find("native schema 9 of histogram \"h\" is out of range"),
            std::string::npos)
      << message(o);
  o.schema = -5;
  EXPECT_NE(message(o).find("from -4 to 8"), std::string::npos);
  o = {};
  o.zero_threshold = -1;
  EXPECT_NE(message(o).find("zero_threshold -1"), std::string::npos) << message(o);
  o = {};
  o.max_buckets = 0;
  EXPECT_NE(message(o).find("max_buckets of histogram \"h\" is 0"), std::string::npos)
      << message(o);
  o = {};
  o.bucket_factor = 0.5;
  EXPECT_NE(message(o).find("bucket_factor 0.5"), std::string::npos) << message(o);
  o = {};
  o.min_reset_seconds = -1;
  EXPECT_NE(message(o).find("min_reset_seconds"), std::string::npos);
  o = {};
  EXPECT_NE(message(o, {1, 2}).find("classic_buckets"), std::string::npos) << message(o, {1, 2});
  o.classic_buckets = true;
  EXPECT_EQ(message(o, {1, 2}), "no error");
  pytheus::MetricOptions counter;
  counter.name = "c_total";
  counter.description = "x";
  counter.registry = nullptr;
  counter.native = NativeHistogramOptions{};
  EXPECT_THROW(pytheus::Counter{std::move(counter)}, pytheus::InvalidValueError);
}
