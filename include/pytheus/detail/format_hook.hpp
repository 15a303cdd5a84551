// The seam through which an optional component supplies an exposition format the core does
// not implement itself (the protobuf format of pytheus::protobuf), so that the core never
// links the component's dependencies: the component installs a factory of writers once, and
// generate_metrics() and negotiate_format() use it from then on.
#pragma once

#include <memory>
#include <string>

#include "pytheus/collector.hpp"

namespace pytheus::detail {

// A writer of a whole exposition into a string: the families streamed into it (registry
// prefixes already applied, names already checked), then finish() once.
class FormatWriter : public MetricWriter {
 public:
  virtual void finish() = 0;
};

// Makes a writer that appends to `out`.
using FormatWriterFactory = std::unique_ptr<FormatWriter> (*)(std::string& out);

// Installs the writer of the protobuf format (idempotent; thread-safe).
void install_protobuf_writer(FormatWriterFactory factory);

// The installed protobuf writer factory, or nullptr.
FormatWriterFactory protobuf_writer();

}  // namespace pytheus::detail
