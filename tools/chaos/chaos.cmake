# The chaos harness's checker: the history format, the checkers, the report
# and conclave-check; their tests join conclave-tests. Included from the
# top-level CMakeLists.txt (paths are relative to its directory).

# -- history format, checkers, report ----------------------------------------
add_library(conclave_chaos STATIC
  tools/chaos/history.proto
  tools/chaos/history.cpp
  tools/chaos/linearizability.cpp
  tools/chaos/checks.cpp
  tools/chaos/report.cpp)
# Generates build/tools/chaos/history.pb.{h,cc}, included as
# "tools/chaos/history.pb.h".
protobuf_generate(TARGET conclave_chaos LANGUAGE cpp
                  IMPORT_DIRS "${CMAKE_CURRENT_SOURCE_DIR}")
target_include_directories(conclave_chaos PUBLIC
  "${CMAKE_CURRENT_SOURCE_DIR}" "${CMAKE_CURRENT_BINARY_DIR}")
target_link_libraries(conclave_chaos PUBLIC protobuf::libprotobuf)

# conclave-check HISTORY.jsonl [--report DIR] [--max-steps N]
add_executable(conclave-check tools/chaos/check_main.cpp)
target_link_libraries(conclave-check PRIVATE conclave_chaos)

# -- tests ([chaos]) -----------------------------------------------------------
if(TARGET conclave-tests)
  target_sources(conclave-tests PRIVATE
    tests/chaos_history_test.cpp
    tests/linearizability_test.cpp
    tests/chaos_checks_test.cpp
    tests/chaos_run_test.cpp)
  target_link_libraries(conclave-tests PRIVATE conclave_chaos)
  # The exit-code test runs conclave-check from CONCLAVE_BIN_DIR.
  add_dependencies(conclave-tests conclave-check)
endif()

include(tools/chaos/lossyfs.cmake)
include(tools/chaos/native_workload.cmake)

# The kazoo workloads' record builders and recording rules (kazoo itself is
# faked; one test hands a history to conclave-check).
add_test(NAME chaos_kazoo_workload_units
         COMMAND /usr/bin/python3 -m unittest -v kazoo_workload_test
         WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/tests")
set_tests_properties(chaos_kazoo_workload_units PROPERTIES
                     ENVIRONMENT "CONCLAVE_CHECK=${CMAKE_BINARY_DIR}/bin/conclave-check")

# The harness's own judgement: kill bounds widened past faults, observed
# kills, failover times, seeded fault sequences (no root, no cluster).
add_test(NAME chaos_harness_units
         COMMAND /usr/bin/python3 -m unittest -v chaos_harness_test
         WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/tests")

# -- the harness's short schedule (CI) ----------------------------------------
# Three runs of 40 s on a three-node cluster in network namespaces, every
# nemesis, three workloads each (fixed seeds: a failure replays with
# `tools/chaos/chaos --runs 1 --seed S`). Needs root; RUN_SERIAL so that the
# faults' timing is not also fighting the rest of the suite for the cores.
add_test(NAME chaos_short_schedule
         COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/tools/chaos/chaos"
                 --runs 3 --seconds 40 --seed 1000 --nodes 3
                 --nemesis all,membership
                 --bin "${CMAKE_BINARY_DIR}/bin"
                 --out "${CMAKE_BINARY_DIR}/chaos-ci")
# Exit 77: this machine cannot run it (not root): skipped, not passed.
set_tests_properties(chaos_short_schedule
                     PROPERTIES RUN_SERIAL TRUE TIMEOUT 1800 SKIP_RETURN_CODE 77)

# Read throughput with 0, 1 and 2 learners, a few seconds only: learners
# answer reads (and forward writes) correctly. The benchmark itself:
# docs/benchmarks.md. Exit 77: kazoo or the binaries missing.
add_test(NAME bench_learner_reads_smoke
         COMMAND /usr/bin/python3
                 "${CMAKE_CURRENT_SOURCE_DIR}/tools/bench/learner_reads.py"
                 --smoke --bin "${CMAKE_BINARY_DIR}/bin")
set_tests_properties(bench_learner_reads_smoke
                     PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77)
