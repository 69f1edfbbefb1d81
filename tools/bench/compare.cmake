# The ZooKeeper comparison's pure parts (row plan, ratio table, chart,
# config rendering): tools/bench/compare_test.py, no servers needed.
# Included from the top-level CMakeLists.txt (paths are relative to its
# directory). The comparison itself: scripts/bench-vs-zookeeper.sh.
add_test(NAME bench_compare_units
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tools/bench/compare_test.py)

# The comparison itself, tiny (one repetition, two workloads, 2 s each, a
# 1000-znode memory step): both servers must serve every run without
# errors, so the script never rots. Exit 77: Java or ZooKeeper missing.
add_test(NAME bench_vs_zookeeper_smoke
         COMMAND /usr/bin/python3
                 ${CMAKE_CURRENT_SOURCE_DIR}/tools/bench/compare.py --smoke
                 --bin ${CMAKE_BINARY_DIR}/bin
                 --out ${CMAKE_BINARY_DIR}/bench-smoke)
set_tests_properties(bench_vs_zookeeper_smoke PROPERTIES
                     TIMEOUT 300 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
