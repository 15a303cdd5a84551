// The label JSON of Redis hash fields, byte for byte as Python's json.dumps writes it, and
// the reading of fields other writers made.
#include <gtest/gtest.h>

#include "redis/labels_json.hpp"

using namespace pytheus::detail::redis;

TEST(RedisLabels, FieldIsPythonJsonDumpsOfTheSortedLabels) {
  EXPECT_EQ(labels_field({{"a", "1"}, {"b", "2"}}), R"({"a": "1", "b": "2"})");
  EXPECT_EQ(labels_field({{"k", ""}}), R"({"k": ""})");
  EXPECT_EQ(labels_field({}), "{}");
}

TEST(RedisLabels, EnsureAsciiEscaping) {
  auto field = [](const std::string& v) { return labels_field({{"l", v}}); };
  EXPECT_EQ(field("\"\\/"), R"({"l": "\"\\/"})");
  EXPECT_EQ(field("\n\r\t\b\f"), R"({"l": "\n\r\t\b\f"})");
  EXPECT_EQ(field(std::string("\x01\x1f\x7f", 3)), R"({"l": "\u0001\u001f\u007f"})");
  EXPECT_EQ(field(std::string("\0", 1)), R"({"l": "\u0000"})");
  EXPECT_EQ(field("\xc3\xa9\xe2\x82\xac"), R"({"l": "\u00e9\u20ac"})");  // é€
  EXPECT_EQ(field("\xf0\x9f\x98\x80"), R"({"l": "\ud83d\ude00"})");      // U+1F600
  EXPECT_EQ(field("\xef\xbf\xbf"), R"({"l": "\uffff"})");
  // Invalid UTF-8 bytes become U+FFFD one by one: a lone continuation byte, a truncated
  // sequence, an overlong encoding, a UTF-16 surrogate.
  EXPECT_EQ(field("a\x80z"), R"({"l": "a\ufffdz"})");
  EXPECT_EQ(field("\xe2\x82"), R"({"l": "\ufffd\ufffd"})");
  EXPECT_EQ(field("\xc0\xaf"), R"({"l": "\ufffd\ufffd"})");
  EXPECT_EQ(field("\xed\xa0\x80"), R"({"l": "\ufffd\ufffd\ufffd"})");
}

TEST(RedisLabels, PythonStrOfFloats) {
  EXPECT_EQ(python_float_str(1.0), "1.0");
  EXPECT_EQ(python_float_str(-0.0), "-0.0");
  EXPECT_EQ(python_float_str(2.5), "2.5");
  EXPECT_EQ(python_float_str(0.1), "0.1");
  EXPECT_EQ(python_float_str(0.0001), "0.0001");
  EXPECT_EQ(python_float_str(0.00001), "1e-05");
  EXPECT_EQ(python_float_str(123456789.0), "123456789.0");
  EXPECT_EQ(python_float_str(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float_str(1e16), "1e+16");
  EXPECT_EQ(python_float_str(1.5e300), "1.5e+300");
  EXPECT_EQ(python_float_str(1234.5678), "1234.5678");
  EXPECT_EQ(python_float_str(0.30000000000000004), "0.30000000000000004");
}

TEST(RedisLabels, ParsingAcceptsAnyOrderAndPythonValues) {
  using Labels = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(parse_labels_field(R"({"b": "2", "a": "1"})"), (Labels{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(parse_labels_field(R"({"a":"\u00e9"})"), (Labels{{"a", "\xc3\xa9"}}));
  EXPECT_EQ(
      parse_labels_field(R"({"i": 3, "n": -4, "f": 2.0, "t": true, "x": false, "z": null})"),
      (Labels{
          {"f", "2.0"}, {"i", "3"}, {"n", "-4"}, {"t", "True"}, {"x", "False"}, {"z", "None"}}));
  EXPECT_FALSE(parse_labels_field("GET-200"));
  EXPECT_FALSE(parse_labels_field("[1, 2]"));
  EXPECT_FALSE(parse_labels_field(R"({"a": [1]})"));
  EXPECT_FALSE(parse_labels_field(R"({"a": {"b": "c"}})"));
  EXPECT_FALSE(parse_labels_field("{\"a\": \"\xff\"}"));
  EXPECT_FALSE(parse_labels_field(""));
  // Round trip: what we write reads back to the same labels.
  Labels odd = {{"a", "caf\xc3\xa9 \xf0\x9f\x98\x80 \"\\\n"}, {"b", std::string("\x01", 1)}};
  EXPECT_EQ(parse_labels_field(labels_field(odd)), odd);
}
