# `s2pt dump --demo --format json` must be valid JSON describing the demo table.
execute_process(COMMAND ${TOOL} dump --demo --format json
  RESULT_VARIABLE rc OUTPUT_VARIABLE json ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "dump failed (${rc}): ${err}")
endif()
string(JSON regions LENGTH "${json}" regions)
string(JSON total GET "${json}" table_pages total)
string(JSON l3 GET "${json}" table_pages by_level 3)
string(JSON first_kind GET "${json}" regions 0 kind)
string(JSON owner GET "${json}" regions 7 owner)
if(NOT regions EQUAL 8 OR NOT total EQUAL 9 OR NOT l3 EQUAL 3 OR NOT first_kind STREQUAL "page"
   OR NOT owner EQUAL 3)
  message(FATAL_ERROR "unexpected dump: regions=${regions} total=${total} l3=${l3} "
                      "first=${first_kind} owner=${owner}\n${json}")
endif()
