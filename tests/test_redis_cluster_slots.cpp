// Redis Cluster slot computation and the hash-tagged key layout, without a server. The
// expected slots are what CLUSTER KEYSLOT answers on Redis 7.0.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "redis/cluster_slots.hpp"
#include "redis/key_layout.hpp"

using namespace pytheus;
using namespace pytheus::detail::redis;

TEST(RedisClusterSlots, Crc16IsXmodem) {
  EXPECT_EQ(crc16(""), 0);
  EXPECT_EQ(crc16("123456789"), 0x31C3);  // the CRC16/XMODEM check value
}

TEST(RedisClusterSlots, SlotsMatchClusterKeyslot) {
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("hello"), 866);
  EXPECT_EQ(key_slot("123456789"), 12739);
  EXPECT_EQ(key_slot(""), 0);
  EXPECT_EQ(key_slot("pytheus"), 2125);
}

TEST(RedisClusterSlots, HashTags) {
  EXPECT_EQ(key_slot("{user1000}.following"), 3443);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{}{bar}"), 8363);     // an empty first tag: the whole key
  EXPECT_EQ(key_slot("foo{{bar}}zap"), 4015);  // the tag is "{bar"
  EXPECT_EQ(key_slot("{a}x"), 15495);
  EXPECT_EQ(hash_tag("{pytheus}_procs"), "pytheus");
  EXPECT_EQ(hash_tag("no_tag"), "no_tag");
  EXPECT_EQ(hash_tag("open{only"), "open{only");
}

TEST(RedisClusterSlots, EveryKeyOfAMetricSharesOneSlot) {
  const KeySpace cluster(std::string("svc"), true);
  MetricInfo m;
  m.name = "lat";
  m.type = MetricType::histogram;
  m.labels = {{"route", "/a"}};
  const Keys h = histogram_keys(cluster, m, {0.5, 1, std::numeric_limits<double>::infinity()});
  const std::vector<std::string> expected = {"{svc-lat}:0.5", "{svc-lat}:1", "{svc-lat}:+Inf",
                                             "{svc-lat}:count", "{svc-lat}:sum"};
  EXPECT_EQ(h.keys, expected);
  for (const std::string& k : h.keys) EXPECT_EQ(key_slot(k), key_slot("svc-lat")) << k;
  m.type = MetricType::gauge;
  const Keys p = per_process_keys(cluster, m, GaugeMode::livemostrecent, "12@host");
  ASSERT_EQ(p.keys.size(), 2u);
  EXPECT_EQ(p.keys[0], "{svc-lat}:proc");
  EXPECT_EQ(p.keys[1], "{svc-lat}:proc_ts");
  EXPECT_EQ(stamp_key_of(p.keys[0]), "{svc-lat}:proc_ts");
  EXPECT_EQ(metric_key(KeySpace(std::nullopt, true), "jobs_total"), "{jobs_total}");
  EXPECT_EQ(cluster_sequence_key("svc-lat", sequence_key(cluster, "host", 12, 34)),
            "{svc-lat}:svc-pytheus_flush_seq:host:12:34");
}

// Every key one metric owns, on the write path (Keys) and on the read path (the scrape's key
// functions), lands in the slot of the metric's hash tag: values, buckets, count and sum,
// per-process hashes, creation times, exemplars and native buckets.
TEST(RedisClusterSlots, EveryKeyAMetricOwnsIsInItsSlot) {
  const KeySpace cluster(std::string("svc"), true);
  const int slot = key_slot("svc-lat");
  std::vector<std::string> owned;
  auto add = [&](const Keys& k) {
    owned.insert(owned.end(), k.keys.begin(), k.keys.end());
    for (const std::string* extra : {&k.created_key, &k.exemplar_key, &k.native_key}) {
      if (!extra->empty()) owned.push_back(*extra);
    }
  };
  MetricInfo m;
  m.name = "lat";
  m.labels = {{"route", "/a"}};
  m.type = MetricType::histogram;
  m.native = NativeHistogramOptions{};
  const std::vector<double> bounds = {0.5, 1, std::numeric_limits<double>::infinity()};
  const Keys h = histogram_keys(cluster, m, bounds);
  EXPECT_FALSE(h.created_key.empty());
  EXPECT_FALSE(h.exemplar_key.empty());
  EXPECT_FALSE(h.native_key.empty());
  add(h);
  m.native.reset();
  add(histogram_keys(cluster, m, {}));  // a summary
  m.type = MetricType::counter;
  const Keys c = value_keys(cluster, m, std::nullopt);
  EXPECT_FALSE(c.created_key.empty());
  EXPECT_FALSE(c.exemplar_key.empty());
  add(c);
  add(value_keys(cluster, m, std::string_view("bucket")));
  m.type = MetricType::gauge;
  add(value_keys(cluster, m, std::nullopt));
  for (GaugeMode mode :
       {GaugeMode::all, GaugeMode::livesum, GaugeMode::mostrecent, GaugeMode::livemostrecent}) {
    add(per_process_keys(cluster, m, mode, "12@host"));
    for (const std::string& k : per_process_metric_keys(cluster, "lat", mode)) owned.push_back(k);
  }
  for (MetricType t :
       {MetricType::counter, MetricType::gauge, MetricType::histogram, MetricType::summary}) {
    for (const std::string& k : metric_keys(cluster, "lat", t, bounds)) owned.push_back(k);
  }
  owned.push_back(created_key(cluster, "lat"));
  owned.push_back(exemplar_key(cluster, "lat"));
  owned.push_back(native_key(cluster, "lat"));
  owned.push_back(stamp_key_of(per_process_metric_keys(cluster, "lat", GaugeMode::all)[0]));
  owned.push_back(cluster_sequence_key("svc-lat", sequence_key(cluster, "host", 12, 34)));
  const std::vector<std::string> suffixes = {"",         ":0.5",     ":1",         ":+Inf",
                                             ":count",   ":sum",     ":bucket",    ":proc",
                                             ":proc_ts", ":created", ":exemplars", ":native"};
  for (const std::string& suffix : suffixes) {
    EXPECT_NE(std::find(owned.begin(), owned.end(), "{svc-lat}" + suffix), owned.end())
        << "no key " << suffix << " checked";
  }
  for (const std::string& k : owned) {
    EXPECT_EQ(key_slot(k), slot) << k;
    EXPECT_EQ(k.rfind("{svc-lat}", 0), 0u) << k;
  }
}

TEST(RedisClusterSlots, BookkeepingKeysShareTheTagPytheus) {
  const KeySpace cluster(std::nullopt, true);
  EXPECT_EQ(heartbeat_key(cluster, "12@host"), "{pytheus}_proc:12@host");
  EXPECT_EQ(processes_key(cluster), "{pytheus}_procs");
  EXPECT_EQ(process_keys_key(cluster), "{pytheus}_proc_keys");
  EXPECT_EQ(gc_lock_key(cluster), "{pytheus}_proc_gc");
  EXPECT_EQ(processes_key(KeySpace(std::string("svc"), true)), "{svc-pytheus}_procs");
  // Without a cluster the layout is pytheus's, unchanged.
  EXPECT_EQ(heartbeat_key(std::nullopt, "12@host"), "pytheus_proc:12@host");
  EXPECT_EQ(processes_key(std::string("svc")), "svc-pytheus_procs");
}
