# bpf.cmake - build bpf/guard.bpf.c with clang -target bpf and embed it in a libbpf skeleton
# (bpftool gen skeleton), the libbpf-bootstrap way. Only UAPI headers and libbpf's
# bpf_helpers.h are used: cgroup sock_addr programs need no vmlinux.h / CO-RE.
#
# connectx_bpf_skeleton(<target>) makes <target> depend on the generated guard.skel.h, puts its
# directory on the include path and defines CONNECTX_HAVE_BPF=1.

set(CONNECTX_BPF_DIR ${CMAKE_CURRENT_LIST_DIR})

function(connectx_bpf_skeleton target)
  set(src ${CONNECTX_BPF_DIR}/guard.bpf.c)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(obj ${out}/guard.bpf.o)
  set(skel ${out}/guard.skel.h)

  # <linux/types.h> pulls in <asm/types.h>, which Debian keeps under the multiarch directory.
  set(includes)
  if(CMAKE_LIBRARY_ARCHITECTURE)
    list(APPEND includes -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
  endif()
  foreach(dir ${LIBBPF_INCLUDE_DIRS})
    list(APPEND includes -I${dir})
  endforeach()

  add_custom_command(OUTPUT ${obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
    COMMAND ${CONNECTX_CLANG} -target bpf -O2 -g -Wall -Wextra -Werror ${includes}
            -c ${src} -o ${obj}
    DEPENDS ${src}
    COMMENT "Compiling BPF object guard.bpf.o"
    VERBATIM)
  add_custom_command(OUTPUT ${skel}
    COMMAND ${CONNECTX_BPFTOOL} gen skeleton ${obj} name connectx_guard_bpf > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "Generating BPF skeleton guard.skel.h"
    VERBATIM)
  add_custom_target(${target}_bpf_skeleton DEPENDS ${skel})
  add_dependencies(${target} ${target}_bpf_skeleton)

  # SYSTEM: the generated skeleton is not held to the project's warning flags.
  target_include_directories(${target} SYSTEM PRIVATE ${out})
  target_compile_definitions(${target} PRIVATE CONNECTX_HAVE_BPF=1)
  target_link_libraries(${target} PRIVATE PkgConfig::LIBBPF)
endfunction()
