// The loaded backend class and its configuration, as the scrape reads them. Internal.
#pragma once

#include <memory>

#include "pytheus/detail/backend_class.hpp"

namespace pytheus::detail {

struct LoadedClass {
  std::shared_ptr<const BackendClass> cls;
  std::shared_ptr<const BackendConfig> config;
};

// The loaded class, loading the default first if needed.
LoadedClass loaded_class();

}  // namespace pytheus::detail
