# One CTest smoke run of a fuzz target: every seed, then SECONDS of fuzzing
# into a fresh work directory (the seed directories are never written).
# -DFUZZER=path -DWORK=dir -DSECONDS=n -DDIRS=a|b -DARGS=x|y
string(REPLACE "|" ";" DIRS "${DIRS}")
string(REPLACE "|" ";" ARGS "${ARGS}")
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/corpus" "${WORK}/artifacts")
set(_existing)
foreach(d IN LISTS DIRS)
  if(IS_DIRECTORY "${d}")
    list(APPEND _existing "${d}")
  endif()
endforeach()
execute_process(
  COMMAND "${FUZZER}" ${ARGS} -max_total_time=${SECONDS} "-artifact_prefix=${WORK}/artifacts/"
          "${WORK}/corpus" ${_existing}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(GLOB _artifacts "${WORK}/artifacts/*")
  message(FATAL_ERROR "${FUZZER} failed (exit ${rc}); reproducers: ${_artifacts}")
endif()
