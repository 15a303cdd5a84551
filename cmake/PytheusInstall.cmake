# Install rules: the headers, the compiled components, the CMake package (pytheusConfig.cmake,
# one find_package component per compiled target) and the pkg-config files.
#
# The CMake package and the .pc files are relocatable: `cmake --install build --prefix DIR`
# works for any DIR.
include(CMakePackageConfigHelpers)

set(PYTHEUS_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/pytheus")
set(PYTHEUS_PKGCONFIG_DIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

# Prefix and directories as the .pc files write them: relative to the .pc file's own place.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(PYTHEUS_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(PYTHEUS_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(PYTHEUS_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH pytheus_pc_up "/root/${PYTHEUS_PKGCONFIG_DIR}" "/root")
  string(REGEX REPLACE "/$" "" pytheus_pc_up "${pytheus_pc_up}")
  set(PYTHEUS_PC_PREFIX "\${pcfiledir}/${pytheus_pc_up}")
  set(PYTHEUS_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(PYTHEUS_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# Headers of the compiled components, under include/pytheus (a directory or a file): each is
# installed with its component only. Each component adds its own here.
set(PYTHEUS_COMPONENT_HEADERS http push backends/redis.hpp backends/file.hpp protobuf.hpp)

# The core: every header but the components'.
set(pytheus_excludes "")
foreach(header IN LISTS PYTHEUS_COMPONENT_HEADERS)
  string(REGEX REPLACE "([.+])" "\\\\\\1" header_regex "${header}")
  list(APPEND pytheus_excludes REGEX "/include/pytheus/${header_regex}(/.*)?$" EXCLUDE)
endforeach()
install(DIRECTORY include/pytheus DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}" ${pytheus_excludes})
install(TARGETS pytheus EXPORT pytheusTargets)
install(EXPORT pytheusTargets NAMESPACE pytheus:: DESTINATION "${PYTHEUS_CMAKE_DIR}")
configure_file(cmake/pytheus.pc.in pytheus.pc @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/pytheus.pc" DESTINATION "${PYTHEUS_PKGCONFIG_DIR}")

# pytheus_install_component(NAME TARGET HEADERS PC_DEPS): installs a compiled component: its
# target in its own export set, its headers (HEADERS: a directory or a file under
# include/pytheus, listed in PYTHEUS_COMPONENT_HEADERS), `pytheus-NAME.cmake` (from
# cmake/pytheus-NAME.cmake.in: its dependencies, then its targets) and `pytheus-NAME.pc` (from
# cmake/pytheus-NAME.pc.in). In those templates @PYTHEUS_STATIC@ is TRUE when the library is
# static, since its own dependencies (PC_DEPS, pkg-config modules) are then needed when a
# program links it: @PYTHEUS_PC_REQUIRES@ lists them if so, @PYTHEUS_PC_REQUIRES_PRIVATE@ if not.
function(pytheus_install_component name target headers pc_deps)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "STATIC_LIBRARY")
    set(PYTHEUS_STATIC TRUE)
    set(PYTHEUS_PC_REQUIRES "${pc_deps}")
    set(PYTHEUS_PC_REQUIRES_PRIVATE "")
  else()
    set(PYTHEUS_STATIC FALSE)
    set(PYTHEUS_PC_REQUIRES "")
    set(PYTHEUS_PC_REQUIRES_PRIVATE "${pc_deps}")
  endif()
  install(TARGETS ${target} EXPORT pytheus-${name}Targets)
  install(EXPORT pytheus-${name}Targets NAMESPACE pytheus:: DESTINATION "${PYTHEUS_CMAKE_DIR}")
  get_filename_component(parent "${CMAKE_INSTALL_INCLUDEDIR}/pytheus/${headers}" DIRECTORY)
  if(IS_DIRECTORY "${PROJECT_SOURCE_DIR}/include/pytheus/${headers}")
    install(DIRECTORY "include/pytheus/${headers}" DESTINATION "${parent}")
  else()
    install(FILES "include/pytheus/${headers}" DESTINATION "${parent}")
  endif()
  configure_file(cmake/pytheus-${name}.cmake.in pytheus-${name}.cmake @ONLY)
  configure_file(cmake/pytheus-${name}.pc.in pytheus-${name}.pc @ONLY)
  install(FILES "${CMAKE_CURRENT_BINARY_DIR}/pytheus-${name}.cmake"
          DESTINATION "${PYTHEUS_CMAKE_DIR}")
  install(FILES "${CMAKE_CURRENT_BINARY_DIR}/pytheus-${name}.pc"
          DESTINATION "${PYTHEUS_PKGCONFIG_DIR}")
endfunction()

if(PYTHEUS_WITH_HTTP)
  pytheus_install_component(http pytheus_http http zlib)
endif()
if(PYTHEUS_WITH_PUSH)
  pytheus_install_component(push pytheus_push push libcurl)
endif()
if(PYTHEUS_WITH_FILE)
  pytheus_install_component(file pytheus_file backends/file.hpp "")
endif()
if(PYTHEUS_WITH_PROTOBUF)
  pytheus_install_component(protobuf pytheus_protobuf protobuf.hpp protobuf)
endif()
if(PYTHEUS_WITH_REDIS)
  pytheus_install_component(redis pytheus_redis backends/redis.hpp hiredis)
endif()

configure_package_config_file(cmake/pytheusConfig.cmake.in pytheusConfig.cmake
                              INSTALL_DESTINATION "${PYTHEUS_CMAKE_DIR}")
# 0.x releases may break the API between minor versions.
write_basic_package_version_file(pytheusConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/pytheusConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/pytheusConfigVersion.cmake"
        DESTINATION "${PYTHEUS_CMAKE_DIR}")
