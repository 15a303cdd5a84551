// Include this header where a metric template is instantiated with a static backend type
// (BasicCounter<MyBackend>, ...): it brings the member definitions that the core library
// compiles once for the loaded backend. The shipped static backends (backends/atomic.hpp,
// backends/single_process.hpp) include it.
//
// **Example**:
//     #include <pytheus/pytheus.hpp>
//     #include <pytheus/static_backend.hpp>
//     pytheus::BasicCounter<MyBackend> hits("hits_total", "Hits.");
#pragma once

#include "pytheus/detail/handle_impl.hpp"
