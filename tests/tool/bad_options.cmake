# Every subcommand refuses a bad command line with exit status 2 and a message naming the
# option and the value, before doing anything. Invoked by ctest with -DTOOL=... -DEXAMPLE=...
set(cases
  "bench|--vm-size 12Q|--vm-size: '12Q' is not a size"
  "bench|--vm-size 0|--vm-size: '0' is not a size"
  "bench|--vm-size 99999999999T|--vm-size: '99999999999T' is not a size"
  "bench|--backing 3K|--backing: 3K is not a power of two"
  "bench|--granule 8K|--granule: 8K not in {4K,16K,64K}"
  "bench|--strategy per_entry,quick|--strategy: quick not in"
  "bench|--fwb maybe|--fwb: maybe not in {on,off,both}"
  "bench|--repeat 0|--repeat: Value 0 not in range 1 to 1000"
  "bench|--repeat|--repeat: 1 required"
  "bench|extra|The following argument was not expected: extra"
  "bench|--threads 0|--threads: Value 0 not in range 1 to 32"
  "run|--backend hardware ${EXAMPLE}|--backend: hardware not in {counting,model}"
  "run|--backend model --cpus 65 ${EXAMPLE}|--cpus: Value 65 not in range 1 to 64"
  "run|--backend model --seed -1 ${EXAMPLE}|--seed: -1 is not a whole number"
  "run|--backend model --seed 18446744073709551616 ${EXAMPLE}|does not fit in 64 bits"
  "run|--trace|FILE is required"
  "dump|--format xml --demo|--format: xml not in {text,json}"
  "dump|--demo ${EXAMPLE}|--demo excludes FILE"
  "dump||FILE or --demo is required"
  "stress|--cpus 1|--cpus: Value 1 not in range 2 to 64"
  "stress|--ops 0|--ops: Value 0 not in range 1 to 1048576"
  "stress|--runs 2.5|--runs: 2.5 is not a whole number"
  "stress|--seconds -1|--seconds: -1 is negative"
  "stress|--granule 16K|--granule: 16K not in {4K,64K,both}"
  "stress|--ttl both|--ttl: both not in {on,off}"
  "dirty-log|--backing 3M|--backing: 3145728 not in {4096,2097152}"
  "dirty-log|--split sometimes|--split: sometimes not in {lazy,eager,both}"
  "dirty-log|--vcpus 0|--vcpus: Value 0 not in range 1 to 32"
  "dirty-log|--tracking hardware|--tracking hardware needs --backend model"
  "dirty-log|--backend silicon|--backend: silicon not in {counting,model}"
  "dirty-log|--vm-size 1M --backing 2M|--vm-size is smaller than --backing"
  "demo|--fast|The following argument was not expected: --fast"
  "frobnicate||unknown command 'frobnicate'")
foreach(case ${cases})
  # Fields are separated by '|'; the arguments inside the second by spaces.
  string(FIND "${case}" "|" first)
  string(SUBSTRING "${case}" 0 ${first} command)
  math(EXPR after "${first} + 1")
  string(SUBSTRING "${case}" ${after} -1 tail)
  string(FIND "${tail}" "|" second)
  string(SUBSTRING "${tail}" 0 ${second} words)
  separate_arguments(args UNIX_COMMAND "${words}")
  math(EXPR after "${second} + 1")
  string(SUBSTRING "${tail}" ${after} -1 expect)
  execute_process(COMMAND ${TOOL} ${command} ${args}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(FIND "${err}" "${expect}" where)
  if(NOT rc EQUAL 2 OR where EQUAL -1 OR NOT out STREQUAL "")
    message(FATAL_ERROR "s2pt ${command} ${args}: expected exit 2, nothing on stdout and "
                        "'${expect}' on stderr; got exit ${rc}:\n${out}${err}")
  endif()
endforeach()
