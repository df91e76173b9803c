# Helpers that declare the project's libraries and tests in one line each.
#
#   hie_library(NAME SRCS a.cc b.cc DEPS x y [PUBLIC_INCLUDES dir])
#   hie_test(NAME LABEL unit|integration|e2e SRCS a_test.cc DEPS x y)
#   hie_binary(NAME SRCS main.cc DEPS x y)
#   hie_fuzz_target(NAME SRCS fuzz.cc DEPS x y)   (only with -DHIE_FUZZ=ON and clang)
#
# Test labels let `ctest -L unit` run the fast suite alone; integration and e2e tests read
# their servers from the environment (HIE_TEST_PG_DSN, HIE_TEST_REDIS) that scripts/test.sh sets.

set(HIE_WARNINGS -Wall -Wextra -Wpedantic -Wno-unused-parameter -Wno-missing-field-initializers)

function(hie_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;PUBLIC_INCLUDES" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${HIE_WARNINGS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${ARG_PUBLIC_INCLUDES})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

function(hie_binary name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${HIE_WARNINGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  set_property(GLOBAL APPEND PROPERTY HIE_PROGRAMS ${name})  # for hie_programs
endfunction()

function(hie_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SRCS;DEPS" ${ARGN})
  if(NOT ARG_LABEL MATCHES "^(unit|integration|e2e)$")
    message(FATAL_ERROR "hie_test(${name}): LABEL must be unit, integration or e2e")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${HIE_WARNINGS} ${HIE_TEST_AND_PROTO_FLAGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  if(ARG_SRCS MATCHES "fuzz_corpus_replay_test.cc")
    # A fuzz target's source beside gtest: its using-directives would leak into gtest's headers.
    set_target_properties(${name} PROPERTIES UNITY_BUILD OFF)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT})
  # For the hie_<label>_tests targets (hie_add_test_targets): build the tests of some labels
  # without the tools and benchmarks.
  set_property(GLOBAL APPEND PROPERTY HIE_TESTS_${ARG_LABEL} ${name})
endfunction()

# --- Sanitizers and fuzzing -------------------------------------------------------------------
#
# hie_enable_sanitizers("address,undefined"): compiles and links everything declared after it
# (our code only: Debian's gRPC, protobuf, libpqxx... stay uninstrumented, which ASan and UBSan
# allow) with those sanitizers, frame pointers kept, and UBSan fatal (-fno-sanitize-recover) so
# that a report fails the test instead of scrolling by. "ON" means "address,undefined". The
# build type's flags are kept; scripts/test.sh uses -O1 -g1 for its sanitizer and fuzz passes.
function(hie_enable_sanitizers list)
  if(list STREQUAL "" OR list STREQUAL "OFF")
    return()
  endif()
  if(list STREQUAL "ON")
    set(list "address,undefined")
  endif()
  set(flags -fsanitize=${list} -fno-omit-frame-pointer)
  if(list MATCHES "undefined")
    list(APPEND flags -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${flags})
  add_link_options(${flags})
  message(STATUS "HIE_SANITIZE: everything built with ${flags}")
endfunction()

# hie_enable_fuzzing(): libFuzzer's coverage instrumentation for all our code (so that the
# fuzzers see the branches of the libraries they call), clang only. Call it before the
# add_subdirectory() calls; hie_fuzz_target() then links the fuzzer's main.
function(hie_enable_fuzzing)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "HIE_FUZZ needs clang (-DCMAKE_CXX_COMPILER=clang++-14)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endfunction()

# A libFuzzer target: SRCS define LLVMFuzzerTestOneInput. Built only with HIE_FUZZ=ON; not a
# ctest test (scripts/test.sh runs the fuzzers for a bounded time over a copy of their corpus).
function(hie_fuzz_target name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  if(NOT HIE_FUZZ)
    return()
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${HIE_WARNINGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endfunction()

# hie_add_test_targets(): after every add_subdirectory(), hie_programs (every hie_binary: the
# services, hiectl, tools and benchmarks) and one target per test label,
# hie_unit_tests / hie_integration_tests / hie_e2e_tests, that builds the test programs of that
# label and nothing else (scripts/test.sh's sanitizer pass builds hie_unit_tests and
# hie_integration_tests). Arguments "label:target" add a program that tests of that label run
# (a test added with plain add_test() that runs a program, e.g. mpi_cli_malformed and hie-mpi).
function(hie_add_test_targets)
  get_property(programs GLOBAL PROPERTY HIE_PROGRAMS)
  add_custom_target(hie_programs)
  if(programs)
    add_dependencies(hie_programs ${programs})
  endif()
  foreach(label unit integration e2e)
    get_property(tests GLOBAL PROPERTY HIE_TESTS_${label})
    add_custom_target(hie_${label}_tests)
    if(tests)
      add_dependencies(hie_${label}_tests ${tests})
    endif()
  endforeach()
  foreach(need IN LISTS ARGN)
    string(REPLACE ":" ";" parts "${need}")
    list(GET parts 0 label)
    list(GET parts 1 target)
    if(TARGET ${target})
      add_dependencies(hie_${label}_tests ${target})
    endif()
  endforeach()
endfunction()
