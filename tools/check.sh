#!/usr/bin/env bash
# The whole test suite, one stage after the other; any failure stops it and fails the run:
#   1. GCC build + ctest            (the default preset: warnings are errors, every test)
#   2. clang ASan+UBSan build + ctest (the asan preset)
#   3. clang TSan build + ctest       (the tsan preset)
#   4. the libFuzzer targets          (the fuzz preset), each run for S2PT_FUZZ_SECONDS (60)
#      from the committed seed corpus and regressions
# Prints the time of each stage and the total. Meant to finish within 30 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_seconds=${S2PT_FUZZ_SECONDS:-60}
total_start=$SECONDS
timings=()

stage() {
  local name=$1
  shift
  local start=$SECONDS
  echo "==== $name"
  "$@"
  timings+=("$(printf '%-32s %5d s' "$name" $((SECONDS - start)))")
  echo "==== $name: $((SECONDS - start)) s"
}

preset() {
  cmake --preset "$1" >/dev/null && cmake --build --preset "$1" && ctest --preset "$1"
}

# One libFuzzer target: the committed corpus and regressions are read-only inputs, new units go
# to a scratch corpus in the build directory, a failing input to build-fuzz/artifacts/.
fuzz() {
  local target=$1
  local scratch=build-fuzz/corpus/$target
  mkdir -p "$scratch" build-fuzz/artifacts
  local inputs=("$scratch")
  for dir in fuzz/corpus/"$target" fuzz/regressions/"$target"; do
    [[ -d $dir ]] && inputs+=("$dir")
  done
  local log=build-fuzz/$target.log status=0
  "build-fuzz/bin/s2pt_fuzz_$target" -max_total_time="$fuzz_seconds" -len_control=0 \
    -max_len=1024 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$target-" \
    "${inputs[@]}" >"$log" 2>&1 || status=$?
  grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
  if ((status != 0)); then
    tail -n 60 "$log"
    echo "fuzz target $target failed; the input is in build-fuzz/artifacts/ (full log: $log)"
  fi
  return "$status"
}

stage "gcc: build + ctest" cmake --workflow --preset check
stage "asan+ubsan: build + ctest" preset asan
stage "tsan: build + ctest" preset tsan
stage "fuzz: build" bash -c 'cmake --preset fuzz >/dev/null && cmake --build --preset fuzz'
for binary in build-fuzz/bin/s2pt_fuzz_*; do
  target=${binary#build-fuzz/bin/s2pt_fuzz_}
  stage "fuzz: $target ${fuzz_seconds} s" fuzz "$target"
done

echo "==== timings"
printf '%s\n' "${timings[@]}"
echo "total: $((SECONDS - total_start)) s"
