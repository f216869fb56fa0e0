# BPF guard build: clang -target bpf, then bpftool gen skeleton. Defines CONNECTX_BUILD_BPF.
find_program(CONNECTX_CLANG NAMES clang clang-14)
find_program(CONNECTX_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
pkg_check_modules(LIBBPF QUIET IMPORTED_TARGET libbpf)
set(_bpf_default OFF)
if(CONNECTX_CLANG AND CONNECTX_BPFTOOL AND LIBBPF_FOUND)
  set(_bpf_default ON)
endif()
option(CONNECTX_BUILD_BPF "Build the cgroup BPF guard (needs clang, bpftool, libbpf)" ${_bpf_default})
