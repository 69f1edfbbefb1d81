# conclave-chaos-native: the chaos harness's workload through the native C++
# client (registers, watches), recording into the shared history that
# conclave-check reads. Included from tools/chaos/chaos.cmake (paths are
# relative to the top-level directory).
add_executable(conclave-chaos-native tools/chaos/native_workload.cpp)
target_link_libraries(conclave-chaos-native PRIVATE conclave_chaos
                      conclave_client)

# Its end-to-end test joins conclave-tests ([chaos][cluster]).
if(TARGET conclave-tests)
  target_sources(conclave-tests PRIVATE tests/chaos_native_workload_test.cpp)
  add_dependencies(conclave-tests conclave-chaos-native)
endif()
