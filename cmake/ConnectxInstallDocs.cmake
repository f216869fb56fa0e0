# The installed man pages and the bash completions.
#
# Man pages: a copy of each man/man*/*.[1-9] whose .TH header names "connectx <PROJECT_VERSION>"
# as its source, whatever the checked-in page says, so every installed page agrees with the
# binaries' --version (the package consumer test checks the installed pages).
file(GLOB _pages CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/man/man*/*.[1-9])
foreach(page ${_pages})
  file(RELATIVE_PATH _rel ${PROJECT_SOURCE_DIR}/man ${page})
  get_filename_component(_section_dir ${_rel} DIRECTORY)
  file(READ ${page} _text)
  # .TH TITLE SECTION DATE SOURCE MANUAL: replace SOURCE (a quoted or a bare word).
  string(REGEX REPLACE "(^|\n)(\\.TH +[^ \n]+ +[^ \n]+ +(\"[^\"\n]*\"|[^ \n]+)) +(\"[^\"\n]*\"|[^ \n]+)"
         "\\1\\2 \"connectx ${PROJECT_VERSION}\"" _text "${_text}")
  file(WRITE ${PROJECT_BINARY_DIR}/man/${_rel} "${_text}")
  install(FILES ${PROJECT_BINARY_DIR}/man/${_rel} DESTINATION ${CMAKE_INSTALL_MANDIR}/${_section_dir})
endforeach()

# Bash completions: every file of tools/completion/, named after its tool, into the directory
# bash-completion loads on demand. pkg-config gives it as an absolute path under bash-completion's
# own prefix (/usr/share/bash-completion/completions); installed relative to our prefix instead,
# so `cmake --install --prefix P` stays inside P. Override with CONNECTX_BASH_COMPLETION_DIR.
set(_completion_dir ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
pkg_get_variable(_bc_dir bash-completion completionsdir)
pkg_get_variable(_bc_prefix bash-completion prefix)
if(_bc_dir AND _bc_prefix)
  string(FIND "${_bc_dir}" "${_bc_prefix}/" _at)
  if(_at EQUAL 0)
    file(RELATIVE_PATH _completion_dir ${_bc_prefix} ${_bc_dir})
  endif()
endif()
set(CONNECTX_BASH_COMPLETION_DIR ${_completion_dir} CACHE STRING
    "Where the bash completions go (relative: under the install prefix)")
file(GLOB _completions CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tools/completion/*)
if(_completions)
  install(FILES ${_completions} DESTINATION ${CONNECTX_BASH_COMPLETION_DIR})
endif()
