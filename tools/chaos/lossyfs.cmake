# lossyfs: the chaos harness's disk fault injection (slow fsync, loss of
# un-fsynced writes on a crash). An LD_PRELOAD library for conclave-node,
# libconclave-lossyfs.so in the bin directory next to it; the harness's half
# is tools/chaos/lossyfs.py. The model and the state format are described at
# the top of tools/chaos/lossyfs.cpp. Included from tools/chaos/chaos.cmake
# (paths are relative to the top-level directory).

# Only libc: no CAF, protobuf or Boost, and no C++ runtime (the code uses
# neither exceptions nor RTTI nor the standard library's compiled parts;
# --as-needed drops libstdc++ from the dependencies), so it can be preloaded
# into any program.
add_library(conclave-lossyfs SHARED tools/chaos/lossyfs.cpp)
set_target_properties(conclave-lossyfs PROPERTIES
  OUTPUT_NAME conclave-lossyfs
  LIBRARY_OUTPUT_DIRECTORY "${CMAKE_BINARY_DIR}/bin"
  CXX_VISIBILITY_PRESET hidden)
target_compile_options(conclave-lossyfs PRIVATE -fno-exceptions -fno-rtti)
target_link_options(conclave-lossyfs PRIVATE
  -Wl,--as-needed -Wl,-z,defs -Wl,-z,now)
target_link_libraries(conclave-lossyfs PRIVATE ${CMAKE_DL_LIBS})

if(BUILD_TESTING)
  # Runs a scripted sequence of file operations under the library.
  add_executable(conclave-lossyfs-writer tests/lossyfs_writer.cpp)
  target_link_libraries(conclave-lossyfs-writer PRIVATE Threads::Threads)
  # tests/support/file_wait.hpp
  target_include_directories(conclave-lossyfs-writer PRIVATE
                             "${CMAKE_CURRENT_SOURCE_DIR}")

  # No spaces in the test names: the top level asks for CMake 3.18, and
  # without policy CMP0110 (3.19) add_test() cuts a name at its first space.
  set(lossyfs_test_args
    "${CMAKE_CURRENT_SOURCE_DIR}/tests/lossyfs_test.py"
    --lib "$<TARGET_FILE:conclave-lossyfs>"
    --writer "$<TARGET_FILE:conclave-lossyfs-writer>"
    --bin-dir "${CMAKE_BINARY_DIR}/bin")
  # The model: what a power loss keeps after fsync, fdatasync, rename,
  # unlink, ftruncate, directory fsyncs, fork()ed writers and threads; the
  # slow-disk delay; tools/chaos/lossyfs.py.
  add_test(NAME lossyfs:durable-image-model
           COMMAND python3 ${lossyfs_test_args} ModelTest)
  # A real conclave-node (and conclavectl) under the library: acknowledged
  # znodes survive kill -9 + restore + restart.
  add_test(NAME lossyfs:node-crash-and-restore
           COMMAND python3 ${lossyfs_test_args} NodeTest)
  set_tests_properties(lossyfs:durable-image-model
                       lossyfs:node-crash-and-restore PROPERTIES TIMEOUT 600)
endif()
