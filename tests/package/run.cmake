# package_consumer_test: install the built project into a scratch prefix, then, against that
# prefix only:
#   - run every installed program with --version and no LD_LIBRARY_PATH (its RUNPATH must find
#     libconnectx.so) and compare the version with project(VERSION);
#   - check that every installed man page's header names that version, and that the bash
#     completions are installed;
#   - build and run a C consumer (pkg-config) and a C++ consumer (find_package), shared and static;
#   - link the C consumer statically with `pkg-config --static` from a prefix that holds only
#     libconnectx.a, and from a C-only CMake project with connectx::connectx_static.
cmake_minimum_required(VERSION 3.20)
set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})

# run(OUT var COMMAND ...): runs the command, fails the test on a non-zero status.
function(run)
  cmake_parse_arguments(arg "" "OUT" "COMMAND" ${ARGN})
  execute_process(COMMAND ${arg_COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${arg_COMMAND}\n${out}${err}")
  endif()
  if(arg_OUT)
    set(${arg_OUT} "${out}" PARENT_SCOPE)
  endif()
endfunction()

run(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
set(libdir ${prefix}/${LIBDIR})

# Every installed program starts from the prefix alone and prints "<name> <version>".
file(GLOB programs ${prefix}/bin/* ${prefix}/sbin/*)
if(NOT programs)
  message(FATAL_ERROR "no programs installed in ${prefix}/bin or ${prefix}/sbin")
endif()
foreach(p ${programs})
  get_filename_component(name ${p} NAME)
  run(OUT out COMMAND ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${p} --version)
  if(NOT out MATCHES "^${name} ${VERSION}[ \n]")
    message(FATAL_ERROR "${p} --version printed '${out}', want '${name} ${VERSION}'")
  endif()
endforeach()

# Every man page carries the same version in its header.
file(GLOB_RECURSE pages ${prefix}/share/man/*.[1-9])
if(NOT pages)
  message(FATAL_ERROR "no man pages installed under ${prefix}/share/man")
endif()
foreach(page ${pages})
  file(STRINGS ${page} th REGEX "^\\.TH ")
  if(NOT th MATCHES " \"connectx ${VERSION}\" ")
    message(FATAL_ERROR "${page}: header '${th}' does not name connectx ${VERSION}")
  endif()
endforeach()

# The bash completions, one per tool, where bash-completion looks relative to the prefix.
file(GLOB completions RELATIVE ${SOURCE_DIR}/tools/completion ${SOURCE_DIR}/tools/completion/*)
foreach(c ${completions})
  file(GLOB_RECURSE found ${prefix}/share/bash-completion/completions/${c})
  if(NOT found)
    message(FATAL_ERROR "completion ${c} not installed in ${prefix}/share/bash-completion/completions")
  endif()
endforeach()

set(flags "")
if(SANITIZE)
  set(flags "-fsanitize=address,undefined")
endif()
run(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_FLAGS=${flags} -DCMAKE_CXX_FLAGS=${flags}
    -DCMAKE_EXE_LINKER_FLAGS=${flags})
run(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(COMMAND ${WORK_DIR}/build/consumer_cxx)
run(COMMAND ${WORK_DIR}/build/consumer_c)
run(COMMAND ${WORK_DIR}/build/consumer_cxx_static)

# C, static, through pkg-config: a prefix holding the archive only, so -lconnectx cannot pick
# the shared library; the C++ runtime must come from Libs.private.
set(static_prefix ${WORK_DIR}/static-prefix)
file(RELATIVE_PATH librel ${prefix} ${libdir})
file(COPY ${prefix}/include DESTINATION ${static_prefix})
file(COPY ${libdir}/libconnectx.a ${libdir}/pkgconfig DESTINATION ${static_prefix}/${librel})
set(ENV{PKG_CONFIG_PATH} ${static_prefix}/${librel}/pkgconfig)
unset(ENV{PKG_CONFIG_LIBDIR})
run(OUT pc_flags COMMAND pkg-config --static --cflags --libs connectx)
string(STRIP "${pc_flags}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
separate_arguments(san UNIX_COMMAND "${flags}")
set(static_c ${WORK_DIR}/consumer_c_pkgconfig_static)
run(COMMAND cc -std=c99 ${san} ${SOURCE_DIR}/tests/package/consumer/consumer.c -o ${static_c}
    ${pc_flags})
run(OUT needed COMMAND readelf -d ${static_c})
if(needed MATCHES "libconnectx")
  message(FATAL_ERROR "${static_c} needs libconnectx.so, not the archive:\n${needed}")
endif()
run(COMMAND ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${static_c})

# C, static, through the CMake package, in a project that enables C only.
run(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer_c -B ${WORK_DIR}/build-c
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_FLAGS=${flags} -DCMAKE_EXE_LINKER_FLAGS=${flags})
run(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build-c)
run(COMMAND ${WORK_DIR}/build-c/consumer_c_cmake_static)
message(STATUS "installed programs started, man pages agree on ${VERSION}; package consumers "
               "(shared, static, C, C++, C-only CMake) built and ran against ${prefix}")
