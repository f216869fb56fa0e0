# man_pages_test: every page under man/ formats without a groff warning (`man --warnings`), at
# the 80 columns of a terminal.
file(GLOB_RECURSE pages ${SOURCE_DIR}/man/*.[1-9])
if(NOT pages)
  message(FATAL_ERROR "no man pages under ${SOURCE_DIR}/man")
endif()
set(failed "")
foreach(page ${pages})
  execute_process(COMMAND ${CMAKE_COMMAND} -E env MANWIDTH=80 man --warnings -l ${page}
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT err STREQUAL "")
    string(APPEND failed "${page} (status ${rc}):\n${err}\n")
  endif()
endforeach()
if(failed)
  message(FATAL_ERROR "man --warnings:\n${failed}")
endif()
message(STATUS "man pages clean: ${pages}")
