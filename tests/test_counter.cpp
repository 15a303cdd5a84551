#include <stdexcept>
#include <string>

#include "test_helpers.hpp"

using namespace pytheus;
using pytheus_test::CoreTest;

class CounterTest : public CoreTest {};

TEST_F(CounterTest, StartsAtZeroAndIncreases) {
  Counter c("hits_total", "Hits.", {}, {}, nullptr);
  EXPECT_EQ(c.get(), 0);
  c.inc();
  c.inc(2.5);
  c.inc(0);
  EXPECT_EQ(c.get(), 3.5);
}

TEST_F(CounterTest, NegativeAndNanIncrementsThrowAndChangeNothing) {
  Counter c("hits_total", "Hits.", {}, {}, nullptr);
  c.inc(1);
  try {
    c.inc(-1);
    FAIL();
  } catch (const InvalidValueError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("\"hits_total\""), std::string::npos) << m;
    EXPECT_NE(m.find("-1"), std::string::npos) << m;
  }
  EXPECT_THROW(c.inc(std::nan("")), InvalidValueError);
  EXPECT_THROW(c.inc(std::numeric_limits<double>::infinity()), InvalidValueError);
  EXPECT_EQ(c.get(), 1);
}

TEST_F(CounterTest, HandlesShareTheirValue) {
  Counter c("hits_total", "Hits.", {}, {}, nullptr);
  Counter copy = c;
  copy.inc(3);
  EXPECT_EQ(c.get(), 3);
}

TEST_F(CounterTest, CountExceptionsGuardCountsOnlyExceptions) {
  Counter c("failures_total", "x", {}, {}, nullptr);
  { auto guard = c.count_exceptions(); }
  EXPECT_EQ(c.get(), 0);
  try {
    auto guard = c.count_exceptions();
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(c.get(), 1);
  // A guard created while another exception unwinds counts only its own scope's exceptions.
  struct Unwinder {
    Counter* c;
    ~Unwinder() {
      auto guard = c->count_exceptions();  // no new exception leaves this scope
    }
  };
  try {
    Unwinder u{&c};
    throw 1;
  } catch (int) {
  }
  EXPECT_EQ(c.get(), 1);
}

TEST_F(CounterTest, CountExceptionsCallableFiltersTypesAndRethrows) {
  Counter c("failures_total", "x", {}, {}, nullptr);
  EXPECT_EQ(c.count_exceptions([] { return 42; }), 42);
  EXPECT_THROW(c.count_exceptions([] { throw std::logic_error("x"); }), std::logic_error);
  EXPECT_EQ(c.get(), 1);
  // Only the listed types count; others pass through uncounted.
  EXPECT_THROW(c.count_exceptions<std::invalid_argument>([] { throw std::runtime_error("x"); }),
               std::runtime_error);
  EXPECT_EQ(c.get(), 1);
  EXPECT_THROW((c.count_exceptions<std::runtime_error, std::invalid_argument>(
                   [] { throw std::invalid_argument("x"); })),
               std::invalid_argument);
  EXPECT_EQ(c.get(), 2);
  // Derived types match their base.
  EXPECT_THROW(c.count_exceptions<std::logic_error>([] { throw std::invalid_argument("x"); }),
               std::invalid_argument);
  EXPECT_EQ(c.get(), 3);
}

TEST_F(CounterTest, WrapCountExceptionsIsADecorator) {
  Counter c("failures_total", "x", {}, {}, nullptr);
  auto parse = c.wrap_count_exceptions<std::invalid_argument>(
      [](const std::string& s) { return std::stoi(s); });
  EXPECT_EQ(parse("12"), 12);
  EXPECT_THROW(parse("zz"), std::invalid_argument);
  EXPECT_THROW(parse("99999999999999999999"), std::out_of_range);  // not counted
  EXPECT_EQ(c.get(), 1);
}

TEST_F(CounterTest, GuardsOnPartialHandleFailEarly) {
  Counter c("failures_total", "x", {"kind"}, {}, nullptr);
  EXPECT_THROW(c.count_exceptions(), UnobservableMetricError);
  EXPECT_THROW(c.count_exceptions([] {}), UnobservableMetricError);
  c.labels({{"kind", "io"}}).count_exceptions([] {});
}
