# conclave-bench: a load generator on the official ZooKeeper C client
# (libzookeeper-mt-dev), the same client code for Apache ZooKeeper and
# Conclave's ZooKeeper port (tools/bench/zk_bench.cpp, docs/benchmarks.md).
# Its histogram's tests join conclave-tests; the smoke run is a ctest entry.
# Included from the top-level CMakeLists.txt (paths relative to it).
# Without the C client the target is skipped, not the configure.

# The histogram is pure and has no dependency: always built (and tested).
add_library(conclave_bench_histogram STATIC tools/bench/latency_histogram.cpp)
target_include_directories(conclave_bench_histogram PUBLIC
  "${CMAKE_CURRENT_SOURCE_DIR}")

if(TARGET conclave-tests)
  target_sources(conclave-tests PRIVATE tests/latency_histogram_test.cpp)
  target_link_libraries(conclave-tests PRIVATE conclave_bench_histogram)
endif()

find_library(ZOOKEEPER_MT_LIBRARY zookeeper_mt)
find_path(ZOOKEEPER_INCLUDE_DIR zookeeper/zookeeper.h)
if(NOT ZOOKEEPER_MT_LIBRARY OR NOT ZOOKEEPER_INCLUDE_DIR)
  message(STATUS "conclave-bench: ZooKeeper C client (libzookeeper-mt-dev) "
                 "not found: conclave-bench is not built")
  return()
endif()

add_executable(conclave-bench
  tools/bench/zk_bench.cpp
  tools/bench/zk_bench_options.cpp
  tools/bench/zk_bench_session.cpp
  tools/bench/zk_bench_batch.cpp
  tools/bench/zk_bench_pipeline.cpp
  tools/bench/zk_bench_churn.cpp
  tools/bench/zk_bench_watch.cpp
  tools/bench/zk_bench_floor.cpp
  tools/bench/zk_bench_result.cpp)
target_include_directories(conclave-bench PRIVATE "${ZOOKEEPER_INCLUDE_DIR}")
# THREADED: the multi-threaded C client (what libzookeeper_mt is built as).
target_compile_definitions(conclave-bench PRIVATE THREADED)
target_link_libraries(conclave-bench PRIVATE
  conclave_bench_histogram "${ZOOKEEPER_MT_LIBRARY}" Threads::Threads)

# One Conclave node, conclave-bench for about a second per workload, the
# JSON checked (ops > 0, no errors, ordered percentiles, created znodes
# really there), plus `floor`. Exit 77: binaries or kazoo missing.
if(BUILD_TESTING)
  add_test(NAME bench_zk_client_smoke
           COMMAND /usr/bin/python3
                   "${CMAKE_CURRENT_SOURCE_DIR}/tools/bench/zk_bench_smoke.py"
                   --bin "${CMAKE_BINARY_DIR}/bin")
  set_tests_properties(bench_zk_client_smoke PROPERTIES
                       TIMEOUT 120 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
endif()
