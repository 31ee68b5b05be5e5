# Installs the build tree into a fresh prefix, then builds and runs a consumer project against it
# with find_package(s2pt), and a C program against it with pkg-config.
# Inputs: BUILD_DIR, CONSUMER_DIR, WORK_DIR, GENERATOR, C_COMPILER, CXX_COMPILER, BUILD_TYPE,
# C_FLAGS, CXX_FLAGS, LINKER_FLAGS.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${command}\n${out}${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# The installed core headers are the API and nothing more (the walker and the table's state stay
# in src/), and each compiles on its own against the install alone.
set(api arch.hpp dirty_log.hpp features.hpp geometry.hpp invalidation_plan.hpp
    maintenance_counters.hpp mm.hpp observer.hpp page_cache.hpp pte.hpp reclaim.hpp s2pt.h table.hpp
    table_lock.hpp tlbi.hpp tlbi_plan.hpp types.hpp)
file(GLOB installed RELATIVE ${prefix}/include/s2pt ${prefix}/include/s2pt/*.h*)
list(SORT installed)
if(NOT installed STREQUAL api)
  message(FATAL_ERROR "installed core headers: ${installed}\nexpected (the API): ${api}\n"
                      "an internal header belongs in src/; a new API header belongs in this list")
endif()
separate_arguments(header_flags UNIX_COMMAND "${CXX_FLAGS}")
foreach(header IN LISTS api)
  run(${CXX_COMPILER} -std=c++20 ${header_flags} -fsyntax-only -I${prefix}/include -x c++
      ${prefix}/include/s2pt/${header})
endforeach()

run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
    -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    "-DCMAKE_C_FLAGS=${C_FLAGS}" "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"
    "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer_cpp)
message(STATUS "${last_output}")
run(${WORK_DIR}/build/consumer_c)
message(STATUS "${last_output}")

run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${prefix}/lib/pkgconfig
    pkg-config --cflags --libs s2pt)
string(STRIP "${last_output}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
separate_arguments(c_flags UNIX_COMMAND "${C_FLAGS}")
separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS}")
separate_arguments(linker_flags UNIX_COMMAND "${LINKER_FLAGS}")
# Compiled as C; linked by the C++ driver, since libs2pt is C++ (a sanitizer build needs its C++
# runtime part).
run(${C_COMPILER} -std=c11 ${c_flags} ${pc_flags} -c ${CONSUMER_DIR}/main.c
    -o ${WORK_DIR}/consumer_pkgconfig.o)
run(${CXX_COMPILER} ${cxx_flags} ${linker_flags} ${WORK_DIR}/consumer_pkgconfig.o ${pc_flags}
    -o ${WORK_DIR}/consumer_pkgconfig)
run(${WORK_DIR}/consumer_pkgconfig)
message(STATUS "pkg-config: ${last_output}")
