# One version: project(VERSION) in the top CMakeLists.txt. The public header states it too, for
# programs compiled against it (CONNECTX_VERSION_MAJOR/MINOR/PATCH in connectx.h); configuring
# fails when the two disagree, so they cannot drift apart. The tools print the header's macros
# (--version), the .pc file and the CMake package file take PROJECT_VERSION, and the installed
# man pages carry it in their headers (ConnectxInstallDocs.cmake).
set(_header ${PROJECT_SOURCE_DIR}/include/connectx/connectx.h)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_header})
file(STRINGS ${_header} _lines REGEX "^#define CONNECTX_VERSION_(MAJOR|MINOR|PATCH) ")
set(_header_version "")
foreach(part MAJOR MINOR PATCH)
  set(_value "")
  foreach(line ${_lines})
    if(line MATCHES "^#define CONNECTX_VERSION_${part} +([0-9]+)")
      set(_value ${CMAKE_MATCH_1})
    endif()
  endforeach()
  if(_value STREQUAL "")
    message(FATAL_ERROR "${_header}: no CONNECTX_VERSION_${part}")
  endif()
  list(APPEND _header_version ${_value})
endforeach()
list(JOIN _header_version "." _header_version)
if(NOT _header_version VERSION_EQUAL PROJECT_VERSION)
  message(FATAL_ERROR "version mismatch: project(VERSION ${PROJECT_VERSION}) in CMakeLists.txt, "
                      "${_header_version} in ${_header}: change both")
endif()
