# Packaging tests, run by ctest as `cmake -DMODE=... -DSOURCE_DIR=... -DWORK_DIR=...
# -DGENERATOR=... -DCXX_COMPILER=... -P packaging.cmake`:
#
#   install           configure, build and install pytheus-cpp into WORK_DIR/prefix
#   find-package      build and run tests/find-package-test against WORK_DIR/prefix, check
#                     how find_package treats components, and build and run a consumer of
#                     `COMPONENTS redis` alone
#   pkg-config        compile and run the same program with `pkg-config --cflags --libs`
#   add-subdirectory  build and run tests/add-subdirectory-test (FetchContent with
#                     -DFETCHCONTENT=ON)
cmake_minimum_required(VERSION 3.25)

foreach(var MODE SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "packaging.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} COMMAND_ECHO STDOUT COMMAND_ERROR_IS_FATAL ANY)
endfunction()

# Configures the project in `source` into `build`; returns the exit code, output and errors.
function(try_configure_project source build result output)
  execute_process(COMMAND "${CMAKE_COMMAND}" -S "${source}" -B "${build}" -G "${GENERATOR}"
                          "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_PREFIX_PATH=${prefix}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${result} ${rc} PARENT_SCOPE)
  set(${output} "${out}${err}" PARENT_SCOPE)
endfunction()

# Build type None: no optimisation, no debug info; these builds only have to link and run.
set(common -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" -DCMAKE_BUILD_TYPE=None)
set(prefix "${WORK_DIR}/prefix")

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE "${WORK_DIR}")
  run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" ${common}
      -DPYTHEUS_BUILD_TESTS=OFF -DPYTHEUS_BUILD_EXAMPLES=OFF -DPYTHEUS_BUILD_BENCH=OFF
      -DPYTHEUS_INSTALL=ON)
  run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
  run("${CMAKE_COMMAND}" --install "${WORK_DIR}/build" --prefix "${prefix}")
  file(GLOB_RECURSE installed RELATIVE "${prefix}" "${prefix}/*")
  list(SORT installed)
  string(REPLACE ";" "\n  " listing "${installed}")
  message(STATUS "installed:\n  ${listing}")
  foreach(expected include/pytheus/pytheus.hpp include/pytheus/http/exposer.hpp
                   include/pytheus/backends/redis.hpp
                   include/pytheus/process_collector.hpp lib/libpytheus_http.a
                   lib/libpytheus_redis.a lib/cmake/pytheus/pytheusConfig.cmake
                   lib/cmake/pytheus/pytheusConfigVersion.cmake
                   lib/cmake/pytheus/pytheus-http.cmake lib/cmake/pytheus/pytheus-redis.cmake
                   lib/pkgconfig/pytheus.pc lib/pkgconfig/pytheus-http.pc
                   lib/pkgconfig/pytheus-redis.pc)
    if(NOT expected IN_LIST installed)
      message(FATAL_ERROR "not installed: ${expected}")
    endif()
  endforeach()
  if("lib/libpytheus_protobuf.a" IN_LIST installed)
    foreach(expected include/pytheus/protobuf.hpp lib/cmake/pytheus/pytheus-protobuf.cmake
                     lib/pkgconfig/pytheus-protobuf.pc)
      if(NOT expected IN_LIST installed)
        message(FATAL_ERROR "not installed with the protobuf component: ${expected}")
      endif()
    endforeach()
  endif()

elseif(MODE STREQUAL "find-package")
  set(build "${WORK_DIR}/find-package")
  file(REMOVE_RECURSE "${build}")
  run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}/tests/find-package-test" -B "${build}" ${common}
      "-DCMAKE_PREFIX_PATH=${prefix}")
  run("${CMAKE_COMMAND}" --build "${build}")
  run("${build}/consumer")

  # Without COMPONENTS every installed component is loaded.
  set(probe "${WORK_DIR}/find-package-probe")
  file(WRITE "${probe}/CMakeLists.txt" [[
cmake_minimum_required(VERSION 3.16)
project(probe LANGUAGES CXX)
find_package(pytheus CONFIG REQUIRED)
if(NOT TARGET pytheus::pytheus OR NOT TARGET pytheus::http OR NOT pytheus_http_FOUND)
  message(FATAL_ERROR "find_package(pytheus) did not load pytheus::http")
endif()
if(NOT TARGET pytheus::redis OR NOT pytheus_redis_FOUND)
  message(FATAL_ERROR "find_package(pytheus) did not load pytheus::redis")
endif()
if(NOT pytheus_VERSION VERSION_EQUAL 0.1.0)
  message(FATAL_ERROR "version ${pytheus_VERSION}")
endif()
]])
  try_configure_project("${probe}" "${probe}/build" rc out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "find_package(pytheus) without components failed:\n${out}")
  endif()
  # A component this installation does not have is an error that names it.
  set(missing "${WORK_DIR}/find-package-missing")
  file(WRITE "${missing}/CMakeLists.txt" [[
cmake_minimum_required(VERSION 3.16)
project(missing LANGUAGES CXX)
find_package(pytheus CONFIG REQUIRED COMPONENTS http nosuch)
]])
  try_configure_project("${missing}" "${missing}/build" rc out)
  if(rc EQUAL 0 OR NOT out MATCHES "component \"nosuch\" is not installed")
    message(FATAL_ERROR "find_package(pytheus COMPONENTS nosuch) did not fail as expected:\n${out}")
  endif()
  # The redis component alone: loads pytheus::redis and not pytheus::http, and a program
  # linking it finds MultiProcessRedisBackend by name without its header.
  set(redis_only "${WORK_DIR}/find-package-redis-only")
  file(REMOVE_RECURSE "${redis_only}")
  file(WRITE "${redis_only}/CMakeLists.txt" [[
cmake_minimum_required(VERSION 3.16)
project(redis_only LANGUAGES CXX)
find_package(pytheus 0.1 CONFIG REQUIRED COMPONENTS redis)
if(NOT TARGET pytheus::redis OR NOT pytheus_redis_FOUND OR TARGET pytheus::http)
  message(FATAL_ERROR "COMPONENTS redis: pytheus::redis missing, or pytheus::http loaded")
endif()
add_executable(redis_only main.cpp)
target_link_libraries(redis_only PRIVATE pytheus::pytheus pytheus::redis)
]])
  file(WRITE "${redis_only}/main.cpp" [[
#include <pytheus/pytheus.hpp>

#include <algorithm>
#include <iostream>

int main() {
  const auto names = pytheus::registered_backends();
  for (const char* name : {"MultiProcessRedisBackend",
                           "pytheus.backends.redis.MultiProcessRedisBackend"}) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      std::cerr << name << " is not registered" << std::endl;
      return 1;
    }
  }
  std::cout << "COMPONENTS redis: MultiProcessRedisBackend registered" << std::endl;
}
]])
  run("${CMAKE_COMMAND}" -S "${redis_only}" -B "${redis_only}/build" ${common}
      "-DCMAKE_PREFIX_PATH=${prefix}")
  run("${CMAKE_COMMAND}" --build "${redis_only}/build")
  run("${redis_only}/build/redis_only")
  # The protobuf component, where it was built: a consumer enables it and reads its own
  # registry back as delimited messages.
  if(EXISTS "${prefix}/lib/cmake/pytheus/pytheus-protobuf.cmake")
    set(protobuf_only "${WORK_DIR}/find-package-protobuf")
    file(REMOVE_RECURSE "${protobuf_only}")
    file(WRITE "${protobuf_only}/CMakeLists.txt" [[
cmake_minimum_required(VERSION 3.16)
project(protobuf_only LANGUAGES CXX)
find_package(pytheus 0.1 CONFIG REQUIRED COMPONENTS protobuf)
add_executable(protobuf_only main.cpp)
target_link_libraries(protobuf_only PRIVATE pytheus::pytheus pytheus::protobuf)
]])
    file(WRITE "${protobuf_only}/main.cpp" [[
#include <pytheus/protobuf.hpp>
#include <pytheus/pytheus.hpp>

#include <iostream>

int main() {
  pytheus::protobuf::enable();
  pytheus::Counter c("consumer_total", "Consumer.");
  c.inc();
  const std::string body = pytheus::protobuf::generate_metrics();
  const bool negotiated =
      pytheus::negotiate_format("application/vnd.google.protobuf;"
                                "proto=io.prometheus.client.MetricFamily;encoding=delimited") ==
      pytheus::Format::protobuf;
  if (body.empty() || body.find("consumer_total") == std::string::npos || !negotiated) {
    std::cerr << "protobuf exposition missing" << std::endl;
    return 1;
  }
  std::cout << "COMPONENTS protobuf: " << body.size() << " bytes" << std::endl;
}
]])
    run("${CMAKE_COMMAND}" -S "${protobuf_only}" -B "${protobuf_only}/build" ${common}
        "-DCMAKE_PREFIX_PATH=${prefix}")
    run("${CMAKE_COMMAND}" --build "${protobuf_only}/build")
    run("${protobuf_only}/build/protobuf_only")
  endif()
  message(STATUS "find_package: components behave")

elseif(MODE STREQUAL "pkg-config")
  file(GLOB pc_dirs "${prefix}/lib*/pkgconfig" "${prefix}/lib/*/pkgconfig")
  string(REPLACE ";" ":" pc_path "${pc_dirs}")
  set(ENV{PKG_CONFIG_PATH} "${pc_path}")
  execute_process(COMMAND pkg-config --cflags --libs pytheus-http pytheus-redis
                  OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
  message(STATUS "pkg-config --cflags --libs pytheus-http pytheus-redis: ${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  file(MAKE_DIRECTORY "${WORK_DIR}/pkg-config")
  run("${CXX_COMPILER}" -std=c++17 "${SOURCE_DIR}/tests/find-package-test/main.cpp" ${flags}
      -o "${WORK_DIR}/pkg-config/consumer")
  run("${WORK_DIR}/pkg-config/consumer")

elseif(MODE STREQUAL "add-subdirectory")
  if(FETCHCONTENT)
    set(build "${WORK_DIR}/fetchcontent")
  else()
    set(build "${WORK_DIR}/add-subdirectory")
  endif()
  file(REMOVE_RECURSE "${build}")
  run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}/tests/add-subdirectory-test" -B "${build}" ${common}
      "-DPYTHEUS_SOURCE_DIR=${SOURCE_DIR}" "-DUSE_FETCHCONTENT=${FETCHCONTENT}")
  run("${CMAKE_COMMAND}" --build "${build}")
  run("${build}/consumer")
  if(EXISTS "${build}/protobuf_consumer")
    run("${build}/protobuf_consumer")
  endif()

else()
  message(FATAL_ERROR "packaging.cmake: unknown MODE \"${MODE}\"")
endif()
