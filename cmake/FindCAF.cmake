# FindCAF.cmake - locate the C++ Actor Framework (CAF 0.17) as Debian ships it.
#
# Debian's libcaf-dev installs headers and shared libraries but no CMake
# package configuration, so this module finds them by hand.
#
# Components: core, io, openssl.  Each found component defines an imported
# target CAF::<component> (CAF::core, CAF::io, CAF::openssl) and the variables
# CAF_<COMPONENT>_LIBRARY; CAF_INCLUDE_DIR and CAF_VERSION are set as well.

find_path(CAF_INCLUDE_DIR NAMES caf/config.hpp)

if(CAF_INCLUDE_DIR AND EXISTS "${CAF_INCLUDE_DIR}/caf/config.hpp")
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" caf_version_line
       REGEX "^#define CAF_VERSION [0-9]+")
  string(REGEX REPLACE "^#define CAF_VERSION ([0-9]+).*" "\\1" caf_version_num
         "${caf_version_line}")
  math(EXPR caf_major "${caf_version_num} / 10000")
  math(EXPR caf_minor "(${caf_version_num} / 100) % 100")
  math(EXPR caf_patch "${caf_version_num} % 100")
  set(CAF_VERSION "${caf_major}.${caf_minor}.${caf_patch}")
endif()

if(NOT CAF_FIND_COMPONENTS)
  set(CAF_FIND_COMPONENTS core)
endif()

set(caf_dependencies_core Threads::Threads)
set(caf_dependencies_io CAF::core)
set(caf_dependencies_openssl CAF::io OpenSSL::SSL OpenSSL::Crypto)

find_package(Threads REQUIRED)
foreach(comp IN LISTS CAF_FIND_COMPONENTS)
  string(TOUPPER "${comp}" comp_upper)
  find_library(CAF_${comp_upper}_LIBRARY NAMES caf_${comp})
  if(CAF_${comp_upper}_LIBRARY)
    set(CAF_${comp}_FOUND TRUE)
    if(comp STREQUAL "openssl")
      find_package(OpenSSL REQUIRED)
    endif()
    if(NOT TARGET CAF::${comp})
      add_library(CAF::${comp} SHARED IMPORTED)
      set_target_properties(CAF::${comp} PROPERTIES
        IMPORTED_LOCATION "${CAF_${comp_upper}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${caf_dependencies_${comp}}")
    endif()
  else()
    set(CAF_${comp}_FOUND FALSE)
  endif()
endforeach()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CAF
  REQUIRED_VARS CAF_INCLUDE_DIR
  VERSION_VAR CAF_VERSION
  HANDLE_COMPONENTS)
mark_as_advanced(CAF_INCLUDE_DIR)
