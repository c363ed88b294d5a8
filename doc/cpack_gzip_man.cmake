# CPACK_PRE_BUILD_SCRIPTS: Debian packages carry man pages gzip'ed
# (gzip -9n: no name or time stamp, so the bytes depend on the page alone).
file(GLOB_RECURSE files "${CPACK_TEMPORARY_DIRECTORY}/*")
foreach(f ${files})
  if(f MATCHES "/share/man/man[0-9]/[^/]+\\.[0-9]$")
    execute_process(COMMAND gzip -9nf "${f}" RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "gzip ${f} failed")
    endif()
  endif()
endforeach()
