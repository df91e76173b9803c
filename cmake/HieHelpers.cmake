# Helpers that declare the project's libraries and tests in one line each.
#
#   hie_library(NAME SRCS a.cc b.cc DEPS x y [PUBLIC_INCLUDES dir])
#   hie_test(NAME LABEL unit|integration|e2e SRCS a_test.cc DEPS x y)
#   hie_binary(NAME SRCS main.cc DEPS x y)
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
  target_compile_options(${name} PRIVATE ${HIE_WARNINGS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT})
endfunction()
