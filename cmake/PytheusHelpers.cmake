# Helpers shared by every target of the project: warnings and sanitizers.
include(GNUInstallDirs)

# Turns on the warnings we hold our own code to (not applied to consumers).
function(pytheus_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                             -Wno-sign-conversion -Werror=return-type)
  endif()
endfunction()

# Applies sanitizers ("address,undefined" or "thread") to everything built after this call.
function(pytheus_enable_sanitizers sanitizers)
  if(NOT sanitizers)
    return()
  endif()
  if(sanitizers MATCHES "thread" AND sanitizers MATCHES "address")
    message(FATAL_ERROR "PYTHEUS_SANITIZE: thread and address sanitizers cannot be combined")
  endif()
  set(flags -fsanitize=${sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_compile_options(${flags})
  add_link_options(${flags})
  message(STATUS "pytheus: sanitizers ${sanitizers}")
endfunction()

# pytheus_add_library(target name sources...): one compiled part of the project (the core or a
# component): the library, its alias and export name pytheus::<name>, version, PIC, warnings.
function(pytheus_add_library target name)
  add_library(${target} ${ARGN})
  add_library(pytheus::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON
                                             VERSION ${PROJECT_VERSION} SOVERSION 0)
  pytheus_set_warnings(${target})
endfunction()
