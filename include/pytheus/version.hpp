// The library version.
#pragma once

#define PYTHEUS_VERSION_MAJOR 0
#define PYTHEUS_VERSION_MINOR 1
#define PYTHEUS_VERSION_PATCH 0

namespace pytheus {
inline constexpr const char* kVersion = "0.1.0";
}
