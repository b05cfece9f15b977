# Man pages from the command's own --help (no help2man needed): run at build time by
# jobs/CMakeLists.txt as  cmake -DEXE=clearcube -DOUT=DIR -DVERSION=V -P manpage.cmake
# DIR/clearcube.1 (the command list) and DIR/clearcube-<command>.1 for every command that
# `clearcube --help` lists, each holding that command's --help text verbatim.
# A sanitizer build's `--help` must not fail on LeakSanitizer's report of what Open MPI's
# plugins leave allocated (run initialises MPI): leak detection is off for these calls only.
set(ENV{ASAN_OPTIONS} "detect_leaks=0")
execute_process(COMMAND "${EXE}" --help OUTPUT_VARIABLE top RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "manpage.cmake: ${EXE} --help failed (${rc})")
endif()
file(MAKE_DIRECTORY "${OUT}")
string(TIMESTAMP date "%Y-%m-%d" UTC) # honours SOURCE_DATE_EPOCH (reproducible packages)

# roff-safe text: backslashes, and lines that start with '.' or '\''
function(cc_roff in outvar)
  string(REPLACE "\\" "\\e" t "${in}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" t "${t}")
  string(REPLACE "-" "\\-" t "${t}")
  set(${outvar} "${t}" PARENT_SCOPE)
endfunction()

function(cc_page name summary text see)
  cc_roff("${text}" body)
  cc_roff("${summary}" sum)
  string(TOUPPER "${name}" up)
  file(WRITE "${OUT}/${name}.1.tmp"
       ".TH ${up} 1 \"${date}\" \"clearcube ${VERSION}\" \"clearcube manual\"\n"
       ".SH NAME\n${name} \\- ${sum}\n.SH DESCRIPTION\n.nf\n${body}\n.fi\n"
       ".SH SEE ALSO\n${see}\n"
       "The documentation in share/doc/clearcube (docs/ in the source tree).\n")
  file(RENAME "${OUT}/${name}.1.tmp" "${OUT}/${name}.1")
endfunction()

# the command list: "  NAME       summary" lines after "Commands:"
string(REGEX REPLACE ".*\nCommands:\n" "" cmds "${top}")
string(REGEX REPLACE "\n\n.*" "" cmds "${cmds}")
string(REPLACE ";" "<semicolon>" cmds "${cmds}")
string(REPLACE "\n" ";" lines "${cmds}")
set(see "")
foreach(l IN LISTS lines)
  if(l MATCHES "^  ([a-z][a-z0-9-]*) +(.*)$")
    set(cmd "${CMAKE_MATCH_1}")
    string(REPLACE "<semicolon>" ";" sum "${CMAKE_MATCH_2}")
    if(cmd STREQUAL "version")
      continue()
    endif()
    execute_process(COMMAND "${EXE}" ${cmd} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "manpage.cmake: ${EXE} ${cmd} --help failed (${rc})")
    endif()
    cc_page("clearcube-${cmd}" "${sum}" "${help}" ".BR clearcube (1)\n")
    string(APPEND see ".BR clearcube-${cmd} (1)\n")
  endif()
endforeach()
cc_page("clearcube" "analysis-ready Sentinel-2 datacubes" "${top}" "${see}")
