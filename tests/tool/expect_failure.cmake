# Runs TOOL ARGS FILE and passes only if it exits with CODE (default 1) and its output contains
# EXPECT.
if(NOT DEFINED CODE)
  set(CODE 1)
endif()
execute_process(COMMAND ${TOOL} ${ARGS} ${FILE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(FIND "${out}${err}" "${EXPECT}" where)
if(NOT rc EQUAL CODE OR where EQUAL -1)
  message(FATAL_ERROR "expected exit ${CODE} and '${EXPECT}'; got exit ${rc}:\n${out}${err}")
endif()
